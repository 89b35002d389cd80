#pragma once
// Shared by the WAL's tests.
#include <cstdint>
#include <vector>

#include "base/status.h"

namespace cmk::engine {

// A closing record "end" (the log store's are sealed; the WAL doesn't look into them).
inline Status Closing(uint64_t, uint64_t, std::vector<uint8_t>& out) {
  out.assign({'e', 'n', 'd'});
  return OkStatus();
}

}  // namespace cmk::engine
