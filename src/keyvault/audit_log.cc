#include "keyvault/audit_log.h"

#include <algorithm>
#include <boost/json.hpp>
#include <utility>

#include "base/encoding.h"

namespace cmk::keyvault {

Result<std::unique_ptr<AuditLog>> AuditLog::Open(env::FileSystem* fs, const std::string& path) {
  ASSIGN_OR_RETURN(auto file, fs->NewAppendableFile(path, 0600));
  ASSIGN_OR_RETURN(uint64_t size, fs->GetFileSize(path));
  // The file may be new: without its directory entry synced, a machine crash could lose the
  // whole file, synced entries and all.
  RETURN_IF_ERROR(fs->SyncDir(env::ParentDir(path)));
  return std::unique_ptr<AuditLog>(new AuditLog(fs, path, std::move(file), size));
}

AuditLog::AuditLog(env::FileSystem* fs, std::string path, std::unique_ptr<env::WritableFile> file,
                   uint64_t size)
    : fs_(fs), path_(std::move(path)), file_(std::move(file)), size_(size), writer_([this] {
        Loop();
      }) {}

AuditLog::~AuditLog() {
  {
    MutexLock l(&mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  writer_.join();
}

void AuditLog::Record(AuditEntry e) {
  boost::json::object o{{"time", FormatRfc3339(e.time)},
                        {"callerObjectId", e.caller_object_id},
                        {"callerAppId", e.caller_app_id},
                        {"vault", e.vault},
                        {"key", e.key},
                        {"version", e.version},
                        {"operation", e.operation},
                        {"algorithm", e.algorithm},
                        {"status", e.status},
                        {"errorCode", e.error_code},
                        {"latencyUs", e.latency_us}};
  std::string line = boost::json::serialize(o) + "\n";
  {
    MutexLock l(&mu_);
    queue_.push_back(std::move(line));
    ++queued_;
  }
  cv_.NotifyOne();
}

Status AuditLog::Flush() {
  UniqueLock l(&mu_);
  uint64_t target = queued_;
  // An empty marker makes the writer run, and sync, even when nothing is queued.
  queue_.emplace_back();
  ++queued_;
  cv_.NotifyOne();
  flushed_cv_.Wait(l, [&] {
    mu_.AssertHeld();
    return written_ >= target + 1 || stop_;
  });
  Status s = std::exchange(error_, OkStatus());
  uint64_t dropped = std::exchange(dropped_, 0);
  if (dropped > 0) {
    return DataLoss("audit log " + path_ + ": " + std::to_string(dropped) +
                    " entries dropped while it could not be written" +
                    (s.ok() ? std::string() : ": " + s.message()));
  }
  if (!s.ok()) return Status(s.code(), "audit log " + path_ + ": " + s.message());
  return OkStatus();
}

void AuditLog::Loop() {
  UniqueLock l(&mu_);
  for (;;) {
    cv_.Wait(l, [&] {
      mu_.AssertHeld();
      return stop_ || !queue_.empty();
    });
    if (queue_.empty() && stop_) return;
    std::vector<std::string> batch;
    batch.swap(queue_);
    bool stopping = stop_;
    l.unlock();
    // Entries a failed write kept go first: the file stays in the order they were recorded.
    std::vector<std::string> lines = std::move(pending_);
    pending_.clear();
    bool flush_requested = false;
    for (auto& s : batch) {
      if (s.empty())
        flush_requested = true;  // Flush()'s marker
      else
        lines.push_back(std::move(s));
    }
    std::string buf;
    for (const auto& s : lines) buf += s;
    Status s;
    if (!buf.empty()) {
      // Append puts the lines in the page cache, so a crash of the process loses nothing.
      s = file_->Append(AsBytes(buf));
      if (s.ok()) {
        size_ += buf.size();
        unsynced_ += lines.size();
      } else {
        // A torn line would break the file's one-object-per-line shape: cut it off, and keep
        // the entries for the next write.
        if (Status cut = fs_->Truncate(path_, size_); !cut.ok()) {
          s = Status(s.code(), s.message() + " (and cutting the torn line off failed: " +
                                   cut.message() + ")");
        }
        pending_ = std::move(lines);
      }
    }
    // The sync that protects against a crash of the machine is amortised over kSyncEvery
    // entries (and forced by Flush() and at shutdown): on virtualised disks it costs more CPU
    // than the key operation it records. A failed sync is reported, not retried: what it lost
    // can't be known.
    if (s.ok() && unsynced_ > 0 && (unsynced_ >= kSyncEvery || flush_requested || stopping)) {
      s = file_->Sync();
      unsynced_ = 0;
    }
    size_t dropped = pending_.size() > kMaxPending ? pending_.size() - kMaxPending : 0;
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<long>(dropped));
    l.lock();
    if (!s.ok() && error_.ok()) error_ = s;
    dropped_ += dropped;
    written_ += batch.size();
    flushed_cv_.NotifyAll();
  }
}

Result<std::vector<std::string>> AuditLog::Read(const std::string& vault, size_t limit) const {
  auto file = fs_->NewSequentialFile(path_);
  if (!file.ok())
    return Status(file.status().code(), "cannot read audit log: " + file.status().message());
  std::vector<std::string> out;
  std::string data, line;
  std::vector<uint8_t> chunk(1 << 16);
  size_t at = 0;  // start of the next line in data
  // The next whole line (the last one may lack its '\n'); false at the end.
  auto next_line = [&]() -> Result<bool> {
    for (;;) {
      if (size_t nl = data.find('\n', at); nl != std::string::npos) {
        line.assign(data, at, nl - at);
        at = nl + 1;
        return true;
      }
      data.erase(0, at);
      at = 0;
      ASSIGN_OR_RETURN(size_t n, (*file)->Read(chunk));
      if (n == 0) {
        if (data.empty()) return false;
        line = std::move(data);
        data.clear();
        return true;
      }
      data.append(reinterpret_cast<const char*>(chunk.data()), n);
    }
  };
  for (;;) {
    ASSIGN_OR_RETURN(bool more, next_line());
    if (!more) break;
    if (!vault.empty()) {
      boost::system::error_code ec;
      auto v = boost::json::parse(line, ec);
      if (ec) continue;
      if (!v.is_object() || !v.as_object().contains("vault") ||
          !v.as_object().at("vault").is_string())
        continue;
      std::string name(v.as_object().at("vault").as_string());
      if (name.size() != vault.size() || !std::equal(name.begin(), name.end(), vault.begin(), [](char a, char b) {
            return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
          })) {
        continue;
      }
    }
    out.push_back(line);
  }
  if (out.size() > limit) out.erase(out.begin(), out.end() - static_cast<long>(limit));
  return out;
}

}  // namespace cmk::keyvault
