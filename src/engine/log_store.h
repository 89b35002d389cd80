#pragma once
// LogStore: the storage engine of workspaces' log tables (design.md §4-5, issue 5).
//
// Routing: a workspace linked to a cluster whose key is set writes to one of the cluster's
// storage accounts (AEK wrapped by the customer's key, storage::ClusterStorage); every other
// workspace, and Auxiliary-plan tables, write to the shared account of the workspace's region
// (AEK wrapped by the region's MMK). A workspace's data may span accounts (a key configured
// later, an unlink): queries read all of them.
//
// Write path: rows are sealed into the account's WAL (key derived from the AEK; from the MMK
// while the customer key is Unavailable, "held") and are durable before Ingest returns (group
// commit); then they sit in the account's memtable, visible to queries at once. A background
// flush (by size, or by age on the injected clock) cuts the memtable into extents
// (engine/extent.h), stores them in the account's BlobStore container (sealed again with the
// account's infrastructure key when the cluster has double encryption), catalogues them in
// the metadata store together with the WAL checkpoint in one transaction, then drops the WAL
// segments. Recovery replays the segments after the checkpoint.
//
// Keys: a Revoked account refuses ingestion (PermissionDenied, KeyVaultAccessRevoked) and
// queries; its memtable, decoded extents and hot-cache files are deleted at once (the WAL and
// extents stay sealed at rest until the key returns or retention purges them). On restore the
// WAL is replayed and the hot cache reloaded with the last `hot_window` of extents.
// Hot cache: copies of recent extents' data-layer objects under <data>/cache, in segments sealed
// by a key derived from the AEK (default) or from the region's MMK (as Azure does), read by range
// (engine/cache_file.h); a copy that fails to authenticate is dropped and the blob read. Plus
// decoded extents in memory.
// Retention: rows older than their table's retention are hidden from queries at once and their
// extents purged by the maintenance job, whatever the key state.
// Integrity: an extent is read only as the catalogue entry that led to it (account, workspace,
// table, extent id; engine/extent.h), from the blob and from the hot cache alike; a mismatch
// fails the query with DataLoss and is logged and counted. WAL records are numbered per segment
// and sealed under a key derived per segment; a replay that finds a record deleted, reordered or
// replayed refuses the account's WAL (DataLoss: its ingestion and queries fail, other accounts
// go on) — a torn tail stays the ordinary crash case.
// Flush isolation: a table whose extent can't be stored (a name the blob store refuses, an I/O
// error) keeps its rows in the memtable, carried into the next WAL segment, and is retried with
// backoff, logged and counted; every other table of the account is flushed and checkpointed.
// Thread safety: safe for concurrent use.
#include <atomic>
#include <deque>
#include <functional>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/time_format.h"
#include "engine/batch.h"
#include "engine/codec.h"
#include "engine/extent.h"
#include "engine/hot_cache_index.h"
#include "engine/reader_pool.h"
#include "engine/term_index.h"
#include "env/env.h"
#include "kql/core/budget.h"
#include "kql/engine.h"
#include "meta/metadata_store.h"
#include "storage/blob_store.h"
#include "storage/cluster_storage.h"
#include "storage/service_keys.h"

