#include "kql/syntax/parser.h"

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "kql/syntax/lexer.h"

namespace cmk::kql {
namespace {

const std::set<std::string, std::less<>> kCompareOps = {"==", "!=", "<>", "<", "<=",
                                                        ">", ">=", "=~", "!~"};
// Word operators at comparison precedence (negated forms are lexed as one kPunct token).
const std::set<std::string, std::less<>> kStringOps = {
    "has", "!has", "has_cs", "!has_cs", "hasprefix", "!hasprefix", "hasprefix_cs",
    "!hasprefix_cs", "hassuffix", "!hassuffix", "hassuffix_cs", "!hassuffix_cs", "contains",
    "!contains", "contains_cs", "!contains_cs", "startswith", "!startswith", "startswith_cs",
    "!startswith_cs", "endswith", "!endswith", "endswith_cs", "!endswith_cs"};
const std::set<std::string, std::less<>> kJoinKinds = {
    "inner", "innerunique", "leftouter", "rightouter", "fullouter", "leftanti", "anti",
    "leftantisemi", "rightanti", "rightantisemi", "leftsemi", "rightsemi"};
const std::set<std::string, std::less<>> kTypedLiterals = {
    "bool", "boolean", "int", "long", "real", "double", "decimal", "string"};
// Limits that keep every recursive walk of a query (parser, binder, evaluator, printers,
// destructors) far from the bottom of the stack. Measured in Release (g++ 12): the binder takes
// ~1.1-1.4 KB of stack per level of an expression, so a query at these limits needs ~0.7 MiB,
// and 8 MiB threads keep room for ASan's 3-5x larger frames (governance_test.cc runs the
// limits on a 1 MiB stack).
//   kMaxDepth: nested parentheses, calls, tabular subexpressions, operators, unary signs and
//     function bodies, as the recursive descent sees them.
//   kMaxHeight: height of the finished tree, which also counts left-associative chains
//     (`a or b or c`, `1+1+...+1`, `x.a.b.c`) that the parser builds in loops: 500 terms.
//   kMaxLets: let statements in a query, function bodies included (each one adds a scope that
//     name lookups walk).
constexpr int kMaxDepth = 200;
constexpr size_t kMaxHeight = 500;
constexpr size_t kMaxLets = 1000;

class Parser {
 public:
  Parser(std::string_view text, std::vector<Token> tokens)
      : text_(text), toks_(std::move(tokens)) {}

  Query Run() {
    Query q;
    q.statements = ParseStatements(/*top_level=*/true);
    bool has_expr = std::any_of(q.statements.begin(), q.statements.end(),
                                [](const Statement& s) { return s.kind == StatementKind::kExpr; });
    if (q.statements.empty()) Error("Empty query", Peek().pos);
    if (!has_expr) Error("Expected a tabular expression after the let statements", Peek().pos);
    return q;
  }

 private:
  // ---- Token helpers.
  const Token& Peek(size_t k = 0) const { return toks_[std::min(i_ + k, toks_.size() - 1)]; }
  const Token& Take() {
    const Token& t = Peek();
    if (i_ + 1 < toks_.size()) ++i_;
    return t;
  }
  bool IsPunct(std::string_view p, size_t k = 0) const {
    return Peek(k).kind == TokenKind::kPunct && Peek(k).text == p;
  }
  bool IsWord(std::string_view w, size_t k = 0) const {
    return Peek(k).kind == TokenKind::kIdentifier && Peek(k).text == w;
  }
  bool Accept(std::string_view p) { return IsPunct(p) ? (Take(), true) : false; }
  bool AcceptWord(std::string_view w) { return IsWord(w) ? (Take(), true) : false; }
  void Expect(std::string_view p) {
    if (!Accept(p)) Expected("'" + std::string(p) + "'");
  }
  void ExpectWord(std::string_view w) {
    if (!AcceptWord(w)) Expected("'" + std::string(w) + "'");
  }
  [[noreturn]] void Error(std::string message, Position pos) const {
    throw SyntaxError(std::move(message), pos);
  }
  [[noreturn]] void Expected(const std::string& what) const {
    const Token& t = Peek();
    std::string found = t.kind == TokenKind::kEnd      ? "end of query"
                        : t.kind == TokenKind::kString ? "string literal"
                                                       : "'" + t.text + "'";
    Error("Expected " + what + " but found " + found, t.pos);
  }
  // True at the end of the current operator's arguments.
  bool AtOperatorEnd() const {
    return Peek().kind == TokenKind::kEnd || IsPunct("|") || IsPunct(")") || IsPunct(";") ||
           IsPunct("}") || IsPunct(",");
  }
  // A name: identifier or ['bracketed name'].
  size_t NameLength(size_t k = 0) const {
    if (Peek(k).kind == TokenKind::kIdentifier) return 1;
    if (IsPunct("[", k) && Peek(k + 1).kind == TokenKind::kString && IsPunct("]", k + 2)) return 3;
    return 0;
  }
  // Tokens of `(name, name, ...)` followed by '=', or 0.
  size_t TupleNamesLength() const {
    if (!IsPunct("(")) return 0;
    size_t k = 1;
    while (true) {
      size_t len = NameLength(k);
      if (len == 0) return 0;
      k += len;
      if (IsPunct(")", k)) return IsPunct("=", k + 1) ? k + 2 : 0;
      if (!IsPunct(",", k)) return 0;
      ++k;
    }
  }
  std::string TakeName(const std::string& what) {
    size_t n = NameLength();
    if (n == 0) Expected(what);
    if (n == 1) return Take().text;
    Take();
    std::string name = Take().text;
    Take();
    return name;
  }
  // A name pattern that may contain '*' (project-away Col*, union App*): adjacent tokens only.
  std::string TakeNamePattern(const std::string& what) {
    std::string name = IsPunct("*") ? Take().text : TakeName(what);
    while ((Peek().kind == TokenKind::kIdentifier || IsPunct("*")) &&
           Peek().pos.offset == toks_[i_ - 1].end) {
      name += Take().text;
    }
    return name;
  }
  std::string SourceText(size_t begin, size_t end) const {
    return std::string(text_.substr(begin, end - begin));
  }

  struct DepthGuard {
    explicit DepthGuard(Parser* p) : p_(p) {
      if (++p_->depth_ > kMaxDepth) {
        p_->Error("Query too deeply nested: more than " + std::to_string(kMaxDepth) +
                      " levels of parentheses, calls, subqueries or function bodies",
                  p_->Peek().pos);
      }
    }
    ~DepthGuard() { --p_->depth_; }
    Parser* p_;
  };

