#include "control/alert_rules_provider.h"

#include <algorithm>
#include <array>

#include "alerts/rule.h"
#include "base/encoding.h"
#include "base/json.h"
#include "base/time_format.h"
#include "control/arm_checks.h"
#include "control/arm_util.h"

namespace cmk::control {

struct AlertRulesProvider::Kind {
  const char* name;  // path segment
  bool rule;         // scheduledQueryRules (else actionGroups)
  std::string full() const { return std::string("Microsoft.Insights/") + name; }
};

namespace {

namespace bj = boost::json;
constexpr char kWorkspaceType[] = "Microsoft.OperationalInsights/workspaces";
constexpr char kGroupType[] = "Microsoft.Insights/actionGroups";
constexpr char kQueryContainer[] = "alertqueries";
constexpr char kQueryBlob[] = "queryBlob";  // x-cmk: "{account}/{container}/{blob}" of the query

Status Bad(std::string message, std::string code = "BadRequest") {
  return InvalidArgument(std::move(message), std::move(code));
}

bool Legacy(const ArmRequest& r) { return StartsWithIgnoreCase(r.Query("api-version"), "2018-"); }

// Rule and group names: 1-260 characters, none of ARM's reserved ones.
bool ValidRuleName(const std::string& n) {
  if (n.empty() || n.size() > 260 || n.back() == '.' || n.back() == ' ') return false;
  return std::none_of(n.begin(), n.end(), [](char c) {
    return static_cast<unsigned char>(c) < 0x20 || std::string_view("<>*%&:\\?+/#|").find(c) != std::string_view::npos;
  });
}

bool IsType(const std::string& id, std::string_view type) {
  std::string lid = ToLower(id);
  std::string marker = "/providers/microsoft.insights/" + ToLower(type) + "/";
  size_t at = lid.find(marker);
  return at != std::string::npos && lid.find('/', at + marker.size()) == std::string::npos;
}

void Merge(bj::object& into, const bj::object& patch) {
  for (const auto& kv : patch) into[kv.key()] = kv.value();
}

// The document as ARM returns it: no bookkeeping.
bj::object Public(bj::object doc) {
  doc.erase("x-cmk");
  return doc;
}

// The query of rule properties: source.query (2018-04-16 shape) or criteria.allOf[0].query.
bj::value* QuerySlot(bj::object& props) {
  if (bj::value* src = json::FindCI(props, "source"); src && src->is_object()) return json::FindCI(src->as_object(), "query");
  bj::value* c = json::FindCI(props, "criteria");
  bj::value* all = c && c->is_object() ? json::FindCI(c->as_object(), "allOf") : nullptr;
  if (all == nullptr || !all->is_array() || all->as_array().empty() || !all->as_array()[0].is_object()) return nullptr;
  return json::FindCI(all->as_array()[0].as_object(), "query");
}

// {account, container, blob} of a query location.
Result<std::array<std::string, 3>> SplitLocation(const std::string& location) {
  size_t a = location.find('/');
  size_t c = a == std::string::npos ? a : location.find('/', a + 1);
  if (c == std::string::npos) return Internal("malformed alert query location");
  return std::array<std::string, 3>{location.substr(0, a), location.substr(a + 1, c - a - 1), location.substr(c + 1)};
}

bj::object SystemData(const ArmRequest& r, const bj::object* existing, const std::string& now) {
  bj::object sd{{"lastModifiedBy", r.caller.app_id}, {"lastModifiedByType", "Application"}, {"lastModifiedAt", now}};
  const bj::value* old = existing ? existing->if_contains("systemData") : nullptr;
  if (old && old->is_object()) {
    for (const char* k : {"createdBy", "createdByType", "createdAt"}) {
      if (const bj::value* v = old->as_object().if_contains(k)) sd[k] = *v;
    }
  } else {
    sd["createdBy"] = r.caller.app_id;
    sd["createdByType"] = "Application";
    sd["createdAt"] = now;
  }
  return sd;
}

}  // namespace

Result<std::string> ReadAlertQuery(storage_account::LinkedStorage& linked, const std::string& location) {
  ASSIGN_OR_RETURN(auto where, SplitLocation(location));
  ASSIGN_OR_RETURN(auto data, linked.GetBlob(where[0], where[1], where[2]));
  return std::string(data.begin(), data.end());
}

Status AlertRulesProvider::StoreQuery(bj::object& doc, alerts::AlertRule& rule) {
  if (!d_.alerts_account || d_.linked == nullptr) return OkStatus();
  ASSIGN_OR_RETURN(auto account, d_.alerts_account(rule.scopes[0]));
  if (!account) return OkStatus();
  std::string blob = ToLower(rule.id.substr(1)) + ".kql";
  RETURN_IF_ERROR(d_.linked->PutBlob(*account, kQueryContainer, blob, AsBytes(rule.query), "text/plain; charset=utf-8"));
  rule.query_location = *account + "/" + kQueryContainer + "/" + blob;
  rule.query.clear();
  for (bj::object* props : {&Props(doc), &Hidden(doc)["v2"].as_object()}) {
    if (bj::value* q = QuerySlot(*props)) *q = "";
  }
  Hidden(doc)[kQueryBlob] = rule.query_location;
  return OkStatus();
}

Result<bj::object> AlertRulesProvider::WithQuery(bj::object doc) const {
  std::string location = Str(Hidden(doc), kQueryBlob);
  bj::object out = Public(std::move(doc));
  if (location.empty()) return out;
  if (d_.linked == nullptr) return FailedPrecondition("The rule's query is kept in a storage account this server cannot read.");
  ASSIGN_OR_RETURN(std::string query, ReadAlertQuery(*d_.linked, location));
  if (bj::value* slot = QuerySlot(Props(out))) *slot = query;
  return out;
}

bj::object AlertRulesProvider::Shown(bj::object doc) const {
  auto out = WithQuery(doc);
  return out.ok() ? std::move(*out) : Public(std::move(doc));
}

// Best effort: the rule goes even when its blob cannot be deleted (a revoked key).
void AlertRulesProvider::DeleteQueryBlob(const std::string& location) {
  auto where = SplitLocation(location);
  if (location.empty() || !where.ok() || d_.linked == nullptr) return;
  d_.linked->DeleteBlob((*where)[0], (*where)[1], (*where)[2]).IgnoreError();
}

Result<std::optional<bj::object>> AlertRulesProvider::LoadDoc(const std::string& kind, const std::string& id) const {
  ASSIGN_OR_RETURN(auto doc, d_.store->Get(kind, id));
  if (!doc) return std::optional<bj::object>();
  ASSIGN_OR_RETURN(bj::object o, json::ParseObject(doc->body));
  return std::optional<bj::object>(std::move(o));
}

// The evaluator's rule from a stored document (its x-cmk part).
Result<alerts::AlertRule> AlertRulesProvider::RuleOf(const bj::object& doc) const {
  const bj::value* hidden = doc.if_contains("x-cmk");
  if (hidden == nullptr || !hidden->is_object()) return Internal("stored rule without x-cmk");
  const bj::object& h = hidden->as_object();
  const bj::value* v2 = h.if_contains("v2");
  if (v2 == nullptr || !v2->is_object()) return Internal("stored rule without v2 properties");
  bj::object props = v2->as_object();
  std::string location = Str(h, kQueryBlob);
  if (bj::value* q = QuerySlot(props); q && !location.empty()) *q = "(kept in the linked Alerts storage account)";
  ASSIGN_OR_RETURN(alerts::AlertRule rule, alerts::ValidateRule(Str(doc, "id"), Str(doc, "location"), props));
  rule.principal_id = Str(h, "principal");
  if (!location.empty()) {
    rule.query.clear();
    rule.query_location = location;
  }
  return rule;
}

Status AlertRulesProvider::Load() {
  if (d_.sink == nullptr) return OkStatus();
  ASSIGN_OR_RETURN(auto docs, d_.store->List(kArm, "/subscriptions/"));
  for (const auto& d : docs) {
    bool rule = IsType(d.id, "scheduledQueryRules");
    if (!rule && !IsType(d.id, "actionGroups")) continue;
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(d.body));
    if (rule) {
      ASSIGN_OR_RETURN(alerts::AlertRule r, RuleOf(o));
      d_.sink->RuleChanged(r);
    } else {
      ASSIGN_OR_RETURN(alerts::ActionGroup g, alerts::ValidateActionGroup(Str(o, "id"), Props(o)));
      d_.sink->GroupChanged(g);
    }
  }
  return OkStatus();
}

