#include "alerts/evaluator.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/json.h"
#include "base/testing.h"
#include "kql/engine.h"

namespace cmk::alerts {
namespace {

using testing::IsOk;

constexpr char kWorkspaceId[] = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws";
constexpr char kAg[] = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Insights/actionGroups/ag";
// 2024-01-01T00:00:00Z: ticks of every frequency fall on round times from here.
const TimePoint kStart = FromUnixSeconds(1'704'067'200);

struct Row {
  TimePoint time;
  std::string computer;
  double value;
};

struct Sent {
  AlertEvent event;
  std::string rule;
};

class RecordingNotifier : public Notifier {
 public:
  void Notify(const AlertRule& rule, const AlertEvent& e, const std::vector<ActionGroup>& groups) override {
    sent.push_back({e, rule.id});
    group_count = groups.size();
  }
  std::vector<Sent> sent;
  size_t group_count = 0;
};

class EvaluatorTest : public ::testing::Test {
 protected:
  EvaluatorTest() {
    EvaluatorDeps deps;
    deps.env = env::Env{&clock_, &random_, nullptr};
    deps.run_query = [this](const QueryRequest& q) { return Run(q); };
    deps.workspace_info = [this](const std::string&) { return Result<WorkspaceAlertInfo>(WorkspaceAlertInfo{"c1", linked_}); };
    // A fake linked Alerts account: the blob's text, or the account's revoked-key error.
    deps.load_query = [this](const std::string& location) -> Result<std::string> {
      loads_.push_back(location);
      if (revoked_) {
        return Status(StatusCode::kPermissionDenied, "The key vault key of the account is not available.",
                      "KeyVaultEncryptionKeyNotFound");
      }
      return blob_;
    };
    deps.notifier = &notifier_;
    deps.record = [this](const EvaluationRecord& r) { records_.push_back(r); };
    EvaluatorOptions options;
    options.threads = 0;  // inline: Advance runs every evaluation before it returns
    options.latency = std::chrono::seconds(30);
    eval_ = std::make_unique<AlertEvaluator>(std::move(deps), options);
    ActionGroup g;
    g.id = kAg;
    g.short_name = "ag";
    eval_->GroupChanged(g);
  }

  // The rows with TimeGenerated in [from, to), queried with the rule's KQL.
  Result<kql::Table> Run(const QueryRequest& q) {
    requests_.push_back(q);
    if (!allowed_) return Status(StatusCode::kPermissionDenied, "No read access to workspace 'ws'.", "InsufficientAccessError");
    kql::Table t;
    t.name = "Events";
    t.AddColumn("TimeGenerated", kql::Column(kql::Type::kDateTime));
    t.AddColumn("Computer", kql::Column(kql::Type::kString));
    t.AddColumn("Value", kql::Column(kql::Type::kReal));
    for (const auto& r : rows_) {
      if (r.time < q.from || r.time >= q.to) continue;
      t.columns[0].AppendInt(Ticks(r.time));
      t.columns[1].AppendString(r.computer);
      t.columns[2].AppendReal(r.value);
      ++t.rows;
    }
    kql::InMemoryCatalog catalog;
    catalog.Add(std::move(t));
    kql::ExecOptions o;
    o.now = q.now;
    ASSIGN_OR_RETURN(auto result, kql::Execute(q.query, catalog, o));
    return std::move(result.tables[0]);
  }

  AlertRule Rule(std::string query = "Events") {
    AlertRule r;
    r.id = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Insights/scheduledQueryRules/r1";
    r.name = "r1";
    r.subscription_id = "s1";
    r.scopes = {kWorkspaceId};
    r.frequency = std::chrono::minutes(1);
    r.window = std::chrono::minutes(1);
    r.query = std::move(query);
    r.op = Operator::kGreaterThan;
    r.threshold = 2;
    r.action_groups = {kAg};
    r.principal_id = "p1";
    return r;
  }

  void Add(TimePoint t, const std::string& computer, int n, double value = 1) {
    for (int i = 0; i < n; ++i) rows_.push_back({t, computer, value});
  }

  // 31 s past the minute: the first evaluation of a rule made now is at 00:01:30, for the tick
  // 00:01:00 and the window [00:00:00, 00:01:00).
  env::SimulatedClock clock_{kStart + std::chrono::seconds(31)};
  env::SeededRandom random_{7};
  RecordingNotifier notifier_;
  std::vector<EvaluationRecord> records_;
  std::vector<QueryRequest> requests_;
  std::vector<Row> rows_;
  bool allowed_ = true;
  bool linked_ = false, revoked_ = false;
  std::string blob_ = "Events";
  std::vector<std::string> loads_;
  std::unique_ptr<AlertEvaluator> eval_;
};

TEST_F(EvaluatorTest, EvaluatesAlignedTicksAfterTheLatencyOverTheWindow) {
  clock_.Advance(std::chrono::seconds(19));  // 00:00:50
  eval_->RuleChanged(Rule());
  clock_.Advance(std::chrono::seconds(39));  // 00:01:29: tick 00:01:00 is due at 00:01:30
  EXPECT_TRUE(requests_.empty());
  clock_.Advance(std::chrono::seconds(1));
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_EQ(requests_[0].from, kStart);
  EXPECT_EQ(requests_[0].to, kStart + std::chrono::minutes(1));
  EXPECT_EQ(requests_[0].principal_id, "p1");
  EXPECT_EQ(requests_[0].workspace_id, kWorkspaceId);
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].result, "Unchanged");
  EXPECT_EQ(records_[0].time, kStart + std::chrono::seconds(90));
  for (int m = 0; m < 3; ++m) clock_.Advance(std::chrono::minutes(1));
  EXPECT_EQ(requests_.size(), 4u);
  // A jump evaluates the latest tick only: the ones jumped over are counted as skipped.
  clock_.Advance(std::chrono::minutes(10));
  EXPECT_EQ(requests_.size(), 5u);
  EXPECT_EQ(requests_.back().to, kStart + std::chrono::minutes(14));
  EXPECT_EQ(eval_->Stats().skipped_ticks, 9u);
}

TEST_F(EvaluatorTest, FiresOncePerSeriesWithDimensionsThenResolves) {
  AlertRule r = Rule();
  r.dimensions = {Dimension{"Computer", true, {"*"}}};
  eval_->RuleChanged(r);
  Add(kStart + std::chrono::seconds(10), "vm1", 3);
  Add(kStart + std::chrono::seconds(10), "vm2", 1);
  clock_.Advance(std::chrono::seconds(90));
  ASSERT_EQ(notifier_.sent.size(), 1u);
  const AlertEvent e = notifier_.sent[0].event;
  EXPECT_TRUE(e.fired);
  EXPECT_EQ(e.metric_value, 3);
  ASSERT_EQ(e.dimensions.size(), 1u);
  EXPECT_EQ(e.dimensions[0].second, "vm1");
  EXPECT_EQ(e.window_start, kStart);
  EXPECT_EQ(e.window_end, kStart + std::chrono::minutes(1));
  EXPECT_EQ(notifier_.group_count, 1u);
  EXPECT_NE(e.alert_id.find("/providers/Microsoft.AlertsManagement/alerts/"), std::string::npos);
  // Still failing: no second notification.
  Add(kStart + std::chrono::seconds(70), "vm1", 5);
  clock_.Advance(std::chrono::minutes(1));
  EXPECT_EQ(notifier_.sent.size(), 1u);
  // Cleared: one Resolved for the same alert.
  clock_.Advance(std::chrono::minutes(1));
  ASSERT_EQ(notifier_.sent.size(), 2u);
  EXPECT_FALSE(notifier_.sent[1].event.fired);
  EXPECT_EQ(notifier_.sent[1].event.alert_id, e.alert_id);
  EXPECT_EQ(notifier_.sent[1].event.resolved_time, kStart + std::chrono::seconds(210));
  clock_.Advance(std::chrono::minutes(2));
  EXPECT_EQ(notifier_.sent.size(), 2u);
}

TEST_F(EvaluatorTest, DimensionValuesIncludeAndExclude) {
  AlertRule r = Rule();
  r.dimensions = {Dimension{"Computer", false, {"vm1"}}};
  eval_->RuleChanged(r);
  Add(kStart + std::chrono::seconds(10), "vm1", 5);
  Add(kStart + std::chrono::seconds(10), "vm2", 4);
  clock_.Advance(std::chrono::seconds(90));
  ASSERT_EQ(notifier_.sent.size(), 1u);
  EXPECT_EQ(notifier_.sent[0].event.dimensions[0].second, "vm2");
}

TEST_F(EvaluatorTest, FailingPeriodsNeedEnoughBreaches) {
  AlertRule r = Rule();
  r.evaluation_periods = 3;
  r.min_failing_periods = 2;
  eval_->RuleChanged(r);
  Add(kStart + std::chrono::seconds(10), "vm1", 3);    // window 1 breaches
  Add(kStart + std::chrono::seconds(130), "vm1", 3);   // window 3 breaches
  clock_.Advance(std::chrono::seconds(90));
  clock_.Advance(std::chrono::minutes(1));
  EXPECT_TRUE(notifier_.sent.empty());
  clock_.Advance(std::chrono::minutes(1));  // 2 of the last 3
  ASSERT_EQ(notifier_.sent.size(), 1u);
  EXPECT_TRUE(notifier_.sent[0].event.fired);
}

TEST_F(EvaluatorTest, StatelessRulesFireEachTimeUnlessMuted) {
  AlertRule r = Rule();
  r.auto_mitigate = false;
  r.mute_actions = std::chrono::minutes(3);
  eval_->RuleChanged(r);
  for (int m = 0; m < 5; ++m) Add(kStart + std::chrono::minutes(m) + std::chrono::seconds(5), "vm1", 3);
  clock_.Advance(std::chrono::seconds(90));
  for (int m = 0; m < 4; ++m) clock_.Advance(std::chrono::minutes(1));
  // Fired at 1:30 (sent; muted until 4:30), 2:30 and 3:30 (recorded only), 4:30 (sent; muted
  // until 7:30), 5:30 (recorded only).
  ASSERT_EQ(notifier_.sent.size(), 2u);
  EXPECT_EQ(notifier_.sent[1].event.fired_time, kStart + std::chrono::seconds(270));
  int fired = 0;
  for (const auto& rec : records_) fired += rec.fired;
  EXPECT_EQ(fired, 5);
}

TEST_F(EvaluatorTest, AggregatesTheMeasureColumn) {
  AlertRule r = Rule();
  r.aggregation = Aggregation::kAverage;
  r.metric_column = "Value";
  r.op = Operator::kGreaterThanOrEqual;
  r.threshold = 50;
  eval_->RuleChanged(r);
  Add(kStart + std::chrono::seconds(10), "vm1", 1, 40);
  Add(kStart + std::chrono::seconds(10), "vm1", 1, 80);
  clock_.Advance(std::chrono::seconds(90));
  ASSERT_EQ(notifier_.sent.size(), 1u);
  EXPECT_EQ(notifier_.sent[0].event.metric_value, 60);
}

TEST_F(EvaluatorTest, CountBelowThresholdFiresOnAnEmptyWindow) {
  AlertRule r = Rule("Events | where Computer == 'vm1'");
  r.op = Operator::kLessThan;
  r.threshold = 1;
  eval_->RuleChanged(r);
  clock_.Advance(std::chrono::seconds(90));
  ASSERT_EQ(notifier_.sent.size(), 1u);
  EXPECT_EQ(notifier_.sent[0].event.metric_value, 0);
}

TEST_F(EvaluatorTest, APrincipalWithoutAccessFailsWithARecordedError) {
  allowed_ = false;
  eval_->RuleChanged(Rule());
  Add(kStart + std::chrono::seconds(10), "vm1", 3);
  clock_.Advance(std::chrono::seconds(90));
  EXPECT_TRUE(notifier_.sent.empty());
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].result, "Failed");
  EXPECT_NE(records_[0].error.find("InsufficientAccessError"), std::string::npos);
  EXPECT_EQ(eval_->Stats().failures, 1u);
}