  // ---- Statements.
  std::vector<Statement> ParseStatements(bool top_level) {
    std::vector<Statement> out;
    for (;;) {
      while (Accept(";")) {
      }
      if (Peek().kind == TokenKind::kEnd || (!top_level && IsPunct("}"))) break;
      if (IsWord("let") && !IsPunct("|", 1)) {
        out.push_back(ParseLet());
      } else if (top_level && IsWord("declare") && IsWord("pattern", 1)) {
        out.push_back(ParsePattern());
      } else if (top_level && IsWord("restrict") && IsWord("access", 1) && IsWord("to", 2)) {
        out.push_back(ParseRestrict());
      } else if (top_level && IsWord("set") && Peek(1).kind == TokenKind::kIdentifier &&
                 (IsPunct("=", 2) || IsPunct(";", 2))) {
        Statement st;
        st.kind = StatementKind::kSet;
        st.pos = Take().pos;
        st.name = TakeName("a request property name after 'set'");
        if (Accept("=")) st.value = ParseExpr();
        out.push_back(std::move(st));
      } else {
        Statement st;
        st.pos = Peek().pos;
        st.value = top_level ? WrapTabular(ParseTabular()) : ParseScalarOrTabular();
        out.push_back(std::move(st));
      }
      if (Accept(";")) continue;
      if (Peek().kind == TokenKind::kEnd || (!top_level && IsPunct("}"))) break;
      Expected(top_level ? "';' or end of query" : "';' or '}'");
    }
    return out;
  }

  Statement ParseLet() {
    DepthGuard guard(this);
    if (++lets_ > kMaxLets) {
      Error("Query too complex: more than " + std::to_string(kMaxLets) + " let statements", Peek().pos);
    }
    Statement st;
    st.kind = StatementKind::kLet;
    st.pos = Take().pos;
    st.name = TakeName("a name after 'let'");
    Expect("=");
    // `let V = view () { ... }`: a function without parameters that union, search and find
    // include in their wildcard and default scope.
    if (IsWord("view") && IsPunct("(", 1)) {
      Take();
      st.is_view = true;
    }
    bool function = IsPunct("(") && (IsPunct(")", 1) || (NameLength(1) > 0 && IsPunct(":", 1 + NameLength(1))));
    if (st.is_view && !IsPunct(")", 1)) Expected("')': a view takes no parameters");
    if (!function) {
      st.value = ParseScalarOrTabular();
      return st;
    }
    st.is_function = true;
    Take();
    while (!IsPunct(")")) {
      if (!st.params.empty()) Expect(",");
      ColumnDecl p;
      p.name = TakeName("a parameter name");
      Expect(":");
      p.type = ParseType();
      if (Accept("=")) p.default_value = ParseExpr();
      st.params.push_back(std::move(p));
    }
    Take();
    Expect("{");
    st.body = ParseStatements(/*top_level=*/false);
    if (st.body.empty() || st.body.back().kind != StatementKind::kExpr) {
      Expected("an expression ending the function body");
    }
    Expect("}");
    return st;
  }

  // declare pattern P;  or  declare pattern P = (a:string, ...)[path:string] { ("v", ...).["p"] = { body }; ... };
  Statement ParsePattern() {
    DepthGuard guard(this);
    Statement st;
    st.kind = StatementKind::kPattern;
    st.pos = Take().pos;
    Take();
    st.name = TakeName("a pattern name");
    if (!Accept("=")) return st;
    Expect("(");
    do {
      ColumnDecl p;
      p.name = TakeName("a pattern argument name");
      Expect(":");
      p.type = TakeName("a type name");
      st.params.push_back(std::move(p));
    } while (Accept(","));
    Expect(")");
    if (Accept("[")) {
      st.pattern_path.name = TakeName("a path argument name");
      Expect(":");
      st.pattern_path.type = TakeName("a type name");
      Expect("]");
    }
    Expect("{");
    while (!IsPunct("}")) {
      if (++lets_ > kMaxLets) Error("Query too complex: more than " + std::to_string(kMaxLets) + " pattern cases", Peek().pos);
      PatternCase c;
      c.pos = Peek().pos;
      Expect("(");
      do {
        if (Peek().kind != TokenKind::kString) Expected("a string value of a pattern argument");
        c.args.push_back(Take().text);
      } while (Accept(","));
      Expect(")");
      if (!st.pattern_path.name.empty()) {
        Expect(".");
        Expect("[");
        if (Peek().kind != TokenKind::kString) Expected("a string value of the pattern's path");
        c.path = Take().text;
        Expect("]");
      }
      Expect("=");
      Expect("{");
      c.fn.kind = StatementKind::kLet;
      c.fn.pos = c.pos;
      c.fn.name = st.name;
      c.fn.is_function = true;
      c.fn.body = ParseStatements(/*top_level=*/false);
      if (c.fn.body.empty() || c.fn.body.back().kind != StatementKind::kExpr) {
        Expected("an expression in the pattern case");
      }
      Expect("}");
      st.cases.push_back(std::move(c));
      if (!Accept(";")) break;
    }
    Expect("}");
    return st;
  }

  // restrict access to (Name, Pattern*, ...)
  Statement ParseRestrict() {
    Statement st;
    st.kind = StatementKind::kRestrict;
    st.pos = Take().pos;
    Take();
    Take();
    Expect("(");
    while (!IsPunct(")")) {
      if (!st.params.empty()) Expect(",");
      ColumnDecl d;
      d.name = TakeNamePattern("an entity name");
      st.params.push_back(std::move(d));
    }
    Take();
    return st;
  }

  // A type name, or a tabular schema kept as text: (*) or (a:long, b:string).
  std::string ParseType() {
    if (!IsPunct("(")) return TakeName("a type name");
    size_t begin = Peek().pos.offset;
    int depth = 0;
    do {
      if (Peek().kind == TokenKind::kEnd) Expected("')'");
      if (IsPunct("(")) ++depth;
      if (IsPunct(")")) --depth;
      Take();
    } while (depth > 0);
    return SourceText(begin, toks_[i_ - 1].end);
  }

  // ---- Tabular expressions.
  static ExprPtr WrapTabular(TabularPtr t) {
    auto e = std::make_unique<Expr>();
    e->kind = ExprKind::kTabular;
    e->pos = t->pos;
    e->tabular = std::move(t);
    return e;
  }

  // Whether the tokens ahead start a tabular (not scalar) expression.
  bool StartsTabular() const {
    if ((IsWord("datatable") && IsPunct("(", 1)) || IsWord("print") || IsWord("union") ||
        (IsWord("range") && NameLength(1) > 0 && IsWord("from", 1 + NameLength(1)))) {
      return true;
    }
    // search/find starting a function or view body: a term, a column or `* has ...` follows.
    if ((IsWord("search") || IsWord("find")) &&
        (Peek(1).kind == TokenKind::kString || Peek(1).kind == TokenKind::kIdentifier ||
         (IsPunct("*", 1) && Peek(2).kind == TokenKind::kIdentifier))) {
      return true;
    }
    if (!IsPunct("(")) return false;
    // `f((range x from 1 to 3 step 1))`: a parenthesized source is tabular even without a '|'.
    if ((IsWord("datatable", 1) && IsPunct("(", 2)) || (IsWord("print", 1) && !IsPunct(")", 2)) ||
        (IsWord("union", 1) && !IsPunct(")", 2)) ||
        (IsWord("range", 1) && NameLength(2) > 0 && IsWord("from", 2 + NameLength(2)))) {
      return true;
    }
    int depth = 0;
    for (size_t k = 0; Peek(k).kind != TokenKind::kEnd; ++k) {
      if (IsPunct("(", k) || IsPunct("[", k) || IsPunct("{", k)) ++depth;
      if (IsPunct(")", k) || IsPunct("]", k) || IsPunct("}", k)) {
        if (--depth == 0) return false;
      }
      if (depth == 1 && IsPunct("|", k)) return true;
    }
    return false;
  }

