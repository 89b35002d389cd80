#include "keyvault/key_vault_service.h"

#include <mutex>
#include <set>
#include <regex>

#include "base/encoding.h"
#include "base/json.h"
#include "crypto/aead.h"
#include "keyvault/records.h"
#include "keyvault/service_internal.h"

namespace cmk::keyvault {
namespace {

namespace bj = boost::json;
constexpr char kVaultKind[] = "kv-vault";
constexpr char kDeletedVaultKind[] = "kv-deleted-vault";
constexpr char kKeyKind[] = "kv-key";
constexpr char kHsmKind[] = "kv-hsm-local";
constexpr char kPrivateAad[] = "cmklogs/kv-private-key/v1";
// Managed HSM key material under the HSM's domain key, and the domain key under the master key.
constexpr char kHsmPrivateAad[] = "cmklogs/mhsm-private-key/v1";

std::string KeyDocId(const Vault& v, std::string_view name) {
  return ToLower(v.name) + "/" + ToLower(name);
}

}  // namespace

KvResponse KvError(const Status& s) {
  bj::object err{{"code", s.error_code()}, {"message", s.message()}};
  if (!s.inner_code().empty()) err["innererror"] = bj::object{{"code", s.inner_code()}};
  KvResponse r;
  r.status = s.http_status();
  r.body = bj::object{{"error", std::move(err)}};
  return r;
}

KeyVaultService::KeyVaultService(env::Env env, meta::MetadataStore* store, identity::Rbac* rbac,
                                 SecretBytes master_key, KeyVaultOptions options, HsmBackend* hsm,
                                 AuditLog* audit)
    : env_(env),
      store_(store),
      rbac_(rbac),
      master_key_(std::move(master_key)),
      options_(std::move(options)),
      hsm_(hsm),
      audit_(audit) {}

KeyVaultService::~KeyVaultService() {
  *alive_ = false;
  if (sweep_timer_ != 0) env_.clock->Cancel(sweep_timer_);
}

Result<std::unique_ptr<KeyVaultService>> KeyVaultService::Create(
    env::Env env, meta::MetadataStore* store, identity::Rbac* rbac, const SecretBytes& master_key,
    KeyVaultOptions options, HsmBackend* hsm, AuditLog* audit) {
  std::unique_ptr<KeyVaultService> s(
      new KeyVaultService(env, store, rbac, master_key.Clone(), std::move(options), hsm, audit));
  RETURN_IF_ERROR(s->Load());
  return s;
}

void KeyVaultService::set_port(uint16_t port) {
  WriterLock l(&mu_);
  options_.port = port;
}

Status KeyVaultService::Load() {
  WriterLock l(&mu_);  // nothing else runs yet; the lock states what guards the vaults
  for (const auto& [kind, target] : {std::pair{kVaultKind, &vaults_}, std::pair{kDeletedVaultKind, &deleted_vaults_}}) {
    ASSIGN_OR_RETURN(auto docs, store_->List(kind, ""));
    for (const auto& d : docs) {
      ASSIGN_OR_RETURN(bj::object o, json::ParseObject(d.body));
      ASSIGN_OR_RETURN(Vault v, VaultFromJson(o));
      (*target)[ToLower(v.name)].vault = std::move(v);
    }
  }
  ASSIGN_OR_RETURN(auto keys, store_->List(kKeyKind, ""));
  for (const auto& d : keys) {
    std::string vault = ToLower(d.id.substr(0, d.id.find('/')));
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(d.body));
    ASSIGN_OR_RETURN(Key k, KeyFromJson(o));
    auto it = vaults_.find(vault);
    if (it == vaults_.end()) it = deleted_vaults_.find(vault);
    if (it == deleted_vaults_.end()) continue;  // orphan of a purged vault
    it->second.keys[ToLower(k.name)] = std::move(k);
  }
  ASSIGN_OR_RETURN(auto hsm_docs, store_->List(kHsmKind, ""));
  std::set<std::string> with_state;
  for (const auto& d : hsm_docs) {
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(d.body));
    ASSIGN_OR_RETURN(HsmLocalState st, HsmStateFromJson(o));
    auto it = vaults_.find(ToLower(d.id));
    if (it == vaults_.end()) it = deleted_vaults_.find(ToLower(d.id));
    if (it == deleted_vaults_.end()) continue;
    it->second.hsm = std::move(st);
    with_state.insert(ToLower(d.id));
  }
  // HSMs created before local RBAC and security domains: active (their keys are in the
  // PKCS#11 token and need no domain), their initial administrators Administrators.
  for (auto* m : {&vaults_, &deleted_vaults_}) {
    for (auto& [name, vs] : *m) {
      if (vs.vault.kind != VaultKind::kManagedHsm || with_state.count(name)) continue;
      vs.hsm = NewHsmState(vs.vault, true);
      RETURN_IF_ERROR(SaveHsm(vs.vault, vs.hsm));
    }
  }
  return OkStatus();
}