std::optional<ArmResponse> AlertRulesProvider::Route(const ArmRequest& r) {
  auto seg = SplitPath(r.path);
  if (seg.size() < 4 || !Is(seg[0], "subscriptions")) return std::nullopt;
  size_t p = seg.size() > 5 && Is(seg[2], "resourceGroups") ? 4 : 2;
  if (seg.size() < p + 3 || !Is(seg[p], "providers")) return std::nullopt;
  bool insights = Is(seg[p + 1], "Microsoft.Insights");
  bool am = Is(seg[p + 1], "Microsoft.AlertsManagement");
  if (!(insights && (Is(seg[p + 2], "actionGroups") || Is(seg[p + 2], "scheduledQueryRules"))) && !(am && p == 2)) {
    return std::nullopt;
  }
  if (!ValidApiVersionFormat(r.Query("api-version"))) {
    return ArmError(InvalidArgument(r.Query("api-version").empty()
                                        ? "The api-version query parameter (?api-version=) is required for all requests."
                                        : "The api-version '" + Echo(r.Query("api-version")) + "' is invalid.",
                                    r.Query("api-version").empty() ? "MissingApiVersionParameter" : "InvalidApiVersionParameter"));
  }
  auto sub = d_.store->Get("subscription", seg[1]);
  if (!sub.ok()) return ArmError(sub.status());
  if (!*sub) return ArmError(NotFound("The subscription '" + seg[1] + "' could not be found.", "SubscriptionNotFound"));
  const std::string* rg = p == 4 ? &seg[3] : nullptr;
  if (rg) {
    auto g = d_.store->Get("resourcegroup", "/subscriptions/" + seg[1] + "/resourceGroups/" + *rg);
    if (!g.ok()) return ArmError(g.status());
    if (!*g) return ArmError(NotFound("Resource group '" + *rg + "' could not be found.", "ResourceGroupNotFound"));
  }
  std::vector<std::string> rest(seg.begin() + static_cast<long>(p) + 2, seg.end());
  return am ? Alerts(r, seg[1], rest) : Insights(r, seg[1], rg, rest);
}

