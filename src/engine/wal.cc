#include "engine/wal.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <system_error>

#include "engine/codec.h"
#include "engine/file_io.h"

namespace cmk::engine {
namespace {

Status Errno(const std::string& what, const std::string& path) {
  return Internal(what + " " + path + ": " + std::error_code(errno, std::generic_category()).message());
}

Status SyncDir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Errno("open", dir);
  int rc = ::fsync(fd);
  ::close(fd);
  return rc == 0 ? OkStatus() : Errno("fsync", dir);
}

}  // namespace

Result<std::unique_ptr<Wal>> Wal::Open(const std::string& dir, uint64_t min_segment) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Internal("create " + dir + ": " + ec.message());
  std::unique_ptr<Wal> w(new Wal(dir));
  ASSIGN_OR_RETURN(auto segs, w->Segments());
  // Never below the checkpoint: records written there would be skipped by the next replay.
  w->segment_ = std::max<uint64_t>({min_segment, 1, segs.empty() ? 1 : segs.back()});
  return w;
}

Wal::~Wal() {
  if (fd_ >= 0) ::close(fd_);
}

std::string Wal::SegmentPath(uint64_t n) const {
  char name[32];
  std::snprintf(name, sizeof(name), "%020" PRIu64 ".wal", n);
  return dir_ + "/" + name;
}

Result<std::vector<uint64_t>> Wal::Segments() const {
  std::vector<uint64_t> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir_, ec)) {
    std::string name = e.path().filename().string();
    if (name.size() != 24 || !name.ends_with(".wal")) continue;
    out.push_back(std::stoull(name.substr(0, 20)));
  }
  if (ec) return Internal("list " + dir_ + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

Status Wal::OpenSegment(uint64_t n) {
  std::string path = SegmentPath(n);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("open", path);
  off_t end = ::lseek(fd, 0, SEEK_END);
  RETURN_IF_ERROR(SyncDir(dir_));
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
  if (n != segment_) segment_records_ = 0;  // a segment replayed before keeps its count
  segment_ = n;
  segment_bytes_ = end > 0 ? static_cast<uint64_t>(end) : 0;
  return OkStatus();
}

Status Wal::Replay(const std::function<Result<bool>(const WalRecord&)>& fn) {
  std::lock_guard<std::mutex> l(mu_);
  ASSIGN_OR_RETURN(auto segs, Segments());
  for (size_t i = 0; i < segs.size(); ++i) {
    std::string path = SegmentPath(segs[i]);
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Errno("open", path);
    std::vector<uint8_t> data;
    uint8_t buf[1 << 16];
    for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) != 0;) {
      if (n < 0) {
        if (errno == EINTR) continue;
        ::close(fd);
        return Errno("read", path);
      }
      data.insert(data.end(), buf, buf + n);
    }
    ::close(fd);
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
      if (::truncate(path.c_str(), static_cast<off_t>(at)) != 0) return Errno("truncate", path);
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

Status Wal::WriteRecordLocked(const Sealer& seal) {
  if (fd_ < 0) RETURN_IF_ERROR(OpenSegment(segment_));
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
  RETURN_IF_ERROR(WriteAll(fd_, {std::span<const uint8_t>(head, 8), record_}, SegmentPath(segment_)));
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
  std::unique_lock<std::mutex> l(mu_);
  RETURN_IF_ERROR(WriteRecordLocked(seal));
  uint64_t mine = ++written_;
  while (synced_ < mine) {
    if (!syncing_) {
      syncing_ = true;
      uint64_t target = written_;
      int fd = fd_;
      l.unlock();
      int rc = ::fdatasync(fd);
      l.lock();
      syncing_ = false;
      ++syncs_;
      if (rc != 0) {
        sync_error_ = Errno("fdatasync", dir_);
        synced_cv_.notify_all();
        return sync_error_;
      }
      synced_ = std::max(synced_, target);
      synced_cv_.notify_all();
    } else {
      synced_cv_.wait(l);
    }
  }
  return OkStatus();
}

Result<uint64_t> Wal::Rotate(const Sealer& close) {
  std::unique_lock<std::mutex> l(mu_);
  synced_cv_.wait(l, [&] { return !syncing_; });
  // The closing record tells replay that nothing was cut off this segment's end.
  RETURN_IF_ERROR(WriteRecordLocked(close));
  ++written_;
  if (::fdatasync(fd_) != 0) return Errno("fdatasync", dir_);
  synced_ = written_;
  uint64_t closed = segment_;
  RETURN_IF_ERROR(OpenSegment(segment_ + 1));
  return closed;
}

Status Wal::DropThrough(uint64_t segment) {
  std::lock_guard<std::mutex> l(mu_);
  ASSIGN_OR_RETURN(auto segs, Segments());
  for (uint64_t s : segs) {
    if (s > segment || s == segment_) continue;
    std::string path = SegmentPath(s);
    if (::unlink(path.c_str()) != 0 && errno != ENOENT) return Errno("unlink", path);
  }
  return SyncDir(dir_);
}

uint64_t Wal::current_segment() const {
  std::lock_guard<std::mutex> l(mu_);
  return segment_;
}

uint64_t Wal::current_bytes() const {
  std::lock_guard<std::mutex> l(mu_);
  return segment_bytes_;
}

uint64_t Wal::syncs() const {
  std::lock_guard<std::mutex> l(mu_);
  return syncs_;
}

}  // namespace cmk::engine
