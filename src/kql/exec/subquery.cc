// Operators that run a subquery over parts of their input: mv-apply (once per input row, over
// that row's expansion) and partition (once per value of the key). The subquery's plan reads
// its rows from a kSubInput leaf, which hands out ExecContext::subquery_input; each run gets
// its own copy of the context, so subqueries nest.
#include <algorithm>
#include <map>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"

namespace cmk::kql {
Result<Table> RunOver(const PlanNode& sub, const Table& rows, const ExecContext& ctx,
                      MemoryReservation* held) {
  ExecContext inner = ctx;
  inner.subquery_input = &rows;
  return RunToTable(sub, inner, held);
}

Status RunSubInput(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  if (ctx.subquery_input == nullptr) return Internal("a subquery ran without its input");
  const Table& rows = *ctx.subquery_input;
  if (rows.rows == 0) return OkStatus();
  (void)node;
  // A large input goes in slices, as a scan's rows do: what the subquery's operators build per
  // chunk (a summarize's group of each row) stays a slice's size.
  constexpr size_t kSlice = 64 * 1024;
  if (rows.rows <= kSlice) return sink(Chunk::View(rows));
  Chunk all = Chunk::View(rows);
  std::vector<uint32_t> idx;
  for (size_t begin = 0; begin < rows.rows; begin += kSlice) {
    idx.resize(std::min(rows.rows - begin, kSlice));
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = static_cast<uint32_t>(begin + i);
    RETURN_IF_ERROR(sink(GatherChunk(all, idx)));
  }
  return OkStatus();
}

// Each input row is one subtable (the subquery's plan expands it first); the subquery's rows
// come out with the outer row's columns the subquery did not produce itself.
Status RunMvApply(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  const PlanNode& sub = *node.inputs[1];
  return Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    MemoryReservation held(ctx.budget, "mv-apply");
    Table out = EmptyTable(node.schema);
    for (size_t r = 0; r < chunk.rows; ++r) {
      RETURN_IF_ERROR(CheckBudget(ctx));
      Table row = GatherTable(chunk, {static_cast<uint32_t>(r)});
      MemoryReservation sub_held(ctx.budget, "mv-apply");
      ASSIGN_OR_RETURN(Table res, RunOver(sub, row, ctx, &sub_held));
      if (res.rows == 0) continue;
      for (size_t c = 0; c < node.schema.size(); ++c) {
        if (node.apply_cols[c] >= 0) {
          AppendRows(out.columns[c], res.columns[static_cast<size_t>(node.apply_cols[c])], res.rows);
        } else {
          const Column& outer = chunk.col(static_cast<size_t>(node.outer_cols[c]));
          for (size_t i = 0; i < res.rows; ++i) out.columns[c].AppendFrom(outer, r);
        }
      }
      out.rows += res.rows;
      RETURN_IF_ERROR(held.Grow(ApproxBytes(res)));
    }
    if (out.rows == 0) return OkStatus();
    for (Column& c : out.columns) DropStringNulls(c);
    return sink(Chunk::Own(std::move(out)));
  });
}

// The input is materialized and split by the key (in order of first appearance); the
// subquery's outputs are concatenated.
Status RunPartition(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  MemoryReservation held(ctx.budget, "partition");
  ASSIGN_OR_RETURN(Table t, RunToTable(*node.inputs[0], ctx, &held));
  if (t.rows == 0) return OkStatus();
  ASSIGN_OR_RETURN(std::vector<ColumnValue> keys, EvalKeys(node.exprs, Chunk::View(t), ctx));
  std::map<std::string, size_t> index;
  std::vector<std::vector<uint32_t>> groups;
  std::string key;
  for (size_t r = 0; r < t.rows; ++r) {
    if (BudgetDue(ctx)) RETURN_IF_ERROR(CheckBudget(ctx));
    key.clear();
    EncodeKey(keys[0].get(), r, key);
    auto [it, added] = index.emplace(key, groups.size());
    if (added) groups.emplace_back();
    groups[it->second].push_back(static_cast<uint32_t>(r));
  }
  RETURN_IF_ERROR(held.Grow(t.rows * (sizeof(uint32_t) + 16)));
  for (const std::vector<uint32_t>& rows : groups) {
    RETURN_IF_ERROR(CheckBudget(ctx));
    Table part = GatherTable(t, rows);
    MemoryReservation part_held(ctx.budget, "partition");
    RETURN_IF_ERROR(part_held.Grow(ApproxBytes(part)));
    ASSIGN_OR_RETURN(Table res, RunOver(*node.inputs[1], part, ctx, &part_held));
    if (res.rows > 0) RETURN_IF_ERROR(sink(Chunk::Own(std::move(res))));
  }
  return OkStatus();
}

}  // namespace cmk::kql
