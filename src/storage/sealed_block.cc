#include "storage/sealed_block.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include <cstring>
#include <memory>

namespace cmk::storage {
namespace {

constexpr uint8_t kBlockMagic[4] = {'C', 'M', 'K', 'B'};
constexpr uint8_t kObjectMagic[4] = {'C', 'M', 'K', 'I'};
constexpr uint8_t kVersion = 1;
constexpr uint8_t kAlgAesGcmHkdf = 1;
constexpr uint8_t kAlgChaChaPoly = 2;

struct CtxFree {
  void operator()(EVP_CIPHER_CTX* c) const { EVP_CIPHER_CTX_free(c); }
};

// Fetched once: implicit fetches on every call cost more than sealing a small block.
const EVP_CIPHER* AesGcm() {
  static EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return c;
}
const EVP_CIPHER* ChaCha() {
  static EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
  return c;
}

void PutU32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
uint32_t GetU32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// One cipher context per thread, re-initialized with each block's key and nonce: allocating
// one per block costs as much as sealing a few KiB.
EVP_CIPHER_CTX* ThreadCipherCtx() {
  thread_local std::unique_ptr<EVP_CIPHER_CTX, CtxFree> ctx(EVP_CIPHER_CTX_new());
  return ctx.get();
}

// Re-keys a thread's context with zeros when a seal or open is done, so that the last block's
// key schedule doesn't stay in memory until the thread's next use (a freed context is cleansed
// by OpenSSL; a kept one isn't).
struct ScrubKeyOnExit {
  EVP_CIPHER_CTX* ctx;
  ~ScrubKeyOnExit() {
    static const uint8_t kZero[32] = {};
    if (ctx != nullptr && EVP_CIPHER_CTX_get0_cipher(ctx) != nullptr) EVP_CipherInit_ex(ctx, nullptr, nullptr, kZero, nullptr, -1);
  }
};

// header: magic(4) version(1) alg(1) reserved(2) generation(4) nonce(12)
void WriteHeader(uint8_t* h, const uint8_t magic[4], uint8_t alg, uint32_t generation, env::Random& random) {
  std::memcpy(h, magic, 4);
  h[4] = kVersion;
  h[5] = alg;
  h[6] = h[7] = 0;
  PutU32(h + 8, generation);
  random.Fill(std::span<uint8_t>(h + 12, 12));
}

// Seals `n` bytes at `in` behind the header at `h` (written here): ciphertext at h +
// kBlockHeaderSize (may be `in` itself: in place), then the tag. Room is the caller's.
bool SealAt(const EVP_CIPHER* cipher, const uint8_t* key, const uint8_t magic[4], uint8_t alg, uint32_t generation,
            std::span<const uint8_t> aad_tail, const uint8_t* in, size_t n, uint8_t* h, env::Random& random) {
  WriteHeader(h, magic, alg, generation, random);
  EVP_CIPHER_CTX* ctx = ThreadCipherCtx();
  ScrubKeyOnExit scrub{ctx};
  int len = 0;
  return ctx && EVP_EncryptInit_ex2(ctx, cipher, key, h + 12, nullptr) == 1 &&
         EVP_EncryptUpdate(ctx, nullptr, &len, h, 12) == 1 &&
         (aad_tail.empty() || EVP_EncryptUpdate(ctx, nullptr, &len, aad_tail.data(), static_cast<int>(aad_tail.size())) == 1) &&
         EVP_EncryptUpdate(ctx, h + kBlockHeaderSize, &len, in, static_cast<int>(n)) == 1 &&
         EVP_EncryptFinal_ex(ctx, h + kBlockHeaderSize + len, &len) == 1 &&
         EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, h + kBlockHeaderSize + n) == 1;
}

// Appends the sealed form of `plaintext` to `out` (callers reuse its capacity).
Status SealAppend(const EVP_CIPHER* cipher, const uint8_t* key, const uint8_t magic[4], uint8_t alg, uint32_t generation,
                  std::span<const uint8_t> aad_tail, std::span<const uint8_t> plaintext, env::Random& random,
                  std::vector<uint8_t>& out) {
  size_t at = out.size();
  out.resize(at + kBlockHeaderSize + plaintext.size() + 16);
  if (!SealAt(cipher, key, magic, alg, generation, aad_tail, plaintext.data(), plaintext.size(), out.data() + at, random)) {
    out.resize(at);
    return Internal("sealing failed");
  }
  return OkStatus();
}

// Seals buf[at + kBlockHeaderSize, end) in place: header at `at`, tag appended.
Status SealInPlace(const EVP_CIPHER* cipher, const uint8_t* key, const uint8_t magic[4], uint8_t alg,
                   uint32_t generation, std::span<const uint8_t> aad_tail, std::vector<uint8_t>& buf, size_t at,
                   env::Random& random) {
  size_t n = buf.size() - at - kBlockHeaderSize;
  buf.resize(buf.size() + 16);
  uint8_t* h = buf.data() + at;
  if (!SealAt(cipher, key, magic, alg, generation, aad_tail, h + kBlockHeaderSize, n, h, random)) {
    return Internal("sealing failed");
  }
  return OkStatus();
}

Result<std::vector<uint8_t>> Seal(const EVP_CIPHER* cipher, const uint8_t* key, const uint8_t magic[4], uint8_t alg,
                                  uint32_t generation, std::span<const uint8_t> aad_tail,
                                  std::span<const uint8_t> plaintext, env::Random& random) {
  std::vector<uint8_t> out;
  out.reserve(kBlockHeaderSize + plaintext.size() + 16);
  RETURN_IF_ERROR(SealAppend(cipher, key, magic, alg, generation, aad_tail, plaintext, random, out));
  return out;
}

// Decrypts into `out` (sized by the caller to the plaintext length): one allocation, no copy.
template <typename Out>
Status Open(const EVP_CIPHER* cipher, const uint8_t* key, std::span<const uint8_t> aad_tail,
            std::span<const uint8_t> sealed, Out& out) {
  size_t n = sealed.size() - kSealOverhead;
  uint8_t tag[16];
  std::memcpy(tag, sealed.data() + sealed.size() - 16, 16);
  EVP_CIPHER_CTX* ctx = ThreadCipherCtx();
  ScrubKeyOnExit scrub{ctx};
  int len = 0;
  if (!ctx || EVP_DecryptInit_ex2(ctx, cipher, key, sealed.data() + 12, nullptr) != 1 ||
      EVP_DecryptUpdate(ctx, nullptr, &len, sealed.data(), 12) != 1 ||
      (!aad_tail.empty() && EVP_DecryptUpdate(ctx, nullptr, &len, aad_tail.data(), static_cast<int>(aad_tail.size())) != 1) ||
      EVP_DecryptUpdate(ctx, out.data(), &len, sealed.data() + kBlockHeaderSize, static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, tag) != 1) {
    return Internal("opening failed");
  }
  if (EVP_DecryptFinal_ex(ctx, out.data() + len, &len) != 1) {
    return DataLoss("the sealed data does not authenticate: wrong key, wrong place, or corrupted");
  }
  return OkStatus();
}

Status CheckHeader(std::span<const uint8_t> sealed, const uint8_t magic[4], uint8_t alg) {
  if (sealed.size() < kSealOverhead) return DataLoss("sealed data is truncated");
  if (std::memcmp(sealed.data(), magic, 4) != 0) return DataLoss("not a sealed object of the expected kind");
  if (sealed[4] != kVersion) return DataLoss("unknown sealing format version " + std::to_string(sealed[4]));
  if (sealed[5] != alg) return DataLoss("unknown sealing algorithm " + std::to_string(sealed[5]));
  return OkStatus();
}

// HMAC-SHA256(key, msg) into out[32]. REQUIRES: key.size() <= 64 (our keys are 20 or 32 bytes).
bool HmacSha256Into(std::span<const uint8_t> key, std::span<const uint8_t> msg, uint8_t* out) {
  static const EVP_MD* const kSha256 = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (key.size() > 64 || !ctx || kSha256 == nullptr) return false;
  uint8_t pad[64], inner[32];
  std::memset(pad, 0x36, sizeof(pad));
  for (size_t i = 0; i < key.size(); ++i) pad[i] ^= key[i];
  unsigned int n = 0;
  bool ok = EVP_DigestInit_ex2(ctx.get(), kSha256, nullptr) == 1 && EVP_DigestUpdate(ctx.get(), pad, 64) == 1 &&
            EVP_DigestUpdate(ctx.get(), msg.data(), msg.size()) == 1 && EVP_DigestFinal_ex(ctx.get(), inner, &n) == 1;
  std::memset(pad, 0x5c, sizeof(pad));
  for (size_t i = 0; i < key.size(); ++i) pad[i] ^= key[i];
  ok = ok && EVP_DigestInit_ex2(ctx.get(), kSha256, nullptr) == 1 && EVP_DigestUpdate(ctx.get(), pad, 64) == 1 &&
       EVP_DigestUpdate(ctx.get(), inner, 32) == 1 && EVP_DigestFinal_ex(ctx.get(), out, &n) == 1;
  OPENSSL_cleanse(pad, sizeof(pad));
  OPENSSL_cleanse(inner, sizeof(inner));
  return ok;
}

std::vector<uint8_t> BlockAad(const BlockAddress& where) {
  std::vector<uint8_t> aad(where.extent.begin(), where.extent.end());
  aad.resize(20);
  PutU32(aad.data() + 16, where.block_index);
  aad.insert(aad.end(), where.column.begin(), where.column.end());
  aad.insert(aad.end(), where.context.begin(), where.context.end());
  return aad;
}

}  // namespace

