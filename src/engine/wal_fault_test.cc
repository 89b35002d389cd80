// The WAL on MemFileSystem and FaultFileSystem: failed writes and syncs, a full disk, torn
// writes and crashes that drop what was not synced. What must hold: an acknowledged record
// survives every crash; every I/O error fails its Append with a clear Status.
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "base/encoding.h"
#include "base/testing.h"
#include "engine/wal.h"
#include "engine/wal_test_util.h"
#include "env/env.h"
#include "env/fault_fs.h"
#include "env/mem_fs.h"

namespace cmk::engine {
namespace {

using testing::IsOk;
using testing::StatusIs;

class WalFaultTest : public ::testing::Test {
 protected:
  static constexpr char kDir[] = "/data/wal/acct";

  std::unique_ptr<Wal> OpenReplayed(std::vector<std::string>* replayed = nullptr) {
    auto w = Wal::Open(&fs_, kDir);
    EXPECT_THAT(w, IsOk());
    if (!w.ok()) return nullptr;
    EXPECT_THAT((*w)->Replay([&](const WalRecord& r) -> Result<bool> {
      std::string p(r.payload.begin(), r.payload.end());
      if (replayed != nullptr && p != "end") replayed->push_back(p);
      return p == "end";
    }),
                IsOk());
    return std::move(*w);
  }
  std::vector<std::string> CrashAndReplay(std::unique_ptr<Wal>& w) {
    w.reset();
    EXPECT_THAT(fs_.SimulateCrash(), IsOk());
    std::vector<std::string> out;
    w = OpenReplayed(&out);
    return out;
  }