ArmResponse AlertRulesProvider::Insights(const ArmRequest& r, const std::string& sub, const std::string* rg,
                                         const std::vector<std::string>& rest) {
  static const Kind kRule{"scheduledQueryRules", true}, kGroup{"actionGroups", false};
  const Kind& k = Is(rest[0], kRule.name) ? kRule : kGroup;
  if (rest.size() == 1) {
    if (r.method != "GET") return ArmError(InvalidArgument("Use GET to list " + std::string(k.name) + ".", "MethodNotAllowed"));
    return List(r, k, sub, rg);
  }
  bool test = !k.rule && rg && ((rest.size() == 3 && Is(rest[2], "createNotifications")) ||
                                (rest.size() == 4 && Is(rest[2], "notificationStatus")));
  if (rg == nullptr || (rest.size() != 2 && !test)) {
    return ArmError(NotFound("No route for '" + r.method + " " + r.path + "'.", "NotFound"));
  }
  std::string id = "/subscriptions/" + sub + "/resourceGroups/" + *rg + "/providers/" + k.full() + "/" + rest[1];
  if (test) return TestNotifications(r, id, rest.size() == 4 ? &rest[3] : nullptr);
  return Resource(r, k, id, rest[1]);
}

ArmResponse AlertRulesProvider::List(const ArmRequest& r, const Kind& k, const std::string& sub, const std::string* rg) {
  std::string scope = "/subscriptions/" + sub + (rg ? "/resourceGroups/" + *rg : "");
  if (Status s = d_.rbac->Authorize(r.caller, k.full() + "/read", scope); !s.ok()) return ArmError(s);
  auto docs = d_.store->List(kArm, scope + "/");
  if (!docs.ok()) return ArmError(docs.status());
  bj::array value;
  for (const auto& d : *docs) {
    if (!IsType(d.id, k.name)) continue;
    if (auto o = json::ParseObject(d.body); o.ok()) value.emplace_back(Shown(std::move(*o)));
  }
  return Json(200, bj::object{{"value", std::move(value)}});
}

