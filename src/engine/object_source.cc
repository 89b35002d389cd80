#include "engine/object_source.h"

#include <cstring>
#include <string>

namespace cmk::engine {

Result<std::vector<uint8_t>> ObjectSource::Read(uint64_t offset, size_t n) const {
  if (!RangeWithin(offset, n, size())) return ReadPastEnd(offset, n, size());
  std::vector<uint8_t> out(n);
  RETURN_IF_ERROR(ReadInto(offset, out));
  return out;
}

Status ReadPastEnd(uint64_t offset, uint64_t n, uint64_t size) {
  return InvalidArgument("read of " + std::to_string(n) + " bytes at " + std::to_string(offset) +
                         " past the end of a " + std::to_string(size) + "-byte object");
}

Status MemoryObjectSource::ReadInto(uint64_t offset, std::span<uint8_t> out) const {
  if (!RangeWithin(offset, out.size(), object_.size())) return ReadPastEnd(offset, out.size(), object_.size());
  if (!out.empty()) std::memcpy(out.data(), object_.data() + offset, out.size());
  return OkStatus();
}

}  // namespace cmk::engine