namespace cmk::engine {

class MemChunk;
class ExtentReader;
class CacheFileSource;

// Metadata kind of the key-state history (one document per transition of an account).
inline constexpr char kKeyStateEventKind[] = "key-state-event";

struct WorkspaceInfo {
  std::string resource_id;
  std::string customer_id;  // lower-case GUID
  std::string name;
  std::string location;
  std::string cluster_id;  // empty when not linked
  int retention_days = 30;
};

struct TableInfo {
  std::string name;
  kql::Schema schema;
  int retention_days = 30;
  std::string plan = "Analytics";
};

// What the engine needs to know of the control plane. Errors: NotFound (WorkspaceNotFound) for
// an unknown workspace; others are the control plane's failures (e.g. its store's).
// Thread safety: implementations are safe for concurrent use.
class Topology {
 public:
  virtual ~Topology() = default;
  virtual Result<WorkspaceInfo> WorkspaceByCustomerId(const std::string& customer_id) const = 0;
  virtual Result<WorkspaceInfo> WorkspaceByResourceId(const std::string& resource_id) const = 0;
  virtual Result<std::vector<TableInfo>> Tables(const std::string& workspace_resource_id) const = 0;
  virtual bool DoubleEncryption(const std::string& cluster_id) const = 0;
  // Grows whenever an answer may change (TopologyCache keeps answers while it stays the same).
  virtual uint64_t Version() const = 0;
};

struct LogStoreOptions {
  // Per account memtable, flushed at one row group's rows or at `flush_bytes` of encoded rows,
  // whichever comes first. A memtable row of the benchmark's logs costs ~270 bytes of memory and
  // two memtables exist during a flush (active, flushing): ~35 MB. Every MB of peak memory is
  // fresh pages to fault in: larger memtables made fewer extents but cost ingestion ~10%
  // (docs/benchmarks.md); the byte bound keeps wide rows from growing them.
  size_t flush_rows = 65'536;
  size_t flush_bytes = size_t{32} << 20;
  Duration flush_age = std::chrono::minutes(5);      // oldest unflushed row
  Duration maintenance_interval = std::chrono::minutes(1);
  Duration hot_window = std::chrono::hours(24 * 14);
  // Bytes the hot cache's copies may take on disk (serve --hot-cache-gb); 0: no bound, the hot
  // window alone. Past it, a new extent's copy drops the least recently used others, and a copy
  // read back from a blob for a query is written only when it fits (engine/hot_cache_index.h).
  uint64_t hot_cache_bytes = 0;
  bool seal_cache_with_aek = true;
  // Decoded column blocks (one column of one row group of an extent) kept in memory for later
  // queries, least recently used dropped first (serve --query-cache-mb). It gives way to the
  // memory running queries hold past a quarter of this (YieldCache), down to a quarter of this.
  size_t decoded_cache_bytes = size_t{1024} << 20;
  // Extents a scan reads and decodes ahead of the query, each on its own thread (0: one per
  // core). Decoding dominates a scan whose columns are not cached, so on a busy scan every core
  // decodes while the query consumes; memory in flight is this many extents' requested columns.
  size_t scan_read_ahead = 0;
  // Whether a flush also puts the rows it stored among the decoded extents. Off: extents are
  // decoded when first queried, and the flushed memtable's memory goes back to the allocator
  // for the next one (a write-heavy log store reads most rows never; docs/benchmarks.md has
  // ingestion's cost both ways).
  bool cache_on_flush = false;
  // Compression of extents' column blocks. LZ4 by default: zstd (level 1) stores text ~1.5x
  // smaller but costs ~20% more of ingestion's CPU here (docs/benchmarks.md); as in
  // ClickHouse, the fast codec is the default and the dense one a choice.
  Codec extent_codec = Codec::kLz4;
  bool background_flush = true;  // false: flushes happen only in Flush() (tests)
  // A table whose flush failed is retried after `flush_retry_min`, doubling to `flush_retry_max`.
  Duration flush_retry_min = std::chrono::seconds(30);
  Duration flush_retry_max = std::chrono::minutes(10);
  // While a table can't be flushed, its rows wait in the memtable (and are carried from WAL
  // segment to segment): past this many, its ingestion is refused (Unavailable) until it flushes.
  size_t stuck_table_rows = 1'000'000;
};

struct StoreStats {
  uint64_t extents = 0, extent_rows = 0, memtable_rows = 0, held_rows = 0;
  uint64_t flush_requests = 0;  // memtables found due (rows, bytes, age, key restored) so far
  uint64_t flush_failures = 0;  // tables' flushes that failed (each is retried with backoff)
  uint64_t integrity_failures = 0;  // extent reads refused: not the extent the catalogue names
  uint64_t wal_integrity_failures = 0;  // WAL replays refused: records deleted, reordered, replayed
  uint64_t cache_rejects = 0;  // hot-cache copies that did not authenticate (read from the blob)
  uint64_t hot_cache_bytes = 0, hot_cache_files = 0;  // the copies on disk now
  uint64_t hot_cache_dropped = 0;  // copies dropped for room under the byte bound
  // The decoded block cache: bytes held, the bound now (less what it yields to queries), and
  // bytes dropped so far to make room for queries' memory.
  uint64_t decoded_cache_bytes = 0, decoded_cache_capacity = 0, decoded_cache_yielded = 0;
};

class LogStore {
 public:
  static Result<std::unique_ptr<LogStore>> Open(env::Env env, const std::string& data_dir, meta::MetadataStore* meta,
                                                const storage::ServiceKeys* keys, storage::ClusterStorage* clusters,
                                                const Topology* topology, LogStoreOptions options);
  ~LogStore();