ArmResponse AlertRulesProvider::Resource(const ArmRequest& r, const Kind& k, const std::string& id, const std::string& name) {
  const std::string& m = r.method;
  if (m != "GET" && m != "PUT" && m != "PATCH" && m != "DELETE") {
    return ArmError(InvalidArgument("The HTTP method '" + m + "' is not supported.", "MethodNotAllowed"));
  }
  std::string action = k.full() + "/" + (m == "GET" ? "read" : m == "DELETE" ? "delete" : "write");
  if (Status s = d_.rbac->Authorize(r.caller, action, id); !s.ok()) return ArmError(s);
  std::lock_guard<std::mutex> l(mu_);
  auto loaded = LoadDoc(kArm, id);
  if (!loaded.ok()) return ArmError(loaded.status());
  if (!*loaded && m != "PUT") {
    if (m == "DELETE") return ArmResponse{204, std::nullopt, {}};
    return ArmError(NotFound("The Resource '" + k.full() + "/" + name + "' under resource group '" + SplitPath(id)[3] +
                                 "' was not found.", "ResourceNotFound"));
  }
  if (m == "GET") return Json(200, Shown(std::move(**loaded)));
  if (m == "DELETE") {
    if (Status s = d_.store->Delete(kArm, id).status(); !s.ok()) return ArmError(s);
    DeleteQueryBlob(Str(Hidden(**loaded), kQueryBlob));
    if (d_.sink) k.rule ? d_.sink->RuleRemoved(id) : d_.sink->GroupRemoved(id);
    return ArmResponse{200, std::nullopt, {}};
  }
  auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
  if (!body.ok()) return ArmError(Bad("The request body is null or malformed.", "InvalidRequestContent"));
  if (Status s = CheckTypes(*body, {{"location", bj::kind::string}, {"tags", bj::kind::object},
                                    {"properties", bj::kind::object}, {"identity", bj::kind::object},
                                    {"kind", bj::kind::string}});
      !s.ok()) {
    return ArmError(s);
  }
  if (m == "PATCH") {
    // A patch merges tags, identity and the given properties into the stored body, then the
    // result is validated as a PUT would be.
    auto read = WithQuery(**loaded);
    if (!read.ok()) return ArmError(read.status());
    bj::object merged = std::move(*read);
    if (const bj::value* t = json::FindCI(*body, "tags"); t && t->is_object()) merged["tags"] = *t;
    if (const bj::value* i = json::FindCI(*body, "identity"); i && i->is_object()) merged["identity"] = *i;
    if (const bj::value* p = json::FindCI(*body, "properties"); p && p->is_object()) Merge(Props(merged), p->as_object());
    *body = std::move(merged);
  }
  if (!ValidRuleName(name)) {
    return ArmError(Bad("The name '" + Echo(name) + "' is not valid: use 1 to 260 characters, none of <>*%&:\\?+/#|.",
                        "InvalidResourceName"));
  }
  return k.rule ? PutRule(r, id, name, std::move(*loaded), *body) : PutGroup(r, id, name, std::move(*loaded), *body);
}

Result<bj::object> AlertRulesProvider::CheckRule(const ArmRequest& r, const std::string& id, const std::string& location,
                                                  const bj::object& props, bool legacy, alerts::AlertRule& rule) {
  bj::object v2 = props;
  if (legacy) {
    ASSIGN_OR_RETURN(v2, alerts::ConvertLegacyRule(props));
  }
  ASSIGN_OR_RETURN(rule, alerts::ValidateRule(id, location, v2));
  const std::string& ws_id = rule.scopes[0];
  if (!IsResourceId(ws_id, kWorkspaceType)) {
    return Bad("The scope '" + Echo(ws_id) + "' is not a Log Analytics workspace resource id.");
  }
  RETURN_IF_ERROR(AuthorizeLinked(*d_.rbac, r.caller, "Microsoft.Insights/scheduledQueryRules/write", id,
                                  "Microsoft.OperationalInsights/workspaces/read", ws_id));
  auto ws = d_.workspaces->WorkspaceByResourceId(ws_id);
  if (!ws.ok()) return Bad("The workspace '" + Echo(ws_id) + "' in 'scopes' was not found.", "ScopeNotFound");
  for (const auto& g : rule.action_groups) {
    if (!IsResourceId(g, kGroupType)) return Bad("'" + Echo(g) + "' is not an action group resource id.");
    ASSIGN_OR_RETURN(auto doc, d_.store->Get(kArm, g));
    if (!doc) return Bad("The action group '" + Echo(g) + "' was not found.", "ActionGroupNotFound");
  }
  const bj::value* skip = json::FindCI(props, "skipQueryValidation");
  if (!(skip && skip->is_bool() && skip->as_bool()) && d_.validate_query) {
    Status s = d_.validate_query(*ws, rule.query);
    if (!s.ok()) {
      return Status(StatusCode::kInvalidArgument, "The query of the rule is invalid: " + s.message(), "BadRequest",
                    s.error_code());
    }
  }
  ASSIGN_OR_RETURN(auto linked, d_.store->Get(kArm, ws->resource_id + "/linkedStorageAccounts/Alerts"));
  const bj::value* check = json::FindCI(props, "checkWorkspaceAlertsStorageConfigured");
  if (check && check->is_bool() && check->as_bool() && !linked) {
    return Bad("The workspace '" + ws->name + "' has no linked storage account of type 'Alerts', which "
               "checkWorkspaceAlertsStorageConfigured requires.", "WorkspaceAlertsStorageNotConfigured");
  }
  v2["isWorkspaceAlertsStorageConfigured"] = linked.has_value();
  return v2;
}

