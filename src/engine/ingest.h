#pragma once
// Ingestor: the Logs Ingestion pipeline below the HTTP front end (azure-api.md §14). A request's
// records are parsed as the stream declares them (json_rows.h), run through each data flow's
// transformKql, shaped as each destination table (shape.h), routed to the destination
// workspaces and stored (LogStore::Ingest: WAL, then memtable). Every flow runs before anything
// is stored: a failing flow stores nothing.
//
// Errors (the front end maps them with HttpStatusFor): InvalidArgument with the Logs Ingestion
// codes InvalidJson / InvalidRecord (the body), InvalidTransformOutput (a transform failed on
// this batch: syntax, budget, deadline, cancellation; or returned a malformed table),
// InvalidDestination (a destination workspace no longer exists), InvalidOutputTable (the
// destination table does not exist); the store's PermissionDenied (KeyVaultAccessRevoked),
// Unavailable and InvalidArgument as they are; any other store failure as Internal, keeping its
// error code.
//
// Caches: a transform is parsed once per rule version — per (rule, stream, flow), parsed again
// when the rule's transformKql or the stream's declaration changes (a new PUT of the rule).
// Topology answers are the given Topology's: wrap the control plane in a TopologyCache.
// Thread safety: safe for concurrent use. The store and topology must outlive the Ingestor.
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "engine/json_rows.h"
#include "engine/log_store.h"
#include "env/env.h"

namespace cmk::kql {
struct Query;  // syntax/ast.h
}

namespace cmk::engine {

// A data collection rule as ingestion reads it (control::DataCollectionRule's data flows).
struct IngestDestination {
  std::string name;
  std::string workspace_resource_id;
};

struct IngestFlow {
  std::vector<std::string> streams;       // input streams
  std::vector<std::string> destinations;  // names of IngestRule::destinations
  std::string transform_kql;              // "source" or empty: the rows as parsed
  // `Custom-<Table>` or `Microsoft-<Table>`; empty: the input stream's name names the table.
  std::string output_stream;
};

struct IngestRule {
  std::string id;  // the rule's resource id (names its cached transforms)
  std::vector<IngestDestination> destinations;
  std::vector<IngestFlow> flows;
};

struct IngestorOptions {
  size_t max_field_bytes = 64 * 1024;  // longer string values are truncated (Azure: 64 KB)
  // A transformation sees at most a request's records (1 MB): this budget is generous for that
  // (one that multiplies rows, with mv-expand or a join, hits it), and it must not hold an
  // ingestion thread for long.
  size_t transform_memory_bytes = size_t{256} << 20;
  int64_t transform_timeout_us = 10'000'000;
  size_t max_cached_transforms = 1024;  // past this the cache starts over
};

class Ingestor {
 public:
  Ingestor(LogStore* store, const Topology* topology, env::Clock* clock,
           IngestorOptions options = {});
  ~Ingestor();
  Ingestor(const Ingestor&) = delete;
  Ingestor& operator=(const Ingestor&) = delete;

  // Ingests `body` (a JSON array of records; callers that own it leave kJsonPadding bytes of
  // spare capacity) posted to `stream` of `rule`, whose declaration is `columns`, into every
  // destination of every flow of the rule that reads the stream. `cancelled` (may be null)
  // stops a running transform. OK: stored and durable.
  Status Ingest(const IngestRule& rule, const std::string& stream,
                const std::vector<StreamColumn>& columns, const std::string& body,
                const std::atomic<bool>* cancelled) {
    return Ingest(rule, stream, columns, body, body.capacity() - body.size(), cancelled);
  }
  // The same for a body followed by `spare` readable bytes (kJsonPadding or more: parsed in
  // place, as a reused inflate buffer's).
  Status Ingest(const IngestRule& rule, const std::string& stream,
                const std::vector<StreamColumn>& columns, std::string_view body, size_t spare,
                const std::atomic<bool>* cancelled);

  // Transforms parsed (cache misses) and found parsed (hits) since construction.
  uint64_t transform_parses() const { return parses_.load(std::memory_order_relaxed); }
  uint64_t transform_hits() const { return hits_.load(std::memory_order_relaxed); }

 private:
  struct Transform {
    std::string text;
    std::vector<StreamColumn> columns;  // the source's declaration it was parsed for
    std::shared_ptr<const kql::Query> query;
  };
  struct Delivery;  // rows shaped for one destination table
  // The workspace and table `dest` and `table` name (InvalidDestination, InvalidOutputTable).
  Status Route(const IngestDestination& dest, const std::string& table, Delivery& out) const;
  // The parsed transform of flow `flow` of `rule` (InvalidTransformOutput when it does not parse).
  Result<std::shared_ptr<const kql::Query>> Parsed(const IngestRule& rule,
                                                   const std::string& stream, size_t flow,
                                                   const std::vector<StreamColumn>& columns);

  LogStore* store_;
  const Topology* topology_;
  env::Clock* clock_;
  IngestorOptions options_;
  Mutex mu_;
  // Rule id "\n" stream "\n" flow index -> its transform.
  std::map<std::string, Transform> transforms_ GUARDED_BY(mu_);
  std::atomic<uint64_t> parses_{0}, hits_{0};
};

}  // namespace cmk::engine
