#pragma once
// The KQL engine's entry point: parse, bind, plan and execute a query against a Catalog
// (semantic/catalog.h, included here).
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
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/time_format.h"
#include "kql/core/column.h"
#include "kql/semantic/catalog.h"

namespace cmk::kql {

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
  // A summary over reader threads shares its groups among them past this many groups on one
  // thread (ExecContext::share_groups_above); tests set it low.
  size_t share_groups_above = size_t{256} << 10;
};

struct QueryResult {
  std::vector<Table> tables;  // tables[0] is named "PrimaryResult"
  // `render` operator: visualization name and its properties (e.g. {"visualization":"timechart"}).
  std::optional<std::map<std::string, std::string>> render;
  // Non-fatal problems (truncated results, ...); the query API reports them as PartialError.
  std::vector<Status> warnings;
  // The most the query's operators held at once (budget.h's accounting; the query API's
  // statistics.query.resourceUsage.memory.peakPerNode).
  size_t peak_memory_bytes = 0;
};

Result<QueryResult> Execute(std::string_view text, const Catalog& catalog, const ExecOptions& options);

struct Query;  // syntax/ast.h
// The same for a query parsed once (ParseQuery) and run many times, e.g. a data collection
// rule's transformKql. Binding only reads `query`: it may be shared by concurrent calls.
Result<QueryResult> Execute(const Query& query, const Catalog& catalog, const ExecOptions& options);

}  // namespace cmk::kql
