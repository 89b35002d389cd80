#pragma once
// Pkcs11Hsm: Managed HSM keys kept inside a PKCS#11 token (SoftHSM2 in tests, any Cryptoki
// module in production). Keys are generated in the token as persistent objects whose private
// and secret parts are CKA_SENSITIVE and never CKA_EXTRACTABLE; callers name them by an opaque
// id (lower-case hex of a random 16-byte CKA_ID) and ask the token to decrypt, sign, wrap and
// unwrap. No private or secret key bytes ever reach this process.
//
// Module lifetime: the module is dlopen()ed and C_Initialize()d (CKF_OS_LOCKING_OK) once per
// process and path, reference counted across Pkcs11Hsm instances, and C_Finalize()d/dlclose()d
// when the last instance goes away (Cryptoki allows one C_Initialize per process).
//
// Thread safety: all methods may be called concurrently. Each operation leases a session from
// a small pool (at most Pkcs11Options::max_sessions, opened on demand, waiting when all are busy)
// because a PKCS#11 session runs one operation at a time, while separate sessions of a module
// initialised with CKF_OS_LOCKING_OK may be used from different threads at once. The login is
// per process and token, so every pooled session shares the C_Login done in Open(); instances
// opened later on an already logged-in token have their PIN checked against the first one's
// (Cryptoki would accept any PIN then), and the last instance on a token logs it out.
//
// Errors: kNotFound for an unknown id, kInvalidArgument for malformed input and for ciphertext,
// wrapped keys or padding the token rejects, kUnavailable when the module, token or login cannot
// be used, kUnimplemented when the token lacks a mechanism, kInternal otherwise. Messages name
// the Cryptoki function and CKR_ code, never key material.
//
// Where the token lacks a mechanism the code falls back, never exporting a key:
// - RSA-OAEP with SHA-256 (SoftHSM2 2.6 only does OAEP with SHA-1): the token performs the raw
//   RSA private operation (CKM_RSA_X_509) and OpenSSL removes the OAEP padding in constant time.
//   Only the padded block, which holds the plaintext the caller receives anyway, leaves the
//   token. Disabled by Pkcs11Options::allow_software_oaep_unpadding = false.
// - AES key wrap through C_Encrypt/C_Decrypt (SoftHSM2 only offers CKM_AES_KEY_WRAP to
//   C_WrapKey/C_UnwrapKey): the plaintext becomes a short-lived extractable session object
//   (CKA_TOKEN=false, never persisted) that is wrapped with C_WrapKey; unwrap goes through
//   C_UnwrapKey into such an object whose CKA_VALUE is read and which is then destroyed. The
//   output is RFC 3394 either way, so the paths interoperate.

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/secret_bytes.h"
#include "base/status.h"
#include "crypto/rsa.h"
#include "env/env.h"
#include "keyvault/hsm_backend.h"

namespace cmk::keyvault {

struct Pkcs11Options {
  // Cryptoki module to dlopen.
  std::string module_path = "/usr/lib/softhsm/libsofthsm2.so";
  // Label of the initialised token to use (at most 32 bytes; matched after trimming padding).
  std::string token_label;
  // User PIN for C_Login(CKU_USER).
  SecretBytes user_pin;
  // Upper bound on concurrently open sessions (>= 1).
  int max_sessions = 4;
  // See the header comment: raw RSA in the token + OAEP unpadding in software when the token
  // does not support OAEP with SHA-256 itself.
  bool allow_software_oaep_unpadding = true;
  // Source of CKA_ID values; not owned. nullptr: a process-wide OpenSSL CSPRNG.
  env::Random* random = nullptr;
};

// The same enums the software key path uses (kOaepSha1, kOaepSha256, kPkcs1v15; kRs256, kPs256).
using RsaPadding = crypto::RsaPadding;
using RsaSignature = crypto::RsaDigestSignature;

class Pkcs11Hsm final : public HsmBackend {
 public:
  // Loads the module, finds the token by label, opens a read-write session and logs in.
  // kInvalidArgument for bad options, kUnavailable when the module cannot be loaded or
  // initialised, the token is absent, or the login fails (wrong or locked PIN).
  static Result<std::unique_ptr<Pkcs11Hsm>> Open(Pkcs11Options options);
  // Logs out (the last instance on the token), closes its sessions, and finalises and unloads
  // the module when it is the last instance on it.
  // REQUIRES: no method of this object is running.
  ~Pkcs11Hsm() override;
  Pkcs11Hsm(const Pkcs11Hsm&) = delete;
  Pkcs11Hsm& operator=(const Pkcs11Hsm&) = delete;

