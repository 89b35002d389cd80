#pragma once
// AES-256-GCM with a random 96-bit nonce. Sealed layout: nonce (12) || ciphertext || tag (16).
#include <cstdint>
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
// Fails with DataLoss when the tag does not verify (wrong key, tampering, wrong AAD).
Result<SecretBytes> AesGcmOpen(const SecretBytes& key, std::span<const uint8_t> sealed,
                               std::span<const uint8_t> aad);

}  // namespace cmk::crypto
