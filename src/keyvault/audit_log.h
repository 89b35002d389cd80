#pragma once
// AuditLog: one JSON line per key operation (time, caller, vault, key, version, operation,
// algorithm, result, latency) appended to <dir>/keyvault-audit.jsonl. Record() only queues; a
// writer thread appends whatever has queued, so the unwrap path never waits on the disk. A
// killed process loses no entry that was written; a machine crash may lose the last entries
// not yet synced (at most kSyncEvery). Nothing secret is ever recorded.
// I/O errors: a write that fails is cut back off the file (which stays one JSON object per
// line) and its entries are kept and written again with the next ones (at most kMaxPending are
// kept: beyond that the oldest are dropped and counted). Flush() returns the first error since
// the previous Flush, so no failure goes unreported.
// Files: only through the env::FileSystem given to Open.
// Thread safety: safe for concurrent use.
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/time_format.h"
#include "env/file_system.h"

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
  // `fs` must outlive the log; the directory of `path` must exist.
  static Result<std::unique_ptr<AuditLog>> Open(env::FileSystem* fs, const std::string& path);
  ~AuditLog();
  void Record(AuditEntry e);
  // Waits until everything recorded so far has been written and synced. Not OK when that
  // failed, or when any write or sync failed since the previous Flush (the error says which,
  // and how many entries were dropped).
  Status Flush();
  // Entries of `vault` (all vaults when empty), oldest first, at most `limit`.
  Result<std::vector<std::string>> Read(const std::string& vault, size_t limit) const;

 private:
  AuditLog(env::FileSystem* fs, std::string path, std::unique_ptr<env::WritableFile> file,
           uint64_t size);
  void Loop();
  // Writes `buf` (whole lines) and syncs when `sync`. Writer thread only.
  Status Write(const std::string& buf, bool sync);
  env::FileSystem* fs_;
  std::string path_;
  std::unique_ptr<env::WritableFile> file_;  // writer thread only
  uint64_t size_;                            // writer thread only: bytes of whole lines
  mutable Mutex mu_;
  CondVar cv_;
  CondVar flushed_cv_;
  std::vector<std::string> queue_ GUARDED_BY(mu_);
  uint64_t queued_ GUARDED_BY(mu_) = 0;
  uint64_t written_ GUARDED_BY(mu_) = 0;
  static constexpr uint64_t kSyncEvery = 256;
  static constexpr size_t kMaxPending = 100'000;
  uint64_t unsynced_ = 0;     // writer thread only
  std::vector<std::string> pending_;  // writer thread only: entries whose write failed
  Status error_ GUARDED_BY(mu_);  // the first failure since the last Flush
  // Entries dropped since the last Flush (pending_ was full).
  uint64_t dropped_ GUARDED_BY(mu_) = 0;
  bool stop_ GUARDED_BY(mu_) = false;
  std::thread writer_;
};

}  // namespace cmk::keyvault
