#pragma once
// AlertEvaluator: runs every enabled log search alert rule on the injected clock and notifies
// its action groups (design.md §7d; docs/architecture.md "Alerts").
//
// Schedule. A rule with frequency F has ticks at the multiples of F since the Unix epoch. Tick T
// is evaluated at T + latency (Options::latency, 30 s by default: rows stamped before T that
// arrive up to that much later are still counted) over the window [T - range, T), where range
// is overrideQueryTimeRange or windowSize. One periodic clock timer serves every rule: it runs
// each minute at the evaluation instants (the minute plus the latency), and each rule due by
// then has its latest due tick queued and is handed to the worker threads, so a slow rule (or
// query) delays only itself. A rule's ticks are evaluated one at a time, in order. A clock that
// jumps (`clock advance 30d`) runs the periodic timer once (env.h), so each rule evaluates its
// latest tick and the ones jumped over are counted as skipped, never replayed; a rule more
// than kMaxBacklog ticks behind its workers drops its oldest queued ticks, counted too.
//
// One evaluation: the query runs as the rule's principal (Deps::run_query; a principal that
// lost read access on the workspace fails the evaluation, which is recorded, never skipped
// silently). Rows are split into series by the rule's dimensions (Include/Exclude values,
// `*`), each series aggregated (Count rows, or Average/Minimum/Maximum/Total of the measure
// column) and compared with the threshold. A series is failing when at least
// minFailingPeriodsToAlert of its last numberOfEvaluationPeriods evaluations breached (kept in
// memory across ticks). With autoMitigate (stateful) a series fires once and resolves when it
// stops failing; without it (stateless) every failing evaluation fires. Notifications of a
// series are muted for muteActionsDuration after one was sent (resolutions always go out).
// Fired alerts are written as Microsoft.AlertsManagement/alerts documents (kind kAlertKind);
// Azure keeps alerts 30 days: older ones, and any beyond Options::max_alerts (oldest first), are
// deleted every kPruneEvery new alerts.
//
// Thread safety: safe for concurrent use. The sink methods may be called from any thread.
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "alerts/payload.h"
#include "alerts/rule.h"
#include "base/mutex.h"
#include "base/status.h"
#include "env/env.h"
#include "kql/core/column.h"
#include "meta/metadata_store.h"

namespace cmk::alerts {

// Metadata-store kind of fired alerts (body: the AlertsManagement 2019-05-05-preview resource).
inline constexpr char kAlertKind[] = "alert";

struct SeriesValue;  // one series' aggregate of one evaluation (evaluator.cc)

// What the ARM provider tells the evaluator when rules and action groups change.
class AlertSink {
 public:
  virtual ~AlertSink() = default;
  virtual void RuleChanged(const AlertRule& rule) = 0;
  virtual void RuleRemoved(const std::string& id) = 0;
  virtual void GroupChanged(const ActionGroup& group) = 0;
  virtual void GroupRemoved(const std::string& id) = 0;
};

struct QueryRequest {
  std::string principal_id;
  std::string workspace_id;  // resource id
  std::string query;
  TimePoint from, to, now;
};

// What a workspace answers about its alert rules' queries and links.
struct WorkspaceAlertInfo {
  std::string customer_id;
  bool alerts_storage_linked = false;  // a linked `Alerts` storage account: no query in payloads
};

// Delivers one event of a rule to the receivers of its (enabled) action groups.
class Notifier {
 public:
  virtual ~Notifier() = default;
  virtual void Notify(const AlertRule& rule, const AlertEvent& event,
                      const std::vector<ActionGroup>& groups) = 0;
};

struct EvaluationRecord {
  TimePoint time;  // when it ran (on the clock), T + latency
  std::string rule_id;
  TimePoint window_start, window_end;
  std::string result;  // Fired, Resolved, Unchanged, Failed, Skipped
  int series = 0, failing_series = 0, fired = 0, resolved = 0;
  std::string error;
  double duration_ms = 0;  // real time spent evaluating
};

struct EvaluatorOptions {
  // Ingestion allowance: tick T is evaluated at T + latency.
  Duration latency = std::chrono::seconds(30);
  // Worker threads that evaluate rules; 0: inline in the clock's timer callback (unit tests).
  int threads = 4;
  // Rows of a query's first table considered (more are ignored and recorded as a warning).
  size_t max_rows = 100'000;
  // Series kept per rule (more are ignored: recorded in the evaluation's error).
  size_t max_series = 10'000;
  // Fired alerts kept (Microsoft.AlertsManagement), and for how long.
  size_t max_alerts = 100'000;
  Duration alert_retention = std::chrono::hours(24 * 30);
};

// Reads a rule's query kept outside cmklogs' metadata (AlertRule::query_location, a blob in the
// workspace's linked `Alerts` storage account), at each evaluation: NotFound when the blob is
// gone, PermissionDenied (KeyVaultEncryptionKeyNotFound) while the account's key is revoked.
using QueryLoader = std::function<Result<std::string>(const std::string& location)>;

struct EvaluatorDeps {
  env::Env env;
  QueryLoader load_query;  // may be empty: rules without a query in the metadata then fail
  // Runs the query as the principal over rows with TimeGenerated in [from, to).
  std::function<Result<kql::Table>(const QueryRequest&)> run_query;
  std::function<Result<WorkspaceAlertInfo>(const std::string& workspace_id)> workspace_info;
  Notifier* notifier = nullptr;                          // may be null
  std::function<void(const EvaluationRecord&)> record;   // may be empty
  meta::MetadataStore* store = nullptr;                  // fired alerts; may be null
  std::string query_endpoint;  // https://api.loganalytics.D[:port], for payload links
};

struct EvaluatorStats {
  uint64_t evaluations = 0, failures = 0, fired = 0, resolved = 0, skipped_ticks = 0;
  uint64_t query_load_failures = 0;  // evaluations whose query could not be read (in failures too)
  size_t rules = 0;
};

class AlertEvaluator final : public AlertSink {
 public:
  static constexpr size_t kMaxBacklog = 16;
  static constexpr uint64_t kPruneEvery = 1000;
  AlertEvaluator(EvaluatorDeps deps, EvaluatorOptions options);
  // Cancels the timer and waits for running evaluations.
  ~AlertEvaluator() override;
  AlertEvaluator(const AlertEvaluator&) = delete;
  AlertEvaluator& operator=(const AlertEvaluator&) = delete;

