// Operators with a subquery over part of their input: mv-apply (the expansion of each row) and
// partition (the rows of each key value). A source-less subquery binds over a kSubInput leaf
// that the executor feeds (exec/subquery.cc); partition's legacy form `{ T | ... }` is bound
// once per key value, with the key column standing for that value.
#include <set>

#include "kql/exec/eval.h"
#include "kql/exec/exec.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {
namespace {

// The legacy strategy's documented limit on distinct key values.
constexpr size_t kMaxLegacyPartitions = 64;

PlanPtr SubInput(const Schema& schema) {
  auto leaf = std::make_unique<PlanNode>();
  leaf->kind = NodeKind::kSubInput;
  leaf->schema = schema;
  return leaf;
}

}  // namespace

Result<PlanPtr> Binder::BindMvApply(const Operator& op, PlanPtr in, const Scope* s) {
  Schema outer = in->schema;
  std::set<std::string> expanded;
  for (const NamedExpr& item : op.items) {
    expanded.insert(!item.name.empty() ? item.name : DefaultName(*item.expr, false));
  }
  ASSIGN_OR_RETURN(PlanPtr rows, BindMvExpand(op, SubInput(in->schema), s));
  ASSIGN_OR_RETURN(PlanPtr sub, BindTabular(*op.tables[0], s, std::move(rows)));
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kMvApply;
  // The outer row's columns (an expanded column is replaced by its items), the subquery's
  // value where it has a column of that name; then the subquery's other columns.
  std::vector<bool> used(sub->schema.size(), false);
  for (size_t c = 0; c < outer.size(); ++c) {
    if (expanded.count(outer[c].name) > 0 && FindColumn(sub->schema, outer[c].name) < 0) continue;
    int from_sub = FindColumn(sub->schema, outer[c].name);
    if (from_sub >= 0) used[static_cast<size_t>(from_sub)] = true;
    n->schema.push_back(from_sub >= 0 ? sub->schema[static_cast<size_t>(from_sub)] : outer[c]);
    n->apply_cols.push_back(from_sub);
    n->outer_cols.push_back(static_cast<int>(c));
  }
  for (size_t c = 0; c < sub->schema.size(); ++c) {
    if (used[c]) continue;
    n->schema.push_back(sub->schema[c]);
    n->apply_cols.push_back(static_cast<int>(c));
    n->outer_cols.push_back(-1);
  }
  n->inputs.push_back(std::move(in));
  n->inputs.push_back(std::move(sub));
  return PlanPtr(std::move(n));
}

Result<PlanPtr> Binder::BindPartition(const Operator& op, PlanPtr in, const Scope* s) {
  const Expr& key_expr = *op.by[0].expr;
  ASSIGN_OR_RETURN(BoundExpr key, BindExpr(key_expr, in->schema, s));
  if (key.kind != BoundExpr::Kind::kColumn) {
    return SemanticError("partition: 'by' takes a column name", key_expr.pos);
  }
  if (key.type == Type::kDynamic) return SemanticError("partition: the key cannot be dynamic", key_expr.pos);
  std::string strategy = OptionValue(op.options, "hint.strategy");
  if (!strategy.empty() && strategy != "native" && strategy != "shuffle" && strategy != "legacy") {
    return SemanticError("partition: unknown strategy '" + strategy + "'", op.pos);
  }
  const Tabular& sub_query = *op.tables[0];
  if (sub_query.source.kind != SourceKind::kNone) {
    if (!strategy.empty() && strategy != "legacy") {
      return SemanticError("partition: a subquery with its own source needs the legacy strategy", op.pos);
    }
    return BindLegacyPartition(op, std::move(in), key, s);
  }
  ASSIGN_OR_RETURN(PlanPtr sub, BindTabular(sub_query, s, SubInput(in->schema)));
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kPartition;
  n->schema = sub->schema;
  n->exprs.push_back(std::move(key));
  n->inputs.push_back(std::move(in));
  n->inputs.push_back(std::move(sub));
  return PlanPtr(std::move(n));
}

