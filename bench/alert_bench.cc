// Evaluation lag of log search alert rules (issue 19): N rules at PT1M over a real LogStore
// (shared storage under the region MMK, rows in extents and the memtable), evaluated by the
// AlertEvaluator's worker threads as the server runs them (the query as in app/alerts_wiring.cc).
// All rules fall due at the same instant (ticks are aligned), the worst case. For each of
// --ticks minutes: a minute of rows is ingested, the simulated clock advances one minute (every
// rule becomes due) and the lag of each evaluation — real time from the moment its tick became
// due to the end of its evaluation — is recorded. Prints p50/p99/max lag and evaluations/s.
//
//   bench/alert_bench [--rules 1000] [--ticks 5] [--threads 4] [--rows-per-minute 20000]
//                     [--dir /tmp/cmk-alert-bench]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "alerts/evaluator.h"
#include "engine/log_store.h"
#include "kql/engine.h"
#include "storage/cluster_storage.h"
#include "storage/fake_vault_for_test.h"
#include "storage/service_keys.h"

namespace {

using namespace cmk;
using Steady = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "alert_bench: %s\n", what.c_str());
  std::exit(1);
}
void Check(const Status& s, const char* what) {
  if (!s.ok()) Die(std::string(what) + ": " + s.message());
}

class OneWorkspace : public engine::Topology {
 public:
  Result<engine::WorkspaceInfo> WorkspaceByCustomerId(const std::string& id) const override {
    return id == ws.customer_id ? Result<engine::WorkspaceInfo>(ws) : NotFound("no workspace");
  }
  Result<engine::WorkspaceInfo> WorkspaceByResourceId(const std::string& id) const override {
    return id == ws.resource_id ? Result<engine::WorkspaceInfo>(ws) : NotFound("no workspace");
  }
  Result<std::vector<engine::TableInfo>> Tables(const std::string&) const override { return std::vector{table}; }
  bool DoubleEncryption(const std::string&) const override { return false; }
  uint64_t Version() const override { return 0; }
  engine::WorkspaceInfo ws;
  engine::TableInfo table;
};

