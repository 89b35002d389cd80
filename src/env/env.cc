#include "env/env.h"

#include <openssl/rand.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "base/encoding.h"

namespace cmk::env {

Clock::TimerId TimerQueue::Add(TimePoint when, Clock::Callback cb) {
  std::lock_guard<std::mutex> l(mu_);
  Clock::TimerId id = next_id_++;
  by_time_.emplace(when, std::make_pair(id, std::move(cb)));
  by_id_[id] = when;
  return id;
}

bool TimerQueue::Cancel(Clock::TimerId id) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return false;
  auto [lo, hi] = by_time_.equal_range(it->second);
  for (auto t = lo; t != hi; ++t) {
    if (t->second.first == id) {
      by_time_.erase(t);
      break;
    }
  }
  by_id_.erase(it);
  return true;
}

bool TimerQueue::PopDue(TimePoint now, Clock::Callback* cb) {
  std::lock_guard<std::mutex> l(mu_);
  if (by_time_.empty() || by_time_.begin()->first > now) return false;
  auto it = by_time_.begin();
  *cb = std::move(it->second.second);
  by_id_.erase(it->second.first);
  by_time_.erase(it);
  return true;
}

bool TimerQueue::Earliest(TimePoint* when) const {
  std::lock_guard<std::mutex> l(mu_);
  if (by_time_.empty()) return false;
  *when = by_time_.begin()->first;
  return true;
}

namespace {
// Re-arms itself after each run; cancelling the first id stops the chain.
struct PeriodicState {
  Clock* clock;
  Duration period;
  Clock::Callback cb;
  std::mutex mu;
  Clock::TimerId current = 0;
  bool cancelled = false;
};
std::mutex g_periodic_mu;
std::map<Clock::TimerId, std::shared_ptr<PeriodicState>> g_periodic;  // first id -> state

void Arm(const std::shared_ptr<PeriodicState>& st) {
  std::weak_ptr<PeriodicState> weak = st;
  Clock::TimerId id = st->clock->RunAfter(st->period, [weak] {
    auto s = weak.lock();
    if (!s) return;
    {
      std::lock_guard<std::mutex> l(s->mu);
      if (s->cancelled) return;
    }
    RunGuarded("periodic timer", s->cb);  // a failing run must not end the chain
    std::lock_guard<std::mutex> l(s->mu);
    if (!s->cancelled) Arm(s);
  });
  st->current = id;
}
}  // namespace

Clock::TimerId Clock::RunEvery(Duration period, Callback cb) {
  auto st = std::make_shared<PeriodicState>();
  st->clock = this;
  st->period = period;
  st->cb = std::move(cb);
  std::lock_guard<std::mutex> l(st->mu);
  Arm(st);
  Clock::TimerId first = st->current;
  std::lock_guard<std::mutex> g(g_periodic_mu);
  g_periodic[first] = st;
  return first;
}

RealClock::RealClock() : thread_([this] { Loop(); }) {}

RealClock::~RealClock() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

TimePoint RealClock::Now() const {
  return std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
}

Clock::TimerId RealClock::RunAt(TimePoint when, Callback cb) {
  TimerId id = timers_.Add(when, std::move(cb));
  cv_.notify_all();
  return id;
}

bool RealClock::Cancel(TimerId id) {
  std::shared_ptr<PeriodicState> st;
  {
    std::lock_guard<std::mutex> g(g_periodic_mu);
    if (auto it = g_periodic.find(id); it != g_periodic.end()) {
      st = it->second;
      g_periodic.erase(it);
    }
  }
  if (st) {
    std::lock_guard<std::mutex> l(st->mu);
    st->cancelled = true;
    timers_.Cancel(st->current);
    return true;
  }
  return timers_.Cancel(id);
}

void RealClock::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!stop_) {
    Callback cb;
    if (timers_.PopDue(Now(), &cb)) {
      l.unlock();
      RunGuarded("timer", cb);
      cb = nullptr;
      l.lock();
      continue;
    }
    TimePoint next;
    if (timers_.Earliest(&next)) {
      cv_.wait_until(l, std::chrono::system_clock::time_point(
                            std::chrono::duration_cast<std::chrono::system_clock::duration>(
                                next.time_since_epoch())));
    } else {
      cv_.wait(l);
    }
  }
}

SimulatedClock::SimulatedClock(TimePoint start) : now_(start) {}

TimePoint SimulatedClock::Now() const {
  std::lock_guard<std::mutex> l(mu_);
  return now_;
}