HsmLocalState KeyVaultService::NewHsmState(const Vault& v, bool legacy) {
  HsmLocalState st;
  st.activation = legacy ? HsmActivation::kActive : HsmActivation::kNotActivated;
  for (const auto& admin : v.initial_admins) {
    st.assignments.push_back({env_.random->NewGuid(), "/", kHsmAdministratorRole, admin});
  }
  return st;
}

Status KeyVaultService::SaveHsm(const Vault& v, const HsmLocalState& st) {
  return store_->Put(kHsmKind, ToLower(v.name), json::Serialize(HsmStateToJson(st)));
}

std::optional<std::string> KeyVaultService::HsmActivationStatus(std::string_view name) const {
  ReaderLock l(&mu_);
  auto it = vaults_.find(ToLower(name));
  if (it == vaults_.end() || it->second.vault.kind != VaultKind::kManagedHsm) return std::nullopt;
  return it->second.hsm.activation == HsmActivation::kActive ? "Active" : "NotActivated";
}

Status KeyVaultService::SaveVault(const Vault& v, bool deleted) {
  return store_->Transaction([&](meta::DocumentOps& ops) -> Status {
    RETURN_IF_ERROR(ops.Delete(deleted ? kVaultKind : kDeletedVaultKind, v.name).status());
    return ops.Put(deleted ? kDeletedVaultKind : kVaultKind, v.name, json::Serialize(VaultToJson(v)));
  });
}

Status KeyVaultService::SaveKey(const Vault& v, const Key& k) {
  return store_->Put(kKeyKind, KeyDocId(v, k.name), json::Serialize(KeyToJson(k)));
}

Status KeyVaultService::DeleteKeyDoc(const Vault& v, const std::string& name) {
  return store_->Delete(kKeyKind, KeyDocId(v, name)).status();
}

std::string KeyVaultService::VaultUri(const Vault& v) const {
  std::string host = ToLower(v.name) + (v.kind == VaultKind::kManagedHsm ? ".managedhsm." : ".vault.") + options_.domain;
  return "https://" + host + (options_.port == 443 ? "" : ":" + std::to_string(options_.port)) + "/";
}

std::string KeyVaultService::KeyBaseUrl(const Vault& v) const {
  std::string uri = VaultUri(v);
  uri.pop_back();
  return uri;
}

std::string KeyVaultService::RecoveryLevel(const Vault& v) const {
  if (!v.soft_delete) return "Purgeable";
  std::string level = v.retention_days < 90 ? "CustomizedRecoverable" : "Recoverable";
  return v.purge_protection ? level : level + "+Purgeable";
}

int KeyVaultService::RecoverableDays(const Vault& v) const { return v.soft_delete ? v.retention_days : 0; }

// ---------------------------------------------------------------------------------------------
// Registry

