#include "app/instance.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>

#include "base/encoding.h"
#include "base/json.h"
#include "base/system_memory.h"
#include "crypto/aead.h"
#include "crypto/x509.h"
#include "control/insights_provider.h"
#include "control/oi_provider.h"
#include "control/storage_provider.h"
#include "control/workbooks_provider.h"

namespace cmk::app {

size_t DefaultQueryCacheBytes(size_t memory_limit) {
  return std::clamp(memory_limit / 4, size_t{64} << 20, size_t{1} << 30);
}

size_t DefaultQueryServerMemoryBytes(size_t memory_limit) {
  return std::clamp(memory_limit / 2, size_t{256} << 20, size_t{4} << 30);
}

size_t BusyTrimFloorBytes(size_t cache_bytes, size_t memory_limit) {
  return std::min(cache_bytes + (size_t{512} << 20), memory_limit / 2);
}

namespace {

namespace bj = boost::json;
constexpr char kInstanceKind[] = "instance";
constexpr char kAdminSecretAad[] = "cmklogs/admin-secret/v1";
constexpr char kCaKeyAad[] = "cmklogs/ca-key/v1";

// The vault client of a cluster without a managed identity: every call is refused as the vault
// would refuse a caller it doesn't know, so the key managers see a revocation.
class NoIdentityClient final : public keyvault::KeyVaultClient {
 public:
  Result<keyvault::KeyInfo> GetKey(const keyvault::KeyRef&) override { return Denied(); }
  Result<keyvault::WrappedKey> WrapKey(const keyvault::KeyRef&, std::string_view, std::span<const uint8_t>) override {
    return Denied();
  }
  Result<SecretBytes> UnwrapKey(const keyvault::KeyRef&, std::string_view, std::span<const uint8_t>) override {
    return Denied();
  }

 private:
  static Status Denied() {
    return Status(StatusCode::kPermissionDenied, "The cluster has no managed identity (identity type None).",
                  "Forbidden", "AccessDenied");
  }
};

// Vaults an admin made unreachable (`cmklogs vault outage`): the key managers' calls to them fail
// as a refused connection would, so outages can be rehearsed.
struct VaultOutages {
  std::mutex mu;
  std::set<std::string> vaults;  // lower-case names
  bool Down(const keyvault::KeyRef& key) {
    auto name = keyvault::VaultNameFromUri(key.vault_uri);
    std::lock_guard<std::mutex> l(mu);
    return name.ok() && vaults.count(ToLower(*name)) > 0;
  }
};

class OutageGate final : public keyvault::KeyVaultClient {
 public:
  OutageGate(std::unique_ptr<keyvault::KeyVaultClient> inner, std::shared_ptr<VaultOutages> outages)
      : inner_(std::move(inner)), outages_(std::move(outages)) {}
  Result<keyvault::KeyInfo> GetKey(const keyvault::KeyRef& k) override {
    if (outages_->Down(k)) return Refused(k);
    return inner_->GetKey(k);
  }
  Result<keyvault::WrappedKey> WrapKey(const keyvault::KeyRef& k, std::string_view a, std::span<const uint8_t> p) override {
    if (outages_->Down(k)) return Refused(k);
    return inner_->WrapKey(k, a, p);
  }
  Result<SecretBytes> UnwrapKey(const keyvault::KeyRef& k, std::string_view a, std::span<const uint8_t> c) override {
    if (outages_->Down(k)) return Refused(k);
    return inner_->UnwrapKey(k, a, c);
  }

