// Ingestion and query benchmarks of the storage engine (docs/benchmarks.md, issues 5 and 6).
//
//   log_bench gen    --rows N [--seed S] --out FILE      deterministic JSON array file
//   log_bench run    --file FILE [--runs R] [--json OUT]  ingest FILE in 1 MiB requests into a
//                    CMK account with double encryption, flush, then the eight queries
//                    (--runs 0: ingestion only)
//   log_bench memory [--rows N] [--seed S]               ingest N generated rows (no file) and
//                    report peak resident memory
// Common: [--dir D] data directory (default /tmp/log_bench.<pid>, removed at exit),
// [--flush-rows N] [--flush-mb M] [--decoded-cache-mb M] [--cache-on-flush 0|1] [--extent-codec lz4|zstd]
// [--scan-read-ahead N] to override
// LogStoreOptions.
//
// The store is set up as log_store_test.cc does: ClusterStorage over a FakeVault (RSA-2048,
// RSA-OAEP-256, no HTTP), a workspace linked to a cluster with double encryption, a durable WAL
// (fdatasync per request), background flushes by size. The clock is simulated (no timers fire)
// and set just after the generated data, so every row is inside retention and the hot window.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/json_rows.h"
#include "env/env.h"
#include "kql/core/budget.h"
#include "env/process.h"
#include "engine/log_store.h"
#include "log_gen.h"
#include "storage/fake_vault_for_test.h"

namespace cmk::bench {
namespace {

using Clock = std::chrono::steady_clock;
constexpr size_t kRequestBytes = size_t{1} << 20;  // Logs Ingestion API limit per request
constexpr char kCluster[] = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/clusters/bench";

struct Args {
  std::string mode, file, out, json, dir;
  uint64_t rows = 0, seed = 42;  // rows: 1,000,000 for gen, 10,000,000 for memory
  int runs = 5;
  long flush_rows = -1, flush_mb = -1, decoded_cache_mb = -1, cache_on_flush = -1, scan_read_ahead = -1;
  std::string extent_codec;
};

double ProcessCpu() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}
double ThreadCpu() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
long PeakRssKb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}
double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "log_bench: %s\n", what.c_str());
  std::exit(1);
}
void Check(const Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.message());
}

class FakeTopology : public engine::Topology {
 public:
  Result<engine::WorkspaceInfo> WorkspaceByCustomerId(const std::string& id) const override {
    if (id == ws.customer_id) return ws;
    return NotFound("no workspace");
  }
  Result<engine::WorkspaceInfo> WorkspaceByResourceId(const std::string& id) const override {
    if (id == ws.resource_id) return ws;
    return NotFound("no workspace");
  }
  Result<std::vector<engine::TableInfo>> Tables(const std::string&) const override { return std::vector{table}; }
  bool DoubleEncryption(const std::string&) const override { return true; }
  uint64_t Version() const override { return 0; }  // never changes
  engine::WorkspaceInfo ws;
  engine::TableInfo table;
};

const std::vector<engine::StreamColumn> kStream = {{"TimeGenerated", "datetime"}, {"Computer", "string"},
                                                   {"Level", "string"},          {"EventId", "int"},
                                                   {"DurationMs", "real"},       {"Message", "string"}};

