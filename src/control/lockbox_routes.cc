// Microsoft.CustomerLockbox over ARM, the admin endpoints of operators, and the layer that gates
// operators' reads of customer data on the management endpoint (control/lockbox.h).
#include "base/encoding.h"
#include "base/json.h"
#include "control/arm_util.h"
#include "control/lockbox.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
// Said wherever a grant is described: the API's answers and the errors.
constexpr char kNotCovered[] =
    "Customer Lockbox does not cover Auxiliary-plan tables: an approved request grants no access to them "
    "(cmklogs keeps operators out of them while Lockbox is enabled).";

bj::object RequestJson(const LockboxRequest& q) {
  std::string ids;
  bj::array requested;
  for (const auto& r : q.resource_ids) {
    ids += (ids.empty() ? "" : ",") + r;
    requested.emplace_back(r);
  }
  bj::object props{{"requestId", q.id},
                   {"justification", q.justification},
                   {"status", q.status},
                   {"createdDateTime", FormatRfc3339(q.created)},
                   {"expirationDateTime", FormatRfc3339(q.expires)},
                   {"duration", LockboxHours(q.duration)},
                   {"resourceIds", ids},
                   {"requestedResourceIds", std::move(requested)},
                   {"resourceType", q.resource_type},
                   {"supportRequest", q.support_request},
                   {"supportCaseUrl", q.support_request.empty() ? "" : "cmklogs:support/" + q.support_request},
                   {"workitemsource", "cmklogs support request"},
                   {"subscriptionId", q.subscription_id},
                   {"accessLevel", "Read: queries and saved searches of the named resources"},
                   {"requestedBy", q.requester},
                   {"notCovered", kNotCovered}};
  if (q.decided) {
    props["approval"] = bj::object{{"decidedBy", q.decided_by},
                                   {"reason", q.reason},
                                   {"decidedDateTime", FormatRfc3339(*q.decided)}};
  }
  return bj::object{{"id", LockboxRequestArmId(q)},
                    {"name", "LockboxRequest_" + q.id},
                    {"type", "requests"},
                    {"properties", std::move(props)}};
}

ArmResponse NotPending(const LockboxRequest& q, const std::string& decision) {
  bj::object info{{"type", "LockboxRequestStatus"}, {"info", bj::object{{"currentStatus", q.status}}}};
  return Json(409, bj::object{{"error", bj::object{{"code", "LockboxRequestNotPending"},
                                                   {"message", "The request '" + q.id + "' is " + q.status +
                                                                   ": it cannot be given the decision '" +
                                                                   decision + "'."},
                                                   {"target", q.id},
                                                   {"additionalInfo", bj::array{std::move(info)}}}}});
}

}  // namespace

std::optional<ArmResponse> Lockbox::Route(const ArmRequest& r) {
  auto seg = SplitPath(r.path);
  if (seg.size() >= 2 && Is(seg[0], "providers") && Is(seg[1], kLockboxNamespace)) return TenantRoutes(r, seg);
  if (seg.size() >= 5 && Is(seg[0], "subscriptions") && Is(seg[2], "providers") && Is(seg[3], kLockboxNamespace)) {
    return RequestRoutes(r, seg);
  }
  if (seg.size() >= 3 && Is(seg[0], "cmklogs") && Is(seg[1], "admin") &&
      (Is(seg[2], "lockbox") || Is(seg[2], "operators"))) {
    return AdminRoutes(r, seg);
  }
  return std::nullopt;
}

ArmResponse Lockbox::TenantRoutes(const ArmRequest& r, const std::vector<std::string>& seg) {
  if (seg.size() == 3 && Is(seg[2], "operations") && r.method == "GET") {
    bj::array ops;
    for (const char* n : {"requests/read", "requests/UpdateApproval/action", "tenantOptedIn/read",
                          "enableLockbox/action", "disableLockbox/action"}) {
      std::string name = std::string(kLockboxNamespace) + "/" + n;
      ops.emplace_back(bj::object{{"name", name},
                                  {"isDataAction", false},
                                  {"display", bj::object{{"provider", "Customer Lockbox"}, {"operation", name}}}});
    }
    return Json(200, bj::object{{"value", std::move(ops)}});
  }
  if (seg.size() == 4 && Is(seg[2], "tenantOptedIn") && r.method == "GET") {
    if (!EqualsIgnoreCase(seg[3], r.caller.tenant_id) && !IsOperator(r.caller.object_id)) {
      return ArmError(PermissionDenied("The client '" + r.caller.object_id + "' may not read tenant '" + seg[3] + "'.",
                                       "AuthorizationFailed"));
    }
    return Json(200, bj::object{{"isOptedIn", OptedIn(seg[3])}});
  }
  if (seg.size() == 3 && (Is(seg[2], "enableLockbox") || Is(seg[2], "disableLockbox"))) {
    if (r.method != "POST") return ArmError(InvalidArgument("Use POST.", "MethodNotAllowed"));
    if (Status s = SetOptIn(r.caller, Is(seg[2], "enableLockbox")); !s.ok()) return ArmError(s);
    return ArmResponse{200, std::nullopt, {}};
  }
  return ArmError(NotFound("No route for '" + r.method + " " + r.path + "' on the management endpoint.", "NotFound"));
}

