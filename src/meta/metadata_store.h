#pragma once
// MetadataStore: durable JSON documents keyed by (kind, id).
// Ids are matched case-insensitively (the lower-cased id is the key; the original id is kept).
// Every write is durable when it returns (SQLite WAL, synchronous=FULL).
// Thread safety: all methods are safe to call concurrently; Transaction() serializes with them.

#include <sqlite3.h>

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace cmk::meta {

struct Document {
  std::string id;
  std::string body;
};

// The operations available inside a transaction (and, one statement each, outside).
class DocumentOps {
 public:
  virtual ~DocumentOps() = default;
  virtual Result<std::optional<Document>> Get(std::string_view kind, std::string_view id) = 0;
  virtual Status Put(std::string_view kind, std::string_view id, std::string_view body) = 0;
  // Returns whether a document was deleted.
  virtual Result<bool> Delete(std::string_view kind, std::string_view id) = 0;
  // Documents of `kind` whose id starts with `id_prefix` (case-insensitive), ordered by id.
  virtual Result<std::vector<Document>> List(std::string_view kind, std::string_view id_prefix) = 0;
};

class MetadataStore final : public DocumentOps {
 public:
  static Result<std::unique_ptr<MetadataStore>> Open(const std::string& path);
  ~MetadataStore() override;

  Result<std::optional<Document>> Get(std::string_view kind, std::string_view id) override;
  Status Put(std::string_view kind, std::string_view id, std::string_view body) override;
  Result<bool> Delete(std::string_view kind, std::string_view id) override;
  Result<std::vector<Document>> List(std::string_view kind, std::string_view id_prefix) override;

  // Runs `fn` in one SQLite transaction; commits when it returns OK, rolls back otherwise.
  Status Transaction(const std::function<Status(DocumentOps&)>& fn);

  // A number that grows after every write of a document of `kind` is committed (Put, Delete,
  // a transaction that wrote one), for caches of what the documents say: an answer read after
  // Generation(kind) returned g stays valid while it still returns g. Kinds share counters
  // (a write may also move other kinds' numbers: a spurious miss, never a stale hit).
  // Lock-free: a cache may call it on every lookup.
  uint64_t Generation(std::string_view kind) const;

 private:
  class Ops;
  static constexpr size_t kGenerationSlots = 16;
  explicit MetadataStore(sqlite3* db);
  Status Exec(const char* sql);
  // Advances the generation of every kind the statements since the last call wrote.
  // REQUIRES: mu_ held, the writes committed.
  void PublishWrites();
  std::mutex mu_;
  sqlite3* db_;
  std::unique_ptr<Ops> ops_;  // guarded by mu_
  std::array<std::atomic<uint64_t>, kGenerationSlots> generations_{};
};

}  // namespace cmk::meta
