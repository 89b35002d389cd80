#include "alerts/history.h"

#include <cstdio>

#include "base/json.h"

namespace cmk::alerts {
namespace {

namespace bj = boost::json;
const char* const kKinds[2] = {kEvaluationKind, kDeliveryKind};

std::string Text(const bj::object& o, const char* k) {
  const bj::value* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : "";
}

int64_t Ticks(const bj::object& o, const char* k) {
  auto t = ParseRfc3339(Text(o, k));
  return t.ok() ? cmk::Ticks(*t) : 0;
}

double Num(const bj::object& o, const char* k) {
  const bj::value* v = o.if_contains(k);
  return v && v->is_number() ? v->to_number<double>() : 0;
}

struct ColumnSpec {
  const char* name;
  kql::Type type;
  const char* key;  // the document member
};

// One table from the documents of `kind`: datetime members are RFC 3339 strings, numbers JSON
// numbers, the rest strings.
Status AddTable(meta::DocumentOps* store, const char* kind, const char* name,
                const std::vector<ColumnSpec>& cols, kql::InMemoryCatalog& catalog) {
  kql::Table t;
  t.name = name;
  for (const auto& c : cols) t.AddColumn(c.name, kql::Column(c.type));
  ASSIGN_OR_RETURN(auto docs, store->List(kind, ""));
  for (const auto& d : docs) {
    auto o = json::ParseObject(d.body);
    if (!o.ok()) continue;
    for (size_t i = 0; i < cols.size(); ++i) {
      kql::Column& col = t.columns[i];
      switch (cols[i].type) {
        case kql::Type::kDateTime: col.AppendInt(Ticks(*o, cols[i].key)); break;
        case kql::Type::kInt:
        case kql::Type::kLong: col.AppendInt(static_cast<int64_t>(Num(*o, cols[i].key))); break;
        case kql::Type::kReal: col.AppendReal(Num(*o, cols[i].key)); break;
        default: col.AppendString(Text(*o, cols[i].key)); break;
      }
    }
    ++t.rows;
  }
  catalog.Add(std::move(t));
  return OkStatus();
}

}  // namespace

Result<std::unique_ptr<AlertHistory>> AlertHistory::Open(meta::MetadataStore* store, size_t max_per_kind) {
  std::unique_ptr<AlertHistory> h(new AlertHistory(store, max_per_kind));
  for (int k = 0; k < 2; ++k) {
    ASSIGN_OR_RETURN(auto docs, store->List(kKinds[k], ""));
    for (auto& d : docs) h->ids_[k].push_back(std::move(d.id));
  }
  h->writer_ = std::thread([p = h.get()] { env::RunGuarded("alert history writer", [p] { p->Loop(); }); });
  return h;
}

AlertHistory::AlertHistory(meta::MetadataStore* store, size_t max_per_kind)
    : store_(store), max_per_kind_(std::max<size_t>(max_per_kind, 1)) {}

AlertHistory::~AlertHistory() {
  {
    MutexLock l(&mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  if (writer_.joinable()) writer_.join();
}

void AlertHistory::Record(const EvaluationRecord& r) {
  bj::object o{{"time", FormatRfc3339(r.time, 7)},
               {"ruleId", r.rule_id},
               {"ruleName", r.rule_id.substr(r.rule_id.rfind('/') + 1)},
               {"windowStart", FormatRfc3339(r.window_start, 7)},
               {"windowEnd", FormatRfc3339(r.window_end, 7)},
               {"result", r.result},
               {"series", r.series},
               {"failingSeries", r.failing_series},
               {"fired", r.fired},
               {"resolved", r.resolved},
               {"error", r.error},
               {"durationMs", r.duration_ms}};
  Enqueue(0, r.time, bj::serialize(o));
}

void AlertHistory::Record(const DeliveryRecord& r) {
  bj::object o{{"time", FormatRfc3339(r.time, 7)}, {"alertId", r.alert_id},
               {"ruleId", r.rule_id},              {"actionGroup", r.action_group},
               {"receiver", r.receiver},           {"kind", r.kind},
               {"target", r.target},               {"attempt", r.attempt},
               {"status", r.status},               {"result", r.result},
               {"error", r.error}};
  Enqueue(1, r.time, bj::serialize(o));
}

// Ids sort by time, then by a sequence number (several entries share a time).
void AlertHistory::Enqueue(int kind, TimePoint time, std::string body) {
  {
    MutexLock l(&mu_);
    char seq[24];
    std::snprintf(seq, sizeof seq, "/%016llx", static_cast<unsigned long long>(++seq_));
    queue_.push_back(Entry{kind, FormatRfc3339(time, 7) + seq, std::move(body)});
    ++queued_;
  }
  cv_.NotifyOne();
}

Status AlertHistory::Flush() {
  UniqueLock l(&mu_);
  uint64_t target = queued_;
  flushed_cv_.Wait(l, [&]() REQUIRES(mu_) { return written_ >= target || stop_; });
  Status s = error_;
  error_ = OkStatus();
  return s;
}

void AlertHistory::Loop() {
  for (;;) {
    std::vector<Entry> batch;
    {
      UniqueLock l(&mu_);
      cv_.Wait(l, [&]() REQUIRES(mu_) { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;
      batch.swap(queue_);
    }
    std::vector<std::string> evicted[2];
    for (const auto& e : batch) {
      ids_[e.kind].push_back(e.id);
      while (ids_[e.kind].size() > max_per_kind_) {
        evicted[e.kind].push_back(std::move(ids_[e.kind].front()));
        ids_[e.kind].pop_front();
      }
    }
    Status s = store_->Transaction([&](meta::DocumentOps& ops) -> Status {
      for (const auto& e : batch) RETURN_IF_ERROR(ops.Put(kKinds[e.kind], e.id, e.body));
      for (int k = 0; k < 2; ++k) {
        for (const auto& id : evicted[k]) RETURN_IF_ERROR(ops.Delete(kKinds[k], id).status());
      }
      return OkStatus();
    });
    MutexLock l(&mu_);
    if (!s.ok() && error_.ok()) error_ = s;
    written_ += batch.size();
    flushed_cv_.NotifyAll();
  }
}

Status AddHistoryTables(meta::DocumentOps* store, kql::InMemoryCatalog& catalog) {
  using T = kql::Type;
  RETURN_IF_ERROR(AddTable(store, kEvaluationKind, "AlertEvaluations",
                           {{"TimeGenerated", T::kDateTime, "time"},
                            {"RuleId", T::kString, "ruleId"},
                            {"RuleName", T::kString, "ruleName"},
                            {"WindowStart", T::kDateTime, "windowStart"},
                            {"WindowEnd", T::kDateTime, "windowEnd"},
                            {"Result", T::kString, "result"},
                            {"Series", T::kLong, "series"},
                            {"FailingSeries", T::kLong, "failingSeries"},
                            {"Fired", T::kLong, "fired"},
                            {"Resolved", T::kLong, "resolved"},
                            {"Error", T::kString, "error"},
                            {"DurationMs", T::kReal, "durationMs"}},
                           catalog));
  return AddTable(store, kDeliveryKind, "AlertDeliveries",
                  {{"TimeGenerated", T::kDateTime, "time"},
                   {"AlertId", T::kString, "alertId"},
                   {"RuleId", T::kString, "ruleId"},
                   {"ActionGroup", T::kString, "actionGroup"},
                   {"Receiver", T::kString, "receiver"},
                   {"Kind", T::kString, "kind"},
                   {"Target", T::kString, "target"},
                   {"Attempt", T::kLong, "attempt"},
                   {"HttpStatus", T::kLong, "status"},
                   {"Result", T::kString, "result"},
                   {"Error", T::kString, "error"}},
                  catalog);
}

}  // namespace cmk::alerts
