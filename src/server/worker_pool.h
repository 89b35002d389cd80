#pragma once
// WorkerPool: a fixed set of threads that run submitted jobs from a bounded FIFO queue. The HTTP
// server runs request handlers that may take long (queries) or block on disk (ARM writes,
// ingestion's group commit) on such pools, so that the network threads only do TLS and parsing
// and /healthz or the token service answer while every worker is busy.
//
// Jobs go first-in first-out, threads last-in first-out: a job is handed to the thread that went
// idle last, and a thread that finishes a job takes the next queued one itself. So a light load
// keeps running on the same few threads, whose stacks, thread-local buffers (ingestion's JSON
// parser and inflate buffer) and malloc arenas are already faulted in and cached, instead of
// rotating through every thread of the pool (a condition variable wakes its waiters in about
// the order they slept): at 1M rows through the ingestion API the 16 general threads each
// faulted in their own parser, buffers and arena (docs/benchmarks.md).
//
// Submit never blocks: when the queue is full it refuses the job (the caller answers "busy").
// Jobs must not throw (the server wraps handlers in its exception guard). The destructor stops
// taking jobs, lets running jobs finish, and destroys queued jobs without running them.
// Thread safety: safe for concurrent use.
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace cmk::server {

struct WorkerPoolOptions {
  std::string name = "pool";  // for thread names (at most 15 characters are kept)
  int threads = 2;
  size_t max_queued = 256;  // jobs waiting for a thread; more are refused
  // Scheduling niceness added to the workers (Linux per-thread nice): positive values let the
  // network threads and other pools win the CPU when this pool saturates it.
  int nice = 0;
};

class WorkerPool {
 public:
  explicit WorkerPool(WorkerPoolOptions options);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `job`; false (and `job` is dropped) when the queue is full or the pool is stopping.
  bool TrySubmit(std::function<void()> job);
  // Stops taking jobs, waits for running ones, drops queued ones. Idempotent.
  void Stop();

  size_t queued() const;
  int busy() const;
  const WorkerPoolOptions& options() const { return options_; }

 private:
  // An idle thread's wake-up call.
  struct Idle {
    std::condition_variable cv;
    bool woken = false;  // guarded by mu_
  };
  void Loop();

  const WorkerPoolOptions options_;
  mutable std::mutex mu_;
  std::vector<Idle*> idle_;                  // guarded by mu_; the last one went idle last
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  int busy_ = 0;                              // guarded by mu_
  bool stopping_ = false;                     // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace cmk::server
