#pragma once
// Private to binder*.cc: the Binder class shared by the statement and name half (binder.cc), the
// expressions (binder_expr.cc) and the tabular operators (binder_tabular.cc and one
// binder_<operator>.cc per operator family).
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "kql/semantic/binder.h"

namespace cmk::kql::internal {

struct Scope;

struct Binding {
  enum class Kind { kScalar, kTabular, kFunction, kPattern };  // kPattern: fn is the declaration
  Kind kind = Kind::kScalar;
  BoundExpr scalar;
  const Expr* expr = nullptr;       // kTabular: the tabular expression (or a name/call denoting one)
  const Statement* fn = nullptr;    // kFunction
  const Scope* scope = nullptr;     // where expr/fn was defined
  std::shared_ptr<const Table> table;  // kTabular: rows given by value (invoke's input), not expr
  // kScalar bound to a function argument that reads the caller's row (`f(Column)`): its column
  // references index this schema, so it may only be used where the same columns are in scope.
  std::optional<Schema> row_schema;
};
// Whether `e` reads the row it is evaluated on (a column, row_number(), prev(), ...).
bool ReadsRow(const BoundExpr& e);
// Replaces each column reference of `e` by defs[column] (a projection's expressions).
void Substitute(BoundExpr& e, const std::vector<BoundExpr>& defs);
// Whether `e` depends on its row only through columns below `limit`: no window functions
// (row_number, prev, ...) and nothing random.
bool ReadsOnlyColumnsBelow(const BoundExpr& e, size_t limit);
// Recomputes the heights and node counts of `e` (after a Substitute) from its leaves; false when
// it is then past the limits binding holds every expression to (the evaluator recurses by height).
bool RefreshWithinLimits(BoundExpr& e);

struct Scope {
  const Scope* parent = nullptr;
  std::map<std::string, Binding> names;
  // Set on the root scope after `restrict access to (...)`: the entity names (patterns) the
  // statements after it may reference; tables outside it don't resolve there.
  const std::vector<ColumnDecl>* restrict_to = nullptr;
  const Binding* Find(const std::string& name) const {
    for (const Scope* s = this; s != nullptr; s = s->parent) {
      auto it = s->names.find(name);
      if (it != s->names.end()) return &it->second;
    }
    return nullptr;
  }
};

// Aggregates found inside a summarize item: `round(avg(x), 2)` binds avg(x) as a hidden output.
struct AggContext {
  const Schema* input = nullptr;
  std::vector<BoundAggregate>* aggs = nullptr;
  size_t first_output = 0;   // index of the first aggregate output in the summarize schema
  size_t outputs = 0;        // aggregate outputs so far
  std::vector<std::string> by_names;  // excluded from arg_max(x, *)
};

Result<BoundExpr> BindLiteral(const Expr& e);
bool IsNondeterministicName(const std::string& name);
bool IsWindowFunction(const std::string& name);
// A kValues node holding a copy of `t`.
std::unique_ptr<PlanNode> ValuesNode(const Table& t);
// binder_pushdown.cc: narrows the scans under `n` to the columns its output columns marked in
// `need_out` are computed from (a bound query's results: every column). A subquery's
// kSubInput marks what it needs of its input's columns in `sub_input`, when given (else all).
void PruneColumns(PlanNode& n, std::vector<bool> need_out, std::vector<bool>* sub_input = nullptr);
Status SemanticError(const std::string& message, const Position& pos);
using PlanPtr = std::unique_ptr<PlanNode>;

class Binder {
 public:
  Binder(const ExecContext& ctx) : ctx_(ctx) {}
  Result<BoundQuery> BindQuery(const Query& q);

