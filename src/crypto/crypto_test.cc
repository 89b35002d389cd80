#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <cstring>

#include "base/encoding.h"
#include "base/testing.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/rsa.h"
#include "crypto/x509.h"

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

// Hands out fixed bytes: known-answer tests choose the nonce.
class FixedRandom final : public env::Random {
 public:
  explicit FixedRandom(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}
  void Fill(std::span<uint8_t> out) override {
    for (auto& b : out) b = bytes_[at_++ % bytes_.size()];
  }

 private:
  std::vector<uint8_t> bytes_;
  size_t at_ = 0;
};

std::vector<uint8_t> Hex(std::string_view hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}
SecretBytes HexKey(std::string_view hex) { return SecretBytes(Hex(hex)); }

// OpenSSL's own HKDF (EVP_KDF), the reference the fast path is checked against.
std::vector<uint8_t> OpensslHkdf(std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
                                 std::span<const uint8_t> info) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* kctx = EVP_KDF_CTX_new(kdf);
  char digest[] = "SHA256";
  std::vector<OSSL_PARAM> params = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<uint8_t*>(ikm.data()),
                                        ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<uint8_t*>(info.data()),
                                        info.size())};
  // OpenSSL refuses an empty salt parameter; no salt is RFC 5869's default (zeros) there too.
  if (!salt.empty()) {
    params.push_back(OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_SALT, const_cast<uint8_t*>(salt.data()), salt.size()));
  }
  params.push_back(OSSL_PARAM_construct_end());
  std::vector<uint8_t> out(32);
  EXPECT_EQ(EVP_KDF_derive(kctx, out.data(), out.size(), params.data()), 1);
  EVP_KDF_CTX_free(kctx);
  EVP_KDF_free(kdf);
  return out;
}

