#pragma once
// Internals of LogStore shared by its .cc files: one storage account's WAL, memtables and
// recovery state, and the per-query catalog. Not part of the engine's interface.
#include <atomic>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "base/mutex.h"
#include "engine/batch.h"
#include "engine/log_store.h"
#include "engine/wal.h"

namespace cmk::engine {

// A memtable chunk: one ingested batch, and its rows as a KQL table once a query needs them
// (converted once, then shared by every later query until the flush drops the chunk).
// Wiping: once MarkForWipe() (a revocation) is called, the batch's buffers are zeroed when the
// chunk is released, and the converted table's columns when their last reader releases them —
// at release, never under a running query's feet.
class MemChunk {
 public:
  explicit MemChunk(Batch b) : batch_(std::move(b)) {}
  ~MemChunk();
  MemChunk(const MemChunk&) = delete;
  MemChunk& operator=(const MemChunk&) = delete;
  const Batch& batch() const { return batch_; }
  std::shared_ptr<const kql::Table> Table() const;
  void MarkForWipe() const { wipe_->store(true, std::memory_order_relaxed); }
  const std::shared_ptr<std::atomic<bool>>& wipe_flag() const { return wipe_; }

 private:
  Batch batch_;
  std::shared_ptr<std::atomic<bool>> wipe_ = std::make_shared<std::atomic<bool>>(false);
  mutable std::once_flag once_;
  mutable std::shared_ptr<const kql::Table> table_;
};

// Zeroes every value buffer of `b` / `t` (explicit_bzero through WipeBytes).
void WipeBatch(Batch& b);
void WipeTable(kql::Table& t);
// `t` shared, its columns wiped on release when `*wipe` is set by then.
std::shared_ptr<const kql::Table> ShareWipeable(kql::Table t, std::shared_ptr<std::atomic<bool>> wipe);
// A freshly decoded coded column's dictionary (its only holder) is wiped by whichever of the
// tables and query chunks sharing it releases it last, once `wipe` is set.
void MakeDictWipeable(kql::Column& c, std::shared_ptr<std::atomic<bool>> wipe);

// A path segment for a user string (workspace id, table name): the string itself when it is
// made only of [A-Za-z0-9._-] and is not "." or "..", otherwise every byte outside
// [A-Za-z0-9._-] percent-encoded (and "", ".", ".." as "%", "%2E", "%2E%2E"). Valid names keep
// their paths; '%' appears only in encoded ones, so two strings never share a segment.
std::string BlobSegment(std::string_view s);

// The 16 bytes of an extent id given as 32 hex digits; false when it isn't.
bool IdFromHex(std::string_view hex, storage::ExtentId& id);

// A table whose flush failed: when it may be tried again, and why it failed.
struct FlushRetry {
  int failures = 0;
  TimePoint at;
  Status last;
};

struct LogStore::Account {
  std::string id;          // "shared/<region>" or "<cluster id>/accounts/acctN"
  std::string region;      // shared accounts: the MMK's region; cluster accounts: empty
  std::string cluster_id;  // customer accounts
  bool customer = false;
  std::string container;  // blob container, WAL and cache directory name
  SecretBytes shared_aek;
  std::optional<SecretBytes> infra;  // double encryption
  std::unique_ptr<Wal> wal;
  // Shared by appends (WAL + memtable); exclusive for segment rotation with the memtable swap,
  // for replay and for wiping, so that a record and its rows always land on the same side.
  SharedMutex append_mu;
  Mutex mu;  // the fields below
  struct Mem {
    std::string workspace, table;
    std::vector<std::shared_ptr<const MemChunk>> chunks;
    size_t rows = 0;
  };
  // By workspace + "\n" + table.
  std::map<std::string, Mem> active GUARDED_BY(mu);
  std::map<std::string, Mem> flushing GUARDED_BY(mu);
  // Workspace + "\n" + table of every record in the WAL after the checkpoint (known even while
  // the records can't be opened), so that queries of those tables see the account.
  std::set<std::string> wal_keys GUARDED_BY(mu);
  size_t active_rows GUARDED_BY(mu) = 0;
  size_t held_rows GUARDED_BY(mu) = 0;
  // Encoded size of the active memtable's rows (their WAL records).
  size_t active_bytes GUARDED_BY(mu) = 0;
  std::optional<TimePoint> oldest GUARDED_BY(mu);
  // The WAL's records after the checkpoint are in the memtables.
  // Written holding append_mu exclusively (and mu); read holding either.
  bool replayed GUARDED_BY(append_mu) = false;
  // `replayed` read holding mu alone: its writers hold both locks (the analysis takes one guard).
  bool ReplayedHoldingMu() const REQUIRES(mu) NO_THREAD_SAFETY_ANALYSIS { return replayed; }
  bool flush_running GUARDED_BY(mu) = false;
  CondVar flush_done;  // signalled when flush_running turns false
  uint64_t flush_segment GUARDED_BY(mu) = 0;  // the last WAL segment `flushing` came from
  uint64_t checkpoint GUARDED_BY(mu) = 0;     // WAL segments <= this are in catalogued extents
  // Set by the checkpoint once a flush by this format has covered every older record: records
  // of the earlier WAL format after the checkpoint are then refused (they could only be replays).
  bool wal_v2_only GUARDED_BY(mu) = false;
  // Not OK when the WAL failed its integrity check at replay: ingestion and queries of the
  // account fail with it (other accounts are not concerned).
  Status wal_status GUARDED_BY(mu);
  std::atomic<bool> wal_refused{false};  // wal_status is not OK (read without mu)
  // Tables whose flush failed: retried at `at` (backoff). Their rows are in `active` (moved
  // back after each failure), counted in `stuck_rows` rather than `active_rows` so they don't
  // make the memtable due again; the tables in it are counted in `stuck_tables`.
  std::map<std::string, FlushRetry> retry GUARDED_BY(mu);
  std::atomic<size_t> stuck_tables{0};
  size_t stuck_rows GUARDED_BY(mu) = 0;
  // Tables of `flushing` being carried into a later WAL segment, with the number of their chunks
  // carried so far (their rows must then not be catalogued from `flushing`: the carried copies
  // would replay too).
  std::map<std::string, size_t> carried GUARDED_BY(mu);
  // Per-segment WAL keys, derived once per segment (AEK- and MMK-derived); wiped on revocation.
  mutable Mutex key_mu;
  struct SegmentKey {
    uint64_t segment = 0;
    SecretBytes key;
  };
  mutable SegmentKey segment_keys[2] GUARDED_BY(key_mu);  // [0] under the AEK, [1] held under the MMK
};

// How the decoded cache keeps a string-tested plain text block (LoadGroups), given the
// scan's rows, the block's decoded bytes a row (its text and offset) and its frame's. Decoded,
// over every group of the scan, when that takes at most half the cache: the next run searches
// each cached value (~3 GB/s a core, against ~1.6 for LZ4 and a search of a frame). Otherwise
// as its opened frame (compressed, about half the size for log messages) when the scan's frames
// take at most 3/4 of the cache, and the room they leave in that 3/4 holds a share of the
// groups decoded instead, sparing that share of the LZ4 (64% of testing a frame, `contains`
// over 10M rows); which groups is decided by a hash of `key` (the block's), so that every run
// of the query finds the same ones decoded. Only over a scan of at least kMinSharedGroups
// groups of this one's size: a hash's share of a few groups can miss by most of them (the
// groups over the cache are then refused by it and read again every run). Beyond 3/4 the
// column is read through the test uncached, rather than evict every other query's entries for
// a part of itself. A test that its terms decide (kql::ValueTest::by_terms) keeps the block as
// its term index instead when the scan's indexes (`terms_per_row`, estimated; 0 for another
// test) take at most 3/4 of the cache (engine/term_index.h: about 0.8 of the frame for log
// lines, and searched without decompressing: `contains` over 10M rows, 270 -> 11 ms). Not
// past that: an index refused by a full cache would be built again on every run, at about 30
// searches' cost.
enum class TextKept { kDecoded, kFrame, kNone, kTerms };
inline constexpr uint64_t kMaxIndexedText = uint64_t{1} << 30;  // a block's decoded bytes
inline constexpr uint64_t kMinSharedGroups = 16;
TextKept KeepTextAs(const std::string& key, uint64_t scan_rows, uint64_t group_rows, uint64_t per_row,
                    uint64_t frame_per_row, uint64_t cache, uint64_t terms_per_row = 0);

// A string test whose other conjuncts (StringTest::rows_first) keep at most 1 in kCandidateShare
// of a group's rows tests those rows' values alone (the pieces they lie in decompressed, each
// value built and tested); past that, the block's text is searched whole as one run. At 10M
// rows, `Computer == "web-385"` (1 row in 500) beside a `contains`: 268 -> 158 ms; `Level ==
// "Error"` (6%) beside `has_cs`: 280 -> 288 ms (its rows lie in every piece, and building and
// testing 4,000 values a group costs what the search of the whole text does).
inline constexpr uint64_t kCandidateShare = 32;

class LogStore::QueryCatalog : public kql::Catalog {
 public:
  QueryCatalog(LogStore* store, std::vector<WorkspaceInfo> workspaces, std::optional<int64_t> from,
               std::optional<int64_t> to);
  std::vector<std::string> TableNames() const override;
  std::optional<kql::Schema> TableSchema(const std::string& table) const override;
  Status Scan(const kql::ScanRequest& request,
              const std::function<Status(std::shared_ptr<const kql::Table>)>& sink) const override;
  // Filters run on the reader threads with the decoding (Scan).
  bool AppliesFilters() const override { return true; }
  bool SequencesChunks() const override { return true; }
  bool Thins() const override { return true; }
  bool ExactTimeBounds() const override { return true; }
  // On the store's reader threads beside the calling one.
  void RunAll(std::span<const std::function<void()>> jobs) const override;

 private:
  LogStore* store_;
  std::vector<WorkspaceInfo> workspaces_;
  std::vector<std::vector<TableInfo>> tables_;  // per workspace
  std::optional<int64_t> from_, to_;
};

}  // namespace cmk::engine
