// H3 cells (geo_point_to_h3cell, geo_h3cell_*, geo_polygon_to_h3cells): Uber's hexagonal
// hierarchical grid (geo_h3_grid.h). Tokens are the cells' indexes as lower-case hex. Invalid
// input gives null (an empty string for the string results), as the reference documents.
#include <s2/s2buffer_operation.h>
#include <s2/s2builderutil_s2polygon_layer.h>

#include <cmath>

#include "kql/core/budget.h"
#include "kql/functions/geo_h3_grid.h"
#include "kql/functions/geo_util.h"

namespace cmk::kql::fn {
namespace {

constexpr int kDefaultResolution = 6;
constexpr int kMaxChildLevels = 5;     // at most 7^5 = 16807 children
constexpr int kMaxRingDistance = 142;  // 3 * 142 * 143 + 1 = 60919 cells
constexpr size_t kMaxPolygonCells = 61680;

std::optional<h3::Index> CellArg(const Column& c, size_t row) { return h3::FromString(c.Str(row)); }

bj::array TokenArray(const std::vector<h3::Index>& cells) {
  bj::array out;
  out.reserve(cells.size());
  for (h3::Index h : cells) out.push_back(bj::string(h3::ToString(h)));
  return out;
}

LngLat ToDegrees(const h3::LatLng& g) {
  return {h3::RadiansToDegrees(g.lng), h3::RadiansToDegrees(g.lat)};
}

// Like GeoMap, for functions whose per-row work can be large: f(i) returns
// Result<optional<string>>, and the texts built are checked against the query's memory budget.
template <typename F>
Result<Column> H3Map(Args a, const FunctionContext& ctx, Type t, F f) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(t, s);
  size_t bytes = 0;
  for (size_t i = 0; i < s.rows; ++i) {
    RETURN_IF_ERROR(GeoTick(ctx));
    std::optional<std::string> v;
    if (!AnyNull(a, i)) {
      ASSIGN_OR_RETURN(v, f(i));
    }
    bytes += v ? v->size() : 0;
    if (ctx.budget != nullptr && bytes > (size_t{1} << 24) && bytes > ctx.budget->remaining()) {
      RETURN_IF_ERROR(ctx.budget->Charge(bytes, "H3 cells"));
    }
    PutValue(out, i, std::move(v));
  }
  return out;
}

// A deadline check for the grid's long walks.
std::function<bool()> KeepGoing(const FunctionContext& ctx, Status& status) {
  return [&ctx, &status] {
    status = GeoTick(ctx);
    return status.ok();
  };
}

Result<Column> PointToH3Cell(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kString, [&](size_t i) -> std::optional<std::string> {
    std::optional<LngLat> p = PointArg(*a[0], *a[1], i);
    std::optional<int64_t> res = a.size() > 2 ? IntArg(*a[2], i) : kDefaultResolution;
    if (!p || !res || *res < 0 || *res > h3::kMaxRes) return std::nullopt;
    h3::LatLng g{h3::DegreesToRadians(p->lat), h3::DegreesToRadians(p->lng)};
    h3::Index h = h3::LatLngToCell(g, static_cast<int>(*res));
    if (!h3::IsValidCell(h)) return std::nullopt;  // 0: off every base cell (never expected)
    return h3::ToString(h);
  });
}

Result<Column> H3CellToCentralPoint(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<h3::Index> h = CellArg(*a[0], i);
    if (!h) return std::nullopt;
    return PointJson(ToDegrees(h3::CellToLatLng(*h)));
  });
}

// The boundary counter-clockwise as H3 gives it, closed; longitudes as H3 gives them (a cell
// across the antimeridian jumps from +180 to -180).
Result<Column> H3CellToPolygon(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<h3::Index> h = CellArg(*a[0], i);
    if (!h) return std::nullopt;
    Path ring;
    for (const h3::LatLng& v : h3::CellToBoundary(*h)) ring.push_back(ToDegrees(v));
    ring.push_back(ring.front());
    return PolygonJson({{ring}});
  });
}

Result<Column> H3CellLevel(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kInt, s);
  for (size_t i = 0; i < s.rows; ++i) {
    RETURN_IF_ERROR(GeoTick(ctx));
    std::optional<h3::Index> h = AnyNull(a, i) ? std::nullopt : CellArg(*a[0], i);
    if (h) {
      out.ints[i] = h3::Resolution(*h);
    } else {
      SetNull(out, i);
    }
  }
  return out;
}

