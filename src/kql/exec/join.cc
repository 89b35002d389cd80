// join and lookup: a hash join that builds on the right side (innerunique, inner, outer, anti
// and semi kinds).
#include <algorithm>
#include <unordered_map>

#include "kql/exec/eval.h"
#include "kql/exec/exec.h"
#include "kql/exec/operators.h"

namespace cmk::kql {
namespace {

// Rows of `src` by `idx`, where -1 stands for a null row (outer joins); `plain`: `idx` as
// row numbers when it holds no -1 (gathered as they are: a coded column stays coded).
Column GatherOrNull(const Column& src, const std::vector<int64_t>& idx, const std::vector<uint32_t>* plain) {
  Column out(src.type);
  if (plain != nullptr) {
    out = Gather(src, *plain);
    DropStringNulls(out);
    return out;
  }
  out.Reserve(idx.size());
  for (int64_t i : idx) {
    if (i < 0) {
      out.AppendNull();
    } else {
      out.AppendFrom(src, static_cast<size_t>(i));
    }
  }
  DropStringNulls(out);
  return out;
}

// Encoded key of `row`, or false when a key is null (null keys never match).
template <typename Cols>
bool KeyOf(const Cols& col_at, const std::vector<int>& cols, size_t row, std::string& out) {
  out.clear();
  for (int c : cols) {
    const Column& col = col_at(static_cast<size_t>(c));
    if (col.IsNull(row)) return false;
    EncodeKey(col, row, out);
  }
  return true;
}

struct Matches {
  std::vector<int64_t> left, right;
};

// Rows emitted between two charges of the output being built (and deadline checks).
constexpr size_t kCheckEvery = 64 * 1024;

// The right side's rows by key (built once), probed by the left side chunk by chunk: the left
// streams, only the right side is held.
class Probe {
 public:
  Probe(const PlanNode& node, const Table& right, const ExecContext& ctx, MemoryReservation& held)
      : node_(node), right_(right), ctx_(ctx), held_(held), right_hit_(right.rows, 0) {}

  Status Build() {
    std::string key;
    auto cols = [&](size_t c) -> const Column& { return right_.columns[c]; };
    for (size_t r = 0; r < right_.rows; ++r) {
      if (KeyOf(cols, node_.right_keys, r, key)) {
        auto [it, inserted] = build_.try_emplace(key);
        if (inserted) build_bytes_ += key.size() + 96;  // node, bucket, vector
        it->second.push_back(static_cast<uint32_t>(r));
      }
      if (r % kCheckEvery == kCheckEvery - 1) {
        RETURN_IF_ERROR(held_.Resize(build_bytes_ + r * sizeof(uint32_t)));
        RETURN_IF_ERROR(CheckBudget(ctx_));
      }
    }
    build_bytes_ += right_.rows * (sizeof(uint32_t) + 1);  // row ids, right_hit
    return held_.Resize(build_bytes_);
  }