  void RuleChanged(const AlertRule& rule) override;
  void RuleRemoved(const std::string& id) override;
  void GroupChanged(const ActionGroup& group) override;
  void GroupRemoved(const std::string& id) override;

  EvaluatorStats Stats() const;
  // Waits until no evaluation is queued or running (tests and benchmarks).
  void WaitIdleForTest();

 private:
  struct Series;
  struct RuleState;
  struct Guard;
  void OnTimer();
  // Arms the minute timer (a one-shot to the first evaluation instant, then periodic).
  void StartTicker() REQUIRES(mu_);
  void Schedule(RuleState& st) REQUIRES(mu_);
  void Drain(const std::string& rule_id);
  void Evaluate(RuleState& st, TimePoint tick);
  // The rule's query: its text, or read through Deps::load_query (AlertQueryUnavailable).
  Result<std::string> QueryOf(const AlertRule& rule) const;
  void WorkerLoop();
  // Applies one evaluation's per-series values to the state; returns the events to notify.
  std::vector<AlertEvent> Apply(RuleState& st, const AlertRule& rule,
                                const std::map<std::string, SeriesValue>& values,
                                TimePoint tick, TimePoint from, EvaluationRecord& rec);
  void WriteAlert(const AlertRule& rule, const AlertEvent& e, const std::string& workspace);
  // Deletes alerts past the retention and beyond max_alerts. Returns how many.
  size_t PruneAlerts();

 public:
  size_t PruneAlertsForTest() { return PruneAlerts(); }

 private:

  EvaluatorDeps deps_;
  EvaluatorOptions options_;
  std::shared_ptr<Guard> guard_;
  mutable Mutex mu_;
  CondVar cv_;
  std::map<std::string, std::shared_ptr<RuleState>> rules_ GUARDED_BY(mu_);  // by lower-case id
  std::map<std::string, ActionGroup> groups_ GUARDED_BY(mu_);                 // by lower-case id
  std::set<std::pair<TimePoint, std::string>> due_ GUARDED_BY(mu_);
  env::Clock::TimerId timer_ GUARDED_BY(mu_) = 0;
  bool ticking_ GUARDED_BY(mu_) = false;
  std::deque<std::string> ready_ GUARDED_BY(mu_);  // rules with ticks to evaluate
  int busy_ GUARDED_BY(mu_) = 0;
  bool stop_ GUARDED_BY(mu_) = false;
  EvaluatorStats stats_ GUARDED_BY(mu_);
  uint64_t new_alerts_ GUARDED_BY(mu_) = 0;  // since the last prune
  Mutex prune_mu_;                            // one prune at a time
  std::vector<std::thread> workers_;
};

}  // namespace cmk::alerts