 private:
  static Status Refused(const keyvault::KeyRef& k) {
    return Unavailable("connection to " + k.vault_uri + " refused (vault outage set by an admin)");
  }
  std::unique_ptr<keyvault::KeyVaultClient> inner_;
  std::shared_ptr<VaultOutages> outages_;
};

// A vault's resource id by name ("" when there is none), for Customer Lockbox's gates.
std::function<std::string(const std::string&)> VaultResourceIds(keyvault::KeyVaultService* kv) {
  return [kv](const std::string& name) {
    auto v = kv->GetVault(name);
    return v ? v->resource_id : std::string();
  };
}

}  // namespace

Instance::~Instance() {
  if (real_clock_ && reclaim_timer_ != 0) real_clock_->Cancel(reclaim_timer_);
  if (http_) {
    http_->Shutdown();
    http_->Wait();
  }
  // Destroying the server stops its worker pools (running handlers finish; queries see their
  // requests cancelled) before the services they call go away.
  http_.reset();
  // Alerts before what they read (the log store, RBAC) and in their own order: the evaluator
  // feeds the sender, both feed the history.
  alert_evaluator_.reset();
  webhook_sender_.reset();
  alert_history_.reset();
  ingestion_.reset();
  query_.reset();
  blob_.reset();
  table_.reset();
  storage_auth_.reset();
  ingestor_.reset();
  log_store_.reset();        // the storage engine uses the control plane's topology...
  topology_.reset();
  arm_.reset();              // the control plane uses the storage accounts...
  linked_storage_.reset();
  storage_accounts_.reset();
  cluster_storage_.reset();  // ...whose key managers use the vault service
}

void Instance::Wait() { http_->Wait(); }

Result<std::unique_ptr<Instance>> Instance::Start(ServeOptions options) {
  if (options.extent_codec != "lz4" && options.extent_codec != "zstd") {
    return InvalidArgument("--extent-codec must be lz4 or zstd, not '" + options.extent_codec +
                           "'");
  }
  ASSIGN_OR_RETURN(options.data_dir, env::AbsolutePath(options.data_dir));
  std::unique_ptr<Instance> in(new Instance());
  in->options_ = std::move(options);
  RETURN_IF_ERROR(in->OpenDataDir());
  RETURN_IF_ERROR(in->StartHttp());
  RETURN_IF_ERROR(in->StartServices());
  RETURN_IF_ERROR(in->StartAlerts());
  in->AddCollectors();
  RETURN_IF_ERROR(in->ServeRequests());
  return in;
}

// The data directory, the master key, the metadata store, the clocks, the directory and RBAC,
// first-start bootstrap and the TLS certificate.
Status Instance::OpenDataDir() {
  env::PosixFileSystem& fs = fs_;
  const std::string& dir = options_.data_dir;
  RETURN_IF_ERROR(fs.CreateDirs(dir, 0700));
  RETURN_IF_ERROR(fs.CreateDirs(dir + "/secrets", 0700));
  RETURN_IF_ERROR(fs.CreateDirs(dir + "/tls", 0700));
  client_config_path_ = dir + "/client-config.json";
  RETURN_IF_ERROR(fs.Remove(client_config_path_));

  // The master key seals everything secret that the metadata store holds. It lives apart from
  // the store (secrets/, mode 0600) so a copy of meta.db alone reveals nothing.
  std::string key_path = dir + "/secrets/master.key";
  if (fs.Exists(key_path)) {
    ASSIGN_OR_RETURN(master_key_, fs.ReadSecretFile(key_path));
    if (master_key_.size() != 32) {
      return DataLoss("the master key at " + key_path + " is not 32 bytes: refusing to start");
    }
  } else {
    master_key_ = random_.NewSecret(32);
    RETURN_IF_ERROR(fs.WriteFileAtomic(key_path, master_key_.span(), 0600));
  }
  ASSIGN_OR_RETURN(store_, meta::MetadataStore::Open(dir + "/meta.db"));

  // Two clocks (docs/architecture.md, "Time"): env_.clock drives the data and resource
  // lifecycle and is the simulated one under --simulated-clock; real_clock_ judges sessions
  // (token lifetimes, the TLS certificate, rate windows), because clients keep real time.
  real_clock_ = std::make_unique<env::RealClock>();
  env::Clock* clock = real_clock_.get();
  if (options_.simulated_clock) {
    ASSIGN_OR_RETURN(clock, StartSimulatedClock());
  }
  env_ = env::Env{clock, &random_, &fs_};
  // Free heap back to the system once the server goes idle after work (base/memory_reclaimer.h):
  // a process concern, on real time.
  // While busy, free heap is kept for reuse below BusyTrimFloorBytes.
  MemoryReclaimer::Options reclaim;
  reclaim.busy_floor_bytes = BusyTrimFloorBytes(DecodedCacheBytes(), ProcessMemoryLimit());
  reclaimer_ = std::make_shared<MemoryReclaimer>(MemoryReclaimer::System(), reclaim);
  reclaim_timer_ = real_clock_->RunEvery(std::chrono::seconds(2), [r = reclaimer_] { r->Check(); });
  directory_ = std::make_unique<identity::Directory>(store_.get(), env_);
  ASSIGN_OR_RETURN(rbac_, identity::Rbac::Create(store_.get(), env_));
  RETURN_IF_ERROR(Bootstrap());
  RETURN_IF_ERROR(SetUpTls());

  return OkStatus();
}

// The HTTPS server and its worker pools (not serving until ServeRequests).
Status Instance::StartHttp() {
  metrics_ = std::make_unique<server::Metrics>();
  server::HttpServerOptions http_opts;
  http_opts.listen_addresses = options_.listen;
  http_opts.port = options_.port;
  http_opts.read_timeout_ms = options_.read_timeout_ms;
  http_opts.threads = options_.threads;
  Instance* self = this;
  // Queries on their own pool (one thread per core, below the network threads' priority), and
  // handlers that may block on disk or a vault (ARM, Key Vault, ingestion's group commit) on a
  // general one; tokens and /healthz stay on the network threads (Router::Classify).
  server::WorkerPoolOptions query_pool;
  query_pool.name = "cmk-query";
  // More threads than cores: each principal may run 5 queries at once (Log Analytics' limit,
  // enforced by the QueryApi) and a short query should not wait behind long ones; the CPU is
  // time-sliced between them, and the memory they hold is bounded by the query budgets.
  query_pool.threads = options_.query_threads > 0
                           ? options_.query_threads
                           : std::max(8, 2 * static_cast<int>(std::thread::hardware_concurrency()));
  query_pool.max_queued = 200;  // Log Analytics queues up to 200 queries, then answers 429
  query_pool.nice = 5;
  server::WorkerPoolOptions general_pool;
  general_pool.name = "cmk-general";
  general_pool.threads = 16;
  general_pool.max_queued = 4096;
  http_opts.pools = {query_pool, general_pool};
  static_assert(server::Router::kQueryPool == 0 && server::Router::kGeneralPool == 1);
  server::HttpHandlers handlers;
  handlers.handle = [self](server::HttpRequest& req, server::HttpResponse& res) {
    self->router_->Handle(req, res);
  };
  handlers.observe = [self](const server::HttpRequest& req, const server::HttpResponse& res,
                            int64_t us) {
    self->metrics_->RecordRequest(res.front_end.empty() ? "none" : res.front_end, res.status, us);
    // Host and path come from the client: escaped, so they cannot forge log lines.
    spdlog::info("request rid={} method={} host={} path={} status={} principal={} fe={} us={}",
                 EscapeForLog(req.request_id, 64), EscapeForLog(req.method, 32),
                 EscapeForLog(req.host, 256), EscapeForLog(req.path, 1024), res.status,
                 res.principal.empty() ? "-" : res.principal,
                 res.front_end.empty() ? "-" : res.front_end, us);
  };
  handlers.header = [self](server::HttpRequest& req, server::HttpResponse& res) {
    return self->router_->HandleHeader(req, res);
  };
  handlers.classify = [self](const server::HttpRequest& req) {
    return self->router_->Classify(req);
  };
  handlers.on_exception = [self](const server::HttpRequest& req, server::HttpResponse& res,
                                 std::string_view what) {
    self->router_->OnException(req, res, what);
  };
  ASSIGN_OR_RETURN(http_, server::HttpServer::Create(http_opts, server_cert_pem_, server_key_pem_,
                                                     std::move(handlers)));
  server_key_pem_.Wipe();
  return OkStatus();
}

// Tokens, the vault, the control plane and cluster storage; then StartStorageEngine.
Status Instance::StartServices() {
  Instance* self = this;
  env::PosixFileSystem& fs = fs_;
  uint16_t port = http_->port();
  const std::string& dir = options_.data_dir;

  identity::TokenServiceOptions token_opts;
  token_opts.domain = options_.domain;
  token_opts.login_url =
      "https://login." + options_.domain + (port == 443 ? "" : ":" + std::to_string(port));
  token_opts.session_clock = real_clock_.get();
  ASSIGN_OR_RETURN(tokens_,
                   identity::TokenService::Create(env_, store_.get(), master_key_, token_opts));
  RETURN_IF_ERROR(fs.CreateDirs(dir + "/audit", 0700));
  ASSIGN_OR_RETURN(audit_, keyvault::AuditLog::Open(&fs, dir + "/audit/keyvault-audit.jsonl"));
  auto hsm = OpenHsm();
  if (hsm.ok()) {
    hsm_ = std::move(*hsm);
  } else {
    spdlog::warn("no HSM: managed HSM and RSA-HSM keys are unavailable ({})",
                 hsm.status().ToString());
  }
  keyvault::KeyVaultOptions kv_opts;
  kv_opts.domain = options_.domain;
  kv_opts.port = port;
  ASSIGN_OR_RETURN(keyvault_,
                   keyvault::KeyVaultService::Create(env_, store_.get(), rbac_.get(), master_key_,
                                                     kv_opts, hsm_.get(), audit_.get()));
  keyvault_->StartBackground();
  auto outages = std::make_shared<VaultOutages>();
  keyvault::KeyVaultService* kv_for_hooks = keyvault_.get();
  control::AdminHooks hooks{[self](Duration d) { return self->AdvanceClock(d); },
                            [outages, kv_for_hooks](const std::string& vault, bool on) -> Status {
                              if (!kv_for_hooks->GetVault(vault)) {
                                return NotFound("The vault '" + vault + "' was not found.",
                                                "VaultNotFound");
                              }
                              std::lock_guard<std::mutex> l(outages->mu);
                              if (on)
                                outages->vaults.insert(ToLower(vault));
                              else
                                outages->vaults.erase(ToLower(vault));
                              return OkStatus();
                            },
                            [self] { return self->ClockStateNow(); }};
  arm_ = std::make_unique<control::ArmService>(env_, store_.get(), directory_.get(), rbac_.get(),
                                               info_, hooks, keyvault_.get(), audit_.get());
  storage::KeyManagerOptions km_opts;
  km_opts.check_interval = std::chrono::seconds(options_.key_check_interval_seconds);
  keyvault::KeyVaultService* kv = keyvault_.get();
  identity::Directory* dir_ptr = directory_.get();
  auto vault_clients = [kv, dir_ptr, outages](
                           const std::string& principal_id) -> std::unique_ptr<keyvault::KeyVaultClient> {
    auto p = principal_id.empty() ? Result<std::optional<identity::Principal>>(std::nullopt)
                                  : dir_ptr->FindByObjectId(principal_id);
    if (!p.ok() || !p->has_value()) return std::make_unique<NoIdentityClient>();
    return std::make_unique<OutageGate>(std::make_unique<keyvault::InProcessKeyVaultClient>(kv, **p),
                                        outages);
  };
  ASSIGN_OR_RETURN(cluster_storage_,
                   storage::ClusterStorage::Open(env_, store_.get(), vault_clients, km_opts));
  // Customers' storage accounts (BYOS): their keys and AEKs under the region MMKs or their own
  // customer key, their blob content under <data-dir>/byos.
  ASSIGN_OR_RETURN(service_keys_, storage::ServiceKeys::Open(env_, options_.data_dir + "/secrets"));
  ASSIGN_OR_RETURN(storage_accounts_,
                   storage_account::AccountRegistry::Open(
                       env_, store_.get(), service_keys_.get(), vault_clients, km_opts,
                       std::make_unique<storage::LocalBlobStore>(&fs_, options_.data_dir + "/byos")));
  arm_->SetStorage(std::make_unique<control::StorageProvider>(
      env_, store_.get(), directory_.get(), rbac_.get(), storage_accounts_.get(),
      control::StorageProviderOptions{options_.domain, port}));
  control::OperationalInsightsOptions oi_opts;
  double prov = options_.provisioning_seconds >= 0 ? options_.provisioning_seconds
                                                   : (options_.simulated_clock ? 0.0 : 2.0);
  oi_opts.provisioning = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(prov));
  auto oi = std::make_unique<control::OperationalInsightsProvider>(
      env_, store_.get(), directory_.get(), rbac_.get(), keyvault_.get(), oi_opts);
  oi->set_cluster_storage(cluster_storage_.get());
  linked_storage_ = std::make_unique<storage_account::LinkedStorage>(env_, storage_accounts_.get());
  oi->set_linked_storage(linked_storage_.get());
  workbooks_ = std::make_unique<control::WorkbooksProvider>(env_, store_.get(), rbac_.get(), linked_storage_.get());
  control::WorkbooksProvider* workbooks = workbooks_.get();
  arm_->AddRoutes([workbooks](const control::ArmRequest& r) { return workbooks->Route(r); });
  RETURN_IF_ERROR(oi->Load());
  control::OperationalInsightsProvider* topology = oi.get();
  arm_->SetOperationalInsights(std::move(oi));
  if (arm_->insights() == nullptr) {
    auto insights = std::make_unique<control::InsightsProvider>(env_, store_.get(),
                                                                directory_.get(), rbac_.get());
    RETURN_IF_ERROR(insights->Load());
    arm_->SetInsights(std::move(insights));
  }
  // The engine reads the control plane's topology through a cache (invalidated on every write).
  topology_ = std::make_unique<engine::TopologyCache>(topology);
  RETURN_IF_ERROR(StartActivityAndLockbox());
  return StartStorageEngine();
}

