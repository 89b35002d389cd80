#include "kql/functions/functions_test_util.h"

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
  // Kusto's modulo is in [0, abs(divisor)): -7 % 3 == 2, 7 % -3 == 1, -14 % -12 == 10.
  EXPECT_EQ(Op("%", {Longs({7, -7, 7}), Longs({3, 3, 0})}, 3), (V{"1", "2", "<null>"}));
  EXPECT_EQ(Op("%", {Longs({7, -14, INT64_MIN}), Longs({-3, -12, INT64_MIN})}, 3),
            (V{"1", "10", "0"}));
  EXPECT_EQ(Op("%", {Real(-7.5), Long(2)}), (V{"0.5"}));
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
  EXPECT_EQ(Op("-", {Dt("2024-01-02T00:00:00.0000000Z"), Dt("2024-01-01T12:00:00.0000000Z")}),
            (V{"12:00:00"}));
  EXPECT_EQ(*TypeOf(FindOperator("-"), {Type::kDateTime, Type::kDateTime}), Type::kTimespan);
}

TEST(Arithmetic, DatetimePlusMinusTimespan) {
  EXPECT_EQ(Op("+", {Dt("2024-02-28"), Ts("1d")}), (V{"2024-02-29T00:00:00.0000000Z"}));
  EXPECT_EQ(Op("+", {Ts("1h"), Dt("2024-01-01")}), (V{"2024-01-01T01:00:00.0000000Z"}));
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

}  // namespace
}  // namespace cmk::kql
