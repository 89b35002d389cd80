#pragma once
// Managed HSM local RBAC and the rest of an HSM's own state (activation, security domain keys).
//
// Azure authorizes a managed HSM's data plane with role assignments kept *in the HSM*, not with
// Azure RBAC: https://<hsm>.managedhsm.D/{scope}/providers/Microsoft.Authorization/
// roleDefinitions|roleAssignments, scopes "/", "/keys" and "/keys/<name>", data actions
// "Microsoft.KeyVault/managedHsm/...". The built-in roles carry Azure's role-definition GUIDs.
// The initial administrators (initialAdminObjectIds) hold "Managed HSM Administrator" at "/".
//
// HsmLocalState is a plain value: KeyVaultService keeps one per managed HSM, guards it with its
// lock and persists it (HsmStateToJson) as its own document, apart from the ARM resource, so
// that an ARM update of the HSM never touches it.
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace cmk::keyvault {

struct HsmRoleDefinition {
  std::string name;  // GUID
  std::string role_name;
  std::string description;
  std::string type = "CustomRole";  // or "AKVBuiltInRole"
  std::vector<std::string> actions, not_actions, data_actions, not_data_actions;
  std::vector<std::string> assignable_scopes = {"/"};
};

struct HsmRoleAssignment {
  std::string name;  // GUID, as the client chose it
  std::string scope;  // "/", "/keys" or "/keys/<name>" (normalised: lower-case "keys")
  std::string role_definition;  // GUID
  std::string principal_id;
};

enum class HsmActivation { kNotActivated, kActive };

struct HsmLocalState {
  HsmActivation activation = HsmActivation::kNotActivated;
  // The HSM's domain material (what its keys are sealed under), AES-GCM under the instance
  // master key, base64. Empty before activation, and for HSMs created before security domains
  // existed (their keys live in the PKCS#11 token as before).
  std::string sealed_domain_key;
  // Upload: the transfer key (PKCS#8, sealed like the domain key) and its certificate (DER,
  // base64), made on the first GET /securitydomain/upload.
  std::string sealed_transfer_key;
  std::string transfer_cert;
  // The last security domain operation ("download" | "upload"), its status ("Success",
  // "InProgress", "Failed") and details, for the .../pending endpoints.
  std::string last_operation;
  std::string last_status;
  std::string last_details;
  std::vector<HsmRoleAssignment> assignments;
  std::vector<HsmRoleDefinition> custom_roles;
};

// The built-in Managed HSM roles (Administrator, Crypto Officer, Crypto User, Policy
// Administrator, Crypto Auditor, Crypto Service Encryption User, Crypto Service Release User,
// Backup) with Azure's GUIDs.
const std::vector<HsmRoleDefinition>& HsmBuiltInRoles();
inline constexpr char kHsmAdministratorRole[] = "a290e904-7015-4bba-90c8-60543313cdb4";
inline constexpr char kHsmCryptoUserRole[] = "21dbd100-6940-42c2-9190-5d6cb909625b";
inline constexpr char kHsmCryptoServiceEncryptionUserRole[] = "33413926-3206-4cdd-b39a-83574fe37a17";

// "Microsoft.KeyVault/managedHsm/<action>" for the key vault data action names the data plane
// authorizes with ("keys/wrap/action", "keys/create/action", ...).
std::string HsmDataAction(std::string_view vault_data_action);

// Normalises a scope from a URL or body: "/", "/keys", "/keys/<name>" (leading/trailing slashes
// and case of "keys" forgiven). kInvalidArgument for any other scope.
Result<std::string> NormalizeHsmScope(std::string_view scope);

// A role definition by GUID among the built-in and `state`'s custom roles.
std::optional<HsmRoleDefinition> FindHsmRole(const HsmLocalState& state, std::string_view guid);

// True when an assignment of `principal` whose scope covers `resource` ("/" for the HSM itself,
// "/keys" for the key collection, "/keys/<name>" for a key) grants `data_action` (the full
// "Microsoft.KeyVault/managedHsm/..." name; roles may use '*' wildcards). Scope "/" covers
// everything, "/keys" every key. notDataActions subtract from the same role's dataActions.
bool HsmAllows(const HsmLocalState& state, std::string_view principal, std::string_view data_action,
               std::string_view resource);

// The GUID at the end of a roleDefinitionId ("Microsoft.KeyVault/providers/Microsoft.Authorization/
// roleDefinitions/<guid>", "/providers/...", or the bare GUID).
std::string RoleGuidOf(std::string_view role_definition_id);

// Wire shapes of the Key Vault administration API (7.2 - 7.5).
boost::json::object HsmRoleDefinitionJson(const HsmRoleDefinition& d);
boost::json::object HsmRoleAssignmentJson(const HsmRoleAssignment& a);
// Parses a PUT role definition body {"properties": {roleName, description, type, permissions,
// assignableScopes}} for `name`.
Result<HsmRoleDefinition> HsmRoleDefinitionFromBody(const boost::json::object& body, std::string name);

// Persistence.
boost::json::object HsmStateToJson(const HsmLocalState& s);
Result<HsmLocalState> HsmStateFromJson(const boost::json::object& o);

}  // namespace cmk::keyvault
