#include "app/instance.h"

#include <gtest/gtest.h>

namespace cmk::app {
namespace {

constexpr size_t kGiB = size_t{1} << 30;

TEST(InstanceTest, TheDecodedCacheTakesOneGiBOrAQuarterOfASmallerMemory) {
  EXPECT_EQ(DefaultQueryCacheBytes(24 * kGiB), kGiB);  // the 2 GiB footprint at 100M rows
  EXPECT_EQ(DefaultQueryCacheBytes(4 * kGiB), kGiB);
  EXPECT_EQ(DefaultQueryCacheBytes(2 * kGiB), kGiB / 2);  // a 2 GiB container
  EXPECT_EQ(DefaultQueryCacheBytes(kGiB / 8), size_t{64} << 20);
  ServeOptions defaults;
  EXPECT_LT(defaults.query_cache_mb, 0);  // sized from the machine unless set
}

TEST(InstanceTest, AllQueriesMayHoldFourGiBOrHalfOfASmallerMemory) {
  EXPECT_EQ(DefaultQueryServerMemoryBytes(24 * kGiB), 4 * kGiB);
  EXPECT_EQ(DefaultQueryServerMemoryBytes(8 * kGiB), 4 * kGiB);
  EXPECT_EQ(DefaultQueryServerMemoryBytes(2 * kGiB), kGiB);  // a 2 GiB container
  EXPECT_EQ(DefaultQueryServerMemoryBytes(kGiB / 8), size_t{256} << 20);
  ServeOptions defaults;
  EXPECT_LT(defaults.query_server_memory_mb, 0);
}

TEST(InstanceTest, TheBusyTrimWaitsForTheCachesBudgetAndHalfAGiBOrHalfASmallerMemory) {
  EXPECT_EQ(BusyTrimFloorBytes(kGiB, 24 * kGiB), kGiB + kGiB / 2);  // the defaults: 1.5 GiB
  EXPECT_EQ(BusyTrimFloorBytes(4 * kGiB, 24 * kGiB), 4 * kGiB + kGiB / 2);
  EXPECT_EQ(BusyTrimFloorBytes(kGiB / 2, 2 * kGiB), kGiB);  // a 2 GiB container
  EXPECT_EQ(BusyTrimFloorBytes(size_t{64} << 20, kGiB / 2), kGiB / 4);
  EXPECT_EQ(BusyTrimFloorBytes(0, 24 * kGiB), kGiB / 2);  // --query-cache-mb 0
}

}  // namespace
}  // namespace cmk::app