ArmResponse Lockbox::RequestRoutes(const ArmRequest& r, const std::vector<std::string>& seg) {
  const std::string& sub = seg[1];
  if (seg.size() < 5 || !Is(seg[4], "requests") || seg.size() > 7) {
    return ArmError(NotFound("No route for '" + r.method + " " + r.path + "'.", "NotFound"));
  }
  std::string scope = "/subscriptions/" + sub;
  if (TenantOf(sub).empty()) return ArmError(NotFound("The subscription '" + sub + "' could not be found.", "SubscriptionNotFound"));
  if (seg.size() == 7 && Is(seg[6], "updateApproval") && r.method == "POST") {
    auto body = json::ParseObject(r.body.empty() ? "{}" : r.body);
    if (!body.ok()) return ArmError(InvalidArgument("The request body is malformed.", "InvalidRequestContent"));
    // The schema says `status`; the spec's example says `decision`: both are accepted.
    std::string decision = Str(*body, "status");
    if (decision.empty()) decision = Str(*body, "decision");
    std::string reason = Str(*body, "reason");
    auto q = Decide(r.caller, sub, seg[5], decision, reason);
    if (!q.ok() && q.status().error_code() == "LockboxRequestNotPending") {
      auto current = Get(sub, seg[5]);
      if (current.ok() && *current) return NotPending(**current, decision);
    }
    if (!q.ok()) return ArmError(q.status());
    return Json(200, bj::object{{"status", decision}, {"reason", reason}});
  }
  if (r.method != "GET") return ArmError(InvalidArgument("Use GET.", "MethodNotAllowed"));
  if (Status s = rbac_->Authorize(r.caller, "Microsoft.CustomerLockbox/requests/read", scope); !s.ok()) {
    return ArmError(s);
  }
  if (seg.size() == 6) {
    auto q = Get(sub, seg[5]);
    if (!q.ok()) return ArmError(q.status());
    if (!*q) return ArmError(NotFound("The Customer Lockbox request '" + seg[5] + "' was not found.", "RequestNotFound"));
    return Json(200, RequestJson(**q));
  }
  // $filter: `properties/status eq 'Pending'` (the only filter the API documents).
  std::string want;
  std::string_view f = r.Query("$filter");
  if (!f.empty()) {
    size_t open = f.find('\''), close = f.rfind('\'');
    if (f.size() > 256 || !StartsWithIgnoreCase(f, "properties/status") || open == std::string_view::npos ||
        close <= open) {
      return ArmError(InvalidArgument("Supported filter: properties/status eq '<status>'.", "InvalidFilter"));
    }
    want = std::string(f.substr(open + 1, close - open - 1));
  }
  auto all = List(sub);
  if (!all.ok()) return ArmError(all.status());
  bj::array value;
  for (const auto& q : *all) {
    if (want.empty() || EqualsIgnoreCase(q.status, want)) value.emplace_back(RequestJson(q));
  }
  return Json(200, bj::object{{"value", std::move(value)}});
}

