#include "env/env.h"

#include <gtest/gtest.h>

#include <atomic>
#include <filesystem>
#include <vector>

#include "base/encoding.h"
#include "base/testing.h"
#include "env/offset_clock.h"

namespace cmk::env {
namespace {

using std::chrono::hours;
using std::chrono::minutes;

TEST(SimulatedClockTest, AdvanceFiresDueTimersInOrderAtTheirTime) {
  SimulatedClock clock(FromUnixSeconds(1000));
  std::vector<std::pair<int, TimePoint>> fired;
  clock.RunAfter(hours(2), [&] { fired.push_back({2, clock.Now()}); });
  clock.RunAfter(hours(1), [&] { fired.push_back({1, clock.Now()}); });
  clock.RunAfter(hours(48), [&] { fired.push_back({3, clock.Now()}); });
  clock.Advance(hours(3));
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0].first, 1);
  EXPECT_EQ(fired[0].second, FromUnixSeconds(1000) + hours(1));
  EXPECT_EQ(fired[1].first, 2);
  EXPECT_EQ(clock.Now(), FromUnixSeconds(1000) + hours(3));
  clock.Advance(hours(45));
  EXPECT_EQ(fired.size(), 3u);
}

TEST(SimulatedClockTest, PeriodicTimerRescheduledFromCallbackRunsEveryPeriod) {
  SimulatedClock clock(FromUnixSeconds(0));
  int runs = 0;
  std::function<void()> tick = [&] {
    ++runs;
    clock.RunAfter(minutes(30), tick);
  };
  clock.RunAfter(minutes(30), tick);
  clock.Advance(hours(24) * 14);
  EXPECT_EQ(runs, 14 * 48);
}

TEST(SimulatedClockTest, PeriodicTimerCoalescesAcrossOneAdvance) {
  SimulatedClock clock(FromUnixSeconds(0));
  std::vector<TimePoint> runs;
  auto id = clock.RunEvery(std::chrono::seconds(30), [&] { runs.push_back(clock.Now()); });
  clock.Advance(std::chrono::seconds(29));
  EXPECT_TRUE(runs.empty());
  clock.Advance(std::chrono::seconds(1));
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0], FromUnixSeconds(30));
  clock.Advance(hours(24 * 30));  // one run, at the last due time inside the jump
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1], FromUnixSeconds(30 + 24 * 30 * 3600));
  clock.Advance(std::chrono::seconds(30));
  EXPECT_EQ(runs.size(), 3u);
  EXPECT_TRUE(clock.Cancel(id));
  clock.Advance(hours(1));
  EXPECT_EQ(runs.size(), 3u);
}

// OffsetClock tests drive "real" time with a SimulatedClock as the base: no sleeps.
TEST(OffsetClockTest, NowTicksWithRealTimePlusTheOffset) {
  SimulatedClock real(FromUnixSeconds(1000));
  OffsetClock clock(&real, std::chrono::seconds(50));
  EXPECT_EQ(clock.Now(), FromUnixSeconds(1050));
  real.Advance(minutes(2));
  EXPECT_EQ(clock.Now(), FromUnixSeconds(1050 + 120));
  clock.Advance(hours(24));
  EXPECT_EQ(clock.offset(), std::chrono::seconds(50) + hours(24));
  EXPECT_EQ(clock.Now(), FromUnixSeconds(1050 + 120 + 86400));
  EXPECT_EQ(real.Now(), FromUnixSeconds(1120)) << "advancing never moves real time";
  real.Advance(std::chrono::seconds(1));
  EXPECT_EQ(clock.Now(), FromUnixSeconds(1050 + 121 + 86400)) << "still ticking after a jump";
}

TEST(OffsetClockTest, AdvanceFiresDueTimersInOrderAtTheirTime) {
  SimulatedClock real(FromUnixSeconds(1000));
  OffsetClock clock(&real, Duration::zero());
  std::vector<std::pair<int, TimePoint>> fired;
  clock.RunAfter(hours(2), [&] { fired.push_back({2, clock.Now()}); });
  clock.RunAfter(hours(1), [&] { fired.push_back({1, clock.Now()}); });
  clock.RunAfter(hours(48), [&] { fired.push_back({3, clock.Now()}); });
  clock.Advance(hours(3));
  ASSERT_EQ(fired.size(), 2u);
  EXPECT_EQ(fired[0].first, 1);
  EXPECT_EQ(fired[0].second, FromUnixSeconds(1000) + hours(1)) << "Now() is the due time";
  EXPECT_EQ(fired[1].first, 2);
  EXPECT_EQ(fired[1].second, FromUnixSeconds(1000) + hours(2));
  EXPECT_EQ(clock.Now(), FromUnixSeconds(1000) + hours(3));
  clock.Advance(hours(45));
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_EQ(fired[2].second, FromUnixSeconds(1000) + hours(48));
}

