// Grid cells: geo_point_to_s2cell, geo_s2cell_to_central_point, geo_s2cell_to_polygon,
// geo_s2cell_neighbors (S2's cell hierarchy: tokens are S2CellId::ToToken) and
// geo_point_to_geohash, geo_geohash_to_central_point, geo_geohash_to_polygon,
// geo_geohash_neighbors (the public-domain geohash: base-32 interleaved longitude/latitude bits,
// longitude first).
#include <s2/s2cell.h>
#include <s2/s2cell_id.h>

#include <algorithm>
#include <array>
#include <cstdint>

#include "kql/functions/geo_util.h"

namespace cmk::kql::fn {
namespace {

// --- S2 ----------------------------------------------------------------------------------------

// A token as geo_point_to_s2cell writes it: at most 16 hex digits naming a valid cell.
std::optional<S2CellId> CellArg(const Column& c, size_t row) {
  std::string_view token = c.Str(row);
  if (token.empty() || token.size() > 16) return std::nullopt;
  S2CellId id = S2CellId::FromToken(absl::string_view(token.data(), token.size()));
  if (!id.is_valid()) return std::nullopt;
  return id;
}

Result<Column> PointToS2Cell(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kString, [&](size_t i) -> std::optional<std::string> {
    std::optional<LngLat> p = PointArg(*a[0], *a[1], i);
    std::optional<int64_t> level = a.size() > 2 ? IntArg(*a[2], i) : 11;
    if (!p || !level || *level < 0 || *level > S2CellId::kMaxLevel) return std::nullopt;
    return S2CellId(ToS2(*p)).parent(static_cast<int>(*level)).ToToken();
  });
}

Result<Column> S2CellToCentralPoint(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<S2CellId> id = CellArg(*a[0], i);
    if (!id) return std::nullopt;
    return PointJson(FromS2(id->ToPoint()));
  });
}

// The cell's four vertices in S2's counter-clockwise order, closed, as the docs show them.
Result<Column> S2CellToPolygon(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<S2CellId> id = CellArg(*a[0], i);
    if (!id) return std::nullopt;
    S2Cell cell(*id);
    Path ring;
    for (int k = 0; k <= 4; ++k) ring.push_back(FromS2(cell.GetVertex(k & 3)));
    return PolygonJson({{ring}});
  });
}

// The cells of the same level around the cell (8, or 7 at a cube corner), in S2's order; S2
// lists a cell touching a cube corner twice, Kusto once.
Result<Column> S2CellNeighbors(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<S2CellId> id = CellArg(*a[0], i);
    if (!id) return std::nullopt;
    std::vector<S2CellId> cells;
    id->AppendAllNeighbors(id->level(), &cells);
    bj::array out;
    for (size_t k = 0; k < cells.size(); ++k) {
      if (std::find(cells.begin(), cells.begin() + static_cast<std::ptrdiff_t>(k), cells[k]) ==
          cells.begin() + static_cast<std::ptrdiff_t>(k)) {
        out.push_back(bj::string(cells[k].ToToken()));
      }
    }
    return WriteJson(out);
  });
}

// --- Geohash -----------------------------------------------------------------------------------

constexpr std::string_view kBase32 = "0123456789bcdefghjkmnpqrstuvwxyz";
constexpr int kMaxGeohash = 18;

// A geohash as two integers: the longitude and latitude cell indexes at their bit counts.
struct Geohash {
  int chars = 0;
  uint64_t x = 0, y = 0;  // longitude, latitude indexes
  int xbits() const { return (5 * chars + 1) / 2; }
  int ybits() const { return 5 * chars / 2; }
};

