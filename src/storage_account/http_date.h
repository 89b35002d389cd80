#pragma once
// RFC 1123 dates as HTTP and the Storage services use them: "Thu, 03 Dec 2026 14:34:44 GMT"
// (x-ms-date, Last-Modified, If-Modified-Since). Only this fixed form is parsed.
#include <string>
#include <string_view>

#include "base/status.h"
#include "base/time_format.h"

namespace cmk::storage_account {

std::string FormatHttpDate(TimePoint t);
Result<TimePoint> ParseHttpDate(std::string_view text);

}  // namespace cmk::storage_account
