#include "engine/cache_file.h"

#include <algorithm>
#include <cstring>

#include "base/encoding.h"
#include "crypto/aead.h"

namespace cmk::engine {
namespace {

constexpr uint8_t kCacheMagic[4] = {'C', 'M', 'K', 'C'};
constexpr uint8_t kCacheVersion = 2;
constexpr size_t kTag = crypto::kAeadTagSize;
constexpr size_t kNonce = crypto::kAeadNonceSize;
constexpr size_t kNonceAt = 20;  // the nonce base's offset in the header
// Object sizes a file may name: far above any extent, and low enough that the file size it
// implies cannot overflow.
constexpr uint64_t kMaxObjectSize = uint64_t{1} << 48;

void StoreLe(uint8_t* p, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t LoadLe(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{p[i]} << (8 * i);
  return v;
}
void StoreU64Be(uint8_t* p, uint64_t v) {
  for (size_t i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * (7 - i)));
}

uint64_t SegmentCount(uint64_t object_size, uint32_t segment_size) {
  // An empty object still has one (empty) segment, so that every file has a tag binding its header.
  return object_size == 0 ? 1 : (object_size + segment_size - 1) / segment_size;
}

// Segment `index`'s nonce: the base with the index (u64 BE) XORed into its last 8 bytes. Unique
// per segment of a file; a fresh random base per file keeps files apart under one key.
void SegmentNonce(const uint8_t* header, uint64_t index, uint8_t (&nonce)[kNonce]) {
  std::memcpy(nonce, header + kNonceAt, kNonce);
  uint8_t be[8];
  StoreU64Be(be, index);
  for (size_t i = 0; i < 8; ++i) nonce[kNonce - 8 + i] ^= be[i];
}

// The AAD's tail after the header: extent id, index (u64 BE), last-segment flag.
struct AadTail {
  uint8_t bytes[16 + 8 + 1];
  AadTail(const storage::ExtentId& id, uint64_t index, bool last) {
    std::memcpy(bytes, id.data(), 16);
    StoreU64Be(bytes + 16, index);
    bytes[24] = last ? 1 : 0;
  }
};

}  // namespace

bool IsCacheFileV2(std::span<const uint8_t> head) {
  return head.size() >= 5 && std::memcmp(head.data(), kCacheMagic, 4) == 0 && head[4] == kCacheVersion;
}

Result<std::vector<uint8_t>> SealCacheFile(const SecretBytes& key, const storage::ExtentId& id,
                                           std::span<const uint8_t> object, env::Random& random,
                                           uint32_t segment_size) {
  if (segment_size < kMinCacheSegmentSize || segment_size > kMaxCacheSegmentSize) {
    return InvalidArgument("cache segment size " + std::to_string(segment_size) + " out of range");
  }
  if (object.size() > kMaxObjectSize) return InvalidArgument("object too large for a cache file");
  const uint64_t segments = SegmentCount(object.size(), segment_size);
  std::vector<uint8_t> out(kCacheHeaderSize + object.size() + segments * kTag);
  uint8_t* header = out.data();
  std::memcpy(header, kCacheMagic, 4);
  header[4] = kCacheVersion;  // bytes 5-7 reserved, zero
  StoreLe(header + 8, segment_size, 4);
  StoreLe(header + 12, object.size(), 8);
  random.Fill(std::span<uint8_t>(header + kNonceAt, kNonce));
  const std::span<const uint8_t> header_span(header, kCacheHeaderSize);
  uint8_t* at = out.data() + kCacheHeaderSize;
  for (uint64_t i = 0; i < segments; ++i) {
    size_t from = static_cast<size_t>(i * segment_size);
    size_t n = std::min<size_t>(segment_size, object.size() - from);
    uint8_t nonce[kNonce];
    SegmentNonce(header, i, nonce);
    AadTail tail(id, i, i + 1 == segments);
    const std::span<const uint8_t> aad[] = {header_span, tail.bytes};
    RETURN_IF_ERROR(crypto::SealWithNonce(crypto::AeadAlgorithm::kAes256Gcm, key, nonce,
                                          object.subspan(from, n), aad, std::span<uint8_t>(at, n),
                                          std::span<uint8_t, kTag>(at + n, kTag)));
    at += n + kTag;
  }
  return out;
}

Result<std::shared_ptr<CacheFileSource>> CacheFileSource::Open(
    std::unique_ptr<env::RandomAccessFile> file, SecretBytes key, const storage::ExtentId& id) {
  std::shared_ptr<CacheFileSource> s(new CacheFileSource(std::move(file), std::move(key), id));
  ASSIGN_OR_RETURN(uint64_t file_size, s->file_->Size());
  ASSIGN_OR_RETURN(size_t got, s->file_->Read(0, s->header_));
  if (got != kCacheHeaderSize || !IsCacheFileV2(s->header_)) return s->Fail("no version-2 header");
  if (s->header_[5] != 0 || s->header_[6] != 0 || s->header_[7] != 0)
    return s->Fail("reserved bytes set");
  s->segment_size_ = static_cast<uint32_t>(LoadLe(s->header_ + 8, 4));
  s->object_size_ = LoadLe(s->header_ + 12, 8);
  if (s->segment_size_ < kMinCacheSegmentSize || s->segment_size_ > kMaxCacheSegmentSize ||
      s->object_size_ > kMaxObjectSize) {
    return s->Fail("header out of range");
  }
  // Checked here rather than at the last segment's read: a file cut or extended anywhere is
  // refused before anything is decrypted (the segments' AAD binds the sizes besides).
  uint64_t want = kCacheHeaderSize + s->object_size_ + s->Segments() * kTag;
  if (file_size != want) {
    return s->Fail("it holds " + std::to_string(file_size) + " bytes, its header implies " +
                   std::to_string(want));
  }
  return s;
}

uint64_t CacheFileSource::Segments() const { return SegmentCount(object_size_, segment_size_); }

uint64_t CacheFileSource::SegmentBytes(uint64_t index) const {
  return std::min<uint64_t>(segment_size_, object_size_ - index * segment_size_);
}

Status CacheFileSource::Fail(const std::string& why) const {
  failed_.store(true, std::memory_order_relaxed);
  return DataLoss("cache file of extent " + HexEncode(id_) + ": " + why);
}

Status CacheFileSource::ReadSegments(uint64_t first, uint64_t last,
                                     const std::function<std::span<uint8_t>(uint64_t)>& place) const {
  // Contiguous in the file: one positional read for the range (into this thread's buffer,
  // reused: ciphertext only), then each segment opened into its place.
  uint64_t file_at = kCacheHeaderSize + first * (uint64_t{segment_size_} + kTag);
  size_t plain = 0;
  for (uint64_t i = first; i <= last; ++i) plain += static_cast<size_t>(SegmentBytes(i));
  size_t sealed = plain + static_cast<size_t>(last - first + 1) * kTag;
  thread_local std::vector<uint8_t> scratch;
  if (scratch.size() < sealed) scratch.resize(sealed);
  std::span<uint8_t> buf(scratch.data(), sealed);
  auto got = file_->Read(file_at, buf);
  if (!got.ok()) return Fail("read failed: " + got.status().message());
  if (*got != sealed)
    return Fail("segments " + std::to_string(first) + "-" + std::to_string(last) + " cut short");
  const std::span<const uint8_t> header_span(header_, kCacheHeaderSize);
  size_t in = 0;
  for (uint64_t i = first; i <= last; ++i) {
    size_t n = static_cast<size_t>(SegmentBytes(i));
    uint8_t nonce[kNonce];
    SegmentNonce(header_, i, nonce);
    AadTail tail(id_, i, i + 1 == Segments());
    const std::span<const uint8_t> aad[] = {header_span, tail.bytes};
    Status s = crypto::OpenWithNonce(crypto::AeadAlgorithm::kAes256Gcm, key_, nonce,
                                     std::span<const uint8_t>(buf).subspan(in, n + kTag), aad, place(i));
    if (!s.ok()) return Fail("segment " + std::to_string(i) + ": " + s.message());
    in += n + kTag;
  }
  return OkStatus();
}

Status CacheFileSource::ReadInto(uint64_t offset, std::span<uint8_t> out) const {
  const size_t n = out.size();
  if (!RangeWithin(offset, n, object_size_)) return ReadPastEnd(offset, n, object_size_);
  if (n == 0) return OkStatus();
  const uint64_t end = offset + n;
  const uint64_t first = offset / segment_size_, last = (end - 1) / segment_size_;
  auto begin_of = [&](uint64_t i) { return i * segment_size_; };
  // Copies segment i's part of the range out of `plain` (the segment's plaintext).
  auto copy_part = [&](uint64_t i, std::span<const uint8_t> plain) {
    uint64_t from = std::max(offset, begin_of(i)), to = std::min(end, begin_of(i) + plain.size());
    std::memcpy(out.data() + (from - offset), plain.data() + (from - begin_of(i)), static_cast<size_t>(to - from));
  };
  uint64_t from = first;
  {
    // Adjacent blocks share a segment: the one the last read ended in is not decrypted twice.
    MutexLock l(&memo_mu_);
    if (memo_index_ == first) {
      copy_part(first, memo_);
      from = first + 1;
    }
  }
  if (from > last) return OkStatus();
  // A segment the range cuts is decrypted aside (the front one and the back one may be the
  // same); whole ones go straight to their place in `out`.
  thread_local std::vector<uint8_t> front, back;
  auto cut = [&](uint64_t i) { return begin_of(i) < offset || begin_of(i) + SegmentBytes(i) > end; };
  RETURN_IF_ERROR(ReadSegments(from, last, [&](uint64_t i) -> std::span<uint8_t> {
    size_t bytes = static_cast<size_t>(SegmentBytes(i));
    if (!cut(i)) return out.subspan(static_cast<size_t>(begin_of(i) - offset), bytes);
    std::vector<uint8_t>& aside = i == last ? back : front;
    aside.resize(bytes);
    return std::span<uint8_t>(aside.data(), bytes);
  }));
  if (from != last && cut(from)) copy_part(from, front);
  if (cut(last)) {
    copy_part(last, back);
    // The next block starts in this segment.
    MutexLock l(&memo_mu_);
    memo_.assign(back.begin(), back.end());
    memo_index_ = last;
  }
  return OkStatus();
}

}  // namespace cmk::engine
