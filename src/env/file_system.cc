#include "env/file_system.h"

#include <atomic>
#include <type_traits>
#include <vector>

namespace cmk::env {
namespace {

// Reads the whole file into `out` (a string or SecretBytes).
template <typename Out>
Status ReadAll(FileSystem& fs, const std::string& path, Out& out) {
  ASSIGN_OR_RETURN(auto f, fs.NewRandomAccessFile(path));
  ASSIGN_OR_RETURN(uint64_t size, f->Size());
  if constexpr (std::is_same_v<Out, std::string>) {
    out.assign(static_cast<size_t>(size), '\0');
  } else {
    out = Out(static_cast<size_t>(size));
  }
  auto* p = reinterpret_cast<uint8_t*>(out.data());
  for (size_t done = 0; done < out.size();) {
    ASSIGN_OR_RETURN(size_t n, f->Read(done, std::span<uint8_t>(p + done, out.size() - done)));
    if (n == 0) return Internal("cannot read '" + path + "': it shrank while being read");
    done += n;
  }
  return OkStatus();
}

// Writes `parts` to `tmp`, syncs when asked, and renames it over `path`; `tmp` is gone on error.
Status WriteAndRename(FileSystem& fs, const std::string& tmp, const std::string& path,
                      ByteParts parts, int mode, bool sync) {
  Status s;
  {
    auto f = fs.NewWritableFile(tmp, mode);
    if (!f.ok()) return f.status();
    s = (*f)->AppendParts(parts);
    if (s.ok() && sync) s = (*f)->Sync();
    Status closed = (*f)->Close();
    if (s.ok()) s = closed;
  }
  if (s.ok()) s = fs.Rename(tmp, path);
  if (!s.ok()) {
    fs.Remove(tmp).IgnoreError();  // the first error is the one to report
    return s;
  }
  return sync ? fs.SyncDir(ParentDir(path)) : OkStatus();
}

}  // namespace

Status WritableFile::AppendParts(ByteParts parts) {
  for (auto p : parts) RETURN_IF_ERROR(Append(p));
  return OkStatus();
}

Result<std::string> FileSystem::ReadFile(const std::string& path) {
  std::string s;
  RETURN_IF_ERROR(ReadAll(*this, path, s));
  return s;
}

Result<SecretBytes> FileSystem::ReadSecretFile(const std::string& path) {
  SecretBytes s;
  RETURN_IF_ERROR(ReadAll(*this, path, s));
  return s;
}

Status FileSystem::WriteFileAtomic(const std::string& path, std::span<const uint8_t> data,
                                   int mode) {
  return WriteAndRename(*this, path + ".tmp", path, {data}, mode, /*sync=*/true);
}

Status FileSystem::WriteFileReplacing(const std::string& path, ByteParts parts, int mode,
                                      bool sync) {
  // A temporary name per call: two writers of one path don't share a temporary file.
  static std::atomic<uint64_t> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(counter.fetch_add(1));
  return WriteAndRename(*this, tmp, path, parts, mode, sync);
}

std::string ParentDir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace cmk::env
