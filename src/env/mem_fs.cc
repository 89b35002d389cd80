#include "env/mem_fs.h"

#include <algorithm>
#include <cstring>
#include <string_view>

namespace cmk::env {

struct MemFileSystem::File {
  std::mutex mu;
  std::vector<uint8_t> data;  // guarded by mu
  int mode = 0600;
};

namespace {

// "a//b/./c/" -> "a/b/c" (".." is kept as a name: nothing here climbs out of a directory).
std::string Normalize(const std::string& path) {
  std::string out = !path.empty() && path[0] == '/' ? "/" : "";
  for (size_t at = 0; at <= path.size();) {
    size_t end = std::min(path.find('/', at), path.size());
    std::string_view seg(path.data() + at, end - at);
    if (!seg.empty() && seg != ".") {
      if (!out.empty() && out.back() != '/') out += '/';
      out += seg;
    }
    at = end + 1;
  }
  return out.empty() ? "." : out;
}

bool IsUnder(const std::string& path, const std::string& dir) {
  return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
         (dir == "/" || path[dir.size()] == '/');
}

class MemWritableFile final : public WritableFile {
 public:
  MemWritableFile(std::string path, std::shared_ptr<MemFileSystem::File> f)
      : path_(std::move(path)), file_(std::move(f)) {}
  Status Append(std::span<const uint8_t> data) override {
    if (!file_) return FailedPrecondition("'" + path_ + "' is closed");
    std::lock_guard<std::mutex> l(file_->mu);
    file_->data.insert(file_->data.end(), data.begin(), data.end());
    return OkStatus();
  }
  Status Flush() override { return Open(); }
  Status Sync() override { return Open(); }
  Status Close() override {
    file_.reset();
    return OkStatus();
  }

 private:
  Status Open() const {
    return file_ ? OkStatus() : FailedPrecondition("'" + path_ + "' is closed");
  }
  std::string path_;
  std::shared_ptr<MemFileSystem::File> file_;  // null once closed
};

class MemSequentialFile final : public SequentialFile {
 public:
  explicit MemSequentialFile(std::shared_ptr<MemFileSystem::File> f) : file_(std::move(f)) {}
  Result<size_t> Read(std::span<uint8_t> out) override {
    std::lock_guard<std::mutex> l(file_->mu);
    size_t n = pos_ >= file_->data.size() ? 0 : std::min(out.size(), file_->data.size() - pos_);
    if (n > 0) std::memcpy(out.data(), file_->data.data() + pos_, n);
    pos_ += n;
    return n;
  }

 private:
  std::shared_ptr<MemFileSystem::File> file_;
  size_t pos_ = 0;
};

class MemRandomAccessFile final : public RandomAccessFile {
 public:
  explicit MemRandomAccessFile(std::shared_ptr<MemFileSystem::File> f) : file_(std::move(f)) {}
  Result<size_t> Read(uint64_t offset, std::span<uint8_t> out) const override {
    std::lock_guard<std::mutex> l(file_->mu);
    if (offset >= file_->data.size()) return size_t{0};
    size_t n = std::min<size_t>(out.size(), file_->data.size() - offset);
    std::memcpy(out.data(), file_->data.data() + offset, n);
    return n;
  }
  Result<uint64_t> Size() const override {
    std::lock_guard<std::mutex> l(file_->mu);
    return static_cast<uint64_t>(file_->data.size());
  }

