#include "crypto/aead.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <climits>
#include <cstring>
#include <memory>

namespace cmk::crypto {
namespace {

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// Fetched once: OpenSSL 3 fetches EVP_aes_256_gcm() implicitly on every init, which costs more
// than sealing a small record.
const EVP_CIPHER* Cipher(AeadAlgorithm alg) {
  static EVP_CIPHER* const gcm = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  static EVP_CIPHER* const chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  return alg == AeadAlgorithm::kAes256Gcm ? gcm : chacha;
}

// One context per thread and algorithm, re-initialized with each call's key and nonce:
// allocating one per call costs as much as sealing a few KiB, and switching one context between
// algorithms would rebuild OpenSSL's cipher state each time (a flush alternates AES-GCM blocks
// and a ChaCha20-Poly1305 object).
EVP_CIPHER_CTX* ThreadCtx(AeadAlgorithm alg) {
  thread_local std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx[2] = {
      std::unique_ptr<EVP_CIPHER_CTX, CtxFree>(EVP_CIPHER_CTX_new()),
      std::unique_ptr<EVP_CIPHER_CTX, CtxFree>(EVP_CIPHER_CTX_new())};
  return ctx[alg == AeadAlgorithm::kAes256Gcm ? 0 : 1].get();
}

// Re-keys a thread's context with zeros when a call is done, so that the last key schedule
// does not stay in memory until the thread's next call (a freed context is cleansed by OpenSSL;
// a kept one is not).
struct ScrubKeyOnExit {
  EVP_CIPHER_CTX* ctx;
  ~ScrubKeyOnExit() {
    static const uint8_t kZero[kAeadKeySize] = {};
    if (ctx != nullptr && EVP_CIPHER_CTX_get0_cipher(ctx) != nullptr) {
      EVP_CipherInit_ex(ctx, nullptr, nullptr, kZero, nullptr, -1);
    }
  }
};

bool FitsInt(size_t n) { return n <= static_cast<size_t>(INT_MAX); }

bool AddAad(EVP_CIPHER_CTX* ctx, ByteParts aad) {
  int len = 0;
  for (auto a : aad) {
    if (!a.empty() &&
        EVP_CipherUpdate(ctx, nullptr, &len, a.data(), static_cast<int>(a.size())) != 1)
      return false;
  }
  return true;
}

Status CheckSizes(const SecretBytes& key, ByteParts parts, ByteParts aad) {
  if (key.size() != kAeadKeySize) return InvalidArgument("AEAD keys are 32 bytes");
  for (auto p : parts) {
    if (!FitsInt(p.size())) return InvalidArgument("AEAD input part over 2 GiB");
  }
  for (auto a : aad) {
    if (!FitsInt(a.size())) return InvalidArgument("AEAD associated data over 2 GiB");
  }
  return OkStatus();
}

// Encrypts the concatenated `parts` to `ct` (which may be the single part's own bytes: in
// place) under `nonce`; the tag goes to `tag`.
Status EncryptWithNonce(AeadAlgorithm alg, const SecretBytes& key, ByteParts parts, ByteParts aad,
                        const uint8_t* nonce, uint8_t* ct, uint8_t* tag) {
  EVP_CIPHER_CTX* ctx = ThreadCtx(alg);
  ScrubKeyOnExit scrub{ctx};
  int len = 0;
  bool ok = ctx != nullptr &&
            EVP_EncryptInit_ex2(ctx, Cipher(alg), key.data(), nonce, nullptr) == 1 &&
            AddAad(ctx, aad);
  for (auto p : parts) {
    if (!ok || p.empty()) continue;
    ok = EVP_EncryptUpdate(ctx, ct, &len, p.data(), static_cast<int>(p.size())) == 1;
    ct += len;
  }
  ok = ok && EVP_EncryptFinal_ex(ctx, ct, &len) == 1 &&
       EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kAeadTagSize, tag) == 1;
  return ok ? OkStatus() : Internal("AEAD encryption failed");
}

// The same under a fresh random nonce, written to `nonce`.
Status Encrypt(AeadAlgorithm alg, const SecretBytes& key, ByteParts parts, ByteParts aad,
               env::Random& random, uint8_t* nonce, uint8_t* ct, uint8_t* tag) {
  random.Fill(std::span<uint8_t>(nonce, kAeadNonceSize));
  return EncryptWithNonce(alg, key, parts, aad, nonce, ct, tag);
}

// Opens `ct` with `tag` under `nonce` into `out` (out.size() == ct.size(); `out` may be `ct`'s
// own bytes). On failure `out` is zeroed.
Status Decrypt(AeadAlgorithm alg, const SecretBytes& key, const uint8_t* nonce,
               std::span<const uint8_t> ct, const uint8_t* tag_in, ByteParts aad,
               std::span<uint8_t> out) {
  const std::span<const uint8_t> parts[] = {ct};
  RETURN_IF_ERROR(CheckSizes(key, parts, aad));
  // Copied: EVP_CTRL_AEAD_SET_TAG takes a mutable pointer, and the tag is the caller's.
  uint8_t tag[kAeadTagSize];
  std::memcpy(tag, tag_in, kAeadTagSize);
  EVP_CIPHER_CTX* ctx = ThreadCtx(alg);
  ScrubKeyOnExit scrub{ctx};
  int len = 0;
  if (ctx == nullptr || EVP_DecryptInit_ex2(ctx, Cipher(alg), key.data(), nonce, nullptr) != 1 ||
      !AddAad(ctx, aad) ||
      (!ct.empty() &&
       EVP_DecryptUpdate(ctx, out.data(), &len, ct.data(), static_cast<int>(ct.size())) != 1) ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kAeadTagSize, tag) != 1) {
    WipeBytes(out);
    return Internal("AEAD decryption failed");
  }
  // The tag is checked here, in constant time, by OpenSSL.
  int final_len = 0;
  if (EVP_DecryptFinal_ex(ctx, out.data() + len, &final_len) != 1) {
    WipeBytes(out);
    return DataLoss(
        "the sealed data does not authenticate: wrong key, wrong associated data, or corrupted");
  }
  return OkStatus();
}

}  // namespace

