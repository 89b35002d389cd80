#include "keyvault/pkcs11_hsm.h"

#include "env/env.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "base/encoding.h"
#include "base/testing.h"
#include "crypto/rsa.h"

namespace cmk::keyvault {
namespace {

using ::cmk::testing::IsOk;
using ::cmk::testing::StatusIs;
using ::testing::SizeIs;

constexpr char kModule[] = "/usr/lib/softhsm/libsofthsm2.so";
constexpr char kLabel[] = "cmk-test";
constexpr char kPin[] = "5678";

std::vector<uint8_t> Sha256(std::span<const uint8_t> data) {
  std::vector<uint8_t> out(32);
  unsigned int n = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), out.data(), &n, EVP_sha256(), nullptr), 1);
  return out;
}

std::vector<uint8_t> Bytes(std::string_view s) {
  std::span<const uint8_t> b = AsBytes(s);
  return {b.begin(), b.end()};
}

// Encrypts in software with the public key the token exported.
std::vector<uint8_t> EncryptInSoftware(const crypto::RsaKey& key, int padding, const EVP_MD* md,
                                       std::span<const uint8_t> plaintext) {
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new(key.pkey(), nullptr), &EVP_PKEY_CTX_free);
  EXPECT_EQ(EVP_PKEY_encrypt_init(ctx.get()), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_rsa_padding(ctx.get(), padding), 1);
  if (padding == RSA_PKCS1_OAEP_PADDING) {
    EXPECT_EQ(EVP_PKEY_CTX_set_rsa_oaep_md(ctx.get(), md), 1);
    EXPECT_EQ(EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), md), 1);
  }
  size_t n = 0;
  EXPECT_EQ(EVP_PKEY_encrypt(ctx.get(), nullptr, &n, plaintext.data(), plaintext.size()), 1);
  std::vector<uint8_t> out(n);
  EXPECT_EQ(EVP_PKEY_encrypt(ctx.get(), out.data(), &n, plaintext.data(), plaintext.size()), 1);
  out.resize(n);
  return out;
}

bool VerifyPs256(const crypto::RsaKey& key, std::span<const uint8_t> digest,
                 std::span<const uint8_t> sig) {
  std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(
      EVP_PKEY_CTX_new(key.pkey(), nullptr), &EVP_PKEY_CTX_free);
  return EVP_PKEY_verify_init(ctx.get()) == 1 &&
         EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PSS_PADDING) == 1 &&
         EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) == 1 &&
         EVP_PKEY_CTX_set_rsa_mgf1_md(ctx.get(), EVP_sha256()) == 1 &&
         EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx.get(), 32) == 1 &&
         EVP_PKEY_verify(ctx.get(), sig.data(), sig.size(), digest.data(), digest.size()) == 1;
}

// Every test gets its own SoftHSM2 token store in a fresh directory.
class Pkcs11HsmTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!std::filesystem::exists(kModule)) GTEST_SKIP() << "SoftHSM2 is not installed";
    dir_ = std::filesystem::temp_directory_path() / ("cmk_hsm_" + env::SecureRandom().NewGuid());
    std::filesystem::create_directories(dir_ / "tokens");
    std::filesystem::path conf = dir_ / "softhsm2.conf";
    std::ofstream(conf) << "directories.tokendir = " << (dir_ / "tokens").string() << "\n"
                        << "objectstore.backend = file\nlog.level = ERROR\n";
    ASSERT_EQ(setenv("SOFTHSM2_CONF", conf.c_str(), 1), 0);
    std::string cmd = std::string("softhsm2-util --init-token --free --label ") + kLabel +
                      " --so-pin 1234 --pin " + kPin + " >/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  void TearDown() override {
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  static Pkcs11Options Options(std::string_view pin = kPin) {
    Pkcs11Options o;
    o.module_path = kModule;
    o.token_label = kLabel;
    o.user_pin = SecretBytes::FromString(pin);
    return o;
  }
  static std::unique_ptr<Pkcs11Hsm> OpenHsm(Pkcs11Options options = Options()) {
    auto hsm = Pkcs11Hsm::Open(std::move(options));
    EXPECT_THAT(hsm, IsOk());
    return hsm.ok() ? std::move(hsm).value() : nullptr;
  }
  static crypto::RsaKey PublicKey(Pkcs11Hsm& hsm, const std::string& id) {
    auto n = hsm.RsaModulus(id);
    auto e = hsm.RsaPublicExponent(id);
    EXPECT_THAT(n, IsOk());
    EXPECT_THAT(e, IsOk());
    auto key = crypto::RsaKey::FromPublicComponents(*n, *e);
    EXPECT_THAT(key, IsOk());
    return std::move(key).value();
  }

  std::filesystem::path dir_;
};