  env::MemFileSystem mem_;
  env::FaultFileSystem fs_{&mem_};
};

TEST_F(WalFaultTest, AcknowledgedAppendSurvivesCrashThatDropsUnsyncedData) {
  auto w = OpenReplayed();
  ASSERT_THAT(w->AppendForTest(AsBytes("one")), IsOk());
  ASSERT_THAT(w->AppendForTest(AsBytes("two")), IsOk());
  fs_.FailAllSyncs(true);  // "three" reaches the file but is never synced, nor acknowledged
  EXPECT_THAT(w->AppendForTest(AsBytes("three")), StatusIs(StatusCode::kInternal));
  EXPECT_EQ(mem_.GetFileSize(std::string(kDir) + "/00000000000000000001.wal").value(), 3u * 8 + 11);
  fs_.FailAllSyncs(false);
  EXPECT_EQ(CrashAndReplay(w), (std::vector<std::string>{"one", "two"}));
  ASSERT_THAT(w->AppendForTest(AsBytes("four")), IsOk());
  EXPECT_EQ(CrashAndReplay(w), (std::vector<std::string>{"one", "two", "four"}));
}

TEST_F(WalFaultTest, FailedFsyncFailsTheAppendAndLaterAppendsToo) {
  auto w = OpenReplayed();
  ASSERT_THAT(w->AppendForTest(AsBytes("one")), IsOk());
  fs_.FailNthSync(1);
  Status failed = w->AppendForTest(AsBytes("two"));
  EXPECT_THAT(failed, StatusIs(StatusCode::kInternal));
  EXPECT_NE(failed.message().find("injected"), std::string::npos) << failed.ToString();
  // The disk answers again, but the log can't know what the failed sync lost: it refuses.
  Status later = w->AppendForTest(AsBytes("three"));
  EXPECT_THAT(later, StatusIs(StatusCode::kInternal));
  EXPECT_NE(later.message().find("reopened"), std::string::npos) << later.ToString();
  EXPECT_THAT(w->Rotate(Closing), StatusIs(StatusCode::kInternal));
  // Reopening recovers: the acknowledged record is there, "two" and "three" may not be.
  auto replayed = CrashAndReplay(w);
  ASSERT_FALSE(replayed.empty());
  EXPECT_EQ(replayed[0], "one");
  EXPECT_EQ(replayed, std::vector<std::string>{"one"});  // "two" was never synced: dropped
  EXPECT_THAT(w->AppendForTest(AsBytes("four")), IsOk());
}

TEST_F(WalFaultTest, ConcurrentAppendersSharingAFailedSyncAllFail) {
  auto w = OpenReplayed();
  ASSERT_THAT(w->AppendForTest(AsBytes("before")), IsOk());
  fs_.FailAllSyncs(true);
  std::atomic<int> acknowledged{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        if (w->AppendForTest(AsBytes("t" + std::to_string(t) + "." + std::to_string(i))).ok()) {
          acknowledged++;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(acknowledged.load(), 0);
  fs_.FailAllSyncs(false);
  EXPECT_EQ(CrashAndReplay(w), std::vector<std::string>{"before"});
}

TEST_F(WalFaultTest, FullDiskFailsTheAppendAndLaterAppendsResumeWhenSpaceReturns) {
  auto w = OpenReplayed();
  ASSERT_THAT(w->AppendForTest(AsBytes("one")), IsOk());
  fs_.SetSpaceLeft(5);  // the next record's header doesn't even fit
  Status full = w->AppendForTest(AsBytes("two"));
  EXPECT_THAT(full, StatusIs(StatusCode::kResourceExhausted));
  EXPECT_NE(full.message().find("no space left"), std::string::npos) << full.ToString();
  EXPECT_THAT(w->AppendForTest(AsBytes("still full")), StatusIs(StatusCode::kResourceExhausted));
  fs_.SetSpaceLeft(std::nullopt);
  ASSERT_THAT(w->AppendForTest(AsBytes("three")), IsOk());
  // The torn bytes of "two" were cut off: "three" is not hidden behind them.
  EXPECT_EQ(CrashAndReplay(w), (std::vector<std::string>{"one", "three"}));
}

TEST_F(WalFaultTest, ShortWriteIsCutOffSoLaterRecordsReplay) {
  auto w = OpenReplayed();
  ASSERT_THAT(w->AppendForTest(AsBytes("one")), IsOk());
  fs_.ShortNthWrite(1);
  EXPECT_THAT(w->AppendForTest(AsBytes("torn record")), StatusIs(StatusCode::kInternal));
  ASSERT_THAT(w->AppendForTest(AsBytes("two")), IsOk());
  EXPECT_EQ(CrashAndReplay(w), (std::vector<std::string>{"one", "two"}));
}

TEST_F(WalFaultTest, FailedWriteFailsOnlyItsAppend) {
  auto w = OpenReplayed();
  fs_.FailNthWrite(2);
  ASSERT_THAT(w->AppendForTest(AsBytes("one")), IsOk());
  EXPECT_THAT(w->AppendForTest(AsBytes("two")), StatusIs(StatusCode::kInternal));
  ASSERT_THAT(w->AppendForTest(AsBytes("three")), IsOk());
  EXPECT_EQ(CrashAndReplay(w), (std::vector<std::string>{"one", "three"}));
}

TEST_F(WalFaultTest, RotatedSegmentsAndDroppedOnesAreDurable) {
  auto w = OpenReplayed();
  ASSERT_THAT(w->AppendForTest(AsBytes("a")), IsOk());
  auto closed = w->Rotate(Closing);
  ASSERT_THAT(closed, IsOk());
  ASSERT_THAT(w->AppendForTest(AsBytes("b")), IsOk());
  EXPECT_EQ(CrashAndReplay(w), (std::vector<std::string>{"a", "b"}));
  ASSERT_THAT(w->DropThrough(*closed), IsOk());
  EXPECT_EQ(CrashAndReplay(w), std::vector<std::string>{"b"});
}

TEST_F(WalFaultTest, FailedSegmentCreationFailsTheAppendAndIsRetried) {
  fs_.FailAllSyncs(true);  // the new segment's directory entry can't be made durable
  auto w = Wal::Open(&fs_, kDir);
  ASSERT_THAT(w, IsOk());
  EXPECT_THAT((*w)->AppendForTest(AsBytes("a")), StatusIs(StatusCode::kInternal));
  fs_.FailAllSyncs(false);
  ASSERT_THAT((*w)->AppendForTest(AsBytes("b")), IsOk());
  std::unique_ptr<Wal> owned = std::move(*w);
  EXPECT_EQ(CrashAndReplay(owned), std::vector<std::string>{"b"});
}

// Random faults and crashes: after each crash the replay holds every acknowledged record, in
// order, and nothing that was never appended.
TEST_F(WalFaultTest, RandomFaultsNeverLoseAnAcknowledgedRecord) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    env::MemFileSystem mem;
    env::FaultFileSystem fs(&mem);
    env::SeededRandom rnd(seed);
    std::vector<std::string> acked;  // in append order
    std::set<std::string> attempted;
    int next = 0;
    for (int round = 0; round < 5; ++round) {
      auto w = Wal::Open(&fs, kDir);
      ASSERT_THAT(w, IsOk());
      std::vector<std::string> replayed;
      ASSERT_THAT((*w)->Replay([&](const WalRecord& r) -> Result<bool> {
        std::string p(r.payload.begin(), r.payload.end());
        if (p != "end") replayed.push_back(p);
        return p == "end";
      }),
                  IsOk());
      size_t at = 0;  // acknowledged records appear in order among the replayed ones
      for (const auto& p : replayed) {
        EXPECT_TRUE(attempted.count(p)) << p;
        if (at < acked.size() && p == acked[at]) ++at;
      }
      ASSERT_EQ(at, acked.size()) << "an acknowledged record is missing";
      acked.assign(replayed.begin(), replayed.end());  // what survived is now durable
      for (int op = 0; op < 30; ++op) {
        switch (rnd.NextU64() % 8) {
          case 0:
            fs.FailNthWrite(1);
            break;
          case 1:
            fs.ShortNthWrite(1);
            break;
          case 2:
            fs.FailNthSync(1);
            break;
          case 3:
            fs.SetSpaceLeft(rnd.NextU64() % 40);
            break;
          default:
            fs.SetSpaceLeft(std::nullopt);
            break;
        }
        if (rnd.NextU64() % 10 == 0) {
          (*w)->Rotate(Closing).status().IgnoreError();
          continue;
        }
        std::string rec = "r" + std::to_string(next++);
        attempted.insert(rec);
        if ((*w)->AppendForTest(AsBytes(rec)).ok()) acked.push_back(rec);
      }
      fs.FailNthWrite(0);
      fs.ShortNthWrite(0);
      fs.FailNthSync(0);
      fs.SetSpaceLeft(std::nullopt);
      w->reset();
      ASSERT_THAT(fs.SimulateCrash(), IsOk());
    }
  }
}

}  // namespace
}  // namespace cmk::engine