// Resolution in [0, 14] (default: one level up), not finer than the cell's.
Result<Column> H3CellParent(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kString, [&](size_t i) -> std::optional<std::string> {
    std::optional<h3::Index> h = CellArg(*a[0], i);
    if (!h) return std::nullopt;
    std::optional<int64_t> res =
        a.size() > 1 ? IntArg(*a[1], i) : std::optional<int64_t>(h3::Resolution(*h) - 1);
    if (!res || *res < 0 || *res > h3::kMaxRes - 1 || *res > h3::Resolution(*h)) {
      return std::nullopt;
    }
    return h3::ToString(h3::Parent(*h, static_cast<int>(*res)));
  });
}

// Resolution in [1, 15] (default: one level down), at most 5 levels below the cell's.
Result<Column> H3CellChildren(Args a, const FunctionContext& ctx) {
  return H3Map(a, ctx, Type::kDynamic, [&](size_t i) -> Result<std::optional<std::string>> {
    std::optional<h3::Index> h = CellArg(*a[0], i);
    if (!h) return std::optional<std::string>();
    int level = h3::Resolution(*h);
    std::optional<int64_t> res =
        a.size() > 1 ? IntArg(*a[1], i) : std::optional<int64_t>(level + 1);
    if (!res || *res < 1 || *res > h3::kMaxRes || *res < level || *res - level > kMaxChildLevels) {
      return std::optional<std::string>();
    }
    std::vector<h3::Index> cells;
    h3::Children(*h, static_cast<int>(*res), cells);
    return std::optional<std::string>(WriteJson(TokenArray(cells)));
  });
}

// The cells within `distance` grouped by distance, each group in H3's gridDisk order.
Result<std::vector<std::vector<h3::Index>>> Rings(h3::Index h, int distance,
                                                  const FunctionContext& ctx) {
  Status status;
  std::vector<std::pair<h3::Index, int>> disk;
  if (!h3::GridDiskDistances(h, distance, KeepGoing(ctx, status), disk)) return status;
  std::vector<std::vector<h3::Index>> rings(static_cast<size_t>(distance) + 1);
  for (auto [cell, d] : disk) rings[static_cast<size_t>(d)].push_back(cell);
  return rings;
}

Result<Column> H3CellNeighbors(Args a, const FunctionContext& ctx) {
  return H3Map(a, ctx, Type::kDynamic, [&](size_t i) -> Result<std::optional<std::string>> {
    std::optional<h3::Index> h = CellArg(*a[0], i);
    if (!h) return std::optional<std::string>();
    ASSIGN_OR_RETURN(auto rings, Rings(*h, 1, ctx));
    return std::optional<std::string>(WriteJson(TokenArray(rings[1])));
  });
}

Result<Column> H3CellRings(Args a, const FunctionContext& ctx) {
  return H3Map(a, ctx, Type::kDynamic, [&](size_t i) -> Result<std::optional<std::string>> {
    std::optional<h3::Index> h = CellArg(*a[0], i);
    std::optional<int64_t> distance = IntArg(*a[1], i);
    if (!h || !distance || *distance < 0 || *distance > kMaxRingDistance) {
      return std::optional<std::string>();
    }
    ASSIGN_OR_RETURN(auto rings, Rings(*h, static_cast<int>(*distance), ctx));
    bj::array out;
    for (const auto& ring : rings) out.push_back(TokenArray(ring));
    return std::optional<std::string>(WriteJson(out));
  });
}

// --- Polygon to cells --------------------------------------------------------------------------

// A polygon argument read once: Kusto's validity rules (S2, geodesic), and its rings as H3 reads
// them (straight edges in latitude/longitude, radians, not closed).
struct H3Polygon {
  std::unique_ptr<S2Polygon> s2;
  std::vector<h3::Polygon> rings;
};
using H3PolygonPtr = std::shared_ptr<const H3Polygon>;

std::vector<h3::Polygon> ToH3Rings(const std::vector<std::vector<Path>>& polygons) {
  std::vector<h3::Polygon> out;
  for (const auto& polygon : polygons) {
    h3::Polygon p;
    for (const Path& path : polygon) {
      h3::Ring ring;
      for (size_t k = 0; k + 1 < path.size(); ++k) {  // GeoJSON rings repeat their first vertex
        ring.push_back({h3::DegreesToRadians(path[k].lat), h3::DegreesToRadians(path[k].lng)});
      }
      p.push_back(std::move(ring));
    }
    out.push_back(std::move(p));
  }
  return out;
}

