#include "control/arm_service.h"

#include "control/insights_provider.h"
#include "control/oi_provider.h"
#include "control/storage_provider.h"

#include "base/encoding.h"
#include "base/json.h"
#include "control/arm_checks.h"
#include "control/arm_util.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
constexpr char kResourceGroupKind[] = "resourcegroup";
constexpr char kAuthNs[] = "Microsoft.Authorization";
constexpr char kOwnerRoleId[] = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";

std::string Join(const std::vector<std::string>& seg, size_t from, size_t to) {
  std::string out;
  for (size_t i = from; i < to; ++i) out += "/" + seg[i];
  return out.empty() ? "/" : out;
}



Status NotFoundRoute(const ArmRequest& r) {
  return NotFound("No route for '" + r.method + " " + r.path + "' on the management endpoint.",
                  "NotFound");
}

Status MethodNotAllowed(const ArmRequest& r) {
  return Status(StatusCode::kInvalidArgument,
                "The HTTP method '" + r.method + "' is not supported for '" + r.path + "'.",
                "MethodNotAllowed");
}


// common-types ResourceGroupNameParameter: 1..90 of letters, digits, '_', '-', '.', '(' and ')',
// not ending with '.'. ASCII only, as the pattern's `\w` matched in the classic locale.
bool ValidResourceGroupName(const std::string& n) {
  if (n.empty() || n.size() > 90 || n.back() == '.') return false;
  for (char c : n) {
    if (!IsAsciiAlnum(c) && c != '_' && c != '-' && c != '.' && c != '(' && c != ')') return false;
  }
  return true;
}

// $filter values are short; longer ones are refused before any scanning.
constexpr size_t kMaxFilter = 2048;

std::string_view TrimSpace(std::string_view s) {
  while (!s.empty() && IsAsciiSpace(s.front())) s.remove_prefix(1);
  while (!s.empty() && IsAsciiSpace(s.back())) s.remove_suffix(1);
  return s;
}

// `roleName eq 'Reader'` -> ("rolename", "Reader"). Only simple equality filters are supported:
// <word> <spaces> eq <spaces> '<no quote>' with optional spaces around.
std::optional<std::pair<std::string, std::string>> ParseEqFilter(std::string_view f) {
  if (f.size() > kMaxFilter) return std::nullopt;
  std::string_view s = TrimSpace(f);
  size_t i = 0;
  while (i < s.size() && (IsAsciiAlnum(s[i]) || s[i] == '_')) ++i;
  if (i == 0 || i == s.size() || !IsAsciiSpace(s[i])) return std::nullopt;
  std::string key(s.substr(0, i));
  while (i < s.size() && IsAsciiSpace(s[i])) ++i;
  if (s.size() - i < 2 || !EqualsIgnoreCase(s.substr(i, 2), "eq")) return std::nullopt;
  i += 2;
  if (i == s.size() || !IsAsciiSpace(s[i])) return std::nullopt;
  while (i < s.size() && IsAsciiSpace(s[i])) ++i;
  if (i == s.size() || s[i] != '\'') return std::nullopt;
  size_t close = s.find('\'', i + 1);
  // Trimmed, so the closing quote must be the last character.
  if (close != s.size() - 1) return std::nullopt;
  return std::make_pair(ToLower(key), std::string(s.substr(i + 1, close - i - 1)));
}

// The principal of `principalId eq '<id>'` or `assignedTo('<id>')` (the leftmost one), or "".
std::string FilterPrincipal(std::string_view f) {
  for (size_t at = 0; at < f.size(); ++at) {
    std::string_view rest = f.substr(at);
    size_t i = 0;
    if (StartsWithIgnoreCase(rest, "principalId")) {
      i = 11;
      size_t spaces = i;
      while (i < rest.size() && IsAsciiSpace(rest[i])) ++i;
      if (i == spaces || rest.size() - i < 2 || !EqualsIgnoreCase(rest.substr(i, 2), "eq")) continue;
      i += 2;
    } else if (StartsWithIgnoreCase(rest, "assignedTo(")) {
      i = 11;
    } else {
      continue;
    }
    while (i < rest.size() && IsAsciiSpace(rest[i])) ++i;
    if (i == rest.size() || rest[i] != '\'') continue;
    size_t close = rest.find('\'', i + 1);
    if (close == std::string_view::npos || close == i + 1) continue;
    return std::string(rest.substr(i + 1, close - i - 1));
  }
  return "";
}

