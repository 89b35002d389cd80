#pragma once
// RSA keys over OpenSSL EVP_PKEY. Immutable after creation and safe to share between threads
// (each operation makes its own context).
#include <openssl/evp.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/secret_bytes.h"
#include "base/status.h"

namespace cmk::crypto {

enum class RsaPadding { kOaepSha1, kOaepSha256, kPkcs1v15 };
enum class RsaDigestSignature { kRs256, kPs256 };

// Private components of an RSA key (JWK `d`, `p`, `q`, `dp`, `dq`, `qi`), big-endian.
struct RsaPrivateComponents {
  SecretBytes d, p, q, dp, dq, qi;
};

class RsaKey {
 public:
  static Result<RsaKey> Generate(int bits);
  static Result<RsaKey> FromPrivatePem(const SecretBytes& pem);
  static Result<RsaKey> FromPublicPem(std::string_view pem);
  // Big-endian modulus and exponent (JWK `n`, `e`).
  static Result<RsaKey> FromPublicComponents(std::span<const uint8_t> n, std::span<const uint8_t> e);

  // A full private key from JWK components; fails unless they form a consistent key.
  static Result<RsaKey> FromPrivateComponents(std::span<const uint8_t> n, std::span<const uint8_t> e,
                                              const RsaPrivateComponents& priv);

  bool has_private() const { return has_private_; }
  int bits() const;
  Result<SecretBytes> PrivatePem() const;
  std::string PublicPem() const;
  std::vector<uint8_t> Modulus() const;
  std::vector<uint8_t> Exponent() const;

  // RSASSA-PKCS1-v1_5 with SHA-256 (JWS RS256).
  Result<std::vector<uint8_t>> SignRs256(std::span<const uint8_t> data) const;
  // Fails with Unauthenticated when the signature does not verify.
  Status VerifyRs256(std::span<const uint8_t> data, std::span<const uint8_t> signature) const;

  // RSAES-OAEP (SHA-1 or SHA-256 for both hash and MGF1, as Key Vault's RSA-OAEP and
  // RSA-OAEP-256) or PKCS#1 v1.5 (RSA1_5).
  Result<std::vector<uint8_t>> Encrypt(RsaPadding padding, std::span<const uint8_t> plaintext) const;
  // Fails with InvalidArgument when the ciphertext does not decrypt under this key.
  Result<SecretBytes> Decrypt(RsaPadding padding, std::span<const uint8_t> ciphertext) const;
  // Signs / verifies a SHA-256 digest (Key Vault's sign takes the digest, not the message).
  Result<std::vector<uint8_t>> SignDigest(RsaDigestSignature alg, std::span<const uint8_t> digest) const;
  Result<bool> VerifyDigest(RsaDigestSignature alg, std::span<const uint8_t> digest,
                            std::span<const uint8_t> signature) const;

  EVP_PKEY* pkey() const { return key_.get(); }

 private:
  RsaKey(std::shared_ptr<EVP_PKEY> key, bool has_private)
      : key_(std::move(key)), has_private_(has_private) {}
  std::shared_ptr<EVP_PKEY> key_;
  bool has_private_ = false;
};

}  // namespace cmk::crypto
