// Window functions: serialize (materializes its input in order, so that row_number(), prev()
// and next() see the rows of one batch) and the evaluation of row_number(), prev(), next(),
// row_cumsum(), row_rank_dense(), row_rank_min() and row_window_session() for Eval. They
// number, shift and accumulate rows within the batch they are evaluated over.
#include <optional>

#include "kql/exec/eval.h"
#include "kql/exec/operators.h"

namespace cmk::kql {

Status RunSerialize(const PlanNode& node, const ExecContext& ctx, const Sink& sink) {
  MemoryReservation held(ctx.budget, "serialize");
  // Columns no one reads come from the scans as null constants (PruneColumns): kept so.
  ASSIGN_OR_RETURN(Table t, RunToTableUntil(*node.inputs[0], ctx, &held, nullptr, /*keep_constants=*/true));
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

namespace {

// Whether row r starts a new partition: the restart argument (args[at], when given) is true.
bool Restarts(const std::vector<ColumnValue>& args, size_t at, size_t r) {
  return args.size() > at && IsTrue(args[at].get(), r);
}

// row_cumsum(term[, restart]): the running sum, back to the row's own value where restart is
// true. A null term adds nothing (the sum so far is repeated); integer sums wrap like Kusto's
// long arithmetic instead of overflowing.
Column CumSum(const BoundExpr& e, const std::vector<ColumnValue>& args, size_t rows) {
  const Column& term = args[0].get();
  Column out(e.type);
  out.Reserve(rows);
  int64_t isum = 0;
  double rsum = 0;
  for (size_t r = 0; r < rows; ++r) {
    if (Restarts(args, 1, r)) {
      isum = 0;
      rsum = 0;
    }
    if (!term.IsNull(r)) {
      if (UsesReals(term.type)) rsum += term.Real(r);
      else isum = static_cast<int64_t>(static_cast<uint64_t>(isum) + static_cast<uint64_t>(term.Int(r)));
    }
    if (UsesReals(e.type)) out.AppendReal(rsum);
    else out.AppendInt(isum);
  }
  return out;
}

bool SameValue(const Column& c, size_t a, size_t b) {
  if (c.IsNull(a) || c.IsNull(b)) return c.IsNull(a) && c.IsNull(b);
  return CompareValues(c, a, c, b) == 0;
}

// row_rank_dense(term[, restart]): 1, then +1 each time the term differs from the row before.
// row_rank_min(term[, restart]): the position (from 1) of the first row of the run of equal
// terms the row belongs to.
Column Rank(bool dense, const std::vector<ColumnValue>& args, size_t rows) {
  const Column& term = args[0].get();
  Column out(Type::kLong);
  out.ints.resize(rows);
  int64_t rank = 0, position = 0;
  for (size_t r = 0; r < rows; ++r) {
    ++position;
    if (r == 0 || Restarts(args, 1, r)) {
      rank = position = 1;
    } else if (!SameValue(term, r, r - 1)) {
      rank = dense ? rank + 1 : position;
    }
    out.ints[r] = rank;
  }
  return out;
}

// row_window_session(expr, max_from_first, max_between_neighbors[, restart]): the value that
// started the row's session. A new session starts at the first row, after a null, where the
// value reaches the session's start plus max_from_first or the previous value plus
// max_between_neighbors, and where restart is true. A null value answers null.
Column Session(const std::vector<ColumnValue>& args, size_t rows) {
  const Column& v = args[0].get();
  const Column& from_first = args[1].get();
  const Column& between = args[2].get();
  Column out(Type::kDateTime);
  out.Reserve(rows);
  bool open = false;  // a session is open (no row yet, or a null, closes it)
  int64_t start = 0, last = 0;
  auto reaches = [](int64_t value, int64_t base, const Column& dist, size_t r) {
    if (dist.IsNull(r)) return false;
    // value >= base + dist, without overflow.
    __int128 limit = static_cast<__int128>(base) + dist.Int(r);
    return static_cast<__int128>(value) >= limit;
  };
  for (size_t r = 0; r < rows; ++r) {
    if (v.IsNull(r)) {
      out.AppendNull();
      open = false;
      continue;
    }
    int64_t x = v.Int(r);
    if (!open || Restarts(args, 3, r) || reaches(x, start, from_first, r) ||
        reaches(x, last, between, r)) {
      start = x;
      open = true;
    }
    last = x;
    out.AppendInt(start);
  }
  return out;
}

}  // namespace

Result<ColumnValue> EvalWindow(const BoundExpr& e, const Chunk& chunk, const FunctionContext& ctx) {
  std::vector<ColumnValue> args;
  for (const BoundExpr& a : e.args) {
    ASSIGN_OR_RETURN(ColumnValue v, Eval(a, chunk, ctx));
    args.push_back(std::move(v));
  }
  if (e.member == "row_cumsum") return ColumnValue(CumSum(e, args, ctx.rows));
  if (e.member == "row_rank_dense" || e.member == "row_rank_min") {
    return ColumnValue(Rank(e.member == "row_rank_dense", args, ctx.rows));
  }
  return ColumnValue(Session(args, ctx.rows));
}

}  // namespace cmk::kql