bj::object RoleDefinitionJson(const identity::RoleDefinition& d, const std::string& scope) {
  auto arr = [](const std::vector<std::string>& v) {
    bj::array a;
    for (const auto& s : v) a.emplace_back(s);
    return a;
  };
  std::string prefix = scope == "/" ? "" : scope;
  bj::object perm{{"actions", arr(d.actions)},
                  {"notActions", arr(d.not_actions)},
                  {"dataActions", arr(d.data_actions)},
                  {"notDataActions", arr(d.not_data_actions)}};
  return bj::object{
      {"id", prefix + "/providers/Microsoft.Authorization/roleDefinitions/" + d.id},
      {"name", d.id},
      {"type", "Microsoft.Authorization/roleDefinitions"},
      {"properties",
       bj::object{{"roleName", d.role_name},
                  {"type", "BuiltInRole"},
                  {"description", d.description},
                  {"assignableScopes", bj::array{"/"}},
                  {"permissions", bj::array{perm}},
                  {"createdOn", "2015-02-02T21:55:09.8806423Z"},
                  {"updatedOn", "2021-11-11T20:13:47.8628684Z"},
                  {"createdBy", nullptr},
                  {"updatedBy", nullptr}}}};
}

std::string SubscriptionOf(const std::string& scope) {
  auto seg = SplitPath(scope);
  if (seg.size() >= 2 && Is(seg[0], "subscriptions")) return seg[1];
  return "";
}

// The admin endpoints' view of the clocks (the offset also as seconds, for scripts).
bj::object ClockJson(const ClockState& c) {
  return bj::object{{"mode", c.mode},
                    {"now", FormatRfc3339(c.now)},
                    {"realNow", FormatRfc3339(c.real_now)},
                    {"offset", FormatIsoDuration(c.offset)},
                    {"offsetSeconds", std::chrono::duration<double>(c.offset).count()}};
}

}  // namespace

std::string_view ArmRequest::Query(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return {};
}

bool ArmRequest::HasQuery(std::string_view name) const {
  for (const auto& [k, v] : query) {
    if (EqualsIgnoreCase(k, name)) return true;
  }
  return false;
}

ArmResponse ArmError(const Status& status) {
  return Json(status.http_status(),
              bj::object{{"error", bj::object{{"code", status.error_code()},
                                              {"message", status.message()}}}});
}

ArmService::ArmService(env::Env env, meta::MetadataStore* store, identity::Directory* directory,
                       identity::Rbac* rbac, InstanceInfo instance, AdminHooks hooks,
                       keyvault::KeyVaultService* keyvault, keyvault::AuditLog* audit)
    : env_(env),
      store_(store),
      directory_(directory),
      rbac_(rbac),
      instance_(std::move(instance)),
      hooks_(std::move(hooks)),
      keyvault_(keyvault),
      audit_(audit) {}

ArmService::~ArmService() = default;

void ArmService::SetOperationalInsights(std::unique_ptr<OperationalInsightsProvider> provider) {
  oi_ = std::move(provider);
}

void ArmService::SetInsights(std::unique_ptr<InsightsProvider> provider) { insights_ = std::move(provider); }

void ArmService::SetStorage(std::unique_ptr<StorageProvider> provider) { storage_ = std::move(provider); }

Status ArmService::EnsureSubscription(const std::string& sub, const std::string& tenant,
                                      const std::string& display_name) {
  ASSIGN_OR_RETURN(auto doc, store_->Get(kSubscriptionKind, sub));
  if (doc) return OkStatus();
  bj::object o{{"subscriptionId", sub},
               {"tenantId", tenant},
               {"displayName", display_name},
               {"state", "Enabled"}};
  return store_->Put(kSubscriptionKind, sub, json::Serialize(o));
}

Status ArmService::EnsureResourceGroup(const std::string& sub, const std::string& name,
                                       const std::string& location) {
  std::string id = "/subscriptions/" + sub + "/resourceGroups/" + name;
  ASSIGN_OR_RETURN(auto doc, store_->Get(kResourceGroupKind, id));
  if (doc) return OkStatus();
  bj::object o{{"id", id},
               {"name", name},
               {"type", "Microsoft.Resources/resourceGroups"},
               {"location", NormalizeLocation(location)},
               {"properties", bj::object{{"provisioningState", "Succeeded"}}}};
  return store_->Put(kResourceGroupKind, id, json::Serialize(o));
}

Result<std::optional<bj::object>> ArmService::LoadSubscription(const std::string& sub) {
  ASSIGN_OR_RETURN(auto doc, store_->Get(kSubscriptionKind, sub));
  if (!doc) return std::optional<bj::object>();
  ASSIGN_OR_RETURN(bj::object o, json::ParseObject(doc->body));
  o["id"] = "/subscriptions/" + std::string(o["subscriptionId"].as_string());
  o["authorizationSource"] = "RoleBased";
  o["subscriptionPolicies"] = bj::object{{"locationPlacementId", "Public_2014-09-01"},
                                         {"quotaId", "PayAsYouGo_2014-09-01"},
                                         {"spendingLimit", "Off"}};
  return std::optional<bj::object>(std::move(o));
}

