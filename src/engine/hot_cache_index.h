#pragma once
// HotCacheIndex: the hot cache's files and their bytes, for the cache's byte bound
// (LogStoreOptions::hot_cache_bytes). The hot window decides which extents are hot (design.md);
// the bound decides how many of their copies the disk holds: past it, the copies used least
// recently make room for a new extent's copy, and a copy read back from a blob for a query is
// written only when it fits without dropping another (a scan of more data than the bound then
// keeps what is cached instead of rewriting the cache on every run). A dropped copy costs its
// extent's reads the blob's (one more decryption layer), nothing else: the blob holds the data.
//
// No I/O: the log store removes the files whose paths it is given, after the index has let go
// of them. A copy being written is counted but never dropped until Written or Failed.
// Thread safety: safe for concurrent use.
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/mutex.h"

namespace cmk::engine {

class HotCacheIndex {
 public:
  // `bound`: bytes the copies may take together; 0 for no bound (then only counted).
  explicit HotCacheIndex(uint64_t bound) : bound_(bound) {}

  // Room for a copy of `bytes` at `path`, extent `id`'s, used at `used` (ticks): the paths of the
  // copies dropped for it (out of the index already: the caller removes them), or nullopt when
  // it is not admitted: larger than the bound, being written already, or without room unless
  // others were dropped and `may_drop` is false. An admitted copy replaces the extent's
  // previous one, and is counted as being written until Written or Failed.
  std::optional<std::vector<std::string>> Admit(const std::string& id, const std::string& path, uint64_t bytes,
                                                int64_t used, bool may_drop);
  // The admitted copy is on disk: false when it was forgotten meanwhile (the caller removes it).
  bool Written(const std::string& id);
  // The admitted copy could not be written: its bytes are given back.
  void Failed(const std::string& id);
  // A query read the extent's copy at `used`.
  void Touch(const std::string& id, int64_t used);
  // The copy was removed (rejected, expired, cooled).
  void Forget(const std::string& id);
  // Every copy whose path starts with `prefix` was removed (an account's hot cache, on revocation).
  void ForgetUnder(const std::string& prefix);
  // A copy found on disk when the store opens, counted as written.
  void Found(const std::string& id, const std::string& path, uint64_t bytes, int64_t used);
  // Drops the least recently used copies until under the bound (after Found, when the bound was
  // lowered across a restart): their paths.
  std::vector<std::string> Trim();

  uint64_t bytes() const;
  uint64_t files() const;
  uint64_t dropped() const;  // copies dropped for room so far

 private:
  struct Entry {
    std::string path;
    uint64_t bytes = 0;
    int64_t used = 0;
    bool writing = false;
  };
  // Drops least recently used copies (not being written) until `more` bytes fit; their paths.
  std::vector<std::string> DropForLocked(uint64_t more) REQUIRES(mu_);
  void EraseLocked(std::unordered_map<std::string, Entry>::iterator it) REQUIRES(mu_);

  const uint64_t bound_;
  mutable Mutex mu_;
  std::unordered_map<std::string, Entry> entries_ GUARDED_BY(mu_);
  std::set<std::pair<int64_t, std::string>> by_use_ GUARDED_BY(mu_);  // written copies: (used, id)
  uint64_t bytes_ GUARDED_BY(mu_) = 0;
  uint64_t writing_bytes_ GUARDED_BY(mu_) = 0;
  uint64_t dropped_ GUARDED_BY(mu_) = 0;
};

}  // namespace cmk::engine
