#pragma once
// OffsetClock: the rehearsal clock of `serve --simulated-clock` — real time plus an offset.
//
// Now() is `real->Now() + offset`: it ticks with the wall clock, and Advance(d) adds `d` to the
// offset, so "30 days later" is one call while sessions (tokens, TLS, rate windows) keep living
// on the real clock that the server hands to them separately (docs/architecture.md, "Time").
// Timers fire when they fall due on this clock's time, either because real time passed (on the
// `real` clock's timer thread: a RealClock in the server, a SimulatedClock's Advance in tests) or
// because Advance raised the offset (inside Advance, on the caller's thread). Either way they run
// one at a time, in due order, and a RunEvery timer runs at most once per Advance or wake-up, at
// its last due time (as SimulatedClock coalesces: advancing 30 days costs one run, not 86,400).
// While a timer runs inside Advance, Now() is at least its due time.
// Thread safety: safe for concurrent use. Callbacks may call RunAt/RunEvery/Cancel and Now(),
// never Advance (it would wait for itself) nor destroy the clock.

#include <map>
#include <memory>
#include <mutex>

#include "env/env.h"

namespace cmk::env {

class OffsetClock final : public Clock {
 public:
  // `real` supplies real time and wake-ups; not owned, must outlive this clock. REQUIRES:
  // offset >= 0 is not required, but the server never goes behind real time.
  OffsetClock(Clock* real, Duration offset);
  // Cancels the wake-up armed on `real` and waits for a timer running on its thread.
  ~OffsetClock() override;
  OffsetClock(const OffsetClock&) = delete;
  OffsetClock& operator=(const OffsetClock&) = delete;

  TimePoint Now() const override;
  TimerId RunAt(TimePoint when, Callback cb) override;
  TimerId RunEvery(Duration period, Callback cb) override;
  bool Cancel(TimerId id) override;
  bool is_simulated() const override { return true; }

  // Adds `d` (>= 0) to the offset, running every timer that falls due by the new time, in
  // order, before it returns.
  void Advance(Duration d);
  // How far this clock is ahead of the real one.
  Duration offset() const;

 private:
  // Shared with the wake-up callbacks armed on `real`: they find the clock through it, and its
  // mutex serializes every run of timers (wake-ups, Advance, destruction).
  struct Runner {
    std::mutex run_mu;
    OffsetClock* clock = nullptr;  // guarded by run_mu; null once the clock is destroyed
  };
  struct Periodic {
    Duration period;
    TimePoint next;
    std::shared_ptr<Callback> cb;
  };
  // REQUIRES: runner_->run_mu held. Runs every timer due at or before Now() (read again after
  // each run, so a raised offset or elapsed time lets later timers in), in due order.
  void RunDueLocked(Duration raise_to);
  // Arms (or moves) the single wake-up on `real` at the earliest timer's due time.
  void Rearm();

  Clock* const real_;
  std::shared_ptr<Runner> runner_;
  TimerQueue timers_;
  mutable std::mutex mu_;
  Duration offset_;                       // guarded by mu_
  std::map<TimerId, Periodic> periodic_;  // guarded by mu_
  uint64_t next_periodic_id_ = uint64_t{1} << 62;  // guarded by mu_; apart from timers_' ids
  TimerId wake_id_ = 0;                   // guarded by mu_; 0: none armed
  TimePoint wake_at_{};                   // guarded by mu_; on the real clock
};

}  // namespace cmk::env
