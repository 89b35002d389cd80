#pragma once
// HttpKeyVaultClient: KeyVaultClient over Key Vault's REST protocol (api-version 7.4). It does
// the challenge dance as the Azure SDKs do: a first request without a token learns the
// resource and tenant from the 401, then tokens come from `tokens` and are cached per
// resource until a 401 says otherwise. Transport failures, 429 and 5xx are Unavailable (the key
// manager treats them as an outage, not a revocation).
// Thread safety: safe for concurrent use.
#include <functional>
#include <map>
#include <mutex>
#include <string>

#include "keyvault/key_vault_client.h"
#include "server/https_client.h"

namespace cmk::server {

// Returns an access token for `resource` (e.g. "https://vault.localhost:8443") in `tenant`.
using TokenProvider = std::function<Result<std::string>(const std::string& resource, const std::string& tenant)>;

class HttpKeyVaultClient final : public keyvault::KeyVaultClient {
 public:
  HttpKeyVaultClient(TokenProvider tokens, HttpsClientOptions options)
      : tokens_(std::move(tokens)), options_(std::move(options)) {}
  Result<keyvault::KeyInfo> GetKey(const keyvault::KeyRef& key) override;
  Result<keyvault::WrappedKey> WrapKey(const keyvault::KeyRef& key, std::string_view alg,
                                       std::span<const uint8_t> plaintext) override;
  Result<SecretBytes> UnwrapKey(const keyvault::KeyRef& key, std::string_view alg,
                                std::span<const uint8_t> wrapped) override;

 private:
  Result<ClientResponse> Call(const std::string& method, const std::string& url, const std::string& body);
  TokenProvider tokens_;
  HttpsClientOptions options_;
  std::mutex mu_;
  std::map<std::string, std::string> token_by_host_;  // vault host -> bearer token
};

// Maps a Key Vault error response to a Status with its codes.
Status KeyVaultErrorStatus(const ClientResponse& response);

}  // namespace cmk::server
