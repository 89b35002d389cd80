#pragma once
// FakeVault: a KeyVaultClient with knobs for storage tests (tink's FakeKmsClient spirit): real
// RSA-OAEP-256 under the hood; outage, disabled versions, removed access and rotation are
// switches. Not thread-safe; tests drive it from one thread.
#include <map>
#include <set>
#include <string>

#include "crypto/rsa.h"
#include "keyvault/key_vault_client.h"

namespace cmk::storage {

class FakeVault : public keyvault::KeyVaultClient {
 public:
  FakeVault() { Rotate(); }
  std::string Rotate() {
    std::string v = "v" + std::to_string(keys_.size() + 1);
    keys_.emplace(v, *crypto::RsaKey::Generate(2048));
    latest_ = v;
    return v;
  }
  std::string Kid(const std::string& v) const { return "https://kv.vault.localhost:8443/keys/kek/" + v; }
  bool outage = false;
  bool access_removed = false;
  std::set<std::string> disabled;
  int unwraps = 0;

  Result<keyvault::KeyInfo> GetKey(const keyvault::KeyRef& k) override {
    RETURN_IF_ERROR(Gate(k));
    std::string v = k.version.empty() ? latest_ : k.version;
    return keyvault::KeyInfo{Kid(v), "RSA", !disabled.count(v), keys_.at(v).Modulus(), keys_.at(v).Exponent()};
  }
  Result<keyvault::WrappedKey> WrapKey(const keyvault::KeyRef& k, std::string_view, std::span<const uint8_t> pt) override {
    RETURN_IF_ERROR(Gate(k));
    std::string v = k.version.empty() ? latest_ : k.version;
    if (disabled.count(v)) return Status(StatusCode::kPermissionDenied, "disabled", "Forbidden", "KeyDisabled");
    ASSIGN_OR_RETURN(auto ct, keys_.at(v).Encrypt(crypto::RsaPadding::kOaepSha256, pt));
    return keyvault::WrappedKey{Kid(v), std::move(ct)};
  }
  Result<SecretBytes> UnwrapKey(const keyvault::KeyRef& k, std::string_view, std::span<const uint8_t> ct) override {
    RETURN_IF_ERROR(Gate(k));
    std::string v = k.version.empty() ? latest_ : k.version;
    if (disabled.count(v)) return Status(StatusCode::kPermissionDenied, "Operation unwrapKey is not allowed on a disabled key.", "Forbidden", "KeyDisabled");
    ++unwraps;
    return keys_.at(v).Decrypt(crypto::RsaPadding::kOaepSha256, ct);
  }

 private:
  Status Gate(const keyvault::KeyRef& k) {
    if (outage) return Unavailable("connection refused");
    if (access_removed) return Status(StatusCode::kPermissionDenied, "no access", "Forbidden", "AccessDenied");
    if (!k.version.empty() && !keys_.count(k.version)) return NotFound("no such version", "KeyNotFound");
    return OkStatus();
  }
  std::map<std::string, crypto::RsaKey> keys_;
  std::string latest_;
};

// A client of its own (one per principal, as ClusterStorage wants) that forwards to a shared
// FakeVault.
class FakeVaultProxy : public keyvault::KeyVaultClient {
 public:
  explicit FakeVaultProxy(FakeVault* v) : v_(v) {}
  Result<keyvault::KeyInfo> GetKey(const keyvault::KeyRef& k) override { return v_->GetKey(k); }
  Result<keyvault::WrappedKey> WrapKey(const keyvault::KeyRef& k, std::string_view a, std::span<const uint8_t> p) override {
    return v_->WrapKey(k, a, p);
  }
  Result<SecretBytes> UnwrapKey(const keyvault::KeyRef& k, std::string_view a, std::span<const uint8_t> c) override {
    return v_->UnwrapKey(k, a, c);
  }

 private:
  FakeVault* v_;
};

}  // namespace cmk::storage
