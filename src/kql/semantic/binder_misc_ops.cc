// sample, sample-distinct, project-by-names and invoke.
#include <boost/json.hpp>
#include <cmath>

#include "kql/exec/eval.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {
namespace {

// Names an item of project-by-names stands for: a string (maybe a pattern) or an array of them.
Result<std::vector<std::string>> SpecifierNames(const BoundExpr& v, const Position& pos) {
  if (!v.IsConstant() || (v.type != Type::kString && v.type != Type::kDynamic)) {
    return SemanticError("project-by-names: expected a column name, pattern or array of names", pos);
  }
  if (v.type == Type::kString) return std::vector<std::string>{v.value.Str(0)};
  std::vector<std::string> out;
  if (v.value.IsNull(0)) return out;
  boost::system::error_code ec;
  boost::json::value j = boost::json::parse(v.value.Str(0), ec);
  if (ec || !j.is_array()) return SemanticError("project-by-names: expected an array of names", pos);
  for (const boost::json::value& n : j.get_array()) {
    if (n.is_string()) out.emplace_back(n.get_string());
  }
  return out;
}

}  // namespace

Result<PlanPtr> Binder::BindSample(const Operator& op, PlanPtr in, const Scope* s) {
  ASSIGN_OR_RETURN(BoundExpr count, BindExpr(*op.expr, Schema{}, s));
  if (!count.IsConstant() || !IsNumeric(count.type) || count.value.IsNull(0)) {
    return SemanticError("sample: the count must be a constant number", op.expr->pos);
  }
  double n = UsesReals(count.type) ? count.value.Real(0) : static_cast<double>(count.value.Int(0));
  auto node = std::make_unique<PlanNode>();
  node->kind = NodeKind::kSample;
  node->limit = n <= 0 || std::isnan(n) ? 0 : n >= 9e18 ? INT64_MAX : static_cast<int64_t>(n);
  if (op.kind == OpKind::kSampleDistinct) {
    int c = FindColumn(in->schema, op.name);
    if (c < 0) return SemanticError("sample-distinct: unknown column '" + op.name + "'", op.pos);
    node->exprs.push_back(BoundExpr::ColumnRef(c, in->schema[static_cast<size_t>(c)].type));
    node->schema.push_back(in->schema[static_cast<size_t>(c)]);
  } else {
    node->schema = in->schema;
  }
  node->inputs.push_back(std::move(in));
  return PlanPtr(std::move(node));
}

// Columns in the order named (patterns in the input's order); names matching nothing are
// ignored, as documented; a column named twice comes once.
Result<PlanPtr> Binder::BindProjectByNames(const Operator& op, PlanPtr in, const Scope* s) {
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kProject;
  std::vector<bool> used(in->schema.size(), false);
  for (const NamedExpr& item : op.items) {
    ASSIGN_OR_RETURN(BoundExpr v, BindExpr(*item.expr, Schema{}, s));
    ASSIGN_OR_RETURN(std::vector<std::string> names, SpecifierNames(v, item.expr->pos));
    for (const std::string& pattern : names) {
      for (size_t c = 0; c < in->schema.size(); ++c) {
        if (used[c] || !WildcardMatch(pattern, in->schema[c].name)) continue;
        used[c] = true;
        n->schema.push_back(in->schema[c]);
        n->exprs.push_back(BoundExpr::ColumnRef(static_cast<int>(c), in->schema[c].type));
      }
    }
  }
  n->inputs.push_back(std::move(in));
  return PlanPtr(std::move(n));
}

// T | invoke f(a, b) is f(T, a, b). T runs now (a function may read its table parameter more
// than once) and the function's result is bound over those rows; T's plan stays below an
// identity projection for the binder's push-down.
Result<PlanPtr> Binder::BindInvoke(const Operator& op, PlanPtr in, const Scope* s) {
  const Expr& call = *op.expr;
  const Binding* fn = call.kind == ExprKind::kCall || call.kind == ExprKind::kName ? s->Find(call.name) : nullptr;
  if (fn == nullptr || fn->kind != Binding::Kind::kFunction) {
    return SemanticError("invoke: '" + call.name + "' is not a function defined with let", call.pos);
  }
  ASSIGN_OR_RETURN(Table t, RunToTable(*in, ctx_));
  static const std::vector<ExprPtr> kNoArgs;
  const std::vector<ExprPtr>& args = call.kind == ExprKind::kCall ? call.args : kNoArgs;
  ASSIGN_OR_RETURN(PlanPtr result, CallFunction(*fn, args, call.pos, s, nullptr, nullptr,
                                                std::make_shared<const Table>(std::move(t))));
  if (result == nullptr) return SemanticError("invoke: the function must return a table", call.pos);
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kProject;
  n->schema = result->schema;
  for (size_t c = 0; c < n->schema.size(); ++c) {
    n->exprs.push_back(BoundExpr::ColumnRef(static_cast<int>(c), n->schema[c].type));
  }
  n->inputs.push_back(std::move(result));
  n->inputs.push_back(std::move(in));
  return PlanPtr(std::move(n));
}

}  // namespace cmk::kql::internal
