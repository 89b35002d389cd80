#pragma once
// AuditLog: one JSON line per key operation (time, caller, vault, key, version, operation,
// algorithm, result, latency) appended to <dir>/keyvault-audit.jsonl. Record() only queues; a
// writer thread appends whatever has queued, so the unwrap path never waits on the disk. A
// killed process loses no entry that was written; a machine crash may lose the last entries
// not yet fdatasync'ed (at most kSyncEvery). Nothing secret is ever recorded.
// Thread safety: safe for concurrent use.
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "base/time_format.h"

namespace cmk::keyvault {

struct AuditEntry {
  TimePoint time;
  std::string caller_object_id;
  std::string caller_app_id;
  std::string vault;
  std::string key;
  std::string version;
  std::string operation;  // e.g. "unwrapKey"
  std::string algorithm;
  int status = 0;  // HTTP status of the outcome
  std::string error_code;
  int64_t latency_us = 0;
};

class AuditLog {
 public:
  static Result<std::unique_ptr<AuditLog>> Open(const std::string& path);
  ~AuditLog();
  void Record(AuditEntry e);
  // Waits until everything recorded so far is on disk.
  void Flush();
  // Entries of `vault` (all vaults when empty), oldest first, at most `limit`.
  Result<std::vector<std::string>> Read(const std::string& vault, size_t limit) const;

 private:
  AuditLog(std::string path, int fd);
  void Loop();
  std::string path_;
  int fd_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable flushed_cv_;
  std::vector<std::string> queue_;
  uint64_t queued_ = 0;
  uint64_t written_ = 0;
  static constexpr uint64_t kSyncEvery = 256;
  uint64_t unsynced_ = 0;     // writer thread only
  bool flush_requested_ = false;
  bool stop_ = false;
  std::thread writer_;
};

}  // namespace cmk::keyvault
