// parse, parse-where: kind (simple, regex, relaxed) and the typed columns the pattern adds or replaces.
#include <algorithm>
#include <set>

#include "kql/exec/eval.h"
#include "kql/functions/aggregates.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {

Result<PlanPtr> Binder::BindParse(const Operator& op, PlanPtr in, const Scope* s) {
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kParse;
  n->schema = in->schema;
  ASSIGN_OR_RETURN(n->predicate, BindExpr(*op.expr, in->schema, s));
  n->pattern = op.pattern;
  std::string kind = OptionValue(op.options, "kind");
  if (!kind.empty() && kind != "simple" && kind != "regex" && kind != "relaxed") {
    return SemanticError("parse: unknown kind '" + kind + "'", op.pos);
  }
  n->regex = kind == "regex";
  n->filter = op.kind == OpKind::kParseWhere;
  n->regex_flags = OptionValue(op.options, "flags");
  if (n->regex_flags.find_first_not_of("imsU") != std::string::npos) {
    return SemanticError("parse: unknown regex flags '" + n->regex_flags + "' (i, m, s, U)", op.pos);
  }
  if (!n->regex_flags.empty() && !n->regex) return SemanticError("parse: flags need kind=regex", op.pos);
  if (n->filter && kind == "relaxed") return SemanticError("parse-where: kind=relaxed is not allowed", op.pos);
  for (const ParsePart& p : op.pattern) {
    if (p.kind != ParsePart::Kind::kColumn) continue;
    Type t = Type::kString;
    if (!p.type.empty()) {
      std::optional<Type> parsed = ParseTypeName(p.type);
      if (!parsed) return SemanticError("Unknown type '" + p.type + "'", op.pos);
      t = *parsed;
    }
    int c = FindColumn(n->schema, p.text);
    if (c >= 0) {
      n->schema[static_cast<size_t>(c)].type = t;
    } else {
      n->schema.push_back({p.text, t});
    }
  }
  n->inputs.push_back(std::move(in));
  return PlanPtr(std::move(n));
}

}  // namespace cmk::kql::internal