ArmResponse AlertRulesProvider::PutRule(const ArmRequest& r, const std::string& id, const std::string& name,
                                        std::optional<bj::object> existing, const bj::object& body) {
  std::string loc = NormalizeLocation(Str(body, "location"));
  if (existing) loc = Str(*existing, "location");
  if (loc.empty()) return ArmError(Bad("The 'location' property is required.", "LocationRequired"));
  const bj::value* pv = json::FindCI(body, "properties");
  if (pv == nullptr || !pv->is_object()) return ArmError(Bad("The 'properties' of the rule are required."));
  bool legacy = existing ? Str(Hidden(*existing), "apiVersion").rfind("2018-", 0) == 0 : Legacy(r);
  alerts::AlertRule rule;
  auto v2 = CheckRule(r, id, loc, pv->as_object(), legacy, rule);
  if (!v2.ok()) {
    ArmResponse res = ArmError(v2.status());
    if (!v2.status().inner_code().empty()) {
      res.body->as_object()["error"].as_object()["details"] =
          bj::array{bj::object{{"code", v2.status().inner_code()}, {"message", v2.status().message()}}};
    }
    return res;
  }
  auto identity = ResolveIdentity(r, json::FindCI(body, "identity"), existing ? existing->if_contains("identity") : nullptr, name);
  if (!identity.ok()) return ArmError(identity.status());
  std::string now = FormatRfc3339(d_.env.clock->Now(), 7);
  std::string creator = existing ? Str(Hidden(*existing), "creator") : r.caller.object_id;
  std::string principal = creator;
  if (identity->is_object()) {
    const bj::object& io = identity->as_object();
    if (!Str(io, "principalId").empty()) {
      principal = Str(io, "principalId");
    } else if (const bj::value* u = io.if_contains("userAssignedIdentities"); u && u->is_object() && !u->as_object().empty()) {
      principal = Str(u->as_object().begin()->value().as_object(), "principalId");
    }
  }
  rule.principal_id = principal;
  bj::object props = pv->as_object();
  props["provisioningState"] = "Succeeded";
  props["isLegacyLogAnalyticsRule"] = false;
  if (legacy) {
    props["lastUpdatedTime"] = now;
  } else {
    props["isWorkspaceAlertsStorageConfigured"] = (*v2)["isWorkspaceAlertsStorageConfigured"];
    props.erase("provisioningState");
  }
  props["createdWithApiVersion"] = existing ? Str(Hidden(*existing), "apiVersion") : std::string(r.Query("api-version"));
  bj::object doc{{"id", id}, {"name", name}, {"type", "Microsoft.Insights/scheduledQueryRules"}, {"location", loc}};
  doc["tags"] = json::FindCI(body, "tags") ? *json::FindCI(body, "tags") : bj::value(bj::object());
  if (!legacy) doc["kind"] = Str(body, "kind").empty() ? "LogAlert" : Str(body, "kind");
  if (!identity->is_null()) doc["identity"] = *identity;
  doc["properties"] = std::move(props);
  doc["systemData"] = SystemData(r, existing ? &*existing : nullptr, now);
  doc["x-cmk"] = bj::object{{"v2", std::move(*v2)},
                            {"principal", principal},
                            {"creator", creator},
                            {"apiVersion", existing ? Str(Hidden(*existing), "apiVersion") : std::string(r.Query("api-version"))}};
  std::string query = rule.query;
  if (Status s = StoreQuery(doc, rule); !s.ok()) return ArmError(s);
  if (Status s = d_.store->Put(kArm, id, json::Serialize(doc)); !s.ok()) return ArmError(s);
  if (existing && Str(Hidden(*existing), kQueryBlob) != rule.query_location) DeleteQueryBlob(Str(Hidden(*existing), kQueryBlob));
  if (d_.sink) d_.sink->RuleChanged(rule);
  bj::object out = Public(std::move(doc));
  if (bj::value* slot = QuerySlot(Props(out)); slot && !rule.query_location.empty()) *slot = query;
  return Json(existing ? 200 : 201, std::move(out));
}