TEST_F(EvaluatorTest, AQueryInLinkedStorageIsReadEachEvaluationAndARevokedKeyFailsVisibly) {
  linked_ = true;
  AlertRule r = Rule("");
  r.query_location = "sa1/alertqueries/r1.kql";
  eval_->RuleChanged(r);
  Add(kStart + std::chrono::seconds(10), "vm1", 3);
  clock_.Advance(std::chrono::seconds(90));
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].result, "Fired");
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_EQ(requests_[0].query, "Events");  // the blob's text
  EXPECT_EQ(loads_, std::vector<std::string>{"sa1/alertqueries/r1.kql"});
  ASSERT_EQ(notifier_.sent.size(), 1u);
  EXPECT_TRUE(notifier_.sent[0].event.omit_query);  // no query, no results in the payload
  revoked_ = true;
  clock_.Advance(std::chrono::minutes(1));
  ASSERT_EQ(records_.size(), 2u);
  EXPECT_EQ(records_[1].result, "Failed");
  EXPECT_NE(records_[1].error.find("AlertQueryUnavailable"), std::string::npos);
  EXPECT_NE(records_[1].error.find("KeyVaultEncryptionKeyNotFound"), std::string::npos);
  EXPECT_NE(records_[1].error.find("sa1/alertqueries/r1.kql"), std::string::npos);
  EXPECT_EQ(requests_.size(), 1u);  // nothing ran
  EXPECT_EQ(eval_->Stats().failures, 1u);
  EXPECT_EQ(eval_->Stats().query_load_failures, 1u);
  revoked_ = false;
  blob_ = "";  // an emptied blob fails too
  clock_.Advance(std::chrono::minutes(1));
  EXPECT_EQ(records_.back().result, "Failed");
  EXPECT_EQ(eval_->Stats().query_load_failures, 2u);
}

