// Shapes that make shapes: geo_line_densify, geo_polygon_densify, geo_line_simplify,
// geo_polygon_simplify, geo_simplify_polygons_array, geo_point_buffer, geo_line_buffer, geo_polygon_buffer.
//
// Densify turns planar edges (straight in longitude/latitude) into chains of geodesics: an edge
// is halved at its planar midpoint until that midpoint lies within the tolerance of the geodesic
// between the edge's ends, which reproduces the docs' examples (a 1-degree edge along the 10th
// parallel becomes 4 edges at 10 m). Simplify and buffer are S2's own operations (S2Builder
// with edge-chain simplification, S2BufferOperation with round caps), on the sphere.
#include <s2/s2buffer_operation.h>
#include <s2/s2builder.h>
#include <s2/s2builderutil_s2polygon_layer.h>
#include <s2/s2builderutil_s2polyline_vector_layer.h>
#include <s2/s2builderutil_snap_functions.h>
#include <s2/s2edge_distances.h>
#include <s2/s2error.h>

#include <algorithm>
#include <cmath>

#include "kql/functions/geo_util.h"

namespace cmk::kql::fn {
namespace {

// Kusto's documented cap on the points of a densified shape; also bounds buffer outputs.
constexpr size_t kMaxOutputPoints = 10485760;

double MetersToRadians(double m) { return m / kEarthRadiusMeters; }

// Back into [-180, 180] after a kept antimeridian crossing moved a longitude beyond it.
LngLat Wrapped(LngLat p) {
  return {p.lng > 180 ? p.lng - 360 : p.lng < -180 ? p.lng + 360 : p.lng, p.lat};
}

// --- Densify -----------------------------------------------------------------------------------

struct Densifier {
  double tolerance = 0;  // radians
  size_t emitted = 0;  // points added so far, over every path
  bool overflow = false;

  // Appends the points strictly between a and b (b's longitude may lie beyond +-180 when the
  // edge keeps its antimeridian crossing; outputs are wrapped back).
  void Edge(LngLat a, LngLat b, Path& out, int depth) {
    LngLat mid{(a.lng + b.lng) / 2, (a.lat + b.lat) / 2};
    S2Point pa = ToS2(Wrapped(a)), pb = ToS2(Wrapped(b)), pm = ToS2(Wrapped(mid));
    // Beyond 52 halvings the edge is below a double's resolution.
    if (depth > 52 || S2::GetDistance(pm, pa, pb).radians() <= tolerance) return;
    if (++emitted > kMaxOutputPoints) {
      overflow = true;
      return;
    }
    Edge(a, mid, out, depth + 1);
    out.push_back(Wrapped(mid));
    Edge(mid, b, out, depth + 1);
  }

  Path Run(const Path& in, bool preserve_crossing) {
    Path out;
    emitted += in.size();
    for (size_t k = 0; k < in.size() && !overflow; ++k) {
      if (k > 0) {
        LngLat b = in[k];
        if (preserve_crossing && std::abs(b.lng - in[k - 1].lng) > 180) {
          b.lng += b.lng < in[k - 1].lng ? 360 : -360;
        }
        Edge(in[k - 1], b, out, 0);
      }
      out.push_back(in[k]);
    }
    return out;
  }
};

// Tolerance in [0.1, 10000] metres (default 10) and preserve_crossing (default false).
std::optional<Densifier> DensifyArgs(Args a, size_t i) {
  std::optional<double> tolerance = a.size() > 1 ? RealArg(*a[1], i) : 10.0;
  if (!tolerance || !(*tolerance >= 0.1 && *tolerance <= 10000)) return std::nullopt;
  Densifier d;
  d.tolerance = MetersToRadians(*tolerance);
  return d;
}

bool PreserveCrossing(Args a, size_t i) { return a.size() > 2 && a[2]->Int(i) != 0; }

bool ValidRing(const Path& ring) { return ring.size() >= 4 && ring.front() == ring.back(); }

Result<Column> LineDensify(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<Densifier> d = DensifyArgs(a, i);
    std::optional<GeoShape> shape = ParseGeoShape(a[0]->Str(i), kAcceptLine);
    if (!d || !shape) return std::nullopt;
    std::vector<Path> lines;
    for (const Path& line : shape->lines) {
      if (line.size() < 2) return std::nullopt;
      lines.push_back(d->Run(line, PreserveCrossing(a, i)));
    }
    if (d->overflow) return std::nullopt;
    return LineJson(lines, shape->multi);
  });
}

