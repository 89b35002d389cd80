#include "kql/functions/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(Comparison, NumbersCompareAcrossTypes) {
  EXPECT_EQ(Op("==", {Longs({1, 2}), Reals({1.0, 2.5})}, 2), (V{"true", "false"}));
  EXPECT_EQ(Op("<", {Ticks(Type::kInt, 1), Real(1.5)}), (V{"true"}));
  EXPECT_EQ(Op(">=", {Longs({1, 2, 3}), Long(2)}, 3), (V{"false", "true", "true"}));
  EXPECT_EQ(Op("!=", {Longs({1, 2}), Long(2)}, 2), (V{"true", "false"}));
}

// Docs, "null values": == and != of two nulls are null; null == value is false, null != value
// is true; ordering comparisons with a null are null.
TEST(Comparison, NullFollowsKustoThreeValuedRules) {
  EXPECT_EQ(Op("==", {Null(Type::kLong), Null(Type::kLong)}), (V{"<null>"}));
  EXPECT_EQ(Op("!=", {Null(Type::kLong), Null(Type::kLong)}), (V{"<null>"}));
  EXPECT_EQ(Op("==", {Longs({std::nullopt, 1}), Long(1)}, 2), (V{"false", "true"}));
  EXPECT_EQ(Op("!=", {Longs({std::nullopt, 1}), Long(1)}, 2), (V{"true", "false"}));
  EXPECT_EQ(Op("<", {Reals({std::nullopt}), Long(1)}), (V{"<null>"}));
  EXPECT_EQ(Op(">=", {Long(1), Reals({std::nullopt})}), (V{"<null>"}));
}

TEST(Comparison, StringsAreCaseSensitiveAndOrdinal) {
  EXPECT_EQ(Op("==", {Strs({"abc", "ABC"}), Str("abc")}, 2), (V{"true", "false"}));
  EXPECT_EQ(Op("<", {Str("B"), Str("a")}), (V{"true"}));
  EXPECT_EQ(Op("!=", {Str(""), Str("")}), (V{"false"}));
}

TEST(Comparison, DatetimesTimespansBoolsGuids) {
  EXPECT_EQ(Op(">", {Dt("2024-01-02"), Dt("2024-01-01")}), (V{"true"}));
  EXPECT_EQ(Op("<=", {Ts("1h"), Ts("60m")}), (V{"true"}));
  EXPECT_EQ(Op("==", {Bools({1, 0}), Const(Bools({1}))}, 2), (V{"true", "false"}));
  EXPECT_EQ(Op("==", {Strs({"0f8fad5b-d9cb-469f-a165-70867728950e"}, Type::kGuid),
                      Str("0F8FAD5B-D9CB-469F-A165-70867728950E")}),
            (V{"true"}));
  EXPECT_THAT(TypeOf(FindOperator("=="), {Type::kDateTime, Type::kLong}),
              StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
}

TEST(Comparison, DynamicSideConvertsToTheOtherType) {
  EXPECT_EQ(Op("==", {Dyn({"\"abc\"", "1", "null"}), Str("abc")}, 3), (V{"true", "false", "false"}));
  EXPECT_EQ(Op(">", {Dyn({"5", "\"7\"", "null"}), Long(4)}, 3), (V{"true", "true", "<null>"}));
}

TEST(Comparison, NanIsNeverEqual) {
  EXPECT_EQ(Op("==", {Real(std::nan("")), Real(std::nan(""))}), (V{"false"}));
}

TEST(Between, InclusiveRangesOfNumbersDatetimesTimespans) {
  EXPECT_EQ(Op("between", {Longs({1, 2, 5, 6, std::nullopt}), Long(2), Long(5)}, 5),
            (V{"false", "true", "true", "false", "false"}));
  EXPECT_EQ(Op("!between", {Longs({1, 2, std::nullopt}), Long(2), Long(5)}, 3), (V{"true", "false", "false"}));
  // A column without nulls between constants (one tight loop), plain and negated.
  EXPECT_EQ(Op("between", {Longs({1, 2, 5, 6}), Long(2), Long(5)}, 4), (V{"false", "true", "true", "false"}));
  EXPECT_EQ(Op("!between", {Longs({1, 2, 5, 6}), Long(2), Long(5)}, 4), (V{"true", "false", "false", "true"}));
  EXPECT_EQ(Op("between", {Longs({5, 2}), Long(5), Long(2)}, 2), (V{"false", "false"}));
  EXPECT_EQ(Op("between", {Reals({1.5}), Long(1), Long(2)}), (V{"true"}));
  EXPECT_EQ(Op("between", {Dt("2024-01-01T12:00:00.0000000Z"), Dt("2024-01-01"), Ts("12h")}),
            (V{"true"}));
  EXPECT_EQ(Op("between", {Dt("2024-01-02T00:00:01.0000000Z"), Dt("2024-01-01"), Dt("2024-01-02")}),
            (V{"false"}));
  EXPECT_THAT(TypeOf(FindOperator("between"), {Type::kString, Type::kString, Type::kString}),
              StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
}

}  // namespace
}  // namespace cmk::kql