  // Where either may stand (let values, function results, toscalar(...), in (...)).
  ExprPtr ParseScalarOrTabular() {
    if (StartsTabular()) return WrapTabular(ParseTabular());
    ExprPtr e = ParseExpr();
    if (!IsPunct("|")) return e;
    // A name or call followed by '|' was a tabular source.
    auto t = std::make_unique<Tabular>();
    t->pos = e->pos;
    t->source.pos = e->pos;
    if (e->kind == ExprKind::kName) {
      t->source.kind = SourceKind::kTable;
    } else if (e->kind == ExprKind::kCall) {
      t->source.kind = SourceKind::kCall;
      t->source.args = std::move(e->args);
    } else {
      Error("Expected a tabular expression before '|'", e->pos);
    }
    t->source.name = e->name;
    ParsePipes(*t);
    return WrapTabular(std::move(t));
  }

  TabularPtr ParseTabular() {
    DepthGuard guard(this);
    auto t = std::make_unique<Tabular>();
    t->pos = Peek().pos;
    ParseSource(*t);
    ParsePipes(*t);
    return t;
  }

  void ParsePipes(Tabular& t) {
    while (Accept("|")) {
      if (IsWord("top") && IsPunct("-", 1) && IsWord("hitters", 2)) {
        ParseTopHitters(t);
        continue;
      }
      t.ops.push_back(ParseOperator());
    }
  }

  // top-hitters N of Value [by Summing]: the documented equivalent `summarize
  // approximate_count_Value = count() (or approximate_sum_Summing = sum(Summing)) by Value | top
  // N by that desc`, computed exactly (an exact answer is within any approximation's bounds).
  void ParseTopHitters(Tabular& t) {
    DepthGuard guard(this);
    Position pos = Peek().pos;
    TakeOperatorName();
    ExprPtr count = ParseExpr();
    ExpectWord("of");
    ExprPtr value = ParseExpr();
    ExprPtr summing;
    if (AcceptWord("by")) summing = ParseExpr();
    std::string value_name = value->kind == ExprKind::kName ? value->name : "Column1";
    std::string agg = summing ? "approximate_sum_" + (summing->kind == ExprKind::kName ? summing->name : value_name)
                              : "approximate_count_" + value_name;
    ExprPtr call = Node(ExprKind::kCall, pos, summing ? "sum" : "count");
    if (summing) call->args.push_back(std::move(summing));
    Operator summarize;
    summarize.kind = OpKind::kSummarize;
    summarize.pos = pos;
    summarize.by.push_back({value_name, std::move(value), "", nullptr});
    summarize.items.push_back({agg, std::move(call), "", nullptr});
    Operator top;
    top.kind = OpKind::kTop;
    top.pos = pos;
    top.expr = Node(ExprKind::kCall, pos, "tolong");  // NumberOfValues may be a real
    top.expr->args.push_back(std::move(count));
    SortKey key;
    key.expr = Node(ExprKind::kName, pos, agg);
    top.sort.push_back(std::move(key));
    t.ops.push_back(std::move(summarize));
    t.ops.push_back(std::move(top));
  }

  void ParseSource(Tabular& t) {
    Source& s = t.source;
    s.pos = Peek().pos;
    if (Accept("(")) {
      s.kind = SourceKind::kSubquery;
      s.tables.push_back(ParseTabular());
      Expect(")");
    } else if (IsWord("union")) {
      Take();
      s.kind = SourceKind::kUnion;
      s.options = ParseOptions({"withsource", "kind", "isfuzzy"});
      s.tables = ParseUnionLegs();
    } else if (IsWord("datatable") && IsPunct("(", 1)) {
      ParseDatatable(s);
    } else if (IsWord("print")) {
      Take();
      s.kind = SourceKind::kPrint;
      s.items = ParseNamedList();
    } else if (IsWord("range") && NameLength(1) > 0 && IsWord("from", 1 + NameLength(1))) {
      Take();
      s.kind = SourceKind::kRange;
      s.name = TakeName("a column name");
      ExpectWord("from");
      s.from = ParseExpr();
      ExpectWord("to");
      s.to = ParseExpr();
      ExpectWord("step");
      s.step = ParseExpr();
    } else if (IsWord("search")) {
      Operator op;
      op.pos = Take().pos;
      ParseSearch(op);
      t.ops.push_back(std::move(op));
    } else if (IsWord("macro") && IsPunct("-", 1) && IsWord("expand", 2)) {
      Error("macro-expand is not supported in cmklogs: its entity groups name clusters and databases, "
            "and a workspace is one database",
            s.pos);
    } else if (IsWord("find") && Peek(1).kind != TokenKind::kEnd && !IsPunct("|", 1) &&
               !IsPunct(";", 1) && !IsPunct(")", 1) && !IsPunct("(", 1)) {
      Operator op;
      op.pos = Take().pos;
      ParseFind(op);
      t.ops.push_back(std::move(op));
    } else if (NameLength() > 0) {
      s.name = TakeName("a table name");
      s.kind = SourceKind::kTable;
      if (Accept("(")) {
        s.kind = SourceKind::kCall;
        s.args = ParseArgs();
        // A pattern invocation's path: P("a").Path or P("a").["Path"].
        if (IsPunct(".") && NameLength(1) > 0 && s.name != "cluster" && s.name != "database" &&
            s.name != "workspace" && s.name != "app" && s.name != "resource") {
          Take();
          s.path = TakeName("a pattern path");
          s.has_path = true;
        }
      }
      if (IsPunct(".") && (s.name == "cluster" || s.name == "database" || s.name == "workspace" ||
                           s.name == "app" || s.name == "resource")) {
        Error("Cross-cluster, cross-database and cross-workspace references (" + s.name +
                  "()) are not supported in cmklogs",
              s.pos);
      }
    } else {
      Expected("a table name or tabular expression");
    }
  }

  void ParseDatatable(Source& s) {
    Take();
    s.kind = SourceKind::kDatatable;
    Expect("(");
    do {
      ColumnDecl c;
      c.name = TakeName("a column name");
      Expect(":");
      c.type = TakeName("a column type");
      s.columns.push_back(std::move(c));
    } while (Accept(","));
    Expect(")");
    Position values_pos = Peek().pos;
    Expect("[");
    while (!IsPunct("]")) {
      s.args.push_back(ParseExpr());
      if (!Accept(",")) break;
    }
    Expect("]");
    if (s.args.size() % s.columns.size() != 0) {
      Error("datatable has " + std::to_string(s.args.size()) + " values, not a multiple of " +
                std::to_string(s.columns.size()) + " columns",
            values_pos);
    }
  }

  std::vector<TabularPtr> ParseUnionLegs() {
    std::vector<TabularPtr> legs;
    do {
      if (Accept("(")) {
        legs.push_back(ParseTabular());
        Expect(")");
        continue;
      }
      auto leg = std::make_unique<Tabular>();
      leg->pos = leg->source.pos = Peek().pos;
      if (NameLength() > 0 && IsPunct("(", NameLength())) {  // a function or pattern call
        ParseSource(*leg);
        legs.push_back(std::move(leg));
        continue;
      }
      leg->source.kind = SourceKind::kTable;
      leg->source.name = TakeNamePattern("a table name");
      legs.push_back(std::move(leg));
    } while (Accept(","));
    return legs;
  }

