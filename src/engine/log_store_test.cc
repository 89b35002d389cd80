#include "engine/log_store.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "base/encoding.h"
#include "base/json.h"
#include "base/testing.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "engine/codec.h"
#include "storage/fake_vault_for_test.h"

namespace cmk::engine {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::IsOk;
using testing::StatusIs;

const char kCluster[] = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/clusters/c1";

class FakeTopology : public Topology {
 public:
  Result<WorkspaceInfo> WorkspaceByCustomerId(const std::string& id) const override {
    for (const auto& w : workspaces) {
      if (w.customer_id == id) return w;
    }
    return NotFound("no workspace");
  }
  Result<std::vector<TableInfo>> Tables(const std::string&) const override { return tables; }
  bool DoubleEncryption(const std::string&) const override { return double_encryption; }
  std::vector<WorkspaceInfo> workspaces;
  std::vector<TableInfo> tables;
  bool double_encryption = true;
};

class LogStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/ls_" + env::SecureRandom().NewGuid();
    std::filesystem::create_directories(dir_);
    meta_ = std::move(*meta::MetadataStore::Open(dir_ + "/meta.db"));
    keys_ = storage::ServiceKeys::FromRootsForTest(env(), random_.NewSecret(32), random_.NewSecret(32));
    ws_ = WorkspaceInfo{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w1",
                        "11111111-1111-1111-1111-111111111111", "w1", "eastus", "", 30};
    table_ = TableInfo{"App_CL",
                       {{"TimeGenerated", kql::Type::kDateTime}, {"Msg", kql::Type::kString}, {"N", kql::Type::kLong}},
                       30,
                       "Analytics"};
    topo_.workspaces = {ws_};
    topo_.tables = {table_};
  }
  void TearDown() override {
    store_.reset();
    clusters_.reset();
    std::filesystem::remove_all(dir_);
  }
  env::Env env() { return env::Env{&clock_, &random_, &fs_}; }
  void Open(bool with_cluster = true) {
    store_.reset();
    clusters_.reset();
    storage::KeyManagerOptions o;
    o.check_interval = seconds(10);
    auto cs = storage::ClusterStorage::Open(
        env(), meta_.get(), [this](const std::string&) { return std::make_unique<storage::FakeVaultProxy>(&vault_); }, o);
    ASSERT_THAT(cs, IsOk());
    clusters_ = std::move(*cs);
    if (with_cluster) {
      ASSERT_THAT(clusters_->ConfigureCluster(kCluster, "mi", keyvault::KeyRef{"https://kv.vault.localhost:8443", "kek", ""}),
                  IsOk());
    }
    LogStoreOptions lo;
    lo.background_flush = false;
    lo.decoded_cache_bytes = cache_bytes_;
    lo.extent_codec = codec_;
    lo.cache_on_flush = cache_on_flush_;
    if (flush_rows_) lo.flush_rows = flush_rows_;
    if (flush_bytes_) lo.flush_bytes = flush_bytes_;
    auto s = LogStore::Open(env(), dir_ + "/data", meta_.get(), keys_.get(), clusters_.get(), &topo_, lo);
    ASSERT_THAT(s, IsOk());
    store_ = std::move(*s);
  }
  kql::Table Rows(int n, const std::string& msg, TimePoint at) {
    kql::Table t;
    kql::Column tg(kql::Type::kDateTime), m(kql::Type::kString), num(kql::Type::kLong);
    for (int i = 0; i < n; ++i) {
      tg.AppendInt((at.time_since_epoch().count() / 100) + i);
      m.AppendString(msg + " " + std::to_string(i));
      num.AppendInt(i);
    }
    t.AddColumn("TimeGenerated", std::move(tg));
    t.AddColumn("Msg", std::move(m));
    t.AddColumn("N", std::move(num));
    t.rows = n;
    return t;
  }
  Result<int64_t> Count(const WorkspaceInfo& ws) {
    auto cat = store_->CatalogFor({ws}, std::nullopt, std::nullopt);
    int64_t n = 0;
    RETURN_IF_ERROR(cat->Scan(kql::ScanRequest{"App_CL", {}, {}, {}}, [&](std::shared_ptr<const kql::Table> t) {
      n += static_cast<int64_t>(t->rows);
      return OkStatus();
    }));
    return n;
  }
  WorkspaceInfo Linked() {
    WorkspaceInfo w = ws_;
    w.cluster_id = kCluster;
    topo_.workspaces = {w};
    return w;
  }
  // Whether any file under the data dir contains `needle`.
  bool DataDirContains(const std::string& needle) {
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_)) {
      if (!e.is_regular_file()) continue;
      std::ifstream f(e.path(), std::ios::binary);
      std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      if (s.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  size_t CacheFiles() {
    size_t n = 0;
    if (!std::filesystem::exists(dir_ + "/data/cache")) return 0;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ + "/data/cache")) n += e.is_regular_file();
    return n;
  }

  std::string dir_;
  env::SimulatedClock clock_{FromUnixSeconds(1795416367)};
  env::SeededRandom random_{7};
  env::PosixFileSystem fs_;
  storage::FakeVault vault_;
  FakeTopology topo_;
  WorkspaceInfo ws_;
  TableInfo table_;
  std::unique_ptr<meta::MetadataStore> meta_;
  std::unique_ptr<storage::ServiceKeys> keys_;
  std::unique_ptr<storage::ClusterStorage> clusters_;
  std::unique_ptr<LogStore> store_;
  size_t cache_bytes_ = size_t{1} << 30;
  Codec codec_ = Codec::kLz4;
  bool cache_on_flush_ = false;
  size_t flush_rows_ = 0, flush_bytes_ = 0;
};