Result<Column> PolygonDensify(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<Densifier> d = DensifyArgs(a, i);
    std::optional<GeoShape> shape = ParseGeoShape(a[0]->Str(i), kAcceptPolygon);
    if (!d || !shape) return std::nullopt;
    std::vector<std::vector<Path>> polygons;
    for (const std::vector<Path>& rings : shape->polygons) {
      if (rings.empty()) return std::nullopt;
      polygons.emplace_back();
      for (const Path& ring : rings) {
        if (!ValidRing(ring)) return std::nullopt;
        polygons.back().push_back(d->Run(ring, PreserveCrossing(a, i)));
      }
    }
    if (d->overflow) return std::nullopt;
    return PolygonJson(polygons, shape->multi);
  });
}

// --- Simplify ----------------------------------------------------------------------------------

// Snap radius from the tolerance in metres (default 10): vertices closer than it merge and
// nearly straight chains become one edge. S2 bounds the radius (about 7,800 km, as documented).
std::optional<S2Builder::Options> SimplifyOptions(Args a, size_t i) {
  std::optional<double> tolerance = a.size() > 1 ? RealArg(*a[1], i) : 10.0;
  if (!tolerance || !(*tolerance >= 0)) return std::nullopt;
  S1Angle radius = S1Angle::Radians(MetersToRadians(*tolerance));
  if (radius > S2Builder::SnapFunction::kMaxSnapRadius()) return std::nullopt;
  S2Builder::Options options{s2builderutil::IdentitySnapFunction(radius)};
  options.set_simplify_edge_chains(true);
  return options;
}

Result<Column> LineSimplify(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<S2Builder::Options> options = SimplifyOptions(a, i);
    std::optional<GeoShape> shape = ParseGeoShape(a[0]->Str(i), kAcceptLine);
    if (!options || !shape) return std::nullopt;
    std::vector<std::unique_ptr<S2Polyline>> in = ToS2Polylines(*shape);
    if (in.empty()) return std::nullopt;
    S2Builder builder(*options);
    std::vector<std::unique_ptr<S2Polyline>> out;
    builder.StartLayer(std::make_unique<s2builderutil::S2PolylineVectorLayer>(&out));
    for (const auto& p : in) builder.AddPolyline(*p);
    S2Error error;
    if (!builder.Build(&error) || out.empty()) return std::nullopt;  // vanished lines: null
    std::vector<Path> lines;
    for (const auto& p : out) {
      lines.emplace_back();
      for (int v = 0; v < p->num_vertices(); ++v) lines.back().push_back(FromS2(p->vertex(v)));
    }
    return LineJson(lines, shape->multi);
  });
}

Result<Column> PolygonSimplify(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<S2Builder::Options> options = SimplifyOptions(a, i);
    std::optional<GeoShape> shape = ParseGeoShape(a[0]->Str(i), kAcceptPolygon);
    if (!options || !shape) return std::nullopt;
    std::unique_ptr<S2Polygon> in = ToS2Polygon(*shape);
    if (in == nullptr) return std::nullopt;
    S2Builder builder(*options);
    S2Polygon out;
    builder.StartLayer(std::make_unique<s2builderutil::S2PolygonLayer>(&out));
    builder.AddPolygon(*in);
    S2Error error;
    if (!builder.Build(&error)) return std::nullopt;
    return S2PolygonJson(out);  // a vanished polygon is null
  });
}

// Every polygon of the array in its own S2Builder layer: the layers share the snapped vertices,
// so borders the polygons have in common stay common. A MultiPolygon of what remains; null when
// every polygon vanished.
Result<Column> SimplifyPolygonsArray(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<S2Builder::Options> options = SimplifyOptions(a, i);
    std::optional<bj::value> v = ParseJson(a[0]->Str(i));
    if (!options || !v || !v->is_array() || v->get_array().empty()) return std::nullopt;
    std::vector<PolygonPtr> in;
    size_t vertices = 0;
    for (const bj::value& m : v->get_array()) {
      PolygonPtr p = ParseGeoPolygon(WriteJson(m));
      if (p == nullptr) return std::nullopt;
      vertices += static_cast<size_t>(p->num_vertices());
      if (vertices > kMaxGeoVertices) return std::nullopt;
      in.push_back(std::move(p));
    }
    S2Builder builder(*options);
    std::vector<S2Polygon> out(in.size());
    for (size_t k = 0; k < in.size(); ++k) {
      builder.StartLayer(std::make_unique<s2builderutil::S2PolygonLayer>(&out[k]));
      builder.AddPolygon(*in[k]);
    }
    S2Error error;
    if (!builder.Build(&error)) return std::nullopt;
    std::vector<std::vector<Path>> polygons;
    for (const S2Polygon& p : out) {
      if (!p.is_empty() && !p.is_full()) AppendS2Polygon(p, polygons);
    }
    if (polygons.empty()) return std::nullopt;
    return PolygonJson(polygons, true);
  });
}