  // key=value options; keys from `keys`, plus any hint.* key.
  std::vector<Option> ParseOptions(std::initializer_list<std::string_view> keys) {
    std::vector<Option> out;
    while (Peek().kind == TokenKind::kIdentifier) {
      std::string key = Peek().text;
      size_t k = 1;
      while (IsPunct(".", k) && Peek(k + 1).kind == TokenKind::kIdentifier) {
        key += "." + Peek(k + 1).text;
        k += 2;
      }
      bool hint = key.rfind("hint.", 0) == 0;
      if (!IsPunct("=", k) || (!hint && std::find(keys.begin(), keys.end(), key) == keys.end())) {
        break;
      }
      for (size_t n = 0; n <= k; ++n) Take();
      const Token& v = Peek();
      if (v.kind != TokenKind::kIdentifier && v.kind != TokenKind::kString &&
          v.kind != TokenKind::kLong && v.kind != TokenKind::kReal &&
          v.kind != TokenKind::kTimespan) {
        Expected("a value for option '" + key + "'");
      }
      out.push_back({key, Take().text});
    }
    return out;
  }

  // ---- Tabular operators.
  std::string TakeOperatorName() {
    if (Peek().kind != TokenKind::kIdentifier) Expected("a tabular operator after '|'");
    std::string name = Take().text;
    // project-away, mv-expand, make-series: '-' glued to both words.
    while (IsPunct("-") && Peek().pos.offset == toks_[i_ - 1].end &&
           Peek(1).kind == TokenKind::kIdentifier && Peek(1).pos.offset == Peek().end) {
      Take();
      name += "-" + Take().text;
    }
    return name;
  }

  Operator ParseOperator() {
    DepthGuard guard(this);
    Operator op;
    op.pos = Peek().pos;
    const std::string name = TakeOperatorName();
    if (name == "where" || name == "filter") {
      op.kind = OpKind::kWhere;
      op.expr = ParseExpr();
    } else if (name == "extend" || name == "project" || name == "serialize") {
      op.kind = name == "extend" ? OpKind::kExtend
                : name == "project" ? OpKind::kProject : OpKind::kSerialize;
      if (op.kind != OpKind::kSerialize || !AtOperatorEnd()) op.items = ParseNamedList();
    } else if (name == "project-away" || name == "project-keep" || name == "project-reorder") {
      op.kind = name == "project-away" ? OpKind::kProjectAway
                : name == "project-keep" ? OpKind::kProjectKeep : OpKind::kProjectReorder;
      do {
        NamedExpr item;
        item.name = TakeNamePattern("a column name");
        if (op.kind == OpKind::kProjectReorder &&
            (IsWord("asc") || IsWord("desc") || IsWord("granny-asc") || IsWord("granny-desc"))) {
          item.type = Take().text;
        }
        op.items.push_back(std::move(item));
      } while (Accept(","));
    } else if (name == "project-rename") {
      op.kind = OpKind::kProjectRename;
      do {
        NamedExpr item;
        item.name = TakeName("a new column name");
        Expect("=");
        item.expr = std::make_unique<Expr>();
        item.expr->pos = Peek().pos;
        item.expr->name = TakeName("an existing column name");
        op.items.push_back(std::move(item));
      } while (Accept(","));
    } else if (name == "summarize") {
      op.kind = OpKind::kSummarize;
      op.options = ParseOptions({});
      if (!IsWord("by") || IsPunct("=", 1)) op.items = ParseNamedList();
      if (AcceptWord("by")) op.by = ParseNamedList();
    } else if (name == "sort" || name == "order") {
      op.kind = OpKind::kSort;
      ExpectWord("by");
      op.sort = ParseSortKeys();
    } else if (name == "top") {
      op.kind = OpKind::kTop;
      op.expr = ParseExpr();
      ExpectWord("by");
      op.sort = ParseSortKeys();
    } else if (name == "take" || name == "limit") {
      op.kind = OpKind::kTake;
      op.expr = ParseExpr();
    } else if (name == "distinct") {
      op.kind = OpKind::kDistinct;
      op.options = ParseOptions({});
      if (IsPunct("*")) {
        op.items.push_back({Take().text, nullptr, "", nullptr});
      } else {
        op.items = ParseNamedList();
      }
    } else if (name == "count" || name == "getschema") {
      op.kind = name == "count" ? OpKind::kCount : OpKind::kGetSchema;
    } else if (name == "join" || name == "lookup") {
      ParseJoin(op, name == "join");
    } else if (name == "union") {
      op.kind = OpKind::kUnion;
      op.options = ParseOptions({"withsource", "kind", "isfuzzy"});
      op.tables = ParseUnionLegs();
    } else if (name == "mv-expand") {
      ParseMvExpand(op);
    } else if (name == "mv-apply") {
      ParseMvApply(op);
    } else if (name == "partition") {
      ParsePartition(op);
    } else if (name == "evaluate") {
      ParseEvaluate(op);
    } else if (name == "sample" || name == "sample-distinct") {
      op.kind = name == "sample" ? OpKind::kSample : OpKind::kSampleDistinct;
      op.expr = ParseExpr();
      if (op.kind == OpKind::kSampleDistinct) {
        ExpectWord("of");
        op.name = TakeName("a column name after 'of'");
      }
    } else if (name == "fork") {
      ParseFork(op);
    } else if (name == "facet") {
      op.kind = OpKind::kFacet;
      ExpectWord("by");
      do {
        op.by.push_back({"", Node(ExprKind::kName, Peek().pos, TakeName("a column name")), "", nullptr});
      } while (Accept(","));
      if (AcceptWord("with")) {
        Expect("(");
        op.tables.push_back(ParseSubPipeline());
        Expect(")");
      }
    } else if (name == "consume") {
      op.kind = OpKind::kConsume;
      op.options = ParseOptions({"decodeblocks"});
    } else if (name == "top-nested") {
      ParseTopNested(op);
    } else if (name == "project-by-names") {
      op.kind = OpKind::kProjectByNames;
      op.items = ParseNamedList();
    } else if (name == "invoke") {
      op.kind = OpKind::kInvoke;
      op.expr = ParseExpr();
    } else if (name == "make-graph" || name.rfind("graph-", 0) == 0) {
      Error("'" + name + "' is not supported in cmklogs (graph semantics are not provided)", op.pos);
    } else if (name == "parse" || name == "parse-where") {
      ParseParse(op);
      if (name == "parse-where") op.kind = OpKind::kParseWhere;
    } else if (name == "parse-kv") {
      ParseParseKv(op);
    } else if (name == "search") {
      ParseSearch(op);
    } else if (name == "make-series") {
      ParseMakeSeries(op);
    } else if (name == "as") {
      op.kind = OpKind::kAs;
      op.options = ParseOptions({});
      op.name = TakeName("a name after 'as'");
    } else if (name == "render") {
      ParseRender(op);
    } else if (name == "scan") {
      ParseScan(op);
    } else if (name == "reduce") {
      ParseReduce(op);
    } else {
      Error("Unknown tabular operator '" + name + "'", op.pos);
    }
    return op;
  }

