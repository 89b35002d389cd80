#pragma once
// KeyVaultService: vaults, managed HSMs and their keys.
//
// The registry half (PutVault, GetVault, ...) backs the Microsoft.KeyVault ARM provider. The
// data-plane half speaks Key Vault's REST protocol through Handle(), for an already
// authenticated caller, and offers typed GetKey/WrapKey/UnwrapKey to KeyVaultClient.
// All state is in memory and written through to the metadata store; private key material is
// stored sealed (AES-256-GCM under the instance master key) and cached unsealed only as OpenSSL
// key objects, which clear their private numbers when freed.
// Errors use Key Vault's codes: Forbidden (+ innererror KeyDisabled / AccessDenied /
// ForbiddenByRbac), KeyNotFound, Conflict, BadParameter.
// Thread safety: safe for concurrent use.

#include <boost/json.hpp>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "base/secret_bytes.h"
#include "base/status.h"
#include "crypto/rsa.h"
#include "env/env.h"
#include "identity/principal.h"
#include "identity/rbac.h"
#include "keyvault/audit_log.h"
#include "keyvault/hsm_backend.h"
#include "keyvault/hsm_rbac.h"
#include "keyvault/types.h"
#include "meta/metadata_store.h"

namespace cmk::keyvault {

struct KeyVaultOptions {
  std::string domain = "localhost";  // vault hosts are <name>.vault.<domain>
  uint16_t port = 443;               // external port, for vaultUri and kid
  // How often purge and rotation sweeps run on the injected clock.
  Duration sweep_interval = std::chrono::hours(1);
};

struct KvRequest {
  std::string method;
  std::string path;  // percent-decoded, e.g. /keys/k1/<version>/unwrapkey
  std::vector<std::pair<std::string, std::string>> query;
  std::string body;
  identity::Principal caller;
  std::string vault_name;  // from the host
  VaultKind kind = VaultKind::kVault;
};

struct KvResponse {
  int status = 200;
  std::optional<boost::json::value> body;
};

KvResponse KvError(const Status& s);

// Result of a key operation through the typed API.
struct KeyOperationResult {
  std::string kid;
  std::vector<uint8_t> value;
};

class KeyVaultService {
 public:
  static Result<std::unique_ptr<KeyVaultService>> Create(env::Env env, meta::MetadataStore* store,
                                                         identity::Rbac* rbac,
                                                         const SecretBytes& master_key,
                                                         KeyVaultOptions options, HsmBackend* hsm,
                                                         AuditLog* audit);
  ~KeyVaultService();
  void set_port(uint16_t port);
  // Schedules the periodic purge and rotation sweeps on the clock.
  void StartBackground();

  // ---- registry (ARM) ----
  // Creates or updates a vault. `recover` (createMode=recover) brings back a soft-deleted one.
  Result<Vault> PutVault(Vault v, bool recover);
  std::optional<Vault> GetVault(std::string_view name) const;
  std::vector<Vault> ListVaults(std::string_view subscription_id, std::string_view resource_group,
                                VaultKind kind) const;
  // Soft-deletes (or deletes, without soft delete) the vault and hides its keys.
  Status DeleteVault(std::string_view name);
  std::vector<Vault> ListDeletedVaults(std::string_view subscription_id, VaultKind kind) const;
  std::optional<Vault> GetDeletedVault(std::string_view name) const;
  Status PurgeDeletedVault(std::string_view name);
  // op: "add", "replace" or "remove".
  Result<Vault> UpdateAccessPolicies(std::string_view name, std::string_view op,
                                     const std::vector<AccessPolicy>& policies);
  std::string VaultUri(const Vault& v) const;
  // "Active" or "NotActivated" for a managed HSM (its security domain state); nullopt otherwise.
  std::optional<std::string> HsmActivationStatus(std::string_view name) const;

  // ---- data plane ----
  KvResponse Handle(const KvRequest& request);