  // Generates a persistent RSA key pair (public exponent 65537; bits 2048, 3072 or 4096) in the
  // token and returns its id.
  Result<std::string> GenerateRsa(int bits) override;
  // Generates a persistent, non-extractable AES-256 key for key wrap (A256KW); returns its id.
  Result<std::string> GenerateAes256() override;

  // Big-endian public modulus and exponent of an RSA key (JWK `n`, `e`).
  Result<std::vector<uint8_t>> RsaModulus(const std::string& id) override;
  Result<std::vector<uint8_t>> RsaPublicExponent(const std::string& id) override;

  // Decrypts `ciphertext` (exactly modulus-sized) with the private key.
  Result<SecretBytes> RsaDecrypt(const std::string& id, RsaPadding padding,
                                 std::span<const uint8_t> ciphertext) override;
  // Signs a SHA-256 digest (32 bytes): RS256 is RSASSA-PKCS1-v1_5, PS256 is RSASSA-PSS with
  // MGF1-SHA-256 and a 32-byte salt.
  Result<std::vector<uint8_t>> RsaSign(const std::string& id, RsaSignature alg,
                                       std::span<const uint8_t> digest) override;

  // RFC 3394 AES key wrap of `plaintext` (a multiple of 8 bytes, 16..4096) under the AES key.
  Result<std::vector<uint8_t>> AesKeyWrap(const std::string& id,
                                          std::span<const uint8_t> plaintext) override;
  // Inverse of AesKeyWrap; kInvalidArgument when the integrity check fails.
  Result<SecretBytes> AesKeyUnwrap(const std::string& id,
                                   std::span<const uint8_t> wrapped) override;

  // Destroys every object carrying the id; kNotFound when there is none.
  Status Destroy(const std::string& id) override;

  // True when the key's private (RSA) or secret (AES) object is sensitive and non-extractable
  // and always has been (CKA_ALWAYS_SENSITIVE, CKA_NEVER_EXTRACTABLE).
  Result<bool> IsNonExtractable(const std::string& id);

  // Asks the token for CKA_PRIVATE_EXPONENT of an RSA key, which it must refuse
  // (kPermissionDenied on CKR_ATTRIBUTE_SENSITIVE). Exists only to prove that in tests.
  Result<SecretBytes> ReadPrivateExponentForTest(const std::string& id);

 private:
  struct Module;  // dlopen handle + CK_FUNCTION_LIST, shared per module path.
  class Session;  // RAII lease of a pooled session.

  Pkcs11Hsm(Module* module, unsigned long slot, Pkcs11Options options);
  Result<unsigned long> AcquireSession();
  void ReleaseSession(unsigned long session, bool broken);
  std::string NewId();
  Result<std::vector<uint8_t>> ReadPublicAttribute(const std::string& id, unsigned long type);

  Module* const module_;
  const unsigned long slot_;
  const Pkcs11Options options_;
  env::Random* const random_;

  // Mechanism support learnt from the token's first answer (see the header comment).
  std::atomic<bool> native_oaep_sha256_{true};
  std::atomic<bool> aes_wrap_via_encrypt_{true};

  Mutex mu_;
  CondVar session_freed_;
  std::vector<unsigned long> idle_sessions_ GUARDED_BY(mu_);
  int open_sessions_ GUARDED_BY(mu_) = 0;
  // The session C_Login ran on; kept open so that the login lasts as long as this object.
  unsigned long login_session_ = 0;
};

}  // namespace cmk::keyvault
