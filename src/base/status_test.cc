#include "base/status.h"

#include <gtest/gtest.h>

#include "base/testing.h"

namespace cmk {
namespace {

using testing::IsOk;
using testing::StatusIs;

Result<int> Half(int x) {
  if (x % 2) return InvalidArgument("odd");
  return x / 2;
}

Result<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckEven(int x) {
  RETURN_IF_ERROR(Half(x));
  return OkStatus();
}

TEST(StatusTest, MapsCanonicalCodesToHttp) {
  EXPECT_EQ(NotFound("x").http_status(), 404);
  EXPECT_EQ(PermissionDenied("x").http_status(), 403);
  EXPECT_EQ(Unauthenticated("x").http_status(), 401);
  EXPECT_EQ(Status(StatusCode::kPayloadTooLarge, "x").http_status(), 413);
  EXPECT_EQ(Conflict("x").http_status(), 409);
}

TEST(StatusTest, AzureErrorCodeOverridesCanonicalName) {
  EXPECT_EQ(PermissionDenied("no", "AuthorizationFailed").error_code(), "AuthorizationFailed");
  EXPECT_EQ(NotFound("no").error_code(), "NotFound");
}

TEST(StatusTest, MacrosPropagate) {
  EXPECT_EQ(*Quarter(8), 2);
  EXPECT_THAT(Quarter(6), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(CheckEven(4), IsOk());
  EXPECT_THAT(CheckEven(3), StatusIs(StatusCode::kInvalidArgument));
}

TEST(StatusTest, ResultFromOkStatusIsInternalError) {
  Result<int> r = OkStatus();
  EXPECT_THAT(r, StatusIs(StatusCode::kInternal));
}

}  // namespace
}  // namespace cmk