Status Instance::StartActivityAndLockbox() {
  activity_ = std::make_unique<control::ActivityLog>(env_, store_.get(), rbac_.get());
  key_events_ = std::make_unique<control::KeyEventRecorder>(activity_.get(), env_.clock);
  control::KeyEventRecorder* keys = key_events_.get();
  cluster_storage_->set_on_key_event([keys](const storage::ClusterStorage::KeyEvent& e) {
    keys->Record(e.cluster_id, e.principal_id, e.kind, e.kid, e.reason);
  });
  storage_accounts_->set_on_key_event([keys](const storage_account::AccountRegistry::KeyEvent& e) {
    keys->Record(e.resource_id, e.principal_id, e.kind, e.kid, e.reason);
  });
  control::LockboxOptions lb;
  lb.admin_object_id = admin_object_id_;
  engine::TopologyCache* topology = topology_.get();
  lb.resolve_workspace = [topology](const std::string& id) -> Result<std::string> {
    auto ws = IsGuid(id) ? topology->WorkspaceByCustomerId(ToLower(id)) : topology->WorkspaceByResourceId(id);
    if (!ws.ok()) return NotFound("The workspace '" + id + "' was not found.", "WorkspaceNotFound");
    return ws->resource_id;
  };
  storage_account::AccountRegistry* accounts = storage_accounts_.get();
  lb.resolve_storage_account = [accounts](const std::string& id) -> Result<std::string> {
    auto owner = accounts->Owner(id.substr(id.rfind('/') + 1));
    bool by_id = id.find('/') != std::string::npos;
    if (!owner || (by_id && !EqualsIgnoreCase(*owner, id))) {
      return NotFound("The storage account '" + id + "' was not found.", "StorageAccountNotFound");
    }
    return *owner;
  };
  lb.resolve_vault = VaultResourceIds(keyvault_.get());
  ASSIGN_OR_RETURN(lockbox_, control::Lockbox::Create(env_, store_.get(), rbac_.get(), activity_.get(), lb));
  control::ActivityLog* log = activity_.get();
  control::Lockbox* lockbox = lockbox_.get();
  arm_->AddRoutes([log](const control::ArmRequest& r) { return log->Route(r); });
  arm_->AddRoutes([lockbox](const control::ArmRequest& r) { return lockbox->Route(r); });
  // Lockbox inside, the activity log outside: a refused write is on record too.
  arm_->AddLayer([lockbox](const control::ArmRequest& r, const control::ArmService::Next& next) {
    return lockbox->GateReads(r, next);
  });
  arm_->AddLayer([log](const control::ArmRequest& r, const control::ArmService::Next& next) {
    return log->RecordWrite(r, next);
  });
  return OkStatus();
}

