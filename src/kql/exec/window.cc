// Window functions: serialize (materializes its input in order, so that row_number(), prev()
// and next() see the rows of one batch) and the evaluation of row_number(), prev() and next()
// for Eval. They number and shift rows within the batch they are evaluated over.
#include <optional>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"

namespace cmk::kql {

Status RunSerialize(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  MemoryReservation held(ctx.budget, "serialize");
  ASSIGN_OR_RETURN(Table t, RunToTable(*node.inputs[0], ctx, &held));
  if (t.rows == 0) return OkStatus();
  return sink(Chunk::Own(std::move(t)));
}

// row_number(start[, restart]): start, start + 1, ...; back to start on each row where restart
// is true.
Result<ColumnValue> EvalRowNumber(const BoundExpr& e, const Chunk& chunk,
                                  const FunctionContext& ctx) {
  Column out(Type::kLong);
  out.ints.resize(ctx.rows);
  if (e.args.empty()) {
    for (size_t r = 0; r < ctx.rows; ++r) out.ints[r] = static_cast<int64_t>(r) + e.offset;
    return ColumnValue(std::move(out));
  }
  ASSIGN_OR_RETURN(ColumnValue restart_v, Eval(e.args[0], chunk, ctx));
  const Column& restart = restart_v.get();
  int64_t next = e.offset;
  for (size_t r = 0; r < ctx.rows; ++r) {
    if (r > 0 && !restart.IsNull(r) && restart.Int(r) != 0) next = e.offset;
    out.ints[r] = next++;
  }
  return ColumnValue(std::move(out));
}

Result<ColumnValue> EvalShift(const BoundExpr& e, const Chunk& chunk, const FunctionContext& ctx) {
  ASSIGN_OR_RETURN(ColumnValue src, Eval(e.args[0], chunk, ctx));
  std::optional<ColumnValue> def;
  if (e.args.size() > 1) {
    ASSIGN_OR_RETURN(def, Eval(e.args[1], chunk, ctx));
  }
  Column out(e.type);
  out.Reserve(ctx.rows);
  int64_t shift = e.kind == BoundExpr::Kind::kPrev ? -e.offset : e.offset;
  for (size_t r = 0; r < ctx.rows; ++r) {
    int64_t from = static_cast<int64_t>(r) + shift;
    if (from >= 0 && from < static_cast<int64_t>(ctx.rows)) {
      out.AppendFrom(src.get(), static_cast<size_t>(from));
    } else if (def) {
      out.AppendFrom(def->get(), r);
    } else {
      out.AppendNull();
    }
  }
  return ColumnValue(std::move(out));
}

}  // namespace cmk::kql