// One LogStore with one linked workspace writing to a CMK account with double encryption.
class Store {
 public:
  explicit Store(const Args& args) : dir_(args.dir) {
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    env::Env e{&clock_, &random_, &fs_};
    auto meta = meta::MetadataStore::Open(dir_ + "/meta.db");
    Check(meta.status(), "metadata store");
    meta_ = std::move(*meta);
    keys_ = storage::ServiceKeys::FromRootsForTest(e, random_.NewSecret(32), random_.NewSecret(32));
    auto cs = storage::ClusterStorage::Open(
        e, meta_.get(), [this](const std::string&) { return std::make_unique<storage::FakeVaultProxy>(&vault_); },
        storage::KeyManagerOptions{});
    Check(cs.status(), "cluster storage");
    clusters_ = std::move(*cs);
    Check(clusters_->ConfigureCluster(kCluster, "mi", keyvault::KeyRef{"https://kv.vault.localhost:8443", "kek", ""}),
          "configure cluster");
    topo_.ws = engine::WorkspaceInfo{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w1",
                                     "11111111-1111-1111-1111-111111111111", "w1", "eastus", kCluster, 30};
    kql::Schema schema;
    for (const auto& c : kStream) {
      schema.push_back({c.name, *kql::ParseTypeName(c.type)});
    }
    topo_.table = engine::TableInfo{"Logs", schema, 30, "Analytics"};
    engine::LogStoreOptions o;
    if (args.flush_rows > 0) o.flush_rows = static_cast<size_t>(args.flush_rows);
    if (args.flush_mb > 0) o.flush_bytes = static_cast<size_t>(args.flush_mb) << 20;
    if (args.decoded_cache_mb >= 0) o.decoded_cache_bytes = static_cast<size_t>(args.decoded_cache_mb) << 20;
    if (args.cache_on_flush >= 0) o.cache_on_flush = args.cache_on_flush != 0;
    if (args.scan_read_ahead >= 0) o.scan_read_ahead = static_cast<size_t>(args.scan_read_ahead);
    if (args.extent_codec == "zstd") o.extent_codec = engine::Codec::kZstd;
    else if (args.extent_codec == "lz4") o.extent_codec = engine::Codec::kLz4;
    else if (!args.extent_codec.empty()) Die("--extent-codec: lz4 or zstd");
    auto s = engine::LogStore::Open(e, dir_ + "/data", meta_.get(), keys_.get(), clusters_.get(), &topo_, o);
    Check(s.status(), "log store");
    store_ = std::move(*s);
    if (store_->RouteForTest(topo_.ws, topo_.table).find("/accounts/") == std::string::npos) Die("not a CMK account");
  }
  ~Store() {
    store_.reset();
    clusters_.reset();
    meta_.reset();
    std::filesystem::remove_all(dir_);
  }

