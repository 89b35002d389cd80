// Threads that read and decode extents ahead of a scan, shared by every query of a LogStore.
//
// A scan used to start one thread per extent it read ahead (std::async): ~20-40 µs each, paid
// per extent and per scan, which at 10M rows (153 extents, two scans for `top N`) was most of a
// query that reads a few cached blocks. The pool's threads start with the store and take jobs
// in order; a job never waits for another job, so queries sharing the pool cannot deadlock.
#pragma once

#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "base/mutex.h"

namespace cmk::engine {

class ReaderPool {
 public:
  explicit ReaderPool(size_t threads);
  ~ReaderPool();  // runs the jobs already queued, then joins
  ReaderPool(const ReaderPool&) = delete;
  ReaderPool& operator=(const ReaderPool&) = delete;

  // Runs `f` on a pool thread; the future holds its result. Callers must wait for (or drop
  // only after waiting for) every future whose job references their stack.
  template <class F>
  auto Submit(F f) -> std::future<decltype(f())> {
    auto task = std::make_shared<std::packaged_task<decltype(f())()>>(std::move(f));
    auto result = task->get_future();
    Post([task] { (*task)(); });
    return result;
  }

  // Runs every job, on the calling thread and on pool threads (helpers take the jobs not yet
  // taken), and returns when all are done. The caller never waits for a helper still queued
  // behind other work: a helper that starts after the last job was taken finds nothing to do
  // and touches nothing of the caller's. Jobs must not throw.
  void RunAll(std::span<const std::function<void()>> jobs);

  size_t threads() const { return threads_.size(); }

 private:
  void Post(std::function<void()> job);
  void Loop();

  Mutex mu_;
  CondVar cv_;
  std::deque<std::function<void()>> jobs_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace cmk::engine
