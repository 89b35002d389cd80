#include "control/activity_log.h"

#include <cstdio>
#include <cstdlib>

#include "base/encoding.h"
#include "base/json.h"
#include "control/arm_checks.h"
#include "control/arm_util.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
constexpr char kKind[] = "activity-event";
constexpr size_t kMaxFilter = 4096;
constexpr size_t kMaxClauses = 16;

// Storage keys sort by time, then by order of recording (events of one tick, as a write's
// Started and Succeeded on a frozen clock): 20 digits of ticks, 12 of sequence, the event's id.
std::string KeyOf(TimePoint t, uint64_t seq, const std::string& id) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%020lld-%012llu-", static_cast<long long>(Ticks(t)),
                static_cast<unsigned long long>(seq % 1'000'000'000'000ULL));
  return buf + id;
}

std::string TimeKey(TimePoint t) { return KeyOf(t, 0, ""); }

bj::object Localizable(const std::string& v) { return bj::object{{"value", v}, {"localizedValue", v}}; }

std::string Field(const bj::object& o, const char* k) {
  const bj::value* v = o.if_contains(k);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : "";
}

bj::object EventToDoc(const ActivityEvent& e) {
  bj::object props;
  for (const auto& [k, v] : e.properties) props[k] = v;
  return bj::object{{"time", FormatRfc3339(e.time)},   {"eventDataId", e.event_data_id},
                    {"correlationId", e.correlation_id}, {"operationId", e.operation_id},
                    {"caller", e.caller},               {"callerAppId", e.caller_app_id},
                    {"tenantId", e.tenant_id},          {"subscriptionId", e.subscription_id},
                    {"resourceId", e.resource_id},      {"operation", e.operation},
                    {"status", e.status},               {"subStatus", e.sub_status},
                    {"level", e.level},                 {"category", e.category},
                    {"description", e.description},     {"method", e.http_method},
                    {"clientIp", e.client_ip},          {"clientRequestId", e.client_request_id},
                    {"properties", std::move(props)}};
}

std::optional<ActivityEvent> EventFromDoc(std::string_view body) {
  auto o = json::ParseObject(body);
  if (!o.ok()) return std::nullopt;
  auto t = ParseRfc3339(Field(*o, "time"));
  if (!t.ok()) return std::nullopt;
  ActivityEvent e;
  e.time = *t;
  e.event_data_id = Field(*o, "eventDataId");
  e.correlation_id = Field(*o, "correlationId");
  e.operation_id = Field(*o, "operationId");
  e.caller = Field(*o, "caller");
  e.caller_app_id = Field(*o, "callerAppId");
  e.tenant_id = Field(*o, "tenantId");
  e.subscription_id = Field(*o, "subscriptionId");
  e.resource_id = Field(*o, "resourceId");
  e.operation = Field(*o, "operation");
  e.status = Field(*o, "status");
  e.sub_status = Field(*o, "subStatus");
  e.level = Field(*o, "level");
  e.category = Field(*o, "category");
  e.description = Field(*o, "description");
  e.http_method = Field(*o, "method");
  e.client_ip = Field(*o, "clientIp");
  e.client_request_id = Field(*o, "clientRequestId");
  if (const bj::value* p = o->if_contains("properties"); p != nullptr && p->is_object()) {
    for (const auto& [k, v] : p->get_object()) {
      if (v.is_string()) e.properties.emplace_back(std::string(k), std::string(v.get_string()));
    }
  }
  return e;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && IsAsciiSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsAsciiSpace(s.back())) s.remove_suffix(1);
  return s;
}

std::string ProviderOf(const std::string& operation) { return operation.substr(0, operation.find('/')); }

// "Microsoft.OperationalInsights/workspaces/linkedServices" of an operation name.
std::string ResourceTypeOf(const std::string& operation) {
  size_t last = operation.rfind('/');
  if (last == std::string::npos) return operation;
  std::string type = operation.substr(0, last);
  bool action = operation.size() > 7 && operation.compare(operation.size() - 7, 7, "/action") == 0;
  if (action && type.rfind('/') != std::string::npos) type = type.substr(0, type.rfind('/'));
  return type;
}