Status ArmService::CheckScopeExists(const std::string& scope) {
  auto seg = SplitPath(scope);
  if (seg.empty()) return OkStatus();
  if (!Is(seg[0], "subscriptions") || seg.size() < 2) {
    return InvalidArgument("The scope '" + scope + "' is not valid.", "InvalidScope");
  }
  ASSIGN_OR_RETURN(auto sub, store_->Get(kSubscriptionKind, seg[1]));
  if (!sub) {
    return NotFound("The subscription '" + seg[1] + "' could not be found.", "SubscriptionNotFound");
  }
  if (seg.size() >= 4 && Is(seg[2], "resourceGroups")) {
    ASSIGN_OR_RETURN(auto rg, store_->Get(kResourceGroupKind, Join(seg, 0, 4)));
    if (!rg) {
      return NotFound("Resource group '" + seg[3] + "' could not be found.", "ResourceGroupNotFound");
    }
  }
  return OkStatus();
}

void ArmService::AddRoutes(Routes routes) { routes_.push_back(std::move(routes)); }

void ArmService::AddLayer(Layer layer) { layers_.push_back(std::move(layer)); }

ArmResponse ArmService::Handle(const ArmRequest& r) {
  // Layer i runs inside layer i+1: the last added is outermost.
  std::function<ArmResponse(size_t, const ArmRequest&)> run = [&](size_t i, const ArmRequest& q) {
    if (i == 0) return Dispatch(q);
    return layers_[i - 1](q, [&](const ArmRequest& n) { return run(i - 1, n); });
  };
  return run(layers_.size(), r);
}

ArmResponse ArmService::Dispatch(const ArmRequest& r) {
  for (const auto& routes : routes_) {
    if (auto out = routes(r)) return std::move(*out);
  }
  auto seg = SplitPath(r.path);
  if (seg.size() >= 2 && Is(seg[0], "cmklogs") && Is(seg[1], "admin")) return Admin(r, seg);
  if (!r.HasQuery("api-version") || r.Query("api-version").empty()) {
    return ArmError(InvalidArgument(
        "The api-version query parameter (?api-version=) is required for all requests.",
        "MissingApiVersionParameter"));
  }
  // {scope}/providers/Microsoft.Authorization/{roleDefinitions|roleAssignments}[/{name}]
  for (size_t i = 0; i + 2 < seg.size(); ++i) {
    if (Is(seg[i], "providers") && Is(seg[i + 1], kAuthNs)) {
      std::string scope = Join(seg, 0, i);
      if (seg.size() > i + 4) return ArmError(NotFoundRoute(r));
      const std::string* name = seg.size() == i + 4 ? &seg[i + 3] : nullptr;
      if (Is(seg[i + 2], "roleDefinitions")) return RoleDefinitions(r, scope, name);
      if (Is(seg[i + 2], "roleAssignments")) return RoleAssignments(r, scope, name);
      return ArmError(NotFound("The resource type '" + seg[i + 2] +
                                   "' is not supported in namespace 'Microsoft.Authorization'.",
                               "InvalidResourceType"));
    }
  }
  if (seg.empty()) return ArmError(NotFoundRoute(r));
  if (!Is(seg[0], "subscriptions")) return ArmError(NotFoundRoute(r));
  if (seg.size() == 1) {
    if (r.method != "GET") return ArmError(MethodNotAllowed(r));
    return ListSubscriptions(r);
  }
  if (seg.size() == 2) {
    if (r.method != "GET") return ArmError(MethodNotAllowed(r));
    return GetSubscription(r, seg[1]);
  }
  if (Is(seg[2], "resourceGroups") && (seg.size() == 3 || seg.size() == 4)) {
    return ResourceGroups(r, seg[1], seg.size() == 4 ? &seg[3] : nullptr);
  }
  if (Is(seg[2], "resourceGroups") && seg.size() == 5 &&
      (Is(seg[4], "moveResources") || Is(seg[4], "validateMoveResources")) && r.method == "POST") {
    return MoveResources(r, seg[1], seg[3]);
  }
  // /subscriptions/{s}[/resourceGroups/{rg}]/providers/{namespace}/...
  size_t p = Is(seg[2], "resourceGroups") && seg.size() > 4 ? 4 : 2;
  if (seg.size() > p + 1 && Is(seg[p], "providers")) {
    const std::string* rg = p == 4 ? &seg[3] : nullptr;
    std::vector<std::string> rest(seg.begin() + static_cast<long>(p) + 2, seg.end());
    if (Is(seg[p + 1], "Microsoft.KeyVault")) return KeyVaultResources(r, seg[1], rg, rest);
    bool oi = Is(seg[p + 1], "Microsoft.OperationalInsights"), mi = Is(seg[p + 1], "Microsoft.ManagedIdentity");
    if ((oi || mi) && oi_) {
      std::string scope = "/subscriptions/" + seg[1] + (rg ? "/resourceGroups/" + *rg : "");
      if (Status s = CheckScopeExists(scope); !s.ok()) return ArmError(s);
      if (rest.empty()) return ArmError(NotFoundRoute(r));
      return oi ? oi_->HandleOperationalInsights(r, seg[1], rg, rest) : oi_->HandleManagedIdentity(r, seg[1], rg, rest);
    }
    if (Is(seg[p + 1], "Microsoft.Insights") && insights_) {
      std::string scope = "/subscriptions/" + seg[1] + (rg ? "/resourceGroups/" + *rg : "");
      if (Status s = CheckScopeExists(scope); !s.ok()) return ArmError(s);
      return insights_->Handle(r, seg[1], rg, rest);
    }
    if (Is(seg[p + 1], "Microsoft.Storage") && storage_) {
      std::string scope = "/subscriptions/" + seg[1] + (rg ? "/resourceGroups/" + *rg : "");
      if (Status s = CheckScopeExists(scope); !s.ok()) return ArmError(s);
      return storage_->Handle(r, seg[1], rg, rest);
    }
    return ArmError(NotFound("No registered resource provider found for namespace '" + seg[p + 1] + "'.",
                             "NoRegisteredProviderFound"));
  }
  return ArmError(NotFoundRoute(r));
}