TEST(HkdfTest, Rfc5869TestCases1And3) {
  // RFC 5869 A.1 and A.3 (first 32 bytes of OKM; A.3 has no salt and no info).
  SecretBytes ikm(Hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b"));
  auto okm = HkdfSha256(ikm, Hex("000102030405060708090a0b0c"), Hex("f0f1f2f3f4f5f6f7f8f9"));
  ASSERT_THAT(okm, IsOk());
  EXPECT_EQ(HexEncode(okm->span()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf");
  okm = HkdfSha256(ikm, {}, {});
  ASSERT_THAT(okm, IsOk());
  EXPECT_EQ(HexEncode(okm->span()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d");
}

TEST(HkdfTest, FastPathEqualsOpensslHkdfForEveryLengthWeUse) {
  env::SeededRandom rnd(5869);
  // Salts of 0, 20 (DEK), 24-40 (account || segment), 64 and over 64 bytes (hashed as HMAC keys).
  for (size_t salt_len : {0, 1, 20, 32, 40, 63, 64, 65, 150}) {
    for (size_t info_len : {0, 14, 31, 64, 200}) {
      SecretBytes ikm = rnd.NewSecret(32);
      std::vector<uint8_t> salt(salt_len), info(info_len);
      rnd.Fill(salt);
      rnd.Fill(info);
      auto fast = HkdfSha256(ikm, salt, info);
      ASSERT_THAT(fast, IsOk());
      EXPECT_EQ(HexEncode(fast->span()), HexEncode(OpensslHkdf(ikm.span(), salt, info)))
          << "salt " << salt_len << " info " << info_len;
    }
  }
}

TEST(HkdfTest, RefusesEmptyInputKeyMaterial) {
  EXPECT_THAT(HkdfSha256(SecretBytes(), AsBytes("salt"), AsBytes("info")),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(HashTest, FastHmacEqualsOpensslHmacForKeysOfAnyLengthAndDataInParts) {
  env::SeededRandom rnd(2104);
  for (size_t key_len : {0, 16, 32, 64, 65, 131}) {
    std::vector<uint8_t> key(key_len), data(300);
    rnd.Fill(key);
    rnd.Fill(data);
    uint8_t want[32];
    unsigned int n = 0;
    ASSERT_NE(HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), data.data(), data.size(),
                   want, &n),
              nullptr);
    std::span<const uint8_t> d(data);
    const std::span<const uint8_t> parts[] = {d.first(7), d.subspan(7, 0), d.subspan(7)};
    std::array<uint8_t, 32> got{};
    ASSERT_TRUE(HmacSha256Into(key, parts, got));
    EXPECT_EQ(HexEncode(got), HexEncode(std::span<const uint8_t>(want, 32))) << "key " << key_len;
    EXPECT_EQ(HexEncode(HmacSha256(key, data)), HexEncode(got));
  }
}

TEST(AeadTest, KnownAnswersForBothAlgorithms) {
  // AES-256-GCM: the GCM specification's test case 16.
  SecretBytes key = HexKey("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308");
  FixedRandom nonce(Hex("cafebabefacedbaddecaf888"));
  auto pt =
      Hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e24"
          "49a6b525b16aedf5aa0de657ba637b39");
  auto aad = Hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
  auto sealed = AesGcmSeal(key, pt, aad, nonce);
  ASSERT_THAT(sealed, IsOk());
  EXPECT_EQ(HexEncode(*sealed),
            "cafebabefacedbaddecaf888"
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b"
            "1056828838c5f6"
            "1e6393ba7a0abcc9f662"
            "76fc6ece0f4e1768cddf8853bb2d551b");
  // ChaCha20-Poly1305: RFC 8439 section 2.8.2, the AAD given in two parts.
  SecretBytes ckey = HexKey("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
  FixedRandom cnonce(Hex("070000004041424344454647"));
  auto caad = Hex("50515253c0c1c2c3c4c5c6c7");
  std::span<const uint8_t> ca(caad);
  const std::span<const uint8_t> aad_parts[] = {ca.first(5), ca.subspan(5)};
  const std::span<const uint8_t> text[] = {AsBytes(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
      "sunscreen would be it.")};
  std::vector<uint8_t> out;
  ASSERT_THAT(SealAppend(AeadAlgorithm::kChaCha20Poly1305, ckey, text, aad_parts, cnonce, out),
              IsOk());
  EXPECT_EQ(HexEncode(out),
            "070000004041424344454647"
            "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb"
            "69da92728b1a71de"
            "0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831"
            "d7bc3ff4def08e4b"
            "7a9de576d26586cec64b6116"
            "1ae10b594f09e26a7e902ecbd0600691");
  const std::span<const uint8_t> whole_aad[] = {ca};
  auto opened = Open(AeadAlgorithm::kChaCha20Poly1305, ckey, out, whole_aad);
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(opened->AsStringView().substr(0, 7), "Ladies ");
}

TEST(AeadTest, EveryTamperedByteOrWrongAlgorithmFailsWithDataLoss) {
  env::SecureRandom rnd;
  SecretBytes key = rnd.NewSecret(32);
  const std::span<const uint8_t> aad[] = {AsBytes("header"), AsBytes("tail")};
  const std::span<const uint8_t> text[] = {AsBytes("twenty bytes of text")};
  for (AeadAlgorithm alg : {AeadAlgorithm::kAes256Gcm, AeadAlgorithm::kChaCha20Poly1305}) {
    std::vector<uint8_t> sealed;
    ASSERT_THAT(SealAppend(alg, key, text, aad, rnd, sealed), IsOk());
    ASSERT_EQ(sealed.size(), 20 + kAeadOverhead);
    for (size_t i = 0; i < sealed.size(); ++i) {  // nonce, ciphertext and tag
      auto bad = sealed;
      bad[i] ^= 0x80;
      EXPECT_THAT(Open(alg, key, bad, aad), StatusIs(StatusCode::kDataLoss)) << i;
    }
    const std::span<const uint8_t> other_aad[] = {AsBytes("headert"), AsBytes("ail")};
    auto joined = Open(alg, key, sealed, other_aad);  // the same bytes split elsewhere: equal AAD
    ASSERT_THAT(joined, IsOk());
    EXPECT_EQ(joined->AsStringView(), "twenty bytes of text");
    const std::span<const uint8_t> wrong_aad[] = {AsBytes("header"), AsBytes("tai")};
    EXPECT_THAT(Open(alg, key, sealed, wrong_aad), StatusIs(StatusCode::kDataLoss));
    AeadAlgorithm other = alg == AeadAlgorithm::kAes256Gcm ? AeadAlgorithm::kChaCha20Poly1305
                                                           : AeadAlgorithm::kAes256Gcm;
    EXPECT_THAT(Open(other, key, sealed, aad), StatusIs(StatusCode::kDataLoss));
    EXPECT_THAT(Open(alg, key, std::span<const uint8_t>(sealed).first(kAeadOverhead - 1), aad),
                StatusIs(StatusCode::kDataLoss));
  }
}

TEST(AeadTest, InPlaceAndAppendingSealingGiveTheSameBytes) {
  for (AeadAlgorithm alg : {AeadAlgorithm::kAes256Gcm, AeadAlgorithm::kChaCha20Poly1305}) {
    env::SeededRandom r1(77), r2(77);
    SecretBytes key = env::SeededRandom(1).NewSecret(32);
    std::vector<uint8_t> text(5000);
    env::SeededRandom(2).Fill(text);
    const std::span<const uint8_t> aad[] = {AsBytes("object/name")};
    std::span<const uint8_t> t(text);
    const std::span<const uint8_t> parts[] = {t.first(1000), t.subspan(1000)};
    std::vector<uint8_t> appended;
    ASSERT_THAT(SealAppend(alg, key, parts, aad, r1, appended), IsOk());

    std::vector<uint8_t> in_place(kAeadNonceSize + text.size() + kAeadTagSize);
    std::copy(text.begin(), text.end(), in_place.begin() + kAeadNonceSize);
    ASSERT_THAT(
        SealInPlace(alg, key, std::span<uint8_t>(in_place).subspan(kAeadNonceSize, text.size()),
                    aad, r2, std::span<uint8_t, kAeadNonceSize>(in_place.data(), kAeadNonceSize),
                    std::span<uint8_t, kAeadTagSize>(in_place.data() + kAeadNonceSize + text.size(),
                                                     kAeadTagSize)),
        IsOk());
    EXPECT_EQ(appended, in_place);

    // Opening in place too: the plaintext replaces the ciphertext.
    std::span<uint8_t> ct = std::span<uint8_t>(in_place).subspan(kAeadNonceSize, text.size());
    ASSERT_THAT(OpenInto(alg, key, in_place, aad, ct), IsOk());
    EXPECT_TRUE(std::equal(ct.begin(), ct.end(), text.begin()));
  }
}

TEST(AeadTest, OpenIntoLeavesNoUnauthenticatedPlaintextAndChecksSizes) {
  env::SecureRandom rnd;
  SecretBytes key = rnd.NewSecret(32);
  const std::span<const uint8_t> aad[] = {AsBytes("a")};
  const std::span<const uint8_t> text[] = {AsBytes("plaintext")};
  std::vector<uint8_t> sealed;
  ASSERT_THAT(SealAppend(AeadAlgorithm::kAes256Gcm, key, text, aad, rnd, sealed), IsOk());
  sealed.back() ^= 1;  // the tag
  std::vector<uint8_t> out(9, 0xee);
  EXPECT_THAT(OpenInto(AeadAlgorithm::kAes256Gcm, key, sealed, aad, out),
              StatusIs(StatusCode::kDataLoss));
  EXPECT_EQ(out, std::vector<uint8_t>(9, 0));
  std::vector<uint8_t> small(8);
  EXPECT_THAT(OpenInto(AeadAlgorithm::kAes256Gcm, key, sealed, aad, small),
              StatusIs(StatusCode::kInvalidArgument));
  SecretBytes short_key = rnd.NewSecret(16);
  EXPECT_THAT(Open(AeadAlgorithm::kAes256Gcm, short_key, sealed, aad),
              StatusIs(StatusCode::kInvalidArgument));
  uint8_t nonce[kAeadNonceSize], tag[kAeadTagSize];
  std::vector<uint8_t> data(4);
  EXPECT_THAT(SealInPlace(AeadAlgorithm::kChaCha20Poly1305, short_key, data, aad, rnd, nonce, tag),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(AeadTest, EmptyPlaintextSealsToNonceAndTag) {
  env::SecureRandom rnd;
  SecretBytes key = rnd.NewSecret(32);
  for (AeadAlgorithm alg : {AeadAlgorithm::kAes256Gcm, AeadAlgorithm::kChaCha20Poly1305}) {
    const std::span<const uint8_t> none[] = {std::span<const uint8_t>()};
    std::vector<uint8_t> sealed;
    ASSERT_THAT(SealAppend(alg, key, {}, none, rnd, sealed), IsOk());
    ASSERT_EQ(sealed.size(), kAeadOverhead);
    auto opened = Open(alg, key, sealed, {});
    ASSERT_THAT(opened, IsOk());
    EXPECT_TRUE(opened->empty());
    sealed[kAeadNonceSize] ^= 1;
    EXPECT_THAT(Open(alg, key, sealed, {}), StatusIs(StatusCode::kDataLoss));
  }
}

TEST(AeadTest, ExplicitNonceSealingIsTheRandomNonceLayoutWithoutTheNonceAndOpensOnlyUnderIt) {
  env::SecureRandom rnd;
  SecretBytes key = rnd.NewSecret(32);
  const std::span<const uint8_t> aad[] = {AsBytes("segment"), AsBytes("\x00\x01")};
  for (AeadAlgorithm alg : {AeadAlgorithm::kAes256Gcm, AeadAlgorithm::kChaCha20Poly1305}) {
    for (size_t n : {0, 1, 15, 16, 17, 1000}) {
      std::vector<uint8_t> text(n);
      rnd.Fill(text);
      uint8_t nonce[kAeadNonceSize];
      rnd.Fill(nonce);
      std::vector<uint8_t> ct(n);
      uint8_t tag[kAeadTagSize];
      ASSERT_THAT(SealWithNonce(alg, key, nonce, text, aad, ct, tag), IsOk());
      // nonce || ciphertext || tag is the ordinary sealed layout.
      std::vector<uint8_t> sealed(nonce, nonce + kAeadNonceSize);
      sealed.insert(sealed.end(), ct.begin(), ct.end());
      sealed.insert(sealed.end(), tag, tag + kAeadTagSize);
      auto opened = Open(alg, key, sealed, aad);
      ASSERT_THAT(opened, IsOk());
      EXPECT_TRUE(std::equal(text.begin(), text.end(), opened->data()));
      // Opened in place, from ciphertext || tag.
      std::vector<uint8_t> ct_tag(sealed.begin() + kAeadNonceSize, sealed.end());
      std::span<uint8_t> in_place(ct_tag.data(), n);
      ASSERT_THAT(OpenWithNonce(alg, key, nonce, ct_tag, aad, in_place), IsOk());
      EXPECT_TRUE(std::equal(text.begin(), text.end(), ct_tag.begin()));
      // Another nonce, a flipped byte, or another AAD: DataLoss, and nothing left in `out`.
      std::vector<uint8_t> good(sealed.begin() + kAeadNonceSize, sealed.end());
      std::vector<uint8_t> out(n, 0xee);
      uint8_t other[kAeadNonceSize];
      std::memcpy(other, nonce, kAeadNonceSize);
      other[11] ^= 1;
      EXPECT_THAT(OpenWithNonce(alg, key, other, good, aad, out), StatusIs(StatusCode::kDataLoss));
      EXPECT_EQ(out, std::vector<uint8_t>(n, 0));
      for (size_t i = 0; i < good.size(); i += 7) {
        std::vector<uint8_t> bad = good;
        bad[i] ^= 0x40;
        EXPECT_THAT(OpenWithNonce(alg, key, nonce, bad, aad, out), StatusIs(StatusCode::kDataLoss)) << i;
      }
      EXPECT_THAT(OpenWithNonce(alg, key, nonce, good, {}, out), StatusIs(StatusCode::kDataLoss));
    }
  }
  uint8_t nonce[kAeadNonceSize] = {}, tag[kAeadTagSize];
  std::vector<uint8_t> text(4), small(3);
  EXPECT_THAT(SealWithNonce(AeadAlgorithm::kAes256Gcm, key, nonce, text, {}, small, tag),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(OpenWithNonce(AeadAlgorithm::kAes256Gcm, key, nonce, small, {}, small),
              StatusIs(StatusCode::kDataLoss));  // shorter than a tag
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
