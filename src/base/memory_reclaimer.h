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
// zeros), once per burst of work. Not while busy, as a rule: a query that reuses freed heap
// would otherwise pay a page fault and a zeroed page for each page given back. Except when the
// resident memory the allocator holds free (the process's resident bytes less the heap in use)
// reaches `busy_slack_bytes`: each thread allocates from an arena of its own, and a large
// query's transient state (percentile's exact values at 100M rows: ~180 MiB) stays resident in
// the arena of whichever query thread ran it, so queries run back to back left one such
// remainder per thread (the nineteen breadth queries at 100M peaked at 2.2 GiB of RSS with
// 1.1 GB in use). Then it trims even while busy, at most once a check, and again only once the
// slack has grown by as much since the last trim (what a trim can't return, it doesn't retry).
// And not below `busy_floor_bytes` of resident memory (app::BusyTrimFloorBytes: the decoded
// cache's budget and half a GiB): below it the slack is kept while busy, as a large summary's
// next run would take every page of it back with a fault each (`count() by TimeGenerated |
// count` at 10M: ~500 MB of tables, ~0.8 s a run kept, ~2.3 s a run after a trim on this VM).
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
    std::function<size_t()> slack_bytes;  // resident bytes the allocator holds free
    std::function<void()> trim;           // gives it back
    std::function<size_t()> resident_bytes = nullptr;  // the process's resident bytes (optional)
  };
  // The process's own: steady clock, CLOCK_PROCESS_CPUTIME_ID, mallinfo2, /proc/self/statm,
  // malloc_trim.
  static Hooks System();

  struct Options {
    double idle_cpu = 0.05;           // fraction of one core since the last check
    double work_cpu_seconds = 1.0;    // since the last trim
    size_t min_free_bytes = size_t{64} << 20;
    size_t busy_slack_bytes = size_t{256} << 20;
    size_t busy_floor_bytes = 0;  // no busy trim below this resident size (0: none)
  };
  explicit MemoryReclaimer(Hooks hooks) : MemoryReclaimer(std::move(hooks), Options()) {}
  MemoryReclaimer(Hooks hooks, Options options);

  // True when it trimmed.
  bool Check();
  size_t trims() const { return trims_; }
  size_t busy_trims() const { return busy_trims_; }

 private:
  void Trim();

  Hooks hooks_;
  Options options_;
  double last_now_, last_cpu_, trimmed_cpu_;
  size_t slack_floor_ = 0;  // slack_bytes() after the last trim
  size_t trims_ = 0, busy_trims_ = 0;
};

}  // namespace cmk