ArmResponse ArmService::ListSubscriptions(const ArmRequest& r) {
  auto docs = store_->List(kSubscriptionKind, "");
  if (!docs.ok()) return ArmError(docs.status());
  bj::array value;
  for (const auto& d : *docs) {
    std::string scope = "/subscriptions/" + d.id;
    if (!rbac_->IsAllowed(r.caller.object_id, "Microsoft.Resources/subscriptions/read", scope, false) &&
        !rbac_->HasAnyAccess(r.caller.object_id, scope)) {
      continue;
    }
    auto sub = LoadSubscription(d.id);
    if (sub.ok() && sub->has_value()) value.emplace_back(std::move(**sub));
  }
  if (value.empty()) {
    // No subscription is visible to this caller: say so, rather than an empty list that reads
    // as "nothing exists".
    return ArmError(rbac_->Authorize(r.caller, "Microsoft.Resources/subscriptions/read", "/subscriptions"));
  }
  return Json(200, bj::object{{"value", std::move(value)}, {"count", bj::object{{"type", "Total"}, {"value", 1}}}});
}

ArmResponse ArmService::GetSubscription(const ArmRequest& r, const std::string& sub) {
  auto doc = LoadSubscription(sub);
  if (!doc.ok()) return ArmError(doc.status());
  if (!doc->has_value()) {
    return ArmError(NotFound("The subscription '" + sub + "' could not be found.", "SubscriptionNotFound"));
  }
  std::string scope = "/subscriptions/" + sub;
  if (!rbac_->HasAnyAccess(r.caller.object_id, scope)) {
    return ArmError(rbac_->Authorize(r.caller, "Microsoft.Resources/subscriptions/read", scope));
  }
  return Json(200, std::move(**doc));
}

