#include "engine/log_store.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include <boost/json.hpp>

#include "base/mutex.h"
#include "base/encoding.h"
#include "base/json.h"
#include "base/time_format.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "engine/codec.h"
#include "engine/extent.h"
#include "engine/log_store_internal.h"
#include "engine/wal.h"
#include "storage/sealed_block.h"

#include <spdlog/spdlog.h>

namespace cmk::engine {
namespace {

namespace bj = boost::json;
constexpr char kSharedKind[] = "shared-account";
constexpr char kInfraKind[] = "infra-key";
constexpr char kExtentKind[] = "extent";
constexpr char kCheckpointKind[] = "wal-checkpoint";
// WAL record kinds (docs/FORMAT.md "WAL record"). 1 and 2: the first format, sealed under one
// key per account and not numbered (still replayed until a checkpoint says they are all
// flushed). 3 and 4: numbered per segment, under a key per segment.
constexpr uint8_t kRecordAek = 1;
constexpr uint8_t kRecordHeld = 2;
constexpr uint8_t kRecordRows = 3;
constexpr uint8_t kRecordClose = 4;
constexpr uint8_t kSealAek = 1;
constexpr uint8_t kSealHeld = 2;
constexpr size_t kRecordFixed = 18;  // kind, key, index (u64), carried-through segment (u64)
constexpr int kWalFormat = 2;        // in the checkpoint: every older record is flushed

std::string Container(const std::string& account_id) {
  auto h = crypto::Sha256(AsBytes(ToLower(account_id)));
  return "acct-" + HexEncode(std::span<const uint8_t>(h.data(), 12));
}


std::string RecordAad(const std::string& account, const std::string& key) {
  return "cmklogs/wal-record/v1\n" + ToLower(account) + "\n" + key;
}

// Version 2: the record's segment and fixed header (kind, key, index, carried-through) are bound
// too, so a record opens only at its own place in its own segment.
std::string RecordAadV2(const std::string& account, uint64_t segment, std::span<const uint8_t> fixed,
                        const std::string& key) {
  std::string aad = "cmklogs/wal-record/v2\n" + ToLower(account) + "\n";
  for (int b = 0; b < 8; ++b) aad.push_back(static_cast<char>(segment >> (8 * b)));
  aad.append(reinterpret_cast<const char*>(fixed.data()), fixed.size());
  aad += key;
  return aad;
}

// HKDF-SHA256(root, salt = account id (lower case) || segment (u64 BE), info).
SecretBytes SegmentSubkey(const SecretBytes& root, std::string_view info, const std::string& account, uint64_t segment) {
  std::string salt = ToLower(account);
  for (int b = 7; b >= 0; --b) salt.push_back(static_cast<char>(segment >> (8 * b)));
  return storage::DeriveSubkey(root, info, AsBytes(salt));
}

struct RecordHeader {
  int version = 1;
  bool held = false;
  bool closing = false;  // a segment's closing record (version 2)
  uint64_t index = 0, through = 0;
  std::string key;  // workspace + "\n" + table (empty in a closing record)
  std::span<const uint8_t> fixed;  // version 2: the fixed header, part of the AAD
  std::span<const uint8_t> sealed;
};

Result<RecordHeader> ParseRecord(std::span<const uint8_t> rec) {
  RecordHeader h;
  if (rec.empty()) return DataLoss("corrupt WAL record kind");
  if (rec[0] == kRecordAek || rec[0] == kRecordHeld) {
    h.held = rec[0] == kRecordHeld;
    rec = rec.subspan(1);
    if (!GetString(rec, h.key) || h.key.find('\n') == std::string::npos) return DataLoss("corrupt WAL record header");
    h.sealed = rec;
    return h;
  }
  if ((rec[0] != kRecordRows && rec[0] != kRecordClose) || rec.size() < kRecordFixed ||
      (rec[1] != kSealAek && rec[1] != kSealHeld)) {
    return DataLoss("corrupt WAL record kind");
  }
  h.version = 2;
  h.closing = rec[0] == kRecordClose;
  h.held = rec[1] == kSealHeld;
  h.index = LoadU64(rec.data() + 2);
  h.through = LoadU64(rec.data() + 10);
  h.fixed = rec.first(kRecordFixed);
  rec = rec.subspan(kRecordFixed);
  if (!GetString(rec, h.key) || (h.closing ? !h.key.empty() : h.key.find('\n') == std::string::npos)) {
    return DataLoss("corrupt WAL record header");
  }
  h.sealed = rec;
  return h;
}

// Checks the order of one account's WAL records as a replay meets them (segments after the
// checkpoint only): segments follow each other without a gap from the checkpoint on, every
// segment but the newest ends with its closing record, records are numbered 1, 2, ... in each
// segment (their number is in the AAD, checked when they are opened), and records of the first
// format come only before the first numbered one (never once a checkpoint says they are flushed).
class WalOrder {
 public:
  WalOrder(std::string account, uint64_t checkpoint, bool v2_only)
      : account_(std::move(account)), checkpoint_(checkpoint), v2_only_(v2_only) {}

