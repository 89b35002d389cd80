#include "storage_account/account_registry.h"

#include <algorithm>

#include <boost/json.hpp>

#include "base/encoding.h"
#include "base/json.h"
#include "base/time_format.h"
#include "crypto/hash.h"
#include "storage/sealed_block.h"

namespace cmk::storage_account {
namespace {

namespace bj = boost::json;
constexpr char kAccountKind[] = "sa-account";
constexpr char kAekKind[] = "sa-aek";
// Every kind of sealed document the data planes write, for Remove.
constexpr const char* kDocKinds[] = {"sa-container", "sa-blob", "sa-block", "sa-table", "sa-entity"};
constexpr size_t kAccountKeyBytes = 64;
// Ids carry 128 bits of each component's HMAC: collisions are out of reach and ids stay short.
constexpr size_t kIdHexChars = 32;

Status KeyNotFound() {
  return PermissionDenied("The key vault key is not found to unwrap the encryption key.",
                          "KeyVaultEncryptionKeyNotFound");
}

Status AuthFailure() {
  return InvalidArgument("The operation failed because of authentication issue on the keyvault.",
                         "KeyVaultAuthenticationFailure");
}

std::string KeyOwner(std::string_view name, std::string_view what) {
  return "storage-account/" + std::string(name) + "/" + std::string(what);
}

bj::object KeyRefJson(const keyvault::KeyRef& k) {
  return bj::object{{"vaultUri", k.vault_uri}, {"name", k.name}, {"version", k.version}};
}

bool SameKey(const std::optional<keyvault::KeyRef>& a, const std::optional<keyvault::KeyRef>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return true;
  return EqualsIgnoreCase(a->vault_uri, b->vault_uri) && a->name == b->name && a->version == b->version;
}

}  // namespace

struct AccountRegistry::Account {
  AccountSpec spec;
  AccountKeyInfo keys;
  SecretBytes mmk_aek;  // keySource Microsoft.Storage
  SecretBytes infra;    // requireInfrastructureEncryption: the second layer's key
  std::unique_ptr<keyvault::KeyVaultClient> client;
  std::unique_ptr<storage::KeyManager> manager;  // keySource Microsoft.Keyvault
};

bool ValidAccountName(std::string_view name) {
  if (name.size() < 3 || name.size() > 24) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

AccountRegistry::AccountRegistry(env::Env env, meta::MetadataStore* store, const storage::ServiceKeys* keys,
                                 ClientFactory clients, storage::KeyManagerOptions options,
                                 std::unique_ptr<storage::BlobStore> blobs)
    : env_(env),
      store_(store),
      keys_(keys),
      clients_(std::move(clients)),
      options_(std::move(options)),
      blobs_(std::move(blobs)) {}

AccountRegistry::~AccountRegistry() = default;

Result<std::unique_ptr<AccountRegistry>> AccountRegistry::Open(env::Env env, meta::MetadataStore* store,
                                                               const storage::ServiceKeys* keys, ClientFactory clients,
                                                               storage::KeyManagerOptions options,
                                                               std::unique_ptr<storage::BlobStore> blobs) {
  RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<AccountRegistry> r(
      new AccountRegistry(env, store, keys, std::move(clients), std::move(options), std::move(blobs)));
  RETURN_IF_ERROR(r->Load());
  return r;
}

Status AccountRegistry::Load() {
  ASSIGN_OR_RETURN(auto docs, store_->List(kAccountKind, ""));
  for (const auto& d : docs) RETURN_IF_ERROR(LoadAccount(d.id, d.body));
  return OkStatus();
}

// One persisted account: its keys unwrapped with the MMK, its AEK with the MMK or through a
// key manager (whose first check decides its state; a revoked key does not stop the server).
Status AccountRegistry::LoadAccount(const std::string& name, const std::string& body) {
  ASSIGN_OR_RETURN(bj::object o, json::ParseObject(body));
  auto a = std::make_unique<Account>();
  a->spec.name = name;
  ASSIGN_OR_RETURN(auto rid, json::GetString(o, "resourceId"));
  ASSIGN_OR_RETURN(auto region, json::GetString(o, "region"));
  ASSIGN_OR_RETURN(auto principal, json::GetString(o, "principalId"));
  ASSIGN_OR_RETURN(auto tenant, json::GetString(o, "tenantId"));
  ASSIGN_OR_RETURN(auto shared_key, json::GetBool(o, "allowSharedKey"));
  a->spec.tenant_id = tenant.value_or("");
  ASSIGN_OR_RETURN(auto infra, json::GetString(o, "infra"));
  if (infra && !infra->empty()) {
    ASSIGN_OR_RETURN(auto wrapped, Base64Decode(*infra));
    ASSIGN_OR_RETURN(a->infra, keys_->UnwrapInfra(wrapped, KeyOwner(name, "infra")));
    a->spec.infrastructure_encryption = true;
  }
  a->spec.allow_shared_key = shared_key.value_or(true);
  a->spec.resource_id = rid.value_or("");
  a->spec.region = region.value_or("");
  a->spec.key.principal_id = principal.value_or("");
  ASSIGN_OR_RETURN(auto key, json::GetObject(o, "key"));
  if (key != nullptr) {
    keyvault::KeyRef k;
    ASSIGN_OR_RETURN(auto uri, json::GetString(*key, "vaultUri"));
    ASSIGN_OR_RETURN(auto kn, json::GetString(*key, "name"));
    ASSIGN_OR_RETURN(auto kv, json::GetString(*key, "version"));
    k.vault_uri = uri.value_or("");
    k.name = kn.value_or("");
    k.version = kv.value_or("");
    a->spec.key.key = k;
  }
  for (int i = 1; i <= 2; ++i) {
    std::string n = "key" + std::to_string(i);
    ASSIGN_OR_RETURN(auto wrapped, json::GetString(o, n));
    ASSIGN_OR_RETURN(auto created, json::GetString(o, n + "Created"));
    ASSIGN_OR_RETURN(auto bytes, Base64Decode(wrapped.value_or("")));
    ASSIGN_OR_RETURN(SecretBytes k, keys_->UnwrapWithMmk(a->spec.region, bytes, KeyOwner(name, n)));
    (i == 1 ? a->keys.key1 : a->keys.key2) = std::move(k);
    (i == 1 ? a->keys.created1 : a->keys.created2) = created.value_or("");
  }
  ASSIGN_OR_RETURN(auto aek_doc, store_->Get(kAekKind, name));
  if (!aek_doc) return DataLoss("storage account '" + name + "' has no AEK");
  ASSIGN_OR_RETURN(bj::object w, json::ParseObject(aek_doc->body));
  ASSIGN_OR_RETURN(auto ct, json::GetString(w, "ciphertext"));
  ASSIGN_OR_RETURN(auto ct_bytes, Base64Decode(ct.value_or("")));
  ASSIGN_OR_RETURN(auto source, json::GetString(w, "source"));
  if (source.value_or("") == "mmk") {
    ASSIGN_OR_RETURN(a->mmk_aek, keys_->UnwrapWithMmk(a->spec.region, ct_bytes, KeyOwner(name, "aek")));
  } else {
    if (!a->spec.key.key) return DataLoss("storage account '" + name + "' has a KEK-wrapped AEK and no key");
    ASSIGN_OR_RETURN(auto kid, json::GetString(w, "kid"));
    ASSIGN_OR_RETURN(auto alg, json::GetString(w, "alg"));
    storage::WrappedAek existing{kid.value_or(""), alg.value_or("RSA-OAEP-256"), std::move(ct_bytes)};
    ASSIGN_OR_RETURN(a->manager, StartManager(*a, *a->spec.key.key, std::move(existing), std::nullopt));
  }
  MutexLock l(&mu_);
  accounts_[name] = std::move(a);
  return OkStatus();
}

// A key manager for `a` acting as its identity. A new one (no `existing`) wraps a fresh AEK, or
// `adopt`, and fails when the identity can't reach the key.
Result<std::unique_ptr<storage::KeyManager>> AccountRegistry::StartManager(Account& a, const keyvault::KeyRef& key,
                                                                           std::optional<storage::WrappedAek> existing,
                                                                           std::optional<SecretBytes> adopt) {
  auto client = clients_(a.spec.key.principal_id);
  bool is_new = !existing.has_value();
  meta::MetadataStore* store = store_;
  std::string name = a.spec.name;
  std::shared_ptr<KeyHook> hook = on_key_event_;
  std::string rid = a.spec.resource_id, principal = a.spec.key.principal_id;
  auto persist = [store, name, hook, rid, principal](const storage::WrappedAek& w) -> Status {
    // The version that wrapped the AEK before (none under the MMK) tells a first wrap from a rotation.
    std::string old_kid;
    if (auto before = store->Get(kAekKind, name); before.ok() && *before) {
      auto o = json::ParseObject((*before)->body);
      const bj::value* kid = o.ok() ? o->if_contains("kid") : nullptr;
      if (kid != nullptr && kid->is_string()) old_kid = std::string(kid->as_string());
    }
    bj::object o{{"source", "kek"}, {"kid", w.kid}, {"alg", w.alg}, {"ciphertext", Base64Encode(w.ciphertext)}};
    RETURN_IF_ERROR(store->Put(kAekKind, name, json::Serialize(o)));
    if (old_kid.empty() || !EqualsIgnoreCase(old_kid, w.kid)) {
      hook->Fire({rid, principal, old_kid.empty() ? "configure" : "rotate", w.kid,
                  old_kid.empty() ? "" : "re-wrapped from " + old_kid});
    }
    return OkStatus();
  };
  ASSIGN_OR_RETURN(auto m, storage::KeyManager::Create(env_, client.get(), key, std::move(existing), options_, persist));
  m->set_on_transition([hook, rid, principal](storage::KeyState from, storage::KeyState to, const Status& cause) {
    if (to == storage::KeyState::kRevoked) hook->Fire({rid, principal, "revoke", "", cause.message()});
    if (from == storage::KeyState::kRevoked && to == storage::KeyState::kHealthy) {
      hook->Fire({rid, principal, "restore", "", "the key can be used again"});
    }
  });
  if (adopt) m->AdoptAek(std::move(*adopt));
  if (Status s = m->Start(); !s.ok()) {
    return is_new ? AuthFailure() : s;
  }
  a.client = std::move(client);
  return m;
}

void AccountRegistry::KeyHook::Fire(const KeyEvent& e) {
  KeyEventFn f;
  {
    MutexLock l(&mu);
    f = fn;
  }
  if (f) f(e);
}

void AccountRegistry::set_on_key_event(KeyEventFn fn) {
  MutexLock l(&on_key_event_->mu);
  on_key_event_->fn = std::move(fn);
}

std::optional<std::string> AccountRegistry::Owner(const std::string& name) const {
  MutexLock l(&mu_);
  const Account* a = FindLocked(name);
  if (a == nullptr) return std::nullopt;
  return a->spec.resource_id;
}

const AccountRegistry::Account* AccountRegistry::FindLocked(const std::string& name) const {
  auto it = accounts_.find(name);
  return it == accounts_.end() ? nullptr : it->second.get();
}

Status AccountRegistry::SaveAccount(const Account& a) const {
  const std::string& n = a.spec.name;
  ASSIGN_OR_RETURN(auto w1, keys_->WrapWithMmk(a.spec.region, a.keys.key1, KeyOwner(n, "key1")));
  ASSIGN_OR_RETURN(auto w2, keys_->WrapWithMmk(a.spec.region, a.keys.key2, KeyOwner(n, "key2")));
  bj::object o{{"resourceId", a.spec.resource_id},
               {"region", a.spec.region},
               {"principalId", a.spec.key.principal_id},
               {"tenantId", a.spec.tenant_id},
               {"allowSharedKey", a.spec.allow_shared_key},
               {"key", a.spec.key.key ? bj::value(KeyRefJson(*a.spec.key.key)) : bj::value(nullptr)},
               {"key1", Base64Encode(w1)},
               {"key1Created", a.keys.created1},
               {"key2", Base64Encode(w2)},
               {"key2Created", a.keys.created2}};
  if (!a.infra.empty()) {
    ASSIGN_OR_RETURN(auto wi, keys_->WrapInfra(a.infra, KeyOwner(n, "infra")));
    o["infra"] = Base64Encode(wi);
  }
  return store_->Put(kAccountKind, n, json::Serialize(o));
}

Status AccountRegistry::SaveMmkAek(const std::string& name, const std::string& region, const SecretBytes& aek) const {
  ASSIGN_OR_RETURN(auto w, keys_->WrapWithMmk(region, aek, KeyOwner(name, "aek")));
  bj::object o{{"source", "mmk"}, {"ciphertext", Base64Encode(w)}};
  return store_->Put(kAekKind, name, json::Serialize(o));
}

Status AccountRegistry::Configure(const AccountSpec& spec) {
  if (!ValidAccountName(spec.name)) return InvalidArgument("invalid storage account name", "AccountNameInvalid");
  {
    MutexLock l(&mu_);
    auto it = accounts_.find(spec.name);
    if (it != accounts_.end()) return Reconfigure(*it->second, spec);
  }
  return Create(spec);
}

Status AccountRegistry::Create(const AccountSpec& spec) {
  auto a = std::make_unique<Account>();
  a->spec = spec;
  std::string now = FormatRfc3339(env_.clock->Now());
  a->keys.key1 = env_.random->NewSecret(kAccountKeyBytes);
  a->keys.key2 = env_.random->NewSecret(kAccountKeyBytes);
  a->keys.created1 = a->keys.created2 = now;
  if (spec.infrastructure_encryption) a->infra = env_.random->NewSecret(32);
  if (spec.key.key) {
    ASSIGN_OR_RETURN(a->manager, StartManager(*a, *spec.key.key, std::nullopt, std::nullopt));
  } else {
    a->mmk_aek = env_.random->NewSecret(32);
    RETURN_IF_ERROR(SaveMmkAek(spec.name, spec.region, a->mmk_aek));
  }
  RETURN_IF_ERROR(SaveAccount(*a));
  MutexLock l(&mu_);
  accounts_[spec.name] = std::move(a);
  return OkStatus();
}

// A changed key configuration: the same AEK under the new protection (MMK <-> customer key,
// another key or version, another identity). Needs the AEK, so it fails while it is revoked.
Status AccountRegistry::Reconfigure(Account& a, const AccountSpec& spec) {
  a.spec.resource_id = spec.resource_id;
  a.spec.tenant_id = spec.tenant_id;
  a.spec.allow_shared_key = spec.allow_shared_key;
  bool same_identity = a.spec.key.principal_id == spec.key.principal_id;
  if (SameKey(a.spec.key.key, spec.key.key) && same_identity) return SaveAccount(a);
  SecretBytes aek;
  if (a.manager) {
    auto current = a.manager->Aek();
    if (!current.ok()) return KeyNotFound();
    aek = std::move(*current);
  } else {
    aek = a.mmk_aek.Clone();
  }
  Account next;
  next.spec = spec;
  if (spec.key.key) {
    ASSIGN_OR_RETURN(next.manager, StartManager(next, *spec.key.key, std::nullopt, std::move(aek)));
  } else {
    RETURN_IF_ERROR(SaveMmkAek(spec.name, spec.region, aek));
    next.mmk_aek = std::move(aek);
  }
  bool infra = a.spec.infrastructure_encryption;
  a.spec = spec;
  a.spec.infrastructure_encryption = infra;
  a.manager = std::move(next.manager);
  a.client = std::move(next.client);
  a.mmk_aek = std::move(next.mmk_aek);
  return SaveAccount(a);
}

Status AccountRegistry::Remove(const std::string& name) {
  std::unique_ptr<Account> gone;
  {
    MutexLock l(&mu_);
    auto it = accounts_.find(name);
    if (it == accounts_.end()) return OkStatus();
    gone = std::move(it->second);
    accounts_.erase(it);
  }
  Status s = store_->Transaction([&](meta::DocumentOps& ops) -> Status {
    for (const char* kind : kDocKinds) {
      ASSIGN_OR_RETURN(auto docs, ops.List(kind, name + "/"));
      for (const auto& d : docs) RETURN_IF_ERROR(ops.Delete(kind, d.id).status());
    }
    RETURN_IF_ERROR(ops.Delete(kAekKind, name).status());
    return ops.Delete(kAccountKind, name).status();
  });
  RETURN_IF_ERROR(s);
  ASSIGN_OR_RETURN(auto objects, blobs_->List(name + "/"));
  for (const auto& o : objects) RETURN_IF_ERROR(blobs_->Delete(o));
  return OkStatus();
}

Result<AccountKeyInfo> AccountRegistry::Keys(const std::string& name) const {
  MutexLock l(&mu_);
  const Account* a = FindLocked(name);
  if (a == nullptr) return NotFound("The storage account '" + name + "' was not found.", "StorageAccountNotFound");
  return AccountKeyInfo{a->keys.key1.Clone(), a->keys.key2.Clone(), a->keys.created1, a->keys.created2};
}

Status AccountRegistry::RegenerateKey(const std::string& name, int which) {
  MutexLock l(&mu_);
  auto it = accounts_.find(name);
  if (it == accounts_.end()) return NotFound("The storage account '" + name + "' was not found.", "StorageAccountNotFound");
  Account& a = *it->second;
  std::string now = FormatRfc3339(env_.clock->Now());
  (which == 1 ? a.keys.key1 : a.keys.key2) = env_.random->NewSecret(kAccountKeyBytes);
  (which == 1 ? a.keys.created1 : a.keys.created2) = now;
  return SaveAccount(a);
}

std::string AccountRegistry::CurrentKid(const std::string& name) const {
  MutexLock l(&mu_);
  const Account* a = FindLocked(name);
  return a && a->manager ? a->manager->wrapped().kid : "";
}

std::string AccountRegistry::KeyStateName(const std::string& name) const {
  MutexLock l(&mu_);
  const Account* a = FindLocked(name);
  if (a == nullptr) return "";
  return a->manager ? storage::KeyStateName(a->manager->state()) : "Healthy";
}

Result<AccountSpec> AccountRegistry::Spec(const std::string& name) const {
  MutexLock l(&mu_);
  const Account* a = FindLocked(name);
  if (a == nullptr) return NotFound("The storage account '" + name + "' was not found.", "ResourceNotFound");
  return a->spec;
}

Result<SecretBytes> AccountRegistry::Aek(const std::string& name) const {
  MutexLock l(&mu_);
  const Account* a = FindLocked(name);
  if (a == nullptr) return NotFound("The storage account '" + name + "' was not found.", "ResourceNotFound");
  if (!a->manager) return a->mmk_aek.Clone();
  auto aek = a->manager->Aek();
  if (aek.ok()) return aek;
  if (a->manager->state() == storage::KeyState::kUnavailable) {
    return PermissionDenied("The key vault of the encryption key is not reachable.", "KeyVaultVaultNotFound");
  }
  return KeyNotFound();
}

Result<std::string> AccountRegistry::DocId(const std::string& account, const SecretBytes& aek,
                                           const DocPath& path) const {
  SecretBytes name_key = storage::DeriveSubkey(aek, "cmklogs/byos/names/v1");
  if (name_key.empty()) return Internal("cannot derive the name key");
  std::string id = account;
  for (const auto& c : path) {
    auto mac = crypto::HmacSha256(name_key.span(), AsBytes(c));
    id += "/" + HexEncode(mac).substr(0, kIdHexChars);
  }
  return id;
}

SecretBytes AccountRegistry::InfraKey(const std::string& name) const {
  MutexLock l(&mu_);
  const Account* a = FindLocked(name);
  return a ? a->infra.Clone() : SecretBytes();
}

// Sealed bytes: the random 16-byte seal id, then the data layer's sealed block (AEK, column =
// kind, AAD = id) and, with double encryption, that block sealed again as an object (infra key,
// ChaCha20-Poly1305, name = id).
Result<std::vector<uint8_t>> AccountRegistry::SealBytes(const std::string& account, const SecretBytes& aek,
                                                        std::string_view kind, const std::string& id,
                                                        std::span<const uint8_t> plain) {
  storage::ExtentId seal_id;
  env_.random->Fill(seal_id);
  storage::BlockAddress where{seal_id, 0, kind, AsBytes(id)};
  ASSIGN_OR_RETURN(auto sealed, storage::SealBlock(aek, 0, where, plain, *env_.random));
  SecretBytes infra = InfraKey(account);
  if (!infra.empty()) {
    ASSIGN_OR_RETURN(sealed, storage::SealObject(infra, 0, id, sealed, *env_.random));
  }
  std::vector<uint8_t> out(seal_id.begin(), seal_id.end());
  out.insert(out.end(), sealed.begin(), sealed.end());
  return out;
}

Result<SecretBytes> AccountRegistry::OpenBytes(const std::string& account, const SecretBytes& aek,
                                               std::string_view kind, const std::string& id,
                                               std::span<const uint8_t> bytes) {
  if (bytes.size() < 16) return DataLoss("sealed document too short");
  storage::ExtentId seal_id;
  std::copy(bytes.begin(), bytes.begin() + 16, seal_id.begin());
  std::span<const uint8_t> sealed = bytes.subspan(16);
  std::vector<uint8_t> inner;
  SecretBytes infra = InfraKey(account);
  if (!infra.empty()) {
    ASSIGN_OR_RETURN(inner, storage::OpenObject(infra, id, sealed));
    sealed = inner;
  }
  storage::BlockAddress where{seal_id, 0, kind, AsBytes(id)};
  return storage::OpenBlock(aek, where, sealed);
}

Status AccountRegistry::PutDoc(const std::string& account, std::string_view kind, const DocPath& path,
                               std::string_view plain) {
  ASSIGN_OR_RETURN(SecretBytes aek, Aek(account));
  ASSIGN_OR_RETURN(std::string id, DocId(account, aek, path));
  ASSIGN_OR_RETURN(auto bytes, SealBytes(account, aek, kind, id, AsBytes(plain)));
  return store_->Put(kind, id, json::Serialize(bj::object{{"v", Base64Encode(bytes)}}));
}

Result<std::optional<std::string>> AccountRegistry::GetDoc(const std::string& account, std::string_view kind,
                                                           const DocPath& path) {
  ASSIGN_OR_RETURN(SecretBytes aek, Aek(account));
  ASSIGN_OR_RETURN(std::string id, DocId(account, aek, path));
  ASSIGN_OR_RETURN(auto doc, store_->Get(kind, id));
  if (!doc) return std::optional<std::string>();
  ASSIGN_OR_RETURN(std::string plain, OpenDoc(account, aek, kind, id, doc->body));
  return std::optional<std::string>(std::move(plain));
}

Status AccountRegistry::DeleteDoc(const std::string& account, std::string_view kind, const DocPath& path) {
  ASSIGN_OR_RETURN(SecretBytes aek, Aek(account));
  ASSIGN_OR_RETURN(std::string id, DocId(account, aek, path));
  return store_->Delete(kind, id).status();
}

Result<std::vector<std::string>> AccountRegistry::ListDocs(const std::string& account, std::string_view kind,
                                                           const DocPath& prefix) {
  ASSIGN_OR_RETURN(SecretBytes aek, Aek(account));
  ASSIGN_OR_RETURN(std::string id, DocId(account, aek, prefix));
  ASSIGN_OR_RETURN(auto docs, store_->List(kind, id + "/"));
  std::vector<std::string> out;
  out.reserve(docs.size());
  for (const auto& d : docs) {
    // Only direct children: deeper documents share the prefix.
    if (d.id.find('/', id.size() + 1) != std::string::npos) continue;
    ASSIGN_OR_RETURN(std::string plain, OpenDoc(account, aek, kind, d.id, d.body));
    out.push_back(std::move(plain));
  }
  return out;
}

Result<size_t> AccountRegistry::CountDocs(const std::string& account, std::string_view kind, const DocPath& prefix) {
  ASSIGN_OR_RETURN(SecretBytes aek, Aek(account));
  ASSIGN_OR_RETURN(std::string id, DocId(account, aek, prefix));
  ASSIGN_OR_RETURN(auto docs, store_->List(kind, id + "/"));
  return static_cast<size_t>(std::count_if(docs.begin(), docs.end(), [&](const meta::Document& d) {
    return d.id.find('/', id.size() + 1) == std::string::npos;
  }));
}

Result<std::string> AccountRegistry::OpenDoc(const std::string& account, const SecretBytes& aek, std::string_view kind,
                                             const std::string& id, const std::string& body) {
  ASSIGN_OR_RETURN(bj::object o, json::ParseObject(body));
  ASSIGN_OR_RETURN(auto v, json::GetString(o, "v"));
  ASSIGN_OR_RETURN(auto bytes, Base64Decode(v.value_or("")));
  ASSIGN_OR_RETURN(SecretBytes plain, OpenBytes(account, aek, kind, id, bytes));
  return std::string(plain.AsStringView());
}

Result<std::string> AccountRegistry::PutData(const std::string& account, std::span<const uint8_t> data) {
  ASSIGN_OR_RETURN(SecretBytes aek, Aek(account));
  uint8_t name[16];
  env_.random->Fill(name);
  std::string object = account + "/" + HexEncode(name);
  ASSIGN_OR_RETURN(auto sealed, SealBytes(account, aek, "blob-data", object, data));
  RETURN_IF_ERROR(blobs_->Put(object, sealed));
  return object;
}

Result<std::vector<uint8_t>> AccountRegistry::GetData(const std::string& account, const std::string& object) {
  if (object.compare(0, account.size() + 1, account + "/") != 0) return DataLoss("blob data object of another account");
  ASSIGN_OR_RETURN(SecretBytes aek, Aek(account));
  ASSIGN_OR_RETURN(auto sealed, blobs_->Get(object));
  ASSIGN_OR_RETURN(SecretBytes plain, OpenBytes(account, aek, "blob-data", object, sealed));
  return std::vector<uint8_t>(plain.span().begin(), plain.span().end());
}

Status AccountRegistry::DeleteData(const std::string& account, const std::string& object) {
  if (object.compare(0, account.size() + 1, account + "/") != 0) return OkStatus();
  return blobs_->Delete(object);
}

}  // namespace cmk::storage_account
