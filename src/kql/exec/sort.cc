// sort and top, and SortPermutation (the comparison of sort keys under the query's deadline).
#include <algorithm>
#include <cmath>

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

namespace {

// `top N by X` straight over a table scan, X a number or datetime column with nulls last: the
// N-th best X, from a scan of X alone, so that the full scan may skip every block without a row
// as good (late materialization: a wide table's other columns are read for a few blocks only).
// nullopt when the plan has another shape or fewer than N rows have a value.
using MaybeBound = std::optional<ScanRequest::ValueBound>;

Result<MaybeBound> TopBound(const PlanNode& node, size_t n, const ExecContext& ctx) {
  const PlanNode& in = *node.inputs[0];
  if (in.kind != NodeKind::kScan || node.exprs.empty() || n == 0 || node.nulls_first[0]) return MaybeBound();
  const BoundExpr& key = node.exprs[0];
  if (key.kind != BoundExpr::Kind::kColumn) return MaybeBound();
  const ColumnSchema& col = in.schema[static_cast<size_t>(key.column)];
  bool real = UsesReals(col.type);
  if (!real && !UsesInts(col.type)) return MaybeBound();
  bool desc = !node.ascending[0];
  // The best n values seen: a heap whose top is the worst of them.
  std::vector<double> reals;
  std::vector<int64_t> ints;
  bool saw_nan = false;
  auto worse_d = [desc](double a, double b) { return desc ? a > b : a < b; };
  auto worse_i = [desc](int64_t a, int64_t b) { return desc ? a > b : a < b; };
  ScanRequest narrow = in.scan;
  narrow.columns = {col.name};
  narrow.best = ScanRequest::Best{col.name, desc, real, n};
  RETURN_IF_ERROR(ctx.catalog->Scan(narrow, [&](std::shared_ptr<const Table> chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    int i = chunk->Find(col.name);
    if (i < 0 || chunk->columns[static_cast<size_t>(i)].type != col.type) return OkStatus();
    const Column& c = chunk->columns[static_cast<size_t>(i)];
    Extreme best = ColumnExtreme(c, chunk->rows, desc);
    saw_nan = saw_nan || best.nan;
    if (!best.any) return OkStatus();
    // Full already, and nothing here beats the worst kept value: one pass was enough.
    if (real ? reals.size() == n && !worse_d(best.d, reals.front()) : ints.size() == n && !worse_i(best.i, ints.front())) {
      return OkStatus();
    }
    for (size_t r = 0; r < chunk->rows; ++r) {
      if (c.IsNull(r)) continue;
      if (real) {
        double v = c.Real(r);
        if (std::isnan(v)) {  // NaN has no place in the order: no bound (as before)
          saw_nan = true;
          continue;
        }
        if (reals.size() < n) {
          reals.push_back(v);
          std::push_heap(reals.begin(), reals.end(), worse_d);
        } else if (worse_d(v, reals.front())) {
          std::pop_heap(reals.begin(), reals.end(), worse_d);
          reals.back() = v;
          std::push_heap(reals.begin(), reals.end(), worse_d);
        }
      } else {
        int64_t v = c.Int(r);
        if (ints.size() < n) {
          ints.push_back(v);
          std::push_heap(ints.begin(), ints.end(), worse_i);
        } else if (worse_i(v, ints.front())) {
          std::pop_heap(ints.begin(), ints.end(), worse_i);
          ints.back() = v;
          std::push_heap(ints.begin(), ints.end(), worse_i);
        }
      }
    }
    return OkStatus();
  }));
  if (saw_nan || (real ? reals.size() : ints.size()) < n) return MaybeBound();
  ScanRequest::ValueBound b;
  b.column = col.name;
  b.lower = desc;
  b.real = real;
  if (real) b.d = reals.front();
  else b.i = ints.front();
  return MaybeBound(std::move(b));
}

}  // namespace

// top N: selects each chunk's best N row indices over the shared columns and gathers only
// those rows, then sorts what is left. Over a scan, blocks that cannot hold a top row are
// skipped first (TopBound).
Status RunTop(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  size_t n = static_cast<size_t>(std::max<int64_t>(0, node.limit));
  Table acc = EmptyTable(node.schema);
  MemoryReservation held(ctx.budget, "top");
  ASSIGN_OR_RETURN(MaybeBound bound, TopBound(node, n, ctx));
  PlanNode bounded;  // the input scan with the bound
  bool use_bound = bound.has_value();
  if (use_bound) {
    const PlanNode& in = *node.inputs[0];
    bounded.kind = in.kind;
    bounded.schema = in.schema;
    bounded.name = in.name;
    bounded.height = in.height;
    bounded.scan = in.scan;
    bounded.scan.bound = std::move(bound);
  }
  RETURN_IF_ERROR(Run(use_bound ? bounded : *node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
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