  Status Next(const WalRecord& w, const RecordHeader& h) {
    if (w.segment != segment_) {
      uint64_t expected = segment_ == 0 ? checkpoint_ + 1 : segment_ + 1;
      if (w.segment != expected) {
        return Fail("segment " + std::to_string(expected) + (w.segment > expected + 1 ? " and later ones are" : " is") +
                    " missing before segment " + std::to_string(w.segment));
      }
      if (segment_ != 0 && !ended_ && (numbered_ || v2_only_)) {
        return Fail("segment " + std::to_string(segment_) + " ends without its closing record (records were cut off it)");
      }
      segment_ = w.segment;
      numbered_ = ended_ = false;
    }
    if (ended_) return Fail("record " + std::to_string(w.index) + " of segment " + std::to_string(w.segment) + " follows its closing record");
    if (h.version == 1) {
      if (v2_only_ || seen_numbered_) {
        return Fail("record " + std::to_string(w.index) + " of segment " + std::to_string(w.segment) +
                    " has the earlier, unnumbered format where only numbered records can be (a replayed old record)");
      }
      return OkStatus();
    }
    numbered_ = seen_numbered_ = true;
    if (h.index != w.index) {
      return Fail("record " + std::to_string(w.index) + " of segment " + std::to_string(w.segment) + " is numbered " +
                  std::to_string(h.index) + " (a record was deleted, reordered or replayed)");
    }
    ended_ = h.closing;
    return OkStatus();
  }

 private:
  Status Fail(const std::string& what) const {
    return DataLoss("the WAL of account '" + account_ + "' failed its integrity check: " + what);
  }
  std::string account_;
  uint64_t checkpoint_;
  bool v2_only_;
  uint64_t segment_ = 0;
  bool numbered_ = false, ended_ = false, seen_numbered_ = false;
};

}  // namespace

LogStore::LogStore(env::Env env, std::string data_dir, meta::MetadataStore* meta, const storage::ServiceKeys* keys,
                   storage::ClusterStorage* clusters, const Topology* topology, LogStoreOptions options)
    : env_(env),
      data_dir_(std::move(data_dir)),
      meta_(meta),
      keys_(keys),
      clusters_(clusters),
      topology_(topology),
      options_(std::move(options)),
      read_ahead_(options_.scan_read_ahead > 0 ? options_.scan_read_ahead
                                               : std::max(1u, std::thread::hardware_concurrency())),
      blobs_(std::make_unique<storage::LocalBlobStore>(env.fs, data_dir_ + "/blobs")) {}

Result<std::unique_ptr<LogStore>> LogStore::Open(env::Env env, const std::string& data_dir, meta::MetadataStore* meta,
                                                 const storage::ServiceKeys* keys, storage::ClusterStorage* clusters,
                                                 const Topology* topology, LogStoreOptions options) {
  std::unique_ptr<LogStore> s(new LogStore(env, data_dir, meta, keys, clusters, topology, std::move(options)));
  RETURN_IF_ERROR(s->Load());
  if (clusters != nullptr) {
    LogStore* self = s.get();
    std::weak_ptr<bool> alive = s->alive_;
    clusters->set_on_account_transition([self, alive](const std::string& id, storage::KeyState from, storage::KeyState to) {
      if (alive.lock()) self->OnTransition(id, from, to);
    });
  }
  if (s->options_.background_flush) s->worker_ = std::thread([p = s.get()] { p->Worker(); });
  std::weak_ptr<bool> alive = s->alive_;
  LogStore* self = s.get();
  s->timer_ = env.clock->RunEvery(s->options_.maintenance_interval, [self, alive] {
    if (alive.lock()) self->Maintenance();
  });
  return s;
}

LogStore::~LogStore() {
  env_.clock->Cancel(timer_);
  if (clusters_ != nullptr) clusters_->set_on_account_transition(nullptr);
  alive_.reset();
  {
    MutexLock l(&work_mu_);
    stopping_ = true;
  }
  work_cv_.NotifyAll();
  if (worker_.joinable()) worker_.join();
}

Status LogStore::Load() {
  ASSIGN_OR_RETURN(auto docs, meta_->List(kExtentKind, ""));
  for (const auto& d : docs) {
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(d.body));
    ExtentRec e;
    e.id = d.id;
    e.account = std::string(o["account"].as_string());
    e.workspace = std::string(o["workspace"].as_string());
    e.table = std::string(o["table"].as_string());
    e.blob = std::string(o["blob"].as_string());
    e.rows = static_cast<uint64_t>(o["rows"].to_number<int64_t>());
    e.min_time = o["minTime"].to_number<int64_t>();
    e.max_time = o["maxTime"].to_number<int64_t>();
    e.created = e.max_time;  // (entries written before "created" was: as hot as their rows)
    if (const bj::value* created = o.if_contains("created"); created != nullptr && created->is_string()) {
      if (auto t = ParseRfc3339(std::string_view(created->get_string())); t.ok()) e.created = Ticks(*t);
    }
    e.double_encrypted = o["doubleEncrypted"].as_bool();
    MutexLock l(&mu_);  // nothing else runs yet; the lock states what guards extents_
    extents_[e.id] = std::move(e);
  }
  IndexCacheFiles();
  // Accounts with something to recover: every shared account and every cluster account.
  ASSIGN_OR_RETURN(auto shared, meta_->List(kSharedKind, ""));
  for (const auto& d : shared) {
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(d.body));
    RETURN_IF_ERROR(GetAccount(d.id, std::string(o["region"].as_string()), "").status());
  }
  if (clusters_ != nullptr) {
    for (const auto& a : clusters_->List()) {
      RETURN_IF_ERROR(GetAccount(a.cluster_id + "/accounts/" + a.account, "", a.cluster_id).status());
    }
  }
  return OkStatus();
}

