#pragma once
// Uber's H3 grid (https://h3geo.org): hexagons (and 12 pentagons per resolution) on an
// icosahedron projected gnomonically face by face, aperture 7, resolutions 0..15. A cell is a
// 64-bit index: bit 63 zero, 4 bits mode (1 = cell), 3 reserved bits, 4 bits resolution, 7 bits
// base cell (0..121), then fifteen 3-bit digits (7 past the resolution). Everything here gives
// the same cells, centres and boundaries as the reference C library (v3/v4); nothing here knows
// about KQL. Angles are radians. The implementation (geo_h3_*.cc) is derived from uber/h3
// v4.1.0, Copyright Uber Technologies, Inc., Apache License 2.0: see THIRD_PARTY_NOTICES.md.
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cmk::kql::fn::h3 {

using Index = uint64_t;
inline constexpr int kMaxRes = 15;

struct LatLng {
  double lat = 0;  // radians
  double lng = 0;
};

// The reference library's degree/radian conversions (in its extended-precision constants, so
// results agree to the last bit on x86-64).
double DegreesToRadians(double degrees);
double RadiansToDegrees(double radians);

// A cell index as H3 writes it (lower-case hex, no leading zeros) and back; FromString accepts
// 1..16 hex digits of either case and answers nullopt unless they name a valid cell.
std::string ToString(Index h);
std::optional<Index> FromString(std::string_view s);

bool IsValidCell(Index h);
int Resolution(Index h);
bool IsPentagon(Index h);  // REQUIRES: IsValidCell(h)

// The cell containing `g` at `res`. REQUIRES: finite coordinates, 0 <= res <= kMaxRes.
Index LatLngToCell(LatLng g, int res);
// The cell's centre, and its boundary counter-clockwise (not closed): 6 or 5 vertices, more
// where an edge crosses an icosahedron edge (Class III resolutions). REQUIRES: IsValidCell.
LatLng CellToLatLng(Index h);
std::vector<LatLng> CellToBoundary(Index h);

// REQUIRES: IsValidCell(h), res <= Resolution(h).
Index Parent(Index h, int res);
// The number of children at `res` and the children themselves in ascending index order (a
// pentagon has no K-axis (digit 1) subsequence). REQUIRES: IsValidCell(h), res >= Resolution(h).
uint64_t ChildCount(Index h, int res);
void Children(Index h, int res, std::vector<Index>& out);

// The cells within grid distance k of `origin` with their distances, in the reference
// library's gridDiskDistances order: the spiral walk, or when that meets a pentagon the
// traversal in its hash-set order. `keep_going` is called every so often; when it answers false
// the walk stops and this returns false. REQUIRES: IsValidCell(origin), 0 <= k.
bool GridDiskDistances(Index origin, int k, const std::function<bool()>& keep_going,
                       std::vector<std::pair<Index, int>>& out);

}  // namespace cmk::kql::fn::h3

namespace cmk::kql::fn::h3 {

// A polygon as H3 reads one: rings of vertices in radians, the first ring the shell and any
// others holes; edges are straight lines in the latitude/longitude plane (a ring with an edge
// longer than 180 degrees of longitude crosses the antimeridian, as H3 reads it).
using Ring = std::vector<LatLng>;
using Polygon = std::vector<Ring>;

enum class FillStatus { kOk, kTooMany, kStopped, kTooComplex };
// The cells at `res` whose centres lie inside any of the polygons (H3's polygonToCells
// containment), in ascending index order. kTooMany (and `out` incomplete) when there are more
// than `max_cells`; kStopped when `keep_going` answers false (it is called every so often);
// kTooComplex when the search would examine more than about half a million cells (a long sliver at
// a fine resolution).
FillStatus PolygonToCells(const std::vector<Polygon>& polygons, int res, size_t max_cells,
                          const std::function<bool()>& keep_going, std::vector<Index>& out);

}  // namespace cmk::kql::fn::h3
