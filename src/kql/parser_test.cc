#include "kql/parser.h"
#include <gtest/gtest.h>
TEST(Kql, Smoke) { EXPECT_TRUE(cmk::kql::ParseQuery("T | count").ok()); }