Result<LogStore::Account*> LogStore::GetAccount(const std::string& id, const std::string& region,
                                                const std::string& cluster_id) {
  MutexLock l(&mu_);
  std::string key = ToLower(id);
  if (auto it = accounts_.find(key); it != accounts_.end()) return it->second.get();
  auto a = std::make_unique<Account>();
  a->id = id;
  a->region = region;
  a->cluster_id = cluster_id;
  a->customer = !cluster_id.empty();
  a->container = Container(id);
  if (!a->customer) {
    ASSIGN_OR_RETURN(auto doc, meta_->Get(kSharedKind, id));
    if (doc) {
      ASSIGN_OR_RETURN(bj::object o, json::ParseObject(doc->body));
      ASSIGN_OR_RETURN(auto wrapped, Base64Decode(o["wrappedAek"].as_string()));
      ASSIGN_OR_RETURN(a->shared_aek, keys_->UnwrapWithMmk(region, wrapped, id));
    } else {
      a->shared_aek = env_.random->NewSecret(32);
      ASSIGN_OR_RETURN(auto wrapped, keys_->WrapWithMmk(region, a->shared_aek, id));
      bj::object o{{"region", region}, {"wrappedAek", Base64Encode(wrapped)}, {"alg", "A256GCM"}};
      RETURN_IF_ERROR(meta_->Put(kSharedKind, id, json::Serialize(o)));
    }
  } else if (topology_ != nullptr && topology_->DoubleEncryption(cluster_id)) {
    ASSIGN_OR_RETURN(auto doc, meta_->Get(kInfraKind, id));
    if (doc) {
      ASSIGN_OR_RETURN(bj::object o, json::ParseObject(doc->body));
      ASSIGN_OR_RETURN(auto wrapped, Base64Decode(o["wrappedKey"].as_string()));
      ASSIGN_OR_RETURN(SecretBytes k, keys_->UnwrapInfra(wrapped, id));
      a->infra = std::move(k);
    } else {
      SecretBytes k = env_.random->NewSecret(32);
      ASSIGN_OR_RETURN(auto wrapped, keys_->WrapInfra(k, id));
      bj::object o{{"wrappedKey", Base64Encode(wrapped)}, {"alg", "A256GCM"}};
      RETURN_IF_ERROR(meta_->Put(kInfraKind, id, json::Serialize(o)));
      a->infra = std::move(k);
    }
  }
  ASSIGN_OR_RETURN(auto cp, meta_->Get(kCheckpointKind, id));
  uint64_t checkpoint = 0;
  if (cp) {
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(cp->body));
    MutexLock al(&a->mu);
    checkpoint = a->checkpoint = static_cast<uint64_t>(o["segment"].to_number<int64_t>());
    const bj::value* format = o.if_contains("walFormat");
    a->wal_v2_only = format != nullptr && format->is_int64() && format->as_int64() >= kWalFormat;
  }
  ASSIGN_OR_RETURN(a->wal,
                   Wal::Open(env_.fs, data_dir_ + "/wal/" + a->container, checkpoint + 1));
  Account* raw = a.get();
  accounts_[key] = std::move(a);
  // Recover what the WAL holds now if the key allows; else cut a torn tail, check the records'
  // order (all that can be checked without the key) and wait for the key. A WAL that fails its
  // integrity check is refused: this account's ingestion and queries fail, others go on.
  WriterLock al(&raw->append_mu);
  // A refused WAL is read this way too: the tables it holds must fail their queries.
  if (!ReplayLocked(*raw).ok()) {
    bool v2_only = false;
    {
      MutexLock l(&raw->mu);
      checkpoint = raw->checkpoint;
      v2_only = raw->wal_v2_only;
    }
    WalOrder order(raw->id, checkpoint, v2_only);
    Status s = raw->wal->Replay([raw, checkpoint, &order](const WalRecord& w) -> Result<bool> {
      ASSIGN_OR_RETURN(RecordHeader h, ParseRecord(w.payload));
      if (w.segment <= checkpoint) return h.closing;
      RETURN_IF_ERROR(order.Next(w, h));
      if (h.closing || (h.through != 0 && h.through > checkpoint)) return h.closing;
      MutexLock l(&raw->mu);
      raw->wal_keys.insert(h.key);
      return false;
    });
    if (!s.ok() && !raw->wal_refused.load()) {
      if (s.code() != StatusCode::kDataLoss) return s;
      RefuseWal(*raw, s);
    }
  }
  return raw;
}

Result<LogStore::Account*> LogStore::Route(const WorkspaceInfo& ws, const TableInfo& table) {
  bool auxiliary = EqualsIgnoreCase(table.plan, "Auxiliary");
  if (!ws.cluster_id.empty() && !auxiliary && clusters_ != nullptr) {
    std::vector<std::string> accts = clusters_->Accounts(ws.cluster_id);
    if (!accts.empty()) {
      auto h = crypto::Sha256(AsBytes(ws.customer_id + "/" + table.name));
      const std::string& id = accts[h[0] % accts.size()];
      // No region, as recovery opens it (the metadata keeps none for cluster accounts): its
      // hot-cache copies and the rows it holds during an outage are sealed under keys derived
      // from that MMK, and must open after a restart as before it.
      return GetAccount(id, "", ws.cluster_id);
    }
  }
  std::string region = ToLower(ws.location);
  return GetAccount("shared/" + region, region, "");
}