  // The matches of a left chunk's rows; `out_row_bytes` per matched row is charged as the
  // output grows (a 100k x 100k join on one key fails here instead of allocating 10^10).
  Result<Matches> Left(const Chunk& left, size_t out_row_bytes) {
    Matches m;
    size_t next_check = kCheckEvery;
    auto check_output = [&]() -> Status {
      size_t rows = std::max(m.left.size(), m.right.size());
      if (rows < next_check) return OkStatus();
      next_check = rows + kCheckEvery;
      RETURN_IF_ERROR(held_.Resize(build_bytes_ + seen_bytes_ + rows * out_row_bytes));
      return CheckBudget(ctx_);
    };
    JoinKind kind = node_.join_kind;
    std::string key;
    auto cols = [&](size_t c) -> const Column& { return left.col(c); };
    const Column* coded = EntryProbes(left);
    if (coded != nullptr) std::fill(entry_taken_.begin(), entry_taken_.end(), 0);
    for (size_t r = 0; r < left.rows; ++r) {
      if (std::max(m.left.size(), m.right.size()) >= next_check) RETURN_IF_ERROR(check_output());
      if (BudgetDue(ctx_)) RETURN_IF_ERROR(ctx_.budget->Check());
      const std::vector<uint32_t>* hits = nullptr;
      if (coded != nullptr) {  // the row's key is its dictionary entry's, probed once
        if (coded->IsNull(r)) {
          if (kind == JoinKind::kInnerUnique) continue;
        } else {
          Code c = coded->codes[r];
          if (kind == JoinKind::kInnerUnique) {
            if (entry_taken_[c] != 0) continue;
            entry_taken_[c] = 1;
            key.clear();
            EncodeStringKey((*coded->dict)[c], key);
            if (!seen_left_.emplace(key, true).second) continue;
            seen_bytes_ += key.size() + 64;
          }
          hits = entry_hits_[c];
        }
      } else if (KeyOf(cols, node_.left_keys, r, key)) {
        if (kind == JoinKind::kInnerUnique) {  // the first left row per key, over every chunk
          if (!seen_left_.emplace(key, true).second) continue;
          seen_bytes_ += key.size() + 64;
        }
        auto it = build_.find(key);
        if (it != build_.end()) hits = &it->second;
      } else if (kind == JoinKind::kInnerUnique) {
        continue;
      }
      if (hits != nullptr) {
        for (uint32_t h : *hits) right_hit_[h] = 1;
      }
      switch (kind) {
        case JoinKind::kLeftAnti:
          if (hits == nullptr) m.left.push_back(static_cast<int64_t>(r));
          break;
        case JoinKind::kLeftSemi:
          if (hits != nullptr) m.left.push_back(static_cast<int64_t>(r));
          break;
        case JoinKind::kRightAnti:
        case JoinKind::kRightSemi:
          break;
        default:
          if (hits != nullptr) {
            for (uint32_t h : *hits) {
              RETURN_IF_ERROR(check_output());
              m.left.push_back(static_cast<int64_t>(r));
              m.right.push_back(h);
            }
          } else if (kind == JoinKind::kLeftOuter || kind == JoinKind::kFullOuter) {
            m.left.push_back(static_cast<int64_t>(r));
            m.right.push_back(-1);
          }
      }
    }
    RETURN_IF_ERROR(held_.Resize(build_bytes_ + seen_bytes_));
    return m;
  }

  // After the last left chunk: the right rows the kind emits on their own (anti, semi, outer).
  Result<Matches> RightRows(size_t out_row_bytes) {
    Matches m;
    JoinKind kind = node_.join_kind;
    for (size_t r = 0; r < right_.rows; ++r) {
      if (r % kCheckEvery == kCheckEvery - 1) {
        RETURN_IF_ERROR(held_.Resize(build_bytes_ + seen_bytes_ + m.right.size() * out_row_bytes));
        RETURN_IF_ERROR(CheckBudget(ctx_));
      }
      bool hit = right_hit_[r] != 0;
      if ((kind == JoinKind::kRightAnti && !hit) || (kind == JoinKind::kRightSemi && hit)) {
        m.right.push_back(static_cast<int64_t>(r));
      } else if ((kind == JoinKind::kRightOuter || kind == JoinKind::kFullOuter) && !hit) {
        m.left.push_back(-1);
        m.right.push_back(static_cast<int64_t>(r));
      }
    }
    return m;
  }

 private:
  // A left chunk keyed by one dictionary-coded column (no larger a dictionary than its rows):
  // each entry's matches, looked up once for the chunk's rows (entry_hits_), and that column;
  // else null. Chunks of one block share its dictionary: looked up once for them all.
  const Column* EntryProbes(const Chunk& left) {
    if (node_.left_keys.size() != 1) return nullptr;
    const Column& c = left.col(static_cast<size_t>(node_.left_keys[0]));
    if (c.constant || !c.coded() || c.dict->size() > left.rows) return nullptr;
    if (c.dict != probed_dict_) {
      probed_dict_ = c.dict;  // held, so that its address is not reused while cached
      entry_hits_.assign(c.dict->size(), nullptr);
      std::string key;
      for (size_t e = 0; e < c.dict->size(); ++e) {
        key.clear();
        EncodeStringKey((*c.dict)[e], key);
        auto it = build_.find(key);
        if (it != build_.end()) entry_hits_[e] = &it->second;
      }
      entry_taken_.assign(c.dict->size(), 0);
    }
    return &c;
  }