TEST_F(EvaluatorTest, AMissingDimensionColumnFails) {
  AlertRule r = Rule("Events | summarize count()");
  r.dimensions = {Dimension{"Computer", true, {"*"}}};
  eval_->RuleChanged(r);
  clock_.Advance(std::chrono::seconds(90));
  ASSERT_EQ(records_.size(), 1u);
  EXPECT_EQ(records_[0].result, "Failed");
  EXPECT_NE(records_[0].error.find("Computer"), std::string::npos);
}

TEST_F(EvaluatorTest, DisabledAndRemovedRulesAreNotEvaluated) {
  AlertRule r = Rule();
  r.enabled = false;
  eval_->RuleChanged(r);
  clock_.Advance(std::chrono::minutes(3));
  EXPECT_TRUE(requests_.empty());
  r.enabled = true;
  eval_->RuleChanged(r);
  clock_.Advance(std::chrono::minutes(1));
  EXPECT_EQ(requests_.size(), 1u);
  eval_->RuleRemoved(r.id);
  clock_.Advance(std::chrono::minutes(3));
  EXPECT_EQ(requests_.size(), 1u);
  EXPECT_EQ(eval_->Stats().rules, 0u);
}

TEST(EvaluatorAlertsTest, FiredAlertsAreDocumentsPrunedAfter30Days) {
  std::string dir = ::testing::TempDir() + "/alerts_" + env::SecureRandom().NewGuid();
  std::filesystem::create_directories(dir);
  auto store = meta::MetadataStore::Open(dir + "/meta.db");
  ASSERT_THAT(store, IsOk());
  env::SimulatedClock clock(kStart + std::chrono::seconds(31));
  env::SeededRandom random(5);
  EvaluatorDeps deps;
  deps.env = env::Env{&clock, &random, nullptr};
  deps.store = store->get();
  deps.run_query = [](const QueryRequest&) -> Result<kql::Table> { return kql::Table{}; };
  EvaluatorOptions o;
  o.threads = 0;
  o.max_alerts = 3;
  AlertEvaluator eval(deps, o);
  AlertRule r;
  r.id = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Insights/scheduledQueryRules/r1";
  r.subscription_id = "s1";
  r.scopes = {kWorkspaceId};
  r.frequency = r.window = std::chrono::minutes(1);
  r.query = "T";
  r.op = Operator::kLessThan;  // zero rows < 1: fires at every evaluation (stateless)
  r.threshold = 1;
  r.auto_mitigate = false;
  eval.RuleChanged(r);
  for (int m = 0; m < 5; ++m) clock.Advance(std::chrono::minutes(1));
  auto docs = (*store)->List(kAlertKind, "");
  ASSERT_THAT(docs, IsOk());
  ASSERT_EQ(docs->size(), 5u);
  auto doc = json::ParseObject((*docs)[0].body);
  EXPECT_EQ(doc->at("type"), "Microsoft.AlertsManagement/alerts");
  EXPECT_EQ(doc->at("properties").at("essentials").at("monitorCondition"), "Fired");
  EXPECT_EQ(doc->at("properties").at("essentials").at("alertState"), "New");
  EXPECT_EQ(eval.PruneAlertsForTest(), 2u);  // beyond max_alerts
  eval.RuleRemoved(r.id);
  clock.Advance(std::chrono::hours(24 * 31));
  EXPECT_EQ(eval.PruneAlertsForTest(), 3u);  // past 30 days
  EXPECT_TRUE((*store)->List(kAlertKind, "")->empty());
  std::filesystem::remove_all(dir);
}

