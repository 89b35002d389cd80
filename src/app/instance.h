#pragma once
// Instance: one running cmklogs server — data dir, stores, identity, control plane, HTTPS.
#include <memory>
#include <string>
#include <vector>

#include "base/memory_reclaimer.h"
#include "base/status.h"
#include "alerts/evaluator.h"
#include "alerts/history.h"
#include "alerts/webhook_sender.h"
#include "control/activity_log.h"
#include "control/arm_service.h"
#include "control/lockbox.h"
#include "env/env.h"
#include "env/offset_clock.h"
#include "identity/directory.h"
#include "identity/rbac.h"
#include "identity/token_service.h"
#include "keyvault/audit_log.h"
#include "keyvault/key_vault_service.h"
#include "keyvault/pkcs11_hsm.h"
#include "engine/ingest.h"
#include "engine/log_store.h"
#include "engine/topology_cache.h"
#include "server/data_plane.h"
#include "storage/cluster_storage.h"
#include "storage/service_keys.h"
#include "storage_account/account_registry.h"
#include "storage_account/blob_service.h"
#include "storage_account/linked_storage.h"
#include "control/workbooks_provider.h"
#include "storage_account/storage_auth.h"
#include "storage_account/table_service.h"
#include "meta/metadata_store.h"
#include "server/http_server.h"
#include "server/metrics.h"
#include "server/router.h"

namespace cmk::app {

// The decoded block cache's size when not set: 1 GiB, or a quarter of `memory_limit` (the
// process's, base/system_memory.h) when that is less (a small container), at least 64 MiB. Not
// more on a larger machine: the server's default footprint stays within 2 GiB while it ingests
// and queries 100M rows (issue 14). An operator with memory to spare sets --query-cache-mb: at
// 10M rows a cache that holds every text block made text searches 2-2.7x faster
// (docs/benchmarks.md).
size_t DefaultQueryCacheBytes(size_t memory_limit);
// The memory all running queries may hold when not set: 4 GiB, or half of `memory_limit` when
// that is less, at least 256 MiB. A budget over the container's own memory would let queries
// get the server killed (out of memory) before any was refused with E_LOW_MEMORY_CONDITION.
size_t DefaultQueryServerMemoryBytes(size_t memory_limit);
// The resident size below which the memory reclaimer keeps the free heap while the server is
// busy (MemoryReclaimer::Options::busy_floor_bytes): the decoded cache's budget and half a GiB
// (a large summary's freed tables stay for its next run), at most half of `memory_limit` (a
// small container's slack still goes back while busy).
size_t BusyTrimFloorBytes(size_t cache_bytes, size_t memory_limit);

struct ServeOptions {
  std::string data_dir = "cmklogs-data";
  uint16_t port = 8443;
  std::string domain = "localhost";
  // A simulated clock: real time plus an offset that `clock advance` raises (the data and
  // resource lifecycle runs on it; sessions stay on real time). With frozen_clock too, the
  // clock stands still between advances (the unit tests' SimulatedClock).
  bool simulated_clock = false;
  bool frozen_clock = false;
  std::vector<std::string> listen = {"127.0.0.1", "::1"};
  int read_timeout_ms = 30000;
  int threads = 2;
  // Threads that run queries (0: two per core, at least 8).
  int query_threads = 0;
  // Memory one query's operators may hold, and all running queries together (kql/budget.h).
  int64_t query_memory_mb = 1024;
  int64_t query_server_memory_mb = -1;  // < 0: DefaultQueryServerMemoryBytes
  // Decoded column blocks kept in memory for later queries (LogStoreOptions::decoded_cache_bytes);
  // < 0: DefaultQueryCacheBytes of the memory the process may use.
  int64_t query_cache_mb = -1;
  // Bytes (in GB) the hot cache's copies may take on disk (LogStoreOptions::hot_cache_bytes); 0: no bound.
  double hot_cache_gb = 0;
  // PKCS#11 module holding managed-HSM (and premium RSA-HSM) keys; empty disables HSM keys.
  std::string pkcs11_module = "/usr/lib/softhsm/libsofthsm2.so";
  // Write client-config.json (tests of the library may not need it).
  bool write_client_config = true;
  // Duration of ARM provisioning operations on the server's clock; < 0: 2 s on the real
  // clock, 0 on a simulated one.
  double provisioning_seconds = -1;
  // How often each storage account's AEK is unwrapped through the customer's vault (6-60 s).
  int key_check_interval_seconds = 30;
  // Rows an account's memtable holds before it is flushed into extents.
  int64_t memtable_rows = 65'536;
  // ... or this many MB of encoded rows, whichever comes first.
  int64_t memtable_mb = 32;
  // Per data collection rule and minute (Azure's documented limits by default).
  int ingestion_requests_per_minute = 12'000;
  int64_t ingestion_mb_per_minute = 2048;
  // Compression of extents' column blocks: "lz4" (fast) or "zstd" (denser).
  std::string extent_codec = "lz4";
  // Threads that evaluate log search alert rules.
  int alert_threads = 4;
  // PEM CA file that https webhook receivers' certificates are verified with, besides the
  // system's CAs; empty: the instance's own CA.
  std::string webhook_ca_file;
  bool webhook_allow_loopback = false;  // action groups may call receivers on this host
};

class Instance {
 public:
  static Result<std::unique_ptr<Instance>> Start(ServeOptions options);
  ~Instance();
  uint16_t port() const { return http_->port(); }
  void Shutdown() { http_->Shutdown(); }
  void Wait();
  const std::string& client_config_path() const { return client_config_path_; }

