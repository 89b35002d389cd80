// parse, parse-where: kind (simple, regex, relaxed) and the typed columns the pattern adds or
// replaces. parse-kv: its keys (typed columns, the same way) and its `with (...)` options.
#include <algorithm>
#include <set>

#include "kql/exec/eval.h"
#include "kql/functions/aggregates.h"
#include "kql/functions/function_regex.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {

namespace {

// Adds (or retypes) the pattern's columns in `schema`; a name given twice is an error.
Status AddParsedColumns(const std::vector<ParsePart>& pattern, Schema& schema,
                        const Position& pos) {
  std::set<std::string> seen;
  for (const ParsePart& p : pattern) {
    if (p.kind != ParsePart::Kind::kColumn) continue;
    if (!seen.insert(p.text).second) return SemanticError("parse: column '" + p.text + "' is given twice", pos);
    Type t = Type::kString;
    if (!p.type.empty()) {
      std::optional<Type> parsed = ParseTypeName(p.type);
      if (!parsed) return SemanticError("Unknown type '" + p.type + "'", pos);
      t = *parsed;
    }
    int c = FindColumn(schema, p.text);
    if (c >= 0) {
      schema[static_cast<size_t>(c)].type = t;
    } else {
      schema.push_back({p.text, t});
    }
  }
  return OkStatus();
}

// parse-kv's options: regex=... alone; or pair_delimiter and kv_delimiter together, with
// greedy=true|false; quote (one or two characters) and escape (one) in both delimiter modes.
Status CheckKvOptions(const std::vector<Option>& options, const Position& pos) {
  bool regex = false, pair = false, kv = false, greedy = false, other = false;
  for (const Option& o : options) {
    const std::string& v = o.value;
    if (o.key == "regex") {
      if (regex) return SemanticError("parse-kv: 'regex' is given twice", pos);
      regex = true;
      ASSIGN_OR_RETURN(std::unique_ptr<RE2> re, fn::CompileRegex("parse-kv", v));
      if (re->NumberOfCapturingGroups() != 2) {
        return SemanticError("parse-kv: the regex must have exactly two capturing groups (key, value)", pos);
      }
    } else if (o.key == "pair_delimiter" || o.key == "kv_delimiter") {
      bool& seen = o.key == "pair_delimiter" ? pair : kv;
      if (seen) return SemanticError("parse-kv: '" + o.key + "' is given twice", pos);
      if (v.empty()) return SemanticError("parse-kv: '" + o.key + "' may not be empty", pos);
      seen = true;
    } else if (o.key == "greedy") {
      if (v != "true" && v != "false") return SemanticError("parse-kv: greedy must be true or false", pos);
      greedy = true;
      other = true;
    } else if (o.key == "quote") {
      if (v.size() != 1 && v.size() != 2) {
        return SemanticError("parse-kv: a quote is one character or an opening and a closing one", pos);
      }
      other = true;
    } else if (o.key == "escape") {
      if (v.size() != 1) return SemanticError("parse-kv: an escape is one character", pos);
      other = true;
    } else {
      return SemanticError("parse-kv: unknown option '" + o.key + "'", pos);
    }
  }
  if (regex && (pair || kv || other)) return SemanticError("parse-kv: 'regex' takes no other option", pos);
  if (pair != kv) return SemanticError("parse-kv: pair_delimiter and kv_delimiter go together", pos);
  if (greedy && !pair) return SemanticError("parse-kv: greedy needs pair_delimiter and kv_delimiter", pos);
  return OkStatus();
}

}  // namespace

Result<PlanPtr> Binder::BindParse(const Operator& op, PlanPtr in, const Scope* s) {
  auto n = std::make_unique<PlanNode>();
  n->kind = NodeKind::kParse;
  n->schema = in->schema;
  ASSIGN_OR_RETURN(n->predicate, BindExpr(*op.expr, in->schema, s));
  if (op.kind == OpKind::kParseKv) {
    n->kv = true;
    for (const NamedExpr& key : op.items) n->pattern.push_back({ParsePart::Kind::kColumn, key.name, key.type});
    RETURN_IF_ERROR(CheckKvOptions(op.options, op.pos));
    n->kv_options = op.options;
  } else {
    n->pattern = op.pattern;
    std::string kind = OptionValue(op.options, "kind");
    if (!kind.empty() && kind != "simple" && kind != "regex" && kind != "relaxed") {
      return SemanticError("parse: unknown kind '" + kind + "'", op.pos);
    }
    n->regex = kind == "regex";
    n->relaxed = kind == "relaxed";
    n->filter = op.kind == OpKind::kParseWhere;
    n->regex_flags = OptionValue(op.options, "flags");
    if (n->regex_flags.find_first_not_of("imsU") != std::string::npos) {
      return SemanticError("parse: unknown regex flags '" + n->regex_flags + "' (i, m, s, U)", op.pos);
    }
    if (!n->regex_flags.empty() && !n->regex) return SemanticError("parse: flags need kind=regex", op.pos);
    if (n->filter && kind == "relaxed") return SemanticError("parse-where: kind=relaxed is not allowed", op.pos);
  }
  RETURN_IF_ERROR(AddParsedColumns(n->pattern, n->schema, op.pos));
  n->inputs.push_back(std::move(in));
  return PlanPtr(std::move(n));
}

}  // namespace cmk::kql::internal
