#include "engine/wal.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "base/encoding.h"
#include "base/testing.h"
#include "engine/wal_test_util.h"
#include "env/env.h"

namespace cmk::engine {
namespace {

using testing::IsOk;

class WalTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = ::testing::TempDir() + "/wal_" + env::SecureRandom().NewGuid(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::vector<std::string> ReplayAll() {
    auto w = Wal::Open(&fs_, dir_);
    EXPECT_THAT(w, IsOk());
    std::vector<std::string> out;
    EXPECT_THAT((*w)->Replay([&](const WalRecord& r) -> Result<bool> {
      out.emplace_back(r.payload.begin(), r.payload.end());
      return false;
    }),
                IsOk());
    return out;
  }
  env::PosixFileSystem fs_;
  std::string dir_;
};

TEST_F(WalTest, AppendedRecordsReplayInOrderAfterReopen) {
  {
    auto w = Wal::Open(&fs_, dir_);
    ASSERT_THAT(w, IsOk());
    ASSERT_THAT((*w)->Replay([](const WalRecord&) -> Result<bool> { return false; }), IsOk());
    for (int i = 0; i < 10; ++i) ASSERT_THAT((*w)->AppendForTest(AsBytes("record " + std::to_string(i))), IsOk());
  }
  auto got = ReplayAll();
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(got[3], "record 3");
}

TEST_F(WalTest, ATornTailIsCutAndLaterAppendsSurvive) {
  {
    auto w = Wal::Open(&fs_, dir_);
    ASSERT_THAT((*w)->AppendForTest(AsBytes("one")), IsOk());
    ASSERT_THAT((*w)->AppendForTest(AsBytes("two")), IsOk());
  }
  std::string seg = dir_ + "/00000000000000000001.wal";
  std::filesystem::resize_file(seg, std::filesystem::file_size(seg) - 2);
  {
    auto w = Wal::Open(&fs_, dir_);
    std::vector<std::string> got;
    ASSERT_THAT((*w)->Replay([&](const WalRecord& r) -> Result<bool> {
      got.emplace_back(r.payload.begin(), r.payload.end());
      return false;
    }),
                IsOk());
    EXPECT_EQ(got, std::vector<std::string>{"one"});
    ASSERT_THAT((*w)->AppendForTest(AsBytes("three")), IsOk());
  }
  EXPECT_EQ(ReplayAll(), (std::vector<std::string>{"one", "three"}));
}

TEST_F(WalTest, DamageBeforeTheLastSegmentIsDataLoss) {
  {
    auto w = Wal::Open(&fs_, dir_);
    ASSERT_THAT((*w)->AppendForTest(AsBytes("one")), IsOk());
    ASSERT_THAT((*w)->Rotate(Closing), IsOk());
    ASSERT_THAT((*w)->AppendForTest(AsBytes("two")), IsOk());
  }
  {
    std::fstream f(dir_ + "/00000000000000000001.wal", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(9);
    f.put('X');
  }
  auto w = Wal::Open(&fs_, dir_);
  EXPECT_THAT((*w)->Replay([](const WalRecord&) -> Result<bool> { return false; }),
              testing::StatusIs(StatusCode::kDataLoss));
}

TEST_F(WalTest, DropThroughRemovesFlushedSegmentsOnly) {
  auto w = Wal::Open(&fs_, dir_);
  ASSERT_THAT((*w)->AppendForTest(AsBytes("a")), IsOk());
  auto closed = (*w)->Rotate(Closing);
  ASSERT_THAT(closed, IsOk());
  ASSERT_THAT((*w)->AppendForTest(AsBytes("b")), IsOk());
  ASSERT_THAT((*w)->DropThrough(*closed), IsOk());
  w->reset();
  EXPECT_EQ(ReplayAll(), std::vector<std::string>{"b"});
}

TEST_F(WalTest, SealersSeeTheirSegmentAndTheirNumberInItAcrossRotationsAndReopens) {
  std::vector<std::pair<uint64_t, uint64_t>> seen;
  auto sealer = [&](uint64_t segment, uint64_t index, std::vector<uint8_t>& out) {
    seen.emplace_back(segment, index);
    out.assign({'r'});
    return OkStatus();
  };
  {
    auto w = Wal::Open(&fs_, dir_);
    ASSERT_THAT((*w)->Replay([](const WalRecord&) -> Result<bool> { return false; }), IsOk());
    ASSERT_THAT((*w)->Append(sealer), IsOk());
    ASSERT_THAT((*w)->Append(sealer), IsOk());
    ASSERT_THAT((*w)->Rotate(Closing), IsOk());  // closing record: segment 1, index 3
    ASSERT_THAT((*w)->Append(sealer), IsOk());
  }
  {
    auto w = Wal::Open(&fs_, dir_);
    std::vector<std::pair<uint64_t, uint64_t>> replayed;
    ASSERT_THAT((*w)->Replay([&](const WalRecord& r) -> Result<bool> {
      replayed.emplace_back(r.segment, r.index);
      return r.payload.size() == 3;  // "end" closes its segment
    }),
                IsOk());
    EXPECT_EQ(replayed, (std::vector<std::pair<uint64_t, uint64_t>>{{1, 1}, {1, 2}, {1, 3}, {2, 1}}));
    ASSERT_THAT((*w)->Append(sealer), IsOk());  // numbering goes on after the reopen
  }
  EXPECT_EQ(seen, (std::vector<std::pair<uint64_t, uint64_t>>{{1, 1}, {1, 2}, {2, 1}, {2, 2}}));
}

TEST_F(WalTest, AppendsAfterAClosedNewestSegmentGoToTheNextOne) {
  // A crash between a segment's closing record and the next segment's creation.
  {
    auto w = Wal::Open(&fs_, dir_);
    ASSERT_THAT((*w)->AppendForTest(AsBytes("a")), IsOk());
    ASSERT_THAT((*w)->Rotate(Closing), IsOk());
  }
  std::filesystem::remove(dir_ + "/00000000000000000002.wal");
  auto w = Wal::Open(&fs_, dir_);
  ASSERT_THAT((*w)->Replay([](const WalRecord& r) -> Result<bool> { return r.payload.size() == 3; }), IsOk());
  EXPECT_EQ((*w)->current_segment(), 2u);
  ASSERT_THAT((*w)->AppendForTest(AsBytes("b")), IsOk());
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/00000000000000000002.wal"));
}

TEST_F(WalTest, NothingIsWrittenBelowTheGivenFirstSegment) {
  auto w = Wal::Open(&fs_, dir_, 7);
  ASSERT_THAT((*w)->Replay([](const WalRecord&) -> Result<bool> { return false; }), IsOk());
  ASSERT_THAT((*w)->AppendForTest(AsBytes("a")), IsOk());
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/00000000000000000007.wal"));
}

TEST_F(WalTest, ConcurrentAppendsShareSyncs) {
  auto w = Wal::Open(&fs_, dir_);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) EXPECT_THAT((*w)->AppendForTest(AsBytes(std::to_string(t * 100 + i))), IsOk());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LT((*w)->syncs(), 400u);  // group commit: fewer syncs than appends
  w->reset();
  EXPECT_EQ(ReplayAll().size(), 400u);
}

}  // namespace
}  // namespace cmk::engine
