// Integrity at rest and flush isolation (the "hardening" issue): extents bound to their
// catalogue entry, WAL records bound to their order, one table's failed flush isolated from
// the others, memtables wiped on revocation. Each test tampers with the files an attacker with
// write access to the data directory could touch, and checks that it is detected.
#include <filesystem>
#include <fstream>

#include "engine/cache_file.h"
#include "engine/log_store_internal.h"
#include "engine/log_store_test_util.h"

namespace cmk::engine {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;
using testing::IsOk;
using testing::StatusIs;

namespace fs = std::filesystem;

// The frames [u32 length][u32 CRC][payload] of a WAL segment.
std::vector<std::vector<uint8_t>> Frames(const std::string& path) {
  std::vector<uint8_t> data = ReadAll(path);
  std::vector<std::vector<uint8_t>> out;
  for (size_t at = 0; at + 8 <= data.size();) {
    uint32_t len = LoadU32(data.data() + at);
    out.emplace_back(data.begin() + static_cast<std::ptrdiff_t>(at),
                     data.begin() + static_cast<std::ptrdiff_t>(at + 8 + len));
    at += 8 + len;
  }
  return out;
}

void WriteFrames(const std::string& path, const std::vector<std::vector<uint8_t>>& frames) {
  std::vector<uint8_t> data;
  for (const auto& f : frames) data.insert(data.end(), f.begin(), f.end());
  WriteAll(path, data);
}

class LogStoreIntegrityTest : public LogStoreTest {
 protected:
  void SetUp() override {
    LogStoreTest::SetUp();
    ws_b_ = ws_;
    ws_b_.resource_id += "b";
    ws_b_.customer_id = "22222222-2222-2222-2222-222222222222";
    ws_b_.name = "w2";
    topo_.workspaces = {ws_, ws_b_};
  }
  void TearDown() override {
    LogStore::SetWipeObserverForTest(nullptr);
    LogStoreTest::TearDown();
  }
  // Rows of `ws` whose Msg starts with `prefix`, or the query's error.
  Result<int64_t> CountPrefix(const WorkspaceInfo& ws, const std::string& prefix) {
    auto cat = store_->CatalogFor({ws}, std::nullopt, std::nullopt);
    int64_t n = 0;
    RETURN_IF_ERROR(cat->Scan(kql::ScanRequest{"App_CL", {}, {}, {}}, [&](std::shared_ptr<const kql::Table> t) {
      int c = t->Find("Msg");
      for (size_t r = 0; c >= 0 && r < t->rows; ++r) n += t->columns[c].Str(r).starts_with(prefix);
      return OkStatus();
    }));
    return n;
  }
  // The blob (relative name) of the one extent of workspace `customer_id`.
  std::string BlobOf(const std::string& customer_id) {
    for (const auto& [id, blob] : store_->ExtentBlobsForTest()) {
      if (blob.find("/" + customer_id + "/") != std::string::npos) return blob;
    }
    ADD_FAILURE() << "no extent of " << customer_id;
    return "";
  }
  std::string ExtentId(const std::string& blob) { return fs::path(blob).stem().string(); }
  std::string CacheFileOf(const std::string& blob) {
    std::string container = blob.substr(0, blob.find('/'));
    return dir_ + "/data/cache/" + container + "/" + ExtentId(blob) + ".cmkc";
  }
  std::string WalDir(const std::string& account) {
    auto h = crypto::Sha256(AsBytes(ToLower(account)));
    return dir_ + "/data/wal/acct-" + HexEncode(std::span<const uint8_t>(h.data(), 12));
  }
  std::string NewestSegment(const std::string& account) {
    std::string newest;
    for (const auto& e : fs::directory_iterator(WalDir(account))) newest = std::max(newest, e.path().string());
    return newest;
  }
  // Workspaces A (ws_) and B (ws_b_) each with one flushed extent of `rows` rows.
  void TwoFlushedExtents(const WorkspaceInfo& a, const WorkspaceInfo& b) {
    ASSERT_THAT(store_->Ingest(a, table_, Rows(7, "alpha", clock_.Now())), IsOk());
    ASSERT_THAT(store_->Ingest(b, table_, Rows(5, "beta", clock_.Now())), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
    ASSERT_EQ(store_->Stats().extents, 2u);
  }
  // Copies A's extent object over B's blob and drops B's hot-cache copy; reopens the store (no
  // decoded extent left in memory).
  void SwapBlobs(const WorkspaceInfo& a, const WorkspaceInfo& b) {
    std::string blob_a = BlobOf(a.customer_id), blob_b = BlobOf(b.customer_id);
    fs::copy_file(dir_ + "/data/blobs/" + blob_a, dir_ + "/data/blobs/" + blob_b, fs::copy_options::overwrite_existing);
    fs::remove(CacheFileOf(blob_b));
    Open(false);
  }
  void ExpectIntegrityFailure(const WorkspaceInfo& b) {
    auto got = CountPrefix(b, "alpha");
    ASSERT_THAT(got, StatusIs(StatusCode::kDataLoss));
    EXPECT_NE(got.status().message().find("failed its integrity check"), std::string::npos) << got.status().message();
    EXPECT_NE(got.status().message().find(ExtentId(BlobOf(b.customer_id))), std::string::npos)
        << got.status().message();
    EXPECT_GE(store_->Stats().integrity_failures, 1u);
  }

  WorkspaceInfo ws_b_;
};

TEST_F(LogStoreIntegrityTest, AnExtentCopiedOverAnotherWorkspacesBlobFailsTheQueryInsteadOfServingItsRows) {
  topo_.double_encryption = false;
  Open(false);
  TwoFlushedExtents(ws_, ws_b_);
  EXPECT_EQ(*CountPrefix(ws_b_, "beta"), 5);
  SwapBlobs(ws_, ws_b_);
  ExpectIntegrityFailure(ws_b_);
  EXPECT_EQ(*CountPrefix(ws_, "alpha"), 7);  // A's own extent is untouched
  Open(false);                               // nor cached by the failed read
  ExpectIntegrityFailure(ws_b_);
}

TEST_F(LogStoreIntegrityTest, WithDoubleEncryptionACopiedExtentFailsTooAndTheClusterKeepsServingTheOthers) {
  Open();
  WorkspaceInfo a = ws_, b = ws_b_;
  a.cluster_id = b.cluster_id = kCluster;
  topo_.workspaces = {a, b};
  TwoFlushedExtents(a, b);
  SwapBlobs(a, b);
  ExpectIntegrityFailure(b);
  EXPECT_EQ(*CountPrefix(a, "alpha"), 7);
}

TEST_F(LogStoreIntegrityTest, AHotCacheCopyOfAnotherExtentIsNeverServed) {
  seal_cache_with_aek_ = false;  // cache key from the region's MMK: the test can forge copies
  Open(false);
  TwoFlushedExtents(ws_, ws_b_);
  std::string blob_a = BlobOf(ws_.customer_id), blob_b = BlobOf(ws_b_.customer_id);
  std::string cache_a = CacheFileOf(blob_a), cache_b = CacheFileOf(blob_b);
  ASSERT_TRUE(fs::exists(cache_a));
  ASSERT_TRUE(fs::exists(cache_b));
  // A's copy as it is over B's: it doesn't authenticate as B's (AAD = extent id); the blob,
  // which does, is read instead, and the copy is replaced.
  fs::copy_file(cache_a, cache_b, fs::copy_options::overwrite_existing);
  Open(false);
  EXPECT_EQ(*CountPrefix(ws_b_, "beta"), 5);
  EXPECT_EQ(*CountPrefix(ws_b_, "alpha"), 0);
  EXPECT_EQ(store_->Stats().cache_rejects, 1u);
  EXPECT_NE(ReadAll(cache_a), ReadAll(cache_b));
  // Someone who holds the cache key re-seals A's object as B's copy: the copy opens, and the
  // object in it is refused for not being B's extent. (The shared account has no outer layer:
  // A's blob is its data-layer object.) As a version-1 copy, read whole:
  SecretBytes cache_key = storage::DeriveSubkey(keys_->Mmk("eastus"), "cmklogs/cache/v1", AsBytes("shared/eastus"));
  std::vector<uint8_t> object = ReadAll(dir_ + "/data/blobs/" + blob_a);
  auto forged = crypto::AesGcmSeal(cache_key, object, AsBytes(ExtentId(blob_b)), random_);
  ASSERT_THAT(forged, IsOk());
  WriteAll(cache_b, *forged);
  Open(false);
  ExpectIntegrityFailure(ws_b_);
  // And as a version-2 copy, read by range.
  storage::ExtentId id_b;
  ASSERT_TRUE(IdFromHex(ExtentId(blob_b), id_b));
  auto forged_v2 = SealCacheFile(cache_key, id_b, object, random_);
  ASSERT_THAT(forged_v2, IsOk());
  WriteAll(cache_b, *forged_v2);
  Open(false);
  ExpectIntegrityFailure(ws_b_);
  EXPECT_EQ(store_->Stats().cache_rejects, 0u);  // it authenticated: not a damaged copy
}

// --- WAL order -----------------------------------------------------------------------------

class WalIntegrityTest : public LogStoreIntegrityTest {
 protected:
  // Four records of A in the shared account's WAL (rows 1, 2, 3, 4 of "r1".."r4"), and the
  // store closed.
  std::string FourRecords() {
    Open(false);
    for (int i = 1; i <= 4; ++i) {
      EXPECT_THAT(store_->Ingest(ws_, table_, Rows(i, "r" + std::to_string(i), clock_.Now())), IsOk());
    }
    store_.reset();
    std::string seg = NewestSegment("shared/eastus");
    EXPECT_EQ(Frames(seg).size(), 4u);
    return seg;
  }
  void ExpectRefused(const std::string& why) {
    Open();
    auto got = Count(ws_);
    ASSERT_THAT(got, StatusIs(StatusCode::kDataLoss));
    EXPECT_NE(got.status().message().find("WAL of account 'shared/eastus' failed its integrity check"), std::string::npos)
        << got.status().message();
    EXPECT_NE(got.status().message().find(why), std::string::npos) << got.status().message();
    EXPECT_EQ(store_->Stats().wal_integrity_failures, 1u);
    EXPECT_THAT(store_->Ingest(ws_, table_, Rows(1, "more", clock_.Now())), StatusIs(StatusCode::kDataLoss));
    // Another account (another workspace's, in the cluster) is not concerned.
    WorkspaceInfo linked = ws_b_;
    linked.cluster_id = kCluster;
    topo_.workspaces = {ws_, linked};
    int64_t before = *Count(linked);
    ASSERT_THAT(store_->Ingest(linked, table_, Rows(2, "cluster", clock_.Now())), IsOk());
    EXPECT_EQ(*Count(linked), before + 2);
  }
};

TEST_F(WalIntegrityTest, ADeletedRecordIsFoundAtReplay) {
  std::string seg = FourRecords();
  auto frames = Frames(seg);
  frames.erase(frames.begin() + 1);
  WriteFrames(seg, frames);
  ExpectRefused("record 2 of segment 1 is numbered 3");
}

TEST_F(WalIntegrityTest, ReorderedRecordsAreFoundAtReplay) {
  std::string seg = FourRecords();
  auto frames = Frames(seg);
  std::swap(frames[1], frames[2]);
  WriteFrames(seg, frames);
  ExpectRefused("record 2 of segment 1 is numbered 3");
}

TEST_F(WalIntegrityTest, AReplayedRecordIsFoundAtReplay) {
  std::string seg = FourRecords();
  auto frames = Frames(seg);
  frames.push_back(frames[1]);  // a valid frame, CRC and all, appended again
  WriteFrames(seg, frames);
  ExpectRefused("record 5 of segment 1 is numbered 2");
}

TEST_F(WalIntegrityTest, ARecordMovedToAnotherAccountsWalDoesNotOpen) {
  Open();
  WorkspaceInfo linked = Linked();
  ASSERT_THAT(store_->Ingest(linked, table_, Rows(3, "cluster", clock_.Now())), IsOk());
  std::string account = store_->RouteForTest(linked, table_);
  topo_.workspaces = {ws_, ws_b_};
  store_.reset();
  std::string seg = FourRecords();
  auto frames = Frames(seg);
  frames[0] = Frames(NewestSegment(account))[0];  // same position, another account's record
  WriteFrames(seg, frames);
  ExpectRefused("record 1 of segment 1 does not authenticate there");
}

TEST_F(WalIntegrityTest, ATornTailStillRecoversAsACrash) {
  std::string seg = FourRecords();
  fs::resize_file(seg, fs::file_size(seg) - 3);
  Open(false);
  EXPECT_EQ(*Count(ws_), 1 + 2 + 3);
  EXPECT_EQ(store_->Stats().wal_integrity_failures, 0u);
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(4, "again", clock_.Now())), IsOk());  // numbered 4 now
  Open(false);
  EXPECT_EQ(*Count(ws_), 10);
}

