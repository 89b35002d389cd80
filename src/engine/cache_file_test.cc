// The hot-cache file, version 2 (engine/cache_file.h): segments seal and open at every size
// around a segment boundary, any range reads back as written while decrypting only its
// segments, and every kind of damage — a flipped byte anywhere, a cut, swapped segments, a
// segment of another file or extent, another key — is DataLoss.
#include "engine/cache_file.h"

#include <gtest/gtest.h>

#include "base/testing.h"
#include "engine/log_store_test_util.h"
#include "env/mem_fs.h"

namespace cmk::engine {
namespace {

using testing::IsOk;
using testing::StatusIs;

constexpr char kPath[] = "/cache/x.cmkc";

class CacheFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = random_.NewSecret(32);
    random_.Fill(id_);
    ASSERT_THAT(mem_.CreateDirs("/cache", 0700), IsOk());
  }
  std::vector<uint8_t> Object(size_t n) {
    std::vector<uint8_t> o(n);
    random_.Fill(o);
    return o;
  }
  std::vector<uint8_t> Seal(std::span<const uint8_t> object, uint32_t segment) {
    auto f = SealCacheFile(key_, id_, object, random_, segment);
    EXPECT_THAT(f, IsOk());
    return f.ok() ? *f : std::vector<uint8_t>();
  }
  void Put(std::span<const uint8_t> file) {
    ASSERT_THAT(mem_.WriteFileReplacing(kPath, {file}, 0600, false), IsOk());
  }
  Result<std::shared_ptr<CacheFileSource>> OpenFile(const SecretBytes& key,
                                                    const storage::ExtentId& id) {
    ASSIGN_OR_RETURN(auto f, counting_.NewRandomAccessFile(kPath));
    return CacheFileSource::Open(std::move(f), key.Clone(), id);
  }
  Result<std::shared_ptr<CacheFileSource>> OpenFile() { return OpenFile(key_, id_); }
  // The whole object read back from `file`, or the first error (opening or reading).
  Result<std::vector<uint8_t>> ReadBack(std::span<const uint8_t> file, const SecretBytes& key,
                                        const storage::ExtentId& id) {
    Put(file);
    ASSIGN_OR_RETURN(auto s, OpenFile(key, id));
    auto r = s->Read(0, static_cast<size_t>(s->size()));
    if (!r.ok()) {
      EXPECT_TRUE(s->failed());
    }
    return r;
  }
  Result<std::vector<uint8_t>> ReadBack(std::span<const uint8_t> file) {
    return ReadBack(file, key_, id_);
  }

  env::SeededRandom random_{20261204};
  SecretBytes key_;
  storage::ExtentId id_{};
  env::MemFileSystem mem_;
  CountingFileSystem counting_{&mem_};
};

TEST_F(CacheFileTest, SegmentsSealAndOpenAtEverySizeAroundASegmentBoundary) {
  for (uint32_t seg : {64u, kCacheSegmentSize}) {
    for (size_t n : {size_t{0}, size_t{1}, size_t{seg} - 1, size_t{seg}, size_t{seg} + 1,
                     size_t{5} * seg + 7}) {
      std::vector<uint8_t> object = Object(n);
      std::vector<uint8_t> file = Seal(object, seg);
      size_t segments = n == 0 ? 1 : (n + seg - 1) / seg;
      ASSERT_EQ(file.size(), kCacheHeaderSize + n + 16 * segments) << seg << " " << n;
      EXPECT_TRUE(IsCacheFileV2(file));
      auto back = ReadBack(file);
      ASSERT_THAT(back, IsOk()) << seg << " " << n;
      EXPECT_EQ(*back, object) << seg << " " << n;
    }
  }
}

