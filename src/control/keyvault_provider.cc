// Microsoft.KeyVault ARM provider: vaults, managed HSMs, access policies, deleted vaults,
// name availability. State lives in keyvault::KeyVaultService.
#include "base/encoding.h"
#include "base/json.h"
#include "control/arm_service.h"
#include "control/arm_util.h"
#include "keyvault/records.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
using keyvault::Vault;
using keyvault::VaultKind;

Status BadRequest(std::string m) { return InvalidArgument(std::move(m), "BadRequest"); }

std::string TypeName(VaultKind k) {
  return k == VaultKind::kManagedHsm ? "Microsoft.KeyVault/managedHSMs"
                                     : "Microsoft.KeyVault/vaults";
}

// The SKU of a vault (properties.sku) or a managed HSM (top-level sku); required on creation.
Status ApplyVaultSku(const bj::object& body, const bj::object& props, bool hsm, bool exists,
                     Vault& v) {
  auto sku_r = json::GetObject(hsm ? body : props, "sku");
  const bj::object* sku = sku_r.ok() ? *sku_r : nullptr;
  if (sku == nullptr) {
    if (exists) return OkStatus();
    return BadRequest(hsm ? "'sku' is required." : "'properties.sku' is required.");
  }
  auto sname = json::GetString(*sku, "name");
  if (!sname.ok() || !sname->has_value()) return BadRequest("'sku.name' is required.");
  std::string sn = **sname;
  if (hsm) {
    if (!EqualsIgnoreCase(sn, "Standard_B1") && !EqualsIgnoreCase(sn, "Custom_B32") &&
        !EqualsIgnoreCase(sn, "Custom_B6")) {
      return BadRequest("The managed HSM SKU '" + sn +
                        "' is invalid (Standard_B1, Custom_B32, Custom_B6).");
    }
    v.sku_family = "B";
  } else {
    if (!EqualsIgnoreCase(sn, "standard") && !EqualsIgnoreCase(sn, "premium")) {
      return BadRequest("The SKU '" + sn + "' is invalid: use standard or premium.");
    }
    sn = ToLower(sn);
    v.sku_family = "A";
  }
  v.sku_name = sn;
  return OkStatus();
}

// enableSoftDelete, enablePurgeProtection, enableRbacAuthorization, softDeleteRetentionInDays;
// a new vault starts from Azure's defaults (soft delete on, 90 days, no purge protection).
Status ApplyVaultFlags(const bj::object& props, bool exists, Vault& v) {
  if (!exists) {
    v.soft_delete = true;
    v.purge_protection = false;
    v.rbac = false;
    v.retention_days = 90;
  }
  for (auto [key, target] : {std::pair{"enableSoftDelete", &v.soft_delete},
                             std::pair{"enablePurgeProtection", &v.purge_protection},
                             std::pair{"enableRbacAuthorization", &v.rbac}}) {
    auto b = json::GetBool(props, key);
    if (!b.ok()) return BadRequest(b.status().message());
    if (b->has_value()) *target = **b;
  }
  if (const bj::value* pp = json::FindCI(props, "enablePurgeProtection");
      pp && pp->is_bool() && !pp->as_bool() && !exists) {
    return BadRequest(
        "The property \"enablePurgeProtection\" cannot be set to false: leave it unset instead.");
  }
  auto retention = json::GetInt(props, "softDeleteRetentionInDays");
  if (!retention.ok()) return BadRequest(retention.status().message());
  if (retention->has_value()) v.retention_days = static_cast<int>(**retention);
  return OkStatus();
}

bool IsRecover(const bj::object& props) {
  auto cm = json::GetString(props, "createMode");
  return cm.ok() && cm->has_value() && EqualsIgnoreCase(**cm, "recover");
}