// `partition by K { T | where K == ... }`: the input is run now for its key values (at most 64,
// as documented), and the subquery is bound once per value with K naming it; the result is the
// union of those bindings.
Result<PlanPtr> Binder::BindLegacyPartition(const Operator& op, PlanPtr in, const BoundExpr& key,
                                            const Scope* s) {
  ASSIGN_OR_RETURN(Table t, RunToTable(*in, ctx_));
  const Column& col = t.columns[static_cast<size_t>(key.column)];
  std::set<std::string> seen;
  std::vector<PlanPtr> legs;
  std::string encoded;
  const std::string& name = in->schema[static_cast<size_t>(key.column)].name;
  for (size_t r = 0; r < t.rows; ++r) {
    encoded.clear();
    EncodeKey(col, r, encoded);
    if (!seen.insert(encoded).second) continue;
    if (seen.size() > kMaxLegacyPartitions) {
      return SemanticError("partition: the legacy strategy takes at most 64 key values", op.pos);
    }
    Scope* scope = const_cast<Scope*>(NewScope(s));
    Binding b;
    Column v = Column::Constant(col.type);
    v.AppendFrom(col, r);
    b.scalar = BoundExpr::Constant(std::move(v));
    scope->names[name] = std::move(b);
    ASSIGN_OR_RETURN(PlanPtr leg, BindTabular(*op.tables[0], scope));
    legs.push_back(std::move(leg));
  }
  if (legs.empty()) {  // no rows: the subquery's columns, no rows
    Scope* scope = const_cast<Scope*>(NewScope(s));
    Binding b;
    b.scalar = BoundExpr::Constant(NullConstant(key.type));
    scope->names[name] = std::move(b);
    ASSIGN_OR_RETURN(PlanPtr leg, BindTabular(*op.tables[0], scope));
    auto none = std::make_unique<PlanNode>();
    none->kind = NodeKind::kTake;
    none->schema = leg->schema;
    none->limit = 0;
    none->inputs.push_back(std::move(leg));
    return PlanPtr(std::move(none));
  }
  if (legs.size() == 1) return std::move(legs[0]);
  return BindUnion(std::move(legs), {}, op.pos);
}

}  // namespace cmk::kql::internal

