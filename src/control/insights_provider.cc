#include "control/insights_provider.h"

#include <algorithm>
#include <array>

#include "base/encoding.h"
#include "base/json.h"
#include "base/time_format.h"
#include "control/arm_checks.h"
#include "control/arm_util.h"
#include "control/oi_provider.h"
#include "env/env.h"
#include "kql/engine.h"
#include "kql/syntax/parser.h"

namespace cmk::control {

struct InsightsProvider::Type {
  const char* name;  // path segment, e.g. "dataCollectionRules"
  bool rule;
  std::string full() const { return std::string("Microsoft.Insights/") + name; }
};

namespace {

namespace bj = boost::json;

// The column types of stream declarations (§14.2), canonical spelling.
const std::array<const char*, 7> kStreamColumnTypes = {"string", "int",      "long",   "real",
                                                 "boolean", "datetime", "dynamic"};
// The standard tables every workspace has (oi_tables.cc serves the same four), and the
// Microsoft-* input streams agents and clients send.
const std::array<const char*, 4> kStandardTables = {"Heartbeat", "Syslog", "AppTraces",
                                                    "ContainerLogV2"};
const std::array<const char*, 11> kMicrosoftStreams = {
    "Syslog",  "Event",          "Perf",     "InsightsMetrics", "CommonSecurityLog", "SecurityEvent",
    "WindowsEvent", "ContainerLogV2", "ContainerLog", "Heartbeat", "AppTraces"};
const std::array<const char*, 7> kKinds = {"Direct",        "Linux",         "Windows",
                                           "WorkspaceTransforms", "AgentDirectToStore",
                                           "AgentSettings", "PlatformTelemetry"};

// A rule the service refuses: ARM's `InvalidPayload` with the specific code as a detail.
Status Invalid(std::string code, std::string message) {
  return Status(StatusCode::kInvalidArgument, std::move(message), "InvalidPayload", std::move(code));
}

ArmResponse Error(const Status& s) {
  ArmResponse res = ArmError(s);
  if (!s.inner_code().empty()) {
    bj::object& e = res.body->as_object()["error"].as_object();
    e["message"] = "Data collection rule is invalid: " + s.message();
    e["details"] = bj::array{bj::object{{"code", s.inner_code()}, {"message", s.message()}}};
  }
  return res;
}

template <size_t N>
const char* FindCanonical(const std::array<const char*, N>& list, std::string_view s) {
  for (const char* c : list) {
    if (EqualsIgnoreCase(c, s)) return c;
  }
  return nullptr;
}

bool StartsWithCI(std::string_view s, std::string_view prefix) { return StartsWithIgnoreCase(s, prefix); }

// DCE: 3-44 letters, digits, hyphens (a host label). DCR: 1-64 letters, digits, '_', '.', '-'.
bool ValidDceOrDcrName(const std::string& n, bool rule) {
  if (!rule) return ValidHyphenatedName(n, 3, 44);
  if (n.empty() || n.size() > 64 || !IsAsciiAlnum(n.front())) return false;
  if (n.back() == '.' || n.back() == '-') return false;
  for (char c : n) {
    if (!IsAsciiAlnum(c) && c != '_' && c != '.' && c != '-') return false;
  }
  return true;
}

// Our bound on each list of a rule (flows, destinations, streams of a flow, declared streams):
// above anything a real rule holds, and low enough that validation (names compared pairwise,
// one table lookup per output stream and destination) stays cheap for any body.
constexpr size_t kMaxRuleItems = 32;

constexpr char kRuleWrite[] = "Microsoft.Insights/dataCollectionRules/write";

// Every element of `v` (an array) must be a string; `where` names it in the refusal.
Status CheckStrings(const bj::value& v, const std::string& where, const char* code) {
  if (!v.is_array() || v.as_array().size() > kMaxRuleItems) {
    return Invalid(code, where + " must be an array of at most " + std::to_string(kMaxRuleItems) + " strings.");
  }
  for (const auto& e : v.as_array()) {
    if (!e.is_string()) return Invalid(code, where + " must be an array of strings.");
  }
  return OkStatus();
}

// "https://management.D[:port]" -> "D[:port]".
std::string DomainAndPort(const std::string& base_url) {
  std::string s = base_url;
  if (StartsWithCI(s, "https://")) s = s.substr(8);
  if (StartsWithCI(s, "management.")) s = s.substr(11);
  while (!s.empty() && s.back() == '/') s.pop_back();
  return s;
}

std::string DceLabel(const bj::object& doc) {
  const bj::object& p = doc.at("properties").as_object();
  std::string imm = Str(p, "immutableId");
  return ToLower(Str(doc, "name")) + "-" + (imm.size() >= 8 ? imm.substr(4, 4) : "0000");
}

bool IsType(const std::string& id, const char* type) {
  std::string lid = ToLower(id);
  std::string marker = "/providers/microsoft.insights/" + ToLower(type) + "/";
  size_t at = lid.find(marker);
  return at != std::string::npos && lid.find('/', at + marker.size()) == std::string::npos;
}

std::vector<std::string> Strings(const bj::value& v) {
  std::vector<std::string> out;
  if (!v.is_array()) return out;
  for (const auto& e : v.as_array()) {
    if (e.is_string()) out.emplace_back(e.as_string());
  }
  return out;
}

}  // namespace

Result<DataCollectionRule> RuleFromDocument(const bj::object& doc) {
  DataCollectionRule rule;
  rule.resource_id = Str(doc, "id");
  rule.location = Str(doc, "location");
  rule.kind = Str(doc, "kind");
  const bj::value* pv = doc.if_contains("properties");
  if (pv == nullptr || !pv->is_object()) return Internal("stored rule without properties: " + rule.resource_id);
  const bj::object& p = pv->as_object();
  rule.immutable_id = Str(p, "immutableId");
  rule.data_collection_endpoint_id = Str(p, "dataCollectionEndpointId");
  if (const bj::value* sd = p.if_contains("streamDeclarations"); sd && sd->is_object()) {
    for (const auto& kv : sd->as_object()) {
      std::vector<DcrColumn>& cols = rule.streams[std::string(kv.key())];
      const bj::value* c = kv.value().as_object().if_contains("columns");
      if (c == nullptr || !c->is_array()) continue;
      for (const auto& col : c->as_array()) {
        cols.push_back({Str(col.as_object(), "name"), Str(col.as_object(), "type")});
      }
    }
  }
  if (const bj::value* d = p.if_contains("destinations"); d && d->is_object()) {
    if (const bj::value* la = d->as_object().if_contains("logAnalytics"); la && la->is_array()) {
      for (const auto& e : la->as_array()) {
        const bj::object& o = e.as_object();
        rule.destinations.push_back({Str(o, "name"), Str(o, "workspaceResourceId"), Str(o, "workspaceId")});
      }
    }
  }
  if (const bj::value* f = p.if_contains("dataFlows"); f && f->is_array()) {
    for (const auto& e : f->as_array()) {
      const bj::object& o = e.as_object();
      DcrFlow flow;
      if (const bj::value* s = o.if_contains("streams")) flow.streams = Strings(*s);
      if (const bj::value* s = o.if_contains("destinations")) flow.destinations = Strings(*s);
      flow.transform_kql = Str(o, "transformKql");
      if (flow.transform_kql.empty()) flow.transform_kql = "source";
      flow.output_stream = Str(o, "outputStream");
      if (flow.output_stream.empty() && flow.streams.size() == 1) flow.output_stream = flow.streams[0];
      rule.flows.push_back(std::move(flow));
    }
  }
  return rule;
}

InsightsProvider::InsightsProvider(env::Env env, meta::MetadataStore* store,
                                   identity::Directory* directory, identity::Rbac* rbac,
                                   InsightsOptions options)
    : env_(env), store_(store), directory_(directory), rbac_(rbac), options_(options) {
  if (options_.page_size == 0) options_.page_size = 1;
}

Status InsightsProvider::Load() {
  ASSIGN_OR_RETURN(auto docs, store_->List(kArm, "/subscriptions/"));
  std::map<std::string, DataCollectionRule> rules;
  std::map<std::string, std::string> labels;
  for (const auto& d : docs) {
    bool rule = IsType(d.id, "dataCollectionRules");
    if (!rule && !IsType(d.id, "dataCollectionEndpoints")) continue;
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(d.body));
    if (rule) {
      ASSIGN_OR_RETURN(DataCollectionRule r, RuleFromDocument(o));
      rules[ToLower(r.immutable_id)] = std::move(r);
    } else {
      labels[DceLabel(o)] = Str(o, "id");
    }
  }
  Lock l(mu_);
  rules_ = std::move(rules);
  endpoint_labels_ = std::move(labels);
  return OkStatus();
}

