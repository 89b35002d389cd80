// summarize (and distinct, count) and make-series: group keys, aggregates (aggregates.h) and
// the projection over the aggregates that are not bare calls (`round(avg(x), 2)`).
#include <algorithm>
#include <set>

#include "kql/exec/eval.h"
#include "kql/functions/aggregates.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {

namespace {

// A summarize over a projection of per-row expressions (`extend h = hourofday(TimeGenerated) |
// summarize count() by h`) reads the expressions in its keys and arguments instead, and the
// projection goes: the summarize then stands over the scan (or its where) and aggregates where
// the blocks are decoded, on every core (exec's PushSummarize), and columns it doesn't read are
// never computed. Only when each projected column is read at most once (nothing is evaluated
// twice) and no expression depends on other rows or on chance (row_number, prev, rand).
PlanPtr FoldProjection(PlanNode& summarize, PlanPtr in) {
  if (in->kind != NodeKind::kProject || in->inputs.size() != 1 || in->exprs.size() != in->schema.size()) return in;
  std::vector<int> refs(in->schema.size(), 0);
  for (const BoundExpr& k : summarize.exprs) CountColumnReads(k, refs);
  for (const BoundAggregate& a : summarize.aggs) {
    for (const BoundExpr& e : a.args) CountColumnReads(e, refs);
  }
  size_t width = in->inputs[0]->schema.size();
  for (size_t c = 0; c < refs.size(); ++c) {
    if (refs[c] == 0) continue;  // not computed at all
    if (refs[c] > 1 && in->exprs[c].kind != BoundExpr::Kind::kColumn) return in;
    if (!ReadsOnlyColumnsBelow(in->exprs[c], width)) return in;
  }
  // The folded expressions are as deep as the projection's and the summarize's together: past
  // binding's limits (stacked extends of deep expressions) the projection stays.
  std::vector<BoundExpr> keys = summarize.exprs;
  std::vector<BoundAggregate> aggs = summarize.aggs;
  for (BoundExpr& k : keys) {
    Substitute(k, in->exprs);
    if (!RefreshWithinLimits(k)) return in;
  }
  for (BoundAggregate& a : aggs) {
    for (BoundExpr& e : a.args) {
      Substitute(e, in->exprs);
      if (!RefreshWithinLimits(e)) return in;
    }
  }
  summarize.exprs = std::move(keys);
  summarize.aggs = std::move(aggs);
  return FoldProjection(summarize, std::move(in->inputs[0]));
}

}  // namespace

Result<PlanPtr> Binder::BindSummarize(const Operator& op, PlanPtr in, const Scope* s) {
  const Schema& schema = in->schema;
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kSummarize;
  AggContext agg;
  agg.input = &schema;
  agg.aggs = &n->aggs;
  const std::vector<NamedExpr>& by = op.kind == OpKind::kDistinct ? op.items : op.by;
  int unnamed = 0;
  for (const NamedExpr& item : by) {
    if (item.expr == nullptr || (item.expr->kind == ExprKind::kName && item.expr->name == "*")) {
      for (size_t c = 0; c < schema.size(); ++c) {
        n->exprs.push_back(BoundExpr::ColumnRef(static_cast<int>(c), schema[c].type));
        n->schema.push_back(schema[c]);
      }
      continue;
    }
    ASSIGN_OR_RETURN(BoundExpr k, BindExpr(*item.expr, schema, s));
    if (k.untyped_null) k = BoundExpr::Constant(NullConstant(Type::kString));
    std::string name = !item.name.empty() ? item.name : DefaultName(*item.expr, true);
    if (name.empty()) name = "Column" + std::to_string(++unnamed);
    name = UniqueName(name, n->schema);
    agg.by_names.push_back(name);
    n->schema.push_back({name, k.type});
    n->exprs.push_back(std::move(k));
  }
  agg.first_output = n->schema.size();
  // Items that are not a bare aggregate call become a projection over the summarize output.
  std::vector<std::pair<std::string, BoundExpr>> post;
  bool needs_post = false;
  if (op.kind == OpKind::kCount) {
    Expr count;
    count.kind = ExprKind::kCall;
    count.name = "count";
    count.pos = op.pos;
    ASSIGN_OR_RETURN(BoundExpr unused, BindAggregateRef(count, schema, s, &agg, "Count"));
  }
  static const std::vector<NamedExpr> kNone;
  for (const NamedExpr& item : op.kind == OpKind::kSummarize ? op.items : kNone) {
    const Expr& e = *item.expr;
    if (e.kind == ExprKind::kCall && FindAggregate(e.name) != nullptr) {
      size_t before = agg.outputs;
      ASSIGN_OR_RETURN(BoundExpr ref, BindAggregateRef(e, schema, s, &agg, item.name));
      for (size_t i = before; i < agg.outputs; ++i) {
        post.emplace_back("", BoundExpr::ColumnRef(static_cast<int>(agg.first_output + i), ref.type));
      }
      continue;
    }
    needs_post = true;
    size_t before = agg.outputs;
    ASSIGN_OR_RETURN(BoundExpr v, BindExpr(e, schema, s, &agg));
    if (agg.outputs == before) return SemanticError("summarize needs an aggregate function", e.pos);
    std::string name = !item.name.empty() ? item.name : "Column" + std::to_string(++unnamed);
    post.emplace_back(name, std::move(v));
  }
  for (const BoundAggregate& a : n->aggs) {
    for (size_t i = 0; i < a.names.size(); ++i) n->schema.push_back({UniqueName(a.names[i], n->schema), a.types[i]});
  }
  n->inputs.push_back(FoldProjection(*n, std::move(in)));
  // A count of a summary's groups (`| count`, `| summarize count()`, through `where`s of them)
  // reads how many rows it gives, not their order: the summary hands its groups over as it holds
  // them.
  PlanNode* counted = n->inputs.back().get();
  while (counted->kind == NodeKind::kFilter && counted->inputs.size() == 1) counted = counted->inputs[0].get();
  if (n->exprs.empty() && counted->kind == NodeKind::kSummarize &&
      std::all_of(n->aggs.begin(), n->aggs.end(), [](const BoundAggregate& a) {
        return a.args.empty() && a.def != nullptr && std::string_view(a.def->name) == "count";
      })) {
    counted->any_order = true;
  }
  if (!needs_post) return PlanPtr(std::move(n));
  auto p = std::make_unique<PlanNode>();
  p->kind = NodeKind::kProject;
  for (size_t c = 0; c < agg.first_output; ++c) {
    p->schema.push_back(n->schema[c]);
    p->exprs.push_back(BoundExpr::ColumnRef(static_cast<int>(c), n->schema[c].type));
  }
  for (auto& [name, e] : post) {
    std::string nm = !name.empty() ? name : n->schema[static_cast<size_t>(e.column)].name;
    p->schema.push_back({UniqueName(nm, p->schema), e.type});
    p->exprs.push_back(std::move(e));
  }
  p->inputs.push_back(std::move(n));
  return PlanPtr(std::move(p));
}

