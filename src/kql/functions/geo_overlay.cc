// Overlays (S2BooleanOperation, S2Builder): geo_intersection_2lines,
// geo_intersection_2polygons, geo_intersection_line_with_polygon, geo_union_polygons_array,
// geo_union_lines_array.
//
// An intersection may hold points (lines crossing), lines and polygon areas at once; it is
// written as the one geometry there is (Point/MultiPoint, LineString/MultiLineString,
// Polygon/MultiPolygon), a GeometryCollection of them when there are several kinds, and an empty
// GeometryCollection when there is nothing, as the docs show.
#include <s2/s2boolean_operation.h>
#include <s2/s2builder.h>
#include <s2/s2builderutil_s2point_vector_layer.h>
#include <s2/s2builderutil_s2polygon_layer.h>
#include <s2/s2builderutil_s2polyline_vector_layer.h>
#include <s2/s2closest_edge_query.h>
#include <s2/s2crossing_edge_query.h>
#include <s2/s2edge_crossings.h>
#include <s2/s2error.h>

#include <algorithm>
#include <set>

#include "kql/functions/geo_util.h"

namespace cmk::kql::fn {
namespace {

using Model = S2BooleanOperation::PolygonModel;

// A geometry as a JSON object (parsed back from the writers in geo_util.h).
bj::value AsJson(const std::string& text) { return ParseJson(text).value_or(bj::value()); }

// Points (from layer 0 and from one-point polylines), lines and polygon areas as GeoJSON.
std::optional<std::string> PiecesJson(const std::vector<S2Point>& point_edges,
                                      const std::vector<std::unique_ptr<S2Polyline>>& polylines,
                                      const S2Polygon& polygon) {
  Path points;
  for (const S2Point& p : point_edges) points.push_back(FromS2(p));
  std::vector<Path> lines;
  for (const auto& l : polylines) {
    Path line;
    for (int v = 0; v < l->num_vertices(); ++v) line.push_back(FromS2(l->vertex(v)));
    bool point = true;
    for (const LngLat& p : line) point = point && p == line.front();
    if (line.empty()) continue;
    if (point) {
      points.push_back(line.front());
    } else {
      lines.push_back(std::move(line));
    }
  }
  bj::array geometries;
  if (points.size() == 1) geometries.push_back(AsJson(PointJson(points[0])));
  if (points.size() > 1) {
    bj::object o;
    o["type"] = "MultiPoint";
    o["coordinates"] = PathJson(points);
    geometries.push_back(std::move(o));
  }
  if (!lines.empty()) geometries.push_back(AsJson(LineJson(lines)));
  if (std::optional<std::string> area = S2PolygonJson(polygon)) geometries.push_back(AsJson(*area));
  if (geometries.size() == 1) return WriteJson(geometries[0]);
  bj::object collection;
  collection["type"] = "GeometryCollection";
  collection["geometries"] = std::move(geometries);
  return WriteJson(collection);
}

// Where the lines of `a` cross those of `b` at a single point. S2's overlay counts such a point
// as a degenerate line, which its polyline layer drops; Kusto answers it as a Point.
std::vector<S2Point> CrossingPoints(const Lines& a, const Lines& b) {
  std::vector<S2Point> out;
  S2CrossingEdgeQuery query(&b.index);
  for (const auto& line : a.polylines) {
    for (int k = 0; k + 1 < line->num_vertices(); ++k) {
      const S2Point &a0 = line->vertex(k), &a1 = line->vertex(k + 1);
      for (const auto& edge : query.GetCrossingEdges(a0, a1, s2shapeutil::CrossingType::INTERIOR)) {
        out.push_back(S2::GetIntersection(a0, a1, edge.v0(), edge.v1()));
        if (out.size() > kMaxGeoVertices) return out;
      }
    }
  }
  return out;
}

// Where the boundaries of two polygons touch outside their common area: S2's overlay reduces
// such a contact to a degenerate loop that its polygon layer drops, while Kusto answers a shared
// vertex (or a vertex on the other's edge) as a Point (the page's touching-polygons examples)
// and, by the same rule, an edge both have with the polygons on either side as a LineString.
// Near means within kTouch (a few nanometres: S2's unit vectors round-trip degrees inexactly).
const S1ChordAngle kTouch(S1Angle::Radians(1e-15));

// The edges of `a` that `b` has in the other direction (the polygons lie on either side), as
// chains along a's loops.
void SharedChains(const S2Polygon& a, const S2Polygon& b, std::vector<std::vector<S2Point>>& chains) {
  std::set<std::pair<S2Point, S2Point>> reversed;  // b's edges, end to start
  for (int l = 0; l < b.num_loops(); ++l) {
    const S2Loop& loop = *b.loop(l);
    for (int v = 0; v < loop.num_vertices(); ++v) reversed.emplace(loop.vertex(v + 1), loop.vertex(v));
  }
  for (int l = 0; l < a.num_loops(); ++l) {
    const S2Loop& loop = *a.loop(l);
    int n = loop.num_vertices();
    auto shared = [&](int v) { return reversed.count({loop.vertex(v), loop.vertex(v + 1)}) > 0; };
    int start = 0;  // a chain never wraps past an unshared edge
    while (start < n && shared(start)) ++start;
    if (start == n) start = 0;  // every edge is shared: one closed chain
    std::vector<S2Point> chain;
    for (int k = 0; k < n; ++k) {
      int v = (start + k) % n;
      if (shared(v)) {
        if (chain.empty()) chain.push_back(loop.vertex(v));
        chain.push_back(loop.vertex(v + 1));
      } else if (!chain.empty()) {
        chains.push_back(std::move(chain));
        chain.clear();
      }
    }
    if (!chain.empty()) chains.push_back(std::move(chain));
  }
}

// Adds the vertices of `a` on b's boundary that are neither near the common area nor on a
// shared chain.
void AddTouchPoints(const S2Polygon& a, const S2Polygon& b, const S2Polygon& area,
                    const std::vector<std::vector<S2Point>>& chains, std::vector<S2Point>& points) {
  S2ClosestEdgeQuery::Options options;
  options.set_include_interiors(false);
  S2ClosestEdgeQuery other(&b.index(), options);
  S2ClosestEdgeQuery common(&area.index());
  auto on_chain = [&](const S2Point& p) {
    for (const auto& c : chains) {
      if (std::find(c.begin(), c.end(), p) != c.end()) return true;
    }
    return false;
  };
  for (int l = 0; l < a.num_loops(); ++l) {
    const S2Loop& loop = *a.loop(l);
    for (int v = 0; v < loop.num_vertices(); ++v) {
      const S2Point& p = loop.vertex(v);
      S2ClosestEdgeQuery::PointTarget target(p);
      if (!other.IsDistanceLessOrEqual(&target, kTouch)) continue;
      if (!area.is_empty() && common.IsDistanceLessOrEqual(&target, kTouch)) continue;
      if (on_chain(p) || std::find(points.begin(), points.end(), p) != points.end()) continue;
      points.push_back(p);
    }
  }
}

void AddTouches(const S2Polygon& a, const S2Polygon& b, const S2Polygon& area,
                std::vector<S2Point>& points, std::vector<std::unique_ptr<S2Polyline>>& lines) {
  std::vector<std::vector<S2Point>> chains;
  SharedChains(a, b, chains);
  AddTouchPoints(a, b, area, chains, points);
  AddTouchPoints(b, a, area, chains, points);
  for (const auto& c : chains) lines.push_back(std::make_unique<S2Polyline>(c, S2Debug::DISABLE));
}

std::optional<std::string> Intersection(const S2ShapeIndex& a, const S2ShapeIndex& b,
                                        Model model, std::vector<S2Point> points = {},
                                        const S2Polygon* polygon_a = nullptr,
                                        const S2Polygon* polygon_b = nullptr) {
  std::vector<S2Point> more_points;
  std::vector<std::unique_ptr<S2Polyline>> lines;
  S2Polygon polygon;
  std::vector<std::unique_ptr<S2Builder::Layer>> layers;
  s2builderutil::S2PolylineVectorLayer::Options line_options;
  line_options.set_duplicate_edges(S2Builder::GraphOptions::DuplicateEdges::MERGE);
  layers.push_back(std::make_unique<s2builderutil::S2PointVectorLayer>(&more_points));
  layers.push_back(std::make_unique<s2builderutil::S2PolylineVectorLayer>(&lines, line_options));
  layers.push_back(std::make_unique<s2builderutil::S2PolygonLayer>(&polygon));
  S2BooleanOperation::Options options;
  options.set_polygon_model(model);
  options.set_polyline_model(S2BooleanOperation::PolylineModel::CLOSED);
  S2BooleanOperation op(S2BooleanOperation::OpType::INTERSECTION, std::move(layers), options);
  S2Error error;
  if (!op.Build(a, b, &error)) return std::nullopt;
  points.insert(points.end(), more_points.begin(), more_points.end());
  if (polygon_a != nullptr && polygon_b != nullptr) {
    AddTouches(*polygon_a, *polygon_b, polygon, points, lines);
  }
  return PiecesJson(points, lines, polygon);
}

template <typename A, typename B, typename ParseA, typename ParseB, typename F>
Result<Column> OnTwo(Args a, const FunctionContext& ctx, ParseA parse_a, ParseB parse_b, F f) {
  ShapeCache<A> cache_a;
  ShapeCache<B> cache_b;
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    const A& x = cache_a.Get(*a[0], i, parse_a);
    const B& y = cache_b.Get(*a[1], i, parse_b);
    if (x == nullptr || y == nullptr) return std::nullopt;
    return f(*x, *y);
  });
}

