#pragma once
// Azure RBAC: built-in role definitions (Azure's ids, names and permission lists) and role
// assignments of principals at a scope ("/", a subscription, a resource group or a resource).
// An assignment at scope S applies to S and everything below it. Control-plane actions
// (`actions`) and data-plane actions (`dataActions`) are separate, as in Azure: Owner grants no
// data action.
// Thread safety: safe for concurrent use; reads take a shared lock.

#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "base/time_format.h"
#include "env/env.h"
#include "identity/principal.h"
#include "meta/metadata_store.h"

namespace cmk::identity {

struct RoleDefinition {
  std::string id;  // GUID, the ARM `name`
  std::string role_name;
  std::string description;
  std::vector<std::string> actions;
  std::vector<std::string> not_actions;
  std::vector<std::string> data_actions;
  std::vector<std::string> not_data_actions;
};

const std::vector<RoleDefinition>& BuiltInRoleDefinitions();
// By GUID or by role name (case-insensitive); nullptr when unknown.
const RoleDefinition* FindRoleDefinition(std::string_view id_or_name);

// Azure action matching: case-insensitive, '*' matches any run of characters.
bool ActionMatches(std::string_view pattern, std::string_view action);
// Whether an assignment at `scope` covers `resource` (equal or below, segment-wise, any case).
bool ScopeCovers(std::string_view scope, std::string_view resource);

struct RoleAssignment {
  std::string name;  // GUID
  std::string scope;
  std::string role_definition_id;  // GUID
  std::string principal_id;
  std::string principal_type = "ServicePrincipal";
  std::string description;
  TimePoint created_on;
  std::string created_by;
  std::string id() const { return (scope == "/" ? "" : scope) + "/providers/Microsoft.Authorization/roleAssignments/" + name; }
};

class Rbac {
 public:
  static Result<std::unique_ptr<Rbac>> Create(meta::MetadataStore* store, env::Env env);

  // Creates an assignment. Errors: RoleDefinitionDoesNotExist (400), RoleAssignmentExists (409,
  // same principal, role and scope under another name), RoleAssignmentUpdateNotPermitted (400,
  // the name exists with other content). Re-creating an identical assignment is a no-op.
  Result<RoleAssignment> Assign(RoleAssignment a);
  std::optional<RoleAssignment> Get(std::string_view name) const;
  // Removes and returns the assignment, if it existed.
  Result<std::optional<RoleAssignment>> Remove(std::string_view name);
  // Assignments that apply at `scope` (at it or above it) plus, with `below`, those under it.
  std::vector<RoleAssignment> List(std::string_view scope, bool below) const;
  Status RemoveAllForPrincipal(std::string_view principal_id);

  bool IsAllowed(std::string_view principal_id, std::string_view action, std::string_view scope,
                 bool data_action) const;
  // Whether the principal has any assignment at, above or below `scope`.
  bool HasAnyAccess(std::string_view principal_id, std::string_view scope) const;
  // PermissionDenied/AuthorizationFailed naming principal, action and scope when not allowed.
  Status Authorize(const Principal& p, std::string_view action, std::string_view scope) const;
  Status AuthorizeData(const Principal& p, std::string_view data_action,
                       std::string_view scope) const;

 private:
  Rbac(meta::MetadataStore* store, env::Env env) : store_(store), env_(env) {}
  meta::MetadataStore* store_;
  env::Env env_;
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, RoleAssignment> by_name_;  // key: lower-case name
};

}  // namespace cmk::identity