// A minute of rows ending at `end`: 50 hosts, about 5% errors.
kql::Table Minute(TimePoint end, int rows, uint64_t& seed) {
  kql::Table t;
  t.name = "Logs";
  t.AddColumn("TimeGenerated", kql::Column(kql::Type::kDateTime));
  t.AddColumn("Computer", kql::Column(kql::Type::kString));
  t.AddColumn("Level", kql::Column(kql::Type::kString));
  t.AddColumn("DurationMs", kql::Column(kql::Type::kReal));
  for (int i = 0; i < rows; ++i) {
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    uint64_t r = seed >> 33;
    t.columns[0].AppendInt(Ticks(end - std::chrono::milliseconds(1 + r % 59'000)));
    t.columns[1].AppendString("host" + std::to_string(r % 50));
    t.columns[2].AppendString(r % 20 == 0 ? "Error" : r % 3 == 0 ? "Warning" : "Info");
    t.columns[3].AppendReal(static_cast<double>(r % 10'000) / 10.0);
    ++t.rows;
  }
  return t;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  int rules = 1000, ticks = 5, threads = 4, rows_per_minute = 20'000;
  std::string dir = "/tmp/cmk-alert-bench";
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--rules")) rules = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--ticks")) ticks = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--threads")) threads = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--rows-per-minute")) rows_per_minute = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--dir")) dir = argv[i + 1];
    else Die(std::string("unknown option ") + argv[i]);
  }
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  // 2026-11-20T00:00:31Z: the first tick of a rule made now is 00:01:00, evaluated at 00:01:30.
  env::SimulatedClock clock(FromUnixSeconds(1795132800 + 31));
  env::SecureRandom random;
  env::PosixFileSystem fs;
  env::Env e{&clock, &random, &fs};
  auto meta = meta::MetadataStore::Open(dir + "/meta.db");
  Check(meta.status(), "metadata store");
  auto keys = storage::ServiceKeys::FromRootsForTest(e, random.NewSecret(32), random.NewSecret(32));
  storage::FakeVault vault;
  auto clusters = storage::ClusterStorage::Open(
      e, meta->get(), [&](const std::string&) { return std::make_unique<storage::FakeVaultProxy>(&vault); }, {});
  Check(clusters.status(), "cluster storage");
  OneWorkspace topo;
  topo.ws = engine::WorkspaceInfo{"/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/w1",
                                  "11111111-1111-1111-1111-111111111111", "w1", "eastus", "", 30};
  topo.table = engine::TableInfo{"Logs", {{"TimeGenerated", kql::Type::kDateTime}, {"Computer", kql::Type::kString},
                                          {"Level", kql::Type::kString}, {"DurationMs", kql::Type::kReal}},
                                 30, "Analytics"};
  auto logs = engine::LogStore::Open(e, dir + "/data", meta->get(), keys.get(), clusters->get(), &topo, {});
  Check(logs.status(), "log store");
  engine::LogStore* store = logs->get();

  std::mutex mu;
  std::vector<double> lags_ms;
  Steady::time_point due;
  std::atomic<int> failures{0};
  alerts::EvaluatorDeps deps;
  deps.env = e;
  deps.run_query = [&](const alerts::QueryRequest& q) -> Result<kql::Table> {
    auto catalog = store->CatalogFor({topo.ws}, Ticks(q.from), Ticks(q.to));
    kql::ExecOptions o;
    o.now = q.now;
    ASSIGN_OR_RETURN(auto r, kql::Execute(q.query, *catalog, o));
    return std::move(r.tables[0]);
  };
  deps.record = [&](const alerts::EvaluationRecord& r) {
    auto end = Steady::now();
    if (r.result == "Failed") ++failures;
    std::lock_guard<std::mutex> l(mu);
    lags_ms.push_back(std::chrono::duration<double, std::milli>(end - due).count());
  };
  alerts::EvaluatorOptions eo;
  eo.threads = threads;
  alerts::AlertEvaluator eval(deps, eo);
  const char* queries[] = {"Logs | where Level == 'Error'", "Logs | where Computer == 'host7' and DurationMs > 900",
                           "Logs | summarize n = count() by Computer | where n > 100",
                           "Logs | where Level != 'Info' | project Computer, DurationMs"};
  for (int i = 0; i < rules; ++i) {
    alerts::AlertRule r;
    r.id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Insights/scheduledQueryRules/r" + std::to_string(i);
    r.subscription_id = "s";
    r.scopes = {topo.ws.resource_id};
    r.frequency = std::chrono::minutes(1);
    r.window = std::chrono::minutes(5);
    r.query = queries[i % 4];
    r.threshold = 5;
    if (i % 4 == 0) r.dimensions = {alerts::Dimension{"Computer", true, {"*"}}};
    if (i % 4 == 3) {
      r.aggregation = alerts::Aggregation::kAverage;
      r.metric_column = "DurationMs";
      r.threshold = 500;
    }
    eval.RuleChanged(r);
  }
  uint64_t seed = 42;
  TimePoint minute = FromUnixSeconds(1795132800 + 60);
  for (int m = 0; m < 5; ++m) Check(store->Ingest(topo.ws, topo.table, Minute(minute - std::chrono::minutes(4 - m), rows_per_minute, seed)), "ingest");
  auto start = Steady::now();
  for (int t = 0; t < ticks; ++t) {
    {
      std::lock_guard<std::mutex> l(mu);
      due = Steady::now();
    }
    clock.Advance(std::chrono::minutes(1));  // 00:(t+1):30: every rule's tick (t+1):00 is due
    eval.WaitIdleForTest();
    minute += std::chrono::minutes(1);
    Check(store->Ingest(topo.ws, topo.table, Minute(minute, rows_per_minute, seed)), "ingest");
  }
  double secs = std::chrono::duration<double>(Steady::now() - start).count();
  alerts::EvaluatorStats st = eval.Stats();
  std::printf("rules %d, ticks %d, threads %d, rows/minute %d, window PT5M\n", rules, ticks, threads, rows_per_minute);
  std::printf("evaluations %llu (failed %d), skipped ticks %llu, %.0f evaluations/s\n",
              static_cast<unsigned long long>(st.evaluations), failures.load(),
              static_cast<unsigned long long>(st.skipped_ticks), static_cast<double>(st.evaluations) / secs);
  std::printf("evaluation lag ms: p50 %.1f  p99 %.1f  max %.1f\n", Percentile(lags_ms, 0.5), Percentile(lags_ms, 0.99),
              Percentile(lags_ms, 1.0));
  logs->reset();
  std::filesystem::remove_all(dir);
  return failures.load() == 0 ? 0 : 1;
}
