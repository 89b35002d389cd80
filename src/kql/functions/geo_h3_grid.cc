// H3's grid math, written from the H3 documentation (h3geo.org: indexing, coordinate systems)
// and the reference library's algorithms (uber/h3, Apache-2.0): a point goes to the nearest
// icosahedron face, is projected gnomonically into that face's hex plane (rotated for Class III,
// the odd resolutions), quantized to IJK coordinates and then aggregated digit by digit up to
// the resolution-0 base cell, whose coordinate system may be rotated relative to the face.
// Pentagons have no K-axis subsequence, which the index rotations below work around exactly as
// the reference does, since the cell ids must be identical.
//
// Derived from uber/h3 v4.1.0 (https://github.com/uber/h3), Apache License 2.0
// (LICENSES/Apache-2.0.txt; see THIRD_PARTY_NOTICES.md), rewritten in C++: face IJK to index and
// back, the leading digit, index and pentagon rotations and isValidCell's rules from
// src/h3lib/lib/h3Index.c (Copyright 2016-2021 Uber Technologies, Inc.) and baseCells.c
// (Copyright 2016-2020 Uber Technologies, Inc.); the degree constants from include/constants.h
// (Copyright 2016-2017, 2020 Uber Technologies, Inc.).
#include "kql/functions/geo_h3_grid.h"

#include <array>
#include <cfloat>
#include <cmath>
#include <cstdio>

#include "kql/functions/geo_h3_internal.h"

namespace cmk::kql::fn::h3 {
namespace {

constexpr Index kAllDigitsSeven = (Index{1} << 45) - 1;

Index NewCell(int res) {
  return (Index{1} << kModeShift) | (static_cast<Index>(res) << kResShift) | kAllDigitsSeven;
}
FaceIjk HomeOf(int bc) {
  const int8_t* d = &kBaseCellData[bc * 7];
  return {d[0], {d[1], d[2], d[3]}};
}

Index RotateIndex(Index h, bool ccw) {
  for (int r = 1, res = Resolution(h); r <= res; ++r) {
    h = WithDigit(h, r, ccw ? RotateDigitCcw(Digit(h, r)) : RotateDigitCw(Digit(h, r)));
  }
  return h;
}

// --- Face IJK <-> index -----------------------------------------------------------------------

int FaceIjkBaseCell(const FaceIjk& f) {
  return kFaceIjkBaseCells[((f.face * 3 + f.c.i) * 3 + f.c.j) * 3 * 2 + f.c.k * 2];
}
int FaceIjkRotations(const FaceIjk& f) {
  return kFaceIjkBaseCells[((f.face * 3 + f.c.i) * 3 + f.c.j) * 3 * 2 + f.c.k * 2 + 1];
}

// 0 when the coordinates fall outside the face's base cells (impossible for points that
// LatLngToFaceIjk produced).
Index FaceIjkToIndex(const FaceIjk& fijk, int res) {
  Index h = NewCell(res);
  Ijk ijk = fijk.c;
  for (int r = res - 1; r >= 0; --r) {
    Ijk child = ijk, center;
    if (IsClassIII(r + 1)) {
      UpAp7(ijk);
      center = ijk;
      DownAp7(center);
    } else {
      UpAp7r(ijk);
      center = ijk;
      DownAp7r(center);
    }
    Ijk diff = Sub(child, center);
    Normalize(diff);
    h = WithDigit(h, r + 1, UnitToDigit(diff));
  }
  if (ijk.i > 2 || ijk.j > 2 || ijk.k > 2 || ijk.i < 0 || ijk.j < 0 || ijk.k < 0) return 0;
  FaceIjk base{fijk.face, ijk};
  int bc = FaceIjkBaseCell(base), rotations = FaceIjkRotations(base);
  h = WithBaseCell(h, bc);
  if (IsPentagonBase(bc)) {
    if (LeadingDigit(h) == kKDigit) {
      h = IsCwOffsetFace(bc, fijk.face) ? RotateIndex60cw(h) : RotateIndex60ccw(h);
    }
    for (int i = 0; i < rotations; ++i) h = RotatePentIndex60ccw(h);
  } else {
    for (int i = 0; i < rotations; ++i) h = RotateIndex60ccw(h);
  }
  return h;
}

// The cell's centre as IJK on its base cell's home face (possibly beyond that face's edges).
// Answers whether the cell may lie on a neighbouring face.
bool DescendFromHome(Index h, FaceIjk& fijk) {
  int res = Resolution(h);
  bool maybe_off_face = IsPentagonBase(BaseCellOf(h)) ||
                        (res != 0 && !(fijk.c.i == 0 && fijk.c.j == 0 && fijk.c.k == 0));
  for (int r = 1; r <= res; ++r) {
    if (IsClassIII(r)) {
      DownAp7(fijk.c);
    } else {
      DownAp7r(fijk.c);
    }
    Step(fijk.c, Digit(h, r));
  }
  return maybe_off_face;
}

FaceIjk IndexToFaceIjk(Index h) {
  int bc = BaseCellOf(h);
  // A pentagon's 5-subsequence lies rotated on the home face.
  if (IsPentagonBase(bc) && LeadingDigit(h) == kIkDigit) h = RotateIndex60cw(h);
  FaceIjk fijk = HomeOf(bc);
  if (!DescendFromHome(h, fijk)) return fijk;
  Ijk original = fijk.c;
  int res = Resolution(h), grid_res = res;
  if (IsClassIII(res)) {  // overage is measured on the next Class II grid
    DownAp7r(fijk.c);
    ++grid_res;
  }
  bool pent_leading4 = IsPentagonBase(bc) && LeadingDigit(h) == kIDigit;
  if (AdjustOverage(fijk, grid_res, pent_leading4, false) != Overage::kNone) {
    if (IsPentagonBase(bc)) {
      while (AdjustOverage(fijk, grid_res, false, false) != Overage::kNone) {
      }
    }
    if (grid_res != res) UpAp7r(fijk.c);
  } else if (grid_res != res) {
    fijk.c = original;
  }
  return fijk;
}

}  // namespace

Index BaseCellIndex(int bc) { return WithBaseCell(NewCell(0), bc); }

int LeadingDigit(Index h) {
  for (int r = 1, res = Resolution(h); r <= res; ++r) {
    if (int d = Digit(h, r); d != 0) return d;
  }
  return 0;
}
Index RotateIndex60ccw(Index h) { return RotateIndex(h, true); }
Index RotateIndex60cw(Index h) { return RotateIndex(h, false); }

Index RotatePentIndex60ccw(Index h) {
  bool seen_nonzero = false;
  for (int r = 1, res = Resolution(h); r <= res; ++r) {
    h = WithDigit(h, r, RotateDigitCcw(Digit(h, r)));
    if (!seen_nonzero && Digit(h, r) != 0) {
      seen_nonzero = true;
      if (LeadingDigit(h) == kKDigit) h = RotateIndex60ccw(h);
    }
  }
  return h;
}

// --- Public -----------------------------------------------------------------------------------

double DegreesToRadians(double degrees) {
  return static_cast<double>(degrees * 0.0174532925199432957692369076848861271111L);
}
double RadiansToDegrees(double radians) {
  return static_cast<double>(radians * 57.29577951308232087679815481410517033240547L);
}

std::string ToString(Index h) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%llx", static_cast<unsigned long long>(h));
  return buf;
}

