#pragma once
// What the key vault service needs from a hardware security module: keys are generated inside
// it and private/secret operations run inside it. Implemented over PKCS#11 (pkcs11_hsm.h).
#include <span>
#include <string>
#include <vector>

#include "base/secret_bytes.h"
#include "base/status.h"
#include "crypto/rsa.h"

namespace cmk::keyvault {

class HsmBackend {
 public:
  virtual ~HsmBackend() = default;
  virtual Result<std::string> GenerateRsa(int bits) = 0;
  virtual Result<std::string> GenerateAes256() = 0;
  virtual Result<std::vector<uint8_t>> RsaModulus(const std::string& id) = 0;
  virtual Result<std::vector<uint8_t>> RsaPublicExponent(const std::string& id) = 0;
  virtual Result<SecretBytes> RsaDecrypt(const std::string& id, crypto::RsaPadding padding,
                                         std::span<const uint8_t> ciphertext) = 0;
  virtual Result<std::vector<uint8_t>> RsaSign(const std::string& id, crypto::RsaDigestSignature alg,
                                               std::span<const uint8_t> digest) = 0;
  virtual Result<std::vector<uint8_t>> AesKeyWrap(const std::string& id,
                                                  std::span<const uint8_t> plaintext) = 0;
  virtual Result<SecretBytes> AesKeyUnwrap(const std::string& id, std::span<const uint8_t> wrapped) = 0;
  virtual Status Destroy(const std::string& id) = 0;
};

}  // namespace cmk::keyvault