Result<PlanPtr> Binder::BindMakeSeries(const Operator& op, PlanPtr in, const Scope* s) {
  const Schema& schema = in->schema;
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kMakeSeries;
  AggContext agg;
  agg.input = &schema;
  agg.aggs = &n->aggs;
  for (const NamedExpr& item : op.by) {
    ASSIGN_OR_RETURN(BoundExpr k, BindExpr(*item.expr, schema, s));
    std::string name = !item.name.empty() ? item.name : DefaultName(*item.expr, true);
    if (name.empty()) name = "Column" + std::to_string(n->exprs.size() + 1);
    n->schema.push_back({UniqueName(name, n->schema), k.type});
    n->exprs.push_back(std::move(k));
  }
  for (const NamedExpr& item : op.items) {
    if (item.expr->kind != ExprKind::kCall || FindAggregate(item.expr->name) == nullptr) {
      // A constant (`other = -1 default = -2`, the docs' gap-marking example) is its value in
      // every bin that has rows and the default elsewhere: take_any of the constant.
      Result<BoundExpr> c = BindConstant(*item.expr, s);
      if (!c.ok() || c->untyped_null) return SemanticError("make-series needs an aggregate function", item.expr->pos);
      BoundAggregate a;
      a.def = FindAggregate("take_any");
      std::vector<Type> arg_types{c->type};
      Result<std::vector<Type>> types = AggregateTypes(*a.def, arg_types, a.params);
      if (!types.ok()) return SemanticError(types.status().message(), item.expr->pos);
      a.types = *types;
      a.names.push_back(!item.name.empty() ? item.name : "Column" + std::to_string(n->aggs.size() + 1));
      a.args.push_back(std::move(*c));
      n->aggs.push_back(std::move(a));
      ++agg.outputs;
    } else {
      ASSIGN_OR_RETURN(BoundExpr unused, BindAggregateRef(*item.expr, schema, s, &agg, item.name));
    }
    if (item.default_value) {
      ASSIGN_OR_RETURN(BoundExpr d, BindConstant(*item.default_value, s));
      n->aggs.back().default_value = std::move(d.value);
    }
  }
  for (const BoundAggregate& a : n->aggs) n->schema.push_back({UniqueName(a.names[0], n->schema), Type::kDynamic});
  ASSIGN_OR_RETURN(n->axis, BindExpr(*op.expr, schema, s));
  if (!UsesInts(n->axis.type)) return SemanticError("make-series: the axis must be a datetime, timespan or long", op.expr->pos);
  std::string axis_name = DefaultName(*op.expr, true);
  n->schema.push_back({UniqueName(axis_name.empty() ? "Column1" : axis_name, n->schema), Type::kDynamic});
  auto constant_int = [&](const ExprPtr& e, const char* what) -> Result<std::optional<int64_t>> {
    if (!e) return std::optional<int64_t>();
    ASSIGN_OR_RETURN(BoundExpr b, BindConstant(*e, s));
    if (!UsesInts(b.type) || b.value.IsNull(0)) return SemanticError(std::string("make-series: bad ") + what, e->pos);
    return std::optional<int64_t>(b.value.Int(0));
  };
  ASSIGN_OR_RETURN(n->from, constant_int(op.from, "from"));
  ASSIGN_OR_RETURN(n->to, constant_int(op.to, "to"));
  ASSIGN_OR_RETURN(std::optional<int64_t> step, constant_int(op.step, "step"));
  if (!step || *step <= 0) return SemanticError("make-series: step must be positive", op.pos);
  n->step = *step;
  for (const Option& o : op.options) {
    if (o.key != "kind") continue;
    if (o.value != "nonempty") {
      return SemanticError("make-series: unknown kind '" + o.value + "'", op.pos);
    }
    n->nonempty = true;
  }
  n->inputs.push_back(std::move(in));
  return PlanPtr(std::move(n));
}

}  // namespace cmk::kql::internal