Result<Column> Intersection2Lines(Args a, const FunctionContext& ctx) {
  return OnTwo<LinesPtr, LinesPtr>(a, ctx, ParseGeoLines, ParseGeoLines,
                                   [](const Lines& x, const Lines& y) {
                                     return Intersection(x.index, y.index, Model::CLOSED,
                                                         CrossingPoints(x, y));
                                   });
}

Result<Column> Intersection2Polygons(Args a, const FunctionContext& ctx) {
  return OnTwo<PolygonPtr, PolygonPtr>(a, ctx, ParseGeoPolygon, ParseGeoPolygon,
                                       [](const S2Polygon& x, const S2Polygon& y) {
                                         return Intersection(x.index(), y.index(), Model::CLOSED, {},
                                                             &x, &y);
                                       });
}

Result<Column> IntersectionLineWithPolygon(Args a, const FunctionContext& ctx) {
  return OnTwo<LinesPtr, PolygonPtr>(a, ctx, ParseGeoLines, ParseGeoPolygon,
                                     [](const Lines& x, const S2Polygon& y) {
                                       return Intersection(x.index, y.index(), Model::CLOSED);
                                     });
}

// The members of a dynamic array of GeoJSON values as text; nullopt when it is not an array.
// Their vertices together are bounded like one value's.
std::optional<std::vector<std::string>> ArrayMembers(std::string_view json) {
  std::optional<bj::value> v = ParseJson(json);
  if (!v || !v->is_array()) return std::nullopt;
  std::vector<std::string> out;
  for (const bj::value& m : v->get_array()) out.push_back(WriteJson(m));
  return out;
}