std::string LogStore::RouteForTest(const WorkspaceInfo& ws, const TableInfo& table) {
  auto a = Route(ws, table);
  return a.ok() ? (*a)->id : a.status().message();
}

void LogStore::MeetAccountAsBeforeForTest(const WorkspaceInfo& ws, const TableInfo& table) {
  std::vector<std::string> accts = clusters_->Accounts(ws.cluster_id);
  auto h = crypto::Sha256(AsBytes(ws.customer_id + "/" + table.name));
  (void)GetAccount(accts[h[0] % accts.size()], ws.location, ws.cluster_id);
}

Result<LogStore::Keys> LogStore::KeysFor(Account& a, bool allow_held) const {
  Keys k;
  if (!a.customer) {
    k.aek = a.shared_aek.Clone();
    return k;
  }
  auto aek = clusters_->Aek(a.id);
  if (aek.ok()) {
    k.aek = std::move(*aek);
    return k;
  }
  if (allow_held && aek.status().error_code() == "KeyVaultUnavailable") {
    k.held = true;
    return k;
  }
  std::string cluster = a.cluster_id.substr(a.cluster_id.rfind('/') + 1);
  Status s = aek.status();
  return Status(s.code(), "The storage of cluster '" + cluster + "' is not accessible: " + s.message(),
                s.error_code().empty() ? "KeyVaultAccessRevoked" : s.error_code());
}

Status LogStore::Usable(Account& a) const {
  if (a.wal_refused.load()) {
    MutexLock l(&a.mu);
    return a.wal_status;
  }
  return KeysFor(a, false).status();
}

SecretBytes LogStore::HeldWalKey(const std::string& region, const std::string& account, int version,
                                 uint64_t segment) const {
  if (version == 1) return storage::DeriveSubkey(keys_->Mmk(region), "cmklogs/wal-held/v1", AsBytes(ToLower(account)));
  return SegmentSubkey(keys_->Mmk(region), "cmklogs/wal-held/v2", account, segment);
}

SecretBytes LogStore::WalKey(const Account& a, const Keys& k) const {
  if (k.held) return HeldWalKey(a.region, a.id, 1, 0);
  return storage::DeriveSubkey(k.aek, "cmklogs/wal/v1", AsBytes(ToLower(a.id)));
}

SecretBytes LogStore::SegmentWalKey(const Account& a, const Keys& k, uint64_t segment) const {
  if (k.held) return HeldWalKey(a.region, a.id, 2, segment);
  return SegmentSubkey(k.aek, "cmklogs/wal/v2", a.id, segment);
}

Status LogStore::SealRecord(Account& a, const Keys& k, uint64_t segment, uint64_t index, bool closing, uint64_t through,
                            const std::string& key, std::span<const std::span<const uint8_t>> parts,
                            std::vector<uint8_t>& out) const {
  out.push_back(closing ? kRecordClose : kRecordRows);
  out.push_back(k.held ? kSealHeld : kSealAek);
  PutU64(out, index);
  PutU64(out, through);
  std::string aad = RecordAadV2(a.id, segment, std::span<const uint8_t>(out).first(kRecordFixed), key);
  PutString(out, key);
  // Called under the WAL's lock, in record order: the key is derived when the segment changes,
  // not per record (an HKDF costs more than sealing a small record).
  MutexLock l(&a.key_mu);
  Account::SegmentKey& slot = a.segment_keys[k.held ? 1 : 0];
  if (slot.segment != segment || slot.key.empty()) {
    slot.key = SegmentWalKey(a, k, segment);
    slot.segment = segment;
  }
  return crypto::AesGcmSealAppend(slot.key, parts, AsBytes(aad), *env_.random, out);
}

void LogStore::RefuseWal(Account& a, const Status& why) {
  wal_integrity_failures_.fetch_add(1, std::memory_order_relaxed);
  spdlog::error("{}: the account's WAL is refused (its ingestion and queries fail) until it is repaired",
                why.message());
  MutexLock l(&a.mu);
  a.wal_status = why;
  a.wal_refused.store(true);
}

SecretBytes LogStore::CacheKey(const Account& a, const SecretBytes& aek) const {
  if (options_.seal_cache_with_aek) return storage::DeriveSubkey(aek, "cmklogs/cache/v1", AsBytes(ToLower(a.id)));
  return storage::DeriveSubkey(keys_->Mmk(a.region), "cmklogs/cache/v1", AsBytes(ToLower(a.id)));
}

Status LogStore::Ingest(const WorkspaceInfo& ws, const TableInfo& table, const kql::Table& rows) {
  ASSIGN_OR_RETURN(Batch batch, Batch::FromTable(rows));
  return Ingest(ws, table, std::move(batch));
}

