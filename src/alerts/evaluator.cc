#include "alerts/evaluator.h"

#include <algorithm>
#include <cstdio>

#include "base/encoding.h"
#include "base/json.h"

namespace cmk::alerts {

namespace bj = boost::json;

struct AlertEvaluator::Guard {
  std::mutex mu;
  AlertEvaluator* self = nullptr;  // null once the evaluator is being destroyed
};

struct AlertEvaluator::Series {
  std::vector<std::pair<std::string, std::string>> dims;
  std::deque<bool> history;  // the last numberOfEvaluationPeriods outcomes, newest last
  bool fired = false;
  std::string alert_id;
  TimePoint fired_time{};
  TimePoint muted_until{};
};

struct SeriesValue {
  std::vector<std::pair<std::string, std::string>> dims;
  double sum = 0, min = 0, max = 0;
  int64_t rows = 0, values = 0;
};

struct AlertEvaluator::RuleState {
  std::shared_ptr<const AlertRule> rule;
  TimePoint next_due{};
  std::deque<TimePoint> pending;  // ticks to evaluate, oldest first
  bool running = false;           // a worker is evaluating it (it alone touches `series`)
  std::map<std::string, Series> series;
};

namespace {

// A cell as the text a dimension value is compared and reported with.
std::string CellText(const kql::Column& c, size_t r) {
  if (c.IsNull(r)) return "";
  switch (c.type) {
    case kql::Type::kBool: return c.Int(r) ? "true" : "false";
    case kql::Type::kInt:
    case kql::Type::kLong:
    case kql::Type::kTimespan: return std::to_string(c.Int(r));
    case kql::Type::kDateTime: return FormatRfc3339(TimePoint(std::chrono::nanoseconds(c.Int(r) * 100)));
    case kql::Type::kReal:
    case kql::Type::kDecimal: {
      char buf[64];
      std::snprintf(buf, sizeof buf, "%.15g", c.Real(r));
      return buf;
    }
    default: return std::string(c.Str(r));
  }
}

std::optional<double> CellNumber(const kql::Column& c, size_t r) {
  if (c.IsNull(r)) return std::nullopt;
  if (kql::IsIntegral(c.type)) return static_cast<double>(c.Int(r));
  if (kql::UsesReals(c.type)) return c.Real(r);
  return std::nullopt;
}

bool Admits(const Dimension& d, const std::string& value) {
  bool listed = false;
  for (const auto& v : d.values) listed |= v == "*" || EqualsIgnoreCase(v, value);
  return d.include ? listed : !listed;
}

TimePoint AlignedTickAfter(TimePoint t, Duration freq) {
  auto since = t.time_since_epoch();
  return TimePoint((since / freq) * freq + freq);
}

std::string NewAlertGuid(env::Random* random) { return random->NewGuid(); }

// Splits the query's rows into series by the rule's dimensions and aggregates each.
Result<std::map<std::string, SeriesValue>> SplitSeries(const AlertRule& rule, const kql::Table& t,
                                                       size_t max_rows, size_t max_series) {
  std::vector<int> dim_cols;
  for (const auto& d : rule.dimensions) {
    int c = t.Find(d.name);
    if (c < 0) {
      return InvalidArgument("The dimension column '" + d.name + "' is not in the query's results.",
                             "DimensionNotFound");
    }
    dim_cols.push_back(c);
  }
  int metric = rule.metric_column.empty() ? -1 : t.Find(rule.metric_column);
  if (!rule.metric_column.empty() && metric < 0) {
    return InvalidArgument("The measure column '" + rule.metric_column + "' is not in the query's results.",
                           "MeasureColumnNotFound");
  }
  std::map<std::string, SeriesValue> values;
  if (rule.dimensions.empty()) values[""];
  size_t rows = std::min(t.rows, max_rows);
  for (size_t r = 0; r < rows; ++r) {
    std::vector<std::pair<std::string, std::string>> dims;
    std::string key;
    bool admitted = true;
    for (size_t i = 0; i < dim_cols.size() && admitted; ++i) {
      std::string v = CellText(t.columns[dim_cols[i]], r);
      admitted = Admits(rule.dimensions[i], v);
      key += v;
      key.push_back('\x1f');  // unit separator: values cannot run into each other
      dims.emplace_back(rule.dimensions[i].name, std::move(v));
    }
    if (!admitted) continue;
    auto it = values.find(key);
    if (it == values.end()) {
      if (values.size() >= max_series) continue;
      it = values.emplace(key, SeriesValue{}).first;
      it->second.dims = std::move(dims);
    }
    SeriesValue& sv = it->second;
    ++sv.rows;
    std::optional<double> n = metric >= 0 ? CellNumber(t.columns[metric], r) : std::nullopt;
    if (!n) continue;
    sv.sum += *n;
    sv.min = sv.values == 0 ? *n : std::min(sv.min, *n);
    sv.max = sv.values == 0 ? *n : std::max(sv.max, *n);
    ++sv.values;
  }
  return values;
}


}  // namespace

AlertEvaluator::AlertEvaluator(EvaluatorDeps deps, EvaluatorOptions options)
    : deps_(std::move(deps)), options_(options), guard_(std::make_shared<Guard>()) {
  guard_->self = this;
  for (int i = 0; i < options_.threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

AlertEvaluator::~AlertEvaluator() {
  {
    std::lock_guard<std::mutex> g(guard_->mu);  // waits for a timer callback in progress
    guard_->self = nullptr;
  }
  {
    MutexLock l(&mu_);
    stop_ = true;
    if (timer_ != 0) deps_.env.clock->Cancel(timer_);
  }
  cv_.NotifyAll();
  for (auto& t : workers_) t.join();
}

void AlertEvaluator::RuleChanged(const AlertRule& rule) {
  MutexLock l(&mu_);
  auto& st = rules_[ToLower(rule.id)];
  if (!st) st = std::make_shared<RuleState>();
  bool reschedule = !st->rule || st->rule->frequency != rule.frequency || st->rule->enabled != rule.enabled;
  if (reschedule) due_.erase({st->next_due, ToLower(rule.id)});
  st->rule = std::make_shared<const AlertRule>(rule);
  if (reschedule) {
    st->next_due = TimePoint{};
    if (rule.enabled) Schedule(*st);
    StartTicker();
  }
}

void AlertEvaluator::RuleRemoved(const std::string& id) {
  MutexLock l(&mu_);
  auto it = rules_.find(ToLower(id));
  if (it == rules_.end()) return;
  due_.erase({it->second->next_due, it->first});
  it->second->pending.clear();
  rules_.erase(it);
}

void AlertEvaluator::GroupChanged(const ActionGroup& group) {
  MutexLock l(&mu_);
  groups_[ToLower(group.id)] = group;
}

void AlertEvaluator::GroupRemoved(const std::string& id) {
  MutexLock l(&mu_);
  groups_.erase(ToLower(id));
}

EvaluatorStats AlertEvaluator::Stats() const {
  MutexLock l(&mu_);
  EvaluatorStats s = stats_;
  s.rules = rules_.size();
  return s;
}

void AlertEvaluator::WaitIdleForTest() {
  UniqueLock l(&mu_);
  cv_.Wait(l, [&]() REQUIRES(mu_) {
    if (busy_ > 0 || !ready_.empty()) return false;
    for (const auto& [id, st] : rules_) {
      if (st->running || !st->pending.empty()) return false;
    }
    return true;
  });
}

// The first tick after now whose evaluation time (tick + latency) is still ahead.
void AlertEvaluator::Schedule(RuleState& st) {
  TimePoint now = deps_.env.clock->Now();
  TimePoint tick = AlignedTickAfter(now - options_.latency, st.rule->frequency);
  st.next_due = tick + options_.latency;
  due_.insert({st.next_due, ToLower(st.rule->id)});
}

void AlertEvaluator::StartTicker() {
  if (ticking_ || stop_) return;
  ticking_ = true;
  TimePoint first = AlignedTickAfter(deps_.env.clock->Now() - options_.latency, std::chrono::minutes(1)) +
                    options_.latency;
  std::weak_ptr<Guard> weak = guard_;
  auto tick = [weak] {
    auto g = weak.lock();
    if (!g) return;
    std::lock_guard<std::mutex> l(g->mu);
    if (g->self != nullptr) g->self->OnTimer();
  };
  timer_ = deps_.env.clock->RunAt(first, [this, weak, tick] {
    {
      auto g = weak.lock();
      if (!g) return;
      std::lock_guard<std::mutex> l(g->mu);
      if (g->self == nullptr) return;
      MutexLock m(&mu_);
      if (stop_) return;
      timer_ = deps_.env.clock->RunEvery(std::chrono::minutes(1), tick);
    }
    tick();
  });
}

void AlertEvaluator::OnTimer() {
  std::vector<std::string> start;
  {
    MutexLock l(&mu_);
    TimePoint now = deps_.env.clock->Now();
    while (!due_.empty() && due_.begin()->first <= now) {
      auto [at, id] = *due_.begin();
      due_.erase(due_.begin());
      auto it = rules_.find(id);
      if (it == rules_.end()) continue;
      RuleState& st = *it->second;
      // After a jump only the latest due tick is evaluated; the ones before it are skipped.
      Duration freq = st.rule->frequency;
      int64_t behind = (now - at) / freq;
      at += freq * behind;
      stats_.skipped_ticks += static_cast<uint64_t>(behind);
      st.pending.push_back(at - options_.latency);
      if (st.pending.size() > kMaxBacklog) {
        st.pending.pop_front();
        ++stats_.skipped_ticks;
      }
      st.next_due = at + freq;
      due_.insert({st.next_due, id});
      if (!st.running) {
        st.running = true;
        start.push_back(id);
      }
    }
    if (options_.threads > 0) {
      for (auto& id : start) ready_.push_back(std::move(id));
      cv_.NotifyAll();
      return;
    }
  }
  for (const auto& id : start) Drain(id);
}

void AlertEvaluator::WorkerLoop() {
  for (;;) {
    std::string id;
    {
      UniqueLock l(&mu_);
      cv_.Wait(l, [&]() REQUIRES(mu_) { return stop_ || !ready_.empty(); });
      if (stop_) return;
      id = std::move(ready_.front());
      ready_.pop_front();
      ++busy_;
    }
    Drain(id);
    {
      MutexLock l(&mu_);
      --busy_;
    }
    cv_.NotifyAll();
  }
}

// Evaluates the rule's queued ticks in order; `running` keeps other workers off it meanwhile.
void AlertEvaluator::Drain(const std::string& id) {
  for (;;) {
    std::shared_ptr<RuleState> st;
    TimePoint tick;
    {
      MutexLock l(&mu_);
      auto it = rules_.find(id);
      if (it == rules_.end()) return;
      st = it->second;
      if (stop_ || st->pending.empty()) {
        st->running = false;
        cv_.NotifyAll();
        return;
      }
      tick = st->pending.front();
      st->pending.pop_front();
    }
    Evaluate(*st, tick);
  }
}

void AlertEvaluator::Evaluate(RuleState& st, TimePoint tick) {
  std::shared_ptr<const AlertRule> rule;
  std::vector<ActionGroup> groups;
  {
    MutexLock l(&mu_);
    rule = st.rule;
    for (const auto& g : rule->action_groups) {
      auto it = groups_.find(ToLower(g));
      if (it != groups_.end() && it->second.enabled) groups.push_back(it->second);
    }
  }
  int64_t started = env::MonotonicMicros();
  Duration range = rule->override_query_range.value_or(rule->window);
  EvaluationRecord rec;
  rec.time = tick + options_.latency;
  rec.rule_id = rule->id;
  rec.window_start = tick - range;
  rec.window_end = tick;
  auto fail = [&](const Status& s) {
    rec.result = "Failed";
    rec.error = s.error_code().empty() ? s.message() : s.error_code() + ": " + s.message();
  };
  std::vector<AlertEvent> events;
  WorkspaceAlertInfo ws;
  Result<std::string> query = std::string();
  bool query_failed = false;
  if (auto info = deps_.workspace_info ? deps_.workspace_info(rule->scopes[0]) : Result<WorkspaceAlertInfo>(ws); !info.ok()) {
    fail(info.status());
  } else if (ws = *info, query = QueryOf(*rule); !query.ok()) {
    fail(query.status());
    query_failed = true;
  } else {
    auto table = deps_.run_query(QueryRequest{rule->principal_id, rule->scopes[0], *query, rec.window_start, tick, rec.time});
    if (!table.ok()) {
      fail(table.status());
    } else {
      auto values = SplitSeries(*rule, *table, options_.max_rows, options_.max_series);
      if (values.ok()) {
        events = Apply(st, *rule, *values, tick, rec.window_start, rec);
      } else {
        fail(values.status());
      }
    }
  }
  rec.duration_ms = static_cast<double>(env::MonotonicMicros() - started) / 1000.0;
  for (auto& e : events) {
    e.query_endpoint = deps_.query_endpoint;
    e.workspace_customer_id = ws.customer_id;
    e.omit_query = ws.alerts_storage_linked;
    WriteAlert(*rule, e, rule->scopes[0]);
  }
  // Delivery is asynchronous (the notifier queues); muted events are only recorded.
  if (deps_.notifier != nullptr) {
    for (const auto& e : events) {
      if (!e.muted && !groups.empty()) deps_.notifier->Notify(*rule, e, groups);
    }
  }
  {
    MutexLock l(&mu_);
    ++stats_.evaluations;
    stats_.failures += rec.result == "Failed" ? 1 : 0;
    stats_.query_load_failures += query_failed ? 1 : 0;
    stats_.fired += static_cast<uint64_t>(rec.fired);
    stats_.resolved += static_cast<uint64_t>(rec.resolved);
  }
  if (deps_.record) deps_.record(rec);
}

Result<std::string> AlertEvaluator::QueryOf(const AlertRule& rule) const {
  if (!rule.query.empty()) return rule.query;
  if (rule.query_location.empty() || !deps_.load_query) {
    return FailedPrecondition("The rule has no query to run.", "AlertQueryUnavailable");
  }
  auto q = deps_.load_query(rule.query_location);
  if (!q.ok()) {
    const Status& s = q.status();
    std::string why = s.error_code().empty() ? s.message() : s.error_code() + ": " + s.message();
    return Status(s.code(), "The rule's query could not be read from the workspace's linked Alerts storage account (blob '" +
                                rule.query_location + "'): " + why, "AlertQueryUnavailable");
  }
  if (q->empty() || q->size() > kMaxQueryChars) {
    return Status(StatusCode::kDataLoss, "The rule's query blob '" + rule.query_location + "' is empty or longer than " +
                    std::to_string(kMaxQueryChars) + " characters.", "AlertQueryUnavailable");
  }
  return q;
}

std::vector<AlertEvent> AlertEvaluator::Apply(RuleState& st, const AlertRule& rule,
                                              const std::map<std::string, SeriesValue>& values,
                                              TimePoint tick, TimePoint from, EvaluationRecord& rec) {
  std::vector<AlertEvent> events;
  TimePoint now = tick + options_.latency;
  // Series seen before but without rows now count zero rows (a Count rule on "fewer than N").
  std::map<std::string, SeriesValue> all = values;
  for (const auto& [key, s] : st.series) {
    if (!all.count(key)) all[key].dims = s.dims;
  }
  for (const auto& [key, v] : all) {
    bool has_value = rule.aggregation == Aggregation::kCount || v.values > 0;
    double value = 0;
    switch (rule.aggregation) {
      case Aggregation::kCount: value = static_cast<double>(v.rows); break;
      case Aggregation::kAverage: value = v.values ? v.sum / static_cast<double>(v.values) : 0; break;
      case Aggregation::kMinimum: value = v.min; break;
      case Aggregation::kMaximum: value = v.max; break;
      case Aggregation::kTotal: value = v.sum; break;
    }
    bool breached = has_value && Compare(rule.op, value, rule.threshold);
    Series& s = st.series[key];
    s.dims = v.dims;
    s.history.push_back(breached);
    while (s.history.size() > static_cast<size_t>(rule.evaluation_periods)) s.history.pop_front();
    int failing = static_cast<int>(std::count(s.history.begin(), s.history.end(), true));
    bool condition = failing >= rule.min_failing_periods;
    ++rec.series;
    rec.failing_series += condition ? 1 : 0;
    AlertEvent e;
    e.window_start = from;
    e.window_end = tick;
    e.dimensions = v.dims;
    e.metric_value = value;
    if (condition && (!s.fired || !rule.auto_mitigate)) {
      s.fired = rule.auto_mitigate;
      s.alert_id = "/subscriptions/" + rule.subscription_id +
                   "/providers/Microsoft.AlertsManagement/alerts/" + NewAlertGuid(deps_.env.random);
      s.fired_time = now;
      e.fired = true;
      e.fired_time = now;
      e.alert_id = s.alert_id;
      ++rec.fired;
      e.muted = now < s.muted_until;  // recorded as an alert, not notified
      if (!e.muted && rule.mute_actions > Duration::zero()) s.muted_until = now + rule.mute_actions;
      events.push_back(std::move(e));
    } else if (!condition && s.fired && rule.auto_mitigate) {
      s.fired = false;
      e.fired = false;
      e.fired_time = s.fired_time;
      e.resolved_time = now;
      e.alert_id = s.alert_id;
      ++rec.resolved;
      events.push_back(std::move(e));
    }
  }
  // Forget quiet series that hold no state, so the map does not grow with every value seen.
  for (auto it = st.series.begin(); it != st.series.end();) {
    bool quiet = !it->second.fired && std::none_of(it->second.history.begin(), it->second.history.end(), [](bool b) { return b; });
    if (quiet && !values.count(it->first) && now >= it->second.muted_until) {
      it = st.series.erase(it);
    } else {
      ++it;
    }
  }
  rec.result = rec.fired > 0 ? "Fired" : rec.resolved > 0 ? "Resolved" : "Unchanged";
  return events;
}

// The Microsoft.AlertsManagement/alerts document of a fired (or resolved) alert.
void AlertEvaluator::WriteAlert(const AlertRule& rule, const AlertEvent& e, const std::string& workspace) {
  if (deps_.store == nullptr || e.alert_id.empty()) return;
  std::string guid = e.alert_id.substr(e.alert_id.rfind('/') + 1);
  auto seg = SplitPath(workspace);
  std::string rg = seg.size() > 3 ? seg[3] : "";
  bj::object payload = CommonAlertPayload(rule, e);
  bj::object ess{{"severity", "Sev" + std::to_string(rule.severity)},
                 {"signalType", "Log"},
                 {"alertState", "New"},
                 {"monitorCondition", e.fired ? "Fired" : "Resolved"},
                 {"targetResource", workspace},
                 {"targetResourceName", seg.empty() ? "" : seg.back()},
                 {"targetResourceGroup", rg},
                 {"targetResourceType", "microsoft.operationalinsights/workspaces"},
                 {"monitorService", rule.monitoring_service},
                 {"alertRule", rule.id},
                 {"sourceCreatedId", guid},
                 {"startDateTime", FormatRfc3339(e.fired_time, 7)},
                 {"lastModifiedDateTime", FormatRfc3339(e.fired ? e.fired_time : e.resolved_time, 7)},
                 {"lastModifiedUserName", "System"},
                 {"description", rule.description}};
  bool existed = false;
  if (auto old = deps_.store->Get(kAlertKind, guid); old.ok() && old->has_value()) {
    existed = true;
    if (auto o = json::ParseObject((*old)->body); o.ok()) {
      const bj::value* st = o->if_contains("properties");
      if (st && st->is_object() && st->as_object().contains("essentials")) {
        const bj::object& oe = st->as_object().at("essentials").as_object();
        if (const bj::value* a = oe.if_contains("alertState")) ess["alertState"] = *a;
        if (const bj::value* a = oe.if_contains("startDateTime")) ess["startDateTime"] = *a;
      }
    }
  }
  if (!e.fired) ess["monitorConditionResolvedDateTime"] = FormatRfc3339(e.resolved_time, 7);
  bj::object doc{{"id", e.alert_id},
                 {"name", guid},
                 {"type", "Microsoft.AlertsManagement/alerts"},
                 {"properties", bj::object{{"essentials", std::move(ess)},
                                           {"context", payload["data"].as_object()["alertContext"]},
                                           {"egressConfig", bj::object()}}}};
  deps_.store->Put(kAlertKind, guid, json::Serialize(doc)).IgnoreError();
  if (existed) return;
  bool prune = false;
  {
    MutexLock l(&mu_);
    prune = ++new_alerts_ >= kPruneEvery;
    if (prune) new_alerts_ = 0;
  }
  if (prune) PruneAlerts();
}

size_t AlertEvaluator::PruneAlerts() {
  MutexLock l(&prune_mu_);
  auto docs = deps_.store->List(kAlertKind, "");
  if (!docs.ok()) return 0;
  // (last modified, id), oldest first.
  std::vector<std::pair<std::string, std::string>> by_time;
  for (const auto& d : *docs) {
    auto o = json::ParseObject(d.body);
    std::string when;
    if (o.ok()) {
      const bj::value* p = o->if_contains("properties");
      const bj::value* e = p && p->is_object() ? p->as_object().if_contains("essentials") : nullptr;
      const bj::value* t = e && e->is_object() ? e->as_object().if_contains("lastModifiedDateTime") : nullptr;
      if (t && t->is_string()) when = std::string(t->as_string());
    }
    by_time.emplace_back(std::move(when), d.id);
  }
  std::sort(by_time.begin(), by_time.end());
  std::string cutoff = FormatRfc3339(deps_.env.clock->Now() - options_.alert_retention, 7);
  size_t excess = by_time.size() > options_.max_alerts ? by_time.size() - options_.max_alerts : 0;
  size_t removed = 0;
  deps_.store->Transaction([&](meta::DocumentOps& ops) -> Status {
    for (size_t i = 0; i < by_time.size(); ++i) {
      if (i >= excess && by_time[i].first >= cutoff) break;
      RETURN_IF_ERROR(ops.Delete(kAlertKind, by_time[i].second).status());
      ++removed;
    }
    return OkStatus();
  }).IgnoreError();
  return removed;
}

}  // namespace cmk::alerts
