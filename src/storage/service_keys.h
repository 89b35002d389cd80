#pragma once
// Service-side keys (design.md §3): the region MMKs, which wrap the AEKs of service-managed
// (shared) storage and seal WAL records held while a customer key is unavailable, and the
// infrastructure master key, which wraps each account's infrastructure (double encryption)
// key. The two roots live in separate files under secrets/ (0600), apart from each other and
// from the metadata store; an MMK is HKDF(mmk root, info = "cmklogs/mmk/v1/<region>").
// Wrapping is AES-256-GCM with the wrapped key's purpose and owner as AAD.
// Thread safety: immutable after Open; safe for concurrent use.
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/secret_bytes.h"
#include "base/status.h"
#include "env/env.h"

namespace cmk::storage {

// A 32-byte subkey of the 32-byte `key` for the purpose `info`: crypto::HkdfSha256. Empty
// (refused by every AEAD call) when `key` is not 32 bytes or OpenSSL can't allocate.
SecretBytes DeriveSubkey(const SecretBytes& key, std::string_view info, std::span<const uint8_t> salt = {});

class ServiceKeys {
 public:
  // Loads secrets/mmk.key and secrets/infra.key under `secrets_dir`, creating them on first use.
  static Result<std::unique_ptr<ServiceKeys>> Open(env::Env env, const std::string& secrets_dir);
  // Keys given directly (tests).
  static std::unique_ptr<ServiceKeys> FromRootsForTest(env::Env env, SecretBytes mmk_root, SecretBytes infra_root);

  SecretBytes Mmk(std::string_view region) const;
  Result<std::vector<uint8_t>> WrapWithMmk(std::string_view region, const SecretBytes& key, std::string_view owner) const;
  Result<SecretBytes> UnwrapWithMmk(std::string_view region, std::span<const uint8_t> wrapped, std::string_view owner) const;
  Result<std::vector<uint8_t>> WrapInfra(const SecretBytes& key, std::string_view owner) const;
  Result<SecretBytes> UnwrapInfra(std::span<const uint8_t> wrapped, std::string_view owner) const;

 private:
  ServiceKeys(env::Env env, SecretBytes mmk_root, SecretBytes infra_root)
      : env_(env), mmk_root_(std::move(mmk_root)), infra_root_(std::move(infra_root)) {}
  env::Env env_;
  SecretBytes mmk_root_;
  SecretBytes infra_root_;
};

}  // namespace cmk::storage
