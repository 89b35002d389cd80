#include "engine/hot_cache_index.h"

namespace cmk::engine {

std::optional<std::vector<std::string>> HotCacheIndex::Admit(const std::string& id, const std::string& path,
                                                             uint64_t bytes, int64_t used, bool may_drop) {
  MutexLock l(&mu_);
  if (bound_ != 0 && bytes > bound_) return std::nullopt;
  auto it = entries_.find(id);
  // (Two readers of one extent's blob: the first writes the copy, the second would write the
  // same bytes again.)
  if (it != entries_.end() && it->second.writing) return std::nullopt;
  // The extent's previous copy (a version-1 file rewritten) is replaced in place: its bytes go.
  uint64_t replaced = it != entries_.end() ? it->second.bytes : 0;
  std::vector<std::string> drop;
  if (bound_ != 0 && bytes_ - replaced + bytes > bound_) {
    // What can go: every written copy but this extent's own.
    uint64_t droppable = bytes_ - writing_bytes_ - replaced;
    if (!may_drop || bytes_ - droppable - replaced + bytes > bound_) return std::nullopt;
  }
  if (it != entries_.end()) EraseLocked(it);
  if (bound_ != 0) drop = DropForLocked(bytes);
  entries_[id] = Entry{path, bytes, used, true};
  bytes_ += bytes;
  writing_bytes_ += bytes;
  return drop;
}

bool HotCacheIndex::Written(const std::string& id) {
  MutexLock l(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || !it->second.writing) return false;
  it->second.writing = false;
  writing_bytes_ -= it->second.bytes;
  by_use_.emplace(it->second.used, id);
  return true;
}

void HotCacheIndex::Failed(const std::string& id) {
  MutexLock l(&mu_);
  auto it = entries_.find(id);
  if (it != entries_.end() && it->second.writing) EraseLocked(it);
}

void HotCacheIndex::Touch(const std::string& id, int64_t used) {
  MutexLock l(&mu_);
  auto it = entries_.find(id);
  if (it == entries_.end() || it->second.used >= used) return;
  if (!it->second.writing) {
    by_use_.erase({it->second.used, id});
    by_use_.emplace(used, id);
  }
  it->second.used = used;
}

void HotCacheIndex::Forget(const std::string& id) {
  MutexLock l(&mu_);
  if (auto it = entries_.find(id); it != entries_.end()) EraseLocked(it);
}

void HotCacheIndex::ForgetUnder(const std::string& prefix) {
  MutexLock l(&mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto next = std::next(it);
    if (it->second.path.starts_with(prefix)) EraseLocked(it);
    it = next;
  }
}

void HotCacheIndex::Found(const std::string& id, const std::string& path, uint64_t bytes, int64_t used) {
  MutexLock l(&mu_);
  if (auto it = entries_.find(id); it != entries_.end()) EraseLocked(it);
  entries_[id] = Entry{path, bytes, used, false};
  by_use_.emplace(used, id);
  bytes_ += bytes;
}

std::vector<std::string> HotCacheIndex::Trim() {
  MutexLock l(&mu_);
  if (bound_ == 0 || bytes_ <= bound_) return {};
  return DropForLocked(0);
}

std::vector<std::string> HotCacheIndex::DropForLocked(uint64_t more) {
  std::vector<std::string> paths;
  while (bytes_ + more > bound_ && !by_use_.empty()) {
    auto it = entries_.find(by_use_.begin()->second);
    paths.push_back(it->second.path);
    EraseLocked(it);
    ++dropped_;
  }
  return paths;
}

void HotCacheIndex::EraseLocked(std::unordered_map<std::string, Entry>::iterator it) {
  bytes_ -= it->second.bytes;
  if (it->second.writing) writing_bytes_ -= it->second.bytes;
  else by_use_.erase({it->second.used, it->first});
  entries_.erase(it);
}

uint64_t HotCacheIndex::bytes() const {
  MutexLock l(&mu_);
  return bytes_;
}

uint64_t HotCacheIndex::files() const {
  MutexLock l(&mu_);
  return entries_.size();
}

uint64_t HotCacheIndex::dropped() const {
  MutexLock l(&mu_);
  return dropped_;
}

}  // namespace cmk::engine
