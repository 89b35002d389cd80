#pragma once
// Internals of LogStore shared by its .cc files: one storage account's WAL, memtables and
// recovery state, and the per-query catalog. Not part of the engine's interface.
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>

#include "engine/batch.h"
#include "engine/log_store.h"
#include "engine/wal.h"

namespace cmk::engine {

// A memtable chunk: one ingested batch, and its rows as a KQL table once a query needs them
// (converted once, then shared by every later query until the flush drops the chunk).
class MemChunk {
 public:
  explicit MemChunk(Batch b) : batch_(std::move(b)) {}
  const Batch& batch() const { return batch_; }
  std::shared_ptr<const kql::Table> Table() const;

 private:
  Batch batch_;
  mutable std::once_flag once_;
  mutable std::shared_ptr<const kql::Table> table_;
};

struct LogStore::Account {
  std::string id;          // "shared/<region>" or "<cluster id>/accounts/acctN"
  std::string region;      // shared accounts: the MMK's region
  std::string cluster_id;  // customer accounts
  bool customer = false;
  std::string container;  // blob container, WAL and cache directory name
  SecretBytes shared_aek;
  std::optional<SecretBytes> infra;  // double encryption
  std::unique_ptr<Wal> wal;
  // Shared by appends (WAL + memtable); exclusive for segment rotation with the memtable swap,
  // for replay and for wiping, so that a record and its rows always land on the same side.
  std::shared_mutex append_mu;
  std::mutex mu;  // the fields below
  struct Mem {
    std::string workspace, table;
    std::vector<std::shared_ptr<const MemChunk>> chunks;
    size_t rows = 0;
  };
  std::map<std::string, Mem> active, flushing;  // by workspace + "\n" + table
  // Workspace + "\n" + table of every record in the WAL after the checkpoint (known even while
  // the records can't be opened), so that queries of those tables see the account.
  std::set<std::string> wal_keys;
  size_t active_rows = 0, held_rows = 0;
  size_t active_bytes = 0;  // encoded size of the active memtable's rows (their WAL records)
  std::optional<TimePoint> oldest;
  bool replayed = false;       // the WAL's records after the checkpoint are in the memtables
  bool flush_running = false;
  std::condition_variable flush_done;  // signalled when flush_running turns false
  uint64_t flush_segment = 0;  // the last WAL segment `flushing` came from
  uint64_t checkpoint = 0;     // WAL segments <= this are in catalogued extents
};

class LogStore::QueryCatalog : public kql::Catalog {
 public:
  QueryCatalog(LogStore* store, std::vector<WorkspaceInfo> workspaces, std::optional<int64_t> from,
               std::optional<int64_t> to);
  std::vector<std::string> TableNames() const override;
  std::optional<kql::Schema> TableSchema(const std::string& table) const override;
  Status Scan(const kql::ScanRequest& request,
              const std::function<Status(std::shared_ptr<const kql::Table>)>& sink) const override;

 private:
  LogStore* store_;
  std::vector<WorkspaceInfo> workspaces_;
  std::vector<std::vector<TableInfo>> tables_;  // per workspace
  std::optional<int64_t> from_, to_;
};

// The rows of `chunk` with TimeGenerated in [lo, hi), shaped as `schema` (columns in that order,
// missing ones null, only `want` when not empty). Returns `chunk` itself when nothing changes.
std::shared_ptr<const kql::Table> ShapeChunk(const std::shared_ptr<const kql::Table>& chunk, const kql::Schema& schema,
                                             const std::vector<std::string>& want, std::optional<int64_t> lo,
                                             std::optional<int64_t> hi);

}  // namespace cmk::engine
