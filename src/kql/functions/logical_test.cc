#include "kql/functions/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

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

}  // namespace
}  // namespace cmk::kql