// A vault's access policies, or a managed HSM's initial administrators.
Status ApplyVaultPrincipals(const bj::object& props, bool hsm, bool exists,
                            const std::string& method, Vault& v) {
  if (hsm) {
    if (const bj::value* admins = json::FindCI(props, "initialAdminObjectIds");
        admins && admins->is_array()) {
      v.initial_admins.clear();
      for (const auto& a : admins->get_array()) {
        if (a.is_string()) v.initial_admins.emplace_back(a.get_string());
      }
    }
    if (v.initial_admins.empty()) {
      return BadRequest("'properties.initialAdminObjectIds' needs at least one object id.");
    }
    return OkStatus();
  }
  const bj::value* aps = json::FindCI(props, "accessPolicies");
  if (aps == nullptr) {
    if (!exists && method == "PUT" && !IsRecover(props)) {
      return BadRequest(
          "'properties.accessPolicies' is required when creating a vault (it may be empty).");
    }
    return OkStatus();
  }
  if (!aps->is_array()) return BadRequest("'accessPolicies' must be an array.");
  v.access_policies.clear();
  for (const auto& p : aps->get_array()) {
    ASSIGN_OR_RETURN(auto ap, keyvault::AccessPolicyFromJson(p));
    v.access_policies.push_back(std::move(ap));
  }
  return OkStatus();
}

ArmResponse ListOf(bj::array value) {
  return Json(200, bj::object{{"value", std::move(value)}, {"nextLink", nullptr}});
}

}  // namespace

bj::object ArmService::VaultJson(const Vault& v) const {
  bj::object props = v.extra_properties;
  props["tenantId"] = v.tenant_id;
  props["sku"] = bj::object{{"family", v.sku_family}, {"name", v.sku_name}};
  props["enableSoftDelete"] = v.soft_delete;
  props["softDeleteRetentionInDays"] = v.retention_days;
  if (v.purge_protection) props["enablePurgeProtection"] = true;
  props["provisioningState"] = "Succeeded";
  if (!props.contains("publicNetworkAccess")) props["publicNetworkAccess"] = "Enabled";
  bj::object out{{"id", v.resource_id},
                 {"name", v.name},
                 {"type", TypeName(v.kind)},
                 {"location", v.location},
                 {"tags", v.tags}};
  if (v.kind == VaultKind::kManagedHsm) {
    bj::array admins;
    for (const auto& a : v.initial_admins) admins.emplace_back(a);
    props["initialAdminObjectIds"] = std::move(admins);
    props["hsmUri"] = keyvault_->VaultUri(v);
    // Activation is the HSM's own state (its security domain), kept by the key vault service.
    bool active = keyvault_->HsmActivationStatus(v.name).value_or("NotActivated") == "Active";
    props["securityDomainProperties"] = bj::object{
        {"activationStatus", active ? "Active" : "NotActivated"},
        {"activationStatusMessage", active ? "Your HSM has been activated and can be used for cryptographic operations."
                                           : "Your HSM has been provisioned, but cannot be used for cryptographic "
                                             "operations until it is activated. To activate the HSM, download the "
                                             "security domain."}};
    props["statusMessage"] = active ? "The Managed HSM is provisioned and ready to use."
                                    : "The Managed HSM is provisioned; download its security domain to activate it.";
    out["sku"] = props["sku"];
    props.erase("sku");
  } else {
    bj::array policies;
    for (const auto& p : v.access_policies) policies.emplace_back(keyvault::AccessPolicyToJson(p));
    props["accessPolicies"] = std::move(policies);
    props["enableRbacAuthorization"] = v.rbac;
    props["vaultUri"] = keyvault_->VaultUri(v);
    for (const char* f :
         {"enabledForDeployment", "enabledForDiskEncryption", "enabledForTemplateDeployment"}) {
      if (!props.contains(f)) props[f] = false;
    }
  }
  out["properties"] = std::move(props);
  return out;
}

