#pragma once
// SHA-256 and the constructions over it: HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869). The
// HKDF here is the only one in the tree: the DEK, MMK, WAL and cache keys of design.md §3 are all
// derived through it. HMAC and HKDF run over a per-thread SHA-256 context, reset after each call
// (see hash.cc): a DEK is derived per sealed block.
// Thread safety: all functions are reentrant.
#include <array>
#include <cstdint>
#include <span>

#include "base/secret_bytes.h"
#include "base/status.h"

namespace cmk::crypto {

inline constexpr size_t kSha256Size = 32;

std::array<uint8_t, 32> Sha256(std::span<const uint8_t> data);

// HMAC-SHA256 of the concatenation of `data` under `key` (any length; keys over 64 bytes are
// hashed first, as RFC 2104 says) into `out`. Returns false only when OpenSSL fails
// (allocation); `out` is then zeroed.
[[nodiscard]] bool HmacSha256Into(std::span<const uint8_t> key,
                                  std::span<const std::span<const uint8_t>> data,
                                  std::span<uint8_t, kSha256Size> out);
// The one-message form. Aborts if OpenSSL fails: callers compare MACs, and a MAC that silently
// stayed zero would match another one that did.
std::array<uint8_t, 32> HmacSha256(std::span<const uint8_t> key, std::span<const uint8_t> data);

// HKDF-SHA256 with one 32-byte output block: PRK = HMAC(salt, ikm), OKM = HMAC(PRK, info || 1).
// An empty salt stands for 32 zero bytes, as in RFC 5869 (HMAC pads both alike). Fails with
// InvalidArgument when `ikm` is empty (a wiped key would derive one anyone can compute),
// Internal when OpenSSL fails (allocation). Allocates only the result.
inline constexpr size_t kHkdfSha256Size = 32;
Result<SecretBytes> HkdfSha256(const SecretBytes& ikm, std::span<const uint8_t> salt,
                               std::span<const uint8_t> info);

}  // namespace cmk::crypto
