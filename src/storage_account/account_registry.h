#pragma once
// AccountRegistry: the customers' Microsoft.Storage accounts as the data planes see them
// (design.md §7c, docs/storage-accounts.md). Per account: its two Shared Key account keys
// (64 random bytes each, persisted wrapped by the region's MMK) and its AEK, wrapped either by
// the region's MMK (keySource Microsoft.Storage) or by the customer's key through the account's
// identity (Microsoft.Keyvault), in which case a storage::KeyManager checks it every interval
// and revocation withholds it.
//
// What the Blob and Table services store (containers, blobs, tables, entities) are sealed
// documents in the metadata store: the id is the account name then one HMAC-SHA256 (under a
// subkey of the AEK) per path component, so no customer-chosen name is stored in clear; the body
// is the document sealed as a storage block (sealed_block.h) whose AAD binds the id. Blob
// content goes to a BlobStore as sealed objects.
// Thread safety: safe for concurrent use.

#include <array>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/secret_bytes.h"
#include "base/status.h"
#include "env/env.h"
#include "keyvault/key_vault_client.h"
#include "meta/metadata_store.h"
#include "storage/blob_store.h"
#include "storage/key_manager.h"
#include "storage/service_keys.h"

namespace cmk::storage_account {

// How an account's AEK is protected, as the ARM resource says.
struct AccountKeyConfig {
  std::optional<keyvault::KeyRef> key;  // nullopt: Microsoft.Storage (region MMK)
  std::string principal_id;             // the identity that reaches the vault
};

struct AccountSpec {
  std::string name;  // 3-24 lower-case letters and digits, unique in the instance
  std::string resource_id;
  std::string region;
  std::string tenant_id;          // the tenant whose tokens the data planes accept
  bool allow_shared_key = true;   // false: Shared Key and SAS are refused
  // requireInfrastructureEncryption: a second key (wrapped by the infrastructure master key)
  // seals everything again with ChaCha20-Poly1305. Fixed at creation.
  bool infrastructure_encryption = false;
  AccountKeyConfig key;
};

struct AccountKeyInfo {
  SecretBytes key1, key2;  // raw 64 bytes each (the SDKs use their base64)
  std::string created1, created2;  // RFC 3339
};

// Path components of a sealed document: e.g. {"container", "blob name"}.
using DocPath = std::vector<std::string>;

class AccountRegistry {
 public:
  using ClientFactory = std::function<std::unique_ptr<keyvault::KeyVaultClient>(const std::string& principal_id)>;

  // `blob_root`: directory for blob content. `keys` and `store` must outlive the registry.
  static Result<std::unique_ptr<AccountRegistry>> Open(env::Env env, meta::MetadataStore* store,
                                                       const storage::ServiceKeys* keys, ClientFactory clients,
                                                       storage::KeyManagerOptions options,
                                                       std::unique_ptr<storage::BlobStore> blobs);
  ~AccountRegistry();

  // Whether `name` is taken (by any subscription), and the ARM id that holds it.
  std::optional<std::string> Owner(const std::string& name) const;
  // Creates the account (new keys, new AEK) or applies a changed key configuration (re-wraps
  // the AEK; data is not re-encrypted). A customer key the identity can't use fails with 400
  // KeyVaultAuthenticationFailure and changes nothing.
  Status Configure(const AccountSpec& spec);
  // Forgets the account and deletes its documents and blobs.
  Status Remove(const std::string& name);

  Result<AccountKeyInfo> Keys(const std::string& name) const;
  // which: 1 or 2.
  Status RegenerateKey(const std::string& name, int which);
  // The key version that wraps the AEK ("" for Microsoft.Storage) and the key state's name.
  std::string CurrentKid(const std::string& name) const;
  std::string KeyStateName(const std::string& name) const;
  // The account's configuration; NotFound for an unknown account.
  Result<AccountSpec> Spec(const std::string& name) const;