ArmResponse ArmService::ResourceGroups(const ArmRequest& r, const std::string& sub,
                                       const std::string* rg) {
  if (Status s = CheckScopeExists("/subscriptions/" + sub); !s.ok()) return ArmError(s);
  std::string sub_scope = "/subscriptions/" + sub;
  if (rg == nullptr) {
    if (r.method != "GET") return ArmError(MethodNotAllowed(r));
    if (Status s = rbac_->Authorize(r.caller, "Microsoft.Resources/subscriptions/resourceGroups/read", sub_scope); !s.ok()) {
      return ArmError(s);
    }
    auto docs = store_->List(kResourceGroupKind, sub_scope + "/resourceGroups/");
    if (!docs.ok()) return ArmError(docs.status());
    bj::array value;
    for (const auto& d : *docs) value.emplace_back(*json::Parse(d.body));
    return Json(200, bj::object{{"value", std::move(value)}});
  }
  std::string id = sub_scope + "/resourceGroups/" + *rg;
  std::string action = "Microsoft.Resources/subscriptions/resourceGroups/";
  std::string method = r.method;
  action += (method == "GET" || method == "HEAD") ? "read" : method == "DELETE" ? "delete" : "write";
  if (method != "GET" && method != "HEAD" && method != "PUT" && method != "PATCH" && method != "DELETE") {
    return ArmError(MethodNotAllowed(r));
  }
  if (Status s = rbac_->Authorize(r.caller, action, id); !s.ok()) return ArmError(s);
  auto existing = store_->Get(kResourceGroupKind, id);
  if (!existing.ok()) return ArmError(existing.status());
  auto not_found = [&] {
    return ArmError(NotFound("Resource group '" + *rg + "' could not be found.", "ResourceGroupNotFound"));
  };
  if (method == "GET" || method == "HEAD") {
    if (!*existing) {
      if (method == "HEAD") return ArmResponse{404, std::nullopt, {}};
      return not_found();
    }
    if (method == "HEAD") return ArmResponse{204, std::nullopt, {}};
    return Json(200, *json::Parse((*existing)->body));
  }
  if (method == "DELETE") {
    if (!*existing) return ArmResponse{204, std::nullopt, {}};
    // Everything inside the group goes with it: its resources and role assignments.
    Status s = store_->Transaction([&](meta::DocumentOps& ops) -> Status {
      ASSIGN_OR_RETURN(auto inner, ops.List("arm", id + "/"));
      for (const auto& d : inner) RETURN_IF_ERROR(ops.Delete("arm", d.id).status());
      return ops.Delete(kResourceGroupKind, id).status();
    });
    if (!s.ok()) return ArmError(s);
    for (const auto& a : rbac_->List(id, true)) {
      if (identity::ScopeCovers(id, a.scope)) rbac_->Remove(a.name).IgnoreError();
    }
    return ArmResponse{200, std::nullopt, {}};
  }
  if (!ValidResourceGroupName(*rg)) {
    return ArmError(InvalidArgument("Resource group name '" + *rg +
                                        "' is invalid. It can include alphanumeric, underscore, "
                                        "parentheses, hyphen, period (except at end), and Unicode "
                                        "characters that match the allowed characters.",
                                    "InvalidResourceGroupName"));
  }
  auto body = json::ParseObject(r.body.empty() ? "{}" : r.body);
  if (!body.ok()) return ArmError(Status(StatusCode::kInvalidArgument, body.status().message(), "InvalidRequestContent"));
  bj::object doc;
  if (*existing) {
    doc = *json::ParseObject((*existing)->body);
  } else if (method == "PATCH") {
    return not_found();
  }
  auto loc = json::GetString(*body, "location");
  if (!loc.ok()) return ArmError(Status(StatusCode::kInvalidArgument, loc.status().message(), "InvalidRequestContent"));
  if (!*existing) {
    if (!loc->has_value() || (*loc)->empty()) {
      return ArmError(InvalidArgument("The location property is required for this definition.", "LocationRequired"));
    }
    doc = bj::object{{"id", id},
                     {"name", *rg},
                     {"type", "Microsoft.Resources/resourceGroups"},
                     {"location", NormalizeLocation(**loc)},
                     {"properties", bj::object{{"provisioningState", "Succeeded"}}}};
  } else if (loc->has_value() && NormalizeLocation(**loc) != doc["location"].as_string()) {
    return ArmError(InvalidArgument("Invalid resource group location '" + **loc +
                                        "'. The Resource group already exists in location '" +
                                        std::string(doc["location"].as_string()) + "'.",
                                    "InvalidResourceGroupLocation"));
  }
  if (const bj::value* tags = json::FindCI(*body, "tags")) {
    if (!tags->is_object() && !tags->is_null()) {
      return ArmError(InvalidArgument("'tags' must be an object of strings.", "InvalidRequestContent"));
    }
    doc["tags"] = *tags;
  }
  if (const bj::value* mb = json::FindCI(*body, "managedBy"); mb && mb->is_string()) doc["managedBy"] = *mb;
  if (Status s = store_->Put(kResourceGroupKind, id, json::Serialize(doc)); !s.ok()) return ArmError(s);
  return Json(*existing ? 200 : 201, std::move(doc));
}

// Moving resources between groups or subscriptions is refused: a dedicated cluster can't move
// (Azure's documented limitation), and no other resource here supports moves either.
ArmResponse ArmService::MoveResources(const ArmRequest& r, const std::string& sub, const std::string& rg) {
  std::string scope = "/subscriptions/" + sub + "/resourceGroups/" + rg;
  if (Status s = CheckScopeExists(scope); !s.ok()) return ArmError(s);
  if (Status s = rbac_->Authorize(r.caller, "Microsoft.Resources/subscriptions/resourceGroups/moveResources/action", scope); !s.ok()) {
    return ArmError(s);
  }
  auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
  if (!body.ok()) return ArmError(Status(StatusCode::kInvalidArgument, "The request body is malformed.", "InvalidRequestContent"));
  const bj::value* resources = json::FindCI(*body, "resources");
  if (resources == nullptr || !resources->is_array() || resources->as_array().empty()) {
    return ArmError(InvalidArgument("'resources' (the ids of the resources to move) is required.", "InvalidRequestContent"));
  }
  for (const auto& id : resources->as_array()) {
    std::string text = id.is_string() ? ToLower(id.as_string()) : "";
    if (text.find("/providers/microsoft.operationalinsights/clusters/") != std::string::npos) {
      return ArmError(InvalidArgument("Log Analytics dedicated clusters can't be moved to another resource group or subscription: '" +
                                          std::string(id.as_string()) + "'.",
                                      "ResourceMoveNotSupported"));
    }
  }
  return ArmError(InvalidArgument("Moving resources between resource groups or subscriptions is not supported by this instance.",
                                  "ResourceMoveNotSupported"));
}

