#pragma once
// Write-ahead log of one storage account: numbered segment files <dir>/<%020u>.wal holding
// framed records [u32 length][u32 CRC-32C][payload]. Payloads are sealed by the caller (the
// account store) before they get here. Append returns once the record is on disk: appends are
// written in order under a mutex and made durable by group commit — one fdatasync covers every
// record written before it, and whichever appender finds no sync running does it for all.
// Replay reads every segment in order and cuts a torn tail (a record whose length or checksum
// doesn't hold, which was never acknowledged) off the last segment.
// Thread safety: safe for concurrent use.
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/status.h"

namespace cmk::engine {

class Wal {
 public:
  static Result<std::unique_ptr<Wal>> Open(const std::string& dir);
  ~Wal();
  // Every record of every segment, oldest first. Call before the first Append.
  Status Replay(const std::function<Status(uint64_t segment, std::span<const uint8_t> payload)>& fn);
  // Durable when OK.
  Status Append(std::span<const uint8_t> payload);
  // Closes the current segment and opens the next; returns the closed segment's number.
  Result<uint64_t> Rotate();
  // Deletes the segments numbered <= `segment` (their records are in durable extents).
  Status DropThrough(uint64_t segment);
  uint64_t current_segment() const;
  // Bytes appended to the current segment.
  uint64_t current_bytes() const;
  // fdatasync calls so far (tests check that concurrent appends share them).
  uint64_t syncs() const;

 private:
  explicit Wal(std::string dir) : dir_(std::move(dir)) {}
  std::string SegmentPath(uint64_t n) const;
  Status OpenSegment(uint64_t n);
  Result<std::vector<uint64_t>> Segments() const;
  std::string dir_;
  mutable std::mutex mu_;
  std::condition_variable synced_cv_;
  int fd_ = -1;
  uint64_t segment_ = 0;
  uint64_t segment_bytes_ = 0;
  uint64_t written_ = 0;  // records written (sequence)
  uint64_t synced_ = 0;   // records known durable
  bool syncing_ = false;
  Status sync_error_;
  uint64_t syncs_ = 0;
};

}  // namespace cmk::engine
