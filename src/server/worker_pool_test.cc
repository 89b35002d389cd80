#include "server/worker_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <set>
#include <thread>

namespace cmk::server {
namespace {

// Runs `job` on the pool and waits until the thread that ran it is idle again.
std::thread::id RunAndSettle(WorkerPool& pool) {
  std::promise<std::thread::id> ran;
  auto got = ran.get_future();
  EXPECT_TRUE(pool.TrySubmit([&ran] { ran.set_value(std::this_thread::get_id()); }));
  std::thread::id id = got.get();
  while (pool.busy() != 0) std::this_thread::yield();  // back on the idle list under the same lock
  return id;
}

// Runs one job on each of the pool's `n` threads at once, and waits until all are idle again
// (so every thread has started and gone idle, whatever order they started in).
void OccupyEveryThread(WorkerPool& pool, int n) {
  std::atomic<int> running{0};
  std::promise<void> all;
  auto all_running = all.get_future().share();
  for (int i = 0; i < n; ++i) {
    ASSERT_TRUE(pool.TrySubmit([&, n] {
      if (++running == n) all.set_value();
      all_running.wait();
    }));
  }
  all_running.wait();
  while (pool.busy() != 0) std::this_thread::yield();
}

TEST(WorkerPoolTest, JobsOneAtATimeRunOnTheThreadThatWentIdleLast) {
  WorkerPool pool(WorkerPoolOptions{"lifo", 4, 16, 0});
  OccupyEveryThread(pool, 4);
  // After one job, its thread is the last idle one.
  std::thread::id first = RunAndSettle(pool);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(RunAndSettle(pool), first) << "job " << i;
}

TEST(WorkerPoolTest, ConcurrentJobsStillGetThreadsOfTheirOwn) {
  WorkerPool pool(WorkerPoolOptions{"wide", 4, 16, 0});
  // Four jobs that each wait for all four to be running: they finish only if every one has a
  // thread (the idle threads are woken, not only the last one).
  std::atomic<int> running{0};
  std::promise<void> all;
  auto all_running = all.get_future().share();
  std::atomic<int> done{0};
  std::promise<void> finished;
  std::mutex mu;
  std::set<std::thread::id> ids;
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(pool.TrySubmit([&] {
      {
        std::lock_guard<std::mutex> l(mu);
        ids.insert(std::this_thread::get_id());
      }
      if (++running == 4) all.set_value();
      all_running.wait();
      if (++done == 4) finished.set_value();
    }));
  }
  finished.get_future().get();
  EXPECT_EQ(ids.size(), 4u);
}

TEST(WorkerPoolTest, StopDropsQueuedJobsAndRefusesNewOnes) {
  WorkerPool pool(WorkerPoolOptions{"stop", 1, size_t{1} << 20, 0});  // full only once stopped
  std::promise<void> release;
  auto released = release.get_future().share();
  std::promise<void> started;
  std::atomic<int> ran{0};
  ASSERT_TRUE(pool.TrySubmit([&] {
    started.set_value();
    released.wait();
    ++ran;
  }));
  started.get_future().get();
  ASSERT_TRUE(pool.TrySubmit([&] { ++ran; }));
  std::thread stopper([&] { pool.Stop(); });
  while (pool.TrySubmit([&] { ++ran; })) std::this_thread::yield();  // until Stop() has begun
  release.set_value();
  stopper.join();
  EXPECT_EQ(ran.load(), 1);  // the running job finished; the queued ones never ran
  EXPECT_FALSE(pool.TrySubmit([] {}));
}

}  // namespace
}  // namespace cmk::server