Result<Vault> KeyVaultService::PutVault(Vault v, bool recover) {
  static const std::regex kName("^[a-zA-Z0-9-]{3,24}$");
  if (!std::regex_match(v.name, kName) || v.name.front() == '-' || v.name.back() == '-' ||
      v.name.find("--") != std::string::npos || !std::isalpha(static_cast<unsigned char>(v.name.front()))) {
    return InvalidArgument("The vault name '" + v.name +
                               "' is invalid. A vault's name must be between 3-24 alphanumeric characters. "
                               "The name must begin with a letter, end with a letter or digit, and not "
                               "contain consecutive hyphens.",
                           "VaultNameNotValid");
  }
  if (v.retention_days < 7 || v.retention_days > 90) {
    return InvalidArgument("The property \"softDeleteRetentionInDays\" has an invalid value. Must be between 7 and 90.",
                           "BadRequest");
  }
  WriterLock l(&mu_);
  std::string key = ToLower(v.name);
  if (auto d = deleted_vaults_.find(key); d != deleted_vaults_.end()) {
    if (!recover) {
      return Conflict("A vault with the same name already exists in deleted state. You need to either recover or "
                      "purge existing key vault.",
                      "ConflictError");
    }
    if (!EqualsIgnoreCase(d->second.vault.resource_id, v.resource_id)) {
      return Conflict("The deleted vault '" + v.name + "' belongs to another resource group or subscription.",
                      "ConflictError");
    }
    VaultState state = std::move(d->second);
    deleted_vaults_.erase(d);
    state.vault.deleted.reset();
    state.vault.scheduled_purge.reset();
    RETURN_IF_ERROR(SaveVault(state.vault, false));
    Vault out = state.vault;
    vaults_[key] = std::move(state);
    return out;
  }
  if (recover) {
    return NotFound("There is no deleted vault named '" + v.name + "' to recover.", "ResourceNotFound");
  }
  auto it = vaults_.find(key);
  if (it != vaults_.end()) {
    Vault& cur = it->second.vault;
    if (!EqualsIgnoreCase(cur.resource_id, v.resource_id)) {
      return Conflict("The vault name '" + v.name + "' is already in use.", "VaultAlreadyExists");
    }
    if (cur.kind != v.kind) return Conflict("The name '" + v.name + "' is in use by another resource type.", "VaultAlreadyExists");
    if (cur.soft_delete && !v.soft_delete) {
      return InvalidArgument("The property \"enableSoftDelete\" cannot be set to false. Soft delete is enabled and cannot be disabled.",
                             "BadRequest");
    }
    if (cur.purge_protection && !v.purge_protection) {
      return InvalidArgument("The property \"enablePurgeProtection\" cannot be set to false. Once enabled, purge protection cannot be disabled.",
                             "BadRequest");
    }
    if (cur.soft_delete && v.retention_days != cur.retention_days) {
      return InvalidArgument("The property \"softDeleteRetentionInDays\" cannot be changed once soft delete is enabled.",
                             "BadRequest");
    }
    v.created = cur.created;
    RETURN_IF_ERROR(SaveVault(v, false));
    cur = v;
    return v;
  }
  if (v.purge_protection && !v.soft_delete) {
    return InvalidArgument("Purge protection can only be enabled together with soft delete.", "BadRequest");
  }
  v.created = env_.clock->Now();
  RETURN_IF_ERROR(SaveVault(v, false));
  VaultState& state = vaults_[key];
  state.vault = v;
  if (v.kind == VaultKind::kManagedHsm) {
    state.hsm = NewHsmState(v, false);
    RETURN_IF_ERROR(SaveHsm(v, state.hsm));
  }
  return v;
}

std::optional<Vault> KeyVaultService::GetVault(std::string_view name) const {
  ReaderLock l(&mu_);
  auto it = vaults_.find(ToLower(name));
  if (it == vaults_.end()) return std::nullopt;
  return it->second.vault;
}

std::vector<Vault> KeyVaultService::ListVaults(std::string_view sub, std::string_view rg, VaultKind kind) const {
  ReaderLock l(&mu_);
  std::vector<Vault> out;
  for (const auto& [k, vs] : vaults_) {
    if (vs.vault.kind != kind || !EqualsIgnoreCase(vs.vault.subscription_id, sub)) continue;
    if (!rg.empty() && !EqualsIgnoreCase(vs.vault.resource_group, rg)) continue;
    out.push_back(vs.vault);
  }
  return out;
}

Status KeyVaultService::DeleteVault(std::string_view name) {
  WriterLock l(&mu_);
  auto it = vaults_.find(ToLower(name));
  if (it == vaults_.end()) return NotFound("The vault '" + std::string(name) + "' was not found.", "ResourceNotFound");
  VaultState state = std::move(it->second);
  vaults_.erase(it);
  if (!state.vault.soft_delete) {
    for (const auto& [kn, k] : state.keys) {
      RETURN_IF_ERROR(DeleteKeyDoc(state.vault, k.name));
      for (const auto& [vn, kv] : k.by_version) {
        if (!kv.hsm_id.empty() && hsm_) hsm_->Destroy(kv.hsm_id).IgnoreError();
      }
    }
    store_->Delete(kHsmKind, ToLower(state.vault.name)).IgnoreError();
    return store_->Delete(kVaultKind, state.vault.name).status();
  }
  TimePoint now = env_.clock->Now();
  state.vault.deleted = now;
  state.vault.scheduled_purge = now + std::chrono::hours(24) * state.vault.retention_days;
  RETURN_IF_ERROR(SaveVault(state.vault, true));
  deleted_vaults_[ToLower(state.vault.name)] = std::move(state);
  return OkStatus();
}

