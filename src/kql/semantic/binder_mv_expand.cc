// mv-expand: the expanded columns (computed ones are extended first), their types, bagexpansion,
// with_itemindex and limit.
#include <algorithm>
#include <set>

#include "kql/exec/eval.h"
#include "kql/functions/aggregates.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {

Result<PlanPtr> Binder::BindMvExpand(const Operator& op, PlanPtr in, const Scope* s) {
  // Computed items (`v = d.values`) are extended first, then expanded like columns.
  std::vector<NamedExpr> computed;
  for (const NamedExpr& item : op.items) {
    if (item.expr->kind == ExprKind::kName && item.name.empty()) continue;
    NamedExpr copy;
    copy.name = !item.name.empty() ? item.name : DefaultName(*item.expr, false);
    copy.expr.reset(const_cast<Expr*>(item.expr.get()));
    computed.push_back(std::move(copy));
  }
  if (!computed.empty()) {
    Result<PlanPtr> ext = BindProjectLike(OpKind::kExtend, computed, std::move(in), s);
    for (NamedExpr& c : computed) (void)c.expr.release();  // borrowed from `op`
    if (!ext.ok()) return ext.status();
    in = std::move(*ext);
  }
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kMvExpand;
  n->schema = in->schema;
  for (const NamedExpr& item : op.items) {
    std::string name = !item.name.empty() ? item.name : DefaultName(*item.expr, false);
    int c = FindColumn(n->schema, name);
    if (c < 0) return SemanticError("mv-expand: unknown column '" + name + "'", item.expr->pos);
    Type t = Type::kDynamic;
    if (!item.type.empty()) {
      std::optional<Type> parsed = ParseTypeName(item.type);
      if (!parsed) return SemanticError("Unknown type '" + item.type + "'", item.expr->pos);
      t = *parsed;
    }
    n->expand_cols.push_back(c);
    n->schema[static_cast<size_t>(c)].type = t;
  }
  n->bag_as_array = OptionValue(op.options, "bagexpansion") == "array" || OptionValue(op.options, "kind") == "array";
  std::string index = OptionValue(op.options, "with_itemindex");
  if (!index.empty()) {
    n->with_index = true;
    n->schema.push_back({index, Type::kLong});
  }
  if (op.expr) {
    ASSIGN_OR_RETURN(BoundExpr limit, BindConstant(*op.expr, s));
    if (!UsesInts(limit.type)) return SemanticError("mv-expand: limit must be a long", op.expr->pos);
    n->limit = limit.value.Int(0);
  }
  n->inputs.push_back(std::move(in));
  return PlanPtr(std::move(n));
}

}  // namespace cmk::kql::internal