size_t Instance::DecodedCacheBytes() const {
  return options_.query_cache_mb >= 0 ? static_cast<size_t>(options_.query_cache_mb) << 20
                                      : DefaultQueryCacheBytes(ProcessMemoryLimit());
}

// The storage engine (shared storage under the region MMKs, cluster accounts under the KEK),
// the ingestion pipeline, and the Logs Ingestion and query front ends over them.
Status Instance::StartStorageEngine() {
  const std::string& dir = options_.data_dir;
  // What the process may use (the machine's memory, or a container's cgroup limit): the default
  // cache and query budget are fractions of it.
  const size_t memory_limit = ProcessMemoryLimit();
  engine::LogStoreOptions ls_opts;
  ls_opts.flush_rows = static_cast<size_t>(options_.memtable_rows);
  ls_opts.flush_bytes = static_cast<size_t>(options_.memtable_mb) << 20;
  ls_opts.decoded_cache_bytes = DecodedCacheBytes();
  spdlog::info("decoded block cache: {} MiB{}", ls_opts.decoded_cache_bytes >> 20,
               options_.query_cache_mb >= 0 ? "" : " (default: 1 GiB or a quarter of the memory the server may use)");
  // (CLI11's range check lets NaN through: every comparison with it is false.)
  if (!(options_.hot_cache_gb >= 0 && options_.hot_cache_gb <= 1e6)) {
    return InvalidArgument("--hot-cache-gb must be a number from 0 to 1000000");
  }
  ls_opts.hot_cache_bytes = static_cast<uint64_t>(options_.hot_cache_gb * static_cast<double>(uint64_t{1} << 30));
  if (ls_opts.hot_cache_bytes != 0) spdlog::info("hot cache on disk: at most {} MiB", ls_opts.hot_cache_bytes >> 20);
  ls_opts.extent_codec =
      options_.extent_codec == "zstd" ? engine::Codec::kZstd : engine::Codec::kLz4;
  ASSIGN_OR_RETURN(log_store_,
                   engine::LogStore::Open(env_, dir + "/logs", store_.get(), service_keys_.get(),
                                          cluster_storage_.get(), topology_.get(), ls_opts));
  ingestor_ = std::make_unique<engine::Ingestor>(log_store_.get(), topology_.get(), env_.clock);
  server::DataPlaneDeps dp{env_,
                           rbac_.get(),
                           topology_.get(),
                           arm_->insights(),
                           log_store_.get(),
                           audit_.get(),
                           store_.get(),
                           "/subscriptions/" + info_.subscription_id,
                           real_clock_.get(),
                           ingestor_.get()};
  dp.lockbox = lockbox_.get();
  dp.activity = activity_.get();
  dp.vault_resource_id = VaultResourceIds(keyvault_.get());
  server::IngestionLimits ingestion_limits;
  ingestion_limits.requests_per_minute = options_.ingestion_requests_per_minute;
  ingestion_limits.bytes_per_minute = static_cast<uint64_t>(options_.ingestion_mb_per_minute) << 20;
  ingestion_ = std::make_unique<server::IngestionApi>(dp, ingestion_limits);
  server::QueryLimits query_limits;
  query_limits.memory_per_query_bytes = static_cast<size_t>(options_.query_memory_mb) << 20;
  query_limits.memory_all_queries_bytes = options_.query_server_memory_mb >= 0
                                              ? static_cast<size_t>(options_.query_server_memory_mb) << 20
                                              : DefaultQueryServerMemoryBytes(memory_limit);
  spdlog::info("query memory: {} MiB a query, {} MiB all queries", query_limits.memory_per_query_bytes >> 20,
               query_limits.memory_all_queries_bytes >> 20);
  query_ = std::make_unique<server::QueryApi>(dp, query_limits);
  return OkStatus();
}