ArmResponse Lockbox::AdminRoutes(const ArmRequest& r, const std::vector<std::string>& seg) {
  if (!IsOperator(r.caller.object_id)) {
    return ArmError(PermissionDenied("The client '" + r.caller.object_id + "' is not an operator of the instance.",
                                     "AuthorizationFailed"));
  }
  if (seg.size() == 4 && Is(seg[2], "lockbox") && Is(seg[3], "requests") && r.method == "POST") {
    auto body = json::ParseObject(r.body.empty() ? "{}" : r.body);
    if (!body.ok()) return ArmError(InvalidArgument("The request body is malformed.", "InvalidRequestContent"));
    std::vector<std::string> resources;
    if (const bj::value* ws = body->if_contains("workspaces"); ws != nullptr && ws->is_array()) {
      for (const auto& w : ws->get_array()) {
        if (w.is_string()) resources.emplace_back(w.get_string());
      }
    }
    // Storage accounts by name or resource id.
    if (const bj::value* sa = body->if_contains("storageAccounts"); sa != nullptr && sa->is_array()) {
      for (const auto& a : sa->get_array()) {
        if (!a.is_string() || a.get_string().size() > 1024) continue;
        std::string id(a.get_string());
        if (options_.resolve_storage_account) {
          auto resolved = options_.resolve_storage_account(id);
          if (!resolved.ok()) return ArmError(resolved.status());
          id = *resolved;
        }
        resources.push_back(std::move(id));
      }
    }
    Duration duration{};
    if (std::string d = Str(*body, "duration"); !d.empty()) {
      auto parsed = ParseIsoDuration(d);
      if (!parsed.ok()) return ArmError(InvalidArgument("'duration' is not an ISO 8601 duration.", "InvalidRequestContent"));
      duration = *parsed;
    }
    auto q = Open(r.caller, resources, Str(*body, "reason"), duration, Str(*body, "supportRequest"));
    if (!q.ok()) return ArmError(q.status());
    return Json(201, RequestJson(*q));
  }
  // Operators are named by the first-start admin only.
  bool admin = EqualsIgnoreCase(r.caller.object_id, options_.admin_object_id);
  if (seg.size() == 3 && Is(seg[2], "operators") && r.method == "GET") {
    bj::array value;
    for (const auto& o : Operators()) value.emplace_back(o);
    return Json(200, bj::object{{"value", std::move(value)}});
  }
  if (seg.size() == 4 && Is(seg[2], "operators") && (r.method == "PUT" || r.method == "DELETE")) {
    if (!admin) return ArmError(PermissionDenied("Only the instance's admin names operators.", "AuthorizationFailed"));
    if (!IsGuid(seg[3])) return ArmError(InvalidArgument("Operators are named by object id.", "InvalidRequestContent"));
    if (EqualsIgnoreCase(seg[3], options_.admin_object_id)) {
      return ArmError(InvalidArgument("The admin is always an operator.", "InvalidRequestContent"));
    }
    if (Status s = SetOperator(seg[3], r.method == "PUT"); !s.ok()) return ArmError(s);
    return Json(200, bj::object{{"objectId", ToLower(seg[3])}, {"operator", r.method == "PUT"}});
  }
  return ArmError(NotFound("No route for '" + r.method + " " + r.path + "' on the management endpoint.", "NotFound"));
}

ArmResponse Lockbox::GateReads(const ArmRequest& r, const ArmService::Next& next) {
  // Fast path: nothing to gate unless some tenant has Lockbox and the caller is an operator.
  // (`next` runs without mu_: the routes below take it.)
  bool any = false;
  {
    MutexLock l(&mu_);
    any = !opted_in_.empty();
  }
  if (!any || !IsOperator(r.caller.object_id)) return next(r);
  auto seg = SplitPath(r.path);
  // A vault's key operations are the customer's too; no request names a vault.
  if (seg.size() == 5 && Is(seg[0], "cmklogs") && Is(seg[2], "vaults") && Is(seg[4], "audit") &&
      options_.resolve_vault) {
    std::string vault = options_.resolve_vault(seg[3]);
    if (!vault.empty()) {
      auto grant = CheckAccess(r.caller, vault);
      if (!grant.ok()) return ArmError(grant.status());
    }
    return next(r);
  }
  // .../providers/Microsoft.OperationalInsights/workspaces/{ws}/savedSearches[...] (GET),
  // .../workspaces/{ws}/sharedKeys and .../storageAccounts/{a}/listKeys|listAccountSas (POST).
  size_t owner = 0;
  std::string what;
  for (size_t i = 0; i + 2 < seg.size(); ++i) {
    bool ws = Is(seg[i], "workspaces"), sa = Is(seg[i], "storageAccounts");
    const std::string& child = seg[i + 2];
    if (ws && Is(child, "savedSearches") && r.method == "GET") what = "Microsoft.OperationalInsights/workspaces/savedSearches/read";
    if (ws && Is(child, "sharedKeys") && r.method == "POST") what = "Microsoft.OperationalInsights/workspaces/sharedKeys/action";
    if (sa && (Is(child, "listKeys") || Is(child, "listAccountSas")) && r.method == "POST") {
      what = "Microsoft.Storage/storageAccounts/" + child + "/action";
    }
    if (!what.empty()) {
      owner = i + 2;
      break;
    }
  }
  if (what.empty()) return next(r);
  std::string resource;
  for (size_t i = 0; i < owner; ++i) resource += "/" + seg[i];
  auto grant = CheckAccess(r.caller, resource);
  if (!grant.ok()) return ArmError(grant.status());
  ArmResponse out = next(r);
  if (*grant && out.status < 300) {
    int64_t rows = 0;
    if (out.body && out.body->is_object()) {
      const bj::value* v = out.body->get_object().if_contains("value");
      rows = v != nullptr && v->is_array() ? static_cast<int64_t>(v->get_array().size()) : 1;
    }
    RecordAccess(r.caller, **grant, what, r.method + " " + r.path, rows);
  }
  return out;
}


}  // namespace cmk::control
