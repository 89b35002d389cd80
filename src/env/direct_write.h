#pragma once
// Writing large immutable files (extents, their hot-cache copies) without going through the
// page cache: O_DIRECT from a per-thread 4 KiB-aligned 1 MiB staging buffer. Buffered writes cost
// about a quarter of ingestion's CPU here: every page of a new file is a fresh page-cache page
// to allocate, fill and write back (docs/benchmarks.md). The file is written under a temporary
// name and renamed over `path`, so readers see the old file or the new one. File systems
// without O_DIRECT (tmpfs) get ordinary buffered writes.
// Thread safety: reentrant.
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

#include "base/status.h"

namespace cmk::env {

// kTryRefusedForTest: as kTry, but the first direct write fails as a device that refuses the
// alignment would (EINVAL after a successful open), to exercise the buffered restart.
enum class DirectIo { kTry, kNever, kTryRefusedForTest };

// Writes the concatenation of `parts` to `path`. With `sync`, the data, the file's size and the
// rename are durable when it returns (fdatasync, then fsync of the directory). `direct_used`,
// when given, tells whether the data went around the page cache (tests).
Status WriteFileReplacing(const std::string& path, std::initializer_list<std::span<const uint8_t>> parts, int mode,
                          bool sync, DirectIo io = DirectIo::kTry, bool* direct_used = nullptr);

}  // namespace cmk::env
