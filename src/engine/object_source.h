#pragma once
// ObjectSource: the bytes of an extent's data-layer object (engine/extent.h), read by range, so
// that an ExtentReader reads only its trailer, header, footer and the blocks a query asks for.
// Implementations: MemoryObjectSource (an object in memory: read from its blob, just built, or in
// tests) and CacheFileSource (a hot-cache file, engine/cache_file.h, decrypted segment by
// segment).
// Thread safety: implementations are safe for concurrent use.
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/status.h"

namespace cmk::engine {

class ObjectSource {
 public:
  virtual ~ObjectSource() = default;
  // The object's size in bytes.
  virtual uint64_t size() const = 0;
  // Bytes [offset, offset + out.size()) of the object into `out`. InvalidArgument when the
  // range is not within size(); DataLoss when the bytes don't authenticate where they are
  // stored (then `out` holds nothing meaningful).
  virtual Status ReadInto(uint64_t offset, std::span<uint8_t> out) const = 0;
  // The same into a new buffer.
  Result<std::vector<uint8_t>> Read(uint64_t offset, size_t n) const;
};

// An object held in memory.
class MemoryObjectSource final : public ObjectSource {
 public:
  explicit MemoryObjectSource(std::vector<uint8_t> object) : object_(std::move(object)) {}
  uint64_t size() const override { return object_.size(); }
  Status ReadInto(uint64_t offset, std::span<uint8_t> out) const override;
  std::span<const uint8_t> bytes() const { return object_; }

 private:
  const std::vector<uint8_t> object_;
};

// Whether [offset, offset + n) lies within an object of `size` bytes (no overflow).
inline bool RangeWithin(uint64_t offset, uint64_t n, uint64_t size) {
  return offset <= size && n <= size - offset;
}
// InvalidArgument: a read of n bytes at `offset` past the end of a `size`-byte object.
Status ReadPastEnd(uint64_t offset, uint64_t n, uint64_t size);

}  // namespace cmk::engine