  // Typed operations for KeyVaultClient (same authorization and audit as Handle()).
  Result<boost::json::object> GetKey(const identity::Principal& caller, std::string_view vault,
                                     std::string_view key, std::string_view version);
  Result<KeyOperationResult> WrapKey(const identity::Principal& caller, std::string_view vault,
                                     std::string_view key, std::string_view version,
                                     std::string_view alg, std::span<const uint8_t> plaintext);
  Result<KeyOperationResult> UnwrapKey(const identity::Principal& caller, std::string_view vault,
                                       std::string_view key, std::string_view version,
                                       std::string_view alg, std::span<const uint8_t> wrapped);

  // Runs the purge and rotation sweeps now (also run by the background timer).
  void Sweep();

 private:
  struct VaultState {
    Vault vault;
    std::map<std::string, Key> keys;  // lower-case name
    HsmLocalState hsm;                // managed HSMs: local RBAC and security domain
  };
  class DataPlane;
  friend class DataPlane;
  class HsmAdmin;
  friend class HsmAdmin;

  KeyVaultService(env::Env env, meta::MetadataStore* store, identity::Rbac* rbac,
                  SecretBytes master_key, KeyVaultOptions options, HsmBackend* hsm, AuditLog* audit);
  Status Load();
  Status SaveVault(const Vault& v, bool deleted);
  Status SaveKey(const Vault& v, const Key& k);
  Status DeleteKeyDoc(const Vault& v, const std::string& name);
  std::string KeyBaseUrl(const Vault& v) const;
  std::string RecoveryLevel(const Vault& v) const;
  int RecoverableDays(const Vault& v) const;
  boost::json::object KeyBundle(const Vault& v, const Key& k, const KeyVersion& kv) const;
  Result<KeyVersion> NewVersion(const VaultState& vs, const std::string& kty, int size, int64_t now);
  Status NewSealedRsa(KeyVersion& kv, int size, const SecretBytes& seal_key, std::string_view aad);
  // The private key of a software version; `sealed_domain_key` is the HSM's sealed domain key
  // for versions sealed under it (KeyVersion::domain_sealed), else ignored.
  Result<std::shared_ptr<const crypto::RsaKey>> PrivateKey(const KeyVersion& kv,
                                                           const std::string& sealed_domain_key = {});
  // The AES key of a domain-sealed oct-HSM version.
  Result<SecretBytes> SecretKey(const KeyVersion& kv, const std::string& sealed_domain_key);
  Result<SecretBytes> UnsealDomainKey(const std::string& sealed_domain_key) const;
  Status Authorize(const identity::Principal& caller, const VaultState& vs, std::string_view permission,
                   std::string_view data_action, std::string_view key) const;
  // Managed HSM: activation and local RBAC (hsm_data_plane.cc).
  Status AuthorizeHsm(const identity::Principal& caller, const VaultState& vs,
                      std::string_view data_action, std::string_view resource,
                      bool require_active = true) const;
  // Routes /{scope}/providers/Microsoft.Authorization/... and /securitydomain/... of an HSM.
  KvResponse HandleHsmAdmin(const KvRequest& request);
  Status SaveHsm(const Vault& v, const HsmLocalState& s);
  // A fresh HSM's local state: not activated, its initial administrators assigned.
  HsmLocalState NewHsmState(const Vault& v, bool legacy);
  Status RotateLocked(VaultState& vs, Key& k, int64_t now);
  void ScheduleSweep();

  env::Env env_;
  meta::MetadataStore* store_;
  identity::Rbac* rbac_;
  SecretBytes master_key_;
  KeyVaultOptions options_;
  HsmBackend* hsm_;
  AuditLog* audit_;
  mutable SharedMutex mu_;
  // Lower-case name -> live vault.
  std::map<std::string, VaultState> vaults_ GUARDED_BY(mu_);
  // Lower-case name -> soft-deleted vault.
  std::map<std::string, VaultState> deleted_vaults_ GUARDED_BY(mu_);
  Mutex cache_mu_;
  std::unordered_map<std::string, std::shared_ptr<const crypto::RsaKey>> private_cache_
      GUARDED_BY(cache_mu_);
  std::atomic<bool> background_ = false;
  env::Clock::TimerId sweep_timer_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace cmk::keyvault
