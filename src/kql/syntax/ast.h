#pragma once
// KQL abstract syntax tree produced by the parser (parser.h). Plain structs owning their children
// through unique_ptr; no semantic checks happen here (names, types and functions are resolved by
// the binder). Each node records the Position of its first token for error messages.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "kql/syntax/token.h"

namespace cmk::kql {

struct Expr;
struct Tabular;
using ExprPtr = std::unique_ptr<Expr>;
using TabularPtr = std::unique_ptr<Tabular>;

enum class LiteralKind { kNull, kBool, kLong, kReal, kString, kDatetime, kTimespan, kGuid, kDynamic };

struct Literal {
  LiteralKind kind = LiteralKind::kNull;
  // Declared type of the typed forms: "long" for long(null), "int" for int(5), "datetime" for
  // datetime(null). Empty for plain literals.
  std::string type;
  // kString: decoded value. kDatetime, kGuid, kDynamic: source text inside the parentheses.
  // kLong, kReal, kTimespan: source text of the number.
  std::string text;
  int64_t int_value = 0;  // kBool (0 or 1), kLong, kTimespan (ticks of 100 ns).
  double real_value = 0;  // kReal.
};

enum class ExprKind {
  kLiteral,  // literal.
  kName,     // name: a column, let name, $left/$right, or "*" (arg_max(x, *), search *).
  kUnary,    // name: "-" or "+"; args: [operand].
  kBinary,   // name: "or", "and", "==", "=~", "has", "!contains", "matches regex", "+", ...
  kCall,     // name: function; args: arguments (an argument may be kTabular: toscalar(T | count)).
  kMember,   // name: property; args: [object]. `a.b`, `$left.Key`.
  kIndex,    // args: [object, index]. `d["key"]`, `a[0]`.
  kIn,       // name: "in", "!in", "in~", "!in~", "has_any", "has_all"; args: [value, item...]
             // (an item may be kTabular: `x in (T | project y)`).
  kBetween,  // name: "between" or "!between"; args: [value, low, high].
  kTabular,  // tabular: a tabular expression used where a value may stand (let, toscalar, in).
};

struct Expr {
  ExprKind kind = ExprKind::kName;
  Position pos;
  std::string name;
  std::vector<ExprPtr> args;
  Literal literal;
  TabularPtr tabular;
  std::string arg_name;  // a call argument given by name: `f(12, c=7)`
  // Destroys the children with an explicit stack, not by recursion, so that even a tree the
  // parser then rejects as too deep (a 200,000-term `1+1+...`) is freed safely.
  ~Expr();
  Expr() = default;
  Expr(Expr&&) = default;
  Expr& operator=(Expr&&) = default;
};

// `[Name =] expr` in extend, project, summarize, print, ... Column lists (project-away) have a
// name and no expr.
struct NamedExpr {
  std::string name;
  ExprPtr expr;
  std::string type;       // mv-expand `to typeof(T)`; project-reorder direction (asc, desc, ...).
  ExprPtr default_value;  // make-series `Agg default = v`.
  std::vector<std::string> names;  // `(a, b) = f(x)`: the columns of a multi-value function
};

// A declared column or parameter: datatable `(a:long)`, let function `(x:long = 5, T:(*))`.
struct ColumnDecl {
  std::string name;
  std::string type;  // Type name; tabular parameters keep their schema text, e.g. "(*)".
  ExprPtr default_value;
};

struct SortKey {
  ExprPtr expr;
  bool ascending = false;    // Kusto sorts descending unless told otherwise.
  bool nulls_first = false;  // Defaults: asc -> nulls first, desc -> nulls last.
};

// `key=value` operator options: join kind=leftouter, union withsource=T, hint.strategy=shuffle.
struct Option {
  std::string key;
  std::string value;
};

// One segment of a `parse ... with` pattern.
struct ParsePart {
  enum class Kind { kWildcard, kLiteral, kColumn };
  Kind kind = Kind::kWildcard;
  std::string text;  // kLiteral: the string; kColumn: the column name.
  std::string type;  // kColumn: declared type, "" for string.
};

enum class OpKind {
  kWhere, kExtend, kProject, kProjectAway, kProjectKeep, kProjectRename, kProjectReorder,
  kSummarize, kSort, kTop, kTake, kDistinct, kCount, kJoin, kLookup, kUnion, kMvExpand, kParse,
  kSearch, kMakeSeries, kGetSchema, kAs, kSerialize, kRender, kMvApply, kPartition,
  kParseWhere, kEvaluate, kSample, kSampleDistinct, kProjectByNames, kInvoke,
  kTopNested, kConsume, kFork, kFacet, kParseKv, kScan, kReduce, kFind,
};

// One `step Name [output=all|last|none]: Condition [=> Column = Expr, ...];` of scan. In the
// condition and assignments, `Step.Column` (a member access on a step name) parses as the name
// "Step.Column" (kName): a reference to that step's record in scan's state.
struct ScanStep {
  Position pos;
  std::string name;
  std::string output = "all";
  ExprPtr condition;
  std::vector<NamedExpr> assignments;  // name = declared column, expr = value
};

// A tabular operator after '|'. Fields used per kind:
//   where, search: expr = predicate (search: tables = `in (T1, T2)`).
//   extend, project, serialize: items. project-away/-keep/-reorder: items (name = pattern).
//   project-rename: items (name = new name, expr = old name).
//   summarize: items = aggregates, by = group keys. make-series: items = aggregates,
//     expr = axis (`on`), from/to/step, by.
//   sort, top: sort (top: expr = count). take: expr = count. distinct: items.
//   join, lookup: tables[0] = right side, by = `on` conditions. union: tables = legs.
//   mv-expand: items, expr = `limit`. parse, parse-where: expr = source, pattern.
//   parse-kv: expr = source, items = the keys (name, type), options = `with (...)` options.
//   as: name. render: name = visualization, options = `with (...)` properties.
//   mv-apply: items and expr (`limit`) as mv-expand, tables[0] = the subquery (a Tabular whose
//     source is kNone: it reads the expanded rows). partition: by[0] = the key column,
//     tables[0] = the subquery (source kNone for `( ... )`, a full tabular for `{ ... }`).
//   evaluate: expr = the plugin call, items = the output schema `: (*, Name:type, ...)` (name
//     "*" for the wildcard, else name and type).
//   sample: expr = count. sample-distinct: expr = count, name = column. project-by-names: items
//     (exprs: names, arrays of names, patterns). invoke: expr = the function call.
//   top-nested: two items per level: items[2i] = `[Name=]Expr` (default_value: `with others`),
//     items[2i+1] = `[Name=]Aggregation` (type: "asc" or "desc", default_value: N or null).
//   fork: tables = the legs (source kNone), items[i].name = leg i's name or "". facet: by =
//     the columns, tables[0] = the `with ( ... )` subquery when given. Both end a statement:
//     each leg or column gives a result table of its own.
//   find: options = withsource, tables = `in (...)` (none: every table and view), expr = the
//     predicate, name = "project" or "project-smart", items = the project list (name, type;
//     `pack_all()` is the item named "pack_all()").
//   scan: options = with_match_id, items = `declare` columns (name, type, default_value),
//     steps. reduce: options = kind, expr = the `by` value, items = `with` threshold/characters.
struct Operator {
  OpKind kind = OpKind::kWhere;
  Position pos;
  std::vector<Option> options;
  ExprPtr expr;
  std::vector<NamedExpr> items;
  std::vector<NamedExpr> by;
  std::vector<SortKey> sort;
  std::vector<TabularPtr> tables;
  std::vector<ParsePart> pattern;
  ExprPtr from, to, step;
  std::string name;
  std::vector<ScanStep> steps;
};

enum class SourceKind {
  kNone,       // The query starts with `search`: every table in scope.
  kTable,      // name (union legs may hold wildcards: App*).
  kCall,       // name(args): a stored or let-defined tabular function; a pattern invocation
               // P(args).path or P(args).["path"] sets `path` (has_path).
  kSubquery,   // tables[0]: `( ... )`.
  kUnion,      // options (withsource, kind, isfuzzy), tables = legs.
  kDatatable,  // columns, args = values in row-major order.
  kPrint,      // items.
  kRange,      // name = column, from/to/step.
};

struct Source {
  SourceKind kind = SourceKind::kNone;
  Position pos;
  std::string name;
  std::vector<ExprPtr> args;
  std::vector<NamedExpr> items;
  std::vector<ColumnDecl> columns;
  std::vector<TabularPtr> tables;
  std::vector<Option> options;
  ExprPtr from, to, step;
  std::string path;  // kCall: a pattern's path
  bool has_path = false;
};

// source | op | op ...
struct Tabular {
  Position pos;
  Source source;
  std::vector<Operator> ops;
};

inline Expr::~Expr() {
  if (args.empty()) return;
  std::vector<ExprPtr> pending = std::move(args);
  while (!pending.empty()) {
    ExprPtr e = std::move(pending.back());
    pending.pop_back();
    for (ExprPtr& a : e->args) pending.push_back(std::move(a));
    e->args.clear();
  }  // each `e` is destroyed here without children (its tabular, if any, is shallow)
}

enum class StatementKind {
  kLet,   // let name = value;  or  let name = (params) { body };
  kExpr,  // An expression statement: tabular at top level; the result of a function body.
  kSet,   // set name [= value]: a request property for the statements after it (value may be null).
  kPattern,   // declare pattern name [= (params)[path] { cases }]: params, pattern_path, cases.
  kRestrict,  // restrict access to (names): params hold the entity names (wildcards allowed).
};

struct PatternCase;

struct Statement {
  StatementKind kind = StatementKind::kExpr;
  Position pos;
  std::string name;  // kLet.
  // kLet: the bound value (null for functions); kExpr: the expression. Tabular values are
  // kTabular. A bare name or call (`let T = Heartbeat;`) stays a scalar kName/kCall: whether it
  // denotes a table is decided by the binder.
  ExprPtr value;
  bool is_function = false;
  bool is_view = false;  // `let V = view () { ... }`: seen by union/search/find wildcards
  ColumnDecl pattern_path;  // kPattern: the `[path:string]` parameter (name empty: none)
  std::vector<PatternCase> cases;  // kPattern: the mappings (none for `declare pattern P;`)
  std::vector<ColumnDecl> params;
  std::vector<Statement> body;  // Function body: let statements, then one kExpr.
};

// `("v1", "v2").["path"] = { body }` of a pattern: argument values, path value and a body
// bound like a function without parameters.
struct PatternCase {
  Position pos;
  std::vector<std::string> args;
  std::string path;
  Statement fn;
};

// A query: let statements and one or more tabular expression statements, in order.
struct Query {
  std::vector<Statement> statements;
};

}  // namespace cmk::kql