Status LogStore::Ingest(const WorkspaceInfo& ws, const TableInfo& table, Batch rows) {
  int tc = rows.Find("TimeGenerated");
  if (tc < 0 || rows.columns[tc].type != kql::Type::kDateTime) {
    return InvalidArgument("rows for table '" + table.name + "' need a datetime TimeGenerated column");
  }
  // Checked before sealing: a malformed batch in the WAL would stop its account's replay.
  if (Status s = rows.Check(); !s.ok()) {
    return InvalidArgument("rows for table '" + table.name + "': " + s.message());
  }
  if (rows.rows == 0) return OkStatus();
  rows.name = table.name;
  ASSIGN_OR_RETURN(Account * a, Route(ws, table));
  if (a->wal_refused.load()) return Usable(*a);
  ASSIGN_OR_RETURN(Keys k, KeysFor(*a, true));
  std::string key = ws.customer_id + "\n" + table.name;
  if (a->stuck_tables.load(std::memory_order_relaxed) > 0) {
    // A table that can't be flushed keeps its rows in the memtable: bounded, per table.
    MutexLock l(&a->mu);
    if (auto r = a->retry.find(key); r != a->retry.end()) {
      auto m = a->active.find(key);
      if (m != a->active.end() && m->second.rows >= options_.stuck_table_rows) {
        return Unavailable("rows for table '" + table.name + "' can't be stored now: its earlier rows could not be " +
                           "flushed (" + r->second.last.message() + "); retry later");
      }
    }
  }
  // Record: kind, key (AEK or held), its number in its segment, workspace and table in clear
  // (they name where the rows go, as blob names do, so a sealed WAL still tells which queries
  // it concerns), then the sealed rows; the AAD binds the clear part, the account and the
  // segment. The rows are sealed in the batch layout straight from the batch's arrays (no
  // encoding pass, nothing in clear copied anywhere) into the WAL's own record buffer, under
  // its lock so that records are numbered in the order they are written; the batch then
  // becomes the memtable chunk.
  thread_local std::vector<uint8_t> header;
  thread_local std::vector<std::span<const uint8_t>> parts;
  BatchLayout(rows, header, parts);
  size_t bytes = 0;
  for (auto p : parts) bytes += p.size();

  ReaderLock al(&a->append_mu);
  Status appended = a->wal->Append([&](uint64_t segment, uint64_t index, std::vector<uint8_t>& out) {
    return SealRecord(*a, k, segment, index, /*closing=*/false, /*through=*/0, key, parts, out);
  });
  parts.clear();
  RETURN_IF_ERROR(appended);
  {
    MutexLock l(&a->mu);
    a->wal_keys.insert(key);
  }
  if (!a->replayed) return OkStatus();  // durable; the replay that comes with the key adds it
  bool flush = false;
  {
    MutexLock l(&a->mu);
    auto& m = a->active[key];
    m.workspace = ws.customer_id;
    m.table = table.name;
    m.rows += rows.rows;
    a->active_rows += rows.rows;
    a->active_bytes += bytes;
    if (k.held) a->held_rows += rows.rows;
    m.chunks.push_back(std::make_shared<const MemChunk>(std::move(rows)));
    if (!a->oldest) a->oldest = env_.clock->Now();
    flush = a->active_rows >= options_.flush_rows || a->active_bytes >= options_.flush_bytes;
  }
  if (flush) Enqueue(a);
  return OkStatus();
}