Result<DataCollectionRule> InsightsProvider::FindRuleByImmutableId(std::string_view immutable_id) const {
  Lock l(mu_);
  auto it = rules_.find(ToLower(immutable_id));
  if (it == rules_.end()) {
    return NotFound("No data collection rule has the immutable id '" + std::string(immutable_id) + "'.",
                    "NotFound");
  }
  return it->second;
}

Result<std::string> InsightsProvider::FindEndpointByHostLabel(std::string_view label) const {
  Lock l(mu_);
  auto it = endpoint_labels_.find(ToLower(label));
  if (it == endpoint_labels_.end()) {
    return NotFound("No data collection endpoint has the host '" + std::string(label) + "'.", "NotFound");
  }
  return it->second;
}

Result<std::optional<bj::object>> InsightsProvider::LoadDoc(const std::string& id) const {
  ASSIGN_OR_RETURN(auto doc, store_->Get(kArm, id));
  if (!doc) return std::optional<bj::object>();
  ASSIGN_OR_RETURN(bj::object o, json::ParseObject(doc->body));
  return std::optional<bj::object>(std::move(o));
}

std::string InsightsProvider::NewImmutableId(std::string_view prefix) {
  std::array<uint8_t, 16> b;
  env_.random->Fill(b);
  return std::string(prefix) + "-" + ToLower(HexEncode(b));
}

// Endpoints are derived from the request's external address (see the header).
bj::object InsightsProvider::Public(const ArmRequest& r, bj::object doc) const {
  doc.erase("x-cmk");
  std::string suffix = ".ingest." + DomainAndPort(r.base_url);
  bj::object& p = Props(doc);
  if (IsType(Str(doc, "id"), "dataCollectionEndpoints")) {
    std::string url = "https://" + DceLabel(doc) + suffix;
    p["configurationAccess"] = bj::object{{"endpoint", url}};
    p["logsIngestion"] = bj::object{{"endpoint", url}};
    p["metricsIngestion"] = bj::object{{"endpoint", url}};
  } else if (Is(Str(doc, "kind"), "Direct")) {
    p["endpoints"] = bj::object{{"logsIngestion", "https://" + ToLower(Str(p, "immutableId")) + suffix}};
  }
  return doc;
}

// ---------------------------------------------------------------------------------------------

