#include "crypto/aead.h"

#include <openssl/evp.h>

#include <memory>

namespace cmk::crypto {
namespace {
struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;
}  // namespace

Result<std::vector<uint8_t>> AesGcmSeal(const SecretBytes& key, std::span<const uint8_t> plaintext,
                                        std::span<const uint8_t> aad, env::Random& random) {
  if (key.size() != 32) return InvalidArgument("AES-256-GCM needs a 32-byte key");
  std::vector<uint8_t> out(kGcmNonceSize + plaintext.size() + kGcmTagSize);
  random.Fill(std::span<uint8_t>(out.data(), kGcmNonceSize));
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), out.data()) != 1 ||
      (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) ||
      EVP_EncryptUpdate(ctx.get(), out.data() + kGcmNonceSize, &len, plaintext.data(),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out.data() + kGcmNonceSize + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kGcmTagSize,
                          out.data() + kGcmNonceSize + plaintext.size()) != 1) {
    return Internal("AES-GCM encryption failed");
  }
  return out;
}

Result<SecretBytes> AesGcmOpen(const SecretBytes& key, std::span<const uint8_t> sealed,
                               std::span<const uint8_t> aad) {
  if (key.size() != 32) return InvalidArgument("AES-256-GCM needs a 32-byte key");
  if (sealed.size() < kGcmNonceSize + kGcmTagSize) return DataLoss("sealed object is truncated");
  size_t ct_len = sealed.size() - kGcmNonceSize - kGcmTagSize;
  SecretBytes out(ct_len);
  Ctx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  uint8_t tag[kGcmTagSize];
  std::copy(sealed.end() - kGcmTagSize, sealed.end(), tag);
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), sealed.data()) != 1 ||
      (!aad.empty() && EVP_DecryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) ||
      EVP_DecryptUpdate(ctx.get(), out.data(), &len, sealed.data() + kGcmNonceSize,
                        static_cast<int>(ct_len)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kGcmTagSize, tag) != 1) {
    return Internal("AES-GCM decryption failed");
  }
  if (EVP_DecryptFinal_ex(ctx.get(), out.data() + len, &len) != 1) {
    return DataLoss("authentication tag mismatch: wrong key or corrupted data");
  }
  return out;
}

}  // namespace cmk::crypto