// Bisection, as the reference algorithm: the halving points are exact in binary, so boundary
// points go to the upper half exactly as there.
uint64_t Bisect(double v, double lo, double hi, int bits) {
  uint64_t index = 0;
  for (int b = 0; b < bits; ++b) {
    double mid = (lo + hi) / 2;
    index <<= 1;
    if (v >= mid) {
      index |= 1;
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return index;
}

std::string Encode(const Geohash& g) {
  std::string out;
  int xb = g.xbits(), yb = g.ybits();
  int bit = 0, value = 0;
  for (int k = 0; k < 5 * g.chars; ++k) {
    bool is_x = k % 2 == 0;  // bits alternate, longitude first
    uint64_t src = is_x ? g.x : g.y;
    int pos = is_x ? --xb : --yb;
    value = (value << 1) | static_cast<int>((src >> pos) & 1);
    if (++bit == 5) {
      out.push_back(kBase32[static_cast<size_t>(value)]);
      bit = value = 0;
    }
  }
  return out;
}

std::optional<Geohash> Decode(std::string_view s) {
  if (s.empty() || s.size() > kMaxGeohash) return std::nullopt;
  Geohash g;
  g.chars = static_cast<int>(s.size());
  int k = 0;
  for (char c : s) {
    size_t v = kBase32.find(c);
    if (v == std::string_view::npos) return std::nullopt;
    for (int b = 4; b >= 0; --b, ++k) {
      uint64_t& dst = k % 2 == 0 ? g.x : g.y;
      dst = (dst << 1) | ((v >> b) & 1);
    }
  }
  return g;
}

struct Box {
  double west, south, east, north;
};
Box BoxOf(const Geohash& g) {
  double w = 360.0 / static_cast<double>(uint64_t{1} << g.xbits());
  double h = 180.0 / static_cast<double>(uint64_t{1} << g.ybits());
  double west = -180 + w * static_cast<double>(g.x), south = -90 + h * static_cast<double>(g.y);
  return {west, south, west + w, south + h};
}

Result<Column> PointToGeohash(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kString, [&](size_t i) -> std::optional<std::string> {
    std::optional<LngLat> p = PointArg(*a[0], *a[1], i);
    std::optional<int64_t> accuracy = a.size() > 2 ? IntArg(*a[2], i) : 5;
    if (!p || !accuracy || *accuracy < 1 || *accuracy > kMaxGeohash) return std::nullopt;
    Geohash g;
    g.chars = static_cast<int>(*accuracy);
    g.x = Bisect(p->lng, -180, 180, g.xbits());
    g.y = Bisect(p->lat, -90, 90, g.ybits());
    return Encode(g);
  });
}

Result<Column> GeohashToCentralPoint(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<Geohash> g = Decode(a[0]->Str(i));
    if (!g) return std::nullopt;
    Box b = BoxOf(*g);
    return PointJson({(b.west + b.east) / 2, (b.south + b.north) / 2});
  });
}

// The rectangle from its south-west corner, counter-clockwise (its edges are straight lines in
// longitude/latitude, not geodesics, as the docs note).
Result<Column> GeohashToPolygon(Args a, const FunctionContext& ctx) {
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<Geohash> g = Decode(a[0]->Str(i));
    if (!g) return std::nullopt;
    Box b = BoxOf(*g);
    Path ring = {{b.west, b.south}, {b.east, b.south}, {b.east, b.north}, {b.west, b.north},
                 {b.west, b.south}};
    return PolygonJson({{ring}});
  });
}

// The eight surrounding cells of the same length, in the order the docs' example lists them;
// longitude wraps at the antimeridian, cells beyond a pole do not exist.
Result<Column> GeohashNeighbors(Args a, const FunctionContext& ctx) {
  static constexpr std::array<std::array<int, 2>, 8> kSteps = {
      {{-1, -1}, {-1, 1}, {1, -1}, {0, 1}, {-1, 0}, {1, 1}, {1, 0}, {0, -1}}};
  return GeoMap(a, ctx, Type::kDynamic, [&](size_t i) -> std::optional<std::string> {
    std::optional<Geohash> g = Decode(a[0]->Str(i));
    if (!g) return std::nullopt;
    uint64_t xmask = (uint64_t{1} << g->xbits()) - 1, ycount = uint64_t{1} << g->ybits();
    bj::array out;
    for (auto [dx, dy] : kSteps) {
      Geohash n = *g;
      n.x = (g->x + static_cast<uint64_t>(dx)) & xmask;
      n.y = g->y + static_cast<uint64_t>(dy);  // wraps to a huge value below 0
      if (n.y >= ycount) continue;
      out.push_back(bj::string(Encode(n)));
    }
    return WriteJson(out);
  });
}

}  // namespace

void RegisterGeoCells(Registry& r) {
  r.Function({"geo_point_to_s2cell", 2, 3,
              GeoSignature("geo_point_to_s2cell", "nnn", Type::kString), PointToS2Cell});
  r.Function({"geo_s2cell_to_central_point", 1, 1,
              GeoSignature("geo_s2cell_to_central_point", "s", Type::kDynamic),
              S2CellToCentralPoint});
  r.Function({"geo_s2cell_to_polygon", 1, 1,
              GeoSignature("geo_s2cell_to_polygon", "s", Type::kDynamic), S2CellToPolygon});
  r.Function({"geo_s2cell_neighbors", 1, 1,
              GeoSignature("geo_s2cell_neighbors", "s", Type::kDynamic), S2CellNeighbors});
  r.Function({"geo_point_to_geohash", 2, 3,
              GeoSignature("geo_point_to_geohash", "nnn", Type::kString), PointToGeohash});
  r.Function({"geo_geohash_to_central_point", 1, 1,
              GeoSignature("geo_geohash_to_central_point", "s", Type::kDynamic),
              GeohashToCentralPoint});
  r.Function({"geo_geohash_to_polygon", 1, 1,
              GeoSignature("geo_geohash_to_polygon", "s", Type::kDynamic), GeohashToPolygon});
  r.Function({"geo_geohash_neighbors", 1, 1,
              GeoSignature("geo_geohash_neighbors", "s", Type::kDynamic), GeohashNeighbors});
}

}  // namespace cmk::kql::fn
