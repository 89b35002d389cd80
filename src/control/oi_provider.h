#pragma once
// OperationalInsightsProvider: Microsoft.OperationalInsights (clusters, workspaces,
// linkedServices, linkedStorageAccounts, savedSearches, deletedWorkspaces, operation status and
// results) and Microsoft.ManagedIdentity/userAssignedIdentities, with the documented rules,
// states and errors of Azure Monitor dedicated clusters and customer-managed keys.
//
// Long-running operations are records in the metadata store: {resource, kind, status, start,
// due}. An operation completes once the injected clock reaches its due time: when it is next
// observed (any request to this provider) or by a clock timer — so a restart never loses or
// repeats one.
// Thread safety: safe for concurrent use (one mutex; these are control-plane rates).

#include <boost/json.hpp>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "control/arm_service.h"
#include "identity/directory.h"
#include "identity/rbac.h"
#include "keyvault/key_vault_service.h"
#include "meta/metadata_store.h"
#include "engine/log_store.h"
#include "storage/cluster_storage.h"
#include "storage_account/linked_storage.h"

namespace cmk::control {

struct Region {
  std::string name;
  bool double_encryption = true;
};
const std::vector<Region>& DefaultRegions();

struct OperationalInsightsOptions {
  // Time an operation (create, update, link, ...) takes on the injected clock.
  Duration provisioning = std::chrono::seconds(2);
  std::vector<Region> regions = DefaultRegions();
  int max_active_clusters_per_region = 5;
  int max_reserved_clusters_per_region = 7;  // active + deleted in the last 14 days
  Duration name_reservation = std::chrono::hours(24 * 14);
  int max_link_operations = 2;  // per workspace per link window
  Duration link_window = std::chrono::hours(24 * 30);
  int max_workspaces_per_cluster = 1000;
  Duration sku_decrease_lock = std::chrono::hours(24 * 30);
};

class OperationalInsightsProvider : public engine::Topology {
 public:
  OperationalInsightsProvider(env::Env env, meta::MetadataStore* store, identity::Directory* directory,
                              identity::Rbac* rbac, keyvault::KeyVaultService* keyvault,
                              OperationalInsightsOptions options);
  ~OperationalInsightsProvider() override;

  // engine::Topology (oi_topology.cc): workspaces, their tables and clusters as the storage
  // engine and the data-plane front ends see them.
  Result<engine::WorkspaceInfo> WorkspaceByCustomerId(const std::string& customer_id) const override;
  Result<std::vector<engine::TableInfo>> Tables(const std::string& workspace_resource_id) const override;
  bool DoubleEncryption(const std::string& cluster_id) const override;
  Result<engine::WorkspaceInfo> WorkspaceByResourceId(
      const std::string& resource_id) const override;
  // Every answer is read from the ARM documents: their generation in the metadata store.
  uint64_t Version() const override;
  Status Load();

  // /subscriptions/{s}[/resourceGroups/{rg}]/providers/Microsoft.OperationalInsights/{rest...}
  ArmResponse HandleOperationalInsights(const ArmRequest& r, const std::string& sub, const std::string* rg,
                                        const std::vector<std::string>& rest);
  // /subscriptions/{s}[/resourceGroups/{rg}]/providers/Microsoft.ManagedIdentity/{rest...}
  ArmResponse HandleManagedIdentity(const ArmRequest& r, const std::string& sub, const std::string* rg,
                                    const std::vector<std::string>& rest);
  // Storage accounts of clusters with a key follow their cluster's key and identity.
  void set_cluster_storage(storage::ClusterStorage* storage) { storage_ = storage; }
  // Customers' storage accounts (BYOS): a workspace linked to one as `Query` keeps its saved
  // searches there (oi_byos.cc). Null: linking `Query` only records the link.
  void set_linked_storage(storage_account::LinkedStorage* linked) { linked_ = linked; }
  // The account name of a workspace's linked storage account of `type` (`Query`, `Alerts`, ...),
  // nullopt when it has none: the alert rules keep their queries as blobs there.
  Result<std::optional<std::string>> LinkedAccount(const std::string& workspace_id, const std::string& type) const;
  // Admin: every storage account with its key state.
  boost::json::array StorageStatus() const;
  // Admin: gives a cluster back the identity it had before it was set to None.
  Result<boost::json::object> RestoreIdentity(const std::string& cluster_id);
  // Runs every operation whose due time has come (also run by a timer).
  void CompleteDue();

 private:
  struct Operation {
    std::string id;
    std::string location;
    std::string resource_id;
    std::string kind;  // createCluster, updateCluster, deleteCluster, createWorkspace, link, unlink
    std::string status;  // InProgress, Succeeded, Failed
    TimePoint start, due;
    std::optional<TimePoint> end;
    std::string error_code, error_message;
    std::string api_version;
    boost::json::object payload;  // kind-specific
  };
  using Lock = std::unique_lock<std::mutex>;

