#pragma once
// TopologyCache: a Topology that remembers the answers of another (workspaces, their tables)
// while the other's Version() stays the same. DoubleEncryption is passed through: it is asked
// once per storage account, and its `false` can't tell a failure from an answer. The control plane
// reads them from its documents on every call; ingestion and queries ask on every request.
//
// Invalidation: any change of the base's Version() drops every answer (control-plane writes are
// rare next to data-plane requests). An answer read while the version moved is not kept. Only
// answers and NotFound are kept, never another failure; each map is cleared past
// `max_entries` (lookups of unknown ids must not grow it without bound).
// Thread safety: safe for concurrent use; the base must be too, and must outlive the cache.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "engine/log_store.h"

namespace cmk::engine {

class TopologyCache final : public Topology {
 public:
  explicit TopologyCache(const Topology* base, size_t max_entries = 4096)
      : base_(base), max_entries_(max_entries) {}

  Result<WorkspaceInfo> WorkspaceByCustomerId(const std::string& customer_id) const override;
  Result<WorkspaceInfo> WorkspaceByResourceId(const std::string& resource_id) const override;
  Result<std::vector<TableInfo>> Tables(const std::string& workspace_resource_id) const override;
  bool DoubleEncryption(const std::string& cluster_id) const override {
    return base_->DoubleEncryption(cluster_id);
  }
  uint64_t Version() const override { return base_->Version(); }

  // Lookups answered from the cache / from the base since construction.
  uint64_t hits() const;
  uint64_t misses() const;

 private:
  template <class T>
  using Map = std::map<std::string, T>;
  // The cached answer for `key` in `map` (one of the maps below), or `read()`, kept when it is
  // an answer or NotFound and the version did not move meanwhile.
  template <class T, class Read>
  // REQUIRES: `map` is guarded by mu_ (it is taken here).
  Result<T> Lookup(Map<Result<T>>* map, const std::string& key, Read read) const;
  // Drops every answer when `version` is newer than the cached ones'. REQUIRES: mu_ held.
  void SyncLocked(uint64_t version) const REQUIRES(mu_);

  const Topology* base_;
  const size_t max_entries_;
  mutable Mutex mu_;
  // The base's version the answers below were read at.
  mutable uint64_t version_ GUARDED_BY(mu_) = 0;
  mutable Map<Result<WorkspaceInfo>> by_customer_id_ GUARDED_BY(mu_);
  mutable Map<Result<WorkspaceInfo>> by_resource_id_ GUARDED_BY(mu_);
  mutable Map<Result<std::vector<TableInfo>>> tables_ GUARDED_BY(mu_);
  mutable uint64_t hits_ GUARDED_BY(mu_) = 0;
  mutable uint64_t misses_ GUARDED_BY(mu_) = 0;
};

}  // namespace cmk::engine