// The storage engine's, the key managers' and the process's /metrics collectors.
void Instance::AddCollectors() {
  engine::LogStore* ls = log_store_.get();
  metrics_->AddCollector([ls] {
    std::string out =
        "# HELP cmklogs_revocation_effect_seconds Seconds from the last successful unwrap to the "
        "end of a revocation's effects (ingestion refused, cache wiped).\n"
        "# TYPE cmklogs_revocation_effect_seconds gauge\n";
    for (const auto& [account, secs] : ls->RevocationEffectSeconds()) {
      out += "cmklogs_revocation_effect_seconds{account=\"" + account + "\"} " +
             std::to_string(secs) + "\n";
    }
    engine::StoreStats st = ls->Stats();
    out += "# TYPE cmklogs_extents gauge\ncmklogs_extents " + std::to_string(st.extents) + "\n";
    out += "# TYPE cmklogs_memtable_rows gauge\ncmklogs_memtable_rows " +
           std::to_string(st.memtable_rows) + "\n";
    out +=
        "# TYPE cmklogs_held_rows gauge\ncmklogs_held_rows " + std::to_string(st.held_rows) + "\n";
    out += "# TYPE cmklogs_hot_cache_bytes gauge\ncmklogs_hot_cache_bytes " + std::to_string(st.hot_cache_bytes) +
           "\n# TYPE cmklogs_hot_cache_files gauge\ncmklogs_hot_cache_files " + std::to_string(st.hot_cache_files) +
           "\n# TYPE cmklogs_hot_cache_dropped_total counter\ncmklogs_hot_cache_dropped_total " +
           std::to_string(st.hot_cache_dropped) + "\n";
    out += "# TYPE cmklogs_flush_requests_total counter\ncmklogs_flush_requests_total " +
           std::to_string(st.flush_requests) + "\n";
    // The decoded block cache (--query-cache-mb): what it holds, its bound now (less what it
    // yields to running queries' memory), and what it dropped for them.
    out += "# TYPE cmklogs_query_cache_bytes gauge\ncmklogs_query_cache_bytes " + std::to_string(st.decoded_cache_bytes) +
           "\n# TYPE cmklogs_query_cache_capacity_bytes gauge\ncmklogs_query_cache_capacity_bytes " +
           std::to_string(st.decoded_cache_capacity) +
           "\n# TYPE cmklogs_query_cache_yielded_bytes_total counter\ncmklogs_query_cache_yielded_bytes_total " +
           std::to_string(st.decoded_cache_yielded) + "\n";
    // Integrity and isolation (hardening issue): each is also logged where it happens.
    for (auto [name, value] :
         {std::pair{"cmklogs_flush_failures_total", st.flush_failures},
          std::pair{"cmklogs_extent_integrity_failures_total", st.integrity_failures},
          std::pair{"cmklogs_wal_integrity_failures_total", st.wal_integrity_failures},
          std::pair{"cmklogs_hot_cache_rejects_total", st.cache_rejects}}) {
      out +=
          std::string("# TYPE ") + name + " counter\n" + name + " " + std::to_string(value) + "\n";
    }
    return out;
  });
  // Each storage account's key state and the time since its last successful unwrap.
  storage::ClusterStorage* cs = cluster_storage_.get();
  env::Clock* metrics_clock = env_.clock;
  metrics_->AddCollector([cs, metrics_clock] {
    std::string state =
        "# HELP cmklogs_storage_account_key_state 1 for the account's current key state.\n"
        "# TYPE cmklogs_storage_account_key_state gauge\n";
    std::string since =
        "# HELP cmklogs_storage_account_seconds_since_unwrap Seconds since the AEK was last "
        "unwrapped through the vault.\n"
        "# TYPE cmklogs_storage_account_seconds_since_unwrap gauge\n";
    TimePoint now = metrics_clock->Now();
    for (const auto& a : cs->List()) {
      std::string labels = "cluster=\"" + a.cluster_id + "\",account=\"" + a.account + "\"";
      for (auto st : {storage::KeyState::kHealthy, storage::KeyState::kDegraded,
                      storage::KeyState::kUnavailable, storage::KeyState::kRevoked}) {
        state += "cmklogs_storage_account_key_state{" + labels + ",state=\"" +
                 storage::KeyStateName(st) + "\"} " + (a.state == st ? "1" : "0") + "\n";
      }
      if (a.last_success) {
        since +=
            "cmklogs_storage_account_seconds_since_unwrap{" + labels + "} " +
            std::to_string(
                std::chrono::duration_cast<std::chrono::seconds>(now - *a.last_success).count()) +
            "\n";
      }
    }
    return state + since;
  });
  metrics_->AddCollector([] {
    return "# HELP cmklogs_background_exceptions_total Exceptions caught in timers and background "
           "jobs (each logged).\n# TYPE cmklogs_background_exceptions_total counter\n"
           "cmklogs_background_exceptions_total " +
           std::to_string(env::BackgroundExceptions()) + "\n";
  });
}

