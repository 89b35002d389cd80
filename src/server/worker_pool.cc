#include "server/worker_pool.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>

namespace cmk::server {

WorkerPool::WorkerPool(WorkerPoolOptions options) : options_(std::move(options)) {
  int n = std::max(1, options_.threads);
  threads_.reserve(n);
  for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Loop(); });
}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Stop() {
  std::deque<std::function<void()>> dropped;
  {
    std::lock_guard<std::mutex> l(mu_);
    stopping_ = true;
    dropped.swap(queue_);
    for (Idle* idle : idle_) idle->cv.notify_one();
    idle_.clear();
  }
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  // `dropped` is destroyed here, outside the lock: a job's captures may run destructors that
  // take other locks.
}

bool WorkerPool::TrySubmit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stopping_ || queue_.size() >= options_.max_queued) return false;
    queue_.push_back(std::move(job));
    if (!idle_.empty()) {
      Idle* idle = idle_.back();
      idle_.pop_back();
      idle->woken = true;
      idle->cv.notify_one();  // under the lock: the thread can't have gone away
    }
  }
  return true;
}

size_t WorkerPool::queued() const {
  std::lock_guard<std::mutex> l(mu_);
  return queue_.size();
}

int WorkerPool::busy() const {
  std::lock_guard<std::mutex> l(mu_);
  return busy_;
}

void WorkerPool::Loop() {
  pthread_setname_np(pthread_self(), options_.name.substr(0, 15).c_str());
  if (options_.nice != 0) {
    // Linux applies PRIO_PROCESS to a single thread when given its thread id. Failing to lower
    // our own priority is harmless (the pool still works), so the result is ignored.
    (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)), options_.nice);
  }
  Idle self;
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    if (stopping_) return;
    if (queue_.empty()) {
      self.woken = false;
      idle_.push_back(&self);
      self.cv.wait(l, [&] { return self.woken || stopping_; });
      // Stop() or TrySubmit() took it off idle_. The job it was woken for may have been taken
      // by a thread that finished first: then it goes idle again.
      continue;
    }
    std::function<void()> job = std::move(queue_.front());
    queue_.pop_front();
    ++busy_;
    l.unlock();
    job();
    job = nullptr;  // captures released before the lock is taken again
    l.lock();
    --busy_;
  }
}

}  // namespace cmk::server
