#include "keyvault/security_domain.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "base/json.h"
#include "base/testing.h"

namespace cmk::keyvault::sd {
namespace {

namespace bj = boost::json;
using testing::IsOk;
using testing::StatusIs;

class SecurityDomainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (int i = 0; i < 3; ++i) certs_.push_back(*NewRsaCertificateForTest(2048, "sd" + std::to_string(i)));
  }
  static bj::object CertificateSet(int count, int required) {
    bj::array certs;
    for (int i = 0; i < count; ++i) {
      certs.emplace_back(bj::object{{"kty", "RSA"}, {"x5c", bj::array{bj::value(Base64Encode(certs_[i % 3].der))}}});
    }
    return bj::object{{"certificates", std::move(certs)}, {"required", required}};
  }
  env::SeededRandom random_{20};
  static std::vector<TestCertificate> certs_;
};
std::vector<TestCertificate> SecurityDomainTest::certs_;

TEST_F(SecurityDomainTest, Sp800108MatchesAzCliVector) {
  // az's sp800_108.py self-test: key 0x41 * 32, label "label", context "context", 256 bits.
  std::vector<uint8_t> key(32, 0x41);
  SecretBytes out = Sp800108HmacSha512(key, "label", "context", 256);
  EXPECT_EQ(HexEncode(out.span()), "f0ca51f6308791404bf68b56024ee7c64d6c737716f81d47e1e68b5c4e399575");
}

TEST_F(SecurityDomainTest, ShamirAnyQuorumRecoversAndFewerDoNot) {
  std::vector<uint8_t> secret(32);
  for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(i * 37 + 255);
  auto shares = ShamirSplit(secret, 5, 3, random_);
  ASSERT_EQ(shares.size(), 5u);
  for (auto& s : shares) EXPECT_EQ(s.size(), 32u);
  for (auto [a, b, c] : {std::tuple{0, 1, 2}, std::tuple{4, 2, 0}, std::tuple{1, 3, 4}}) {
    auto got = ShamirCombine({shares[a], shares[b], shares[c]}, 3);
    ASSERT_THAT(got, IsOk());
    EXPECT_EQ(std::vector<uint8_t>(got->span().begin(), got->span().end()), secret);
  }
  EXPECT_THAT(ShamirCombine({shares[0], shares[1]}, 3), StatusIs(StatusCode::kInvalidArgument));
  // Two shares of a 3-of-5 split interpolate a line, not the secret.
  auto wrong = ShamirCombine({shares[0], shares[1]}, 2);
  EXPECT_TRUE(!wrong.ok() || std::vector<uint8_t>(wrong->span().begin(), wrong->span().end()) != secret);
  // A repeated share is refused.
  EXPECT_THAT(ShamirCombine({shares[0], shares[0], shares[1]}, 3), StatusIs(StatusCode::kInvalidArgument));
  // Share words carry x in the top 7 bits (az's Share.from_uint16: x = w >> 9).
  EXPECT_EQ(shares[3][0] >> 9, 4);
}

TEST_F(SecurityDomainTest, JweRoundTripsAndRejectsTampering) {
  SecretBytes key = random_.NewSecret(64);
  std::vector<uint8_t> msg = {1, 2, 3, 4, 5};
  auto jwe = JweEncryptDir(key, "tag1", msg, random_);
  ASSERT_THAT(jwe, IsOk());
  auto back = JweDecryptDir(key, *jwe);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(std::vector<uint8_t>(back->span().begin(), back->span().end()), msg);
  std::string bad = *jwe;
  bad[bad.size() - 3] = bad[bad.size() - 3] == 'A' ? 'B' : 'A';
  EXPECT_THAT(JweDecryptDir(key, bad), StatusIs(StatusCode::kInvalidArgument));
  auto rsa = JweEncryptRsa(certs_[0].key, msg, random_);
  ASSERT_THAT(rsa, IsOk());
  EXPECT_THAT(JweDecryptRsa(certs_[0].key, *rsa), IsOk());
  EXPECT_THAT(JweDecryptRsa(certs_[1].key, *rsa), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(SecurityDomainTest, CertificateSetNeedsThreeToTenAndAQuorum) {
  int required = 0;
  EXPECT_THAT(ParseCertificateSet(CertificateSet(2, 2), &required), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseCertificateSet(CertificateSet(3, 4), &required), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseCertificateSet(CertificateSet(3, 1), &required), StatusIs(StatusCode::kInvalidArgument));
  // The same certificate twice.
  EXPECT_THAT(ParseCertificateSet(CertificateSet(4, 2), &required), StatusIs(StatusCode::kInvalidArgument));
  bj::object garbage{{"certificates", bj::array{bj::object{{"x5c", bj::array{"bm90IGEgY2VydA=="}}}, 1, 2}},
                     {"required", 2}};
  EXPECT_THAT(ParseCertificateSet(garbage, &required), StatusIs(StatusCode::kInvalidArgument));
  auto ok = ParseCertificateSet(CertificateSet(3, 2), &required);
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(required, 2);
  EXPECT_EQ(ok->size(), 3u);
}

TEST_F(SecurityDomainTest, DownloadedDomainRecoversWithAQuorumAndRestoresThroughATransferKey) {
  int required = 0;
  auto certs = *ParseCertificateSet(CertificateSet(3, 2), &required);
  SecretBytes material = random_.NewSecret(32);
  auto file = BuildSecurityDomain(material, certs, required, random_);
  ASSERT_THAT(file, IsOk());
  auto parsed = *json::ParseObject(*file);
  EXPECT_EQ(parsed.at("SharedKeys").as_object().at("key_algorithm").as_string(), "shamir_share");
  EXPECT_EQ(parsed.at("SharedKeys").as_object().at("enc_shares").as_array().size(), 3u);
  EXPECT_EQ(parsed.at("EncData").as_object().at("kdf").as_string(), "sp108_kdf");
  // The material itself is nowhere in the file.
  EXPECT_EQ(file->find(Base64UrlEncode(material.span())), std::string::npos);

  auto two = RecoverWithPrivateKeys(*file, {&certs_[2].key, &certs_[0].key});
  ASSERT_THAT(two, IsOk());
  EXPECT_TRUE(ConstantTimeEquals(two->span(), material.span()));
  EXPECT_THAT(RecoverWithPrivateKeys(*file, {&certs_[1].key}), StatusIs(StatusCode::kInvalidArgument));

  auto transfer = NewTransferKey("hsm2");
  ASSERT_THAT(transfer, IsOk());
  auto jwk = TransferKeyJwk(transfer->cert_der);
  ASSERT_THAT(jwk, IsOk());
  EXPECT_EQ(jwk->at("x5c").as_array()[0].as_string(), Base64Encode(transfer->cert_der));
  auto blob = MakeRestoreBlobForTest(*file, {&certs_[0].key, &certs_[1].key}, transfer->cert_der, random_);
  ASSERT_THAT(blob, IsOk());
  auto tk = *crypto::RsaKey::FromPrivatePem(transfer->private_pem);
  auto restored = OpenRestoreBlob(*blob, tk, transfer->cert_der);
  ASSERT_THAT(restored, IsOk());
  EXPECT_TRUE(ConstantTimeEquals(restored->span(), material.span()));
  // A blob wrapped to another HSM's transfer key is refused.
  auto other = *NewTransferKey("hsm3");
  auto other_key = *crypto::RsaKey::FromPrivatePem(other.private_pem);
  EXPECT_THAT(OpenRestoreBlob(*blob, other_key, other.cert_der), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace cmk::keyvault::sd