ArmResponse ArmService::RoleDefinitions(const ArmRequest& r, const std::string& scope,
                                        const std::string* id) {
  if (r.method != "GET") return ArmError(MethodNotAllowed(r));
  if (Status s = CheckScopeExists(scope); !s.ok()) return ArmError(s);
  // Role definitions are readable by anyone who can read anything at the scope (Azure lets
  // every principal with any role read them); a caller with no access at all is refused.
  if (scope != "/" && !rbac_->HasAnyAccess(r.caller.object_id, scope)) {
    return ArmError(rbac_->Authorize(r.caller, "Microsoft.Authorization/roleDefinitions/read", scope));
  }
  if (id != nullptr) {
    const identity::RoleDefinition* d = identity::FindRoleDefinition(*id);
    if (d == nullptr || !IsGuid(*id)) {
      return ArmError(NotFound("The specified role definition with ID '" + *id + "' does not exist.",
                               "RoleDefinitionDoesNotExist"));
    }
    return Json(200, RoleDefinitionJson(*d, scope));
  }
  std::optional<std::pair<std::string, std::string>> filter;
  if (r.HasQuery("$filter") && !r.Query("$filter").empty()) {
    filter = ParseEqFilter(r.Query("$filter"));
    if (!filter || (filter->first != "rolename" && filter->first != "type")) {
      return ArmError(InvalidArgument("The filter '" + std::string(r.Query("$filter")) +
                                          "' is not supported. Supported filters: roleName eq "
                                          "'{name}', type eq 'BuiltInRole'.",
                                      "UnsupportedQuery"));
    }
  }
  bj::array value;
  for (const auto& d : identity::BuiltInRoleDefinitions()) {
    if (filter && filter->first == "rolename" && !EqualsIgnoreCase(d.role_name, filter->second)) continue;
    if (filter && filter->first == "type" && !EqualsIgnoreCase("BuiltInRole", filter->second)) continue;
    value.emplace_back(RoleDefinitionJson(d, scope));
  }
  return Json(200, bj::object{{"value", std::move(value)}});
}

bj::object ArmService::AssignmentJson(const identity::RoleAssignment& a) const {
  std::string sub = SubscriptionOf(a.scope);
  std::string def = (sub.empty() ? "" : "/subscriptions/" + sub) +
                    "/providers/Microsoft.Authorization/roleDefinitions/" + a.role_definition_id;
  return bj::object{{"id", a.id()},
                    {"name", a.name},
                    {"type", "Microsoft.Authorization/roleAssignments"},
                    {"properties",
                     bj::object{{"roleDefinitionId", def},
                                {"principalId", a.principal_id},
                                {"principalType", a.principal_type},
                                {"scope", a.scope},
                                {"condition", nullptr},
                                {"conditionVersion", nullptr},
                                {"description", a.description.empty() ? bj::value(nullptr) : bj::value(a.description)},
                                {"createdOn", FormatRfc3339(a.created_on)},
                                {"updatedOn", FormatRfc3339(a.created_on)},
                                {"createdBy", a.created_by},
                                {"updatedBy", a.created_by},
                                {"delegatedManagedIdentityResourceId", nullptr}}}};
}

