#pragma once
// POSIX writes of buffers in parts (header, body, trailer) without first copying them into one
// buffer: the WAL's framed records and the hot cache's sealed extent copies.
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
// Writes the parts to `path` + ".tmp", then renames it over `path`: readers see the old file or
// the new one. Not synced: for copies that are checked (authenticated) when read and rebuilt
// from their source when damaged or missing.
Status ReplaceFileUnsynced(const std::string& path, ByteParts parts, int mode);

}  // namespace cmk::engine
