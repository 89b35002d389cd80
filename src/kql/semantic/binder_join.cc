// join and lookup: the kind, the key columns (`Col` or `$left.a == $right.b`) and the output
// schema (lookup drops the right keys; clashing right names get a numeric suffix).
#include <algorithm>
#include <set>

#include "kql/exec/eval.h"
#include "kql/functions/aggregates.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {

namespace {

// `$left.a` / `$right.b`: the side ("$left"/"$right") and column, or empty.
std::pair<std::string, std::string> SideOf(const Expr& e) {
  if (e.kind == ExprKind::kMember && e.args.size() == 1 && e.args[0]->kind == ExprKind::kName &&
      (e.args[0]->name == "$left" || e.args[0]->name == "$right")) {
    return {e.args[0]->name, e.name};
  }
  return {};
}

}  // namespace

Result<PlanPtr> Binder::BindJoin(const Operator& op, PlanPtr in, const Scope* s) {
  ASSIGN_OR_RETURN(PlanPtr right, BindTabular(*op.tables[0], s));
  bool lookup = op.kind == OpKind::kLookup;
  std::string kind_text = OptionValue(op.options, "kind");
  if (kind_text.empty()) kind_text = lookup ? "leftouter" : "innerunique";
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kJoin;
  n->lookup = lookup;
  static const std::map<std::string, JoinKind> kKinds = {
      {"innerunique", JoinKind::kInnerUnique}, {"inner", JoinKind::kInner},
      {"leftouter", JoinKind::kLeftOuter},     {"rightouter", JoinKind::kRightOuter},
      {"fullouter", JoinKind::kFullOuter},     {"leftanti", JoinKind::kLeftAnti},
      {"anti", JoinKind::kLeftAnti},           {"leftantisemi", JoinKind::kLeftAnti},
      {"rightanti", JoinKind::kRightAnti},     {"rightantisemi", JoinKind::kRightAnti},
      {"leftsemi", JoinKind::kLeftSemi},       {"rightsemi", JoinKind::kRightSemi}};
  auto kit = kKinds.find(kind_text);
  if (kit == kKinds.end()) return SemanticError("Unknown join kind '" + kind_text + "'", op.pos);
  n->join_kind = kit->second;
  const Schema& ls = in->schema;
  const Schema& rs = right->schema;
  std::set<int> right_keys_same_name;
  for (const NamedExpr& cond : op.by) {
    const Expr& e = *cond.expr;
    std::string l, r;
    if (e.kind == ExprKind::kName) {
      l = r = e.name;
    } else if (e.kind == ExprKind::kBinary && e.name == "==") {
      auto a = SideOf(*e.args[0]);
      auto b = SideOf(*e.args[1]);
      if (a.first == "$right") std::swap(a, b);
      if (a.first != "$left" || b.first != "$right") {
        return SemanticError("join: expected $left.Column == $right.Column", e.pos);
      }
      l = a.second;
      r = b.second;
    } else {
      return SemanticError("join: expected a column name or $left.a == $right.b", e.pos);
    }
    int li = FindColumn(ls, l), ri = FindColumn(rs, r);
    if (li < 0) return SemanticError("join: unknown left column '" + l + "'", e.pos);
    if (ri < 0) return SemanticError("join: unknown right column '" + r + "'", e.pos);
    if (UsesInts(ls[static_cast<size_t>(li)].type) != UsesInts(rs[static_cast<size_t>(ri)].type) ||
        UsesStrings(ls[static_cast<size_t>(li)].type) != UsesStrings(rs[static_cast<size_t>(ri)].type)) {
      return SemanticError("join: key columns '" + l + "' and '" + r + "' have different types", e.pos);
    }
    n->left_keys.push_back(li);
    n->right_keys.push_back(ri);
    if (lookup) right_keys_same_name.insert(ri);
  }
  JoinKind k = n->join_kind;
  bool right_only = k == JoinKind::kRightAnti || k == JoinKind::kRightSemi;
  bool left_only = k == JoinKind::kLeftAnti || k == JoinKind::kLeftSemi;
  if (right_only) {
    n->schema = rs;
  } else {
    n->schema = ls;
    if (!left_only) {
      for (size_t c = 0; c < rs.size(); ++c) {
        if (right_keys_same_name.count(static_cast<int>(c)) > 0) continue;
        n->right_out.push_back(static_cast<int>(c));
        n->schema.push_back({UniqueName(rs[c].name, n->schema), rs[c].type});
      }
    }
  }
  n->inputs.push_back(std::move(in));
  n->inputs.push_back(std::move(right));
  return PlanPtr(std::move(n));
}

}  // namespace cmk::kql::internal