  // Stores `rows` (columns of `table`'s schema, with a datetime TimeGenerated) for `ws`.
  // Durable when OK. Revoked key: PermissionDenied/KeyVaultAccessRevoked and nothing stored.
  Status Ingest(const WorkspaceInfo& ws, const TableInfo& table, Batch rows);
  Status Ingest(const WorkspaceInfo& ws, const TableInfo& table, const kql::Table& rows);

  // A catalog over the workspaces' tables for one query; rows outside [from, to) are hidden.
  std::unique_ptr<kql::Catalog> CatalogFor(std::vector<WorkspaceInfo> workspaces, std::optional<int64_t> from,
                                           std::optional<int64_t> to);

  // Flushes every account's memtable into extents now (waiting for a background flush that is
  // running). Accounts whose key is not usable keep their rows (and report the error).
  Status Flush();
  // Purges extents past retention; run by the maintenance timer too.
  Status RunRetention();
  StoreStats Stats() const;
  // The memory running queries hold: the server's query pool (server/query_api.cc), whose
  // observer calls YieldCache after each reservation and release. Set once, before queries run.
  // The decoded block cache and the queries share one and a quarter times decoded_cache_bytes: past
  // a quarter of the cache's budget, each byte queries hold takes one from the cache's bound,
  // down to a quarter of it, and what the cache holds past its bound is dropped now (least
  // recently used first; freed outside the cache's lock). So a machine sized for the server
  // stays so while a query builds a large summary, join or sort: the cache's blocks, which a
  // later query can decode again, give up their memory before the query's state, which it
  // cannot do without. Queries holding less than the quarter (at 10M rows all the breadth
  // benchmark's but `count() by TimeGenerated`'s 674 MiB) evict nothing: every byte given up is
  // decoded again by later queries (docs/benchmarks.md: a cache that gave way from the first
  // byte made some of them 1.2-2x slower). The bound reads the pool's bytes when it is used (a
  // value passed by each observer call could land out of order and stay stale after the last).
  void WatchQueryMemory(std::shared_ptr<const kql::MemoryPool> pool) { query_memory_ = std::move(pool); }
  void YieldCache();
  // Seconds from the last successful unwrap to the end of the revocation's effects, per account.
  std::map<std::string, double> RevocationEffectSeconds() const;
  // The storage account a workspace's table writes to now.
  std::string RouteForTest(const WorkspaceInfo& ws, const TableInfo& table);
  // Opens the cluster account `ws`'s table writes to as versions before 2026-12-05 did when
  // ingestion met it before recovery: scoped to the workspace's region (ReplayLocked).
  void MeetAccountAsBeforeForTest(const WorkspaceInfo& ws, const TableInfo& table);
  // The blob of every catalogued extent, by extent id.
  std::map<std::string, std::string> ExtentBlobsForTest() const;
  // Called with each memtable batch wiped on release (after the revocation of its account).
  static void SetWipeObserverForTest(std::function<void(const Batch&)> observer);
  // Fails every blob Put whose name contains `fragment` (empty: none) with Unavailable.
  void FailBlobPutsForTest(std::string fragment);
  // Column blocks decoded and extent objects opened by queries so far; decoded bytes cached.
  uint64_t BlocksDecodedForTest() const { return blocks_decoded_.load(); }
  // Values of deferred string columns built for the rows a bound or a select kept.
  uint64_t ValuesMaterializedForTest() const { return values_materialized_.load(); }
  // Term indexes of text blocks built (TestByTerms).
  uint64_t TermIndexesBuiltForTest() const { return term_indexes_built_.load(); }
  // Row groups a scan skipped because a block's term filter lacked a term its string test needs.
  uint64_t TermFilterSkipsForTest() const { return term_filter_skips_.load(); }
  uint64_t ExtentsOpenedForTest() const { return extents_opened_.load(); }
  size_t DecodedCacheBytesForTest() const;