ArmResponse InsightsProvider::Handle(const ArmRequest& r, const std::string& sub, const std::string* rg,
                                     const std::vector<std::string>& rest) {
  static const Type kDcr{"dataCollectionRules", true}, kDce{"dataCollectionEndpoints", false};
  const Type* t = rest.empty() ? nullptr : Is(rest[0], kDcr.name) ? &kDcr : Is(rest[0], kDce.name) ? &kDce : nullptr;
  if (t == nullptr) {
    return ArmError(NotFound("The resource type '" + (rest.empty() ? std::string() : rest[0]) +
                                 "' is not supported in namespace 'Microsoft.Insights'.",
                             "InvalidResourceType"));
  }
  if (!ValidApiVersionFormat(r.Query("api-version"))) {
    return ArmError(InvalidArgument("The api-version '" + Echo(r.Query("api-version")) +
                                        "' is invalid: use a date such as 2022-06-01 (optionally with -preview).",
                                    "InvalidApiVersionParameter"));
  }
  std::string sub_scope = "/subscriptions/" + sub;
  if (rest.size() == 1) {
    if (r.method != "GET") return ArmError(InvalidArgument("Use GET to list " + std::string(t->name) + ".", "MethodNotAllowed"));
    if (rg == nullptr) return List(r, *t, sub_scope + "/resourceGroups/", sub_scope);
    std::string rg_scope = sub_scope + "/resourceGroups/" + *rg;
    return List(r, *t, rg_scope + "/providers/Microsoft.Insights/" + t->name + "/", rg_scope);
  }
  if (rest.size() != 2 || rg == nullptr) {
    return ArmError(NotFound("No route for '" + r.method + " " + r.path + "'.", "NotFound"));
  }
  std::string id = sub_scope + "/resourceGroups/" + *rg + "/providers/Microsoft.Insights/" + t->name + "/" + rest[1];
  return Resource(r, *t, id, rest[1]);
}

ArmResponse InsightsProvider::List(const ArmRequest& r, const Type& t, const std::string& prefix,
                                   const std::string& scope) {
  if (Status s = rbac_->Authorize(r.caller, t.full() + "/read", scope); !s.ok()) return ArmError(s);
  size_t skip = 0;
  if (std::string token(r.Query("$skipToken")); !token.empty()) {
    if (token.size() > 9 || !std::all_of(token.begin(), token.end(), ::isdigit)) {
      return ArmError(InvalidArgument("The $skipToken '" + token + "' is not valid.", "InvalidSkipToken"));
    }
    skip = std::stoul(token);
  }
  auto docs = store_->List(kArm, prefix);
  if (!docs.ok()) return ArmError(docs.status());
  bj::array value;
  size_t seen = 0;
  bool more = false;
  for (const auto& d : *docs) {
    if (!IsType(d.id, t.name)) continue;
    if (seen++ < skip) continue;
    if (value.size() == options_.page_size) {
      more = true;
      break;
    }
    auto o = json::ParseObject(d.body);
    if (o.ok()) value.emplace_back(Public(r, std::move(*o)));
  }
  bj::object out{{"value", std::move(value)}};
  if (more) {
    out["nextLink"] = r.base_url + r.path + "?api-version=" + std::string(r.Query("api-version")) +
                      "&%24skipToken=" + std::to_string(skip + options_.page_size);
  }
  return Json(200, std::move(out));
}

ArmResponse InsightsProvider::Resource(const ArmRequest& r, const Type& t, const std::string& id,
                                       const std::string& name) {
  const std::string& m = r.method;
  if (m != "GET" && m != "PUT" && m != "PATCH" && m != "DELETE") {
    return ArmError(InvalidArgument("The HTTP method '" + m + "' is not supported.", "MethodNotAllowed"));
  }
  std::string action = t.full() + "/" + (m == "GET" ? "read" : m == "DELETE" ? "delete" : "write");
  if (Status s = rbac_->Authorize(r.caller, action, id); !s.ok()) return ArmError(s);
  Lock l(mu_);
  auto loaded = LoadDoc(id);
  if (!loaded.ok()) return ArmError(loaded.status());
  if (m == "PUT") return Put(r, t, id, name, std::move(*loaded));
  if (!*loaded) {
    if (m == "DELETE") return ArmResponse{204, std::nullopt, {}};
    std::string rg = SplitPath(id)[3];
    return ArmError(NotFound("The Resource '" + t.full() + "/" + name + "' under resource group '" + rg +
                                 "' was not found.", "ResourceNotFound"));
  }
  bj::object doc = std::move(**loaded);
  if (m == "GET") return Json(200, Public(r, std::move(doc)));
  if (m == "PATCH") return Patch(r, std::move(doc));
  if (Status s = store_->Delete(kArm, id).status(); !s.ok()) return ArmError(s);
  if (t.rule) {
    rules_.erase(ToLower(Str(Props(doc), "immutableId")));
  } else {
    endpoint_labels_.erase(DceLabel(doc));
  }
  return ArmResponse{200, std::nullopt, {}};
}

