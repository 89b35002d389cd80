#include "identity/rbac.h"

#include <algorithm>
#include <mutex>

#include "base/encoding.h"
#include "base/json.h"

namespace cmk::identity {
namespace {

namespace bj = boost::json;
constexpr char kKind[] = "role-assignment";

bool MatchFrom(std::string_view p, std::string_view a) {
  // Iterative wildcard match with single backtrack point (patterns are short).
  size_t pi = 0, ai = 0, star = std::string_view::npos, mark = 0;
  while (ai < a.size()) {
    if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ai;
    } else if (pi < p.size() && std::tolower(static_cast<unsigned char>(p[pi])) ==
                                    std::tolower(static_cast<unsigned char>(a[ai]))) {
      ++pi;
      ++ai;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ai = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bj::object ToJson(const RoleAssignment& a) {
  return bj::object{{"name", a.name},
                    {"scope", a.scope},
                    {"roleDefinitionId", a.role_definition_id},
                    {"principalId", a.principal_id},
                    {"principalType", a.principal_type},
                    {"description", a.description},
                    {"createdOn", FormatRfc3339(a.created_on)},
                    {"createdBy", a.created_by}};
}

Result<RoleAssignment> FromJson(const bj::object& o) {
  RoleAssignment a;
  a.name = std::string(o.at("name").as_string());
  a.scope = std::string(o.at("scope").as_string());
  a.role_definition_id = std::string(o.at("roleDefinitionId").as_string());
  a.principal_id = std::string(o.at("principalId").as_string());
  a.principal_type = std::string(o.at("principalType").as_string());
  a.description = std::string(o.at("description").as_string());
  ASSIGN_OR_RETURN(a.created_on, ParseRfc3339(o.at("createdOn").as_string()));
  a.created_by = std::string(o.at("createdBy").as_string());
  return a;
}

bool Allows(const std::vector<std::string>& yes, const std::vector<std::string>& no,
            std::string_view action) {
  bool allowed = false;
  for (const auto& p : yes) {
    if (ActionMatches(p, action)) {
      allowed = true;
      break;
    }
  }
  if (!allowed) return false;
  for (const auto& p : no) {
    if (ActionMatches(p, action)) return false;
  }
  return true;
}

}  // namespace

bool ActionMatches(std::string_view pattern, std::string_view action) {
  return MatchFrom(pattern, action);
}

bool ScopeCovers(std::string_view scope, std::string_view resource) {
  while (scope.size() > 1 && scope.back() == '/') scope.remove_suffix(1);
  while (resource.size() > 1 && resource.back() == '/') resource.remove_suffix(1);
  if (scope == "/" || scope.empty()) return true;
  if (!StartsWithIgnoreCase(resource, scope)) return false;
  return resource.size() == scope.size() || resource[scope.size()] == '/';
}

Result<std::unique_ptr<Rbac>> Rbac::Create(meta::MetadataStore* store, env::Env env) {
  std::unique_ptr<Rbac> rbac(new Rbac(store, env));
  ASSIGN_OR_RETURN(auto docs, store->List(kKind, ""));
  for (const auto& d : docs) {
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(d.body));
    ASSIGN_OR_RETURN(RoleAssignment a, FromJson(o));
    rbac->by_name_[ToLower(a.name)] = std::move(a);
  }
  return rbac;
}

Result<RoleAssignment> Rbac::Assign(RoleAssignment a) {
  const RoleDefinition* def = FindRoleDefinition(a.role_definition_id);
  if (def == nullptr || !IsGuid(a.role_definition_id)) {
    return InvalidArgument("The specified role definition with ID '" + a.role_definition_id +
                               "' does not exist.",
                           "RoleDefinitionDoesNotExist");
  }
  a.role_definition_id = def->id;
  std::unique_lock<std::shared_mutex> l(mu_);
  for (const auto& [key, b] : by_name_) {
    bool same = EqualsIgnoreCase(b.principal_id, a.principal_id) &&
                EqualsIgnoreCase(b.role_definition_id, a.role_definition_id) &&
                EqualsIgnoreCase(b.scope, a.scope);
    if (key == ToLower(a.name)) {
      if (same) return b;
      return InvalidArgument(
          "Tenant ID, application ID, principal ID, and scope are not allowed to be updated.",
          "RoleAssignmentUpdateNotPermitted");
    }
    if (same) {
      std::string hex = b.name;
      hex.erase(std::remove(hex.begin(), hex.end(), '-'), hex.end());
      return Conflict("The role assignment already exists. The ID of the existing role "
                      "assignment is " + hex + ".",
                      "RoleAssignmentExists");
    }
  }
  a.created_on = env_.clock->Now();
  RETURN_IF_ERROR(store_->Put(kKind, a.name, json::Serialize(ToJson(a))));
  by_name_[ToLower(a.name)] = a;
  return a;
}

std::optional<RoleAssignment> Rbac::Get(std::string_view name) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  auto it = by_name_.find(ToLower(name));
  if (it == by_name_.end()) return std::nullopt;
  return it->second;
}

Result<std::optional<RoleAssignment>> Rbac::Remove(std::string_view name) {
  std::unique_lock<std::shared_mutex> l(mu_);
  auto it = by_name_.find(ToLower(name));
  if (it == by_name_.end()) return std::optional<RoleAssignment>();
  RETURN_IF_ERROR(store_->Delete(kKind, it->second.name));
  RoleAssignment a = std::move(it->second);
  by_name_.erase(it);
  return std::optional<RoleAssignment>(std::move(a));
}

std::vector<RoleAssignment> Rbac::List(std::string_view scope, bool below) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  std::vector<RoleAssignment> out;
  for (const auto& [key, a] : by_name_) {
    if (ScopeCovers(a.scope, scope) || (below && ScopeCovers(scope, a.scope))) out.push_back(a);
  }
  std::sort(out.begin(), out.end(),
            [](const RoleAssignment& x, const RoleAssignment& y) { return x.name < y.name; });
  return out;
}