 private:
  class QueryCatalog;
  struct Account;
  struct ExtentRec {
    std::string id;  // 32 hex
    std::string account, workspace, table, blob;
    uint64_t rows = 0;
    int64_t min_time = 0, max_time = 0;
    // When it was flushed (ticks; the catalog's "created"): the hot cache keeps extents ingested
    // in the last `hot_window` (design.md), whatever their rows' times...
    int64_t created = 0;
    // ... or queried in it: when a query last scanned it after its ingestion window (ticks; 0:
    // not since the store opened; kept in memory only, so after a restart such an extent is
    // hot again from the next query that scans it).
    int64_t queried = 0;
    bool double_encrypted = false;
    bool cold = false;  // past the hot window, its hot-cache copy removed (RunRetention)
  };
  struct Keys {
    SecretBytes aek;
    uint32_t generation = 1;
    bool held = false;  // sealed under the MMK because the customer key is Unavailable
  };

  LogStore(env::Env env, std::string data_dir, meta::MetadataStore* meta, const storage::ServiceKeys* keys,
           storage::ClusterStorage* clusters, const Topology* topology, LogStoreOptions options);
  Status Load();
  Result<Account*> GetAccount(const std::string& id, const std::string& region, const std::string& cluster_id);
  Result<Account*> Route(const WorkspaceInfo& ws, const TableInfo& table);
  Result<Keys> KeysFor(Account& a, bool allow_held) const;
  Status Usable(Account& a) const;
  // The key of the records an account writes while its customer key is unavailable, under the
  // MMK of `region`: WAL format 1's (one per account, `segment` unused) or 2's (per segment).
  SecretBytes HeldWalKey(const std::string& region, const std::string& account, int version, uint64_t segment) const;
  // The key of the first WAL format's records, one per account (replay only).
  SecretBytes WalKey(const Account& a, const Keys& k) const;
  // The WAL key of `segment` (docs/FORMAT.md "WAL record"): derived once per segment.
  SecretBytes SegmentWalKey(const Account& a, const Keys& k, uint64_t segment) const;
  // Seals a version-2 WAL record of `key` (workspace "\n" table; empty for a segment's closing
  // record) into `out`. `through`: the segment whose rows a carried record repeats (0: none).
  Status SealRecord(Account& a, const Keys& k, uint64_t segment, uint64_t index, bool closing, uint64_t through,
                    const std::string& key, std::span<const std::span<const uint8_t>> parts, std::vector<uint8_t>& out) const;
  // Marks the account's WAL refused after an integrity failure (logged, counted).
  void RefuseWal(Account& a, const Status& why);
  // Rows that could not be flushed are appended again, sealed, to the current WAL segment.
  Status CarryRows(Account& a, const Keys& k, const std::string& key, const std::vector<std::shared_ptr<const MemChunk>>& chunks,
                   uint64_t through);
  SecretBytes CacheKey(const Account& a, const SecretBytes& aek) const;
  // REQUIRES: a.append_mu held exclusively.
  Status ReplayLocked(Account& a);
  Status EnsureReplayed(Account& a);
  Status FlushAccount(Account& a);
  // An extent's rows: the memtable chunks it was flushed from, or a table per row group read.
  using Chunks = std::vector<std::shared_ptr<const kql::Table>>;
  // What a scan needs of an extent: these columns (all when empty; names the extent lacks are
  // left out) of the row groups whose TimeGenerated range meets [lo, end) and [min, max].
  struct ExtentScan {
    std::span<const std::string> columns;
    std::optional<int64_t> lo, end, min, max;
    // Row groups without a wanted value are skipped: by their footer extremes, else by their
    // decoded values.
    const kql::ScanRequest::ValueBound* bound = nullptr;
    const std::vector<size_t>* only = nullptr;  // when set, the only row groups to read
    uint64_t id = 0;  // the scan's number (a query's scan of one table): the cache's admission
    // The query's string test (kql::ScanRequest::prefilter): a row group whose entry lacks its
    // column reads it through the test (LoadExtent).
    const kql::ScanRequest::StringTest* prefilter = nullptr;
    // kql::ScanRequest::term_needs: a row group none of whose needs its term filters may hold
    // is skipped (KeepHoldingTerms).
    const std::vector<kql::ScanRequest::TermNeed>* term_needs = nullptr;
    uint64_t rows = 0;  // the rows of every extent the scan reads (0: unknown)
    // kql::ScanRequest::select: a row group's string columns other than its reads are decoded
    // for the rows it selects only (as for a bound).
    const kql::ScanRequest::Select* select = nullptr;
    // kql::ScanRequest::thin: each row group's rows are thinned (kql::ThinnedRows, seeded by the
    // extent and the group) before its string columns are built, for the kept rows only; a
    // group none of whose rows is kept is not read.
    const kql::ScanRequest::Thin* thin = nullptr;
    // kql::ScanRequest::rows_only: a row group the window does not cut is counted from its
    // footer, no block read or cached (a table of its rows without columns).
    bool rows_only = false;
  };
  // Each kept row group's requested columns, from decoded blocks in the cache; the missing ones
  // are decoded (the object read and checked once per call) and cached.
  Result<Chunks> LoadExtent(const ExtentRec& e, Account& a, const ExtentScan& scan);
  // Opens an extent at most once for a LoadExtent call: its keys and reader, on first need.
  // A reader over a hot-cache file reads it lazily: when a block's segment of the file fails
  // to authenticate, ReadBlock drops the file (a cache reject) and reopens the extent from its
  // blob, once; the blob's own failures are the query's, as ever.
  struct Opener {
    Opener(LogStore& s, const ExtentRec& rec, Account& acct) : store(s), e(rec), a(acct) {}
    LogStore& store;
    const ExtentRec& e;
    Account& a;
    std::optional<Keys> keys;
    std::shared_ptr<const ExtentReader> reader;
    std::shared_ptr<const CacheFileSource> cache;  // the reader's source, when a hot-cache file
    bool skip_cache = false;                       // the hot-cache copy was rejected
    Status Open();
    // REQUIRES: Open() succeeded.
    Result<kql::Column> ReadBlock(size_t group, size_t column);
    Result<PackedBlock> ReadPacked(size_t group, size_t column);
    Result<kql::Column> ReadRows(size_t group, size_t column, std::span<const uint32_t> wanted);
    Result<PackedBlock> ReadTermFilter(size_t group, size_t column);
    // `read` (a block read through `reader`), once more from the blob when the hot-cache copy
    // failed it.
    template <class T>
    Result<T> Retrying(const std::function<Result<T>()>& read);
  };
  struct Layout;
  // Drops from `groups` the row groups without a value `scan.bound` wants: by their footer
  // extremes where those tell, else by the bound column's decoded values.
  Status KeepWanted(const ExtentRec& e, Account& a, const Layout& layout, const ExtentScan& scan,
                    std::vector<size_t>& groups);
  // Drops from `groups` the row groups whose term filters surely lack each of the scan's term
  // needs (ScanRequest::term_needs: a need's column's block has a filter lacking one of its
  // terms): no row of theirs passes. Filters are read once and kept in the decoded cache.
  Status KeepHoldingTerms(const ExtentRec& e, Opener& opener, const Layout& layout, const ExtentScan& scan,
                          std::vector<size_t>& groups);
  // A block's codec frame held in the decoded cache under `key` (PackedKey), marked used by scan
  // `scan_id`; null when not held.
  // A cached frame (key "<id>\n<group>\n<column>"), or null; marked as read by scan `scan_id`
  // (most recently used) unless it is 0.
  PackedBlock CachedFrame(const std::string& key, uint64_t scan_id);
  // Whether an entry of about `bytes` taking the place of what `key` holds (a block's term
  // index, of its cached frame; a frame read again, of nothing) would be admitted now by scan
  // `scan` without evicting an entry that scan has read or another block's term index.
  bool RoomBesideIndexes(const std::string& key, size_t bytes, uint64_t scan);
  // The bytes of a text block's term index, estimated from its frame's `frame_bytes` by the
  // ratio of the indexes built so far to their frames (1 before the first).
  uint64_t TermIndexEstimate(uint64_t frame_bytes) const;
  struct Decoded;
  // A string test its terms decide (StringTest::by_terms), or with term candidates
  // (StringTest::term_candidates), over a plain text block of `group_rows` rows: the rows
  // passing it (and among `candidates`, when given) into `selected`, from the block's term
  // index, built from `packed` (the block's frame) when `index` is null and offered to the cache
  // through `fresh`; with candidates, the values of the rows holding them are tested. Returns
  // the passing rows' values (one passing value for all with StringTest::any_passing_value and
  // no nulls), read from the frame (cached, or read again) when the index was cached.
  Result<kql::Column> TestByTerms(Opener& opener, size_t group, size_t column, uint64_t group_rows,
                                  const std::string& key, std::shared_ptr<const TermIndex> index, PackedBlock packed,
                                  const kql::ScanRequest::StringTest& test,
                                  const std::optional<std::vector<uint32_t>>& candidates, uint64_t scan_id,
                                  std::vector<uint32_t>& selected, std::vector<std::pair<std::string, Decoded>>& fresh);
  // A text block's cached term index (key "<id>\n<group>\n<column>\nterms"), or null.
  std::shared_ptr<const TermIndex> CachedTerms(const std::string& key, uint64_t scan_id);
  // The extent's row groups as its footer gives them (cached; `o` opens the object when not).
  Result<std::shared_ptr<const Layout>> LayoutOf(Opener& o);
  // For top's first pass over `extents`: a bound that keeps the row groups whose extreme of
  // `best.column` is among the N best block extremes (and every group without one); nullopt
  // when fewer than N groups have extremes, so nothing could be skipped.
  // Whether the extent's cached layout shows that no row group meets the scan's time range or
  // value bound (false when its layout is not cached yet, or it is served whole from its
  // memtable chunks): the scan then skips it without a job.
  bool NothingWanted(const ExtentRec& e, const ExtentScan& scan);
  Result<std::optional<kql::ScanRequest::ValueBound>> BestBound(
      const std::vector<std::pair<ExtentRec, Account*>>& extents, const ExtentScan& scan,
      const kql::ScanRequest::Best& best);
  // The data-layer object of an extent's blob (the infrastructure layer opened).
  Result<std::vector<uint8_t>> ReadBlobObject(const ExtentRec& e, Account& a);
  struct OpenedExtent {
    std::shared_ptr<const ExtentReader> reader;
    std::shared_ptr<const CacheFileSource> cache;  // set when the reader reads a hot-cache file
  };
  // Opens an extent from its hot-cache copy: nullopt when there is none, or none that
  // authenticates (then rejected: counted, removed). A version-1 copy is read whole and
  // rewritten in version 2. An error when a copy that authenticates isn't the extent `place`
  // names (DataLoss, as its blob would be).
  Result<std::optional<OpenedExtent>> OpenCached(const ExtentRec& e, Account& a, const SecretBytes& aek,
                                                 const ExtentPlace& place);
  // Reads and checks an extent's object (DataLoss when it isn't the one `e` names): from the
  // hot cache (unless `use_cache` is false) or its blob, whose copy is then cached when hot.
  Result<OpenedExtent> OpenExtent(const ExtentRec& e, Account& a, const SecretBytes& aek, bool use_cache);
  // Counts, logs and removes a hot-cache copy that failed to authenticate (`why`).
  void RejectCache(const ExtentRec& e, Account& a, const Status& why);
  // Builds, seals and stores one table's extent of `chunks` (built in `buf`, pooled).
  Result<ExtentRec> StoreExtent(Account& a, const SecretBytes& aek, const std::string& workspace, const std::string& table,
                                const std::vector<std::shared_ptr<const MemChunk>>& chunks, std::vector<uint8_t>& buf);
  // The blob name of an extent: every user string percent-encoded into a safe path segment.
  static std::string ExtentBlobName(const Account& a, const std::string& workspace, const std::string& table,
                                    const std::string& extent_id);
  // Writes the hot-cache copy (cache file version 2, engine/cache_file.h) of `object`, the
  // extent `id`'s data-layer object; PutCacheFile writes one sealed already. Without fsync, and
  // a failure is only logged: the copy is an optimisation, authenticated when read.
  void WriteCache(const ExtentRec& e, Account& a, const SecretBytes& aek, const storage::ExtentId& id,
                  std::span<const uint8_t> object);
  // `fresh`: a new extent's copy, which may drop others for room (HotCacheIndex::Admit).
  void PutCacheFile(const ExtentRec& e, Account& a, std::span<const uint8_t> file, bool fresh);
  // Counts the copies on disk in the byte bound (HotCacheIndex), removing any that no catalogued
  // extent owns (a crash between a purge and its removal, a write's temporary file), then the
  // least recently used past the bound.
  void IndexCacheFiles();
  // Flush buffers, pooled across flushes and threads.
  std::unique_ptr<std::vector<uint8_t>> TakeScratch();
  void GiveBackScratch(std::unique_ptr<std::vector<uint8_t>> buf);
  // An extent's hot-cache copy: <data>/cache/<container>/<id>.cmkc (the account's container).
  std::string CachePath(const Account& a, const std::string& extent_id) const;
  std::string CachePath(const ExtentRec& e) const;
  void OnTransition(const std::string& account_id, storage::KeyState from, storage::KeyState to);
  void Wipe(Account& a);
  void ReloadCache(Account& a);
  // Adds an entry (unless `key` is cached already) and drops the least recently used others
  // (never `key`) until under the cap. Scan resistance: an entry read by scan `scan` is not
  // admitted when room would mean evicting an entry that same scan has read, so a scan larger
  // than the cache keeps its first part cached for the next run instead of cycling everything
  // out (and other queries' entries go only as far as a scan's own reads). 0: no scan (flush).
  void InsertDecodedLocked(const std::string& key, Decoded d, uint64_t scan = 0) REQUIRES(cache_mu_);
  // Drops the least recently used entries (but `keep`) while the cache holds more than its
  // capacity; into `dropped` when given (to be freed after the lock is let go).
  void EvictDecodedLocked(const std::string& keep, std::vector<Decoded>* dropped = nullptr) REQUIRES(cache_mu_);
  // Drops every decoded entry and layout of extent `id`.
  void DropDecodedLocked(const std::string& id) REQUIRES(cache_mu_);
  int RetentionDays(const std::string& workspace, const std::string& table) const;
  // Extents flushed or queried at or after this (ticks) are hot: within `hot_window` of `now`.
  int64_t HotSince(TimePoint now) const { return Ticks(now - options_.hot_window); }
  static bool Hot(const ExtentRec& e, int64_t since) { return e.created >= since || e.queried >= since; }
  void Maintenance();
  void Worker();
  void Enqueue(Account* a);