TEST_F(Pkcs11HsmTest, GeneratesRsa2048InsideToken) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateRsa(2048);
  ASSERT_THAT(id, IsOk());
  EXPECT_THAT(*id, SizeIs(32));
  auto n = hsm->RsaModulus(*id);
  ASSERT_THAT(n, IsOk());
  EXPECT_THAT(*n, SizeIs(256));
  EXPECT_EQ((*n)[0] & 0x80, 0x80);
  auto e = hsm->RsaPublicExponent(*id);
  ASSERT_THAT(e, IsOk());
  EXPECT_EQ(*e, (std::vector<uint8_t>{1, 0, 1}));
  EXPECT_EQ(PublicKey(*hsm, *id).bits(), 2048);
  auto other = hsm->GenerateRsa(2048);
  ASSERT_THAT(other, IsOk());
  EXPECT_NE(*other, *id);
}

TEST_F(Pkcs11HsmTest, RejectsUnsupportedRsaSize) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  EXPECT_THAT(hsm->GenerateRsa(1024), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(hsm->GenerateRsa(2047), StatusIs(StatusCode::kInvalidArgument));
}

struct PaddingCase {
  RsaPadding padding;
  int openssl_padding;
  const EVP_MD* (*md)();
};

TEST_F(Pkcs11HsmTest, DecryptsWhatOpenSslEncryptedWithEachPadding) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateRsa(2048);
  ASSERT_THAT(id, IsOk());
  crypto::RsaKey pub = PublicKey(*hsm, *id);
  const PaddingCase cases[] = {
      {RsaPadding::kOaepSha1, RSA_PKCS1_OAEP_PADDING, &EVP_sha1},
      {RsaPadding::kOaepSha256, RSA_PKCS1_OAEP_PADDING, &EVP_sha256},
      {RsaPadding::kPkcs1v15, RSA_PKCS1_PADDING, &EVP_sha256},
  };
  std::vector<uint8_t> cek = Bytes("0123456789abcdef0123456789abcdef");
  for (const PaddingCase& c : cases) {
    SCOPED_TRACE(static_cast<int>(c.padding));
    std::vector<uint8_t> ct = EncryptInSoftware(pub, c.openssl_padding, c.md(), cek);
    auto pt = hsm->RsaDecrypt(*id, c.padding, ct);
    ASSERT_THAT(pt, IsOk());
    EXPECT_TRUE(ConstantTimeEquals(pt->span(), cek));
    // Twice: the second OAEP-SHA-256 call takes the remembered path.
    auto again = hsm->RsaDecrypt(*id, c.padding, ct);
    ASSERT_THAT(again, IsOk());
    EXPECT_TRUE(ConstantTimeEquals(again->span(), cek));
  }
}

TEST_F(Pkcs11HsmTest, DecryptsOaepSha256OnRsa3072) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateRsa(3072);
  ASSERT_THAT(id, IsOk());
  std::vector<uint8_t> secret(190, 0x5a);  // the most OAEP-SHA-256 carries under 3072 bits is 318
  std::vector<uint8_t> ct =
      EncryptInSoftware(PublicKey(*hsm, *id), RSA_PKCS1_OAEP_PADDING, EVP_sha256(), secret);
  auto pt = hsm->RsaDecrypt(*id, RsaPadding::kOaepSha256, ct);
  ASSERT_THAT(pt, IsOk());
  EXPECT_TRUE(ConstantTimeEquals(pt->span(), secret));
}

