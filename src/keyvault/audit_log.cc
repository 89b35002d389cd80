#include "keyvault/audit_log.h"

#include <fcntl.h>
#include <unistd.h>

#include <boost/json.hpp>
#include <fstream>

namespace cmk::keyvault {

Result<std::unique_ptr<AuditLog>> AuditLog::Open(const std::string& path) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Internal("cannot open audit log " + path);
  return std::unique_ptr<AuditLog>(new AuditLog(path, fd));
}

AuditLog::AuditLog(std::string path, int fd) : path_(std::move(path)), fd_(fd), writer_([this] { Loop(); }) {}

AuditLog::~AuditLog() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  writer_.join();
  ::close(fd_);
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
    std::lock_guard<std::mutex> l(mu_);
    queue_.push_back(std::move(line));
    ++queued_;
  }
  cv_.notify_one();
}

void AuditLog::Flush() {
  std::unique_lock<std::mutex> l(mu_);
  uint64_t target = queued_;
  flush_requested_ = true;
  // An empty marker batch makes the writer run (and sync) even when nothing is queued.
  queue_.emplace_back();
  ++queued_;
  cv_.notify_one();
  flushed_cv_.wait(l, [&] { return written_ >= target + 1 || stop_; });
}

void AuditLog::Loop() {
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait(l, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty() && stop_) return;
    std::vector<std::string> batch;
    batch.swap(queue_);
    l.unlock();
    std::string buf;
    for (auto& s : batch) buf += s;
    size_t done = 0;
    while (done < buf.size()) {
      ssize_t n = ::write(fd_, buf.data() + done, buf.size() - done);
      if (n <= 0) break;  // disk trouble: entries are dropped, the service keeps running
      done += static_cast<size_t>(n);
    }
    // write() has put the batch in the page cache, so a crash of the process loses nothing. The
    // fdatasync that protects against a crash of the machine is amortised over kSyncEvery
    // entries (and forced by Flush() and at shutdown): on virtualised disks it costs more CPU
    // than the key operation it records.
    unsynced_ += batch.size();
    bool flush_requested = flush_requested_;
    if (unsynced_ >= kSyncEvery || flush_requested || stop_) {
      ::fdatasync(fd_);
      unsynced_ = 0;
    }
    l.lock();
    if (flush_requested) flush_requested_ = false;
    written_ += batch.size();
    flushed_cv_.notify_all();
  }
}

Result<std::vector<std::string>> AuditLog::Read(const std::string& vault, size_t limit) const {
  std::ifstream in(path_);
  if (!in) return Internal("cannot read audit log " + path_);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (!vault.empty()) {
      boost::system::error_code ec;
      auto v = boost::json::parse(line, ec);
      if (ec) continue;
      if (!v.is_object() || !v.as_object().contains("vault")) continue;
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
