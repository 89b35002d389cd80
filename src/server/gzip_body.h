// Request bodies sent with Content-Encoding: gzip (the Logs Ingestion API's, as the SDKs send).
#pragma once

#include <string>
#include <string_view>

#include "base/status.h"

namespace cmk::server {

// Inflates a gzip body (one member or several concatenated, RFC 1952 2.2) into a string of
// exactly the inflated bytes, whose capacity leaves `padding` spare bytes after them (so a
// parser that reads past the end in place, as simdjson does, needs no padded copy).
// Bodies that would inflate to more than `limit` bytes are refused with kPayloadTooLarge
// (ContentLengthLimitExceeded) without inflating past the limit; malformed, truncated or
// trailing-garbage input with kInvalidArgument (InvalidContentEncoding).
Result<std::string> Gunzip(std::string_view in, size_t limit, size_t padding);

}  // namespace cmk::server
