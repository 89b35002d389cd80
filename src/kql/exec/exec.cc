// Run: hands each plan node to its operator family (operators.h); RunToTable materializes a
// node's output under the query's budget.
#include "kql/exec/exec.h"

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"

namespace cmk::kql {

Result<std::vector<ColumnValue>> EvalKeys(const std::vector<BoundExpr>& exprs, const Chunk& t,
                                          const ExecContext& ctx) {
  std::vector<ColumnValue> keys;
  FunctionContext fctx{t.rows, ctx.now, ctx.budget};
  for (const BoundExpr& e : exprs) {
    ASSIGN_OR_RETURN(ColumnValue v, Eval(e, t, fctx));
    keys.push_back(std::move(v));
  }
  return keys;
}

std::vector<const Column*> Pointers(const std::vector<ColumnValue>& cols) {
  std::vector<const Column*> out;
  for (const ColumnValue& c : cols) out.push_back(&c.get());
  return out;
}

Status Run(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  switch (node.kind) {
    case NodeKind::kScan: return RunScan(node, ctx, sink);
    case NodeKind::kValues: return RunValues(node, ctx, sink);
    case NodeKind::kFilter: return RunFilter(node, ctx, sink);
    case NodeKind::kProject: return RunProject(node, ctx, sink);
    case NodeKind::kSummarize: return RunSummarize(node, ctx, sink);
    case NodeKind::kSort: return RunSort(node, ctx, sink);
    case NodeKind::kTop: return RunTop(node, ctx, sink);
    case NodeKind::kTake: return RunTake(node, ctx, sink);
    case NodeKind::kJoin: return RunJoin(node, ctx, sink);
    case NodeKind::kUnion: return RunUnion(node, ctx, sink);
    case NodeKind::kMvExpand: return RunMvExpand(node, ctx, sink);
    case NodeKind::kParse: return RunParse(node, ctx, sink);
    case NodeKind::kMakeSeries: return RunMakeSeries(node, ctx, sink);
    case NodeKind::kSerialize: return RunSerialize(node, ctx, sink);
    case NodeKind::kSubInput: return RunSubInput(node, ctx, sink);
    case NodeKind::kMvApply: return RunMvApply(node, ctx, sink);
    case NodeKind::kPartition: return RunPartition(node, ctx, sink);
    case NodeKind::kSample: return RunSample(node, ctx, sink);
    case NodeKind::kTopNested: return RunTopNested(node, ctx, sink);
    case NodeKind::kScanOp: return RunScanOperator(node, ctx, sink);
    case NodeKind::kReduce: return RunReduce(node, ctx, sink);
  }
  return Internal("unknown plan node");
}

Result<Table> RunToTable(const PlanNode& node, const ExecContext& ctx, MemoryReservation* held) {
  return RunToTableUntil(node, ctx, held, nullptr);
}

Result<Table> RunToTableUntil(const PlanNode& node, const ExecContext& ctx, MemoryReservation* held,
                              const std::function<bool(const Table&)>& enough, bool keep_constants) {
  MemoryReservation local(ctx.budget, "materializing a table");
  if (held == nullptr) held = &local;
  Table out = EmptyTable(node.schema);
  size_t charged = 0;
  Status ran = Run(node, ctx, [&](Chunk&& chunk) {
    RETURN_IF_ERROR(CheckBudget(ctx));
    size_t bytes = ApproxBytes(chunk);
    RETURN_IF_ERROR(held->Grow(bytes));
    charged += bytes;
    AppendTable(out, std::move(chunk), keep_constants);
    return enough && enough(out) ? EnoughRows() : OkStatus();
  });
  if (!ran.ok() && !IsEnoughRows(ran)) return ran;
  for (Column& c : out.columns) {
    if (!keep_constants) c.Materialize(out.rows);
    DropStringNulls(c);
  }
  // The chunks' bytes were charged as they came; the table may hold more: constants made a
  // value per row, chunks of coded strings whose dictionaries could not be merged made plain.
  if (size_t actual = ApproxBytes(out); actual > charged) RETURN_IF_ERROR(held->Grow(actual - charged));
  for (size_t i = 0; i < out.names.size() && i < node.schema.size(); ++i) out.names[i] = node.schema[i].name;
  out.name = node.name;
  return out;
}

}  // namespace cmk::kql
