// workspaces/{ws}/tables: custom tables (<Name>_CL) with schemas, and the standard tables every
// workspace has (a subset of Azure Monitor's, with their real columns).
#include "base/encoding.h"
#include "base/json.h"
#include "control/arm_checks.h"
#include "control/arm_util.h"
#include "control/oi_provider.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;

struct StandardTable {
  const char* name;
  std::vector<std::pair<const char*, const char*>> columns;
};

const std::vector<StandardTable>& StandardTables() {
  static const std::vector<StandardTable> kTables = {
      {"Heartbeat",
       {{"TimeGenerated", "dateTime"}, {"Computer", "string"}, {"Category", "string"}, {"OSType", "string"},
        {"OSName", "string"}, {"Version", "string"}, {"ComputerIP", "string"}, {"ResourceId", "string"},
        {"SourceComputerId", "string"}, {"Type", "string"}}},
      {"Syslog",
       {{"TimeGenerated", "dateTime"}, {"Computer", "string"}, {"HostName", "string"}, {"HostIP", "string"},
        {"Facility", "string"}, {"SeverityLevel", "string"}, {"SyslogMessage", "string"}, {"ProcessName", "string"},
        {"ProcessID", "int"}, {"Type", "string"}}},
      {"AppTraces",
       {{"TimeGenerated", "dateTime"}, {"Message", "string"}, {"SeverityLevel", "int"}, {"AppRoleName", "string"},
        {"AppRoleInstance", "string"}, {"OperationId", "string"}, {"OperationName", "string"},
        {"Properties", "dynamic"}, {"Type", "string"}}},
      {"ContainerLogV2",
       {{"TimeGenerated", "dateTime"}, {"Computer", "string"}, {"ContainerId", "string"}, {"ContainerName", "string"},
        {"PodName", "string"}, {"PodNamespace", "string"}, {"LogMessage", "dynamic"}, {"LogSource", "string"},
        {"LogLevel", "string"}, {"Type", "string"}}},
  };
  return kTables;
}

const std::vector<std::string> kTableColumnTypes = {"string", "int", "long", "real", "boolean", "dateTime", "guid", "dynamic"};
// Azure Monitor's service limit: at most 500 columns in a table.
constexpr size_t kMaxColumns = 500;

// The members of a table body that this provider reads, with their types.
Status CheckTableTypes(const bj::object& body) {
  RETURN_IF_ERROR(CheckTypes(body, {{"properties", bj::kind::object}}));
  const bj::value* p = json::FindCI(body, "properties");
  if (p == nullptr || !p->is_object()) return OkStatus();
  RETURN_IF_ERROR(CheckTypes(p->as_object(), {{"plan", bj::kind::string}, {"retentionInDays", bj::kind::int64},
                                              {"totalRetentionInDays", bj::kind::int64}, {"schema", bj::kind::object}},
                             "properties."));
  const bj::value* schema = json::FindCI(p->as_object(), "schema");
  if (schema == nullptr || !schema->is_object()) return OkStatus();
  RETURN_IF_ERROR(CheckTypes(schema->as_object(), {{"name", bj::kind::string}, {"columns", bj::kind::array}},
                             "properties.schema."));
  const bj::value* cols = json::FindCI(schema->as_object(), "columns");
  if (cols == nullptr || !cols->is_array()) return OkStatus();
  if (cols->as_array().size() > kMaxColumns) {
    return InvalidArgument("A table has at most " + std::to_string(kMaxColumns) + " columns.", "InvalidParameter");
  }
  for (const auto& c : cols->as_array()) {
    if (!c.is_object()) return InvalidArgument("Each column must be an object with name and type.", "InvalidRequestContent");
    RETURN_IF_ERROR(CheckTypes(c.as_object(), {{"name", bj::kind::string}, {"type", bj::kind::string},
                                               {"description", bj::kind::string}},
                               "properties.schema.columns[]."));
  }
  return OkStatus();
}

