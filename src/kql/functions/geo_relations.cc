// Relations between shapes and coverings (S2): geo_intersects_2lines, geo_intersects_2polygons,
// geo_intersects_line_with_polygon, geo_closest_point_on_line, geo_closest_point_on_polygon,
// geo_polygon_to_s2cells, geo_line_to_s2cells.
//
// Boundary rules follow the pages: two polygons that only touch intersect ("polygon contains its
// vertices": S2's closed model), a line touching a polygon's vertex need not ("doesn't
// necessarily contain its vertices": semi-open), lines are closed (their ends count).
#include <s2/s2boolean_operation.h>
#include <s2/s2buffer_operation.h>
#include <s2/s2builderutil_s2polygon_layer.h>
#include <s2/s2cell_union.h>
#include <s2/s2closest_edge_query.h>
#include <s2/s2error.h>
#include <s2/s2metrics.h>
#include <s2/s2region_coverer.h>

#include <algorithm>

#include "kql/functions/geo_util.h"

namespace cmk::kql::fn {
namespace {

// Kusto's documented cap on the tokens of one covering.
constexpr size_t kMaxCoveringCells = 65536;

using Model = S2BooleanOperation::PolygonModel;

bool Intersect(const S2ShapeIndex& a, const S2ShapeIndex& b, Model polygons) {
  S2BooleanOperation::Options options;
  options.set_polygon_model(polygons);
  options.set_polyline_model(S2BooleanOperation::PolylineModel::CLOSED);
  return S2BooleanOperation::Intersects(a, b, options);
}

// f(first, second) over two shape arguments, each parsed once when constant.
template <typename A, typename B, typename ParseA, typename ParseB, typename F>
Result<Column> OnTwo(Args a, const FunctionContext& ctx, ParseA parse_a, ParseB parse_b, F f) {
  ShapeCache<A> cache_a;
  ShapeCache<B> cache_b;
  return GeoMap(a, ctx, Type::kBool, [&](size_t i) -> std::optional<bool> {
    const A& x = cache_a.Get(*a[0], i, parse_a);
    const B& y = cache_b.Get(*a[1], i, parse_b);
    if (x == nullptr || y == nullptr) return std::nullopt;
    return f(*x, *y);
  });
}

Result<Column> Intersects2Lines(Args a, const FunctionContext& ctx) {
  return OnTwo<LinesPtr, LinesPtr>(a, ctx, ParseGeoLines, ParseGeoLines,
                                   [](const Lines& x, const Lines& y) {
                                     return Intersect(x.index, y.index, Model::CLOSED);
                                   });
}

Result<Column> Intersects2Polygons(Args a, const FunctionContext& ctx) {
  return OnTwo<PolygonPtr, PolygonPtr>(a, ctx, ParseGeoPolygon, ParseGeoPolygon,
                                       [](const S2Polygon& x, const S2Polygon& y) {
                                         return Intersect(x.index(), y.index(), Model::CLOSED);
                                       });
}

Result<Column> IntersectsLineWithPolygon(Args a, const FunctionContext& ctx) {
  return OnTwo<LinesPtr, PolygonPtr>(a, ctx, ParseGeoLines, ParseGeoPolygon,
                                     [](const Lines& x, const S2Polygon& y) {
                                       return Intersect(x.index, y.index(), Model::SEMI_OPEN);
                                     });
}

// The closest point of the indexed edges to `p`; a point a polygon contains is its own answer.
std::string ClosestPoint(const S2ShapeIndex& index, const S2Point& p) {
  S2ClosestEdgeQuery query(&index);
  S2ClosestEdgeQuery::PointTarget target(p);
  S2ClosestEdgeQuery::Result result = query.FindClosestEdge(&target);
  if (result.is_interior()) return PointJson(FromS2(p));
  return PointJson(FromS2(query.Project(p, result)));
}

template <typename T, typename Parse, typename IndexOf>
Result<Column> ClosestOn(Args a, const FunctionContext& ctx, Parse parse, IndexOf index_of) {
  ShapeCache<T> cache;
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<LngLat> p = PointArg(*a[0], *a[1], i);
    const T& shape = cache.Get(*a[2], i, parse);
    if (!p || shape == nullptr) return std::nullopt;
    return ClosestPoint(index_of(*shape), ToS2(*p));
  });
}

Result<Column> ClosestPointOnLine(Args a, const FunctionContext& ctx) {
  return ClosestOn<LinesPtr>(a, ctx, ParseGeoLines,
                             [](const Lines& l) -> const S2ShapeIndex& { return l.index; });
}

Result<Column> ClosestPointOnPolygon(Args a, const FunctionContext& ctx) {
  return ClosestOn<PolygonPtr>(a, ctx, ParseGeoPolygon,
                               [](const S2Polygon& p) -> const S2ShapeIndex& { return p.index(); });
}

// --- Coverings ---------------------------------------------------------------------------------

// Level in [0, 30] (default 11) and radius >= 0 metres (default 0) from arguments 1 and 2.
struct CoverArgs {
  int level = 11;
  double radius = 0;  // radians
};
std::optional<CoverArgs> CoverArgsAt(Args a, size_t i) {
  CoverArgs c;
  if (a.size() > 1) {
    std::optional<int64_t> level = IntArg(*a[1], i);
    if (!level || *level < 0 || *level > S2CellId::kMaxLevel) return std::nullopt;
    c.level = static_cast<int>(*level);
  }
  if (a.size() > 2) {
    std::optional<double> radius = RealArg(*a[2], i);
    if (!radius || !(*radius >= 0) || !(*radius / kEarthRadiusMeters < M_PI)) return std::nullopt;
    c.radius = *radius / kEarthRadiusMeters;
  }
  return c;
}

