// LogStore: memtable flushes into extents, extent reads, the hot cache.
#include <algorithm>
#include <limits>

#include <boost/json.hpp>

#include "base/mutex.h"
#include "base/encoding.h"
#include "base/json.h"
#include "crypto/aead.h"
#include "engine/cache_file.h"
#include "engine/codec.h"
#include "engine/extent.h"
#include "engine/log_store_internal.h"
#include "kql/core/budget.h"
#include "storage/sealed_block.h"

#include <spdlog/spdlog.h>

namespace cmk::engine {
namespace {

namespace bj = boost::json;
constexpr char kExtentKind[] = "extent";
constexpr char kCheckpointKind[] = "wal-checkpoint";

size_t ChunksBytes(const std::vector<std::shared_ptr<const kql::Table>>& chunks) {
  size_t n = 0;
  for (const auto& c : chunks) n += kql::ApproxBytes(*c);
  return n;
}

size_t BatchesBytes(const std::vector<std::shared_ptr<const MemChunk>>& chunks) {
  size_t n = 0;
  for (const auto& c : chunks) n += c->batch().MemoryBytes();
  return n;
}

bool SafeByte(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

Duration Backoff(const LogStoreOptions& o, int failures) {
  Duration d = o.flush_retry_min;
  for (int i = 1; i < failures && d < o.flush_retry_max; ++i) d *= 2;
  return std::min(d, o.flush_retry_max);
}

}  // namespace

std::string BlobSegment(std::string_view s) {
  if (s == "." || s == "..") return s == "." ? "%2E" : "%2E%2E";
  if (s.empty()) return "%";
  if (std::all_of(s.begin(), s.end(), SafeByte)) return std::string(s);
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    if (SafeByte(c)) {
      out.push_back(c);
    } else {
      auto b = static_cast<uint8_t>(c);
      out += {'%', kHex[b >> 4], kHex[b & 15]};
    }
  }
  return out;
}

std::string LogStore::ExtentBlobName(const Account& a, const std::string& workspace, const std::string& table,
                                     const std::string& extent_id) {
  return a.container + "/" + BlobSegment(workspace) + "/" + BlobSegment(table) + "/" + extent_id + ".cmkx";
}

std::map<std::string, std::string> LogStore::ExtentBlobsForTest() const {
  MutexLock l(&mu_);
  std::map<std::string, std::string> out;
  for (const auto& [id, e] : extents_) out[id] = e.blob;
  return out;
}

void LogStore::FailBlobPutsForTest(std::string fragment) {
  MutexLock l(&fault_mu_);
  fail_puts_ = std::move(fragment);
}

std::unique_ptr<std::vector<uint8_t>> LogStore::TakeScratch() {
  MutexLock l(&scratch_mu_);
  if (scratch_.empty()) return std::make_unique<std::vector<uint8_t>>();
  auto b = std::move(scratch_.back());
  scratch_.pop_back();
  return b;
}

void LogStore::GiveBackScratch(std::unique_ptr<std::vector<uint8_t>> buf) {
  // Kept for the next flush (fresh pages for every extent cost more than building it), unless
  // an outsized extent grew it.
  if (buf->capacity() > (size_t{256} << 20)) return;
  buf->clear();
  MutexLock l(&scratch_mu_);
  if (scratch_.size() < 2) scratch_.push_back(std::move(buf));
}

std::string LogStore::CachePath(const Account& a, const std::string& extent_id) const {
  return data_dir_ + "/cache/" + a.container + "/" + extent_id + ".cmkc";
}

void LogStore::PutCacheFile(const ExtentRec& e, Account& a, std::span<const uint8_t> file, bool fresh) {
  const std::string path = CachePath(a, e.id);
  auto dropped = hot_.Admit(e.id, path, file.size(), Ticks(env_.clock->Now()), fresh);
  if (!dropped) return;  // no room under the byte bound (or being written): the blob serves it
  // (A query holding a dropped copy open keeps reading it: removing unlinks the name only.)
  for (const std::string& p : *dropped) env_.fs->Remove(p).IgnoreError();
  // The cache is a copy, authenticated when read: a file a crash damaged or lost costs a read
  // of the blob, so no fsync, and a copy that can't be written (a full disk) costs the same.
  Status s = env_.fs->CreateDirs(data_dir_ + "/cache/" + a.container, 0700);
  if (s.ok()) s = env_.fs->WriteFileReplacing(path, {file}, 0600, /*sync=*/false);
  if (!s.ok()) {
    hot_.Failed(e.id);
    spdlog::warn("no hot-cache copy of extent {} (its blob is read instead): {}", e.id, s.ToString());
    return;
  }
  // Forgotten while written (expired, rejected, the account revoked): not the cache's any more.
  if (!hot_.Written(e.id)) env_.fs->Remove(path).IgnoreError();
}

void LogStore::WriteCache(const ExtentRec& e, Account& a, const SecretBytes& aek, const storage::ExtentId& id,
                          std::span<const uint8_t> object) {
  auto file = SealCacheFile(CacheKey(a, aek), id, object, *env_.random);
  if (!file.ok()) {
    spdlog::warn("no hot-cache copy of extent {} (its blob is read instead): {}", e.id, file.status().ToString());
    return;
  }
  PutCacheFile(e, a, *file, /*fresh=*/false);
}

void LogStore::RejectCache(const ExtentRec& e, Account& a, const Status& why) {
  // A crash can leave a damaged copy (it is written without fsync), so this is not an
  // integrity failure by itself: the blob, which is checked, is read instead.
  cache_rejects_.fetch_add(1, std::memory_order_relaxed);
  spdlog::warn("the hot-cache copy of extent {} does not authenticate (damaged or replaced); reading its blob ({})",
               e.id, why.message());
  hot_.Forget(e.id);
  env_.fs->Remove(CachePath(a, e.id)).IgnoreError();  // worthless: the blob is read instead
}

Result<std::vector<uint8_t>> LogStore::ReadBlobObject(const ExtentRec& e, Account& a) {
  ASSIGN_OR_RETURN(std::vector<uint8_t> object, blobs_->Get(e.blob));
  if (!e.double_encrypted) return object;
  if (!a.infra) return FailedPrecondition("extent " + e.id + " needs the account's infrastructure key");
  return storage::OpenObject(*a.infra, e.blob, object);
}

Result<std::optional<LogStore::OpenedExtent>> LogStore::OpenCached(const ExtentRec& e, Account& a,
                                                                  const SecretBytes& aek, const ExtentPlace& place) {
  using Opened = std::optional<OpenedExtent>;
  const std::string path = CachePath(a, e.id);
  auto file = env_.fs->NewRandomAccessFile(path);
  if (!file.ok()) return Opened();  // no copy (or none readable): the blob
  uint8_t head[5] = {};
  auto got = (*file)->Read(0, head);
  if (got.ok() && *got == sizeof(head) && IsCacheFileV2(head)) {
    // Version 2: only the header here; the segments the footer and the blocks need are
    // decrypted as they are read (a block's damaged segment shows in Opener::ReadBlock).
    auto source = CacheFileSource::Open(std::move(*file), CacheKey(a, aek), place.id);
    if (!source.ok()) {
      RejectCache(e, a, source.status());
      return Opened();
    }
    auto reader = ExtentReader::Open(*source, aek, place);
    if (reader.ok()) {
      hot_.Touch(e.id, Ticks(env_.clock->Now()));
      return Opened(OpenedExtent{std::make_shared<const ExtentReader>(std::move(*reader)), *source});
    }
    if ((*source)->failed()) {
      RejectCache(e, a, reader.status());
      return Opened();
    }
    // The copy authenticates (someone who holds the cache key sealed it) but isn't this
    // extent: refused as its blob would be.
    return reader.status();
  }
  // Version 1 (written before version 2; no magic): nonce || ciphertext || tag of the stored
  // object, AAD = the extent id (hex), read whole as it always was, then rewritten as version 2.
  file->reset();
  auto c = env_.fs->ReadFile(path);
  if (!c.ok()) return Opened();
  auto open = crypto::AesGcmOpen(CacheKey(a, aek), AsBytes(*c), AsBytes(e.id));
  if (!open.ok()) {
    RejectCache(e, a, open.status());
    return Opened();
  }
  std::vector<uint8_t> object(open->data(), open->data() + open->size());
  if (e.double_encrypted) {
    if (!a.infra) return FailedPrecondition("extent " + e.id + " needs the account's infrastructure key");
    ASSIGN_OR_RETURN(object, storage::OpenObject(*a.infra, e.blob, object));
  }
  auto source = std::make_shared<const MemoryObjectSource>(std::move(object));
  ASSIGN_OR_RETURN(ExtentReader reader, ExtentReader::Open(source, aek, place));
  WriteCache(e, a, aek, place.id, source->bytes());
  return Opened(OpenedExtent{std::make_shared<const ExtentReader>(std::move(reader)), nullptr});
}

void LogStore::ReloadCache(Account& a) {
  auto k = KeysFor(a, false);
  if (!k.ok()) return;
  const int64_t since = HotSince(env_.clock->Now());
  std::vector<ExtentRec> recent;
  {
    MutexLock l(&mu_);
    for (const auto& [id, e] : extents_) {
      if (EqualsIgnoreCase(e.account, a.id) && Hot(e, since)) recent.push_back(e);
    }
  }
  // Most recently used first: under the byte bound, they are the copies that fit.
  std::sort(recent.begin(), recent.end(), [](const ExtentRec& x, const ExtentRec& y) {
    return std::max(x.created, x.queried) > std::max(y.created, y.queried);
  });
  for (const auto& e : recent) {
    storage::ExtentId id;
    if (!IdFromHex(e.id, id)) continue;
    auto object = ReadBlobObject(e, a);
    if (object.ok()) WriteCache(e, a, k->aek, id, *object);
  }
}

Result<LogStore::ExtentRec> LogStore::StoreExtent(Account& a, const SecretBytes& aek, const std::string& workspace,
                                                  const std::string& table,
                                                  const std::vector<std::shared_ptr<const MemChunk>>& chunks,
                                                  std::vector<uint8_t>& buf) {
  kql::Schema schema;
  const Batch& first = chunks[0]->batch();
  for (size_t c = 0; c < first.columns.size(); ++c) schema.push_back({first.names[c], first.columns[c].type});
  std::vector<const Batch*> tables;
  for (const auto& c : chunks) tables.push_back(&c->batch());
  ExtentHeader h;
  env_.random->Fill(h.id);
  h.account = a.id;
  h.key_kind = a.customer ? KeyKind::kCustomer : KeyKind::kService;
  ExtentRec e;
  e.id = HexEncode(h.id);
  e.account = a.id;
  e.workspace = workspace;
  e.table = table;
  e.blob = ExtentBlobName(a, workspace, table, e.id);
  size_t room = a.infra ? storage::kBlockHeaderSize : 0;
  buf.assign(room, 0);
  // Compressed extents take well under half their rows' memory: one reservation, no regrowth.
  buf.reserve(room + BatchesBytes(chunks) / 2 + (size_t{1} << 16));
  ASSIGN_OR_RETURN(ExtentSummary built,
                   BuildExtent(h, workspace, table, schema, tables, aek, options_.extent_codec, *env_.random, buf));
  e.rows = built.rows;
  e.min_time = built.min_time;
  e.max_time = built.max_time;
  e.created = Ticks(env_.clock->Now());
  // The hot-cache copy holds the data-layer object (engine/cache_file.h): sealed here, before
  // the outer layer is sealed over it in place, and written once the blob is stored. Every new
  // extent is hot (ingested now), whatever its rows' times.
  std::vector<uint8_t> cache_file;
  {
    auto sealed = SealCacheFile(CacheKey(a, aek), h.id, std::span<const uint8_t>(buf).subspan(room), *env_.random);
    if (sealed.ok()) cache_file = std::move(*sealed);
    else spdlog::warn("no hot-cache copy of extent {}: {}", e.id, sealed.status().ToString());
  }
  if (a.infra) {
    RETURN_IF_ERROR(storage::SealObjectInPlace(*a.infra, 1, e.blob, buf, *env_.random));
    e.double_encrypted = true;
  }
  {
    MutexLock l(&fault_mu_);
    if (!fail_puts_.empty() && e.blob.find(fail_puts_) != std::string::npos) {
      return Unavailable("blob '" + e.blob + "' refused (FailBlobPutsForTest)");
    }
  }
  RETURN_IF_ERROR(blobs_->Put(e.blob, buf));
  if (!cache_file.empty()) PutCacheFile(e, a, cache_file, /*fresh=*/true);
  return e;
}

Status LogStore::CarryRows(Account& a, const Keys& k, const std::string& key,
                           const std::vector<std::shared_ptr<const MemChunk>>& chunks, uint64_t through) {
  size_t start;
  {
    MutexLock l(&a.mu);
    start = a.carried[key];
  }
  std::vector<uint8_t> header;
  std::vector<std::span<const uint8_t>> parts;
  ReaderLock al(&a.append_mu);
  for (size_t i = start; i < chunks.size(); ++i) {
    BatchLayout(chunks[i]->batch(), header, parts);
    RETURN_IF_ERROR(a.wal->Append([&](uint64_t segment, uint64_t index, std::vector<uint8_t>& out) {
      return SealRecord(a, k, segment, index, /*closing=*/false, through, key, parts, out);
    }));
    // Counted chunk by chunk: a retry after a failed append carries only the rest.
    MutexLock l(&a.mu);
    a.carried[key] = i + 1;
  }
  return OkStatus();
}

// A flush isolates tables from each other: a table whose extent can't be built or stored
// (a name or an object the blob store refuses, an I/O error) does not hold back the
// checkpoint of the others. Its rows are carried: appended again, sealed, to the current WAL
// segment with the number of the segment they repeat ("through"), and moved back to the
// memtable. Replay reads a carried record only once the checkpoint covers that segment (else
// the originals replay), so the flushed segments can be dropped without losing or repeating a
// row. The table is retried with backoff (Maintenance enqueues the account when it is due).
Status LogStore::FlushAccount(Account& a) {
  // The keys of the closing record of the segment a rotation ends (held while the customer key
  // is Unavailable). Taken before the account's locks: the key manager has locks of its own.
  auto rotate_keys = KeysFor(a, true);
  const TimePoint now = env_.clock->Now();
  {
    WriterLock al(&a.append_mu);
    MutexLock l(&a.mu);
    if (!a.replayed || a.flush_running) return OkStatus();
    if (a.flushing.empty()) {
      if (a.active.empty()) return OkStatus();
      bool retry_due = false;
      for (const auto& [key, r] : a.retry) retry_due = retry_due || r.at <= now;
      // Only tables waiting for their retry: nothing to do before it is due.
      if (a.active_rows == 0 && !retry_due) return OkStatus();
      RETURN_IF_ERROR(rotate_keys.status());
      ASSIGN_OR_RETURN(a.flush_segment, a.wal->Rotate([&](uint64_t segment, uint64_t index, std::vector<uint8_t>& out) {
        return SealRecord(a, *rotate_keys, segment, index, /*closing=*/true, 0, std::string(), {}, out);
      }));
      a.flushing.swap(a.active);
      a.active_rows = a.held_rows = a.active_bytes = a.stuck_rows = 0;
      a.oldest.reset();
      a.carried.clear();
    }
    a.flush_running = true;
  }
  auto done = [&a](void) {
    MutexLock l(&a.mu);
    a.flush_running = false;
    a.flush_done.NotifyAll();
  };
  auto k = KeysFor(a, false);
  if (!k.ok()) {
    done();
    return k.status();
  }
  std::map<std::string, Account::Mem> work;
  std::map<std::string, size_t> carried;
  std::map<std::string, FlushRetry> retry;
  uint64_t segment;
  {
    MutexLock l(&a.mu);
    work = a.flushing;
    carried = a.carried;
    retry = a.retry;
    segment = a.flush_segment;
  }
  // The memtable's chunks are encoded in place (BuildExtent reads them, no concatenated copy);
  // the object is built in a pooled buffer with room in front for the outer layer, which is
  // then sealed over it in place; the hot-cache copy is sealed from the object before that,
  // into a buffer of its own (it holds the data layer, the blob both).
  std::unique_ptr<std::vector<uint8_t>> buf = TakeScratch();
  std::vector<std::pair<ExtentRec, std::vector<std::shared_ptr<const MemChunk>>>> made;
  std::vector<std::string> left;                       // tables whose rows stay for a later flush
  std::vector<std::pair<std::string, Status>> failed;  // tables that failed now
  for (const auto& [key, m] : work) {
    if (m.chunks.empty()) continue;
    auto r = retry.find(key);
    // Carried already (a retry of this flush) or waiting for its backoff: not tried now.
    if (carried.count(key) || (r != retry.end() && now < r->second.at)) {
      left.push_back(key);
      continue;
    }
    auto e = StoreExtent(a, k->aek, m.workspace, m.table, m.chunks, *buf);
    if (!e.ok()) {
      left.push_back(key);
      failed.emplace_back(key, e.status());
      continue;
    }
    made.emplace_back(std::move(*e), m.chunks);
  }
  GiveBackScratch(std::move(buf));
  Status first_failure;
  {
    MutexLock l(&a.mu);
    for (const auto& [key, why] : failed) {
      FlushRetry& r = a.retry[key];
      ++r.failures;
      r.last = why;
      r.at = now + Backoff(options_, r.failures);
      flush_failures_.fetch_add(1, std::memory_order_relaxed);
      const Account::Mem& m = work[key];
      std::string msg = "table '" + m.table + "' of workspace " + m.workspace + " (account '" + a.id +
                        "') could not be flushed (failure " + std::to_string(r.failures) + "): " + why.message() +
                        "; its rows stay in the memtable, retried from " + FormatRfc3339(r.at);
      spdlog::warn("{}", msg);
      if (first_failure.ok()) first_failure = Status(why.code(), msg, why.error_code());
    }
    a.stuck_tables.store(a.retry.size());
  }
  for (const auto& key : left) {
    if (Status s = CarryRows(a, *k, key, work[key].chunks, segment); !s.ok()) {
      done();  // `flushing` is kept: the next attempt carries the rest
      return s;
    }
  }
  Status s = meta_->Transaction([&](meta::DocumentOps& ops) -> Status {
    for (const auto& [e, t] : made) {
      bj::object o{{"account", e.account},   {"workspace", e.workspace}, {"table", e.table},
                   {"blob", e.blob},         {"rows", e.rows},           {"minTime", e.min_time},
                   {"maxTime", e.max_time},  {"doubleEncrypted", e.double_encrypted},
                   {"created", FormatRfc3339(TimePoint(Duration(e.created * 100)))}};
      RETURN_IF_ERROR(ops.Put(kExtentKind, e.id, json::Serialize(o)));
    }
    return ops.Put(kCheckpointKind, a.id, json::Serialize(bj::object{{"segment", segment}, {"walFormat", 2}}));
  });
  if (!s.ok()) {
    done();
    return s;
  }
  bool readable;
  std::map<std::string, Account::Mem> released;  // freed (or wiped) outside the locks
  {
    MutexLock l(&mu_);
    MutexLock al(&a.mu);
    for (const auto& [e, t] : made) extents_[e.id] = e;
    readable = a.ReplayedHoldingMu();  // not wiped by a revocation meanwhile
    released.swap(a.flushing);
    for (const auto& key : left) {
      if (!readable) break;  // the carried records replay when the key returns
      Account::Mem& from = released[key];
      Account::Mem& to = a.active[key];
      to.workspace = from.workspace;
      to.table = from.table;
      to.chunks.insert(to.chunks.begin(), from.chunks.begin(), from.chunks.end());
      to.rows += from.rows;
      a.stuck_rows += from.rows;
    }
    for (const auto& [e, t] : made) a.retry.erase(e.workspace + "\n" + e.table);
    for (auto it = a.retry.begin(); it != a.retry.end();) {
      it = a.active.count(it->first) ? std::next(it) : a.retry.erase(it);
    }
    a.stuck_tables.store(a.retry.size());
    a.carried.clear();
    a.checkpoint = segment;
    a.wal_v2_only = true;
    a.wal_keys.clear();
    for (const auto& [key, m] : a.active) a.wal_keys.insert(key);
    a.flush_running = false;
    a.flush_done.NotifyAll();
  }
  released.clear();
  if (readable && options_.cache_on_flush) {
    // Converted outside the lock (extent loads wait on it), and only what the cap can take.
    std::vector<std::tuple<const ExtentRec*, Chunks, std::vector<std::shared_ptr<std::atomic<bool>>>>> tables;
    for (const auto& [e, batches] : made) {
      if (BatchesBytes(batches) > CacheCapacity()) continue;
      Chunks chunks;
      std::vector<std::shared_ptr<std::atomic<bool>>> wipe;
      for (const auto& b : batches) {
        chunks.push_back(b->Table());
        wipe.push_back(b->wipe_flag());
      }
      tables.emplace_back(&e, std::move(chunks), std::move(wipe));
    }
    MutexLock l(&cache_mu_);
    for (auto& [ep, chunks, wipe] : tables) {
      size_t bytes = ChunksBytes(chunks);
      if (bytes > CacheCapacity()) continue;
      InsertDecodedLocked(ep->id + "\n*", Decoded{chunks, nullptr, bytes, a.id, std::move(wipe), {}});
    }
  }
  RETURN_IF_ERROR(a.wal->DropThrough(segment));
  return first_failure;
}

}  // namespace cmk::engine