  // binder.cc: names, expressions, sources, statements.
  Result<PlanPtr> BindTabularExpr(const Expr& e, const Scope* s);
  // `input`: the rows a source-less subquery (mv-apply, partition) reads.
  // `ops_end`: bind the operators before this index only (fork and facet bind the rest).
  Result<PlanPtr> BindTabular(const Tabular& t, const Scope* s, PlanPtr input = nullptr,
                              size_t ops_end = SIZE_MAX);
  // binder_subquery.cc: a statement ending in fork or facet gives several results.
  Status BindForked(const Tabular& t, const Scope* s, std::vector<PlanPtr>& results);
  Result<PlanPtr> ResolveTable(const std::string& name, const Position& pos, const Scope* s);
  Result<PlanPtr> CallTabular(const std::string& name, const std::vector<ExprPtr>& args,
                              const Position& pos, const Scope* s);
  Result<BoundExpr> BindExpr(const Expr& e, const Schema& schema, const Scope* s,
                             AggContext* agg = nullptr);
  Result<BoundExpr> BindConstant(const Expr& e, const Scope* s);
  // BindExpr's cases, out of line (see binder_expr.cc).
  [[gnu::noinline]] Result<BoundExpr> BindName(const Expr& e, const Schema& schema, const Scope* s);
  [[gnu::noinline]] Result<BoundExpr> BindUnary(const Expr& e, const Schema& schema, const Scope* s, AggContext* agg);
  [[gnu::noinline]] Result<BoundExpr> BindOperands(const Expr& e, const Schema& schema, const Scope* s,
                                                   AggContext* agg);
  [[gnu::noinline]] Result<BoundExpr> BindIn(const Expr& e, const Schema& schema, const Scope* s, AggContext* agg);
  [[gnu::noinline]] Result<BoundExpr> BindAccess(const Expr& e, const Schema& schema, const Scope* s,
                                                 AggContext* agg);
  Result<PlanPtr> BindSource(const Source& src, const Scope* s);
  // The value sources of BindSource: datatable, print and range (large ranges lazily).
  Result<PlanPtr> BindDatatable(const Source& src, const Scope* s);
  Result<PlanPtr> BindPrint(const Source& src, const Scope* s);
  Result<PlanPtr> BindRange(const Source& src, const Scope* s);
  [[gnu::noinline]] Result<BoundExpr> BindCall(const Expr& e, const Schema& schema, const Scope* s, AggContext* agg);
  // binder_window.cc: row_number, prev, next, row_cumsum, row_rank_*, row_window_session
  // (IsWindowFunction names them).
  [[gnu::noinline]] Result<BoundExpr> BindWindowCall(const Expr& e, const Schema& schema, const Scope* s,
                                                     AggContext* agg);
  Result<BoundExpr> MakeCall(const ScalarFunction* fn, std::vector<BoundExpr> args,
                             const std::string& name, const Position& pos);
  Result<BoundExpr> BindPackColumns(const Expr& e, const Schema& schema, const Scope* s);
  Result<BoundExpr> BindAggregateRef(const Expr& e, const Schema& schema, const Scope* s,
                                     AggContext* agg, const std::string& explicit_name);
  Result<Column> ScalarOfTabular(const Expr& e, const Scope* s);
  Result<std::vector<BoundExpr>> ValuesOfTabular(const Expr& e, const Scope* s);
  bool DenotesTable(const Expr& e, const Scope* s) const;
  const Scope* NewScope(const Scope* parent);

  // binder_tabular.cc (dispatch), binder_union.cc (BindUnion, BindLegs), binder_pushdown.cc.
  Result<PlanPtr> BindOperator(const Operator& op, PlanPtr in, const Scope* s);
  Result<PlanPtr> BindUnion(std::vector<PlanPtr> legs, const std::vector<Option>& options,
                            const Position& pos);
  Result<std::vector<PlanPtr>> BindLegs(const std::vector<TabularPtr>& tables, bool fuzzy,
                                        const Scope* s);
  void PushDown(PlanNode& scan, const std::vector<PlanNode*>& chain);
  // `let V = view () {...}` names visible in `s`, in definition order; TablesInScope: the
  // catalog's tables, then those views (what wildcards and table-less search/find range over).
  std::vector<std::string> ViewNames(const Scope* s) const;
  std::vector<std::string> TablesInScope(const Scope* s) const;
  // Whether a catalog table may be referenced from `s` (restrict access to).
  static bool TableAllowed(const std::string& name, const Scope* s);

  const ExecContext& ctx() const { return ctx_; }

  // Complexity limits (binder.cc): one more unit of binding work (`units` for a let value
  // copied into an expression), and the height/size bookkeeping of a new composite expression
  // or plan node. SemanticError "Query too complex..." / "Query too deeply nested..." past them.
  Status Step(const Position& pos, size_t units = 1);
  Status Compose(BoundExpr& e, const Position& pos);
  Status SetPlanHeight(PlanNode& node, const Position& pos);
  std::optional<std::map<std::string, std::string>> render_;
  // `set name = value` request properties so far (query_bin_auto_size, query_bin_auto_at).
  std::map<std::string, Column> request_properties_;

