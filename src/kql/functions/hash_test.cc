#include "kql/functions/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(Hash, Sha256IsLowerHex) {
  EXPECT_EQ(Fn("hash_sha256", {Str("World")}),
            (V{"78ae647dc5544d227130a0682a51e30bc7777fbb6d8a8f17007463a3ecd1d524"}));
}

}  // namespace
}  // namespace cmk::kql