H3PolygonPtr ParseH3Polygon(std::string_view json) {
  std::optional<GeoShape> shape = ParseGeoShape(json, kAcceptPolygon);
  if (!shape) return nullptr;
  auto polygon = std::make_shared<H3Polygon>();
  polygon->s2 = ToS2Polygon(*shape);
  if (polygon->s2 == nullptr) return nullptr;
  polygon->rings = ToH3Rings(shape->polygons);
  return polygon;
}

// The polygon grown by `radius` radians (S2's buffer, round corners), as H3 rings.
std::optional<std::vector<h3::Polygon>> Grow(const S2Polygon& polygon, double radius) {
  S2Polygon grown;
  S2BufferOperation op(std::make_unique<s2builderutil::S2PolygonLayer>(&grown),
                       S2BufferOperation::Options(S1Angle::Radians(radius)));
  S2Polygon::Shape shape(&polygon);
  op.AddShape(shape);
  S2Error error;
  if (!op.Build(&error) || grown.is_empty() || grown.is_full()) return std::nullopt;
  std::vector<std::vector<Path>> polygons;
  AppendS2Polygon(grown, polygons);
  return ToH3Rings(polygons);
}

Result<Column> PolygonToH3Cells(Args a, const FunctionContext& ctx) {
  ShapeCache<H3PolygonPtr> cache;
  return H3Map(a, ctx, Type::kDynamic, [&](size_t i) -> Result<std::optional<std::string>> {
    const H3PolygonPtr& polygon = cache.Get(*a[0], i, ParseH3Polygon);
    std::optional<int64_t> res = a.size() > 1 ? IntArg(*a[1], i) : kDefaultResolution;
    std::optional<double> radius = a.size() > 2 ? RealArg(*a[2], i) : 0.0;
    if (polygon == nullptr || !res || *res < 0 || *res > h3::kMaxRes || !radius ||
        !(*radius >= 0) || !(*radius / kEarthRadiusMeters < M_PI)) {
      return std::optional<std::string>();
    }
    std::optional<std::vector<h3::Polygon>> grown;
    if (*radius > 0) {
      grown = Grow(*polygon->s2, *radius / kEarthRadiusMeters);
      if (!grown) return std::optional<std::string>();
    }
    Status status;
    std::vector<h3::Index> cells;
    switch (h3::PolygonToCells(grown ? *grown : polygon->rings, static_cast<int>(*res),
                               kMaxPolygonCells, KeepGoing(ctx, status), cells)) {
      case h3::FillStatus::kOk:
        return std::optional<std::string>(WriteJson(TokenArray(cells)));
      case h3::FillStatus::kTooMany:  // documented: beyond the limit the result is null
        return std::optional<std::string>();
      case h3::FillStatus::kStopped:
        return status;
      case h3::FillStatus::kTooComplex:
        break;
    }
    return InvalidArgument(
        "geo_polygon_to_h3cells(): the polygon's boundary crosses too many cells at resolution " +
        std::to_string(*res) + " to examine; use a lower resolution");
  });
}

}  // namespace

void RegisterGeoH3(Registry& r) {
  auto add = [&r](auto... a) { AddGeoFunction(r, a...); };
  add("geo_point_to_h3cell", 2, "nnn", Type::kString, PointToH3Cell);
  add("geo_h3cell_to_central_point", 1, "s", Type::kDynamic, H3CellToCentralPoint);
  add("geo_h3cell_to_polygon", 1, "s", Type::kDynamic, H3CellToPolygon);
  add("geo_h3cell_level", 1, "s", Type::kInt, H3CellLevel);
  add("geo_h3cell_parent", 1, "sn", Type::kString, H3CellParent);
  add("geo_h3cell_children", 1, "sn", Type::kDynamic, H3CellChildren);
  add("geo_h3cell_neighbors", 1, "s", Type::kDynamic, H3CellNeighbors);
  add("geo_h3cell_rings", 2, "sn", Type::kDynamic, H3CellRings);
  add("geo_polygon_to_h3cells", 1, "dnn", Type::kDynamic, PolygonToH3Cells);
}

}  // namespace cmk::kql::fn
