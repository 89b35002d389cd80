// The system workspace ("system"): internal tables an admin can query with KQL — the vault
// audit log (every wrap and unwrap: who, key version, outcome, latency) and the history of the
// storage accounts' key states, and the activity log (AzureActivity).
#include <boost/json.hpp>

#include "base/encoding.h"
#include "alerts/history.h"
#include "base/json.h"
#include "base/time_format.h"
#include "server/data_plane.h"

namespace cmk::server {
namespace {

namespace bj = boost::json;

int64_t TicksOf(const std::string& rfc3339) {
  auto t = ParseRfc3339(rfc3339);
  return t.ok() ? t->time_since_epoch().count() / 100 : 0;
}

std::string Str(const bj::object& o, const char* k) {
  auto* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : "";
}

int64_t Int(const bj::object& o, const char* k) {
  auto* v = o.if_contains(k);
  return v && v->is_number() ? v->to_number<int64_t>() : 0;
}

kql::Table MakeTable(const std::string& name, const std::vector<std::pair<std::string, kql::Type>>& cols) {
  kql::Table t;
  t.name = name;
  for (const auto& [n, ty] : cols) t.AddColumn(n, kql::Column(ty));
  return t;
}

// AzureActivity as Log Analytics documents it (azure-api-2.md §24.3): the activity log of every
// subscription, one row per event.
Result<kql::Table> AzureActivity(const control::ActivityLog* log) {
  kql::Table t = MakeTable(
      "AzureActivity",
      {{"TimeGenerated", kql::Type::kDateTime}, {"OperationName", kql::Type::kString},
       {"OperationNameValue", kql::Type::kString}, {"Level", kql::Type::kString},
       {"ActivityStatusValue", kql::Type::kString}, {"ActivitySubstatusValue", kql::Type::kString},
       {"Caller", kql::Type::kString}, {"CallerIpAddress", kql::Type::kString},
       {"CategoryValue", kql::Type::kString}, {"CorrelationId", kql::Type::kString},
       {"EventDataId", kql::Type::kString}, {"EventSubmissionTimestamp", kql::Type::kDateTime},
       {"Properties", kql::Type::kString}, {"Properties_d", kql::Type::kDynamic},
       {"ResourceGroup", kql::Type::kString}, {"ResourceId", kql::Type::kString},
       {"_ResourceId", kql::Type::kString}, {"ResourceProviderValue", kql::Type::kString},
       {"SubscriptionId", kql::Type::kString}, {"TenantId", kql::Type::kString},
       {"Hierarchy", kql::Type::kString}, {"SourceSystem", kql::Type::kString},
       {"Type", kql::Type::kString}});
  if (log == nullptr) return t;
  ASSIGN_OR_RETURN(auto page, log->List(control::ActivityFilter{}, "", 1'000'000));
  for (const auto& e : page.events) {
    bj::object props;
    for (const auto& [k, v] : e.properties) props[k] = v;
    std::string p = bj::serialize(props);
    std::string provider = e.operation.substr(0, e.operation.find('/'));
    auto& c = t.columns;
    size_t i = 0;
    c[i++].AppendInt(Ticks(e.time));
    c[i++].AppendString(e.operation);
    c[i++].AppendString(e.operation);
    c[i++].AppendString(e.level);
    c[i++].AppendString(e.status);
    c[i++].AppendString(e.sub_status);
    c[i++].AppendString(e.caller);
    c[i++].AppendString(e.client_ip);
    c[i++].AppendString(e.category);
    c[i++].AppendString(e.correlation_id);
    c[i++].AppendString(e.event_data_id);
    c[i++].AppendInt(Ticks(e.time));
    c[i++].AppendString(p);
    c[i++].AppendString(p);
    c[i++].AppendString(control::ResourceGroupOf(e.resource_id));
    c[i++].AppendString(e.resource_id);
    c[i++].AppendString(ToLower(e.resource_id));
    c[i++].AppendString(provider);
    c[i++].AppendString(e.subscription_id);
    c[i++].AppendString(e.tenant_id);
    c[i++].AppendString(e.tenant_id + (e.subscription_id.empty() ? "" : "/" + e.subscription_id));
    c[i++].AppendString("Azure");
    c[i++].AppendString("AzureActivity");
    ++t.rows;
  }
  return t;
}

}  // namespace

// Whether Lockbox lets `caller` read the audit entries of `vault` (a vault in a Lockbox tenant is
// customer data no request can name: operators never see its key operations there).
static bool MayReadVaultAudit(const DataPlaneDeps& d, const identity::Principal* caller, const std::string& vault,
                              std::map<std::string, bool>& cache) {
  if (caller == nullptr || d.lockbox == nullptr || !d.vault_resource_id) return true;
  auto [it, fresh] = cache.emplace(ToLower(vault), true);
  if (fresh) {
    std::string rid = d.vault_resource_id(vault);
    it->second = rid.empty() || d.lockbox->CheckAccess(*caller, rid).ok();
  }
  return it->second;
}

Result<std::unique_ptr<kql::InMemoryCatalog>> SystemCatalog(const DataPlaneDeps& d, const identity::Principal* caller) {
  auto catalog = std::make_unique<kql::InMemoryCatalog>();
  kql::Table audit = MakeTable("KeyVaultAudit", {{"TimeGenerated", kql::Type::kDateTime},
                                                 {"CallerObjectId", kql::Type::kString},
                                                 {"CallerAppId", kql::Type::kString},
                                                 {"Vault", kql::Type::kString},
                                                 {"KeyName", kql::Type::kString},
                                                 {"KeyVersion", kql::Type::kString},
                                                 {"Operation", kql::Type::kString},
                                                 {"Algorithm", kql::Type::kString},
                                                 {"ResultStatus", kql::Type::kInt},
                                                 {"ErrorCode", kql::Type::kString},
                                                 {"LatencyMs", kql::Type::kReal}});
  if (d.audit != nullptr) {
    // Entries that could not be written fail the query rather than go missing from it.
    RETURN_IF_ERROR(d.audit->Flush());
    ASSIGN_OR_RETURN(auto lines, d.audit->Read("", 1'000'000));
    std::map<std::string, bool> allowed;
    for (const auto& line : lines) {
      auto o = json::ParseObject(line);
      if (!o.ok() || !MayReadVaultAudit(d, caller, Str(*o, "vault"), allowed)) continue;
      auto& c = audit.columns;
      c[0].AppendInt(TicksOf(Str(*o, "time")));
      c[1].AppendString(Str(*o, "callerObjectId"));
      c[2].AppendString(Str(*o, "callerAppId"));
      c[3].AppendString(Str(*o, "vault"));
      c[4].AppendString(Str(*o, "key"));
      c[5].AppendString(Str(*o, "version"));
      c[6].AppendString(Str(*o, "operation"));
      c[7].AppendString(Str(*o, "algorithm"));
      c[8].AppendInt(Int(*o, "status"));
      c[9].AppendString(Str(*o, "errorCode"));
      c[10].AppendReal(static_cast<double>(Int(*o, "latencyUs")) / 1000.0);
      ++audit.rows;
    }
  }
  catalog->Add(std::move(audit));
  kql::Table states = MakeTable("KeyStateHistory", {{"TimeGenerated", kql::Type::kDateTime},
                                                    {"Cluster", kql::Type::kString},
                                                    {"Account", kql::Type::kString},
                                                    {"FromState", kql::Type::kString},
                                                    {"ToState", kql::Type::kString},
                                                    {"EffectSeconds", kql::Type::kReal}});
  if (d.meta != nullptr) {
    ASSIGN_OR_RETURN(auto docs, d.meta->List(engine::kKeyStateEventKind, ""));
    for (const auto& doc : docs) {
      auto o = json::ParseObject(doc.body);
      if (!o.ok()) continue;
      auto& c = states.columns;
      c[0].AppendInt(TicksOf(Str(*o, "time")));
      c[1].AppendString(Str(*o, "cluster"));
      c[2].AppendString(Str(*o, "account"));
      c[3].AppendString(Str(*o, "from"));
      c[4].AppendString(Str(*o, "to"));
      if (auto* e = o->if_contains("effectSeconds"); e && e->is_number()) c[5].AppendReal(e->to_number<double>());
      else c[5].AppendNull();
      ++states.rows;
    }
  }
  catalog->Add(std::move(states));
  ASSIGN_OR_RETURN(kql::Table activity, AzureActivity(d.activity));
  catalog->Add(std::move(activity));
  // Log search alerts: every evaluation and notification attempt (alerts/history.h).
  if (d.meta != nullptr) RETURN_IF_ERROR(alerts::AddHistoryTables(d.meta, *catalog));
  return catalog;
}

}  // namespace cmk::server