// Cells a region of this area (steradians) and boundary (radians) needs at `level`, roughly:
// its interior cells plus a band of cells along its boundary. Refusing far larger estimates
// keeps a continent at level 30 from being enumerated only to be refused.
bool CoveringMayFit(double area, double boundary, int level) {
  double estimate = area / S2::kAvgArea.GetValue(level) +
                    3 * boundary / S2::kMinWidth.GetValue(level) + 8;
  return estimate <= 4.0 * kMaxCoveringCells;
}

// The cells at `level` covering `region` (S2's coverer, fixed level).
std::vector<S2CellId> CoverCells(const S2Region& region, int level) {
  S2RegionCoverer::Options options;
  options.set_min_level(level);
  options.set_max_level(level);
  options.set_max_cells(static_cast<int>(kMaxCoveringCells));
  std::vector<S2CellId> cells;
  S2RegionCoverer(options).GetCovering(region, &cells);
  return cells;
}

// The tokens in cell order, each once; nullopt beyond kMaxCoveringCells.
std::optional<std::string> TokensJson(std::vector<S2CellId> cells) {
  std::sort(cells.begin(), cells.end());
  cells.erase(std::unique(cells.begin(), cells.end()), cells.end());
  if (cells.size() > kMaxCoveringCells) return std::nullopt;
  bj::array out;
  out.reserve(cells.size());
  for (S2CellId c : cells) out.push_back(bj::string(c.ToToken()));
  return WriteJson(out);
}

std::optional<std::string> Covering(const S2Region& region, int level) {
  return TokensJson(CoverCells(region, level));
}

// The shapes grown by the radius (S2BufferOperation), to be covered instead of the shapes.
template <typename Add>
std::unique_ptr<S2Polygon> Grown(double radius, Add add) {
  auto out = std::make_unique<S2Polygon>();
  S2BufferOperation::Options options(S1Angle::Radians(radius));
  S2BufferOperation op(std::make_unique<s2builderutil::S2PolygonLayer>(out.get()), options);
  add(op);
  S2Error error;
  if (!op.Build(&error)) return nullptr;
  return out;
}

double Perimeter(const S2Polygon& p) {
  double r = 0;
  for (int k = 0; k < p.num_loops(); ++k) r += S2::GetPerimeter(p.loop(k)->vertices_span()).radians();
  return r;
}

std::optional<std::string> CoverPolygon(const S2Polygon& polygon, int level) {
  if (!CoveringMayFit(polygon.GetArea(), Perimeter(polygon), level)) return std::nullopt;
  return Covering(polygon, level);
}

Result<Column> PolygonToS2Cells(Args a, const FunctionContext& ctx) {
  ShapeCache<PolygonPtr> cache;
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<CoverArgs> c = CoverArgsAt(a, i);
    const PolygonPtr& polygon = cache.Get(*a[0], i, ParseGeoPolygon);
    if (!c || polygon == nullptr) return std::nullopt;
    if (c->radius == 0) return CoverPolygon(*polygon, c->level);
    // Growing first: the estimate bounds the grown shape (area + radius * boundary + disc).
    double grown_area = polygon->GetArea() + c->radius * Perimeter(*polygon) +
                        M_PI * c->radius * c->radius * polygon->num_loops();
    if (!CoveringMayFit(grown_area, Perimeter(*polygon) + 2 * M_PI * c->radius, c->level)) {
      return std::nullopt;
    }
    S2Polygon::Shape shape(polygon.get());
    auto grown = Grown(c->radius, [&](S2BufferOperation& op) { op.AddShape(shape); });
    return grown ? CoverPolygon(*grown, c->level) : std::nullopt;
  });
}

Result<Column> LineToS2Cells(Args a, const FunctionContext& ctx) {
  ShapeCache<LinesPtr> cache;
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<CoverArgs> c = CoverArgsAt(a, i);
    const LinesPtr& lines = cache.Get(*a[0], i, ParseGeoLines);
    if (!c || lines == nullptr) return std::nullopt;
    double length = 0;
    for (const auto& p : lines->polylines) length += p->GetLength().radians();
    double area = 2 * c->radius * length + M_PI * c->radius * c->radius;
    if (!CoveringMayFit(area, 2 * length + 2 * M_PI * c->radius, c->level)) return std::nullopt;
    if (c->radius == 0) {
      std::vector<S2CellId> cells;
      for (const auto& p : lines->polylines) {
        std::vector<S2CellId> part = CoverCells(*p, c->level);
        cells.insert(cells.end(), part.begin(), part.end());
      }
      return TokensJson(std::move(cells));
    }
    auto grown = Grown(c->radius, [&](S2BufferOperation& op) {
      for (const auto& p : lines->polylines) op.AddPolyline(p->vertices_span());
    });
    return grown ? Covering(*grown, c->level) : std::nullopt;
  });
}

}  // namespace

void RegisterGeoRelations(Registry& r) {
  auto add = [&r](auto... a) { AddGeoFunction(r, a...); };
  add("geo_intersects_2lines", 2, "dd", Type::kBool, Intersects2Lines);
  add("geo_intersects_2polygons", 2, "dd", Type::kBool, Intersects2Polygons);
  add("geo_intersects_line_with_polygon", 2, "dd", Type::kBool, IntersectsLineWithPolygon);
  add("geo_closest_point_on_line", 3, "nnd", Type::kDynamic, ClosestPointOnLine);
  add("geo_closest_point_on_polygon", 3, "nnd", Type::kDynamic, ClosestPointOnPolygon);
  add("geo_polygon_to_s2cells", 1, "dnn", Type::kDynamic, PolygonToS2Cells);
  add("geo_line_to_s2cells", 1, "dnn", Type::kDynamic, LineToS2Cells);
}

}  // namespace cmk::kql::fn
