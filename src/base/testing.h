#pragma once
// GoogleTest matchers for Status/Result: EXPECT_THAT(s, IsOk()), StatusIs(StatusCode::kNotFound).

#include <gmock/gmock.h>

#include "base/status.h"

namespace cmk::testing {

MATCHER(IsOk, "is OK") {
  const ::cmk::Status& s = ::cmk::internal::GetStatus(arg);
  if (!s.ok()) *result_listener << "status is " << s.ToString();
  return s.ok();
}

MATCHER_P(StatusIs, code, "has status code " + std::string(::cmk::StatusCodeName(code))) {
  const ::cmk::Status& s = ::cmk::internal::GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code;
}

MATCHER_P2(StatusIs, code, error_code, "has status code and error code " + std::string(error_code)) {
  const ::cmk::Status& s = ::cmk::internal::GetStatus(arg);
  *result_listener << "status is " << s.ToString();
  return s.code() == code && s.error_code() == std::string(error_code);
}

}  // namespace cmk::testing
