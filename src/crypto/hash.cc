#include "crypto/hash.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstdlib>
#include <cstring>
#include <memory>

#include "crypto/openssl_free.h"

namespace cmk::crypto {
namespace {

constexpr size_t kBlock = 64;  // SHA-256's block size, the HMAC pad length

// Fetched once: an implicit fetch per digest costs a lock and a lookup in OpenSSL 3.
const EVP_MD* FetchedSha256() {
  static const EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  return md;
}

// The thread's digest context, or nullptr when OpenSSL could not make one.
EVP_MD_CTX* ThreadDigestCtx() {
  thread_local std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  return FetchedSha256() != nullptr ? ctx.get() : nullptr;
}

// Re-initializes the thread's digest context when a call is done: after the last digest its
// state is that digest's output (a MAC or a derived key), which must not stay in memory until
// the thread's next call. Initializing resets the state to SHA-256's constants. Once per call,
// not per HMAC: HKDF's PRK is overwritten by the expand step anyway.
struct ResetDigestOnExit {
  EVP_MD_CTX* ctx;
  ~ResetDigestOnExit() {
    if (ctx != nullptr) EVP_DigestInit_ex2(ctx, FetchedSha256(), nullptr);
  }
};

// HMAC-SHA256 on `ctx`. HMAC is written here over a reused SHA-256 context rather than called
// through OpenSSL's HMAC or EVP_MAC: OpenSSL 3.0 fetches, allocates and duplicates those
// objects on every call, which costs more than sealing a 16 KiB block.
bool Hmac(EVP_MD_CTX* ctx, std::span<const uint8_t> key,
          std::span<const std::span<const uint8_t>> data, uint8_t* out) {
  unsigned int n = 0;
  uint8_t hashed_key[kSha256Size], pad[kBlock], inner[kSha256Size];
  if (key.size() > kBlock) {
    if (EVP_Digest(key.data(), key.size(), hashed_key, &n, FetchedSha256(), nullptr) != 1)
      return false;
    key = hashed_key;
  }
  std::memset(pad, 0x36, kBlock);
  for (size_t i = 0; i < key.size(); ++i) pad[i] ^= key[i];
  bool ok = EVP_DigestInit_ex2(ctx, FetchedSha256(), nullptr) == 1 &&
            EVP_DigestUpdate(ctx, pad, kBlock) == 1;
  for (auto p : data) ok = ok && (p.empty() || EVP_DigestUpdate(ctx, p.data(), p.size()) == 1);
  ok = ok && EVP_DigestFinal_ex(ctx, inner, &n) == 1;
  std::memset(pad, 0x5c, kBlock);
  for (size_t i = 0; i < key.size(); ++i) pad[i] ^= key[i];
  ok = ok && EVP_DigestInit_ex2(ctx, FetchedSha256(), nullptr) == 1 &&
       EVP_DigestUpdate(ctx, pad, kBlock) == 1 && EVP_DigestUpdate(ctx, inner, kSha256Size) == 1 &&
       EVP_DigestFinal_ex(ctx, out, &n) == 1;
  OPENSSL_cleanse(hashed_key, sizeof(hashed_key));
  OPENSSL_cleanse(pad, sizeof(pad));
  OPENSSL_cleanse(inner, sizeof(inner));
  return ok;
}

}  // namespace

std::array<uint8_t, 32> Sha256(std::span<const uint8_t> data) {
  std::array<uint8_t, 32> out{};
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

bool HmacSha256Into(std::span<const uint8_t> key, std::span<const std::span<const uint8_t>> data,
                    std::span<uint8_t, kSha256Size> out) {
  EVP_MD_CTX* ctx = ThreadDigestCtx();
  ResetDigestOnExit reset{ctx};
  bool ok = ctx != nullptr && Hmac(ctx, key, data, out.data());
  if (!ok) OPENSSL_cleanse(out.data(), out.size());
  return ok;
}

std::array<uint8_t, 32> HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  std::array<uint8_t, 32> out{};
  const std::span<const uint8_t> parts[] = {data};
  if (!HmacSha256Into(key, parts, out)) std::abort();
  return out;
}

// 32 bytes are one block of the expand step, so T(1) is the whole output: two HMACs, no loop.
// crypto_test checks this against OpenSSL's EVP_KDF HKDF and RFC 5869's vectors.
Result<SecretBytes> HkdfSha256(const SecretBytes& ikm, std::span<const uint8_t> salt,
                               std::span<const uint8_t> info) {
  if (ikm.empty()) return InvalidArgument("HKDF needs input key material");
  static const uint8_t kCounter[1] = {0x01};
  const std::span<const uint8_t> extract[] = {ikm.span()};
  const std::span<const uint8_t> expand[] = {info, kCounter};
  uint8_t prk[kSha256Size];
  SecretBytes okm(kHkdfSha256Size);
  EVP_MD_CTX* ctx = ThreadDigestCtx();
  ResetDigestOnExit reset{ctx};
  bool ok = ctx != nullptr && Hmac(ctx, salt, extract, prk) && Hmac(ctx, prk, expand, okm.data());
  OPENSSL_cleanse(prk, sizeof(prk));
  if (!ok) return Internal("HKDF-SHA256 failed");
  return okm;
}

}  // namespace cmk::crypto