ArmResponse ArmService::RoleAssignments(const ArmRequest& r, const std::string& scope,
                                        const std::string* name) {
  if (Status s = CheckScopeExists(scope); !s.ok()) return ArmError(s);
  const std::string& m = r.method;
  std::string action = std::string("Microsoft.Authorization/roleAssignments/") +
                       (m == "GET" ? "read" : m == "DELETE" ? "delete" : "write");
  if (m != "GET" && m != "PUT" && m != "DELETE") return ArmError(MethodNotAllowed(r));
  if (Status s = rbac_->Authorize(r.caller, action, scope); !s.ok()) return ArmError(s);
  if (name == nullptr) {
    if (m != "GET") return ArmError(MethodNotAllowed(r));
    std::string f(r.Query("$filter"));
    bool at_scope = f.find("atScope()") != std::string::npos;
    if (f.size() > kMaxFilter) {
      return ArmError(InvalidArgument("The $filter is longer than " + std::to_string(kMaxFilter) + " characters.",
                                      "UnsupportedQuery"));
    }
    std::string principal = FilterPrincipal(f);
    bj::array value;
    for (const auto& a : rbac_->List(scope, !at_scope)) {
      if (!principal.empty() && !EqualsIgnoreCase(a.principal_id, principal)) continue;
      value.emplace_back(AssignmentJson(a));
    }
    return Json(200, bj::object{{"value", std::move(value)}});
  }
  if (!IsGuid(*name)) {
    return ArmError(InvalidArgument("The role assignment ID '" + *name +
                                        "' is not valid. The role assignment ID must be a GUID.",
                                    "InvalidRoleAssignmentId"));
  }
  auto existing = rbac_->Get(*name);
  bool here = existing && EqualsIgnoreCase(existing->scope, scope == "/" ? "/" : scope);
  if (m == "GET") {
    if (!here) {
      return ArmError(NotFound("The role assignment '" + *name + "' is not found.", "RoleAssignmentNotFound"));
    }
    return Json(200, AssignmentJson(*existing));
  }
  if (m == "DELETE") {
    if (!here) return ArmResponse{204, std::nullopt, {}};
    auto removed = rbac_->Remove(*name);
    if (!removed.ok()) return ArmError(removed.status());
    return Json(200, AssignmentJson(**removed));
  }
  auto body = json::ParseObject(r.body);
  if (!body.ok()) return ArmError(Status(StatusCode::kInvalidArgument, body.status().message(), "InvalidRequestContent"));
  auto props = json::GetObject(*body, "properties");
  if (!props.ok() || *props == nullptr) {
    return ArmError(InvalidArgument("The request body must contain 'properties' with 'roleDefinitionId' and 'principalId'.",
                                    "InvalidRequestContent"));
  }
  auto def = json::GetString(**props, "roleDefinitionId");
  auto principal = json::GetString(**props, "principalId");
  if (!def.ok() || !principal.ok() || !def->has_value() || !principal->has_value()) {
    return ArmError(InvalidArgument("'properties.roleDefinitionId' and 'properties.principalId' are required strings.",
                                    "InvalidRequestContent"));
  }
  std::string def_id = **def;
  if (size_t slash = def_id.rfind('/'); slash != std::string::npos) def_id = def_id.substr(slash + 1);
  auto p = directory_->FindByObjectId(**principal);
  if (!p.ok()) return ArmError(p.status());
  if (!p->has_value()) {
    return ArmError(InvalidArgument("Principal " + **principal + " does not exist in the directory " +
                                        r.caller.tenant_id + ". Check that you have the correct principal ID.",
                                    "PrincipalNotFound"));
  }
  identity::RoleAssignment a;
  a.name = *name;
  a.scope = scope;
  a.role_definition_id = def_id;
  a.principal_id = (*p)->object_id;
  a.principal_type = "ServicePrincipal";
  if (auto d = json::GetString(**props, "description"); d.ok() && d->has_value()) a.description = **d;
  a.created_by = r.caller.object_id;
  auto created = rbac_->Assign(std::move(a));
  if (!created.ok()) return ArmError(created.status());
  return Json(here ? 200 : 201, AssignmentJson(*created));
}

ArmResponse ArmService::Admin(const ArmRequest& r, const std::vector<std::string>& seg) {
  // Admin endpoints are for Owners of the instance's default subscription.
  std::string sub_scope = "/subscriptions/" + instance_.subscription_id;
  bool owner = false;
  for (const auto& a : rbac_->List(sub_scope, false)) {
    if (EqualsIgnoreCase(a.principal_id, r.caller.object_id) &&
        EqualsIgnoreCase(a.role_definition_id, kOwnerRoleId)) {
      owner = true;
    }
  }
  if (!owner) {
    return ArmError(PermissionDenied(
        "The client '" + r.caller.object_id + "' with object id '" + r.caller.object_id +
            "' is not an Owner of subscription '" + instance_.subscription_id +
            "' and cannot use the cmklogs admin endpoints.",
        "AuthorizationFailed"));
  }
  if (seg.size() == 4 && Is(seg[2], "clock") && Is(seg[3], "advance")) {
    return AdminAdvanceClock(r);
  }
  if (seg.size() == 3 && Is(seg[2], "clock")) {
    if (r.method != "GET" || !hooks_.clock_state) return ArmError(MethodNotAllowed(r));
    return Json(200, ClockJson(hooks_.clock_state()));
  }
  if (seg.size() == 3 && Is(seg[2], "principals")) {
    return AdminCreatePrincipal(r);
  }
  if (seg.size() == 3 && Is(seg[2], "storage")) {
    if (r.method != "GET" || !oi_) return ArmError(MethodNotAllowed(r));
    return Json(200, bj::object{{"value", oi_->StorageStatus()}});
  }
  if (seg.size() == 3 && Is(seg[2], "restore-cluster-identity")) {
    if (r.method != "POST" || !oi_) return ArmError(MethodNotAllowed(r));
    auto body = json::ParseObject(r.body.empty() ? "{}" : r.body);
    auto id = body.ok() ? json::GetString(*body, "clusterId")
                        : Result<std::optional<std::string>>(body.status());
    if (!id.ok() || !id->has_value())
      return ArmError(InvalidArgument("'clusterId' is required.", "InvalidRequestContent"));
    auto restored = oi_->RestoreIdentity(**id);
    if (!restored.ok()) return ArmError(restored.status());
    return Json(200, std::move(*restored));
  }
  if (seg.size() == 5 && Is(seg[2], "vaults") && Is(seg[4], "outage")) {
    if (r.method != "POST" || !hooks_.vault_outage) return ArmError(MethodNotAllowed(r));
    auto body = json::ParseObject(r.body.empty() ? "{}" : r.body);
    const bj::value* on = body.ok() ? json::FindCI(*body, "on") : nullptr;
    if (on == nullptr || !on->is_bool())
      return ArmError(
          InvalidArgument("'on' (true or false) is required.", "InvalidRequestContent"));
    if (Status s = hooks_.vault_outage(seg[3], on->as_bool()); !s.ok()) return ArmError(s);
    return Json(200, bj::object{{"vault", seg[3]}, {"outage", on->as_bool()}});
  }
  if (seg.size() == 5 && Is(seg[2], "vaults") && Is(seg[4], "audit")) {
    return AdminVaultAudit(r, seg[3]);
  }
  if (seg.size() == 4 && Is(seg[2], "principals")) {
    if (r.method != "GET") return ArmError(MethodNotAllowed(r));
    auto p = directory_->FindByObjectId(seg[3]);
    if (p.ok() && !p->has_value()) p = directory_->FindByAppId(seg[3]);
    if (!p.ok()) return ArmError(p.status());
    if (!p->has_value())
      return ArmError(
          NotFound("No principal with object or client id '" + seg[3] + "'.", "PrincipalNotFound"));
    return Json(200, bj::object{{"clientId", (*p)->app_id},
                                {"objectId", (*p)->object_id},
                                {"tenantId", (*p)->tenant_id},
                                {"displayName", (*p)->display_name}});
  }
  return ArmError(NotFoundRoute(r));
}