TEST_F(WalIntegrityTest, ASegmentCutAtARecordBoundaryBeforeTheNewestIsFound) {
  // While the customer key is Unavailable a flush closes the segment but can't store it: two
  // segments stay in the WAL. Cutting the first one's closing record is found even without
  // the key (the record order is in clear).
  Open();
  WorkspaceInfo linked = Linked();
  std::string account = store_->RouteForTest(linked, table_);
  vault_.outage = true;
  clock_.Advance(minutes(41));
  ASSERT_THAT(store_->Ingest(linked, table_, Rows(5, "held", clock_.Now())), IsOk());
  EXPECT_FALSE(store_->Flush().ok());
  ASSERT_THAT(store_->Ingest(linked, table_, Rows(2, "held again", clock_.Now())), IsOk());
  store_.reset();
  std::vector<std::string> segs;
  for (const auto& e : fs::directory_iterator(WalDir(account))) segs.push_back(e.path().string());
  std::sort(segs.begin(), segs.end());
  ASSERT_EQ(segs.size(), 2u);
  auto frames = Frames(segs[0]);
  ASSERT_EQ(frames.size(), 2u);  // the rows, the closing record
  frames.pop_back();
  WriteFrames(segs[0], frames);
  Open(false);
  vault_.outage = false;
  clock_.Advance(seconds(10));
  auto got = Count(linked);
  ASSERT_THAT(got, StatusIs(StatusCode::kDataLoss));
  EXPECT_NE(got.status().message().find("ends without its closing record"), std::string::npos) << got.status().message();
}

