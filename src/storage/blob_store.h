#pragma once
// BlobStore: where storage accounts keep their objects (design.md §4). Names are
// "<container>/<path>" made of [A-Za-z0-9._%-] segments (no "", "." or ".."; '%' is the escape
// of the engine's percent-encoded user strings). LocalBlobStore maps them to files under
// a root directory; object storage (Azure Blob, S3-compatible) comes later behind the same
// interface. Put is atomic and durable: after it returns, a crash leaves the old object or the
// new one, never a mix. Objects are immutable in practice (extents); Put over an existing name
// replaces it. I/O errors are returned as they come (a full disk is ResourceExhausted).
// Thread safety: implementations are safe for concurrent use.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "env/file_system.h"

namespace cmk::storage {

class BlobStore {
 public:
  virtual ~BlobStore() = default;
  virtual Status Put(std::string_view name, std::span<const uint8_t> data) = 0;
  // NotFound when there is no such object.
  virtual Result<std::vector<uint8_t>> Get(std::string_view name) const = 0;
  // OK when the object is already gone.
  virtual Status Delete(std::string_view name) = 0;
  // Names starting with `prefix`, sorted.
  virtual Result<std::vector<std::string>> List(std::string_view prefix) const = 0;
};

// Objects as files under `root`, through `fs` (which must outlive the store): written around
// the page cache where the file system allows (FileSystem::WriteFileReplacing), synced with
// their name and every directory created for them.
class LocalBlobStore final : public BlobStore {
 public:
  LocalBlobStore(env::FileSystem* fs, std::string root) : fs_(fs), root_(std::move(root)) {}
  Status Put(std::string_view name, std::span<const uint8_t> data) override;
  Result<std::vector<uint8_t>> Get(std::string_view name) const override;
  Status Delete(std::string_view name) override;
  Result<std::vector<std::string>> List(std::string_view prefix) const override;

 private:
  Result<std::string> PathOf(std::string_view name) const;
  // Appends the names of the files under `dir` (relative to root_) to `out`.
  Status ListUnder(const std::string& dir, const std::string& rel,
                   std::vector<std::string>& out) const;
  env::FileSystem* fs_;
  std::string root_;
};

// Whether `name` is a valid blob name (no empty, "." or ".." segments; safe characters only).
bool IsValidBlobName(std::string_view name);

}  // namespace cmk::storage
