// sample N (N rows picked uniformly at random, in input order) and sample-distinct N of C (the
// first N distinct values of C met; Kusto promises no particular ones). The random source is
// seeded from the query's injected now(), so a query is repeatable under a fixed clock.
#include <algorithm>
#include <random>
#include <set>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"

namespace cmk::kql {
namespace {

Status RunSampleDistinct(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  size_t want = static_cast<size_t>(node.limit);
  std::set<std::string> seen;
  Table out = EmptyTable(node.schema);
  MemoryReservation held(ctx.budget, "sample-distinct");
  std::string key;
  RETURN_IF_ERROR(Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    if (seen.size() >= want) return OkStatus();
    FunctionContext fctx{chunk.rows, ctx.now, ctx.budget};
    ASSIGN_OR_RETURN(ColumnValue v, Eval(node.exprs[0], chunk, fctx));
    const Column& c = v.get();
    for (size_t r = 0; r < chunk.rows && seen.size() < want; ++r) {
      key.clear();
      EncodeKey(c, r, key);
      if (!seen.insert(key).second) continue;
      out.columns[0].AppendFrom(c, r);
      ++out.rows;
      RETURN_IF_ERROR(held.Grow(key.size() + 48));
    }
    return OkStatus();
  }));
  if (out.rows == 0) return OkStatus();
  DropStringNulls(out.columns[0]);
  return sink(Chunk::Own(std::move(out)));
}

}  // namespace

Status RunSample(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  if (node.limit <= 0) return OkStatus();
  if (!node.exprs.empty()) return RunSampleDistinct(node, ctx, sink);
  MemoryReservation held(ctx.budget, "sample");
  ASSIGN_OR_RETURN(Table t, RunToTable(*node.inputs[0], ctx, &held));
  size_t n = std::min(t.rows, static_cast<size_t>(node.limit));
  if (n == 0) return OkStatus();
  if (n == t.rows) return sink(Chunk::Own(std::move(t)));
  // Partial Fisher-Yates over the row indexes: n uniform picks without repetition.
  RETURN_IF_ERROR(held.Grow(t.rows * sizeof(uint32_t)));
  std::vector<uint32_t> idx(t.rows);
  for (size_t i = 0; i < t.rows; ++i) idx[i] = static_cast<uint32_t>(i);
  std::mt19937_64 rng(static_cast<uint64_t>(ctx.now.time_since_epoch().count()));
  for (size_t i = 0; i < n; ++i) {
    std::uniform_int_distribution<size_t> pick(i, t.rows - 1);
    std::swap(idx[i], idx[pick(rng)]);
  }
  idx.resize(n);
  std::sort(idx.begin(), idx.end());
  return sink(Chunk::Own(GatherTable(t, idx)));
}

}  // namespace cmk::kql
