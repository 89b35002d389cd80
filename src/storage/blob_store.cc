#include "storage/blob_store.h"

#include <algorithm>

namespace cmk::storage {

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
  std::string dir = env::ParentDir(path);
  bool created = !fs_->Exists(dir);
  if (created) RETURN_IF_ERROR(fs_->CreateDirs(dir, 0700));
  // Objects are written once and read rarely from here (the hot cache serves reads): written
  // around the page cache, durable (data, size and name) before Put returns.
  RETURN_IF_ERROR(fs_->WriteFileReplacing(path, {data}, 0600, /*sync=*/true));
  // A directory created just now must itself be reachable after a crash: sync each parent up to
  // the root (which may have been created just now too).
  if (created) {
    for (std::string p = env::ParentDir(dir); p.size() >= root_.size(); p = env::ParentDir(p)) {
      RETURN_IF_ERROR(fs_->SyncDir(p));
      if (p == root_ || p == "/" || p == ".") break;
    }
  }
  return OkStatus();
}

Result<std::vector<uint8_t>> LocalBlobStore::Get(std::string_view name) const {
  ASSIGN_OR_RETURN(std::string path, PathOf(name));
  auto file = fs_->NewRandomAccessFile(path);
  if (!file.ok()) {
    if (file.status().code() == StatusCode::kNotFound)
      return NotFound("no blob '" + std::string(name) + "'");
    return file.status();
  }
  ASSIGN_OR_RETURN(uint64_t size, (*file)->Size());
  std::vector<uint8_t> out(static_cast<size_t>(size));
  ASSIGN_OR_RETURN(size_t n, (*file)->Read(0, out));
  if (n != out.size()) return DataLoss("blob '" + std::string(name) + "' shrank while being read");
  return out;
}

Status LocalBlobStore::Delete(std::string_view name) {
  ASSIGN_OR_RETURN(std::string path, PathOf(name));
  return fs_->Remove(path);
}

Result<std::vector<std::string>> LocalBlobStore::List(std::string_view prefix) const {
  std::vector<std::string> out;
  if (!fs_->Exists(root_)) return out;
  RETURN_IF_ERROR(ListUnder(root_, "", out));
  std::erase_if(out, [&](const std::string& rel) {
    return (rel.size() > 4 && rel.ends_with(".tmp")) || rel.compare(0, prefix.size(), prefix) != 0;
  });
  std::sort(out.begin(), out.end());
  return out;
}

Status LocalBlobStore::ListUnder(const std::string& dir, const std::string& rel,
                                 std::vector<std::string>& out) const {
  auto children = fs_->GetChildren(dir);
  // A directory removed while listing (a purge) holds nothing to list.
  if (!children.ok())
    return children.status().code() == StatusCode::kNotFound ? OkStatus() : children.status();
  for (const auto& c : *children) {
    std::string name = rel.empty() ? c.name : rel + "/" + c.name;
    if (c.is_dir) {
      RETURN_IF_ERROR(ListUnder(dir + "/" + c.name, name, out));
    } else {
      out.push_back(std::move(name));
    }
  }
  return OkStatus();
}

}  // namespace cmk::storage
