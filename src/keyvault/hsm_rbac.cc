#include "keyvault/hsm_rbac.h"

#include <map>

#include "base/encoding.h"
#include "base/json.h"

namespace cmk::keyvault {
namespace {

namespace bj = boost::json;
constexpr char kPrefix[] = "Microsoft.KeyVault/managedHsm/";
constexpr char kRoleDefinitionPrefix[] = "Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/";

std::vector<std::string> Prefixed(std::initializer_list<const char*> actions) {
  std::vector<std::string> out;
  for (const char* a : actions) out.push_back(std::string(kPrefix) + a);
  return out;
}

HsmRoleDefinition BuiltIn(const char* guid, const char* name, const char* description,
                          std::initializer_list<const char*> data_actions) {
  HsmRoleDefinition d;
  d.name = guid;
  d.role_name = name;
  d.description = description;
  d.type = "AKVBuiltInRole";
  d.data_actions = Prefixed(data_actions);
  return d;
}

// Case-insensitive glob with '*' (role data actions such as "Microsoft.KeyVault/managedHsm/keys/*").
bool Glob(std::string_view pattern, std::string_view text) {
  size_t p = 0, t = 0, star = std::string_view::npos, mark = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      star = p++;
      mark = t;
    } else if (p < pattern.size() && std::tolower(static_cast<unsigned char>(pattern[p])) ==
                                         std::tolower(static_cast<unsigned char>(text[t]))) {
      ++p;
      ++t;
    } else if (star != std::string_view::npos) {
      p = star + 1;
      t = ++mark;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool AnyMatch(const std::vector<std::string>& patterns, std::string_view action) {
  for (const auto& p : patterns) {
    if (Glob(p, action)) return true;
  }
  return false;
}

bool Covers(std::string_view scope, std::string_view resource) {
  if (scope == "/") return true;
  if (EqualsIgnoreCase(scope, resource)) return true;
  return resource.size() > scope.size() && StartsWithIgnoreCase(resource, scope) && resource[scope.size()] == '/';
}

bj::array Strings(const std::vector<std::string>& v) {
  bj::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

Result<std::vector<std::string>> StringList(const bj::object& o, std::string_view key) {
  std::vector<std::string> out;
  const bj::value* v = json::FindCI(o, key);
  if (v == nullptr || v->is_null()) return out;
  if (!v->is_array()) return InvalidArgument("'" + std::string(key) + "' must be an array of strings.", "BadParameter");
  for (const auto& x : v->as_array()) {
    if (!x.is_string()) return InvalidArgument("'" + std::string(key) + "' must be an array of strings.", "BadParameter");
    out.emplace_back(x.as_string());
  }
  return out;
}

std::string Field(const bj::object& o, std::string_view key) {
  auto v = json::GetString(o, key);
  return v.ok() && v->has_value() ? **v : std::string();
}

}  // namespace

const std::vector<HsmRoleDefinition>& HsmBuiltInRoles() {
  // Data actions per Azure's "Local RBAC built-in roles for Managed HSM" table.
  static const std::vector<HsmRoleDefinition> kRoles = {
      BuiltIn(kHsmAdministratorRole, "Managed HSM Administrator",
              "Grants permissions to perform all operations related to the security domain, full backup and "
              "restore, and role management. Not permitted to perform any key management operations.",
              {"roleAssignments/delete/action", "roleAssignments/read/action", "roleAssignments/write/action",
               "roleDefinitions/read/action", "roleDefinitions/write/action", "roleDefinitions/delete/action",
               "securitydomain/download/action", "securitydomain/download/read", "securitydomain/upload/action",
               "securitydomain/upload/read", "securitydomain/transferkey/read", "backup/start/action",
               "backup/status/action", "restore/start/action", "restore/status/action"}),
      BuiltIn("515eb02d-2335-4d2d-92f2-b1cbdf9c3778", "Managed HSM Crypto Officer",
              "Grants permissions to perform all role management, purge or recover deleted keys, and export keys. "
              "Not permitted to perform any other key management operations.",
              {"roleAssignments/delete/action", "roleAssignments/read/action", "roleAssignments/write/action",
               "roleDefinitions/read/action", "roleDefinitions/write/action", "roleDefinitions/delete/action",
               "keys/deletedKeys/read/action", "keys/deletedKeys/recover/action", "keys/deletedKeys/delete",
               "keys/export/action"}),
      BuiltIn(kHsmCryptoUserRole, "Managed HSM Crypto User",
              "Grants permissions to perform all key management operations except purge or recover deleted keys "
              "and export keys.",
              {"keys/read/action", "keys/write/action", "keys/create", "keys/delete", "keys/backup/action",
               "keys/restore/action", "keys/import/action", "keys/encrypt/action", "keys/decrypt/action",
               "keys/wrap/action", "keys/unwrap/action", "keys/sign/action", "keys/verify/action",
               "keys/deletedKeys/read/action", "rng/action", "roleAssignments/read/action",
               "roleDefinitions/read/action"}),
      BuiltIn("4bd23610-cdcf-4971-bdee-bdc562cc28e4", "Managed HSM Policy Administrator",
              "Grants permissions to create and delete role assignments.",
              {"roleAssignments/delete/action", "roleAssignments/read/action", "roleAssignments/write/action",
               "roleDefinitions/read/action", "roleDefinitions/write/action", "roleDefinitions/delete/action"}),
      BuiltIn("2c18b078-7c48-4d3a-af88-5a3a1b3f82b3", "Managed HSM Crypto Auditor",
              "Grants read permissions to read (but not use) key attributes.",
              {"keys/read/action", "keys/deletedKeys/read/action", "roleAssignments/read/action",
               "roleDefinitions/read/action", "securitydomain/download/read", "securitydomain/upload/read",
               "backup/status/action", "restore/status/action"}),
      BuiltIn(kHsmCryptoServiceEncryptionUserRole, "Managed HSM Crypto Service Encryption User",
              "Grants permissions to use a key for service encryption.",
              {"keys/read/action", "keys/wrap/action", "keys/unwrap/action"}),
      BuiltIn("21dbd100-6940-42c2-9190-5d6cb909625c", "Managed HSM Crypto Service Release User",
              "Grants permissions to release a key to a trusted execution environment.",
              {"keys/read/action", "keys/release/action"}),
      BuiltIn("7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8", "Managed HSM Backup",
              "Grants permissions to perform single key or whole HSM backup.",
              {"backup/start/action", "backup/status/action", "keys/read/action", "keys/backup/action"}),
  };
  return kRoles;
}

std::string HsmDataAction(std::string_view a) {
  static const std::map<std::string_view, std::string_view> kMap = {
      {"keys/read", "keys/read/action"},
      {"keys/create/action", "keys/create"},
      {"keys/update/action", "keys/write/action"},
      {"keys/rotate/action", "keys/write/action"},
      {"keyrotationpolicies/read", "keys/read/action"},
      {"keyrotationpolicies/write", "keys/write/action"},
      {"keys/purge/action", "keys/deletedKeys/delete"},
      {"keys/recover/action", "keys/deletedKeys/recover/action"},
  };
  auto it = kMap.find(a);
  return std::string(kPrefix) + std::string(it == kMap.end() ? a : it->second);
}

Result<std::string> NormalizeHsmScope(std::string_view scope) {
  std::string s(scope);
  while (!s.empty() && s.front() == '/') s.erase(s.begin());
  while (!s.empty() && s.back() == '/') s.pop_back();
  if (s.empty()) return std::string("/");
  auto parts = SplitPath(s);
  if (!parts.empty() && EqualsIgnoreCase(parts[0], "keys")) {
    if (parts.size() == 1) return std::string("/keys");
    if (parts.size() == 2 && !parts[1].empty()) return "/keys/" + parts[1];
  }
  return InvalidArgument("The scope '" + std::string(scope) + "' is not valid: use '/', '/keys' or '/keys/<key name>'.",
                         "BadParameter");
}

std::optional<HsmRoleDefinition> FindHsmRole(const HsmLocalState& state, std::string_view guid) {
  for (const auto& d : HsmBuiltInRoles()) {
    if (EqualsIgnoreCase(d.name, guid)) return d;
  }
  for (const auto& d : state.custom_roles) {
    if (EqualsIgnoreCase(d.name, guid)) return d;
  }
  return std::nullopt;
}

bool HsmAllows(const HsmLocalState& state, std::string_view principal, std::string_view data_action,
               std::string_view resource) {
  for (const auto& a : state.assignments) {
    if (!EqualsIgnoreCase(a.principal_id, principal) || !Covers(a.scope, resource)) continue;
    auto role = FindHsmRole(state, a.role_definition);
    if (!role) continue;
    if (AnyMatch(role->data_actions, data_action) && !AnyMatch(role->not_data_actions, data_action)) return true;
  }
  return false;
}

std::string RoleGuidOf(std::string_view id) {
  size_t slash = id.rfind('/');
  return ToLower(slash == std::string_view::npos ? id : id.substr(slash + 1));
}

bj::object HsmRoleDefinitionJson(const HsmRoleDefinition& d) {
  bj::object perm{{"actions", Strings(d.actions)},
                  {"notActions", Strings(d.not_actions)},
                  {"dataActions", Strings(d.data_actions)},
                  {"notDataActions", Strings(d.not_data_actions)}};
  return bj::object{{"id", std::string(kRoleDefinitionPrefix) + d.name},
                    {"name", d.name},
                    {"type", "Microsoft.Authorization/roleDefinitions"},
                    {"properties", bj::object{{"roleName", d.role_name},
                                              {"description", d.description},
                                              {"type", d.type},
                                              {"permissions", bj::array{std::move(perm)}},
                                              {"assignableScopes", Strings(d.assignable_scopes)}}}};
}

bj::object HsmRoleAssignmentJson(const HsmRoleAssignment& a) {
  std::string base = a.scope == "/" ? "" : a.scope;
  return bj::object{{"id", base + "/providers/Microsoft.Authorization/roleAssignments/" + a.name},
                    {"name", a.name},
                    {"type", "Microsoft.Authorization/roleAssignments"},
                    {"properties", bj::object{{"scope", a.scope},
                                              {"roleDefinitionId", std::string(kRoleDefinitionPrefix) + a.role_definition},
                                              {"principalId", a.principal_id}}}};
}

Result<HsmRoleDefinition> HsmRoleDefinitionFromBody(const bj::object& body, std::string name) {
  auto props = json::GetObject(body, "properties");
  if (!props.ok() || *props == nullptr) {
    return InvalidArgument("The role definition needs 'properties'.", "BadParameter");
  }
  HsmRoleDefinition d;
  d.name = ToLower(name);
  d.role_name = Field(**props, "roleName");
  d.description = Field(**props, "description");
  if (d.role_name.empty()) return InvalidArgument("'properties.roleName' is required.", "BadParameter");
  std::string type = Field(**props, "type");
  if (!type.empty() && !EqualsIgnoreCase(type, "CustomRole")) {
    return InvalidArgument("Only custom roles (type 'CustomRole') can be created.", "BadParameter");
  }
  if (const bj::value* perms = json::FindCI(**props, "permissions"); perms && !perms->is_null()) {
    if (!perms->is_array()) return InvalidArgument("'permissions' must be an array.", "BadParameter");
    for (const auto& p : perms->as_array()) {
      if (!p.is_object()) return InvalidArgument("Each permission must be an object.", "BadParameter");
      ASSIGN_OR_RETURN(auto actions, StringList(p.as_object(), "actions"));
      ASSIGN_OR_RETURN(auto not_actions, StringList(p.as_object(), "notActions"));
      ASSIGN_OR_RETURN(auto data, StringList(p.as_object(), "dataActions"));
      ASSIGN_OR_RETURN(auto not_data, StringList(p.as_object(), "notDataActions"));
      if (!actions.empty() || !not_actions.empty()) {
        return InvalidArgument("Managed HSM roles take data actions only ('actions' must be empty).", "BadParameter");
      }
      for (const auto& a : data) {
        if (!StartsWithIgnoreCase(a, kPrefix)) {
          return InvalidArgument("'" + a + "' is not a Managed HSM data action.", "BadParameter");
        }
      }
      d.data_actions.insert(d.data_actions.end(), data.begin(), data.end());
      d.not_data_actions.insert(d.not_data_actions.end(), not_data.begin(), not_data.end());
    }
  }
  ASSIGN_OR_RETURN(auto scopes, StringList(**props, "assignableScopes"));
  if (!scopes.empty()) {
    d.assignable_scopes.clear();
    for (const auto& s : scopes) {
      ASSIGN_OR_RETURN(std::string n, NormalizeHsmScope(s));
      d.assignable_scopes.push_back(n);
    }
  }
  return d;
}

bj::object HsmStateToJson(const HsmLocalState& s) {
  bj::array assignments, roles;
  for (const auto& a : s.assignments) {
    assignments.emplace_back(bj::object{{"name", a.name},
                                        {"scope", a.scope},
                                        {"roleDefinition", a.role_definition},
                                        {"principalId", a.principal_id}});
  }
  for (const auto& d : s.custom_roles) roles.emplace_back(HsmRoleDefinitionJson(d));
  return bj::object{{"activation", s.activation == HsmActivation::kActive ? "Active" : "NotActivated"},
                    {"sealedDomainKey", s.sealed_domain_key},
                    {"sealedTransferKey", s.sealed_transfer_key},
                    {"transferCert", s.transfer_cert},
                    {"lastOperation", s.last_operation},
                    {"lastStatus", s.last_status},
                    {"lastDetails", s.last_details},
                    {"assignments", std::move(assignments)},
                    {"customRoles", std::move(roles)}};
}

Result<HsmLocalState> HsmStateFromJson(const bj::object& o) {
  HsmLocalState s;
  s.activation = Field(o, "activation") == "Active" ? HsmActivation::kActive : HsmActivation::kNotActivated;
  s.sealed_domain_key = Field(o, "sealedDomainKey");
  s.sealed_transfer_key = Field(o, "sealedTransferKey");
  s.transfer_cert = Field(o, "transferCert");
  s.last_operation = Field(o, "lastOperation");
  s.last_status = Field(o, "lastStatus");
  s.last_details = Field(o, "lastDetails");
  if (const bj::value* a = json::FindCI(o, "assignments"); a && a->is_array()) {
    for (const auto& x : a->as_array()) {
      if (!x.is_object()) return DataLoss("a managed HSM role assignment record is not an object");
      const auto& r = x.as_object();
      s.assignments.push_back({Field(r, "name"), Field(r, "scope"), Field(r, "roleDefinition"), Field(r, "principalId")});
    }
  }
  if (const bj::value* r = json::FindCI(o, "customRoles"); r && r->is_array()) {
    for (const auto& x : r->as_array()) {
      if (!x.is_object()) return DataLoss("a managed HSM role definition record is not an object");
      ASSIGN_OR_RETURN(HsmRoleDefinition d, HsmRoleDefinitionFromBody(x.as_object(), Field(x.as_object(), "name")));
      s.custom_roles.push_back(std::move(d));
    }
  }
  return s;
}

}  // namespace cmk::keyvault