  std::vector<SortKey> ParseSortKeys() {
    std::vector<SortKey> keys;
    do {
      SortKey k;
      k.expr = ParseExpr();
      if (AcceptWord("asc")) {
        k.ascending = true;
      } else {
        AcceptWord("desc");
      }
      k.nulls_first = k.ascending;
      if (AcceptWord("nulls")) {
        if (AcceptWord("first")) {
          k.nulls_first = true;
        } else {
          ExpectWord("last");
          k.nulls_first = false;
        }
      }
      keys.push_back(std::move(k));
    } while (Accept(","));
    return keys;
  }

  void ParseJoin(Operator& op, bool is_join) {
    op.kind = is_join ? OpKind::kJoin : OpKind::kLookup;
    Position options_pos = Peek().pos;
    op.options = ParseOptions({"kind"});
    for (const Option& o : op.options) {
      bool known = is_join ? kJoinKinds.count(o.value) > 0
                           : (o.value == "leftouter" || o.value == "inner");
      if (o.key == "kind" && !known) {
        Error("Unknown " + std::string(is_join ? "join" : "lookup") + " kind '" + o.value + "'",
              options_pos);
      }
    }
    if (Accept("(")) {
      op.tables.push_back(ParseTabular());
      Expect(")");
    } else {
      auto right = std::make_unique<Tabular>();
      right->pos = right->source.pos = Peek().pos;
      right->source.kind = SourceKind::kTable;
      right->source.name = TakeName("a table or '(' after '" + std::string(is_join ? "join" : "lookup") + "'");
      op.tables.push_back(std::move(right));
    }
    ExpectWord("on");
    do {
      op.by.push_back({"", ParseExpr(), "", nullptr});
    } while (Accept(","));
  }

  void ParseMvExpand(Operator& op) {
    op.kind = OpKind::kMvExpand;
    op.options = ParseOptions({"bagexpansion", "with_itemindex", "kind"});
    ParseExpandItems(op);
  }

  // mv-apply [with_itemindex=I] items [limit N] on ( subquery )
  void ParseMvApply(Operator& op) {
    op.kind = OpKind::kMvApply;
    op.options = ParseOptions({"with_itemindex"});
    ParseExpandItems(op);
    ExpectWord("on");
    Expect("(");
    op.tables.push_back(ParseSubPipeline());
    Expect(")");
  }

  // partition [hint.*=v ...] by Column ( subquery ) | { tabular with its own source }
  void ParsePartition(Operator& op) {
    op.kind = OpKind::kPartition;
    op.options = ParseOptions({});
    ExpectWord("by");
    // The key is a column name: `by State (` is not a call.
    ExprPtr key = Node(ExprKind::kName, Peek().pos, "");
    key->name = TakeName("a column name after 'partition by'");
    op.by.push_back({"", std::move(key), "", nullptr});
    if (Accept("{")) {
      op.tables.push_back(ParseTabular());
      Expect("}");
      return;
    }
    Expect("(");
    op.tables.push_back(ParseSubPipeline());
    Expect(")");
  }

  // evaluate [hint.*=v] plugin(args) [: (*, Name:type, ...)]
  void ParseEvaluate(Operator& op) {
    op.kind = OpKind::kEvaluate;
    op.options = ParseOptions({});
    op.expr = ParseExpr();
    if (!Accept(":")) return;
    Expect("(");
    do {
      NamedExpr item;
      if (Accept("*")) {
        item.name = "*";
      } else {
        item.name = TakeName("a column name in the output schema");
        Expect(":");
        item.type = TakeName("a type name");
      }
      op.items.push_back(std::move(item));
    } while (Accept(","));
    Expect(")");
  }

  // top-nested [N] of [Name=]Expr [with others=Value] by [Name=]Aggregation [asc|desc]
  // [, top-nested ...]
  void ParseTopNested(Operator& op) {
    op.kind = OpKind::kTopNested;
    do {
      ExprPtr count;
      if (!IsWord("of")) count = ParseExpr();
      ExpectWord("of");
      NamedExpr key = ParseNamedExpr();
      if (AcceptWord("with")) {
        ExpectWord("others");
        Expect("=");
        key.default_value = ParseExpr();
      }
      ExpectWord("by");
      NamedExpr agg = ParseNamedExpr();
      agg.type = AcceptWord("asc") ? "asc" : "desc";
      AcceptWord("desc");
      agg.default_value = std::move(count);
      op.items.push_back(std::move(key));
      op.items.push_back(std::move(agg));
    } while (NextTopNested());
  }

  // `, top-nested` (lexed as ',' 'top' '-' 'nested'): consumed, true.
  bool NextTopNested() {
    if (!IsPunct(",") || !IsWord("top", 1) || !IsPunct("-", 2) || !IsWord("nested", 3)) return false;
    for (int k = 0; k < 4; ++k) Take();
    return true;
  }

  // scan [with_match_id=Id] [declare (Name:type[=Default], ...)] with (step Name
  // [output=all|last|none]: Condition [=> Column = Expr, ...]; ...)
  void ParseScan(Operator& op) {
    op.kind = OpKind::kScan;
    op.options = ParseOptions({"with_match_id"});
    if (AcceptWord("declare")) {
      Expect("(");
      do {
        NamedExpr d;
        d.name = TakeName("a column name");
        Expect(":");
        d.type = TakeName("a column type");
        if (Accept("=")) d.default_value = ParseExpr();
        op.items.push_back(std::move(d));
      } while (Accept(","));
      Expect(")");
    }
    ExpectWord("with");
    Expect("(");
    do {
      if (!IsWord("step")) Expected("'step'");
      ScanStep st;
      st.pos = Take().pos;
      st.name = TakeName("a step name");
      if (AcceptWord("output")) {
        Expect("=");
        if (!IsWord("all") && !IsWord("last") && !IsWord("none")) Expected("all, last or none");
        st.output = Take().text;
      }
      Expect(":");
      st.condition = ParseExpr();
      if (Accept("=>")) {
        do {
          NamedExpr a;
          a.name = TakeName("a declared column name");
          Expect("=");
          a.expr = ParseExpr();
          st.assignments.push_back(std::move(a));
        } while (Accept(","));
      }
      op.steps.push_back(std::move(st));
    } while (Accept(";") && IsWord("step"));
    Expect(")");
    ResolveStepReferences(op);
  }

  // `Step.Column` where Step names a step becomes the name "Step.Column" (ast.h). Iterative:
  // conditions may be as deep as the parser allows.
  static void ResolveStepReferences(Operator& op) {
    std::vector<Expr*> pending;
    for (ScanStep& st : op.steps) {
      pending.push_back(st.condition.get());
      for (NamedExpr& a : st.assignments) pending.push_back(a.expr.get());
    }
    while (!pending.empty()) {
      Expr* e = pending.back();
      pending.pop_back();
      if (e->kind == ExprKind::kMember && e->args.size() == 1 && e->args[0]->kind == ExprKind::kName &&
          std::any_of(op.steps.begin(), op.steps.end(),
                      [&](const ScanStep& st) { return st.name == e->args[0]->name; })) {
        e->kind = ExprKind::kName;
        e->name = e->args[0]->name + "." + e->name;
        e->args.clear();
        continue;
      }
      for (ExprPtr& a : e->args) pending.push_back(a.get());
    }
  }

