// Spherical shapes (S2): geo_point_in_polygon, geo_distance_point_to_polygon,
// geo_distance_point_to_line, geo_polygon_area, geo_polygon_perimeter, geo_polygon_centroid,
// geo_line_length, geo_line_centroid, geo_line_interpolate_point, geo_line_locate_point.
//
// Kusto's polygons and lines have geodesic edges on a sphere (the docs' notes), which is S2's
// model: a polygon is an S2Polygon built by geo_util.h's ToS2Polygon (rings normalized to the
// smaller region, a MultiPolygon unioned), a line a set of S2Polylines. Measures are S2's angles
// and steradians scaled by kEarthRadiusMeters.
#include <s2/s2closest_edge_query.h>
#include <s2/s2loop.h>
#include <s2/s2loop_measures.h>

#include <cmath>

#include "kql/functions/geo_util.h"

namespace cmk::kql::fn {
namespace {

double AngleToMeters(S1ChordAngle a) { return a.ToAngle().radians() * kEarthRadiusMeters; }

// f(shape, row) -> optional<V> over the shape argument `arg`, parsed once per distinct value by
// `parse` (ParseGeoPolygon or ParseGeoLines); null for invalid shapes.
template <typename V, typename Ptr, typename F>
Result<Column> OnShape(Args a, const FunctionContext& ctx, size_t arg, Type t, Ptr (*parse)(std::string_view), F f) {
  ShapeCache<Ptr> cache;
  return GeoMap(a, ctx, t, [&](size_t i) -> std::optional<V> {
    const Ptr& shape = cache.Get(*a[arg], i, parse);
    if (shape == nullptr) return std::nullopt;
    return f(*shape, i);
  });
}

template <typename V, typename F>
Result<Column> OnPolygon(Args a, const FunctionContext& ctx, size_t arg, Type t, F f) {
  return OnShape<V>(a, ctx, arg, t, ParseGeoPolygon, f);
}

template <typename V, typename F>
Result<Column> OnLines(Args a, const FunctionContext& ctx, size_t arg, Type t, F f) {
  return OnShape<V>(a, ctx, arg, t, ParseGeoLines, f);
}

Result<Column> PointInPolygon(Args a, const FunctionContext& ctx) {
  return OnPolygon<bool>(a, ctx, 2, Type::kBool,
                         [&](const S2Polygon& polygon, size_t i) -> std::optional<bool> {
                           std::optional<LngLat> p = PointArg(*a[0], *a[1], i);
                           if (!p) return std::nullopt;
                           return polygon.Contains(ToS2(*p));
                         });
}

// 0 inside the polygon (the query counts its interior), else the distance to its boundary.
Result<Column> DistancePointToPolygon(Args a, const FunctionContext& ctx) {
  return OnPolygon<double>(a, ctx, 2, Type::kReal,
                           [&](const S2Polygon& polygon, size_t i) -> std::optional<double> {
                             std::optional<LngLat> p = PointArg(*a[0], *a[1], i);
                             if (!p) return std::nullopt;
                             if (polygon.Contains(ToS2(*p))) return 0.0;
                             S2ClosestEdgeQuery query(&polygon.index());
                             S2ClosestEdgeQuery::PointTarget target(ToS2(*p));
                             return AngleToMeters(query.GetDistance(&target));
                           });
}

Result<Column> DistancePointToLine(Args a, const FunctionContext& ctx) {
  return OnLines<double>(a, ctx, 2, Type::kReal,
                         [&](Lines& lines, size_t i) -> std::optional<double> {
                           std::optional<LngLat> p = PointArg(*a[0], *a[1], i);
                           if (!p) return std::nullopt;
                           S2ClosestEdgeQuery query(&lines.index);
                           S2ClosestEdgeQuery::PointTarget target(ToS2(*p));
                           return AngleToMeters(query.GetDistance(&target));
                         });
}

Result<Column> PolygonArea(Args a, const FunctionContext& ctx) {
  return OnPolygon<double>(a, ctx, 0, Type::kReal, [](const S2Polygon& polygon, size_t) {
    return std::optional<double>(polygon.GetArea() * kEarthRadiusMeters * kEarthRadiusMeters);
  });
}

// The boundary of the union: every loop's length, shells and holes alike.
Result<Column> PolygonPerimeter(Args a, const FunctionContext& ctx) {
  return OnPolygon<double>(a, ctx, 0, Type::kReal, [](const S2Polygon& polygon, size_t) {
    double radians = 0;
    for (int k = 0; k < polygon.num_loops(); ++k) {
      radians += S2::GetPerimeter(polygon.loop(k)->vertices_span()).radians();
    }
    return std::optional<double>(radians * kEarthRadiusMeters);
  });
}

// S2's centroids are area- (length-) weighted vectors; their direction is the centroid on the
// sphere. A zero vector (a shape symmetric about the centre of the Earth) has none.
std::optional<std::string> CentroidJson(const S2Point& sum) {
  if (sum.Norm2() == 0) return std::nullopt;
  return PointJson(FromS2(sum.Normalize()));
}

Result<Column> PolygonCentroid(Args a, const FunctionContext& ctx) {
  return OnPolygon<std::string>(a, ctx, 0, Type::kDynamic, [](const S2Polygon& polygon, size_t) {
    return CentroidJson(polygon.GetCentroid());
  });
}

Result<Column> LineLength(Args a, const FunctionContext& ctx) {
  return OnLines<double>(a, ctx, 0, Type::kReal, [](Lines& lines, size_t) {
    double radians = 0;
    for (const auto& p : lines.polylines) radians += p->GetLength().radians();
    return std::optional<double>(radians * kEarthRadiusMeters);
  });
}

Result<Column> LineCentroid(Args a, const FunctionContext& ctx) {
  return OnLines<std::string>(a, ctx, 0, Type::kDynamic, [](Lines& lines, size_t) {
    S2Point sum;
    for (const auto& p : lines.polylines) sum += p->GetCentroid();
    return CentroidJson(sum);
  });
}

// The single LineString these two accept (a MultiLineString is invalid for them).
const S2Polyline* SingleLine(const Lines& lines) {
  return lines.polylines.size() == 1 ? lines.polylines[0].get() : nullptr;
}

Result<Column> LineInterpolatePoint(Args a, const FunctionContext& ctx) {
  return OnLines<std::string>(
      a, ctx, 0, Type::kDynamic, [&](Lines& lines, size_t i) -> std::optional<std::string> {
        const S2Polyline* line = SingleLine(lines);
        std::optional<double> fraction = RealArg(*a[1], i);
        if (line == nullptr || !fraction || !(*fraction >= 0 && *fraction <= 1)) {
          return std::nullopt;
        }
        return PointJson(FromS2(line->Interpolate(*fraction)));
      });
}

// The fraction of the line's length before the point of the line closest to the given point.
// Measured on the sphere; use_spheroid is accepted and measures on the sphere too (README).
Result<Column> LineLocatePoint(Args a, const FunctionContext& ctx) {
  return OnLines<double>(a, ctx, 0, Type::kReal,
                         [&](Lines& lines, size_t i) -> std::optional<double> {
                           const S2Polyline* line = SingleLine(lines);
                           std::optional<LngLat> p = PointArg(*a[1], *a[2], i);
                           if (line == nullptr || !p) return std::nullopt;
                           int next = 0;
                           S2Point on = line->Project(ToS2(*p), &next);
                           return line->UnInterpolate(on, next);
                         });
}

}  // namespace

void RegisterGeoShapes(Registry& r) {
  auto add = [&r](std::string_view name, std::string_view kinds, Type t, auto eval) {
    int n = static_cast<int>(kinds.size());
    r.Function({name, n, n, GeoSignature(name, kinds, t), eval});
  };
  add("geo_point_in_polygon", "nnd", Type::kBool, PointInPolygon);
  add("geo_distance_point_to_polygon", "nnd", Type::kReal, DistancePointToPolygon);
  add("geo_distance_point_to_line", "nnd", Type::kReal, DistancePointToLine);
  add("geo_polygon_area", "d", Type::kReal, PolygonArea);
  add("geo_polygon_perimeter", "d", Type::kReal, PolygonPerimeter);
  add("geo_polygon_centroid", "d", Type::kDynamic, PolygonCentroid);
  add("geo_line_length", "d", Type::kReal, LineLength);
  add("geo_line_centroid", "d", Type::kDynamic, LineCentroid);
  add("geo_line_interpolate_point", "dn", Type::kDynamic, LineInterpolatePoint);
  r.Function({"geo_line_locate_point", 3, 4,
              GeoSignature("geo_line_locate_point", "dnnb", Type::kReal), LineLocatePoint});
}

}  // namespace cmk::kql::fn