ArmResponse ArmService::KeyVaultResources(const ArmRequest& r, const std::string& sub,
                                          const std::string* rg,
                                          const std::vector<std::string>& rest) {
  if (keyvault_ == nullptr) {
    return ArmError(NotFound("Microsoft.KeyVault is not enabled.", "NoRegisteredProviderFound"));
  }
  std::string sub_scope = "/subscriptions/" + sub;
  if (Status s = CheckScopeExists(rg ? sub_scope + "/resourceGroups/" + *rg : sub_scope); !s.ok()) {
    return ArmError(s);
  }
  if (rg == nullptr) return KeyVaultSubscriptionRoutes(r, sub, rest);
  if (rest.empty()) return ArmError(NotFound("No route for '" + r.path + "'.", "NotFound"));
  bool hsm = Is(rest[0], "managedHSMs");
  if (!hsm && !Is(rest[0], "vaults")) {
    return ArmError(NotFound(
        "The resource type '" + rest[0] + "' is not supported in namespace 'Microsoft.KeyVault'.",
        "InvalidResourceType"));
  }
  const std::string& m = r.method;
  VaultKind kind = hsm ? VaultKind::kManagedHsm : VaultKind::kVault;
  std::string type = TypeName(kind);
  std::string rg_scope = sub_scope + "/resourceGroups/" + *rg;
  if (rest.size() == 1) {
    if (m != "GET") return ArmError(InvalidArgument("Use GET to list.", "MethodNotAllowed"));
    if (Status s = rbac_->Authorize(r.caller, type + "/read", rg_scope); !s.ok()) {
      return ArmError(s);
    }
    bj::array value;
    for (const auto& v : keyvault_->ListVaults(sub, *rg, kind)) value.emplace_back(VaultJson(v));
    return ListOf(std::move(value));
  }
  const std::string& name = rest[1];
  std::string id = rg_scope + "/providers/" + type + "/" + name;
  auto current = keyvault_->GetVault(name);
  bool here = current && current->kind == kind && Is(current->resource_id, id);
  if (rest.size() == 4 && !hsm && Is(rest[2], "accessPolicies")) {
    return VaultAccessPolicies(r, id, name, *rg, rest[3], here);
  }
  if (rest.size() != 2) return ArmError(NotFound("No route for '" + r.path + "'.", "NotFound"));
  auto not_found = [&] {
    return ArmError(NotFound("The Resource '" + type + "/" + name + "' under resource group '" +
                                 *rg + "' was not found.",
                             "ResourceNotFound"));
  };
  if (m == "GET") {
    if (Status s = rbac_->Authorize(r.caller, type + "/read", id); !s.ok()) return ArmError(s);
    if (!here) return not_found();
    return Json(200, VaultJson(*current));
  }
  if (m == "DELETE") {
    if (Status s = rbac_->Authorize(r.caller, type + "/delete", id); !s.ok()) return ArmError(s);
    if (!here) return ArmResponse{204, std::nullopt, {}};
    if (Status s = keyvault_->DeleteVault(name); !s.ok()) return ArmError(s);
    return ArmResponse{200, std::nullopt, {}};
  }
  if (m != "PUT" && m != "PATCH") {
    return ArmError(InvalidArgument("Method not allowed.", "MethodNotAllowed"));
  }
  if (Status s = rbac_->Authorize(r.caller, type + "/write", id); !s.ok()) return ArmError(s);
  if (m == "PATCH" && !here) {
    // A malformed body is reported before a missing vault, as before.
    auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
    if (!body.ok()) {
      return ArmError(
          BadRequest("The request body must be a JSON object: " + body.status().message()));
    }
    return not_found();
  }
  Vault v;
  if (here) v = *current;
  v.name = here ? current->name : name;
  v.kind = kind;
  v.resource_id = id;
  v.subscription_id = sub;
  v.resource_group = *rg;
  return PutVault(r, std::move(v), here);
}