  // reduce [kind=source] by Expr [with [threshold=T] [, characters=C]]
  void ParseReduce(Operator& op) {
    op.kind = OpKind::kReduce;
    op.options = ParseOptions({"kind"});
    ExpectWord("by");
    op.expr = ParseExpr();
    if (!AcceptWord("with")) return;
    do {
      if (!IsWord("threshold") && !IsWord("characters")) Expected("threshold or characters");
      NamedExpr item;
      item.name = Take().text;
      Expect("=");
      item.expr = ParseExpr();
      op.items.push_back(std::move(item));
    } while (Accept(","));
  }

  // fork [name=](subquery) [name=](subquery) ...
  void ParseFork(Operator& op) {
    op.kind = OpKind::kFork;
    while (IsPunct("(") || (NameLength() > 0 && IsPunct("=", NameLength()) && IsPunct("(", NameLength() + 1))) {
      NamedExpr leg;
      if (!IsPunct("(")) {
        leg.name = TakeName("a name");
        Take();
      }
      Expect("(");
      op.tables.push_back(ParseSubPipeline());
      Expect(")");
      op.items.push_back(std::move(leg));
    }
    if (op.tables.empty()) Expected("'(' and a subquery after 'fork'");
  }

  // A pipeline without a source (`where x > 1 | take 3`, an optional leading '|'): the
  // subquery of mv-apply, partition, fork and facet, which reads its operator's rows.
  TabularPtr ParseSubPipeline() {
    DepthGuard guard(this);
    auto t = std::make_unique<Tabular>();
    t->pos = t->source.pos = Peek().pos;
    t->source.kind = SourceKind::kNone;
    Accept("|");
    t->ops.push_back(ParseOperator());
    ParsePipes(*t);
    return t;
  }

  void ParseExpandItems(Operator& op) {
    do {
      NamedExpr item = ParseNamedExpr();
      if (AcceptWord("to")) {
        ExpectWord("typeof");
        Expect("(");
        item.type = TakeName("a type name");
        Expect(")");
      }
      op.items.push_back(std::move(item));
    } while (Accept(","));
    if (AcceptWord("limit")) op.expr = ParseExpr();
  }

  // parse-kv Expr as (Key[:type], ...) [with (name=value, ...)]; the binder checks the options.
  void ParseParseKv(Operator& op) {
    op.kind = OpKind::kParseKv;
    op.expr = ParseExpr();
    ExpectWord("as");
    Expect("(");
    do {
      NamedExpr key;
      key.name = TakeName("a key name");
      if (Accept(":")) key.type = TakeName("a type name");
      op.items.push_back(std::move(key));
    } while (Accept(","));
    Expect(")");
    if (!AcceptWord("with")) return;
    Expect("(");
    while (!IsPunct(")")) {
      if (!op.options.empty()) Expect(",");
      Option o;
      o.key = TakeName("a parse-kv option");
      Expect("=");
      if (Peek().kind != TokenKind::kString && Peek().kind != TokenKind::kIdentifier) {
        Expected("a string for parse-kv option '" + o.key + "'");
      }
      o.value = Take().text;
      op.options.push_back(std::move(o));
    }
    Take();
  }

  void ParseParse(Operator& op) {
    op.kind = OpKind::kParse;
    op.options = ParseOptions({"kind", "flags"});
    op.expr = ParseExpr();
    ExpectWord("with");
    while (!AtOperatorEnd()) {
      ParsePart part;
      if (Accept("*")) {
        part.kind = ParsePart::Kind::kWildcard;
      } else if (Peek().kind == TokenKind::kString) {
        part.kind = ParsePart::Kind::kLiteral;
        part.text = Take().text;
      } else {
        part.kind = ParsePart::Kind::kColumn;
        part.text = TakeName("'*', a string or a column name in the parse pattern");
        if (Accept(":")) part.type = TakeName("a type name");
      }
      op.pattern.push_back(std::move(part));
    }
    if (op.pattern.empty()) Expected("a parse pattern");
  }

  void ParseSearch(Operator& op) {
    op.kind = OpKind::kSearch;
    op.options = ParseOptions({"kind"});
    if (IsWord("in") && IsPunct("(", 1)) {
      Take();
      Take();
      op.tables = ParseUnionLegs();
      Expect(")");
    }
    // `Column:"term"` is search's own (search-operator.md): the term looked for in one column.
    bool was = in_search_;
    in_search_ = true;
    op.expr = ParseExpr();
    in_search_ = was;
  }

  // find [withsource=C] [in (T, ...)] [where] Predicate [project-smart | project C[:type], ..., pack_all()]
  void ParseFind(Operator& op) {
    op.kind = OpKind::kFind;
    op.options = ParseOptions({"withsource"});
    if (IsWord("in") && IsPunct("(", 1)) {
      Take();
      Take();
      op.tables = ParseUnionLegs();
      Expect(")");
    }
    AcceptWord("where");
    op.expr = ParseExpr();
    op.name = "project-smart";
    if (!IsWord("project")) return;
    op.name = TakeOperatorName();
    if (op.name == "project-smart") return;
    if (op.name != "project") Expected("project or project-smart after find's predicate");
    do {
      NamedExpr item;
      if (IsWord("pack_all") && IsPunct("(", 1) && IsPunct(")", 2)) {
        Take();
        Take();
        Take();
        item.name = "pack_all()";
      } else {
        item.name = TakeName("a column name");
        if (Accept(":")) item.type = TakeName("a column type");
      }
      op.items.push_back(std::move(item));
    } while (Accept(","));
  }

  void ParseMakeSeries(Operator& op) {
    op.kind = OpKind::kMakeSeries;
    op.options = ParseOptions({"kind"});
    do {
      NamedExpr item = ParseNamedExpr();
      if (IsWord("default") && IsPunct("=", 1)) {
        Take();
        Take();
        item.default_value = ParseExpr();
      }
      op.items.push_back(std::move(item));
    } while (Accept(","));
    ExpectWord("on");
    op.expr = ParseExpr();
    if (AcceptWord("from")) op.from = ParseExpr();
    if (AcceptWord("to")) op.to = ParseExpr();
    ExpectWord("step");
    op.step = ParseExpr();
    if (AcceptWord("by")) op.by = ParseNamedList();
  }

  void ParseRender(Operator& op) {
    op.kind = OpKind::kRender;
    op.name = TakeName("a visualization after 'render'");
    if (!AcceptWord("with")) return;
    Expect("(");
    while (!IsPunct(")")) {
      if (!op.options.empty()) Expect(",");
      Option o;
      o.key = TakeName("a render property");
      Expect("=");
      // Values run to the next `, name =` or ')': ycolumns=a,b is one value.
      size_t begin = Peek().pos.offset;
      bool single_string = Peek().kind == TokenKind::kString && (IsPunct(",", 1) || IsPunct(")", 1));
      if (single_string) o.value = Take().text;
      while (!single_string && !IsPunct(")") &&
             !(IsPunct(",") && NameLength(1) > 0 && IsPunct("=", 1 + NameLength(1)))) {
        if (Peek().kind == TokenKind::kEnd) Expected("')'");
        Take();
      }
      if (!single_string) o.value = SourceText(begin, toks_[i_ - 1].end);
      op.options.push_back(std::move(o));
    }
    Take();
  }

  // ---- Scalar expressions, lowest precedence first.
  std::vector<NamedExpr> ParseNamedList() {
    std::vector<NamedExpr> out;
    do {
      out.push_back(ParseNamedExpr());
    } while (Accept(","));
    return out;
  }