Status LogStore::ReplayLocked(Account& a) {
  a.append_mu.AssertHeld();  // exclusively, by every caller
  if (a.wal_refused.load()) return Usable(a);
  std::optional<Keys> k;
  auto r = KeysFor(a, false);
  if (r.ok()) k = std::move(*r);
  std::map<std::string, Account::Mem> mem;
  size_t rows = 0, held = 0, bytes = 0;
  uint64_t checkpoint = 0;
  bool v2_only = false;
  {
    MutexLock l(&a.mu);
    checkpoint = a.checkpoint;
    v2_only = a.wal_v2_only;
  }
  WalOrder order(a.id, checkpoint, v2_only);
  std::set<std::string> workspaces_seen;  // of the records replayed so far (legacy_held below)
  // Version-2 records' keys, derived once per segment.
  uint64_t keys_segment = 0;
  std::optional<SecretBytes> segment_keys[2];
  Status s = a.wal->Replay([&](const WalRecord& w) -> Result<bool> {
    ASSIGN_OR_RETURN(RecordHeader h, ParseRecord(w.payload));
    if (w.segment <= checkpoint) return h.closing;
    RETURN_IF_ERROR(order.Next(w, h));
    // A carried copy of rows whose flush failed: replayed once the checkpoint covers the
    // segments it repeats, skipped while they are replayed themselves.
    if (h.through != 0 && h.through > checkpoint) return false;
    Keys hk;
    hk.held = true;
    if (!h.held && !k) return r.status();
    const Keys& use = h.held ? hk : *k;
    // Before 2026-12-05 a cluster account that ingestion met before recovery did (a cluster
    // configured while the server ran) was scoped to its workspace's region, recovery's to none:
    // the records it held during an outage were sealed under that region's MMK, and a restart
    // left them unreadable. A held record that fails under the account's scope is tried under
    // its workspace's region; a segment's closing record, which names no workspace, under the
    // regions of the workspaces whose records were replayed before it.
    std::string workspace = h.key.substr(0, h.key.find('\n'));
    if (!workspace.empty()) workspaces_seen.insert(workspace);
    auto legacy_held = [&](uint64_t segment, std::span<const uint8_t> aad) -> std::optional<SecretBytes> {
      if (!h.held || !a.customer || !a.region.empty() || topology_ == nullptr) return std::nullopt;
      std::set<std::string> regions;
      for (const std::string& id : workspace.empty() ? workspaces_seen : std::set<std::string>{workspace}) {
        auto ws = topology_->WorkspaceByCustomerId(id);
        if (ws.ok() && !ws->location.empty()) regions.insert(ws->location);
      }
      for (const std::string& region : regions) {
        auto opened = crypto::AesGcmOpen(HeldWalKey(region, a.id, h.version, segment), h.sealed, aad);
        if (opened.ok()) return std::move(*opened);
      }
      return std::nullopt;
    };
    SecretBytes plain;
    if (h.version == 1) {
      std::string aad = RecordAad(a.id, h.key);
      auto opened = crypto::AesGcmOpen(WalKey(a, use), h.sealed, AsBytes(aad));
      if (!opened.ok()) {
        auto legacy = legacy_held(0, AsBytes(aad));
        if (!legacy) return opened.status();
        opened = std::move(*legacy);
      }
      plain = std::move(*opened);
    } else {
      if (w.segment != keys_segment) {
        segment_keys[0].reset();
        segment_keys[1].reset();
        keys_segment = w.segment;
      }
      std::optional<SecretBytes>& wk = segment_keys[h.held ? 1 : 0];
      if (!wk) wk = SegmentWalKey(a, use, w.segment);
      std::string aad = RecordAadV2(a.id, w.segment, h.fixed, h.key);
      auto opened = crypto::AesGcmOpen(*wk, h.sealed, AsBytes(aad));
      if (!opened.ok()) {
        auto legacy = legacy_held(w.segment, AsBytes(aad));
        if (legacy) opened = std::move(*legacy);
      }
      if (!opened.ok()) {
        return DataLoss("the WAL of account '" + a.id + "' failed its integrity check: record " + std::to_string(w.index) +
                        " of segment " + std::to_string(w.segment) + " does not authenticate there (" +
                        opened.status().message() + ")");
      }
      plain = std::move(*opened);
    }
    if (h.closing) return true;
    std::span<const uint8_t> in = plain.span();
    size_t nl = h.key.find('\n');
    std::string ws = h.key.substr(0, nl), table = h.key.substr(nl + 1);
    bool is_held = h.held;
    Batch t;
    if (!in.empty() && in[0] == kBatchLayoutTag) {
      bytes += in.size();
      ASSIGN_OR_RETURN(t, ParseBatchLayout(in));
    } else {  // written before the batch layout: a codec frame of an encoded table
      ASSIGN_OR_RETURN(auto raw, Decompress(in));
      bytes += raw.size();
      ASSIGN_OR_RETURN(kql::Table decoded, DecodeTable(raw));
      ASSIGN_OR_RETURN(t, Batch::FromTable(decoded));
    }
    t.name = table;
    auto& m = mem[ws + "\n" + table];
    m.workspace = ws;
    m.table = table;
    m.rows += t.rows;
    rows += t.rows;
    if (is_held) held += t.rows;
    m.chunks.push_back(std::make_shared<const MemChunk>(std::move(t)));
    return false;
  });
  if (!s.ok()) {
    if (s.code() == StatusCode::kDataLoss) {
      // Nothing of a WAL that fails its check is served: the rows replayed so far are wiped.
      for (auto& [key, m] : mem) {
        for (auto& c : m.chunks) c->MarkForWipe();
      }
      RefuseWal(a, s);
    }
    return s;
  }
  MutexLock l(&a.mu);
  for (const auto& [key, m] : mem) a.wal_keys.insert(key);
  a.active = std::move(mem);
  a.flushing.clear();
  a.active_rows = rows;
  a.active_bytes = bytes;
  a.held_rows = held;
  a.stuck_rows = 0;
  a.oldest = rows > 0 ? std::optional<TimePoint>(env_.clock->Now()) : std::nullopt;
  a.replayed = true;
  return OkStatus();
}

Status LogStore::EnsureReplayed(Account& a) {
  if (a.wal_refused.load()) return Usable(a);
  {
    ReaderLock al(&a.append_mu);
    if (a.replayed) return OkStatus();
  }
  WriterLock al(&a.append_mu);
  if (a.replayed) return OkStatus();
  return ReplayLocked(a);
}

std::unique_ptr<kql::Catalog> LogStore::CatalogFor(std::vector<WorkspaceInfo> workspaces, std::optional<int64_t> from,
                                                   std::optional<int64_t> to) {
  return std::make_unique<QueryCatalog>(this, std::move(workspaces), from, to);
}

int LogStore::RetentionDays(const std::string& workspace, const std::string& table) const {
  if (topology_ == nullptr) return 30;
  auto ws = topology_->WorkspaceByCustomerId(workspace);
  if (!ws.ok()) return 30;
  auto tables = topology_->Tables(ws->resource_id);
  if (tables.ok()) {
    for (const auto& t : *tables) {
      if (t.name == table) return t.retention_days;
    }
  }
  return ws->retention_days;
}

StoreStats LogStore::Stats() const {
  StoreStats s;
  s.flush_requests = flush_requests_.load(std::memory_order_relaxed);
  s.flush_failures = flush_failures_.load(std::memory_order_relaxed);
  s.integrity_failures = integrity_failures_.load(std::memory_order_relaxed);
  s.wal_integrity_failures = wal_integrity_failures_.load(std::memory_order_relaxed);
  s.cache_rejects = cache_rejects_.load(std::memory_order_relaxed);
  s.hot_cache_bytes = hot_.bytes();
  s.hot_cache_files = hot_.files();
  s.hot_cache_dropped = hot_.dropped();
  s.decoded_cache_bytes = decoded_bytes_.load(std::memory_order_relaxed);
  s.decoded_cache_capacity = CacheCapacity();
  s.decoded_cache_yielded = cache_yielded_bytes_.load(std::memory_order_relaxed);
  MutexLock l(&mu_);
  for (const auto& [id, e] : extents_) {
    ++s.extents;
    s.extent_rows += e.rows;
  }
  for (const auto& [id, a] : accounts_) {
    MutexLock al(&a->mu);
    s.memtable_rows += a->active_rows + a->stuck_rows;
    for (const auto& [k, m] : a->flushing) s.memtable_rows += m.rows;
    s.held_rows += a->held_rows;
  }
  return s;
}

