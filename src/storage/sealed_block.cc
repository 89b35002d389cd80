#include "storage/sealed_block.h"

#include <cstring>
#include <initializer_list>

#include "base/encoding.h"
#include "crypto/aead.h"
#include "crypto/hash.h"

namespace cmk::storage {
namespace {

using crypto::AeadAlgorithm;

constexpr uint8_t kBlockMagic[4] = {'C', 'M', 'K', 'B'};
constexpr uint8_t kObjectMagic[4] = {'C', 'M', 'K', 'I'};
constexpr uint8_t kVersion = 1;
constexpr uint8_t kAlgAesGcmHkdf = 1;
constexpr uint8_t kAlgChaChaPoly = 2;
// The clear part of the header (magic, version, alg, reserved, generation); the nonce follows,
// then what crypto::SealAppend lays out: nonce || ciphertext || tag. The clear part is the
// first piece of the AAD, so a changed generation or algorithm fails to open.
constexpr size_t kClearHeaderSize = 12;
static_assert(kClearHeaderSize + crypto::kAeadNonceSize == kBlockHeaderSize);
static_assert(kBlockHeaderSize + crypto::kAeadTagSize == kSealOverhead);

void PutU32(uint8_t* p, uint32_t v) {
  p[0] = static_cast<uint8_t>(v >> 24);
  p[1] = static_cast<uint8_t>(v >> 16);
  p[2] = static_cast<uint8_t>(v >> 8);
  p[3] = static_cast<uint8_t>(v);
}
uint32_t GetU32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

// What a sealed header says: its clear part (magic, version, algorithm, generation) and the
// cipher it selects.
struct Kind {
  const uint8_t* magic;
  uint8_t alg;
  AeadAlgorithm cipher;
};
constexpr Kind kBlockKind{kBlockMagic, kAlgAesGcmHkdf, AeadAlgorithm::kAes256Gcm};
constexpr Kind kObjectKind{kObjectMagic, kAlgChaChaPoly, AeadAlgorithm::kChaCha20Poly1305};

void WriteClearHeader(uint8_t* h, const Kind& kind, uint32_t generation) {
  std::memcpy(h, kind.magic, 4);
  h[4] = kVersion;
  h[5] = kind.alg;
  h[6] = h[7] = 0;
  PutU32(h + 8, generation);
}

// The AAD of a sealed block or object: the clear header, then the address (a block's extent id,
// index (u32 BE), column and context; an object's name), joined in a buffer on the stack when it
// fits. One piece: each AAD update costs OpenSSL more than copying a few dozen bytes, and a heap
// buffer per block costs an allocation.
class Aad {
 public:
  explicit Aad(const BlockAddress& where) {
    uint8_t index[4];
    PutU32(index, where.block_index);
    Join({where.extent, index, AsBytes(where.column), where.context});
  }
  explicit Aad(std::string_view object_name) { Join({AsBytes(object_name)}); }
  Aad(const Aad&) = delete;
  Aad& operator=(const Aad&) = delete;

  // The whole AAD, with the clear header at `header` first.
  crypto::ByteParts After(const uint8_t* header) {
    std::memcpy(data_, header, kClearHeaderSize);
    return whole_;
  }

 private:
  void Join(std::initializer_list<std::span<const uint8_t>> address) {
    size_t n = kClearHeaderSize;
    for (auto a : address) n += a.size();
    if (n > sizeof(inline_)) heap_.resize(n);
    data_ = n > sizeof(inline_) ? heap_.data() : inline_;
    uint8_t* p = data_ + kClearHeaderSize;
    for (auto a : address) {
      if (!a.empty()) std::memcpy(p, a.data(), a.size());
      p += a.size();
    }
    whole_[0] = std::span<const uint8_t>(data_, n);
  }