ArmResponse ArmService::KeyVaultSubscriptionRoutes(const ArmRequest& r, const std::string& sub,
                                                   const std::vector<std::string>& rest) {
  const std::string& m = r.method;
  std::string sub_scope = "/subscriptions/" + sub;
  if (rest.size() == 1 && Is(rest[0], "checkNameAvailability") && m == "POST") {
    auto body = json::ParseObject(r.body);
    if (!body.ok()) return ArmError(BadRequest(body.status().message()));
    auto name = json::GetString(*body, "name");
    if (!name.ok() || !name->has_value()) return ArmError(BadRequest("'name' is required."));
    bool taken =
        keyvault_->GetVault(**name).has_value() || keyvault_->GetDeletedVault(**name).has_value();
    bj::object out{{"nameAvailable", !taken}};
    if (taken) {
      out["reason"] = "AlreadyExists";
      out["message"] = "The vault name '" + **name + "' is already in use.";
    }
    return Json(200, std::move(out));
  }
  bool hsm = !rest.empty() && Is(rest[0], "managedHSMs");
  if (rest.size() == 1 && (Is(rest[0], "vaults") || hsm) && m == "GET") {
    if (Status s = rbac_->Authorize(
            r.caller,
            hsm ? "Microsoft.KeyVault/managedHSMs/read" : "Microsoft.KeyVault/vaults/read",
            sub_scope);
        !s.ok()) {
      return ArmError(s);
    }
    bj::array value;
    for (const auto& v :
         keyvault_->ListVaults(sub, "", hsm ? VaultKind::kManagedHsm : VaultKind::kVault)) {
      value.emplace_back(VaultJson(v));
    }
    return ListOf(std::move(value));
  }
  bool deleted_hsm = !rest.empty() && Is(rest.back(), "deletedManagedHSMs");
  auto deleted_json = [&](const Vault& v) {
    bool is_hsm = v.kind == VaultKind::kManagedHsm;
    return bj::object{
        {"id", sub_scope + "/providers/Microsoft.KeyVault/locations/" + v.location +
                   (is_hsm ? "/deletedManagedHSMs/" : "/deletedVaults/") + v.name},
        {"name", v.name},
        {"type",
         is_hsm ? "Microsoft.KeyVault/deletedManagedHSMs" : "Microsoft.KeyVault/deletedVaults"},
        {"properties", bj::object{{is_hsm ? "mhsmId" : "vaultId", v.resource_id},
                                  {"location", v.location},
                                  {"deletionDate", FormatRfc3339(*v.deleted)},
                                  {"scheduledPurgeDate", FormatRfc3339(*v.scheduled_purge)},
                                  {"tags", v.tags},
                                  {"purgeProtectionEnabled", v.purge_protection}}}};
  };
  if (rest.size() == 1 && (Is(rest[0], "deletedVaults") || deleted_hsm) && m == "GET") {
    if (Status s = rbac_->Authorize(r.caller, "Microsoft.KeyVault/deletedVaults/read", sub_scope);
        !s.ok()) {
      return ArmError(s);
    }
    bj::array value;
    for (const auto& v : keyvault_->ListDeletedVaults(
             sub, deleted_hsm ? VaultKind::kManagedHsm : VaultKind::kVault)) {
      value.emplace_back(deleted_json(v));
    }
    return ListOf(std::move(value));
  }
  if ((rest.size() == 4 || rest.size() == 5) && Is(rest[0], "locations") &&
      (Is(rest[2], "deletedVaults") || Is(rest[2], "deletedManagedHSMs"))) {
    auto v = keyvault_->GetDeletedVault(rest[3]);
    if (!v || !Is(v->subscription_id, sub)) {
      return ArmError(
          NotFound("The deleted vault '" + rest[3] + "' was not found.", "ResourceNotFound"));
    }
    if (rest.size() == 4 && m == "GET") {
      if (Status s = rbac_->Authorize(r.caller, "Microsoft.KeyVault/deletedVaults/read", sub_scope);
          !s.ok()) {
        return ArmError(s);
      }
      return Json(200, deleted_json(*v));
    }
    if (rest.size() == 5 && Is(rest[4], "purge") && m == "POST") {
      if (Status s = rbac_->Authorize(
              r.caller, "Microsoft.KeyVault/locations/deletedVaults/purge/action", sub_scope);
          !s.ok()) {
        return ArmError(s);
      }
      if (Status s = keyvault_->PurgeDeletedVault(rest[3]); !s.ok()) return ArmError(s);
      return ArmResponse{200, std::nullopt, {}};
    }
  }
  return ArmError(NotFound("No route for '" + m + " " + r.path + "'.", "NotFound"));
}