ArmResponse InsightsProvider::Put(const ArmRequest& r, const Type& t, const std::string& id,
                                  const std::string& name, std::optional<bj::object> existing) {
  if (!ValidDceOrDcrName(name, t.rule)) {
    return ArmError(BadParameter(t.rule ? "The data collection rule name '" + name +
                                              "' is not valid: use 1 to 64 letters, digits, '_', '.' and '-', "
                                              "starting with a letter or digit."
                                        : "The data collection endpoint name '" + name +
                                              "' is not valid: use 3 to 44 letters, digits and hyphens, "
                                              "starting and ending with a letter or digit.",
                                 "InvalidResourceName"));
  }
  auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
  if (!body.ok()) return ArmError(BadParameter("The request body is null or malformed.", "InvalidRequestContent"));
  if (Status s = CheckTypes(*body, {{"location", bj::kind::string}, {"kind", bj::kind::string}, {"tags", bj::kind::object},
                                    {"identity", bj::kind::object}, {"properties", bj::kind::object}});
      !s.ok()) {
    return ArmError(s);
  }
  if (const bj::value* p = json::FindCI(*body, "properties"); p && p->is_object()) {
    if (Status s = CheckTypes(p->as_object(), {{"description", bj::kind::string}, {"streamDeclarations", bj::kind::object},
                                               {"destinations", bj::kind::object}, {"dataFlows", bj::kind::array},
                                               {"networkAcls", bj::kind::object}},
                              "properties.");
        !s.ok()) {
      return ArmError(s);
    }
  }
  std::string loc = NormalizeLocation(Str(*body, "location"));
  if (existing) {
    if (!loc.empty() && loc != Str(*existing, "location")) {
      return ArmError(BadParameter("The location of a resource cannot be changed.", "LocationUpdateNotAllowed"));
    }
    loc = Str(*existing, "location");
  } else {
    if (loc.empty()) return ArmError(BadParameter("The 'location' property is required.", "LocationRequired"));
    const auto& regions = DefaultRegions();
    if (std::none_of(regions.begin(), regions.end(), [&](const Region& g) { return g.name == loc; })) {
      return ArmError(BadParameter("The location '" + loc + "' is not available for resource type '" + t.full() + "'.",
                                   "LocationNotAvailableForResourceType"));
    }
  }
  bj::value tags = bj::object();
  if (const bj::value* tv = json::FindCI(*body, "tags"); tv && !tv->is_null()) {
    if (!tv->is_object()) return ArmError(BadParameter("'tags' must be an object of strings.", "InvalidRequestContent"));
    for (const auto& kv : tv->as_object()) {
      if (!kv.value().is_string()) return ArmError(BadParameter("The value of tag '" + std::string(kv.key()) + "' must be a string.", "InvalidRequestContent"));
    }
    tags = *tv;
  }
  std::string kind = Str(*body, "kind");
  if (!kind.empty()) {
    const char* k = FindCanonical(kKinds, kind);
    if (k == nullptr || (!t.rule && !Is(kind, "Linux") && !Is(kind, "Windows"))) {
      return ArmError(BadParameter("The kind '" + kind + "' is not valid for " + t.full() + ".", "InvalidKind"));
    }
    kind = k;
  }
  auto identity = ResolveIdentity(r, json::FindCI(*body, "identity"),
                                  existing ? existing->if_contains("identity") : nullptr, name);
  if (!identity.ok()) return ArmError(identity.status());
  const bj::object* in = nullptr;
  if (auto p = json::GetObject(*body, "properties"); p.ok()) in = *p;
  bj::object empty;
  if (in == nullptr) in = &empty;
  bj::object props;
  std::string imm = existing ? Str(Props(*existing), "immutableId") : NewImmutableId(t.rule ? "dcr" : "dce");
  props["immutableId"] = imm;
  if (const bj::value* d = json::FindCI(*in, "description"); d && d->is_string()) props["description"] = *d;
  if (t.rule) {
    if (Status s = BuildRuleProperties(r, loc, *in, props); !s.ok()) return Error(s);
  } else {
    std::string access = "Enabled";
    if (const bj::value* acls = json::FindCI(*in, "networkAcls"); acls && acls->is_object()) {
      std::string v = Str(acls->as_object(), "publicNetworkAccess");
      if (!v.empty() && !Is(v, "Enabled") && !Is(v, "Disabled") && !Is(v, "SecuredByPerimeter")) {
        return ArmError(BadParameter("publicNetworkAccess must be Enabled, Disabled or SecuredByPerimeter.", "InvalidNetworkAcls"));
      }
      if (!v.empty()) access = Is(v, "Enabled") ? "Enabled" : Is(v, "Disabled") ? "Disabled" : "SecuredByPerimeter";
    }
    props["networkAcls"] = bj::object{{"publicNetworkAccess", access}};
  }
  props["provisioningState"] = "Succeeded";
  std::string now = FormatRfc3339(env_.clock->Now());
  std::string by = r.caller.app_id.empty() ? r.caller.object_id : r.caller.app_id;
  bj::object system{{"createdBy", by}, {"createdByType", "Application"}, {"createdAt", now},
                    {"lastModifiedBy", by}, {"lastModifiedByType", "Application"}, {"lastModifiedAt", now}};
  if (existing && existing->contains("systemData") && (*existing)["systemData"].is_object()) {
    bj::object& old = (*existing)["systemData"].as_object();
    for (const char* k : {"createdBy", "createdByType", "createdAt"}) {
      if (old.contains(k)) system[k] = old[k];
    }
  }
  std::string canonical = existing ? Str(*existing, "id") : id;
  bj::object doc{{"id", canonical},
                 {"name", existing ? Str(*existing, "name") : name},
                 {"type", t.full()},
                 {"location", loc},
                 {"tags", std::move(tags)}};
  if (!kind.empty()) doc["kind"] = kind;
  if (!identity->is_null()) doc["identity"] = *identity;
  doc["etag"] = "\"" + env_.random->NewGuid() + "\"";
  doc["systemData"] = std::move(system);
  doc["properties"] = std::move(props);
  if (Status s = store_->Put(kArm, canonical, json::Serialize(doc)); !s.ok()) return ArmError(s);
  if (t.rule) {
    auto rule = RuleFromDocument(doc);
    if (!rule.ok()) return ArmError(rule.status());
    rules_[ToLower(imm)] = std::move(*rule);
  } else {
    endpoint_labels_[DceLabel(doc)] = canonical;
  }
  return Json(existing ? 200 : 201, Public(r, std::move(doc)));
}

