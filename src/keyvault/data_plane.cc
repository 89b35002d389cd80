// The keys data plane: Key Vault's REST routes over KeyVaultService's state.
#include <mutex>
#include <regex>

#include <openssl/evp.h>

#include "base/encoding.h"
#include "base/json.h"
#include "crypto/aead.h"
#include "keyvault/key_vault_service.h"
#include "keyvault/records.h"
#include "keyvault/service_internal.h"

namespace cmk::keyvault {
namespace {

namespace bj = boost::json;
constexpr char kBackupAad[] = "cmklogs/kv-backup/v1";
// A managed HSM's key backups are sealed under its domain key: only an HSM holding the same
// security domain restores them (as in Azure), never a vault.
constexpr char kHsmBackupAad[] = "cmklogs/mhsm-backup/v1";
const std::vector<std::string> kValidOps = {"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey", "import", "export"};

Status KeyNotFound(std::string_view name, std::string_view version = {}) {
  std::string id = std::string(name) + (version.empty() ? "" : "/" + std::string(version));
  return NotFound("A key with (name/id) " + id + " was not found in this key vault. If you recently deleted "
                  "this key you may be able to recover it using the correct recovery command. For help "
                  "resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182",
                  "KeyNotFound");
}

// RFC 3394 AES key wrap (A256KW) in software, for domain-sealed oct-HSM keys.
Result<std::vector<uint8_t>> AesKw(bool wrap, const SecretBytes& key, std::span<const uint8_t> in) {
  if (in.size() < (wrap ? 16u : 24u) || in.size() % 8 != 0 || in.size() > 4096) {
    return BadParameter("The value has the wrong length for A256KW.");
  }
  std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)> ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  if (!ctx) return Internal("EVP_CIPHER_CTX_new failed");
  EVP_CIPHER_CTX_set_flags(ctx.get(), EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
  if (EVP_CipherInit_ex(ctx.get(), EVP_aes_256_wrap(), nullptr, key.data(), nullptr, wrap ? 1 : 0) != 1) {
    return Internal("A256KW initialisation failed");
  }
  std::vector<uint8_t> out(in.size() + 16);
  int n = 0, f = 0;
  if (EVP_CipherUpdate(ctx.get(), out.data(), &n, in.data(), static_cast<int>(in.size())) != 1 ||
      EVP_CipherFinal_ex(ctx.get(), out.data() + n, &f) != 1) {
    WipeBytes(out);
    return BadParameter("The value could not be unwrapped with this key (integrity check failed).");
  }
  out.resize(static_cast<size_t>(n + f));
  return out;
}

bool ValidKeyName(std::string_view n) {
  static const std::regex kRe("^[0-9a-zA-Z-]{1,127}$");
  return std::regex_match(n.begin(), n.end(), kRe);
}

std::optional<crypto::RsaPadding> Padding(std::string_view alg) {
  if (alg == "RSA-OAEP") return crypto::RsaPadding::kOaepSha1;
  if (alg == "RSA-OAEP-256") return crypto::RsaPadding::kOaepSha256;
  if (alg == "RSA1_5") return crypto::RsaPadding::kPkcs1v15;
  return std::nullopt;
}

std::optional<crypto::RsaDigestSignature> SignAlg(std::string_view alg) {
  if (alg == "RS256") return crypto::RsaDigestSignature::kRs256;
  if (alg == "PS256") return crypto::RsaDigestSignature::kPs256;
  return std::nullopt;
}

// Parses `attributes` {enabled, nbf, exp} into a version.
Status ApplyAttributes(const bj::object& body, KeyVersion& kv) {
  ASSIGN_OR_RETURN(const bj::object* attrs, json::GetObject(body, "attributes"));
  if (attrs == nullptr) return OkStatus();
  auto enabled = json::GetBool(*attrs, "enabled");
  auto nbf = json::GetInt(*attrs, "nbf");
  auto exp = json::GetInt(*attrs, "exp");
  if (!enabled.ok() || !nbf.ok() || !exp.ok()) {
    return BadParameter("attributes.enabled must be a boolean and attributes.nbf/exp Unix times in seconds.");
  }
  if (enabled->has_value()) kv.enabled = **enabled;
  if (json::FindCI(*attrs, "nbf")) kv.nbf = *nbf;
  if (json::FindCI(*attrs, "exp")) kv.exp = *exp;
  if (kv.nbf && kv.exp && *kv.exp <= *kv.nbf) return BadParameter("attributes.exp must be after attributes.nbf.");
  return OkStatus();
}

Status ApplyKeyOps(const bj::object& body, KeyVersion& kv) {
  const bj::value* ops = json::FindCI(body, "key_ops");
  if (ops == nullptr || ops->is_null()) return OkStatus();
  if (!ops->is_array()) return BadParameter("key_ops must be an array of operations.");
  std::vector<std::string> out;
  for (const auto& o : ops->as_array()) {
    if (!o.is_string()) return BadParameter("key_ops must be an array of operations.");
    auto it = std::find_if(kValidOps.begin(), kValidOps.end(), [&](const std::string& v) { return EqualsIgnoreCase(v, o.as_string()); });
    if (it == kValidOps.end()) return BadParameter("Invalid key operation: " + std::string(o.as_string()) + ".");
    out.push_back(*it);
  }
  kv.key_ops = std::move(out);
  return OkStatus();
}

Status ApplyTags(const bj::object& body, bj::object& tags) {
  const bj::value* t = json::FindCI(body, "tags");
  if (t == nullptr || t->is_null()) return OkStatus();
  if (!t->is_object()) return BadParameter("tags must be an object of strings.");
  for (const auto& kv : t->as_object()) {
    if (!kv.value().is_string()) return BadParameter("tags must be an object of strings.");
  }
  if (t->as_object().size() > 15) return BadParameter("A key can have at most 15 tags.");
  tags = t->as_object();
  return OkStatus();
}

}  // namespace

class KeyVaultService::DataPlane {
 public:
  DataPlane(KeyVaultService& s, const KvRequest& r) : s_(s), r_(r) {}

