#pragma once
// The injected environment: clock with timers, randomness, file system (file_system.h).
// Thread safety: every class here is safe for concurrent use.

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>

#include "base/secret_bytes.h"
#include "base/status.h"
#include "base/time_format.h"
#include "env/file_system.h"

namespace cmk::env {

class Clock {
 public:
  using Callback = std::function<void()>;
  using TimerId = uint64_t;
  virtual ~Clock() = default;
  virtual TimePoint Now() const = 0;
  // Runs `cb` once the clock reaches `when`: on the clock's timer thread (real clock) or inside
  // Advance() (simulated clock). Callbacks must not block for long.
  virtual TimerId RunAt(TimePoint when, Callback cb) = 0;
  TimerId RunAfter(Duration d, Callback cb) { return RunAt(Now() + d, std::move(cb)); }
  // Runs `cb` every `period` until cancelled. On a simulated clock, the runs that fall inside one
  // Advance() coalesce into one (at the last due time): periodic checks care about "time has
  // passed", and advancing by 30 days must not cost 30 days of ticks.
  virtual TimerId RunEvery(Duration period, Callback cb);
  // Returns false when the timer already ran or never existed.
  virtual bool Cancel(TimerId id) = 0;
  virtual bool is_simulated() const { return false; }
};

// Timers kept in order of due time; shared by both clocks.
class TimerQueue {
 public:
  Clock::TimerId Add(TimePoint when, Clock::Callback cb);
  bool Cancel(Clock::TimerId id);
  // Removes and returns the earliest timer due at or before `now`, if any.
  bool PopDue(TimePoint now, Clock::Callback* cb);
  bool Earliest(TimePoint* when) const;

 private:
  mutable std::mutex mu_;
  uint64_t next_id_ = 1;
  std::multimap<TimePoint, std::pair<Clock::TimerId, Clock::Callback>> by_time_;
  std::map<Clock::TimerId, TimePoint> by_id_;
};

class RealClock final : public Clock {
 public:
  RealClock();
  ~RealClock() override;
  TimePoint Now() const override;
  TimerId RunAt(TimePoint when, Callback cb) override;
  bool Cancel(TimerId id) override;

 private:
  void Loop();
  TimerQueue timers_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

class SimulatedClock final : public Clock {
 public:
  explicit SimulatedClock(TimePoint start);
  TimePoint Now() const override;
  TimerId RunAt(TimePoint when, Callback cb) override;
  bool Cancel(TimerId id) override;
  bool is_simulated() const override { return true; }
  TimerId RunEvery(Duration period, Callback cb) override;
  // Moves time forward by `d`, running every timer that falls due, in order, with Now() equal
  // to each timer's due time while it runs (timers scheduled by callbacks run too if due).
  // Periodic timers run once per Advance at most (see RunEvery).
  void Advance(Duration d);

 private:
  struct Periodic {
    Duration period;
    TimePoint next;
    std::shared_ptr<Callback> cb;
  };
  std::map<TimerId, Periodic> periodic_;  // guarded by mu_
  uint64_t next_periodic_id_ = uint64_t{1} << 62;
  mutable std::mutex mu_;
  TimePoint now_;
  std::mutex advance_mu_;  // serializes Advance calls
  TimerQueue timers_;
};

class Random {
 public:
  virtual ~Random() = default;
  virtual void Fill(std::span<uint8_t> out) = 0;
  uint64_t NextU64();
  std::string NewGuid();
  SecretBytes NewSecret(size_t n);
};

// OpenSSL's CSPRNG.
class SecureRandom final : public Random {
 public:
  void Fill(std::span<uint8_t> out) override;
};

// Deterministic stream for tests (splitmix64); never for secrets in production.
class SeededRandom final : public Random {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  void Fill(std::span<uint8_t> out) override;

 private:
  std::mutex mu_;
  uint64_t state_;
};

// Bundle handed to components. Not owning.
struct Env {
  Clock* clock;
  Random* random;
  FileSystem* fs;
};

// A process-wide default environment: real clock, secure random, POSIX files.
Env DefaultEnv();

// Monotonic time for measuring latencies of I/O (not for any decision that tests control).
int64_t MonotonicMicros();

// Inside a catch block: the current exception's what(), or "unknown exception". Never throws.
std::string CurrentExceptionText() noexcept;

// Runs `fn` for a background job (timer callback, worker loop) under the process's exception
// guard: an exception is reported (see SetBackgroundErrorReporter) and counted, never propagated,
// so one failing job cannot end the process. Returns false when `fn` threw.
bool RunGuarded(std::string_view what, const std::function<void()>& fn) noexcept;
// Where RunGuarded reports (the server logs through spdlog); stderr when unset. Set once at
// start-up, before background jobs run.
void SetBackgroundErrorReporter(std::function<void(std::string_view what, std::string_view error)> r);
// Exceptions RunGuarded has caught since the process started (for /metrics).
uint64_t BackgroundExceptions();

}  // namespace cmk::env
