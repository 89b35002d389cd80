// Request bodies sent with Content-Encoding: gzip (the Logs Ingestion API's, as the SDKs send).
#pragma once

#include <memory>
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

// Room for inflated bodies, kept from one request to the next (a thread's): unlike a string it
// is not zero-filled when it grows, so a 1 MiB body costs no 1 MiB memset and no fresh pages
// per request, only its inflation.
class InflateBuffer {
 public:
  char* Reserve(size_t n);  // at least n bytes, the contents not kept
  size_t capacity() const { return capacity_; }
 private:
  std::unique_ptr<char[]> data_;
  size_t capacity_ = 0;
};

// Gunzip into `room`: the inflated bytes, followed by `padding` readable zero bytes, valid until
// the next call with the same buffer.
Result<std::string_view> GunzipInto(std::string_view in, size_t limit, size_t padding, InflateBuffer& room);

}  // namespace cmk::server