TEST_F(LogStoreTest, IngestedRowsAreReadableAtOnceAndAfterAFlush) {
  Open();
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(100, "hello", clock_.Now())), IsOk());
  EXPECT_EQ(*Count(ws_), 100);
  ASSERT_THAT(store_->Flush(), IsOk());
  EXPECT_EQ(store_->Stats().extents, 1u);
  EXPECT_EQ(store_->Stats().memtable_rows, 0u);
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(5, "more", clock_.Now())), IsOk());
  EXPECT_EQ(*Count(ws_), 105);
}

TEST_F(LogStoreTest, ExtentsOfEitherCodecAndWithOrWithoutCacheOnFlushReadBackTheSame) {
  // zstd extents (the codec before lz4 became the default) stay readable under lz4, and the
  // reverse: every block names its codec.
  codec_ = Codec::kZstd;
  cache_on_flush_ = true;
  Open();
  WorkspaceInfo w = Linked();
  ASSERT_THAT(store_->Ingest(w, table_, Rows(300, "zstd", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  EXPECT_EQ(*Count(w), 300);
  codec_ = Codec::kLz4;
  cache_on_flush_ = false;
  Open();
  ASSERT_THAT(store_->Ingest(w, table_, Rows(200, "lz4", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  EXPECT_EQ(store_->Stats().extents, 2u);
  auto cat = store_->CatalogFor({w}, std::nullopt, std::nullopt);
  std::map<std::string, int> prefixes;
  int64_t sum = 0;
  ASSERT_THAT(cat->Scan(kql::ScanRequest{"App_CL", {}, {}, {}}, [&](std::shared_ptr<const kql::Table> t) {
    for (size_t r = 0; r < t->rows; ++r) {
      const std::string& m = t->columns[t->Find("Msg")].Str(r);
      ++prefixes[m.substr(0, m.find(' '))];
      sum += t->columns[t->Find("N")].Int(r);
    }
    return OkStatus();
  }),
              IsOk());
  EXPECT_EQ(prefixes["zstd"], 300);
  EXPECT_EQ(prefixes["lz4"], 200);
  EXPECT_EQ(sum, 299 * 300 / 2 + 199 * 200 / 2);
  codec_ = Codec::kZstd;
  Open();
  EXPECT_EQ(*Count(w), 500);
}

TEST_F(LogStoreTest, AMemtableIsDueAtItsRowCountOrAtItsEncodedSizeWhicheverComesFirst) {
  flush_rows_ = 1000;
  flush_bytes_ = size_t{1} << 30;
  Open();
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(999, "a", clock_.Now())), IsOk());
  EXPECT_EQ(store_->Stats().flush_requests, 0u);
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(1, "b", clock_.Now())), IsOk());
  EXPECT_EQ(store_->Stats().flush_requests, 1u);  // 1,000 rows
  ASSERT_THAT(store_->Flush(), IsOk());
  // Few rows, but wide ones: the byte bound fires first.
  flush_rows_ = 1'000'000;
  flush_bytes_ = 64 * 1024;
  Open();
  uint64_t before = store_->Stats().flush_requests;
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(10, std::string(1000, 'x'), clock_.Now())), IsOk());
  EXPECT_EQ(store_->Stats().flush_requests, before);  // ~10 KB
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(60, std::string(1000, 'y'), clock_.Now())), IsOk());
  EXPECT_EQ(store_->Stats().flush_requests, before + 1);  // ~70 KB
  ASSERT_THAT(store_->Flush(), IsOk());
  EXPECT_EQ(*Count(ws_), 1070);
}

