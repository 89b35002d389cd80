#include "kql/engine.h"

#include <algorithm>

#include "kql/binder.h"
#include "kql/eval.h"
#include "kql/exec.h"
#include "kql/parser.h"

namespace cmk::kql {
namespace {

// Rows per chunk handed out by InMemoryCatalog::Scan, so the executor streams even in tests.
constexpr size_t kChunkRows = 64 * 1024;

Column Slice(const Column& c, size_t begin, size_t end) {
  if (c.constant) return c;
  Column out(c.type);
  auto b = static_cast<ptrdiff_t>(begin), e = static_cast<ptrdiff_t>(end);
  if (UsesInts(c.type)) out.ints.assign(c.ints.begin() + b, c.ints.begin() + e);
  else if (UsesReals(c.type)) out.reals.assign(c.reals.begin() + b, c.reals.begin() + e);
  else out.strings.assign(c.strings.begin() + b, c.strings.begin() + e);
  if (c.HasNulls()) out.nulls.assign(c.nulls.begin() + b, c.nulls.begin() + e);
  return out;
}

}  // namespace

void InMemoryCatalog::Add(Table table) {
  std::string name = table.name;
  std::vector<std::shared_ptr<const Table>>& chunks = chunks_[name];
  chunks.clear();
  for (size_t begin = 0; begin < table.rows; begin += kChunkRows) {
    size_t end = std::min(table.rows, begin + kChunkRows);
    auto chunk = std::make_shared<Table>();
    chunk->name = name;
    chunk->rows = end - begin;
    for (size_t c = 0; c < table.columns.size(); ++c) {
      chunk->AddColumn(table.names[c], Slice(table.columns[c], begin, end));
    }
    chunks.push_back(std::move(chunk));
  }
  Table schema;
  schema.name = name;
  for (size_t c = 0; c < table.columns.size(); ++c) schema.AddColumn(table.names[c], Column(table.columns[c].type));
  tables_[name] = std::move(schema);
}

std::vector<std::string> InMemoryCatalog::TableNames() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : tables_) out.push_back(name);
  return out;
}

std::optional<Schema> InMemoryCatalog::TableSchema(const std::string& table) const {
  auto it = tables_.find(table);
  if (it == tables_.end()) return std::nullopt;
  Schema s;
  for (size_t i = 0; i < it->second.names.size(); ++i) s.push_back({it->second.names[i], it->second.columns[i].type});
  return s;
}

Status InMemoryCatalog::Scan(const ScanRequest& request,
                             const std::function<Status(std::shared_ptr<const Table>)>& sink) const {
  auto it = tables_.find(request.table);
  if (it == tables_.end()) return NotFound("Unknown table '" + request.table + "'");
  // Chunks hold every column; the executor picks the requested ones by name.
  for (const std::shared_ptr<const Table>& chunk : chunks_.at(request.table)) {
    RETURN_IF_ERROR(sink(chunk));
  }
  return OkStatus();
}

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
    else c.strings.resize(rows);
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

}  // namespace

Result<QueryResult> Execute(std::string_view text, const Catalog& catalog, const ExecOptions& options) {
  QueryBudget budget(BudgetLimits{options.memory_limit_bytes, options.memory_pool, options.deadline_us,
                                  options.cancelled});
  RETURN_IF_ERROR(budget.Check());
  ASSIGN_OR_RETURN(Query query, ParseQuery(text));
  ExecContext ctx{&catalog, options.now, &budget};
  ASSIGN_OR_RETURN(BoundQuery bound, Bind(query, ctx));
  QueryResult result;
  result.render = bound.render;
  MemoryReservation held(&budget, "the query's results");
  for (size_t i = 0; i < bound.results.size(); ++i) {
    ASSIGN_OR_RETURN(Table t, RunToTable(*bound.results[i], ctx, &held));
    t.name = i == 0 ? "PrimaryResult" : "Table_" + std::to_string(i);
    LimitResult(t, options, result.warnings);
    result.tables.push_back(std::move(t));
  }
  return result;
}

}  // namespace cmk::kql
