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

class RsaKey {
 public:
  static Result<RsaKey> Generate(int bits);
  static Result<RsaKey> FromPrivatePem(const SecretBytes& pem);
  static Result<RsaKey> FromPublicPem(std::string_view pem);
  // Big-endian modulus and exponent (JWK `n`, `e`).
  static Result<RsaKey> FromPublicComponents(std::span<const uint8_t> n, std::span<const uint8_t> e);

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

  EVP_PKEY* pkey() const { return key_.get(); }

 private:
  RsaKey(std::shared_ptr<EVP_PKEY> key, bool has_private)
      : key_(std::move(key)), has_private_(has_private) {}
  std::shared_ptr<EVP_PKEY> key_;
  bool has_private_ = false;
};

}  // namespace cmk::crypto