// --- flush isolation -----------------------------------------------------------------------

TEST_F(LogStoreIntegrityTest, ATableThatCantBeFlushedHoldsBackNoOtherAndFlushesOnceItCan) {
  Open(false);
  store_->FailBlobPutsForTest("/" + ws_.customer_id + "/");
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(7, "alpha", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Ingest(ws_b_, table_, Rows(5, "beta", clock_.Now())), IsOk());
  Status s = store_->Flush();
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("could not be flushed"), std::string::npos) << s.message();
  StoreStats st = store_->Stats();
  EXPECT_EQ(st.extents, 1u);  // B's
  EXPECT_EQ(st.flush_failures, 1u);
  EXPECT_EQ(st.memtable_rows, 7u);
  EXPECT_EQ(*Count(ws_), 7);
  EXPECT_EQ(*Count(ws_b_), 5);
  // Only the newest segment is left (the flushed one was dropped), and after a restart A's rows
  // are there once (carried), B's once (in the extent).
  size_t segments = 0;
  for (const auto& e : fs::directory_iterator(WalDir("shared/eastus"))) segments += e.is_regular_file();
  EXPECT_EQ(segments, 1u);
  Open(false);
  EXPECT_EQ(*Count(ws_), 7);
  EXPECT_EQ(*Count(ws_b_), 5);
  store_->FailBlobPutsForTest("/" + ws_.customer_id + "/");
  // B keeps flushing while A fails again.
  ASSERT_THAT(store_->Ingest(ws_b_, table_, Rows(3, "beta", clock_.Now())), IsOk());
  EXPECT_FALSE(store_->Flush().ok());
  EXPECT_EQ(store_->Stats().extents, 2u);
  EXPECT_EQ(store_->Stats().flush_failures, 1u);  // counted per store since its start
  // Within the backoff nothing is tried; once the cause is gone and the retry is due, it flushes.
  store_->FailBlobPutsForTest("");
  ASSERT_THAT(store_->Flush(), IsOk());
  EXPECT_EQ(store_->Stats().extents, 2u);
  clock_.Advance(seconds(31));
  ASSERT_THAT(store_->Flush(), IsOk());
  EXPECT_EQ(store_->Stats().extents, 3u);
  EXPECT_EQ(store_->Stats().memtable_rows, 0u);
  Open(false);
  EXPECT_EQ(*Count(ws_), 7);
  EXPECT_EQ(*Count(ws_b_), 8);
}

