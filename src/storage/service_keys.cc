#include "storage/service_keys.h"

#include "base/encoding.h"
#include "crypto/aead.h"
#include "crypto/hash.h"

namespace cmk::storage {
namespace {

Result<SecretBytes> LoadOrCreate(env::Env env, const std::string& path) {
  if (env.fs->Exists(path)) {
    ASSIGN_OR_RETURN(SecretBytes k, env.fs->ReadSecretFile(path));
    if (k.size() != 32) return DataLoss(path + " must hold 32 bytes");
    return k;
  }
  SecretBytes k(32);
  env.random->Fill(k.mutable_span());
  RETURN_IF_ERROR(env.fs->WriteFileAtomic(path, k.span(), 0600));
  return k;
}

std::string Aad(std::string_view purpose, std::string_view owner) {
  std::string a(purpose);
  a.push_back('\0');
  a.append(owner);
  return a;
}

}  // namespace

SecretBytes DeriveSubkey(const SecretBytes& key, std::string_view info, std::span<const uint8_t> salt) {
  // Empty when `key` is not a key (a wiped AEK would derive a key anyone can compute) or
  // OpenSSL fails: every AEAD call refuses a key that is not 32 bytes, so a failed derivation
  // can't seal anything under a weak key.
  if (key.size() != 32) return SecretBytes();
  auto subkey = crypto::HkdfSha256(key, salt, AsBytes(info));
  return subkey.ok() ? std::move(*subkey) : SecretBytes();
}

Result<std::unique_ptr<ServiceKeys>> ServiceKeys::Open(env::Env env, const std::string& secrets_dir) {
  RETURN_IF_ERROR(env.fs->CreateDirs(secrets_dir, 0700));
  ASSIGN_OR_RETURN(SecretBytes mmk, LoadOrCreate(env, secrets_dir + "/mmk.key"));
  ASSIGN_OR_RETURN(SecretBytes infra, LoadOrCreate(env, secrets_dir + "/infra.key"));
  return std::unique_ptr<ServiceKeys>(new ServiceKeys(env, std::move(mmk), std::move(infra)));
}

std::unique_ptr<ServiceKeys> ServiceKeys::FromRootsForTest(env::Env env, SecretBytes mmk_root, SecretBytes infra_root) {
  return std::unique_ptr<ServiceKeys>(new ServiceKeys(env, std::move(mmk_root), std::move(infra_root)));
}

SecretBytes ServiceKeys::Mmk(std::string_view region) const {
  return DeriveSubkey(mmk_root_, "cmklogs/mmk/v1/" + std::string(region));
}

Result<std::vector<uint8_t>> ServiceKeys::WrapWithMmk(std::string_view region, const SecretBytes& key,
                                                      std::string_view owner) const {
  return crypto::AesGcmSeal(Mmk(region), key.span(), AsBytes(Aad("mmk-wrap", owner)), *env_.random);
}

Result<SecretBytes> ServiceKeys::UnwrapWithMmk(std::string_view region, std::span<const uint8_t> wrapped,
                                               std::string_view owner) const {
  return crypto::AesGcmOpen(Mmk(region), wrapped, AsBytes(Aad("mmk-wrap", owner)));
}

Result<std::vector<uint8_t>> ServiceKeys::WrapInfra(const SecretBytes& key, std::string_view owner) const {
  return crypto::AesGcmSeal(infra_root_, key.span(), AsBytes(Aad("infra-wrap", owner)), *env_.random);
}

Result<SecretBytes> ServiceKeys::UnwrapInfra(std::span<const uint8_t> wrapped, std::string_view owner) const {
  return crypto::AesGcmOpen(infra_root_, wrapped, AsBytes(Aad("infra-wrap", owner)));
}

}  // namespace cmk::storage
