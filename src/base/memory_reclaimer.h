#pragma once
// MemoryReclaimer: gives the allocator's free memory back to the system when the process goes
// idle after work.
//
// glibc's malloc keeps what a burst frees (an ingestion's request buffers and memtables, a
// large query's state) in its arenas for reuse: after ingesting 10M rows the server held ~100
// MiB of free heap, after the breadth queries at 100M ~260 MiB (malloc_trim measured it). That
// is cheap while work goes on (reuse costs no page faults), and memory an operator pays for
// once the server is idle. Check() runs every couple of seconds (app/instance.cc): when the
// process used under `idle_cpu` of one core since the previous check, used at least
// `work_cpu_seconds` since the last trim, and the allocator holds at least `min_free_bytes`
// free, it trims (malloc_trim(0): free pages are returned, MADV_DONTNEED, so they read back as
// zeros), once per burst of work. Never while busy: a query that reuses freed heap would
// otherwise pay a page fault and a zeroed page for each page given back.
// Thread safety: Check() from one thread at a time (a timer).
#include <cstddef>
#include <functional>

namespace cmk {

class MemoryReclaimer {
 public:
  struct Hooks {
    std::function<double()> now_seconds;  // monotonic
    std::function<double()> cpu_seconds;  // the process's CPU time so far
    std::function<size_t()> free_bytes;   // free memory the allocator holds
    std::function<void()> trim;           // gives it back
  };
  // The process's own: steady clock, CLOCK_PROCESS_CPUTIME_ID, mallinfo2, malloc_trim.
  static Hooks System();

  struct Options {
    double idle_cpu = 0.05;           // fraction of one core since the last check
    double work_cpu_seconds = 1.0;    // since the last trim
    size_t min_free_bytes = size_t{64} << 20;
  };
  explicit MemoryReclaimer(Hooks hooks) : MemoryReclaimer(std::move(hooks), Options()) {}
  MemoryReclaimer(Hooks hooks, Options options);

  // True when it trimmed.
  bool Check();
  size_t trims() const { return trims_; }

 private:
  Hooks hooks_;
  Options options_;
  double last_now_, last_cpu_, trimmed_cpu_;
  size_t trims_ = 0;
};

}  // namespace cmk
