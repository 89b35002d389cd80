#include "engine/string_pool.h"

#include <utility>

namespace cmk::engine {
namespace {

// Fewer strings than this are not worth pooling (a small block allocates little).
constexpr size_t kMinPooledStrings = 1024;

thread_local std::vector<std::vector<std::string>> pool;

}  // namespace

std::vector<std::string> TakeStrings(size_t rows) {
  std::vector<std::string> v;
  if (!pool.empty()) {
    v = std::move(pool.back());
    pool.pop_back();
  }
  v.resize(rows);
  return v;
}

void GiveStrings(std::vector<std::string>&& v) {
  if (v.size() < kMinPooledStrings || pool.size() >= kPooledVectors) return;
  size_t bytes = v.capacity() * sizeof(std::string);
  for (const std::string& s : v) bytes += s.capacity() + 1;
  if (bytes > kPooledBytes) return;
  pool.push_back(std::move(v));
}

size_t PooledStringVectorsForTest() { return pool.size(); }

}  // namespace cmk::engine