bool Matches(const ActivityEvent& e, const ActivityFilter& f) {
  if (!f.subscription_id.empty()) {
    bool tenant_level = e.subscription_id.empty() && !f.tenant_id.empty() && Is(e.tenant_id, f.tenant_id);
    if (!tenant_level && !Is(e.subscription_id, f.subscription_id)) return false;
  }
  if (f.from && e.time < *f.from) return false;
  if (f.to && e.time > *f.to) return false;
  if (!f.resource_group.empty() && !Is(ResourceGroupOf(e.resource_id), f.resource_group)) return false;
  if (!f.resource_id.empty() && !Is(e.resource_id, f.resource_id)) return false;
  if (!f.resource_provider.empty() && !Is(ProviderOf(e.operation), f.resource_provider)) return false;
  if (!f.correlation_id.empty() && !Is(e.correlation_id, f.correlation_id)) return false;
  if (!f.caller.empty() && !Is(e.caller, f.caller) && !Is(e.caller_app_id, f.caller)) return false;
  if (!f.status.empty() && !Is(e.status, f.status)) return false;
  return true;
}

// A filter timestamp: RFC 3339, or naive (no zone: UTC, as az sends its defaults).
Result<TimePoint> FilterTime(std::string_view v) {
  std::string text(v);
  if (text.size() > 19 && text.find_first_of("Zz+", 19) == std::string::npos &&
      text.find('-', 19) == std::string::npos) {
    text += "Z";
  } else if (text.size() == 19) {
    text += "Z";
  }
  auto t = ParseRfc3339(text);
  if (!t.ok()) return InvalidArgument("The eventTimestamp '" + std::string(v) + "' is not a valid time.", "BadRequest");
  return *t;
}

struct Clause {
  std::string field, op, value;
};

// One `field op value` clause at `s[i]`; the value quoted ('' is a quote) or a run of non-space.
Result<Clause> NextClause(std::string_view s, size_t& i) {
  auto skip = [&] {
    while (i < s.size() && IsAsciiSpace(s[i])) ++i;
  };
  auto word = [&] {
    size_t b = i;
    while (i < s.size() && !IsAsciiSpace(s[i]) && s[i] != '\'') ++i;
    return std::string(s.substr(b, i - b));
  };
  Clause c;
  skip();
  c.field = word();
  skip();
  c.op = ToLower(word());
  skip();
  if (i < s.size() && s[i] == '\'') {
    for (++i;; ++i) {
      if (i >= s.size()) return InvalidArgument("Unterminated quote in $filter.", "BadRequest");
      if (s[i] == '\'') {
        if (i + 1 < s.size() && s[i + 1] == '\'') {
          c.value.push_back('\'');
          ++i;
          continue;
        }
        ++i;
        break;
      }
      c.value.push_back(s[i]);
    }
  } else {
    c.value = word();
  }
  if (c.field.empty() || c.op.empty() || c.value.empty()) {
    return InvalidArgument("The $filter '" + std::string(s) + "' is not valid: expected '<field> <op> <value>'.",
                           "BadRequest");
  }
  return c;
}

Status ApplyClause(const Clause& c, ActivityFilter& f) {
  std::string field = ToLower(c.field);
  if (field == "eventtimestamp") {
    ASSIGN_OR_RETURN(TimePoint t, FilterTime(c.value));
    if (c.op == "ge" || c.op == "gt") {
      f.from = t;
    } else if (c.op == "le" || c.op == "lt") {
      f.to = t;
    } else {
      return InvalidArgument("eventTimestamp supports ge and le, not '" + c.op + "'.", "BadRequest");
    }
    return OkStatus();
  }
  if (c.op != "eq") return InvalidArgument("'" + c.field + "' supports eq only, not '" + c.op + "'.", "BadRequest");
  std::string* target = field == "resourcegroupname"  ? &f.resource_group
                        : field == "resourceuri"      ? &f.resource_id
                        : field == "resourceid"       ? &f.resource_id
                        : field == "resourceprovider" ? &f.resource_provider
                        : field == "correlationid"    ? &f.correlation_id
                        : field == "caller"           ? &f.caller
                        : field == "status"           ? &f.status
                                                      : nullptr;
  if (target == nullptr) {
    return InvalidArgument("The $filter field '" + c.field +
                               "' is not supported. Supported: eventTimestamp, resourceGroupName, resourceUri, "
                               "resourceId, resourceProvider, correlationId, caller, status.",
                           "BadRequest");
  }
  *target = c.value;
  return OkStatus();
}

