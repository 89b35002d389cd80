#pragma once
// ActivityLog: Azure's activity log (azure-api-2.md §24). Every ARM write, delete and action is
// recorded twice, as Azure does (status Started, then Accepted, Succeeded or Failed, with one
// correlation and operation id), and so are the events the service raises itself: Customer
// Lockbox transitions and operator accesses, and the key events of clusters (key configured,
// rotated, revoked, restored — with the reason). Served as
// GET /subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values (2015-04-01,
// $filter on eventTimestamp, resourceGroupName, resourceUri/resourceId, resourceProvider,
// correlationId, caller, status; $select; nextLink with a $skiptoken) and read by the system
// workspace's AzureActivity table (server/system_tables.cc).
// Events are documents of the metadata store (kind "activity-event") keyed by time, so they
// survive restarts and list oldest first. Nothing secret is recorded: no request bodies.
// Thread safety: safe for concurrent use.

#include <boost/json.hpp>
#include <atomic>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/time_format.h"
#include "control/arm_service.h"
#include "control/arm_types.h"
#include "env/env.h"
#include "identity/rbac.h"
#include "meta/metadata_store.h"

namespace cmk::control {

struct ActivityEvent {
  TimePoint time;              // eventTimestamp
  std::string event_data_id;   // set by Record when empty
  std::string correlation_id;  // set by Record when empty
  std::string operation_id;
  std::string caller;  // object id of the principal (a cluster's identity for key events)
  std::string caller_app_id;
  std::string tenant_id;
  std::string subscription_id;  // empty: a tenant-level event (listed with the tenant's subscriptions)
  std::string resource_id;
  std::string operation;  // e.g. "Microsoft.OperationalInsights/clusters/write"
  std::string status;     // Started, Accepted, Succeeded, Failed
  std::string sub_status;  // e.g. "Created (HTTP Status Code: 201)"
  std::string level = "Informational";
  std::string category = "Administrative";
  std::string description;
  std::string http_method, client_ip, client_request_id;
  std::vector<std::pair<std::string, std::string>> properties;  // strings only (EventData)
  std::string key;  // where it is stored (set by Record and List)
};

// What a list asks for. Clauses the 2015-04-01 spec lists, plus the two az adds.
struct ActivityFilter {
  std::string subscription_id;  // empty: every subscription (the system workspace)
  std::string tenant_id;        // tenant-level events of this tenant are included
  std::optional<TimePoint> from, to;
  std::string resource_group, resource_id, resource_provider, correlation_id, caller, status;
};

// `eventTimestamp ge '<t>' and eventTimestamp le '<t>' [and <field> eq '<v>']...`, timestamps
// quoted or not, with or without a zone (none means UTC, as az sends them). Unknown fields and
// operators are InvalidArgument (code BadRequest). At most 4 KiB and 16 clauses.
Result<ActivityFilter> ParseActivityFilter(std::string_view text);

// The resource group of an ARM id ("" when it has none).
std::string ResourceGroupOf(std::string_view resource_id);

struct ActivityLogOptions {
  size_t page_size = 200;  // events per response before a nextLink
};

class ActivityLog {
 public:
  ActivityLog(env::Env env, meta::MetadataStore* store, identity::Rbac* rbac,
              ActivityLogOptions options = {});

  // Stamps ids when missing and stores the event (durable when it returns).
  Status Record(ActivityEvent e);
  struct Page {
    std::vector<ActivityEvent> events;
    std::string next;  // the key to continue after; empty when this is the last page
  };
  // Events matching `f`, oldest first, after the key `after` (a previous page's `next`).
  Result<Page> List(const ActivityFilter& f, std::string_view after, size_t limit) const;
  // An event as the REST API's EventData.
  static boost::json::object EventJson(const ActivityEvent& e);

  // ArmService routes: .../providers/Microsoft.Insights/eventtypes/management/values and
  // /providers/Microsoft.Insights/eventcategories.
  std::optional<ArmResponse> Route(const ArmRequest& r);
  // ArmService layer: records each write, delete and action (Started, then its outcome).
  ArmResponse RecordWrite(const ArmRequest& r, const ArmService::Next& next);

 private:
  ArmResponse ListValues(const ArmRequest& r, const std::string& sub);
  env::Env env_;
  meta::MetadataStore* store_;
  identity::Rbac* rbac_;
  ActivityLogOptions options_;
  std::atomic<uint64_t> seq_{0};
};

// The key events of clusters and storage accounts under a customer key as activity events
// (operation `{Microsoft.OperationalInsights/clusters|Microsoft.Storage/storageAccounts}/key/
// {configure|rotate|revoke|restore}/action`, caller the resource's identity, properties keyVersion
// and reason). A cluster's accounts change together: an event identical to the resource's last
// one (the cluster's second account's) is not repeated.
// Thread safety: safe for concurrent use.
class KeyEventRecorder {
 public:
  KeyEventRecorder(ActivityLog* log, env::Clock* clock) : log_(log), clock_(clock) {}
  void Record(const std::string& resource_id, const std::string& principal_id, const std::string& kind,
              const std::string& kid, const std::string& reason);

 private:
  ActivityLog* log_;
  env::Clock* clock_;
  Mutex mu_;
  std::map<std::string, std::string> last_ GUARDED_BY(mu_);  // lower-case cluster id -> kind|kid
};

}  // namespace cmk::control