  // One ingestion request: JSON array body -> columns -> durable in the WAL and the memtable.
  void Request(const std::string& body, double* parse_cpu, double* ingest_cpu) {
    double t0 = ThreadCpu();
    auto rows = engine::ParseRecords(body, kStream, 64 * 1024);
    Check(rows.status(), "parse");
    double t1 = ThreadCpu();
    Check(store_->Ingest(topo_.ws, topo_.table, std::move(*rows)), "ingest");
    *parse_cpu += t1 - t0;
    *ingest_cpu += ThreadCpu() - t1;
  }
  // Flush() skips an account whose background flush is running: repeat until all is in extents.
  void FlushAll() {
    while (true) {
      Check(store_->Flush(), "flush");
      if (store_->Stats().memtable_rows == 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  engine::LogStore& store() { return *store_; }
  // Bytes of the stored extent objects (blobs, not their hot-cache copies).
  uint64_t BlobBytes() const {
    uint64_t n = 0;
    std::error_code ec;
    for (const auto& e : std::filesystem::recursive_directory_iterator(dir_ + "/data/blobs", ec)) {
      if (e.is_regular_file(ec) && e.path().extension() == ".cmkx") n += e.file_size(ec);
    }
    return n;
  }
  const engine::WorkspaceInfo& ws() const { return topo_.ws; }
  TimePoint now() { return clock_.Now(); }

 private:
  std::string dir_;
  env::SimulatedClock clock_{FromUnixSeconds(kBaseUnixSeconds + int64_t{kSpanDays} * 86400 + 3600)};
  env::SecureRandom random_;
  env::PosixFileSystem fs_;
  storage::FakeVault vault_;
  FakeTopology topo_;
  std::unique_ptr<meta::MetadataStore> meta_;
  std::unique_ptr<storage::ServiceKeys> keys_;
  std::unique_ptr<storage::ClusterStorage> clusters_;
  std::unique_ptr<engine::LogStore> store_;
};

int Gen(const Args& args) {
  if (args.out.empty()) Die("gen needs --out");
  std::FILE* f = std::fopen(args.out.c_str(), "wb");
  if (!f) Die("cannot write " + args.out);
  LogGenerator g(args.seed);
  std::string buf = "[\n";
  for (uint64_t i = 0; i < args.rows; ++i) {
    if (i) buf += ",\n";
    g.AppendRecord(buf);
    if (buf.size() > (1 << 20)) {
      std::fwrite(buf.data(), 1, buf.size(), f);
      buf.clear();
    }
  }
  buf += "\n]\n";
  std::fwrite(buf.data(), 1, buf.size(), f);
  std::fclose(f);
  std::printf("wrote %llu rows (seed %llu) to %s: %llu bytes\n", static_cast<unsigned long long>(args.rows),
              static_cast<unsigned long long>(args.seed), args.out.c_str(),
              static_cast<unsigned long long>(std::filesystem::file_size(args.out)));
  return 0;
}

struct IngestResult {
  uint64_t bytes = 0, rows = 0, requests = 0;
  double cpu = 0, wall = 0, parse_cpu = 0, ingest_cpu = 0, flush_wall = 0, other_cpu = 0;
};

void PrintIngest(const IngestResult& r) {
  double gb = static_cast<double>(r.bytes) / 1e9, mb = static_cast<double>(r.bytes) / 1e6;
  std::printf("ingest: %llu rows, %.1f MB in %llu requests\n", static_cast<unsigned long long>(r.rows), mb,
              static_cast<unsigned long long>(r.requests));
  std::printf("ingest: wall %.2f s, process CPU %.2f s (user+sys, all threads)\n", r.wall, r.cpu);
  std::printf("ingest: %.1f CPU-s/GB, %.1f MB/s per core, %.1f MB/s wall\n", r.cpu / gb, mb / r.cpu, mb / r.wall);
  std::printf("ingest: CPU split: ParseRecords %.2f s, Ingest (WAL) %.2f s, other threads + final flush + reading %.2f s"
              " (final flush wall %.2f s)\n",
              r.parse_cpu, r.ingest_cpu, r.cpu - r.parse_cpu - r.ingest_cpu - r.other_cpu, r.flush_wall);
}

// Ingests the lines of a generated file (one record per line) as requests of at most 1 MiB.
// The file is read in 4 MiB blocks and cut at newlines (the reading is timed, as DuckDB's is).
IngestResult IngestFile(Store& s, const std::string& path) {
  IngestResult r;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) Die("cannot read " + path);
  double cpu0 = ProcessCpu();
  auto t0 = Clock::now();
  std::string body = "[";
  body.reserve(kRequestBytes + engine::kJsonPadding);  // as the ingestion API reserves it
  auto send = [&] {
    body += ']';
    s.Request(body, &r.parse_cpu, &r.ingest_cpu);
    ++r.requests;
    body.assign(1, '[');
  };
  auto line = [&](const char* p, size_t n) {
    r.bytes += n + 1;
    if (n == 0 || p[0] != '{') return;
    while (n > 0 && (p[n - 1] == ',' || p[n - 1] == '\r')) --n;
    if (body.size() + n + 2 > kRequestBytes) send();
    if (body.size() > 1) body += ',';
    body.append(p, n);
    ++r.rows;
  };
  std::vector<char> block(size_t{4} << 20);
  std::string carry;  // a line cut by the end of a block
  size_t n;
  while ((n = std::fread(block.data(), 1, block.size(), f)) > 0) {
    const char* p = block.data();
    const char* end = p + n;
    while (p < end) {
      const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<size_t>(end - p)));
      if (nl == nullptr) {
        carry.append(p, end);
        break;
      }
      if (!carry.empty()) {
        carry.append(p, nl);
        line(carry.data(), carry.size());
        carry.clear();
      } else {
        line(p, static_cast<size_t>(nl - p));
      }
      p = nl + 1;
    }
  }
  if (!carry.empty()) {
    line(carry.data(), carry.size());
    r.bytes -= 1;  // no newline after it
  }
  if (body.size() > 1) send();
  std::fclose(f);
  auto tf = Clock::now();
  s.FlushAll();
  r.flush_wall = Seconds(tf);
  r.wall = Seconds(t0);
  r.cpu = ProcessCpu() - cpu0;
  return r;
}

struct Query {
  const char* name;
  const char* kql;
};
const Query kQueries[] = {
    {"filtered count", "Logs | where Level == \"Error\" | count"},
    {"count, avg by Computer", "Logs | summarize n = count(), a = avg(DurationMs) by Computer"},
    {"contains count", "Logs | where Message contains \"timeout\" | count"},
    {"count by bin 1h", "Logs | summarize n = count() by bin(TimeGenerated, 1h)"},
    {"top 10 by DurationMs", "Logs | top 10 by DurationMs"},
    {"distinct Computer", "Logs | distinct Computer"},
    {"dcount(Computer)", "Logs | summarize d = dcount(Computer)"},
    {"join of two summaries",
     "Logs | where Level == \"Error\" | summarize Errors = count() by Computer"
     " | join kind=inner (Logs | summarize Total = count() by Computer) on Computer"},
};