TEST_F(LogStoreTest, WalRecordsOfTheEarlierFormatsReplay) {
  // Records sealed a compression frame of a table record before c617bab: LZ4 with string
  // dictionaries in older builds, stored (codec 0) without dictionaries in the later ones. Today's
  // hold the batch layout. A WAL left by an older server must replay, all kinds mixed.
  Open();
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(1, "new", clock_.Now())), IsOk());
  store_.reset();
  const std::string account = "shared/eastus";
  auto doc = meta_->Get("shared-account", account);
  ASSERT_THAT(doc, IsOk());
  ASSERT_TRUE(doc->has_value());
  auto o = json::ParseObject((*doc)->body);
  ASSERT_THAT(o, IsOk());
  auto wrapped = Base64Decode((*o)["wrappedAek"].as_string());
  ASSERT_THAT(wrapped, IsOk());
  auto aek = keys_->UnwrapWithMmk("eastus", *wrapped, account);
  ASSERT_THAT(aek, IsOk());
  std::string key = ws_.customer_id + "\n" + table_.name;
  std::string aad = "cmklogs/wal-record/v1\n" + account + "\n" + key;
  std::string salt = account;
  SecretBytes wal_key = storage::DeriveSubkey(*aek, "cmklogs/wal/v1",
                                              std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(salt.data()), salt.size()));
  std::vector<uint8_t> frames;
  auto append_old = [&](const kql::Table& t, Codec codec, bool dictionaries) {
    std::vector<uint8_t> encoded;
    EncodeTable(t, encoded, dictionaries);
    std::vector<uint8_t> packed = Compress(codec, encoded);
    ASSERT_EQ(packed[0], static_cast<uint8_t>(codec));
    auto body = crypto::AesGcmSeal(wal_key, packed, AsBytes(aad), random_);
    ASSERT_THAT(body, IsOk());
    std::vector<uint8_t> payload = {1};  // sealed under the account's WAL key
    PutString(payload, key);
    payload.insert(payload.end(), body->begin(), body->end());
    PutU32(frames, static_cast<uint32_t>(payload.size()));
    PutU32(frames, Crc32c(payload));
    frames.insert(frames.end(), payload.begin(), payload.end());
  };
  kql::Table old = Rows(40, "old", clock_.Now());  // 40 rows, repeated strings: dictionary-encoded
  old.columns[1] = kql::Column(kql::Type::kString);
  for (int i = 0; i < 40; ++i) old.columns[1].AppendString(i % 2 ? "old a" : "old b");
  append_old(old, Codec::kLz4, /*dictionaries=*/true);
  append_old(Rows(7, "stored", clock_.Now()), Codec::kNone, /*dictionaries=*/false);
  auto h = crypto::Sha256(AsBytes(account));
  std::string wal_dir = dir_ + "/data/wal/acct-" + HexEncode(std::span<const uint8_t>(h.data(), 12));
  std::string segment;
  for (const auto& e : std::filesystem::directory_iterator(wal_dir)) segment = std::max(segment, e.path().string());
  ASSERT_FALSE(segment.empty());
  {
    std::ofstream f(segment, std::ios::binary | std::ios::app);
    f.write(reinterpret_cast<const char*>(frames.data()), static_cast<std::streamsize>(frames.size()));
  }
  Open();
  EXPECT_EQ(*Count(ws_), 48);
  ASSERT_THAT(store_->Flush(), IsOk());
  Open();
  EXPECT_EQ(*Count(ws_), 48);
}

