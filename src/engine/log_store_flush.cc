// LogStore: memtable flushes into extents, extent reads, the hot cache.
#include <algorithm>
#include <filesystem>
#include <limits>

#include <boost/json.hpp>

#include "base/encoding.h"
#include "base/json.h"
#include "crypto/aead.h"
#include "engine/codec.h"
#include "engine/extent.h"
#include "env/direct_write.h"
#include "engine/log_store_internal.h"
#include "storage/sealed_block.h"

namespace cmk::engine {
namespace {

namespace bj = boost::json;
constexpr char kExtentKind[] = "extent";
constexpr char kCheckpointKind[] = "wal-checkpoint";

std::span<const uint8_t> Bytes(std::string_view s) { return {reinterpret_cast<const uint8_t*>(s.data()), s.size()}; }
int64_t Ticks(TimePoint t) { return t.time_since_epoch().count() / 100; }

size_t TableBytes(const kql::Table& t) {
  size_t n = 0;
  for (const auto& c : t.columns) {
    n += c.ints.size() * 8 + c.reals.size() * 8 + c.nulls.size();
    for (const auto& s : c.strings) n += s.size() + sizeof(std::string);
  }
  return n;
}

size_t ChunksBytes(const std::vector<std::shared_ptr<const kql::Table>>& chunks) {
  size_t n = 0;
  for (const auto& c : chunks) n += TableBytes(*c);
  return n;
}

size_t BatchesBytes(const std::vector<std::shared_ptr<const MemChunk>>& chunks) {
  size_t n = 0;
  for (const auto& c : chunks) n += c->batch().MemoryBytes();
  return n;
}

}  // namespace

std::unique_ptr<std::vector<uint8_t>> LogStore::TakeScratch() {
  std::lock_guard<std::mutex> l(scratch_mu_);
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
  std::lock_guard<std::mutex> l(scratch_mu_);
  if (scratch_.size() < 2) scratch_.push_back(std::move(buf));
}

std::string LogStore::CachePath(const Account& a, const std::string& extent_id) const {
  return data_dir_ + "/cache/" + a.container + "/" + extent_id + ".cmkc";
}

void LogStore::WriteCacheInPlace(const ExtentRec& e, Account& a, const SecretBytes& aek, std::span<uint8_t> object) {
  uint8_t nonce[crypto::kGcmNonceSize], tag[crypto::kGcmTagSize];
  if (!crypto::AesGcmSealInPlace(CacheKey(a, aek), object, Bytes(e.id), *env_.random, nonce, tag).ok()) return;
  std::error_code ec;
  std::filesystem::create_directories(data_dir_ + "/cache/" + a.container, ec);
  // The cache is a copy, authenticated when read: a file a crash damaged or lost costs a read
  // of the blob, so no fsync.
  (void)env::WriteFileReplacing(CachePath(a, e.id), {nonce, object, tag}, 0600, /*sync=*/false);
}

void LogStore::WriteCache(const ExtentRec& e, Account& a, const SecretBytes& aek, std::span<const uint8_t> object) {
  std::vector<uint8_t> copy(object.begin(), object.end());
  WriteCacheInPlace(e, a, aek, copy);
}

Result<std::vector<uint8_t>> LogStore::ReadObject(const ExtentRec& e, Account& a, const SecretBytes& aek) {
  std::vector<uint8_t> object;
  bool cached = false;
  if (auto c = env_.fs->ReadFile(CachePath(a, e.id)); c.ok()) {
    auto open = crypto::AesGcmOpen(CacheKey(a, aek), Bytes(*c), Bytes(e.id));
    if (open.ok()) {
      object.assign(open->data(), open->data() + open->size());
      cached = true;
    }
  }
  if (!cached) {
    ASSIGN_OR_RETURN(object, blobs_->Get(e.blob));
    if (e.max_time >= Ticks(env_.clock->Now() - options_.hot_window)) WriteCache(e, a, aek, object);
  }
  if (!e.double_encrypted) return object;
  if (!a.infra) return FailedPrecondition("extent " + e.id + " needs the account's infrastructure key");
  return storage::OpenObject(*a.infra, e.blob, object);
}

Result<LogStore::Chunks> LogStore::LoadExtent(const ExtentRec& e, Account& a) {
  {
    std::lock_guard<std::mutex> l(cache_mu_);
    if (auto it = decoded_.find(e.id); it != decoded_.end()) return it->second.chunks;
  }
  ASSIGN_OR_RETURN(Keys k, KeysFor(a, false));
  ASSIGN_OR_RETURN(auto object, ReadObject(e, a, k.aek));
  ASSIGN_OR_RETURN(ExtentReader reader, ExtentReader::Open(std::move(object), k.aek));
  ASSIGN_OR_RETURN(kql::Table t, reader.Read({}, std::nullopt, std::nullopt, k.aek));
  Chunks chunks{std::make_shared<const kql::Table>(std::move(t))};
  size_t bytes = ChunksBytes(chunks);
  std::lock_guard<std::mutex> l(cache_mu_);
  if (bytes <= options_.decoded_cache_bytes) {
    decoded_[e.id] = Decoded{chunks, bytes, a.id};
    decoded_lru_.push_back(e.id);
    decoded_bytes_ += bytes;
    EvictDecodedLocked(e.id);
  }
  return chunks;
}

void LogStore::EvictDecodedLocked(const std::string& keep) {
  // Oldest first; ids of entries already gone (wiped, purged) are skipped.
  while (decoded_bytes_ > options_.decoded_cache_bytes && !decoded_lru_.empty()) {
    std::string id = std::move(decoded_lru_.front());
    decoded_lru_.pop_front();
    auto it = decoded_.find(id);
    if (it == decoded_.end()) continue;
    if (id == keep) {  // everything older is gone: `keep` alone may exceed the cap
      decoded_lru_.push_back(id);
      break;
    }
    decoded_bytes_ -= it->second.bytes;
    decoded_.erase(it);
  }
}

void LogStore::ReloadCache(Account& a) {
  auto k = KeysFor(a, false);
  if (!k.ok()) return;
  int64_t since = Ticks(env_.clock->Now() - options_.hot_window);
  std::vector<ExtentRec> recent;
  {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& [id, e] : extents_) {
      if (EqualsIgnoreCase(e.account, a.id) && e.max_time >= since) recent.push_back(e);
    }
  }
  for (const auto& e : recent) {
    auto object = blobs_->Get(e.blob);
    if (object.ok()) WriteCacheInPlace(e, a, k->aek, *object);
  }
}