ArmResponse AlertRulesProvider::PutGroup(const ArmRequest& r, const std::string& id, const std::string& name,
                                         std::optional<bj::object> existing, const bj::object& body) {
  std::string loc = Str(body, "location");
  if (existing) loc = Str(*existing, "location");
  if (loc.empty()) return ArmError(Bad("The 'location' property is required.", "LocationRequired"));
  const bj::value* pv = json::FindCI(body, "properties");
  if (pv == nullptr || !pv->is_object()) return ArmError(Bad("The 'properties' of the action group are required."));
  auto group = alerts::ValidateActionGroup(id, pv->as_object());
  if (!group.ok()) return ArmError(group.status());
  bj::object props = pv->as_object();
  if (!props.contains("enabled")) props["enabled"] = true;
  // Email receivers are confirmed at once (no subscription mail is sent here).
  if (bj::value* e = json::FindCI(props, "emailReceivers"); e && e->is_array()) {
    for (auto& rcv : e->as_array()) rcv.as_object()["status"] = "Enabled";
  }
  bj::object doc{{"id", id}, {"name", name}, {"type", kGroupType}, {"location", loc}};
  doc["tags"] = json::FindCI(body, "tags") ? *json::FindCI(body, "tags") : bj::value(bj::object());
  doc["properties"] = std::move(props);
  if (Status s = d_.store->Put(kArm, id, json::Serialize(doc)); !s.ok()) return ArmError(s);
  if (d_.sink) d_.sink->GroupChanged(*group);
  return Json(existing ? 200 : 201, std::move(doc));
}

// None or absent: the query runs as the rule's creator. SystemAssigned: a managed identity
// made for the rule. UserAssigned: the first listed identity (assign/action on it needed).
Result<bj::value> AlertRulesProvider::ResolveIdentity(const ArmRequest& r, const bj::value* in,
                                                      const bj::value* existing, const std::string& name) {
  if (in == nullptr || in->is_null()) return existing ? *existing : bj::value(nullptr);
  if (!in->is_object()) return Bad("'identity' must be an object.", "InvalidIdentity");
  std::string type = Str(in->as_object(), "type");
  if (Is(type, "None")) return bj::value(bj::object{{"type", "None"}});
  if (Is(type, "SystemAssigned")) {
    const bj::object* old = existing && existing->is_object() ? &existing->as_object() : nullptr;
    if (old && !Str(*old, "principalId").empty()) return *existing;
    if (d_.directory == nullptr) return Bad("System-assigned identities are not available.", "InvalidIdentity");
    ASSIGN_OR_RETURN(identity::Principal p, d_.directory->CreateManagedIdentity(r.caller.tenant_id, name));
    return bj::value(bj::object{{"type", "SystemAssigned"}, {"principalId", p.object_id}, {"tenantId", p.tenant_id}});
  }
  if (!Is(type, "UserAssigned")) {
    return Bad("The identity type '" + Echo(type) + "' is not valid: use None, SystemAssigned or UserAssigned.", "InvalidIdentity");
  }
  const bj::value* uais = json::FindCI(in->as_object(), "userAssignedIdentities");
  if (uais == nullptr || !uais->is_object() || uais->as_object().size() != 1) {
    return Bad("A UserAssigned identity needs exactly one entry in 'userAssignedIdentities'.", "InvalidIdentity");
  }
  std::string uai_id(uais->as_object().begin()->key());
  if (!IsResourceId(uai_id, kUaiType)) return Bad("'" + Echo(uai_id) + "' is not a user-assigned identity.", "InvalidUserAssignedIdentity");
  RETURN_IF_ERROR(AuthorizeLinked(*d_.rbac, r.caller, "Microsoft.Insights/scheduledQueryRules/write", r.path,
                                  "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", uai_id));
  ASSIGN_OR_RETURN(auto uai, LoadDoc(kArm, uai_id));
  if (!uai) return Bad("The user-assigned identity '" + uai_id + "' was not found.", "InvalidUserAssignedIdentity");
  bj::object& p = Props(*uai);
  return bj::value(bj::object{{"type", "UserAssigned"},
                              {"userAssignedIdentities", bj::object{{Str(*uai, "id"), bj::object{{"principalId", p["principalId"]},
                                                                                                  {"clientId", p["clientId"]}}}}}});
}