TEST_F(LogStoreIntegrityTest, TableNamesBecomeSafeBlobNamesAndValidOnesKeepTheirPath) {
  Open(false);
  TableInfo evil = table_;
  evil.name = "evil+x/../_CL";
  topo_.tables = {table_, evil};
  ASSERT_THAT(store_->Ingest(ws_, evil, Rows(3, "evil", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Ingest(ws_b_, table_, Rows(2, "fine", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  std::vector<std::string> blobs;
  for (const auto& [id, blob] : store_->ExtentBlobsForTest()) blobs.push_back(blob);
  ASSERT_EQ(blobs.size(), 2u);
  bool encoded = false, plain = false;
  for (const auto& b : blobs) {
    encoded = encoded || b.find("/" + ws_.customer_id + "/evil%2Bx%2F..%2F_CL/") != std::string::npos;
    plain = plain || b.find("/" + ws_b_.customer_id + "/App_CL/") != std::string::npos;
  }
  EXPECT_TRUE(encoded);
  EXPECT_TRUE(plain);
  EXPECT_EQ(BlobSegment("."), "%2E");
  EXPECT_EQ(BlobSegment(".."), "%2E%2E");
  EXPECT_EQ(BlobSegment(""), "%");
  EXPECT_EQ(BlobSegment("a%b"), "a%25b");
  EXPECT_EQ(BlobSegment("Heartbeat"), "Heartbeat");
}

// --- wiping --------------------------------------------------------------------------------

TEST_F(LogStoreIntegrityTest, RevocationWipesTheMemtablesBuffersBeforeReleasingThem) {
  Open();
  WorkspaceInfo linked = Linked();
  size_t wiped = 0, nonzero = 0;
  LogStore::SetWipeObserverForTest([&](const Batch& b) {
    ++wiped;
    for (const auto& c : b.columns) {
      for (char ch : c.bytes) nonzero += ch != 0;
      for (int64_t v : c.ints) nonzero += v != 0;
    }
  });
  ASSERT_THAT(store_->Ingest(linked, table_, Rows(20, "SECRET-ROW", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Ingest(linked, table_, Rows(5, "SECRET-ROW", clock_.Now())), IsOk());
  EXPECT_EQ(*Count(linked), 25);  // converted for the query too
  EXPECT_EQ(wiped, 0u);
  vault_.access_removed = true;
  clock_.Advance(seconds(10));
  EXPECT_EQ(wiped, 2u);
  EXPECT_EQ(nonzero, 0u);
  vault_.access_removed = false;
  clock_.Advance(seconds(10));
  EXPECT_EQ(*Count(linked), 25);  // replayed from the WAL
}

}  // namespace
}  // namespace cmk::engine
