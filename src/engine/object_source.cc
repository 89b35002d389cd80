#include "engine/object_source.h"

#include <string>

namespace cmk::engine {

Result<std::vector<uint8_t>> MemoryObjectSource::Read(uint64_t offset, size_t n) const {
  if (!RangeWithin(offset, n, object_.size())) {
    return InvalidArgument("read of " + std::to_string(n) + " bytes at " + std::to_string(offset) +
                           " past the end of a " + std::to_string(object_.size()) + "-byte object");
  }
  auto at = object_.begin() + static_cast<std::ptrdiff_t>(offset);
  return std::vector<uint8_t>(at, at + static_cast<std::ptrdiff_t>(n));
}

}  // namespace cmk::engine