// PATCH is `ResourceForUpdate`: tags and identity only (additionalProperties: false).
ArmResponse InsightsProvider::Patch(const ArmRequest& r, bj::object doc) {
  auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
  if (!body.ok()) return ArmError(BadParameter("The request body is null or malformed.", "InvalidRequestContent"));
  for (const auto& kv : *body) {
    if (!Is(std::string(kv.key()), "tags") && !Is(std::string(kv.key()), "identity")) {
      return ArmError(BadParameter("Only 'tags' and 'identity' can be updated with PATCH; use PUT to change '" +
                                       std::string(kv.key()) + "'.", "InvalidRequestContent"));
    }
  }
  if (const bj::value* tv = json::FindCI(*body, "tags"); tv && !tv->is_null()) {
    bool strings = tv->is_object();
    for (const auto& kv : strings ? tv->as_object() : bj::object()) strings = strings && kv.value().is_string();
    if (!strings) return ArmError(BadParameter("'tags' must be an object of strings.", "InvalidRequestContent"));
    doc["tags"] = *tv;
  }
  if (const bj::value* iv = json::FindCI(*body, "identity"); iv && !iv->is_null()) {
    auto identity = ResolveIdentity(r, iv, doc.if_contains("identity"), Str(doc, "name"));
    if (!identity.ok()) return ArmError(identity.status());
    doc["identity"] = *identity;
  }
  doc["etag"] = "\"" + env_.random->NewGuid() + "\"";
  if (doc.contains("systemData") && doc["systemData"].is_object()) {
    bj::object& s = doc["systemData"].as_object();
    s["lastModifiedBy"] = r.caller.app_id.empty() ? r.caller.object_id : r.caller.app_id;
    s["lastModifiedAt"] = FormatRfc3339(env_.clock->Now());
  }
  if (Status s = store_->Put(kArm, Str(doc, "id"), json::Serialize(doc)); !s.ok()) return ArmError(s);
  return Json(200, Public(r, std::move(doc)));
}

// `identity`: None, SystemAssigned, UserAssigned or "SystemAssigned, UserAssigned" (the DCR
// spec's spelling, with a space); absent keeps the current one.
Result<bj::value> InsightsProvider::ResolveIdentity(const ArmRequest& r, const bj::value* in,
                                                    const bj::value* existing, const std::string& name) {
  if (in == nullptr || in->is_null()) return existing ? *existing : bj::value(nullptr);
  if (!in->is_object()) return BadParameter("'identity' must be an object.", "InvalidIdentity");
  std::string type = ToLower(Str(in->as_object(), "type"));
  type.erase(std::remove(type.begin(), type.end(), ' '), type.end());
  bool system = type == "systemassigned" || type == "systemassigned,userassigned";
  bool user = type == "userassigned" || type == "systemassigned,userassigned";
  if (type == "none") return bj::value(bj::object{{"type", "None"}});
  if (!system && !user) {
    return BadParameter("The identity type '" + Str(in->as_object(), "type") +
                            "' is not valid: use None, SystemAssigned, UserAssigned or 'SystemAssigned, UserAssigned'.",
                        "InvalidIdentity");
  }
  bj::object out{{"type", system && user ? "SystemAssigned, UserAssigned" : system ? "SystemAssigned" : "UserAssigned"}};
  if (system) {
    const bj::object* old = existing && existing->is_object() ? &existing->as_object() : nullptr;
    if (old && !Str(*old, "principalId").empty()) {
      out["principalId"] = Str(*old, "principalId");
      out["tenantId"] = Str(*old, "tenantId");
    } else {
      if (directory_ == nullptr) return BadParameter("System-assigned identities are not available.", "InvalidIdentity");
      ASSIGN_OR_RETURN(identity::Principal p, directory_->CreateManagedIdentity(r.caller.tenant_id, name));
      out["principalId"] = p.object_id;
      out["tenantId"] = p.tenant_id;
    }
  }
  if (user) {
    const bj::value* uais = json::FindCI(in->as_object(), "userAssignedIdentities");
    if (uais == nullptr || !uais->is_object() || uais->as_object().empty()) {
      return BadParameter("A UserAssigned identity needs at least one entry in 'userAssignedIdentities'.", "InvalidIdentity");
    }
    const bj::object* old_uais = nullptr;
    if (existing && existing->is_object()) {
      if (const bj::value* o = json::FindCI(existing->as_object(), "userAssignedIdentities"); o && o->is_object()) {
        old_uais = &o->as_object();
      }
    }
    bj::object resolved;
    for (const auto& kv : uais->as_object()) {
      std::string uai_id(kv.key());
      if (!IsResourceId(uai_id, kUaiType)) {
        return BadParameter("'" + Echo(uai_id) + "' is not the resource id of a user-assigned identity.", "InvalidUserAssignedIdentity");
      }
      // Assigning a user-assigned identity needs assign/action on it (private-storage.md, "Manage
      // a user assigned managed identity ... - identity scope"), checked before the lookup. One
      // the resource already has stays without the check: keeping it borrows nothing new.
      if (old_uais == nullptr || json::FindCI(*old_uais, uai_id) == nullptr) {
        RETURN_IF_ERROR(AuthorizeLinked(*rbac_, r.caller, RequestScope(r).find("dataCollectionEndpoints") != std::string::npos
                                                              ? "Microsoft.Insights/dataCollectionEndpoints/write"
                                                              : kRuleWrite,
                                        RequestScope(r), "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action",
                                        uai_id));
      }
      ASSIGN_OR_RETURN(auto uai, LoadDoc(uai_id));
      if (!uai || !Is(Str(*uai, "type"), kUaiType)) {
        return BadParameter("The user-assigned identity '" + uai_id + "' was not found.", "InvalidUserAssignedIdentity");
      }
      bj::object& p = Props(*uai);
      resolved[Str(*uai, "id")] = bj::object{{"principalId", p["principalId"]}, {"clientId", p["clientId"]}};
    }
    out["userAssignedIdentities"] = std::move(resolved);
  }
  return bj::value(std::move(out));
}

// ---------------------------------------------------------------------------------------------
// Data collection rule validation (§14.2). Every refusal names the offending element.