// POST {group}/createNotifications sends a test alert (common schema, rule "Test alert rule") to
// the receivers the body lists, at once; the answer is the finished TestNotificationDetailsResponse
// (200, which the SDK's poller takes as final), kept for GET {group}/notificationStatus/{id}.
ArmResponse AlertRulesProvider::TestNotifications(const ArmRequest& r, const std::string& group_id,
                                                  const std::string* notification_id) {
  constexpr char kTestKind[] = "alert-test-notification";
  bool post = notification_id == nullptr;
  if (r.method != (post ? "POST" : "GET")) return ArmError(InvalidArgument("The HTTP method is not supported.", "MethodNotAllowed"));
  std::string action = post ? "Microsoft.Insights/createNotifications/action" : "Microsoft.Insights/actionGroups/read";
  if (Status s = d_.rbac->Authorize(r.caller, action, group_id); !s.ok()) return ArmError(s);
  auto group = LoadDoc(kArm, group_id);
  if (!group.ok()) return ArmError(group.status());
  if (!*group) return ArmError(NotFound("The action group '" + Echo(group_id) + "' was not found.", "ResourceNotFound"));
  if (!post) {
    auto doc = LoadDoc(kTestKind, group_id + "/" + *notification_id);
    if (!doc.ok()) return ArmError(doc.status());
    if (!*doc) return ArmError(NotFound("The notification '" + Echo(*notification_id) + "' was not found.", "ResourceNotFound"));
    return Json(200, std::move(**doc));
  }
  auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
  if (!body.ok()) return ArmError(Bad("The request body is null or malformed.", "InvalidRequestContent"));
  std::string type = Str(*body, "alertType");
  if (type.empty() || type.size() > 30) return ArmError(Bad("The property 'alertType' is required (at most 30 characters)."));
  bj::object receivers = *body;
  receivers.erase("alertType");
  receivers["groupShortName"] = "test";
  auto g = alerts::ValidateActionGroup(group_id, receivers);
  if (!g.ok()) return ArmError(g.status());
  alerts::AlertRule rule;
  rule.id = group_id + "/testNotification";
  rule.name = "Test alert rule";
  rule.description = "Test notification (alertType " + type + ")";
  rule.scopes = {group_id};
  rule.frequency = rule.window = std::chrono::minutes(5);
  alerts::AlertEvent e;
  TimePoint now = d_.env.clock->Now();
  std::string id = d_.env.random->NewGuid();
  e.alert_id = "/subscriptions/" + SplitPath(group_id)[1] + "/providers/Microsoft.AlertsManagement/alerts/" + id;
  e.fired_time = e.window_end = now;
  e.window_start = now - rule.window;
  e.omit_query = true;
  if (d_.notifier) d_.notifier->Notify(rule, e, {*g});
  std::string when = FormatRfc3339(now, 7);
  bj::array details;
  for (const auto& w : g->webhooks) {
    details.emplace_back(bj::object{{"MechanismType", "Webhook"}, {"Name", w.name}, {"Status", "Queued"},
                                    {"SubState", "Default"}, {"SendTime", when}, {"Detail", ""}});
  }
  for (const auto& m : g->emails) {
    details.emplace_back(bj::object{{"MechanismType", "Email"}, {"Name", m.name}, {"Status", "Succeeded"},
                                    {"SubState", "Default"}, {"SendTime", when}, {"Detail", ""}});
  }
  bj::object out{{"context", bj::object{{"notificationSource", "Microsoft.Insights/TestNotification"}, {"contextType", type}}},
                 {"state", "Complete"}, {"createdTime", when}, {"completedTime", when}, {"actionDetails", std::move(details)}};
  if (Status s = d_.store->Put(kTestKind, group_id + "/" + id, json::Serialize(out)); !s.ok()) return ArmError(s);
  ArmResponse res = Json(200, std::move(out));
  res.headers.emplace_back("Location", r.base_url + group_id + "/notificationStatus/" + id + "?api-version=" +
                                           std::string(r.Query("api-version")));
  return res;
}