 private:
  // The operator families: binder_<family>.cc (BindProjectLike, BindSortLike: binder_tabular.cc).
  Result<PlanPtr> BindSummarize(const Operator& op, PlanPtr in, const Scope* s);
  Result<PlanPtr> BindJoin(const Operator& op, PlanPtr in, const Scope* s);
  Result<PlanPtr> BindProjectLike(OpKind kind, const std::vector<NamedExpr>& items, PlanPtr in,
                                  const Scope* s);
  // binder_search.cc: search, and `* op x` (every column tested).
  Result<PlanPtr> BindSearch(const Operator& op, PlanPtr in, const Scope* s);
  Result<BoundExpr> BindSearchPredicate(const Expr& e, const Schema& schema, const Scope* s, bool case_sensitive);
  Result<BoundExpr> BindEveryColumn(const std::string& op, BoundExpr needle, const Schema& schema,
                                    const Position& pos);
  Result<PlanPtr> BindMakeSeries(const Operator& op, PlanPtr in, const Scope* s);
  Result<PlanPtr> BindMvExpand(const Operator& op, PlanPtr in, const Scope* s);
  Result<PlanPtr> BindParse(const Operator& op, PlanPtr in, const Scope* s);
  Result<PlanPtr> BindSortLike(const Operator& op, PlanPtr in, const Scope* s);
  // binder_subquery.cc
  Result<PlanPtr> BindMvApply(const Operator& op, PlanPtr in, const Scope* s);
  Result<PlanPtr> BindPartition(const Operator& op, PlanPtr in, const Scope* s);
  Result<PlanPtr> BindTopNested(const Operator& op, PlanPtr in, const Scope* s);
  Result<PlanPtr> BindTopLevel(const NamedExpr& key, const NamedExpr& agg, bool keyed, const Schema& in, const Scope* s);
  // binder_misc_ops.cc: sample, sample-distinct, project-by-names, invoke.
  Result<PlanPtr> BindSample(const Operator& op, PlanPtr in, const Scope* s);
  Result<PlanPtr> BindProjectByNames(const Operator& op, PlanPtr in, const Scope* s);
  Result<PlanPtr> BindInvoke(const Operator& op, PlanPtr in, const Scope* s);
  // P(args).path of `declare pattern P`: the matching case's body, else SemanticError.
  Result<PlanPtr> BindPattern(const Binding& pattern, const Source& src, const Scope* s);
  // table(Name [, DataScope]): the table Name, else the function Name without arguments.
  Result<PlanPtr> BindTableFunction(const std::vector<ExprPtr>& args, const Position& pos, const Scope* s);
  // restrict access to (...): a new root scope holding only the allowed lets.
  Result<const Scope*> Restrict(const Statement& st, const Scope* s);
  // binder_find.cc
  Result<PlanPtr> BindFind(const Operator& op, PlanPtr in, const Scope* s);
  Result<PlanPtr> FindLeg(const Operator& op, PlanPtr leg, const Expr* term, const Schema& pred_cols,
                          const Schema& smart, const Scope* s);
  Result<PlanPtr> FindProject(const Operator& op, PlanPtr filter, size_t own, const Schema& smart,
                              const std::string& name);
  Result<BoundExpr> FindPack(const Schema& schema, const std::vector<int>& cols, const Position& pos);
  // binder_evaluate.cc
  Result<PlanPtr> BindEvaluate(const Operator& op, PlanPtr in, const Scope* s);
  Result<PlanPtr> BindPivot(const Operator& op, PlanPtr in, const Scope* s);
  Result<PlanPtr> BindLegacyPartition(const Operator& op, PlanPtr in, const BoundExpr& key, const Scope* s);
  // `input`: invoke's rows, bound to the first (tabular) parameter.
  Result<PlanPtr> CallFunction(const Binding& fn, const std::vector<ExprPtr>& args,
                               const Position& pos, const Scope* caller, const Schema* schema,
                               BoundExpr* scalar_out, std::shared_ptr<const Table> input = nullptr);

  const ExecContext& ctx_;
  Position pos_;  // the operator being bound
  std::deque<Scope> scopes_;
  int depth_ = 0;
  size_t steps_ = 0;
};

// binder_scan.cc: the scan operator (NodeKind::kScanOp) and reduce (kReduce).
Result<PlanPtr> BindScanOperator(Binder& b, const Operator& op, PlanPtr in, const Scope* s);
Result<PlanPtr> BindReduce(Binder& b, const Operator& op, PlanPtr in, const Scope* s);

// Kusto's default column name for an unnamed expression: the column for a name, a_b for a.b,
// "" when it has none (callers number those Column1, Column2, ...).
std::string DefaultName(const Expr& e, bool by_key);
// array_sort_asc/desc(a1, a2, ...[, nulls_last]) over several arrays answer one array of the
// sorted arrays, which print, extend and project spread over a column per array (the docs:
// array1_sorted, array2_sorted): how many (0 when `e` is no such call). `last_is_bool`: the
// last argument is a bool (nulls_last, not an array).
size_t SortedArrayCount(const Expr& e, bool last_is_bool);
// A name not in `taken`: name, name1, name2, ...
std::string UniqueName(const std::string& name, const Schema& taken);
// Glob match with '*' wildcards.
bool WildcardMatch(std::string_view pattern, std::string_view name);
// Index of the column named `name` in `s`, or -1.
int FindColumn(const Schema& s, const std::string& name);
// The value of operator option `key` (kind=, withsource=, ...), or "" when absent.
std::string OptionValue(const std::vector<Option>& options, const std::string& key);

}  // namespace cmk::kql::internal
