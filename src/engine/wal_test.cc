#include "engine/wal.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "base/testing.h"
#include "env/env.h"

namespace cmk::engine {
namespace {

using testing::IsOk;

std::span<const uint8_t> Bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }

class WalTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = ::testing::TempDir() + "/wal_" + env::SecureRandom().NewGuid(); }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::vector<std::string> ReplayAll() {
    auto w = Wal::Open(dir_);
    EXPECT_THAT(w, IsOk());
    std::vector<std::string> out;
    EXPECT_THAT((*w)->Replay([&](uint64_t, std::span<const uint8_t> p) {
      out.emplace_back(p.begin(), p.end());
      return OkStatus();
    }),
                IsOk());
    return out;
  }
  std::string dir_;
};

TEST_F(WalTest, AppendedRecordsReplayInOrderAfterReopen) {
  {
    auto w = Wal::Open(dir_);
    ASSERT_THAT(w, IsOk());
    ASSERT_THAT((*w)->Replay([](uint64_t, std::span<const uint8_t>) { return OkStatus(); }), IsOk());
    for (int i = 0; i < 10; ++i) ASSERT_THAT((*w)->Append(Bytes("record " + std::to_string(i))), IsOk());
  }
  auto got = ReplayAll();
  ASSERT_EQ(got.size(), 10u);
  EXPECT_EQ(got[3], "record 3");
}

TEST_F(WalTest, ATornTailIsCutAndLaterAppendsSurvive) {
  {
    auto w = Wal::Open(dir_);
    ASSERT_THAT((*w)->Append(Bytes("one")), IsOk());
    ASSERT_THAT((*w)->Append(Bytes("two")), IsOk());
  }
  std::string seg = dir_ + "/00000000000000000001.wal";
  std::filesystem::resize_file(seg, std::filesystem::file_size(seg) - 2);
  {
    auto w = Wal::Open(dir_);
    std::vector<std::string> got;
    ASSERT_THAT((*w)->Replay([&](uint64_t, std::span<const uint8_t> p) {
      got.emplace_back(p.begin(), p.end());
      return OkStatus();
    }),
                IsOk());
    EXPECT_EQ(got, std::vector<std::string>{"one"});
    ASSERT_THAT((*w)->Append(Bytes("three")), IsOk());
  }
  EXPECT_EQ(ReplayAll(), (std::vector<std::string>{"one", "three"}));
}

TEST_F(WalTest, DamageBeforeTheLastSegmentIsDataLoss) {
  {
    auto w = Wal::Open(dir_);
    ASSERT_THAT((*w)->Append(Bytes("one")), IsOk());
    ASSERT_THAT((*w)->Rotate(), IsOk());
    ASSERT_THAT((*w)->Append(Bytes("two")), IsOk());
  }
  {
    std::fstream f(dir_ + "/00000000000000000001.wal", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(9);
    f.put('X');
  }
  auto w = Wal::Open(dir_);
  EXPECT_THAT((*w)->Replay([](uint64_t, std::span<const uint8_t>) { return OkStatus(); }),
              testing::StatusIs(StatusCode::kDataLoss));
}

TEST_F(WalTest, DropThroughRemovesFlushedSegmentsOnly) {
  auto w = Wal::Open(dir_);
  ASSERT_THAT((*w)->Append(Bytes("a")), IsOk());
  auto closed = (*w)->Rotate();
  ASSERT_THAT(closed, IsOk());
  ASSERT_THAT((*w)->Append(Bytes("b")), IsOk());
  ASSERT_THAT((*w)->DropThrough(*closed), IsOk());
  w->reset();
  EXPECT_EQ(ReplayAll(), std::vector<std::string>{"b"});
}

TEST_F(WalTest, ConcurrentAppendsShareSyncs) {
  auto w = Wal::Open(dir_);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) EXPECT_THAT((*w)->Append(Bytes(std::to_string(t * 100 + i))), IsOk());
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LT((*w)->syncs(), 400u);  // group commit: fewer syncs than appends
  w->reset();
  EXPECT_EQ(ReplayAll().size(), 400u);
}

}  // namespace
}  // namespace cmk::engine