  uint8_t inline_[192];
  std::vector<uint8_t> heap_;
  uint8_t* data_ = inline_;
  std::span<const uint8_t> whole_[1];
};

// Appends the sealed form of `plaintext` to `out` (callers reuse its capacity).
Status SealAppend(const Kind& kind, const SecretBytes& key, uint32_t generation, Aad& aad,
                  std::span<const uint8_t> plaintext, env::Random& random,
                  std::vector<uint8_t>& out) {
  // A copy of the clear header for the AAD: appending to `out` may move its bytes.
  uint8_t h[kClearHeaderSize];
  WriteClearHeader(h, kind, generation);
  size_t at = out.size();
  out.insert(out.end(), h, h + kClearHeaderSize);
  const std::span<const uint8_t> parts[] = {plaintext};
  Status s = crypto::SealAppend(kind.cipher, key, parts, aad.After(h), random, out);
  if (!s.ok()) out.resize(at);
  return s;
}

// Seals buf[at + kBlockHeaderSize, end) in place: header at `at`, tag appended.
Status SealInPlace(const Kind& kind, const SecretBytes& key, uint32_t generation, Aad& aad,
                   std::vector<uint8_t>& buf, size_t at, env::Random& random) {
  size_t n = buf.size() - at - kBlockHeaderSize;
  buf.resize(buf.size() + crypto::kAeadTagSize);
  uint8_t* h = buf.data() + at;
  WriteClearHeader(h, kind, generation);
  return crypto::SealInPlace(
      kind.cipher, key, std::span<uint8_t>(h + kBlockHeaderSize, n), aad.After(h), random,
      std::span<uint8_t, crypto::kAeadNonceSize>(h + kClearHeaderSize, crypto::kAeadNonceSize),
      std::span<uint8_t, crypto::kAeadTagSize>(h + kBlockHeaderSize + n, crypto::kAeadTagSize));
}

Result<std::vector<uint8_t>> Seal(const Kind& kind, const SecretBytes& key, uint32_t generation,
                                  Aad& aad, std::span<const uint8_t> plaintext,
                                  env::Random& random) {
  std::vector<uint8_t> out;
  out.reserve(kSealOverhead + plaintext.size());
  RETURN_IF_ERROR(SealAppend(kind, key, generation, aad, plaintext, random, out));
  return out;
}

Status CheckHeader(std::span<const uint8_t> sealed, const Kind& kind) {
  if (sealed.size() < kSealOverhead) return DataLoss("sealed data is truncated");
  if (std::memcmp(sealed.data(), kind.magic, 4) != 0)
    return DataLoss("not a sealed object of the expected kind");
  if (sealed[4] != kVersion)
    return DataLoss("unknown sealing format version " + std::to_string(sealed[4]));
  if (sealed[5] != kind.alg)
    return DataLoss("unknown sealing algorithm " + std::to_string(sealed[5]));
  return OkStatus();
}

// Decrypts into `out` (sized by the caller to the plaintext length): one allocation, no copy.
// REQUIRES: CheckHeader(sealed, kind) passed.
Status Open(const Kind& kind, const SecretBytes& key, Aad& aad, std::span<const uint8_t> sealed,
            std::span<uint8_t> out) {
  Status s = crypto::OpenInto(kind.cipher, key, sealed.subspan(kClearHeaderSize),
                              aad.After(sealed.data()), out);
  if (s.code() == StatusCode::kDataLoss) {
    return DataLoss("the sealed data does not authenticate: wrong key, wrong place, or corrupted");
  }
  return s;
}

}  // namespace

Result<SecretBytes> DeriveDek(const SecretBytes& aek, const ExtentId& extent,
                              uint32_t block_index) {
  if (aek.size() != 32) return InvalidArgument("the AEK must be 32 bytes");
  uint8_t salt[20];
  std::memcpy(salt, extent.data(), 16);
  PutU32(salt + 16, block_index);
  return crypto::HkdfSha256(aek, salt, AsBytes("cmklogs/dek/v1"));
}

Result<std::vector<uint8_t>> SealBlock(const SecretBytes& aek, uint32_t aek_generation, const BlockAddress& where,
                                       std::span<const uint8_t> plaintext, env::Random& random) {
  ASSIGN_OR_RETURN(SecretBytes dek, DeriveDek(aek, where.extent, where.block_index));
  Aad aad(where);
  return Seal(kBlockKind, dek, aek_generation, aad, plaintext, random);
}

Status SealBlockAppend(const SecretBytes& aek, uint32_t aek_generation, const BlockAddress& where,
                       std::span<const uint8_t> plaintext, env::Random& random, std::vector<uint8_t>& out) {
  ASSIGN_OR_RETURN(SecretBytes dek, DeriveDek(aek, where.extent, where.block_index));
  Aad aad(where);
  return SealAppend(kBlockKind, dek, aek_generation, aad, plaintext, random, out);
}

Status SealBlockInPlace(const SecretBytes& aek, uint32_t aek_generation, const BlockAddress& where,
                        std::vector<uint8_t>& out, size_t at, env::Random& random) {
  if (out.size() < at + kBlockHeaderSize) return InvalidArgument("no room for the block header");
  auto dek = DeriveDek(aek, where.extent, where.block_index);
  Aad aad(where);
  Status s =
      dek.ok() ? SealInPlace(kBlockKind, *dek, aek_generation, aad, out, at, random) : dek.status();
  if (!s.ok()) {
    WipeBytes(std::span<uint8_t>(out).subspan(at));
    out.resize(at);
  }
  return s;
}

Result<SecretBytes> OpenBlock(const SecretBytes& aek, const BlockAddress& where, std::span<const uint8_t> sealed) {
  RETURN_IF_ERROR(CheckHeader(sealed, kBlockKind));
  ASSIGN_OR_RETURN(SecretBytes dek, DeriveDek(aek, where.extent, where.block_index));
  SecretBytes out(sealed.size() - kSealOverhead);
  Aad aad(where);
  RETURN_IF_ERROR(Open(kBlockKind, dek, aad, sealed, out.mutable_span()));
  return out;
}

Status OpenBlockInto(const SecretBytes& aek, const BlockAddress& where, std::span<const uint8_t> sealed,
                     std::span<uint8_t> out) {
  RETURN_IF_ERROR(CheckHeader(sealed, kBlockKind));
  if (out.size() != OpenedSize(sealed)) return InvalidArgument("the output does not fit the sealed block");
  ASSIGN_OR_RETURN(SecretBytes dek, DeriveDek(aek, where.extent, where.block_index));
  Aad aad(where);
  Status s = Open(kBlockKind, dek, aad, sealed, out);
  if (!s.ok()) WipeBytes(out);
  return s;
}

size_t OpenedSize(std::span<const uint8_t> sealed) {
  return sealed.size() < kSealOverhead ? 0 : sealed.size() - kSealOverhead;
}

Result<uint32_t> BlockKeyGeneration(std::span<const uint8_t> sealed) {
  RETURN_IF_ERROR(CheckHeader(sealed, kBlockKind));
  return GetU32(sealed.data() + 8);
}

Result<std::vector<uint8_t>> SealObject(const SecretBytes& infra_key, uint32_t generation, std::string_view object_name,
                                        std::span<const uint8_t> plaintext, env::Random& random) {
  if (infra_key.size() != 32) return InvalidArgument("the infrastructure key must be 32 bytes");
  Aad aad(object_name);
  return Seal(kObjectKind, infra_key, generation, aad, plaintext, random);
}

Status SealObjectInPlace(const SecretBytes& infra_key, uint32_t generation, std::string_view object_name,
                         std::vector<uint8_t>& buf, env::Random& random) {
  if (infra_key.size() != 32) return InvalidArgument("the infrastructure key must be 32 bytes");
  if (buf.size() < kBlockHeaderSize) return InvalidArgument("no room for the object header");
  Aad aad(object_name);
  Status s = SealInPlace(kObjectKind, infra_key, generation, aad, buf, 0, random);
  if (!s.ok()) buf.clear();  // partly encrypted: nothing in it is usable
  return s;
}

Result<std::vector<uint8_t>> OpenObject(const SecretBytes& infra_key, std::string_view object_name,
                                        std::span<const uint8_t> sealed) {
  if (infra_key.size() != 32) return InvalidArgument("the infrastructure key must be 32 bytes");
  RETURN_IF_ERROR(CheckHeader(sealed, kObjectKind));
  Aad aad(object_name);
  std::vector<uint8_t> out(sealed.size() - kSealOverhead);
  RETURN_IF_ERROR(Open(kObjectKind, infra_key, aad, sealed, out));
  return out;
}

}  // namespace cmk::storage
