#pragma once
// Write-ahead log of one storage account: numbered segment files <dir>/<%020u>.wal holding
// framed records [u32 length][u32 CRC-32C][payload]. Payloads are sealed by the caller (the
// account store) through a Sealer that Append calls under the log's lock with the record's
// segment and its 1-based index in that segment, so that the caller can bind both into the
// record's AAD and a deleted, reordered or replayed record is found at replay (the caller
// checks; docs/FORMAT.md "WAL record"). Append returns once the record is on disk: appends are
// written in order under a mutex and made durable by group commit — one fdatasync covers every
// record written before it, and whichever appender finds no sync running does it for all.
// Rotate closes a segment with a record of the caller's (its closing record) before the next.
// Replay reads every segment in order and cuts a torn tail (a record whose length or checksum
// doesn't hold, which was never acknowledged) off the last segment.
// Files: only through the env::FileSystem given to Open (segments are appendable files, synced
// with WritableFile::Sync; a new segment's directory entry is synced before it is written).
// I/O errors: a failed write is cut back off the segment (so a torn record never hides the
// records after it) and fails that Append only; if the cut fails too, or a sync fails, the log
// refuses every later Append and Rotate with that error until it is reopened: after a failed
// fdatasync the kernel may have dropped the pages, so a later sync that succeeds would prove
// nothing (PostgreSQL's "fsyncgate"). Records acknowledged before the failure stay durable.
// Thread safety: safe for concurrent use.
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "env/file_system.h"

namespace cmk::engine {

// Records of one segment are at most this many, so that a key derived per segment seals far
// fewer messages than AES-GCM's random-nonce bound (2^32). Append refuses more.
inline constexpr uint64_t kMaxRecordsPerSegment = uint64_t{1} << 30;

struct WalRecord {
  uint64_t segment = 0;
  uint64_t index = 0;  // 1-based position in its segment
  std::span<const uint8_t> payload;
};

class Wal {
 public:
  // Writes the payload of record `index` (1-based) of `segment` into `out` (empty on entry).
  // Called under the log's lock, in the order the records are written: keep it short.
  using Sealer = std::function<Status(uint64_t segment, uint64_t index, std::vector<uint8_t>& out)>;

  // Segments numbered below `min_segment` are never written (the caller's checkpoint + 1).
  // `fs` must outlive the log.
  static Result<std::unique_ptr<Wal>> Open(env::FileSystem* fs, const std::string& dir,
                                           uint64_t min_segment = 1);
  ~Wal();
  // Every record of every segment, oldest first. `fn` returns whether the record closes its
  // segment (then later appends go to the next one). Call before the first Append.
  Status Replay(const std::function<Result<bool>(const WalRecord&)>& fn);
  // Durable when OK. ResourceExhausted when the segment holds kMaxRecordsPerSegment records;
  // the I/O error otherwise (see above).
  Status Append(const Sealer& seal);
  // A payload as it is (tests).
  Status AppendForTest(std::span<const uint8_t> payload);
  // Writes the closing record `close` seals, syncs, and opens the next segment; returns the
  // closed segment's number.
  Result<uint64_t> Rotate(const Sealer& close);
  // Deletes the segments numbered <= `segment` (their records are in durable extents).
  Status DropThrough(uint64_t segment);
  uint64_t current_segment() const;
  // Bytes appended to the current segment.
  uint64_t current_bytes() const;
  // Segment syncs so far (tests check that concurrent appends share them).
  uint64_t syncs() const;

 private:
  Wal(env::FileSystem* fs, std::string dir) : fs_(fs), dir_(std::move(dir)) {}
  std::string SegmentPath(uint64_t n) const;
  Status OpenSegment(uint64_t n) REQUIRES(mu_);
  Result<std::vector<uint64_t>> Segments() const;
  // Seals and writes one framed record into the current segment. REQUIRES: mu_ held.
  Status WriteRecordLocked(const Sealer& seal) REQUIRES(mu_);
  // Refuses later appends with `s`. REQUIRES: mu_ held.
  Status BreakLocked(const Status& s, const char* why) REQUIRES(mu_);
  env::FileSystem* fs_;
  std::string dir_;
  mutable Mutex mu_;
  CondVar synced_cv_;
  std::unique_ptr<env::WritableFile> file_ GUARDED_BY(mu_);  // the current segment, once opened
  Status broken_ GUARDED_BY(mu_);                            // not OK: every later Append and Rotate fails with it
  uint64_t segment_ GUARDED_BY(mu_) = 0;
  uint64_t segment_bytes_ GUARDED_BY(mu_) = 0;
  uint64_t segment_records_ GUARDED_BY(mu_) = 0;  // records in the current segment
  std::vector<uint8_t> record_ GUARDED_BY(mu_);   // the payload being written (capacity kept)
  uint64_t written_ GUARDED_BY(mu_) = 0;  // records written (sequence)
  uint64_t synced_ GUARDED_BY(mu_) = 0;   // records known durable
  bool syncing_ GUARDED_BY(mu_) = false;
  uint64_t syncs_ GUARDED_BY(mu_) = 0;
};

}  // namespace cmk::engine