TEST_F(Pkcs11HsmTest, DecryptRejectsTamperedOrMisusedCiphertext) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateRsa(2048);
  ASSERT_THAT(id, IsOk());
  crypto::RsaKey pub = PublicKey(*hsm, *id);
  std::vector<uint8_t> cek(32, 7);
  std::vector<uint8_t> sha256_ct =
      EncryptInSoftware(pub, RSA_PKCS1_OAEP_PADDING, EVP_sha256(), cek);
  std::vector<uint8_t> tampered = sha256_ct;
  tampered[100] ^= 1;
  EXPECT_THAT(hsm->RsaDecrypt(*id, RsaPadding::kOaepSha256, tampered),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(hsm->RsaDecrypt(*id, RsaPadding::kOaepSha1, tampered),
              StatusIs(StatusCode::kInvalidArgument));
  // Encrypted with SHA-256 OAEP, decrypted as SHA-1 OAEP: the padding check fails.
  EXPECT_THAT(hsm->RsaDecrypt(*id, RsaPadding::kOaepSha1, sha256_ct),
              StatusIs(StatusCode::kInvalidArgument));
  std::vector<uint8_t> short_ct(sha256_ct.begin(), sha256_ct.end() - 1);
  EXPECT_THAT(hsm->RsaDecrypt(*id, RsaPadding::kOaepSha256, short_ct),
              StatusIs(StatusCode::kInvalidArgument));
  // The sessions survive the failures.
  auto pt = hsm->RsaDecrypt(*id, RsaPadding::kOaepSha256, sha256_ct);
  ASSERT_THAT(pt, IsOk());
  EXPECT_TRUE(ConstantTimeEquals(pt->span(), cek));
}

TEST_F(Pkcs11HsmTest, Rs256SignatureVerifiesWithOpenSsl) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateRsa(2048);
  ASSERT_THAT(id, IsOk());
  std::vector<uint8_t> data = Bytes("header.payload");
  auto sig = hsm->RsaSign(*id, RsaSignature::kRs256, Sha256(data));
  ASSERT_THAT(sig, IsOk());
  EXPECT_THAT(*sig, SizeIs(256));
  crypto::RsaKey pub = PublicKey(*hsm, *id);
  EXPECT_THAT(pub.VerifyRs256(data, *sig), IsOk());
  EXPECT_THAT(pub.VerifyRs256(Bytes("header.payloaD"), *sig),
              StatusIs(StatusCode::kUnauthenticated));
  // PKCS#1 v1.5 signatures are deterministic.
  auto again = hsm->RsaSign(*id, RsaSignature::kRs256, Sha256(data));
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(*again, *sig);
}

TEST_F(Pkcs11HsmTest, Ps256SignatureVerifiesWithOpenSsl) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateRsa(2048);
  ASSERT_THAT(id, IsOk());
  std::vector<uint8_t> digest = Sha256(Bytes("header.payload"));
  auto sig = hsm->RsaSign(*id, RsaSignature::kPs256, digest);
  ASSERT_THAT(sig, IsOk());
  crypto::RsaKey pub = PublicKey(*hsm, *id);
  EXPECT_TRUE(VerifyPs256(pub, digest, *sig));
  std::vector<uint8_t> other = Sha256(Bytes("header.payloaD"));
  EXPECT_FALSE(VerifyPs256(pub, other, *sig));
  // PSS is randomised by its salt.
  auto again = hsm->RsaSign(*id, RsaSignature::kPs256, digest);
  ASSERT_THAT(again, IsOk());
  EXPECT_NE(*again, *sig);
  EXPECT_TRUE(VerifyPs256(pub, digest, *again));
}

