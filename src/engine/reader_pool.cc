#include "engine/reader_pool.h"

#include <algorithm>

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
