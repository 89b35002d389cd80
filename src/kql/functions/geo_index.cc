// GeoShapeIndex (geo_index.h): every valid shape of a lookup column in one MutableS2ShapeIndex,
// so a point finds its shapes without testing them all.
//
// Containment is an S2ContainsPointQuery over the shared index (semi-open, as S2Polygon::Contains
// and so geo_point_in_polygon). A radius query covers the point's spherical cap with a few
// cells, collects the shapes the index says intersect them (each shape once, however many of its
// edges are near), then measures each candidate exactly with its own index, as
// geo_distance_point_to_polygon/line do; asking the shared index for every edge within the
// radius instead would cost as much as the edges near the point, unbounded per shape.
#include "kql/functions/geo_index.h"

#include <s2/s2cap.h>
#include <s2/s2closest_edge_query.h>
#include <s2/s2contains_point_query.h>
#include <s2/s2region_coverer.h>
#include <s2/s2shape_index_region.h>

#include <algorithm>
#include <cmath>

#include "kql/functions/geo_util.h"

namespace cmk::kql::fn {

namespace {

// Approximate bytes per vertex held: the S2Point, the polygon's or line's own index and the
// shared index's cells.
constexpr size_t kBytesPerVertex = 96;
constexpr size_t kBytesPerShape = 256;
// Cells covering a radius query's cap: few and coarse; candidates are measured exactly anyway.
constexpr int kCapCoveringCells = 8;

}  // namespace

struct GeoShapeIndex::Impl {
  explicit Impl(QueryBudget* budget) : held(budget, "geo lookup index") {}
  Kind kind = Kind::kPolygon;
  std::vector<std::unique_ptr<S2Polygon>> polygons;  // kPolygon: by shape
  std::vector<LinesPtr> lines;                       // kLine: by row added
  std::vector<uint32_t> row_of_shape;                // shape id -> input row
  std::vector<const S2ShapeIndex*> own_index;        // shape id -> the shape's own index
  MutableS2ShapeIndex index;
  MemoryReservation held;
  std::vector<int32_t> candidates;  // scratch of Match
};

GeoShapeIndex::GeoShapeIndex(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GeoShapeIndex::~GeoShapeIndex() = default;

Result<std::unique_ptr<GeoShapeIndex>> GeoShapeIndex::Build(Kind kind, const Column& shapes,
                                                            size_t rows, QueryBudget* budget) {
  auto impl = std::make_unique<Impl>(budget);
  impl->kind = kind;
  size_t bytes = 0;
  for (size_t r = 0; r < rows; ++r) {
    if (budget != nullptr) RETURN_IF_ERROR(budget->Check());  // a row may hold 1M vertices
    if (shapes.IsNull(r)) continue;
    std::string_view json = shapes.Str(r);
    if (kind == Kind::kPolygon) {
      PolygonPtr polygon = ParseGeoPolygon(json);
      if (polygon == nullptr) continue;
      bytes += kBytesPerShape + kBytesPerVertex * static_cast<size_t>(polygon->num_vertices());
      int id = impl->index.Add(std::make_unique<S2Polygon::Shape>(polygon.get()));
      impl->row_of_shape.resize(static_cast<size_t>(id) + 1);
      impl->row_of_shape[static_cast<size_t>(id)] = static_cast<uint32_t>(r);
      impl->own_index.resize(static_cast<size_t>(id) + 1);
      impl->own_index[static_cast<size_t>(id)] = &polygon->index();
      impl->polygons.push_back(std::move(polygon));
    } else {
      LinesPtr lines = ParseGeoLines(json);
      if (lines == nullptr) continue;
      for (const auto& polyline : lines->polylines) {
        bytes += kBytesPerShape + kBytesPerVertex * static_cast<size_t>(polyline->num_vertices());
        int id = impl->index.Add(std::make_unique<S2Polyline::Shape>(polyline.get()));
        impl->row_of_shape.resize(static_cast<size_t>(id) + 1);
        impl->row_of_shape[static_cast<size_t>(id)] = static_cast<uint32_t>(r);
        impl->own_index.resize(static_cast<size_t>(id) + 1);
        impl->own_index[static_cast<size_t>(id)] = &lines->index;
      }
      impl->lines.push_back(std::move(lines));
    }
    RETURN_IF_ERROR(impl->held.Resize(bytes));
  }
  // Building the index up front keeps the first Match from paying for it (and from doing so
  // lazily under a const query).
  impl->index.ForceBuild();
  return std::unique_ptr<GeoShapeIndex>(new GeoShapeIndex(std::move(impl)));
}

void GeoShapeIndex::Match(double lng, double lat, double radius_m, std::vector<uint32_t>& rows) {
  rows.clear();
  Impl& m = *impl_;
  if (!ValidLngLat(lng, lat) || std::isnan(radius_m)) return;
  S2Point p = ToS2(LngLat{lng, lat});
  if (radius_m < 0) {
    if (m.kind != Kind::kPolygon) return;
    auto query = MakeS2ContainsPointQuery(&m.index, S2ContainsPointQueryOptions(S2VertexModel::SEMI_OPEN));
    query.VisitContainingShapes(p, [&](S2Shape* shape) {
      rows.push_back(m.row_of_shape[static_cast<size_t>(shape->id())]);
      return true;
    });
  } else {
    S1ChordAngle limit(S1Angle::Radians(std::min(radius_m / kEarthRadiusMeters, M_PI)));
    S2Cap cap(p, limit);
    S2RegionCoverer::Options options;
    options.set_max_cells(kCapCoveringCells);
    S2RegionCoverer coverer(options);
    std::vector<S2CellId> cells;
    coverer.GetCovering(cap, &cells);
    m.candidates.clear();
    auto region = MakeS2ShapeIndexRegion(&m.index);
    for (S2CellId cell : cells) {
      region.VisitIntersectingShapes(S2Cell(cell), [&](S2Shape* shape, bool) {
        m.candidates.push_back(shape->id());
        return true;
      });
    }
    std::sort(m.candidates.begin(), m.candidates.end());
    m.candidates.erase(std::unique(m.candidates.begin(), m.candidates.end()), m.candidates.end());
    S2ClosestEdgeQuery::PointTarget target(p);
    for (int32_t id : m.candidates) {
      S2ClosestEdgeQuery query(m.own_index[static_cast<size_t>(id)]);
      if (query.IsDistanceLessOrEqual(&target, limit)) {
        rows.push_back(m.row_of_shape[static_cast<size_t>(id)]);
      }
    }
  }
  std::sort(rows.begin(), rows.end());
  rows.erase(std::unique(rows.begin(), rows.end()), rows.end());
}

}  // namespace cmk::kql::fn
