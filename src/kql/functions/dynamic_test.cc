#include "kql/functions/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(Dynamic, MemberAndIndexAccess) {
  Column d = Dyn({"{\"a\":{\"b\":[10,20,30]}}", "[1,2]", "null", "{\"a\":\"x\"}"});
  EXPECT_EQ(Fn("__member", {d, Str("a")}, 4), (V{"{\"b\":[10,20,30]}", "<null>", "<null>", "x"}));
  Column inner = Dyn({"[10,20,30]"});
  EXPECT_EQ(Fn("__index", {inner, Long(1)}), (V{"20"}));
  EXPECT_EQ(Fn("__index", {inner, Long(-1)}), (V{"30"}));
  EXPECT_EQ(Fn("__index", {inner, Long(3)}), (V{"<null>"}));
  EXPECT_EQ(Fn("__index", {d, Str("a")}, 4), (V{"{\"b\":[10,20,30]}", "<null>", "<null>", "x"}));
  EXPECT_THAT(TypeOf(FindFunction("__index"), {Type::kString, Type::kLong}), StatusIs(StatusCode::kInvalidArgument));
}

TEST(Dynamic, BagsAndArrays) {
  EXPECT_EQ(Fn("bag_keys", {Dyn({"{\"a\":1,\"c\":{\"d\":2}}", "[1]"})}, 2), (V{"[\"a\",\"c\"]", "<null>"}));
  EXPECT_EQ(Fn("bag_has_key", {Dyn({"{\"a\":1}"}), Str("a")}), (V{"true"}));
  EXPECT_EQ(Fn("array_length", {Dyn({"[1,2,3]", "{}", "[]"})}, 3), (V{"3", "<null>", "0"}));
  EXPECT_EQ(Fn("pack", {Str("k"), Long(1), Str("t"), Dt("2024-01-01")}), (V{"{\"k\":1,\"t\":\"2024-01-01T00:00:00.0000000Z\"}"}));
  EXPECT_EQ(Fn("bag_pack", {Str("s"), Str("v"), Str("n"), Null(Type::kLong)}), (V{"{\"s\":\"v\",\"n\":null}"}));
  EXPECT_EQ(Fn("pack_array", {Long(1), Str("a"), Real(2.5), Dyn({"[1]"})}), (V{"[1,\"a\",2.5,[1]]"}));
  EXPECT_EQ(Fn("array_concat", {Dyn({"[1,2]"}), Dyn({"[3]"})}), (V{"[1,2,3]"}));
  EXPECT_EQ(Fn("array_concat", {Dyn({"[1,2]"}), Dyn({"3"})}), (V{"<null>"}));
}

TEST(Dynamic, ArraySliceTakesInclusiveEndsAndNegativeIndexes) {
  Column arr = Dyn({"[1,2,3,4,5]"});
  EXPECT_EQ(Fn("array_slice", {arr, Long(1), Long(3)}), (V{"[2,3,4]"}));
  EXPECT_EQ(Fn("array_slice", {arr, Long(-2), Long(-1)}), (V{"[4,5]"}));
  EXPECT_EQ(Fn("array_slice", {arr, Long(3), Long(10)}), (V{"[4,5]"}));
  EXPECT_EQ(Fn("array_slice", {arr, Long(4), Long(2)}), (V{"[]"}));
}

TEST(Dynamic, SortSetAndStrcatArray) {
  EXPECT_EQ(Fn("array_sort_asc", {Dyn({"[3,null,1,\"b\",\"a\"]"})}), (V{"[1,3,\"a\",\"b\",null]"}));
  EXPECT_EQ(Fn("array_sort_desc", {Dyn({"[3,null,1]"})}), (V{"[3,1,null]"}));
  EXPECT_EQ(Fn("set_has_element", {Dyn({"[\"this\",2,\"example\"]"}), Str("example")}), (V{"true"}));
  EXPECT_EQ(Fn("set_has_element", {Dyn({"[1,2]"}), Real(2.0)}), (V{"true"}));
  EXPECT_EQ(Fn("set_has_element", {Dyn({"[1,2]"}), Long(5)}), (V{"false"}));
  EXPECT_EQ(Fn("strcat_array", {Dyn({"[1,\"2\",3]"}), Str("-")}), (V{"1-2-3"}));
}

TEST(Dynamic, GetTypeNamesScalarsAndDynamicShapes) {
  EXPECT_EQ(Fn("gettype", {Dyn({"[1]", "{}", "\"s\"", "1", "1.5", "true", "null"})}, 7),
            (V{"array", "dictionary", "string", "long", "real", "bool", "null"}));
  EXPECT_EQ(Fn("gettype", {Dt("2024-01-01")}), (V{"datetime"}));
  EXPECT_EQ(Fn("gettype", {Ts("1h")}), (V{"timespan"}));
  EXPECT_EQ(Fn("gettype", {Str("")}), (V{"string"}));
}

}  // namespace
}  // namespace cmk::kql
