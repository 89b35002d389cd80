// The hot cache in version 2 (engine/cache_file.h): flushes and blob reads write the data-layer
// object in segments; a query reads only the segments of the blocks it needs; version-1 copies
// are still read (and rewritten); a copy damaged where a block lies is found when that block is
// read, never served, and the query is answered from the blob.
#include <filesystem>
#include <fstream>
#include <iostream>

#include "engine/cache_file.h"
#include "engine/log_store_internal.h"
#include "engine/log_store_test_util.h"
#include "storage/service_keys.h"

namespace cmk::engine {
namespace {

using testing::IsOk;
namespace fs = std::filesystem;

class LogStoreCacheTest : public LogStoreTest {
 protected:
  void SetUp() override {
    LogStoreTest::SetUp();
    seal_cache_with_aek_ = false;  // cache keys from the region's MMK: the test can open copies
    file_system_ = &counting_;
  }
  // `n` rows whose Msg is 200 hex digits of random bytes (LZ4 barely shrinks them): the Msg
  // block is most of the extent, as in the measured logs.
  kql::Table BigRows(int n) {
    kql::Table t = Rows(n, "", clock_.Now());
    kql::Column msg(kql::Type::kString);
    for (int i = 0; i < n; ++i) {
      uint8_t b[100];
      random_.Fill(b);
      msg.AppendString(HexEncode(b));
    }
    t.columns[1] = std::move(msg);
    return t;
  }
  // One extent of `rows` big rows of `w`, flushed; the store reopened (nothing decoded in memory).
  void OneExtent(const WorkspaceInfo& w, int rows) {
    ASSERT_THAT(store_->Ingest(w, table_, BigRows(rows)), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
    ASSERT_EQ(store_->Stats().extents, 1u);
    blob_ = store_->ExtentBlobsForTest().begin()->second;
    id_hex_ = fs::path(blob_).stem().string();
    ASSERT_TRUE(IdFromHex(id_hex_, id_));
    cache_ = dir_ + "/data/cache/" + blob_.substr(0, blob_.find('/')) + "/" + id_hex_ + ".cmkc";
    ASSERT_TRUE(fs::exists(cache_));
    Open(false);  // the cluster stays configured in the metadata
    counting_.Reset();
  }
  // The cache key of the account whose copy `cache_` is (by trying the candidates: the shared
  // account, and the cluster's accounts under the MMK of their region as the store names it —
  // "" for accounts it loads from the catalogue).
  SecretBytes CacheKeyOfCopy() {
    std::vector<std::pair<std::string, std::string>> accounts = {{"eastus", "shared/eastus"}};
    for (const auto& s : clusters_->List()) {
      for (const char* region : {"eastus", ""})
        accounts.emplace_back(region, ToLower(s.cluster_id + "/accounts/" + s.account));
    }
    for (const auto& [region, account] : accounts) {
      SecretBytes key =
          storage::DeriveSubkey(keys_->Mmk(region), "cmklogs/cache/v1", AsBytes(account));
      if (Decrypted(key).ok()) return key;
    }
    ADD_FAILURE() << "no account's cache key opens " << cache_;
    return SecretBytes();
  }
  // The object in the version-2 copy, under `key`.
  Result<std::vector<uint8_t>> Decrypted(const SecretBytes& key) {
    env::PosixFileSystem posix;
    ASSIGN_OR_RETURN(auto f, posix.NewRandomAccessFile(cache_));
    ASSIGN_OR_RETURN(auto s, CacheFileSource::Open(std::move(f), key.Clone(), id_));
    return s->Read(0, static_cast<size_t>(s->size()));
  }
  Result<size_t> ScanRows(const WorkspaceInfo& w, std::vector<std::string> columns,
                          std::string* first_msg = nullptr) {
    auto cat = store_->CatalogFor({w}, std::nullopt, std::nullopt);
    size_t rows = 0;
    RETURN_IF_ERROR(cat->Scan(
        kql::ScanRequest{"App_CL", std::move(columns), std::nullopt, std::nullopt},
        [&](std::shared_ptr<const kql::Table> t) {
          int m = t->Find("Msg");
          if (first_msg != nullptr && first_msg->empty() && m >= 0 && t->rows > 0) {
            *first_msg = t->columns[static_cast<size_t>(m)].Str(0);
          }
          int n = t->Find("N");
          for (size_t r = 0; n >= 0 && r < t->rows; ++r) {
            EXPECT_EQ(t->columns[static_cast<size_t>(n)].Int(r), static_cast<int64_t>(rows + r));
          }
          rows += t->rows;
          return OkStatus();
        }));
    return rows;
  }
  // Flips one byte of the copy at `at` (file offset).
  void Damage(uint64_t at) {
    std::vector<uint8_t> file = ReadAll(cache_);
    ASSERT_LT(at, file.size());
    file[at] ^= 0x20;
    WriteAll(cache_, file);
  }

  CountingFileSystem counting_{&fs_};
  std::string blob_, id_hex_, cache_;
  storage::ExtentId id_{};
};

TEST_F(LogStoreCacheTest, AFlushCachesTheDataLayerObjectInVersion2AndTheBlobKeepsBothLayers) {
  Open();
  WorkspaceInfo w = Linked();  // double encryption
  OneExtent(w, 2000);
  std::vector<uint8_t> file = ReadAll(cache_);
  EXPECT_TRUE(IsCacheFileV2(file));
  std::vector<uint8_t> stored = ReadAll(dir_ + "/data/blobs/" + blob_);
  EXPECT_EQ(std::string(stored.begin(), stored.begin() + 4), "CMKI");
  auto object = Decrypted(CacheKeyOfCopy());
  ASSERT_THAT(object, IsOk());
  EXPECT_EQ(std::string(object->begin(), object->begin() + 4), "CMKX");  // the data layer
  EXPECT_EQ(file.size(), kCacheHeaderSize + object->size() +
                             16 * ((object->size() + kCacheSegmentSize - 1) / kCacheSegmentSize));
  // Queried from the copy alone: the blob isn't read.
  EXPECT_EQ(*ScanRows(w, {}), 2000u);
  EXPECT_EQ(counting_.counts.other.load(), 0u);
  EXPECT_EQ(store_->Stats().cache_rejects, 0u);
}

// design.md: the hot cache keeps extents ingested in the last 14 days. An extent of rows 14.5
// days old is hot when flushed; it leaves the cache 14 days after its flush (the blob answers
// then), and a reopened store knows each extent's flush time from the catalog.
TEST_F(LogStoreCacheTest, AnExtentIsHotForFourteenDaysFromItsFlushWhateverItsRowsTimes) {
  Open(false);
  auto copy_of = [&](const std::string& blob) {
    return dir_ + "/data/cache/" + blob.substr(0, blob.find('/')) + "/" + fs::path(blob).stem().string() + ".cmkc";
  };
  auto copies = [&] {
    size_t n = 0;
    for (const auto& [id, blob] : store_->ExtentBlobsForTest()) n += fs::exists(copy_of(blob)) ? 1 : 0;
    return n;
  };
  auto count = [&]() -> size_t {
    auto rows = ScanRows(ws_, {"Msg"});
    EXPECT_THAT(rows, IsOk());
    return rows.ok() ? *rows : 0;
  };
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(10, "old", clock_.Now() - std::chrono::hours(348))), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  EXPECT_EQ(copies(), 1u);  // hot: ingested now
  ASSERT_THAT(store_->RunRetention(), IsOk());
  EXPECT_EQ(copies(), 1u);
  clock_.Advance(std::chrono::hours(24 * 8));
  // A second extent, of rows as old, flushed 8 days later.
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(5, "older", clock_.Now() - std::chrono::hours(348))), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  EXPECT_EQ(copies(), 2u);
  clock_.Advance(std::chrono::hours(147));  // the first flushed 14 days 3 hours ago, the second 6 days 3 hours
  ASSERT_THAT(store_->RunRetention(), IsOk());
  EXPECT_EQ(copies(), 1u);
  ASSERT_THAT(store_->RunRetention(), IsOk());  // (once removed, left alone)
  EXPECT_EQ(copies(), 1u);
  EXPECT_EQ(count(), 15u);  // the cold extent from its blob
  EXPECT_EQ(copies(), 2u);  // and, queried now, cached again
  // Reopened: the flush times come from the catalog (the rows' times would make both cold);
  // the query time does not (kept in memory): the first extent is cold until queried again.
  Open(false);
  ASSERT_THAT(store_->RunRetention(), IsOk());
  EXPECT_EQ(copies(), 1u);
  EXPECT_EQ(count(), 15u);
  EXPECT_EQ(copies(), 2u);
  clock_.Advance(std::chrono::hours(24 * 8));  // (the first extent's rows pass the 30 days' retention)
  ASSERT_THAT(store_->RunRetention(), IsOk());
  EXPECT_EQ(copies(), 0u);  // the first purged, the second out of its window, not queried in it
  EXPECT_EQ(count(), 5u);
}

TEST_F(LogStoreCacheTest, AColdExtentAQueryScansIsHotForFourteenDaysFromThatQuery) {
  Open(false);
  auto copies = [&] {
    size_t n = 0;
    for (const auto& [id, blob] : store_->ExtentBlobsForTest()) {
      n += fs::exists(dir_ + "/data/cache/" + blob.substr(0, blob.find('/')) + "/" + fs::path(blob).stem().string() + ".cmkc");
    }
    return n;
  };
  ASSERT_THAT(store_->Ingest(ws_, table_, Rows(10, "m", clock_.Now())), IsOk());
  ASSERT_THAT(store_->Flush(), IsOk());
  clock_.Advance(std::chrono::hours(24 * 15));
  ASSERT_THAT(store_->RunRetention(), IsOk());
  ASSERT_EQ(copies(), 0u);  // ingested 15 days ago
  auto rows = ScanRows(ws_, {"Msg"});
  ASSERT_THAT(rows, IsOk());
  EXPECT_EQ(*rows, 10u);
  EXPECT_EQ(copies(), 1u);  // read from its blob, and cached
  clock_.Advance(std::chrono::hours(24 * 13));
  ASSERT_THAT(store_->RunRetention(), IsOk());
  EXPECT_EQ(copies(), 1u);  // queried 13 days ago
  clock_.Advance(std::chrono::hours(36));  // (its rows stay within the 30 days' retention)
  ASSERT_THAT(store_->RunRetention(), IsOk());
  EXPECT_EQ(copies(), 0u);  // 14 days and a half, no query scanned it since
  EXPECT_EQ(store_->ExtentBlobsForTest().size(), 1u);
}

TEST_F(LogStoreCacheTest, WithoutAnOuterLayerTheCopyHoldsTheBlobsObject) {
  Open(false);
  OneExtent(ws_, 500);
  auto object = Decrypted(CacheKeyOfCopy());
  ASSERT_THAT(object, IsOk());
  EXPECT_EQ(*object, ReadAll(dir_ + "/data/blobs/" + blob_));
}

TEST_F(LogStoreCacheTest, AOneColumnQueryReadsASmallFractionOfTheCachedExtent) {
  Open();
  WorkspaceInfo w = Linked();
  OneExtent(w, 20000);  // ~4 MB, nearly all of it Msg
  uint64_t size = fs::file_size(cache_);
  ASSERT_THAT(ScanRows(w, {"N"}), IsOk());
  EXPECT_EQ(*ScanRows(w, {"N"}), 20000u);  // (the second from the decoded-column cache)
  uint64_t read = counting_.counts.cache.load();
  double fraction = static_cast<double>(read) / static_cast<double>(size);
  std::cout << "one-column query of a cached extent: read " << read << " of " << size
            << " bytes of its hot-cache file (" << fraction * 100 << "%)\n";
  RecordProperty("cache_bytes_read", std::to_string(read));
  RecordProperty("cache_file_bytes", std::to_string(size));
  EXPECT_LT(fraction, 0.10);
  EXPECT_EQ(counting_.counts.cache_whole_reads.load(), 0u);
  EXPECT_EQ(counting_.counts.other.load(), 0u);  // nor the blob
  // The Msg column then reads the rest, from the same copy.
  std::string msg;
  EXPECT_EQ(*ScanRows(w, {"Msg"}, &msg), 20000u);
  EXPECT_EQ(msg.size(), 200u);
  EXPECT_GT(counting_.counts.cache.load(), size * 9 / 10);
  EXPECT_EQ(counting_.counts.other.load(), 0u);
  EXPECT_EQ(store_->Stats().cache_rejects, 0u);
}

TEST_F(LogStoreCacheTest, AVersion1CopyIsStillReadAndRewrittenAsVersion2) {
  for (bool double_encryption : {false, true}) {
    SCOPED_TRACE(double_encryption);
    TearDown();
    SetUp();
    WorkspaceInfo w = ws_;
    if (double_encryption) {
      Open();
      w = Linked();
    } else {
      Open(false);
    }
    OneExtent(w, 300);
    SecretBytes key = CacheKeyOfCopy();
    // What version 1 held: the stored object (both layers with double encryption), AAD = the
    // extent id in hex.
    std::vector<uint8_t> stored = ReadAll(dir_ + "/data/blobs/" + blob_);
    auto v1 = crypto::AesGcmSeal(key, stored, AsBytes(id_hex_), random_);
    ASSERT_THAT(v1, IsOk());
    WriteAll(cache_, *v1);
    ASSERT_FALSE(IsCacheFileV2(*v1));
    Open(false);
    counting_.Reset();
    EXPECT_EQ(*ScanRows(w, {}), 300u);
    EXPECT_EQ(counting_.counts.cache_whole_reads.load(), 1u);  // the version-1 copy, read whole
    EXPECT_EQ(counting_.counts.other.load(), 0u);              // not the blob
    EXPECT_EQ(store_->Stats().cache_rejects, 0u);
    EXPECT_TRUE(IsCacheFileV2(ReadAll(cache_)));  // rewritten
    auto object = Decrypted(key);
    ASSERT_THAT(object, IsOk());
    EXPECT_EQ(std::string(object->begin(), object->begin() + 4), "CMKX");
    // Read from version 2 from now on.
    Open(false);
    counting_.Reset();
    EXPECT_EQ(*ScanRows(w, {}), 300u);
    EXPECT_EQ(counting_.counts.cache_whole_reads.load(), 0u);
    EXPECT_EQ(counting_.counts.other.load(), 0u);
  }
}

TEST_F(LogStoreCacheTest, ACopyDamagedInABlocksSegmentIsFoundWhenTheBlockIsReadAndTheBlobAnswers) {
  for (bool double_encryption : {false, true}) {
    SCOPED_TRACE(double_encryption);
    TearDown();
    SetUp();
    WorkspaceInfo w = ws_;
    if (double_encryption) {
      Open();
      w = Linked();
    } else {
      Open(false);
    }
    OneExtent(w, 20000);
    // A byte in the middle of the file: inside the Msg block, far from the header and footer.
    uint64_t size = fs::file_size(cache_);
    Damage(size / 2);
    // The copy opens (header and footer authenticate), and N is read from it: nothing found yet.
    EXPECT_EQ(*ScanRows(w, {"N"}), 20000u);
    EXPECT_EQ(store_->Stats().cache_rejects, 0u);
    EXPECT_EQ(counting_.counts.other.load(), 0u);
    // Msg's block lies in the damaged segment: the copy is rejected and dropped, the blob answers.
    std::string msg;
    auto rows = ScanRows(w, {"Msg", "N"}, &msg);
    ASSERT_THAT(rows, IsOk());
    EXPECT_EQ(*rows, 20000u);
    EXPECT_EQ(msg.size(), 200u);
    EXPECT_EQ(store_->Stats().cache_rejects, 1u);
    EXPECT_EQ(store_->Stats().integrity_failures, 0u);
    EXPECT_GT(counting_.counts.other.load(), 0u);  // the blob
    // The copy was written again from the blob, and serves the next reader.
    ASSERT_TRUE(fs::exists(cache_));
    EXPECT_THAT(Decrypted(CacheKeyOfCopy()), IsOk());
    Open(false);
    counting_.Reset();
    EXPECT_EQ(*ScanRows(w, {"Msg"}), 20000u);
    EXPECT_EQ(counting_.counts.other.load(), 0u);
    EXPECT_EQ(store_->Stats().cache_rejects, 0u);
  }
}

TEST_F(LogStoreCacheTest, ACopyDamagedInItsHeaderFooterOrLengthIsRejectedAtOpenAndTheBlobAnswers) {
  Open(false);
  OneExtent(ws_, 2000);
  uint64_t size = fs::file_size(cache_);
  for (uint64_t at : {uint64_t{3}, uint64_t{14}, uint64_t{25}, size - 1, size - 40}) {
    SCOPED_TRACE(at);
    Damage(at);
    Open(false);
    uint64_t before = store_->Stats().cache_rejects;
    EXPECT_EQ(*ScanRows(ws_, {"N"}), 2000u);
    EXPECT_EQ(store_->Stats().cache_rejects, before + 1);
    EXPECT_EQ(store_->Stats().integrity_failures, 0u);
    EXPECT_TRUE(IsCacheFileV2(ReadAll(cache_)));  // written again from the blob
  }
  // Cut short.
  std::vector<uint8_t> file = ReadAll(cache_);
  file.resize(file.size() - 100);
  WriteAll(cache_, file);
  Open(false);
  EXPECT_EQ(*ScanRows(ws_, {}), 2000u);
  EXPECT_EQ(store_->Stats().cache_rejects, 1u);
}

TEST_F(LogStoreCacheTest, DamageInTheBlobStaysAnIntegrityFailure) {
  Open(false);
  OneExtent(ws_, 2000);
  fs::remove(cache_);
  std::vector<uint8_t> blob = ReadAll(dir_ + "/data/blobs/" + blob_);
  blob[blob.size() / 2] ^= 0x20;
  WriteAll(dir_ + "/data/blobs/" + blob_, blob);
  Open(false);
  EXPECT_EQ(ScanRows(ws_, {}).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(store_->Stats().cache_rejects, 0u);
}

}  // namespace
}  // namespace cmk::engine