// The operation name and resource of an ARM write: PUT/PATCH ".../write", DELETE ".../delete",
// POST ".../{action}/action" on the resource the action names (its last segment dropped).
std::pair<std::string, std::string> OperationOf(const ArmRequest& r) {
  auto seg = SplitPath(r.path);
  size_t ns = seg.size();
  for (size_t i = 0; i + 1 < seg.size(); ++i) {
    if (Is(seg[i], "providers")) ns = i + 1;
  }
  std::string provider = ns < seg.size() ? seg[ns] : "Microsoft.Resources";
  size_t first = ns < seg.size() ? ns + 1 : 0;
  std::vector<std::string> rest(seg.begin() + static_cast<long>(first), seg.end());
  std::string action;
  if (r.method == "POST" && rest.size() % 2 == 1) {
    action = rest.back();
    rest.pop_back();
  }
  std::string op = provider;
  for (size_t i = 0; i < rest.size(); i += 2) op += "/" + rest[i];
  op += r.method == "DELETE" ? "/delete" : !action.empty() ? "/" + action + "/action" : "/write";
  std::string resource;
  for (size_t i = 0; i < seg.size() - (action.empty() ? 0 : 1); ++i) resource += "/" + seg[i];
  return {op, resource};
}

std::string SubStatus(int status) {
  const char* name = status == 200   ? "OK"
                     : status == 201 ? "Created"
                     : status == 202 ? "Accepted"
                     : status == 204 ? "NoContent"
                     : status == 400 ? "BadRequest"
                     : status == 401 ? "Unauthorized"
                     : status == 403 ? "Forbidden"
                     : status == 404 ? "NotFound"
                     : status == 409 ? "Conflict"
                     : status == 429 ? "TooManyRequests"
                     : status >= 500 ? "InternalServerError"
                                     : "Other";
  return std::string(name) + " (HTTP Status Code: " + std::to_string(status) + ")";
}

}  // namespace

std::string ResourceGroupOf(std::string_view resource_id) {
  auto seg = SplitPath(resource_id);
  if (seg.size() >= 4 && Is(seg[0], "subscriptions") && Is(seg[2], "resourceGroups")) return seg[3];
  return "";
}

Result<ActivityFilter> ParseActivityFilter(std::string_view text) {
  if (text.size() > kMaxFilter) {
    return InvalidArgument("The $filter is longer than " + std::to_string(kMaxFilter) + " characters.", "BadRequest");
  }
  ActivityFilter f;
  size_t i = 0, clauses = 0;
  while (true) {
    while (i < text.size() && IsAsciiSpace(text[i])) ++i;
    if (i == text.size()) break;
    if (++clauses > kMaxClauses) return InvalidArgument("The $filter has too many clauses.", "BadRequest");
    ASSIGN_OR_RETURN(Clause c, NextClause(text, i));
    RETURN_IF_ERROR(ApplyClause(c, f));
    while (i < text.size() && IsAsciiSpace(text[i])) ++i;
    if (i == text.size()) break;
    if (text.size() - i < 4 || !EqualsIgnoreCase(text.substr(i, 3), "and") || !IsAsciiSpace(text[i + 3])) {
      return InvalidArgument("Clauses of the $filter must be joined with 'and'.", "BadRequest");
    }
    i += 3;
  }
  return f;
}

