// The system workspace ("system"): internal tables an admin can query with KQL — the vault
// audit log (every wrap and unwrap: who, key version, outcome, latency) and the history of the
// storage accounts' key states.
#include <boost/json.hpp>

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

}  // namespace

Result<std::unique_ptr<kql::InMemoryCatalog>> SystemCatalog(const DataPlaneDeps& d) {
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
    for (const auto& line : lines) {
      auto o = json::ParseObject(line);
      if (!o.ok()) continue;
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
  // Log search alerts: every evaluation and notification attempt (alerts/history.h).
  if (d.meta != nullptr) RETURN_IF_ERROR(alerts::AddHistoryTables(d.meta, *catalog));
  return catalog;
}

}  // namespace cmk::server
