#pragma once
// The managed HSM security domain as Azure's clients exchange it (az's keyvault security-domain
// code, Debian's azure-cli: security_domain/*.py and custom.py):
//
// - Download (activation): the caller sends >= 3 RSA certificates (JWKs with x5c) and a quorum
//   M. The HSM's domain material D (the key every key of the HSM is sealed under) is encrypted
//   under a fresh 32-byte master key K: EncData.data[i] = compact JWE {"alg":"dir",
//   "enc":"A256CBC-HS512","kid":tag} of D under SP800-108(K, tag). K is split M-of-N with
//   Shamir's scheme over GF(257) (one 16-bit share word per byte of K) and share i is a compact
//   JWE {"alg":"RSA-OAEP-256","enc":"A256CBC-HS512"} to certificate i, keyed by its x5t#S256:
//     {"EncData": {"data": [{"compact_jwe", "tag"}], "kdf": "sp108_kdf"},
//      "SharedKeys": {"enc_shares": [{"enc_key", "x5t_256"}], "required": M,
//                     "key_algorithm": "shamir_share"}, "version": "1.0"}
// - Upload (restore): the holders of M private keys recover K, decrypt EncData, re-encrypt it
//   under a new key K' and wrap K' to the target HSM's transfer key (a certificate it
//   publishes):  {"EncData": {...}, "WrappedKey": {"enc_key", "x5t_256"}}. OpenRestoreBlob
//   reverses that with the transfer key's private half and yields D.
//
// Everything here is pure computation over OpenSSL; no state, no I/O.
// Errors: kInvalidArgument (error code BadParameter) for malformed or mismatching input, never
// naming key material.
#include <boost/json.hpp>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/secret_bytes.h"
#include "base/status.h"
#include "crypto/rsa.h"
#include "env/env.h"

namespace cmk::keyvault::sd {

// The tag of the one EncData entry we write: the HSM's domain material.
inline constexpr char kDomainTag[] = "cmklogs-mhsm-domain-key-v1";

// ---- building blocks (exposed for tests) ----

// Shamir M-of-N over GF(257), the field az's mod_math.py uses: for each byte of `secret` a random
// polynomial of degree required-1 whose constant term is that byte is evaluated at x = 1..shares.
// A share is one 16-bit word per secret byte, (x << 9) | value, as az's Share.from_uint16 reads.
// REQUIRES: 2 <= required <= shares <= 126.
std::vector<std::vector<uint16_t>> ShamirSplit(std::span<const uint8_t> secret, int shares,
                                               int required, env::Random& random);
// Lagrange interpolation at 0 over the first `required` shares. Fails on inconsistent lengths,
// repeated or zero x, or a result that is not a byte (wrong or corrupt shares).
Result<SecretBytes> ShamirCombine(const std::vector<std::vector<uint16_t>>& shares, int required);
// Share words as bytes, little-endian (what az's Utils.convert_to_uint16 reads on x86/ARM).
std::vector<uint8_t> ShareToBytes(const std::vector<uint16_t>& share);

// NIST SP 800-108 KDF in counter mode with HMAC-SHA512: K(i) = HMAC(key, [i]32 || label || 0x00 ||
// context || [bits]32), as az's sp800_108.py. REQUIRES: bits a positive multiple of 8, <= 512.
SecretBytes Sp800108HmacSha512(std::span<const uint8_t> key, std::string_view label,
                               std::string_view context, int bits);

// Compact JWE with content encryption A256CBC-HS512 (RFC 7518 5.2.5), key management "dir" (the
// 64-byte key given) or RSA-OAEP-256 (a random 64-byte key encrypted to `recipient`).
Result<std::string> JweEncryptDir(const SecretBytes& key64, std::string_view kid,
                                  std::span<const uint8_t> plaintext, env::Random& random);
Result<std::string> JweEncryptRsa(const crypto::RsaKey& recipient, std::span<const uint8_t> plaintext,
                                  env::Random& random);
Result<SecretBytes> JweDecryptDir(const SecretBytes& key64, std::string_view compact);
Result<SecretBytes> JweDecryptRsa(const crypto::RsaKey& private_key, std::string_view compact);

// ---- the exchange ----

struct WrappingCertificate {
  std::vector<uint8_t> der;
  crypto::RsaKey public_key;
  std::string x5t_s256;  // base64url(SHA-256(der)), unpadded
};

// Parses a download request body {"certificates": [JWK with x5c, or {"value": JWK}], "required"}:
// 3..10 RSA certificates of >= 2048 bits, 2 <= required <= count, no certificate twice.
Result<std::vector<WrappingCertificate>> ParseCertificateSet(const boost::json::object& body,
                                                             int* required);

// The security domain file (a JSON text) for `material` under `certs` with quorum `required`.
Result<std::string> BuildSecurityDomain(const SecretBytes& material,
                                        const std::vector<WrappingCertificate>& certs, int required,
                                        env::Random& random);

// Recovers the domain material from a security domain file with `required` of its wrapping
// private keys (what a customer does offline; used by tests and the CLI-free restore path).
Result<SecretBytes> RecoverWithPrivateKeys(std::string_view security_domain,
                                           const std::vector<const crypto::RsaKey*>& private_keys);

// A transfer (exchange) key: RSA 3072 and a self-signed certificate over it.
struct TransferKey {
  SecretBytes private_pem;   // PKCS#8
  std::vector<uint8_t> cert_der;
};
Result<TransferKey> NewTransferKey(std::string_view hsm_name);
// The JWK the HSM publishes for its transfer key (kty, n, e, x5c, x5t#S256, key_ops, alg).
Result<boost::json::object> TransferKeyJwk(const std::vector<uint8_t>& cert_der);

// Opens an upload (restore blob) with the HSM's transfer key: checks WrappedKey.x5t_256 names
// `transfer_cert_der`, unwraps K', and decrypts the EncData entry tagged kDomainTag.
Result<SecretBytes> OpenRestoreBlob(std::string_view blob, const crypto::RsaKey& transfer_private,
                                    const std::vector<uint8_t>& transfer_cert_der);

// Builds a restore blob from a security domain file, `required` wrapping private keys and the
// target's transfer certificate, as az's _security_domain_gen_blob does (for tests).
Result<std::string> MakeRestoreBlobForTest(std::string_view security_domain,
                                           const std::vector<const crypto::RsaKey*>& private_keys,
                                           const std::vector<uint8_t>& transfer_cert_der,
                                           env::Random& random);

// A self-signed RSA certificate and its key, for tests that play the customer.
struct TestCertificate {
  std::vector<uint8_t> der;
  crypto::RsaKey key;
};
Result<TestCertificate> NewRsaCertificateForTest(int bits, std::string_view cn);

}  // namespace cmk::keyvault::sd