Status Rbac::RemoveAllForPrincipal(std::string_view principal_id) {
  std::unique_lock<std::shared_mutex> l(mu_);
  for (auto it = by_name_.begin(); it != by_name_.end();) {
    if (EqualsIgnoreCase(it->second.principal_id, principal_id)) {
      RETURN_IF_ERROR(store_->Delete(kKind, it->second.name));
      it = by_name_.erase(it);
    } else {
      ++it;
    }
  }
  return OkStatus();
}

bool Rbac::IsAllowed(std::string_view principal_id, std::string_view action,
                     std::string_view scope, bool data_action) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  for (const auto& [key, a] : by_name_) {
    if (!EqualsIgnoreCase(a.principal_id, principal_id) || !ScopeCovers(a.scope, scope)) continue;
    const RoleDefinition* def = FindRoleDefinition(a.role_definition_id);
    if (def == nullptr) continue;
    if (data_action ? Allows(def->data_actions, def->not_data_actions, action)
                    : Allows(def->actions, def->not_actions, action)) {
      return true;
    }
  }
  return false;
}

bool Rbac::HasAnyAccess(std::string_view principal_id, std::string_view scope) const {
  std::shared_lock<std::shared_mutex> l(mu_);
  for (const auto& [key, a] : by_name_) {
    if (EqualsIgnoreCase(a.principal_id, principal_id) &&
        (ScopeCovers(a.scope, scope) || ScopeCovers(scope, a.scope))) {
      return true;
    }
  }
  return false;
}

Status Rbac::Authorize(const Principal& p, std::string_view action, std::string_view scope) const {
  if (IsAllowed(p.object_id, action, scope, false)) return OkStatus();
  return PermissionDenied("The client '" + p.object_id + "' with object id '" + p.object_id +
                              "' does not have authorization to perform action '" +
                              std::string(action) + "' over scope '" + std::string(scope) +
                              "' or the scope is invalid. If access was recently granted, please "
                              "refresh your credentials.",
                          "AuthorizationFailed");
}

Status Rbac::AuthorizeData(const Principal& p, std::string_view action,
                           std::string_view scope) const {
  if (IsAllowed(p.object_id, action, scope, true)) return OkStatus();
  return PermissionDenied("The client '" + p.object_id + "' with object id '" + p.object_id +
                              "' does not have authorization to perform data action '" +
                              std::string(action) + "' over scope '" + std::string(scope) +
                              "'. If access was recently granted, please refresh your "
                              "credentials.",
                          "AuthorizationFailed");
}

}  // namespace cmk::identity