TEST_F(Pkcs11HsmTest, SignRejectsDigestOfWrongLength) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateRsa(2048);
  ASSERT_THAT(id, IsOk());
  std::vector<uint8_t> digest(20, 1);
  EXPECT_THAT(hsm->RsaSign(*id, RsaSignature::kRs256, digest),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(hsm->RsaSign(*id, RsaSignature::kPs256, digest),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(Pkcs11HsmTest, AesKeyWrapRoundTrips) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateAes256();
  ASSERT_THAT(id, IsOk());
  for (size_t len : {16u, 24u, 32u, 64u}) {
    SCOPED_TRACE(len);
    std::vector<uint8_t> cek(len);
    for (size_t i = 0; i < len; ++i) cek[i] = static_cast<uint8_t>(i * 7 + 1);
    auto wrapped = hsm->AesKeyWrap(*id, cek);
    ASSERT_THAT(wrapped, IsOk());
    EXPECT_THAT(*wrapped, SizeIs(len + 8));
    // RFC 3394 is deterministic.
    auto again = hsm->AesKeyWrap(*id, cek);
    ASSERT_THAT(again, IsOk());
    EXPECT_EQ(*again, *wrapped);
    auto unwrapped = hsm->AesKeyUnwrap(*id, *wrapped);
    ASSERT_THAT(unwrapped, IsOk());
    EXPECT_TRUE(ConstantTimeEquals(unwrapped->span(), cek));
  }
}

TEST_F(Pkcs11HsmTest, AesKeyUnwrapDetectsTampering) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateAes256();
  ASSERT_THAT(id, IsOk());
  std::vector<uint8_t> cek(32, 0x42);
  auto wrapped = hsm->AesKeyWrap(*id, cek);
  ASSERT_THAT(wrapped, IsOk());
  for (size_t i : {0u, 7u, 8u, 39u}) {
    std::vector<uint8_t> tampered = *wrapped;
    tampered[i] ^= 0x01;
    EXPECT_THAT(hsm->AesKeyUnwrap(*id, tampered), StatusIs(StatusCode::kInvalidArgument));
  }
  // Wrapped under another key: the integrity check fails too.
  auto other = hsm->GenerateAes256();
  ASSERT_THAT(other, IsOk());
  EXPECT_THAT(hsm->AesKeyUnwrap(*other, *wrapped), StatusIs(StatusCode::kInvalidArgument));
  auto ok = hsm->AesKeyUnwrap(*id, *wrapped);
  ASSERT_THAT(ok, IsOk());
  EXPECT_TRUE(ConstantTimeEquals(ok->span(), cek));
}