TEST(OffsetClockTest, TimersFireWhenRealTimeReachesThem) {
  SimulatedClock real(FromUnixSeconds(0));
  OffsetClock clock(&real, hours(24 * 31));
  std::vector<int> fired;
  clock.RunAfter(minutes(10), [&] { fired.push_back(10); });
  clock.RunAfter(minutes(5), [&] { fired.push_back(5); });
  real.Advance(minutes(4));
  EXPECT_TRUE(fired.empty());
  real.Advance(minutes(1));
  EXPECT_EQ(fired, std::vector<int>({5}));
  real.Advance(minutes(30));
  EXPECT_EQ(fired, std::vector<int>({5, 10}));
}

TEST(OffsetClockTest, TimerMovedEarlierByAnAdvanceStillFiresOnce) {
  // The wake-up armed on the real clock for the old offset must not fire the timer again.
  SimulatedClock real(FromUnixSeconds(0));
  OffsetClock clock(&real, Duration::zero());
  int fired = 0;
  clock.RunAfter(hours(1), [&] { ++fired; });
  clock.Advance(hours(1));
  EXPECT_EQ(fired, 1);
  real.Advance(hours(2));
  EXPECT_EQ(fired, 1);
}

TEST(OffsetClockTest, PeriodicTimerCoalescesAcrossOneAdvanceAndTicksInRealTime) {
  SimulatedClock real(FromUnixSeconds(0));
  OffsetClock clock(&real, Duration::zero());
  std::vector<TimePoint> runs;
  auto id = clock.RunEvery(std::chrono::seconds(30), [&] { runs.push_back(clock.Now()); });
  clock.Advance(std::chrono::seconds(29));
  EXPECT_TRUE(runs.empty());
  real.Advance(std::chrono::seconds(1));  // due by real time: runs on the wake-up
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0], FromUnixSeconds(30));
  clock.Advance(hours(24 * 30));  // one run, at the last due time inside the jump
  ASSERT_EQ(runs.size(), 2u);
  EXPECT_EQ(runs[1], FromUnixSeconds(30 + 24 * 30 * 3600));
  real.Advance(std::chrono::seconds(30));
  ASSERT_EQ(runs.size(), 3u);
  EXPECT_EQ(runs[2], FromUnixSeconds(30 + 24 * 30 * 3600 + 30));
  EXPECT_TRUE(clock.Cancel(id));
  clock.Advance(hours(1));
  real.Advance(hours(1));
  EXPECT_EQ(runs.size(), 3u);
}

TEST(OffsetClockTest, OneShotAndPeriodicTimersRunInDueOrder) {
  SimulatedClock real(FromUnixSeconds(0));
  OffsetClock clock(&real, Duration::zero());
  std::vector<std::string> order;
  clock.RunAfter(minutes(90), [&] { order.push_back("one-shot 90m"); });
  clock.RunEvery(hours(1), [&] { order.push_back("hourly"); });  // coalesced: runs at 2h
  clock.RunAfter(minutes(30), [&] { order.push_back("one-shot 30m"); });
  clock.Advance(hours(2) + minutes(1));
  EXPECT_EQ(order, std::vector<std::string>({"one-shot 30m", "one-shot 90m", "hourly"}));
}

TEST(OffsetClockTest, CancelledTimerDoesNotFireAndCallbacksMayScheduleMore) {
  SimulatedClock real(FromUnixSeconds(0));
  OffsetClock clock(&real, Duration::zero());
  bool cancelled_fired = false;
  auto id = clock.RunAfter(minutes(1), [&] { cancelled_fired = true; });
  EXPECT_TRUE(clock.Cancel(id));
  EXPECT_FALSE(clock.Cancel(id));
  int chained = 0;
  std::function<void()> tick = [&] {
    if (++chained < 3) clock.RunAfter(minutes(10), tick);
  };
  clock.RunAfter(minutes(10), tick);
  clock.Advance(hours(1));
  EXPECT_FALSE(cancelled_fired);
  EXPECT_EQ(chained, 3);
}

TEST(OffsetClockTest, FiresOnTheRealClocksThread) {
  RealClock real;
  std::mutex mu;
  std::condition_variable cv;
  bool fired = false;
  {
    OffsetClock clock(&real, hours(24 * 400));
    clock.RunAfter(std::chrono::milliseconds(20), [&] {
      std::lock_guard<std::mutex> l(mu);
      fired = true;
      cv.notify_all();
    });
    std::unique_lock<std::mutex> l(mu);
    EXPECT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return fired; }));
    clock.RunAfter(hours(1), [] {});  // pending at destruction: its wake-up is cancelled
  }
}