ActivityLog::ActivityLog(env::Env env, meta::MetadataStore* store, identity::Rbac* rbac,
                         ActivityLogOptions options)
    : env_(env), store_(store), rbac_(rbac), options_(options) {
  // The sequence goes on from the last event stored, so a restart on a frozen clock (same tick)
  // still lists events in the order they happened.
  auto docs = store_->List(kKind, "");
  if (docs.ok() && !docs->empty()) {
    const std::string& last = docs->back().id;
    if (last.size() > 33) seq_ = std::strtoull(last.substr(21, 12).c_str(), nullptr, 10) + 1;
  }
}

Status ActivityLog::Record(ActivityEvent e) {
  if (e.event_data_id.empty()) e.event_data_id = env_.random->NewGuid();
  if (e.correlation_id.empty()) e.correlation_id = env_.random->NewGuid();
  if (e.operation_id.empty()) e.operation_id = e.correlation_id;
  if (e.tenant_id.empty() && !e.subscription_id.empty()) {
    auto doc = store_->Get(kSubscriptionKind, e.subscription_id);
    if (doc.ok() && *doc) {
      if (auto o = json::ParseObject((*doc)->body); o.ok()) e.tenant_id = Field(*o, "tenantId");
    }
  }
  e.key = KeyOf(e.time, seq_.fetch_add(1), e.event_data_id);
  return store_->Put(kKind, e.key, json::Serialize(EventToDoc(e)));
}

Result<ActivityLog::Page> ActivityLog::List(const ActivityFilter& f, std::string_view after, size_t limit) const {
  ASSIGN_OR_RETURN(auto docs, store_->List(kKind, ""));
  // Keys start with the time: everything before `from` is skipped without being parsed.
  std::string start = f.from ? TimeKey(*f.from) : "";
  Page page;
  for (const auto& d : docs) {
    if (d.id < start || (!after.empty() && d.id <= after)) continue;
    auto e = EventFromDoc(d.body);
    if (!e || !Matches(*e, f)) continue;
    if (page.events.size() == limit) {
      page.next = page.events.back().key;
      break;
    }
    e->key = d.id;
    page.events.push_back(std::move(*e));
  }
  return page;
}

bj::object ActivityLog::EventJson(const ActivityEvent& e) {
  std::string type = ResourceTypeOf(e.operation), provider = ProviderOf(e.operation);
  bj::object props;
  for (const auto& [k, v] : e.properties) props[k] = v;
  bj::object out{
      {"authorization", bj::object{{"action", e.operation}, {"scope", e.resource_id}}},
      {"caller", e.caller},
      {"channels", "Operation"},
      {"claims", bj::object{{"appid", e.caller_app_id},
                            {"http://schemas.microsoft.com/identity/claims/objectidentifier", e.caller},
                            {"http://schemas.microsoft.com/identity/claims/tenantid", e.tenant_id}}},
      {"correlationId", e.correlation_id},
      {"description", e.description},
      {"eventDataId", e.event_data_id},
      {"eventName", Localizable(e.status == "Started" ? "BeginRequest" : "EndRequest")},
      {"category", Localizable(e.category)},
      {"id", e.resource_id + "/events/" + e.event_data_id + "/ticks/" + std::to_string(Ticks(e.time))},
      {"level", e.level},
      {"resourceGroupName", ResourceGroupOf(e.resource_id)},
      {"resourceProviderName", Localizable(provider)},
      {"resourceId", e.resource_id},
      {"resourceType", Localizable(type)},
      {"operationId", e.operation_id},
      {"operationName", Localizable(e.operation)},
      {"properties", std::move(props)},
      {"status", Localizable(e.status)},
      {"subStatus", Localizable(e.sub_status)},
      {"eventTimestamp", FormatRfc3339(e.time)},
      {"submissionTimestamp", FormatRfc3339(e.time)},
      {"subscriptionId", e.subscription_id},
      {"tenantId", e.tenant_id}};
  if (!e.http_method.empty()) {
    out["httpRequest"] = bj::object{
        {"clientRequestId", e.client_request_id}, {"clientIpAddress", e.client_ip}, {"method", e.http_method}};
  }
  return out;
}