namespace cmk::engine {
namespace {

// The byte bound (LogStoreOptions::hot_cache_bytes, serve --hot-cache-gb): a new extent's copy
// drops the least recently used copies (by flush or by a query's read); a copy read back from
// its blob for a query is written only when it fits; a reopened store counts the copies on disk,
// removes the files no extent owns, and drops the least recently used past a lowered bound.
TEST_F(LogStoreCacheTest, TheHotCacheKeepsToItsByteBoundDroppingTheLeastRecentlyUsedCopies) {
  Open(false);
  std::vector<std::string> ids;  // in flush order
  std::vector<int64_t> times;    // each extent's first row time (ticks)
  auto flush_one = [&] {
    times.push_back(clock_.Now().time_since_epoch().count() / 100);
    ASSERT_THAT(store_->Ingest(ws_, table_, BigRows(1000)), IsOk());
    ASSERT_THAT(store_->Flush(), IsOk());
    for (const auto& [id, blob] : store_->ExtentBlobsForTest()) {
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
    clock_.Advance(std::chrono::hours(1));
  };
  auto copy_of = [&](size_t k) {
    const std::string blob = store_->ExtentBlobsForTest().at(ids[k]);
    return dir_ + "/data/cache/" + blob.substr(0, blob.find('/')) + "/" + ids[k] + ".cmkc";
  };
  auto cached = [&] {
    std::string s;
    for (size_t k = 0; k < ids.size(); ++k) s += fs::exists(copy_of(k)) ? '1' : '0';
    return s;
  };
  auto scan = [&](std::optional<int64_t> lo, std::optional<int64_t> hi) -> size_t {
    auto cat = store_->CatalogFor({ws_}, std::nullopt, std::nullopt);
    size_t rows = 0;
    EXPECT_THAT(cat->Scan(kql::ScanRequest{"App_CL", {"Msg"}, lo, hi}, [&](std::shared_ptr<const kql::Table> t) {
      rows += t->rows;
      return OkStatus();
    }), IsOk());
    return rows;
  };
  flush_one();
  ASSERT_EQ(ids.size(), 1u);
  const uint64_t copy = fs::file_size(copy_of(0));  // (random hex rows: every copy this size or near)
  EXPECT_EQ(store_->Stats().hot_cache_bytes, copy);  // (no bound: counted only)
  hot_cache_bytes_ = copy * 5 / 2;
  Open(false);
  EXPECT_EQ(store_->Stats().hot_cache_bytes, copy);  // found on disk
  flush_one();
  EXPECT_EQ(cached(), "11");
  EXPECT_EQ(scan(times[0], times[0] + 999), 1000u);  // the first extent read (from its copy) now
  flush_one();
  // Three copies do not fit: the second, used least recently, went; not the first.
  EXPECT_EQ(cached(), "101");
  StoreStats st = store_->Stats();
  EXPECT_EQ(st.hot_cache_files, 2u);
  EXPECT_EQ(st.hot_cache_bytes, fs::file_size(copy_of(0)) + fs::file_size(copy_of(2)));
  EXPECT_LE(st.hot_cache_bytes, hot_cache_bytes_);
  EXPECT_EQ(st.hot_cache_dropped, 1u);
  // A query reads the second from its blob and does not cache it: that would drop another.
  counting_.Reset();
  EXPECT_EQ(scan(std::nullopt, std::nullopt), 3000u);
  EXPECT_GT(counting_.counts.other.load(), copy / 2);  // the blob
  EXPECT_EQ(cached(), "101");
  EXPECT_EQ(store_->Stats().hot_cache_dropped, 1u);

  // Reopened with room for one copy, and two files no extent owns beside them.
  const std::string dir = fs::path(copy_of(0)).parent_path().string();
  WriteAll(dir + "/" + std::string(32, 'a') + ".cmkc", std::vector<uint8_t>{1, 2, 3});
  WriteAll(dir + "/" + ids[1] + ".cmkc.tmp.7", std::vector<uint8_t>{4, 5});  // a write a crash interrupted
  hot_cache_bytes_ = copy * 3 / 2;
  Open(false);
  // The query time is not kept across a reopen: the first extent's last use is its flush.
  EXPECT_EQ(cached(), "001");
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), fs::directory_iterator()), 1);
  st = store_->Stats();
  EXPECT_EQ(st.hot_cache_files, 1u);
  EXPECT_EQ(st.hot_cache_bytes, fs::file_size(copy_of(2)));
  EXPECT_EQ(scan(std::nullopt, std::nullopt), 3000u);
  EXPECT_EQ(store_->Stats().cache_rejects, 0u);
}

}  // namespace
}  // namespace cmk::engine
