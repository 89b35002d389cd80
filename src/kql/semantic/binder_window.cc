// Window functions: row_number, prev, next, row_cumsum, row_rank_dense, row_rank_min and
// row_window_session. They read the rows of the batch they are evaluated over in order (after
// serialize, sort, top or a value source), so they bind to their own BoundExpr kinds that
// exec/window.cc evaluates, not to scalar functions.
#include "kql/exec/eval.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {
namespace {

// prev/next look at most this many rows away: a larger offset only ever finds the default.
constexpr int64_t kMaxShift = int64_t{1} << 40;

Status Arity(const Expr& e, size_t lo, size_t hi) {
  if (e.args.size() >= lo && e.args.size() <= hi) return OkStatus();
  return SemanticError(e.name + "() takes " + std::to_string(lo) +
                           (lo == hi ? "" : " to " + std::to_string(hi)) + " arguments",
                       e.pos);
}

Result<int64_t> ConstantInt(const BoundExpr& b, const Expr& e, const char* what) {
  if (!b.IsConstant() || !IsIntegral(b.type) || b.value.IsNull(0)) {
    return SemanticError(e.name + "(): " + what + " must be a constant integer", e.pos);
  }
  return b.value.Int(0);
}

}  // namespace

bool IsWindowFunction(const std::string& name) {
  return name == "row_number" || name == "prev" || name == "next" || name == "row_cumsum" ||
         name == "row_rank_dense" || name == "row_rank_min" || name == "row_window_session";
}

Result<BoundExpr> Binder::BindWindowCall(const Expr& e, const Schema& schema, const Scope* s,
                                         AggContext* agg) {
  const std::string& name = e.name;
  BoundExpr out;
  std::vector<BoundExpr> args;
  for (const ExprPtr& a : e.args) {
    if (a->kind == ExprKind::kTabular) return SemanticError(name + "() does not take a table", a->pos);
    ASSIGN_OR_RETURN(BoundExpr v, BindExpr(*a, schema, s, agg));
    args.push_back(std::move(v));
  }
  // The restart argument: numbering, sums, ranks and sessions start again where it is true.
  auto restart_at = [&](size_t i) -> Status {
    if (args.size() > i && args[i].type != Type::kBool && !args[i].untyped_null) {
      return SemanticError(name + "(): restart must be a bool", e.pos);
    }
    return OkStatus();
  };
  if (name == "row_number") {
    RETURN_IF_ERROR(Arity(e, 0, 2));
    out.kind = BoundExpr::Kind::kRowNumber;
    out.type = Type::kLong;
    if (!args.empty()) {
      ASSIGN_OR_RETURN(out.offset, ConstantInt(args[0], e, "the start"));
    }
    RETURN_IF_ERROR(restart_at(1));
    if (args.size() == 2) out.args.push_back(std::move(args[1]));
  } else if (name == "prev" || name == "next") {
    RETURN_IF_ERROR(Arity(e, 1, 3));
    out.kind = name == "prev" ? BoundExpr::Kind::kPrev : BoundExpr::Kind::kNext;
    if (args[0].untyped_null) args[0] = BoundExpr::Constant(NullConstant(Type::kDynamic));
    out.type = args[0].type;
    if (args.size() > 1) {
      ASSIGN_OR_RETURN(out.offset, ConstantInt(args[1], e, "the offset"));
    }
    if (out.offset < 0 || out.offset > kMaxShift) {
      return SemanticError(name + "(): the offset must be between 0 and 2^40", e.pos);
    }
    if (args.size() > 2) {
      if (args[2].untyped_null) args[2] = BoundExpr::Constant(NullConstant(out.type));
      if (args[2].type != out.type && !(UsesInts(args[2].type) && UsesInts(out.type)) &&
          !(UsesReals(args[2].type) && UsesReals(out.type))) {
        return SemanticError(name + "(): the default must have the type of the value (" +
                                 TypeName(out.type) + ")",
                             e.pos);
      }
    }
    out.args.push_back(std::move(args[0]));
    if (args.size() > 2) out.args.push_back(std::move(args[2]));
  } else if (name == "row_cumsum") {
    RETURN_IF_ERROR(Arity(e, 1, 2));
    if (!IsNumeric(args[0].type)) return SemanticError("row_cumsum(): the term must be a number", e.pos);
    RETURN_IF_ERROR(restart_at(1));
    out.kind = BoundExpr::Kind::kWindow;
    out.type = args[0].type == Type::kInt ? Type::kLong : args[0].type;
    out.args = std::move(args);
  } else if (name == "row_rank_dense" || name == "row_rank_min") {
    RETURN_IF_ERROR(Arity(e, 1, 2));
    if (args[0].type == Type::kDynamic && !args[0].untyped_null) {
      return SemanticError(name + "(): the term cannot be dynamic", e.pos);
    }
    RETURN_IF_ERROR(restart_at(1));
    out.kind = BoundExpr::Kind::kWindow;
    out.type = Type::kLong;
    out.args = std::move(args);
  } else {  // row_window_session(expr, max from first, max between neighbors[, restart])
    RETURN_IF_ERROR(Arity(e, 3, 4));
    if (args[0].type != Type::kDateTime && !args[0].untyped_null) {
      return SemanticError("row_window_session(): the value must be a datetime", e.pos);
    }
    for (size_t i = 1; i < 3; ++i) {
      if (args[i].type != Type::kTimespan) {
        return SemanticError("row_window_session(): the distances must be timespans", e.pos);
      }
    }
    RETURN_IF_ERROR(restart_at(3));
    out.kind = BoundExpr::Kind::kWindow;
    out.type = Type::kDateTime;
    out.args = std::move(args);
    if (out.args[0].untyped_null) out.args[0] = BoundExpr::Constant(NullConstant(Type::kDateTime));
  }
  for (BoundExpr& a : out.args) {
    if (a.untyped_null) a = BoundExpr::Constant(NullConstant(Type::kBool));
  }
  out.member = name;
  RETURN_IF_ERROR(Compose(out, e.pos));
  return out;
}

}  // namespace cmk::kql::internal
