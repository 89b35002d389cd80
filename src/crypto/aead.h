#pragma once
// Authenticated encryption with a random 96-bit nonce: AES-256-GCM or ChaCha20-Poly1305, 32-byte
// keys, 16-byte tags. Sealed layout: nonce (12) || ciphertext || tag (16). Formats with a clear
// header in front (storage/sealed_block.h) pass the header as AAD and keep it before the nonce.
//
// Plaintext and AAD may come in parts (ByteParts), taken as their concatenation, so that callers
// build no buffer to join them. Every call runs on a per-thread cipher context per algorithm,
// re-keyed for the call and scrubbed after it: allocating a context per call costs more than
// sealing a small record.
//
// Failures: InvalidArgument for a key that is not 32 bytes or a buffer that does not fit;
// DataLoss when sealed input is truncated or does not authenticate (wrong key, wrong AAD,
// corrupted bytes); Internal when OpenSSL fails.
// Thread safety: all functions are reentrant.
#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

#include "base/secret_bytes.h"
#include "base/status.h"
#include "env/env.h"

namespace cmk::crypto {

enum class AeadAlgorithm : uint8_t { kAes256Gcm, kChaCha20Poly1305 };

inline constexpr size_t kAeadKeySize = 32;
inline constexpr size_t kAeadNonceSize = 12;
inline constexpr size_t kAeadTagSize = 16;
inline constexpr size_t kAeadOverhead = kAeadNonceSize + kAeadTagSize;
inline constexpr size_t kGcmNonceSize = kAeadNonceSize;
inline constexpr size_t kGcmTagSize = kAeadTagSize;

using ByteParts = std::span<const std::span<const uint8_t>>;

// Appends nonce || ciphertext || tag of the concatenated `plaintext` to `out` (callers reuse its
// capacity: no fresh buffer per record). On failure `out` is cut back to what it held.
Status SealAppend(AeadAlgorithm alg, const SecretBytes& key, ByteParts plaintext, ByteParts aad,
                  env::Random& random, std::vector<uint8_t>& out);
// Seals `data` in place (the ciphertext overwrites it) and returns the nonce and tag through
// `nonce` and `tag`: nonce || data || tag is then the sealed layout. For buffers too large to
// copy. On failure `data` may be partly encrypted: nothing in it is usable.
Status SealInPlace(AeadAlgorithm alg, const SecretBytes& key, std::span<uint8_t> data,
                   ByteParts aad, env::Random& random, std::span<uint8_t, kAeadNonceSize> nonce,
                   std::span<uint8_t, kAeadTagSize> tag);
// Opens `sealed` into `out`. REQUIRES: out.size() == sealed.size() - kAeadOverhead; `out` may
// be the ciphertext's own bytes (sealed.data() + kAeadNonceSize: opening in place), it may not
// overlap `sealed` otherwise. On failure `out` is zeroed: no unauthenticated plaintext is left.
Status OpenInto(AeadAlgorithm alg, const SecretBytes& key, std::span<const uint8_t> sealed,
                ByteParts aad, std::span<uint8_t> out);
Result<SecretBytes> Open(AeadAlgorithm alg, const SecretBytes& key, std::span<const uint8_t> sealed,
                         ByteParts aad);

// Explicit-nonce forms, for formats that derive each piece's nonce from a random per-file base
// and the piece's index, so that any piece opens alone (docs/FORMAT.md, hot-cache file v2).
// REQUIRES: a key never seals two messages under one nonce; the caller owns that (a random base
// per file, a distinct index per piece). Layout: ciphertext || tag (the nonce is not stored).
// SealWithNonce writes the ciphertext to `out` (out.size() == plaintext.size(); `out` may be the
// plaintext's own bytes) and the tag to `tag`. OpenWithNonce opens `ciphertext_and_tag` into
// `out` (out.size() == ciphertext_and_tag.size() - kAeadTagSize; `out` may be the ciphertext's
// own bytes); on failure `out` is zeroed, and a piece that does not authenticate is DataLoss.
Status SealWithNonce(AeadAlgorithm alg, const SecretBytes& key,
                     std::span<const uint8_t, kAeadNonceSize> nonce,
                     std::span<const uint8_t> plaintext, ByteParts aad, std::span<uint8_t> out,
                     std::span<uint8_t, kAeadTagSize> tag);
Status OpenWithNonce(AeadAlgorithm alg, const SecretBytes& key,
                     std::span<const uint8_t, kAeadNonceSize> nonce,
                     std::span<const uint8_t> ciphertext_and_tag, ByteParts aad,
                     std::span<uint8_t> out);

// AES-256-GCM with one AAD: the forms most callers use.
Result<std::vector<uint8_t>> AesGcmSeal(const SecretBytes& key, std::span<const uint8_t> plaintext,
                                        std::span<const uint8_t> aad, env::Random& random);
Status AesGcmSealAppend(const SecretBytes& key, ByteParts parts, std::span<const uint8_t> aad,
                        env::Random& random, std::vector<uint8_t>& out);
inline Status AesGcmSealAppend(const SecretBytes& key,
                               std::initializer_list<std::span<const uint8_t>> parts,
                               std::span<const uint8_t> aad, env::Random& random,
                               std::vector<uint8_t>& out) {
  return AesGcmSealAppend(key, ByteParts(parts.begin(), parts.size()), aad, random, out);
}
Status AesGcmSealInPlace(const SecretBytes& key, std::span<uint8_t> data,
                         std::span<const uint8_t> aad, env::Random& random,
                         std::span<uint8_t, kAeadNonceSize> nonce,
                         std::span<uint8_t, kAeadTagSize> tag);
Result<SecretBytes> AesGcmOpen(const SecretBytes& key, std::span<const uint8_t> sealed,
                               std::span<const uint8_t> aad);

}  // namespace cmk::crypto