Status InsightsProvider::BuildRuleProperties(const ArmRequest& r, const std::string& location,
                                             const bj::object& in, bj::object& out) {
  if (const bj::value* dce = json::FindCI(in, "dataCollectionEndpointId"); dce && !dce->is_null()) {
    if (!dce->is_string()) return Invalid("InvalidDataCollectionEndpointId", "properties.dataCollectionEndpointId must be a string.");
    std::string dce_id(dce->as_string());
    if (!IsResourceId(dce_id, "Microsoft.Insights/dataCollectionEndpoints")) {
      return Invalid("InvalidDataCollectionEndpointId", "'" + Echo(dce_id) +
                                                            "' (properties.dataCollectionEndpointId) is not the resource id of a data collection endpoint.");
    }
    // A rule names an endpoint its author may read (ARM's linked check on the referenced
    // resource), checked before the lookup so that the answer doesn't tell whether it exists.
    RETURN_IF_ERROR(AuthorizeLinked(*rbac_, r.caller, kRuleWrite, RequestScope(r),
                                    "Microsoft.Insights/dataCollectionEndpoints/read", dce_id));
    auto doc = LoadDoc(dce_id);
    if (!doc.ok()) return doc.status();
    if (!*doc || !IsType(dce_id, "dataCollectionEndpoints")) {
      return Invalid("InvalidDataCollectionEndpointId",
                     "The data collection endpoint '" + dce_id + "' (properties.dataCollectionEndpointId) was not found.");
    }
    if (Str(**doc, "location") != location) {
      return Invalid("InvalidDataCollectionEndpointId", "The data collection endpoint '" + dce_id + "' is in '" +
                                                            Str(**doc, "location") + "', not in the rule's location '" +
                                                            location + "'.");
    }
    out["dataCollectionEndpointId"] = Str(**doc, "id");
  }
  bj::object streams;
  if (const bj::value* sd = json::FindCI(in, "streamDeclarations"); sd && !sd->is_null()) {
    if (!sd->is_object()) return Invalid("InvalidStreamDeclaration", "streamDeclarations must be an object.");
    if (sd->as_object().size() > kMaxRuleItems) {
      return Invalid("InvalidStreamDeclaration", "A rule declares at most " + std::to_string(kMaxRuleItems) + " streams.");
    }
    for (const auto& kv : sd->as_object()) {
      std::string sname(kv.key());
      if (!ValidCustomStreamName(sname)) {
        return Invalid("InvalidStreamDeclaration", "The stream name '" + Echo(sname) +
                                                       "' is not valid: declared stream names start with 'Custom-' "
                                                       "followed by letters, digits, '_' or '-'.");
      }
      const bj::value* cols = kv.value().is_object() ? json::FindCI(kv.value().as_object(), "columns") : nullptr;
      if (cols == nullptr || !cols->is_array() || cols->as_array().empty() || cols->as_array().size() > 500) {
        return Invalid("InvalidStreamDeclaration", "Stream '" + sname + "' needs a 'columns' array of 1 to 500 columns.");
      }
      bj::array out_cols;
      std::vector<std::string> seen;
      for (const auto& c : cols->as_array()) {
        std::string cn = c.is_object() ? Str(c.as_object(), "name") : "";
        std::string ct = c.is_object() ? Str(c.as_object(), "type") : "";
        if (cn.empty()) return Invalid("InvalidStreamDeclaration", "Every column of stream '" + sname + "' needs a name.");
        if (cn.size() > 256) return Invalid("InvalidStreamDeclaration", "Column '" + Echo(cn) + "' of stream '" + sname + "' has a name longer than 256 characters.");
        const char* canon = FindCanonical(kStreamColumnTypes, ct);
        if (canon == nullptr) {
          return Invalid("InvalidColumnType", "Column '" + cn + "' of stream '" + sname + "' has type '" + ct +
                                                  "': use string, int, long, real, boolean, datetime or dynamic.");
        }
        if (std::any_of(seen.begin(), seen.end(), [&](const std::string& s) { return EqualsIgnoreCase(s, cn); })) {
          return Invalid("InvalidStreamDeclaration", "Column '" + cn + "' appears twice in stream '" + sname + "'.");
        }
        seen.push_back(cn);
        out_cols.emplace_back(bj::object{{"name", cn}, {"type", canon}});
      }
      streams[sname] = bj::object{{"columns", std::move(out_cols)}};
    }
  }
  out["streamDeclarations"] = std::move(streams);
  if (const bj::value* ds = json::FindCI(in, "dataSources"); ds && ds->is_object()) out["dataSources"] = *ds;
  RETURN_IF_ERROR(BuildDestinations(r, in, out));
  bj::array flows;
  RETURN_IF_ERROR(BuildFlows(in, out, flows));
  out["dataFlows"] = std::move(flows);
  return OkStatus();
}