std::vector<Vault> KeyVaultService::ListDeletedVaults(std::string_view sub, VaultKind kind) const {
  ReaderLock l(&mu_);
  std::vector<Vault> out;
  for (const auto& [k, vs] : deleted_vaults_) {
    if (vs.vault.kind == kind && EqualsIgnoreCase(vs.vault.subscription_id, sub)) out.push_back(vs.vault);
  }
  return out;
}

std::optional<Vault> KeyVaultService::GetDeletedVault(std::string_view name) const {
  ReaderLock l(&mu_);
  auto it = deleted_vaults_.find(ToLower(name));
  if (it == deleted_vaults_.end()) return std::nullopt;
  return it->second.vault;
}

Status KeyVaultService::PurgeDeletedVault(std::string_view name) {
  WriterLock l(&mu_);
  auto it = deleted_vaults_.find(ToLower(name));
  if (it == deleted_vaults_.end()) {
    return NotFound("The deleted vault '" + std::string(name) + "' was not found.", "ResourceNotFound");
  }
  const Vault& v = it->second.vault;
  if (v.purge_protection && v.scheduled_purge && env_.clock->Now() < *v.scheduled_purge) {
    return Conflict("Vault '" + v.name + "' is protected by purge protection and cannot be purged before " +
                        FormatRfc3339(*v.scheduled_purge, 0) + ".",
                    "PurgeProtectionEnabled");
  }
  for (const auto& [kn, k] : it->second.keys) {
    RETURN_IF_ERROR(DeleteKeyDoc(v, k.name));
    for (const auto& [vn, kv] : k.by_version) {
      if (!kv.hsm_id.empty() && hsm_) hsm_->Destroy(kv.hsm_id).IgnoreError();
    }
  }
  RETURN_IF_ERROR(store_->Delete(kDeletedVaultKind, v.name).status());
  store_->Delete(kHsmKind, ToLower(v.name)).IgnoreError();
  deleted_vaults_.erase(it);
  return OkStatus();
}

Result<Vault> KeyVaultService::UpdateAccessPolicies(std::string_view name, std::string_view op,
                                                    const std::vector<AccessPolicy>& policies) {
  WriterLock l(&mu_);
  auto it = vaults_.find(ToLower(name));
  if (it == vaults_.end()) return NotFound("The vault '" + std::string(name) + "' was not found.", "ResourceNotFound");
  Vault v = it->second.vault;
  for (const auto& p : policies) {
    auto same = [&](const AccessPolicy& x) {
      return EqualsIgnoreCase(x.object_id, p.object_id) && EqualsIgnoreCase(x.tenant_id, p.tenant_id) &&
             EqualsIgnoreCase(x.application_id, p.application_id);
    };
    auto found = std::find_if(v.access_policies.begin(), v.access_policies.end(), same);
    if (op == "replace") {
      if (found != v.access_policies.end()) *found = p;
      else v.access_policies.push_back(p);
    } else if (op == "add") {
      if (found == v.access_policies.end()) {
        v.access_policies.push_back(p);
      } else {
        for (const auto& perm : p.keys) {
          if (std::find(found->keys.begin(), found->keys.end(), perm) == found->keys.end()) found->keys.push_back(perm);
        }
      }
    } else if (op == "remove") {
      if (found == v.access_policies.end()) continue;
      if (p.keys.empty()) {
        v.access_policies.erase(found);
      } else {
        std::erase_if(found->keys, [&](const std::string& k) {
          return std::find(p.keys.begin(), p.keys.end(), k) != p.keys.end();
        });
        if (found->keys.empty()) v.access_policies.erase(found);
      }
    } else {
      return InvalidArgument("The access policy operation must be add, replace or remove.", "BadRequest");
    }
  }
  if (v.access_policies.size() > 1024) {
    return InvalidArgument("A vault can hold at most 1024 access policies.", "BadRequest");
  }
  RETURN_IF_ERROR(SaveVault(v, false));
  it->second.vault = v;
  return v;
}

// ---------------------------------------------------------------------------------------------
// Keys

