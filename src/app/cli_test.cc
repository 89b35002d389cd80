#include "app/cli.h"

#include <gtest/gtest.h>

#include "base/testing.h"

namespace cmk::app {
namespace {

TEST(CliTest, ParsesHumanDurations) {
  using namespace std::chrono;
  EXPECT_EQ(*ParseHumanDuration("14d"), hours(24 * 14));
  EXPECT_EQ(*ParseHumanDuration("2h"), hours(2));
  EXPECT_EQ(*ParseHumanDuration("30m"), minutes(30));
  EXPECT_EQ(*ParseHumanDuration("90s"), seconds(90));
  EXPECT_EQ(*ParseHumanDuration("90"), seconds(90));
  EXPECT_EQ(*ParseHumanDuration("500ms"), milliseconds(500));
  EXPECT_EQ(*ParseHumanDuration("P1D"), hours(24));
  EXPECT_THAT(ParseHumanDuration("2x"), testing::StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseHumanDuration("h"), testing::StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace cmk::app