// The router over everything, then requests are served and client-config.json written.
Status Instance::ServeRequests() {
  uint16_t port = http_->port();
  const std::string& dir = options_.data_dir;
  server::RouterDeps deps;
  deps.env = env_;
  deps.session_clock = real_clock_.get();
  deps.domain = options_.domain;
  deps.port = port;
  deps.default_tenant_id = info_.tenant_id;
  deps.default_subscription_id = info_.subscription_id;
  deps.directory = directory_.get();
  deps.tokens = tokens_.get();
  deps.rbac = rbac_.get();
  deps.arm = arm_.get();
  deps.keyvault = keyvault_.get();
  deps.metrics = metrics_.get();
  deps.ingestion = ingestion_.get();
  deps.query = query_.get();
  std::string p = port == 443 ? "" : ":" + std::to_string(port);
  storage_auth_ = std::make_unique<storage_account::StorageAuth>(
      storage_accounts_.get(), tokens_.get(), rbac_.get(), real_clock_.get(), "https://login." + options_.domain + p);
  // Customer Lockbox on operators' Entra-token reads of customers' accounts, recorded under a grant.
  control::Lockbox* lockbox = lockbox_.get();
  storage_auth_->set_operator_gate([lockbox](const identity::Principal& caller, const storage_account::AccountSpec& spec,
                                             const std::string& operation, const std::string& request) -> Status {
    ASSIGN_OR_RETURN(auto grant, lockbox->CheckAccess(caller, spec.resource_id));
    if (grant) lockbox->RecordAccess(caller, *grant, operation, request, 0);
    return OkStatus();
  });
  blob_ = std::make_unique<storage_account::BlobService>(env_, storage_accounts_.get(), storage_auth_.get(),
                                                         ".blob." + options_.domain + p);
  table_ = std::make_unique<storage_account::TableService>(env_, storage_accounts_.get(), storage_auth_.get(),
                                                           ".table." + options_.domain + p);
  deps.blob = blob_.get();
  deps.table = table_.get();
  router_ = std::make_unique<server::Router>(deps);
  http_->Start();
  if (options_.write_client_config) RETURN_IF_ERROR(WriteClientConfig());
  spdlog::info("cmklogs serving on port {} (domain {}, data dir {}, {} clock)", port,
               options_.domain, dir, ClockStateNow().mode);
  return OkStatus();
}

Status Instance::Bootstrap() {
  ASSIGN_OR_RETURN(auto doc, store_->Get(kInstanceKind, "default"));
  if (!doc) {
    // First start: a tenant, a subscription, a resource group and an admin principal that owns
    // the subscription.
    ASSIGN_OR_RETURN(identity::Tenant tenant, directory_->CreateTenant("cmklogs." + options_.domain));
    ASSIGN_OR_RETURN(auto admin, directory_->CreateServicePrincipal(tenant.id, "cmklogs-admin"));
    std::string sub = random_.NewGuid();
    ASSIGN_OR_RETURN(auto sealed, crypto::AesGcmSeal(master_key_, admin.client_secret.span(),
                                                     AsBytes(kAdminSecretAad), random_));
    identity::RoleAssignment owner;
    owner.name = random_.NewGuid();
    owner.scope = "/subscriptions/" + sub;
    owner.role_definition_id = identity::FindRoleDefinition("Owner")->id;
    owner.principal_id = admin.principal.object_id;
    owner.created_by = admin.principal.object_id;
    RETURN_IF_ERROR(rbac_->Assign(owner).status());
    bj::object o{{"tenantId", tenant.id},
                 {"subscriptionId", sub},
                 {"resourceGroup", "cmklogs"},
                 {"location", "eastus"},
                 {"adminClientId", admin.principal.app_id},
                 {"adminObjectId", admin.principal.object_id},
                 {"adminSecretSealed", Base64Encode(sealed)}};
    RETURN_IF_ERROR(store_->Put(kInstanceKind, "default", json::Serialize(o)));
    ASSIGN_OR_RETURN(doc, store_->Get(kInstanceKind, "default"));
  }
  ASSIGN_OR_RETURN(bj::object o, json::ParseObject(doc->body));
  info_.tenant_id = std::string(o["tenantId"].as_string());
  info_.subscription_id = std::string(o["subscriptionId"].as_string());
  info_.resource_group = std::string(o["resourceGroup"].as_string());
  info_.location = std::string(o["location"].as_string());
  admin_client_id_ = std::string(o["adminClientId"].as_string());
  if (const bj::value* admin_oid = o.if_contains("adminObjectId"); admin_oid && admin_oid->is_string()) {
    admin_object_id_ = std::string(admin_oid->get_string());
  }
  ASSIGN_OR_RETURN(auto sealed, Base64Decode(o["adminSecretSealed"].as_string()));
  auto secret = crypto::AesGcmOpen(master_key_, sealed, AsBytes(kAdminSecretAad));
  if (!secret.ok()) return DataLoss("cannot unseal the admin secret: wrong master key?");
  admin_secret_ = std::move(*secret);
  // Subscription and group are (re)created idempotently: the ARM service owns their format.
  control::ArmService arm(env_, store_.get(), directory_.get(), rbac_.get(), info_, {});
  RETURN_IF_ERROR(arm.EnsureSubscription(info_.subscription_id, info_.tenant_id, "cmklogs default subscription"));
  return arm.EnsureResourceGroup(info_.subscription_id, info_.resource_group, info_.location);
}

