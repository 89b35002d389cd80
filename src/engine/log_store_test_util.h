#pragma once
// The LogStore test fixture: a temporary data dir, a metadata store, service keys, a fake vault
// and topology, a simulated clock; Open() (re)opens the store over them.
#include "engine/log_store.h"

#include <gtest/gtest.h>

#include <atomic>
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

// Counts the bytes read from files whose path contains "/cache/" (hot-cache files) and from the
// others, through positional reads and whole-file reads alike.
class CountingFileSystem : public env::FileSystemWrapper {
 public:
  using env::FileSystemWrapper::FileSystemWrapper;
  struct Counts {
    std::atomic<uint64_t> cache{0}, other{0}, cache_whole_reads{0};
  };
  Result<std::unique_ptr<env::RandomAccessFile>> NewRandomAccessFile(const std::string& path) override {
    ASSIGN_OR_RETURN(auto f, target()->NewRandomAccessFile(path));
    return std::unique_ptr<env::RandomAccessFile>(new File(std::move(f), Counter(path)));
  }
  Result<std::string> ReadFile(const std::string& path) override {
    auto r = target()->ReadFile(path);
    if (r.ok()) Counter(path) += r->size();
    if (r.ok() && IsCache(path)) ++counts.cache_whole_reads;
    return r;
  }
  void Reset() { counts.cache = counts.other = counts.cache_whole_reads = 0; }
  Counts counts;

 private:
  static bool IsCache(const std::string& path) { return path.find("/cache/") != std::string::npos; }
  std::atomic<uint64_t>& Counter(const std::string& path) { return IsCache(path) ? counts.cache : counts.other; }
  class File : public env::RandomAccessFile {
   public:
    File(std::unique_ptr<env::RandomAccessFile> f, std::atomic<uint64_t>& n) : f_(std::move(f)), n_(n) {}
    Result<size_t> Read(uint64_t offset, std::span<uint8_t> out) const override {
      auto r = f_->Read(offset, out);
      if (r.ok()) n_ += *r;
      return r;
    }
    Result<uint64_t> Size() const override { return f_->Size(); }

   private:
    std::unique_ptr<env::RandomAccessFile> f_;
    std::atomic<uint64_t>& n_;
  };
};

// A file's bytes; nothing when it cannot be read.
inline std::vector<uint8_t> ReadAll(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

// Replaces a file's bytes (the tests that damage stored files on purpose).
inline void WriteAll(const std::string& path, std::span<const uint8_t> data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

inline constexpr char kCluster[] = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/clusters/c1";

class FakeTopology : public Topology {
 public:
  Result<WorkspaceInfo> WorkspaceByCustomerId(const std::string& id) const override {
    for (const auto& w : workspaces) {
      if (w.customer_id == id) return w;
    }
    return NotFound("no workspace");
  }
  Result<WorkspaceInfo> WorkspaceByResourceId(const std::string& id) const override {
    for (const auto& w : workspaces) {
      if (w.resource_id == id) return w;
    }
    return NotFound("no workspace");
  }
  Result<std::vector<TableInfo>> Tables(const std::string&) const override { return tables; }
  bool DoubleEncryption(const std::string&) const override { return double_encryption; }
  // Tests that cache answers (TopologyCache) bump `version` with every change they make.
  uint64_t Version() const override { return version; }
  std::vector<WorkspaceInfo> workspaces;
  std::vector<TableInfo> tables;
  bool double_encryption = true;
  uint64_t version = 0;
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
  env::Env env() { return env::Env{&clock_, &random_, file_system_}; }
  void Open(bool with_cluster = true) {
    store_.reset();
    clusters_.reset();
    storage::KeyManagerOptions o;
    o.check_interval = std::chrono::seconds(10);
    auto cs = storage::ClusterStorage::Open(
        env(), meta_.get(), [this](const std::string&) { return std::make_unique<storage::FakeVaultProxy>(&vault_); }, o);
    ASSERT_THAT(cs, testing::IsOk());
    clusters_ = std::move(*cs);
    if (with_cluster) {
      ASSERT_THAT(clusters_->ConfigureCluster(kCluster, "mi", keyvault::KeyRef{"https://kv.vault.localhost:8443", "kek", ""}),
                  testing::IsOk());
    }
    LogStoreOptions lo;
    lo.background_flush = false;
    lo.decoded_cache_bytes = cache_bytes_;
    lo.extent_codec = codec_;
    lo.cache_on_flush = cache_on_flush_;
    lo.seal_cache_with_aek = seal_cache_with_aek_;
    lo.hot_cache_bytes = hot_cache_bytes_;
    if (flush_rows_) lo.flush_rows = flush_rows_;
    if (flush_bytes_) lo.flush_bytes = flush_bytes_;
    lo.scan_read_ahead = read_ahead_;
    auto s = LogStore::Open(env(), dir_ + "/data", meta_.get(), keys_.get(), clusters_.get(), &topo_, lo);
    ASSERT_THAT(s, testing::IsOk());
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
  env::FileSystem* file_system_ = &fs_;  // what the store writes through (tests may swap it)
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
  size_t read_ahead_ = 0;  // LogStoreOptions::scan_read_ahead
  bool seal_cache_with_aek_ = true;
  uint64_t hot_cache_bytes_ = 0;
  size_t flush_rows_ = 0, flush_bytes_ = 0;
};

}  // namespace cmk::engine
