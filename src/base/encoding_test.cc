#include "base/encoding.h"

#include <gtest/gtest.h>

#include "base/secret_bytes.h"
#include "base/testing.h"

namespace cmk {
namespace {

using testing::StatusIs;

TEST(EncodingTest, Base64RoundTrips) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto enc = Base64Encode(AsBytes(s));
    auto dec = Base64Decode(enc);
    ASSERT_TRUE(dec.ok()) << enc;
    EXPECT_EQ(std::string(dec->begin(), dec->end()), s);
  }
  EXPECT_EQ(Base64Encode(AsBytes("foobar")), "Zm9vYmFy");
  EXPECT_EQ(Base64Encode(AsBytes("fo")), "Zm8=");
}

TEST(EncodingTest, Base64UrlHasNoPaddingAndUrlAlphabet) {
  std::vector<uint8_t> bytes = {0xfb, 0xff, 0xfe};
  EXPECT_EQ(Base64UrlEncode(bytes), "-__-");
  EXPECT_EQ(Base64UrlEncode(AsBytes("fo")), "Zm8");
  auto dec = Base64UrlDecode("Zm8");
  ASSERT_TRUE(dec.ok());
  EXPECT_EQ(AsChars(*dec), "fo");
  EXPECT_THAT(Base64UrlDecode("Z"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Base64UrlDecode("ab+c"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(EncodingTest, GuidHasVersionAndVariant) {
  std::array<uint8_t, 16> b{};
  b.fill(0xff);
  std::string g = FormatGuidV4(b);
  EXPECT_EQ(g, "ffffffff-ffff-4fff-bfff-ffffffffffff");
  EXPECT_TRUE(IsGuid(g));
  EXPECT_FALSE(IsGuid("ffffffff-ffff-4fff-bfff-fffffffffff"));
  EXPECT_FALSE(IsGuid("ffffffffxffff-4fff-bfff-ffffffffffff"));
}

TEST(EncodingTest, EscapeForLogKeepsOneLine) {
  EXPECT_EQ(EscapeForLog("/a b/c"), "/a b/c");
  EXPECT_EQ(EscapeForLog("/x\nrequest rid=forged\r"), "/x\\x0arequest rid=forged\\x0d");
  EXPECT_EQ(EscapeForLog("a\\b\x7f\xc3"), "a\\x5cb\\x7f\\xc3");
  EXPECT_EQ(EscapeForLog(std::string(10, 'a'), 4), "aaaa...");
  EXPECT_EQ(EscapeForLog(std::string_view("\0", 1)), "\\x00");
}

TEST(EncodingTest, PercentDecodeHandlesEscapesAndPlus) {
  EXPECT_EQ(*PercentDecode("api%2Dversion", false), "api-version");
  EXPECT_EQ(*PercentDecode("a+b", true), "a b");
  EXPECT_EQ(*PercentDecode("a+b", false), "a+b");
  EXPECT_THAT(PercentDecode("%4", false), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(PercentDecode("%zz", false), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(PercentEncode("a b/c"), "a%20b%2Fc");
}

TEST(EncodingTest, CaseInsensitiveHelpers) {
  EXPECT_TRUE(EqualsIgnoreCase("resourceGroups", "resourcegroups"));
  EXPECT_FALSE(EqualsIgnoreCase("abc", "abcd"));
  EXPECT_TRUE(StartsWithIgnoreCase("/Subscriptions/x", "/subscriptions"));
}

TEST(SecretBytesTest, ConstantTimeEqualsComparesContentAndLength) {
  EXPECT_TRUE(ConstantTimeEquals(std::string_view("abc"), std::string_view("abc")));
  EXPECT_FALSE(ConstantTimeEquals(std::string_view("abc"), std::string_view("abd")));
  EXPECT_FALSE(ConstantTimeEquals(std::string_view("abc"), std::string_view("ab")));
}

TEST(SecretBytesTest, MoveLeavesSourceEmptyAndWipeClears) {
  SecretBytes a = SecretBytes::FromString("key material");
  SecretBytes b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(b.AsStringView(), "key material");
  SecretBytes c = b.Clone();
  b.Wipe();
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(c.size(), 12u);
}

}  // namespace
}  // namespace cmk
