// H3's coordinate systems (h3geo.org "Coordinate systems"): IJK hex coordinates, the gnomonic
// projection of each icosahedron face onto its hex plane, and cell boundaries, which are walked
// on an aperture-3 "substrate" grid whose points include every cell vertex and which gain an
// extra vertex wherever an edge crosses onto another face. Written from the H3 documentation and
// the reference library's algorithms (uber/h3, Apache-2.0); the arithmetic follows the
// reference's order, including its extended-precision constants, so the vertices agree to the
// last digit.
//
// Derived from uber/h3 v4.1.0 (https://github.com/uber/h3), Apache License 2.0
// (LICENSES/Apache-2.0.txt; see THIRD_PARTY_NOTICES.md), rewritten in C++: IJK operations and
// aperture steps from src/h3lib/lib/coordijk.c (Copyright 2016-2018, 2020-2022 Uber Technologies,
// Inc.); projection, overage adjustment and boundaries from faceijk.c and azimuth/distance from
// latLng.c (Copyright 2016-2021 Uber Technologies, Inc.); segment intersection from vec2d.c
// (Copyright 2016-2017 Uber Technologies, Inc.); constants from include/constants.h (Copyright
// 2016-2017, 2020 Uber Technologies, Inc.). Hex2dToIjk's rounding is our own.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <numbers>

#include "kql/functions/geo_h3_internal.h"

