#include "storage/cluster_storage.h"

#include <boost/json.hpp>

#include "base/encoding.h"
#include "base/json.h"

namespace cmk::storage {
namespace {

namespace bj = boost::json;
constexpr char kKind[] = "storage-account";

std::string Str(const bj::object& o, const char* k) {
  auto it = o.find(k);
  return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
}

}  // namespace

ClusterStorage::~ClusterStorage() {
  MutexLock l(&mu_);
  clusters_.clear();  // managers (and their timers) go before the clients they use
}

Result<std::unique_ptr<ClusterStorage>> ClusterStorage::Open(env::Env env, meta::MetadataStore* store,
                                                             ClientFactory clients, KeyManagerOptions options,
                                                             int accounts_per_cluster) {
  RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<ClusterStorage> cs(new ClusterStorage(env, store, std::move(clients), std::move(options), accounts_per_cluster));
  RETURN_IF_ERROR(cs->Load());
  return cs;
}

Result<std::unique_ptr<KeyManager>> ClusterStorage::MakeManager(Cluster& c, const std::string& account_id,
                                                                const keyvault::KeyRef& key,
                                                                std::optional<WrappedAek> existing) {
  std::string principal = c.principal_id;
  meta::MetadataStore* store = store_;
  std::string cluster_id = account_id.substr(0, account_id.rfind("/accounts/"));
  std::shared_ptr<KeyHook> key_hook = on_key_event_;
  auto persist = [store, account_id, key, principal, cluster_id, key_hook](const WrappedAek& w) {
    // The version that wrapped the AEK before tells a first wrap from a rotation.
    auto before = store->Get(kKind, account_id);
    std::string old_kid;
    if (before.ok() && *before) {
      auto o = json::ParseObject((*before)->body);
      if (o.ok()) old_kid = Str(*o, "kid");
    }
    bj::object o{{"kid", w.kid},
                 {"alg", w.alg},
                 {"ciphertext", Base64Encode(w.ciphertext)},
                 {"keyVaultUri", key.vault_uri},
                 {"keyName", key.name},
                 {"keyVersion", key.version},
                 {"principalId", principal}};
    RETURN_IF_ERROR(store->Put(kKind, account_id, json::Serialize(o)));
    if (old_kid.empty() || !EqualsIgnoreCase(old_kid, w.kid)) {
      key_hook->Fire({cluster_id, account_id, principal, old_kid.empty() ? "configure" : "rotate", w.kid,
                      old_kid.empty() ? "" : "re-wrapped from " + old_kid});
    }
    return OkStatus();
  };
  ASSIGN_OR_RETURN(auto m, KeyManager::Create(env_, c.client.get(), key, std::move(existing), options_, persist));
  std::shared_ptr<Hook> hook = on_transition_;
  m->set_on_transition([hook, key_hook, account_id, cluster_id, principal](KeyState from, KeyState to,
                                                                          const Status& cause) {
    if (to == KeyState::kRevoked) key_hook->Fire({cluster_id, account_id, principal, "revoke", "", cause.message()});
    if (from == KeyState::kRevoked && to == KeyState::kHealthy) {
      key_hook->Fire({cluster_id, account_id, principal, "restore", "", "the key can be used again"});
    }
    AccountTransitionFn fn;
    {
      MutexLock l(&hook->mu);
      fn = hook->fn;
    }
    if (fn) fn(account_id, from, to);
  });
  RETURN_IF_ERROR(m->Start());
  return m;
}

Status ClusterStorage::Load() {
  ASSIGN_OR_RETURN(auto docs, store_->List(kKind, ""));
  MutexLock l(&mu_);
  for (const auto& d : docs) {
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(d.body));
    std::string cluster_id = d.id.substr(0, d.id.rfind("/accounts/"));
    Cluster& c = clusters_[ToLower(cluster_id)];
    if (!c.client) {
      c.principal_id = Str(o, "principalId");
      c.client = clients_(c.principal_id);
    }
    WrappedAek w{Str(o, "kid"), Str(o, "alg"), {}};
    ASSIGN_OR_RETURN(w.ciphertext, Base64Decode(Str(o, "ciphertext")));
    keyvault::KeyRef key{Str(o, "keyVaultUri"), Str(o, "keyName"), Str(o, "keyVersion")};
    // A manager that can't reach the vault now still starts: its state says so.
    ASSIGN_OR_RETURN(auto m, MakeManager(c, d.id, key, std::move(w)));
    c.accounts.emplace_back(d.id, std::move(m));
  }
  return OkStatus();
}

