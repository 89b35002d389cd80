// Polygon to H3 cells by centre containment (H3's polygonToCells): the cells whose centres lie
// inside the polygon, its edges straight in the latitude/longitude plane. The search descends
// the cell hierarchy from the 122 base cells: every centre below a cell lies within about one
// circumradius of the cell's centre (aperture 7 shrinks each level by sqrt(7)), so a cell whose
// surrounding box (twice that reach) no polygon edge crosses is either wholly outside (pruned)
// or wholly inside (all its descendants are taken without testing each).
//
// The ring's bounding box and its antimeridian rule follow uber/h3 v4.1.0's bboxFrom
// (https://github.com/uber/h3, src/h3lib/include/polygonAlgos.h, Copyright 2018, 2020-2021 Uber
// Technologies, Inc., Apache License 2.0; see THIRD_PARTY_NOTICES.md), and the containment
// semantics its polygonToCells (algos.c); the search and the point test are our own.
#include <algorithm>
#include <cmath>
#include <numbers>

#include "kql/functions/geo_h3_internal.h"

namespace cmk::kql::fn::h3 {
namespace {


// Longitudes in a ring that crosses the antimeridian are read shifted into [0, 2pi).
double Shift(double lng, bool transmeridian) {
  return transmeridian && lng < 0 ? lng + 2 * std::numbers::pi : lng;
}

struct PreparedRing {
  Ring v;  // longitudes shifted when `transmeridian`
  // H3's bounding box of the ring (a point outside it is outside the ring): an edge spanning
  // more than 180 degrees of longitude makes the box run from the least positive longitude
  // east across the antimeridian to the greatest negative one.
  double south = 0, north = 0, west = 0, east = 0;
  bool transmeridian = false;  // east < west
  // The edges (edge i runs from v[i] to v[i + 1]) by latitude band, so that a point or a box
  // meets only the edges at its latitudes: band b's edges are
  // band_edges[band_start[b] .. band_start[b + 1]).
  double band_height = 1;
  std::vector<uint32_t> band_start, band_edges;

