#include "env/direct_write.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "env/file_system.h"
#include "env/posix_error.h"

namespace cmk::env {
namespace {

constexpr size_t kAlign = 4096;                  // covers every logical block size in use
constexpr size_t kStaging = size_t{1} << 20;     // bytes per O_DIRECT write

Status WriteFully(int fd, const uint8_t* p, size_t n, const std::string& path) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return ErrnoStatus("write", path);
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return OkStatus();
}

struct FreeAligned {
  void operator()(uint8_t* p) const { std::free(p); }
};

// The per-thread staging buffer (allocated on first use, kept).
uint8_t* Staging() {
  thread_local std::unique_ptr<uint8_t, FreeAligned> buf(static_cast<uint8_t*>(std::aligned_alloc(kAlign, kStaging)));
  return buf.get();
}

// O_DIRECT: whole aligned blocks from the staging buffer, the last one zero-padded, then the
// file cut to its size. Returns EINVAL-class failures to the caller, which falls back.
Status WriteDirect(int fd, std::initializer_list<std::span<const uint8_t>> parts, const std::string& path, bool refuse,
                   bool* unsupported) {
  uint8_t* stage = Staging();
  if (stage == nullptr) {
    *unsupported = true;
    return Internal("no staging buffer");
  }
  size_t fill = 0, total = 0;
  auto flush = [&](size_t n) -> Status {
    for (size_t done = 0; done < n;) {  // a short write resumes where it stopped
      if (refuse) errno = EINVAL;
      ssize_t w = refuse ? -1 : ::write(fd, stage + done, n - done);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        if (errno == EINVAL) *unsupported = true;
        return ErrnoStatus("write", path);
      }
      done += static_cast<size_t>(w);
    }
    return OkStatus();
  };
  for (auto part : parts) {
    while (!part.empty()) {
      size_t take = std::min(part.size(), kStaging - fill);
      std::memcpy(stage + fill, part.data(), take);
      fill += take;
      total += take;
      part = part.subspan(take);
      if (fill == kStaging) {
        RETURN_IF_ERROR(flush(fill));
        fill = 0;
      }
    }
  }
  if (fill > 0) {
    size_t padded = (fill + kAlign - 1) / kAlign * kAlign;
    std::memset(stage + fill, 0, padded - fill);
    RETURN_IF_ERROR(flush(padded));
  }
  if (::ftruncate(fd, static_cast<off_t>(total)) != 0) return ErrnoStatus("truncate", path);
  return OkStatus();
}

}  // namespace

Status WriteFileReplacing(const std::string& path, std::initializer_list<std::span<const uint8_t>> parts, int mode,
                          bool sync, DirectIo io, bool* direct_used) {
  // A temporary name of its own: two writers of the same file (a cache copy written by two
  // queries that missed it) don't interleave in one temporary file.
  static std::atomic<uint64_t> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
  bool try_direct = io == DirectIo::kTry || io == DirectIo::kTryRefusedForTest;
  int fd = try_direct ? ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_DIRECT, mode) : -1;
  bool direct = fd >= 0;
  if (!direct && (io == DirectIo::kNever || errno == EINVAL)) {
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  }
  if (fd < 0) return ErrnoStatus("create", tmp);
  Status s;
  if (direct) {
    bool unsupported = false;
    s = WriteDirect(fd, parts, tmp, io == DirectIo::kTryRefusedForTest, &unsupported);
    if (!s.ok() && unsupported) {  // the device refuses this alignment: start over, buffered
      ::close(fd);
      fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
      if (fd < 0) {
        Status e = ErrnoStatus("create", tmp);
        ::unlink(tmp.c_str());
        return e;
      }
      direct = false;
      s = OkStatus();
    }
  }
  if (!direct) {
    for (auto part : parts) {
      if (s.ok()) s = WriteFully(fd, part.data(), part.size(), tmp);
    }
  }
  if (s.ok() && sync && ::fdatasync(fd) != 0) s = ErrnoStatus("fdatasync", tmp);
  if (::close(fd) != 0 && s.ok()) s = ErrnoStatus("close", tmp);
  if (s.ok() && ::rename(tmp.c_str(), path.c_str()) != 0) s = ErrnoStatus("rename", tmp);
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  if (direct_used != nullptr) *direct_used = direct;
  return sync ? PosixSyncDir(ParentDir(path)) : OkStatus();
}

}  // namespace cmk::env