ArmResponse ArmService::VaultAccessPolicies(const ArmRequest& r, const std::string& id,
                                            const std::string& name, const std::string& rg,
                                            const std::string& operation, bool exists) {
  if (r.method != "PUT") {
    return ArmError(InvalidArgument("Use PUT to change access policies.", "MethodNotAllowed"));
  }
  if (Status s = rbac_->Authorize(r.caller, "Microsoft.KeyVault/vaults/accessPolicies/write", id);
      !s.ok()) {
    return ArmError(s);
  }
  if (!exists) {
    return ArmError(NotFound("The Resource 'Microsoft.KeyVault/vaults/" + name +
                                 "' under resource group '" + rg + "' was not found.",
                             "ResourceNotFound"));
  }
  std::string op = ToLower(operation);
  if (op != "add" && op != "replace" && op != "remove") {
    return ArmError(BadRequest("The access policy operation '" + operation +
                               "' is invalid: use add, replace or remove."));
  }
  auto body = json::ParseObject(r.body);
  if (!body.ok()) return ArmError(BadRequest(body.status().message()));
  auto props = json::GetObject(*body, "properties");
  const bj::value* list =
      (props.ok() && *props) ? json::FindCI(**props, "accessPolicies") : nullptr;
  if (list == nullptr || !list->is_array()) {
    return ArmError(BadRequest("'properties.accessPolicies' (an array) is required."));
  }
  std::vector<keyvault::AccessPolicy> policies;
  for (const auto& p : list->get_array()) {
    auto ap = keyvault::AccessPolicyFromJson(p);
    if (!ap.ok()) return ArmError(ap.status());
    policies.push_back(std::move(*ap));
  }
  auto updated = keyvault_->UpdateAccessPolicies(name, op, policies);
  if (!updated.ok()) return ArmError(updated.status());
  bj::array out;
  for (const auto& p : updated->access_policies) out.emplace_back(keyvault::AccessPolicyToJson(p));
  return Json(200, bj::object{{"id", id + "/accessPolicies/" + op},
                              {"type", "Microsoft.KeyVault/vaults/accessPolicies"},
                              {"properties", bj::object{{"accessPolicies", std::move(out)}}}});
}

// REQUIRES: the caller may write `v.resource_id`; `v` is the stored vault when `exists`.
ArmResponse ArmService::PutVault(const ArmRequest& r, Vault v, bool exists) {
  bool hsm = v.kind == VaultKind::kManagedHsm;
  auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
  if (!body.ok()) {
    return ArmError(
        BadRequest("The request body must be a JSON object: " + body.status().message()));
  }
  auto loc = json::GetString(*body, "location");
  if (!loc.ok()) return ArmError(BadRequest(loc.status().message()));
  if (!exists) {
    if (r.method == "PUT" && (!loc->has_value() || (*loc)->empty())) {
      return ArmError(BadRequest("The 'location' property is required."));
    }
    v.location = NormalizeLocation(loc->value_or(""));
  } else if (loc->has_value() && NormalizeLocation(**loc) != v.location) {
    return ArmError(BadRequest("The location of an existing vault cannot be changed."));
  }
  if (const bj::value* tags = json::FindCI(*body, "tags"); tags && tags->is_object()) {
    v.tags = tags->get_object();
  }
  auto props_r = json::GetObject(*body, "properties");
  if (!props_r.ok()) return ArmError(BadRequest(props_r.status().message()));
  if (*props_r == nullptr && r.method == "PUT") {
    return ArmError(BadRequest("The 'properties' object is required."));
  }
  bj::object props = *props_r ? **props_r : bj::object();
  if (Status s = ApplyVaultSku(*body, props, hsm, exists, v); !s.ok()) return ArmError(s);
  auto tenant = json::GetString(props, "tenantId");
  if (!tenant.ok()) return ArmError(BadRequest(tenant.status().message()));
  if (tenant->has_value()) {
    auto t = directory_->FindTenant(**tenant);
    if (!t.ok() || !t->has_value()) {
      return ArmError(
          BadRequest("The tenant '" + **tenant + "' is not a tenant of this instance."));
    }
    v.tenant_id = (*t)->id;
  } else if (!exists) {
    return ArmError(BadRequest("'properties.tenantId' is required."));
  }
  if (Status s = ApplyVaultFlags(props, exists, v); !s.ok()) return ArmError(s);
  if (Status s = ApplyVaultPrincipals(props, hsm, exists, r.method, v); !s.ok()) {
    return ArmError(s);
  }
  for (const char* f : {"enabledForDeployment", "enabledForDiskEncryption",
                        "enabledForTemplateDeployment", "publicNetworkAccess", "networkAcls"}) {
    if (const bj::value* x = json::FindCI(props, f); x) v.extra_properties[f] = *x;
  }
  auto stored = keyvault_->PutVault(v, IsRecover(props));
  if (!stored.ok()) return ArmError(stored.status());
  // azure-mgmt-keyvault (and az) accept 200/201 for a vault's PUT but only 200/202 for a managed
  // HSM's: a created HSM answers 200, already provisioned.
  return Json(exists || hsm ? 200 : 201, VaultJson(*stored));
}

}  // namespace cmk::control
