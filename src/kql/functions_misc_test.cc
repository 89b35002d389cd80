#include "kql/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(Math, AbsAndSignKeepTheType) {
  EXPECT_EQ(Fn("abs", {Longs({-5, 3, std::nullopt})}, 3), (V{"5", "3", "<null>"}));
  EXPECT_EQ(Fn("abs", {Real(-2.5)}), (V{"2.5"}));
  EXPECT_EQ(Fn("abs", {Ts("-01:00:00")}), (V{"01:00:00"}));
  EXPECT_EQ(Fn("sign", {Longs({-5, 0, 7})}, 3), (V{"-1", "0", "1"}));
}

TEST(Math, RoundFollowsDocsExamples) {
  EXPECT_EQ(Fn("round", {Real(2.98765), Long(3)}), (V{"2.988"}));
  EXPECT_EQ(Fn("round", {Real(2.15), Long(1)}), (V{"2.2"}));
  EXPECT_EQ(Fn("round", {Real(2.15)}), (V{"2"}));
  EXPECT_EQ(Fn("round", {Real(-50.55), Long(-2)}), (V{"-100"}));
  EXPECT_EQ(Fn("round", {Real(21.5), Long(-1)}), (V{"20"}));
  EXPECT_EQ(Fn("round", {Long(1234), Long(-2)}), (V{"1200"}));
}

TEST(Math, LogsAndRootsAreNullOutsideTheirDomain) {
  EXPECT_EQ(Fn("log", {Reals({1, 0, -1})}, 3), (V{"0", "<null>", "<null>"}));
  EXPECT_EQ(Fn("log10", {Long(1000)}), (V{"3"}));
  EXPECT_EQ(Fn("log2", {Long(8)}), (V{"3"}));
  EXPECT_EQ(Fn("sqrt", {Reals({16, -1})}, 2), (V{"4", "<null>"}));
  EXPECT_EQ(Fn("exp", {Long(0)}), (V{"1"}));
  EXPECT_EQ(Fn("exp2", {Long(10)}), (V{"1024"}));
  EXPECT_EQ(Fn("pow", {Long(2), Long(10)}), (V{"1024"}));
  EXPECT_EQ(Fn("ceiling", {Real(1.1)}), (V{"2"}));
  EXPECT_THAT(TypeOf(FindFunction("sqrt"), {Type::kString}), StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
}

TEST(Math, Classification) {
  Column x = Reals({1.0, std::nan(""), HUGE_VAL, std::nullopt});
  EXPECT_EQ(Fn("isnan", {x}, 4), (V{"false", "true", "false", "<null>"}));
  EXPECT_EQ(Fn("isinf", {x}, 4), (V{"false", "false", "true", "<null>"}));
  EXPECT_EQ(Fn("isfinite", {x}, 4), (V{"true", "false", "false", "<null>"}));
}

TEST(Math, MinOfAndMaxOfSkipNulls) {
  EXPECT_EQ(Fn("min_of", {Long(10), Long(1), Long(-3), Long(17)}), (V{"-3"}));
  Column a = Ints(Type::kInt, {5, 10, std::nullopt, 1, std::nullopt});
  Column b = Ints(Type::kInt, {2, 1, 3, std::nullopt, std::nullopt});
  EXPECT_EQ(Fn("min_of", {a, b}, 5), (V{"2", "1", "3", "1", "<null>"}));
  EXPECT_EQ(Fn("max_of", {a, b}, 5), (V{"5", "10", "3", "1", "<null>"}));
  EXPECT_EQ(Fn("max_of", {Long(1), Real(1.5)}), (V{"1.5"}));
  EXPECT_EQ(Fn("max_of", {Dt("2024-01-01"), Dt("2024-06-01")}), (V{"2024-06-01T00:00:00Z"}));
  EXPECT_EQ(Fn("min_of", {Str("b"), Str("a")}), (V{"a"}));
}

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

TEST(Hash, Sha256IsLowerHex) {
  EXPECT_EQ(Fn("hash_sha256", {Str("World")}),
            (V{"78ae647dc5544d227130a0682a51e30bc7777fbb6d8a8f17007463a3ecd1d524"}));
}

TEST(Registry, EveryDocumentedOperatorIsRegistered) {
  for (const char* op : {"+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=", "and", "or", "=~", "!~",
                         "has", "!has", "has_cs", "!has_cs", "hasprefix", "hassuffix", "contains", "!contains",
                         "contains_cs", "!contains_cs", "startswith", "!startswith", "startswith_cs", "endswith",
                         "!endswith", "endswith_cs", "matches regex", "in", "!in", "in~", "!in~", "has_any",
                         "has_all", "between", "!between", "neg"}) {
    EXPECT_NE(FindOperator(op), nullptr) << op;
  }
}

}  // namespace
}  // namespace cmk::kql