// A fresh RSA key for `kv`: its public part, its private key sealed under `seal_key` with
// `aad`, and the key in the private-key cache.
Status KeyVaultService::NewSealedRsa(KeyVersion& kv, int size, const SecretBytes& seal_key, std::string_view aad) {
  ASSIGN_OR_RETURN(crypto::RsaKey key, crypto::RsaKey::Generate(size));
  kv.n = key.Modulus();
  kv.e = key.Exponent();
  ASSIGN_OR_RETURN(SecretBytes pem, key.PrivatePem());
  ASSIGN_OR_RETURN(auto sealed, crypto::AesGcmSeal(seal_key, pem.span(), AsBytes(aad), *env_.random));
  kv.sealed_private = Base64Encode(sealed);
  kv.key_ops = {"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"};
  MutexLock cl(&cache_mu_);
  private_cache_[kv.version] = std::make_shared<const crypto::RsaKey>(std::move(key));
  return OkStatus();
}

Result<KeyVersion> KeyVaultService::NewVersion(const VaultState& vs, const std::string& kty, int size,
                                               int64_t now) {
  KeyVersion kv;
  std::array<uint8_t, 16> id;
  env_.random->Fill(id);
  kv.version = HexEncode(id);
  kv.kty = kty;
  kv.key_size = size;
  kv.created = kv.updated = now;
  if (kty == "RSA") {
    RETURN_IF_ERROR(NewSealedRsa(kv, size, master_key_, kPrivateAad));
    return kv;
  }
  if (vs.vault.kind == VaultKind::kManagedHsm && !vs.hsm.sealed_domain_key.empty()) {
    // An HSM with a security domain seals its keys under the domain key, which is what lets
    // the security domain bring them back in another HSM (see security_domain.h).
    ASSIGN_OR_RETURN(SecretBytes domain, UnsealDomainKey(vs.hsm.sealed_domain_key));
    kv.domain_sealed = true;
    if (kty == "RSA-HSM") {
      RETURN_IF_ERROR(NewSealedRsa(kv, size, domain, kHsmPrivateAad));
      return kv;
    }
    if (kty == "oct-HSM") {
      SecretBytes aes = env_.random->NewSecret(32);
      ASSIGN_OR_RETURN(auto sealed, crypto::AesGcmSeal(domain, aes.span(), AsBytes(kHsmPrivateAad), *env_.random));
      kv.sealed_private = Base64Encode(sealed);
      kv.key_ops = {"wrapKey", "unwrapKey"};
      return kv;
    }
    return InvalidArgument("Key type '" + kty + "' is not supported.", "BadParameter");
  }
  if (hsm_ == nullptr) {
    return InvalidArgument("Key type '" + kty + "' needs a hardware security module, which this instance does not have.",
                           "BadParameter");
  }
  if (kty == "RSA-HSM") {
    ASSIGN_OR_RETURN(kv.hsm_id, hsm_->GenerateRsa(size));
    ASSIGN_OR_RETURN(kv.n, hsm_->RsaModulus(kv.hsm_id));
    ASSIGN_OR_RETURN(kv.e, hsm_->RsaPublicExponent(kv.hsm_id));
    kv.key_ops = {"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"};
    return kv;
  }
  if (kty == "oct-HSM") {
    ASSIGN_OR_RETURN(kv.hsm_id, hsm_->GenerateAes256());
    kv.key_ops = {"wrapKey", "unwrapKey"};
    return kv;
  }
  return InvalidArgument("Key type '" + kty + "' is not supported.", "BadParameter");
}

Result<SecretBytes> KeyVaultService::UnsealDomainKey(const std::string& sealed_domain_key) const {
  ASSIGN_OR_RETURN(auto sealed, Base64Decode(sealed_domain_key));
  auto key = crypto::AesGcmOpen(master_key_, sealed, AsBytes(kDomainKeyAad));
  if (!key.ok()) return Internal("the managed HSM's domain key cannot be unsealed");
  return std::move(*key);
}

Result<SecretBytes> KeyVaultService::SecretKey(const KeyVersion& kv, const std::string& sealed_domain_key) {
  ASSIGN_OR_RETURN(SecretBytes domain, UnsealDomainKey(sealed_domain_key));
  ASSIGN_OR_RETURN(auto sealed, Base64Decode(kv.sealed_private));
  auto key = crypto::AesGcmOpen(domain, sealed, AsBytes(kHsmPrivateAad));
  if (!key.ok()) return Internal("the key material of version " + kv.version + " cannot be unsealed");
  return std::move(*key);
}