ArmResponse ArmService::AdminAdvanceClock(const ArmRequest& r) {
  if (r.method != "POST") return ArmError(MethodNotAllowed(r));
  auto body = json::ParseObject(r.body.empty() ? "{}" : r.body);
  if (!body.ok())
    return ArmError(
        Status(StatusCode::kInvalidArgument, body.status().message(), "InvalidRequestContent"));
  const bj::value* secs = json::FindCI(*body, "seconds");
  if (secs == nullptr || !secs->is_number()) {
    return ArmError(
        InvalidArgument("'seconds' (a non-negative number) is required.", "InvalidRequestContent"));
  }
  double s = secs->to_number<double>();
  if (!(s >= 0) || s > 100.0 * 365 * 86400) {
    return ArmError(
        InvalidArgument("'seconds' must be between 0 and 100 years.", "InvalidRequestContent"));
  }
  auto now =
      hooks_.advance_clock(std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s)));
  if (!now.ok()) return ArmError(now.status());
  bj::object out = hooks_.clock_state ? ClockJson(hooks_.clock_state()) : bj::object{};
  out["now"] = FormatRfc3339(*now);  // the time the advance reached, as it always answered
  return Json(200, std::move(out));
}

ArmResponse ArmService::AdminCreatePrincipal(const ArmRequest& r) {
  if (r.method != "POST") return ArmError(MethodNotAllowed(r));
  auto body = json::ParseObject(r.body.empty() ? "{}" : r.body);
  if (!body.ok())
    return ArmError(
        Status(StatusCode::kInvalidArgument, body.status().message(), "InvalidRequestContent"));
  auto name = json::GetString(*body, "name");
  if (!name.ok() || !name->has_value() || (*name)->empty() || (*name)->size() > 120) {
    return ArmError(
        InvalidArgument("'name' (1 to 120 characters) is required.", "InvalidRequestContent"));
  }
  auto creds = directory_->CreateServicePrincipal(instance_.tenant_id, **name);
  if (!creds.ok()) return ArmError(creds.status());
  bj::object out{{"clientId", creds->principal.app_id},
                 {"objectId", creds->principal.object_id},
                 {"tenantId", creds->principal.tenant_id},
                 {"displayName", creds->principal.display_name},
                 {"clientSecret", std::string(creds->client_secret.AsStringView())}};
  return Json(201, std::move(out));
}

ArmResponse ArmService::AdminVaultAudit(const ArmRequest& r, const std::string& vault) {
  if (r.method != "GET") return ArmError(MethodNotAllowed(r));
  if (audit_ == nullptr) return ArmError(NotFound("No audit log.", "NotFound"));
  // Entries that could not be written fail the request rather than go missing from it.
  if (Status s = audit_->Flush(); !s.ok()) return ArmError(s);
  auto lines = audit_->Read(vault, 100000);
  if (!lines.ok()) return ArmError(lines.status());
  bj::array value;
  for (const auto& l : *lines) {
    auto v = json::Parse(l);
    if (v.ok()) value.emplace_back(std::move(*v));
  }
  return Json(200, bj::object{{"value", std::move(value)}});
}

}  // namespace cmk::control
