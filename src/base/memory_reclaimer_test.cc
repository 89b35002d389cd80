#include "base/memory_reclaimer.h"

#include <unistd.h>

#include <cstdio>
#include <memory>
#include <vector>

#include <gtest/gtest.h>

namespace cmk {
namespace {

struct Fake {
  double now = 100, cpu = 10;
  size_t free = size_t{200} << 20;
  size_t slack = size_t{100} << 20;
  size_t kept = size_t{30} << 20;  // slack a trim leaves: the binary, stacks, what it can't return
  int trims = 0;
  MemoryReclaimer::Hooks Hooks() {
    return {[this] { return now; }, [this] { return cpu; }, [this] { return free; }, [this] { return slack; },
            [this] {
              ++trims;
              slack = kept;
            }};
  }
};

TEST(MemoryReclaimer, TrimsOnceWhenIdleAfterWork) {
  Fake f;
  MemoryReclaimer r(f.Hooks());
  f.now += 2;
  f.cpu += 0.01;  // idle, but no work since it started
  EXPECT_FALSE(r.Check());
  f.now += 2;
  f.cpu += 3.5;  // busy: 1.75 cores
  EXPECT_FALSE(r.Check());
  f.now += 2;
  f.cpu += 0.5;  // still 25% of a core
  EXPECT_FALSE(r.Check());
  f.now += 2;
  f.cpu += 0.05;  // idle after 4 s of work
  EXPECT_TRUE(r.Check());
  EXPECT_EQ(f.trims, 1);
  f.now += 2;
  f.cpu += 0.01;  // still idle: the free memory was given back already
  EXPECT_FALSE(r.Check());
  f.now += 60;
  EXPECT_FALSE(r.Check());
  EXPECT_EQ(f.trims, 1);
  f.now += 2;
  f.cpu += 1.5;  // another burst, then idle
  EXPECT_FALSE(r.Check());
  f.now += 2;
  EXPECT_TRUE(r.Check());
  EXPECT_EQ(r.trims(), 2u);
}

TEST(MemoryReclaimer, LeavesSmallFreeMemoryAndSmallWorkAlone) {
  Fake f;
  MemoryReclaimer r(f.Hooks());
  f.now += 2;
  f.cpu += 0.09;  // idle, after too little work
  EXPECT_FALSE(r.Check());
  f.free = size_t{10} << 20;
  f.now += 2;
  f.cpu += 3;
  EXPECT_FALSE(r.Check());
  f.now += 2;
  EXPECT_FALSE(r.Check());  // idle after work, but only 10 MiB free
  f.free = size_t{65} << 20;
  f.now += 2;
  EXPECT_TRUE(r.Check());
  EXPECT_EQ(f.trims, 1);
}

// While busy it trims only when the resident free heap passes the bound, once a check, and
// not again until the slack builds up again.
TEST(MemoryReclaimer, TrimsWhileBusyOnlyPastTheSlackBound) {
  Fake f;
  MemoryReclaimer r(f.Hooks());
  f.now += 2;
  f.cpu += 3.5;  // busy, 100 MiB slack
  EXPECT_FALSE(r.Check());
  f.slack = size_t{255} << 20;
  f.now += 2;
  f.cpu += 3.5;
  EXPECT_FALSE(r.Check());
  f.slack = size_t{256} << 20;  // a query thread's arena kept a large query's state
  f.now += 2;
  f.cpu += 3.5;
  EXPECT_TRUE(r.Check());
  EXPECT_EQ(f.trims, 1);
  EXPECT_EQ(r.busy_trims(), 1u);
  f.now += 2;
  f.cpu += 3.5;  // still busy; the slack was given back
  EXPECT_FALSE(r.Check());
  f.slack = size_t{280} << 20;  // grown, but not by the bound since the last trim left 30 MiB
  f.now += 2;
  f.cpu += 3.5;
  EXPECT_FALSE(r.Check());
  f.slack = size_t{400} << 20;
  f.kept = size_t{390} << 20;  // and this time the trim can't return it
  f.now += 2;
  f.cpu += 3.5;
  EXPECT_TRUE(r.Check());
  EXPECT_EQ(f.trims, 2);
  f.now += 2;
  f.cpu += 3.5;  // so it doesn't try again until the slack grows by the bound
  EXPECT_FALSE(r.Check());
  f.slack = size_t{646} << 20;
  f.now += 2;
  f.cpu += 3.5;
  EXPECT_TRUE(r.Check());
  EXPECT_EQ(f.trims, 3);
  // Then idle: the idle rule needs work since the last trim (the busy trim counts as one).
  f.now += 2;
  f.cpu += 0.01;
  EXPECT_FALSE(r.Check());
  EXPECT_EQ(r.trims(), 3u);
  EXPECT_EQ(r.busy_trims(), 3u);
}

// Below busy_floor_bytes of resident memory the slack stays while busy (a large summary's next
// run reuses it instead of faulting every page back); past the floor the slack rule applies as
// before, and the idle rule is the same either way.
TEST(MemoryReclaimer, KeepsTheSlackWhileBusyBelowTheFloor) {
  Fake f;
  size_t resident = size_t{900} << 20;
  MemoryReclaimer::Hooks hooks = f.Hooks();
  hooks.resident_bytes = [&resident] { return resident; };
  MemoryReclaimer::Options options;
  options.busy_floor_bytes = size_t{1536} << 20;
  MemoryReclaimer r(hooks, options);
  f.slack = size_t{500} << 20;  // a summary's tables, freed
  for (int i = 0; i < 3; ++i) {
    f.now += 2;
    f.cpu += 3.5;  // busy
    EXPECT_FALSE(r.Check());
  }
  EXPECT_EQ(f.trims, 0);
  resident = size_t{1600} << 20;  // the cache filled up beside it
  f.now += 2;
  f.cpu += 3.5;
  EXPECT_TRUE(r.Check());
  EXPECT_EQ(r.busy_trims(), 1u);
  resident = size_t{900} << 20;
  f.slack = size_t{400} << 20;  // the next burst's remainder, below the floor: kept while busy
  f.now += 2;
  f.cpu += 3.5;
  EXPECT_FALSE(r.Check());
  f.now += 2;
  f.cpu += 0.01;  // idle after work: trimmed whatever the floor
  EXPECT_TRUE(r.Check());
  EXPECT_EQ(f.trims, 2);
  EXPECT_EQ(r.busy_trims(), 1u);
}

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CMK_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CMK_UNDER_ASAN 1
#endif

#ifndef CMK_UNDER_ASAN
size_t ResidentBytes() {
  long pages = 0, resident = 0;
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
  std::fclose(f);
  return static_cast<size_t>(resident) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
}
#endif

// The system hooks give back heap that frees left fragmented: 200 MiB of 1 KiB blocks, one in
// 64 kept (the rest of each 64 KiB free but not at the heap's top, so free() keeps it).
TEST(MemoryReclaimer, SystemTrimGivesFragmentedFreeHeapBack) {
#ifdef CMK_UNDER_ASAN
  GTEST_SKIP() << "ASan's allocator replaces malloc";
#else
  MemoryReclaimer::Hooks h = MemoryReclaimer::System();
  std::vector<std::unique_ptr<char[]>> blocks(200 << 10);
  for (auto& b : blocks) {
    b.reset(new char[1000]);
    b[0] = 1;
    b[999] = 1;
  }
  for (size_t i = 0; i < blocks.size(); ++i) {
    if (i % 64 != 0) blocks[i].reset();
  }
  size_t before = ResidentBytes();
  EXPECT_GE(h.free_bytes(), size_t{150} << 20);
  size_t slack = h.slack_bytes();
  EXPECT_GE(slack, size_t{150} << 20);
  h.trim();
  size_t after = ResidentBytes();
  EXPECT_LT(after + (size_t{100} << 20), before) << before << " -> " << after;
  EXPECT_LT(h.slack_bytes() + (size_t{100} << 20), slack);
  EXPECT_GT(h.cpu_seconds(), 0);
#endif
}

}  // namespace
}  // namespace cmk
