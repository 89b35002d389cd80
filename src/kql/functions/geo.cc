// Geospatial functions: geo_* on S2 cells, geohash, GEOS geometry and WGS-84 geodesics.
// This file holds the point-to-point measures (distance, circle, azimuth, angle) and registers the family; the cell grids are in
// geo_cells.cc, the spherical shapes (S2) in geo_shapes.cc,
// densify/simplify/buffer in geo_edit.cc, intersects/closest points/coverings in
// geo_relations.cc, intersections and unions in geo_overlay.cc,
// geo_from_wkt (GEOS) in geo_wkt.cc.
//
// Kusto measures on a sphere unless told otherwise (use_spheroid): S2's angles scaled by the
// mean Earth radius reproduce the documented distances to the printed digits; the spheroid uses
// GeographicLib's WGS-84 geodesic (Karney's algorithm), accurate to nanometres.
#include <GeographicLib/Geodesic.hpp>

#include <cmath>

#include "kql/functions/geo_util.h"

namespace cmk::kql::fn {

void RegisterGeoCells(Registry& r);   // geo_cells.cc
void RegisterGeoShapes(Registry& r);  // geo_shapes.cc
void RegisterGeoEdits(Registry& r);   // geo_edit.cc
void RegisterGeoRelations(Registry& r);  // geo_relations.cc
void RegisterGeoOverlays(Registry& r);   // geo_overlay.cc
void RegisterGeoWkt(Registry& r);        // geo_wkt.cc
void RegisterGeoH3(Registry& r);         // geo_h3.cc

namespace {

double SphereDistance(LngLat a, LngLat b) {
  return S2LatLng::FromDegrees(a.lat, a.lng).GetDistance(S2LatLng::FromDegrees(b.lat, b.lng))
             .radians() *
         kEarthRadiusMeters;
}

double SpheroidDistance(LngLat a, LngLat b) {
  double meters = 0;
  GeographicLib::Geodesic::WGS84().Inverse(a.lat, a.lng, b.lat, b.lng, meters);
  return meters;
}

Result<Column> Distance2Points(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kReal, [&](size_t i) -> std::optional<double> {
    std::optional<LngLat> p1 = PointArg(*a[0], *a[1], i), p2 = PointArg(*a[2], *a[3], i);
    if (!p1 || !p2) return std::nullopt;
    bool spheroid = a.size() > 4 && a[4]->Int(i) != 0;
    return spheroid ? SpheroidDistance(*p1, *p2) : SphereDistance(*p1, *p2);
  });
}

// A spherical cap: points at most `radius` metres along the sphere from the centre. The radius
// must be positive (null otherwise, as documented).
Result<Column> PointInCircle(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kBool, [&](size_t i) -> std::optional<bool> {
    std::optional<LngLat> p = PointArg(*a[0], *a[1], i), c = PointArg(*a[2], *a[3], i);
    std::optional<double> radius = RealArg(*a[4], i);
    if (!p || !c || !radius || !(*radius > 0)) return std::nullopt;
    return SphereDistance(*p, *c) <= *radius;
  });
}

// The initial bearing of the great circle from a to b, clockwise from true north, in [0, 2pi);
// none when the points are equal or antipodal (every direction leads there).
std::optional<double> Azimuth(LngLat a, LngLat b) {
  if (!ValidEdge(ToS2(a), ToS2(b))) return std::nullopt;
  double p1 = a.lat * M_PI / 180, p2 = b.lat * M_PI / 180, d = (b.lng - a.lng) * M_PI / 180;
  double az = std::atan2(std::sin(d) * std::cos(p2),
                         std::cos(p1) * std::sin(p2) - std::sin(p1) * std::cos(p2) * std::cos(d));
  return az < 0 ? az + 2 * M_PI : az;
}

Result<Column> GeoAzimuth(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kReal, [&](size_t i) -> std::optional<double> {
    std::optional<LngLat> p1 = PointArg(*a[0], *a[1], i), p2 = PointArg(*a[2], *a[3], i);
    if (!p1 || !p2) return std::nullopt;
    return Azimuth(*p1, *p2);
  });
}

// The clockwise turn at p2 from the line back to p1 to the line on to p3: the difference of
// the two bearings leaving p2.
Result<Column> GeoAngle(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kReal, [&](size_t i) -> std::optional<double> {
    std::optional<LngLat> p1 = PointArg(*a[0], *a[1], i), p2 = PointArg(*a[2], *a[3], i),
                          p3 = PointArg(*a[4], *a[5], i);
    if (!p1 || !p2 || !p3) return std::nullopt;
    std::optional<double> back = Azimuth(*p2, *p1), on = Azimuth(*p2, *p3);
    if (!back || !on) return std::nullopt;
    double angle = std::fmod(*on - *back + 2 * M_PI, 2 * M_PI);
    return angle;
  });
}

}  // namespace

void RegisterGeo(Registry& r) {
  r.Function({"geo_distance_2points", 4, 5,
              GeoSignature("geo_distance_2points", "nnnnb", Type::kReal), Distance2Points});
  r.Function({"geo_point_in_circle", 5, 5,
              GeoSignature("geo_point_in_circle", "nnnnn", Type::kBool), PointInCircle});
  r.Function({"geo_azimuth", 4, 4, GeoSignature("geo_azimuth", "nnnn", Type::kReal), GeoAzimuth});
  r.Function({"geo_angle", 6, 6, GeoSignature("geo_angle", "nnnnnn", Type::kReal), GeoAngle});
  RegisterGeoCells(r);
  RegisterGeoShapes(r);
  RegisterGeoEdits(r);
  RegisterGeoRelations(r);
  RegisterGeoOverlays(r);
  RegisterGeoWkt(r);
  RegisterGeoH3(r);
}

}  // namespace cmk::kql::fn
