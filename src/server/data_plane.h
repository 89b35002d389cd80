#pragma once
// The Log Analytics data plane: the Logs Ingestion API (<dce>.ingest.D, azure-api.md §14,
// clients.md §6) and the query API (api.loganalytics.D, azure-api.md §13, clients.md §5).
// Callers are authenticated by the Router; these classes authorize (Monitoring Metrics
// Publisher on the DCR; read on the workspace), validate, and talk to the storage engine.
// Thread safety: safe for concurrent use.
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "control/activity_log.h"
#include "control/insights_provider.h"
#include "control/lockbox.h"
#include "control/oi_provider.h"
#include "engine/ingest.h"
#include "engine/log_store.h"
#include "env/env.h"
#include "identity/principal.h"
#include "identity/rbac.h"
#include "keyvault/audit_log.h"
#include "kql/core/budget.h"
#include "kql/engine.h"
#include "meta/metadata_store.h"
#include "server/http_types.h"

namespace cmk::server {

struct DataPlaneDeps {
  env::Env env;
  identity::Rbac* rbac = nullptr;
  const engine::Topology* workspaces = nullptr;  // the control plane's, cached (TopologyCache)
  control::InsightsProvider* rules = nullptr;
  engine::LogStore* store = nullptr;
  // The system workspace: its tables, and who may query it (Owner-level at this scope).
  keyvault::AuditLog* audit = nullptr;
  meta::MetadataStore* meta = nullptr;
  std::string admin_scope;
  // Judges sessions: the per-minute rate windows, which clients pace on real time; null: env.clock.
  env::Clock* session_clock = nullptr;
  env::Clock* SessionClock() const { return session_clock != nullptr ? session_clock : env.clock; }
  // The ingestion pipeline (parse, transform, shape, route, store) the ingestion front end runs.
  engine::Ingestor* ingestor = nullptr;
  // Customer Lockbox: gates operators' queries and records them (lockbox_view.h); null: off.
  control::Lockbox* lockbox = nullptr;
  // The activity log: the system workspace's AzureActivity table; null: no such table.
  control::ActivityLog* activity = nullptr;
  // A vault's resource id by name ("" when unknown), for Lockbox's gate on KeyVaultAudit rows.
  std::function<std::string(const std::string& vault)> vault_resource_id;
};

// The system workspace's tables: KeyVaultAudit, KeyStateHistory and AzureActivity (system_tables.cc).
// With `caller`, KeyVaultAudit leaves out the vaults whose audit Customer Lockbox keeps from it.
Result<std::unique_ptr<kql::InMemoryCatalog>> SystemCatalog(const DataPlaneDeps& d,
                                                            const identity::Principal* caller = nullptr);

struct IngestionLimits {
  size_t max_body_bytes = 1'048'576;  // on the wire and decoded (Azure: 1 MB for both)
  int requests_per_minute = 12'000;  // per rule
  uint64_t bytes_per_minute = uint64_t{2} << 30;  // per rule
};

// The HTTP side of the Logs Ingestion API: path, api-version, body size and gzip, the rule and
// the caller's right on it, per-rule rate windows; then deps.ingestor (engine/ingest.h), whose
// statuses map to HTTP through HttpStatusFor. REQUIRES: deps.ingestor set.
class IngestionApi {
 public:
  IngestionApi(DataPlaneDeps deps, IngestionLimits limits = {}) : d_(deps), limits_(limits) {}
  void Handle(const HttpRequest& req, HttpResponse& res, const identity::Principal& caller);

 private:
  bool Admit(const std::string& rule, size_t bytes, HttpResponse& res);
  DataPlaneDeps d_;
  IngestionLimits limits_;
  std::mutex mu_;
  struct Window {
    int64_t minute = 0;
    int requests = 0;
    uint64_t bytes = 0;
  };
  std::map<std::string, Window> windows_;
};

// Governance of queries (docs/architecture.md "Queries under a budget"): Log Analytics'
// documented limits where it documents them, and memory budgets of our own.
struct QueryLimits {
  int default_timeout_seconds = 180;  // Log Analytics: 3 minutes unless `Prefer: wait=N`
  int max_timeout_seconds = 600;      // ... and at most 10 minutes
  // Queries one principal may run at once (Log Analytics: 5). Azure queues the sixth; we answer
  // 429 with Retry-After, which the SDKs' retry policies turn into the same wait.
  int max_concurrent_per_principal = 5;
  size_t memory_per_query_bytes = size_t{1} << 30;
  // Shared by every running query (0: no server-wide bound).
  size_t memory_all_queries_bytes = size_t{4} << 30;
};

class QueryApi {
 public:
  explicit QueryApi(DataPlaneDeps deps, QueryLimits limits = {});
  ~QueryApi();
  void Handle(const HttpRequest& req, HttpResponse& res, const identity::Principal& caller);
  const QueryLimits& limits() const { return limits_; }

 private:
  // Takes one of the principal's concurrent-query slots; false when all are in use.
  bool Acquire(const std::string& principal);
  void Release(const std::string& principal);

  DataPlaneDeps d_;
  QueryLimits limits_;
  // Every running query's reservations (limit SIZE_MAX when memory_all_queries_bytes is 0);
  // the log store's decoded cache yields to them (engine::LogStore::YieldCache).
  std::shared_ptr<kql::MemoryPool> pool_;
  std::mutex mu_;
  std::map<std::string, int> running_;  // guarded by mu_: queries per principal object id
};

}  // namespace cmk::server
