// Microsoft.KeyVault ARM provider: vaults, managed HSMs, access policies, deleted vaults,
// name availability. State lives in keyvault::KeyVaultService.
#include "base/encoding.h"
#include "base/json.h"
#include "control/arm_util.h"
#include "control/arm_service.h"
#include "keyvault/records.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
using keyvault::Vault;
using keyvault::VaultKind;



Status BadRequest(std::string m) { return InvalidArgument(std::move(m), "BadRequest"); }

std::string TypeName(VaultKind k) {
  return k == VaultKind::kManagedHsm ? "Microsoft.KeyVault/managedHSMs" : "Microsoft.KeyVault/vaults";
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
  bj::object out{{"id", v.resource_id}, {"name", v.name}, {"type", TypeName(v.kind)}, {"location", v.location},
                 {"tags", v.tags}};
  if (v.kind == VaultKind::kManagedHsm) {
    bj::array admins;
    for (const auto& a : v.initial_admins) admins.emplace_back(a);
    props["initialAdminObjectIds"] = std::move(admins);
    props["hsmUri"] = keyvault_->VaultUri(v);
    props["statusMessage"] = "The Managed HSM is provisioned and ready to use.";
    out["sku"] = props["sku"];
    props.erase("sku");
  } else {
    bj::array policies;
    for (const auto& p : v.access_policies) policies.emplace_back(keyvault::AccessPolicyToJson(p));
    props["accessPolicies"] = std::move(policies);
    props["enableRbacAuthorization"] = v.rbac;
    props["vaultUri"] = keyvault_->VaultUri(v);
    for (const char* f : {"enabledForDeployment", "enabledForDiskEncryption", "enabledForTemplateDeployment"}) {
      if (!props.contains(f)) props[f] = false;
    }
  }
  out["properties"] = std::move(props);
  return out;
}

