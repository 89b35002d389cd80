#pragma once
// ArmService: the Azure Resource Manager surface of the instance. Given an authenticated
// request it routes, authorizes (Azure RBAC actions at the resource's scope) and answers with
// ARM's shapes: resources as JSON envelopes, lists as {value, nextLink}, errors as
// {error:{code,message}}.
// Thread safety: safe for concurrent use.

#include <boost/json.hpp>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "base/time_format.h"
#include "env/env.h"
#include "identity/directory.h"
#include "identity/principal.h"
#include "identity/rbac.h"
#include "keyvault/key_vault_service.h"
#include "meta/metadata_store.h"
#include "control/arm_types.h"

namespace cmk::control {

class OperationalInsightsProvider;
class InsightsProvider;
class StorageProvider;

// The instance's defaults, created on first start.
struct InstanceInfo {
  std::string tenant_id;
  std::string subscription_id;
  std::string resource_group;
  std::string location;
};

// The server's two clocks as the admin endpoints report them (docs/architecture.md, "Time").
struct ClockState {
  std::string mode;    // "real", "simulated" (real time plus an offset) or "frozen"
  TimePoint now;       // the data and resource lifecycle's clock
  TimePoint real_now;  // the sessions' clock (tokens, TLS, rate windows)
  Duration offset{};   // how far `now` is ahead of real time (frozen: at the moment read)
};

// Hooks into the process that the admin endpoints drive.
struct AdminHooks {
  // Advances the simulated clock; FailedPrecondition when the clock is real.
  std::function<Result<TimePoint>(Duration)> advance_clock;
  // Makes a vault unreachable (on) or reachable again (off) for the storage accounts' key
  // managers, to rehearse a vault outage.
  std::function<Status(const std::string& vault, bool on)> vault_outage;
  // GET /cmklogs/admin/clock, and the offset in the answer of an advance; unset: not served.
  std::function<ClockState()> clock_state;
};

class ArmService {
 public:
  ArmService(env::Env env, meta::MetadataStore* store, identity::Directory* directory,
             identity::Rbac* rbac, InstanceInfo instance, AdminHooks hooks,
             keyvault::KeyVaultService* keyvault = nullptr, keyvault::AuditLog* audit = nullptr);

  ArmResponse Handle(const ArmRequest& request);

  // Routes served ahead of the built-in ones (Customer Lockbox, the activity log), before the
  // api-version check (each checks its own): nullopt means "not mine". Call before serving.
  using Routes = std::function<std::optional<ArmResponse>(const ArmRequest&)>;
  void AddRoutes(Routes routes);
  // Wraps every request: `next` routes and serves it. Layers added later run outside earlier
  // ones (the activity log records writes; Lockbox gates operators' reads of customer data).
  using Next = std::function<ArmResponse(const ArmRequest&)>;
  using Layer = std::function<ArmResponse(const ArmRequest&, const Next& next)>;
  void AddLayer(Layer layer);

  // Idempotent creation used at bootstrap.
  Status EnsureSubscription(const std::string& subscription_id, const std::string& tenant_id,
                            const std::string& display_name);
  Status EnsureResourceGroup(const std::string& subscription_id, const std::string& name,
                             const std::string& location);
  // Serves Microsoft.OperationalInsights and Microsoft.ManagedIdentity through `provider`.
  void SetOperationalInsights(std::unique_ptr<OperationalInsightsProvider> provider);
  OperationalInsightsProvider* operational_insights() const { return oi_.get(); }
  // Serves Microsoft.Insights (data collection endpoints and rules) through `provider`.
  void SetInsights(std::unique_ptr<InsightsProvider> provider);
  // The Microsoft.Insights provider (its rule lookup serves the ingestion front end); null
  // until SetInsights. Owned by this service.
  InsightsProvider* insights() const { return insights_.get(); }
  // Serves Microsoft.Storage (storage accounts) through `provider`.
  void SetStorage(std::unique_ptr<StorageProvider> provider);
  ~ArmService();

 private:
  struct Route;
  // Handle without the layers: the extra routes, then the built-in ones.
  ArmResponse Dispatch(const ArmRequest& r);
  ArmResponse ListSubscriptions(const ArmRequest& r);
  ArmResponse GetSubscription(const ArmRequest& r, const std::string& sub);
  ArmResponse ResourceGroups(const ArmRequest& r, const std::string& sub, const std::string* rg);
  ArmResponse RoleDefinitions(const ArmRequest& r, const std::string& scope, const std::string* id);
  ArmResponse RoleAssignments(const ArmRequest& r, const std::string& scope,
                              const std::string* name);
  ArmResponse MoveResources(const ArmRequest& r, const std::string& sub, const std::string& rg);
  ArmResponse Admin(const ArmRequest& r, const std::vector<std::string>& seg);
  // Parts of Admin: POST clock/advance, POST principals, GET vaults/{name}/audit.
  ArmResponse AdminAdvanceClock(const ArmRequest& r);
  ArmResponse AdminCreatePrincipal(const ArmRequest& r);
  ArmResponse AdminVaultAudit(const ArmRequest& r, const std::string& vault);
  ArmResponse KeyVaultResources(const ArmRequest& r, const std::string& sub, const std::string* rg,
                                const std::vector<std::string>& rest);
  // Parts of KeyVaultResources (control/keyvault_provider.cc): subscription-level routes
  // (checkNameAvailability, lists, deleted vaults), a vault's access policies, and PUT/PATCH.
  ArmResponse KeyVaultSubscriptionRoutes(const ArmRequest& r, const std::string& sub,
                                         const std::vector<std::string>& rest);
  ArmResponse VaultAccessPolicies(const ArmRequest& r, const std::string& id,
                                  const std::string& name, const std::string& rg,
                                  const std::string& operation, bool exists);
  ArmResponse PutVault(const ArmRequest& r, keyvault::Vault v, bool exists);
  boost::json::object VaultJson(const keyvault::Vault& v) const;
  Status CheckScopeExists(const std::string& scope);
  Result<std::optional<boost::json::object>> LoadSubscription(const std::string& sub);
  boost::json::object AssignmentJson(const identity::RoleAssignment& a) const;

  env::Env env_;
  meta::MetadataStore* store_;
  identity::Directory* directory_;
  identity::Rbac* rbac_;
  InstanceInfo instance_;
  AdminHooks hooks_;
  keyvault::KeyVaultService* keyvault_;
  keyvault::AuditLog* audit_;
  std::unique_ptr<StorageProvider> storage_;
  std::unique_ptr<OperationalInsightsProvider> oi_;
  std::unique_ptr<InsightsProvider> insights_;
  std::vector<Routes> routes_;
  std::vector<Layer> layers_;
};

}  // namespace cmk::control