TEST_F(LogStoreTest, MalformedRowsAreRefusedBeforeTheyReachTheWal) {
  Open();
  kql::Table t = Rows(3, "x", clock_.Now());
  t.columns[1].strings.pop_back();  // a column shorter than the table
  EXPECT_THAT(store_->Ingest(ws_, table_, t), StatusIs(StatusCode::kInvalidArgument));
  auto batch = Batch::FromTable(Rows(3, "y", clock_.Now()));
  ASSERT_THAT(batch, IsOk());
  int msg = batch->Find("Msg");
  ASSERT_GE(msg, 0);
  batch->columns[msg].ends[0] = 1'000'000;  // offsets that fall back: a wrapped or corrupt column
  EXPECT_THAT(store_->Ingest(ws_, table_, std::move(*batch)), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(*Count(ws_), 0);
  Open();  // nothing reached the WAL: the replay is clean and empty
  EXPECT_EQ(*Count(ws_), 0);
}

TEST_F(LogStoreTest, UnlinkedWorkspacesUseSharedStorageAndLinkedOnesTheCluster) {
  Open();
  EXPECT_EQ(store_->RouteForTest(ws_, table_), "shared/eastus");
  EXPECT_NE(store_->RouteForTest(Linked(), table_).find("/accounts/acct"), std::string::npos);
  TableInfo aux = table_;
  aux.plan = "Auxiliary";
  EXPECT_EQ(store_->RouteForTest(Linked(), aux), "shared/eastus");
}

TEST_F(LogStoreTest, RowsSurviveAReopenFromTheWalAndFromExtents) {
  Open();
  WorkspaceInfo w = Linked();
  ASSERT_THAT(store_->Ingest(w, table_, Rows(10, "flushed", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  ASSERT_THAT(store_->Ingest(w, table_, Rows(7, "in the wal", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(3, "shared", clock_.Now())), IsOk());
  Open(false);
  // One workspace, linked for 17 rows and not for 3: its queries span both accounts.
  EXPECT_EQ(*Count(w), 20);
  ASSERT_THAT(store_->Flush(), IsOk());
  EXPECT_EQ(store_->Stats().extents, 3u);
  Open(false);
  EXPECT_EQ(*Count(w), 20);
  EXPECT_EQ(store_->Stats().memtable_rows, 0u);
}

TEST_F(LogStoreTest, RevocationRefusesIngestionFailsQueriesAndWipesTheCache) {
  Open();
  WorkspaceInfo w = Linked();
  ASSERT_THAT(store_->Ingest(w, table_, Rows(10, "before", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  ASSERT_THAT(store_->Ingest(w, table_, Rows(4, "wal", clock_.Now())), IsOk());
  EXPECT_GT(CacheFiles(), 0u);
  vault_.access_removed = true;
  clock_.Advance(seconds(10));
  Status s = store_->Ingest(w, table_, Rows(1, "refused", clock_.Now()));
  EXPECT_EQ(s.error_code(), "KeyVaultAccessRevoked");
  EXPECT_NE(s.message().find("c1"), std::string::npos);
  EXPECT_EQ(Count(w).status().error_code(), "KeyVaultAccessRevoked");
  EXPECT_EQ(CacheFiles(), 0u);
  EXPECT_EQ(store_->Stats().memtable_rows, 0u);
  ASSERT_EQ(store_->RevocationEffectSeconds().size(), 2u);  // both of the cluster's accounts
  for (const auto& [account, secs] : store_->RevocationEffectSeconds()) EXPECT_LE(secs, 10.0) << account;
  vault_.access_removed = false;
  clock_.Advance(seconds(10));
  EXPECT_EQ(*Count(w), 14);
  EXPECT_GT(CacheFiles(), 0u);
}

TEST_F(LogStoreTest, AWorkspaceUnlinkedAfterWritingStillFailsQueriesWhileTheClusterKeyIsRevoked) {
  Open();
  WorkspaceInfo linked = Linked();
  ASSERT_THAT(store_->Ingest(linked, table_, Rows(4, "in the cluster", clock_.Now())), IsOk());
  topo_.workspaces = {ws_};  // unlinked
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(2, "shared", clock_.Now())), IsOk());
  EXPECT_EQ(*Count(ws_), 6);
  vault_.access_removed = true;
  clock_.Advance(seconds(10));
  EXPECT_EQ(Count(ws_).status().error_code(), "KeyVaultAccessRevoked");
  Open(false);  // also when the WAL could not be opened since the start
  EXPECT_EQ(Count(ws_).status().error_code(), "KeyVaultAccessRevoked");
  vault_.access_removed = false;
  clock_.Advance(seconds(10));
  EXPECT_EQ(*Count(ws_), 6);
}

TEST_F(LogStoreTest, ADecodedCacheSmallerThanTheDataEvictsAndReloadsExtents) {
  cache_bytes_ = 4096;  // about one small extent
  Open();
  for (int i = 0; i < 4; ++i) {
    ASSERT_THAT(store_->Ingest(ws_, table_, Rows(40, "batch" + std::to_string(i), clock_.Now())), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
  }
  EXPECT_EQ(store_->Stats().extents, 4u);
  EXPECT_EQ(*Count(ws_), 160);
  EXPECT_EQ(*Count(ws_), 160);
}

TEST_F(LogStoreTest, AShortOutageServesFromTheCachedKeyALongOneHoldsIngestion) {
  Open();
  WorkspaceInfo w = Linked();
  ASSERT_THAT(store_->Ingest(w, table_, Rows(10, "before", clock_.Now())), IsOk());
  vault_.outage = true;
  clock_.Advance(minutes(20));
  ASSERT_THAT(store_->Ingest(w, table_, Rows(1, "degraded", clock_.Now())), IsOk());
  EXPECT_EQ(*Count(w), 11);
  clock_.Advance(minutes(20));
  ASSERT_THAT(store_->Ingest(w, table_, Rows(5, "held", clock_.Now())), IsOk());
  EXPECT_EQ(Count(w).status().error_code(), "KeyVaultUnavailable");
  EXPECT_EQ(store_->Stats().held_rows, 5u);
  vault_.outage = false;
  clock_.Advance(seconds(10));
  EXPECT_EQ(*Count(w), 16);
  ASSERT_THAT(store_->Flush(), IsOk());
  EXPECT_EQ(store_->Stats().held_rows, 0u);
  EXPECT_EQ(*Count(w), 16);
}

TEST_F(LogStoreTest, HeldRowsSurviveARestartDuringTheOutage) {
  Open();
  WorkspaceInfo w = Linked();
  vault_.outage = true;
  clock_.Advance(minutes(41));
  ASSERT_THAT(store_->Ingest(w, table_, Rows(5, "held", clock_.Now())), IsOk());
  Open(false);
  vault_.outage = false;
  clock_.Advance(seconds(10));
  EXPECT_EQ(*Count(w), 5);
}

TEST_F(LogStoreTest, RetentionHidesOldRowsAndPurgesTheirExtentsEvenWhileRevoked) {
  Open();
  WorkspaceInfo w = Linked();
  ASSERT_THAT(store_->Ingest(w, table_, Rows(10, "old", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  clock_.Advance(hours(24 * 20));
  ASSERT_THAT(store_->Ingest(w, table_, Rows(3, "new", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  EXPECT_EQ(*Count(w), 13);
  vault_.access_removed = true;
  clock_.Advance(hours(24 * 11));
  ASSERT_THAT(store_->RunRetention(), IsOk());
  EXPECT_EQ(store_->Stats().extents, 1u);
  vault_.access_removed = false;
  clock_.Advance(seconds(10));
  EXPECT_EQ(*Count(w), 3);
}

TEST_F(LogStoreTest, NothingUnderTheDataDirHoldsRowsInClearAndObjectsCarryBothLayers) {
  Open();
  WorkspaceInfo w = Linked();
  ASSERT_THAT(store_->Ingest(w, table_, Rows(50, "MARKER-7f3a9c", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(50, "MARKER-7f3a9c", clock_.Now())), IsOk());
  EXPECT_FALSE(DataDirContains("MARKER-7f3a9c"));
  ASSERT_THAT(store_->Flush(), IsOk());
  ASSERT_THAT(store_->Ingest(w, table_, Rows(5, "MARKER-7f3a9c", clock_.Now())), IsOk());
  EXPECT_FALSE(DataDirContains("MARKER-7f3a9c"));
  size_t outer = 0, inner = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ + "/data/blobs")) {
    if (!e.is_regular_file()) continue;
    std::ifstream f(e.path(), std::ios::binary);
    char magic[4];
    f.read(magic, 4);
    std::string m(magic, 4);
    if (m == "CMKI") ++outer;
    if (m == "CMKX") ++inner;
  }
  EXPECT_EQ(outer, 1u);  // the cluster's extent: double encryption
  EXPECT_EQ(inner, 1u);  // shared storage: one layer
}

}  // namespace
}  // namespace cmk::engine