TEST(EvaluatorThreadsTest, AThirtyDayJumpEvaluatesEachRuleOnceAndCountsTheTicksJumpedOver) {
  env::SimulatedClock clock(kStart + std::chrono::seconds(31));
  env::SeededRandom random(2);
  EvaluatorDeps deps;
  deps.env = env::Env{&clock, &random, nullptr};
  deps.run_query = [](const QueryRequest&) -> Result<kql::Table> { return kql::Table{}; };
  EvaluatorOptions o;
  o.threads = 2;
  AlertEvaluator eval(deps, o);
  for (int i = 0; i < 20; ++i) {
    AlertRule r;
    r.id = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Insights/scheduledQueryRules/j" + std::to_string(i);
    r.scopes = {kWorkspaceId};
    r.frequency = r.window = std::chrono::minutes(1);
    r.query = "T";
    eval.RuleChanged(r);
  }
  clock.Advance(std::chrono::hours(24 * 30));
  eval.WaitIdleForTest();
  EvaluatorStats st = eval.Stats();
  // Every tick was either evaluated or counted as skipped; none is lost silently, none replayed.
  // Each rule: its first tick (the timer's first, one-shot run) and the latest (the periodic
  // run the jump coalesces into).
  EXPECT_EQ(st.evaluations, 40u);
  EXPECT_EQ(st.evaluations + st.skipped_ticks, 20u * 30 * 24 * 60);
}