bj::object StandardJson(const std::string& ws_id, const StandardTable& t, int retention) {
  bj::array cols;
  for (const auto& [n, ty] : t.columns) cols.emplace_back(bj::object{{"name", n}, {"type", ty}});
  return bj::object{{"id", ws_id + "/tables/" + t.name},
                    {"name", t.name},
                    {"type", "Microsoft.OperationalInsights/workspaces/tables"},
                    {"properties", bj::object{{"retentionInDays", retention},
                                              {"totalRetentionInDays", retention},
                                              {"archiveRetentionInDays", 0},
                                              {"plan", "Analytics"},
                                              {"retentionInDaysAsDefault", true},
                                              {"totalRetentionInDaysAsDefault", true},
                                              {"provisioningState", "Succeeded"},
                                              {"schema", bj::object{{"name", t.name},
                                                                    {"tableType", "Microsoft"},
                                                                    {"source", "microsoft"},
                                                                    {"columns", bj::array()},
                                                                    {"standardColumns", std::move(cols)}}}}}};
}

// A table's plan and retentions from a PUT/PATCH's properties, into the stored properties `p`.
Status ApplyPlanAndRetention(const bj::object& props, int ws_retention, bj::object& p) {
  if (const bj::value* plan = json::FindCI(props, "plan"); plan && !plan->is_null()) {
    std::string v = plan->is_string() ? std::string(plan->get_string()) : "";
    std::string canon = Is(v, "Analytics") ? "Analytics"
                        : Is(v, "Basic")   ? "Basic"
                        : Is(v, "Auxiliary") ? "Auxiliary"
                                             : "";
    if (canon.empty()) {
      return BadParameter("The table plan '" + v +
                          "' is not valid: use Analytics, Basic or Auxiliary.");
    }
    p["plan"] = canon;
  }
  auto ret = json::GetInt(props, "retentionInDays");
  auto total = json::GetInt(props, "totalRetentionInDays");
  if (!ret.ok() || !total.ok()) {
    return BadParameter("retentionInDays and totalRetentionInDays must be integers.");
  }
  if (ret->has_value()) {
    int64_t v = **ret;
    if (v != -1 && (v < 4 || v > 730)) {
      return BadParameter(
          "retentionInDays must be between 4 and 730 (or -1 for the workspace default).");
    }
    p["retentionInDays"] = v == -1 ? ws_retention : v;
    p["retentionInDaysAsDefault"] = v == -1;
  }
  if (total->has_value()) {
    int64_t v = **total;
    if (v != -1 && (v < 4 || v > 4383)) {
      return BadParameter("totalRetentionInDays must be between 4 and 4383 (or -1).");
    }
    p["totalRetentionInDays"] = v == -1 ? p["retentionInDays"].as_int64() : v;
    p["totalRetentionInDaysAsDefault"] = v == -1;
  }
  if (p["totalRetentionInDays"].as_int64() < p["retentionInDays"].as_int64()) {
    return BadParameter("totalRetentionInDays can't be less than retentionInDays.");
  }
  p["archiveRetentionInDays"] =
      p["totalRetentionInDays"].as_int64() - p["retentionInDays"].as_int64();
  return OkStatus();
}

// The stored columns of a custom table's schema (names, types and TimeGenerated checked).
Result<bj::array> TableColumns(const bj::object& schema) {
  const bj::value* cols = json::FindCI(schema, "columns");
  if (cols == nullptr || !cols->is_array() || cols->get_array().empty()) {
    return BadParameter("schema.columns (a non-empty array) is required.");
  }
  bj::array out;
  bool has_time = false;
  std::vector<std::string> seen;
  for (const auto& c : cols->get_array()) {
    // Types were checked by CheckTableTypes.
    std::string cn = Str(c.as_object(), "name");
    std::string ct = Str(c.as_object(), "type");
    if (!ValidColumnName(cn)) {
      return BadParameter("The column name '" + Echo(cn) +
                          "' is not valid: column names start with a letter, have at most 45 "
                          "letters, digits and '_', and are not one of the reserved names id, "
                          "TenantId, Type, UniqueId and Title.");
    }
    auto it = std::find_if(kTableColumnTypes.begin(), kTableColumnTypes.end(),
                           [&](const std::string& t) { return EqualsIgnoreCase(t, ct); });
    if (it == kTableColumnTypes.end()) {
      return BadParameter("Column '" + cn + "' has type '" + Echo(ct) +
                          "': use string, int, long, real, boolean, dateTime, guid or dynamic.");
    }
    for (const auto& s : seen) {
      if (EqualsIgnoreCase(s, cn)) return BadParameter("Column '" + cn + "' appears twice.");
    }
    seen.push_back(cn);
    if (cn == "TimeGenerated") {
      if (*it != "dateTime") return BadParameter("TimeGenerated must be of type dateTime.");
      has_time = true;
    }
    bj::object col{{"name", cn}, {"type", *it}};
    if (std::string d = Str(c.as_object(), "description"); !d.empty()) {
      col["description"] = d.substr(0, 4096);
    }
    out.emplace_back(std::move(col));
  }
  if (!has_time) return BadParameter("A custom table needs a TimeGenerated column of type dateTime.");
  return out;
}

}  // namespace