ArmResponse ArmService::KeyVaultResources(const ArmRequest& r, const std::string& sub, const std::string* rg,
                                          const std::vector<std::string>& rest) {
  if (keyvault_ == nullptr) return ArmError(NotFound("Microsoft.KeyVault is not enabled.", "NoRegisteredProviderFound"));
  std::string sub_scope = "/subscriptions/" + sub;
  if (Status s = CheckScopeExists(rg ? sub_scope + "/resourceGroups/" + *rg : sub_scope); !s.ok()) return ArmError(s);
  const std::string& m = r.method;
  // Subscription-level: deletedVaults, locations/{l}/deletedVaults/{n}[/purge], checkNameAvailability, lists.
  if (rg == nullptr) {
    if (rest.size() == 1 && Is(rest[0], "checkNameAvailability") && m == "POST") {
      auto body = json::ParseObject(r.body);
      if (!body.ok()) return ArmError(BadRequest(body.status().message()));
      auto name = json::GetString(*body, "name");
      if (!name.ok() || !name->has_value()) return ArmError(BadRequest("'name' is required."));
      bool taken = keyvault_->GetVault(**name).has_value() || keyvault_->GetDeletedVault(**name).has_value();
      bj::object out{{"nameAvailable", !taken}};
      if (taken) {
        out["reason"] = "AlreadyExists";
        out["message"] = "The vault name '" + **name + "' is already in use.";
      }
      return Json(200, std::move(out));
    }
    bool hsm = !rest.empty() && Is(rest[0], "managedHSMs");
    if (rest.size() == 1 && (Is(rest[0], "vaults") || hsm) && m == "GET") {
      if (Status s = rbac_->Authorize(r.caller, hsm ? "Microsoft.KeyVault/managedHSMs/read" : "Microsoft.KeyVault/vaults/read", sub_scope); !s.ok()) return ArmError(s);
      bj::array value;
      for (const auto& v : keyvault_->ListVaults(sub, "", hsm ? VaultKind::kManagedHsm : VaultKind::kVault)) value.emplace_back(VaultJson(v));
      return Json(200, bj::object{{"value", std::move(value)}, {"nextLink", nullptr}});
    }
    bool deleted_hsm = !rest.empty() && Is(rest.back(), "deletedManagedHSMs");
    auto deleted_json = [&](const Vault& v) {
      return bj::object{{"id", sub_scope + "/providers/Microsoft.KeyVault/locations/" + v.location + (v.kind == VaultKind::kManagedHsm ? "/deletedManagedHSMs/" : "/deletedVaults/") + v.name},
                        {"name", v.name},
                        {"type", v.kind == VaultKind::kManagedHsm ? "Microsoft.KeyVault/deletedManagedHSMs" : "Microsoft.KeyVault/deletedVaults"},
                        {"properties", bj::object{{v.kind == VaultKind::kManagedHsm ? "mhsmId" : "vaultId", v.resource_id},
                                                  {"location", v.location},
                                                  {"deletionDate", FormatRfc3339(*v.deleted)},
                                                  {"scheduledPurgeDate", FormatRfc3339(*v.scheduled_purge)},
                                                  {"tags", v.tags},
                                                  {"purgeProtectionEnabled", v.purge_protection}}}};
    };
    if (rest.size() == 1 && (Is(rest[0], "deletedVaults") || deleted_hsm) && m == "GET") {
      if (Status s = rbac_->Authorize(r.caller, "Microsoft.KeyVault/deletedVaults/read", sub_scope); !s.ok()) return ArmError(s);
      bj::array value;
      for (const auto& v : keyvault_->ListDeletedVaults(sub, deleted_hsm ? VaultKind::kManagedHsm : VaultKind::kVault)) value.emplace_back(deleted_json(v));
      return Json(200, bj::object{{"value", std::move(value)}, {"nextLink", nullptr}});
    }
    if ((rest.size() == 4 || rest.size() == 5) && Is(rest[0], "locations") &&
        (Is(rest[2], "deletedVaults") || Is(rest[2], "deletedManagedHSMs"))) {
      auto v = keyvault_->GetDeletedVault(rest[3]);
      if (!v || !Is(v->subscription_id, sub)) {
        return ArmError(NotFound("The deleted vault '" + rest[3] + "' was not found.", "ResourceNotFound"));
      }
      if (rest.size() == 4 && m == "GET") {
        if (Status s = rbac_->Authorize(r.caller, "Microsoft.KeyVault/deletedVaults/read", sub_scope); !s.ok()) return ArmError(s);
        return Json(200, deleted_json(*v));
      }
      if (rest.size() == 5 && Is(rest[4], "purge") && m == "POST") {
        if (Status s = rbac_->Authorize(r.caller, "Microsoft.KeyVault/locations/deletedVaults/purge/action", sub_scope); !s.ok()) return ArmError(s);
        if (Status s = keyvault_->PurgeDeletedVault(rest[3]); !s.ok()) return ArmError(s);
        return ArmResponse{200, std::nullopt, {}};
      }
    }
    return ArmError(NotFound("No route for '" + m + " " + r.path + "'.", "NotFound"));
  }
  if (rest.empty()) return ArmError(NotFound("No route for '" + r.path + "'.", "NotFound"));
  bool hsm = Is(rest[0], "managedHSMs");
  if (!hsm && !Is(rest[0], "vaults")) {
    return ArmError(NotFound("The resource type '" + rest[0] + "' is not supported in namespace 'Microsoft.KeyVault'.", "InvalidResourceType"));
  }
  VaultKind kind = hsm ? VaultKind::kManagedHsm : VaultKind::kVault;
  std::string type = TypeName(kind);
  std::string rg_scope = sub_scope + "/resourceGroups/" + *rg;
  if (rest.size() == 1) {
    if (m != "GET") return ArmError(InvalidArgument("Use GET to list.", "MethodNotAllowed"));
    if (Status s = rbac_->Authorize(r.caller, type + "/read", rg_scope); !s.ok()) return ArmError(s);
    bj::array value;
    for (const auto& v : keyvault_->ListVaults(sub, *rg, kind)) value.emplace_back(VaultJson(v));
    return Json(200, bj::object{{"value", std::move(value)}, {"nextLink", nullptr}});
  }
  const std::string& name = rest[1];
  std::string id = rg_scope + "/providers/" + type + "/" + name;
  auto current = keyvault_->GetVault(name);
  bool here = current && current->kind == kind && Is(current->resource_id, id);
  auto not_found = [&] {
    return ArmError(NotFound("The Resource '" + type + "/" + name + "' under resource group '" + *rg + "' was not found.",
                             "ResourceNotFound"));
  };
  if (rest.size() == 4 && !hsm && Is(rest[2], "accessPolicies")) {
    if (m != "PUT") return ArmError(InvalidArgument("Use PUT to change access policies.", "MethodNotAllowed"));
    if (Status s = rbac_->Authorize(r.caller, "Microsoft.KeyVault/vaults/accessPolicies/write", id); !s.ok()) return ArmError(s);
    if (!here) return not_found();
    std::string op = ToLower(rest[3]);
    if (op != "add" && op != "replace" && op != "remove") {
      return ArmError(BadRequest("The access policy operation '" + rest[3] + "' is invalid: use add, replace or remove."));
    }
    auto body = json::ParseObject(r.body);
    if (!body.ok()) return ArmError(BadRequest(body.status().message()));
    auto props = json::GetObject(*body, "properties");
    const bj::value* list = (props.ok() && *props) ? json::FindCI(**props, "accessPolicies") : nullptr;
    if (list == nullptr || !list->is_array()) return ArmError(BadRequest("'properties.accessPolicies' (an array) is required."));
    std::vector<keyvault::AccessPolicy> policies;
    for (const auto& p : list->as_array()) {
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
  if (rest.size() != 2) return ArmError(NotFound("No route for '" + r.path + "'.", "NotFound"));
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
  if (m != "PUT" && m != "PATCH") return ArmError(InvalidArgument("Method not allowed.", "MethodNotAllowed"));
  if (Status s = rbac_->Authorize(r.caller, type + "/write", id); !s.ok()) return ArmError(s);
  auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
  if (!body.ok()) return ArmError(BadRequest("The request body must be a JSON object: " + body.status().message()));
  if (m == "PATCH" && !here) return not_found();
  Vault v;
  if (here) v = *current;
  v.name = here ? current->name : name;
  v.kind = kind;
  v.resource_id = id;
  v.subscription_id = sub;
  v.resource_group = *rg;
  auto loc = json::GetString(*body, "location");
  if (!loc.ok()) return ArmError(BadRequest(loc.status().message()));
  if (!here) {
    if (m == "PUT" && (!loc->has_value() || (*loc)->empty())) return ArmError(BadRequest("The 'location' property is required."));
    v.location = NormalizeLocation(**loc);
  } else if (loc->has_value() && NormalizeLocation(**loc) != v.location) {
    return ArmError(BadRequest("The location of an existing vault cannot be changed."));
  }
  if (const bj::value* tags = json::FindCI(*body, "tags"); tags && tags->is_object()) v.tags = tags->as_object();
  auto props_r = json::GetObject(*body, "properties");
  if (!props_r.ok()) return ArmError(BadRequest(props_r.status().message()));
  if (*props_r == nullptr && m == "PUT") return ArmError(BadRequest("The 'properties' object is required."));
  bj::object props = *props_r ? **props_r : bj::object();
  const bj::object* sku = nullptr;
  if (hsm) {
    auto s = json::GetObject(*body, "sku");
    if (s.ok()) sku = *s;
  } else {
    auto s = json::GetObject(props, "sku");
    if (s.ok()) sku = *s;
  }
  if (sku) {
    auto sname = json::GetString(*sku, "name");
    auto fam = json::GetString(*sku, "family");
    if (!sname.ok() || !sname->has_value()) return ArmError(BadRequest("'sku.name' is required."));
    std::string sn = **sname;
    if (hsm) {
      if (!EqualsIgnoreCase(sn, "Standard_B1") && !EqualsIgnoreCase(sn, "Custom_B32") && !EqualsIgnoreCase(sn, "Custom_B6")) {
        return ArmError(BadRequest("The managed HSM SKU '" + sn + "' is invalid (Standard_B1, Custom_B32, Custom_B6)."));
      }
      v.sku_family = "B";
    } else {
      if (!EqualsIgnoreCase(sn, "standard") && !EqualsIgnoreCase(sn, "premium")) {
        return ArmError(BadRequest("The SKU '" + sn + "' is invalid: use standard or premium."));
      }
      sn = ToLower(sn);
      v.sku_family = "A";
    }
    v.sku_name = sn;
    (void)fam;
  } else if (!here) {
    return ArmError(BadRequest(hsm ? "'sku' is required." : "'properties.sku' is required."));
  }
  auto tenant = json::GetString(props, "tenantId");
  if (!tenant.ok()) return ArmError(BadRequest(tenant.status().message()));
  if (tenant->has_value()) {
    auto t = directory_->FindTenant(**tenant);
    if (!t.ok() || !t->has_value()) return ArmError(BadRequest("The tenant '" + **tenant + "' is not a tenant of this instance."));
    v.tenant_id = (*t)->id;
  } else if (!here) {
    return ArmError(BadRequest("'properties.tenantId' is required."));
  }
  auto bool_prop = [&](const char* key, bool& target) -> Status {
    auto b = json::GetBool(props, key);
    if (!b.ok()) return BadRequest(b.status().message());
    if (b->has_value()) target = **b;
    return OkStatus();
  };
  bool soft = v.soft_delete, purge = v.purge_protection, rbac = v.rbac;
  if (!here) {
    soft = true;
    purge = false;
    rbac = false;
  }
  for (auto [k, t] : {std::pair{"enableSoftDelete", &soft}, std::pair{"enablePurgeProtection", &purge},
                      std::pair{"enableRbacAuthorization", &rbac}}) {
    if (Status s = bool_prop(k, *t); !s.ok()) return ArmError(s);
  }
  if (const bj::value* pp = json::FindCI(props, "enablePurgeProtection"); pp && pp->is_bool() && !pp->as_bool() && !here) {
    return ArmError(BadRequest("The property \"enablePurgeProtection\" cannot be set to false: leave it unset instead."));
  }
  v.soft_delete = soft;
  v.purge_protection = purge;
  v.rbac = rbac;
  auto retention = json::GetInt(props, "softDeleteRetentionInDays");
  if (!retention.ok()) return ArmError(BadRequest(retention.status().message()));
  if (retention->has_value()) v.retention_days = static_cast<int>(**retention);
  else if (!here) v.retention_days = 90;
  if (const bj::value* aps = json::FindCI(props, "accessPolicies"); aps && !hsm) {
    if (!aps->is_array()) return ArmError(BadRequest("'accessPolicies' must be an array."));
    v.access_policies.clear();
    for (const auto& p : aps->as_array()) {
      auto ap = keyvault::AccessPolicyFromJson(p);
      if (!ap.ok()) return ArmError(ap.status());
      v.access_policies.push_back(std::move(*ap));
    }
  } else if (!here && !hsm && m == "PUT") {
    auto cm = json::GetString(props, "createMode");
    if (!(cm.ok() && cm->has_value() && EqualsIgnoreCase(**cm, "recover"))) {
      return ArmError(BadRequest("'properties.accessPolicies' is required when creating a vault (it may be empty)."));
    }
  }
  if (hsm) {
    if (const bj::value* admins = json::FindCI(props, "initialAdminObjectIds"); admins && admins->is_array()) {
      v.initial_admins.clear();
      for (const auto& a : admins->as_array()) {
        if (a.is_string()) v.initial_admins.emplace_back(a.as_string());
      }
    }
    if (v.initial_admins.empty()) return ArmError(BadRequest("'properties.initialAdminObjectIds' needs at least one object id."));
  }
  for (const char* f : {"enabledForDeployment", "enabledForDiskEncryption", "enabledForTemplateDeployment", "publicNetworkAccess", "networkAcls"}) {
    if (const bj::value* x = json::FindCI(props, f); x) v.extra_properties[f] = *x;
  }
  auto cm = json::GetString(props, "createMode");
  bool recover = cm.ok() && cm->has_value() && EqualsIgnoreCase(**cm, "recover");
  auto stored = keyvault_->PutVault(v, recover);
  if (!stored.ok()) return ArmError(stored.status());
  return Json(here ? 200 : 201, VaultJson(*stored));
}

}  // namespace cmk::control