Status InsightsProvider::BuildDestinations(const ArmRequest& r, const bj::object& in, bj::object& out) {
  bj::array la_out;
  const bj::value* dv = json::FindCI(in, "destinations");
  if (dv && !dv->is_null() && !dv->is_object()) return Invalid("InvalidDestination", "destinations must be an object.");
  std::vector<std::string> names;
  for (const auto& kv : dv && dv->is_object() ? dv->as_object() : bj::object()) {
    bool empty = kv.value().is_null() || (kv.value().is_array() && kv.value().as_array().empty()) ||
                 (kv.value().is_object() && kv.value().as_object().empty());
    if (!Is(std::string(kv.key()), "logAnalytics")) {
      if (empty) continue;
      return Invalid("UnsupportedDestination", "Destinations of type '" + std::string(kv.key()) +
                                                   "' are not supported by this instance: use logAnalytics.");
    }
    if (!kv.value().is_array() || kv.value().as_array().size() > kMaxRuleItems) {
      return Invalid("InvalidDestination", "destinations.logAnalytics must be an array of at most " + std::to_string(kMaxRuleItems) +
                                               " destinations.");
    }
    for (const auto& e : kv.value().as_array()) {
      if (!e.is_object() || !CheckTypes(e.as_object(), {{"name", bj::kind::string}, {"workspaceResourceId", bj::kind::string}}).ok()) {
        return Invalid("InvalidDestination", "Every logAnalytics destination must be an object with string 'name' and 'workspaceResourceId'.");
      }
      std::string name = Str(e.as_object(), "name");
      std::string ws = Str(e.as_object(), "workspaceResourceId");
      if (name.empty() || name.size() > 32) {
        return Invalid("InvalidDestination", "Every logAnalytics destination needs a 'name' of 1 to 32 characters.");
      }
      if (std::any_of(names.begin(), names.end(), [&](const std::string& n) { return EqualsIgnoreCase(n, name); })) {
        return Invalid("InvalidDestination", "The destination name '" + name + "' is used more than once.");
      }
      names.push_back(name);
      if (!IsResourceId(ws, "Microsoft.OperationalInsights/workspaces")) {
        return Invalid("InvalidWorkspace", "'" + Echo(ws) + "' (workspaceResourceId of destination '" + name +
                                               "') is not the resource id of a Log Analytics workspace.");
      }
      // A rule may only send data to a workspace its author may send data to. Azure documents no
      // DCR-specific action; the one it documents for linking a writer of Azure Monitor data to a
      // workspace is sharedKeys/action on the workspace (azure-monitor-docs PR #297: "permission on
      // the target workspace for Microsoft.OperationalInsights/workspaces/sharedkeys/action"), the
      // action that yields the keys to write into it. Reader does not have it; Contributor and Log
      // Analytics Contributor do. Checked before the lookup, so that the answer doesn't tell
      // whether the workspace exists.
      RETURN_IF_ERROR(AuthorizeLinked(*rbac_, r.caller, kRuleWrite, RequestScope(r),
                                      "Microsoft.OperationalInsights/workspaces/sharedKeys/action", ws));
      auto doc = LoadDoc(ws);
      if (!doc.ok()) return doc.status();
      if (!*doc || !Is(Str(**doc, "type"), "Microsoft.OperationalInsights/workspaces")) {
        return Invalid("InvalidWorkspace", "The Log Analytics workspace '" + ws + "' of destination '" + name +
                                               "' was not found.");
      }
      std::string canonical = Str(**doc, "id");
      la_out.emplace_back(bj::object{{"workspaceResourceId", canonical},
                                     {"workspaceId", Str(Props(**doc), "customerId")},
                                     {"name", name}});
    }
  }
  out["destinations"] = bj::object{{"logAnalytics", std::move(la_out)}};
  return OkStatus();
}

namespace {

// Binds and runs a transformation over an empty `source` with the stream's declared columns, so
// that unknown columns, type errors and queries past the engine's depth and complexity limits
// are refused at PUT (as Azure validates transformKql) rather than on every upload. Under a
// small budget and deadline: a transformation must be cheap to check.
Status CheckTransform(const std::string& query, const bj::object& declaration) {
  kql::Table source;
  source.name = "source";
  if (const bj::value* cols = json::FindCI(declaration, "columns"); cols && cols->is_array()) {
    for (const auto& c : cols->as_array()) {
      if (!c.is_object()) continue;
      std::string type = ToLower(Str(c.as_object(), "type"));
      kql::Type t = type == "int"        ? kql::Type::kInt
                    : type == "long"     ? kql::Type::kLong
                    : type == "real"     ? kql::Type::kReal
                    : type == "boolean"  ? kql::Type::kBool
                    : type == "datetime" ? kql::Type::kDateTime
                    : type == "dynamic"  ? kql::Type::kDynamic
                                         : kql::Type::kString;
      source.AddColumn(Str(c.as_object(), "name"), kql::Column(t));
    }
  }
  kql::InMemoryCatalog catalog;
  catalog.Add(std::move(source));
  kql::ExecOptions options;
  options.memory_limit_bytes = size_t{64} << 20;
  options.deadline_us = env::MonotonicMicros() + 2'000'000;
  try {
    auto r = kql::Execute(query, catalog, options);
    return r.ok() ? OkStatus() : r.status();
  } catch (const std::bad_alloc&) {
    return InvalidArgument("the transformation needs more memory than a transformation may use");
  }
}

// A flow's streams by their declared (or standard Microsoft-*) names.
Result<bj::array> FlowStreams(const std::vector<std::string>& names, const bj::object& streams,
                              const std::string& where) {
  bj::array out;
  for (const std::string& s : names) {
    std::string canon;
    for (const auto& kv : streams) {
      if (EqualsIgnoreCase(kv.key(), s)) canon = kv.key();
    }
    if (canon.empty() && StartsWithCI(s, "Microsoft-")) {
      if (const char* m = FindCanonical(kMicrosoftStreams, s.substr(10))) {
        canon = std::string("Microsoft-") + m;
      }
    }
    if (canon.empty()) {
      return Invalid("InvalidDataFlow",
                     "The stream '" + s + "' of " + where +
                         " is neither declared in streamDeclarations nor a known Microsoft-* "
                         "stream.");
    }
    out.emplace_back(canon);
  }
  return out;
}

// A flow's transformKql (default "source"): it must parse, and bind against the declaration of
// the flow's first stream when that is declared in the rule. Stored into `flow` when given.
Status FlowTransform(const bj::object& f, const std::string& where, const bj::array& out_streams,
                     const bj::object& streams, bj::object& flow) {
  std::string kql = "source";
  if (const bj::value* tk = json::FindCI(f, "transformKql"); tk && !tk->is_null()) {
    if (!tk->is_string()) {
      return Invalid("InvalidTransformQuery", "transformKql of " + where + " must be a string.");
    }
    kql = std::string(tk->get_string());
    flow["transformKql"] = kql;
  }
  if (auto q = kql::ParseQuery(kql); !q.ok()) {
    return Invalid("InvalidTransformQuery",
                   "The transformKql of " + where + " is not valid KQL: " + q.status().message());
  }
  if (kql == "source" || out_streams.empty()) return OkStatus();
  const bj::value* decl = nullptr;
  for (const auto& kv : streams) {
    if (kv.key() == out_streams[0].as_string()) decl = &kv.value();
  }
  if (decl == nullptr) return OkStatus();
  if (Status st = CheckTransform(kql, decl->as_object()); !st.ok()) {
    return Invalid("InvalidTransformQuery",
                   "The transformKql of " + where + " is not valid: " + st.message());
  }
  return OkStatus();
}

}  // namespace

