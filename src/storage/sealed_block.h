#pragma once
// Sealing of stored data (design.md §3, byte layouts in docs/FORMAT.md).
//
// Data layer: each block is sealed with AES-256-GCM under its own DEK,
//   DEK = HKDF-SHA256(AEK, salt = extent id || block index (u32 BE), info = "cmklogs/dek/v1"),
// with AAD binding header, extent, block and column, so blocks can't be swapped or moved.
// Infrastructure layer (double encryption): the whole stored object is sealed again with
// ChaCha20-Poly1305 under the account's infrastructure key, AAD binding the object's name.
// Headers name the key generation that sealed them: rotation never rewrites data.
// Thread safety: all functions are reentrant.

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/secret_bytes.h"
#include "base/status.h"
#include "env/env.h"

namespace cmk::storage {

using ExtentId = std::array<uint8_t, 16>;

inline constexpr size_t kBlockHeaderSize = 24;  // magic, version, alg, reserved, generation, nonce
inline constexpr size_t kSealOverhead = kBlockHeaderSize + 16;

struct BlockAddress {
  ExtentId extent;
  uint32_t block_index = 0;
  std::string_view column;
  // More authenticated data, appended to the AAD after the column (empty for column blocks): a
  // version-2 extent's footer binds the object's clear header (account, key kind) with it.
  std::span<const uint8_t> context = {};
};

// The per-block data key. REQUIRES: aek.size() == 32.
Result<SecretBytes> DeriveDek(const SecretBytes& aek, const ExtentId& extent, uint32_t block_index);

// Seals `plaintext` for `where` under `aek` (of generation `aek_generation`).
Result<std::vector<uint8_t>> SealBlock(const SecretBytes& aek, uint32_t aek_generation, const BlockAddress& where,
                                       std::span<const uint8_t> plaintext, env::Random& random);
// The same, appended to `out` (the extent writer seals each block straight into the object).
Status SealBlockAppend(const SecretBytes& aek, uint32_t aek_generation, const BlockAddress& where,
                       std::span<const uint8_t> plaintext, env::Random& random, std::vector<uint8_t>& out);
// The same in place: out[at, at + kBlockHeaderSize) is room for the header and out[at +
// kBlockHeaderSize, end) the plaintext, which becomes the ciphertext; the tag is appended. On
// failure the plaintext is wiped and `out` cut back to `at`.
Status SealBlockInPlace(const SecretBytes& aek, uint32_t aek_generation, const BlockAddress& where,
                        std::vector<uint8_t>& out, size_t at, env::Random& random);
// Opens a sealed block. DataLoss when the key, address or bytes don't match.
Result<SecretBytes> OpenBlock(const SecretBytes& aek, const BlockAddress& where, std::span<const uint8_t> sealed);
// The same into `out`, which must hold exactly OpenedSize(sealed) bytes (a caller's reused
// buffer: the caller wipes the plaintext). InvalidArgument when it doesn't; on failure `out`
// holds nothing of the plaintext.
Status OpenBlockInto(const SecretBytes& aek, const BlockAddress& where, std::span<const uint8_t> sealed,
                     std::span<uint8_t> out);
// The plaintext size of a sealed block or object (0 when it is too short to be one).
size_t OpenedSize(std::span<const uint8_t> sealed);
// The AEK generation a sealed block names (which AEK to ask for).
Result<uint32_t> BlockKeyGeneration(std::span<const uint8_t> sealed);

// Infrastructure layer over a whole object named `object_name`.
Result<std::vector<uint8_t>> SealObject(const SecretBytes& infra_key, uint32_t generation, std::string_view object_name,
                                        std::span<const uint8_t> plaintext, env::Random& random);
// The same in place: `buf` holds kBlockHeaderSize bytes of room, then the plaintext; it becomes
// the sealed object (header, ciphertext over the plaintext's bytes, tag appended). No copy of
// the object is made (extents are tens of MB).
Status SealObjectInPlace(const SecretBytes& infra_key, uint32_t generation, std::string_view object_name,
                         std::vector<uint8_t>& buf, env::Random& random);
Result<std::vector<uint8_t>> OpenObject(const SecretBytes& infra_key, std::string_view object_name,
                                        std::span<const uint8_t> sealed);

}  // namespace cmk::storage
