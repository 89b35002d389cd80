// Helpers of the geo_* family (geo_util.h).
#include "kql/functions/geo_util.h"

#include <s2/s2error.h>
#include <s2/s2loop.h>

#include <cmath>

#include "kql/core/budget.h"

namespace cmk::kql::fn {
namespace {

bool KindFits(char kind, Type t) {
  switch (kind) {
    case 'n': return IsNumeric(t);
    case 'd': return t == Type::kDynamic;
    case 's': return t == Type::kString;
    case 'b': return t == Type::kBool;
  }
  return false;
}

std::string_view KindName(char kind) {
  switch (kind) {
    case 'n': return "real";
    case 'd': return "dynamic";
    case 's': return "string";
  }
  return "bool";
}

// [lng, lat] with an optional altitude, which Kusto ignores.
std::optional<LngLat> ReadPosition(const bj::value& v) {
  const bj::array* a = v.if_array();
  if (a == nullptr || a->size() < 2 || a->size() > 3) return std::nullopt;
  double c[2];
  for (size_t i = 0; i < 2; ++i) {
    const bj::value& x = (*a)[i];
    if (x.is_double()) {
      c[i] = x.get_double();
    } else if (x.is_int64()) {
      c[i] = static_cast<double>(x.get_int64());
    } else if (x.is_uint64()) {
      c[i] = static_cast<double>(x.get_uint64());
    } else {
      return std::nullopt;
    }
  }
  if (!ValidLngLat(c[0], c[1])) return std::nullopt;
  return LngLat{c[0], c[1]};
}

// A JSON array of positions; counts them into `budget` (vertices left).
std::optional<Path> ReadPath(const bj::value& v, size_t& budget) {
  const bj::array* a = v.if_array();
  if (a == nullptr || a->size() > budget) return std::nullopt;
  budget -= a->size();
  Path path;
  path.reserve(a->size());
  for (const bj::value& p : *a) {
    std::optional<LngLat> pos = ReadPosition(p);
    if (!pos) return std::nullopt;
    path.push_back(*pos);
  }
  return path;
}

std::optional<std::vector<Path>> ReadPaths(const bj::value& v, size_t& budget) {
  const bj::array* a = v.if_array();
  if (a == nullptr) return std::nullopt;
  std::vector<Path> paths;
  for (const bj::value& p : *a) {
    std::optional<Path> path = ReadPath(p, budget);
    if (!path) return std::nullopt;
    paths.push_back(std::move(*path));
  }
  return paths;
}

// Fills `shape` from a GeoJSON geometry's "type" and "coordinates".
bool ReadGeometry(std::string_view type, const bj::value& coords, unsigned accept, GeoShape& shape) {
  size_t budget = kMaxGeoVertices;
  shape.multi = type.starts_with("Multi");
  if ((accept & kAcceptPoint) && (type == "Point" || type == "MultiPoint")) {
    shape.kind = GeoShape::Kind::kPoint;
    if (type == "Point") {
      std::optional<LngLat> p = ReadPosition(coords);
      if (p) shape.points.push_back(*p);
      return p.has_value();
    }
    std::optional<Path> pts = ReadPath(coords, budget);
    if (pts) shape.points = std::move(*pts);
    return pts.has_value() && !shape.points.empty();
  }
  if ((accept & kAcceptLine) && (type == "LineString" || type == "MultiLineString")) {
    shape.kind = GeoShape::Kind::kLine;
    if (type == "LineString") {
      std::optional<Path> line = ReadPath(coords, budget);
      if (line) shape.lines.push_back(std::move(*line));
      return line.has_value();
    }
    std::optional<std::vector<Path>> lines = ReadPaths(coords, budget);
    if (lines) shape.lines = std::move(*lines);
    return lines.has_value() && !shape.lines.empty();
  }
  if ((accept & kAcceptPolygon) && (type == "Polygon" || type == "MultiPolygon")) {
    shape.kind = GeoShape::Kind::kPolygon;
    if (type == "Polygon") {
      std::optional<std::vector<Path>> rings = ReadPaths(coords, budget);
      if (rings) shape.polygons.push_back(std::move(*rings));
      return rings.has_value();
    }
    const bj::array* polys = coords.if_array();
    if (polys == nullptr || polys->empty()) return false;
    for (const bj::value& p : *polys) {
      std::optional<std::vector<Path>> rings = ReadPaths(p, budget);
      if (!rings) return false;
      shape.polygons.push_back(std::move(*rings));
    }
    return true;
  }
  return false;
}

// A closed ring as S2 loop vertices (the closing repeat dropped); empty when the ring breaks
// one of Kusto's rules that S2Loop's own validation does not check.
std::vector<S2Point> RingVertices(const Path& ring) {
  if (ring.size() < 4 || ring.front() != ring.back()) return {};
  std::vector<S2Point> v;
  v.reserve(ring.size() - 1);
  for (size_t i = 0; i + 1 < ring.size(); ++i) {
    S2Point p = ToS2(ring[i]);
    // Equal or antipodal neighbours make a degenerate or ambiguous edge.
    if (!v.empty() && !ValidEdge(v.back(), p)) return {};
    v.push_back(p);
  }
  if (!ValidEdge(v.back(), v.front())) return {};
  return v;
}

std::unique_ptr<S2Polygon> PolygonFromRings(const std::vector<Path>& rings) {
  if (rings.empty()) return nullptr;
  std::vector<std::unique_ptr<S2Loop>> loops;
  S2Error error;
  for (const Path& ring : rings) {
    std::vector<S2Point> v = RingVertices(ring);
    if (v.size() < 3) return nullptr;
    auto loop = std::make_unique<S2Loop>(v, S2Debug::DISABLE);
    if (loop->FindValidationError(&error)) return nullptr;
    loop->Normalize();  // the smaller of the two regions, as Kusto documents
    loops.push_back(std::move(loop));
  }
  auto polygon = std::make_unique<S2Polygon>();
  polygon->set_s2debug_override(S2Debug::DISABLE);
  polygon->InitNested(std::move(loops));
  if (polygon->FindValidationError(&error)) return nullptr;
  return polygon;
}

}  // namespace

bool ValidEdge(const S2Point& a, const S2Point& b) {
  // S2Point's operator== is ambiguous under C++20's reversed operators; compare coordinates.
  bool same = a.x() == b.x() && a.y() == b.y() && a.z() == b.z();
  return !same && a.Angle(b) < M_PI - 1e-12;
}

void AddGeoFunction(Registry& r, std::string_view name, int min, std::string_view kinds, Type ret,
                    decltype(ScalarFunction::eval) eval) {
  r.Function({name, min, static_cast<int>(kinds.size()), GeoSignature(name, kinds, ret), std::move(eval)});
}

std::function<Result<Type>(Types)> GeoSignature(std::string_view fn, std::string_view kinds,
                                                Type ret) {
  return [fn, kinds, ret](Types t) -> Result<Type> {
    for (size_t i = 0; i < t.size() && i < kinds.size(); ++i) {
      if (!KindFits(kinds[i], t[i])) return ArgTypeError(fn, i, t[i], KindName(kinds[i]));
    }
    return ret;
  };
}

std::optional<double> RealArg(const Column& c, size_t row) {
  if (c.IsNull(row)) return std::nullopt;
  return NumAt(c, row);
}

std::optional<int64_t> IntArg(const Column& c, size_t row) {
  if (c.IsNull(row)) return std::nullopt;
  if (!UsesReals(c.type)) return c.Int(row);
  double d = c.Real(row);
  if (!(std::abs(d) < 1e15) || d != std::floor(d)) return std::nullopt;
  return static_cast<int64_t>(d);
}

bool ValidLngLat(double lng, double lat) {
  return lng >= -180 && lng <= 180 && lat >= -90 && lat <= 90;
}

std::optional<LngLat> PointArg(const Column& lng, const Column& lat, size_t row) {
  std::optional<double> x = RealArg(lng, row), y = RealArg(lat, row);
  if (!x || !y || !ValidLngLat(*x, *y)) return std::nullopt;
  return LngLat{*x, *y};
}

LngLat FromS2(const S2Point& p) {
  S2LatLng ll(p);
  return {ll.lng().degrees(), ll.lat().degrees()};
}

std::optional<GeoShape> ParseGeoShape(std::string_view json, unsigned accept) {
  std::optional<bj::value> v = ParseJson(json);
  if (!v || !v->is_object()) return std::nullopt;
  const bj::object& o = v->get_object();
  const bj::value* type = o.if_contains("type");
  const bj::value* coords = o.if_contains("coordinates");
  if (type == nullptr || !type->is_string() || coords == nullptr) return std::nullopt;
  GeoShape shape;
  if (!ReadGeometry(type->get_string(), *coords, accept, shape)) return std::nullopt;
  return shape;
}

namespace {

// A coordinate as GeoJSON: Kusto writes integral coordinates as integers (the densify docs:
// [[10,10],[10.25,10],...]), where a real elsewhere in a dynamic value keeps its ".0".
bj::value Coordinate(double d) {
  if (std::trunc(d) == d && std::fabs(d) < 9.0e15) return bj::value(static_cast<int64_t>(d));
  return bj::value(d);
}

}  // namespace

std::string PointJson(LngLat p) {
  bj::object o;
  o["type"] = "Point";
  o["coordinates"] = bj::array{Coordinate(p.lng), Coordinate(p.lat)};
  return WriteJson(o);
}

bj::array PathJson(const Path& path) {
  bj::array a;
  a.reserve(path.size());
  for (LngLat p : path) a.push_back(bj::array{Coordinate(p.lng), Coordinate(p.lat)});
  return a;
}

std::string LineJson(const std::vector<Path>& lines, bool multi) {
  bj::object o;
  if (lines.size() == 1 && !multi) {
    o["type"] = "LineString";
    o["coordinates"] = PathJson(lines[0]);
    return WriteJson(o);
  }
  bj::array all;
  for (const Path& l : lines) all.push_back(PathJson(l));
  o["type"] = "MultiLineString";
  o["coordinates"] = std::move(all);
  return WriteJson(o);
}

std::string PolygonJson(const std::vector<std::vector<Path>>& polygons, bool multi) {
  auto rings = [](const std::vector<Path>& p) {
    bj::array a;
    for (const Path& r : p) a.push_back(PathJson(r));
    return a;
  };
  bj::object o;
  if (polygons.size() == 1 && !multi) {
    o["type"] = "Polygon";
    o["coordinates"] = rings(polygons[0]);
    return WriteJson(o);
  }
  bj::array all;
  for (const auto& p : polygons) all.push_back(rings(p));
  o["type"] = "MultiPolygon";
  o["coordinates"] = std::move(all);
  return WriteJson(o);
}

void AppendS2Polygon(const S2Polygon& polygon, std::vector<std::vector<Path>>& polygons) {
  // S2 lists loops in pre-order: a shell (even depth) is followed by its holes.
  for (int k = 0; k < polygon.num_loops(); ++k) {
    const S2Loop& loop = *polygon.loop(k);
    if (loop.depth() % 2 == 0) polygons.emplace_back();
    Path ring;
    ring.reserve(static_cast<size_t>(loop.num_vertices()) + 1);
    for (int v = 0; v < loop.num_vertices(); ++v) ring.push_back(FromS2(loop.vertex(v)));
    ring.push_back(ring.front());
    polygons.back().push_back(std::move(ring));
  }
}

std::optional<std::string> S2PolygonJson(const S2Polygon& polygon) {
  if (polygon.is_empty() || polygon.is_full()) return std::nullopt;
  std::vector<std::vector<Path>> polygons;
  AppendS2Polygon(polygon, polygons);
  return PolygonJson(polygons);
}

std::unique_ptr<S2Polygon> ToS2Polygon(const GeoShape& shape) {
  if (shape.kind != GeoShape::Kind::kPolygon || shape.polygons.empty()) return nullptr;
  std::vector<std::unique_ptr<S2Polygon>> parts;
  for (const std::vector<Path>& rings : shape.polygons) {
    std::unique_ptr<S2Polygon> p = PolygonFromRings(rings);
    if (p == nullptr) return nullptr;
    parts.push_back(std::move(p));
  }
  if (parts.size() == 1) return std::move(parts[0]);
  // A MultiPolygon stands for the union of its members (the area, perimeter and centroid
  // pages say so); overlapping members merge.
  return S2Polygon::DestructiveUnion(std::move(parts));
}

std::vector<std::unique_ptr<S2Polyline>> ToS2Polylines(const GeoShape& shape) {
  std::vector<std::unique_ptr<S2Polyline>> out;
  if (shape.kind != GeoShape::Kind::kLine || shape.lines.empty()) return out;
  S2Error error;
  for (const Path& line : shape.lines) {
    if (line.size() < 2) return {};
    std::vector<S2Point> v;
    v.reserve(line.size());
    for (LngLat p : line) {
      v.push_back(ToS2(p));
      if (v.size() > 1 && !ValidEdge(v[v.size() - 2], v.back())) return {};
    }
    auto polyline = std::make_unique<S2Polyline>(v, S2Debug::DISABLE);
    if (polyline->FindValidationError(&error)) return {};
    out.push_back(std::move(polyline));
  }
  return out;
}

PolygonPtr ParseGeoPolygon(std::string_view json) {
  std::optional<GeoShape> shape = ParseGeoShape(json, kAcceptPolygon);
  return shape ? ToS2Polygon(*shape) : nullptr;
}

LinesPtr ParseGeoLines(std::string_view json) {
  std::optional<GeoShape> shape = ParseGeoShape(json, kAcceptLine);
  if (!shape) return nullptr;
  auto lines = std::make_shared<Lines>();
  lines->polylines = ToS2Polylines(*shape);
  if (lines->polylines.empty()) return nullptr;
  for (const auto& p : lines->polylines) {
    lines->index.Add(std::make_unique<S2Polyline::Shape>(p.get()));
  }
  return lines;
}

Status GeoTick(const FunctionContext& ctx) {
  return ctx.budget != nullptr ? ctx.budget->Tick() : OkStatus();
}

}  // namespace cmk::kql::fn