std::optional<ArmResponse> ActivityLog::Route(const ArmRequest& r) {
  auto seg = SplitPath(r.path);
  // /providers/Microsoft.Insights/eventcategories
  if (seg.size() == 3 && Is(seg[0], "providers") && Is(seg[1], "Microsoft.Insights") && Is(seg[2], "eventcategories")) {
    if (r.method != "GET") return ArmError(InvalidArgument("Use GET.", "MethodNotAllowed"));
    bj::array value;
    for (const char* c : {"Administrative", "Security", "ServiceHealth", "Alert", "Recommendation", "Policy",
                          "Autoscale", "ResourceHealth"}) {
      value.emplace_back(Localizable(c));
    }
    return Json(200, bj::object{{"value", std::move(value)}});
  }
  // /subscriptions/{s}/providers/Microsoft.Insights/eventtypes/management/values
  if (seg.size() == 7 && Is(seg[0], "subscriptions") && Is(seg[2], "providers") &&
      Is(seg[3], "Microsoft.Insights") && Is(seg[4], "eventtypes") && Is(seg[5], "management") &&
      Is(seg[6], "values")) {
    if (r.method != "GET") return ArmError(InvalidArgument("Use GET.", "MethodNotAllowed"));
    return ListValues(r, seg[1]);
  }
  return std::nullopt;
}

