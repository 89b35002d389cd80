#include "kql/engine.h"

#include <algorithm>

#include "kql/exec/eval.h"
#include "kql/exec/exec.h"
#include "kql/semantic/binder.h"
#include "kql/syntax/parser.h"

namespace cmk::kql {
namespace {

// Bytes of row `r` as a result carries them: 8 per number, the text of strings.
size_t RowBytes(const Table& t, size_t r) {
  size_t n = 0;
  for (const Column& c : t.columns) n += UsesStrings(c.type) ? c.Str(c.constant ? 0 : r).size() + 2 : 8;
  return n;
}

void TruncateRows(Table& t, size_t rows) {
  for (Column& c : t.columns) {
    if (c.constant) continue;
    if (UsesInts(c.type)) c.ints.resize(rows);
    else if (UsesReals(c.type)) c.reals.resize(rows);
    else if (c.coded()) c.codes.resize(rows);
    else if (c.packed()) {
      c.offsets.resize(rows + 1);
      c.chars.resize(c.offsets.back());
    } else {
      c.strings.resize(rows);
    }
    if (c.HasNulls()) c.nulls.resize(rows);
  }
  t.rows = rows;
}

// Applies the result limits of Log Analytics (rows, then bytes): truncation plus a warning
// that the query API reports as PartialError.
void LimitResult(Table& t, const ExecOptions& options, std::vector<Status>& warnings) {
  if (t.rows > options.max_result_rows) {
    TruncateRows(t, options.max_result_rows);
    warnings.push_back(Status(StatusCode::kResourceExhausted,
                              "Query result set has exceeded the internal record count limit " +
                                  std::to_string(options.max_result_rows) + " (truncated)",
                              "PartialError"));
  }
  if (options.max_result_bytes == 0 || ApproxBytes(t) <= options.max_result_bytes) return;
  size_t bytes = 0, rows = 0;
  while (rows < t.rows && bytes + RowBytes(t, rows) <= options.max_result_bytes) bytes += RowBytes(t, rows++);
  if (rows == t.rows) return;  // the approximation counted headers the result does not carry
  TruncateRows(t, rows);
  warnings.push_back(Status(StatusCode::kResourceExhausted,
                            "Query result set has exceeded the internal data size limit " +
                                std::to_string(options.max_result_bytes) +
                                " bytes (E_QUERY_RESULT_SET_TOO_LARGE) (truncated)",
                            "PartialError"));
}

// Binds and runs `query` under `budget` (checked by the caller).
Result<QueryResult> Run(const Query& query, QueryBudget& budget, const Catalog& catalog, const ExecOptions& options) {
  ExecContext ctx{&catalog, options.now, &budget};
  ctx.share_groups_above = options.share_groups_above;
  ASSIGN_OR_RETURN(BoundQuery bound, Bind(query, ctx));
  QueryResult result;
  result.render = bound.render;
  MemoryReservation held(&budget, "the query's results");
  for (size_t i = 0; i < bound.results.size(); ++i) {
    PlanNode& root = *bound.results[i];
    // A result shows its first max_result_rows rows: a sort at its root (under projections,
    // which keep its rows and their order) needs only the best max_result_rows + 1 of them (one
    // more tells that it was truncated), and a stream stops once past either limit. Without
    // this, `Logs_CL | sort by TimeGenerated desc` holds every row and column of the table.
    PlanNode* sorted = &root;
    while (sorted->kind == NodeKind::kProject && sorted->inputs.size() == 1) sorted = sorted->inputs[0].get();
    if (sorted->kind == NodeKind::kSort && options.max_result_rows < (size_t{1} << 62)) {
      sorted->kind = NodeKind::kTop;
      sorted->limit = static_cast<int64_t>(options.max_result_rows) + 1;
    }
    size_t bytes = 0, counted = 0;
    auto enough = [&](const Table& t) {
      if (t.rows > options.max_result_rows) return true;
      if (options.max_result_bytes == 0) return false;
      for (; counted < t.rows; ++counted) bytes += RowBytes(t, counted);
      return bytes > options.max_result_bytes;
    };
    ASSIGN_OR_RETURN(Table t, RunToTableUntil(root, ctx, &held, enough));
    t.name = i == 0 ? "PrimaryResult" : "Table_" + std::to_string(i);
    LimitResult(t, options, result.warnings);
    result.tables.push_back(std::move(t));
  }
  result.peak_memory_bytes = budget.peak();
  return result;
}

}  // namespace

Result<QueryResult> Execute(std::string_view text, const Catalog& catalog, const ExecOptions& options) {
  QueryBudget budget(BudgetLimits{options.memory_limit_bytes, options.memory_pool, options.deadline_us,
                                  options.cancelled});
  RETURN_IF_ERROR(budget.Check());
  ASSIGN_OR_RETURN(Query query, ParseQuery(text));
  return Run(query, budget, catalog, options);
}

Result<QueryResult> Execute(const Query& query, const Catalog& catalog, const ExecOptions& options) {
  QueryBudget budget(BudgetLimits{options.memory_limit_bytes, options.memory_pool, options.deadline_us,
                                  options.cancelled});
  RETURN_IF_ERROR(budget.Check());
  return Run(query, budget, catalog, options);
}

}  // namespace cmk::kql
