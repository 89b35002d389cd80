#include "engine/log_store_test_util.h"

namespace cmk::engine {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;
using testing::IsOk;
using testing::StatusIs;

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
      std::string_view m = t->columns[t->Find("Msg")].Str(r);
      ++prefixes[std::string(m.substr(0, m.find(' ')))];
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
  // dictionaries in older builds, stored (codec 0) without dictionaries in the later ones; then
  // the batch layout, still unnumbered under one key per account (first WAL format). Today's
  // are numbered, under a key per segment. A WAL left by an older server must replay, and the
  // records written after it join them.
  Open();
  const std::string account = "shared/eastus";
  ASSERT_EQ(store_->RouteForTest(ws_, table_), account);  // creates the account
  store_.reset();
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
  auto append_old = [&](std::span<const uint8_t> plain) {
    auto body = crypto::AesGcmSeal(wal_key, plain, AsBytes(aad), random_);
    ASSERT_THAT(body, IsOk());
    std::vector<uint8_t> payload = {1};  // sealed under the account's WAL key
    PutString(payload, key);
    payload.insert(payload.end(), body->begin(), body->end());
    PutU32(frames, static_cast<uint32_t>(payload.size()));
    PutU32(frames, Crc32c(payload));
    frames.insert(frames.end(), payload.begin(), payload.end());
  };
  auto append_table = [&](const kql::Table& t, Codec codec, bool dictionaries) {
    std::vector<uint8_t> encoded;
    EncodeTable(t, encoded, dictionaries);
    std::vector<uint8_t> packed = Compress(codec, encoded);
    ASSERT_EQ(packed[0], static_cast<uint8_t>(codec));
    append_old(packed);
  };
  kql::Table old = Rows(40, "old", clock_.Now());  // 40 rows, repeated strings: dictionary-encoded
  old.columns[1] = kql::Column(kql::Type::kString);
  for (int i = 0; i < 40; ++i) old.columns[1].AppendString(i % 2 ? "old a" : "old b");
  append_table(old, Codec::kLz4, /*dictionaries=*/true);
  append_table(Rows(7, "stored", clock_.Now()), Codec::kNone, /*dictionaries=*/false);
  auto batch = Batch::FromTable(Rows(5, "batch", clock_.Now()));
  ASSERT_THAT(batch, IsOk());
  std::vector<uint8_t> header, layout;
  std::vector<std::span<const uint8_t>> parts;
  BatchLayout(*batch, header, parts);
  for (auto p : parts) layout.insert(layout.end(), p.begin(), p.end());
  append_old(layout);
  auto h = crypto::Sha256(AsBytes(account));
  std::string wal_dir = dir_ + "/data/wal/acct-" + HexEncode(std::span<const uint8_t>(h.data(), 12));
  std::filesystem::create_directories(wal_dir);
  {
    std::ofstream f(wal_dir + "/00000000000000000001.wal", std::ios::binary | std::ios::app);
    f.write(reinterpret_cast<const char*>(frames.data()), static_cast<std::streamsize>(frames.size()));
  }
  Open();
  EXPECT_EQ(*Count(ws_), 52);
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(1, "new", clock_.Now())), IsOk());  // numbered, same segment
  store_.reset();
  Open();
  EXPECT_EQ(*Count(ws_), 53);
  ASSERT_THAT(store_->Flush(), IsOk());
  Open();
  EXPECT_EQ(*Count(ws_), 53);
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

// A cluster the running store meets first through ingestion, and restarts around it.
class LogStoreRestartTest : public LogStoreTest {
 protected:
  // The store opened first, then the cluster configured (as a running server meets a new
  // cluster): the linked workspace.
  WorkspaceInfo OpenThenConfigureTheCluster() {
    Open(/*with_cluster=*/false);
    EXPECT_THAT(
        clusters_->ConfigureCluster(kCluster, "mi", keyvault::KeyRef{"https://kv.vault.localhost:8443", "kek", ""}),
        IsOk());
    return Linked();
  }
  // Five rows ingested while the vault is out past the outage allowance (held), a restart, the
  // vault back: the rows `w` counts then (-1 when it can't), its WAL checked.
  // With `flush_during_outage`, a flush then closes the WAL's segment under the held key (a
  // closing record, which names no workspace) and stores nothing.
  int64_t HoldFiveRowsThroughARestart(const WorkspaceInfo& w, bool flush_during_outage = false) {
    vault_.outage = true;
    clock_.Advance(minutes(41));
    EXPECT_THAT(store_->Ingest(w, table_, Rows(5, "held", clock_.Now())), IsOk());
    EXPECT_EQ(store_->Stats().held_rows, 5u);
    if (flush_during_outage) {
      uint64_t extents = store_->Stats().extents;
      EXPECT_FALSE(store_->Flush().ok());
      EXPECT_EQ(store_->Stats().extents, extents);
    }
    Open(false);
    vault_.outage = false;
    clock_.Advance(seconds(10));
    auto n = Count(w);
    EXPECT_THAT(n, IsOk());
    EXPECT_EQ(store_->Stats().wal_integrity_failures, 0u);
    return n.ok() ? *n : -1;
  }
};

// A cluster configured while the store runs: its accounts are first met by ingestion, not by
// recovery, yet they must derive their service keys (rows held during an outage are sealed
// under the MMK; so are the hot-cache copies) as recovery will after a restart, or neither
// opens again.
TEST_F(LogStoreRestartTest, AClusterConfiguredWhileRunningKeepsItsHeldRowsAndCacheAcrossARestart) {
  WorkspaceInfo w = OpenThenConfigureTheCluster();
  ASSERT_THAT(store_->Ingest(w, table_, Rows(3, "flushed", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());  // an extent and its hot-cache copy
  EXPECT_EQ(HoldFiveRowsThroughARestart(w), 8);
  EXPECT_EQ(store_->Stats().cache_rejects, 0u);
}

// What earlier versions held under the workspace's region (above) is still read after the
// upgrade's restart: nothing they acknowledged is lost.
TEST_F(LogStoreRestartTest, RowsHeldUnderTheWorkspacesRegionByEarlierVersionsAreReplayed) {
  WorkspaceInfo w = OpenThenConfigureTheCluster();
  store_->MeetAccountAsBeforeForTest(w, table_);
  ASSERT_THAT(store_->Ingest(w, table_, Rows(2, "sealed", clock_.Now())), IsOk());
  EXPECT_EQ(HoldFiveRowsThroughARestart(w, /*flush_during_outage=*/true), 7);
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
