#pragma once
// POSIX writes of buffers in parts (header, body) without first copying them into one buffer:
// the WAL's framed records.
// Thread safety: reentrant.
#include <initializer_list>
#include <span>
#include <string>

#include "base/status.h"

namespace cmk::engine {

using ByteParts = std::initializer_list<std::span<const uint8_t>>;

// Writes the parts in order to `fd` (writev, resumed after short writes). `path` names the file
// in errors.
Status WriteAll(int fd, ByteParts parts, const std::string& path);
}  // namespace cmk::engine