std::map<std::string, double> LogStore::RevocationEffectSeconds() const {
  MutexLock l(&mu_);
  return revocation_effect_;
}

void LogStore::OnTransition(const std::string& account_id, storage::KeyState from, storage::KeyState to) {
  Account* a = nullptr;
  {
    MutexLock l(&mu_);
    auto it = accounts_.find(ToLower(account_id));
    if (it != accounts_.end()) a = it->second.get();
  }
  TimePoint now = env_.clock->Now();
  bj::object event{{"time", FormatRfc3339(now)},
                   {"cluster", account_id.substr(0, account_id.rfind("/accounts/"))},
                   {"account", account_id.substr(account_id.rfind('/') + 1)},
                   {"from", storage::KeyStateName(from)},
                   {"to", storage::KeyStateName(to)}};
  auto record = [&] {
    char id[40];
    std::snprintf(id, sizeof(id), "%020lld-%08llx", static_cast<long long>(Ticks(now)),
                  static_cast<unsigned long long>(env_.random->NextU64() & 0xffffffffu));
    (void)meta_->Put(kKeyStateEventKind, id, json::Serialize(event));
  };
  if (to == storage::KeyState::kRevoked) {
    if (a != nullptr) Wipe(*a);
    std::optional<TimePoint> last;
    for (const auto& s : clusters_->List()) {
      if (EqualsIgnoreCase(s.cluster_id + "/accounts/" + s.account, account_id)) last = s.last_success;
    }
    if (last) {
      double effect = std::chrono::duration<double>(env_.clock->Now() - *last).count();
      event["effectSeconds"] = effect;
      MutexLock l(&mu_);
      revocation_effect_[account_id] = effect;
    }
    return record();
  }
  record();
  if (a == nullptr) return;
  if (to == storage::KeyState::kHealthy && from != storage::KeyState::kDegraded) {
    (void)EnsureReplayed(*a);
    if (from == storage::KeyState::kRevoked) ReloadCache(*a);
    Enqueue(a);  // held rows move under the AEK with the next flush
  }
}

void LogStore::Wipe(Account& a) {
  // Rows in memory are zeroed, not just freed: each chunk when its last holder releases it (at
  // once, or when a query that holds it ends), outside the account's locks.
  std::map<std::string, Account::Mem> active, flushing;
  {
    WriterLock al(&a.append_mu);
    MutexLock l(&a.mu);
    active.swap(a.active);
    flushing.swap(a.flushing);
    a.active_rows = a.held_rows = a.active_bytes = a.stuck_rows = 0;
    a.retry.clear();
    a.stuck_tables.store(0);
    a.oldest.reset();
    a.replayed = false;
  }
  {
    MutexLock l(&a.key_mu);
    for (auto& slot : a.segment_keys) {
      slot.key.Wipe();
      slot.segment = 0;
    }
  }
  for (auto* mems : {&active, &flushing}) {
    for (auto& [key, m] : *mems) {
      for (const auto& c : m.chunks) c->MarkForWipe();
    }
  }
  active.clear();
  flushing.clear();
  std::vector<Chunks> released;  // wiped and freed after cache_mu_ is let go
  std::vector<PackedBlock> released_packed;  // wiped as they are freed
  std::vector<std::shared_ptr<const TermIndex>> released_terms;  // the same
  {
    MutexLock l(&cache_mu_);
    for (auto it = decoded_.begin(); it != decoded_.end();) {
      if (EqualsIgnoreCase(it->second.account, a.id)) {
        for (const auto& flag : it->second.wipe) flag->store(true);
        decoded_bytes_ -= it->second.bytes;
        decoded_lru_.erase(it->second.lru);
        released.push_back(std::move(it->second.chunks));
        released_packed.push_back(std::move(it->second.packed));
        released_terms.push_back(std::move(it->second.terms));
        it = decoded_.erase(it);
      } else {
        ++it;
      }
    }
    // The layouts hold footer facts (row counts, time ranges): read again with the key.
    std::erase_if(layouts_,
                  [&](const auto& l) { return EqualsIgnoreCase(l.second->account, a.id); });
  }
  released.clear();
  hot_.ForgetUnder(data_dir_ + "/cache/" + a.container + "/");
  if (Status s = env_.fs->RemoveAll(data_dir_ + "/cache/" + a.container); !s.ok()) {
    // The copies are sealed (the cache key is gone with the AEK), but they should not stay.
    spdlog::error("{}: cannot delete the hot cache after the key's revocation: {}", a.id,
                  s.ToString());
  }
}

std::string LogStore::CachePath(const ExtentRec& e) const {
  return data_dir_ + "/cache/" + Container(e.account) + "/" + e.id + ".cmkc";
}