  size_t Band(double lat) const {
    double b = std::floor((lat - south) / band_height);
    return static_cast<size_t>(std::clamp(b, 0.0, static_cast<double>(band_start.size() - 2)));
  }
  LatLng To(size_t i) const { return v[i + 1 == v.size() ? 0 : i + 1]; }
};

// Sorts the edges into latitude bands: about one band per edge up to 1024, fewer while long
// edges would be listed in too many of them.
void IndexBands(PreparedRing& p) {
  size_t n = p.v.size();
  for (size_t bands = std::min<size_t>(1024, n);; bands = std::max<size_t>(1, bands / 2)) {
    p.band_height = std::max((p.north - p.south) / static_cast<double>(bands), 1e-300);
    p.band_start.assign(bands + 1, 0);
    size_t total = 0;
    for (size_t i = 0; i < n; ++i) {
      double from = p.v[i].lat, to = p.To(i).lat;
      double lo = std::min(from, to), hi = std::max(from, to);
      for (size_t b = p.Band(lo), e = p.Band(hi); b <= e; ++b) ++p.band_start[b + 1], ++total;
    }
    if (total > 16 * n && bands > 1) continue;
    for (size_t b = 0; b < bands; ++b) p.band_start[b + 1] += p.band_start[b];
    p.band_edges.assign(total, 0);
    std::vector<uint32_t> fill(p.band_start.begin(), p.band_start.end() - 1);
    for (size_t i = 0; i < n; ++i) {
      double from = p.v[i].lat, to = p.To(i).lat;
      double lo = std::min(from, to), hi = std::max(from, to);
      for (size_t b = p.Band(lo), e = p.Band(hi); b <= e; ++b) {
        p.band_edges[fill[b]++] = static_cast<uint32_t>(i);
      }
    }
    return;
  }
}

PreparedRing Prepare(const Ring& ring) {
  PreparedRing p;
  p.v = ring;
  double min_pos = INFINITY, max_neg = -INFINITY;
  bool crosses = false;
  p.south = p.west = INFINITY;
  p.north = p.east = -INFINITY;
  for (size_t i = 0; i < ring.size(); ++i) {
    const LatLng& a = ring[i];
    p.south = std::min(p.south, a.lat), p.north = std::max(p.north, a.lat);
    p.west = std::min(p.west, a.lng), p.east = std::max(p.east, a.lng);
    if (a.lng > 0) min_pos = std::min(min_pos, a.lng);
    if (a.lng < 0) max_neg = std::max(max_neg, a.lng);
    if (std::fabs(a.lng - ring[(i + 1) % ring.size()].lng) > std::numbers::pi) crosses = true;
  }
  if (crosses) p.west = min_pos, p.east = max_neg;
  p.transmeridian = p.east < p.west;
  for (LatLng& q : p.v) q.lng = Shift(q.lng, p.transmeridian);
  IndexBands(p);
  return p;
}

// Ray casting towards increasing longitude; a vertex's latitude counts on its upper side only.
bool InRing(const PreparedRing& r, LatLng g) {
  if (g.lat < r.south || g.lat > r.north) return false;
  if (r.transmeridian ? (g.lng < r.west && g.lng > r.east) : (g.lng < r.west || g.lng > r.east)) {
    return false;
  }
  double lng = Shift(g.lng, r.transmeridian);
  bool inside = false;
  size_t band = r.Band(g.lat);
  for (uint32_t k = r.band_start[band]; k < r.band_start[band + 1]; ++k) {
    size_t i = r.band_edges[k];
    const LatLng& a = r.v[i];
    LatLng b = r.To(i);
    if ((a.lat > g.lat) == (b.lat > g.lat)) continue;
    double x = a.lng + (b.lng - a.lng) * (g.lat - a.lat) / (b.lat - a.lat);
    if (x > lng) inside = !inside;
  }
  return inside;
}

struct Box {
  double south, north, west, east;  // radians, west <= east
};

// Liang-Barsky: does segment a-b meet the box?
bool SegmentMeetsBox(LatLng a, LatLng b, const Box& box) {
  double t0 = 0, t1 = 1, dx = b.lng - a.lng, dy = b.lat - a.lat;
  const double p[4] = {-dx, dx, -dy, dy};
  const double q[4] = {a.lng - box.west, box.east - a.lng, a.lat - box.south, box.north - a.lat};
  for (int k = 0; k < 4; ++k) {
    if (p[k] == 0) {
      if (q[k] < 0) return false;
      continue;
    }
    double t = q[k] / p[k];
    if (p[k] < 0) {
      t0 = std::max(t0, t);
    } else {
      t1 = std::min(t1, t);
    }
    if (t0 > t1) return false;
  }
  return true;
}

class Filler {
 public:
  Filler(const std::vector<Polygon>& polygons, const std::function<bool()>& keep_going)
      : keep_going_(keep_going) {
    for (const Polygon& p : polygons) {
      std::vector<PreparedRing> rings;
      for (const Ring& r : p) {
        if (r.size() >= 3) rings.push_back(Prepare(r));
      }
      if (!rings.empty()) polygons_.push_back(std::move(rings));
    }
  }

  bool Contains(LatLng g) const {
    for (const auto& rings : polygons_) {
      if (!InRing(rings[0], g)) continue;
      bool in_hole = false;
      for (size_t h = 1; h < rings.size() && !in_hole; ++h) in_hole = InRing(rings[h], g);
      if (!in_hole) return true;
    }
    return false;
  }

  enum class Relation { kOutside, kInside, kCrossed };

  // How the region within `radius` of `center` relates to the polygons: crossed when an edge
  // passes through its bounding box (in each ring's own longitude reading), else the side its
  // centre is on.
  Relation Relate(LatLng center, double radius) {
    Box box = CapBox(center, radius);
    for (const auto& rings : polygons_) {
      for (const PreparedRing& r : rings) {
        if (Crosses(r, box)) return Relation::kCrossed;
      }
    }
    return Contains(center) ? Relation::kInside : Relation::kOutside;
  }

  // Whether to go on: false when the caller says stop or the search grew beyond its bounds.
  FillStatus Tick() {
    if (++ticks_ > kMaxVisits || work_ > kMaxEdgeTests) return FillStatus::kTooComplex;
    if (ticks_ % 256 == 0 || work_ > next_check_) {
      next_check_ = work_ + (1 << 20);
      if (!keep_going_()) return FillStatus::kStopped;
    }
    return FillStatus::kOk;
  }

 private:
  static Box CapBox(LatLng c, double radius) {
    Box b{c.lat - radius, c.lat + radius, -std::numbers::pi, std::numbers::pi};
    if (b.north >= std::numbers::pi / 2 || b.south <= -std::numbers::pi / 2) {
      b.north = std::min(b.north, std::numbers::pi / 2), b.south = std::max(b.south, -std::numbers::pi / 2);
      return b;  // around a pole: every longitude
    }
    double s = std::sin(radius) / std::cos(c.lat);
    if (s >= 1) return b;
    double half = std::asin(s);
    b.west = c.lng - half, b.east = c.lng + half;
    return b;
  }

