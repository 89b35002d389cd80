// evaluate: the plugin registry (exec/plugins) and pivot. Plugins run while binding: their
// output schema depends on the data (bag_unpack's slots, pivot's values), so the input is run
// then and the plugin's table becomes the node's values. The input plan stays below the node,
// unrun again, for the binder's push-down.
// Budget: the materialized input, tabular arguments and argument columns stay charged until the
// plugin returns (they are alive while it runs); its output stays charged for the plan's life
// (PlanNode::values_held), so several evaluates in one query add up against the limit.
#include <algorithm>
#include <map>

#include "kql/core/budget.h"
#include "kql/exec/eval.h"
#include "kql/exec/plugins/plugins.h"
#include "kql/functions/aggregates.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {
namespace {

// Distinct pivot values (output columns) at most.
constexpr size_t kMaxPivotColumns = 10'000;

ExprPtr NameExpr(const std::string& name, const Position& pos) {
  auto e = std::make_unique<Expr>();
  e->kind = ExprKind::kName;
  e->name = name;
  e->pos = pos;
  return e;
}

// The column `c` converted to `t` (values that don't convert become null).
Column Converted(const Column& c, Type t, size_t rows) {
  if (c.type == t) return c;
  Column out(t);
  out.Reserve(rows);
  for (size_t r = 0; r < rows; ++r) AppendConverted(out, ValueToJson(c, r), true);
  DropStringNulls(out);
  return out;
}

// A kValues node holding `t` (charged to the budget as `what` for the node's life) over `in`.
Result<PlanPtr> ValuesOver(Table t, PlanPtr in, const ExecContext& ctx, std::string what) {
  auto held = std::make_shared<MemoryReservation>(ctx.budget, std::move(what));
  RETURN_IF_ERROR(held->Grow(ApproxBytes(t)));
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kValues;
  n->values_held = std::move(held);
  for (size_t c = 0; c < t.columns.size(); ++c) n->schema.push_back({t.names[c], t.columns[c].type});
  n->values = std::move(t);
  n->inputs.push_back(std::move(in));
  return n;
}

// `: (Name:type, ...)` after the plugin: those columns, in order (null where the plugin gave
// none); a leading `*` keeps the input's columns the plugin passed through.
Result<Table> ApplyOutputSchema(Table res, const std::vector<NamedExpr>& items, const Schema& input,
                                const Position& pos) {
  Table out;
  out.rows = res.rows;
  for (const NamedExpr& item : items) {
    if (item.name == "*") {
      for (size_t c = 0; c < res.columns.size(); ++c) {
        if (FindColumn(input, res.names[c]) >= 0) out.AddColumn(res.names[c], res.columns[c]);
      }
      continue;
    }
    std::optional<Type> t = ParseTypeName(item.type);
    if (!t) return SemanticError("Unknown type '" + item.type + "'", pos);
    int c = res.Find(item.name);
    Column col = c >= 0 ? Converted(res.columns[static_cast<size_t>(c)], *t, res.rows) : NullConstant(*t);
    col.Materialize(res.rows);
    out.AddColumn(item.name, std::move(col));
  }
  return out;
}

Result<Table> PivotTable(const Table& t, size_t nkeys, bool zero, const Position& pos, const ExecContext& ctx);

// A plugin argument that is a table: `(T | ...)`, a let-bound tabular name or a stored table (a
// bare name that is also an input column stays the column).
bool IsTabularArg(Binder& b, const Expr& a, const Schema& input, const Scope* s) {
  if (a.kind == ExprKind::kTabular) return true;
  if (a.kind == ExprKind::kName && FindColumn(input, a.name) >= 0) return false;
  return b.DenotesTable(a, s);
}

// Binds the plugin's arguments over the input (`bound`, nullopt for a table or an unbound name)
// and runs its tabular arguments into `args.tables`, charged to `held`.
Status BindPluginArgs(Binder& b, const Expr& call, const Schema& input, const Scope* s,
                      std::vector<std::optional<BoundExpr>>& bound, plugins::PluginArgs& args,
                      MemoryReservation& held) {
  bool has_table = std::any_of(call.args.begin(), call.args.end(),
                               [&](const ExprPtr& a) { return IsTabularArg(b, *a, input, s); });
  for (const ExprPtr& a : call.args) {
    args.names.push_back(a->arg_name);
    args.idents.push_back(a->kind == ExprKind::kName ? a->name : "");
    args.columns.push_back(-1);
    args.tables.emplace_back();
    bound.emplace_back();
    if (IsTabularArg(b, *a, input, s)) {
      ASSIGN_OR_RETURN(PlanPtr plan, b.BindTabularExpr(*a, s));
      ASSIGN_OR_RETURN(Table rows, RunToTable(*plan, b.ctx(), &held));
      args.tables.back() = std::make_shared<const Table>(std::move(rows));
      continue;
    }
    Result<BoundExpr> e = b.BindExpr(*a, input, s);
    // A name that is no input column may name a column of the tabular argument.
    if (!e.ok() && has_table && a->kind == ExprKind::kName) continue;
    if (!e.ok()) return e.status();
    if (e->kind == BoundExpr::Kind::kColumn) args.columns.back() = e->column;
    bound.back() = std::move(*e);
  }
  return OkStatus();
}

}  // namespace

