#pragma once
// ClusterStorage: the storage accounts of dedicated clusters with a customer-managed key, each
// with its AEK and KeyManager (design.md §4-5). A cluster whose key is configured gets
// `accounts_per_cluster` accounts; their wrapped AEKs are persisted in the metadata store and
// their managers restart with the server. Key and identity changes reach the managers:
// another key version re-wraps, an identity set to None makes the next check a revocation.
// Thread safety: safe for concurrent use.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "meta/metadata_store.h"
#include "storage/key_manager.h"

namespace cmk::storage {

struct AccountStatus {
  std::string cluster_id;
  std::string account;
  KeyState state = KeyState::kUnavailable;
  std::string kid;  // the key version that wraps the AEK
  std::optional<TimePoint> last_success;
};

class ClusterStorage {
 public:
  // A vault client acting as the given principal (object id); empty id: no identity.
  using ClientFactory = std::function<std::unique_ptr<keyvault::KeyVaultClient>(const std::string& principal_id)>;

  static Result<std::unique_ptr<ClusterStorage>> Open(env::Env env, meta::MetadataStore* store, ClientFactory clients,
                                                      KeyManagerOptions options, int accounts_per_cluster = 2);
  ~ClusterStorage();

  // The cluster's key and identity as they now are. No key: the cluster keeps no CMK accounts.
  Status ConfigureCluster(const std::string& cluster_id, const std::string& principal_id,
                          const std::optional<keyvault::KeyRef>& key);
  Status RemoveCluster(const std::string& cluster_id);
  std::vector<AccountStatus> List() const;
  // The accounts of a cluster with a key (empty when it has none), in creation order.
  std::vector<std::string> Accounts(const std::string& cluster_id) const;
  // An account's AEK (KeyManager::Aek: errors KeyVaultAccessRevoked / KeyVaultUnavailable) and
  // state. NotFound / kUnavailable for an unknown account.
  Result<SecretBytes> Aek(const std::string& account_id) const;
  KeyState State(const std::string& account_id) const;
  // Called (outside any lock of this class) whenever an account's key state changes.
  using AccountTransitionFn = std::function<void(const std::string& account_id, KeyState from, KeyState to)>;
  void set_on_account_transition(AccountTransitionFn fn);
  // A change of an account's key, for the activity log: "configure" (its AEK first wrapped by
  // the cluster's key), "rotate" (re-wrapped under another version, which `kid` names),
  // "revoke" (the vault refused: `reason` says how) and "restore" (usable again after a
  // revocation). Called outside any lock of this class (a rewrap's under the manager's).
  struct KeyEvent {
    std::string cluster_id, account_id, principal_id, kind, kid, reason;
  };
  using KeyEventFn = std::function<void(const KeyEvent&)>;
  void set_on_key_event(KeyEventFn fn);

 private:
  struct Cluster {
    std::string principal_id;
    std::unique_ptr<keyvault::KeyVaultClient> client;
    std::vector<std::pair<std::string, std::unique_ptr<KeyManager>>> accounts;  // (account id, manager)
  };
  ClusterStorage(env::Env env, meta::MetadataStore* store, ClientFactory clients, KeyManagerOptions options, int n)
      : env_(env), store_(store), clients_(std::move(clients)), options_(std::move(options)), accounts_per_cluster_(n) {}
  Status Load();
  Result<std::unique_ptr<KeyManager>> MakeManager(Cluster& c, const std::string& account_id, const keyvault::KeyRef& key,
                                                  std::optional<WrappedAek> existing);

  env::Env env_;
  meta::MetadataStore* store_;
  ClientFactory clients_;
  KeyManagerOptions options_;
  int accounts_per_cluster_;
  KeyManager* FindLocked(const std::string& account_id) const REQUIRES(mu_);
  mutable Mutex mu_;
  std::map<std::string, Cluster> clusters_ GUARDED_BY(mu_);  // lower-case cluster id
  struct Hook {
    Mutex mu;
    AccountTransitionFn fn GUARDED_BY(mu);
  };
  std::shared_ptr<Hook> on_transition_ = std::make_shared<Hook>();
  struct KeyHook {
    Mutex mu;
    KeyEventFn fn GUARDED_BY(mu);
    void Fire(const KeyEvent& e) {
      KeyEventFn f;
      {
        MutexLock l(&mu);
        f = fn;
      }
      if (f) f(e);
    }
  };
  std::shared_ptr<KeyHook> on_key_event_ = std::make_shared<KeyHook>();
};

}  // namespace cmk::storage