std::optional<Index> FromString(std::string_view s) {
  if (s.empty() || s.size() > 16) return std::nullopt;
  Index h = 0;
  for (char c : s) {
    int v;
    if (c >= '0' && c <= '9') {
      v = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      v = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      v = c - 'A' + 10;
    } else {
      return std::nullopt;
    }
    h = (h << 4) | static_cast<Index>(v);
  }
  if (!IsValidCell(h)) return std::nullopt;
  return h;
}

int Resolution(Index h) { return static_cast<int>((h >> kResShift) & 15); }

bool IsValidCell(Index h) {
  if ((h >> 63) != 0 || ((h >> kModeShift) & 15) != 1 || ((h >> 56) & 7) != 0) return false;
  int bc = BaseCellOf(h), res = Resolution(h);
  if (bc >= kBaseCells) return false;
  bool seen_nonzero = false;
  for (int r = 1; r <= res; ++r) {
    int d = Digit(h, r);
    if (d == 7) return false;
    if (!seen_nonzero && d != 0) {
      seen_nonzero = true;
      if (IsPentagonBase(bc) && d == kKDigit) return false;  // the deleted subsequence
    }
  }
  for (int r = res + 1; r <= kMaxRes; ++r) {
    if (Digit(h, r) != 7) return false;
  }
  return true;
}

bool IsPentagon(Index h) { return IsPentagonBase(BaseCellOf(h)) && LeadingDigit(h) == 0; }

Index LatLngToCell(LatLng g, int res) {
  FaceIjk fijk;
  Vec2 v = LatLngToHex2d(g, res, fijk.face);
  fijk.c = Hex2dToIjk(v);
  return FaceIjkToIndex(fijk, res);
}

LatLng CellToLatLng(Index h) {
  FaceIjk fijk = IndexToFaceIjk(h);
  return Hex2dToLatLng(IjkToHex2d(fijk.c), fijk.face, Resolution(h), false);
}

std::vector<LatLng> CellToBoundary(Index h) {
  FaceIjk fijk = IndexToFaceIjk(h);
  return IsPentagon(h) ? PentagonBoundary(fijk, Resolution(h))
                       : HexagonBoundary(fijk, Resolution(h));
}

Index Parent(Index h, int res) {
  Index p = WithResolution(h, res);
  for (int r = res + 1; r <= kMaxRes; ++r) p = WithDigit(p, r, 7);
  return p;
}

uint64_t ChildCount(Index h, int res) {
  uint64_t n = 1;
  for (int r = Resolution(h); r < res; ++r) n *= 7;
  // A pentagon: itself once, then five hexagon subtrees per level below each pentagon.
  return IsPentagon(h) ? 1 + 5 * (n - 1) / 6 : n;
}

namespace {
void AppendChildren(Index h, int r, int res, bool pentagon, std::vector<Index>& out) {
  if (r > res) {
    out.push_back(h);
    return;
  }
  Index base = WithResolution(h, r);
  for (int d = 0; d < 7; ++d) {
    if (pentagon && d == kKDigit) continue;
    AppendChildren(WithDigit(base, r, d), r + 1, res, pentagon && d == 0, out);
  }
}
}  // namespace

void Children(Index h, int res, std::vector<Index>& out) {
  AppendChildren(h, Resolution(h) + 1, res, IsPentagon(h), out);
}

}  // namespace cmk::kql::fn::h3