// The HSM is a SoftHSM2 token under <data-dir>/hsm (any PKCS#11 module works the same way). The
// token is initialised on first start with random SO and user PINs; the user PIN is kept sealed
// under the master key. Keys generated there are sensitive and never extractable.
Result<std::unique_ptr<keyvault::Pkcs11Hsm>> Instance::OpenHsm() {
  if (options_.pkcs11_module.empty()) return FailedPrecondition("disabled by configuration");
  if (!fs_.Exists(options_.pkcs11_module)) return FailedPrecondition("no PKCS#11 module at " + options_.pkcs11_module);
  const std::string hsm_dir = options_.data_dir + "/hsm";
  RETURN_IF_ERROR(fs_.CreateDirs(hsm_dir + "/tokens", 0700));
  std::string conf = "directories.tokendir = " + hsm_dir + "/tokens\nobjectstore.backend = file\nlog.level = ERROR\n";
  RETURN_IF_ERROR(fs_.WriteFileAtomic(hsm_dir + "/softhsm2.conf", AsBytes(conf), 0600));
  ::setenv("SOFTHSM2_CONF", (hsm_dir + "/softhsm2.conf").c_str(), 1);
  constexpr char kPinAad[] = "cmklogs/hsm-pin/v1";
  ASSIGN_OR_RETURN(auto doc, store_->Get("hsm", "token"));
  SecretBytes pin;
  if (!doc) {
    std::string user_pin = Base64UrlEncode(random_.NewSecret(18).span());
    std::string so_pin = Base64UrlEncode(random_.NewSecret(18).span());
    std::string cmd = "softhsm2-util --init-token --free --label cmklogs --so-pin '" + so_pin + "' --pin '" +
                      user_pin + "' > /dev/null 2>&1";
    int rc = std::system(cmd.c_str());
    std::fill(cmd.begin(), cmd.end(), '\0');
    std::fill(so_pin.begin(), so_pin.end(), '\0');
    if (rc != 0) return Unavailable("softhsm2-util could not initialise the token");
    pin = SecretBytes::FromString(user_pin);
    std::fill(user_pin.begin(), user_pin.end(), '\0');
    ASSIGN_OR_RETURN(auto sealed, crypto::AesGcmSeal(master_key_, pin.span(), AsBytes(kPinAad), random_));
    RETURN_IF_ERROR(store_->Put("hsm", "token", Base64Encode(sealed)));
  } else {
    ASSIGN_OR_RETURN(auto sealed, Base64Decode(doc->body));
    auto opened = crypto::AesGcmOpen(master_key_, sealed, AsBytes(kPinAad));
    if (!opened.ok()) return DataLoss("cannot unseal the HSM PIN");
    pin = std::move(*opened);
  }
  keyvault::Pkcs11Options o;
  o.module_path = options_.pkcs11_module;
  o.token_label = "cmklogs";
  o.user_pin = std::move(pin);
  o.random = &random_;
  return keyvault::Pkcs11Hsm::Open(std::move(o));
}

Status Instance::SetUpTls() {
  const std::string& dir = options_.data_dir;
  ca_cert_path_ = dir + "/tls/ca.pem";
  // Certificates are judged by clients on their own (real) clocks: issued on real time, they
  // stay valid however far the simulated clock is advanced.
  TimePoint now = real_clock_->Now();
  crypto::CertificateAndKey ca;
  ASSIGN_OR_RETURN(auto key_doc, store_->Get("tls", "ca-key"));
  if (fs_.Exists(ca_cert_path_) && key_doc) {
    ASSIGN_OR_RETURN(ca.cert_pem, fs_.ReadFile(ca_cert_path_));
    ASSIGN_OR_RETURN(auto sealed, Base64Decode(key_doc->body));
    auto key = crypto::AesGcmOpen(master_key_, sealed, AsBytes(kCaKeyAad));
    if (!key.ok()) return DataLoss("cannot unseal the CA key: wrong master key?");
    ca.key_pem = std::move(*key);
  } else {
    ASSIGN_OR_RETURN(ca, crypto::CreateCertificateAuthority(
                             "cmklogs local CA " + info_.tenant_id.substr(0, 8),
                             now - std::chrono::hours(24), now + std::chrono::hours(24 * 3650)));
    ASSIGN_OR_RETURN(auto sealed, crypto::AesGcmSeal(master_key_, ca.key_pem.span(), AsBytes(kCaKeyAad), random_));
    RETURN_IF_ERROR(store_->Put("tls", "ca-key", Base64Encode(sealed)));
    RETURN_IF_ERROR(fs_.WriteFileAtomic(ca_cert_path_, AsBytes(ca.cert_pem), 0644));
  }
  // The server certificate is issued afresh at every start for the current domain; its key
  // never touches the disk.
  const std::string& d = options_.domain;
  std::vector<std::string> dns = {"login." + d,
                                  "management." + d,
                                  "*.vault." + d,
                                  "*.managedhsm." + d,
                                  "api.loganalytics." + d,
                                  "*.ingest." + d,
                                  "*.blob." + d,
                                  "*.table." + d,
                                  "monitor." + d,
                                  "graph." + d,
                                  d};
  if (d != "localhost") dns.push_back("localhost");
  ASSIGN_OR_RETURN(auto leaf, crypto::IssueServerCertificate(ca, "cmklogs " + d, dns,
                                                             {"127.0.0.1", "::1"},
                                                             now - std::chrono::hours(1),
                                                             now + std::chrono::hours(24 * 397)));
  server_cert_pem_ = leaf.cert_pem;
  server_key_pem_ = std::move(leaf.key_pem);
  return fs_.WriteFileAtomic(dir + "/tls/server.pem", AsBytes(server_cert_pem_), 0644);
}