  NamedExpr ParseNamedExpr() {
    NamedExpr n;
    if (size_t k = TupleNamesLength(); k > 0) {  // (a, b, c) = series_fit_line(y)
      Take();
      do {
        n.names.push_back(TakeName("a name"));
      } while (Accept(","));
      Expect(")");
      Expect("=");
      n.expr = ParseExpr();
      return n;
    }
    size_t len = NameLength();
    if (len > 0 && IsPunct("=", len)) {
      n.name = TakeName("a name");
      Take();
    }
    n.expr = ParseExpr();
    return n;
  }

  static ExprPtr Node(ExprKind kind, Position pos, std::string name) {
    auto e = std::make_unique<Expr>();
    e->kind = kind;
    e->pos = pos;
    e->name = std::move(name);
    return e;
  }
  static ExprPtr Binary(std::string op, ExprPtr lhs, ExprPtr rhs) {
    ExprPtr e = Node(ExprKind::kBinary, lhs->pos, std::move(op));
    e->args.push_back(std::move(lhs));
    e->args.push_back(std::move(rhs));
    return e;
  }

  ExprPtr ParseExpr() {
    DepthGuard guard(this);
    ExprPtr lhs = ParseAnd();
    while (AcceptWord("or")) lhs = Binary("or", std::move(lhs), ParseAnd());
    return lhs;
  }

  ExprPtr ParseAnd() {
    ExprPtr lhs = ParseComparison();
    while (AcceptWord("and")) lhs = Binary("and", std::move(lhs), ParseComparison());
    return lhs;
  }

  ExprPtr ParseComparison() {
    ExprPtr lhs = ParseAdditive();
    for (;;) {
      const Token& t = Peek();
      bool word = t.kind == TokenKind::kIdentifier || t.kind == TokenKind::kPunct;
      if (t.kind == TokenKind::kPunct && kCompareOps.count(t.text)) {
        std::string op = Take().text;
        lhs = Binary(op == "<>" ? "!=" : op, std::move(lhs), ParseAdditive());
      } else if (word && kStringOps.count(t.text)) {
        std::string op = Take().text;
        lhs = Binary(op, std::move(lhs), ParseAdditive());
      } else if (IsWord("matches") && IsWord("regex", 1)) {
        Take();
        Take();
        lhs = Binary("matches regex", std::move(lhs), ParseAdditive());
      } else if (IsWord("in") || IsPunct("!in") || IsPunct("in~") || IsPunct("!in~") ||
                 IsWord("has_any") || IsWord("has_all")) {
        ExprPtr e = Node(ExprKind::kIn, lhs->pos, Take().text);
        e->args.push_back(std::move(lhs));
        Expect("(");
        do {
          e->args.push_back(ParseScalarOrTabular());
        } while (Accept(","));
        Expect(")");
        lhs = std::move(e);
      } else if (IsWord("between") || IsPunct("!between")) {
        ExprPtr e = Node(ExprKind::kBetween, lhs->pos, Take().text);
        e->args.push_back(std::move(lhs));
        Expect("(");
        e->args.push_back(ParseAdditive());
        Expect("..");
        e->args.push_back(ParseAdditive());
        Expect(")");
        lhs = std::move(e);
      } else {
        return lhs;
      }
    }
  }

  ExprPtr ParseAdditive() {
    ExprPtr lhs = ParseMultiplicative();
    while (IsPunct("+") || IsPunct("-")) {
      std::string op = Take().text;
      lhs = Binary(op, std::move(lhs), ParseMultiplicative());
    }
    return lhs;
  }

  ExprPtr ParseMultiplicative() {
    ExprPtr lhs = ParseUnary();
    while (IsPunct("*") || IsPunct("/") || IsPunct("%")) {
      std::string op = Take().text;
      lhs = Binary(op, std::move(lhs), ParseUnary());
    }
    return lhs;
  }

  ExprPtr ParseUnary() {
    if (IsPunct("-") || IsPunct("+")) {
      DepthGuard guard(this);
      const Token& t = Take();
      ExprPtr e = Node(ExprKind::kUnary, t.pos, t.text);
      e->args.push_back(ParseUnary());
      return e;
    }
    return ParsePostfix();
  }

  ExprPtr ParsePostfix() {
    ExprPtr e = ParsePrimary();
    for (;;) {
      if (IsPunct(".") && IsPunct("[", 1)) {  // d.['key'] and d.[expr] are d['key'], d[expr]
        Take();
      } else if (IsPunct(".")) {
        Position pos = Take().pos;
        ExprPtr m = Node(ExprKind::kMember, pos, TakeName("a property name after '.'"));
        m->args.push_back(std::move(e));
        e = std::move(m);
      } else if (IsPunct("[")) {
        Position pos = Take().pos;
        ExprPtr ix = Node(ExprKind::kIndex, pos, "");
        ix->args.push_back(std::move(e));
        ix->args.push_back(ParseExpr());
        Expect("]");
        e = std::move(ix);
      } else {
        return e;
      }
    }
  }

  std::vector<ExprPtr> ParseArgs() {  // After '(' up to and including ')'.
    std::vector<ExprPtr> args;
    while (!IsPunct(")")) {
      if (!args.empty()) Expect(",");
      std::string arg_name;
      if (Peek().kind == TokenKind::kIdentifier && IsPunct("=", 1)) {  // named: f(c=7)
        arg_name = Take().text;
        Take();
      }
      args.push_back(ParseScalarOrTabular());
      args.back()->arg_name = std::move(arg_name);
    }
    Take();
    return args;
  }

  ExprPtr LiteralNode(Position pos, LiteralKind kind, std::string text) {
    ExprPtr e = Node(ExprKind::kLiteral, pos, "");
    e->literal.kind = kind;
    e->literal.text = std::move(text);
    return e;
  }

  ExprPtr ParsePrimary() {
    const Token& t = Peek();
    switch (t.kind) {
      case TokenKind::kLong:
      case TokenKind::kReal:
      case TokenKind::kTimespan: {
        Take();
        ExprPtr e = LiteralNode(t.pos, t.kind == TokenKind::kLong   ? LiteralKind::kLong
                                       : t.kind == TokenKind::kReal ? LiteralKind::kReal
                                                                    : LiteralKind::kTimespan,
                                t.text);
        e->literal.int_value = t.int_value;
        e->literal.real_value = t.real_value;
        return e;
      }
      case TokenKind::kString: {
        ExprPtr e = LiteralNode(t.pos, LiteralKind::kString, Take().text);
        while (Peek().kind == TokenKind::kString) e->literal.text += Take().text;  // 'a' 'b'
        return e;
      }
      case TokenKind::kIdentifier:
        if (in_search_ && IsPunct(":", 1) && Peek(2).kind == TokenKind::kString) {
          ExprPtr column = Node(ExprKind::kName, t.pos, TakeName("a column name"));
          Take();  // ':'
          return Binary(":", std::move(column), ParsePrimary());
        }
        return ParseNamePrimary();
      case TokenKind::kPunct:
        if (Accept("(")) {
          ExprPtr e = ParseExpr();
          Expect(")");
          return e;
        }
        if (IsPunct("*")) return Node(ExprKind::kName, Take().pos, "*");
        if (NameLength() == 3) return Node(ExprKind::kName, t.pos, TakeName("a name"));
        break;
      default:
        break;
    }
    Expected("an expression");
  }

