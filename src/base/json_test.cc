#include "base/json.h"

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

}  // namespace
}  // namespace cmk::json
