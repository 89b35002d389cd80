#pragma once
// The hot-cache file, version 2 (docs/FORMAT.md "Hot-cache file"): an extent's data-layer object
// (the infrastructure layer removed; every block still sealed under its DEK) cut into segments of
// `segment size` bytes, each sealed with AES-256-GCM under the account's cache key, so that a
// reader decrypts only the segments that hold the bytes it needs:
//
//   header (32): "CMKC" | u8 version 2 | 3 reserved zero bytes | u32 LE segment size |
//                u64 LE object size | 12-byte random nonce base
//   segments:    ciphertext || 16-byte tag, segment i of min(segment size, rest) bytes
//                (an empty object has one empty segment)
//   nonce(i) = nonce base XOR (i as u64 BE in its last 8 bytes)
//   AAD(i)   = header || extent id (16) || i (u64 BE) || u8 1 for the last segment, else 0
//
// The AAD binds every segment to its file's header (object size, segment size, nonce base), its
// extent and its position: a truncated, extended, reordered, spliced or swapped file, or a
// segment of another file or extent, does not authenticate (DataLoss).
// Version 1 files (nonce || ciphertext || tag of the stored object, AAD = the extent id in hex)
// have no magic; LogStore still reads them (and rewrites them in this version).
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/secret_bytes.h"
#include "base/status.h"
#include "engine/object_source.h"
#include "env/env.h"
#include "env/file_system.h"
#include "storage/sealed_block.h"

namespace cmk::engine {

inline constexpr uint32_t kCacheSegmentSize = 64 * 1024;
inline constexpr size_t kCacheHeaderSize = 32;
// Segment sizes a file may name (the writer uses kCacheSegmentSize; tests use small ones).
inline constexpr uint32_t kMinCacheSegmentSize = 16;
inline constexpr uint32_t kMaxCacheSegmentSize = 16u << 20;

// Whether `head` (a file's first bytes) starts like a version-2 cache file: magic and version.
bool IsCacheFileV2(std::span<const uint8_t> head);

// The version-2 cache file of `object` (the extent `id`'s data-layer object) under `key` (32
// bytes), with a fresh random nonce base. InvalidArgument for a segment size out of range or a
// key that is not 32 bytes.
Result<std::vector<uint8_t>> SealCacheFile(const SecretBytes& key, const storage::ExtentId& id,
                                           std::span<const uint8_t> object, env::Random& random,
                                           uint32_t segment_size = kCacheSegmentSize);

// The object in a version-2 cache file, decrypted lazily: Read decrypts only the segments that
// cover its range (and remembers the last one, which the next adjacent read usually starts in).
// Any failure to read or authenticate is DataLoss and sets failed(): the file must not be
// served, and the caller drops it and reads the extent's blob instead.
// Thread safety: safe for concurrent use (the file is read with positional reads).
class CacheFileSource final : public ObjectSource {
 public:
  // Checks the header and that the file's size is the one it implies (nothing is decrypted yet:
  // the segments authenticate the header when read). DataLoss when it isn't a well-formed
  // version-2 file of that size.
  static Result<std::shared_ptr<CacheFileSource>> Open(std::unique_ptr<env::RandomAccessFile> file,
                                                       SecretBytes key,
                                                       const storage::ExtentId& id);
  uint64_t size() const override { return object_size_; }
  // Whole segments inside the range are decrypted straight into `out`; the (at most two) the
  // range cuts are decrypted aside and their part copied.
  Status ReadInto(uint64_t offset, std::span<uint8_t> out) const override;
  // Whether a read failed (the file is damaged or not this extent's).
  bool failed() const { return failed_.load(std::memory_order_relaxed); }

 private:
  CacheFileSource(std::unique_ptr<env::RandomAccessFile> file, SecretBytes key,
                  const storage::ExtentId& id)
      : file_(std::move(file)), key_(std::move(key)), id_(id) {}
  uint64_t Segments() const;
  uint64_t SegmentBytes(uint64_t index) const;  // plaintext bytes of segment `index`
  Status Fail(const std::string& why) const;
  // Decrypts segments [first, last], each into place(index) (SegmentBytes(index) bytes).
  Status ReadSegments(uint64_t first, uint64_t last, const std::function<std::span<uint8_t>(uint64_t)>& place) const;

  std::unique_ptr<env::RandomAccessFile> file_;
  const SecretBytes key_;
  const storage::ExtentId id_;
  uint8_t header_[kCacheHeaderSize] = {};
  uint32_t segment_size_ = 0;
  uint64_t object_size_ = 0;
  mutable std::atomic<bool> failed_{false};
  mutable Mutex memo_mu_;
  mutable uint64_t memo_index_ GUARDED_BY(memo_mu_) = UINT64_MAX;  // none
  mutable std::vector<uint8_t> memo_ GUARDED_BY(memo_mu_);         // segment memo_index_
};

}  // namespace cmk::engine