Status ClusterStorage::ConfigureCluster(const std::string& cluster_id, const std::string& principal_id,
                                        const std::optional<keyvault::KeyRef>& key) {
  MutexLock l(&mu_);
  std::string k = ToLower(cluster_id);
  auto it = clusters_.find(k);
  if (it != clusters_.end() && it->second.principal_id != principal_id) {
    // The identity changed (or is gone): the managers reach the vault as the new one from now on.
    auto client = clients_(principal_id);
    for (auto& [id, m] : it->second.accounts) m->SetVault(client.get());
    it->second.client = std::move(client);
    it->second.principal_id = principal_id;
  }
  if (!key) return OkStatus();
  if (it == clusters_.end()) {
    Cluster c;
    c.principal_id = principal_id;
    c.client = clients_(principal_id);
    for (int i = 1; i <= accounts_per_cluster_; ++i) {
      std::string account_id = cluster_id + "/accounts/acct" + std::to_string(i);
      ASSIGN_OR_RETURN(auto m, MakeManager(c, account_id, *key, std::nullopt));
      c.accounts.emplace_back(account_id, std::move(m));
    }
    clusters_[k] = std::move(c);
    return OkStatus();
  }
  for (auto& [id, m] : it->second.accounts) {
    const keyvault::KeyRef& cur = m->key();
    if (cur.vault_uri != key->vault_uri || cur.name != key->name || cur.version != key->version) {
      RETURN_IF_ERROR(m->UpdateKey(*key));
    }
  }
  return OkStatus();
}

Status ClusterStorage::RemoveCluster(const std::string& cluster_id) {
  MutexLock l(&mu_);
  auto it = clusters_.find(ToLower(cluster_id));
  if (it == clusters_.end()) return OkStatus();
  for (auto& [id, m] : it->second.accounts) RETURN_IF_ERROR(store_->Delete(kKind, id).status());
  clusters_.erase(it);
  return OkStatus();
}

std::vector<AccountStatus> ClusterStorage::List() const {
  MutexLock l(&mu_);
  std::vector<AccountStatus> out;
  for (const auto& [k, c] : clusters_) {
    for (const auto& [id, m] : c.accounts) {
      AccountStatus s;
      s.cluster_id = id.substr(0, id.rfind("/accounts/"));
      s.account = id.substr(id.rfind('/') + 1);
      s.state = m->state();
      s.kid = m->wrapped().kid;
      s.last_success = m->last_success();
      out.push_back(std::move(s));
    }
  }
  return out;
}

std::vector<std::string> ClusterStorage::Accounts(const std::string& cluster_id) const {
  MutexLock l(&mu_);
  std::vector<std::string> out;
  auto it = clusters_.find(ToLower(cluster_id));
  if (it == clusters_.end()) return out;
  for (const auto& [id, m] : it->second.accounts) out.push_back(id);
  return out;
}

KeyManager* ClusterStorage::FindLocked(const std::string& account_id) const {
  auto it = clusters_.find(ToLower(account_id.substr(0, account_id.rfind("/accounts/"))));
  if (it == clusters_.end()) return nullptr;
  for (const auto& [id, m] : it->second.accounts) {
    if (EqualsIgnoreCase(id, account_id)) return m.get();
  }
  return nullptr;
}

Result<SecretBytes> ClusterStorage::Aek(const std::string& account_id) const {
  MutexLock l(&mu_);
  KeyManager* m = FindLocked(account_id);
  if (m == nullptr) return NotFound("no storage account '" + account_id + "'");
  return m->Aek();
}

KeyState ClusterStorage::State(const std::string& account_id) const {
  MutexLock l(&mu_);
  KeyManager* m = FindLocked(account_id);
  return m == nullptr ? KeyState::kUnavailable : m->state();
}

void ClusterStorage::set_on_key_event(KeyEventFn fn) {
  MutexLock l(&on_key_event_->mu);
  on_key_event_->fn = std::move(fn);
}

void ClusterStorage::set_on_account_transition(AccountTransitionFn fn) {
  MutexLock l(&on_transition_->mu);
  on_transition_->fn = std::move(fn);
}

}  // namespace cmk::storage
