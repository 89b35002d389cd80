// project, extend, project-away/-keep/-rename/-reorder (one kProject node): computed columns
// are evaluated per chunk, passed-through ones are shared with the input.
#include "kql/exec/eval.h"
#include "kql/exec/operators.h"

namespace cmk::kql {

Result<Chunk> ProjectChunk(const PlanNode& node, const Chunk& chunk, const FunctionContext& fctx) {
  Chunk out;
  out.rows = chunk.rows;
  for (const BoundExpr& e : node.exprs) {
    if (e.kind == BoundExpr::Kind::kColumn) {  // shares the input column (no copy)
      out.AddShared(chunk.shared(static_cast<size_t>(e.column)));
      continue;
    }
    ASSIGN_OR_RETURN(ColumnValue v, Eval(e, chunk, fctx));
    out.Add(std::move(v).Take());
  }
  return out;
}

Status RunProject(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  ASSIGN_OR_RETURN(bool pushed, PushScanChain(node, ctx, sink));
  if (pushed) return OkStatus();
  return Run(*node.inputs[0], ctx, [&](Chunk&& chunk) -> Status {
    RETURN_IF_ERROR(CheckBudget(ctx));
    FunctionContext fctx{chunk.rows, ctx.now, ctx.budget};
    ASSIGN_OR_RETURN(Chunk out, ProjectChunk(node, chunk, fctx));
    return sink(std::move(out));
  });
}

}  // namespace cmk::kql
