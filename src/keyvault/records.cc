#include "keyvault/records.h"

#include "base/encoding.h"
#include "base/json.h"

namespace cmk::keyvault {
namespace {

namespace bj = boost::json;

std::string Str(const bj::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}
int64_t Int(const bj::object& o, const char* k, int64_t def = 0) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_int64() ? it->value().as_int64() : def;
}
bool Bool(const bj::object& o, const char* k, bool def = false) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_bool() ? it->value().as_bool() : def;
}
bj::object Obj(const bj::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_object() ? it->value().as_object() : bj::object();
}
bj::array StrArray(const std::vector<std::string>& v) {
  bj::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}
std::vector<std::string> ToStrings(const bj::object& o, const char* k) {
  std::vector<std::string> out;
  auto it = o.find(k);
  if (it == o.end() || !it->value().is_array()) return out;
  for (const auto& x : it->value().as_array()) {
    if (x.is_string()) out.emplace_back(x.as_string());
  }
  return out;
}

}  // namespace

bj::object AccessPolicyToJson(const AccessPolicy& p) {
  bj::object o = p.raw;
  o["tenantId"] = p.tenant_id;
  o["objectId"] = p.object_id;
  if (!p.application_id.empty()) o["applicationId"] = p.application_id;
  bj::object perms = o.contains("permissions") && o["permissions"].is_object() ? o["permissions"].as_object() : bj::object();
  perms["keys"] = StrArray(p.keys);
  o["permissions"] = std::move(perms);
  return o;
}

Result<AccessPolicy> AccessPolicyFromJson(const bj::value& v) {
  if (!v.is_object()) return InvalidArgument("An access policy must be an object.", "BadRequest");
  const bj::object& o = v.as_object();
  AccessPolicy p;
  ASSIGN_OR_RETURN(auto tenant, json::GetString(o, "tenantId"));
  ASSIGN_OR_RETURN(auto object, json::GetString(o, "objectId"));
  ASSIGN_OR_RETURN(auto app, json::GetString(o, "applicationId"));
  if (!tenant || !object || object->empty()) {
    return InvalidArgument("Each access policy needs 'tenantId' and 'objectId'.", "BadRequest");
  }
  p.tenant_id = *tenant;
  p.object_id = *object;
  if (app) p.application_id = *app;
  bj::object perms;
  if (const bj::value* pv = json::FindCI(o, "permissions"); pv && pv->is_object()) perms = pv->as_object();
  if (const bj::value* keys = json::FindCI(perms, "keys"); keys) {
    if (!keys->is_array()) return InvalidArgument("'permissions.keys' must be an array.", "BadRequest");
    static const std::vector<std::string> kKnown = {
        "all", "encrypt", "decrypt", "wrapkey", "unwrapkey", "sign", "verify", "get", "list",
        "create", "update", "import", "delete", "backup", "restore", "recover", "purge",
        "release", "rotate", "getrotationpolicy", "setrotationpolicy"};
    for (const auto& k : keys->as_array()) {
      if (!k.is_string()) return InvalidArgument("Key permissions must be strings.", "BadRequest");
      std::string perm = ToLower(k.as_string());
      if (std::find(kKnown.begin(), kKnown.end(), perm) == kKnown.end()) {
        return InvalidArgument("'" + std::string(k.as_string()) + "' is not a valid key permission.", "BadRequest");
      }
      p.keys.push_back(perm);
    }
  }
  p.raw = bj::object{{"tenantId", p.tenant_id}, {"objectId", p.object_id}, {"permissions", perms}};
  return p;
}

bj::object VaultToJson(const Vault& v) {
  bj::array policies;
  for (const auto& p : v.access_policies) policies.emplace_back(AccessPolicyToJson(p));
  bj::object o{{"name", v.name},
               {"kind", v.kind == VaultKind::kManagedHsm ? "managedHsm" : "vault"},
               {"resourceId", v.resource_id},
               {"subscriptionId", v.subscription_id},
               {"resourceGroup", v.resource_group},
               {"location", v.location},
               {"tenantId", v.tenant_id},
               {"skuFamily", v.sku_family},
               {"skuName", v.sku_name},
               {"softDelete", v.soft_delete},
               {"retentionDays", v.retention_days},
               {"purgeProtection", v.purge_protection},
               {"rbac", v.rbac},
               {"accessPolicies", std::move(policies)},
               {"initialAdmins", StrArray(v.initial_admins)},
               {"tags", v.tags},
               {"extra", v.extra_properties},
               {"created", FormatRfc3339(v.created)}};
  if (v.deleted) o["deleted"] = FormatRfc3339(*v.deleted);
  if (v.scheduled_purge) o["scheduledPurge"] = FormatRfc3339(*v.scheduled_purge);
  return o;
}