Result<Column> UnionPolygonsArray(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<std::vector<std::string>> members = ArrayMembers(a[0]->Str(i));
    if (!members || members->empty()) return std::nullopt;
    std::vector<std::unique_ptr<S2Polygon>> polygons;
    size_t vertices = 0;
    for (const std::string& m : *members) {
      PolygonPtr p = ParseGeoPolygon(m);
      if (p == nullptr) return std::nullopt;
      vertices += static_cast<size_t>(p->num_vertices());
      if (vertices > kMaxGeoVertices) return std::nullopt;
      polygons.push_back(std::move(p));
    }
    std::unique_ptr<S2Polygon> all = S2Polygon::DestructiveUnion(std::move(polygons));
    return S2PolygonJson(*all);
  });
}

// Lines merged by S2Builder: shared stretches once, chains through degree-2 vertices joined.
Result<Column> UnionLinesArray(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<std::vector<std::string>> members = ArrayMembers(a[0]->Str(i));
    if (!members || members->empty()) return std::nullopt;
    std::vector<LinesPtr> inputs;
    size_t vertices = 0;
    for (const std::string& m : *members) {
      LinesPtr l = ParseGeoLines(m);
      if (l == nullptr) return std::nullopt;
      for (const auto& p : l->polylines) vertices += static_cast<size_t>(p->num_vertices());
      if (vertices > kMaxGeoVertices) return std::nullopt;
      inputs.push_back(std::move(l));
    }
    std::vector<std::unique_ptr<S2Polyline>> out;
    s2builderutil::S2PolylineVectorLayer::Options layer_options;
    layer_options.set_duplicate_edges(S2Builder::GraphOptions::DuplicateEdges::MERGE);
    S2Builder builder{S2Builder::Options()};
    builder.StartLayer(
        std::make_unique<s2builderutil::S2PolylineVectorLayer>(&out, layer_options));
    for (const LinesPtr& l : inputs) {
      for (const auto& p : l->polylines) builder.AddPolyline(*p);
    }
    S2Error error;
    if (!builder.Build(&error)) return std::nullopt;
    std::vector<Path> lines;
    for (const auto& p : out) {
      lines.emplace_back();
      for (int v = 0; v < p->num_vertices(); ++v) lines.back().push_back(FromS2(p->vertex(v)));
    }
    return LineJson(lines);
  });
}

}  // namespace

void RegisterGeoOverlays(Registry& r) {
  auto add = [&r](std::string_view name, std::string_view kinds, auto eval) {
    int n = static_cast<int>(kinds.size());
    r.Function({name, n, n, GeoSignature(name, kinds, Type::kDynamic), eval});
  };
  add("geo_intersection_2lines", "dd", Intersection2Lines);
  add("geo_intersection_2polygons", "dd", Intersection2Polygons);
  add("geo_intersection_line_with_polygon", "dd", IntersectionLineWithPolygon);
  add("geo_union_polygons_array", "d", UnionPolygonsArray);
  add("geo_union_lines_array", "d", UnionLinesArray);
}

}  // namespace cmk::kql::fn