Result<PlanPtr> Binder::BindEvaluate(const Operator& op, PlanPtr in, const Scope* s) {
  const Expr& call = *op.expr;
  if (call.kind != ExprKind::kCall) return SemanticError("evaluate: expected a plugin call", call.pos);
  if (std::optional<std::string_view> why = plugins::UnsupportedPlugin(call.name)) {
    return SemanticError("evaluate " + call.name + "(): not supported in cmklogs: " + std::string(*why), call.pos);
  }
  if (call.name == "pivot") return BindPivot(op, std::move(in), s);
  const plugins::PluginDef* def = plugins::FindPlugin(call.name);
  if (def == nullptr) return SemanticError("evaluate: unknown plugin '" + call.name + "'", call.pos);
  std::vector<std::optional<BoundExpr>> bound;
  plugins::PluginArgs args;
  MemoryReservation running(ctx_.budget, "evaluate " + call.name);
  RETURN_IF_ERROR(BindPluginArgs(*this, call, in->schema, s, bound, args, running));
  ASSIGN_OR_RETURN(Table t, RunToTable(*in, ctx_, &running));
  Chunk view = Chunk::View(t);
  FunctionContext fctx{t.rows, ctx_.now, ctx_.budget};
  for (const std::optional<BoundExpr>& b : bound) {
    if (!b) {
      args.values.push_back(NullConstant(Type::kString));
      continue;
    }
    ASSIGN_OR_RETURN(ColumnValue v, Eval(*b, view, fctx));
    args.values.push_back(std::move(v).Take());
    RETURN_IF_ERROR(running.Grow(ApproxBytes(args.values.back())));
  }
  Result<Table> res = def->run(t, args, ctx_);
  if (!res.ok() && res.status().error_code() == "SemanticError") {
    return SemanticError(std::string(res.status().message()), call.pos);
  }
  if (!res.ok()) return res.status();
  if (!op.items.empty()) {
    ASSIGN_OR_RETURN(*res, ApplyOutputSchema(std::move(*res), op.items, in->schema, op.pos));
  }
  return ValuesOver(std::move(*res), std::move(in), ctx_, "evaluate " + call.name);
}