// HKDF-SHA256 (RFC 5869) with a 32-byte output is one HMAC to extract and one to expand. HMAC
// (RFC 2104) is written here over a thread-local SHA-256 digest context because OpenSSL 3.0's
// HKDF and HMAC objects fetch, allocate and duplicate per call, which cost more than sealing a
// 16 KiB block. The test checks DeriveDek against OpenSSL's own HKDF.
Result<SecretBytes> DeriveDek(const SecretBytes& aek, const ExtentId& extent, uint32_t block_index) {
  if (aek.size() != 32) return InvalidArgument("the AEK must be 32 bytes");
  uint8_t salt[20];
  std::memcpy(salt, extent.data(), 16);
  PutU32(salt + 16, block_index);
  SecretBytes prk(32), dek(32);
  static const uint8_t kInfoAndCounter[] = {'c', 'm', 'k', 'l', 'o', 'g', 's', '/', 'd', 'e', 'k', '/', 'v', '1', 0x01};
  if (!HmacSha256Into(salt, aek.span(), prk.data()) || !HmacSha256Into(prk.span(), kInfoAndCounter, dek.data())) {
    return Internal("HKDF failed");
  }
  return dek;
}

Result<std::vector<uint8_t>> SealBlock(const SecretBytes& aek, uint32_t aek_generation, const BlockAddress& where,
                                       std::span<const uint8_t> plaintext, env::Random& random) {
  ASSIGN_OR_RETURN(SecretBytes dek, DeriveDek(aek, where.extent, where.block_index));
  return Seal(AesGcm(), dek.data(), kBlockMagic, kAlgAesGcmHkdf, aek_generation, BlockAad(where), plaintext, random);
}

