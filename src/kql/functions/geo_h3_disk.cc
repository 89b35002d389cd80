// H3 neighbours and grid disks: moving one cell in a direction is digit arithmetic on the index
// (a digit's neighbour may carry into the parent's digit, up to the base cell, which has its
// own neighbour table), with the rotations the reference library applies where base cells'
// coordinate systems differ and around pentagons' missing K axis. The disk is the reference's
// spiral walk, or where that meets a pentagon its breadth-limited traversal; both orders are
// kept because they are the order the cells are listed in.
//
// Derived from uber/h3 v4.1.0 (https://github.com/uber/h3), src/h3lib/lib/algos.c, Copyright
// 2016-2021 Uber Technologies, Inc., Apache License 2.0 (LICENSES/Apache-2.0.txt; see
// THIRD_PARTY_NOTICES.md). Rewritten in C++: Neighbor() and LeavePentagonK() follow
// h3NeighborRotations branch for branch, SpiralDisk() is gridDiskDistancesUnsafe's walk, and
// DiskWalk gives the order of _gridDiskDistancesInternal (computed differently, same result).
#include <array>
#include <climits>
#include <unordered_map>

#include "kql/functions/geo_h3_internal.h"

namespace cmk::kql::fn::h3 {
namespace {

// Walk order around a ring, and the step out to the next ring.
constexpr int kRingDirections[6] = {kJDigit, kJkDigit, kKDigit, kIkDigit, kIDigit, kIjDigit};
constexpr int kNextRing = kIDigit;
constexpr int kNoBaseCell = 127;

// For a digit at a Class II or Class III resolution moved one cell in a direction: the new
// digit, and the direction the parent must move in (0 for none). Computed from the aperture-7
// geometry: the moved child's parent and its offset from that parent's centre.
struct DigitMoves {
  int digit[2][7][7];
  int carry[2][7][7];
};
const DigitMoves& Moves() {
  static const DigitMoves moves = [] {
    DigitMoves m{};
    for (int cls = 0; cls < 2; ++cls) {
      for (int d = 0; d < 7; ++d) {
        for (int dir = 0; dir < 7; ++dir) {
          Ijk pos = Add(kUnitVecs[d], kUnitVecs[dir]), parent = pos;
          cls ? UpAp7(parent) : UpAp7r(parent);
          Ijk center = parent;
          cls ? DownAp7(center) : DownAp7r(center);
          m.digit[cls][d][dir] = UnitToDigit(Sub(pos, center));
          m.carry[cls][d][dir] = UnitToDigit(parent);
        }
      }
    }
    return m;
  }();
  return moves;
}

enum class Move { kOk, kPentagon, kFailed };

// Rotations needed after entering a pentagon base cell's deleted K subsequence.
Move LeavePentagonK(Index& h, int old_bc, int new_bc, int old_leading, int& rotations,
                    bool& adjusted) {
  if (old_bc != new_bc) {  // entered from another base cell: rotate out as that face needs
    h = IsCwOffsetFace(new_bc, HomeFace(old_bc)) ? RotateIndex60cw(h) : RotateIndex60ccw(h);
    adjusted = true;
    return Move::kOk;
  }
  if (old_leading == kCenterDigit) return Move::kPentagon;  // no K neighbour at the centre
  if (old_leading == kJkDigit) {
    h = RotateIndex60ccw(h);
    rotations += 1;
  } else if (old_leading == kIkDigit) {
    h = RotateIndex60cw(h);
    rotations += 5;
  } else {
    return Move::kFailed;
  }
  return Move::kOk;
}

// The neighbour of `h` in direction `dir` (rotated by `rotations`, which is updated with the
// coordinate rotations crossed).
Move Neighbor(Index h, int dir, int& rotations, Index& out) {
  rotations %= 6;
  for (int i = 0; i < rotations; ++i) dir = RotateDigitCcw(dir);
  int old_bc = BaseCellOf(h), old_leading = LeadingDigit(h), new_rotations = 0;
  Index cur = h;
  for (int r = Resolution(h) - 1;; --r) {
    if (r == -1) {
      int bc = kBaseCellNeighbors[old_bc * 7 + dir];
      new_rotations = kBaseCellNeighborRotations[old_bc * 7 + dir];
      if (bc == kNoBaseCell) {  // the pentagon's deleted K vertex: the edge borders IK's cell
        bc = kBaseCellNeighbors[old_bc * 7 + kIkDigit];
        new_rotations = kBaseCellNeighborRotations[old_bc * 7 + kIkDigit];
        cur = RotateIndex60ccw(cur);
        rotations += 1;
      }
      cur = WithBaseCell(cur, bc);
      break;
    }
    int old_digit = Digit(cur, r + 1);
    if (old_digit == kInvalidDigit) return Move::kFailed;
    int cls = IsClassIII(r + 1) ? 1 : 0;
    cur = WithDigit(cur, r + 1, Moves().digit[cls][old_digit][dir]);
    dir = Moves().carry[cls][old_digit][dir];
    if (dir == kCenterDigit) break;
  }
  int new_bc = BaseCellOf(cur);
  if (!IsPentagonBase(new_bc)) {
    for (int i = 0; i < new_rotations; ++i) cur = RotateIndex60ccw(cur);
  } else {
    bool adjusted = false;
    if (LeadingDigit(cur) == kKDigit) {
      Move m = LeavePentagonK(cur, old_bc, new_bc, old_leading, rotations, adjusted);
      if (m != Move::kOk) return m;
    }
    for (int i = 0; i < new_rotations; ++i) cur = RotatePentIndex60ccw(cur);
    if (old_bc != new_bc) {
      bool polar = new_bc == 4 || new_bc == 117;  // all their neighbours face them with i
      if (polar) {
        if (old_bc != 118 && old_bc != 8 && LeadingDigit(cur) != kJkDigit) rotations += 1;
      } else if (LeadingDigit(cur) == kIkDigit && !adjusted) {
        rotations += 1;  // the distortion the deleted subsequence puts on the 5 neighbour
      }
    }
  }
  rotations = (rotations + new_rotations) % 6;
  out = cur;
  return Move::kOk;
}

// The spiral walk: ring by ring, each ring's six sides in kRingDirections order. False when it
// meets a pentagon, whose distortion it cannot walk around.
bool SpiralDisk(Index origin, int k, std::vector<std::pair<Index, int>>& out) {
  out.push_back({origin, 0});
  if (IsPentagon(origin)) return false;
  int rotations = 0;
  for (int ring = 1; ring <= k; ++ring) {
    if (Neighbor(origin, kNextRing, rotations, origin) != Move::kOk || IsPentagon(origin)) {
      return false;
    }
    for (int side = 0; side < 6; ++side) {
      for (int pos = 0; pos < ring; ++pos) {
        if (Neighbor(origin, kRingDirections[side], rotations, origin) != Move::kOk) return false;
        out.push_back({origin, ring});
        if (IsPentagon(origin)) return false;
      }
    }
  }
  return true;
}

// The reference's fallback near pentagons (_gridDiskDistancesInternal) is a depth-first walk to
// distance k that re-enters a cell whenever it reaches it by a shorter path, storing cells in an
// open-addressing table keyed by index % size whose slot order is the output order. Walked as
// written, it re-enters cells so often that k = 142 took over two minutes. The same answer: a
// breadth-first pass finds the cells, their true distances (the walk's final distances) and
// their neighbours as small ids; the walk is then replayed on those ids with integer arrays only
// to learn the order in which cells are first stored, which fixes their slots under linear
// probing, and it stops as soon as every cell is stored.
class DiskWalk {
 public:
  DiskWalk(Index origin, int k, const std::function<bool()>& keep_going)
      : origin_(origin), k_(k), keep_going_(keep_going) {}

