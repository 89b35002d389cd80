#include "storage/sealed_block.h"

#include <gtest/gtest.h>

#include <cstring>

#include <algorithm>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>

#include "base/encoding.h"
#include "base/testing.h"

namespace cmk::storage {
namespace {

using testing::IsOk;
using testing::StatusIs;

class SealedBlockTest : public ::testing::Test {
 protected:
  env::SeededRandom random_{9};
  SecretBytes aek_ = random_.NewSecret(32);
  ExtentId extent_{};
};

TEST_F(SealedBlockTest, DekIsHkdfSha256OfTheAekWithExtentAndBlockAsSalt) {
  // Computed independently through the EVP_PKEY HKDF interface.
  auto dek = DeriveDek(aek_, extent_, 7);
  ASSERT_THAT(dek, IsOk());
  uint8_t salt[20] = {0};
  salt[19] = 7;
  EVP_PKEY_CTX* pctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
  ASSERT_EQ(EVP_PKEY_derive_init(pctx), 1);
  EVP_PKEY_CTX_set_hkdf_md(pctx, EVP_sha256());
  EVP_PKEY_CTX_set1_hkdf_salt(pctx, salt, 20);
  EVP_PKEY_CTX_set1_hkdf_key(pctx, aek_.data(), 32);
  EVP_PKEY_CTX_add1_hkdf_info(pctx, reinterpret_cast<const unsigned char*>("cmklogs/dek/v1"), 14);
  uint8_t want[32];
  size_t len = 32;
  ASSERT_EQ(EVP_PKEY_derive(pctx, want, &len), 1);
  EVP_PKEY_CTX_free(pctx);
  EXPECT_EQ(HexEncode(dek->span()), HexEncode(std::span<const uint8_t>(want, 32)));
  EXPECT_NE(HexEncode(DeriveDek(aek_, extent_, 8)->span()), HexEncode(dek->span()));
}

TEST_F(SealedBlockTest, SealOpenRoundTripAndHeaderNamesGeneration) {
  std::string data = "TimeGenerated,Computer\nrow with a marker";
  BlockAddress where{extent_, 3, "Computer"};
  auto sealed = SealBlock(aek_, 42, where, AsBytes(data), random_);
  ASSERT_THAT(sealed, IsOk());
  EXPECT_EQ(sealed->size(), data.size() + kSealOverhead);
  EXPECT_EQ(std::string(sealed->begin(), sealed->begin() + 4), "CMKB");
  EXPECT_EQ(*BlockKeyGeneration(*sealed), 42u);
  EXPECT_EQ(std::search(sealed->begin(), sealed->end(), data.end() - 6, data.end()), sealed->end());
  auto opened = OpenBlock(aek_, where, *sealed);
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(opened->AsStringView(), data);
}

// Opening into a caller's buffer: only the exact size is accepted, and a block that fails to
// authenticate leaves nothing of its plaintext there.
TEST_F(SealedBlockTest, OpenBlockIntoFillsExactlyOrWipes) {
  std::string data = "a block opened into a reused buffer";
  BlockAddress where{extent_, 5, "Msg"};
  auto sealed = *SealBlock(aek_, 1, where, AsBytes(data), random_);
  ASSERT_EQ(OpenedSize(sealed), data.size());
  std::vector<uint8_t> out(data.size() + 1, 0xAA);
  EXPECT_THAT(OpenBlockInto(aek_, where, sealed, std::span<uint8_t>(out)), StatusIs(StatusCode::kInvalidArgument));
  std::span<uint8_t> exact(out.data(), data.size());
  ASSERT_THAT(OpenBlockInto(aek_, where, sealed, exact), IsOk());
  EXPECT_EQ(std::string(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(data.size())), data);
  EXPECT_EQ(out.back(), 0xAA);  // nothing past the plaintext is touched
  sealed[sealed.size() - 1] ^= 1;
  EXPECT_THAT(OpenBlockInto(aek_, where, sealed, exact), StatusIs(StatusCode::kDataLoss));
  EXPECT_EQ(std::search(out.begin(), out.end(), data.begin(), data.end()), out.end());
  EXPECT_EQ(OpenedSize(std::span<const uint8_t>(sealed).first(3)), 0u);
}

TEST_F(SealedBlockTest, BlocksCannotBeMovedOrOpenedWithAnotherKey) {
  BlockAddress where{extent_, 3, "Computer"};
  auto sealed = *SealBlock(aek_, 1, where, AsBytes("payload"), random_);
  EXPECT_THAT(OpenBlock(aek_, BlockAddress{extent_, 4, "Computer"}, sealed), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(OpenBlock(aek_, BlockAddress{extent_, 3, "Level"}, sealed), StatusIs(StatusCode::kDataLoss));
  ExtentId other{};
  other[0] = 1;
  EXPECT_THAT(OpenBlock(aek_, BlockAddress{other, 3, "Computer"}, sealed), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(OpenBlock(random_.NewSecret(32), where, sealed), StatusIs(StatusCode::kDataLoss));
  auto tampered = sealed;
  tampered[8] ^= 1;  // the header (generation) is authenticated too
  EXPECT_THAT(OpenBlock(aek_, where, tampered), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(OpenBlock(aek_, where, std::span<const uint8_t>(sealed.data(), 10)), StatusIs(StatusCode::kDataLoss));
}

TEST_F(SealedBlockTest, DoubleEncryptionWrapsTheObjectWithChaCha20Poly1305) {
  SecretBytes infra = random_.NewSecret(32);
  BlockAddress where{extent_, 0, "Message"};
  auto inner = *SealBlock(aek_, 1, where, AsBytes("secret"), random_);
  auto outer = SealObject(infra, 5, "acct1/extents/e1", inner, random_);
  ASSERT_THAT(outer, IsOk());
  EXPECT_EQ(std::string(outer->begin(), outer->begin() + 4), "CMKI");
  EXPECT_EQ((*outer)[5], 2);  // ChaCha20-Poly1305
  EXPECT_THAT(OpenObject(infra, "acct1/extents/e2", *outer), StatusIs(StatusCode::kDataLoss));
  auto back = OpenObject(infra, "acct1/extents/e1", *outer);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, inner);
  EXPECT_EQ(OpenBlock(aek_, where, *back)->AsStringView(), "secret");
}

TEST_F(SealedBlockTest, InPlaceObjectSealingMatchesTheCopyingLayoutAndBlockAppendsAfterContent) {
  SecretBytes infra = random_.NewSecret(32);
  std::vector<uint8_t> inner;
  inner.push_back(7);  // content already in the buffer stays
  BlockAddress where{extent_, 3, "Level"};
  ASSERT_THAT(SealBlockAppend(aek_, 2, where, AsBytes("payload"), random_, inner), IsOk());
  ASSERT_EQ(inner[0], 7);
  std::vector<uint8_t> block(inner.begin() + 1, inner.end());
  EXPECT_EQ(OpenBlock(aek_, where, block)->AsStringView(), "payload");
  EXPECT_EQ(*BlockKeyGeneration(block), 2u);

  std::vector<uint8_t> buf = block;  // room for the header in front
  buf.insert(buf.begin(), kBlockHeaderSize, uint8_t{0});
  ASSERT_THAT(SealObjectInPlace(infra, 5, "acct1/extents/e1", buf, random_), IsOk());
  EXPECT_EQ(buf.size(), block.size() + kSealOverhead);
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + 4), "CMKI");
  EXPECT_EQ(std::search(buf.begin(), buf.end(), block.begin() + kBlockHeaderSize, block.end()), buf.end());
  EXPECT_THAT(OpenObject(infra, "acct1/extents/e2", buf), StatusIs(StatusCode::kDataLoss));
  auto back = OpenObject(infra, "acct1/extents/e1", buf);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, block);
  std::vector<uint8_t> tiny(3);
  EXPECT_THAT(SealObjectInPlace(infra, 5, "x", tiny, random_), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(SealedBlockTest, InPlaceBlockSealingOpensLikeAnAppendedBlockAndCutsBackOnFailure) {
  BlockAddress where{extent_, 9, "Message"};
  std::string plain = "the block's plaintext, compressed or not";
  auto buffer = [&] {  // 2 bytes of earlier content, room for the header, the plaintext
    std::vector<uint8_t> b(2 + kBlockHeaderSize + plain.size());
    b[0] = 1;
    b[1] = 2;
    std::memcpy(b.data() + 2 + kBlockHeaderSize, plain.data(), plain.size());
    return b;
  };
  std::vector<uint8_t> buf = buffer();
  ASSERT_THAT(SealBlockInPlace(aek_, 4, where, buf, 2, random_), IsOk());
  EXPECT_EQ(buf[0], 1);
  EXPECT_EQ(buf[1], 2);
  std::vector<uint8_t> block(buf.begin() + 2, buf.end());
  EXPECT_EQ(block.size(), plain.size() + kSealOverhead);
  EXPECT_EQ(std::search(block.begin(), block.end(), plain.begin(), plain.end()), block.end());
  EXPECT_EQ(OpenBlock(aek_, where, block)->AsStringView(), plain);
  EXPECT_EQ(*BlockKeyGeneration(block), 4u);
  BlockAddress elsewhere{extent_, 10, "Message"};
  EXPECT_THAT(OpenBlock(aek_, elsewhere, block), StatusIs(StatusCode::kDataLoss));

  // A key of the wrong size fails, and the buffer is cut back to what it held before.
  SecretBytes short_key = random_.NewSecret(16);
  std::vector<uint8_t> again = buffer();
  EXPECT_FALSE(SealBlockInPlace(short_key, 4, where, again, 2, random_).ok());
  EXPECT_EQ(again, (std::vector<uint8_t>{1, 2}));
  std::vector<uint8_t> no_room(5);
  EXPECT_THAT(SealBlockInPlace(aek_, 4, where, no_room, 2, random_), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(SealedBlockTest, LongColumnNamesAndObjectNamesAreBoundWhole) {
  // AADs past the stack buffer (about 190 bytes) are joined on the heap: same binding.
  std::string column(300, 'c');
  std::vector<uint8_t> context(50, 7);
  BlockAddress where{extent_, 1, column, context};
  auto sealed = *SealBlock(aek_, 1, where, AsBytes("payload"), random_);
  EXPECT_EQ(OpenBlock(aek_, where, sealed)->AsStringView(), "payload");
  std::string other_column = column;
  other_column.back() = 'd';
  EXPECT_THAT(OpenBlock(aek_, BlockAddress{extent_, 1, other_column, context}, sealed),
              StatusIs(StatusCode::kDataLoss));
  context.back() = 8;
  EXPECT_THAT(OpenBlock(aek_, BlockAddress{extent_, 1, column, context}, sealed),
              StatusIs(StatusCode::kDataLoss));
  SecretBytes infra = random_.NewSecret(32);
  std::string name(400, 'n');
  auto object = *SealObject(infra, 1, name, AsBytes("object"), random_);
  EXPECT_EQ(OpenObject(infra, name, object)->size(), 6u);
  EXPECT_THAT(OpenObject(infra, name.substr(1), object), StatusIs(StatusCode::kDataLoss));
}

}  // namespace
}  // namespace cmk::storage