Status Instance::WriteClientConfig() {
  const std::string& d = options_.domain;
  uint16_t port = http_->port();
  std::string p = port == 443 ? "" : ":" + std::to_string(port);
  bj::array listen;
  for (const auto& a : options_.listen) listen.emplace_back(a);
  bj::object o{{"tenantId", info_.tenant_id},
               {"subscriptionId", info_.subscription_id},
               {"resourceGroup", info_.resource_group},
               {"location", info_.location},
               {"clientId", admin_client_id_},
               {"clientSecret", std::string(admin_secret_.AsStringView())},
               {"caCertPath", ca_cert_path_},
               {"port", port},
               {"domain", d},
               {"listenAddresses", std::move(listen)},
               {"authorityHost", "https://login." + d + p},
               {"adfsAuthority", "https://login." + d + p + "/adfs"},
               {"armEndpoint", "https://management." + d + p},
               {"armScope", "https://management." + d + "/.default"},
               {"vaultSuffix", ".vault." + d},
               {"managedHsmSuffix", ".managedhsm." + d},
               {"queryEndpoint", "https://api.loganalytics." + d + p},
               {"queryScope", "https://api.loganalytics." + d + "/.default"},
               {"ingestionSuffix", ".ingest." + d},
               {"ingestionScope", "https://monitor." + d + "/.default"},
               {"blobSuffix", ".blob." + d},
               {"tableSuffix", ".table." + d},
               {"storageScope", "https://storage.azure.com/.default"},
               {"graphEndpoint", "https://graph." + d + p},
               {"graphScope", "https://graph." + d + "/.default"},
               {"simulatedClock", options_.simulated_clock}};
  std::string text = bj::serialize(o);
  Status s = fs_.WriteFileAtomic(client_config_path_, AsBytes(text), 0600);
  std::fill(text.begin(), text.end(), '\0');
  return s;
}

// The simulated clock resumes where the last run left it and never goes behind real time, so
// the schedules, soft deletes and rotation policies of a rehearsal keep their meaning across a
// restart. The ticking clock keeps its offset (it ticks through the downtime, as real time
// does); the frozen clock resumes at the time it showed. Each reads what the other wrote, so a
// data directory may switch between the modes without going back in time.
Result<env::Clock*> Instance::StartSimulatedClock() {
  TimePoint real_now = real_clock_->Now();
  TimePoint resume = real_now;
  ASSIGN_OR_RETURN(auto saved_time, store_->Get("clock", "simulated"));
  if (saved_time) {
    auto t = ParseRfc3339(saved_time->body);
    if (t.ok() && *t > resume) resume = *t;
  }
  ASSIGN_OR_RETURN(auto saved_offset, store_->Get("clock", "offset"));
  if (saved_offset) {
    const std::string& b = saved_offset->body;
    int64_t ns = 0;
    auto [end, ec] = std::from_chars(b.data(), b.data() + b.size(), ns);
    if (ec == std::errc() && end == b.data() + b.size() && real_now + Duration(ns) > resume) {
      resume = real_now + Duration(ns);
    }
  }
  if (options_.frozen_clock) {
    sim_clock_ = std::make_unique<env::SimulatedClock>(resume);
    return sim_clock_.get();
  }
  offset_clock_ = std::make_unique<env::OffsetClock>(real_clock_.get(), resume - real_now);
  return offset_clock_.get();
}

Result<TimePoint> Instance::AdvanceClock(Duration d) {
  TimePoint now;
  if (offset_clock_) {
    offset_clock_->Advance(d);
    // The offset (nanoseconds) is what a restart resumes from.
    RETURN_IF_ERROR(store_->Put("clock", "offset", std::to_string(offset_clock_->offset().count())));
    now = offset_clock_->Now();
  } else if (sim_clock_) {
    sim_clock_->Advance(d);
    now = sim_clock_->Now();
  } else {
    return FailedPrecondition("The server runs on the real clock; start it with --simulated-clock to advance time.",
                              "ClockNotSimulated");
  }
  RETURN_IF_ERROR(store_->Put("clock", "simulated", FormatRfc3339(now, 9)));
  return now;
}

control::ClockState Instance::ClockStateNow() const {
  control::ClockState c;
  c.real_now = real_clock_->Now();
  if (offset_clock_) {
    c.mode = "simulated";
    c.offset = offset_clock_->offset();
    c.now = c.real_now + c.offset;
  } else if (sim_clock_) {
    c.mode = "frozen";
    c.now = sim_clock_->Now();
    c.offset = c.now - c.real_now;
  } else {
    c.mode = "real";
    c.now = c.real_now;
  }
  return c;
}

}  // namespace cmk::app