Status InsightsProvider::BuildFlows(const bj::object& in, const bj::object& props, bj::array& out) {
  const bj::object& streams = props.at("streamDeclarations").as_object();
  const bj::array& dests = props.at("destinations").as_object().at("logAnalytics").as_array();
  const bj::value* fv = json::FindCI(in, "dataFlows");
  if (fv && !fv->is_null() && !fv->is_array())
    return Invalid("InvalidDataFlow", "dataFlows must be an array.");
  const bj::array flows = fv && fv->is_array() ? fv->as_array() : bj::array();
  if (flows.size() > kMaxRuleItems)
    return Invalid("InvalidDataFlow",
                   "A rule has at most " + std::to_string(kMaxRuleItems) + " data flows.");
  for (size_t i = 0; i < flows.size(); ++i) {
    std::string where = "dataFlows[" + std::to_string(i) + "]";
    if (!flows[i].is_object()) return Invalid("InvalidDataFlow", where + " must be an object.");
    const bj::object& f = flows[i].as_object();
    const bj::value* sv = json::FindCI(f, "streams");
    const bj::value* dv = json::FindCI(f, "destinations");
    if (sv) RETURN_IF_ERROR(CheckStrings(*sv, where + ".streams", "InvalidDataFlow"));
    if (dv) RETURN_IF_ERROR(CheckStrings(*dv, where + ".destinations", "InvalidDataFlow"));
    if (const bj::value* os = json::FindCI(f, "outputStream");
        os && !os->is_null() && !os->is_string()) {
      return Invalid("InvalidOutputTable", "outputStream of " + where + " must be a string.");
    }
    if (!sv || Strings(*sv).empty() || !dv || Strings(*dv).empty()) {
      return Invalid("InvalidDataFlow", where + " needs non-empty 'streams' and 'destinations'.");
    }
    auto out_streams = FlowStreams(Strings(*sv), streams, where);
    if (!out_streams.ok()) return out_streams.status();
    bj::array out_dests;
    std::vector<const bj::object*> targets;
    for (const std::string& d : Strings(*dv)) {
      auto it = std::find_if(dests.begin(), dests.end(),
                             [&](const bj::value& e) { return Is(Str(e.as_object(), "name"), d); });
      if (it == dests.end()) {
        return Invalid("InvalidDataFlow", "The destination '" + d + "' of " + where +
                                              " is not declared in destinations.");
      }
      targets.push_back(&it->as_object());
      out_dests.emplace_back(Str(it->as_object(), "name"));
    }
    bj::object flow{{"streams", *out_streams}, {"destinations", std::move(out_dests)}};
    RETURN_IF_ERROR(FlowTransform(f, where, *out_streams, streams, flow));
    std::vector<std::string> outputs;
    std::string given = Str(f, "outputStream");
    if (!given.empty()) {
      outputs.push_back(given);
    } else {
      for (const auto& s : *out_streams) outputs.emplace_back(s.as_string());
    }
    RETURN_IF_ERROR(CheckFlowOutputs(outputs, targets, where));
    if (!given.empty()) flow["outputStream"] = outputs[0];
    out.emplace_back(std::move(flow));
  }
  return OkStatus();
}

// Each output stream names a standard table, or a custom table that exists in every target
// workspace; Microsoft-* names are made canonical in place.
Status InsightsProvider::CheckFlowOutputs(std::vector<std::string>& outputs,
                                          const std::vector<const bj::object*>& targets,
                                          const std::string& where) {
  for (std::string& o : outputs) {
    if (StartsWithCI(o, "Microsoft-")) {
      const char* table = FindCanonical(kStandardTables, o.substr(10));
      if (table == nullptr) {
        return Invalid("InvalidOutputTable",
                       "The output stream '" + o + "' of " + where +
                           " names no standard table (Heartbeat, Syslog, AppTraces, "
                           "ContainerLogV2).");
      }
      o = std::string("Microsoft-") + table;
      continue;
    }
    // The table name reaches blob names downstream: the same rule as creating the table.
    std::string table = StartsWithCI(o, "Custom-") ? o.substr(7) : "";
    if (!ValidCustomTableName(table)) {
      return Invalid("InvalidOutputTable",
                     "The output stream '" + Echo(o) + "' of " + where +
                         " must be 'Custom-<Name>_CL' (a valid custom table name) or "
                         "'Microsoft-<Table>'.");
    }
    for (const bj::object* t : targets) {
      std::string ws = Str(*t, "workspaceResourceId");
      ASSIGN_OR_RETURN(auto doc, store_->Get(kArm, ws + "/tables/" + table));
      if (!doc) {
        return Invalid("InvalidOutputTable",
                       "Table for output stream '" + o + "' is not available for destination '" +
                           Str(*t, "name") + "': create the table '" + table +
                           "' in workspace '" + ws + "' first.");
      }
    }
  }
  return OkStatus();
}

}  // namespace cmk::control