Status SealBlockAppend(const SecretBytes& aek, uint32_t aek_generation, const BlockAddress& where,
                       std::span<const uint8_t> plaintext, env::Random& random, std::vector<uint8_t>& out) {
  ASSIGN_OR_RETURN(SecretBytes dek, DeriveDek(aek, where.extent, where.block_index));
  return SealAppend(AesGcm(), dek.data(), kBlockMagic, kAlgAesGcmHkdf, aek_generation, BlockAad(where), plaintext, random,
                    out);
}

Status SealBlockInPlace(const SecretBytes& aek, uint32_t aek_generation, const BlockAddress& where,
                        std::vector<uint8_t>& out, size_t at, env::Random& random) {
  if (out.size() < at + kBlockHeaderSize) return InvalidArgument("no room for the block header");
  auto dek = DeriveDek(aek, where.extent, where.block_index);
  Status s = dek.ok() ? SealInPlace(AesGcm(), dek->data(), kBlockMagic, kAlgAesGcmHkdf, aek_generation, BlockAad(where),
                                    out, at, random)
                      : dek.status();
  if (!s.ok()) {
    WipeBytes(std::span<uint8_t>(out).subspan(at));
    out.resize(at);
  }
  return s;
}

Result<SecretBytes> OpenBlock(const SecretBytes& aek, const BlockAddress& where, std::span<const uint8_t> sealed) {
  RETURN_IF_ERROR(CheckHeader(sealed, kBlockMagic, kAlgAesGcmHkdf));
  ASSIGN_OR_RETURN(SecretBytes dek, DeriveDek(aek, where.extent, where.block_index));
  SecretBytes out(sealed.size() - kSealOverhead);
  RETURN_IF_ERROR(Open(AesGcm(), dek.data(), BlockAad(where), sealed, out));
  return out;
}

