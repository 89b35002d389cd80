#include "crypto/aead.h"

#include <openssl/evp.h>

#include <memory>

namespace cmk::crypto {
namespace {
struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};
using Ctx = std::unique_ptr<EVP_CIPHER_CTX, CtxFree>;

// Per-thread contexts are re-keyed with zeros when a call is done: the key schedule of the last
// key used must not stay in memory until the thread's next call.
struct ScrubKeyOnExit {
  EVP_CIPHER_CTX* ctx;
  ~ScrubKeyOnExit() {
    static const uint8_t kZero[32] = {};
    if (ctx != nullptr && EVP_CIPHER_CTX_get0_cipher(ctx) != nullptr) EVP_CipherInit_ex(ctx, nullptr, nullptr, kZero, nullptr, -1);
  }
};
}  // namespace

Status AesGcmSealAppend(const SecretBytes& key, std::span<const std::span<const uint8_t>> parts,
                        std::span<const uint8_t> aad, env::Random& random, std::vector<uint8_t>& out) {
  if (key.size() != 32) return InvalidArgument("AES-256-GCM needs a 32-byte key");
  size_t n = 0;
  for (auto p : parts) n += p.size();
  size_t at = out.size();
  out.resize(at + kGcmNonceSize + n + kGcmTagSize);
  uint8_t* nonce = out.data() + at;
  random.Fill(std::span<uint8_t>(nonce, kGcmNonceSize));
  // One context per thread, re-keyed per call: allocating one per record costs more than
  // sealing a small record.
  thread_local Ctx ctx(EVP_CIPHER_CTX_new());
  ScrubKeyOnExit scrub{ctx.get()};
  static const EVP_CIPHER* const kCipher = EVP_aes_256_gcm();
  int len = 0;
  bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), kCipher, nullptr, key.data(), nonce) == 1 &&
            (aad.empty() || EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) == 1);
  uint8_t* ct = nonce + kGcmNonceSize;
  for (auto p : parts) {
    if (!ok || p.empty()) continue;
    ok = EVP_EncryptUpdate(ctx.get(), ct, &len, p.data(), static_cast<int>(p.size())) == 1;
    ct += len;
  }
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), ct, &len) == 1 &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kGcmTagSize, nonce + kGcmNonceSize + n) == 1;
  if (!ok) {
    out.resize(at);
    return Internal("AES-GCM encryption failed");
  }
  return OkStatus();
}

Status AesGcmSealInPlace(const SecretBytes& key, std::span<uint8_t> data, std::span<const uint8_t> aad,
                         env::Random& random, std::span<uint8_t, kGcmNonceSize> nonce, std::span<uint8_t, kGcmTagSize> tag) {
  if (key.size() != 32) return InvalidArgument("AES-256-GCM needs a 32-byte key");
  random.Fill(nonce);
  thread_local Ctx ctx(EVP_CIPHER_CTX_new());
  ScrubKeyOnExit scrub{ctx.get()};
  int len = 0;
  // GCM is a stream mode: OpenSSL encrypts with input and output at the same address.
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key.data(), nonce.data()) != 1 ||
      (!aad.empty() && EVP_EncryptUpdate(ctx.get(), nullptr, &len, aad.data(), static_cast<int>(aad.size())) != 1) ||
      (!data.empty() && EVP_EncryptUpdate(ctx.get(), data.data(), &len, data.data(), static_cast<int>(data.size())) != 1) ||
      EVP_EncryptFinal_ex(ctx.get(), data.data() + data.size(), &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kGcmTagSize, tag.data()) != 1) {
    return Internal("AES-GCM encryption failed");
  }
  return OkStatus();
}

Result<std::vector<uint8_t>> AesGcmSeal(const SecretBytes& key, std::span<const uint8_t> plaintext,
                                        std::span<const uint8_t> aad, env::Random& random) {
  std::vector<uint8_t> out;
  out.reserve(kGcmNonceSize + plaintext.size() + kGcmTagSize);
  RETURN_IF_ERROR(AesGcmSealAppend(key, {plaintext}, aad, random, out));
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