 private:
  std::shared_ptr<MemFileSystem::File> file_;
};

}  // namespace

Result<std::unique_ptr<WritableFile>> MemFileSystem::Open(const std::string& raw, int mode,
                                                          bool truncate) {
  std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  std::string dir = ParentDir(path);
  if (dir != "/" && dir != "." && !dirs_.count(dir))
    return NotFound("cannot open '" + path + "': no directory " + dir);
  if (dirs_.count(path))
    return Status(StatusCode::kFailedPrecondition, "cannot open '" + path + "': a directory");
  auto& f = files_[path];
  if (!f) {
    f = std::make_shared<File>();
    f->mode = mode;
  } else if (truncate) {
    std::lock_guard<std::mutex> fl(f->mu);
    f->data.clear();
  }
  return std::unique_ptr<WritableFile>(new MemWritableFile(path, f));
}

Result<std::unique_ptr<WritableFile>> MemFileSystem::NewWritableFile(const std::string& path,
                                                                     int mode) {
  return Open(path, mode, /*truncate=*/true);
}

Result<std::unique_ptr<WritableFile>> MemFileSystem::NewAppendableFile(const std::string& path,
                                                                       int mode) {
  return Open(path, mode, /*truncate=*/false);
}

Result<std::shared_ptr<MemFileSystem::File>> MemFileSystem::Find(const std::string& raw) {
  std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  auto it = files_.find(path);
  if (it == files_.end()) return NotFound("cannot open '" + path + "': no such file");
  return it->second;
}

Result<std::unique_ptr<SequentialFile>> MemFileSystem::NewSequentialFile(const std::string& path) {
  ASSIGN_OR_RETURN(auto f, Find(path));
  return std::unique_ptr<SequentialFile>(new MemSequentialFile(std::move(f)));
}

Result<std::unique_ptr<RandomAccessFile>> MemFileSystem::NewRandomAccessFile(
    const std::string& path) {
  ASSIGN_OR_RETURN(auto f, Find(path));
  return std::unique_ptr<RandomAccessFile>(new MemRandomAccessFile(std::move(f)));
}

Status MemFileSystem::CreateDirs(const std::string& raw, int mode) {
  std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  for (std::string d = path; d != "/" && d != "."; d = ParentDir(d)) {
    if (files_.count(d))
      return FailedPrecondition("cannot create directory '" + path + "': " + d + " is a file");
    if (!dirs_.count(d)) dirs_[d] = 0777;
  }
  if (path != "/" && path != ".") dirs_[path] = mode;
  return OkStatus();
}

bool MemFileSystem::Exists(const std::string& raw) {
  std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  return path == "/" || path == "." || files_.count(path) > 0 || dirs_.count(path) > 0;
}

Result<std::vector<DirEntry>> MemFileSystem::GetChildren(const std::string& raw) {
  std::string dir = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  if (dir != "/" && dir != "." && !dirs_.count(dir))
    return NotFound("cannot list '" + dir + "': no such directory");
  std::vector<DirEntry> out;
  auto add = [&](const std::string& p, bool is_dir) {
    if (ParentDir(p) == dir) out.push_back({p.substr(p.find_last_of('/') + 1), is_dir});
  };
  for (const auto& [p, f] : files_) add(p, false);
  for (const auto& [p, m] : dirs_) add(p, true);
  return out;
}

Result<uint64_t> MemFileSystem::GetFileSize(const std::string& path) {
  ASSIGN_OR_RETURN(auto f, Find(path));
  std::lock_guard<std::mutex> l(f->mu);
  return static_cast<uint64_t>(f->data.size());
}

Status MemFileSystem::Remove(const std::string& raw) {
  std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  if (dirs_.count(path)) return FailedPrecondition("cannot remove '" + path + "': a directory");
  files_.erase(path);
  return OkStatus();
}

Status MemFileSystem::RemoveAll(const std::string& raw) {
  std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  std::erase_if(files_, [&](const auto& e) { return e.first == path || IsUnder(e.first, path); });
  std::erase_if(dirs_, [&](const auto& e) { return e.first == path || IsUnder(e.first, path); });
  return OkStatus();
}

Status MemFileSystem::Rename(const std::string& raw_from, const std::string& raw_to) {
  std::string from = Normalize(raw_from), to = Normalize(raw_to);
  std::lock_guard<std::mutex> l(mu_);
  if (dirs_.count(from))
    return Status(StatusCode::kUnimplemented, "cannot rename directory '" + from + "'");
  auto it = files_.find(from);
  if (it == files_.end()) return NotFound("cannot rename '" + from + "': no such file");
  std::string dir = ParentDir(to);
  if (dir != "/" && dir != "." && !dirs_.count(dir))
    return NotFound("cannot rename to '" + to + "': no directory " + dir);
  if (dirs_.count(to)) return FailedPrecondition("cannot rename over '" + to + "': a directory");
  auto f = it->second;
  files_.erase(it);
  files_[to] = std::move(f);
  return OkStatus();
}

Status MemFileSystem::Truncate(const std::string& path, uint64_t size) {
  ASSIGN_OR_RETURN(auto f, Find(path));
  std::lock_guard<std::mutex> l(f->mu);
  f->data.resize(static_cast<size_t>(size));
  return OkStatus();
}

Status MemFileSystem::SyncDir(const std::string& raw) {
  std::string dir = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  if (dir != "/" && dir != "." && !dirs_.count(dir))
    return NotFound("cannot sync '" + dir + "': no such directory");
  return OkStatus();
}

Result<int> MemFileSystem::ModeForTest(const std::string& raw) {
  std::string path = Normalize(raw);
  std::lock_guard<std::mutex> l(mu_);
  if (auto d = dirs_.find(path); d != dirs_.end()) return d->second;
  auto f = files_.find(path);
  if (f == files_.end()) return NotFound("no '" + path + "'");
  return f->second->mode;
}

}  // namespace cmk::env