ArmResponse OperationalInsightsProvider::Tables(const ArmRequest& r, const std::string& ws_id,
                                                const std::string* name) {
  std::string action = std::string("Microsoft.OperationalInsights/workspaces/tables/") +
                       (r.method == "GET"      ? "read"
                        : r.method == "DELETE" ? "delete"
                                               : "write");
  if (Status s = rbac_->Authorize(r.caller, action, ws_id); !s.ok()) return ArmError(s);
  auto ws = LoadDoc(ws_id);
  if (!ws.ok() || !*ws)
    return ArmError(NotFound("The workspace was not found.", "ResourceNotFound"));
  int ws_retention = 30;
  if (auto* p = (**ws).if_contains("properties"); p && p->is_object()) {
    if (auto* rr = p->as_object().if_contains("retentionInDays"); rr && rr->is_int64())
      ws_retention = static_cast<int>(rr->as_int64());
  }
  if (name == nullptr) {
    if (r.method != "GET")
      return ArmError(InvalidArgument("Use GET to list tables.", "MethodNotAllowed"));
    bj::array value;
    for (const auto& t : StandardTables()) value.emplace_back(StandardJson(ws_id, t, ws_retention));
    auto docs = store_->List(kArm, ws_id + "/tables/");
    if (!docs.ok()) return ArmError(docs.status());
    for (const auto& d : *docs) value.emplace_back(*json::Parse(d.body));
    return Json(200, bj::object{{"value", std::move(value)}});
  }
  const StandardTable* standard = nullptr;
  for (const auto& t : StandardTables()) {
    if (Is(*name, t.name)) standard = &t;
  }
  std::string id = ws_id + "/tables/" + (standard ? standard->name : *name);
  auto loaded = LoadDoc(id);
  if (!loaded.ok()) return ArmError(loaded.status());
  if (r.method == "GET") {
    if (*loaded) return Json(200, std::move(**loaded));
    if (standard) return Json(200, StandardJson(ws_id, *standard, ws_retention));
    return ArmError(
        NotFound("The table '" + *name + "' was not found in the workspace.", "ResourceNotFound"));
  }
  if (r.method == "DELETE") {
    if (standard) return ArmError(BadParameter("Standard tables can't be deleted."));
    if (*loaded) store_->Delete(kArm, id).IgnoreError();
    return ArmResponse{200, std::nullopt, {}};
  }
  if (r.method != "PUT" && r.method != "PATCH")
    return ArmError(InvalidArgument("Method not allowed.", "MethodNotAllowed"));
  auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
  if (!body.ok())
    return ArmError(Status(StatusCode::kInvalidArgument, "The request body is null or malformed.",
                           "InvalidRequestContent"));
  if (Status s = CheckTableTypes(*body); !s.ok()) return ArmError(s);
  bj::object props;
  if (auto p = json::GetObject(*body, "properties"); p.ok() && *p) props = **p;
  bj::object doc =
      *loaded ? **loaded : (standard ? StandardJson(ws_id, *standard, ws_retention) : bj::object());
  if (!*loaded && !standard) {
    // Only names created from now on are checked: tables stored before the rule stay readable,
    // updatable and deletable.
    if (!ValidCustomTableName(*name)) {
      return ArmError(BadParameter(
          "The table name '" + Echo(*name) +
          "' is not valid: custom table names have 4 to 63 characters, start with a letter, "
          "contain only letters, digits and '_', and end with '_CL'."));
    }
    doc = bj::object{{"id", id},
                     {"name", *name},
                     {"type", "Microsoft.OperationalInsights/workspaces/tables"},
                     {"properties", bj::object{{"retentionInDays", ws_retention},
                                               {"totalRetentionInDays", ws_retention},
                                               {"archiveRetentionInDays", 0},
                                               {"plan", "Analytics"},
                                               {"retentionInDaysAsDefault", true},
                                               {"totalRetentionInDaysAsDefault", true},
                                               {"provisioningState", "Succeeded"}}}};
  }
  bj::object& p = doc["properties"].as_object();
  if (Status s = ApplyPlanAndRetention(props, ws_retention, p); !s.ok()) return ArmError(s);
  if (const bj::value* schema = json::FindCI(props, "schema"); schema && schema->is_object()) {
    if (standard) return ArmError(BadParameter("The schema of a standard table can't be changed."));
    auto out = TableColumns(schema->as_object());
    if (!out.ok()) return ArmError(out.status());
    p["schema"] =
        bj::object{{"name", doc["name"]},        {"tableType", "CustomLog"},
                   {"source", "customer"},       {"tableSubType", "DataCollectionRuleBased"},
                   {"columns", std::move(*out)}, {"standardColumns", bj::array()}};
  } else if (!standard && !p.contains("schema")) {
    return ArmError(BadParameter("A new custom table needs properties.schema with its columns."));
  }
  p["lastPlanModifiedDate"] = FormatRfc3339(env_.clock->Now());
  if (Status s = SaveDoc(id, doc); !s.ok()) return ArmError(s);
  return Json(200, std::move(doc));
}

}  // namespace cmk::control

