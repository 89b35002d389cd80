#include "server/gzip_body.h"

#include <zlib.h>

#include <gtest/gtest.h>

#include <string>

#include "base/testing.h"

namespace cmk::server {
namespace {

using testing::IsOk;
using testing::StatusIs;

constexpr size_t kLimit = 1 << 20;
constexpr size_t kPadding = 64;

// One gzip member as zlib (and so Python's gzip module and the SDKs) writes it.
std::string Gzip(std::string_view raw, int level = 6) {
  z_stream z{};
  EXPECT_EQ(deflateInit2(&z, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
  std::string out(deflateBound(&z, raw.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(deflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string Records(size_t bytes) {
  std::string s = "[";
  for (int i = 0; s.size() + 64 < bytes; ++i) s += "{\"Message\":\"record " + std::to_string(i) + " of a body\"},";
  s.back() = ']';
  return s;
}

TEST(GzipBodyTest, InflatesOneMemberWithPaddingSpare) {
  std::string raw = Records(300'000);
  auto out = Gunzip(Gzip(raw), kLimit, kPadding);
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(*out, raw);
  EXPECT_GE(out->capacity(), out->size() + kPadding);
}

TEST(GzipBodyTest, InflatesConcatenatedMembers) {
  std::string a = Records(5'000), b = Records(200'000), c = "tail";
  auto out = Gunzip(Gzip(a) + Gzip(b, 1) + Gzip(c), kLimit, kPadding);
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(*out, a + b + c);
  EXPECT_GE(out->capacity(), out->size() + kPadding);
}

TEST(GzipBodyTest, EmptyMemberInflatesToNothing) {
  auto out = Gunzip(Gzip(""), kLimit, kPadding);
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(*out, "");
}

TEST(GzipBodyTest, ExactlyTheLimitIsAcceptedOneByteMoreIsNot) {
  std::string raw(kLimit, 'x');
  auto out = Gunzip(Gzip(raw), kLimit, kPadding);
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(out->size(), kLimit);
  EXPECT_THAT(Gunzip(Gzip(raw + "x"), kLimit, kPadding), StatusIs(StatusCode::kPayloadTooLarge));
}

TEST(GzipBodyTest, BombIsRefusedWithoutInflatingIt) {
  // ~200 KB inflating to 200 MB: refused as too large (the limit bounds the work, not the bomb).
  std::string bomb = Gzip(std::string(200 << 20, ' '), 9);
  auto out = Gunzip(bomb, kLimit, kPadding);
  EXPECT_THAT(out, StatusIs(StatusCode::kPayloadTooLarge));
  EXPECT_EQ(out.status().error_code(), "ContentLengthLimitExceeded");
}

TEST(GzipBodyTest, LyingSizeTrailerOnlyCostsARetry) {
  std::string raw = Records(100'000);
  std::string z = Gzip(raw);
  // ISIZE claims 10 bytes: the CRC/size check fails (libdeflate checks ISIZE), so it is refused;
  // a trailer that claims too much is only a bigger first guess.
  std::string small = z;
  small[small.size() - 4] = 10, small[small.size() - 3] = 0, small[small.size() - 2] = 0, small[small.size() - 1] = 0;
  EXPECT_THAT(Gunzip(small, kLimit, kPadding), StatusIs(StatusCode::kInvalidArgument));
  // Two members whose last ISIZE is tiny: the first member does not fit the guess and is
  // inflated again with the limit's room.
  auto out = Gunzip(z + Gzip("]"), kLimit, kPadding);
  ASSERT_THAT(out, IsOk());
  EXPECT_EQ(*out, raw + "]");
}

// One buffer reused from body to body (as a handler thread's): each answer is exactly its
// body with `padding` zero bytes readable after it, whether the buffer had to grow, was larger
// than needed, or grew in the middle of a body (a member past the last one's size, the members
// inflated before it kept).
TEST(GzipBodyTest, AReusedBufferHoldsEachBodyWithItsPadding) {
  InflateBuffer room;
  std::string big = Records(400'000), small = Records(3'000);
  for (const auto& [z, want] : std::vector<std::pair<std::string, std::string>>{
           {Gzip(small), small},
           {Gzip(big), big},
           {Gzip(small), small},
           {Gzip("x") + Gzip(big) + Gzip("yy"), "x" + big + "yy"},
           {Gzip(""), ""}}) {
    auto out = GunzipInto(z, kLimit, kPadding, room);
    ASSERT_THAT(out, IsOk());
    EXPECT_EQ(*out, want);
    EXPECT_EQ(std::string(out->data() + out->size(), kPadding), std::string(kPadding, '\0'));
  }
  EXPECT_THAT(GunzipInto(Gzip(std::string(kLimit + 1, 'x')), kLimit, kPadding, room),
              StatusIs(StatusCode::kPayloadTooLarge));
  InflateBuffer fresh_room;  // sized by the last member's 2 bytes, then grown past "x"
  auto fresh = GunzipInto(Gzip("x") + Gzip(big) + Gzip("yy"), kLimit, kPadding, fresh_room);
  ASSERT_THAT(fresh, IsOk());
  EXPECT_EQ(*fresh, "x" + big + "yy");
}

TEST(GzipBodyTest, MalformedTruncatedAndTrailingGarbageAreInvalid) {
  std::string z = Gzip(Records(50'000));
  for (const std::string& bad : {std::string(), std::string("\x1f\x8b\x08\x00garbage"), z.substr(0, z.size() / 2),
                                 z.substr(0, z.size() - 1), z + "garbage-after-the-member", z + std::string(20, '\0'),
                                 std::string(z.size(), 'A')}) {
    auto out = Gunzip(bad, kLimit, kPadding);
    EXPECT_THAT(out, StatusIs(StatusCode::kInvalidArgument)) << bad.size();
    if (!out.ok()) {
      EXPECT_EQ(out.status().error_code(), "InvalidContentEncoding");
    }
  }
  std::string flipped = z;
  flipped[z.size() / 2] ^= 0x55;  // corrupt deflate data or a CRC mismatch
  EXPECT_THAT(Gunzip(flipped, kLimit, kPadding), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace cmk::server
