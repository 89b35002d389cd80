#include "engine/reader_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <functional>
#include <future>
#include <vector>

namespace cmk::engine {
namespace {

// Every job runs once, and RunAll returns only when all have (their effects are visible).
TEST(ReaderPoolTest, RunAllRunsEveryJobOnceBeforeItReturns) {
  ReaderPool pool(2);
  for (size_t count : {0, 1, 2, 3, 100}) {
    std::vector<int> runs(count, 0);
    std::vector<std::function<void()>> jobs;
    for (size_t i = 0; i < count; ++i) jobs.push_back([&runs, i] { ++runs[i]; });
    pool.RunAll(jobs);
    for (size_t i = 0; i < count; ++i) EXPECT_EQ(runs[i], 1) << i << " of " << count;
  }
}

// With every pool thread busy, the caller runs the jobs itself and returns: it never waits for
// a helper still queued behind other work (which then finds nothing left to do).
TEST(ReaderPoolTest, RunAllDoesNotWaitForHelpersQueuedBehindOtherWork) {
  ReaderPool pool(1);
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::promise<void> busy;
  auto blocker = pool.Submit([&busy, released] {
    busy.set_value();
    released.wait();
  });
  busy.get_future().wait();  // the pool's one thread is taken
  std::atomic<int> ran{0};
  std::vector<std::function<void()>> jobs(8, [&ran] { ran.fetch_add(1); });
  pool.RunAll(jobs);
  EXPECT_EQ(ran.load(), 8);
  release.set_value();
  blocker.wait();
}

}  // namespace
}  // namespace cmk::engine
