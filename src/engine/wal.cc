#include "base/mutex.h"
#include "engine/wal.h"

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>

#include "engine/codec.h"

namespace cmk::engine {

Result<std::unique_ptr<Wal>> Wal::Open(env::FileSystem* fs, const std::string& dir,
                                       uint64_t min_segment) {
  RETURN_IF_ERROR(fs->CreateDirs(dir, 0700));
  std::unique_ptr<Wal> w(new Wal(fs, dir));
  ASSIGN_OR_RETURN(auto segs, w->Segments());
  // Never below the checkpoint: records written there would be skipped by the next replay.
  MutexLock l(&w->mu_);
  w->segment_ = std::max<uint64_t>({min_segment, 1, segs.empty() ? 1 : segs.back()});
  return w;
}

Wal::~Wal() = default;  // closes the segment (every acknowledged record was synced)

std::string Wal::SegmentPath(uint64_t n) const {
  char name[32];
  std::snprintf(name, sizeof(name), "%020" PRIu64 ".wal", n);
  return dir_ + "/" + name;
}

Result<std::vector<uint64_t>> Wal::Segments() const {
  std::vector<uint64_t> out;
  ASSIGN_OR_RETURN(auto children, fs_->GetChildren(dir_));
  for (const auto& e : children) {
    const std::string& name = e.name;
    if (e.is_dir || name.size() != 24 || !name.ends_with(".wal")) continue;
    uint64_t n = 0;
    auto [end, ec] = std::from_chars(name.data(), name.data() + 20, n);
    if (ec == std::errc() && end == name.data() + 20) out.push_back(n);  // else not a segment
  }
  std::sort(out.begin(), out.end());
  return out;
}

Status Wal::OpenSegment(uint64_t n) {
  std::string path = SegmentPath(n);
  ASSIGN_OR_RETURN(auto file, fs_->NewAppendableFile(path, 0600));
  ASSIGN_OR_RETURN(uint64_t end, fs_->GetFileSize(path));
  // The segment's name must survive a crash as surely as the records synced into it.
  RETURN_IF_ERROR(fs_->SyncDir(dir_));
  file_ = std::move(file);
  if (n != segment_) segment_records_ = 0;  // a segment replayed before keeps its count
  segment_ = n;
  segment_bytes_ = end;
  return OkStatus();
}

Status Wal::Replay(const std::function<Result<bool>(const WalRecord&)>& fn) {
  MutexLock l(&mu_);
  ASSIGN_OR_RETURN(auto segs, Segments());
  for (size_t i = 0; i < segs.size(); ++i) {
    std::string path = SegmentPath(segs[i]);
    ASSIGN_OR_RETURN(auto file, fs_->NewSequentialFile(path));
    std::vector<uint8_t> data;
    uint8_t buf[1 << 16];
    for (;;) {
      ASSIGN_OR_RETURN(size_t n, file->Read(buf));
      if (n == 0) break;
      data.insert(data.end(), buf, buf + n);
    }
    size_t at = 0;
    uint64_t index = 0;
    bool closed = false;
    while (at + 8 <= data.size()) {
      uint32_t len = LoadU32(data.data() + at), crc = LoadU32(data.data() + at + 4);
      if (len > data.size() - at - 8) break;
      std::span<const uint8_t> payload(data.data() + at + 8, len);
      if (Crc32c(payload) != crc) break;
      ASSIGN_OR_RETURN(closed, fn(WalRecord{segs[i], ++index, payload}));
      at += 8 + len;
    }
    if (at != data.size()) {
      if (i + 1 != segs.size()) return DataLoss("damaged record inside " + path + " (not its tail)");
      RETURN_IF_ERROR(fs_->Truncate(path, at));
    }
    if (i + 1 == segs.size() && segs[i] >= segment_) {
      // The newest segment: appends continue its numbering, or go to the next one once closed
      // (a crash between a segment's closing record and the next segment's creation).
      segment_ = closed ? segs[i] + 1 : segs[i];
      segment_records_ = closed ? 0 : index;
    }
  }
  return OkStatus();
}

Status Wal::BreakLocked(const Status& s, const char* why) {
  broken_ = Status(s.code(), "WAL " + dir_ + ": " + s.message() + " (" + why +
                                 "; appends are refused until the WAL is reopened)");
  synced_cv_.NotifyAll();
  return broken_;
}

Status Wal::WriteRecordLocked(const Sealer& seal) {
  RETURN_IF_ERROR(broken_);
  if (!file_) RETURN_IF_ERROR(OpenSegment(segment_));
  if (segment_records_ >= kMaxRecordsPerSegment) {
    return Status(StatusCode::kResourceExhausted, "WAL segment " + std::to_string(segment_) +
                                                      " is full: its records wait for a flush");
  }
  record_.clear();
  Status sealed = seal(segment_, segment_records_ + 1, record_);
  if (!sealed.ok()) return sealed;
  uint8_t head[8];
  uint32_t len = static_cast<uint32_t>(record_.size()), crc = Crc32c(record_);
  for (int b = 0; b < 4; ++b) {
    head[b] = static_cast<uint8_t>(len >> (8 * b));
    head[4 + b] = static_cast<uint8_t>(crc >> (8 * b));
  }
  Status written = file_->AppendParts({std::span<const uint8_t>(head, 8), record_});
  if (!written.ok()) {
    // Part of the record may be in the segment (a short write, a full disk). Cut it off, or the
    // records appended after it would sit behind a torn record that replay stops at.
    Status cut = fs_->Truncate(SegmentPath(segment_), segment_bytes_);
    if (!cut.ok()) return BreakLocked(written, "and cutting the torn record off failed");
    return written;
  }
  segment_bytes_ += 8 + record_.size();
  ++segment_records_;
  if (record_.capacity() > (size_t{64} << 20)) std::vector<uint8_t>().swap(record_);
  return OkStatus();
}

Status Wal::AppendForTest(std::span<const uint8_t> payload) {
  return Append([payload](uint64_t, uint64_t, std::vector<uint8_t>& out) {
    out.assign(payload.begin(), payload.end());
    return OkStatus();
  });
}

Status Wal::Append(const Sealer& seal) {
  UniqueLock l(&mu_);
  RETURN_IF_ERROR(WriteRecordLocked(seal));
  uint64_t mine = ++written_;
  while (synced_ < mine) {
    // A sync that failed covered this record too: it is not durable, and never will be known to be.
    RETURN_IF_ERROR(broken_);
    if (!syncing_) {
      syncing_ = true;
      uint64_t target = written_;
      env::WritableFile* file = file_.get();  // Rotate, which replaces it, waits for !syncing_
      l.unlock();
      Status synced = file->Sync();
      l.lock();
      syncing_ = false;
      ++syncs_;
      if (!synced.ok()) return BreakLocked(synced, "a sync failed");
      synced_ = std::max(synced_, target);
      synced_cv_.NotifyAll();
    } else {
      synced_cv_.Wait(l);
    }
  }
  return OkStatus();
}

Result<uint64_t> Wal::Rotate(const Sealer& close) {
  UniqueLock l(&mu_);
  synced_cv_.Wait(l, [&] {
    mu_.AssertHeld();
    return !syncing_;
  });
  // The closing record tells replay that nothing was cut off this segment's end.
  RETURN_IF_ERROR(WriteRecordLocked(close));
  ++written_;
  Status synced = file_->Sync();
  ++syncs_;
  if (!synced.ok()) return BreakLocked(synced, "a sync failed");
  synced_ = written_;
  uint64_t closed = segment_;
  // Synced above, so closing can't lose the segment's data. From here on appends go to the next
  // segment even if opening it fails now (never behind the closing record).
  file_->Close().IgnoreError();
  file_.reset();
  segment_ = closed + 1;
  segment_records_ = 0;
  segment_bytes_ = 0;
  RETURN_IF_ERROR(OpenSegment(segment_));
  return closed;
}

Status Wal::DropThrough(uint64_t segment) {
  MutexLock l(&mu_);
  ASSIGN_OR_RETURN(auto segs, Segments());
  for (uint64_t s : segs) {
    if (s > segment || s == segment_) continue;
    RETURN_IF_ERROR(fs_->Remove(SegmentPath(s)));
  }
  return fs_->SyncDir(dir_);
}

uint64_t Wal::current_segment() const {
  MutexLock l(&mu_);
  return segment_;
}

uint64_t Wal::current_bytes() const {
  MutexLock l(&mu_);
  return segment_bytes_;
}

uint64_t Wal::syncs() const {
  MutexLock l(&mu_);
  return syncs_;
}

}  // namespace cmk::engine
