#include <gtest/gtest.h>

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "base/encoding.h"
#include "base/testing.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/rsa.h"
#include "crypto/x509.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>

namespace cmk::crypto {
namespace {

using testing::IsOk;
using testing::StatusIs;

TEST(HashTest, Sha256KnownAnswer) {
  EXPECT_EQ(HexEncode(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 4231 test case 2.
  EXPECT_EQ(HexEncode(HmacSha256(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(AeadTest, SealOpenRoundTripAndTamperDetection) {
  env::SecureRandom rnd;
  SecretBytes key = rnd.NewSecret(32);
  auto sealed = AesGcmSeal(key, AsBytes("secret data"), AsBytes("aad"), rnd);
  ASSERT_THAT(sealed, IsOk());
  auto opened = AesGcmOpen(key, *sealed, AsBytes("aad"));
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(opened->AsStringView(), "secret data");
  EXPECT_THAT(AesGcmOpen(key, *sealed, AsBytes("other")), StatusIs(StatusCode::kDataLoss));
  auto bad = *sealed;
  bad[15] ^= 1;
  EXPECT_THAT(AesGcmOpen(key, bad, AsBytes("aad")), StatusIs(StatusCode::kDataLoss));
  SecretBytes other = rnd.NewSecret(32);
  EXPECT_THAT(AesGcmOpen(other, *sealed, AsBytes("aad")), StatusIs(StatusCode::kDataLoss));
}

TEST(AeadTest, SealAppendSealsThePartsAsOneMessageAfterWhatTheBufferHolds) {
  env::SecureRandom rnd;
  SecretBytes key = rnd.NewSecret(32);
  std::vector<uint8_t> out = {'h', 'd', 'r'};
  ASSERT_THAT(AesGcmSealAppend(key, {AsBytes("first "), AsBytes(""), AsBytes("second")}, AsBytes("aad"), rnd, out),
              IsOk());
  ASSERT_EQ(out.size(), 3 + kGcmNonceSize + 12 + kGcmTagSize);
  EXPECT_EQ(std::string(out.begin(), out.begin() + 3), "hdr");
  auto opened = AesGcmOpen(key, std::span<const uint8_t>(out).subspan(3), AsBytes("aad"));
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(opened->AsStringView(), "first second");
  EXPECT_THAT(AesGcmOpen(key, std::span<const uint8_t>(out).subspan(3), AsBytes("aa")), StatusIs(StatusCode::kDataLoss));
  SecretBytes short_key = rnd.NewSecret(16);
  EXPECT_THAT(AesGcmSealAppend(short_key, {AsBytes("x")}, {}, rnd, out), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(out.size(), 3 + kGcmNonceSize + 12 + kGcmTagSize);  // untouched on failure
}

TEST(AeadTest, InPlaceSealingOpensAsNonceDataTag) {
  env::SecureRandom rnd;
  SecretBytes key = rnd.NewSecret(32);
  std::string text = "in place, no copy of the object";
  std::vector<uint8_t> data(text.begin(), text.end());
  uint8_t nonce[kGcmNonceSize], tag[kGcmTagSize];
  ASSERT_THAT(AesGcmSealInPlace(key, data, AsBytes("id"), rnd, nonce, tag), IsOk());
  EXPECT_NE(std::string(data.begin(), data.end()), text);
  std::vector<uint8_t> sealed(nonce, nonce + kGcmNonceSize);
  sealed.insert(sealed.end(), data.begin(), data.end());
  sealed.insert(sealed.end(), tag, tag + kGcmTagSize);
  auto opened = AesGcmOpen(key, sealed, AsBytes("id"));
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(opened->AsStringView(), text);
  EXPECT_THAT(AesGcmOpen(key, sealed, AsBytes("other")), StatusIs(StatusCode::kDataLoss));
}

TEST(RsaTest, SignVerifyAndPemRoundTrip) {
  auto key = RsaKey::Generate(2048);
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(key->bits(), 2048);
  auto sig = key->SignRs256(AsBytes("payload"));
  ASSERT_THAT(sig, IsOk());
  EXPECT_THAT(key->VerifyRs256(AsBytes("payload"), *sig), IsOk());
  EXPECT_THAT(key->VerifyRs256(AsBytes("payloaX"), *sig), StatusIs(StatusCode::kUnauthenticated));
  auto pem = key->PrivatePem();
  ASSERT_THAT(pem, IsOk());
  auto again = RsaKey::FromPrivatePem(*pem);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->Modulus(), key->Modulus());
  auto pub = RsaKey::FromPublicComponents(key->Modulus(), key->Exponent());
  ASSERT_THAT(pub, IsOk());
  EXPECT_FALSE(pub->has_private());
  EXPECT_THAT(pub->VerifyRs256(AsBytes("payload"), *sig), IsOk());
  EXPECT_THAT(pub->SignRs256(AsBytes("x")), StatusIs(StatusCode::kFailedPrecondition));
  EXPECT_THAT(RsaKey::Generate(1024), StatusIs(StatusCode::kInvalidArgument));
}

TEST(RsaTest, OaepAndPkcs1RoundTripAndWrongPaddingFails) {
  auto key = *RsaKey::Generate(2048);
  auto pub = *RsaKey::FromPublicComponents(key.Modulus(), key.Exponent());
  std::vector<uint8_t> secret(32, 7);
  for (RsaPadding p : {RsaPadding::kOaepSha1, RsaPadding::kOaepSha256, RsaPadding::kPkcs1v15}) {
    auto ct = pub.Encrypt(p, secret);
    ASSERT_THAT(ct, IsOk());
    EXPECT_EQ(ct->size(), 256u);
    auto pt = key.Decrypt(p, *ct);
    ASSERT_THAT(pt, IsOk());
    EXPECT_TRUE(std::equal(pt->span().begin(), pt->span().end(), secret.begin(), secret.end()));
  }
  auto ct = *pub.Encrypt(RsaPadding::kOaepSha256, secret);
  EXPECT_THAT(key.Decrypt(RsaPadding::kOaepSha1, ct), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(pub.Decrypt(RsaPadding::kOaepSha1, ct), StatusIs(StatusCode::kFailedPrecondition));
}

TEST(RsaTest, DigestSignaturesVerify) {
  auto key = *RsaKey::Generate(2048);
  auto digest = Sha256(AsBytes("message"));
  for (auto alg : {RsaDigestSignature::kRs256, RsaDigestSignature::kPs256}) {
    auto sig = key.SignDigest(alg, digest);
    ASSERT_THAT(sig, IsOk());
    EXPECT_TRUE(*key.VerifyDigest(alg, digest, *sig));
    auto other = Sha256(AsBytes("other"));
    EXPECT_FALSE(*key.VerifyDigest(alg, other, *sig));
  }
  // RS256 over a digest equals RS256 over the message.
  auto rs = *key.SignDigest(RsaDigestSignature::kRs256, digest);
  EXPECT_THAT(key.VerifyRs256(AsBytes("message"), rs), IsOk());
}

TEST(RsaTest, ImportFromJwkComponents) {
  auto key = *RsaKey::Generate(2048);
  auto get = [&](const char* name) {
    BIGNUM* bn = nullptr;
    EVP_PKEY_get_bn_param(key.pkey(), name, &bn);
    std::vector<uint8_t> out(static_cast<size_t>(BN_num_bytes(bn)));
    BN_bn2bin(bn, out.data());
    BN_free(bn);
    return SecretBytes(out);
  };
  RsaPrivateComponents priv{get("d"), get("rsa-factor1"), get("rsa-factor2"), get("rsa-exponent1"),
                            get("rsa-exponent2"), get("rsa-coefficient1")};
  auto imported = RsaKey::FromPrivateComponents(key.Modulus(), key.Exponent(), priv);
  ASSERT_THAT(imported, IsOk());
  auto ct = *key.Encrypt(RsaPadding::kOaepSha256, AsBytes("abc"));
  EXPECT_EQ(imported->Decrypt(RsaPadding::kOaepSha256, ct)->AsStringView(), "abc");
  // A d that does not belong to n is refused.
  RsaPrivateComponents bad{get("d"), SecretBytes(), SecretBytes(), SecretBytes(), SecretBytes(), SecretBytes()};
  auto other = *RsaKey::Generate(2048);
  EXPECT_THAT(RsaKey::FromPrivateComponents(other.Modulus(), other.Exponent(), bad),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(X509Test, ServerCertificateChainsToCaAndCarriesSans) {
  TimePoint now = FromUnixSeconds(1795416367);
  auto ca = CreateCertificateAuthority("cmklogs test CA", now - std::chrono::hours(24),
                                       now + std::chrono::hours(24 * 365));
  ASSERT_THAT(ca, IsOk());
  auto server = IssueServerCertificate(*ca, "management.localhost",
                                       {"management.localhost", "*.vault.localhost"},
                                       {"127.0.0.1", "::1"}, now - std::chrono::hours(1),
                                       now + std::chrono::hours(24 * 30));
  ASSERT_THAT(server, IsOk());
  auto sans = CertificateSubjectAltNames(server->cert_pem);
  ASSERT_THAT(sans, IsOk());
  EXPECT_THAT(*sans, ::testing::ElementsAre("management.localhost", "*.vault.localhost",
                                            "127.0.0.1", "::1"));
  // Verify the chain with OpenSSL's verifier at a time inside both validity windows.
  BIO* cb = BIO_new_mem_buf(ca->cert_pem.data(), -1);
  X509* ca_cert = PEM_read_bio_X509(cb, nullptr, nullptr, nullptr);
  BIO* sb = BIO_new_mem_buf(server->cert_pem.data(), -1);
  X509* leaf = PEM_read_bio_X509(sb, nullptr, nullptr, nullptr);
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca_cert);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_time(ctx, 0, static_cast<time_t>(ToUnixSeconds(now)));
  X509_VERIFY_PARAM_set1_host(X509_STORE_CTX_get0_param(ctx), "myvault.vault.localhost", 0);
  EXPECT_EQ(X509_verify_cert(ctx), 1) << X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  X509_free(leaf);
  X509_free(ca_cert);
  BIO_free(cb);
  BIO_free(sb);
}

}  // namespace
}  // namespace cmk::crypto