Status SealAppend(AeadAlgorithm alg, const SecretBytes& key, ByteParts plaintext, ByteParts aad,
                  env::Random& random, std::vector<uint8_t>& out) {
  RETURN_IF_ERROR(CheckSizes(key, plaintext, aad));
  size_t n = 0;
  for (auto p : plaintext) n += p.size();
  size_t at = out.size();
  out.resize(at + kAeadNonceSize + n + kAeadTagSize);
  uint8_t* nonce = out.data() + at;
  Status s = Encrypt(alg, key, plaintext, aad, random, nonce, nonce + kAeadNonceSize,
                     nonce + kAeadNonceSize + n);
  if (!s.ok()) out.resize(at);
  return s;
}

Status SealInPlace(AeadAlgorithm alg, const SecretBytes& key, std::span<uint8_t> data,
                   ByteParts aad, env::Random& random, std::span<uint8_t, kAeadNonceSize> nonce,
                   std::span<uint8_t, kAeadTagSize> tag) {
  // GCM and ChaCha20-Poly1305 are stream modes: OpenSSL encrypts with input and output at the
  // same address.
  const std::span<const uint8_t> parts[] = {data};
  RETURN_IF_ERROR(CheckSizes(key, parts, aad));
  return Encrypt(alg, key, parts, aad, random, nonce.data(), data.data(), tag.data());
}

Status OpenInto(AeadAlgorithm alg, const SecretBytes& key, std::span<const uint8_t> sealed,
                ByteParts aad, std::span<uint8_t> out) {
  if (key.size() != kAeadKeySize) return InvalidArgument("AEAD keys are 32 bytes");
  if (sealed.size() < kAeadOverhead) return DataLoss("sealed data is truncated");
  const std::span<const uint8_t> ct = sealed.subspan(kAeadNonceSize, sealed.size() - kAeadOverhead);
  if (out.size() != ct.size())
    return InvalidArgument("the output buffer does not fit the sealed data");
  return Decrypt(alg, key, sealed.data(), ct, sealed.data() + sealed.size() - kAeadTagSize, aad,
                 out);
}

