// Memtable chunks and decoded tables: wiping their rows when they are released after a
// revocation (design.md §5: the memtable and decoded extents are wiped, not just freed).
#include <functional>
#include <mutex>

#include "base/mutex.h"
#include "base/secret_bytes.h"
#include "engine/log_store_internal.h"

namespace cmk::engine {
namespace {

template <typename T>
void WipeVector(std::vector<T>& v) {
  WipeBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(v.data()), v.size() * sizeof(T)));
}

void WipeString(std::string& s) { WipeBytes(std::span<uint8_t>(reinterpret_cast<uint8_t*>(s.data()), s.size())); }

Mutex observer_mu;
std::function<void(const Batch&)>* observer = nullptr;  // guarded by observer_mu (tests only)

}  // namespace

void WipeBatch(Batch& b) {
  for (auto& c : b.columns) {
    WipeVector(c.nulls);
    WipeVector(c.ints);
    WipeVector(c.reals);
    WipeVector(c.ends);
    WipeString(c.bytes);
  }
}

void WipeTable(kql::Table& t) {
  for (auto& c : t.columns) {
    WipeVector(c.nulls);
    WipeVector(c.ints);
    WipeVector(c.reals);
    WipeVector(c.codes);
    WipeString(c.chars);
    for (auto& s : c.strings) WipeString(s);
  }
}

void MakeDictWipeable(kql::Column& c, std::shared_ptr<std::atomic<bool>> wipe) {
  if (!c.dict || c.dict.use_count() != 1) return;
  // The decoder made the vector (not const) and nobody else holds it: move it under a deleter
  // that wipes.
  auto* owned = new std::vector<std::string>(std::move(const_cast<std::vector<std::string>&>(*c.dict)));
  c.dict = std::shared_ptr<const std::vector<std::string>>(owned, [wipe](const std::vector<std::string>* p) {
    if (wipe->load(std::memory_order_relaxed)) {
      for (auto& s : *const_cast<std::vector<std::string>*>(p)) WipeString(s);
    }
    delete p;
  });
}

std::shared_ptr<const kql::Table> ShareWipeable(kql::Table t, std::shared_ptr<std::atomic<bool>> wipe) {
  return std::shared_ptr<const kql::Table>(new kql::Table(std::move(t)), [wipe](const kql::Table* p) {
    // The last holder releases it: nobody reads the columns any more.
    if (wipe->load(std::memory_order_relaxed)) WipeTable(*const_cast<kql::Table*>(p));
    delete p;
  });
}

std::shared_ptr<const kql::Table> MemChunk::Table() const {
  std::call_once(once_, [this] { table_ = ShareWipeable(batch_.ToTable(), wipe_); });
  return table_;
}

MemChunk::~MemChunk() {
  if (!wipe_->load(std::memory_order_relaxed)) return;
  WipeBatch(batch_);
  MutexLock l(&observer_mu);
  if (observer != nullptr) (*observer)(batch_);
}

void LogStore::SetWipeObserverForTest(std::function<void(const Batch&)> fn) {
  MutexLock l(&observer_mu);
  delete observer;
  observer = fn ? new std::function<void(const Batch&)>(std::move(fn)) : nullptr;
}

}  // namespace cmk::engine
