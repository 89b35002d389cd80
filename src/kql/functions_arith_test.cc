#include "kql/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(Arithmetic, LongsAddSubtractMultiplyElementwise) {
  EXPECT_EQ(Op("+", {Longs({1, 2, 3}), Longs({10, 20, 30})}, 3), (V{"11", "22", "33"}));
  EXPECT_EQ(Op("-", {Longs({1, 2}), Long(5)}, 2), (V{"-4", "-3"}));
  EXPECT_EQ(Op("*", {Long(3), Longs({4, -5})}, 2), (V{"12", "-15"}));
}

TEST(Arithmetic, IntegerDivisionTruncatesAndByZeroIsNull) {
  EXPECT_EQ(Op("/", {Longs({7, -7, 7}), Longs({2, 2, 0})}, 3), (V{"3", "-3", "<null>"}));
  EXPECT_EQ(Op("%", {Longs({7, -7, 7}), Longs({3, 3, 0})}, 3), (V{"1", "-1", "<null>"}));
  EXPECT_EQ(Op("/", {Long(INT64_MIN), Long(-1)}), (V{std::to_string(INT64_MIN)}));
}

TEST(Arithmetic, RealDivisionByZeroIsInfinity) {
  EXPECT_EQ(Op("/", {Real(1), Real(0)}), (V{"Infinity"}));
  EXPECT_EQ(Op("/", {Real(-1), Long(0)}), (V{"-Infinity"}));
  EXPECT_EQ(Op("/", {Long(1), Real(4)}), (V{"0.25"}));
}

TEST(Arithmetic, IntAndLongPromoteToLongThenReal) {
  EXPECT_EQ(*TypeOf(FindOperator("+"), {Type::kInt, Type::kInt}), Type::kInt);
  EXPECT_EQ(*TypeOf(FindOperator("+"), {Type::kInt, Type::kLong}), Type::kLong);
  EXPECT_EQ(*TypeOf(FindOperator("*"), {Type::kLong, Type::kReal}), Type::kReal);
  EXPECT_EQ(*TypeOf(FindOperator("/"), {Type::kInt, Type::kDecimal}), Type::kDecimal);
}

TEST(Arithmetic, IntWrapsAtThirtyTwoBits) {
  EXPECT_EQ(Op("+", {Ticks(Type::kInt, 2147483647), Ticks(Type::kInt, 1)}), (V{"-2147483648"}));
}

TEST(Arithmetic, NullOperandGivesNull) {
  EXPECT_EQ(Op("+", {Longs({1, std::nullopt}), Long(1)}, 2), (V{"2", "<null>"}));
  EXPECT_EQ(Op("*", {Null(Type::kReal), Real(2)}), (V{"<null>"}));
}

TEST(Arithmetic, DatetimeMinusDatetimeIsTimespan) {
  EXPECT_EQ(Op("-", {Dt("2024-01-02T00:00:00Z"), Dt("2024-01-01T12:00:00Z")}), (V{"12:00:00"}));
  EXPECT_EQ(*TypeOf(FindOperator("-"), {Type::kDateTime, Type::kDateTime}), Type::kTimespan);
}

TEST(Arithmetic, DatetimePlusMinusTimespan) {
  EXPECT_EQ(Op("+", {Dt("2024-02-28"), Ts("1d")}), (V{"2024-02-29T00:00:00Z"}));
  EXPECT_EQ(Op("+", {Ts("1h"), Dt("2024-01-01")}), (V{"2024-01-01T01:00:00Z"}));
  EXPECT_EQ(Op("-", {Dt("1970-01-01"), Ts("1.5s")}), (V{"1969-12-31T23:59:58.5000000Z"}));
}

TEST(Arithmetic, TimespanScalesByNumbers) {
  EXPECT_EQ(Op("*", {Ts("1h"), Long(3)}), (V{"03:00:00"}));
  EXPECT_EQ(Op("*", {Real(0.5), Ts("1d")}), (V{"12:00:00"}));
  EXPECT_EQ(Op("/", {Ts("1d"), Long(4)}), (V{"06:00:00"}));
  EXPECT_EQ(Op("/", {Ts("1d"), Ts("1h")}), (V{"24"}));
  EXPECT_EQ(Op("/", {Ts("1d"), Long(0)}), (V{"<null>"}));
  EXPECT_EQ(Op("%", {Ts("90m"), Ts("1h")}), (V{"00:30:00"}));
}

TEST(Arithmetic, MismatchedTypesAreSemanticErrors) {
  EXPECT_THAT(TypeOf(FindOperator("+"), {Type::kDateTime, Type::kDateTime}),
              StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
  EXPECT_THAT(TypeOf(FindOperator("+"), {Type::kString, Type::kLong}),
              StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
  EXPECT_THAT(TypeOf(FindOperator("*"), {Type::kTimespan, Type::kTimespan}),
              StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
}

TEST(Arithmetic, ConstantArgumentsGiveConstantResult) {
  auto r = Call(FindOperator("+"), "+", {Long(1), Long(2)}, 100);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->constant);
  EXPECT_EQ(r->ints.size(), 1u);
}

TEST(Arithmetic, NegNegatesNumbersAndTimespans) {
  EXPECT_EQ(Op("neg", {Longs({1, std::nullopt})}, 2), (V{"-1", "<null>"}));
  EXPECT_EQ(Op("neg", {Ts("1h")}), (V{"-01:00:00"}));
  EXPECT_EQ(Op("neg", {Real(2.5)}), (V{"-2.5"}));
  EXPECT_THAT(TypeOf(FindOperator("neg"), {Type::kString}), StatusIs(StatusCode::kInvalidArgument));
}

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

TEST(Logic, AndOrAreThreeValued) {
  Column a = Bools({1, 1, 1, 0, 0, 0, std::nullopt, std::nullopt, std::nullopt});
  Column b = Bools({1, 0, std::nullopt, 1, 0, std::nullopt, 1, 0, std::nullopt});
  EXPECT_EQ(Op("and", {a, b}, 9),
            (V{"true", "false", "<null>", "false", "false", "false", "<null>", "false", "<null>"}));
  EXPECT_EQ(Op("or", {a, b}, 9),
            (V{"true", "true", "true", "true", "false", "<null>", "true", "<null>", "<null>"}));
}

TEST(Logic, NotFlipsAndKeepsNull) {
  EXPECT_EQ(Fn("not", {Bools({1, 0, std::nullopt})}, 3), (V{"false", "true", "<null>"}));
  EXPECT_THAT(TypeOf(FindFunction("not"), {Type::kLong}), StatusIs(StatusCode::kInvalidArgument));
}

TEST(Registry, UnknownNamesAreNull) {
  EXPECT_EQ(FindFunction("no_such_function"), nullptr);
  EXPECT_EQ(FindOperator("<=>"), nullptr);
  EXPECT_EQ(FindFunction("Strlen"), nullptr);  // names are case-sensitive
}

}  // namespace
}  // namespace cmk::kql