  // False when `keep_going` answered false.
  bool Run(std::vector<std::pair<Index, int>>& out) {
    if (!Explore() || !Replay()) return false;
    for (int id : slots_) {
      if (id >= 0) out.push_back({cells_[id], distance_[id]});
    }
    return true;
  }

 private:
  static constexpr int kNone = -1;

  bool Tick() { return (++steps_ & 1023) != 0 || keep_going_(); }

  int IdOf(Index h, int distance) {
    auto [it, added] = ids_.try_emplace(h, static_cast<int>(cells_.size()));
    if (added) {
      cells_.push_back(h);
      distance_.push_back(distance);
    }
    return it->second;
  }

  // Breadth first from the origin: ids in order of distance, and each cell's neighbours in
  // kRingDirections order (kNone off a pentagon) for the cells nearer than k.
  bool Explore() {
    IdOf(origin_, 0);
    for (size_t id = 0; id < cells_.size(); ++id) {
      if (!Tick()) return false;
      if (distance_[id] >= k_) break;
      std::array<int, 6> next;
      for (int i = 0; i < 6; ++i) {
        int rotations = 0;
        Index h;
        next[i] = Neighbor(cells_[id], kRingDirections[i], rotations, h) == Move::kOk
                      ? IdOf(h, distance_[id] + 1)
                      : kNone;
      }
      neighbors_.push_back(next);
    }
    return true;
  }

  static size_t FreeSlotFrom(std::vector<size_t>& free, size_t slot) {
    while (free[slot] != slot) {
      free[slot] = free[free[slot]];
      slot = free[slot];
    }
    return slot;
  }

  // The reference's walk on ids, until every cell has its slot.
  bool Replay() {
    size_t size = 3 * static_cast<size_t>(k_) * static_cast<size_t>(k_ + 1) + 1;
    slots_.assign(size, kNone);
    // Linear probing's "first empty slot from here", as a union-find over the slots: a full
    // slot points at the next one, so long runs of full slots are crossed once.
    std::vector<size_t> free(size);
    for (size_t i = 0; i < size; ++i) free[i] = i;
    std::vector<int> best(cells_.size(), INT_MAX);
    size_t stored = 0;
    struct Frame {
      int id, distance, next_dir;
    };
    std::vector<Frame> stack;
    auto enter = [&](int id, int d) {
      if (best[id] <= d) return;
      if (best[id] == INT_MAX) {
        size_t slot = FreeSlotFrom(free, cells_[id] % size);
        slots_[slot] = id;
        free[slot] = (slot + 1) % size;
        ++stored;
      }
      best[id] = d;
      if (d < k_) stack.push_back({id, d, 0});
    };
    enter(0, 0);
    while (!stack.empty() && stored < cells_.size()) {
      if (!Tick()) return false;
      Frame& f = stack.back();
      if (f.next_dir == 6) {
        stack.pop_back();
        continue;
      }
      int next = neighbors_[f.id][f.next_dir++];
      if (next != kNone) enter(next, f.distance + 1);
    }
    return true;
  }

  Index origin_;
  int k_;
  const std::function<bool()>& keep_going_;
  uint64_t steps_ = 0;
  std::vector<Index> cells_;
  std::vector<int> distance_;
  std::vector<std::array<int, 6>> neighbors_;
  std::unordered_map<Index, int> ids_;
  std::vector<int> slots_;  // ids in table slot order
};

}  // namespace

bool GridDiskDistances(Index origin, int k, const std::function<bool()>& keep_going,
                       std::vector<std::pair<Index, int>>& out) {
  out.clear();
  if (SpiralDisk(origin, k, out)) return true;
  out.clear();
  return DiskWalk(origin, k, keep_going).Run(out);
}

}  // namespace cmk::kql::fn::h3
