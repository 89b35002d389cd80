#include "base/mutex.h"
#include "engine/topology_cache.h"

namespace cmk::engine {

void TopologyCache::SyncLocked(uint64_t version) const {
  if (version <= version_) return;
  by_customer_id_.clear();
  by_resource_id_.clear();
  tables_.clear();
  version_ = version;
}

template <class T, class Read>
Result<T> TopologyCache::Lookup(Map<Result<T>>* map, const std::string& key, Read read) const {
  // The version is read before the answer: an answer read under version v reflects at least
  // every write published before v (MetadataStore::Generation), so keeping it under v is safe.
  uint64_t version = base_->Version();
  {
    MutexLock l(&mu_);
    SyncLocked(version);
    if (version == version_) {
      if (auto it = map->find(key); it != map->end()) {
        ++hits_;
        return it->second;
      }
    }
    ++misses_;
  }
  // Read without the lock: the base reads its store, and other lookups must not wait for it.
  Result<T> answer = read();
  bool keep = answer.ok() || answer.status().code() == StatusCode::kNotFound;
  MutexLock l(&mu_);
  SyncLocked(version);
  if (keep && version == version_) {
    if (map->size() >= max_entries_) map->clear();
    map->insert_or_assign(key, answer);
  }
  return answer;
}

Result<WorkspaceInfo> TopologyCache::WorkspaceByCustomerId(const std::string& customer_id) const {
  return Lookup(&by_customer_id_, customer_id,
                [&] { return base_->WorkspaceByCustomerId(customer_id); });
}

Result<WorkspaceInfo> TopologyCache::WorkspaceByResourceId(const std::string& resource_id) const {
  return Lookup(&by_resource_id_, resource_id,
                [&] { return base_->WorkspaceByResourceId(resource_id); });
}

Result<std::vector<TableInfo>> TopologyCache::Tables(
    const std::string& workspace_resource_id) const {
  return Lookup(&tables_, workspace_resource_id,
                [&] { return base_->Tables(workspace_resource_id); });
}

uint64_t TopologyCache::hits() const {
  MutexLock l(&mu_);
  return hits_;
}

uint64_t TopologyCache::misses() const {
  MutexLock l(&mu_);
  return misses_;
}

}  // namespace cmk::engine
