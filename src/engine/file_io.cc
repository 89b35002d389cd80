#include "engine/file_io.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdio>
#include <system_error>
#include <vector>

namespace cmk::engine {
namespace {

Status Errno(const std::string& what, const std::string& path) {
  return Internal(what + " " + path + ": " + std::error_code(errno, std::generic_category()).message());
}

}  // namespace

Status WriteAll(int fd, ByteParts parts, const std::string& path) {
  std::vector<iovec> iov;
  for (auto p : parts) {
    if (!p.empty()) iov.push_back({const_cast<uint8_t*>(p.data()), p.size()});
  }
  size_t i = 0;
  while (i < iov.size()) {
    size_t count = std::min<size_t>(iov.size() - i, IOV_MAX);
    ssize_t w = ::writev(fd, iov.data() + i, static_cast<int>(count));
    if (w < 0) {
      if (errno == EINTR) continue;
      return Errno("write", path);
    }
    auto n = static_cast<size_t>(w);
    while (i < iov.size() && n >= iov[i].iov_len) {
      n -= iov[i].iov_len;
      ++i;
    }
    if (i < iov.size()) {
      iov[i].iov_base = static_cast<uint8_t*>(iov[i].iov_base) + n;
      iov[i].iov_len -= n;
    }
  }
  return OkStatus();
}

}  // namespace cmk::engine