Result<uint32_t> BlockKeyGeneration(std::span<const uint8_t> sealed) {
  RETURN_IF_ERROR(CheckHeader(sealed, kBlockMagic, kAlgAesGcmHkdf));
  return GetU32(sealed.data() + 8);
}

Result<std::vector<uint8_t>> SealObject(const SecretBytes& infra_key, uint32_t generation, std::string_view object_name,
                                        std::span<const uint8_t> plaintext, env::Random& random) {
  if (infra_key.size() != 32) return InvalidArgument("the infrastructure key must be 32 bytes");
  std::span<const uint8_t> aad(reinterpret_cast<const uint8_t*>(object_name.data()), object_name.size());
  return Seal(ChaCha(), infra_key.data(), kObjectMagic, kAlgChaChaPoly, generation, aad, plaintext, random);
}

Status SealObjectInPlace(const SecretBytes& infra_key, uint32_t generation, std::string_view object_name,
                         std::vector<uint8_t>& buf, env::Random& random) {
  if (infra_key.size() != 32) return InvalidArgument("the infrastructure key must be 32 bytes");
  if (buf.size() < kBlockHeaderSize) return InvalidArgument("no room for the object header");
  std::span<const uint8_t> aad(reinterpret_cast<const uint8_t*>(object_name.data()), object_name.size());
  Status s = SealInPlace(ChaCha(), infra_key.data(), kObjectMagic, kAlgChaChaPoly, generation, aad, buf, 0, random);
  if (!s.ok()) buf.clear();  // partly encrypted: nothing in it is usable
  return s;
}

Result<std::vector<uint8_t>> OpenObject(const SecretBytes& infra_key, std::string_view object_name,
                                        std::span<const uint8_t> sealed) {
  if (infra_key.size() != 32) return InvalidArgument("the infrastructure key must be 32 bytes");
  RETURN_IF_ERROR(CheckHeader(sealed, kObjectMagic, kAlgChaChaPoly));
  std::span<const uint8_t> aad(reinterpret_cast<const uint8_t*>(object_name.data()), object_name.size());
  std::vector<uint8_t> out(sealed.size() - kSealOverhead);
  RETURN_IF_ERROR(Open(ChaCha(), infra_key.data(), aad, sealed, out));
  return out;
}

}  // namespace cmk::storage