Clock::TimerId SimulatedClock::RunAt(TimePoint when, Callback cb) {
  return timers_.Add(when, std::move(cb));
}

Clock::TimerId SimulatedClock::RunEvery(Duration period, Callback cb) {
  std::lock_guard<std::mutex> l(mu_);
  TimerId id = next_periodic_id_++;
  periodic_[id] = Periodic{period, now_ + period, std::make_shared<Callback>(std::move(cb))};
  return id;
}

bool SimulatedClock::Cancel(TimerId id) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (periodic_.erase(id) > 0) return true;
  }
  return timers_.Cancel(id);
}

void SimulatedClock::Advance(Duration d) {
  std::lock_guard<std::mutex> serial(advance_mu_);
  TimePoint target;
  {
    std::lock_guard<std::mutex> l(mu_);
    target = now_ + d;
  }
  for (;;) {
    TimePoint when;
    if (!timers_.Earliest(&when) || when > target) break;
    Callback cb;
    if (!timers_.PopDue(when, &cb)) continue;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (when > now_) now_ = when;
    }
    RunGuarded("timer", cb);
  }
  // Periodic timers: one run each at its last due time inside the jump, in due order.
  std::vector<std::pair<TimePoint, std::pair<TimerId, std::shared_ptr<Callback>>>> due;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [id, p] : periodic_) {
      if (p.next > target) continue;
      int64_t skipped = (target - p.next) / p.period;
      TimePoint last = p.next + p.period * skipped;
      p.next = last + p.period;
      due.push_back({last, {id, p.cb}});
    }
  }
  std::sort(due.begin(), due.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [when, entry] : due) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!periodic_.count(entry.first)) continue;  // cancelled by an earlier callback
      if (when > now_) now_ = when;
    }
    RunGuarded("periodic timer", *entry.second);
  }
  std::lock_guard<std::mutex> l(mu_);
  now_ = target;
}

uint64_t Random::NextU64() {
  uint8_t b[8];
  Fill(b);
  uint64_t v;
  std::memcpy(&v, b, sizeof v);
  return v;
}

std::string Random::NewGuid() {
  std::array<uint8_t, 16> b;
  Fill(b);
  return FormatGuidV4(b);
}

SecretBytes Random::NewSecret(size_t n) {
  SecretBytes s(n);
  Fill(s.mutable_span());
  return s;
}

void SecureRandom::Fill(std::span<uint8_t> out) {
  if (out.empty()) return;
  // RAND_bytes fails only when the DRBG cannot be seeded: nothing sane can continue.
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) != 1) std::abort();
}

void SeededRandom::Fill(std::span<uint8_t> out) {
  std::lock_guard<std::mutex> l(mu_);
  for (size_t i = 0; i < out.size(); i += 8) {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    for (size_t j = 0; j < 8 && i + j < out.size(); ++j) out[i + j] = static_cast<uint8_t>(z >> (8 * j));
  }
}

Env DefaultEnv() {
  static RealClock* clock = new RealClock();
  static SecureRandom* random = new SecureRandom();
  static PosixFileSystem* fs = new PosixFileSystem();
  return Env{clock, random, fs};
}

int64_t MonotonicMicros() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace cmk::env

namespace cmk::env {
namespace {
std::atomic<uint64_t> g_background_exceptions{0};
std::function<void(std::string_view, std::string_view)> g_background_reporter;
}  // namespace

void SetBackgroundErrorReporter(std::function<void(std::string_view, std::string_view)> r) {
  g_background_reporter = std::move(r);
}

uint64_t BackgroundExceptions() { return g_background_exceptions.load(); }

std::string CurrentExceptionText() noexcept {
  try {
    try {
      throw;
    } catch (const std::exception& e) {
      return e.what();
    } catch (...) {
      return "unknown exception";
    }
  } catch (...) {
    return {};  // copying the text failed (out of memory): nothing to say
  }
}

bool RunGuarded(std::string_view what, const std::function<void()>& fn) noexcept {
  std::string error;
  try {
    fn();
    return true;
  } catch (...) {
    error = CurrentExceptionText();
  }
  g_background_exceptions++;
  try {
    if (g_background_reporter) {
      g_background_reporter(what, error);
    } else {
      std::fprintf(stderr, "cmklogs: background job '%.*s' failed: %s\n",
                   static_cast<int>(what.size()), what.data(), error.c_str());
    }
  } catch (...) {
  }
  return false;
}

}  // namespace cmk::env