  const PlanNode& node_;
  const Table& right_;
  const ExecContext& ctx_;
  MemoryReservation& held_;
  std::unordered_map<std::string, std::vector<uint32_t>> build_;
  size_t build_bytes_ = 0, seen_bytes_ = 0;
  std::vector<uint8_t> right_hit_;
  std::unordered_map<std::string, bool> seen_left_;  // innerunique
  std::shared_ptr<const std::vector<std::string>> probed_dict_;
  std::vector<const std::vector<uint32_t>*> entry_hits_;
  std::vector<uint8_t> entry_taken_;  // innerunique: the chunk's first row of an entry was seen
};

}  // namespace

// The right side is held and indexed; the left streams through it, each chunk's matches sent
// on as they are found (in the left's order), then the right rows the kind adds. A large left
// side (a table's every row against a few keys) costs no memory beyond a chunk.
Status RunJoin(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  MemoryReservation held(ctx.budget, "join");
  ASSIGN_OR_RETURN(Table right, RunToTableUntil(*node.inputs[1], ctx, &held, nullptr, /*keep_constants=*/true));
  MemoryReservation probing(ctx.budget, "join");
  Probe probe(node, right, ctx, probing);
  RETURN_IF_ERROR(probe.Build());
  size_t right_row = right.rows == 0 ? 0 : ApproxBytes(right) / right.rows;
  bool right_only = node.join_kind == JoinKind::kRightAnti || node.join_kind == JoinKind::kRightSemi;
  bool left_only = node.join_kind == JoinKind::kLeftAnti || node.join_kind == JoinKind::kLeftSemi;
  const Schema& left_schema = node.inputs[0]->schema;
  // The output of some matches: the left columns (from `left`, absent for the right's own rows)
  // then the right's.
  auto emit = [&](const Chunk* left, const Matches& m) -> Status {
    Table out;
    out.rows = right_only ? m.right.size() : m.left.size();
    if (out.rows == 0) return OkStatus();
    if (left_only && left != nullptr && m.left.size() == left->rows) {
      // Every row of the chunk, in order (an anti join's usual answer): passed on as it is.
      Chunk all;
      all.rows = left->rows;
      for (size_t c = 0; c < left->width(); ++c) all.AddShared(left->shared(c));
      return sink(std::move(all));
    }
    size_t col = 0;
    // Each side's rows as plain row numbers when they hold no null row.
    std::vector<uint32_t> left_rows, right_rows;
    auto plain = [](const std::vector<int64_t>& idx, std::vector<uint32_t>& rows) -> const std::vector<uint32_t>* {
      if (std::any_of(idx.begin(), idx.end(), [](int64_t i) { return i < 0; })) return nullptr;
      rows.assign(idx.begin(), idx.end());
      return &rows;
    };
    const std::vector<uint32_t>* lp = left != nullptr && !right_only ? plain(m.left, left_rows) : nullptr;
    const std::vector<uint32_t>* rp = !left_only ? plain(m.right, right_rows) : nullptr;
    if (!right_only) {
      for (size_t c = 0; c < left_schema.size(); ++c) {
        if (left != nullptr) {
          out.AddColumn(node.schema[col++].name, GatherOrNull(left->col(c), m.left, lp));
        } else {
          Column nulls(left_schema[c].type);
          for (size_t r = 0; r < m.left.size(); ++r) nulls.AppendNull();
          DropStringNulls(nulls);
          out.AddColumn(node.schema[col++].name, std::move(nulls));
        }
      }
    }
    if (right_only) {
      for (const Column& c : right.columns) out.AddColumn(node.schema[col++].name, GatherOrNull(c, m.right, rp));
    } else if (!left_only) {
      for (int c : node.right_out) {
        out.AddColumn(node.schema[col++].name, GatherOrNull(right.columns[static_cast<size_t>(c)], m.right, rp));
      }
    }
    return sink(Chunk::Own(std::move(out)));
  };
  RETURN_IF_ERROR(Run(*node.inputs[0], ctx, [&](Chunk&& left) -> Status {
    if (left.rows == 0) return OkStatus();
    size_t left_row = ApproxBytes(left) / left.rows;
    ASSIGN_OR_RETURN(Matches m, probe.Left(left, 2 * sizeof(int64_t) + left_row + right_row));
    if (right_only) return OkStatus();
    return emit(&left, m);
  }));
  ASSIGN_OR_RETURN(Matches rest, probe.RightRows(2 * sizeof(int64_t) + right_row));
  return emit(nullptr, rest);
}

}  // namespace cmk::kql
