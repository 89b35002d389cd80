#include "base/memory_reclaimer.h"

#include <malloc.h>
#include <time.h>

#include <chrono>

namespace cmk {

MemoryReclaimer::Hooks MemoryReclaimer::System() {
  Hooks h;
  h.now_seconds = [] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
  };
  h.cpu_seconds = [] {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
  };
  // fordblks: free bytes in the arenas' chunks (still counted after a trim: the trim releases
  // their pages, not the chunks; hence the work since the last trim gates the next one).
  h.free_bytes = [] { return static_cast<size_t>(mallinfo2().fordblks); };
  h.trim = [] { malloc_trim(0); };
  return h;
}

MemoryReclaimer::MemoryReclaimer(Hooks hooks, Options options) : hooks_(std::move(hooks)), options_(options) {
  last_now_ = hooks_.now_seconds();
  last_cpu_ = hooks_.cpu_seconds();
  trimmed_cpu_ = last_cpu_;
}

bool MemoryReclaimer::Check() {
  double now = hooks_.now_seconds(), cpu = hooks_.cpu_seconds();
  double elapsed = now - last_now_, used = cpu - last_cpu_;
  last_now_ = now;
  last_cpu_ = cpu;
  if (!(elapsed > 0) || used > options_.idle_cpu * elapsed) return false;  // busy (or no time passed)
  if (cpu - trimmed_cpu_ < options_.work_cpu_seconds) return false;        // nothing freed since
  if (hooks_.free_bytes() < options_.min_free_bytes) return false;
  hooks_.trim();
  trimmed_cpu_ = hooks_.cpu_seconds();  // the trim's own CPU is not work
  last_cpu_ = trimmed_cpu_;
  ++trims_;
  return true;
}

}  // namespace cmk
