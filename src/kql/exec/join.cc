// join and lookup: a hash join that builds on the right side (innerunique, inner, outer, anti
// and semi kinds).
#include <algorithm>
#include <unordered_map>

#include "kql/exec/eval.h"
#include "kql/exec/exec.h"
#include "kql/exec/operators.h"

namespace cmk::kql {
namespace {

// Rows of `src` by `idx`, where -1 stands for a null row (outer joins).
Column GatherOrNull(const Column& src, const std::vector<int64_t>& idx) {
  Column out(src.type);
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
bool KeyOf(const Table& t, const std::vector<int>& cols, size_t row, std::string& out) {
  out.clear();
  for (int c : cols) {
    const Column& col = t.columns[static_cast<size_t>(c)];
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

// Matches the rows; `held` is charged for the hash table and for the output as it grows:
// `out_row_bytes` per matched row (the gathered columns plus the two indexes).
Result<Matches> Match(const PlanNode& node, const Table& left, const Table& right, size_t out_row_bytes,
                      const ExecContext& ctx, MemoryReservation& held) {
  std::unordered_map<std::string, std::vector<uint32_t>> build;
  std::string key;
  size_t build_bytes = 0;
  for (size_t r = 0; r < right.rows; ++r) {
    if (KeyOf(right, node.right_keys, r, key)) {
      auto [it, inserted] = build.try_emplace(key);
      if (inserted) build_bytes += key.size() + 96;  // node, bucket, vector
      it->second.push_back(static_cast<uint32_t>(r));
    }
    if (r % kCheckEvery == kCheckEvery - 1) {
      RETURN_IF_ERROR(held.Resize(build_bytes + r * sizeof(uint32_t)));
      RETURN_IF_ERROR(CheckBudget(ctx));
    }
  }
  build_bytes += right.rows * (sizeof(uint32_t) + 1);  // row ids, right_hit
  RETURN_IF_ERROR(held.Resize(build_bytes));
  Matches m;
  size_t next_check = kCheckEvery;
  // Charges the output every kCheckEvery rows (a 100k x 100k join on one key fails here
  // instead of allocating 10^10 matches).
  auto check_output = [&]() -> Status {
    size_t rows = std::max(m.left.size(), m.right.size());
    if (rows < next_check) return OkStatus();
    next_check = rows + kCheckEvery;
    RETURN_IF_ERROR(held.Resize(build_bytes + rows * out_row_bytes));
    return CheckBudget(ctx);
  };
  JoinKind kind = node.join_kind;
  std::vector<uint8_t> right_hit(right.rows, 0);
  std::unordered_map<std::string, bool> seen_left;  // innerunique: first left row per key
  for (size_t r = 0; r < left.rows; ++r) {
    if (std::max(m.left.size(), m.right.size()) >= next_check) RETURN_IF_ERROR(check_output());
    if (BudgetDue(ctx)) RETURN_IF_ERROR(ctx.budget->Check());
    const std::vector<uint32_t>* hits = nullptr;
    if (KeyOf(left, node.left_keys, r, key)) {
      if (kind == JoinKind::kInnerUnique && !seen_left.emplace(key, true).second) continue;
      auto it = build.find(key);
      if (it != build.end()) hits = &it->second;
    } else if (kind == JoinKind::kInnerUnique) {
      continue;
    }
    if (hits != nullptr) {
      for (uint32_t h : *hits) right_hit[h] = 1;
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
  for (size_t r = 0; r < right.rows; ++r) {
    if (std::max(m.left.size(), m.right.size()) >= next_check) RETURN_IF_ERROR(check_output());
    if (BudgetDue(ctx)) RETURN_IF_ERROR(ctx.budget->Check());
    bool hit = right_hit[r] != 0;
    if ((kind == JoinKind::kRightAnti && !hit) || (kind == JoinKind::kRightSemi && hit)) {
      m.right.push_back(static_cast<int64_t>(r));
    } else if ((kind == JoinKind::kRightOuter || kind == JoinKind::kFullOuter) && !hit) {
      m.left.push_back(-1);
      m.right.push_back(static_cast<int64_t>(r));
    }
  }
  return m;
}

}  // namespace

Status RunJoin(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  MemoryReservation held(ctx.budget, "join");
  ASSIGN_OR_RETURN(Table left, RunToTable(*node.inputs[0], ctx, &held));
  ASSIGN_OR_RETURN(Table right, RunToTable(*node.inputs[1], ctx, &held));
  auto per_row = [](const Table& t) { return t.rows == 0 ? 0 : ApproxBytes(t) / t.rows; };
  size_t out_row_bytes = 2 * sizeof(int64_t) + per_row(left) + per_row(right);
  MemoryReservation matching(ctx.budget, "join");
  ASSIGN_OR_RETURN(Matches m, Match(node, left, right, out_row_bytes, ctx, matching));
  bool right_only = node.join_kind == JoinKind::kRightAnti || node.join_kind == JoinKind::kRightSemi;
  bool left_only = node.join_kind == JoinKind::kLeftAnti || node.join_kind == JoinKind::kLeftSemi;
  Table out;
  out.rows = right_only ? m.right.size() : m.left.size();
  if (out.rows == 0) return OkStatus();
  size_t col = 0;
  if (!right_only) {
    for (const Column& c : left.columns) out.AddColumn(node.schema[col++].name, GatherOrNull(c, m.left));
  }
  if (right_only) {
    for (const Column& c : right.columns) out.AddColumn(node.schema[col++].name, GatherOrNull(c, m.right));
  } else if (!left_only) {
    for (int c : node.right_out) {
      out.AddColumn(node.schema[col++].name, GatherOrNull(right.columns[static_cast<size_t>(c)], m.right));
    }
  }
  return sink(Chunk::Own(std::move(out)));
}

}  // namespace cmk::kql