double Sum(const kql::Table& t, const char* column) {
  int c = t.Find(column);
  if (c < 0) Die(std::string("no column ") + column);
  double s = 0;
  for (size_t r = 0; r < t.rows; ++r) {
    const kql::Column& col = t.columns[c];
    s += kql::UsesReals(col.type) ? col.Real(r) : static_cast<double>(col.Int(r));
  }
  return s;
}

// What both engines must agree on, as text (bench.mjs builds the same strings).
std::string Answer(size_t q, const kql::Table& t) {
  char buf[160];
  switch (q) {
    case 0:
    case 2:
      std::snprintf(buf, sizeof(buf), "%.0f", Sum(t, "Count"));
      break;
    case 1:
    case 3:
      std::snprintf(buf, sizeof(buf), "groups=%zu rows=%.0f", t.rows, Sum(t, "n"));
      break;
    case 4: {
      int c = t.Find("DurationMs");
      std::snprintf(buf, sizeof(buf), "rows=%zu max=%.3f min=%.3f", t.rows, t.columns[c].Real(0),
                    t.columns[c].Real(t.rows - 1));
      break;
    }
    case 5:
      std::snprintf(buf, sizeof(buf), "rows=%zu", t.rows);
      break;
    case 6:
      std::snprintf(buf, sizeof(buf), "%.0f", Sum(t, "d"));
      break;
    default:
      std::snprintf(buf, sizeof(buf), "rows=%zu errors=%.0f total=%.0f", t.rows, Sum(t, "Errors"), Sum(t, "Total"));
      break;
  }
  return buf;
}

struct QueryResult {
  std::string answer;
  std::vector<double> ms;
  double median = 0;
};

std::vector<QueryResult> RunQueries(Store& s, int runs) {
  std::vector<QueryResult> out;
  // Governed as the query API governs (server::QueryLimits' defaults): a 3-minute deadline, a
  // 1 GiB budget per query and a 4 GiB pool shared by all queries.
  kql::MemoryPool pool(size_t{4} << 30);
  kql::ExecOptions eo;
  eo.now = s.now();
  eo.memory_limit_bytes = size_t{1} << 30;
  eo.memory_pool = &pool;
  for (size_t q = 0; q < std::size(kQueries); ++q) {
    QueryResult qr;
    for (int i = 0; i <= runs; ++i) {  // run 0 is the warm-up
      eo.deadline_us = env::MonotonicMicros() + 180'000'000;
      auto t0 = Clock::now();
      auto catalog = s.store().CatalogFor({s.ws()}, std::nullopt, std::nullopt);
      auto r = kql::Execute(kQueries[q].kql, *catalog, eo);
      double ms = Seconds(t0) * 1e3;
      if (!r.ok()) Die(std::string(kQueries[q].kql) + ": " + r.status().message());
      if (i == 0) qr.answer = Answer(q, r->tables[0]);
      else qr.ms.push_back(ms);
    }
    std::vector<double> sorted = qr.ms;
    std::sort(sorted.begin(), sorted.end());
    qr.median = sorted[sorted.size() / 2];
    std::printf("query %zu %-24s median %9.2f ms  answer %s\n", q + 1, kQueries[q].name, qr.median, qr.answer.c_str());
    out.push_back(std::move(qr));
  }
  return out;
}

void WriteJson(const std::string& path, const IngestResult& in, const std::vector<QueryResult>& qs) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) Die("cannot write " + path);
  std::fprintf(f, "{\"ingest\":{\"bytes\":%llu,\"rows\":%llu,\"cpu_s\":%.4f,\"wall_s\":%.4f},\"queries\":[",
               static_cast<unsigned long long>(in.bytes), static_cast<unsigned long long>(in.rows), in.cpu, in.wall);
  for (size_t q = 0; q < qs.size(); ++q) {
    std::fprintf(f, "%s{\"name\":\"%s\",\"median_ms\":%.3f,\"answer\":\"%s\",\"runs_ms\":[", q ? "," : "",
                 kQueries[q].name, qs[q].median, qs[q].answer.c_str());
    for (size_t i = 0; i < qs[q].ms.size(); ++i) std::fprintf(f, "%s%.3f", i ? "," : "", qs[q].ms[i]);
    std::fprintf(f, "]}");
  }
  std::fprintf(f, "]}\n");
  std::fclose(f);
}