// Pages of kAlertsPage alerts of `scope`, the next one behind `nextLink` ($skipToken: how many
// came before), as the AlertsManagement list pages (x-ms-pageable nextLink).
ArmResponse AlertRulesProvider::ListAlerts(const ArmRequest& r, const std::string& scope) {
  constexpr size_t kAlertsPage = 250;
  size_t skip = 0;
  if (std::string token(r.Query("$skipToken")); !token.empty()) {
    if (token.size() > 9 || !std::all_of(token.begin(), token.end(), [](char c) { return IsAsciiDigit(c); })) {
      return ArmError(Bad("The $skipToken '" + Echo(token) + "' is not valid.", "InvalidSkipToken"));
    }
    skip = std::stoul(token);
  }
  auto docs = d_.store->List(alerts::kAlertKind, "");
  if (!docs.ok()) return ArmError(docs.status());
  bj::array value;
  size_t seen = 0;
  bool more = false;
  for (const auto& d : *docs) {
    auto o = json::ParseObject(d.body);
    if (!o.ok() || !StartsWithIgnoreCase(Str(*o, "id"), scope + "/") || seen++ < skip) continue;
    if (value.size() == kAlertsPage) {
      more = true;
      break;
    }
    value.emplace_back(std::move(*o));
  }
  bj::object out{{"value", std::move(value)}};
  if (more) {
    out["nextLink"] = r.base_url + r.path + "?api-version=" + std::string(r.Query("api-version")) +
                      "&%24skipToken=" + std::to_string(skip + kAlertsPage);
  }
  return Json(200, std::move(out));
}

// Microsoft.AlertsManagement/alerts (2019-05-05-preview): the alerts the evaluator fired.
ArmResponse AlertRulesProvider::Alerts(const ArmRequest& r, const std::string& sub, const std::vector<std::string>& rest) {
  std::string scope = "/subscriptions/" + sub;
  bool change = rest.size() == 3 && Is(rest[0], "alerts") && Is(rest[2], "changestate");
  std::string action = change ? "Microsoft.AlertsManagement/alerts/changestate/action" : "Microsoft.AlertsManagement/alerts/read";
  if (Status s = d_.rbac->Authorize(r.caller, action, scope); !s.ok()) return ArmError(s);
  if (rest.size() == 1 && Is(rest[0], "alerts") && r.method == "GET") return ListAlerts(r, scope);
  if (rest.size() < 2 || rest.size() > 3 || !Is(rest[0], "alerts") || (rest.size() == 3 && !change)) {
    return ArmError(NotFound("No route for '" + r.method + " " + r.path + "'.", "NotFound"));
  }
  if (r.method != (change ? "POST" : "GET")) return ArmError(InvalidArgument("The HTTP method is not supported.", "MethodNotAllowed"));
  std::lock_guard<std::mutex> l(mu_);
  auto doc = LoadDoc(alerts::kAlertKind, rest[1]);
  if (!doc.ok()) return ArmError(doc.status());
  if (!*doc || !StartsWithIgnoreCase(Str(**doc, "id"), scope + "/")) {
    return ArmError(NotFound("The alert '" + Echo(rest[1]) + "' was not found.", "ResourceNotFound"));
  }
  if (!change) return Json(200, std::move(**doc));
  std::string state(r.Query("newState"));
  static const char* kStates[] = {"New", "Acknowledged", "Closed"};
  auto it = std::find_if(std::begin(kStates), std::end(kStates), [&](const char* s) { return EqualsIgnoreCase(s, state); });
  if (it == std::end(kStates)) return ArmError(Bad("newState must be New, Acknowledged or Closed."));
  bj::object& ess = Props(**doc)["essentials"].as_object();
  ess["alertState"] = *it;
  ess["lastModifiedDateTime"] = FormatRfc3339(d_.env.clock->Now(), 7);
  ess["lastModifiedUserName"] = r.caller.app_id;
  if (Status s = d_.store->Put(alerts::kAlertKind, rest[1], json::Serialize(**doc)); !s.ok()) return ArmError(s);
  return Json(200, std::move(**doc));
}

}  // namespace cmk::control