  // The box as pieces within [-pi, pi], then as the ring reads longitudes.
  bool Crosses(const PreparedRing& r, const Box& box) {
    Box pieces[4];
    int n = 0;
    auto add = [&](Box b) {
      if (r.transmeridian && b.west < 0 && b.east > 0) {
        pieces[n++] = {b.south, b.north, b.west + 2 * std::numbers::pi, 2 * std::numbers::pi};
        pieces[n++] = {b.south, b.north, 0, b.east};
      } else {
        b.west = Shift(b.west, r.transmeridian);
        b.east = r.transmeridian && b.east <= 0 ? b.east + 2 * std::numbers::pi : b.east;
        pieces[n++] = b;
      }
    };
    if (box.west < -std::numbers::pi) {
      add({box.south, box.north, box.west + 2 * std::numbers::pi, std::numbers::pi});
      add({box.south, box.north, -std::numbers::pi, box.east});
    } else if (box.east > std::numbers::pi) {
      add({box.south, box.north, box.west, std::numbers::pi});
      add({box.south, box.north, -std::numbers::pi, box.east - 2 * std::numbers::pi});
    } else {
      add(box);
    }
    if (box.north < r.south || box.south > r.north) return false;
    size_t first = r.Band(box.south), last = r.Band(box.north);
    work_ += r.band_start[last + 1] - r.band_start[first];
    for (int k = 0; k < n; ++k) {
      for (uint32_t e = r.band_start[first]; e < r.band_start[last + 1]; ++e) {
        size_t i = r.band_edges[e];
        if (SegmentMeetsBox(r.v[i], r.To(i), pieces[k])) return true;
      }
    }
    return false;
  }

  const std::function<bool()>& keep_going_;
  std::vector<std::vector<PreparedRing>> polygons_;
  // Bounds on the search (a sliver thousands of kilometres long at resolution 15 has millions
  // of cells along its edges and no centre inside): a fraction of a second. A polygon of the
  // most cells allowed needs a few tens of thousands of visits.
  static constexpr uint64_t kMaxVisits = 1 << 19, kMaxEdgeTests = uint64_t{1} << 29;
  uint64_t work_ = 0, next_check_ = 1 << 20, ticks_ = 0;
};

// How far (radians) the centres of a cell's descendants can be from the cell's centre, with a
// factor of 2 to spare. In a face's hex plane a cell's circumradius is 1/sqrt(3) of the spacing
// of its resolution's centres, which is RES0_U_GNOMONIC / sqrt(7)^res gnomonic units; its
// descendants' centres stay within 1.06 circumradii (each level adds at most sqrt(3/7) of the
// previous, shrinking by sqrt(7)); and the gnomonic projection only stretches distances, so a
// distance on the sphere is at most the planar one.
double ReachRadius(int res) {
  double r = 2 * 0.38196601125010500003 / std::sqrt(3.0);
  for (int i = 0; i < res; ++i) r /= std::sqrt(7.0);
  return r;
}

}  // namespace

FillStatus PolygonToCells(const std::vector<Polygon>& polygons, int res, size_t max_cells,
                          const std::function<bool()>& keep_going, std::vector<Index>& out) {
  out.clear();
  Filler filler(polygons, keep_going);
  std::vector<Index> stack, children;
  for (int bc = kBaseCells - 1; bc >= 0; --bc) {
    stack.push_back(BaseCellIndex(bc));
  }
  while (!stack.empty()) {
    if (FillStatus s = filler.Tick(); s != FillStatus::kOk) return s;
    Index h = stack.back();
    stack.pop_back();
    LatLng center = CellToLatLng(h);
    if (Resolution(h) == res) {
      if (filler.Contains(center)) out.push_back(h);
    } else {
      switch (filler.Relate(center, ReachRadius(Resolution(h)))) {
        case Filler::Relation::kOutside:
          continue;
        case Filler::Relation::kInside:
          if (out.size() + ChildCount(h, res) > max_cells) return FillStatus::kTooMany;
          Children(h, res, out);
          continue;
        case Filler::Relation::kCrossed:
          children.clear();
          Children(h, Resolution(h) + 1, children);
          stack.insert(stack.end(), children.rbegin(), children.rend());
          continue;
      }
    }
    if (out.size() > max_cells) return FillStatus::kTooMany;
  }
  std::sort(out.begin(), out.end());
  return FillStatus::kOk;
}

}  // namespace cmk::kql::fn::h3