  KvResponse Run() {
    auto seg = SplitPath(r_.path);
    bool has_api = false;
    for (const auto& [k, v] : r_.query) {
      if (EqualsIgnoreCase(k, "api-version") && !v.empty()) has_api = true;
    }
    if (!has_api) return KvError(BadParameter("The 'api-version' query parameter is required."));
    const std::string& m = r_.method;
    if (seg.empty()) return NoRoute();
    if (r_.kind == VaultKind::kManagedHsm &&
        (EqualsIgnoreCase(seg[0], "securitydomain") ||
         ToLower(r_.path).find("providers/microsoft.authorization/") != std::string::npos)) {
      return s_.HandleHsmAdmin(r_);
    }
    if (seg[0] == "keys") {
      if (seg.size() == 1 && m == "GET") return ListKeys();
      if (seg.size() == 2 && seg[1] == "restore" && m == "POST") return Restore();
      if (seg.size() == 2) {
        if (m == "GET") return GetKeyRoute(seg[1], "");
        if (m == "PATCH") return Update(seg[1], "");
        if (m == "DELETE") return Delete(seg[1]);
        if (m == "PUT") return Import(seg[1]);
      }
      if (seg.size() == 3) {
        const std::string& x = seg[2];
        if (m == "POST" && x == "create") return CreateRoute(seg[1]);
        if (m == "POST" && x == "backup") return Backup(seg[1]);
        if (m == "POST" && x == "rotate") return Rotate(seg[1]);
        if (m == "GET" && x == "versions") return ListVersions(seg[1]);
        if (x == "rotationpolicy" && m == "GET") return GetPolicy(seg[1]);
        if (x == "rotationpolicy" && m == "PUT") return PutPolicy(seg[1]);
        if (m == "POST" && IsCryptoOp(x)) return Crypto(seg[1], "", x);
        if (m == "GET") return GetKeyRoute(seg[1], x);
        if (m == "PATCH") return Update(seg[1], x);
      }
      if (seg.size() == 4 && m == "POST" && IsCryptoOp(seg[3])) return Crypto(seg[1], seg[2], seg[3]);
    } else if (seg[0] == "deletedkeys") {
      if (seg.size() == 1 && m == "GET") return ListDeleted();
      if (seg.size() == 2 && m == "GET") return GetDeleted(seg[1]);
      if (seg.size() == 2 && m == "DELETE") return Purge(seg[1]);
      if (seg.size() == 3 && m == "POST" && seg[2] == "recover") return Recover(seg[1]);
    }
    return NoRoute();
  }

  // Typed crypto entry point shared with KeyVaultClient.
  Result<KeyOperationResult> CryptoOp(std::string_view key, std::string_view version, std::string_view op,
                                      std::string_view alg, std::span<const uint8_t> value, bool* verified);
  Result<bj::object> GetBundle(std::string_view key, std::string_view version);

 private:
  static bool IsCryptoOp(std::string_view x) {
    return x == "wrapkey" || x == "unwrapkey" || x == "encrypt" || x == "decrypt" || x == "sign" || x == "verify";
  }
  KvResponse NoRoute() {
    return KvError(Status(StatusCode::kNotFound, "The operation '" + r_.method + " " + r_.path + "' is not supported by this vault.",
                          "BadParameter"));
  }
  static KvResponse Ok(bj::value body) { return KvResponse{200, std::move(body)}; }
  KvResponse Audited(std::string op, std::string key, std::string version, std::string alg, const std::function<KvResponse()>& fn) {
    int64_t start = env::MonotonicMicros();
    KvResponse res = fn();
    if (s_.audit_) {
      AuditEntry e;
      e.time = s_.env_.clock->Now();
      e.caller_object_id = r_.caller.object_id;
      e.caller_app_id = r_.caller.app_id;
      e.vault = r_.vault_name;
      e.key = std::move(key);
      e.version = std::move(version);
      e.operation = std::move(op);
      e.algorithm = std::move(alg);
      e.status = res.status;
      if (res.status >= 400 && res.body && res.body->is_object()) {
        auto err = json::GetObject(res.body->as_object(), "error");
        if (err.ok() && *err != nullptr) {
          auto code = json::GetString(**err, "code");
          if (code.ok() && code->has_value()) e.error_code = std::move(**code);
        }
      }
      e.latency_us = env::MonotonicMicros() - start;
      s_.audit_->Record(std::move(e));
    }
    return res;
  }
  Result<bj::object> Body() {
    if (r_.body.empty()) return bj::object();
    auto o = json::ParseObject(r_.body);
    if (!o.ok()) return BadParameter("The request body is not valid JSON: " + o.status().message());
    return *o;
  }
  VaultState* Find() REQUIRES_SHARED(s_.mu_) {
    auto it = s_.vaults_.find(ToLower(r_.vault_name));
    return it == s_.vaults_.end() ? nullptr : &it->second;
  }
  Status VaultMissing() {
    return NotFound("The vault '" + r_.vault_name + "' does not exist.", "VaultNotFound");
  }
  int64_t Now() const { return ToUnixSeconds(s_.env_.clock->Now()); }
  // The vault, after authorizing `permission` / `data_action` on `key` (the caller holds mu_).
  Result<VaultState*> Authorized(std::string_view permission, std::string_view data_action,
                                 std::string_view key) REQUIRES_SHARED(s_.mu_) {
    VaultState* vs = Find();
    if (!vs) return VaultMissing();
    RETURN_IF_ERROR(s_.Authorize(r_.caller, *vs, permission, data_action, key));
    return vs;
  }
  // A live (not soft-deleted) key, authorized as above.
  Result<std::pair<VaultState*, Key*>> LiveKey(const std::string& name, std::string_view permission,
                                               std::string_view data_action)
      REQUIRES_SHARED(s_.mu_) {
    ASSIGN_OR_RETURN(VaultState * vs, Authorized(permission, data_action, name));
    auto it = vs->keys.find(ToLower(name));
    if (it == vs->keys.end() || it->second.deleted_date) return KeyNotFound(name);
    return std::make_pair(vs, &it->second);
  }
  // A soft-deleted key, authorized as above.
  Result<std::pair<VaultState*, std::map<std::string, Key>::iterator>> DeletedKey(
      const std::string& name, std::string_view permission, std::string_view data_action)
      REQUIRES_SHARED(s_.mu_) {
    ASSIGN_OR_RETURN(VaultState * vs, Authorized(permission, data_action, name));
    auto it = vs->keys.find(ToLower(name));
    if (it == vs->keys.end() || !it->second.deleted_date) {
      return NotFound("Deleted Key not found: " + name, "KeyNotFound");
    }
    return std::make_pair(vs, it);
  }

