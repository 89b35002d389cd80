#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <filesystem>
#include <system_error>
#include <type_traits>
#include <vector>

#include "env/direct_write.h"
#include "env/file_system.h"
#include "env/posix_error.h"

namespace cmk::env {

Status ErrnoStatus(const std::string& what, const std::string& path, int err) {
  std::string msg = "cannot " + what + " '" + path + "': " + std::strerror(err);
  if (err == ENOENT) return NotFound(msg);
  if (err == EACCES || err == EPERM) return PermissionDenied(msg);
  if (err == ENOSPC || err == EDQUOT) return Status(StatusCode::kResourceExhausted, msg);
  return Internal(msg);
}

Status PosixSyncDir(const std::string& dir) {
  const std::string& d = dir.empty() ? std::string(".") : dir;
  int fd = ::open(d.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open directory", d);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  return rc == 0 ? OkStatus() : ErrnoStatus("fsync directory", d, err);
}

namespace {

// Unbuffered: every Append is a write(2) (resumed after short writes and EINTR), so a killed
// process loses nothing that Append accepted, and Flush has nothing to do.
class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Append(std::span<const uint8_t> data) override { return AppendParts({data}); }

  Status AppendParts(ByteParts parts) override {
    if (fd_ < 0) return FailedPrecondition("'" + path_ + "' is closed");
    std::vector<iovec> iov;
    for (auto p : parts) {
      if (!p.empty()) iov.push_back({const_cast<uint8_t*>(p.data()), p.size()});
    }
    size_t i = 0;
    while (i < iov.size()) {
      size_t count = std::min<size_t>(iov.size() - i, IOV_MAX);
      ssize_t w = ::writev(fd_, iov.data() + i, static_cast<int>(count));
      if (w < 0) {
        if (errno == EINTR) continue;
        return ErrnoStatus("write", path_);
      }
      auto n = static_cast<size_t>(w);
      while (i < iov.size() && n >= iov[i].iov_len) {
        n -= iov[i].iov_len;
        ++i;
      }
      if (i < iov.size()) {  // a short write: resume inside this buffer
        iov[i].iov_base = static_cast<uint8_t*>(iov[i].iov_base) + n;
        iov[i].iov_len -= n;
      }
    }
    return OkStatus();
  }

  Status Flush() override {
    return fd_ < 0 ? FailedPrecondition("'" + path_ + "' is closed") : OkStatus();
  }

  Status Sync() override {
    if (fd_ < 0) return FailedPrecondition("'" + path_ + "' is closed");
    // fdatasync: the data and the size, not the timestamps nobody reads.
    return ::fdatasync(fd_) == 0 ? OkStatus() : ErrnoStatus("fdatasync", path_);
  }

  Status Close() override {
    if (fd_ < 0) return OkStatus();
    int rc = ::close(fd_);
    fd_ = -1;
    return rc == 0 ? OkStatus() : ErrnoStatus("close", path_);
  }

 private:
  std::string path_;
  int fd_;
};

class PosixSequentialFile final : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixSequentialFile() override { ::close(fd_); }
  Result<size_t> Read(std::span<uint8_t> out) override {
    for (;;) {
      ssize_t n = ::read(fd_, out.data(), out.size());
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return ErrnoStatus("read", path_);
    }
  }

 private:
  std::string path_;
  int fd_;
};

class PosixRandomAccessFile final : public RandomAccessFile {
 public:
  PosixRandomAccessFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixRandomAccessFile() override { ::close(fd_); }
  Result<size_t> Read(uint64_t offset, std::span<uint8_t> out) const override {
    size_t done = 0;
    while (done < out.size()) {
      ssize_t n =
          ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return ErrnoStatus("read", path_);
      if (n == 0) break;
      done += static_cast<size_t>(n);
    }
    return done;
  }
  Result<uint64_t> Size() const override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return ErrnoStatus("stat", path_);
    return static_cast<uint64_t>(st.st_size);
  }

 private:
  std::string path_;
  int fd_;
};

Result<std::unique_ptr<WritableFile>> OpenWritable(const std::string& path, int flags, int mode) {
  int fd = ::open(path.c_str(), flags | O_WRONLY | O_CREAT | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus("open", path);
  return std::unique_ptr<WritableFile>(new PosixWritableFile(path, fd));
}

template <typename Out>
Status ReadAll(const std::string& path, Out& out) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", path);
  PosixRandomAccessFile f(path, fd);
  ASSIGN_OR_RETURN(uint64_t size, f.Size());
  if constexpr (std::is_same_v<Out, std::string>) {
    out.assign(static_cast<size_t>(size), '\0');
  } else {
    out = Out(static_cast<size_t>(size));
  }
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  ASSIGN_OR_RETURN(size_t n, f.Read(0, std::span<uint8_t>(p, out.size())));
  if (n != out.size()) return Internal("cannot read '" + path + "': it shrank while being read");
  return OkStatus();
}

}  // namespace