  env::Env env_;
  std::string data_dir_;
  meta::MetadataStore* meta_;
  const storage::ServiceKeys* keys_;
  storage::ClusterStorage* clusters_;
  const Topology* topology_;
  LogStoreOptions options_;
  size_t read_ahead_;  // options_.scan_read_ahead, or the cores (at least 1)
  std::unique_ptr<storage::BlobStore> blobs_;

  mutable Mutex mu_;  // accounts_, extents_; taken before an Account's mu
  std::map<std::string, std::unique_ptr<Account>> accounts_ GUARDED_BY(mu_);  // by lower-case id
  std::map<std::string, ExtentRec> extents_ GUARDED_BY(mu_);  // by extent id
  std::map<std::string, double> revocation_effect_ GUARDED_BY(mu_);

  Mutex scratch_mu_;
  std::vector<std::unique_ptr<std::vector<uint8_t>>> scratch_ GUARDED_BY(scratch_mu_);

  mutable Mutex cache_mu_;
  struct Decoded {
    // A flushed extent's memtable chunks (key "<id>\n*"), or one row group: a table of the
    // columns decoded so far (key "<id>\n<group>"), or one string-tested text block kept as
    // its opened codec frame (`packed`, key "<id>\n<group>\n<column>") or its term index
    // (`terms`, key "<id>\n<group>\n<column>\nterms").
    Chunks chunks;
    PackedBlock packed;
    size_t bytes = 0;
    std::string account;
    // Set on revocation: the chunks' columns are wiped when their last reader releases them.
    std::vector<std::shared_ptr<std::atomic<bool>>> wipe;
    std::list<std::string>::iterator lru;
    uint64_t scan = 0;  // the last scan that read it (ExtentScan::id; 0: none)
    std::shared_ptr<const TermIndex> terms;
  };
  std::map<std::string, Decoded> decoded_ GUARDED_BY(cache_mu_);
  std::list<std::string> decoded_lru_ GUARDED_BY(cache_mu_);  // least recently used first
  // Written under cache_mu_; read without it by YieldCache.
  std::atomic<size_t> decoded_bytes_{0};
  std::shared_ptr<const kql::MemoryPool> query_memory_;  // WatchQueryMemory's (may be null)
  std::atomic<uint64_t> cache_yielded_bytes_{0};  // dropped for queries' memory
  // decoded_cache_bytes less what it yields to queries (YieldCache).
  size_t CacheCapacity() const;
  std::atomic<uint64_t> scans_{0};  // numbers ExtentScan::id
  // An extent's row groups as its footer gives them (so that cached blocks serve a query
  // without reading the object): per group, its rows, TimeGenerated range and blocks' extremes.
  struct Layout {
    std::string account;
    kql::Schema schema;
    std::vector<uint32_t> rows;
    std::vector<std::optional<std::pair<int64_t, int64_t>>> time;
    std::vector<std::optional<BlockExtremes>> extremes;  // group-major: group × schema.size()
    std::vector<bool> term_filters;                       // the same blocks: has a term filter
    std::vector<uint32_t> stored;                         // the same blocks: sealed bytes
    // The schema index of `name` (the last of equal names, as ExtentReader::Read), or -1.
    int Index(std::string_view name) const;
  };
  std::map<std::string, std::shared_ptr<const Layout>> layouts_ GUARDED_BY(cache_mu_);  // by id
  std::atomic<uint64_t> blocks_decoded_{0};
  std::atomic<uint64_t> values_materialized_{0};
  std::atomic<uint64_t> term_indexes_built_{0};
  std::atomic<uint64_t> term_index_bytes_{0}, term_index_frames_{0};  // of the indexes built, and of their frames
  std::atomic<uint64_t> term_filter_skips_{0};
  std::atomic<uint64_t> extents_opened_{0};

  std::atomic<uint64_t> flush_requests_{0};
  std::atomic<uint64_t> flush_failures_{0};
  std::atomic<uint64_t> integrity_failures_{0};
  std::atomic<uint64_t> wal_integrity_failures_{0};
  std::atomic<uint64_t> cache_rejects_{0};
  HotCacheIndex hot_{options_.hot_cache_bytes};  // the hot cache's copies on disk
  Mutex fault_mu_;
  std::string fail_puts_ GUARDED_BY(fault_mu_);  // FailBlobPutsForTest
  Mutex work_mu_;
  CondVar work_cv_;
  std::deque<Account*> work_ GUARDED_BY(work_mu_);
  bool stopping_ GUARDED_BY(work_mu_) = false;
  std::thread worker_;
  env::Clock::TimerId timer_ = 0;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // Last: its threads stop first (scans wait for their jobs, so none is left by then).
  std::unique_ptr<ReaderPool> readers_ = std::make_unique<ReaderPool>(read_ahead_);
};

}  // namespace cmk::engine