TEST(EvaluatorThreadsTest, WorkersEvaluateManyRulesAndASlowOneDoesNotBlockOthers) {
  env::SimulatedClock clock(kStart + std::chrono::seconds(31));
  env::SeededRandom random(1);
  std::atomic<int> ran{0};
  std::mutex gate_mu;
  std::condition_variable gate_cv;
  bool release = false;
  EvaluatorDeps deps;
  deps.env = env::Env{&clock, &random, nullptr};
  deps.run_query = [&](const QueryRequest& q) -> Result<kql::Table> {
    if (q.query == "slow") {
      std::unique_lock<std::mutex> l(gate_mu);
      gate_cv.wait(l, [&] { return release; });
    }
    ++ran;
    kql::Table t;
    return t;
  };
  EvaluatorOptions o;
  o.threads = 4;
  auto eval = std::make_unique<AlertEvaluator>(deps, o);
  for (int i = 0; i < 50; ++i) {
    AlertRule r;
    r.id = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Insights/scheduledQueryRules/r" + std::to_string(i);
    r.scopes = {kWorkspaceId};
    r.frequency = r.window = std::chrono::minutes(1);
    r.query = i == 0 ? "slow" : "fast";
    eval->RuleChanged(r);
  }
  clock.Advance(std::chrono::seconds(90));
  // 49 fast rules finish while the slow one holds a worker.
  for (int spin = 0; ran.load() < 49 && spin < 100'000'000; ++spin) std::this_thread::yield();
  EXPECT_EQ(ran.load(), 49);
  {
    std::lock_guard<std::mutex> l(gate_mu);
    release = true;
  }
  gate_cv.notify_all();
  eval->WaitIdleForTest();
  EXPECT_EQ(ran.load(), 50);
  EXPECT_EQ(eval->Stats().evaluations, 50u);
}

}  // namespace
}  // namespace cmk::alerts