Result<std::shared_ptr<const crypto::RsaKey>> KeyVaultService::PrivateKey(const KeyVersion& kv,
                                                                          const std::string& sealed_domain_key) {
  {
    MutexLock cl(&cache_mu_);
    auto it = private_cache_.find(kv.version);
    if (it != private_cache_.end()) return it->second;
  }
  ASSIGN_OR_RETURN(auto sealed, Base64Decode(kv.sealed_private));
  SecretBytes domain;
  if (kv.domain_sealed) {
    ASSIGN_OR_RETURN(domain, UnsealDomainKey(sealed_domain_key));
  }
  auto pem = kv.domain_sealed ? crypto::AesGcmOpen(domain, sealed, AsBytes(kHsmPrivateAad))
                              : crypto::AesGcmOpen(master_key_, sealed, AsBytes(kPrivateAad));
  if (!pem.ok()) return Internal("the key material of version " + kv.version + " cannot be unsealed");
  ASSIGN_OR_RETURN(crypto::RsaKey key, crypto::RsaKey::FromPrivatePem(*pem));
  auto shared = std::make_shared<const crypto::RsaKey>(std::move(key));
  MutexLock cl(&cache_mu_);
  private_cache_[kv.version] = shared;
  return shared;
}

bj::object KeyVaultService::KeyBundle(const Vault& v, const Key& k, const KeyVersion& kv) const {
  bj::array ops;
  for (const auto& op : kv.key_ops) ops.emplace_back(op);
  bj::object jwk{{"kid", KeyBaseUrl(v) + "/keys/" + k.name + "/" + kv.version},
                 {"kty", kv.kty},
                 {"key_ops", std::move(ops)}};
  if (!kv.n.empty()) {
    jwk["n"] = Base64UrlEncode(kv.n);
    jwk["e"] = Base64UrlEncode(kv.e);
  }
  bj::object attrs{{"enabled", kv.enabled},
                   {"created", kv.created},
                   {"updated", kv.updated},
                   {"recoveryLevel", RecoveryLevel(v)},
                   {"recoverableDays", RecoverableDays(v)},
                   {"exportable", false}};
  if (kv.nbf) attrs["nbf"] = *kv.nbf;
  if (kv.exp) attrs["exp"] = *kv.exp;
  bj::object out{{"key", std::move(jwk)}, {"attributes", std::move(attrs)}};
  if (!kv.tags.empty()) out["tags"] = kv.tags;
  if (k.deleted_date) {
    out["recoveryId"] = KeyBaseUrl(v) + "/deletedkeys/" + k.name;
    out["deletedDate"] = *k.deleted_date;
    out["scheduledPurgeDate"] = *k.scheduled_purge_date;
  }
  return out;
}

Status KeyVaultService::Authorize(const identity::Principal& caller, const VaultState& vs,
                                  std::string_view permission, std::string_view data_action,
                                  std::string_view key) const {
  const Vault& v = vs.vault;
  std::string who = "appid=" + caller.app_id + ";oid=" + caller.object_id + ";iss=https://sts.windows.net/" +
                    caller.tenant_id + "/";
  if (!EqualsIgnoreCase(caller.tenant_id, v.tenant_id)) {
    return Status(StatusCode::kUnauthenticated,
                  "AKV10032: Invalid issuer. Expected one of https://sts.windows.net/" + v.tenant_id +
                      "/, found https://sts.windows.net/" + caller.tenant_id + "/.",
                  "Unauthorized");
  }
  // A managed HSM answers to its own local RBAC only; Azure RBAC governs the ARM resource.
  if (v.kind == VaultKind::kManagedHsm) {
    return AuthorizeHsm(caller, vs, HsmDataAction(data_action), key.empty() ? "/keys" : "/keys/" + std::string(key));
  }
  if (v.rbac) {
    std::string scope = v.resource_id + (key.empty() ? "" : "/keys/" + std::string(key));
    std::string action = "Microsoft.KeyVault/vaults/" + std::string(data_action);
    if (rbac_->IsAllowed(caller.object_id, action, scope, true)) return OkStatus();
    return Status(StatusCode::kPermissionDenied,
                  "Caller is not authorized to perform action on resource.\r\nIf role assignments, deny "
                  "assignments or role definitions were changed recently, please observe propagation "
                  "time.\r\nCaller: " + who + "\r\nAction: '" + action + "'\r\nResource: '" + ToLower(scope) +
                      "'\r\nAssignment: (not found)\r\nDenyAssignmentId: null\r\nDecisionReason: null \r\nVault: " +
                      v.name + ";location=" + v.location + "\r\n",
                  "Forbidden", "ForbiddenByRbac");
  }
  std::string perm = ToLower(permission);
  for (const auto& p : v.access_policies) {
    if (!EqualsIgnoreCase(p.object_id, caller.object_id)) continue;
    if (!p.application_id.empty() && !EqualsIgnoreCase(p.application_id, caller.app_id)) continue;
    for (const auto& k : p.keys) {
      if (k == perm || k == "all") return OkStatus();
    }
  }
  return Status(StatusCode::kPermissionDenied,
                "The user, group or application '" + who + "' does not have keys " + perm +
                    " permission on key vault '" + v.name + ";location=" + v.location +
                    "'. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125287",
                "Forbidden", "AccessDenied");
}

