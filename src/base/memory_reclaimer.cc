#include "base/memory_reclaimer.h"

#include <malloc.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

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
  // Resident bytes less the heap in use (arenas and mmapped blocks): the free heap that is
  // resident, plus the binary, stacks and other mappings (tens of MiB), which no trim returns.
  h.resident_bytes = [] {
    long pages = 0, resident = 0;
    FILE* f = std::fopen("/proc/self/statm", "r");
    if (f == nullptr) return size_t{0};
    if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
    std::fclose(f);
    return static_cast<size_t>(std::max(resident, 0L)) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
  };
  h.slack_bytes = [resident = h.resident_bytes] {
    size_t rss = resident();
    struct mallinfo2 m = mallinfo2();
    size_t used = m.uordblks + m.hblkhd;
    return rss > used ? rss - used : size_t{0};
  };
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
  if (!(elapsed > 0)) return false;
  if (used > options_.idle_cpu * elapsed) {  // busy: only past the slack bound
    if (options_.busy_floor_bytes != 0 && hooks_.resident_bytes &&
        hooks_.resident_bytes() < options_.busy_floor_bytes) {
      return false;  // (first: one read of statm, where the slack walks every arena too)
    }
    if (!hooks_.slack_bytes || hooks_.slack_bytes() < slack_floor_ + options_.busy_slack_bytes) return false;
    ++busy_trims_;
    Trim();
    return true;
  }
  if (cpu - trimmed_cpu_ < options_.work_cpu_seconds) return false;  // nothing freed since
  if (hooks_.free_bytes() < options_.min_free_bytes) return false;
  Trim();
  return true;
}

void MemoryReclaimer::Trim() {
  hooks_.trim();
  if (hooks_.slack_bytes) slack_floor_ = hooks_.slack_bytes();
  trimmed_cpu_ = hooks_.cpu_seconds();  // the trim's own CPU is not work
  last_cpu_ = trimmed_cpu_;
  ++trims_;
}

}  // namespace cmk