  // For tests and benchmarks that drive the services below the HTTP layer.
  keyvault::KeyVaultService* keyvault_for_test() { return keyvault_.get(); }
  identity::TokenService* tokens_for_test() { return tokens_.get(); }
  identity::Directory* directory_for_test() { return directory_.get(); }
  identity::Rbac* rbac_for_test() { return rbac_.get(); }
  const control::InstanceInfo& info() const { return info_; }
  const std::string& ca_cert_path() const { return ca_cert_path_; }

 private:
  Instance() = default;
  // The steps of Start, in order.
  Status OpenDataDir();
  Status StartHttp();
  Status StartServices();
  Status StartStorageEngine();
  // The decoded block cache's budget: --query-cache-mb, or DefaultQueryCacheBytes.
  size_t DecodedCacheBytes() const;
  // The activity log and Customer Lockbox, hooked into ARM and the key managers.
  Status StartActivityAndLockbox();
  Status StartAlerts();  // alerts_wiring.cc
  void AddCollectors();
  Status ServeRequests();
  Status Bootstrap();
  Status SetUpTls();
  Status WriteClientConfig();
  // Starts the simulated clock where the last run left it (never behind real time).
  Result<env::Clock*> StartSimulatedClock();
  Result<TimePoint> AdvanceClock(Duration d);
  control::ClockState ClockStateNow() const;

  ServeOptions options_;
  std::unique_ptr<env::RealClock> real_clock_;
  std::shared_ptr<MemoryReclaimer> reclaimer_;  // checked by real_clock_'s timer
  env::Clock::TimerId reclaim_timer_ = 0;
  std::unique_ptr<env::SimulatedClock> sim_clock_;    // --simulated-clock=frozen
  std::unique_ptr<env::OffsetClock> offset_clock_;    // --simulated-clock
  env::SecureRandom random_;
  env::PosixFileSystem fs_;
  env::Env env_{};
  SecretBytes master_key_;
  std::unique_ptr<meta::MetadataStore> store_;
  std::unique_ptr<identity::Directory> directory_;
  std::unique_ptr<identity::Rbac> rbac_;
  std::unique_ptr<identity::TokenService> tokens_;
  Result<std::unique_ptr<keyvault::Pkcs11Hsm>> OpenHsm();
  std::unique_ptr<keyvault::Pkcs11Hsm> hsm_;
  std::unique_ptr<keyvault::AuditLog> audit_;
  std::unique_ptr<keyvault::KeyVaultService> keyvault_;
  // Declared before their users, destroyed after them (the ARM service, the key managers).
  std::unique_ptr<control::ActivityLog> activity_;
  std::unique_ptr<control::KeyEventRecorder> key_events_;
  std::unique_ptr<control::Lockbox> lockbox_;
  std::unique_ptr<storage::ClusterStorage> cluster_storage_;
  std::unique_ptr<control::ArmService> arm_;
  std::unique_ptr<storage::ServiceKeys> service_keys_;
  std::unique_ptr<storage_account::AccountRegistry> storage_accounts_;  // after service_keys_
  std::unique_ptr<storage_account::StorageAuth> storage_auth_;
  std::unique_ptr<storage_account::BlobService> blob_;
  std::unique_ptr<storage_account::TableService> table_;
  // Saved searches (and alert queries, workbook content) in customers' accounts.
  std::unique_ptr<storage_account::LinkedStorage> linked_storage_;
  std::unique_ptr<control::WorkbooksProvider> workbooks_;  // Microsoft.Insights/workbooks (storageUri)
  // The control plane's topology answers, cached for the engine and the data plane (after
  // arm_, which owns the provider it wraps; before the users it must outlive).
  std::unique_ptr<engine::TopologyCache> topology_;
  std::unique_ptr<engine::LogStore> log_store_;
  std::unique_ptr<engine::Ingestor> ingestor_;
  std::unique_ptr<server::IngestionApi> ingestion_;
  std::unique_ptr<server::QueryApi> query_;
  std::unique_ptr<alerts::AlertHistory> alert_history_;
  std::unique_ptr<alerts::WebhookSender> webhook_sender_;
  std::unique_ptr<alerts::AlertEvaluator> alert_evaluator_;
  std::unique_ptr<server::Metrics> metrics_;
  std::unique_ptr<server::Router> router_;
  std::unique_ptr<server::HttpServer> http_;
  control::InstanceInfo info_;
  std::string admin_client_id_;
  std::string admin_object_id_;
  SecretBytes admin_secret_;
  std::string ca_cert_path_;
  std::string server_cert_pem_;
  SecretBytes server_key_pem_;
  std::string client_config_path_;
};

}  // namespace cmk::app