  ExprPtr ParseNamePrimary() {
    const Token& t = Take();
    if (t.text == "true" || t.text == "false") {
      ExprPtr e = LiteralNode(t.pos, LiteralKind::kBool, t.text);
      e->literal.int_value = t.text == "true";
      return e;
    }
    if (!IsPunct("(")) return Node(ExprKind::kName, t.pos, t.text);
    if (Peek(1).kind == TokenKind::kRaw) return ParseRawLiteral(t);
    if (kTypedLiterals.count(t.text)) return ParseTypedLiteral(t);
    Take();
    ExprPtr call = Node(ExprKind::kCall, t.pos, t.text);
    call->args = ParseArgs();
    return call;
  }

  // datetime(...), timespan(...), guid(...), dynamic(...): the lexer kept the body as kRaw.
  ExprPtr ParseRawLiteral(const Token& fn) {
    Take();
    const Token& raw = Take();
    Expect(")");
    const std::string& f = fn.text;
    std::string type = f == "date" ? "datetime" : f == "time" ? "timespan" : f;
    if (raw.text == "null" && type != "dynamic") {
      ExprPtr e = LiteralNode(fn.pos, LiteralKind::kNull, "");
      e->literal.type = type;
      return e;
    }
    if (raw.text.empty() && type == "datetime") return Node(ExprKind::kCall, fn.pos, "now");
    if (raw.text.empty() && type != "dynamic") Error("Empty " + f + " literal", raw.pos);
    LiteralKind kind = type == "datetime"   ? LiteralKind::kDatetime
                       : type == "timespan" ? LiteralKind::kTimespan
                       : type == "guid"     ? LiteralKind::kGuid
                                            : LiteralKind::kDynamic;
    ExprPtr e = LiteralNode(fn.pos, kind, raw.text);
    if (kind == LiteralKind::kTimespan) {
      std::optional<int64_t> ticks = ParseTimespanText(raw.text);
      if (!ticks) Error("Invalid timespan literal '" + raw.text + "'", raw.pos);
      e->literal.int_value = *ticks;
    }
    return e;
  }

  // long(null), int(5), real(nan), real(-inf), bool(true).
  ExprPtr ParseTypedLiteral(const Token& type) {
    Take();
    ExprPtr e;
    if (AcceptWord("null")) {
      e = LiteralNode(type.pos, LiteralKind::kNull, "");
    } else if (IsWord("true") || IsWord("false")) {
      e = LiteralNode(type.pos, LiteralKind::kBool, Peek().text);
      e->literal.int_value = Take().text == "true";
    } else {
      std::string sign = IsPunct("-") || IsPunct("+") ? Take().text : "";
      const Token& v = Peek();
      double s = sign == "-" ? -1 : 1;
      if (v.kind == TokenKind::kLong || v.kind == TokenKind::kReal) {
        bool real = v.kind == TokenKind::kReal || type.text == "real" || type.text == "double" ||
                    type.text == "decimal";
        e = LiteralNode(type.pos, real ? LiteralKind::kReal : LiteralKind::kLong, sign + v.text);
        e->literal.int_value = sign == "-" ? -v.int_value : v.int_value;
        e->literal.real_value = s * v.real_value;
      } else if (IsWord("nan") || IsWord("inf")) {
        e = LiteralNode(type.pos, LiteralKind::kReal, sign + v.text);
        e->literal.real_value = v.text == "nan" ? std::numeric_limits<double>::quiet_NaN()
                                                : s * std::numeric_limits<double>::infinity();
      } else {
        Expected("a literal inside " + type.text + "(...)");
      }
      Take();
    }
    e->literal.type = type.text;
    Expect(")");
    return e;
  }

  std::string_view text_;
  std::vector<Token> toks_;
  size_t i_ = 0;
  int depth_ = 0;
  size_t lets_ = 0;
  bool in_search_ = false;  // parsing search's predicate (`Column:"term"`)
};

// The height of the query's tree (statements, tabular expressions, operators and expressions
// each count one level), walked with an explicit stack. Stops early past `limit` and returns
// the position of the first node found deeper.
std::optional<Position> FirstNodeDeeperThan(const Query& q, size_t limit) {
  struct Item {
    const Expr* expr = nullptr;
    const Tabular* tabular = nullptr;
    const Statement* statement = nullptr;
    size_t depth = 0;
  };
  std::vector<Item> stack;
  for (const Statement& s : q.statements) stack.push_back({nullptr, nullptr, &s, 1});
  auto expr = [&](const ExprPtr& e, size_t d) {
    if (e) stack.push_back({e.get(), nullptr, nullptr, d});
  };
  auto tab = [&](const TabularPtr& t, size_t d) {
    if (t) stack.push_back({nullptr, t.get(), nullptr, d});
  };
  while (!stack.empty()) {
    Item it = stack.back();
    stack.pop_back();
    size_t d = it.depth + 1;
    if (it.expr != nullptr) {
      if (it.depth > limit) return it.expr->pos;
      for (const ExprPtr& a : it.expr->args) expr(a, d);
      tab(it.expr->tabular, d);
    } else if (it.statement != nullptr) {
      if (it.depth > limit) return it.statement->pos;
      expr(it.statement->value, d);
      for (const ColumnDecl& p : it.statement->params) expr(p.default_value, d);
      for (const Statement& s : it.statement->body) stack.push_back({nullptr, nullptr, &s, d});
    } else {
      const Tabular& t = *it.tabular;
      if (it.depth > limit) return t.pos;
      const Source& s = t.source;
      for (const ExprPtr& a : s.args) expr(a, d);
      for (const NamedExpr& n : s.items) expr(n.expr, d);
      for (const ColumnDecl& c : s.columns) expr(c.default_value, d);
      for (const TabularPtr& x : s.tables) tab(x, d);
      expr(s.from, d);
      expr(s.to, d);
      expr(s.step, d);
      for (const Operator& op : t.ops) {
        expr(op.expr, d);
        for (const auto* list : {&op.items, &op.by}) {
          for (const NamedExpr& n : *list) {
            expr(n.expr, d);
            expr(n.default_value, d);
          }
        }
        for (const SortKey& k : op.sort) expr(k.expr, d);
        for (const TabularPtr& x : op.tables) tab(x, d);
        expr(op.from, d);
        expr(op.to, d);
        expr(op.step, d);
      }
    }
  }
  return std::nullopt;
}

}  // namespace

Result<Query> ParseQuery(std::string_view text, Position* error_position) {
  try {
    Parser parser(text, internal::Lex(text));
    Query q = parser.Run();
    if (std::optional<Position> deep = FirstNodeDeeperThan(q, kMaxHeight)) {
      throw SyntaxError("Query too deeply nested: more than " + std::to_string(kMaxHeight) +
                            " levels of expressions (long chains such as a+b+c+... count one level per term)",
                        *deep);
    }
    return q;
  } catch (const SyntaxError& e) {
    if (error_position != nullptr) *error_position = e.position();
    return Status(StatusCode::kInvalidArgument,
                  std::string(e.what()) + " at " + e.position().ToString(), "SyntaxError");
  }
}

}  // namespace cmk::kql