ArmResponse ActivityLog::ListValues(const ArmRequest& r, const std::string& sub) {
  if (r.Query("api-version").empty()) {
    return ArmError(InvalidArgument("The api-version query parameter (?api-version=) is required for all requests.",
                                    "MissingApiVersionParameter"));
  }
  auto sub_doc = store_->Get(kSubscriptionKind, sub);
  if (!sub_doc.ok()) return ArmError(sub_doc.status());
  if (!*sub_doc) return ArmError(NotFound("The subscription '" + sub + "' could not be found.", "SubscriptionNotFound"));
  auto f = ParseActivityFilter(r.Query("$filter"));
  if (!f.ok()) return ArmError(f.status());
  f->subscription_id = sub;
  if (auto o = json::ParseObject((*sub_doc)->body); o.ok()) f->tenant_id = Field(*o, "tenantId");
  // Readers of the subscription see all of it; a group's readers may ask for their group.
  std::string scope = "/subscriptions/" + sub + (f->resource_group.empty() ? "" : "/resourceGroups/" + f->resource_group);
  if (Status s = rbac_->Authorize(r.caller, "Microsoft.Insights/eventtypes/values/read", scope); !s.ok()) {
    return ArmError(s);
  }
  std::string token(r.Query("$skiptoken"));
  if (token.size() > 128) return ArmError(InvalidArgument("The $skiptoken is not valid.", "BadRequest"));
  auto page = List(*f, token, options_.page_size);
  if (!page.ok()) return ArmError(page.status());
  std::vector<std::string> select;
  for (std::string_view rest = r.Query("$select"); !rest.empty();) {
    size_t comma = rest.find(',');
    std::string item(Trim(rest.substr(0, comma)));
    if (!item.empty()) select.push_back(item);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  bj::array value;
  for (const auto& e : page->events) {
    bj::object full = EventJson(e);
    if (select.empty()) {
      value.emplace_back(std::move(full));
      continue;
    }
    bj::object picked;
    for (const auto& k : select) {
      if (const bj::value* v = json::FindCI(full, k)) picked[k] = *v;
    }
    value.emplace_back(std::move(picked));
  }
  bj::object out{{"value", std::move(value)}};
  if (!page->next.empty()) {
    std::string link = r.base_url + "/subscriptions/" + sub +
                       "/providers/Microsoft.Insights/eventtypes/management/values?api-version=" +
                       PercentEncode(r.Query("api-version")) + "&$filter=" + PercentEncode(r.Query("$filter")) +
                       "&$skiptoken=" + PercentEncode(page->next);
    if (r.HasQuery("$select")) link += "&$select=" + PercentEncode(r.Query("$select"));
    out["nextLink"] = link;
  }
  return Json(200, std::move(out));
}

ArmResponse ActivityLog::RecordWrite(const ArmRequest& r, const ArmService::Next& next) {
  auto seg = SplitPath(r.path);
  bool write = r.method == "PUT" || r.method == "PATCH" || r.method == "DELETE" || r.method == "POST";
  // The admin endpoints are not ARM: what they change records its own events.
  if (!write || (!seg.empty() && Is(seg[0], "cmklogs"))) return next(r);
  ActivityEvent e;
  e.time = env_.clock->Now();
  e.correlation_id = r.correlation_id.empty() ? env_.random->NewGuid() : r.correlation_id;
  e.operation_id = env_.random->NewGuid();
  e.caller = r.caller.object_id;
  e.caller_app_id = r.caller.app_id;
  e.tenant_id = r.caller.tenant_id;
  if (seg.size() >= 2 && Is(seg[0], "subscriptions")) e.subscription_id = seg[1];
  std::tie(e.operation, e.resource_id) = OperationOf(r);
  e.status = "Started";
  e.http_method = r.method;
  e.client_ip = r.client_ip;
  e.client_request_id = r.client_request_id;
  e.description = e.operation;
  // The log must not decide whether a change happens: a failed record is dropped, not fatal.
  (void)Record(e);
  ArmResponse out = next(r);
  e.event_data_id.clear();
  e.time = env_.clock->Now();
  e.status = out.status >= 400 ? "Failed" : out.status == 202 ? "Accepted" : "Succeeded";
  e.level = out.status >= 500 ? "Error" : out.status >= 400 ? "Warning" : "Informational";
  e.sub_status = SubStatus(out.status);
  e.properties.emplace_back("statusCode", SubStatus(out.status).substr(0, SubStatus(out.status).find(' ')));
  if (out.status >= 400 && out.body && out.body->is_object()) {
    const bj::value* err = out.body->get_object().if_contains("error");
    if (err != nullptr && err->is_object()) {
      e.properties.emplace_back("statusMessage", json::Serialize(*err));
    }
  }
  (void)Record(std::move(e));
  return out;
}

void KeyEventRecorder::Record(const std::string& cluster_id, const std::string& principal_id,
                              const std::string& kind, const std::string& kid, const std::string& reason) {
  {
    MutexLock l(&mu_);
    std::string& last = last_[ToLower(cluster_id)];
    std::string now = kind + "|" + kid;
    if (last == now) return;
    last = now;
  }
  static const std::map<std::string, std::string> kDescriptions = {
      {"configure", "Customer-managed key configured"},
      {"rotate", "Customer-managed key rotated"},
      {"revoke", "Customer-managed key revoked: the vault refused the resource's identity"},
      {"restore", "Customer-managed key restored"}};
  ActivityEvent e;
  e.time = clock_->Now();
  auto seg = SplitPath(cluster_id);
  if (seg.size() >= 2 && Is(seg[0], "subscriptions")) e.subscription_id = seg[1];
  e.resource_id = cluster_id;
  e.caller = principal_id;
  // {namespace}/{type} of the resource: Microsoft.OperationalInsights/clusters or
  // Microsoft.Storage/storageAccounts.
  std::string type = "Microsoft.OperationalInsights/clusters";
  for (size_t i = 0; i + 2 < seg.size(); ++i) {
    if (Is(seg[i], "providers")) type = seg[i + 1] + "/" + seg[i + 2];
  }
  e.operation = type + "/key/" + kind + "/action";
  e.status = "Succeeded";
  e.level = kind == "revoke" ? "Warning" : "Informational";
  auto d = kDescriptions.find(kind);
  e.description = d != kDescriptions.end() ? d->second : kind;
  // The key version: the last segment of the kid (https://v.vault.D/keys/name/version).
  std::string version = kid.substr(kid.rfind('/') + 1);
  e.properties = {{"keyVersion", kid.empty() ? "" : version}, {"keyId", kid}, {"reason", reason}};
  (void)log_->Record(std::move(e));
}

}  // namespace cmk::control
