#pragma once
// Internal to env/: turning errno into a Status, and syncing a directory, for the POSIX code
// (posix_fs.cc, direct_write.cc). Nothing outside env/ includes this.
#include <cerrno>
#include <string>

#include "base/status.h"

namespace cmk::env {

// "cannot <what> '<path>': <strerror(err)>", with ENOENT NotFound, EACCES/EPERM
// PermissionDenied, ENOSPC/EDQUOT ResourceExhausted and every other error Internal.
Status ErrnoStatus(const std::string& what, const std::string& path, int err = errno);

// fsync of directory `dir` ("" means "."): makes its entries durable.
Status PosixSyncDir(const std::string& dir);

}  // namespace cmk::env
