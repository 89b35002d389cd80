#include "kql/functions/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(InOps, InComparesExactlyAndFlattensDynamicArrays) {
  Column v = Strs({"a", "B", "c"});
  EXPECT_EQ(Op("in", {v, Str("a"), Str("b")}, 3), (V{"true", "false", "false"}));
  EXPECT_EQ(Op("!in", {v, Str("a"), Str("b")}, 3), (V{"false", "true", "true"}));
  EXPECT_EQ(Op("in~", {v, Str("a"), Str("b")}, 3), (V{"true", "true", "false"}));
  EXPECT_EQ(Op("!in~", {v, Str("a"), Str("b")}, 3), (V{"false", "false", "true"}));
  EXPECT_EQ(Op("in", {v, Const(Dyn({"[\"c\",\"x\"]"}))}, 3), (V{"false", "false", "true"}));
}

TEST(InOps, NumbersCompareByValueAcrossTypes) {
  EXPECT_EQ(Op("in", {Longs({1, 2, std::nullopt}), Real(1.0), Const(Dyn({"[2]"}))}, 3), (V{"true", "true", "false"}));
  EXPECT_EQ(Op("!in", {Longs({1, 3, std::nullopt}), Long(1)}, 3), (V{"false", "true", "false"}));
  EXPECT_EQ(Op("in", {Dt("2024-01-01"), Const(Dyn({"[\"2024-01-01T00:00:00Z\"]"}))}), (V{"true"}));
  EXPECT_THAT(TypeOf(FindOperator("in"), {Type::kLong, Type::kString}), StatusIs(StatusCode::kInvalidArgument));
}

TEST(InOps, NonConstantItemsArePerRow) {
  EXPECT_EQ(Op("in", {Longs({1, 2}), Longs({1, 1}), Longs({5, 5})}, 2), (V{"true", "false"}));
}

TEST(InOps, HasAnyAndHasAllMatchTerms) {
  Column v = Strs({"the quick brown fox", "lazy dog", ""});
  EXPECT_EQ(Op("has_any", {v, Str("fox"), Str("dog")}, 3), (V{"true", "true", "false"}));
  EXPECT_EQ(Op("has_any", {v, Const(Dyn({"[\"QUICK\",\"cat\"]"}))}, 3), (V{"true", "false", "false"}));
  EXPECT_EQ(Op("has_all", {v, Str("quick"), Str("fox")}, 3), (V{"true", "false", "false"}));
  EXPECT_EQ(Op("has_all", {v, Str("qui")}, 3), (V{"false", "false", "false"}));
}

}  // namespace
}  // namespace cmk::kql
