#include "kql/functions/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(Hash, Sha256IsLowerHex) {
  EXPECT_EQ(Fn("hash_sha256", {Str("World")}),
            (V{"78ae647dc5544d227130a0682a51e30bc7777fbb6d8a8f17007463a3ecd1d524"}));
}

TEST(Hash, Md5AndSha1HashTheTextForm) {
  EXPECT_EQ(Fn("hash_md5", {Str("World")}), (V{"f5a7924e621e84c9280a9a27e1bcb7f6"}));
  EXPECT_EQ(Fn("hash_sha1", {Dt("2020-01-01")}), (V{"e903e533f4d636b4fc0dcf3cf81e7b7f330de776"}));
}

TEST(Hash, XxHash64MatchesTheDocsAndTheReferenceVectors) {
  EXPECT_EQ(Fn("hash", {Str("World")}), (V{"1846988464401551951"}));
  EXPECT_EQ(Fn("hash", {Str("")}), (V{"-1205034819632174695"}));  // 0xef46db3751d8e999
  EXPECT_EQ(Fn("hash_xxhash64", {Dt("2015-01-01")}), (V{"1380966698541616202"}));
  EXPECT_EQ(Fn("hash", {Str("World"), Long(100)}), (V{"51"}));
  EXPECT_EQ(Fn("hash", {Str("World"), Long(0)}), (V{"<null>"}));
}

TEST(Hash, ModMustBeIntegral) {
  EXPECT_THAT(TypeOf(FindFunction("hash"), {Type::kString, Type::kReal}),
              StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
}

}  // namespace
}  // namespace cmk::kql
