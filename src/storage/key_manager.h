#pragma once
// KeyManager: one per storage account of a cluster with a customer-managed key.
//
// The account's AEK (32 random bytes) is persisted only wrapped by a version of the customer's
// key (KEK). Every check interval the manager unwraps it through the vault, acting as the
// cluster's identity (KeyVaultClient), and keeps it in memory between checks:
//
//   Healthy  --vault unreachable-->  Degraded   (cached AEK keeps serving up to max_vault_outage)
//   Degraded --vault back-->         Healthy
//   Degraded --outage > max-->       Unavailable (AEK withheld)
//   any      --key disabled/deleted/access removed-->  Revoked (AEK wiped)
//   Revoked|Unavailable --unwrap succeeds-->  Healthy
//
// Rotation: tracking the latest version (empty key version), a newer version found at a check
// re-wraps the AEK under it (unwrap with the old, wrap with the new, persist through the
// callback before switching). With an explicit version nothing changes until UpdateKey().
// No data is re-encrypted: only the AEK's wrapping changes.
// Thread safety: safe for concurrent use.

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/secret_bytes.h"
#include "base/status.h"
#include "base/time_format.h"
#include "env/env.h"
#include "keyvault/key_vault_client.h"

namespace cmk::storage {

enum class KeyState { kHealthy, kDegraded, kUnavailable, kRevoked };
const char* KeyStateName(KeyState s);

// The AEK as persisted: which key version wrapped it, how, and the ciphertext.
struct WrappedAek {
  std::string kid;  // versioned key id
  std::string alg = "RSA-OAEP-256";
  std::vector<uint8_t> ciphertext;
};

struct KeyManagerOptions {
  // How often the AEK is unwrapped through the vault (Azure: 6-60 s).
  Duration check_interval = std::chrono::seconds(30);
  // How long a cached AEK keeps serving while the vault is unreachable.
  Duration max_vault_outage = std::chrono::minutes(30);
  std::string alg = "RSA-OAEP-256";
  Status Validate() const;
};

class KeyManager {
 public:
  using PersistFn = std::function<Status(const WrappedAek&)>;
  using TransitionFn = std::function<void(KeyState from, KeyState to, const Status& cause)>;

  // `key`: the cluster's key (version empty = track the latest). `existing`: the persisted AEK,
  // or nullopt for a new account (a fresh AEK is generated, wrapped and persisted by Start()).
  static Result<std::unique_ptr<KeyManager>> Create(env::Env env, keyvault::KeyVaultClient* vault,
                                                    keyvault::KeyRef key, std::optional<WrappedAek> existing,
                                                    KeyManagerOptions options, PersistFn persist);
  ~KeyManager();

  // First unwrap (or generate + wrap) and scheduling of the periodic checks. Fails only for a
  // new account whose AEK could not be wrapped; otherwise the state tells.
  Status Start();
  // A new account (created with `existing` = nullopt) takes `aek` instead of a fresh one: an
  // account whose AEK was wrapped by a service key moves under a customer key without
  // re-encrypting its data. REQUIRES: before Start(); aek.size() == 32.
  void AdoptAek(SecretBytes aek);
  // One check now (also run by the timer).
  void Check();
  // The cluster's key changed (explicit version, or another key): re-wrap under it.
  Status UpdateKey(keyvault::KeyRef key);
  // The identity the vault is reached as changed (or was removed): later checks use `vault`.
  void SetVault(keyvault::KeyVaultClient* vault);
  keyvault::KeyRef key() const;

  KeyState state() const;
  // The AEK for sealing and opening data: Healthy or Degraded only. Otherwise Unavailable
  // (code KeyVaultUnavailable) or PermissionDenied (code KeyVaultAccessRevoked), naming the key.
  Result<SecretBytes> Aek() const;
  WrappedAek wrapped() const;
  std::optional<TimePoint> last_success() const;
  void set_on_transition(TransitionFn fn);

 private:
  KeyManager(env::Env env, keyvault::KeyVaultClient* vault, keyvault::KeyRef key, std::optional<WrappedAek> existing,
             KeyManagerOptions options, PersistFn persist);
  void CheckLocked() REQUIRES(mu_);
  // Releases mu_ while it calls the transition callback (which takes other locks).
  void Transition(KeyState to, const Status& cause) REQUIRES(mu_);
  void OnFailure(const Status& s) REQUIRES(mu_);
  Status Rewrap(const keyvault::KeyRef& to) REQUIRES(mu_);
  void Schedule();
  static bool IsTransient(const Status& s);

  env::Env env_;
  keyvault::KeyVaultClient* vault_ GUARDED_BY(mu_);
  KeyManagerOptions options_;
  PersistFn persist_;
  mutable Mutex mu_;
  keyvault::KeyRef key_ GUARDED_BY(mu_);
  std::optional<WrappedAek> wrapped_ GUARDED_BY(mu_);
  SecretBytes aek_ GUARDED_BY(mu_);
  SecretBytes adopted_ GUARDED_BY(mu_);  // AdoptAek's, until Start wraps it
  KeyState state_ GUARDED_BY(mu_) = KeyState::kUnavailable;
  Status last_error_ GUARDED_BY(mu_);
  std::optional<TimePoint> last_success_ GUARDED_BY(mu_);
  TransitionFn on_transition_ GUARDED_BY(mu_);
  env::Clock::TimerId timer_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace cmk::storage
