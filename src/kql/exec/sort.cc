// sort and top, and SortPermutation (the comparison of sort keys under the query's deadline).
#include <algorithm>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"

namespace cmk::kql {
namespace {

// Thrown by a sort comparator whose query ran out of time; caught by SortPermutation.
struct SortAborted {};

}  // namespace

Result<std::vector<uint32_t>> SortPermutation(const std::vector<const Column*>& keys, const PlanNode& node,
                                              size_t rows, size_t limit, const ExecContext& ctx) {
  std::vector<uint32_t> perm(rows);
  for (size_t i = 0; i < rows; ++i) perm[i] = static_cast<uint32_t>(i);
  Status aborted;
  QueryBudget* budget = ctx.budget;
  uint32_t ticks = 0;  // a local counter stays in a register: the check costs ~nothing per compare
  auto less = [&](uint32_t a, uint32_t b) {
    // std::sort cannot be interrupted by a return value: the deadline check throws instead.
    if ((++ticks & 0xFFFF) == 0 && budget != nullptr) {
      if (Status s = budget->Check(); !s.ok()) {
        aborted = std::move(s);
        throw SortAborted{};
      }
    }
    for (size_t k = 0; k < keys.size(); ++k) {
      const Column& c = *keys[k];
      bool na = c.IsNull(a), nb = c.IsNull(b);
      if (na || nb) {
        if (na && nb) continue;
        return na ? static_cast<bool>(node.nulls_first[k]) : !node.nulls_first[k];
      }
      int r = CompareValues(c, a, c, b);
      if (r != 0) return node.ascending[k] ? r < 0 : r > 0;
    }
    return a < b;  // stable
  };
  try {
    if (limit < rows) {
      std::partial_sort(perm.begin(), perm.begin() + static_cast<ptrdiff_t>(limit), perm.end(), less);
      perm.resize(limit);
    } else {
      std::sort(perm.begin(), perm.end(), less);
    }
  } catch (const SortAborted&) {
    return aborted;
  }
  return perm;
}

Status RunSort(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  MemoryReservation held(ctx.budget, "sort");
  ASSIGN_OR_RETURN(Table t, RunToTable(*node.inputs[0], ctx, &held));
  if (t.rows == 0) return OkStatus();
  ASSIGN_OR_RETURN(std::vector<ColumnValue> keys, EvalKeys(node.exprs, Chunk::View(t), ctx));
  size_t limit = node.kind == NodeKind::kTop ? static_cast<size_t>(std::max<int64_t>(0, node.limit)) : t.rows;
  // The permutation, then the sorted copy of the rows.
  RETURN_IF_ERROR(held.Grow(t.rows * sizeof(uint32_t) + ApproxBytes(t)));
  ASSIGN_OR_RETURN(std::vector<uint32_t> perm, SortPermutation(Pointers(keys), node, t.rows, limit, ctx));
  return sink(Chunk::Own(GatherTable(t, perm)));
}

// top N: selects each chunk's best N row indices over the shared columns and gathers only
// those rows, then sorts what is left.
Status RunTop(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  size_t n = static_cast<size_t>(std::max<int64_t>(0, node.limit));
  Table acc = EmptyTable(node.schema);
  MemoryReservation held(ctx.budget, "top");
  RETURN_IF_ERROR(Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    if (n == 0) return OkStatus();
    if (chunk.rows > n) {
      ASSIGN_OR_RETURN(std::vector<ColumnValue> keys, EvalKeys(node.exprs, chunk, ctx));
      ASSIGN_OR_RETURN(std::vector<uint32_t> best, SortPermutation(Pointers(keys), node, chunk.rows, n, ctx));
      chunk = GatherChunk(chunk, best);
    }
    RETURN_IF_ERROR(held.Grow(ApproxBytes(chunk)));
    AppendTable(acc, std::move(chunk));
    return OkStatus();
  }));
  if (acc.rows == 0) return OkStatus();
  ASSIGN_OR_RETURN(std::vector<ColumnValue> keys, EvalKeys(node.exprs, Chunk::View(acc), ctx));
  ASSIGN_OR_RETURN(std::vector<uint32_t> perm, SortPermutation(Pointers(keys), node, acc.rows, n, ctx));
  return sink(Chunk::Own(GatherTable(acc, perm)));
}

}  // namespace cmk::kql