  KvResponse ListKeys();
  KvResponse ListVersions(const std::string& name);
  KvResponse GetKeyRoute(const std::string& name, const std::string& version);
  KvResponse CreateRoute(const std::string& name);
  KvResponse Import(const std::string& name);
  KvResponse Update(const std::string& name, const std::string& version);
  KvResponse Delete(const std::string& name);
  KvResponse ListDeleted();
  KvResponse GetDeleted(const std::string& name);
  KvResponse Purge(const std::string& name);
  KvResponse Recover(const std::string& name);
  KvResponse Backup(const std::string& name);
  KvResponse Restore();
  KvResponse Rotate(const std::string& name);
  KvResponse GetPolicy(const std::string& name);
  KvResponse PutPolicy(const std::string& name);
  KvResponse Crypto(const std::string& name, const std::string& version, const std::string& op);
  bj::object PolicyJson(const Vault& v, const Key& k) const;

  KeyVaultService& s_;
  const KvRequest& r_;
};

#define KV_RETURN_IF_ERROR(expr)               \
  do {                                         \
    Status kv_s_ = (expr);                     \
    if (!kv_s_.ok()) return KvError(kv_s_);    \
  } while (0)

KvResponse KeyVaultService::DataPlane::ListKeys() {
  ReaderLock l(&s_.mu_);
  VaultState* vs = Find();
  if (!vs) return KvError(VaultMissing());
  KV_RETURN_IF_ERROR(s_.Authorize(r_.caller, *vs, "list", "keys/read", ""));
  bj::array value;
  for (const auto& [n, k] : vs->keys) {
    if (k.deleted_date) continue;
    bj::object b = s_.KeyBundle(vs->vault, k, k.current());
    bj::object item{{"kid", s_.KeyBaseUrl(vs->vault) + "/keys/" + k.name}, {"attributes", b["attributes"]}};
    if (b.contains("tags")) item["tags"] = b["tags"];
    value.emplace_back(std::move(item));
  }
  return Ok(bj::object{{"value", std::move(value)}, {"nextLink", nullptr}});
}

KvResponse KeyVaultService::DataPlane::ListVersions(const std::string& name) {
  ReaderLock l(&s_.mu_);
  auto found = LiveKey(name, "list", "keys/read");
  if (!found.ok()) return KvError(found.status());
  auto [vs, key] = *found;
  bj::array value;
  for (const auto& ver : (*key).versions) {
    bj::object b = s_.KeyBundle(vs->vault, (*key), (*key).by_version.at(ver));
    bj::object item{{"kid", b["key"].as_object()["kid"]}, {"attributes", b["attributes"]}};
    if (b.contains("tags")) item["tags"] = b["tags"];
    value.emplace_back(std::move(item));
  }
  return Ok(bj::object{{"value", std::move(value)}, {"nextLink", nullptr}});
}

Result<bj::object> KeyVaultService::DataPlane::GetBundle(std::string_view name, std::string_view version) {
  ReaderLock l(&s_.mu_);
  VaultState* vs = Find();
  if (!vs) return VaultMissing();
  RETURN_IF_ERROR(s_.Authorize(r_.caller, *vs, "get", "keys/read", name));
  auto it = vs->keys.find(ToLower(name));
  if (it == vs->keys.end() || it->second.deleted_date) return KeyNotFound(name);
  const Key& k = it->second;
  if (version.empty()) return s_.KeyBundle(vs->vault, k, k.current());
  auto v = k.by_version.find(ToLower(version));
  if (v == k.by_version.end()) return KeyNotFound(name, version);
  return s_.KeyBundle(vs->vault, k, v->second);
}

KvResponse KeyVaultService::DataPlane::GetKeyRoute(const std::string& name, const std::string& version) {
  return Audited("getKey", name, version, "", [&] {
    auto b = GetBundle(name, version);
    if (!b.ok()) return KvError(b.status());
    return Ok(std::move(*b));
  });
}

KvResponse KeyVaultService::DataPlane::CreateRoute(const std::string& name) {
  return Audited("createKey", name, "", "", [&]() -> KvResponse {
    auto body = Body();
    if (!body.ok()) return KvError(body.status());
    WriterLock l(&s_.mu_);
    VaultState* vs = Find();
    if (!vs) return KvError(VaultMissing());
    KV_RETURN_IF_ERROR(s_.Authorize(r_.caller, *vs, "create", "keys/create/action", name));
    if (!ValidKeyName(name)) return KvError(BadParameter("The key name '" + name + "' is invalid: use 1-127 letters, digits and dashes."));
    auto kty_r = json::GetString(*body, "kty");
    auto size_r = json::GetInt(*body, "key_size");
    if (!kty_r.ok() || !kty_r->has_value()) return KvError(BadParameter("The property 'kty' is required."));
    if (!size_r.ok()) return KvError(BadParameter("The property 'key_size' must be an integer."));
    std::string kty = **kty_r;
    bool hsm_vault = vs->vault.kind == VaultKind::kManagedHsm;
    if (hsm_vault && kty == "RSA") kty = "RSA-HSM";
    if (hsm_vault && kty == "oct") kty = "oct-HSM";
    int size = static_cast<int>(size_r->value_or(kty == "oct-HSM" ? 256 : 2048));
    if (kty == "RSA" || kty == "RSA-HSM") {
      if (size != 2048 && size != 3072 && size != 4096) {
        return KvError(BadParameter("Invalid key size " + std::to_string(size) + ": RSA keys are 2048, 3072 or 4096 bits."));
      }
      if (kty == "RSA-HSM" && !hsm_vault && !EqualsIgnoreCase(vs->vault.sku_name, "premium")) {
        return KvError(BadParameter("RSA-HSM keys need a premium vault or a managed HSM; vault '" + vs->vault.name + "' is standard."));
      }
    } else if (kty == "oct-HSM") {
      if (!hsm_vault) return KvError(BadParameter("oct-HSM keys are available on managed HSMs only."));
      if (size != 256) return KvError(BadParameter("oct-HSM keys are 256 bits."));
    } else {
      return KvError(BadParameter("The key type '" + kty + "' is not supported (RSA, RSA-HSM, oct-HSM)."));
    }
    auto existing = vs->keys.find(ToLower(name));
    if (existing != vs->keys.end() && existing->second.deleted_date) {
      return KvError(Conflict("Key " + name + " is currently in a deleted but recoverable state, and its name cannot be "
                              "reused; in this state, the key can only be recovered or purged.",
                              "Conflict"));
    }
    int64_t now = Now();
    auto kv = s_.NewVersion(*vs, kty == "RSA-HSM" && !hsm_vault && !s_.hsm_ ? "RSA" : kty, size, now);
    if (!kv.ok()) return KvError(kv.status());
    if (kty == "RSA-HSM") kv->kty = "RSA-HSM";
    KV_RETURN_IF_ERROR(ApplyAttributes(*body, *kv));
    KV_RETURN_IF_ERROR(ApplyKeyOps(*body, *kv));
    KV_RETURN_IF_ERROR(ApplyTags(*body, kv->tags));
    Key& k = vs->keys[ToLower(name)];
    if (k.name.empty()) k.name = name;
    std::string ver = kv->version;
    k.by_version[ver] = std::move(*kv);
    k.versions.push_back(ver);
    KV_RETURN_IF_ERROR(s_.SaveKey(vs->vault, k));
    return Ok(s_.KeyBundle(vs->vault, k, k.by_version.at(ver)));
  });
}

KvResponse KeyVaultService::DataPlane::Import(const std::string& name) {
  return Audited("importKey", name, "", "", [&]() -> KvResponse {
    auto body = Body();
    if (!body.ok()) return KvError(body.status());
    WriterLock l(&s_.mu_);
    VaultState* vs = Find();
    if (!vs) return KvError(VaultMissing());
    KV_RETURN_IF_ERROR(s_.Authorize(r_.caller, *vs, "import", "keys/import/action", name));
    if (!ValidKeyName(name)) return KvError(BadParameter("The key name '" + name + "' is invalid."));
    auto jwk = json::GetObject(*body, "key");
    if (!jwk.ok() || *jwk == nullptr) return KvError(BadParameter("The property 'key' (a JSON web key) is required."));
    auto hsm = json::GetBool(*body, "Hsm");
    if (vs->vault.kind == VaultKind::kManagedHsm || (hsm.ok() && hsm->value_or(false))) {
      return KvError(BadParameter("Importing keys into HSM protection is not supported by this instance."));
    }
    auto field = [&](const char* n) -> Result<SecretBytes> {
      auto v = json::GetString(**jwk, n);
      if (!v.ok() || !v->has_value()) return SecretBytes();
      ASSIGN_OR_RETURN(auto bytes, Base64UrlDecode(**v));
      SecretBytes out(bytes);
      std::fill(bytes.begin(), bytes.end(), 0);
      return out;
    };
    auto kty = json::GetString(**jwk, "kty");
    if (!kty.ok() || !kty->has_value() || (**kty != "RSA" && **kty != "RSA-HSM")) {
      return KvError(BadParameter("Only RSA keys can be imported."));
    }
    auto n = field("n"), e = field("e"), d = field("d"), p = field("p"), q = field("q"), dp = field("dp"),
         dq = field("dq"), qi = field("qi");
    for (auto* r : {&n, &e, &d, &p, &q, &dp, &dq, &qi}) {
      if (!r->ok()) return KvError(BadParameter("A key component is not valid base64url."));
    }
    if (n->empty() || e->empty() || d->empty()) {
      return KvError(BadParameter("An imported RSA key needs n, e and d."));
    }
    crypto::RsaPrivateComponents priv{std::move(*d), std::move(*p), std::move(*q), std::move(*dp), std::move(*dq), std::move(*qi)};
    auto key = crypto::RsaKey::FromPrivateComponents(n->span(), e->span(), priv);
    if (!key.ok()) return KvError(BadParameter("The imported key is not valid: " + key.status().message()));
    auto existing = vs->keys.find(ToLower(name));
    if (existing != vs->keys.end() && existing->second.deleted_date) {
      return KvError(Conflict("Key " + name + " is currently in a deleted but recoverable state.", "Conflict"));
    }
    int64_t now = Now();
    KeyVersion kv;
    std::array<uint8_t, 16> id;
    s_.env_.random->Fill(id);
    kv.version = HexEncode(id);
    kv.kty = "RSA";
    kv.key_size = key->bits();
    kv.created = kv.updated = now;
    kv.n = key->Modulus();
    kv.e = key->Exponent();
    kv.key_ops = {"encrypt", "decrypt", "sign", "verify", "wrapKey", "unwrapKey"};
    auto pem = key->PrivatePem();
    if (!pem.ok()) return KvError(pem.status());
    auto sealed = crypto::AesGcmSeal(s_.master_key_, pem->span(), AsBytes("cmklogs/kv-private-key/v1"), *s_.env_.random);
    if (!sealed.ok()) return KvError(sealed.status());
    kv.sealed_private = Base64Encode(*sealed);
    KV_RETURN_IF_ERROR(ApplyAttributes(*body, kv));
    KV_RETURN_IF_ERROR(ApplyKeyOps(**jwk, kv));
    KV_RETURN_IF_ERROR(ApplyTags(*body, kv.tags));
    {
      MutexLock cl(&s_.cache_mu_);
      s_.private_cache_[kv.version] = std::make_shared<const crypto::RsaKey>(std::move(*key));
    }
    Key& k = vs->keys[ToLower(name)];
    if (k.name.empty()) k.name = name;
    std::string ver = kv.version;
    k.by_version[ver] = std::move(kv);
    k.versions.push_back(ver);
    KV_RETURN_IF_ERROR(s_.SaveKey(vs->vault, k));
    return Ok(s_.KeyBundle(vs->vault, k, k.by_version.at(ver)));
  });
}

KvResponse KeyVaultService::DataPlane::Update(const std::string& name, const std::string& version) {
  return Audited("updateKey", name, version, "", [&]() -> KvResponse {
    auto body = Body();
    if (!body.ok()) return KvError(body.status());
    WriterLock l(&s_.mu_);
    auto found = LiveKey(name, "update", "keys/update/action");
    if (!found.ok()) return KvError(found.status());
    auto [vs, key] = *found;
    Key& k = (*key);
    auto v = version.empty() ? k.by_version.find(k.versions.back()) : k.by_version.find(ToLower(version));
    if (v == k.by_version.end()) return KvError(KeyNotFound(name, version));
    KeyVersion updated = v->second;
    KV_RETURN_IF_ERROR(ApplyAttributes(*body, updated));
    KV_RETURN_IF_ERROR(ApplyKeyOps(*body, updated));
    KV_RETURN_IF_ERROR(ApplyTags(*body, updated.tags));
    updated.updated = Now();
    KeyVersion previous = std::move(v->second);
    v->second = std::move(updated);
    Status saved = s_.SaveKey(vs->vault, k);
    if (!saved.ok()) {
      v->second = std::move(previous);
      return KvError(saved);
    }
    return Ok(s_.KeyBundle(vs->vault, k, v->second));
  });
}

KvResponse KeyVaultService::DataPlane::Delete(const std::string& name) {
  return Audited("deleteKey", name, "", "", [&]() -> KvResponse {
    WriterLock l(&s_.mu_);
    auto found = LiveKey(name, "delete", "keys/delete");
    if (!found.ok()) return KvError(found.status());
    auto [vs, key] = *found;
    Key& k = (*key);
    if (!vs->vault.soft_delete) {
      bj::object b = s_.KeyBundle(vs->vault, k, k.current());
      KV_RETURN_IF_ERROR(s_.DeleteKeyDoc(vs->vault, k.name));
      for (const auto& [ver, kv] : k.by_version) {
        if (!kv.hsm_id.empty() && s_.hsm_) s_.hsm_->Destroy(kv.hsm_id).IgnoreError();
      }
      vs->keys.erase(ToLower(name));
      return Ok(std::move(b));
    }
    int64_t now = Now();
    k.deleted_date = now;
    k.scheduled_purge_date = now + int64_t{86400} * vs->vault.retention_days;
    Status saved = s_.SaveKey(vs->vault, k);
    if (!saved.ok()) {
      k.deleted_date.reset();
      k.scheduled_purge_date.reset();
      return KvError(saved);
    }
    return Ok(s_.KeyBundle(vs->vault, k, k.current()));
  });
}

KvResponse KeyVaultService::DataPlane::ListDeleted() {
  ReaderLock l(&s_.mu_);
  VaultState* vs = Find();
  if (!vs) return KvError(VaultMissing());
  KV_RETURN_IF_ERROR(s_.Authorize(r_.caller, *vs, "list", "keys/read", ""));
  bj::array value;
  for (const auto& [n, k] : vs->keys) {
    if (!k.deleted_date) continue;
    bj::object b = s_.KeyBundle(vs->vault, k, k.current());
    bj::object item{{"kid", s_.KeyBaseUrl(vs->vault) + "/keys/" + k.name},
                    {"attributes", b["attributes"]},
                    {"recoveryId", b["recoveryId"]},
                    {"deletedDate", b["deletedDate"]},
                    {"scheduledPurgeDate", b["scheduledPurgeDate"]}};
    value.emplace_back(std::move(item));
  }
  return Ok(bj::object{{"value", std::move(value)}, {"nextLink", nullptr}});
}

KvResponse KeyVaultService::DataPlane::GetDeleted(const std::string& name) {
  ReaderLock l(&s_.mu_);
  auto found = DeletedKey(name, "get", "keys/read");
  if (!found.ok()) return KvError(found.status());
  auto [vs, it] = *found;
  return Ok(s_.KeyBundle(vs->vault, it->second, it->second.current()));
}

KvResponse KeyVaultService::DataPlane::Purge(const std::string& name) {
  return Audited("purgeDeletedKey", name, "", "", [&]() -> KvResponse {
    WriterLock l(&s_.mu_);
    auto found = DeletedKey(name, "purge", "keys/purge/action");
    if (!found.ok()) return KvError(found.status());
    auto [vs, it] = *found;
    if (vs->vault.purge_protection) {
      return KvError(Status(StatusCode::kPermissionDenied,
                            "Operation \"purge\" is not allowed because purge protection is enabled for this vault. "
                            "Key Vault service will automatically purge it after the retention period has passed.",
                            "Forbidden", "PurgeProtectionEnabled"));
    }
    KV_RETURN_IF_ERROR(s_.DeleteKeyDoc(vs->vault, it->second.name));
    for (const auto& [ver, kv] : it->second.by_version) {
      if (!kv.hsm_id.empty() && s_.hsm_) s_.hsm_->Destroy(kv.hsm_id).IgnoreError();
    }
    vs->keys.erase(it);
    return KvResponse{204, std::nullopt};
  });
}

KvResponse KeyVaultService::DataPlane::Recover(const std::string& name) {
  return Audited("recoverDeletedKey", name, "", "", [&]() -> KvResponse {
    WriterLock l(&s_.mu_);
    auto found = DeletedKey(name, "recover", "keys/recover/action");
    if (!found.ok()) return KvError(found.status());
    auto [vs, it] = *found;
    Key& k = it->second;
    auto dd = k.deleted_date, sp = k.scheduled_purge_date;
    k.deleted_date.reset();
    k.scheduled_purge_date.reset();
    Status saved = s_.SaveKey(vs->vault, k);
    if (!saved.ok()) {
      k.deleted_date = dd;
      k.scheduled_purge_date = sp;
      return KvError(saved);
    }
    return Ok(s_.KeyBundle(vs->vault, k, k.current()));
  });
}

KvResponse KeyVaultService::DataPlane::Backup(const std::string& name) {
  return Audited("backupKey", name, "", "", [&]() -> KvResponse {
    ReaderLock l(&s_.mu_);
    auto found = LiveKey(name, "backup", "keys/backup/action");
    if (!found.ok()) return KvError(found.status());
    auto [vs, key] = *found;
    for (const auto& [ver, kv] : (*key).by_version) {
      if (!kv.hsm_id.empty()) return KvError(BadParameter("HSM-protected keys cannot be backed up from this instance."));
    }
    bj::object blob{{"subscriptionId", vs->vault.subscription_id}, {"key", KeyToJson((*key))}};
    std::string text = json::Serialize(blob);
    if (vs->vault.kind == VaultKind::kManagedHsm) {
      auto domain = s_.UnsealDomainKey(vs->hsm.sealed_domain_key);
      if (!domain.ok()) return KvError(domain.status());
      auto sealed = crypto::AesGcmSeal(*domain, AsBytes(text), AsBytes(kHsmBackupAad), *s_.env_.random);
      if (!sealed.ok()) return KvError(sealed.status());
      return Ok(bj::object{{"value", Base64UrlEncode(*sealed)}});
    }
    auto sealed = crypto::AesGcmSeal(s_.master_key_, AsBytes(text), AsBytes(kBackupAad), *s_.env_.random);
    if (!sealed.ok()) return KvError(sealed.status());
    return Ok(bj::object{{"value", Base64UrlEncode(*sealed)}});
  });
}

KvResponse KeyVaultService::DataPlane::Restore() {
  return Audited("restoreKey", "", "", "", [&]() -> KvResponse {
    auto body = Body();
    if (!body.ok()) return KvError(body.status());
    auto value = json::GetString(*body, "value");
    if (!value.ok() || !value->has_value()) return KvError(BadParameter("The property 'value' (a key backup) is required."));
    auto raw = Base64UrlDecode(**value);
    if (!raw.ok()) return KvError(BadParameter("The key backup is not valid base64url."));
    WriterLock l(&s_.mu_);
    VaultState* vs = Find();
    if (!vs) return KvError(VaultMissing());
    bool hsm = vs->vault.kind == VaultKind::kManagedHsm;
    if (hsm && vs->hsm.sealed_domain_key.empty()) {
      // Not activated (or a pre-security-domain HSM): Authorize says which.
      KV_RETURN_IF_ERROR(s_.Authorize(r_.caller, *vs, "restore", "keys/restore/action", ""));
      return KvError(BadParameter("This managed HSM has no security domain to restore key backups with."));
    }
    Result<SecretBytes> opened = BadParameter("unopened");
    if (hsm) {
      auto domain = s_.UnsealDomainKey(vs->hsm.sealed_domain_key);
      if (!domain.ok()) return KvError(domain.status());
      opened = crypto::AesGcmOpen(*domain, *raw, AsBytes(kHsmBackupAad));
      if (!opened.ok()) {
        return KvError(BadParameter("The key backup was not made by a managed HSM of this HSM's security domain."));
      }
    } else {
      opened = crypto::AesGcmOpen(s_.master_key_, *raw, AsBytes(kBackupAad));
      if (!opened.ok()) return KvError(BadParameter("The key backup is corrupt or was not made by this instance."));
    }
    auto blob = json::ParseObject(opened->AsStringView());
    if (!blob.ok() || !blob->contains("key") || !blob->at("key").is_object() || !blob->contains("subscriptionId") ||
        !blob->at("subscriptionId").is_string()) {
      return KvError(BadParameter("The key backup is corrupt."));
    }
    auto key = KeyFromJson(blob->at("key").as_object());
    if (!key.ok()) return KvError(BadParameter("The key backup is corrupt."));
    KV_RETURN_IF_ERROR(s_.Authorize(r_.caller, *vs, "restore", "keys/restore/action", key->name));
    if (!EqualsIgnoreCase(blob->at("subscriptionId").as_string(), vs->vault.subscription_id)) {
      return KvError(BadParameter("A key backup can only be restored into a vault of the same subscription."));
    }
    if (vs->keys.count(ToLower(key->name))) {
      return KvError(Conflict("There was a conflict restoring the key '" + key->name +
                              "'. The key name is already in use (possibly by a deleted key).", "Conflict"));
    }
    key->deleted_date.reset();
    key->scheduled_purge_date.reset();
    Key& k = vs->keys[ToLower(key->name)] = std::move(*key);
    KV_RETURN_IF_ERROR(s_.SaveKey(vs->vault, k));
    return Ok(s_.KeyBundle(vs->vault, k, k.current()));
  });
}

KvResponse KeyVaultService::DataPlane::Rotate(const std::string& name) {
  return Audited("rotateKey", name, "", "", [&]() -> KvResponse {
    WriterLock l(&s_.mu_);
    auto found = LiveKey(name, "rotate", "keys/rotate/action");
    if (!found.ok()) return KvError(found.status());
    auto [vs, key] = *found;
    KV_RETURN_IF_ERROR(s_.RotateLocked(*vs, (*key), Now()));
    return Ok(s_.KeyBundle(vs->vault, (*key), (*key).current()));
  });
}

bj::object KeyVaultService::DataPlane::PolicyJson(const Vault& v, const Key& k) const {
  std::string id = s_.KeyBaseUrl(v) + "/keys/" + k.name + "/rotationpolicy";
  if (!k.rotation_policy) {
    // Key Vault's default: notify 30 days before expiry.
    return bj::object{{"id", id},
                      {"lifetimeActions", bj::array{bj::object{{"trigger", bj::object{{"timeBeforeExpiry", "P30D"}}},
                                                               {"action", bj::object{{"type", "Notify"}}}}}},
                      {"attributes", bj::object{}}};
  }
  bj::array actions;
  for (const auto& a : k.rotation_policy->actions) {
    actions.emplace_back(bj::object{{"trigger", bj::object{{a.trigger, a.duration}}}, {"action", bj::object{{"type", a.type}}}});
  }
  bj::object attrs{{"created", k.rotation_policy->created}, {"updated", k.rotation_policy->updated}};
  if (!k.rotation_policy->expiry_time.empty()) attrs["expiryTime"] = k.rotation_policy->expiry_time;
  return bj::object{{"id", id}, {"lifetimeActions", std::move(actions)}, {"attributes", std::move(attrs)}};
}

KvResponse KeyVaultService::DataPlane::GetPolicy(const std::string& name) {
  ReaderLock l(&s_.mu_);
  auto found = LiveKey(name, "getrotationpolicy", "keyrotationpolicies/read");
  if (!found.ok()) return KvError(found.status());
  auto [vs, key] = *found;
  return Ok(PolicyJson(vs->vault, (*key)));
}

KvResponse KeyVaultService::DataPlane::PutPolicy(const std::string& name) {
  return Audited("setRotationPolicy", name, "", "", [&]() -> KvResponse {
    auto body = Body();
    if (!body.ok()) return KvError(body.status());
    RotationPolicy policy;
    if (const bj::value* la = json::FindCI(*body, "lifetimeActions"); la && !la->is_null()) {
      if (!la->is_array()) return KvError(BadParameter("lifetimeActions must be an array."));
      for (const auto& a : la->as_array()) {
        if (!a.is_object()) return KvError(BadParameter("Each lifetime action must be an object."));
        auto trig = json::GetObject(a.as_object(), "trigger");
        auto act = json::GetObject(a.as_object(), "action");
        if (!trig.ok() || !act.ok() || !*trig || !*act) return KvError(BadParameter("A lifetime action needs 'trigger' and 'action'."));
        auto type = json::GetString(**act, "type");
        if (!type.ok() || !type->has_value() || (!EqualsIgnoreCase(**type, "Rotate") && !EqualsIgnoreCase(**type, "Notify"))) {
          return KvError(BadParameter("action.type must be Rotate or Notify."));
        }
        auto after = json::GetString(**trig, "timeAfterCreate");
        auto before = json::GetString(**trig, "timeBeforeExpiry");
        if (!after.ok() || !before.ok() || (after->has_value() == before->has_value())) {
          return KvError(BadParameter("A trigger needs exactly one of timeAfterCreate and timeBeforeExpiry."));
        }
        std::string dur = after->has_value() ? **after : **before;
        auto d = ParseIsoDuration(dur);
        if (!d.ok() || d->count() <= 0) return KvError(BadParameter("'" + dur + "' is not a valid ISO 8601 duration."));
        bool rotate = EqualsIgnoreCase(**type, "Rotate");
        if (!rotate && after->has_value()) return KvError(BadParameter("Notify actions take a timeBeforeExpiry trigger."));
        if (rotate && after->has_value() && *d < std::chrono::hours(24 * 7)) {
          return KvError(BadParameter("The minimum rotation interval (timeAfterCreate) is 7 days."));
        }
        policy.actions.push_back({after->has_value() ? "timeAfterCreate" : "timeBeforeExpiry", dur, rotate ? "Rotate" : "Notify"});
      }
    }
    if (auto attrs = json::GetObject(*body, "attributes"); attrs.ok() && *attrs) {
      auto exp = json::GetString(**attrs, "expiryTime");
      if (exp.ok() && exp->has_value()) {
        auto d = ParseIsoDuration(**exp);
        if (!d.ok() || *d < std::chrono::hours(24 * 28)) return KvError(BadParameter("expiryTime must be a duration of at least 28 days."));
        policy.expiry_time = **exp;
      }
    }
    WriterLock l(&s_.mu_);
    auto found = LiveKey(name, "setrotationpolicy", "keyrotationpolicies/write");
    if (!found.ok()) return KvError(found.status());
    auto [vs, key] = *found;
    int64_t now = Now();
    policy.created = (*key).rotation_policy ? (*key).rotation_policy->created : now;
    policy.updated = now;
    (*key).rotation_policy = std::move(policy);
    KV_RETURN_IF_ERROR(s_.SaveKey(vs->vault, (*key)));
    return Ok(PolicyJson(vs->vault, (*key)));
  });
}

Result<KeyOperationResult> KeyVaultService::DataPlane::CryptoOp(std::string_view name, std::string_view version,
                                                                std::string_view op, std::string_view alg,
                                                                std::span<const uint8_t> value, bool* verified) {
  // Find the version and copy what the operation needs under the shared lock; the crypto itself
  // runs without it.
  static const std::map<std::string_view, std::pair<const char*, const char*>> kOps = {
      {"wrapkey", {"wrapKey", "keys/wrap/action"}},       {"unwrapkey", {"unwrapKey", "keys/unwrap/action"}},
      {"encrypt", {"encrypt", "keys/encrypt/action"}},    {"decrypt", {"decrypt", "keys/decrypt/action"}},
      {"sign", {"sign", "keys/sign/action"}},             {"verify", {"verify", "keys/verify/action"}}};
  auto spec = kOps.at(op);
  std::string op_name = spec.first;
  KeyVersion kv;
  std::string kid;
  std::string sealed_domain;
  {
    ReaderLock l(&s_.mu_);
    VaultState* vs = Find();
    if (!vs) return VaultMissing();
    RETURN_IF_ERROR(s_.Authorize(r_.caller, *vs, op_name, spec.second, name));
    sealed_domain = vs->hsm.sealed_domain_key;
    auto it = vs->keys.find(ToLower(name));
    if (it == vs->keys.end() || it->second.deleted_date) return KeyNotFound(name);
    const Key& k = it->second;
    auto v = version.empty() ? k.by_version.find(k.versions.back()) : k.by_version.find(ToLower(version));
    if (v == k.by_version.end()) return KeyNotFound(name, version);
    kv = v->second;
    kid = s_.KeyBaseUrl(vs->vault) + "/keys/" + k.name + "/" + kv.version;
  }
  if (!kv.enabled) {
    return Status(StatusCode::kPermissionDenied, "Operation " + op_name + " is not allowed on a disabled key.",
                  "Forbidden", "KeyDisabled");
  }
  int64_t now = Now();
  if (kv.nbf && now < *kv.nbf) {
    return Status(StatusCode::kPermissionDenied, "Operation " + op_name + " is not allowed before the key's activation date.",
                  "Forbidden", "KeyNotYetValid");
  }
  if (kv.exp && now >= *kv.exp) {
    return Status(StatusCode::kPermissionDenied, "Operation " + op_name + " is not allowed on an expired key.",
                  "Forbidden", "KeyExpired");
  }
  if (std::find(kv.key_ops.begin(), kv.key_ops.end(), op_name) == kv.key_ops.end()) {
    return Status(StatusCode::kPermissionDenied, "Operation " + op_name + " is not permitted on this key.",
                  "Forbidden", "KeyOperationForbidden");
  }
  KeyOperationResult out;
  out.kid = kid;
  bool rsa = kv.kty == "RSA" || kv.kty == "RSA-HSM";
  bool hsm = !kv.hsm_id.empty();
  if (op == "wrapkey" || op == "unwrapkey" || op == "encrypt" || op == "decrypt") {
    bool forward = op == "wrapkey" || op == "encrypt";
    if (kv.kty == "oct-HSM") {
      if (alg != "A256KW" || (op != "wrapkey" && op != "unwrapkey")) {
        return BadParameter("Invalid algorithm '" + std::string(alg) + "' for an oct-HSM key: use A256KW with wrapkey/unwrapkey.");
      }
      if (kv.domain_sealed) {
        ASSIGN_OR_RETURN(SecretBytes aes, s_.SecretKey(kv, sealed_domain));
        ASSIGN_OR_RETURN(out.value, AesKw(forward, aes, value));
        return out;
      }
      if (forward) {
        ASSIGN_OR_RETURN(out.value, s_.hsm_->AesKeyWrap(kv.hsm_id, value));
      } else {
        ASSIGN_OR_RETURN(SecretBytes pt, s_.hsm_->AesKeyUnwrap(kv.hsm_id, value));
        out.value.assign(pt.span().begin(), pt.span().end());
      }
      return out;
    }
    auto padding = Padding(alg);
    if (!rsa || !padding) return BadParameter("Invalid algorithm '" + std::string(alg) + "' for an RSA key: use RSA-OAEP, RSA-OAEP-256 or RSA1_5.");
    if (forward) {
      ASSIGN_OR_RETURN(auto pub, crypto::RsaKey::FromPublicComponents(kv.n, kv.e));
      ASSIGN_OR_RETURN(out.value, pub.Encrypt(*padding, value));
      return out;
    }
    if (value.size() != kv.n.size()) return BadParameter("The value has the wrong length for this key.");
    SecretBytes pt;
    if (hsm) {
      ASSIGN_OR_RETURN(pt, s_.hsm_->RsaDecrypt(kv.hsm_id, *padding, value));
    } else {
      ASSIGN_OR_RETURN(auto key, s_.PrivateKey(kv, sealed_domain));
      auto r = key->Decrypt(*padding, value);
      if (!r.ok()) return BadParameter("The value could not be decrypted with this key and algorithm.");
      pt = std::move(*r);
    }
    out.value.assign(pt.span().begin(), pt.span().end());
    return out;
  }
  auto sig_alg = SignAlg(alg);
  if (!rsa || !sig_alg) return BadParameter("Invalid algorithm '" + std::string(alg) + "': use RS256 or PS256.");
  if (op == "sign") {
    if (value.size() != 32) return BadParameter("The digest for " + std::string(alg) + " must be 32 bytes.");
    if (hsm) {
      ASSIGN_OR_RETURN(out.value, s_.hsm_->RsaSign(kv.hsm_id, *sig_alg, value));
    } else {
      ASSIGN_OR_RETURN(auto key, s_.PrivateKey(kv, sealed_domain));
      ASSIGN_OR_RETURN(out.value, key->SignDigest(*sig_alg, value));
    }
    return out;
  }
  return Internal("verify goes through Crypto()");
}

KvResponse KeyVaultService::DataPlane::Crypto(const std::string& name, const std::string& version, const std::string& op) {
  std::string alg;
  return Audited(op == "wrapkey" ? "wrapKey" : op == "unwrapkey" ? "unwrapKey" : op, name, version, "", [&]() -> KvResponse {
    auto body = Body();
    if (!body.ok()) return KvError(body.status());
    auto alg_r = json::GetString(*body, "alg");
    auto value_r = json::GetString(*body, "value");
    if (!alg_r.ok() || !alg_r->has_value()) return KvError(BadParameter("The property 'alg' is required."));
    if (!value_r.ok() || !value_r->has_value()) return KvError(BadParameter("The property 'value' is required."));
    alg = **alg_r;
    auto value = Base64UrlDecode(**value_r);
    if (!value.ok()) return KvError(BadParameter("Property 'value' is not valid base64url."));
    if (op == "verify") {
      auto digest = json::GetString(*body, "digest");
      if (!digest.ok() || !digest->has_value()) return KvError(BadParameter("The property 'digest' is required."));
      auto d = Base64UrlDecode(**digest);
      if (!d.ok()) return KvError(BadParameter("Property 'digest' is not valid base64url."));
      // Authorization, state and key_ops checks as for the other operations.
      KeyVersion kv;
      {
        ReaderLock l(&s_.mu_);
        VaultState* vs = Find();
        if (!vs) return KvError(VaultMissing());
        KV_RETURN_IF_ERROR(s_.Authorize(r_.caller, *vs, "verify", "keys/verify/action", name));
        auto it = vs->keys.find(ToLower(name));
        if (it == vs->keys.end() || it->second.deleted_date) return KvError(KeyNotFound(name));
        auto v = version.empty() ? it->second.by_version.find(it->second.versions.back()) : it->second.by_version.find(ToLower(version));
        if (v == it->second.by_version.end()) return KvError(KeyNotFound(name, version));
        kv = v->second;
      }
      if (!kv.enabled) {
        return KvError(Status(StatusCode::kPermissionDenied, "Operation verify is not allowed on a disabled key.", "Forbidden", "KeyDisabled"));
      }
      auto sig_alg = SignAlg(alg);
      if (kv.n.empty() || !sig_alg) return KvError(BadParameter("Invalid algorithm '" + alg + "': use RS256 or PS256."));
      auto pub = crypto::RsaKey::FromPublicComponents(kv.n, kv.e);
      if (!pub.ok()) return KvError(pub.status());
      auto ok = pub->VerifyDigest(*sig_alg, *d, *value);
      if (!ok.ok()) return KvError(BadParameter(ok.status().message()));
      return Ok(bj::object{{"value", *ok}});
    }
    auto r = CryptoOp(name, version, op, alg, *value, nullptr);
    if (!r.ok()) return KvError(r.status());
    return Ok(bj::object{{"kid", r->kid}, {"value", Base64UrlEncode(r->value)}});
  });
}

KvResponse KeyVaultService::Handle(const KvRequest& request) {
  DataPlane dp(*this, request);
  return dp.Run();
}

Result<bj::object> KeyVaultService::GetKey(const identity::Principal& caller, std::string_view vault,
                                           std::string_view key, std::string_view version) {
  KvRequest r;
  r.caller = caller;
  r.vault_name = std::string(vault);
  DataPlane dp(*this, r);
  return dp.GetBundle(key, version);
}

Result<KeyOperationResult> KeyVaultService::WrapKey(const identity::Principal& caller, std::string_view vault,
                                                    std::string_view key, std::string_view version,
                                                    std::string_view alg, std::span<const uint8_t> plaintext) {
  KvRequest r;
  r.caller = caller;
  r.vault_name = std::string(vault);
  DataPlane dp(*this, r);
  return dp.CryptoOp(key, version, "wrapkey", alg, plaintext, nullptr);
}

Result<KeyOperationResult> KeyVaultService::UnwrapKey(const identity::Principal& caller, std::string_view vault,
                                                      std::string_view key, std::string_view version,
                                                      std::string_view alg, std::span<const uint8_t> wrapped) {
  KvRequest r;
  r.caller = caller;
  r.vault_name = std::string(vault);
  DataPlane dp(*this, r);
  int64_t start = env::MonotonicMicros();
  auto res = dp.CryptoOp(key, version, "unwrapkey", alg, wrapped, nullptr);
  if (audit_) {
    AuditEntry e;
    e.time = env_.clock->Now();
    e.caller_object_id = caller.object_id;
    e.caller_app_id = caller.app_id;
    e.vault = std::string(vault);
    e.key = std::string(key);
    e.version = std::string(version);
    e.operation = "unwrapKey";
    e.algorithm = std::string(alg);
    e.status = res.ok() ? 200 : res.status().http_status();
    if (!res.ok()) e.error_code = res.status().error_code();
    e.latency_us = env::MonotonicMicros() - start;
    audit_->Record(std::move(e));
  }
  return res;
}

}  // namespace cmk::keyvault
