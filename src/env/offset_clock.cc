#include "env/offset_clock.h"

#include <algorithm>

namespace cmk::env {

OffsetClock::OffsetClock(Clock* real, Duration offset)
    : real_(real), runner_(std::make_shared<Runner>()), offset_(offset) {
  runner_->clock = this;
}

OffsetClock::~OffsetClock() {
  {
    // Taking run_mu waits for a wake-up that is running timers on the real clock's thread; one
    // that starts afterwards finds no clock and returns.
    std::lock_guard<std::mutex> run(runner_->run_mu);
    runner_->clock = nullptr;
  }
  std::lock_guard<std::mutex> l(mu_);
  if (wake_id_ != 0) real_->Cancel(wake_id_);
}

TimePoint OffsetClock::Now() const {
  std::lock_guard<std::mutex> l(mu_);
  return real_->Now() + offset_;
}

Duration OffsetClock::offset() const {
  std::lock_guard<std::mutex> l(mu_);
  return offset_;
}

Clock::TimerId OffsetClock::RunAt(TimePoint when, Callback cb) {
  TimerId id = timers_.Add(when, std::move(cb));
  Rearm();
  return id;
}

Clock::TimerId OffsetClock::RunEvery(Duration period, Callback cb) {
  TimerId id;
  {
    std::lock_guard<std::mutex> l(mu_);
    id = next_periodic_id_++;
    periodic_[id] =
        Periodic{period, real_->Now() + offset_ + period, std::make_shared<Callback>(std::move(cb))};
  }
  Rearm();
  return id;
}

bool OffsetClock::Cancel(TimerId id) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (periodic_.erase(id) > 0) return true;
  }
  // A wake-up armed for a cancelled timer stays: it finds nothing due and re-arms.
  return timers_.Cancel(id);
}

void OffsetClock::Advance(Duration d) {
  std::lock_guard<std::mutex> run(runner_->run_mu);
  Duration target;
  {
    std::lock_guard<std::mutex> l(mu_);
    target = offset_ + std::max(d, Duration::zero());
  }
  RunDueLocked(target);
  {
    std::lock_guard<std::mutex> l(mu_);
    offset_ = std::max(offset_, target);
  }
  Rearm();
}

void OffsetClock::RunDueLocked(Duration raise_to) {
  // The horizon is fixed once: timers scheduled by callbacks run if due by then, and a periodic
  // timer runs at most once, so a run always ends; later ones are left to the next wake-up.
  const TimePoint horizon = real_->Now() + raise_to;
  for (;;) {
    TimePoint one_shot;
    bool has_one_shot = timers_.Earliest(&one_shot) && one_shot <= horizon;
    // The periodic timer whose last due time inside the horizon comes first, if any.
    TimerId periodic_id = 0;
    TimePoint periodic_at;
    std::shared_ptr<Callback> periodic_cb;
    {
      std::lock_guard<std::mutex> l(mu_);
      for (auto& [id, p] : periodic_) {
        if (p.next > horizon) continue;
        TimePoint last = p.next + p.period * ((horizon - p.next) / p.period);
        if (periodic_id == 0 || last < periodic_at) {
          periodic_id = id;
          periodic_at = last;
        }
      }
      if (periodic_id != 0 && (!has_one_shot || periodic_at < one_shot)) {
        Periodic& p = periodic_[periodic_id];
        p.next = periodic_at + p.period;
        periodic_cb = p.cb;
        // While a timer runs, Now() has reached its due time (the offset moves up in steps).
        offset_ = std::max(offset_, periodic_at - real_->Now());
      }
    }
    if (periodic_cb) {
      RunGuarded("periodic timer", *periodic_cb);
      continue;
    }
    if (!has_one_shot) return;
    Callback cb;
    if (!timers_.PopDue(one_shot, &cb)) continue;  // cancelled meanwhile
    {
      std::lock_guard<std::mutex> l(mu_);
      offset_ = std::max(offset_, one_shot - real_->Now());
    }
    RunGuarded("timer", cb);
  }
}

void OffsetClock::Rearm() {
  std::lock_guard<std::mutex> l(mu_);
  TimePoint earliest;
  bool any = timers_.Earliest(&earliest);
  for (const auto& [id, p] : periodic_) {
    if (!any || p.next < earliest) earliest = p.next;
    any = true;
  }
  if (!any) return;  // an armed wake-up, if any, finds nothing and stops
  TimePoint real_when = earliest - offset_;
  if (wake_id_ != 0 && wake_at_ == real_when) return;
  if (wake_id_ != 0) real_->Cancel(wake_id_);
  wake_at_ = real_when;
  // The wake-up holds the Runner, not the clock: a clock destroyed first is simply not found.
  wake_id_ = real_->RunAt(real_when, [runner = runner_, when = real_when] {
    std::lock_guard<std::mutex> run(runner->run_mu);
    OffsetClock* self = runner->clock;
    if (self == nullptr) return;
    {
      std::lock_guard<std::mutex> l(self->mu_);
      if (self->wake_at_ == when) self->wake_id_ = 0;  // this one fired; a later one may be armed
    }
    self->RunDueLocked(self->offset());
    self->Rearm();
  });
}

}  // namespace cmk::env
