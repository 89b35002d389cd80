#pragma once
// KeyVaultClient: how the rest of the server (cluster storage) reaches the vault holding a
// customer's key. Two implementations pass the same tests: InProcessKeyVaultClient (below; the
// same authorization path as an HTTP call, acting as a given principal, e.g. a cluster's
// managed identity) and server::HttpKeyVaultClient (Key Vault REST, so a remote vault — real
// Azure Key Vault or another cmklogs — can hold the KEK).
// Errors keep Key Vault's codes: PermissionDenied/Forbidden with inner KeyDisabled or
// AccessDenied/ForbiddenByRbac, NotFound/KeyNotFound, Unavailable for transport failures.

#include <span>
#include <string>
#include <vector>

#include "base/secret_bytes.h"
#include "base/status.h"
#include "identity/principal.h"

namespace cmk::keyvault {

class KeyVaultService;

struct KeyRef {
  std::string vault_uri;  // https://<vault>.vault.<domain>[:port][/]
  std::string name;
  std::string version;  // empty: the current version
};

struct KeyInfo {
  std::string kid;  // versioned
  std::string kty;
  bool enabled = true;
  std::vector<uint8_t> n, e;
};

struct WrappedKey {
  std::string kid;  // the version that wrapped
  std::vector<uint8_t> value;
};

class KeyVaultClient {
 public:
  virtual ~KeyVaultClient() = default;
  virtual Result<KeyInfo> GetKey(const KeyRef& key) = 0;
  virtual Result<WrappedKey> WrapKey(const KeyRef& key, std::string_view alg,
                                     std::span<const uint8_t> plaintext) = 0;
  virtual Result<SecretBytes> UnwrapKey(const KeyRef& key, std::string_view alg,
                                        std::span<const uint8_t> wrapped) = 0;
};

// Splits "https://name.vault.domain:port/" into the vault's name (the first host label).
Result<std::string> VaultNameFromUri(std::string_view vault_uri);
// Parses a kid "https://host/keys/<name>/<version>".
Result<KeyRef> KeyRefFromKid(std::string_view kid);

class InProcessKeyVaultClient final : public KeyVaultClient {
 public:
  InProcessKeyVaultClient(KeyVaultService* service, identity::Principal identity)
      : service_(service), identity_(std::move(identity)) {}
  Result<KeyInfo> GetKey(const KeyRef& key) override;
  Result<WrappedKey> WrapKey(const KeyRef& key, std::string_view alg,
                             std::span<const uint8_t> plaintext) override;
  Result<SecretBytes> UnwrapKey(const KeyRef& key, std::string_view alg,
                                std::span<const uint8_t> wrapped) override;

 private:
  KeyVaultService* service_;
  identity::Principal identity_;
};

}  // namespace cmk::keyvault