TEST_F(CacheFileTest, HeaderHoldsMagicVersionSegmentSizeObjectSizeAndARandomNonceBase) {
  std::vector<uint8_t> object = Object(1000);
  std::vector<uint8_t> a = Seal(object, 256), b = Seal(object, 256);
  EXPECT_EQ(std::string(a.begin(), a.begin() + 4), "CMKC");
  EXPECT_EQ(a[4], 2);
  EXPECT_EQ(a[5] | a[6] | a[7], 0);
  EXPECT_EQ(LoadU32(a.data() + 8), 256u);
  EXPECT_EQ(LoadU64(a.data() + 12), 1000u);
  EXPECT_NE(std::vector<uint8_t>(a.begin() + 20, a.begin() + 32),
            std::vector<uint8_t>(b.begin() + 20, b.begin() + 32));
  EXPECT_NE(a, b);  // another nonce base: other ciphertexts
  EXPECT_THAT(SealCacheFile(key_, id_, object, random_, 8), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(CacheFileTest, AnyRangeReadsBackAsWrittenAndDecryptsOnlyItsSegments) {
  constexpr uint32_t kSeg = 1000;
  std::vector<uint8_t> object = Object(20 * kSeg + 333);
  Put(Seal(object, kSeg));
  auto s = OpenFile();
  ASSERT_THAT(s, IsOk());
  ASSERT_EQ((*s)->size(), object.size());
  env::SeededRandom pick(99);
  for (int i = 0; i < 500; ++i) {
    uint64_t at = pick.NextU64() % (object.size() + 1);
    size_t n = static_cast<size_t>(
        pick.NextU64() % (i % 5 == 0 ? object.size() - at + 1
                                     : std::min<uint64_t>(3 * kSeg, object.size() - at + 1)));
    counting_.Reset();
    auto got = (*s)->Read(at, n);
    ASSERT_THAT(got, IsOk()) << at << " " << n;
    ASSERT_EQ(*got, std::vector<uint8_t>(object.begin() + static_cast<std::ptrdiff_t>(at),
                                         object.begin() + static_cast<std::ptrdiff_t>(at + n)))
        << at << " " << n;
    // At most the segments that hold the range (with their tags) were read from the file.
    uint64_t covering = n == 0 ? 0 : (at + n - 1) / kSeg - at / kSeg + 1;
    EXPECT_LE(counting_.counts.cache.load(), covering * (kSeg + 16)) << at << " " << n;
  }
  EXPECT_THAT((*s)->Read(object.size() - 1, 2), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT((*s)->Read(UINT64_MAX, 1), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_FALSE((*s)->failed());
}

TEST_F(CacheFileTest, AdjacentReadsDoNotReadTheirSharedSegmentTwice) {
  constexpr uint32_t kSeg = 1000;
  std::vector<uint8_t> object = Object(10 * kSeg);
  Put(Seal(object, kSeg));
  auto s = OpenFile();
  ASSERT_THAT(s, IsOk());
  counting_.Reset();
  ASSERT_THAT((*s)->Read(500, 2000), IsOk());  // segments 0-2
  EXPECT_EQ(counting_.counts.cache.load(), 3u * (kSeg + 16));
  ASSERT_THAT((*s)->Read(2500, 1000), IsOk());  // segments 2-3: 2 remembered
  EXPECT_EQ(counting_.counts.cache.load(), 4u * (kSeg + 16));
}

TEST_F(CacheFileTest, AFlippedByteAnywhereInTheFileIsDataLoss) {
  std::vector<uint8_t> object = Object(3 * 64 + 10);
  std::vector<uint8_t> file = Seal(object, 64);
  for (size_t i = 0; i < file.size(); ++i) {
    std::vector<uint8_t> bad = file;
    bad[i] ^= 0x01;
    EXPECT_THAT(ReadBack(bad), StatusIs(StatusCode::kDataLoss)) << "byte " << i;
  }
}

TEST_F(CacheFileTest, ACutOrExtendedFileIsDataLossEvenWithItsHeaderMadeToMatch) {
  constexpr uint32_t kSeg = 64;
  std::vector<uint8_t> object = Object(4 * kSeg);
  std::vector<uint8_t> file = Seal(object, kSeg);
  for (size_t cut : {size_t{1}, size_t{16}, size_t{kSeg + 16}, file.size() - kCacheHeaderSize,
                     file.size() - 5}) {
    std::vector<uint8_t> bad(file.begin(), file.end() - static_cast<std::ptrdiff_t>(cut));
    EXPECT_THAT(ReadBack(bad), StatusIs(StatusCode::kDataLoss)) << cut;
  }
  // The last segment dropped and the header's object size lowered to match: the new last
  // segment wasn't sealed as the last one, and the header differs from the one it was sealed with.
  std::vector<uint8_t> shorter(file.begin(), file.end() - (kSeg + 16));
  uint64_t size = 3 * kSeg;
  for (int i = 0; i < 8; ++i) shorter[12 + i] = static_cast<uint8_t>(size >> (8 * i));
  EXPECT_THAT(ReadBack(shorter), StatusIs(StatusCode::kDataLoss));
  std::vector<uint8_t> longer = file;
  longer.push_back(0);
  EXPECT_THAT(ReadBack(longer), StatusIs(StatusCode::kDataLoss));
}

TEST_F(CacheFileTest, SwappedSegmentsAreDataLoss) {
  constexpr uint32_t kSeg = 64;
  std::vector<uint8_t> object = Object(4 * kSeg);
  std::vector<uint8_t> file = Seal(object, kSeg);
  auto seg = [&](std::vector<uint8_t>& f, size_t i) {
    return f.begin() + static_cast<std::ptrdiff_t>(kCacheHeaderSize + i * (kSeg + 16));
  };
  std::vector<uint8_t> bad = file;
  std::swap_ranges(seg(bad, 1), seg(bad, 2), seg(bad, 2));
  EXPECT_THAT(ReadBack(bad), StatusIs(StatusCode::kDataLoss));
  // Each swapped segment fails at its own place; the others still read.
  Put(bad);
  auto s = OpenFile();
  ASSERT_THAT(s, IsOk());
  EXPECT_THAT((*s)->Read(0, kSeg), IsOk());
  EXPECT_THAT((*s)->Read(kSeg, 1), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT((*s)->Read(2 * kSeg + 5, 1), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT((*s)->Read(3 * kSeg, kSeg), IsOk());
  EXPECT_TRUE((*s)->failed());
}

TEST_F(CacheFileTest, ASegmentOfAnotherFileOrAnotherExtentOrAnotherKeyIsDataLoss) {
  constexpr uint32_t kSeg = 64;
  std::vector<uint8_t> object = Object(4 * kSeg);
  std::vector<uint8_t> file = Seal(object, kSeg);
  // The same object sealed again (same key and extent, another nonce base): its segment 1
  // spliced into the first file doesn't open there.
  std::vector<uint8_t> other = Seal(object, kSeg);
  std::vector<uint8_t> spliced = file;
  size_t at = kCacheHeaderSize + kSeg + 16;
  std::copy(other.begin() + static_cast<std::ptrdiff_t>(at),
            other.begin() + static_cast<std::ptrdiff_t>(at + kSeg + 16),
            spliced.begin() + static_cast<std::ptrdiff_t>(at));
  EXPECT_THAT(ReadBack(spliced), StatusIs(StatusCode::kDataLoss));
  // Its header over the first file's segments: nothing opens.
  std::vector<uint8_t> reheaded = file;
  std::copy(other.begin(), other.begin() + kCacheHeaderSize, reheaded.begin());
  EXPECT_THAT(ReadBack(reheaded), StatusIs(StatusCode::kDataLoss));
  // Another extent's id, or another key.
  storage::ExtentId another = id_;
  another[15] ^= 1;
  EXPECT_THAT(ReadBack(file, key_, another), StatusIs(StatusCode::kDataLoss));
  SecretBytes wrong = random_.NewSecret(32);
  EXPECT_THAT(ReadBack(file, wrong, id_), StatusIs(StatusCode::kDataLoss));
  // The same segment index of another extent's file (same key): DataLoss too.
  storage::ExtentId id_b = id_;
  id_b[0] ^= 0x80;
  auto file_b = SealCacheFile(key_, id_b, object, random_, kSeg);
  ASSERT_THAT(file_b, IsOk());
  std::vector<uint8_t> mixed = file;
  std::copy(file_b->begin() + static_cast<std::ptrdiff_t>(at),
            file_b->begin() + static_cast<std::ptrdiff_t>(at + kSeg + 16),
            mixed.begin() + static_cast<std::ptrdiff_t>(at));
  EXPECT_THAT(ReadBack(mixed), StatusIs(StatusCode::kDataLoss));
  // The untouched file still reads.
  EXPECT_THAT(ReadBack(file), IsOk());
}

TEST_F(CacheFileTest, AFileThatIsNotVersion2IsDataLossAtOpen) {
  std::vector<uint8_t> v1(200);
  random_.Fill(v1);
  v1[0] = 'X';
  EXPECT_FALSE(IsCacheFileV2(v1));
  Put(v1);
  auto s = OpenFile();
  EXPECT_THAT(s, StatusIs(StatusCode::kDataLoss));
  Put(std::span<const uint8_t>(v1).first(3));
  EXPECT_THAT(OpenFile(), StatusIs(StatusCode::kDataLoss));
}

}  // namespace
}  // namespace cmk::engine
