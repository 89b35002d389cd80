#include "storage/key_manager.h"

namespace cmk::storage {

const char* KeyStateName(KeyState s) {
  switch (s) {
    case KeyState::kHealthy: return "Healthy";
    case KeyState::kDegraded: return "Degraded";
    case KeyState::kUnavailable: return "Unavailable";
    case KeyState::kRevoked: return "Revoked";
  }
  return "?";
}

Status KeyManagerOptions::Validate() const {
  if (check_interval < std::chrono::seconds(6) || check_interval > std::chrono::seconds(60)) {
    return InvalidArgument("keyCheckInterval must be between 6 and 60 seconds");
  }
  if (max_vault_outage <= Duration::zero()) return InvalidArgument("maxVaultOutage must be positive");
  if (alg != "RSA-OAEP-256" && alg != "RSA-OAEP") return InvalidArgument("the AEK is wrapped with RSA-OAEP-256 or RSA-OAEP");
  return OkStatus();
}

KeyManager::KeyManager(env::Env env, keyvault::KeyVaultClient* vault, keyvault::KeyRef key,
                       std::optional<WrappedAek> existing, KeyManagerOptions options, PersistFn persist)
    : env_(env), vault_(vault), options_(std::move(options)), persist_(std::move(persist)), key_(std::move(key)),
      wrapped_(std::move(existing)) {}

KeyManager::~KeyManager() {
  *alive_ = false;
  if (timer_ != 0) env_.clock->Cancel(timer_);
}

Result<std::unique_ptr<KeyManager>> KeyManager::Create(env::Env env, keyvault::KeyVaultClient* vault,
                                                       keyvault::KeyRef key, std::optional<WrappedAek> existing,
                                                       KeyManagerOptions options, PersistFn persist) {
  RETURN_IF_ERROR(options.Validate());
  if (key.vault_uri.empty() || key.name.empty()) return InvalidArgument("the key reference needs a vault URI and a key name");
  return std::unique_ptr<KeyManager>(
      new KeyManager(env, vault, std::move(key), std::move(existing), std::move(options), std::move(persist)));
}

bool KeyManager::IsTransient(const Status& s) {
  // Timeouts, refused connections, 5xx and 429 are outages; everything the vault says about the
  // key or the caller (403, 404, 401) is a revocation.
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kDeadlineExceeded ||
         s.code() == StatusCode::kResourceExhausted || s.code() == StatusCode::kInternal;
}

Status KeyManager::Start() {
  UniqueLock l(&mu_);
  if (!wrapped_) {
    // A new account: generate its AEK (or take the adopted one) and wrap it under the current
    // key version.
    SecretBytes aek = adopted_.empty() ? env_.random->NewSecret(32) : std::move(adopted_);
    auto w = vault_->WrapKey(key_, options_.alg, aek.span());
    if (!w.ok()) return w.status();
    WrappedAek wrapped{w->kid, options_.alg, std::move(w->value)};
    RETURN_IF_ERROR(persist_(wrapped));
    wrapped_ = std::move(wrapped);
    aek_ = std::move(aek);
    last_success_ = env_.clock->Now();
    Transition(KeyState::kHealthy, OkStatus());
  } else {
    CheckLocked();
  }
  l.unlock();
  Schedule();
  return OkStatus();
}

// Periodic: on a simulated clock a long jump costs one check, whose outcome depends only on the
// time since the last successful unwrap.
void KeyManager::Schedule() {
  std::weak_ptr<bool> alive = alive_;
  timer_ = env_.clock->RunEvery(options_.check_interval, [this, alive] {
    auto a = alive.lock();
    if (!a || !*a) return;
    Check();
  });
}

void KeyManager::AdoptAek(SecretBytes aek) {
  MutexLock l(&mu_);
  adopted_ = std::move(aek);
}

void KeyManager::Check() {
  UniqueLock l(&mu_);
  CheckLocked();
}

void KeyManager::CheckLocked() {
  auto ref = keyvault::KeyRefFromKid(wrapped_->kid);
  if (!ref.ok()) return OnFailure(ref.status());
  auto aek = vault_->UnwrapKey(*ref, wrapped_->alg, wrapped_->ciphertext);
  if (!aek.ok()) return OnFailure(aek.status());
  aek_ = std::move(*aek);
  last_success_ = env_.clock->Now();
  if (key_.version.empty()) {
    // Tracking the latest version: a newer one means the key rotated.
    auto info = vault_->GetKey(keyvault::KeyRef{key_.vault_uri, key_.name, ""});
    if (info.ok() && info->kid != wrapped_->kid) {
      auto latest = keyvault::KeyRefFromKid(info->kid);
      if (latest.ok()) {
        Status s = Rewrap(*latest);
        if (!s.ok()) return OnFailure(s);
      }
    } else if (!info.ok() && !IsTransient(info.status())) {
      return OnFailure(info.status());
    }
  }
  Transition(KeyState::kHealthy, OkStatus());
}

// REQUIRES: mu_ held and aek_ unwrapped.
Status KeyManager::Rewrap(const keyvault::KeyRef& to) {
  auto w = vault_->WrapKey(to, options_.alg, aek_.span());
  if (!w.ok()) return w.status();
  WrappedAek next{w->kid, options_.alg, std::move(w->value)};
  // Persist first: the old wrapping stays valid until the new one is durable.
  RETURN_IF_ERROR(persist_(next));
  wrapped_ = std::move(next);
  return OkStatus();
}

void KeyManager::OnFailure(const Status& s) {
  TimePoint now = env_.clock->Now();
  if (IsTransient(s) && state_ != KeyState::kRevoked) {
    bool within = last_success_ && now - *last_success_ <= options_.max_vault_outage && !aek_.empty();
    if (within) return Transition(KeyState::kDegraded, s);
    aek_.Wipe();
    return Transition(KeyState::kUnavailable, s);
  }
  if (IsTransient(s)) return;  // revoked stays revoked until an unwrap succeeds
  aek_.Wipe();
  Transition(KeyState::kRevoked, s);
}

void KeyManager::Transition(KeyState to, const Status& cause) {
  KeyState from = state_;
  state_ = to;
  last_error_ = cause;
  if (from == to || !on_transition_) return;
  TransitionFn fn = on_transition_;
  mu_.unlock();
  fn(from, to, cause);
  mu_.lock();
}

Status KeyManager::UpdateKey(keyvault::KeyRef key) {
  UniqueLock l(&mu_);
  if (aek_.empty()) {
    return FailedPrecondition("the AEK is not available (" + std::string(KeyStateName(state_)) +
                              "): the key can't be changed until the current key is reachable");
  }
  keyvault::KeyRef target = key;
  if (target.version.empty()) {
    auto info = vault_->GetKey(key);
    if (!info.ok()) return info.status();
    ASSIGN_OR_RETURN(target, keyvault::KeyRefFromKid(info->kid));
  }
  RETURN_IF_ERROR(Rewrap(target));
  key_ = std::move(key);
  return OkStatus();
}

void KeyManager::SetVault(keyvault::KeyVaultClient* vault) {
  MutexLock l(&mu_);
  vault_ = vault;
}

keyvault::KeyRef KeyManager::key() const {
  MutexLock l(&mu_);
  return key_;
}

KeyState KeyManager::state() const {
  MutexLock l(&mu_);
  return state_;
}

Result<SecretBytes> KeyManager::Aek() const {
  MutexLock l(&mu_);
  if ((state_ == KeyState::kHealthy || state_ == KeyState::kDegraded) && !aek_.empty()) return aek_.Clone();
  std::string key = key_.vault_uri + " key '" + key_.name + "'";
  if (state_ == KeyState::kRevoked) {
    return PermissionDenied("Access to the customer-managed key " + key + " was revoked (" + last_error_.message() +
                                "); the data protected by it is unavailable until access is restored.",
                            "KeyVaultAccessRevoked");
  }
  return Unavailable("The key vault holding " + key + " is unreachable (" + last_error_.message() + ").",
                     "KeyVaultUnavailable");
}

WrappedAek KeyManager::wrapped() const {
  MutexLock l(&mu_);
  return wrapped_.value_or(WrappedAek{});
}

std::optional<TimePoint> KeyManager::last_success() const {
  MutexLock l(&mu_);
  return last_success_;
}

void KeyManager::set_on_transition(TransitionFn fn) {
  MutexLock l(&mu_);
  on_transition_ = std::move(fn);
}

}  // namespace cmk::storage
