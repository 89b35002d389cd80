// sample, sample-distinct, project-by-names, invoke, pattern invocations and restrict.
#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <set>

#include "kql/exec/eval.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {
namespace {

// Names an item of project-by-names stands for: a string (maybe a pattern) or an array of them.
Result<std::vector<std::string>> SpecifierNames(const BoundExpr& v, const Position& pos) {
  if (!v.IsConstant() || (v.type != Type::kString && v.type != Type::kDynamic)) {
    return SemanticError("project-by-names: expected a column name, pattern or array of names", pos);
  }
  if (v.type == Type::kString) return std::vector<std::string>{std::string(v.value.Str(0))};
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

Result<PlanPtr> Binder::BindPattern(const Binding& pattern, const Source& src, const Scope* s) {
  const Statement& st = *pattern.fn;
  std::vector<std::string> args;
  std::string reference = src.name + "(";
  for (const ExprPtr& a : src.args) {
    ASSIGN_OR_RETURN(BoundExpr v, BindConstant(*a, s));
    if (v.type != Type::kString || v.value.IsNull(0)) {
      return SemanticError("A pattern's arguments must be strings", a->pos);
    }
    args.emplace_back(v.value.Str(0));
    reference += (args.size() > 1 ? ",'" : "'") + args.back() + "'";
  }
  reference += ")";
  if (src.has_path) reference += ".['" + src.path + "']";
  bool has_path = !st.pattern_path.name.empty();
  if (!st.cases.empty() && (args.size() != st.params.size() || src.has_path != has_path)) {
    return SemanticError("Pattern '" + st.name + "' takes " + std::to_string(st.params.size()) +
                             " arguments" + (has_path ? " and a path" : " and no path") + ": " + reference,
                         src.pos);
  }
  for (const PatternCase& c : st.cases) {
    if (c.args != args || (has_path && c.path != src.path)) continue;
    Binding fn;
    fn.kind = Binding::Kind::kFunction;
    fn.fn = &c.fn;
    fn.scope = pattern.scope;
    return CallFunction(fn, {}, src.pos, s, nullptr, nullptr);
  }
  return SemanticError("One or more pattern references were not declared. Detected pattern references: [\"" +
                           reference + "\"]",
                       src.pos);
}

Result<PlanPtr> Binder::BindTableFunction(const std::vector<ExprPtr>& args, const Position& pos,
                                          const Scope* s) {
  if (args.empty() || args.size() > 2) return SemanticError("table() takes a table name and an optional data scope", pos);
  std::vector<std::string> text;
  for (const ExprPtr& a : args) {
    ASSIGN_OR_RETURN(BoundExpr v, BindConstant(*a, s));
    if (v.type != Type::kString || v.value.IsNull(0)) {
      return SemanticError("table(): the table name and data scope must be constant strings", a->pos);
    }
    text.emplace_back(v.value.Str(0));
  }
  // The data scope selects cached data; all of a workspace's data is alike here.
  if (text.size() == 2 && text[1] != "hotcache" && text[1] != "all" && text[1] != "default") {
    return SemanticError("table(): the data scope must be 'hotcache', 'all' or 'default'", args[1]->pos);
  }
  if (ctx_.catalog->TableSchema(text[0]).has_value() && TableAllowed(text[0], s)) {
    const Scope* root = s;
    while (root->parent != nullptr) root = root->parent;  // a let of the same name doesn't hide it
    return ResolveTable(text[0], pos, root);
  }
  const Binding* b = s->Find(text[0]);
  if (b != nullptr && b->kind == Binding::Kind::kFunction && !b->fn->params.empty()) {
    return SemanticError("table(): function '" + text[0] + "' takes arguments", pos);
  }
  return ResolveTable(text[0], pos, s);
}

bool Binder::TableAllowed(const std::string& name, const Scope* s) {
  while (s != nullptr && s->parent != nullptr) s = s->parent;
  if (s == nullptr || s->restrict_to == nullptr) return true;
  return std::any_of(s->restrict_to->begin(), s->restrict_to->end(),
                     [&](const ColumnDecl& d) { return WildcardMatch(d.name, name); });
}

// Lets defined before the restriction stay visible only when named; their bodies keep their own
// (unrestricted) scope, which is the point: a middle tier exposes a filtered view of a table.
Result<const Scope*> Binder::Restrict(const Statement& st, const Scope* s) {
  const Scope* root = s;
  while (root->parent != nullptr) root = root->parent;
  if (root->restrict_to != nullptr) {
    return SemanticError("A query may have only one restrict statement", st.pos);
  }
  Scope* out = const_cast<Scope*>(NewScope(nullptr));
  out->restrict_to = &st.params;
  std::set<std::string> seen;  // an inner let hides an outer one of the same name
  for (const Scope* x = s; x != nullptr; x = x->parent) {
    for (const auto& [name, b] : x->names) {
      if (seen.insert(name).second && TableAllowed(name, out)) out->names[name] = b;
    }
  }
  return static_cast<const Scope*>(out);
}

}  // namespace cmk::kql::internal
