// search (search-operator.md) and `* op "x"`: a term looked for in every column.
//
// A search predicate is bound as an ordinary one: a bare string term becomes `* has "term"`
// (`*term` hassuffix, `term*` hasprefix, `*term*` contains, `te*rm` a regex with `.*` between
// word boundaries), `Column:"term"` the same over one column, `search *` true, and `kind=
// case_sensitive` turns every case-insensitive string operator into its `_cs` form. `* op x`
// (here, and in where or find) is the or of `Column op x` over the string columns and of
// `tostring(Column) op x` over the others, leaving out a column whose text can't hold a
// constant needle (a long's digits can't hold "ff64d597bb01"). So search runs as a filter, on
// the reader threads, and a row group whose string columns' term filters all lack the term is
// never decompressed (exec/scan_filter.cc TermSkip).
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string_view>

#include <re2/re2.h>

#include "kql/exec/eval.h"
#include "kql/semantic/binder_internal.h"

namespace cmk::kql::internal {
namespace {

// The case-sensitive form of a string operator (kind=case_sensitive); the name itself otherwise.
std::string CaseSensitive(const std::string& op) {
  static const std::map<std::string_view, std::string_view, std::less<>> kForms = {
      {"has", "has_cs"},
      {"!has", "!has_cs"},
      {"hasprefix", "hasprefix_cs"},
      {"!hasprefix", "!hasprefix_cs"},
      {"hassuffix", "hassuffix_cs"},
      {"!hassuffix", "!hassuffix_cs"},
      {"contains", "contains_cs"},
      {"!contains", "!contains_cs"},
      {"startswith", "startswith_cs"},
      {"!startswith", "!startswith_cs"},
      {"endswith", "endswith_cs"},
      {"!endswith", "!endswith_cs"},
      {"=~", "=="},
      {"!~", "!="},
      {"in~", "in"},
      {"!in~", "!in"},
  };
  auto it = kForms.find(op);
  return it == kForms.end() ? op : std::string(it->second);
}

// A term's wildcards at most: each inner one is a `.*` of the term's regex, and RE2 runs a
// pattern of thousands of them a thousand times slower (a 5,000-star term over 10M rows: 51 s).
constexpr size_t kMaxTermWildcards = 16;

// The operator and needle of a search term (the table of search-operator.md).
std::pair<std::string, std::string> TermTest(std::string_view term, bool case_sensitive) {
  bool lead = false, trail = false;
  while (!term.empty() && term.front() == '*') {
    lead = true;
    term.remove_prefix(1);
  }
  while (!term.empty() && term.back() == '*') {
    trail = true;
    term.remove_suffix(1);
  }
  std::string cs = case_sensitive ? "_cs" : "";
  if (term.find('*') == std::string_view::npos) {
    if (lead && trail) return {"contains" + cs, std::string(term)};
    if (lead) return {"hassuffix" + cs, std::string(term)};
    if (trail) return {"hasprefix" + cs, std::string(term)};
    return {"has" + cs, std::string(term)};
  }
  // `Lab*PC`: \bLab.*PC\b (case-insensitive unless kind=case_sensitive).
  std::string re = case_sensitive ? "" : "(?i)";
  if (!lead) re += "\\b";
  bool first = true;
  size_t at = 0;
  while (at <= term.size()) {
    size_t star = term.find('*', at);
    if (star == std::string_view::npos) star = term.size();
    std::string_view part = term.substr(at, star - at);
    if (!part.empty()) {
      if (!first) re += ".*";
      re += RE2::QuoteMeta(re2::StringPiece(part.data(), part.size()));
      first = false;
    }
    at = star + 1;
  }
  if (!trail) re += "\\b";
  return {"matches regex", re};
}

// Whether the text of a value of type `t` (tostring) may hold `needle` as a substring, letter
// case aside: false when the needle has an ASCII character no such text has. Conservative:
// non-ASCII bytes and dynamic values may hold anything.
bool TextMayHold(Type t, std::string_view needle) {
  std::string_view alphabet;
  switch (t) {
    case Type::kBool: alphabet = "truefals"; break;
    case Type::kInt:
    case Type::kLong: alphabet = "0123456789-"; break;
    case Type::kReal:
    case Type::kDecimal: alphabet = "0123456789-+.enaify"; break;  // 1e+300, nan, -infinity
    case Type::kDateTime: alphabet = "0123456789-:.tz"; break;
    case Type::kTimespan: alphabet = "0123456789-:."; break;
    case Type::kGuid: alphabet = "0123456789abcdef-"; break;
    case Type::kString:
    case Type::kDynamic: return true;
  }
  for (char ch : needle) {
    auto u = static_cast<unsigned char>(ch);
    if (u >= 0x80) continue;
    if (alphabet.find(static_cast<char>(std::tolower(u))) == std::string_view::npos) return false;
  }
  return true;
}

bool IsStar(const Expr& e) { return e.kind == ExprKind::kName && e.name == "*"; }

// At most kMaxTermWildcards `.*` between a term's parts (runs of stars count once; those at
// its ends are no `.*`).
Status CheckWildcards(std::string_view term, const Position& pos) {
  size_t parts = 0;
  for (size_t i = 0; i < term.size(); ++i) {
    if (term[i] != '*' && (i == 0 || term[i - 1] == '*')) ++parts;
  }
  if (parts <= kMaxTermWildcards + 1) return OkStatus();
  return SemanticError("search: a term holds at most " + std::to_string(kMaxTermWildcards) + " '*' wildcards", pos);
}

// Whether the predicate names anything but `*` (a column, a let, a subquery), or (`only`) that
// name: search then filters the union of its tables rather than each table before it.
bool NamesSomething(const Expr& e, std::string_view only = {}) {
  std::vector<const Expr*> pending{&e};
  while (!pending.empty()) {
    const Expr* x = pending.back();
    pending.pop_back();
    if (x->kind == ExprKind::kName && x->name != "*" && (only.empty() || x->name == only)) return true;
    if (x->kind == ExprKind::kTabular && only.empty()) return true;
    for (const ExprPtr& a : x->args) pending.push_back(a.get());
  }
  return false;
}

BoundExpr BoolConstant(bool v) {
  Column k = Column::Constant(Type::kBool);
  k.AppendInt(v ? 1 : 0);
  return BoundExpr::Constant(std::move(k));
}

}  // namespace

Result<BoundExpr> Binder::BindEveryColumn(const std::string& op, BoundExpr needle, const Schema& schema,
                                          const Position& pos) {
  static const std::set<std::string_view, std::less<>> kOps = {
      "has", "has_cs", "hasprefix", "hasprefix_cs", "hassuffix", "hassuffix_cs", "contains", "contains_cs",
      "startswith", "startswith_cs", "endswith", "endswith_cs", "==", "=~", "matches regex"};
  if (kOps.count(op) == 0) {
    return SemanticError("'*' is tested only with has, contains, hasprefix, hassuffix, startswith, endswith, "
                         "==, =~ or matches regex (and their _cs forms), not '" + op + "'",
                         pos);
  }
  if (needle.type != Type::kString) return SemanticError("'* " + op + "' takes a string", pos);
  const ScalarFunction* fn = FindOperator(op);
  const ScalarFunction* text = FindFunction("tostring");
  if (fn == nullptr || text == nullptr) return SemanticError("Unknown operator '" + op + "'", pos);
  std::optional<std::string> constant;
  if (needle.IsConstant() && !needle.value.IsNull(0) && op != "matches regex") constant = needle.value.Str(0);
  std::vector<BoundExpr> arms;
  for (size_t c = 0; c < schema.size(); ++c) {
    const ColumnSchema& col = schema[c];
    if (col.name == "$table") continue;
    BoundExpr value = BoundExpr::ColumnRef(static_cast<int>(c), col.type);
    if (col.type != Type::kString) {
      if (constant && !TextMayHold(col.type, *constant)) continue;
      std::vector<BoundExpr> args;
      args.push_back(std::move(value));
      ASSIGN_OR_RETURN(value, MakeCall(text, std::move(args), "tostring", pos));
    }
    std::vector<BoundExpr> args;
    args.push_back(std::move(value));
    args.push_back(needle);
    ASSIGN_OR_RETURN(BoundExpr arm, MakeCall(fn, std::move(args), op, pos));
    arms.push_back(std::move(arm));
  }
  if (arms.empty()) return BoolConstant(false);
  // A balanced tree of `or`s: its height grows with the log of a wide table's columns.
  const ScalarFunction* any = FindOperator("or");
  while (arms.size() > 1) {
    std::vector<BoundExpr> next;
    for (size_t i = 0; i + 1 < arms.size(); i += 2) {
      std::vector<BoundExpr> args;
      args.push_back(std::move(arms[i]));
      args.push_back(std::move(arms[i + 1]));
      ASSIGN_OR_RETURN(BoundExpr both, MakeCall(any, std::move(args), "or", pos));
      next.push_back(std::move(both));
    }
    if (arms.size() % 2 == 1) next.push_back(std::move(arms.back()));
    arms = std::move(next);
  }
  return std::move(arms[0]);
}

Result<BoundExpr> Binder::BindSearchPredicate(const Expr& e, const Schema& schema, const Scope* s,
                                              bool case_sensitive) {
  RETURN_IF_ERROR(Step(e.pos));
  if (IsStar(e)) return BoolConstant(true);  // search *
  if (e.kind == ExprKind::kLiteral && e.literal.kind == LiteralKind::kString) {
    if (e.literal.text.find_first_not_of('*') == std::string::npos && !e.literal.text.empty()) {
      return BoolConstant(true);  // "*": every row
    }
    RETURN_IF_ERROR(CheckWildcards(e.literal.text, e.pos));
    auto [op, needle] = TermTest(e.literal.text, case_sensitive);
    Column k = Column::Constant(Type::kString);
    k.AppendString(needle);
    return BindEveryColumn(op, BoundExpr::Constant(std::move(k)), schema, e.pos);
  }
  if (e.kind == ExprKind::kBinary && e.name == ":") {  // Column:"term"
    const Expr& term = *e.args[1];
    if (term.kind != ExprKind::kLiteral || term.literal.kind != LiteralKind::kString) {
      return SemanticError("search: 'Column:' takes a string term", e.pos);
    }
    RETURN_IF_ERROR(CheckWildcards(term.literal.text, term.pos));
    auto [op, needle] = TermTest(term.literal.text, case_sensitive);
    ASSIGN_OR_RETURN(BoundExpr col, BindExpr(*e.args[0], schema, s));
    if (col.type != Type::kString) {
      std::vector<BoundExpr> args;
      args.push_back(std::move(col));
      ASSIGN_OR_RETURN(col, MakeCall(FindFunction("tostring"), std::move(args), "tostring", e.pos));
    }
    Column k = Column::Constant(Type::kString);
    k.AppendString(needle);
    std::vector<BoundExpr> args;
    args.push_back(std::move(col));
    args.push_back(BoundExpr::Constant(std::move(k)));
    return MakeCall(FindOperator(op), std::move(args), op, e.pos);
  }
  bool logic = (e.kind == ExprKind::kBinary && (e.name == "and" || e.name == "or")) ||
               (e.kind == ExprKind::kCall && e.name == "not" && e.args.size() == 1);
  if (logic) {
    std::vector<BoundExpr> args;
    for (const ExprPtr& a : e.args) {
      ASSIGN_OR_RETURN(BoundExpr v, BindSearchPredicate(*a, schema, s, case_sensitive));
      args.push_back(std::move(v));
    }
    const ScalarFunction* fn = e.kind == ExprKind::kCall ? FindFunction("not") : FindOperator(e.name);
    if (fn == nullptr) return SemanticError("Unknown operator '" + e.name + "'", e.pos);
    return MakeCall(fn, std::move(args), e.name, e.pos);
  }
  if (case_sensitive && e.kind == ExprKind::kBinary && CaseSensitive(e.name) != e.name) {
    std::string op = CaseSensitive(e.name);
    std::vector<BoundExpr> args;
    for (const ExprPtr& a : e.args) {
      if (IsStar(*a)) continue;
      ASSIGN_OR_RETURN(BoundExpr v, BindExpr(*a, schema, s));
      args.push_back(std::move(v));
    }
    if (IsStar(*e.args[0]) && args.size() == 1) return BindEveryColumn(op, std::move(args[0]), schema, e.pos);
    const ScalarFunction* fn = FindOperator(op);
    if (fn == nullptr) return SemanticError("Unknown operator '" + op + "'", e.pos);
    return MakeCall(fn, std::move(args), op, e.pos);
  }
  return BindExpr(e, schema, s);
}

// search "term" / search Col:"x" / search in (A, B) "x" / search * has "x" / T | search ...
Result<PlanPtr> Binder::BindSearch(const Operator& op, PlanPtr in, const Scope* s) {
  std::string kind = OptionValue(op.options, "kind");
  if (!kind.empty() && kind != "default" && kind != "case_insensitive" && kind != "case_sensitive") {
    return SemanticError("search: kind must be default, case_insensitive or case_sensitive, not '" + kind + "'",
                         op.pos);
  }
  bool cs = kind == "case_sensitive";
  auto filter = [&](PlanPtr input) -> Result<PlanPtr> {
    auto n = std::make_unique<PlanNode>();
    n->kind = NodeKind::kFilter;
    n->schema = input->schema;
    n->name = input->name;  // the union's $table
    ASSIGN_OR_RETURN(n->predicate, BindSearchPredicate(*op.expr, input->schema, s, cs));
    if (n->predicate.type != Type::kBool) return SemanticError("search: the predicate must be bool", op.expr->pos);
    n->inputs.push_back(std::move(input));
    return PlanPtr(std::move(n));
  };
  if (in && !op.tables.empty()) return SemanticError("search: a piped input and 'in (...)' can't appear together", op.pos);
  // The output always has $table (search-operator.md): the piped table's name too.
  std::vector<PlanPtr> legs;
  if (in) {
    legs.push_back(std::move(in));
  } else if (!op.tables.empty()) {
    ASSIGN_OR_RETURN(legs, BindLegs(op.tables, false, s));
  } else {  // every table and view in scope
    for (const std::string& t : TablesInScope(s)) {
      ASSIGN_OR_RETURN(PlanPtr leg, ResolveTable(t, op.pos, s));
      legs.push_back(std::move(leg));
    }
  }
  // Terms alone ("x", * has "x", search *) test each table's own columns: each table is
  // filtered before the union (straight over its scan: on the reader threads, with its term
  // filters); so is one table, unless the predicate reads $table. A predicate naming columns
  // is bound over the union of several, where a table lacking one has it null.
  bool each = !NamesSomething(*op.expr) || (legs.size() == 1 && !NamesSomething(*op.expr, "$table"));
  if (each) {
    for (PlanPtr& leg : legs) {
      ASSIGN_OR_RETURN(leg, filter(std::move(leg)));
    }
  }
  ASSIGN_OR_RETURN(in, BindUnion(std::move(legs), {{"withsource", "$table"}}, op.pos));
  if (each) return in;
  return filter(std::move(in));
}

}  // namespace cmk::kql::internal
