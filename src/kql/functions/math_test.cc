#include "kql/functions/functions_test_util.h"

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
  EXPECT_EQ(Fn("max_of", {Dt("2024-01-01"), Dt("2024-06-01")}),
            (V{"2024-06-01T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("min_of", {Str("b"), Str("a")}), (V{"a"}));
}

}  // namespace
}  // namespace cmk::kql
