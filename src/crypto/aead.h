#pragma once
// AES-256-GCM with a random 96-bit nonce. Sealed layout: nonce (12) || ciphertext || tag (16).
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "base/secret_bytes.h"
#include "base/status.h"
#include "env/env.h"

namespace cmk::crypto {

inline constexpr size_t kGcmNonceSize = 12;
inline constexpr size_t kGcmTagSize = 16;

// REQUIRES: key.size() == 32.
Result<std::vector<uint8_t>> AesGcmSeal(const SecretBytes& key, std::span<const uint8_t> plaintext,
                                        std::span<const uint8_t> aad, env::Random& random);
// The write path's form: seals the concatenation of `parts` and appends nonce, ciphertext and
// tag to `out` (whose capacity callers reuse: no fresh buffer per record).
Status AesGcmSealAppend(const SecretBytes& key, std::span<const std::span<const uint8_t>> parts,
                        std::span<const uint8_t> aad, env::Random& random, std::vector<uint8_t>& out);
inline Status AesGcmSealAppend(const SecretBytes& key, std::initializer_list<std::span<const uint8_t>> parts,
                               std::span<const uint8_t> aad, env::Random& random, std::vector<uint8_t>& out) {
  return AesGcmSealAppend(key, std::span<const std::span<const uint8_t>>(parts.begin(), parts.size()), aad, random, out);
}
// Seals `data` in place (the ciphertext overwrites it) and returns the nonce and tag through
// `nonce` and `tag`: nonce || data || tag is then the sealed layout above. For buffers too large
// to copy (a hot-cache copy of an extent is written straight from the sealed bytes).
Status AesGcmSealInPlace(const SecretBytes& key, std::span<uint8_t> data, std::span<const uint8_t> aad,
                         env::Random& random, std::span<uint8_t, kGcmNonceSize> nonce, std::span<uint8_t, kGcmTagSize> tag);
// Fails with DataLoss when the tag does not verify (wrong key, tampering, wrong AAD).
Result<SecretBytes> AesGcmOpen(const SecretBytes& key, std::span<const uint8_t> sealed,
                               std::span<const uint8_t> aad);

}  // namespace cmk::crypto
