#include "base/json.h"

#include <cstdint>

#include <gtest/gtest.h>

#include "base/testing.h"

namespace cmk::json {
namespace {

using ::cmk::testing::StatusIs;

TEST(JsonTest, ParseRejectsTrailingGarbageAndDeepNesting) {
  EXPECT_TRUE(Parse(R"({"a":1}  )").ok());
  EXPECT_THAT(Parse(R"({"a":1} x)"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(Parse(R"({"a":)"), StatusIs(StatusCode::kInvalidArgument));
  std::string deep(100, '[');
  deep += std::string(100, ']');
  EXPECT_THAT(Parse(deep, 64), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseObject("[1]"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(JsonTest, FindCiIgnoresKeyCase) {
  auto obj = *ParseObject(R"({"Capacity": 500, "name": "x"})");
  ASSERT_NE(FindCI(obj, "capacity"), nullptr);
  EXPECT_EQ(FindCI(obj, "capacity")->as_int64(), 500);
  EXPECT_EQ(FindCI(obj, "missing"), nullptr);
}

TEST(JsonTest, TypedGettersNameTheKey) {
  auto obj = *ParseObject(R"({"s": "v", "i": 3, "b": true, "bad": [1], "n": null})");
  EXPECT_EQ(**GetString(obj, "s"), "v");
  EXPECT_EQ(**GetInt(obj, "i"), 3);
  EXPECT_EQ(**GetBool(obj, "b"), true);
  EXPECT_FALSE(GetString(obj, "absent")->has_value());
  EXPECT_FALSE(GetString(obj, "n")->has_value());
  auto r = GetString(obj, "bad");
  EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_NE(r.status().message().find("'bad'"), std::string::npos);
  EXPECT_THAT(GetInt(obj, "s"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(JsonTest, GetIntTakesWholeDoublesInRangeAndRejectsTheRest) {
  // Found by json_fuzz: a huge number parses as a double, and casting it to int64 was undefined.
  auto obj = *ParseObject(
      R"({"whole": 5.0, "neg": -9223372036854775808.0, "frac": 2.5, "huge": 8.9e109,)"
      R"( "edge": 9223372036854775808.0, "big": 88888888888888888888888888880})");
  EXPECT_EQ(**GetInt(obj, "whole"), 5);
  EXPECT_EQ(**GetInt(obj, "neg"), INT64_MIN);
  for (const char* k : {"frac", "huge", "edge", "big"}) {
    auto r = GetInt(obj, k);
    EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument)) << k;
  }
}

}  // namespace
}  // namespace cmk::json
