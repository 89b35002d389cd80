#pragma once
// Internals of the H3 grid shared by geo_h3_grid.cc (indexes), geo_h3_coords.cc (projection and
// boundaries) and geo_h3_disk.cc (neighbours): IJK hex coordinates, the index's bit fields and
// its rotations. Not for use outside geo_h3_*.cc.
//
// Derived from uber/h3 v4.1.0 (https://github.com/uber/h3), Apache License 2.0
// (LICENSES/Apache-2.0.txt; see THIRD_PARTY_NOTICES.md): the IJK and digit model, unit vectors
// and index layout of src/h3lib/include/coordijk.h (Copyright 2016-2018, 2020-2022 Uber
// Technologies, Inc.), h3Index.h (Copyright 2016-2018, 2020 Uber Technologies, Inc.) and
// baseCells.h (Copyright 2016-2018 Uber Technologies, Inc.), rewritten in C++.
#include <cstdint>
#include <vector>

#include "kql/functions/geo_h3_grid.h"
#include "kql/functions/geo_h3_tables.h"

namespace cmk::kql::fn::h3 {

// --- IJK coordinates --------------------------------------------------------------------------
// Three axes 120 degrees apart; (i, j, k) and (i+n, j+n, k+n) are the same hex, the normalized
// form has no negative and at least one zero component.
struct Ijk {
  int i = 0, j = 0, k = 0;
  bool operator==(const Ijk&) const = default;
};
struct FaceIjk {
  int face = 0;
  Ijk c;
};
struct Vec2 {
  double x = 0, y = 0;
};

// Direction digits: the unit vectors of the 7 cells of an aperture-7 group.
inline constexpr int kCenterDigit = 0, kKDigit = 1, kJDigit = 2, kJkDigit = 3, kIDigit = 4,
                     kIkDigit = 5, kIjDigit = 6, kInvalidDigit = 7;
inline constexpr Ijk kUnitVecs[7] = {{0, 0, 0}, {0, 0, 1}, {0, 1, 0}, {0, 1, 1},
                                     {1, 0, 0}, {1, 0, 1}, {1, 1, 0}};

void Normalize(Ijk& c);
inline Ijk Add(Ijk a, Ijk b) { return {a.i + b.i, a.j + b.j, a.k + b.k}; }
inline Ijk Sub(Ijk a, Ijk b) { return {a.i - b.i, a.j - b.j, a.k - b.k}; }
inline Ijk Scale(Ijk a, int f) { return {a.i * f, a.j * f, a.k * f}; }
// The digit of a unit vector (after normalizing), kInvalidDigit if it is none.
int UnitToDigit(Ijk c);
// Moves one cell in the digit's direction.
void Step(Ijk& c, int digit);
// Aperture-7 parent (Up) and centre child (Down), counter-clockwise (Class III) or clockwise
// ("r", Class II) rotated; aperture 3 down-steps give the vertex substrate grid.
void UpAp7(Ijk& c);
void UpAp7r(Ijk& c);
void DownAp7(Ijk& c);
void DownAp7r(Ijk& c);
void DownAp3(Ijk& c);
void DownAp3r(Ijk& c);
void Rotate60ccw(Ijk& c);
void Rotate60cw(Ijk& c);
int RotateDigitCcw(int d);
int RotateDigitCw(int d);
inline bool IsClassIII(int res) { return res % 2 == 1; }

// --- Faces and projection ---------------------------------------------------------------------
enum class Overage { kNone, kFaceEdge, kNewFace };
// Moves coordinates that lie past the face's edge (on the Class II grid of `res`, or on its
// aperture-3 vertex substrate) onto the neighbouring face. `pent_leading4` corrects for a
// pentagon's missing subsequence.
Overage AdjustOverage(FaceIjk& f, int res, bool pent_leading4, bool substrate);
// The face nearest to `g` and g's position in that face's hex plane at `res`.
Vec2 LatLngToHex2d(LatLng g, int res, int& face);
Ijk Hex2dToIjk(Vec2 v);
Vec2 IjkToHex2d(Ijk c);
LatLng Hex2dToLatLng(Vec2 v, int face, int res, bool substrate);
std::vector<LatLng> HexagonBoundary(FaceIjk center, int res);
std::vector<LatLng> PentagonBoundary(FaceIjk center, int res);

// --- Index fields -----------------------------------------------------------------------------
inline constexpr int kModeShift = 59, kResShift = 52, kBaseCellShift = 45;

inline int Digit(Index h, int r) { return static_cast<int>((h >> ((kMaxRes - r) * 3)) & 7); }
inline Index WithDigit(Index h, int r, int d) {
  int shift = (kMaxRes - r) * 3;
  return (h & ~(Index{7} << shift)) | (static_cast<Index>(d) << shift);
}
inline int BaseCellOf(Index h) { return static_cast<int>((h >> kBaseCellShift) & 127); }
inline Index WithBaseCell(Index h, int bc) {
  return (h & ~(Index{127} << kBaseCellShift)) | (static_cast<Index>(bc) << kBaseCellShift);
}
inline Index WithResolution(Index h, int res) {
  return (h & ~(Index{15} << kResShift)) | (static_cast<Index>(res) << kResShift);
}
inline bool IsPentagonBase(int bc) {
  return bc >= 0 && bc < kBaseCells && kBaseCellData[bc * 7 + 4] != 0;
}
inline bool IsCwOffsetFace(int bc, int face) {
  return kBaseCellData[bc * 7 + 5] == face || kBaseCellData[bc * 7 + 6] == face;
}
inline int HomeFace(int bc) { return kBaseCellData[bc * 7]; }
// The resolution-0 cell of base cell `bc`.
Index BaseCellIndex(int bc);
// The first non-zero digit (0 for a centre cell of its base cell).
int LeadingDigit(Index h);
Index RotateIndex60ccw(Index h);
Index RotateIndex60cw(Index h);
// A pentagon's rotation: should the leading digit land on the missing K axis, once more.
Index RotatePentIndex60ccw(Index h);

}  // namespace cmk::kql::fn::h3
