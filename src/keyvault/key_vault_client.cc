#include "keyvault/key_vault_client.h"

#include "base/encoding.h"
#include "keyvault/key_vault_service.h"

namespace cmk::keyvault {

Result<std::string> VaultNameFromUri(std::string_view uri) {
  constexpr std::string_view kScheme = "https://";
  if (!StartsWithIgnoreCase(uri, kScheme)) return InvalidArgument("the vault URI must start with https://");
  std::string_view host = uri.substr(kScheme.size());
  size_t end = host.find_first_of(".:/");
  if (end == 0 || end == std::string_view::npos || host[end] != '.') {
    return InvalidArgument("the vault URI '" + std::string(uri) + "' has no vault name");
  }
  return ToLower(host.substr(0, end));
}

Result<KeyRef> KeyRefFromKid(std::string_view kid) {
  size_t keys = kid.find("/keys/");
  if (keys == std::string_view::npos) return InvalidArgument("'" + std::string(kid) + "' is not a key identifier");
  KeyRef ref;
  ref.vault_uri = std::string(kid.substr(0, keys));
  std::string_view rest = kid.substr(keys + 6);
  size_t slash = rest.find('/');
  ref.name = std::string(rest.substr(0, slash));
  if (slash != std::string_view::npos) ref.version = std::string(rest.substr(slash + 1));
  if (ref.name.empty()) return InvalidArgument("'" + std::string(kid) + "' names no key");
  return ref;
}

Result<KeyInfo> InProcessKeyVaultClient::GetKey(const KeyRef& key) {
  ASSIGN_OR_RETURN(std::string vault, VaultNameFromUri(key.vault_uri));
  ASSIGN_OR_RETURN(boost::json::object bundle, service_->GetKey(identity_, vault, key.name, key.version));
  const auto& jwk = bundle.at("key").as_object();
  KeyInfo info;
  info.kid = std::string(jwk.at("kid").as_string());
  info.kty = std::string(jwk.at("kty").as_string());
  info.enabled = bundle.at("attributes").as_object().at("enabled").as_bool();
  if (jwk.contains("n")) {
    ASSIGN_OR_RETURN(info.n, Base64UrlDecode(jwk.at("n").as_string()));
    ASSIGN_OR_RETURN(info.e, Base64UrlDecode(jwk.at("e").as_string()));
  }
  return info;
}

Result<WrappedKey> InProcessKeyVaultClient::WrapKey(const KeyRef& key, std::string_view alg,
                                                    std::span<const uint8_t> plaintext) {
  ASSIGN_OR_RETURN(std::string vault, VaultNameFromUri(key.vault_uri));
  ASSIGN_OR_RETURN(KeyOperationResult r, service_->WrapKey(identity_, vault, key.name, key.version, alg, plaintext));
  return WrappedKey{std::move(r.kid), std::move(r.value)};
}

Result<SecretBytes> InProcessKeyVaultClient::UnwrapKey(const KeyRef& key, std::string_view alg,
                                                       std::span<const uint8_t> wrapped) {
  ASSIGN_OR_RETURN(std::string vault, VaultNameFromUri(key.vault_uri));
  ASSIGN_OR_RETURN(KeyOperationResult r, service_->UnwrapKey(identity_, vault, key.name, key.version, alg, wrapped));
  SecretBytes out(r.value);
  std::fill(r.value.begin(), r.value.end(), 0);
  return out;
}

}  // namespace cmk::keyvault