int Run(const Args& args) {
  if (args.file.empty()) Die("run needs --file");
  Store s(args);
  IngestResult in = IngestFile(s, args.file);
  PrintIngest(in);
  auto st = s.store().Stats();
  std::printf("store: %llu extents, %llu rows in extents, %.1f MB of extent objects, peak RSS %.0f MiB\n",
              static_cast<unsigned long long>(st.extents), static_cast<unsigned long long>(st.extent_rows),
              static_cast<double>(s.BlobBytes()) / 1e6, static_cast<double>(PeakRssKb()) / 1024);
  if (args.runs <= 0) return 0;  // ingestion only (profiling)
  auto qs = RunQueries(s, args.runs);
  if (!args.json.empty()) WriteJson(args.json, in, qs);
  return 0;
}

// Generates and ingests `rows` records in 1 MiB requests without a file; reports peak RSS.
int Memory(const Args& args) {
  Store s(args);
  LogGenerator g(args.seed);
  IngestResult r;
  double gen_cpu = 0;
  double cpu0 = ProcessCpu();
  auto t0 = Clock::now();
  std::string body, rec;
  for (uint64_t i = 0; i < args.rows;) {
    double g0 = ThreadCpu();
    body = "[";
    while (i < args.rows) {
      rec.clear();
      g.AppendRecord(rec);
      if (body.size() + rec.size() + 2 > kRequestBytes) break;
      if (body.size() > 1) body += ',';
      body += rec;
      ++i;
      ++r.rows;
    }
    body += ']';
    gen_cpu += ThreadCpu() - g0;
    r.bytes += body.size();
    s.Request(body, &r.parse_cpu, &r.ingest_cpu);
    ++r.requests;
  }
  auto tf = Clock::now();
  s.FlushAll();
  r.flush_wall = Seconds(tf);
  r.wall = Seconds(t0);
  r.cpu = ProcessCpu() - cpu0;
  r.other_cpu = gen_cpu;
  PrintIngest(r);
  std::printf("memory: generating the records took %.2f s CPU (excluded from the split above, included in the total)\n",
              gen_cpu);
  auto st = s.store().Stats();
  std::printf("memory: %llu extents, %llu rows in extents; peak RSS (ru_maxrss) %.0f MiB\n",
              static_cast<unsigned long long>(st.extents), static_cast<unsigned long long>(st.extent_rows),
              static_cast<double>(PeakRssKb()) / 1024);
  return 0;
}

}  // namespace
}  // namespace cmk::bench

int main(int argc, char** argv) {
  cmk::env::ReexecWithTunedHeap(argv);  // as `cmklogs serve` runs
  using namespace cmk::bench;
  if (argc < 2) Die("usage: log_bench gen|run|memory [options] (see the top of bench/log_bench.cc)");
  Args a;
  a.mode = argv[1];
  a.dir = "/tmp/log_bench." + std::to_string(getpid());
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--rows") a.rows = std::stoull(v);
    else if (k == "--seed") a.seed = std::stoull(v);
    else if (k == "--out") a.out = v;
    else if (k == "--file") a.file = v;
    else if (k == "--json") a.json = v;
    else if (k == "--dir") a.dir = v;
    else if (k == "--runs") a.runs = std::stoi(v);
    else if (k == "--flush-rows") a.flush_rows = std::stol(v);
    else if (k == "--flush-mb") a.flush_mb = std::stol(v);
    else if (k == "--decoded-cache-mb") a.decoded_cache_mb = std::stol(v);
    else if (k == "--cache-on-flush") a.cache_on_flush = std::stol(v);
    else if (k == "--extent-codec") a.extent_codec = v;
    else if (k == "--scan-read-ahead") a.scan_read_ahead = std::stol(v);
    else Die("unknown option " + k);
  }
  if (a.mode == "gen") {
    if (a.rows == 0) a.rows = 1'000'000;
    return Gen(a);
  }
  if (a.mode == "run") return Run(a);
  if (a.mode == "memory") {
    if (a.rows == 0) a.rows = 10'000'000;
    return Memory(a);
  }
  Die("unknown mode " + a.mode);
}
