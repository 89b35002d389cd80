// A managed HSM's own administration API: local RBAC (/{scope}/providers/Microsoft.Authorization/
// roleDefinitions|roleAssignments) and the security domain (/securitydomain/...), plus the
// activation and local-RBAC check every key operation of an HSM goes through.
#include "base/encoding.h"
#include "base/json.h"
#include "crypto/aead.h"
#include "keyvault/key_vault_service.h"
#include "keyvault/security_domain.h"

namespace cmk::keyvault {
namespace {

namespace bj = boost::json;
constexpr char kDomainKeyAad[] = "cmklogs/mhsm-domain-key/v1";
constexpr char kTransferKeyAad[] = "cmklogs/mhsm-transfer-key/v1";
constexpr char kAuthorizationSegment[] = "providers/microsoft.authorization/";

Status BadParameter(std::string message) { return InvalidArgument(std::move(message), "BadParameter"); }

KvResponse Json(int status, bj::value body) { return KvResponse{status, std::move(body)}; }

std::string Query(const KvRequest& r, std::string_view name) {
  for (const auto& [k, v] : r.query) {
    if (EqualsIgnoreCase(k, name)) return v;
  }
  return "";
}

// "principalId eq '<id>'" from a $filter, the one filter role assignment lists honour.
std::string PrincipalFilter(const std::string& filter) {
  std::string lower = ToLower(filter);
  size_t at = lower.find("principalid eq '");
  if (at == std::string::npos) return "";
  size_t start = at + 16, end = filter.find('\'', start);
  return end == std::string::npos ? "" : filter.substr(start, end - start);
}

bool ScopeWithin(std::string_view scope, std::string_view within) {
  if (within == "/") return true;
  if (EqualsIgnoreCase(scope, within)) return true;
  return scope.size() > within.size() && StartsWithIgnoreCase(scope, within) && scope[within.size()] == '/';
}

bj::object OperationStatus(const HsmLocalState& st, std::string_view op) {
  if (st.last_operation.empty() || (!op.empty() && st.last_operation != op)) {
    bool active = st.activation == HsmActivation::kActive;
    return bj::object{{"status", active ? "Success" : "Failed"},
                      {"status_details", active ? "The managed HSM is active."
                                                : "No security domain operation has run on this managed HSM."}};
  }
  return bj::object{{"status", st.last_status}, {"status_details", st.last_details}};
}

}  // namespace

Status KeyVaultService::AuthorizeHsm(const identity::Principal& caller, const VaultState& vs,
                                     std::string_view data_action, std::string_view resource,
                                     bool require_active) const {
  const Vault& v = vs.vault;
  if (require_active && vs.hsm.activation != HsmActivation::kActive) {
    return Status(StatusCode::kPermissionDenied,
                  "Operation not allowed: the managed HSM '" + v.name +
                      "' is not activated. Download its security domain (POST /securitydomain/download with at "
                      "least 3 certificates and a quorum) or upload one to activate it.",
                  "Forbidden", "HsmNotActivated");
  }
  if (HsmAllows(vs.hsm, caller.object_id, data_action, resource)) return OkStatus();
  std::string who = "appid=" + caller.app_id + ";oid=" + caller.object_id + ";iss=https://sts.windows.net/" +
                    caller.tenant_id + "/";
  return Status(StatusCode::kPermissionDenied,
                "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny "
                "assignments or role definitions were changed recently, please observe propagation time.\r\n"
                "Caller: " + who + "\r\nAction: '" + std::string(data_action) + "'\r\nResource: '" +
                    std::string(resource) + "'\r\nAssignment: (not found)\r\nDecisionReason: 'DeniedWithNoValidRBAC' "
                    "\r\nVault: " + v.name + ";location=" + v.location + "\r\n",
                "Forbidden", "ForbiddenByRbac");
}

KvResponse KeyVaultService::HandleHsmAdmin(const KvRequest& r) {
  WriterLock l(&mu_);
  auto it = vaults_.find(ToLower(r.vault_name));
  if (it == vaults_.end() || it->second.vault.kind != VaultKind::kManagedHsm) {
    return KvError(NotFound("The managed HSM '" + r.vault_name + "' does not exist.", "VaultNotFound"));
  }
  VaultState& vs = it->second;
  HsmLocalState& st = vs.hsm;
  const identity::Principal& who = r.caller;
  if (!EqualsIgnoreCase(who.tenant_id, vs.vault.tenant_id)) {
    return KvError(Status(StatusCode::kUnauthenticated,
                          "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/" + vs.vault.tenant_id +
                              "/, found https://sts.windows.net/" + who.tenant_id + "/.",
                          "Unauthorized"));
  }
  // The security domain endpoints work before activation (they are how an HSM activates);
  // local RBAC, like the keys, needs an active HSM.
  bool security_domain = !SplitPath(r.path).empty() && EqualsIgnoreCase(SplitPath(r.path)[0], "securitydomain");
  auto allowed = [&](std::string_view action, std::string_view resource) -> Status {
    return AuthorizeHsm(who, vs, std::string("Microsoft.KeyVault/managedHsm/") + std::string(action), resource,
                        !security_domain);
  };
  auto save = [&]() -> Status { return SaveHsm(vs.vault, st); };
  auto bad_body = [&]() -> Result<bj::object> {
    if (r.body.empty()) return BadParameter("A JSON request body is required.");
    auto o = json::ParseObject(r.body);
    if (!o.ok()) return BadParameter("The request body is not valid JSON: " + o.status().message());
    return *o;
  };
  auto seg = SplitPath(r.path);
  const std::string& m = r.method;

  // ---- security domain ----
  if (!seg.empty() && EqualsIgnoreCase(seg[0], "securitydomain")) {
    std::string sub = seg.size() > 1 ? ToLower(seg[1]) : "";
    bool pending = seg.size() > 2 && EqualsIgnoreCase(seg[2], "pending");
    if (sub == "download" && pending && m == "GET") {
      if (auto s = allowed("securitydomain/download/read", "/"); !s.ok()) return KvError(s);
      return Json(200, OperationStatus(st, "download"));
    }
    if (sub == "upload" && pending && m == "GET") {
      // az 2.45 polls a download's completion on this URL too (its download_pending reads
      // upload_pending's URL), so it reports whichever operation ran last.
      if (auto s = allowed("securitydomain/upload/read", "/"); !s.ok()) return KvError(s);
      return Json(200, OperationStatus(st, ""));
    }
    if (sub == "download" && seg.size() == 2 && m == "POST") {
      if (auto s = allowed("securitydomain/download/action", "/"); !s.ok()) return KvError(s);
      if (st.activation == HsmActivation::kActive) {
        return KvError(Conflict("The managed HSM '" + vs.vault.name +
                                    "' is already activated: its security domain can be downloaded only once.",
                                "Conflict"));
      }
      auto body = bad_body();
      if (!body.ok()) return KvError(body.status());
      int required = 0;
      auto certs = sd::ParseCertificateSet(*body, &required);
      if (!certs.ok()) return KvError(certs.status());
      SecretBytes material = env_.random->NewSecret(32);
      auto file = sd::BuildSecurityDomain(material, *certs, required, *env_.random);
      if (!file.ok()) return KvError(file.status());
      auto sealed = crypto::AesGcmSeal(master_key_, material.span(), AsBytes(kDomainKeyAad), *env_.random);
      if (!sealed.ok()) return KvError(sealed.status());
      HsmLocalState before = st;
      st.sealed_domain_key = Base64Encode(*sealed);
      st.activation = HsmActivation::kActive;
      st.last_operation = "download";
      st.last_status = "Success";
      st.last_details = "The security domain was downloaded; the managed HSM is active.";
      if (auto s = save(); !s.ok()) {
        st = std::move(before);
        return KvError(s);
      }
      return Json(202, bj::object{{"value", *file}});
    }
    if (sub == "upload" && seg.size() == 2 && m == "GET") {
      if (auto s = allowed("securitydomain/transferkey/read", "/"); !s.ok()) return KvError(s);
      if (st.transfer_cert.empty()) {
        auto tk = sd::NewTransferKey(vs.vault.name);
        if (!tk.ok()) return KvError(tk.status());
        auto sealed = crypto::AesGcmSeal(master_key_, tk->private_pem.span(), AsBytes(kTransferKeyAad), *env_.random);
        if (!sealed.ok()) return KvError(sealed.status());
        st.sealed_transfer_key = Base64Encode(*sealed);
        st.transfer_cert = Base64Encode(tk->cert_der);
        if (auto s = save(); !s.ok()) return KvError(s);
      }
      auto der = Base64Decode(st.transfer_cert);
      if (!der.ok()) return KvError(DataLoss("the HSM's transfer certificate record is corrupt"));
      auto jwk = sd::TransferKeyJwk(*der);
      if (!jwk.ok()) return KvError(jwk.status());
      // az reads transfer_key as a JSON text (json.loads(json.loads(ret)['transfer_key'])).
      return Json(200, bj::object{{"transfer_key", json::Serialize(*jwk)}, {"key_format", "jwk"}});
    }
    if (sub == "upload" && seg.size() == 2 && m == "POST") {
      if (auto s = allowed("securitydomain/upload/action", "/"); !s.ok()) return KvError(s);
      if (st.activation == HsmActivation::kActive) {
        return KvError(Conflict("The managed HSM '" + vs.vault.name +
                                    "' already has a security domain; upload one into a new, unactivated HSM.",
                                "Conflict"));
      }
      if (st.transfer_cert.empty()) {
        return KvError(BadParameter("Get the HSM's transfer key (GET /securitydomain/upload) before uploading."));
      }
      auto body = bad_body();
      if (!body.ok()) return KvError(body.status());
      auto value = json::GetString(*body, "value");
      if (!value.ok() || !value->has_value()) return KvError(BadParameter("'value' (the restore blob) is required."));
      auto sealed_tk = Base64Decode(st.sealed_transfer_key);
      auto der = Base64Decode(st.transfer_cert);
      if (!sealed_tk.ok() || !der.ok()) return KvError(DataLoss("the HSM's transfer key record is corrupt"));
      auto pem = crypto::AesGcmOpen(master_key_, *sealed_tk, AsBytes(kTransferKeyAad));
      if (!pem.ok()) return KvError(Internal("the HSM's transfer key cannot be unsealed"));
      auto tk = crypto::RsaKey::FromPrivatePem(*pem);
      if (!tk.ok()) return KvError(tk.status());
      auto material = sd::OpenRestoreBlob(**value, *tk, *der);
      if (!material.ok() || material->size() != 32) {
        st.last_operation = "upload";
        st.last_status = "Failed";
        st.last_details = material.ok() ? "The security domain's domain key has the wrong size." : material.status().message();
        save().IgnoreError();
        return KvError(material.ok() ? BadParameter(st.last_details) : material.status());
      }
      auto sealed = crypto::AesGcmSeal(master_key_, material->span(), AsBytes(kDomainKeyAad), *env_.random);
      if (!sealed.ok()) return KvError(sealed.status());
      HsmLocalState before = st;
      st.sealed_domain_key = Base64Encode(*sealed);
      st.activation = HsmActivation::kActive;
      st.last_operation = "upload";
      st.last_status = "Success";
      st.last_details = "The security domain was restored; the managed HSM is active.";
      if (auto s = save(); !s.ok()) {
        st = std::move(before);
        return KvError(s);
      }
      return Json(202, OperationStatus(st, "upload"));
    }
    return KvError(Status(StatusCode::kNotFound, "The operation '" + m + " " + r.path + "' is not supported.",
                          "BadParameter"));
  }

  // ---- local RBAC ----
  std::string lower = ToLower(r.path);
  size_t at = lower.find(kAuthorizationSegment);
  auto scope = NormalizeHsmScope(std::string_view(r.path).substr(0, at));
  if (!scope.ok()) return KvError(scope.status());
  auto rest = SplitPath(std::string_view(r.path).substr(at + sizeof(kAuthorizationSegment) - 1));
  if (rest.empty() || rest.size() > 2) return KvError(BadParameter("Unknown authorization path '" + r.path + "'."));
  std::string collection = ToLower(rest[0]);
  std::string name = rest.size() == 2 ? ToLower(rest[1]) : "";

  if (collection == "roledefinitions") {
    if (m == "GET" && name.empty()) {
      if (auto s = allowed("roleDefinitions/read/action", "/"); !s.ok()) return KvError(s);
      bj::array value;
      for (const auto& d : HsmBuiltInRoles()) value.emplace_back(HsmRoleDefinitionJson(d));
      for (const auto& d : st.custom_roles) value.emplace_back(HsmRoleDefinitionJson(d));
      return Json(200, bj::object{{"value", std::move(value)}, {"nextLink", nullptr}});
    }
    if (name.empty()) return KvError(BadParameter("A role definition name (GUID) is required."));
    if (m == "GET") {
      if (auto s = allowed("roleDefinitions/read/action", "/"); !s.ok()) return KvError(s);
      auto d = FindHsmRole(st, name);
      if (!d) return KvError(NotFound("The role definition '" + name + "' was not found.", "RoleDefinitionNotFound"));
      return Json(200, HsmRoleDefinitionJson(*d));
    }
    bool builtin = false;
    for (const auto& d : HsmBuiltInRoles()) builtin |= EqualsIgnoreCase(d.name, name);
    if (m == "PUT") {
      if (auto s = allowed("roleDefinitions/write/action", "/"); !s.ok()) return KvError(s);
      if (builtin) return KvError(BadParameter("Built-in role definitions cannot be changed."));
      if (!IsGuid(name)) return KvError(BadParameter("A role definition name must be a GUID."));
      auto body = bad_body();
      if (!body.ok()) return KvError(body.status());
      auto d = HsmRoleDefinitionFromBody(*body, name);
      if (!d.ok()) return KvError(d.status());
      HsmLocalState before = st;
      auto found = std::find_if(st.custom_roles.begin(), st.custom_roles.end(),
                                [&](const HsmRoleDefinition& x) { return EqualsIgnoreCase(x.name, name); });
      if (found != st.custom_roles.end()) *found = *d;
      else st.custom_roles.push_back(*d);
      if (auto s = save(); !s.ok()) {
        st = std::move(before);
        return KvError(s);
      }
      return Json(201, HsmRoleDefinitionJson(*d));
    }
    if (m == "DELETE") {
      if (auto s = allowed("roleDefinitions/delete/action", "/"); !s.ok()) return KvError(s);
      if (builtin) return KvError(BadParameter("Built-in role definitions cannot be deleted."));
      auto found = std::find_if(st.custom_roles.begin(), st.custom_roles.end(),
                                [&](const HsmRoleDefinition& x) { return EqualsIgnoreCase(x.name, name); });
      if (found == st.custom_roles.end()) {
        return KvError(NotFound("The role definition '" + name + "' was not found.", "RoleDefinitionNotFound"));
      }
      for (const auto& a : st.assignments) {
        if (EqualsIgnoreCase(a.role_definition, name)) {
          return KvError(BadParameter("The role definition '" + name + "' is still assigned; delete its assignments first."));
        }
      }
      HsmLocalState before = st;
      bj::object out = HsmRoleDefinitionJson(*found);
      st.custom_roles.erase(found);
      if (auto s = save(); !s.ok()) {
        st = std::move(before);
        return KvError(s);
      }
      return Json(200, std::move(out));
    }
  } else if (collection == "roleassignments") {
    if (m == "GET" && name.empty()) {
      if (auto s = allowed("roleAssignments/read/action", *scope); !s.ok()) return KvError(s);
      std::string principal = PrincipalFilter(Query(r, "$filter"));
      bj::array value;
      for (const auto& a : st.assignments) {
        if (!ScopeWithin(a.scope, *scope)) continue;
        if (!principal.empty() && !EqualsIgnoreCase(principal, a.principal_id)) continue;
        value.emplace_back(HsmRoleAssignmentJson(a));
      }
      return Json(200, bj::object{{"value", std::move(value)}, {"nextLink", nullptr}});
    }
    if (name.empty()) return KvError(BadParameter("A role assignment name (GUID) is required."));
    auto found = std::find_if(st.assignments.begin(), st.assignments.end(),
                              [&](const HsmRoleAssignment& a) { return EqualsIgnoreCase(a.name, name); });
    if (m == "GET") {
      if (auto s = allowed("roleAssignments/read/action", *scope); !s.ok()) return KvError(s);
      if (found == st.assignments.end()) {
        return KvError(NotFound("The role assignment '" + name + "' is not found.", "RoleAssignmentNotFound"));
      }
      return Json(200, HsmRoleAssignmentJson(*found));
    }
    if (m == "DELETE") {
      if (auto s = allowed("roleAssignments/delete/action", *scope); !s.ok()) return KvError(s);
      if (found == st.assignments.end()) {
        return KvError(NotFound("The role assignment '" + name + "' is not found.", "RoleAssignmentNotFound"));
      }
      HsmLocalState before = st;
      bj::object out = HsmRoleAssignmentJson(*found);
      st.assignments.erase(found);
      if (auto s = save(); !s.ok()) {
        st = std::move(before);
        return KvError(s);
      }
      return Json(200, std::move(out));
    }
    if (m == "PUT") {
      if (auto s = allowed("roleAssignments/write/action", *scope); !s.ok()) return KvError(s);
      if (!IsGuid(name)) return KvError(BadParameter("A role assignment name must be a GUID."));
      auto body = bad_body();
      if (!body.ok()) return KvError(body.status());
      auto props = json::GetObject(*body, "properties");
      if (!props.ok() || *props == nullptr) return KvError(BadParameter("The role assignment needs 'properties'."));
      auto role_id = json::GetString(**props, "roleDefinitionId");
      auto principal = json::GetString(**props, "principalId");
      if (!role_id.ok() || !role_id->has_value() || !principal.ok() || !principal->has_value() || (*principal)->empty()) {
        return KvError(BadParameter("'properties.roleDefinitionId' and 'properties.principalId' are required."));
      }
      HsmRoleAssignment a{name, *scope, RoleGuidOf(**role_id), **principal};
      auto role = FindHsmRole(st, a.role_definition);
      if (!role) {
        return KvError(BadParameter("The role definition '" + **role_id + "' does not exist in this managed HSM."));
      }
      bool assignable = false;
      for (const auto& s : role->assignable_scopes) assignable |= ScopeWithin(a.scope, s);
      if (!assignable) {
        return KvError(BadParameter("The role '" + role->role_name + "' cannot be assigned at scope '" + a.scope + "'."));
      }
      for (const auto& x : st.assignments) {
        bool same = EqualsIgnoreCase(x.principal_id, a.principal_id) &&
                    EqualsIgnoreCase(x.role_definition, a.role_definition) && EqualsIgnoreCase(x.scope, a.scope);
        if (EqualsIgnoreCase(x.name, name) && !same) {
          return KvError(Conflict("A role assignment named '" + name + "' already exists with other properties.",
                                  "RoleAssignmentExists"));
        }
        if (same && !EqualsIgnoreCase(x.name, name)) {
          return KvError(Conflict("The role assignment already exists.", "RoleAssignmentExists"));
        }
        if (same) return Json(201, HsmRoleAssignmentJson(x));
      }
      HsmLocalState before = st;
      st.assignments.push_back(a);
      if (auto s = save(); !s.ok()) {
        st = std::move(before);
        return KvError(s);
      }
      return Json(201, HsmRoleAssignmentJson(a));
    }
  }
  return KvError(Status(StatusCode::kNotFound, "The operation '" + m + " " + r.path + "' is not supported.",
                        "BadParameter"));
}

}  // namespace cmk::keyvault