  ArmResponse Clusters(const ArmRequest& r, const std::string& sub, const std::string& rg, const std::string* name);
  ArmResponse PutCluster(const ArmRequest& r, const std::string& sub, const std::string& rg, const std::string& name);
  ArmResponse PatchCluster(const ArmRequest& r, const std::string& id, boost::json::object body, bool from_put);
  ArmResponse DeleteCluster(const ArmRequest& r, const std::string& id);
  ArmResponse Workspaces(const ArmRequest& r, const std::string& sub, const std::string& rg, const std::string* name);
  ArmResponse PutWorkspace(const ArmRequest& r, const std::string& sub, const std::string& rg, const std::string& name);
  ArmResponse WorkspaceChild(const ArmRequest& r, const std::string& ws_id, const std::vector<std::string>& rest);
  ArmResponse Tables(const ArmRequest& r, const std::string& ws_id, const std::string* name);
  ArmResponse LinkedServices(const ArmRequest& r, const std::string& ws_id, const std::string* name);
  // Parts of LinkedServices (oi_workspaces.cc). `recent`: the workspace's link and unlink
  // operations inside the 30-day window; `ws` is the workspace's document, `link` the link's.
  boost::json::array RecentLinkOps(boost::json::object& hidden, TimePoint now) const;
  std::optional<ArmResponse> LinkLimitReached(const boost::json::array& recent) const;
  ArmResponse Unlink(const ArmRequest& r, const std::string& id, const std::string& ws_id,
                     boost::json::object& link, boost::json::object& ws, boost::json::array recent);
  ArmResponse Link(const ArmRequest& r, const std::string& id, const std::string& ws_id,
                   const std::optional<boost::json::object>& link, boost::json::object& ws,
                   boost::json::array recent);
  // The cluster a link's body names, after the body's, the caller's and the cluster's checks.
  Result<boost::json::object> LinkTarget(const ArmRequest& r, const std::string& id,
                                         const std::string& ws_id, const boost::json::object& ws);
  ArmResponse OperationStatus(const ArmRequest& r, const std::string& sub, const std::string& op_id);
  ArmResponse OperationResult(const ArmRequest& r, const std::string& resource_id, const std::string& op_id);
  ArmResponse List(const ArmRequest& r, const std::string& kind_type, const std::string& prefix, const std::string& action_scope);

  Result<Operation*> StartOperation(const std::string& kind, const std::string& resource_id,
                                    const std::string& location, const std::string& api_version,
                                    boost::json::object payload);
  void AddLroHeaders(ArmResponse& res, const ArmRequest& r, const Operation& op) const;
  Status Complete(Operation& op);
  // Parts of Complete: a cluster's deletion (its workspaces unlinked) and a link or unlink.
  Status CompleteClusterDelete(Operation& op, const std::string& ts);
  Status CompleteLink(Operation& op, const std::string& ts);
  Status SaveOperation(const Operation& op);
  bool HasPendingOperation(const std::string& resource_id) const;
  Result<std::optional<boost::json::object>> LoadDoc(const std::string& id) const;
  Status SaveDoc(const std::string& id, const boost::json::object& doc);
  boost::json::object Public(boost::json::object doc) const;
  Status ValidateKey(const boost::json::object& cluster, const boost::json::object& kvp);
  Result<boost::json::object> ResolveIdentity(const ArmRequest& r, const boost::json::value* identity,
                                              const boost::json::object* existing, const std::string& name);
  const Region* FindRegion(std::string_view name) const;
  // Arms the clock timer for the earliest pending operation. REQUIRES: mu_ held.
  void ScheduleTimerLocked();
  Status ConfigureStorage(const boost::json::object& cluster);
  // Saved searches of a workspace linked as `Query` (oi_byos.cc): rows of the account's
  // WorkspaceSavedSearches table, partitioned by the workspace's customer id.
  Result<std::vector<boost::json::object>> LinkedSearches(const std::string& account, const std::string& ws_id) const;
  Result<std::optional<boost::json::object>> FindLinkedSearch(const std::string& account, const std::string& ws_id,
                                                               const std::string& name) const;
  Status PutLinkedSearch(const std::string& account, const std::string& ws_id, const boost::json::object& doc);
  Status DeleteLinkedSearch(const std::string& account, const std::string& ws_id, const std::string& name);
  // Moves a workspace's saved searches into `account` (to_account) or back into the metadata store.
  Status MoveSearches(const std::string& ws_id, const std::string& account, bool to_account);

  env::Env env_;
  meta::MetadataStore* store_;
  identity::Directory* directory_;
  identity::Rbac* rbac_;
  keyvault::KeyVaultService* keyvault_;
  storage::ClusterStorage* storage_ = nullptr;
  storage_account::LinkedStorage* linked_ = nullptr;
  OperationalInsightsOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Operation> ops_;  // by id
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  env::Clock::TimerId timer_ = 0;
  std::optional<TimePoint> timer_due_;
  mutable std::mutex topo_mu_;
  mutable std::map<std::string, std::string> customer_ids_;  // customer id -> workspace resource id
};

}  // namespace cmk::control