  // A change of a customer-key account's key, for the activity log: "configure" (the AEK first
  // wrapped by a customer key), "rotate" (re-wrapped under another version, which `kid` names),
  // "revoke" (the vault refused: `reason` says how) and "restore" (usable again after a
  // revocation). Called outside the registry's lock (a rewrap's under the key manager's).
  struct KeyEvent {
    std::string resource_id, principal_id, kind, kid, reason;
  };
  using KeyEventFn = std::function<void(const KeyEvent&)>;
  void set_on_key_event(KeyEventFn fn);

  // The AEK; while the customer key is revoked or unreachable 403 KeyVaultEncryptionKeyNotFound
  // (or KeyVaultVaultNotFound), NotFound for an unknown account.
  Result<SecretBytes> Aek(const std::string& name) const;

  // Sealed documents (see above). `kind` is one of the data planes' document kinds.
  Status PutDoc(const std::string& account, std::string_view kind, const DocPath& path, std::string_view plain);
  Result<std::optional<std::string>> GetDoc(const std::string& account, std::string_view kind, const DocPath& path);
  Status DeleteDoc(const std::string& account, std::string_view kind, const DocPath& path);
  // The plaintexts of the documents under `prefix` (one component shorter than their paths).
  Result<std::vector<std::string>> ListDocs(const std::string& account, std::string_view kind, const DocPath& prefix);
  // How many documents are under `prefix` (nothing is opened).
  Result<size_t> CountDocs(const std::string& account, std::string_view kind, const DocPath& prefix);
  // Blob content: a sealed object per block, named by a random id (returned).
  Result<std::string> PutData(const std::string& account, std::span<const uint8_t> data);
  Result<std::vector<uint8_t>> GetData(const std::string& account, const std::string& object);
  Status DeleteData(const std::string& account, const std::string& object);

 private:
  struct Account;
  AccountRegistry(env::Env env, meta::MetadataStore* store, const storage::ServiceKeys* keys, ClientFactory clients,
                  storage::KeyManagerOptions options, std::unique_ptr<storage::BlobStore> blobs);
  Status Load();
  Status LoadAccount(const std::string& name, const std::string& body);
  Status Create(const AccountSpec& spec);
  Status Reconfigure(Account& a, const AccountSpec& spec) REQUIRES(mu_);
  Result<std::unique_ptr<storage::KeyManager>> StartManager(Account& a, const keyvault::KeyRef& key,
                                                            std::optional<storage::WrappedAek> existing,
                                                            std::optional<SecretBytes> adopt);
  Status SaveAccount(const Account& a) const;
  Status SaveMmkAek(const std::string& name, const std::string& region, const SecretBytes& aek) const;
  Result<std::string> DocId(const std::string& account, const SecretBytes& aek, const DocPath& path) const;
  // The account's infrastructure key; empty without double encryption.
  SecretBytes InfraKey(const std::string& name) const;
  Result<std::vector<uint8_t>> SealBytes(const std::string& account, const SecretBytes& aek, std::string_view kind,
                                         const std::string& id, std::span<const uint8_t> plain);
  Result<SecretBytes> OpenBytes(const std::string& account, const SecretBytes& aek, std::string_view kind,
                                const std::string& id, std::span<const uint8_t> sealed);
  Result<std::string> OpenDoc(const std::string& account, const SecretBytes& aek, std::string_view kind,
                              const std::string& id, const std::string& body);
  const Account* FindLocked(const std::string& name) const REQUIRES(mu_);

  env::Env env_;
  meta::MetadataStore* store_;
  const storage::ServiceKeys* keys_;
  ClientFactory clients_;
  storage::KeyManagerOptions options_;
  std::unique_ptr<storage::BlobStore> blobs_;
  mutable Mutex mu_;
  std::map<std::string, std::unique_ptr<Account>> accounts_ GUARDED_BY(mu_);
  struct KeyHook {
    Mutex mu;
    KeyEventFn fn GUARDED_BY(mu);
    void Fire(const KeyEvent& e);
  };
  std::shared_ptr<KeyHook> on_key_event_ = std::make_shared<KeyHook>();
};

// Whether `name` is a valid storage account name: 3-24 lower-case letters and digits.
bool ValidAccountName(std::string_view name);

}  // namespace cmk::storage_account