TEST_F(Pkcs11HsmTest, AesKeyWrapRejectsBadLengths) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateAes256();
  ASSERT_THAT(id, IsOk());
  EXPECT_THAT(hsm->AesKeyWrap(*id, std::vector<uint8_t>(8)),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(hsm->AesKeyWrap(*id, std::vector<uint8_t>(30)),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(hsm->AesKeyWrap(*id, std::vector<uint8_t>(4104)),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(hsm->AesKeyUnwrap(*id, std::vector<uint8_t>(16)),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(hsm->AesKeyUnwrap(*id, std::vector<uint8_t>(33)),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(Pkcs11HsmTest, KeysNeverLeaveTheToken) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto rsa = hsm->GenerateRsa(2048);
  auto aes = hsm->GenerateAes256();
  ASSERT_THAT(rsa, IsOk());
  ASSERT_THAT(aes, IsOk());
  auto rsa_locked = hsm->IsNonExtractable(*rsa);
  ASSERT_THAT(rsa_locked, IsOk());
  EXPECT_TRUE(*rsa_locked);
  auto aes_locked = hsm->IsNonExtractable(*aes);
  ASSERT_THAT(aes_locked, IsOk());
  EXPECT_TRUE(*aes_locked);
  EXPECT_THAT(hsm->ReadPrivateExponentForTest(*rsa), StatusIs(StatusCode::kPermissionDenied));
}

TEST_F(Pkcs11HsmTest, UnknownIdIsNotFound) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  const std::string id(32, 'a');
  std::vector<uint8_t> digest(32), block(256), wrapped(40), cek(32);
  EXPECT_THAT(hsm->RsaModulus(id), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(hsm->RsaPublicExponent(id), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(hsm->RsaDecrypt(id, RsaPadding::kOaepSha256, block), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(hsm->RsaSign(id, RsaSignature::kRs256, digest), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(hsm->AesKeyWrap(id, cek), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(hsm->AesKeyUnwrap(id, wrapped), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(hsm->IsNonExtractable(id), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(hsm->Destroy(id), StatusIs(StatusCode::kNotFound));
}

TEST_F(Pkcs11HsmTest, MalformedIdIsInvalidArgument) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  const std::vector<std::string> ids = {"", "abc", std::string(32, 'A'), std::string(32, 'g'),
                                        std::string(34, 'a')};
  for (const std::string& id : ids) {
    EXPECT_THAT(hsm->RsaModulus(id), StatusIs(StatusCode::kInvalidArgument)) << id;
    EXPECT_THAT(hsm->Destroy(id), StatusIs(StatusCode::kInvalidArgument)) << id;
  }
}

TEST_F(Pkcs11HsmTest, KeyOfTheWrongKindIsInvalidArgument) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto rsa = hsm->GenerateRsa(2048);
  auto aes = hsm->GenerateAes256();
  ASSERT_THAT(rsa, IsOk());
  ASSERT_THAT(aes, IsOk());
  std::vector<uint8_t> cek(32), digest(32);
  EXPECT_THAT(hsm->AesKeyWrap(*rsa, cek), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(hsm->RsaSign(*aes, RsaSignature::kRs256, digest),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(hsm->RsaModulus(*aes), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(hsm->ReadPrivateExponentForTest(*aes), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(Pkcs11HsmTest, KeysPersistAcrossReopen) {
  std::string rsa_id, aes_id;
  std::vector<uint8_t> modulus, wrapped, sig;
  std::vector<uint8_t> cek(32, 0x33), digest = Sha256(Bytes("persist"));
  {
    auto hsm = OpenHsm();
    ASSERT_NE(hsm, nullptr);
    auto rsa = hsm->GenerateRsa(2048);
    auto aes = hsm->GenerateAes256();
    ASSERT_THAT(rsa, IsOk());
    ASSERT_THAT(aes, IsOk());
    rsa_id = *rsa;
    aes_id = *aes;
    modulus = *hsm->RsaModulus(rsa_id);
    auto w = hsm->AesKeyWrap(aes_id, cek);
    ASSERT_THAT(w, IsOk());
    wrapped = *w;
    auto s = hsm->RsaSign(rsa_id, RsaSignature::kRs256, digest);
    ASSERT_THAT(s, IsOk());
    sig = *s;
  }
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto n = hsm->RsaModulus(rsa_id);
  ASSERT_THAT(n, IsOk());
  EXPECT_EQ(*n, modulus);
  auto s = hsm->RsaSign(rsa_id, RsaSignature::kRs256, digest);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(*s, sig);
  auto unwrapped = hsm->AesKeyUnwrap(aes_id, wrapped);
  ASSERT_THAT(unwrapped, IsOk());
  EXPECT_TRUE(ConstantTimeEquals(unwrapped->span(), cek));
  auto locked = hsm->IsNonExtractable(rsa_id);
  ASSERT_THAT(locked, IsOk());
  EXPECT_TRUE(*locked);
}

TEST_F(Pkcs11HsmTest, DestroyRemovesEveryObjectOfTheKey) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto rsa = hsm->GenerateRsa(2048);
  auto keep = hsm->GenerateRsa(2048);
  auto aes = hsm->GenerateAes256();
  ASSERT_THAT(rsa, IsOk());
  ASSERT_THAT(keep, IsOk());
  ASSERT_THAT(aes, IsOk());
  EXPECT_THAT(hsm->Destroy(*rsa), IsOk());
  EXPECT_THAT(hsm->Destroy(*aes), IsOk());
  std::vector<uint8_t> digest(32), cek(32);
  EXPECT_THAT(hsm->RsaModulus(*rsa), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(hsm->RsaSign(*rsa, RsaSignature::kRs256, digest), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(hsm->AesKeyWrap(*aes, cek), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(hsm->Destroy(*rsa), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(hsm->RsaSign(*keep, RsaSignature::kRs256, digest), IsOk());
  hsm.reset();
  hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  EXPECT_THAT(hsm->RsaModulus(*rsa), StatusIs(StatusCode::kNotFound));
  EXPECT_THAT(hsm->RsaModulus(*keep), IsOk());
}

TEST_F(Pkcs11HsmTest, WrongPinIsRefused) {
  auto hsm = Pkcs11Hsm::Open(Options("0000"));
  EXPECT_THAT(hsm, StatusIs(StatusCode::kUnavailable));
  // The module was released: the right PIN still works afterwards.
  EXPECT_NE(OpenHsm(), nullptr);
}

TEST_F(Pkcs11HsmTest, UnusableModuleOrTokenIsUnavailable) {
  Pkcs11Options bad_token = Options();
  bad_token.token_label = "no-such-token";
  EXPECT_THAT(Pkcs11Hsm::Open(std::move(bad_token)), StatusIs(StatusCode::kUnavailable));
  Pkcs11Options bad_module = Options();
  bad_module.module_path = (dir_ / "missing.so").string();
  EXPECT_THAT(Pkcs11Hsm::Open(std::move(bad_module)), StatusIs(StatusCode::kUnavailable));
  Pkcs11Options long_label = Options();
  long_label.token_label = std::string(33, 'x');
  EXPECT_THAT(Pkcs11Hsm::Open(std::move(long_label)), StatusIs(StatusCode::kInvalidArgument));
  Pkcs11Options no_sessions = Options();
  no_sessions.max_sessions = 0;
  EXPECT_THAT(Pkcs11Hsm::Open(std::move(no_sessions)), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(Pkcs11HsmTest, TwoInstancesOnOneTokenShareTheModule) {
  auto first = OpenHsm();
  auto second = OpenHsm();
  ASSERT_NE(first, nullptr);
  ASSERT_NE(second, nullptr);
  auto id = first->GenerateRsa(2048);
  ASSERT_THAT(id, IsOk());
  std::vector<uint8_t> digest = Sha256(Bytes("shared"));
  EXPECT_THAT(second->RsaSign(*id, RsaSignature::kRs256, digest), IsOk());
  // Closing one must neither finalise the module nor log the other out.
  first.reset();
  EXPECT_THAT(second->RsaSign(*id, RsaSignature::kRs256, digest), IsOk());
}

TEST_F(Pkcs11HsmTest, ConcurrentCallersShareTheSessionPool) {
  Pkcs11Options options = Options();
  options.max_sessions = 2;
  auto hsm = OpenHsm(std::move(options));
  ASSERT_NE(hsm, nullptr);
  auto rsa = hsm->GenerateRsa(2048);
  auto aes = hsm->GenerateAes256();
  ASSERT_THAT(rsa, IsOk());
  ASSERT_THAT(aes, IsOk());
  crypto::RsaKey pub = PublicKey(*hsm, *rsa);
  std::vector<uint8_t> ct =
      EncryptInSoftware(pub, RSA_PKCS1_OAEP_PADDING, EVP_sha256(), std::vector<uint8_t>(32, 9));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 5; ++i) {
        std::vector<uint8_t> data = Bytes("message " + std::to_string(t * 100 + i));
        auto sig = hsm->RsaSign(*rsa, RsaSignature::kRs256, Sha256(data));
        if (!sig.ok() || !pub.VerifyRs256(data, *sig).ok()) ++failures;
        auto pt = hsm->RsaDecrypt(*rsa, RsaPadding::kOaepSha256, ct);
        if (!pt.ok() || pt->size() != 32) ++failures;
        std::vector<uint8_t> cek(32, static_cast<uint8_t>(t));
        auto w = hsm->AesKeyWrap(*aes, cek);
        auto u = w.ok() ? hsm->AesKeyUnwrap(*aes, *w) : Result<SecretBytes>(w.status());
        if (!u.ok() || !ConstantTimeEquals(u->span(), cek)) ++failures;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(Pkcs11HsmTest, SoftwareOaepUnpaddingCanBeDisabled) {
  Pkcs11Options options = Options();
  options.allow_software_oaep_unpadding = false;
  auto hsm = OpenHsm(std::move(options));
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateRsa(2048);
  ASSERT_THAT(id, IsOk());
  std::vector<uint8_t> cek(32, 1);
  std::vector<uint8_t> ct =
      EncryptInSoftware(PublicKey(*hsm, *id), RSA_PKCS1_OAEP_PADDING, EVP_sha256(), cek);
  auto pt = hsm->RsaDecrypt(*id, RsaPadding::kOaepSha256, ct);
  // A token with native OAEP-SHA-256 decrypts; one without (SoftHSM2 2.6) must refuse rather
  // than fall back.
  if (pt.ok()) {
    EXPECT_TRUE(ConstantTimeEquals(pt->span(), cek));
  } else {
    EXPECT_THAT(pt, StatusIs(StatusCode::kUnimplemented));
  }
  // OAEP-SHA-1 is unaffected.
  std::vector<uint8_t> ct1 =
      EncryptInSoftware(PublicKey(*hsm, *id), RSA_PKCS1_OAEP_PADDING, EVP_sha1(), cek);
  EXPECT_THAT(hsm->RsaDecrypt(*id, RsaPadding::kOaepSha1, ct1), IsOk());
}

TEST_F(Pkcs11HsmTest, DecryptsLongestPlaintextEachPaddingAllows) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateRsa(2048);
  ASSERT_THAT(id, IsOk());
  crypto::RsaKey pub = PublicKey(*hsm, *id);
  // k - 2*hLen - 2 for OAEP, k - 11 for PKCS#1 v1.5 (RFC 8017 §7.1.1, §7.2.1).
  const struct {
    RsaPadding padding;
    int openssl_padding;
    const EVP_MD* (*md)();
    size_t max_len;
  } cases[] = {
      {RsaPadding::kOaepSha1, RSA_PKCS1_OAEP_PADDING, &EVP_sha1, 256 - 2 * 20 - 2},
      {RsaPadding::kOaepSha256, RSA_PKCS1_OAEP_PADDING, &EVP_sha256, 256 - 2 * 32 - 2},
      {RsaPadding::kPkcs1v15, RSA_PKCS1_PADDING, &EVP_sha256, 256 - 11},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.max_len);
    std::vector<uint8_t> secret(c.max_len);
    for (size_t i = 0; i < secret.size(); ++i) secret[i] = static_cast<uint8_t>(255 - i);
    auto pt =
        hsm->RsaDecrypt(*id, c.padding, EncryptInSoftware(pub, c.openssl_padding, c.md(), secret));
    ASSERT_THAT(pt, IsOk());
    EXPECT_TRUE(ConstantTimeEquals(pt->span(), secret));
  }
}

TEST_F(Pkcs11HsmTest, SignsWithRsa3072) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateRsa(3072);
  ASSERT_THAT(id, IsOk());
  crypto::RsaKey pub = PublicKey(*hsm, *id);
  EXPECT_EQ(pub.bits(), 3072);
  std::vector<uint8_t> data = Bytes("three thousand and seventy-two");
  auto rs = hsm->RsaSign(*id, RsaSignature::kRs256, Sha256(data));
  ASSERT_THAT(rs, IsOk());
  EXPECT_THAT(*rs, SizeIs(384));
  EXPECT_THAT(pub.VerifyRs256(data, *rs), IsOk());
  auto ps = hsm->RsaSign(*id, RsaSignature::kPs256, Sha256(data));
  ASSERT_THAT(ps, IsOk());
  EXPECT_TRUE(VerifyPs256(pub, Sha256(data), *ps));
}

TEST_F(Pkcs11HsmTest, AesKeyWrapHandlesLongestInput) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateAes256();
  ASSERT_THAT(id, IsOk());
  std::vector<uint8_t> big(4096);
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<uint8_t>(i * 31);
  auto wrapped = hsm->AesKeyWrap(*id, big);
  ASSERT_THAT(wrapped, IsOk());
  EXPECT_THAT(*wrapped, SizeIs(4104));
  auto unwrapped = hsm->AesKeyUnwrap(*id, *wrapped);
  ASSERT_THAT(unwrapped, IsOk());
  EXPECT_TRUE(ConstantTimeEquals(unwrapped->span(), big));
}

TEST_F(Pkcs11HsmTest, EachInstanceSeesOnlyItsOwnToken) {
  std::string cmd = std::string("softhsm2-util --init-token --free --label cmk-other") +
                    " --so-pin 1234 --pin 4321 >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  Pkcs11Options other_options = Options("4321");
  other_options.token_label = "cmk-other";
  auto mine = OpenHsm();
  auto other = OpenHsm(std::move(other_options));
  ASSERT_NE(mine, nullptr);
  ASSERT_NE(other, nullptr);
  auto id = mine->GenerateRsa(2048);
  ASSERT_THAT(id, IsOk());
  EXPECT_THAT(mine->RsaModulus(*id), IsOk());
  EXPECT_THAT(other->RsaModulus(*id), StatusIs(StatusCode::kNotFound));
  // Labels match whole, not by prefix.
  Pkcs11Options prefix = Options();
  prefix.token_label = "cmk";
  EXPECT_THAT(Pkcs11Hsm::Open(std::move(prefix)), StatusIs(StatusCode::kUnavailable));
  // The other token's PIN does not open this one.
  EXPECT_THAT(Pkcs11Hsm::Open(Options("4321")), StatusIs(StatusCode::kUnavailable));
}

// Cryptoki answers C_Login on a logged-in token with CKR_USER_ALREADY_LOGGED_IN without looking
// at the PIN; Open must not take that as success.
TEST_F(Pkcs11HsmTest, WrongPinIsRefusedWhileAnotherInstanceIsLoggedIn) {
  auto first = OpenHsm();
  ASSERT_NE(first, nullptr);
  EXPECT_THAT(Pkcs11Hsm::Open(Options("0000")), StatusIs(StatusCode::kUnavailable));
  auto second = OpenHsm();
  ASSERT_NE(second, nullptr);
  first.reset();
  EXPECT_THAT(Pkcs11Hsm::Open(Options("0000")), StatusIs(StatusCode::kUnavailable));
  second.reset();
  // Everyone is gone: the token was logged out, and a fresh login checks the PIN again.
  EXPECT_THAT(Pkcs11Hsm::Open(Options("0000")), StatusIs(StatusCode::kUnavailable));
  EXPECT_NE(OpenHsm(), nullptr);
}

TEST_F(Pkcs11HsmTest, IdsComeFromTheInjectedRandom) {
  env::SeededRandom random(42);
  Pkcs11Options options = Options();
  options.random = &random;
  auto hsm = OpenHsm(std::move(options));
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateAes256();
  ASSERT_THAT(id, IsOk());
  env::SeededRandom same(42);
  uint8_t expected[16];
  same.Fill(expected);
  EXPECT_EQ(*id, HexEncode(expected));
}

TEST_F(Pkcs11HsmTest, ErrorsDoNotCarryKeyMaterial) {
  auto hsm = OpenHsm();
  ASSERT_NE(hsm, nullptr);
  auto id = hsm->GenerateAes256();
  ASSERT_THAT(id, IsOk());
  std::vector<uint8_t> cek(32, 0xab);
  auto wrapped = hsm->AesKeyWrap(*id, cek);
  ASSERT_THAT(wrapped, IsOk());
  (*wrapped)[3] ^= 0xff;
  auto bad = hsm->AesKeyUnwrap(*id, *wrapped);
  ASSERT_THAT(bad, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(bad.status().message().find(HexEncode(cek)), std::string::npos);
  EXPECT_EQ(bad.status().message().find(HexEncode(*wrapped)), std::string::npos);
}

}  // namespace
}  // namespace cmk::keyvault
