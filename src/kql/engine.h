#pragma once
// The KQL engine's entry point: parse, bind, plan and execute a query against a Catalog.
//
// The storage engine implements Catalog over workspaces' extents and in-memory rows; tests and
// ingestion-time transforms (transformKql) use InMemoryCatalog. Errors: kInvalidArgument with
// error_code "SyntaxError" (from the parser) or "SemanticError" (unknown table, column or
// function, wrong argument types), the message naming the problem and "at line:column";
// errors from Catalog::Scan (e.g. a revoked key) pass through unchanged. Queries past the
// complexity limits fail with those codes and "Query too deeply nested" / "Query too complex";
// the limits of ExecOptions fail with kResourceExhausted "E_RUNAWAY_QUERY" (memory),
// "E_LOW_MEMORY_CONDITION" (the shared pool), kDeadlineExceeded "E_QUERY_TIMEOUT" and kCancelled
// "E_QUERY_CANCELLED" (budget.h).
// Thread safety: Execute is reentrant; a Catalog must allow concurrent Scan calls.
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/time_format.h"
#include "kql/column.h"

namespace cmk::kql {

struct ColumnSchema {
  std::string name;
  Type type = Type::kString;
};
using Schema = std::vector<ColumnSchema>;

// What a scan of one table needs. Bounds are hints for pruning (by extent or block): a Catalog
// may return rows outside them and the executor still applies its own filters.
struct ScanRequest {
  std::string table;
  std::vector<std::string> columns;          // needed columns; empty = all
  std::optional<int64_t> min_time, max_time;  // TimeGenerated bounds in ticks, inclusive
};

class Catalog {
 public:
  virtual ~Catalog() = default;
  // Every table the query can name (for `union *`, wildcards and `search`).
  virtual std::vector<std::string> TableNames() const = 0;
  // Schema of a table (names are case-sensitive); nullopt when unknown.
  virtual std::optional<Schema> TableSchema(const std::string& table) const = 0;
  // Delivers the table's rows in chunks (each chunk has the requested columns, in the schema's
  // order when `columns` is empty). A non-OK status from `sink` stops the scan and is returned.
  // Chunks are shared and immutable (hot data is handed out without copies): the executor
  // reads them and must copy what it wants to change.
  virtual Status Scan(const ScanRequest& request,
                      const std::function<Status(std::shared_ptr<const Table>)>& sink) const = 0;
};

// A Catalog over tables held in memory (tests, transformKql's `source`). Scan hands out the
// stored chunks as they are: every column, a superset of the requested ones.
class InMemoryCatalog : public Catalog {
 public:
  void Add(Table table);
  std::vector<std::string> TableNames() const override;
  std::optional<Schema> TableSchema(const std::string& table) const override;
  Status Scan(const ScanRequest& request,
              const std::function<Status(std::shared_ptr<const Table>)>& sink) const override;

 private:
  std::map<std::string, Table> tables_;  // schema only (no rows)
  // Rows, cut into shared chunks when added, so that Scan hands them out without copies.
  std::map<std::string, std::vector<std::shared_ptr<const Table>>> chunks_;
};

class MemoryPool;  // budget.h

// Limits of one query (budget.h describes the accounting and the errors). The defaults are
// Log Analytics' documented result limits and a per-query memory cap that lets a few heavy
// queries run side by side on a modest server; the server sets deadline_us and cancelled.
struct ExecOptions {
  TimePoint now{};                // now() and ago() read this (the injected clock)
  size_t max_result_rows = 500'000;  // Azure's limit; more rows -> truncated + a PartialError warning
  // env::MonotonicMicros() value after which the query fails with kDeadlineExceeded
  // ("E_QUERY_TIMEOUT"); 0 = no deadline. Checked per chunk and every ~64K rows of long loops.
  int64_t deadline_us = 0;
  // Set by the caller (e.g. the client went away): the query stops with kCancelled
  // ("E_QUERY_CANCELLED") at its next check. Must outlive Execute.
  const std::atomic<bool>* cancelled = nullptr;
  // Bytes the query's operators may hold at once (join build sides, groups, sort buffers,
  // make-series bins, materialized tables, ...); more -> kResourceExhausted ("E_RUNAWAY_QUERY").
  // 0 = unlimited.
  size_t memory_limit_bytes = size_t{2} << 30;
  // Optional server-wide pool every query also reserves from (E_LOW_MEMORY_CONDITION when
  // exhausted). Must outlive Execute.
  MemoryPool* memory_pool = nullptr;
  // Azure's result size limit (64 MB): larger results are truncated + a PartialError warning.
  size_t max_result_bytes = size_t{64} << 20;
};

struct QueryResult {
  std::vector<Table> tables;  // tables[0] is named "PrimaryResult"
  // `render` operator: visualization name and its properties (e.g. {"visualization":"timechart"}).
  std::optional<std::map<std::string, std::string>> render;
  // Non-fatal problems (truncated results, ...); the query API reports them as PartialError.
  std::vector<Status> warnings;
};

Result<QueryResult> Execute(std::string_view text, const Catalog& catalog, const ExecOptions& options);

}  // namespace cmk::kql
