#include "crypto/rsa.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "crypto/openssl_free.h"

namespace cmk::crypto {
namespace {

struct PkeyCtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};
struct BnFree {
  void operator()(BIGNUM* b) const { BN_clear_free(b); }
};

std::shared_ptr<EVP_PKEY> Wrap(EVP_PKEY* k) { return std::shared_ptr<EVP_PKEY>(k, EVP_PKEY_free); }

std::vector<uint8_t> GetBn(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) return {};
  std::vector<uint8_t> out(static_cast<size_t>(BN_num_bytes(bn)));
  BN_bn2bin(bn, out.data());
  BN_free(bn);
  return out;
}

}  // namespace

Result<RsaKey> RsaKey::Generate(int bits) {
  if (bits != 2048 && bits != 3072 && bits != 4096) {
    return InvalidArgument("RSA key size must be 2048, 3072 or 4096 bits");
  }
  EVP_PKEY* k = EVP_RSA_gen(static_cast<unsigned int>(bits));
  if (k == nullptr) return Internal("RSA key generation failed");
  return RsaKey(Wrap(k), true);
}

Result<RsaKey> RsaKey::FromPrivatePem(const SecretBytes& pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* k = PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr);
  if (k == nullptr || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
    EVP_PKEY_free(k);
    return InvalidArgument("not an RSA private key in PEM form");
  }
  return RsaKey(Wrap(k), true);
}

Result<RsaKey> RsaKey::FromPublicPem(std::string_view pem) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  EVP_PKEY* k = PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr);
  if (k == nullptr || EVP_PKEY_get_base_id(k) != EVP_PKEY_RSA) {
    EVP_PKEY_free(k);
    return InvalidArgument("not an RSA public key in PEM form");
  }
  return RsaKey(Wrap(k), false);
}

Result<RsaKey> RsaKey::FromPublicComponents(std::span<const uint8_t> n, std::span<const uint8_t> e) {
  std::unique_ptr<BIGNUM, BnFree> bn_n(BN_bin2bn(n.data(), static_cast<int>(n.size()), nullptr));
  std::unique_ptr<BIGNUM, BnFree> bn_e(BN_bin2bn(e.data(), static_cast<int>(e.size()), nullptr));
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n.get());
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e.get());
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* k = nullptr;
  int ok = ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
           EVP_PKEY_fromdata(ctx.get(), &k, EVP_PKEY_PUBLIC_KEY, params) == 1;
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  if (!ok || k == nullptr) return InvalidArgument("invalid RSA public key components");
  return RsaKey(Wrap(k), false);
}

Result<RsaKey> RsaKey::FromPrivateComponents(std::span<const uint8_t> n, std::span<const uint8_t> e,
                                             const RsaPrivateComponents& priv) {
  auto bn = [](std::span<const uint8_t> b) {
    return std::unique_ptr<BIGNUM, BnFree>(BN_bin2bn(b.data(), static_cast<int>(b.size()), nullptr));
  };
  auto bn_n = bn(n), bn_e = bn(e), bn_d = bn(priv.d.span()), bn_p = bn(priv.p.span()),
       bn_q = bn(priv.q.span()), bn_dp = bn(priv.dp.span()), bn_dq = bn(priv.dq.span()),
       bn_qi = bn(priv.qi.span());
  OSSL_PARAM_BLD* bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n.get());
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e.get());
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_D, bn_d.get());
  if (!priv.p.empty() && !priv.q.empty()) {
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR1, bn_p.get());
    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_FACTOR2, bn_q.get());
    if (!priv.dp.empty() && !priv.dq.empty() && !priv.qi.empty()) {
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT1, bn_dp.get());
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_EXPONENT2, bn_dq.get());
      OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_COEFFICIENT1, bn_qi.get());
    }
  }
  OSSL_PARAM* params = OSSL_PARAM_BLD_to_param(bld);
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr));
  EVP_PKEY* k = nullptr;
  int ok = ctx && EVP_PKEY_fromdata_init(ctx.get()) == 1 &&
           EVP_PKEY_fromdata(ctx.get(), &k, EVP_PKEY_KEYPAIR, params) == 1;
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  if (!ok || k == nullptr) return InvalidArgument("invalid RSA private key components");
  RsaKey key(Wrap(k), true);
  // Reject inconsistent components: check the pair with OpenSSL.
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> check(EVP_PKEY_CTX_new(k, nullptr));
  if (!check || EVP_PKEY_pairwise_check(check.get()) != 1) {
    return InvalidArgument("the RSA private key components do not form a valid key");
  }
  int bits = key.bits();
  if (bits != 2048 && bits != 3072 && bits != 4096) {
    return InvalidArgument("RSA key size must be 2048, 3072 or 4096 bits");
  }
  return key;
}

int RsaKey::bits() const { return EVP_PKEY_get_bits(key_.get()); }

Result<SecretBytes> RsaKey::PrivatePem() const {
  if (!has_private_) return FailedPrecondition("no private key");
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_secmem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key_.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return Internal("cannot serialize private key");
  }
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return SecretBytes(std::span<const uint8_t>(reinterpret_cast<uint8_t*>(data), static_cast<size_t>(len)));
}

std::string RsaKey::PublicPem() const {
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PUBKEY(bio.get(), key_.get());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(len));
}