namespace cmk::control {
namespace {

kql::Type ColumnType(std::string_view t) {
  auto parsed = kql::ParseTypeName(t);
  return parsed ? *parsed : kql::Type::kString;
}

engine::TableInfo FromDoc(const bj::object& doc, int ws_retention) {
  engine::TableInfo t;
  t.name = std::string(doc.at("name").as_string());
  t.retention_days = ws_retention;
  const auto* p = doc.if_contains("properties");
  if (p == nullptr || !p->is_object()) return t;
  const bj::object& props = p->as_object();
  if (auto* r = props.if_contains("retentionInDays"); r && r->is_int64()) t.retention_days = static_cast<int>(r->as_int64());
  if (auto* pl = props.if_contains("plan"); pl && pl->is_string()) t.plan = std::string(pl->as_string());
  if (auto* s = props.if_contains("schema"); s && s->is_object()) {
    for (const char* key : {"standardColumns", "columns"}) {
      auto* cols = s->as_object().if_contains(key);
      if (cols == nullptr || !cols->is_array()) continue;
      for (const auto& c : cols->as_array()) {
        if (!c.is_object()) continue;
        t.schema.push_back(kql::ColumnSchema{std::string(c.as_object().at("name").as_string()),
                                             ColumnType(c.as_object().at("type").as_string())});
      }
    }
  }
  return t;
}

}  // namespace

Result<std::vector<engine::TableInfo>> OperationalInsightsProvider::Tables(const std::string& ws_id) const {
  ASSIGN_OR_RETURN(auto ws, LoadDoc(ws_id));
  if (!ws) return NotFound("The workspace '" + ws_id + "' was not found.", "WorkspaceNotFound");
  int ws_retention = 30;
  if (auto* p = ws->if_contains("properties"); p && p->is_object()) {
    if (auto* rr = p->as_object().if_contains("retentionInDays"); rr && rr->is_int64()) ws_retention = static_cast<int>(rr->as_int64());
  }
  std::string id(ws->at("id").as_string());
  ASSIGN_OR_RETURN(auto docs, store_->List(kArm, id + "/tables/"));
  std::vector<engine::TableInfo> out;
  for (const auto& t : StandardTables()) {
    bool stored = false;
    for (const auto& d : docs) stored |= EqualsIgnoreCase(d.id, id + "/tables/" + t.name);
    if (!stored) out.push_back(FromDoc(StandardJson(id, t, ws_retention), ws_retention));
  }
  for (const auto& d : docs) {
    auto o = json::ParseObject(d.body);
    if (o.ok()) out.push_back(FromDoc(*o, ws_retention));
  }
  return out;
}

}  // namespace cmk::control