Status SealWithNonce(AeadAlgorithm alg, const SecretBytes& key,
                     std::span<const uint8_t, kAeadNonceSize> nonce,
                     std::span<const uint8_t> plaintext, ByteParts aad, std::span<uint8_t> out,
                     std::span<uint8_t, kAeadTagSize> tag) {
  if (out.size() != plaintext.size())
    return InvalidArgument("the output buffer does not fit the plaintext");
  const std::span<const uint8_t> parts[] = {plaintext};
  RETURN_IF_ERROR(CheckSizes(key, parts, aad));
  return EncryptWithNonce(alg, key, parts, aad, nonce.data(), out.data(), tag.data());
}

Status OpenWithNonce(AeadAlgorithm alg, const SecretBytes& key,
                     std::span<const uint8_t, kAeadNonceSize> nonce,
                     std::span<const uint8_t> ciphertext_and_tag, ByteParts aad,
                     std::span<uint8_t> out) {
  if (key.size() != kAeadKeySize) return InvalidArgument("AEAD keys are 32 bytes");
  if (ciphertext_and_tag.size() < kAeadTagSize) return DataLoss("sealed data is truncated");
  const std::span<const uint8_t> ct =
      ciphertext_and_tag.first(ciphertext_and_tag.size() - kAeadTagSize);
  if (out.size() != ct.size())
    return InvalidArgument("the output buffer does not fit the sealed data");
  return Decrypt(alg, key, nonce.data(), ct, ct.data() + ct.size(), aad, out);
}

Result<SecretBytes> Open(AeadAlgorithm alg, const SecretBytes& key, std::span<const uint8_t> sealed,
                         ByteParts aad) {
  if (key.size() != kAeadKeySize) return InvalidArgument("AEAD keys are 32 bytes");
  if (sealed.size() < kAeadOverhead) return DataLoss("sealed data is truncated");
  SecretBytes out(sealed.size() - kAeadOverhead);
  RETURN_IF_ERROR(OpenInto(alg, key, sealed, aad, out.mutable_span()));
  return out;
}

Result<std::vector<uint8_t>> AesGcmSeal(const SecretBytes& key, std::span<const uint8_t> plaintext,
                                        std::span<const uint8_t> aad, env::Random& random) {
  std::vector<uint8_t> out;
  out.reserve(kAeadOverhead + plaintext.size());
  const std::span<const uint8_t> parts[] = {plaintext};
  const std::span<const uint8_t> aads[] = {aad};
  RETURN_IF_ERROR(SealAppend(AeadAlgorithm::kAes256Gcm, key, parts, aads, random, out));
  return out;
}

Status AesGcmSealAppend(const SecretBytes& key, ByteParts parts, std::span<const uint8_t> aad,
                        env::Random& random, std::vector<uint8_t>& out) {
  const std::span<const uint8_t> aads[] = {aad};
  return SealAppend(AeadAlgorithm::kAes256Gcm, key, parts, aads, random, out);
}

Status AesGcmSealInPlace(const SecretBytes& key, std::span<uint8_t> data,
                         std::span<const uint8_t> aad, env::Random& random,
                         std::span<uint8_t, kAeadNonceSize> nonce,
                         std::span<uint8_t, kAeadTagSize> tag) {
  const std::span<const uint8_t> aads[] = {aad};
  return SealInPlace(AeadAlgorithm::kAes256Gcm, key, data, aads, random, nonce, tag);
}

Result<SecretBytes> AesGcmOpen(const SecretBytes& key, std::span<const uint8_t> sealed,
                               std::span<const uint8_t> aad) {
  const std::span<const uint8_t> aads[] = {aad};
  return Open(AeadAlgorithm::kAes256Gcm, key, sealed, aads);
}

}  // namespace cmk::crypto