Status LogStore::FlushAccount(Account& a) {
  {
    std::unique_lock<std::shared_mutex> al(a.append_mu);
    std::lock_guard<std::mutex> l(a.mu);
    if (!a.replayed || a.flush_running) return OkStatus();
    if (a.flushing.empty()) {
      if (a.active.empty()) return OkStatus();
      ASSIGN_OR_RETURN(a.flush_segment, a.wal->Rotate());
      a.flushing.swap(a.active);
      a.active_rows = a.held_rows = a.active_bytes = 0;
      a.oldest.reset();
    }
    a.flush_running = true;
  }
  auto done = [&a](void) {
    std::lock_guard<std::mutex> l(a.mu);
    a.flush_running = false;
    a.flush_done.notify_all();
  };
  auto k = KeysFor(a, false);
  if (!k.ok()) {
    done();
    return k.status();
  }
  std::map<std::string, Account::Mem> work;
  {
    std::lock_guard<std::mutex> l(a.mu);
    work = a.flushing;
  }
  // The memtable's chunks are encoded in place (BuildExtent reads them, no concatenated copy);
  // the object is built in a pooled buffer with room in front for the outer layer, which is
  // then sealed over it in place, and the hot-cache copy is sealed in place over that again
  // once the blob is stored: one buffer per flush, no copy of the object.
  std::unique_ptr<std::vector<uint8_t>> buf = TakeScratch();
  std::vector<std::pair<ExtentRec, std::vector<std::shared_ptr<const MemChunk>>>> made;
  Status failed;
  for (const auto& [key, m] : work) {
    if (m.chunks.empty()) continue;
    kql::Schema schema;
    const Batch& first = m.chunks[0]->batch();
    for (size_t c = 0; c < first.columns.size(); ++c) schema.push_back({first.names[c], first.columns[c].type});
    std::vector<const Batch*> tables;
    for (const auto& c : m.chunks) tables.push_back(&c->batch());
    ExtentHeader h;
    env_.random->Fill(h.id);
    h.account = a.id;
    h.key_kind = a.customer ? KeyKind::kCustomer : KeyKind::kService;
    ExtentRec e;
    e.id = HexEncode(h.id);
    e.account = a.id;
    e.workspace = m.workspace;
    e.table = m.table;
    e.blob = a.container + "/" + m.workspace + "/" + m.table + "/" + e.id + ".cmkx";
    size_t room = a.infra ? storage::kBlockHeaderSize : 0;
    buf->assign(room, 0);
    // Compressed extents take well under half their rows' memory: one reservation, no regrowth.
    buf->reserve(room + BatchesBytes(m.chunks) / 2 + (size_t{1} << 16));
    auto built = BuildExtent(h, m.workspace, m.table, schema, tables, k->aek, options_.extent_codec, *env_.random, *buf);
    if (!built.ok()) {
      failed = built.status();
      break;
    }
    e.rows = built->rows;
    e.min_time = built->min_time;
    e.max_time = built->max_time;
    if (a.infra) {
      if (Status s = storage::SealObjectInPlace(*a.infra, 1, e.blob, *buf, *env_.random); !s.ok()) {
        failed = s;
        break;
      }
      e.double_encrypted = true;
    }
    if (Status s = blobs_->Put(e.blob, *buf); !s.ok()) {
      failed = s;
      break;
    }
    if (e.max_time >= Ticks(env_.clock->Now() - options_.hot_window)) WriteCacheInPlace(e, a, k->aek, *buf);
    made.emplace_back(std::move(e), m.chunks);
  }
  GiveBackScratch(std::move(buf));
  if (!failed.ok()) {
    done();
    return failed;
  }
  uint64_t segment;
  {
    std::lock_guard<std::mutex> l(a.mu);
    segment = a.flush_segment;
  }
  Status s = meta_->Transaction([&](meta::DocumentOps& ops) -> Status {
    for (const auto& [e, t] : made) {
      bj::object o{{"account", e.account},   {"workspace", e.workspace}, {"table", e.table},
                   {"blob", e.blob},         {"rows", e.rows},           {"minTime", e.min_time},
                   {"maxTime", e.max_time},  {"doubleEncrypted", e.double_encrypted},
                   {"created", FormatRfc3339(env_.clock->Now())}};
      RETURN_IF_ERROR(ops.Put(kExtentKind, e.id, json::Serialize(o)));
    }
    return ops.Put(kCheckpointKind, a.id, json::Serialize(bj::object{{"segment", segment}}));
  });
  if (!s.ok()) {
    done();
    return s;
  }
  bool readable;
  {
    std::lock_guard<std::mutex> l(mu_);
    std::lock_guard<std::mutex> al(a.mu);
    for (const auto& [e, t] : made) extents_[e.id] = e;
    a.flushing.clear();
    a.checkpoint = segment;
    a.wal_keys.clear();
    for (const auto& [key, m] : a.active) a.wal_keys.insert(key);
    a.flush_running = false;
    a.flush_done.notify_all();
    readable = a.replayed;  // not wiped by a revocation meanwhile
  }
  if (readable && options_.cache_on_flush) {
    // Converted outside the lock (extent loads wait on it), and only what the cap can take.
    std::vector<std::pair<const ExtentRec*, Chunks>> tables;
    for (const auto& [e, batches] : made) {
      if (BatchesBytes(batches) > options_.decoded_cache_bytes) continue;
      Chunks chunks;
      for (const auto& b : batches) chunks.push_back(b->Table());
      tables.emplace_back(&e, std::move(chunks));
    }
    std::lock_guard<std::mutex> l(cache_mu_);
    for (const auto& [ep, chunks] : tables) {
      const ExtentRec& e = *ep;
      size_t bytes = ChunksBytes(chunks);
      if (bytes > options_.decoded_cache_bytes) continue;
      decoded_[e.id] = Decoded{chunks, bytes, a.id};
      decoded_lru_.push_back(e.id);
      decoded_bytes_ += bytes;
      EvictDecodedLocked(e.id);
    }
  }
  return a.wal->DropThrough(segment);
}

}  // namespace cmk::engine