void LogStore::IndexCacheFiles() {
  std::map<std::string, std::pair<std::string, int64_t>> owners;  // extent id -> container, last use
  {
    MutexLock l(&mu_);
    for (const auto& [id, e] : extents_) owners[id] = {Container(e.account), std::max(e.created, e.queried)};
  }
  const std::string root = data_dir_ + "/cache";
  auto dirs = env_.fs->GetChildren(root);
  if (!dirs.ok()) return;  // no cache yet
  for (const env::DirEntry& dir : *dirs) {
    if (!dir.is_dir) continue;
    auto files = env_.fs->GetChildren(root + "/" + dir.name);
    if (!files.ok()) continue;
    for (const env::DirEntry& f : *files) {
      if (f.is_dir) continue;  // not the cache's: left alone
      const std::string path = root + "/" + dir.name + "/" + f.name;
      std::string id = f.name.ends_with(".cmkc") ? f.name.substr(0, f.name.size() - 5) : std::string();
      if (auto owner = owners.find(id); owner != owners.end() && owner->second.first == dir.name) {
        if (auto size = env_.fs->GetFileSize(path); size.ok()) {
          hot_.Found(id, path, *size, owner->second.second);
          continue;
        }
      }
      spdlog::info("removing hot-cache file {}: no catalogued extent owns it", path);
      env_.fs->Remove(path).IgnoreError();
    }
  }
  for (const std::string& p : hot_.Trim()) env_.fs->Remove(p).IgnoreError();
}

Status LogStore::RunRetention() {
  std::vector<ExtentRec> expired;
  TimePoint now = env_.clock->Now();
  {
    MutexLock l(&mu_);
    for (const auto& [id, e] : extents_) expired.push_back(e);
  }
  std::map<std::string, int> days;
  std::vector<ExtentRec> purge, cooled;
  const int64_t hot_since = HotSince(now);
  for (const auto& e : expired) {
    std::string k = e.workspace + "\n" + e.table;
    if (!days.count(k)) days[k] = RetentionDays(e.workspace, e.table);
    int64_t cutoff = Ticks(now) - int64_t{days[k]} * kql::kTicksPerDay;
    if (e.max_time < cutoff) purge.push_back(e);
    else if (!e.cold && !Hot(e, hot_since)) cooled.push_back(e);
  }
  for (const auto& e : purge) {
    RETURN_IF_ERROR(meta_->Delete(kExtentKind, e.id).status());
    {
      MutexLock l(&mu_);
      extents_.erase(e.id);
    }
    RETURN_IF_ERROR(blobs_->Delete(e.blob));
    hot_.Forget(e.id);
    Status removed =
        env_.fs->Remove(CachePath(e));
    {
      MutexLock l(&cache_mu_);
      DropDecodedLocked(e.id);
    }
    RETURN_IF_ERROR(removed);
  }
  // Extents neither ingested nor queried in the hot window leave the hot cache (once: then
  // marked cold). A query reading one meanwhile keeps its open file; the next reads the blob,
  // and caches it again.
  auto hot_now = [&](const ExtentRec& e) {  // scanned by a query since the snapshot: kept
    MutexLock l(&mu_);
    auto it = extents_.find(e.id);
    return it == extents_.end() || Hot(it->second, hot_since);
  };
  for (const auto& e : cooled) {
    if (hot_now(e)) continue;
    hot_.Forget(e.id);
    Status removed = env_.fs->Remove(CachePath(e));
    if (!removed.ok() && removed.code() != StatusCode::kNotFound) return removed;
    MutexLock l(&mu_);
    // (A query that scanned it in between cached it again, or will: it stays hot.)
    if (auto it = extents_.find(e.id); it != extents_.end() && !Hot(it->second, hot_since)) it->second.cold = true;
  }
  return OkStatus();
}

void LogStore::Maintenance() {
  (void)RunRetention();
  std::vector<Account*> due;
  TimePoint now = env_.clock->Now();
  {
    MutexLock l(&mu_);
    for (auto& [id, a] : accounts_) {
      MutexLock al(&a->mu);
      bool retry = false;
      for (const auto& [key, r] : a->retry) retry = retry || r.at <= now;
      if ((a->oldest && now - *a->oldest >= options_.flush_age) || !a->flushing.empty() || retry) due.push_back(a.get());
    }
  }
  for (Account* a : due) Enqueue(a);
}

void LogStore::Enqueue(Account* a) {
  if (!options_.background_flush) {  // tests flush explicitly; still count what came due
    flush_requests_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  {
    MutexLock l(&work_mu_);
    if (std::find(work_.begin(), work_.end(), a) != work_.end()) return;  // already queued
    work_.push_back(a);
  }
  flush_requests_.fetch_add(1, std::memory_order_relaxed);
  work_cv_.NotifyOne();
}

void LogStore::Worker() {
  UniqueLock l(&work_mu_);
  while (true) {
    work_cv_.Wait(l, [&] {
      work_mu_.AssertHeld();
      return stopping_ || !work_.empty();
    });
    if (stopping_) return;
    Account* a = work_.front();
    work_.pop_front();
    l.unlock();
    (void)FlushAccount(*a);
    l.lock();
  }
}

Status LogStore::Flush() {
  std::vector<Account*> all;
  {
    MutexLock l(&mu_);
    for (auto& [id, a] : accounts_) all.push_back(a.get());
  }
  Status first;
  for (Account* a : all) {
    // A background flush may be running: wait for it, then flush what came since.
    for (int round = 0; round < 3; ++round) {
      {
        UniqueLock l(&a->mu);
        a->flush_done.Wait(l, [a] {
          a->mu.AssertHeld();
          return !a->flush_running;
        });
        if (a->active.empty() && a->flushing.empty()) break;
      }
      Status s = FlushAccount(*a);
      if (!s.ok()) {
        if (first.ok()) first = s;
        break;
      }
    }
  }
  return first;
}

}  // namespace cmk::engine
