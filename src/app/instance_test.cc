#include "app/instance.h"

#include <gtest/gtest.h>

namespace cmk::app {
namespace {

constexpr size_t kGiB = size_t{1} << 30;

TEST(InstanceTest, TheDecodedCacheTakesAQuarterOfTheMemoryAtLeastOneGiB) {
  EXPECT_EQ(DefaultQueryCacheBytes(24 * kGiB), 6 * kGiB);
  EXPECT_EQ(DefaultQueryCacheBytes(64 * kGiB), 16 * kGiB);
  EXPECT_EQ(DefaultQueryCacheBytes(4 * kGiB), kGiB);
  EXPECT_EQ(DefaultQueryCacheBytes(2 * kGiB), kGiB);  // small machines keep the old 1 GiB
  ServeOptions defaults;
  EXPECT_LT(defaults.query_cache_mb, 0);  // sized from the machine unless set
}

}  // namespace
}  // namespace cmk::app
