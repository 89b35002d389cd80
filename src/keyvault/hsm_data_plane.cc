// A managed HSM's own administration API: local RBAC (/{scope}/providers/Microsoft.Authorization/
// roleDefinitions|roleAssignments) and the security domain (/securitydomain/...), plus the
// activation and local-RBAC check every key operation of an HSM goes through.
#include "base/encoding.h"
#include "base/json.h"
#include "crypto/aead.h"
#include "keyvault/key_vault_service.h"
#include "keyvault/security_domain.h"
#include "keyvault/service_internal.h"

namespace cmk::keyvault {
namespace {

namespace bj = boost::json;
constexpr char kTransferKeyAad[] = "cmklogs/mhsm-transfer-key/v1";
constexpr char kAuthorizationSegment[] = "providers/microsoft.authorization/";
// Bounds on what one HSM's local RBAC holds (Azure allows 2,000 assignments per HSM).
constexpr size_t kMaxAssignments = 2000;
constexpr size_t kMaxCustomRoles = 100;

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

// The audit log's name for an administration request that changes something.
std::string AdminOperation(const KvRequest& r) {
  std::string p = ToLower(r.path);
  if (p.find("securitydomain/download") != std::string::npos) return "downloadSecurityDomain";
  if (p.find("securitydomain/upload") != std::string::npos) return "uploadSecurityDomain";
  bool del = r.method == "DELETE";
  if (p.find("roleassignments") != std::string::npos) return del ? "deleteRoleAssignment" : "createRoleAssignment";
  if (p.find("roledefinitions") != std::string::npos) return del ? "deleteRoleDefinition" : "setRoleDefinition";
  return r.method + " " + (r.path.size() > 64 ? r.path.substr(0, 64) : r.path);
}

bool IsBuiltInRole(std::string_view name) {
  for (const auto& d : HsmBuiltInRoles()) {
    if (EqualsIgnoreCase(d.name, name)) return true;
  }
  return false;
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

// One administration request, handled under the service's writer lock (these requests are rare;
// every one may change the HSM's state).
class KeyVaultService::HsmAdmin {
 public:
  HsmAdmin(KeyVaultService& s, const KvRequest& r, VaultState& vs) : s_(s), r_(r), vs_(vs), st_(vs.hsm) {}

  KvResponse Run() {
    auto seg = SplitPath(r_.path);
    if (!seg.empty() && EqualsIgnoreCase(seg[0], "securitydomain")) return SecurityDomain(seg);
    std::string lower = ToLower(r_.path);
    size_t at = lower.find(kAuthorizationSegment);
    auto scope = NormalizeHsmScope(std::string_view(r_.path).substr(0, at));
    if (!scope.ok()) return KvError(scope.status());
    auto rest = SplitPath(std::string_view(r_.path).substr(at + sizeof(kAuthorizationSegment) - 1));
    if (rest.empty() || rest.size() > 2) return NoRoute();
    std::string name = rest.size() == 2 ? ToLower(rest[1]) : "";
    if (EqualsIgnoreCase(rest[0], "roleDefinitions")) return RoleDefinitions(name);
    if (EqualsIgnoreCase(rest[0], "roleAssignments")) return RoleAssignments(*scope, name);
    return NoRoute();
  }

 private:
  KvResponse NoRoute() {
    return KvError(Status(StatusCode::kNotFound, "The operation '" + r_.method + " " + r_.path + "' is not supported.",
                          "BadParameter"));
  }
  // The security domain endpoints work before activation (they are how an HSM activates);
  // local RBAC, like the keys, needs an active HSM.
  Status Allowed(std::string_view action, std::string_view resource, bool require_active = true) {
    return s_.AuthorizeHsm(r_.caller, vs_, std::string("Microsoft.KeyVault/managedHsm/") + std::string(action),
                           resource, require_active);
  }
  Result<bj::object> Body() {
    if (r_.body.empty()) return BadParameter("A JSON request body is required.");
    auto o = json::ParseObject(r_.body);
    if (!o.ok()) return BadParameter("The request body is not valid JSON: " + o.status().message());
    return *o;
  }
  // Persists the state as changed since `before`; on failure puts `before` back.
  KvResponse Commit(HsmLocalState before, KvResponse ok) {
    Status saved = s_.SaveHsm(vs_.vault, st_);
    if (saved.ok()) return ok;
    st_ = std::move(before);
    return KvError(saved);
  }

  KvResponse SecurityDomain(const std::vector<std::string>& seg);
  KvResponse Download();
  KvResponse TransferKey();
  KvResponse Upload();
  Result<SecretBytes> OpenUpload(std::string_view blob);
  KvResponse Activate(HsmLocalState before, const SecretBytes& material, const std::string& op, KvResponse ok);
  KvResponse RoleDefinitions(const std::string& name);
  KvResponse PutRoleDefinition(const std::string& name);
  KvResponse DeleteRoleDefinition(const std::string& name);
  KvResponse RoleAssignments(const std::string& scope, const std::string& name);
  KvResponse PutRoleAssignment(const std::string& scope, const std::string& name);

  KeyVaultService& s_;
  const KvRequest& r_;
  VaultState& vs_;
  HsmLocalState& st_;
};

KvResponse KeyVaultService::HsmAdmin::SecurityDomain(const std::vector<std::string>& seg) {
  std::string sub = seg.size() > 1 ? ToLower(seg[1]) : "";
  bool pending = seg.size() == 3 && EqualsIgnoreCase(seg[2], "pending");
  const std::string& m = r_.method;
  if (sub == "download" && pending && m == "GET") {
    if (auto s = Allowed("securitydomain/download/read", "/", false); !s.ok()) return KvError(s);
    return Json(200, OperationStatus(st_, "download"));
  }
  if (sub == "upload" && pending && m == "GET") {
    // az 2.45 polls a download's completion on this URL too (its download_pending reads
    // upload_pending's URL), so it reports whichever operation ran last.
    if (auto s = Allowed("securitydomain/upload/read", "/", false); !s.ok()) return KvError(s);
    return Json(200, OperationStatus(st_, ""));
  }
  if (seg.size() != 2) return NoRoute();
  if (sub == "download" && m == "POST") return Download();
  if (sub == "upload" && m == "GET") return TransferKey();
  if (sub == "upload" && m == "POST") return Upload();
  return NoRoute();
}

KvResponse KeyVaultService::HsmAdmin::Activate(HsmLocalState before, const SecretBytes& material,
                                               const std::string& op, KvResponse ok) {
  auto sealed = crypto::AesGcmSeal(s_.master_key_, material.span(), AsBytes(kDomainKeyAad), *s_.env_.random);
  if (!sealed.ok()) return KvError(sealed.status());
  st_.sealed_domain_key = Base64Encode(*sealed);
  st_.activation = HsmActivation::kActive;
  st_.last_operation = op;
  st_.last_status = "Success";
  st_.last_details = op == "download" ? "The security domain was downloaded; the managed HSM is active."
                                      : "The security domain was restored; the managed HSM is active.";
  if (op == "upload") ok = Json(202, OperationStatus(st_, "upload"));
  return Commit(std::move(before), std::move(ok));
}

KvResponse KeyVaultService::HsmAdmin::Download() {
  if (auto s = Allowed("securitydomain/download/action", "/", false); !s.ok()) return KvError(s);
  if (st_.activation == HsmActivation::kActive) {
    return KvError(Conflict("The managed HSM '" + vs_.vault.name +
                                "' is already activated: its security domain can be downloaded only once.",
                            "Conflict"));
  }
  auto body = Body();
  if (!body.ok()) return KvError(body.status());
  int required = 0;
  auto certs = sd::ParseCertificateSet(*body, &required);
  if (!certs.ok()) return KvError(certs.status());
  // The domain key: every key of the HSM is sealed under it (KeyVaultService::NewVersion).
  SecretBytes material = s_.env_.random->NewSecret(32);
  auto file = sd::BuildSecurityDomain(material, *certs, required, *s_.env_.random);
  if (!file.ok()) return KvError(file.status());
  return Activate(st_, material, "download", Json(202, bj::object{{"value", *file}}));
}

KvResponse KeyVaultService::HsmAdmin::TransferKey() {
  if (auto s = Allowed("securitydomain/transferkey/read", "/", false); !s.ok()) return KvError(s);
  if (st_.transfer_cert.empty()) {
    auto tk = sd::NewTransferKey(vs_.vault.name);
    if (!tk.ok()) return KvError(tk.status());
    auto sealed = crypto::AesGcmSeal(s_.master_key_, tk->private_pem.span(), AsBytes(kTransferKeyAad), *s_.env_.random);
    if (!sealed.ok()) return KvError(sealed.status());
    HsmLocalState before = st_;
    st_.sealed_transfer_key = Base64Encode(*sealed);
    st_.transfer_cert = Base64Encode(tk->cert_der);
    if (KvResponse saved = Commit(std::move(before), KvResponse{}); saved.status != 200) return saved;
  }
  auto der = Base64Decode(st_.transfer_cert);
  if (!der.ok()) return KvError(DataLoss("the HSM's transfer certificate record is corrupt"));
  auto jwk = sd::TransferKeyJwk(*der);
  if (!jwk.ok()) return KvError(jwk.status());
  // az reads transfer_key as a JSON text (json.loads(json.loads(ret)['transfer_key'])).
  return Json(200, bj::object{{"transfer_key", json::Serialize(*jwk)}, {"key_format", "jwk"}});
}

Result<SecretBytes> KeyVaultService::HsmAdmin::OpenUpload(std::string_view blob) {
  auto sealed_tk = Base64Decode(st_.sealed_transfer_key);
  auto der = Base64Decode(st_.transfer_cert);
  if (!sealed_tk.ok() || !der.ok()) return DataLoss("the HSM's transfer key record is corrupt");
  auto pem = crypto::AesGcmOpen(s_.master_key_, *sealed_tk, AsBytes(kTransferKeyAad));
  if (!pem.ok()) return Internal("the HSM's transfer key cannot be unsealed");
  ASSIGN_OR_RETURN(crypto::RsaKey tk, crypto::RsaKey::FromPrivatePem(*pem));
  ASSIGN_OR_RETURN(SecretBytes material, sd::OpenRestoreBlob(blob, tk, *der));
  if (material.size() != 32) return BadParameter("The security domain's domain key has the wrong size.");
  return material;
}

KvResponse KeyVaultService::HsmAdmin::Upload() {
  if (auto s = Allowed("securitydomain/upload/action", "/", false); !s.ok()) return KvError(s);
  if (st_.activation == HsmActivation::kActive) {
    return KvError(Conflict("The managed HSM '" + vs_.vault.name +
                                "' already has a security domain; upload one into a new, unactivated HSM.",
                            "Conflict"));
  }
  if (st_.transfer_cert.empty()) {
    return KvError(BadParameter("Get the HSM's transfer key (GET /securitydomain/upload) before uploading."));
  }
  auto body = Body();
  if (!body.ok()) return KvError(body.status());
  auto value = json::GetString(*body, "value");
  if (!value.ok() || !value->has_value()) return KvError(BadParameter("'value' (the restore blob) is required."));
  HsmLocalState before = st_;
  auto material = OpenUpload(**value);
  if (!material.ok()) {
    st_.last_operation = "upload";
    st_.last_status = "Failed";
    st_.last_details = material.status().message();
    return Commit(std::move(before), KvError(material.status()));
  }
  return Activate(std::move(before), *material, "upload", KvResponse{});
}

KvResponse KeyVaultService::HsmAdmin::RoleDefinitions(const std::string& name) {
  const std::string& m = r_.method;
  if (m == "PUT") return PutRoleDefinition(name);
  if (m == "DELETE") return DeleteRoleDefinition(name);
  if (m != "GET") return NoRoute();
  if (auto s = Allowed("roleDefinitions/read/action", "/"); !s.ok()) return KvError(s);
  if (name.empty()) {
    bj::array value;
    for (const auto& d : HsmBuiltInRoles()) value.emplace_back(HsmRoleDefinitionJson(d));
    for (const auto& d : st_.custom_roles) value.emplace_back(HsmRoleDefinitionJson(d));
    return Json(200, bj::object{{"value", std::move(value)}, {"nextLink", nullptr}});
  }
  auto d = FindHsmRole(st_, name);
  if (!d) return KvError(NotFound("The role definition '" + name + "' was not found.", "RoleDefinitionNotFound"));
  return Json(200, HsmRoleDefinitionJson(*d));
}

KvResponse KeyVaultService::HsmAdmin::PutRoleDefinition(const std::string& name) {
  if (auto s = Allowed("roleDefinitions/write/action", "/"); !s.ok()) return KvError(s);
  if (IsBuiltInRole(name)) return KvError(BadParameter("Built-in role definitions cannot be changed."));
  if (!IsGuid(name)) return KvError(BadParameter("A role definition name must be a GUID."));
  auto body = Body();
  if (!body.ok()) return KvError(body.status());
  auto d = HsmRoleDefinitionFromBody(*body, name);
  if (!d.ok()) return KvError(d.status());
  if (st_.custom_roles.size() >= kMaxCustomRoles) {
    return KvError(BadParameter("A managed HSM holds at most " + std::to_string(kMaxCustomRoles) + " custom roles."));
  }
  HsmLocalState before = st_;
  std::erase_if(st_.custom_roles, [&](const HsmRoleDefinition& x) { return EqualsIgnoreCase(x.name, name); });
  st_.custom_roles.push_back(*d);
  return Commit(std::move(before), Json(201, HsmRoleDefinitionJson(*d)));
}

KvResponse KeyVaultService::HsmAdmin::DeleteRoleDefinition(const std::string& name) {
  if (auto s = Allowed("roleDefinitions/delete/action", "/"); !s.ok()) return KvError(s);
  if (IsBuiltInRole(name)) return KvError(BadParameter("Built-in role definitions cannot be deleted."));
  auto found = std::find_if(st_.custom_roles.begin(), st_.custom_roles.end(),
                            [&](const HsmRoleDefinition& x) { return EqualsIgnoreCase(x.name, name); });
  if (found == st_.custom_roles.end()) {
    return KvError(NotFound("The role definition '" + name + "' was not found.", "RoleDefinitionNotFound"));
  }
  for (const auto& a : st_.assignments) {
    if (EqualsIgnoreCase(a.role_definition, name)) {
      return KvError(BadParameter("The role definition '" + name + "' is still assigned; delete its assignments first."));
    }
  }
  HsmLocalState before = st_;
  KvResponse ok = Json(200, HsmRoleDefinitionJson(*found));
  st_.custom_roles.erase(found);
  return Commit(std::move(before), std::move(ok));
}

KvResponse KeyVaultService::HsmAdmin::RoleAssignments(const std::string& scope, const std::string& name) {
  const std::string& m = r_.method;
  if (m == "PUT") return PutRoleAssignment(scope, name);
  const char* action = m == "DELETE" ? "roleAssignments/delete/action" : "roleAssignments/read/action";
  if (m != "GET" && m != "DELETE") return NoRoute();
  if (auto s = Allowed(action, scope); !s.ok()) return KvError(s);
  if (name.empty() && m == "GET") {
    std::string principal = PrincipalFilter(Query(r_, "$filter"));
    bj::array value;
    for (const auto& a : st_.assignments) {
      if (!ScopeWithin(a.scope, scope)) continue;
      if (!principal.empty() && !EqualsIgnoreCase(principal, a.principal_id)) continue;
      value.emplace_back(HsmRoleAssignmentJson(a));
    }
    return Json(200, bj::object{{"value", std::move(value)}, {"nextLink", nullptr}});
  }
  auto found = std::find_if(st_.assignments.begin(), st_.assignments.end(),
                            [&](const HsmRoleAssignment& a) { return EqualsIgnoreCase(a.name, name); });
  if (found == st_.assignments.end()) {
    return KvError(NotFound("The role assignment '" + name + "' is not found.", "RoleAssignmentNotFound"));
  }
  if (m == "GET") return Json(200, HsmRoleAssignmentJson(*found));
  HsmLocalState before = st_;
  KvResponse ok = Json(200, HsmRoleAssignmentJson(*found));
  st_.assignments.erase(found);
  return Commit(std::move(before), std::move(ok));
}

KvResponse KeyVaultService::HsmAdmin::PutRoleAssignment(const std::string& scope, const std::string& name) {
  if (auto s = Allowed("roleAssignments/write/action", scope); !s.ok()) return KvError(s);
  if (!IsGuid(name)) return KvError(BadParameter("A role assignment name must be a GUID."));
  auto body = Body();
  if (!body.ok()) return KvError(body.status());
  auto props = json::GetObject(*body, "properties");
  if (!props.ok() || *props == nullptr) return KvError(BadParameter("The role assignment needs 'properties'."));
  auto role_id = json::GetString(**props, "roleDefinitionId");
  auto principal = json::GetString(**props, "principalId");
  if (!role_id.ok() || !role_id->has_value() || !principal.ok() || !principal->has_value() || (*principal)->empty() ||
      (*principal)->size() > 64) {
    return KvError(BadParameter("'properties.roleDefinitionId' and 'properties.principalId' are required."));
  }
  HsmRoleAssignment a{name, scope, RoleGuidOf(**role_id), **principal};
  auto role = FindHsmRole(st_, a.role_definition);
  if (!role) return KvError(BadParameter("The role definition '" + **role_id + "' does not exist in this managed HSM."));
  bool assignable = false;
  for (const auto& s : role->assignable_scopes) assignable |= ScopeWithin(a.scope, s);
  if (!assignable) {
    return KvError(BadParameter("The role '" + role->role_name + "' cannot be assigned at scope '" + a.scope + "'."));
  }
  for (const auto& x : st_.assignments) {
    bool same = EqualsIgnoreCase(x.principal_id, a.principal_id) && EqualsIgnoreCase(x.role_definition, a.role_definition) &&
                EqualsIgnoreCase(x.scope, a.scope);
    bool named = EqualsIgnoreCase(x.name, name);
    if (same && named) return Json(201, HsmRoleAssignmentJson(x));
    if (same || named) {
      return KvError(Conflict(named ? "A role assignment named '" + name + "' already exists with other properties."
                                    : "The role assignment already exists.",
                              "RoleAssignmentExists"));
    }
  }
  if (st_.assignments.size() >= kMaxAssignments) {
    return KvError(BadParameter("A managed HSM holds at most " + std::to_string(kMaxAssignments) + " role assignments."));
  }
  HsmLocalState before = st_;
  st_.assignments.push_back(a);
  return Commit(std::move(before), Json(201, HsmRoleAssignmentJson(a)));
}

KvResponse KeyVaultService::HandleHsmAdmin(const KvRequest& r) {
  WriterLock l(&mu_);
  auto it = vaults_.find(ToLower(r.vault_name));
  if (it == vaults_.end() || it->second.vault.kind != VaultKind::kManagedHsm) {
    return KvError(NotFound("The managed HSM '" + r.vault_name + "' does not exist.", "VaultNotFound"));
  }
  const Vault& v = it->second.vault;
  if (!EqualsIgnoreCase(r.caller.tenant_id, v.tenant_id)) {
    return KvError(Status(StatusCode::kUnauthenticated,
                          "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/" + v.tenant_id +
                              "/, found https://sts.windows.net/" + r.caller.tenant_id + "/.",
                          "Unauthorized"));
  }
  int64_t start = env::MonotonicMicros();
  KvResponse out = HsmAdmin(*this, r, it->second).Run();
  if (audit_ && r.method != "GET") {
    // Changes to who may use the HSM's keys, and its security domain, are audited like key use.
    AuditEntry e;
    e.time = env_.clock->Now();
    e.caller_object_id = r.caller.object_id;
    e.caller_app_id = r.caller.app_id;
    e.vault = r.vault_name;
    e.key = r.path.size() > 256 ? r.path.substr(0, 256) : r.path;
    e.operation = AdminOperation(r);
    e.status = out.status;
    if (out.status >= 400 && out.body && out.body->is_object()) {
      if (const bj::value* err = out.body->as_object().if_contains("error"); err && err->is_object()) {
        if (const bj::value* code = err->as_object().if_contains("code"); code && code->is_string()) {
          e.error_code = std::string(code->as_string());
        }
      }
    }
    e.latency_us = env::MonotonicMicros() - start;
    audit_->Record(std::move(e));
  }
  return out;
}

}  // namespace cmk::keyvault
