#include "kql/functions/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(NullTests, StringsAreNeverNullButMayBeEmpty) {
  EXPECT_EQ(Fn("isnull", {Strs({"", "a"})}, 2), (V{"false", "false"}));
  EXPECT_EQ(Fn("isempty", {Strs({"", "a"})}, 2), (V{"true", "false"}));
  EXPECT_EQ(Fn("isnull", {Longs({1, std::nullopt})}, 2), (V{"false", "true"}));
  EXPECT_EQ(Fn("isnotnull", {Longs({1, std::nullopt})}, 2), (V{"true", "false"}));
  EXPECT_EQ(Fn("isempty", {Longs({1, std::nullopt})}, 2), (V{"false", "true"}));
  EXPECT_EQ(Fn("isnotempty", {Strs({"", "a"})}, 2), (V{"false", "true"}));
  EXPECT_EQ(Fn("isnull", {Dyn({"null", "1"})}, 2), (V{"true", "false"}));
}

TEST(Coalesce, FirstNonNullOrNonEmpty) {
  EXPECT_EQ(Fn("coalesce", {Longs({std::nullopt, 2, std::nullopt}), Long(9)}, 3), (V{"9", "2", "9"}));
  EXPECT_EQ(Fn("coalesce", {Strs({"", "x"}), Str("y")}, 2), (V{"y", "x"}));
  EXPECT_EQ(Fn("coalesce", {Null(Type::kLong), Real(1.5)}), (V{"1.5"}));
  EXPECT_THAT(TypeOf(FindFunction("coalesce"), {Type::kLong, Type::kString}),
              StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
}

TEST(Iff, NullConditionTakesElseAndTypesPromote) {
  EXPECT_EQ(Fn("iff", {Bools({1, 0, std::nullopt}), Long(1), Real(2.5)}, 3), (V{"1", "2.5", "2.5"}));
  EXPECT_EQ(*TypeOf(FindFunction("iif"), {Type::kBool, Type::kInt, Type::kLong}), Type::kLong);
  EXPECT_THAT(TypeOf(FindFunction("iff"), {Type::kLong, Type::kLong, Type::kLong}),
              StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
  EXPECT_EQ(Fn("iff", {Bools({1, 0}), Strs({"a", "b"}), Str("c")}, 2), (V{"a", "c"}));
}

TEST(Case, FirstTruePredicateWins) {
  Column x = Longs({1, 5, 20});
  auto lt = [&](int64_t v) { return *Call(FindOperator("<"), "<", {x, Long(v)}, 3); };
  EXPECT_EQ(Fn("case", {lt(2), Str("small"), lt(10), Str("medium"), Str("large")}, 3),
            (V{"small", "medium", "large"}));
  EXPECT_THAT(TypeOf(FindFunction("case"), {Type::kBool, Type::kString}), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace cmk::kql