Result<std::unique_ptr<WritableFile>> PosixFileSystem::NewWritableFile(const std::string& path,
                                                                       int mode) {
  return OpenWritable(path, O_TRUNC, mode);
}

Result<std::unique_ptr<WritableFile>> PosixFileSystem::NewAppendableFile(const std::string& path,
                                                                         int mode) {
  return OpenWritable(path, O_APPEND, mode);
}

Result<std::unique_ptr<SequentialFile>> PosixFileSystem::NewSequentialFile(
    const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", path);
  return std::unique_ptr<SequentialFile>(new PosixSequentialFile(path, fd));
}

Result<std::unique_ptr<RandomAccessFile>> PosixFileSystem::NewRandomAccessFile(
    const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ErrnoStatus("open", path);
  return std::unique_ptr<RandomAccessFile>(new PosixRandomAccessFile(path, fd));
}

Status PosixFileSystem::CreateDirs(const std::string& path, int mode) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) return ErrnoStatus("create directory", path, ec.value());
  if (::chmod(path.c_str(), static_cast<mode_t>(mode)) != 0) return ErrnoStatus("chmod", path);
  return OkStatus();
}

bool PosixFileSystem::Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

Result<std::vector<DirEntry>> PosixFileSystem::GetChildren(const std::string& dir) {
  std::vector<DirEntry> out;
  std::error_code ec;
  for (std::filesystem::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code type_ec;  // an entry removed meanwhile is listed as a file
    out.push_back({it->path().filename().string(), it->is_directory(type_ec)});
  }
  if (ec) return ErrnoStatus("list", dir, ec.value());
  return out;
}

Result<uint64_t> PosixFileSystem::GetFileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus("stat", path);
  return static_cast<uint64_t>(st.st_size);
}

Status PosixFileSystem::Remove(const std::string& path) {
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return ErrnoStatus("remove", path);
  return OkStatus();
}

Status PosixFileSystem::RemoveAll(const std::string& path) {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
  if (ec && ec.value() != ENOENT) return ErrnoStatus("remove", path, ec.value());
  return OkStatus();
}

Status PosixFileSystem::Rename(const std::string& from, const std::string& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) return ErrnoStatus("rename", from + "' to '" + to);
  return OkStatus();
}

Status PosixFileSystem::Truncate(const std::string& path, uint64_t size) {
  if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0) return ErrnoStatus("truncate", path);
  return OkStatus();
}

Status PosixFileSystem::SyncDir(const std::string& dir) { return PosixSyncDir(dir); }

Result<std::string> PosixFileSystem::ReadFile(const std::string& path) {
  std::string s;
  RETURN_IF_ERROR(ReadAll(path, s));
  return s;
}

Result<SecretBytes> PosixFileSystem::ReadSecretFile(const std::string& path) {
  SecretBytes s;
  RETURN_IF_ERROR(ReadAll(path, s));
  return s;
}

Status PosixFileSystem::WriteFileAtomic(const std::string& path, std::span<const uint8_t> data,
                                        int mode) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoStatus("create", tmp);
  // The mode holds even where the umask would have narrowed it, or a stale temporary file had
  // another.
  ::fchmod(fd, static_cast<mode_t>(mode));
  PosixWritableFile f(tmp, fd);
  Status s = f.Append(data);
  // fsync rather than fdatasync: the mode just set must be durable too.
  if (s.ok() && ::fsync(fd) != 0) s = ErrnoStatus("fsync", tmp);
  Status closed = f.Close();
  if (s.ok()) s = closed;
  if (!s.ok()) {
    ::unlink(tmp.c_str());
    return s;
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoStatus("rename", tmp);
  // The new content is in place; a failed directory sync only risks the old content coming back
  // after a crash, which the callers (keys and configuration written once) tolerate.
  PosixSyncDir(ParentDir(path)).IgnoreError();
  return OkStatus();
}

Status PosixFileSystem::WriteFileReplacing(const std::string& path, ByteParts parts, int mode,
                                           bool sync) {
  return env::WriteFileReplacing(path, parts, mode, sync);
}

Result<std::string> AbsolutePath(const std::string& path) {
  std::error_code ec;
  std::string abs = std::filesystem::absolute(path, ec).lexically_normal().string();
  if (ec) return ErrnoStatus("resolve", path, ec.value());
  while (abs.size() > 1 && abs.back() == '/') abs.pop_back();
  return abs;
}

}  // namespace cmk::env
