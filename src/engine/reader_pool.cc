#include "engine/reader_pool.h"

#include <algorithm>
#include <atomic>

namespace cmk::engine {

ReaderPool::ReaderPool(size_t threads) {
  threads_.reserve(std::max<size_t>(threads, 1));
  for (size_t i = 0; i < std::max<size_t>(threads, 1); ++i) threads_.emplace_back([this] { Loop(); });
}

ReaderPool::~ReaderPool() {
  {
    MutexLock l(&mu_);
    stopping_ = true;
  }
  cv_.NotifyAll();
  for (auto& t : threads_) t.join();
}

void ReaderPool::RunAll(std::span<const std::function<void()>> jobs) {
  if (jobs.size() <= 1) {
    for (const auto& job : jobs) job();
    return;
  }
  // Shared with the helpers, which may outlive this call (queued ones that find no job left).
  struct State {
    std::atomic<size_t> next{0};
    size_t total = 0;
    const std::function<void()>* jobs = nullptr;  // valid while a job is left to take
    Mutex mu;
    CondVar cv;
    size_t done GUARDED_BY(mu) = 0;
  };
  auto state = std::make_shared<State>();
  state->total = jobs.size();
  state->jobs = jobs.data();
  auto work = [state] {
    for (size_t i; (i = state->next.fetch_add(1)) < state->total;) {
      state->jobs[i]();
      bool last;
      {
        MutexLock l(&state->mu);
        last = ++state->done == state->total;
      }
      if (last) state->cv.NotifyAll();
    }
  };
  for (size_t t = 0; t < std::min(threads_.size(), jobs.size() - 1); ++t) Post(work);
  work();
  UniqueLock l(&state->mu);
  state->cv.Wait(l, [&] {
    state->mu.AssertHeld();
    return state->done == state->total;
  });
}

void ReaderPool::Post(std::function<void()> job) {
  {
    MutexLock l(&mu_);
    jobs_.push_back(std::move(job));
  }
  cv_.NotifyOne();
}

void ReaderPool::Loop() {
  UniqueLock l(&mu_);
  while (true) {
    cv_.Wait(l, [&] {
      mu_.AssertHeld();
      return stopping_ || !jobs_.empty();
    });
    if (jobs_.empty()) return;  // stopping, and nothing left to run
    std::function<void()> job = std::move(jobs_.front());
    jobs_.pop_front();
    l.unlock();
    job();
    l.lock();
  }
}

}  // namespace cmk::engine