namespace cmk::kql::fn::h3 {
namespace {

constexpr long double kEpsilon = 0.0000000000000001L;
constexpr long double k2Pi = 6.28318530717958647692528676655900576839433L;
constexpr long double kSqrt7 = 2.6457513110645905905016157536392604257102L;
constexpr long double kSin60 = 0.8660254037844386467637231707529361834714L;
constexpr long double kAp7RotRads = 0.333473172251832115336090755351601070065900389L;
constexpr long double kRes0UGnomonic = 0.38196601125010500003L;

// On the Class II grid of an even resolution: the resolution-0 cell's width in cells (the unit
// of the face-to-face translations) and the face's extent (i + j + k at its edges), twice that.
int UnitScale(int res) {
  int n = 1;
  for (int r = 0; r < res; r += 2) n *= 7;
  return n;
}
int MaxDim(int res) { return 2 * UnitScale(res); }

// A linear map of the three unit axes (its images of i, j and k).
void Apply(Ijk& c, Ijk iv, Ijk jv, Ijk kv) {
  c = Add(Add(Scale(iv, c.i), Scale(jv, c.j)), Scale(kv, c.k));
  Normalize(c);
}

double PosAngle(double rads) {
  double t = rads < 0 ? static_cast<double>(rads + k2Pi) : rads;
  if (rads >= k2Pi) t = static_cast<double>(t - k2Pi);
  return t;
}

double ConstrainLng(double lng) {
  while (lng > std::numbers::pi) lng -= 2 * std::numbers::pi;
  while (lng < -std::numbers::pi) lng += 2 * std::numbers::pi;
  return lng;
}

double Azimuth(const LatLng& a, const LatLng& b) {
  return std::atan2(std::cos(b.lat) * std::sin(b.lng - a.lng),
                    std::cos(a.lat) * std::sin(b.lat) -
                        std::sin(a.lat) * std::cos(b.lat) * std::cos(b.lng - a.lng));
}

LatLng PolarPoint(double lat) {
  if (std::fabs(lat - std::numbers::pi / 2) < kEpsilon) return {std::numbers::pi / 2, 0};
  if (std::fabs(lat + std::numbers::pi / 2) < kEpsilon) return {-std::numbers::pi / 2, 0};
  return {lat, NAN};
}

// The point `distance` radians from `from` along azimuth `az` on the sphere.
LatLng Travel(const LatLng& from, double az, double distance) {
  if (distance < kEpsilon) return from;
  az = PosAngle(az);
  if (az < kEpsilon || std::fabs(az - std::numbers::pi) < kEpsilon) {  // due north or south
    LatLng p = PolarPoint(az < kEpsilon ? from.lat + distance : from.lat - distance);
    if (std::isnan(p.lng)) p.lng = ConstrainLng(from.lng);
    return p;
  }
  double sinlat = std::sin(from.lat) * std::cos(distance) +
                  std::cos(from.lat) * std::sin(distance) * std::cos(az);
  sinlat = std::fmin(1.0, std::fmax(-1.0, sinlat));
  LatLng p = PolarPoint(std::asin(sinlat));
  if (!std::isnan(p.lng)) return p;
  double sinlng = std::sin(az) * std::sin(distance) / std::cos(p.lat);
  double coslng = (std::cos(distance) - std::sin(from.lat) * std::sin(p.lat)) / std::cos(from.lat) /
                  std::cos(p.lat);
  sinlng = std::fmin(1.0, std::fmax(-1.0, sinlng));
  coslng = std::fmin(1.0, std::fmax(-1.0, coslng));
  p.lng = ConstrainLng(from.lng + std::atan2(sinlng, coslng));
  return p;
}

Vec2 Intersect(Vec2 p0, Vec2 p1, Vec2 p2, Vec2 p3) {
  Vec2 s1{p1.x - p0.x, p1.y - p0.y}, s2{p3.x - p2.x, p3.y - p2.y};
  double t = (s2.x * (p0.y - p2.y) - s2.y * (p0.x - p2.x)) / (-s2.x * s1.y + s1.x * s2.y);
  return {p0.x + t * s1.x, p0.y + t * s1.y};
}
bool AlmostEqual(Vec2 a, Vec2 b) {
  return std::fabs(a.x - b.x) < FLT_EPSILON && std::fabs(a.y - b.y) < FLT_EPSILON;
}

// Which of the face's edges (1 IJ, 2 KI, 3 JK) borders face `to`, 0 if `to` is the face itself,
// -1 if the faces do not touch.
int EdgeTowards(int from, int to) {
  if (from == to) return 0;
  for (int e = 0; e < 3; ++e) {
    if (kFaceNeighbors[(from * 3 + e) * 5] == to) return e + 1;
  }
  return -1;
}

// The ends of the face edge `edge` (1 IJ, 2 KI, 3 JK) in the hex plane of a substrate grid.
void FaceEdge(int edge, int res, Vec2& a, Vec2& b) {
  double m = MaxDim(res);
  Vec2 v0{3.0 * m, 0.0}, v1{-1.5 * m, static_cast<double>(3.0L * kSin60 * m)},
      v2{-1.5 * m, static_cast<double>(-3.0L * kSin60 * m)};
  if (edge == 1) {
    a = v0, b = v1;
  } else if (edge == 3) {
    a = v1, b = v2;
  } else {
    a = v2, b = v0;
  }
}

// The cell's vertices on the substrate grid (aperture 3 twice, and for Class III a further
// clockwise aperture 7, reaching the next Class II resolution), counter-clockwise from the i
// axis. Returns the substrate's resolution.
int SubstrateVertices(FaceIjk& center, int res, int count, FaceIjk* verts) {
  static constexpr Ijk kClassII[6] = {{2, 1, 0}, {1, 2, 0}, {0, 2, 1},
                                      {0, 1, 2}, {1, 0, 2}, {2, 0, 1}};
  static constexpr Ijk kClassIII[6] = {{5, 4, 0}, {1, 5, 0}, {0, 5, 4},
                                       {0, 1, 5}, {4, 0, 5}, {5, 0, 1}};
  const Ijk* offsets = IsClassIII(res) ? kClassIII : kClassII;
  DownAp3(center.c);
  DownAp3r(center.c);
  if (IsClassIII(res)) {
    DownAp7r(center.c);
    ++res;
  }
  for (int v = 0; v < count; ++v) {
    verts[v].face = center.face;
    verts[v].c = Add(center.c, offsets[v]);
    Normalize(verts[v].c);
  }
  return res;
}

LatLng SubstrateToLatLng(const Ijk& c, int face, int res) {
  return Hex2dToLatLng(IjkToHex2d(c), face, res, true);
}

}  // namespace

// --- IJK --------------------------------------------------------------------------------------

void Normalize(Ijk& c) {
  if (c.i < 0) c.j -= c.i, c.k -= c.i, c.i = 0;
  if (c.j < 0) c.i -= c.j, c.k -= c.j, c.j = 0;
  if (c.k < 0) c.i -= c.k, c.j -= c.k, c.k = 0;
  int m = std::min(c.i, std::min(c.j, c.k));
  c.i -= m, c.j -= m, c.k -= m;
}

int UnitToDigit(Ijk c) {
  Normalize(c);
  for (int d = 0; d < 7; ++d) {
    if (c == kUnitVecs[d]) return d;
  }
  return kInvalidDigit;
}

void Step(Ijk& c, int digit) {
  if (digit > kCenterDigit && digit < kInvalidDigit) {
    c = Add(c, kUnitVecs[digit]);
    Normalize(c);
  }
}

namespace {
// The aperture-7 parent of (i, j) as planar coordinates; the reference rounds half away from
// zero (lround).
void Up(Ijk& c, int a, int b, int d, int e) {
  int i = c.i - c.k, j = c.j - c.k;
  c = {static_cast<int>(std::lround((a * i + b * j) / 7.0)),
       static_cast<int>(std::lround((d * i + e * j) / 7.0)), 0};
  Normalize(c);
}
}  // namespace

void UpAp7(Ijk& c) { Up(c, 3, -1, 1, 2); }
void UpAp7r(Ijk& c) { Up(c, 2, 1, -1, 3); }
void DownAp7(Ijk& c) { Apply(c, {3, 0, 1}, {1, 3, 0}, {0, 1, 3}); }
void DownAp7r(Ijk& c) { Apply(c, {3, 1, 0}, {0, 3, 1}, {1, 0, 3}); }
void DownAp3(Ijk& c) { Apply(c, {2, 0, 1}, {1, 2, 0}, {0, 1, 2}); }
void DownAp3r(Ijk& c) { Apply(c, {2, 1, 0}, {0, 2, 1}, {1, 0, 2}); }
void Rotate60ccw(Ijk& c) { Apply(c, {1, 1, 0}, {0, 1, 1}, {1, 0, 1}); }
void Rotate60cw(Ijk& c) { Apply(c, {1, 0, 1}, {1, 1, 0}, {0, 1, 1}); }

// K -> IK -> I -> IJ -> J -> JK -> K counter-clockwise.
int RotateDigitCcw(int d) {
  static constexpr int kNext[8] = {0, 5, 3, 1, 6, 4, 2, 7};
  return kNext[d & 7];
}
int RotateDigitCw(int d) {
  static constexpr int kNext[8] = {0, 3, 6, 2, 5, 1, 4, 7};
  return kNext[d & 7];
}

// --- Projection -------------------------------------------------------------------------------

Vec2 IjkToHex2d(Ijk c) {
  int i = c.i - c.k, j = c.j - c.k;
  return {i - 0.5 * j, static_cast<double>(j * kSin60)};
}

// The nearest hex centre. Hex centres are i + j + k unit steps along axes 120 degrees apart;
// q = i - j and r = j - k count steps along the i axis and the -k axis (60 degrees apart),
// the usual axial coordinates, which round as cube coordinates (q, r, -q - r: round all three,
// recompute the one that moved furthest from the other two).
Ijk Hex2dToIjk(Vec2 v) {
  double r = v.y / static_cast<double>(kSin60), q = v.x - r / 2, s = -q - r;
  double rq = std::round(q), rr = std::round(r), rs = std::round(s);
  double dq = std::fabs(rq - q), dr = std::fabs(rr - r), ds = std::fabs(rs - s);
  if (dq > dr && dq > ds) {
    rq = -rr - rs;
  } else if (dr > ds) {
    rr = -rq - rs;
  }
  Ijk out{static_cast<int>(rq + rr), static_cast<int>(rr), 0};
  Normalize(out);
  return out;
}

Vec2 LatLngToHex2d(LatLng g, int res, int& face) {
  double cl = std::cos(g.lat);
  double x = std::cos(g.lng) * cl, y = std::sin(g.lng) * cl, z = std::sin(g.lat);
  double sqd = 5.0;
  for (int f = 0; f < kFaces; ++f) {
    const FaceCenter& fc = kFaceCenters[f];
    double dx = fc.point.x - x, dy = fc.point.y - y, dz = fc.point.z - z;
    double d = dx * dx + dy * dy + dz * dz;
    if (d < sqd) face = f, sqd = d;
  }
  double r = std::acos(1 - sqd / 2);  // chord to angle
  if (r < kEpsilon) return {0, 0};
  const FaceCenter& fc = kFaceCenters[face];
  double theta = PosAngle(fc.i_azimuth - PosAngle(Azimuth({fc.geo.lat, fc.geo.lng}, g)));
  if (IsClassIII(res)) theta = PosAngle(static_cast<double>(theta - kAp7RotRads));
  r = std::tan(r);  // gnomonic
  r = static_cast<double>(r / kRes0UGnomonic);
  for (int i = 0; i < res; ++i) r = static_cast<double>(r * kSqrt7);
  return {r * std::cos(theta), r * std::sin(theta)};
}

LatLng Hex2dToLatLng(Vec2 v, int face, int res, bool substrate) {
  const FaceCenter& fc = kFaceCenters[face];
  double r = std::sqrt(v.x * v.x + v.y * v.y);
  if (r < kEpsilon) return {fc.geo.lat, fc.geo.lng};
  double theta = std::atan2(v.y, v.x);
  for (int i = 0; i < res; ++i) r = static_cast<double>(r / kSqrt7);
  if (substrate) {
    r /= 3.0;
    if (IsClassIII(res)) r = static_cast<double>(r / kSqrt7);
  }
  r = static_cast<double>(r * kRes0UGnomonic);
  r = std::atan(r);
  if (!substrate && IsClassIII(res)) theta = PosAngle(static_cast<double>(theta + kAp7RotRads));
  theta = PosAngle(fc.i_azimuth - theta);
  return Travel({fc.geo.lat, fc.geo.lng}, theta, r);
}

Overage AdjustOverage(FaceIjk& f, int res, bool pent_leading4, bool substrate) {
  Ijk& c = f.c;
  int scale = substrate ? 3 : 1, max_dim = MaxDim(res) * scale;
  if (substrate && c.i + c.j + c.k == max_dim) return Overage::kFaceEdge;
  if (c.i + c.j + c.k <= max_dim) return Overage::kNone;
  int edge = 1;  // IJ
  if (c.k > 0 && c.j > 0) {
    edge = 3;  // JK
  } else if (c.k > 0) {
    edge = 2;             // KI
    if (pent_leading4) {  // rotate about the pentagon's centre for its missing subsequence
      Ijk origin{max_dim, 0, 0};
      Ijk t = Sub(c, origin);
      Rotate60cw(t);
      c = Add(t, origin);
    }
  }
  const int8_t* n = &kFaceNeighbors[(f.face * 3 + edge - 1) * 5];
  f.face = n[0];
  for (int r = 0; r < n[4]; ++r) Rotate60ccw(c);
  c = Add(c, Scale({n[1], n[2], n[3]}, UnitScale(res) * scale));
  Normalize(c);
  if (substrate && c.i + c.j + c.k == max_dim) return Overage::kFaceEdge;
  return Overage::kNewFace;
}

// --- Boundaries -------------------------------------------------------------------------------

std::vector<LatLng> HexagonBoundary(FaceIjk center, int res) {
  FaceIjk verts[6];
  int sub_res = SubstrateVertices(center, res, 6, verts);
  std::vector<LatLng> out;
  int last_face = -1;
  Overage last_overage = Overage::kNone;
  for (int vert = 0; vert <= 6; ++vert) {  // once more for a crossing on the closing edge
    int v = vert % 6;
    FaceIjk f = verts[v];
    Overage overage = AdjustOverage(f, sub_res, false, true);
    // A Class III edge passing onto another face gets a vertex where it crosses the face edge,
    // so that each part is projected on its own face (Class II vertices sit on face edges).
    if (IsClassIII(res) && vert > 0 && f.face != last_face && last_overage != Overage::kFaceEdge) {
      Vec2 p0 = IjkToHex2d(verts[(v + 5) % 6].c), p1 = IjkToHex2d(verts[v].c), e0, e1;
      int other = last_face == center.face ? f.face : last_face;
      FaceEdge(EdgeTowards(center.face, other), sub_res, e0, e1);
      Vec2 cross = Intersect(p0, p1, e0, e1);
      if (!AlmostEqual(p0, cross) && !AlmostEqual(p1, cross)) {
        out.push_back(Hex2dToLatLng(cross, center.face, sub_res, true));
      }
    }
    if (vert < 6) out.push_back(SubstrateToLatLng(f.c, f.face, sub_res));
    last_face = f.face;
    last_overage = overage;
  }
  return out;
}

std::vector<LatLng> PentagonBoundary(FaceIjk center, int res) {
  FaceIjk verts[5];
  int sub_res = SubstrateVertices(center, res, 5, verts);
  std::vector<LatLng> out;
  FaceIjk last;
  for (int vert = 0; vert <= 5; ++vert) {
    int v = vert % 5;
    FaceIjk f = verts[v];
    while (AdjustOverage(f, sub_res, false, true) == Overage::kNewFace) {
    }
    // Every Class III pentagon edge crosses a face edge: find the crossing in the previous
    // vertex's face, with this vertex carried over into that face's coordinates.
    int to_last = EdgeTowards(f.face, last.face);
    if (IsClassIII(res) && vert > 0 && to_last > 0) {
      const int8_t* n = &kFaceNeighbors[(f.face * 3 + to_last - 1) * 5];
      Ijk c = f.c;
      for (int r = 0; r < n[4]; ++r) Rotate60ccw(c);
      c = Add(c, Scale({n[1], n[2], n[3]}, UnitScale(sub_res) * 3));
      Normalize(c);
      Vec2 p0 = IjkToHex2d(last.c), p1 = IjkToHex2d(c), e0, e1;
      FaceEdge(EdgeTowards(n[0], f.face), sub_res, e0, e1);
      out.push_back(Hex2dToLatLng(Intersect(p0, p1, e0, e1), n[0], sub_res, true));
    }
    if (vert < 5) out.push_back(SubstrateToLatLng(f.c, f.face, sub_res));
    last = f;
  }
  return out;
}

}  // namespace cmk::kql::fn::h3
