#include "storage/blob_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "env/direct_write.h"

namespace cmk::storage {
namespace {

namespace fs = std::filesystem;

Status Errno(const std::string& what, const std::string& path) {
  return Internal(what + " " + path + ": " + std::error_code(errno, std::generic_category()).message());
}

Status FsyncPath(const std::string& path, int flags) {
  int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return Errno("open", path);
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? OkStatus() : Errno("fsync", path);
}

}  // namespace

bool IsValidBlobName(std::string_view name) {
  if (name.empty() || name.size() > 1024) return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) end = name.size();
    std::string_view seg = name.substr(start, end - start);
    if (seg.empty() || seg == "." || seg == "..") return false;
    for (char c : seg) {
      // '%': the engine percent-encodes user strings (table names) into segments.
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
                c == '-' || c == '%';
      if (!ok) return false;
    }
    start = end + 1;
  }
  return true;
}

Result<std::string> LocalBlobStore::PathOf(std::string_view name) const {
  if (!IsValidBlobName(name)) return InvalidArgument("invalid blob name '" + std::string(name) + "'");
  return root_ + "/" + std::string(name);
}

Status LocalBlobStore::Put(std::string_view name, std::span<const uint8_t> data) {
  ASSIGN_OR_RETURN(std::string path, PathOf(name));
  std::string dir = fs::path(path).parent_path().string();
  std::error_code ec;
  bool created = !fs::exists(dir, ec);
  fs::create_directories(dir, ec);
  if (ec) return Internal("create " + dir + ": " + ec.message());
  // Objects are written once and read rarely from here (the hot cache serves reads): written
  // around the page cache, durable (data, size and name) before Put returns.
  RETURN_IF_ERROR(env::WriteFileReplacing(path, {data}, 0600, /*sync=*/true));
  // A directory created just now must itself be reachable after a crash.
  if (created) {
    for (fs::path p = fs::path(dir).parent_path(); p.string().size() >= root_.size(); p = p.parent_path()) {
      RETURN_IF_ERROR(FsyncPath(p.string(), O_RDONLY | O_DIRECTORY));
      if (p.string() == root_) break;
    }
  }
  return OkStatus();
}

Result<std::vector<uint8_t>> LocalBlobStore::Get(std::string_view name) const {
  ASSIGN_OR_RETURN(std::string path, PathOf(name));
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return NotFound("no blob '" + std::string(name) + "'");
    return Errno("open", path);
  }
  std::vector<uint8_t> out;
  off_t size = ::lseek(fd, 0, SEEK_END);
  if (size > 0) out.resize(static_cast<size_t>(size));
  size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::pread(fd, out.data() + off, out.size() - off, static_cast<off_t>(off));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return Errno("read", path);
    }
    off += static_cast<size_t>(n);
  }
  ::close(fd);
  return out;
}

Status LocalBlobStore::Delete(std::string_view name) {
  ASSIGN_OR_RETURN(std::string path, PathOf(name));
  if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("unlink", path);
  return OkStatus();
}

Result<std::vector<std::string>> LocalBlobStore::List(std::string_view prefix) const {
  std::vector<std::string> out;
  std::error_code ec;
  if (!fs::exists(root_, ec)) return out;
  for (auto it = fs::recursive_directory_iterator(root_, ec); !ec && it != fs::recursive_directory_iterator();
       it.increment(ec)) {
    if (!it->is_regular_file()) continue;
    std::string rel = fs::relative(it->path(), root_).string();
    if (rel.size() > 4 && rel.ends_with(".tmp")) continue;
    if (rel.compare(0, prefix.size(), prefix) == 0) out.push_back(std::move(rel));
  }
  if (ec) return Internal("list " + root_ + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace cmk::storage