Result<Vault> VaultFromJson(const bj::object& o) {
  Vault v;
  v.name = Str(o, "name");
  v.kind = Str(o, "kind") == "managedHsm" ? VaultKind::kManagedHsm : VaultKind::kVault;
  v.resource_id = Str(o, "resourceId");
  v.subscription_id = Str(o, "subscriptionId");
  v.resource_group = Str(o, "resourceGroup");
  v.location = Str(o, "location");
  v.tenant_id = Str(o, "tenantId");
  v.sku_family = Str(o, "skuFamily");
  v.sku_name = Str(o, "skuName");
  v.soft_delete = Bool(o, "softDelete", true);
  v.retention_days = static_cast<int>(Int(o, "retentionDays", 90));
  v.purge_protection = Bool(o, "purgeProtection");
  v.rbac = Bool(o, "rbac");
  if (auto it = o.find("accessPolicies"); it != o.end() && it->value().is_array()) {
    for (const auto& p : it->value().as_array()) {
      ASSIGN_OR_RETURN(AccessPolicy ap, AccessPolicyFromJson(p));
      v.access_policies.push_back(std::move(ap));
    }
  }
  v.initial_admins = ToStrings(o, "initialAdmins");
  v.tags = Obj(o, "tags");
  v.extra_properties = Obj(o, "extra");
  ASSIGN_OR_RETURN(v.created, ParseRfc3339(Str(o, "created")));
  if (o.contains("deleted")) {
    ASSIGN_OR_RETURN(TimePoint d, ParseRfc3339(Str(o, "deleted")));
    v.deleted = d;
  }
  if (o.contains("scheduledPurge")) {
    ASSIGN_OR_RETURN(TimePoint d, ParseRfc3339(Str(o, "scheduledPurge")));
    v.scheduled_purge = d;
  }
  return v;
}

bj::object KeyToJson(const Key& k) {
  bj::array versions;
  for (const auto& name : k.versions) {
    const KeyVersion& kv = k.by_version.at(name);
    bj::object o{{"version", kv.version},
                 {"kty", kv.kty},
                 {"keySize", kv.key_size},
                 {"keyOps", StrArray(kv.key_ops)},
                 {"enabled", kv.enabled},
                 {"created", kv.created},
                 {"updated", kv.updated},
                 {"tags", kv.tags},
                 {"n", Base64UrlEncode(kv.n)},
                 {"e", Base64UrlEncode(kv.e)},
                 {"sealed", kv.sealed_private},
                 {"hsmId", kv.hsm_id}};
    if (kv.nbf) o["nbf"] = *kv.nbf;
    if (kv.exp) o["exp"] = *kv.exp;
    if (kv.domain_sealed) o["domainSealed"] = true;
    versions.emplace_back(std::move(o));
  }
  bj::object o{{"name", k.name}, {"versions", std::move(versions)}};
  if (k.deleted_date) o["deletedDate"] = *k.deleted_date;
  if (k.scheduled_purge_date) o["scheduledPurgeDate"] = *k.scheduled_purge_date;
  if (k.rotation_policy) {
    bj::array actions;
    for (const auto& a : k.rotation_policy->actions) {
      actions.emplace_back(bj::object{{"trigger", a.trigger}, {"duration", a.duration}, {"type", a.type}});
    }
    o["rotationPolicy"] = bj::object{{"actions", std::move(actions)},
                                     {"expiryTime", k.rotation_policy->expiry_time},
                                     {"created", k.rotation_policy->created},
                                     {"updated", k.rotation_policy->updated}};
  }
  return o;
}

Result<Key> KeyFromJson(const bj::object& o) {
  Key k;
  k.name = Str(o, "name");
  auto it = o.find("versions");
  if (it == o.end() || !it->value().is_array()) return DataLoss("key record without versions");
  for (const auto& vv : it->value().as_array()) {
    const bj::object& v = vv.as_object();
    KeyVersion kv;
    kv.version = Str(v, "version");
    kv.kty = Str(v, "kty");
    kv.key_size = static_cast<int>(Int(v, "keySize"));
    kv.key_ops = ToStrings(v, "keyOps");
    kv.enabled = Bool(v, "enabled", true);
    kv.created = Int(v, "created");
    kv.updated = Int(v, "updated");
    kv.tags = Obj(v, "tags");
    ASSIGN_OR_RETURN(kv.n, Base64UrlDecode(Str(v, "n")));
    ASSIGN_OR_RETURN(kv.e, Base64UrlDecode(Str(v, "e")));
    kv.sealed_private = Str(v, "sealed");
    kv.hsm_id = Str(v, "hsmId");
    kv.domain_sealed = Bool(v, "domainSealed", false);
    if (v.contains("nbf")) kv.nbf = Int(v, "nbf");
    if (v.contains("exp")) kv.exp = Int(v, "exp");
    k.versions.push_back(kv.version);
    k.by_version[ToLower(kv.version)] = std::move(kv);
  }
  if (k.versions.empty()) return DataLoss("key record without versions");
  if (o.contains("deletedDate")) k.deleted_date = Int(o, "deletedDate");
  if (o.contains("scheduledPurgeDate")) k.scheduled_purge_date = Int(o, "scheduledPurgeDate");
  if (auto rp = o.find("rotationPolicy"); rp != o.end() && rp->value().is_object()) {
    const bj::object& p = rp->value().as_object();
    RotationPolicy policy;
    if (auto a = p.find("actions"); a != p.end() && a->value().is_array()) {
      for (const auto& x : a->value().as_array()) {
        const bj::object& ao = x.as_object();
        policy.actions.push_back({Str(ao, "trigger"), Str(ao, "duration"), Str(ao, "type")});
      }
    }
    policy.expiry_time = Str(p, "expiryTime");
    policy.created = Int(p, "created");
    policy.updated = Int(p, "updated");
    k.rotation_policy = std::move(policy);
  }
  return k;
}

}  // namespace cmk::keyvault
