#include "base/system_memory.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace cmk {
namespace {

constexpr size_t kGiB = size_t{1} << 30;

TEST(SystemMemory, TheLowestCgroupLimitBelowPhysicalMemoryWins) {
  EXPECT_EQ(EffectiveMemoryLimit(16 * kGiB, {}), 16 * kGiB);
  EXPECT_EQ(EffectiveMemoryLimit(16 * kGiB, {"max\n"}), 16 * kGiB);                // v2, no limit
  EXPECT_EQ(EffectiveMemoryLimit(16 * kGiB, {"9223372036854771712\n"}), 16 * kGiB);  // v1, none
  EXPECT_EQ(EffectiveMemoryLimit(16 * kGiB, {"8589934592\n"}), 8 * kGiB);
  EXPECT_EQ(EffectiveMemoryLimit(16 * kGiB, {"max\n", "4294967296\n", "8589934592"}), 4 * kGiB);
}

TEST(SystemMemory, UnreadableLimitsAreIgnored) {
  // Absent files read as "", and nothing else but a whole number of bytes counts.
  EXPECT_EQ(EffectiveMemoryLimit(16 * kGiB, {"", "junk", "123abc", "-5", "0", " 42", "1e9"}), 16 * kGiB);
  EXPECT_EQ(EffectiveMemoryLimit(16 * kGiB, {"99999999999999999999999999"}), 16 * kGiB);  // overflow
}

TEST(SystemMemory, TheProcessLimitIsAtMostPhysicalMemory) {
  size_t physical = static_cast<size_t>(sysconf(_SC_PHYS_PAGES)) * static_cast<size_t>(sysconf(_SC_PAGESIZE));
  size_t limit = ProcessMemoryLimit();
  EXPECT_GT(limit, size_t{0});
  EXPECT_LE(limit, physical);
}

}  // namespace
}  // namespace cmk
