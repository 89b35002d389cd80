#pragma once
// MetadataStore: durable JSON documents keyed by (kind, id).
// Ids are matched case-insensitively (the lower-cased id is the key; the original id is kept).
// Every write is durable when it returns (SQLite WAL, synchronous=FULL).
// Thread safety: all methods are safe to call concurrently; Transaction() serializes with them.

#include <sqlite3.h>

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

 private:
  class Ops;
  explicit MetadataStore(sqlite3* db);
  Status Exec(const char* sql);
  std::mutex mu_;
  sqlite3* db_;
  std::unique_ptr<Ops> ops_;
};

}  // namespace cmk::meta
