#pragma once
// Router: picks the front end for a request by Host under the base domain D (design.md §1), or
// by path for bare IPs, `localhost` and other names, then authenticates and dispatches.
//   login.D                 token service (Entra-compatible, also /adfs)
//   management.D            ARM control plane and /cmklogs/admin
//   <vault>.vault.D, <hsm>.managedhsm.D   Key Vault data plane (host routing only)
//   api.loganalytics.D      query API
//   <dce>.ingest.D          Logs Ingestion API
//   <account>.blob.D, <account>.table.D   customers' storage accounts (storage_account/)
//   graph.D                 Microsoft Graph subset (server/graph_api.h); /v1.0, /beta by path
//   /healthz (no auth), /metrics   on every host
// Thread safety: safe for concurrent use.

#include <memory>
#include <optional>
#include <string>

#include "control/arm_service.h"
#include "env/env.h"
#include "identity/directory.h"
#include "identity/rbac.h"
#include "identity/token_service.h"
#include "keyvault/key_vault_service.h"
#include "server/graph_api.h"
#include "server/http_types.h"
#include "server/metrics.h"

namespace cmk::server {
class IngestionApi;
class QueryApi;
}  // namespace cmk::server
namespace cmk::storage_account {
class BlobService;
class TableService;
}  // namespace cmk::storage_account

namespace cmk::server {

enum class FrontEnd { kLogin, kArm, kVault, kManagedHsm, kQuery, kIngest, kGraph, kBlob, kTable, kOps, kUnknown };
const char* FrontEndName(FrontEnd f);

struct Route {
  FrontEnd front_end = FrontEnd::kUnknown;
  std::string host_label;  // vault / HSM / DCE name for the wildcard hosts
};

// Pure routing decision (unit-tested and fuzzed).
Route RouteRequest(std::string_view host_header, std::string_view path, std::string_view domain);

struct RouterDeps {
  env::Env env;
  std::string domain;
  uint16_t port = 0;
  std::string default_tenant_id;
  std::string default_subscription_id;
  identity::Directory* directory = nullptr;
  identity::TokenService* tokens = nullptr;
  identity::Rbac* rbac = nullptr;
  control::ArmService* arm = nullptr;
  keyvault::KeyVaultService* keyvault = nullptr;
  Metrics* metrics = nullptr;
  IngestionApi* ingestion = nullptr;  // null: the ingestion host answers 404
  QueryApi* query = nullptr;          // null: the query host answers 404
  storage_account::BlobService* blob = nullptr;  // null: the blob hosts answer 404
  storage_account::TableService* table = nullptr;  // null: the table hosts answer 404
  // The token endpoint's clock (expires_on, error timestamps): real time, as the tokens' own
  // stamps; null: env.clock.
  env::Clock* session_clock = nullptr;
};

class Router {
 public:
  explicit Router(RouterDeps deps);
  void Handle(HttpRequest& req, HttpResponse& res);
  // The HttpServer's Classifier: queries run on the query pool, requests that may block on disk
  // or take long (ARM, Key Vault, ingestion) on the general pool, and the cheap ones (tokens,
  // /healthz, /metrics, unknown hosts) inline on the network threads, so they keep answering
  // while the pools are saturated.
  static constexpr int kQueryPool = 0;
  static constexpr int kGeneralPool = 1;
  int Classify(const HttpRequest& req) const;
  // The HttpServer's ExceptionHandler: a 500 in the front end's error shape (AAD, Key Vault or
  // ARM/OneAPI) naming the request id, logged once with the exception text (never sent).
  void OnException(const HttpRequest& req, HttpResponse& res, std::string_view what);
  // The HttpServer's HeaderHandler: answers, from the header alone, a request that declares a body
  // and that authentication rejects (the same 401 Handle would give after reading the body), so
  // that a client which announces a body and never sends it is not left waiting. Returns false
  // (and the response is to be discarded) for everything else.
  bool HandleHeader(HttpRequest& req, HttpResponse& res);
  // External base URL for a host prefix: ExternalUrl("management") = https://management.D:PORT.
  std::string ExternalUrl(std::string_view host_prefix) const;

 private:
  void HandleLogin(HttpRequest& req, HttpResponse& res);
  void HandleToken(HttpRequest& req, HttpResponse& res, const std::string& tenant, bool adfs);
  void HandleArm(HttpRequest& req, HttpResponse& res);
  void HandleOps(HttpRequest& req, HttpResponse& res);
  void HandleVault(HttpRequest& req, HttpResponse& res, const Route& route);
  // <account>.blob.D / .table.D: the request handed to the Blob or Table service as it came
  // (they authenticate).
  void HandleStorage(HttpRequest& req, HttpResponse& res, const Route& route);
  // Request id, correlation ids and front end name on every response.
  Route Begin(HttpRequest& req, HttpResponse& res);
  // Key Vault's bearer check; on failure writes the 401 with the challenge and returns nullopt.
  std::optional<identity::Claims> AuthenticateVault(const HttpRequest& req, HttpResponse& res,
                                                    const Route& route);
  // Validates the bearer token for `aud`; on failure writes the 401 and returns nullopt.
  std::optional<identity::Claims> Authenticate(const HttpRequest& req, HttpResponse& res,
                                               identity::Audience aud);
  TimePoint SessionNow() const {
    return (d_.session_clock != nullptr ? d_.session_clock : d_.env.clock)->Now();
  }
  RouterDeps d_;
  GraphApi graph_;  // over d_.directory and d_.tokens
};

}  // namespace cmk::server
