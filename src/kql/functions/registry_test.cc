#include "kql/functions/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(Registry, UnknownNamesAreNull) {
  EXPECT_EQ(FindFunction("no_such_function"), nullptr);
  EXPECT_EQ(FindOperator("<=>"), nullptr);
  EXPECT_EQ(FindFunction("Strlen"), nullptr);  // names are case-sensitive
}

TEST(Registry, NoNameIsRegisteredTwice) {
  EXPECT_EQ(DuplicateRegistrationsForTest(), std::vector<std::string>{});
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