namespace cmk::kql::internal {

// One level's aggregate over a subquery input: `summarize Aggregation by Expr` (keyed) or
// `summarize Aggregation` (for `with others`). The Expr nodes are borrowed from `op`.
Result<PlanPtr> Binder::BindTopLevel(const NamedExpr& key, const NamedExpr& agg, bool keyed, const Schema& in,
                                     const Scope* s) {
  Operator sop;
  sop.kind = OpKind::kSummarize;
  sop.pos = agg.expr->pos;
  sop.items.push_back({"", ExprPtr(const_cast<Expr*>(agg.expr.get())), "", nullptr});
  if (keyed) sop.by.push_back({"", ExprPtr(const_cast<Expr*>(key.expr.get())), "", nullptr});
  Result<PlanPtr> plan = BindSummarize(sop, SubInput(in), s);
  for (NamedExpr& item : sop.items) (void)item.expr.release();
  for (NamedExpr& item : sop.by) (void)item.expr.release();
  return plan;
}

// top-nested: per level, the key expression (to split rows), its keyed aggregate and the
// unkeyed one for `with others`; two output columns per level.
Result<PlanPtr> Binder::BindTopNested(const Operator& op, PlanPtr in, const Scope* s) {
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kTopNested;
  std::vector<PlanPtr> plans;
  for (size_t i = 0; i + 1 < op.items.size(); i += 2) {
    const NamedExpr& key = op.items[i];
    const NamedExpr& agg = op.items[i + 1];
    PlanNode::TopLevel level;
    ASSIGN_OR_RETURN(level.key, BindExpr(*key.expr, in->schema, s));
    if (level.key.type == Type::kDynamic) return SemanticError("top-nested: the key cannot be dynamic", key.expr->pos);
    level.ascending = agg.type == "asc";
    if (agg.default_value) {
      ASSIGN_OR_RETURN(BoundExpr count, BindConstant(*agg.default_value, s));
      if (!IsIntegral(count.type) || count.value.IsNull(0)) {
        return SemanticError("top-nested: N must be a constant integer", agg.default_value->pos);
      }
      level.n = std::max<int64_t>(0, count.value.Int(0));
    }
    if (key.default_value) {
      ASSIGN_OR_RETURN(BoundExpr others, BindConstant(*key.default_value, s));
      Column v = Column::Constant(level.key.type);
      if (others.type == level.key.type || (UsesInts(others.type) && UsesInts(level.key.type))) {
        v.AppendFrom(others.value, 0);
      } else {
        AppendConverted(v, ValueToJson(others.value, 0), true);
      }
      level.others = std::move(v);
    }
    ASSIGN_OR_RETURN(PlanPtr keyed, BindTopLevel(key, agg, true, in->schema, s));
    ASSIGN_OR_RETURN(PlanPtr total, BindTopLevel(key, agg, false, in->schema, s));
    std::string key_name = !key.name.empty() ? key.name : DefaultName(*key.expr, true);
    if (key_name.empty()) key_name = "Column" + std::to_string(i / 2 + 1);
    std::string agg_name = !agg.name.empty() ? agg.name : "aggregated_" + key_name;
    n->schema.push_back({UniqueName(key_name, n->schema), level.key.type});
    n->schema.push_back({UniqueName(agg_name, n->schema), keyed->schema.back().type});
    n->levels.push_back(std::move(level));
    plans.push_back(std::move(keyed));
    plans.push_back(std::move(total));
  }
  n->inputs.push_back(std::move(in));
  for (PlanPtr& p : plans) n->inputs.push_back(std::move(p));
  return PlanPtr(std::move(n));
}

}  // namespace cmk::kql::internal

namespace cmk::kql::internal {

// `T | ... | fork (a) (b)` and `T | ... | facet by C1, C2 with (q)`: the part before the
// operator runs once (while binding) and each leg, each facet column (`summarize count_C =
// count() by C`) and the `with` query runs over its rows as a result of its own.
Status Binder::BindForked(const Tabular& t, const Scope* s, std::vector<PlanPtr>& results) {
  const Operator& op = t.ops.back();
  ASSIGN_OR_RETURN(PlanPtr in, BindTabular(t, s, nullptr, t.ops.size() - 1));
  if (!in) return SemanticError("fork and facet need an input table", op.pos);
  ASSIGN_OR_RETURN(Table rows, RunToTable(*in, ctx_));
  auto over = [&](const Tabular& sub) -> Result<PlanPtr> { return BindTabular(sub, s, ValuesNode(rows)); };
  if (op.kind == OpKind::kFork) {
    for (size_t i = 0; i < op.tables.size(); ++i) {
      ASSIGN_OR_RETURN(PlanPtr leg, over(*op.tables[i]));
      if (!op.items[i].name.empty()) leg->name = op.items[i].name;
      results.push_back(std::move(leg));
    }
    return OkStatus();
  }
  if (!op.tables.empty()) {
    ASSIGN_OR_RETURN(PlanPtr with, over(*op.tables[0]));
    results.push_back(std::move(with));
  }
  for (const NamedExpr& column : op.by) {
    Operator count;
    count.kind = OpKind::kSummarize;
    count.pos = op.pos;
    auto call = std::make_unique<Expr>();
    call->kind = ExprKind::kCall;
    call->name = "count";
    call->pos = op.pos;
    count.items.push_back({"count_" + column.expr->name, std::move(call), "", nullptr});
    count.by.push_back({"", ExprPtr(const_cast<Expr*>(column.expr.get())), "", nullptr});
    Result<PlanPtr> facet = BindOperator(count, ValuesNode(rows), s);
    (void)count.by[0].expr.release();  // borrowed from `op`
    if (!facet.ok()) return facet.status();
    results.push_back(std::move(*facet));
  }
  return OkStatus();
}

}  // namespace cmk::kql::internal