// pivot(PivotColumn [, Aggregate(...)] [, Column ...]): summarize Aggregate by the columns and
// PivotColumn, then one row per columns' values and one column per pivot value (in order of
// appearance); cells without rows hold 0 for count/sum/dcount, else null.
Result<PlanPtr> Binder::BindPivot(const Operator& op, PlanPtr in, const Scope* s) {
  const Expr& call = *op.expr;
  if (call.args.empty() || call.args[0]->kind != ExprKind::kName) {
    return SemanticError("pivot(): the first argument is the pivot column", call.pos);
  }
  const std::string& pivot = call.args[0]->name;
  if (FindColumn(in->schema, pivot) < 0) return SemanticError("pivot(): unknown column '" + pivot + "'", call.pos);
  size_t first_col = 1;
  const Expr* agg = nullptr;
  if (call.args.size() > 1 && call.args[1]->kind == ExprKind::kCall && FindAggregate(call.args[1]->name) != nullptr) {
    agg = call.args[1].get();
    first_col = 2;
  }
  Operator sop;
  sop.kind = OpKind::kSummarize;
  sop.pos = op.pos;
  std::vector<std::string> keys;
  for (size_t i = first_col; i < call.args.size(); ++i) {
    if (call.args[i]->kind != ExprKind::kName) return SemanticError("pivot(): expected a column name", call.args[i]->pos);
    keys.push_back(call.args[i]->name);
  }
  if (first_col == call.args.size()) {  // default: every column but the pivot and aggregated ones
    for (const ColumnSchema& c : in->schema) {
      bool aggregated = agg != nullptr && !agg->args.empty() && agg->args[0]->kind == ExprKind::kName &&
                        agg->args[0]->name == c.name;
      if (c.name != pivot && !aggregated) keys.push_back(c.name);
    }
  }
  for (const std::string& k : keys) sop.by.push_back({"", NameExpr(k, call.pos), "", nullptr});
  sop.by.push_back({"", NameExpr(pivot, call.pos), "", nullptr});
  NamedExpr value;
  value.expr = agg != nullptr ? ExprPtr(const_cast<Expr*>(agg)) : NameExpr("", call.pos);
  if (agg == nullptr) {
    value.expr->kind = ExprKind::kCall;
    value.expr->name = "count";
  }
  sop.items.push_back(std::move(value));
  Result<PlanPtr> summarized = BindSummarize(sop, std::move(in), s);
  if (agg != nullptr) (void)sop.items[0].expr.release();  // borrowed from `op`
  if (!summarized.ok()) return summarized.status();
  MemoryReservation running(ctx_.budget, "pivot");
  ASSIGN_OR_RETURN(Table t, RunToTable(**summarized, ctx_, &running));
  std::string agg_name = agg != nullptr ? agg->name : "count";
  bool zero = agg_name == "count" || agg_name == "sum" || agg_name == "dcount" || agg_name == "countif";
  ASSIGN_OR_RETURN(Table out, PivotTable(t, keys.size(), zero, call.pos, ctx_));
  if (!op.items.empty()) {
    ASSIGN_OR_RETURN(out, ApplyOutputSchema(std::move(out), op.items, (*summarized)->schema, op.pos));
  }
  return ValuesOver(std::move(out), std::move(*summarized), ctx_, "pivot");
}

namespace {

// t: the key columns, the pivot column, the value column; one output row per keys.
Result<Table> PivotTable(const Table& t, size_t nkeys, bool zero, const Position& pos, const ExecContext& ctx) {
  const Column& pv = t.columns[nkeys];
  const Column& val = t.columns[nkeys + 1];
  std::map<std::string, size_t> col_of, row_of;
  std::vector<std::string> names;
  std::vector<uint32_t> first_rows;
  std::vector<std::pair<size_t, size_t>> cell(t.rows);
  for (size_t r = 0; r < t.rows; ++r) {
    RETURN_IF_ERROR(TickBudget(ctx));
    std::string name = ValueToText(pv, r);
    auto [ci, new_col] = col_of.emplace(name, names.size());
    if (new_col) names.push_back(name);
    if (names.size() > kMaxPivotColumns) return SemanticError("pivot(): more than 10000 pivot values", pos);
    std::string key;
    for (size_t k = 0; k < nkeys; ++k) EncodeKey(t.columns[k], r, key);
    auto [ri, new_row] = row_of.emplace(key, first_rows.size());
    if (new_row) first_rows.push_back(static_cast<uint32_t>(r));
    cell[r] = {ri->second, ci->second};
  }
  Table out;
  out.rows = first_rows.size();
  for (size_t k = 0; k < nkeys; ++k) out.AddColumn(t.names[k], Gather(t.columns[k], first_rows));
  MemoryReservation held(ctx.budget, "pivot");
  RETURN_IF_ERROR(held.Grow(out.rows * names.size() * 16));
  for (const std::string& name : names) {
    Column c(val.type);
    for (size_t r = 0; r < out.rows; ++r) {
      if (zero && UsesReals(val.type)) c.AppendReal(0);
      else if (zero) c.AppendInt(0);
      else c.AppendNull();
    }
    out.AddColumn(name.empty() ? "Column" : UniqueName(name, Schema{}), std::move(c));
  }
  for (size_t r = 0; r < t.rows; ++r) {
    Column& c = out.columns[nkeys + cell[r].second];
    size_t row = cell[r].first;
    if (val.IsNull(r)) continue;
    if (UsesInts(c.type)) c.ints[row] = val.Int(r);
    else if (UsesReals(c.type)) c.reals[row] = val.Real(r);
    else c.strings[row] = val.Str(r);
    if (c.HasNulls()) c.nulls[row] = 0;
  }
  for (Column& c : out.columns) DropStringNulls(c);
  return out;
}

}  // namespace
}  // namespace cmk::kql::internal