TEST(RealClockTest, PeriodicTimerRunsUntilCancelled) {
  RealClock clock;
  std::mutex mu;
  std::condition_variable cv;
  int runs = 0;
  auto id = clock.RunEvery(std::chrono::milliseconds(1), [&] {
    std::lock_guard<std::mutex> l(mu);
    ++runs;
    cv.notify_all();
  });
  {
    std::unique_lock<std::mutex> l(mu);
    EXPECT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return runs >= 3; }));
  }
  EXPECT_TRUE(clock.Cancel(id));
}

TEST(SimulatedClockTest, ThrowingTimerIsReportedAndLaterTimersStillRun) {
  SimulatedClock clock(FromUnixSeconds(0));
  uint64_t before = BackgroundExceptions();
  int later = 0, periodic = 0;
  clock.RunAfter(minutes(1), [] { throw std::runtime_error("timer failed"); });
  clock.RunAfter(minutes(2), [&] { ++later; });
  clock.RunEvery(minutes(5), [&] {
    ++periodic;
    throw std::runtime_error("periodic failed");
  });
  clock.Advance(minutes(6));
  EXPECT_EQ(later, 1);
  EXPECT_EQ(periodic, 1);
  clock.Advance(minutes(5));
  EXPECT_EQ(periodic, 2) << "a throwing periodic timer keeps its schedule";
  EXPECT_EQ(BackgroundExceptions(), before + 3);
}

TEST(RealClockTest, ThrowingPeriodicTimerKeepsRunning) {
  RealClock clock;
  std::atomic<int> runs{0};
  auto id = clock.RunEvery(std::chrono::milliseconds(1), [&] {
    ++runs;
    throw std::runtime_error("periodic failed");
  });
  for (int i = 0; i < 5000 && runs.load() < 3; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  clock.Cancel(id);
  EXPECT_GE(runs.load(), 3);
}

TEST(RunGuardedTest, ReportsAndSwallowsExceptions) {
  std::string seen;
  SetBackgroundErrorReporter([&](std::string_view what, std::string_view error) {
    seen = std::string(what) + ": " + std::string(error);
  });
  EXPECT_TRUE(RunGuarded("ok", [] {}));
  EXPECT_FALSE(RunGuarded("job", [] { throw std::out_of_range("bad index"); }));
  EXPECT_EQ(seen, "job: bad index");
  SetBackgroundErrorReporter(nullptr);
}

TEST(SimulatedClockTest, CancelledTimerDoesNotFire) {
  SimulatedClock clock(FromUnixSeconds(0));
  bool fired = false;
  auto id = clock.RunAfter(minutes(1), [&] { fired = true; });
  EXPECT_TRUE(clock.Cancel(id));
  EXPECT_FALSE(clock.Cancel(id));
  clock.Advance(hours(1));
  EXPECT_FALSE(fired);
}

TEST(RealClockTest, RunsPastDueTimerOnItsThread) {
  RealClock clock;
  std::mutex mu;
  std::condition_variable cv;
  bool fired = false;
  clock.RunAt(clock.Now() - minutes(1), [&] {
    std::lock_guard<std::mutex> l(mu);
    fired = true;
    cv.notify_all();
  });
  std::unique_lock<std::mutex> l(mu);
  EXPECT_TRUE(cv.wait_for(l, std::chrono::seconds(10), [&] { return fired; }));
}

TEST(RandomTest, GuidsAreV4AndDistinct) {
  SecureRandom r;
  std::string a = r.NewGuid(), b = r.NewGuid();
  EXPECT_NE(a, b);
  EXPECT_EQ(a[14], '4');
  SeededRandom s1(7), s2(7);
  EXPECT_EQ(s1.NewGuid(), s2.NewGuid());
}

TEST(PosixFileSystemTest, AtomicWriteSetsModeAndReplacesContent) {
  PosixFileSystem fs;
  std::string dir = ::testing::TempDir() + "/envtest_" + SecureRandom().NewGuid();
  ASSERT_THAT(fs.CreateDirs(dir, 0700), testing::IsOk());
  std::string path = dir + "/f";
  std::string one = "first", two = "second";
  ASSERT_THAT(fs.WriteFileAtomic(path, AsBytes(one), 0600), testing::IsOk());
  ASSERT_THAT(fs.WriteFileAtomic(path, AsBytes(two), 0600), testing::IsOk());
  EXPECT_EQ(*fs.ReadFile(path), "second");
  EXPECT_FALSE(fs.Exists(path + ".tmp"));
  auto perms = std::filesystem::status(path).permissions();
  EXPECT_EQ(perms & std::filesystem::perms::all,
            std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  EXPECT_THAT(fs.ReadFile(dir + "/missing"), testing::StatusIs(StatusCode::kNotFound));
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace cmk::env