Status KeyVaultService::RotateLocked(VaultState& vs, Key& k, int64_t now) {
  const KeyVersion& cur = k.current();
  ASSIGN_OR_RETURN(KeyVersion kv, NewVersion(vs, cur.kty, cur.key_size, now));
  kv.key_ops = cur.key_ops;
  kv.tags = cur.tags;
  if (k.rotation_policy && !k.rotation_policy->expiry_time.empty()) {
    auto d = ParseIsoDuration(k.rotation_policy->expiry_time);
    if (d.ok()) kv.exp = now + std::chrono::duration_cast<std::chrono::seconds>(*d).count();
  }
  std::string ver = kv.version;
  k.by_version[ver] = std::move(kv);
  k.versions.push_back(ver);
  return SaveKey(vs.vault, k);
}

void KeyVaultService::StartBackground() {
  if (background_.exchange(true)) return;
  ScheduleSweep();
}

void KeyVaultService::ScheduleSweep() {
  std::weak_ptr<bool> alive = alive_;
  sweep_timer_ = env_.clock->RunAfter(options_.sweep_interval, [this, alive] {
    auto a = alive.lock();
    if (!a || !*a) return;
    Sweep();
    ScheduleSweep();
  });
}

void KeyVaultService::Sweep() {
  WriterLock l(&mu_);
  int64_t now = ToUnixSeconds(env_.clock->Now());
  for (auto& [vn, vs] : vaults_) {
    for (auto it = vs.keys.begin(); it != vs.keys.end();) {
      Key& k = it->second;
      // Soft-deleted keys past their scheduled purge date are purged.
      if (k.deleted_date && k.scheduled_purge_date && now >= *k.scheduled_purge_date) {
        DeleteKeyDoc(vs.vault, k.name).IgnoreError();
        for (const auto& [ver, kv] : k.by_version) {
          if (!kv.hsm_id.empty() && hsm_) hsm_->Destroy(kv.hsm_id).IgnoreError();
        }
        it = vs.keys.erase(it);
        continue;
      }
      if (!k.deleted_date && k.rotation_policy) {
        const KeyVersion& cur = k.current();
        for (const auto& a : k.rotation_policy->actions) {
          if (!EqualsIgnoreCase(a.type, "Rotate")) continue;
          auto d = ParseIsoDuration(a.duration);
          if (!d.ok()) continue;
          int64_t secs = std::chrono::duration_cast<std::chrono::seconds>(*d).count();
          bool due = (a.trigger == "timeAfterCreate" && now >= cur.created + secs) ||
                     (a.trigger == "timeBeforeExpiry" && cur.exp && now >= *cur.exp - secs);
          if (due) {
            RotateLocked(vs, k, now).IgnoreError();
            break;
          }
        }
      }
      ++it;
    }
  }
  for (auto it = deleted_vaults_.begin(); it != deleted_vaults_.end();) {
    const Vault& v = it->second.vault;
    if (v.scheduled_purge && env_.clock->Now() >= *v.scheduled_purge) {
      for (const auto& [kn, k] : it->second.keys) DeleteKeyDoc(v, k.name).IgnoreError();
      store_->Delete(kDeletedVaultKind, v.name).IgnoreError();
      store_->Delete(kHsmKind, ToLower(v.name)).IgnoreError();
      it = deleted_vaults_.erase(it);
    } else {
      ++it;
    }
  }
}

}  // namespace cmk::keyvault