// --- Buffer ------------------------------------------------------------------------------------

// Radius > 0 metres; tolerance (default 10) as S2's error fraction of the radius, clamped to
// [1e-6, 1] as documented ("no lower than 0.0001% of the radius", at most the radius). A radius
// of half the circumference or more would cover the sphere, which GeoJSON cannot express.
std::optional<S2BufferOperation::Options> BufferOptions(const Column& radius_arg,
                                                        const Column* tolerance_arg, size_t i) {
  std::optional<double> radius = RealArg(radius_arg, i);
  std::optional<double> tolerance = tolerance_arg ? RealArg(*tolerance_arg, i) : 10.0;
  if (!radius || !tolerance || !(*radius > 0) || !(*tolerance > 0)) return std::nullopt;
  if (!(MetersToRadians(*radius) < M_PI)) return std::nullopt;
  S2BufferOperation::Options options(S1Angle::Radians(MetersToRadians(*radius)));
  options.set_error_fraction(std::clamp(*tolerance / *radius,
                                        S2BufferOperation::Options::kMinErrorFraction, 1.0));
  return options;
}

// The buffer of `vertices` input vertices has up to circle_segments() vertices per input vertex;
// refuse what would exceed the output cap rather than build it.
bool BufferFits(const S2BufferOperation::Options& options, size_t vertices) {
  return static_cast<double>(vertices) * (options.circle_segments() + 2) <=
         static_cast<double>(kMaxOutputPoints);
}

// Runs `add(op)` into a buffer operation and writes its polygon.
template <typename Add>
std::optional<std::string> Buffer(const S2BufferOperation::Options& options, Add add) {
  S2Polygon out;
  S2BufferOperation op(std::make_unique<s2builderutil::S2PolygonLayer>(&out), options);
  add(op);
  S2Error error;
  if (!op.Build(&error)) return std::nullopt;
  return S2PolygonJson(out);
}

Result<Column> PointBuffer(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<LngLat> p = PointArg(*a[0], *a[1], i);
    auto options = BufferOptions(*a[2], a.size() > 3 ? a[3] : nullptr, i);
    if (!p || !options) return std::nullopt;
    return Buffer(*options, [&](S2BufferOperation& op) { op.AddPoint(ToS2(*p)); });
  });
}

Result<Column> LineBuffer(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<GeoShape> shape = ParseGeoShape(a[0]->Str(i), kAcceptLine);
    auto options = BufferOptions(*a[1], a.size() > 2 ? a[2] : nullptr, i);
    if (!shape || !options) return std::nullopt;
    std::vector<std::unique_ptr<S2Polyline>> lines = ToS2Polylines(*shape);
    size_t vertices = 0;
    for (const auto& l : lines) vertices += static_cast<size_t>(l->num_vertices());
    if (lines.empty() || !BufferFits(*options, vertices)) return std::nullopt;
    return Buffer(*options, [&](S2BufferOperation& op) {
      for (const auto& l : lines) op.AddPolyline(l->vertices_span());
    });
  });
}

Result<Column> PolygonBuffer(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<GeoShape> shape = ParseGeoShape(a[0]->Str(i), kAcceptPolygon);
    auto options = BufferOptions(*a[1], a.size() > 2 ? a[2] : nullptr, i);
    if (!shape || !options) return std::nullopt;
    std::unique_ptr<S2Polygon> polygon = ToS2Polygon(*shape);
    if (polygon == nullptr || !BufferFits(*options, static_cast<size_t>(polygon->num_vertices()))) {
      return std::nullopt;
    }
    return Buffer(*options, [&](S2BufferOperation& op) {
      S2Polygon::Shape s(polygon.get());
      op.AddShape(s);
    });
  });
}

}  // namespace

void RegisterGeoEdits(Registry& r) {
  auto add = [&r](std::string_view name, int min, std::string_view kinds, auto eval) {
    r.Function({name, min, static_cast<int>(kinds.size()),
                GeoSignature(name, kinds, Type::kDynamic), eval});
  };
  add("geo_line_densify", 1, "dnb", LineDensify);
  add("geo_polygon_densify", 1, "dnb", PolygonDensify);
  add("geo_line_simplify", 1, "dn", LineSimplify);
  add("geo_polygon_simplify", 1, "dn", PolygonSimplify);
  add("geo_simplify_polygons_array", 1, "dn", SimplifyPolygonsArray);
  add("geo_point_buffer", 3, "nnnn", PointBuffer);
  add("geo_line_buffer", 2, "dnn", LineBuffer);
  add("geo_polygon_buffer", 2, "dnn", PolygonBuffer);
}

}  // namespace cmk::kql::fn