std::vector<uint8_t> RsaKey::Modulus() const { return GetBn(key_.get(), OSSL_PKEY_PARAM_RSA_N); }
std::vector<uint8_t> RsaKey::Exponent() const { return GetBn(key_.get(), OSSL_PKEY_PARAM_RSA_E); }

Result<std::vector<uint8_t>> RsaKey::SignRs256(std::span<const uint8_t> data) const {
  if (!has_private_) return FailedPrecondition("no private key");
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data.data(), data.size()) != 1) {
    return Internal("RS256 signing failed");
  }
  std::vector<uint8_t> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()) != 1) {
    return Internal("RS256 signing failed");
  }
  sig.resize(len);
  return sig;
}

Status RsaKey::VerifyRs256(std::span<const uint8_t> data, std::span<const uint8_t> signature) const {
  std::unique_ptr<EVP_MD_CTX, MdCtxFree> ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1) {
    return Internal("RS256 verification setup failed");
  }
  if (EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), data.data(), data.size()) != 1) {
    return Unauthenticated("signature verification failed");
  }
  return OkStatus();
}

namespace {

int SetPadding(EVP_PKEY_CTX* ctx, RsaPadding padding) {
  if (padding == RsaPadding::kPkcs1v15) return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING);
  const EVP_MD* md = padding == RsaPadding::kOaepSha256 ? EVP_sha256() : EVP_sha1();
  return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_OAEP_PADDING) == 1 &&
                 EVP_PKEY_CTX_set_rsa_oaep_md(ctx, md) == 1 &&
                 EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, md) == 1
             ? 1
             : 0;
}

int SetSignature(EVP_PKEY_CTX* ctx, RsaDigestSignature alg) {
  if (EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()) != 1) return 0;
  if (alg == RsaDigestSignature::kRs256) return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING);
  return EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
                 EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, EVP_sha256()) == 1 &&
                 EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, RSA_PSS_SALTLEN_DIGEST) == 1
             ? 1
             : 0;
}

}  // namespace

Result<std::vector<uint8_t>> RsaKey::Encrypt(RsaPadding padding, std::span<const uint8_t> plaintext) const {
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
  size_t len = 0;
  if (!ctx || EVP_PKEY_encrypt_init(ctx.get()) != 1 || SetPadding(ctx.get(), padding) != 1 ||
      EVP_PKEY_encrypt(ctx.get(), nullptr, &len, plaintext.data(), plaintext.size()) != 1) {
    return Internal("RSA encryption setup failed");
  }
  std::vector<uint8_t> out(len);
  if (EVP_PKEY_encrypt(ctx.get(), out.data(), &len, plaintext.data(), plaintext.size()) != 1) {
    return InvalidArgument("the value is too long for this key and algorithm");
  }
  out.resize(len);
  return out;
}

Result<SecretBytes> RsaKey::Decrypt(RsaPadding padding, std::span<const uint8_t> ciphertext) const {
  if (!has_private_) return FailedPrecondition("no private key");
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
  size_t len = 0;
  if (!ctx || EVP_PKEY_decrypt_init(ctx.get()) != 1 || SetPadding(ctx.get(), padding) != 1 ||
      EVP_PKEY_decrypt(ctx.get(), nullptr, &len, ciphertext.data(), ciphertext.size()) != 1) {
    return InvalidArgument("the value cannot be decrypted with this key and algorithm");
  }
  SecretBytes out(len);
  if (EVP_PKEY_decrypt(ctx.get(), out.data(), &len, ciphertext.data(), ciphertext.size()) != 1) {
    return InvalidArgument("the value cannot be decrypted with this key and algorithm");
  }
  SecretBytes exact(std::span<const uint8_t>(out.data(), len));
  return exact;
}

Result<std::vector<uint8_t>> RsaKey::SignDigest(RsaDigestSignature alg, std::span<const uint8_t> digest) const {
  if (!has_private_) return FailedPrecondition("no private key");
  if (digest.size() != 32) return InvalidArgument("RS256/PS256 sign a 32-byte SHA-256 digest");
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
  size_t len = 0;
  if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 || SetSignature(ctx.get(), alg) != 1 ||
      EVP_PKEY_sign(ctx.get(), nullptr, &len, digest.data(), digest.size()) != 1) {
    return Internal("RSA signing setup failed");
  }
  std::vector<uint8_t> sig(len);
  if (EVP_PKEY_sign(ctx.get(), sig.data(), &len, digest.data(), digest.size()) != 1) {
    return Internal("RSA signing failed");
  }
  sig.resize(len);
  return sig;
}

Result<bool> RsaKey::VerifyDigest(RsaDigestSignature alg, std::span<const uint8_t> digest,
                                  std::span<const uint8_t> signature) const {
  if (digest.size() != 32) return InvalidArgument("RS256/PS256 verify a 32-byte SHA-256 digest");
  std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree> ctx(EVP_PKEY_CTX_new(key_.get(), nullptr));
  if (!ctx || EVP_PKEY_verify_init(ctx.get()) != 1 || SetSignature(ctx.get(), alg) != 1) {
    return Internal("RSA verification setup failed");
  }
  return EVP_PKEY_verify(ctx.get(), signature.data(), signature.size(), digest.data(), digest.size()) == 1;
}

}  // namespace cmk::crypto
