#include "alerts/rule.h"

#include <array>
#include <cmath>

#include "base/encoding.h"
#include "base/json.h"

namespace cmk::alerts {
namespace {

namespace bj = boost::json;

Status Bad(std::string message) { return InvalidArgument(std::move(message), "BadRequest"); }

constexpr std::array<const char*, 5> kAggregations = {"Count", "Average", "Minimum", "Maximum",
                                                      "Total"};
constexpr std::array<const char*, 5> kOperators = {"Equals", "GreaterThan", "GreaterThanOrEqual",
                                                   "LessThan", "LessThanOrEqual"};

template <size_t N>
int IndexOf(const std::array<const char*, N>& list, std::string_view s) {
  for (size_t i = 0; i < N; ++i) {
    if (EqualsIgnoreCase(list[i], s)) return static_cast<int>(i);
  }
  return -1;
}

const bj::value* Member(const bj::object& o, std::string_view k) {
  const bj::value* v = json::FindCI(o, k);
  return v == nullptr || v->is_null() ? nullptr : v;
}

Result<std::string> String(const bj::object& o, std::string_view k, bool required,
                           const std::string& where) {
  const bj::value* v = Member(o, k);
  if (v == nullptr) {
    if (required) return Bad("The property '" + where + std::string(k) + "' is required.");
    return std::string();
  }
  if (!v->is_string()) return Bad("The property '" + where + std::string(k) + "' must be a string.");
  return std::string(v->as_string());
}

Result<bool> Bool(const bj::object& o, std::string_view k, bool dflt, const std::string& where) {
  const bj::value* v = Member(o, k);
  if (v == nullptr) return dflt;
  if (v->is_bool()) return v->as_bool();
  return Bad("The property '" + where + std::string(k) + "' must be true or false.");
}

Result<double> Number(const bj::object& o, std::string_view k, const std::string& where) {
  const bj::value* v = Member(o, k);
  if (v == nullptr) return Bad("The property '" + where + std::string(k) + "' is required.");
  if (!v->is_number()) return Bad("The property '" + where + std::string(k) + "' must be a number.");
  double d = v->to_number<double>();
  if (!std::isfinite(d)) return Bad("The property '" + where + std::string(k) + "' must be finite.");
  return d;
}

Result<Duration> DurationIn(const bj::object& o, std::string_view k, Duration min, Duration max,
                            std::optional<Duration> dflt) {
  const bj::value* v = Member(o, k);
  std::string name(k);
  if (v == nullptr) {
    if (dflt) return *dflt;
    return Bad("The property '" + name + "' is required.");
  }
  if (!v->is_string() || v->as_string().size() > 64) {
    return Bad("The property '" + name + "' must be an ISO 8601 duration such as PT5M.");
  }
  auto d = ParseIsoDuration(std::string(v->as_string()));
  if (!d.ok()) return Bad("The property '" + name + "' must be an ISO 8601 duration such as PT5M.");
  if (*d < min || *d > max) {
    return Bad("The property '" + name + "' must be between " + FormatIsoDuration(min) + " and " +
               FormatIsoDuration(max) + ".");
  }
  if (*d % std::chrono::minutes(1) != Duration::zero()) {
    return Bad("The property '" + name + "' must be a whole number of minutes.");
  }
  return *d;
}

Result<std::vector<std::string>> Strings(const bj::value* v, const std::string& name, size_t max) {
  std::vector<std::string> out;
  if (v == nullptr) return out;
  if (!v->is_array() || v->as_array().size() > max) {
    return Bad("The property '" + name + "' must be an array of at most " + std::to_string(max) +
               " strings.");
  }
  for (const auto& e : v->as_array()) {
    if (!e.is_string() || e.as_string().empty() || e.as_string().size() > 1024) {
      return Bad("The property '" + name + "' must hold non-empty strings.");
    }
    out.emplace_back(e.as_string());
  }
  return out;
}

Result<Dimension> ParseDimension(const bj::value& v) {
  if (!v.is_object()) return Bad("Each of 'criteria.allOf[0].dimensions' must be an object.");
  const bj::object& o = v.as_object();
  Dimension d;
  ASSIGN_OR_RETURN(d.name, String(o, "name", true, "dimensions[]."));
  if (d.name.empty() || d.name.size() > 256) return Bad("A dimension's name must be 1 to 256 characters.");
  ASSIGN_OR_RETURN(std::string op, String(o, "operator", false, "dimensions[]."));
  if (op.empty() || EqualsIgnoreCase(op, "Include")) {
    d.include = true;
  } else if (EqualsIgnoreCase(op, "Exclude")) {
    d.include = false;
  } else {
    return Bad("The dimension operator '" + op.substr(0, 64) + "' is not valid: use Include or Exclude.");
  }
  ASSIGN_OR_RETURN(d.values, Strings(Member(o, "values"), "dimensions[].values", 100));
  if (d.values.empty()) d.values = {"*"};
  for (const auto& val : d.values) {
    if (val == "*" && !d.include) return Bad("The value '*' can only be used with the Include operator.");
  }
  return d;
}

// criteria.allOf[0] of a log alert: query, aggregation, operator, threshold, dimensions, periods.
Status ParseCondition(const bj::object& c, AlertRule& r) {
  ASSIGN_OR_RETURN(r.query, String(c, "query", true, "criteria.allOf[0]."));
  if (r.query.empty() || r.query.size() > kMaxQueryChars) {
    return Bad("The query must be 1 to " + std::to_string(kMaxQueryChars) + " characters.");
  }
  ASSIGN_OR_RETURN(std::string agg, String(c, "timeAggregation", true, "criteria.allOf[0]."));
  int a = IndexOf(kAggregations, agg);
  if (a < 0) return Bad("The timeAggregation '" + agg.substr(0, 64) + "' is not valid: use Count, Average, Minimum, Maximum or Total.");
  r.aggregation = static_cast<Aggregation>(a);
  ASSIGN_OR_RETURN(r.metric_column, String(c, "metricMeasureColumn", false, "criteria.allOf[0]."));
  if (r.aggregation != Aggregation::kCount && r.metric_column.empty()) {
    return Bad("The property 'metricMeasureColumn' is required when timeAggregation is " + agg + ".");
  }
  ASSIGN_OR_RETURN(std::string op, String(c, "operator", true, "criteria.allOf[0]."));
  int o = IndexOf(kOperators, op);
  if (o < 0 && EqualsIgnoreCase(op, "Equal")) o = 0;
  if (o < 0) return Bad("The operator '" + op.substr(0, 64) + "' is not valid: use Equals, GreaterThan, GreaterThanOrEqual, LessThan or LessThanOrEqual.");
  r.op = static_cast<Operator>(o);
  ASSIGN_OR_RETURN(r.threshold, Number(c, "threshold", "criteria.allOf[0]."));
  if (const bj::value* dims = Member(c, "dimensions")) {
    if (!dims->is_array() || dims->as_array().size() > kMaxDimensions) {
      return Bad("A rule has at most " + std::to_string(kMaxDimensions) + " dimensions.");
    }
    for (const auto& d : dims->as_array()) {
      ASSIGN_OR_RETURN(Dimension dim, ParseDimension(d));
      for (const auto& other : r.dimensions) {
        if (EqualsIgnoreCase(other.name, dim.name)) return Bad("The dimension '" + dim.name + "' is given twice.");
      }
      r.dimensions.push_back(std::move(dim));
    }
  }
  if (const bj::value* fp = Member(c, "failingPeriods")) {
    if (!fp->is_object()) return Bad("The property 'failingPeriods' must be an object.");
    const bj::object& f = fp->as_object();
    const bj::value* n = Member(f, "numberOfEvaluationPeriods");
    const bj::value* m = Member(f, "minFailingPeriodsToAlert");
    if ((n && !n->is_int64()) || (m && !m->is_int64())) return Bad("failingPeriods' members must be integers.");
    int64_t nn = n ? n->as_int64() : 1, mm = m ? m->as_int64() : 1;
    if (nn < 1 || nn > 6 || mm < 1 || mm > nn) {
      return Bad("failingPeriods: numberOfEvaluationPeriods must be 1 to 6 and minFailingPeriodsToAlert 1 to numberOfEvaluationPeriods.");
    }
    r.evaluation_periods = static_cast<int>(nn);
    r.min_failing_periods = static_cast<int>(mm);
  }
  return OkStatus();
}

// `actions`: 2021-08-01+ {actionGroups[], customProperties{}}; 2020-05-01-preview
// [{actionGroupId, webHookProperties}].
Status ParseActions(const bj::value* v, AlertRule& r) {
  if (v == nullptr) return OkStatus();
  auto add_props = [&](const bj::value* props) -> Status {
    if (props == nullptr) return OkStatus();
    if (!props->is_object() || props->as_object().size() > 100) return Bad("customProperties must be an object of at most 100 strings.");
    for (const auto& kv : props->as_object()) {
      if (!kv.value().is_string()) return Bad("customProperties values must be strings.");
      r.custom_properties[std::string(kv.key())] = std::string(kv.value().as_string());
    }
    return OkStatus();
  };
  if (v->is_array()) {
    if (v->as_array().size() > kMaxActionGroups) return Bad("A rule has at most 5 action groups.");
    for (const auto& e : v->as_array()) {
      if (!e.is_object()) return Bad("Each action must be an object.");
      ASSIGN_OR_RETURN(std::string id, String(e.as_object(), "actionGroupId", true, "actions[]."));
      r.action_groups.push_back(id);
      RETURN_IF_ERROR(add_props(Member(e.as_object(), "webHookProperties")));
    }
    return OkStatus();
  }
  if (!v->is_object()) return Bad("The property 'actions' must be an object.");
  ASSIGN_OR_RETURN(r.action_groups, Strings(Member(v->as_object(), "actionGroups"), "actions.actionGroups", kMaxActionGroups));
  return add_props(Member(v->as_object(), "customProperties"));
}

// Receiver names are unique across all of a group's receivers (any case).
struct ReceiverNames {
  std::vector<std::string> seen;
  Status Add(const std::string& n) {
    if (n.empty() || n.size() > 128) return Bad("A receiver's name must be 1 to 128 characters.");
    for (const auto& o : seen) {
      if (EqualsIgnoreCase(o, n)) {
        return Bad("The receiver name '" + n + "' is used twice: receiver names must be unique in an action group.");
      }
    }
    seen.push_back(n);
    return OkStatus();
  }
};

Result<const bj::array*> ReceiverList(const bj::object& p, const char* k) {
  const bj::value* v = Member(p, k);
  if (v == nullptr) return static_cast<const bj::array*>(nullptr);
  if (!v->is_array() || v->as_array().size() > kMaxReceivers) {
    return Bad("The property '" + std::string(k) + "' must be an array of at most 100 receivers.");
  }
  return &v->as_array();
}

Result<WebhookReceiver> ParseWebhook(const bj::value& v, ReceiverNames& names) {
  if (!v.is_object()) return Bad("Each webhook receiver must be an object.");
  const bj::object& o = v.as_object();
  const std::string where = "webhookReceivers[].";
  WebhookReceiver w;
  ASSIGN_OR_RETURN(w.name, String(o, "name", true, where));
  RETURN_IF_ERROR(names.Add(w.name));
  ASSIGN_OR_RETURN(w.service_uri, String(o, "serviceUri", true, where));
  if (w.service_uri.size() > 2048 || !(StartsWithIgnoreCase(w.service_uri, "https://") ||
                                       StartsWithIgnoreCase(w.service_uri, "http://"))) {
    return Bad("The serviceUri of webhook receiver '" + w.name + "' must be an http or https URL.");
  }
  ASSIGN_OR_RETURN(w.common_schema, Bool(o, "useCommonAlertSchema", false, where));
  ASSIGN_OR_RETURN(w.aad_auth, Bool(o, "useAadAuth", false, where));
  ASSIGN_OR_RETURN(w.object_id, String(o, "objectId", false, where));
  ASSIGN_OR_RETURN(w.identifier_uri, String(o, "identifierUri", false, where));
  ASSIGN_OR_RETURN(w.tenant_id, String(o, "tenantId", false, where));
  if (w.aad_auth && w.identifier_uri.empty()) {
    return Bad("Webhook receiver '" + w.name + "' uses AAD authentication: identifierUri is required.");
  }
  return w;
}

Result<EmailReceiver> ParseEmail(const bj::value& v, ReceiverNames& names) {
  if (!v.is_object()) return Bad("Each email receiver must be an object.");
  const bj::object& o = v.as_object();
  EmailReceiver e;
  ASSIGN_OR_RETURN(e.name, String(o, "name", true, "emailReceivers[]."));
  RETURN_IF_ERROR(names.Add(e.name));
  ASSIGN_OR_RETURN(e.address, String(o, "emailAddress", true, "emailReceivers[]."));
  size_t at = e.address.find('@');
  // An address goes into the outbox file as is: one line, no header-breaking characters.
  if (e.address.size() > 254 || at == std::string::npos || at == 0 || at + 1 >= e.address.size() ||
      e.address.find_first_of(" \r\n\t<>\"") != std::string::npos) {
    return Bad("The emailAddress of receiver '" + e.name + "' is not a valid address.");
  }
  ASSIGN_OR_RETURN(e.common_schema, Bool(o, "useCommonAlertSchema", false, "emailReceivers[]."));
  return e;
}

}  // namespace

const char* AggregationName(Aggregation a) { return kAggregations[static_cast<size_t>(a)]; }
const char* OperatorName(Operator o) { return kOperators[static_cast<size_t>(o)]; }

bool Compare(Operator op, double v, double t) {
  switch (op) {
    case Operator::kEquals: return v == t;
    case Operator::kGreaterThan: return v > t;
    case Operator::kGreaterThanOrEqual: return v >= t;
    case Operator::kLessThan: return v < t;
    case Operator::kLessThanOrEqual: return v <= t;
  }
  return false;
}

Result<AlertRule> ValidateRule(const std::string& id, const std::string& location,
                               const bj::object& p) {
  AlertRule r;
  r.id = id;
  r.location = location;
  size_t slash = id.rfind('/');
  r.name = slash == std::string::npos ? id : id.substr(slash + 1);
  if (id.size() > 15 && EqualsIgnoreCase(id.substr(0, 15), "/subscriptions/")) {
    r.subscription_id = id.substr(15, id.find('/', 15) - 15);
  }
  ASSIGN_OR_RETURN(r.description, String(p, "description", false, ""));
  if (r.description.size() > 4096) return Bad("The description is longer than 4096 characters.");
  if (const bj::value* s = Member(p, "severity")) {
    double d = s->is_number() ? s->to_number<double>() : -1;
    if (d != std::floor(d) || d < 0 || d > 4) return Bad("The property 'severity' must be 0, 1, 2, 3 or 4.");
    r.severity = static_cast<int>(d);
  }
  ASSIGN_OR_RETURN(r.enabled, Bool(p, "enabled", true, ""));
  ASSIGN_OR_RETURN(r.scopes, Strings(Member(p, "scopes"), "scopes", 1));
  if (r.scopes.size() != 1) return Bad("The property 'scopes' must name exactly one Log Analytics workspace.");
  ASSIGN_OR_RETURN(r.frequency, DurationIn(p, "evaluationFrequency", std::chrono::minutes(1),
                                           std::chrono::hours(24), std::nullopt));
  ASSIGN_OR_RETURN(r.window, DurationIn(p, "windowSize", std::chrono::minutes(1),
                                        std::chrono::hours(48), std::nullopt));
  if (r.frequency > r.window) {
    return Bad("The evaluationFrequency (" + FormatIsoDuration(r.frequency) +
               ") cannot be longer than the windowSize (" + FormatIsoDuration(r.window) + ").");
  }
  if (Member(p, "overrideQueryTimeRange")) {
    ASSIGN_OR_RETURN(Duration o, DurationIn(p, "overrideQueryTimeRange", r.window,
                                            std::chrono::hours(48), std::nullopt));
    r.override_query_range = o;
  }
  ASSIGN_OR_RETURN(r.mute_actions, DurationIn(p, "muteActionsDuration", Duration::zero(),
                                              std::chrono::hours(48), Duration::zero()));
  ASSIGN_OR_RETURN(r.auto_mitigate, Bool(p, "autoMitigate", true, ""));
  const bj::value* criteria = Member(p, "criteria");
  const bj::value* all_of = criteria && criteria->is_object() ? Member(criteria->as_object(), "allOf") : nullptr;
  if (all_of == nullptr || !all_of->is_array() || all_of->as_array().size() != 1 ||
      !all_of->as_array()[0].is_object()) {
    return Bad("The property 'criteria.allOf' must hold exactly one condition.");
  }
  RETURN_IF_ERROR(ParseCondition(all_of->as_array()[0].as_object(), r));
  RETURN_IF_ERROR(ParseActions(Member(p, "actions"), r));
  return r;
}

namespace {

// The condition of a legacy AlertingAction: its trigger over the source's query. A metric
// trigger counts rows per value of its column: a dimension over every value.
Result<bj::object> LegacyCondition(const bj::object& s, const bj::object& a) {
  const bj::value* trig = Member(a, "trigger");
  if (trig == nullptr || !trig->is_object()) return Bad("The property 'action.trigger' is required.");
  ASSIGN_OR_RETURN(std::string op, String(trig->as_object(), "thresholdOperator", true, "action.trigger."));
  ASSIGN_OR_RETURN(double threshold, Number(trig->as_object(), "threshold", "action.trigger."));
  bj::object cond{{"query", Member(s, "query") ? *Member(s, "query") : bj::value(nullptr)},
                  {"timeAggregation", "Count"},
                  {"operator", op},
                  {"threshold", threshold}};
  if (const bj::value* mt = Member(trig->as_object(), "metricTrigger"); mt && mt->is_object()) {
    ASSIGN_OR_RETURN(std::string col, String(mt->as_object(), "metricColumn", false, "metricTrigger."));
    if (!col.empty()) {
      cond["dimensions"] = bj::array{bj::object{{"name", col}, {"operator", "Include"}, {"values", bj::array{"*"}}}};
    }
  }
  return cond;
}

}  // namespace

Result<bj::object> ConvertLegacyRule(const bj::object& p) {
  const bj::value* src = Member(p, "source");
  const bj::value* sched = Member(p, "schedule");
  const bj::value* action = Member(p, "action");
  if (src == nullptr || !src->is_object()) return Bad("The property 'source' is required.");
  if (action == nullptr || !action->is_object()) return Bad("The property 'action' is required.");
  if (sched == nullptr || !sched->is_object()) return Bad("The property 'schedule' is required for an alerting action.");
  const bj::object& s = src->as_object();
  const bj::object& a = action->as_object();
  ASSIGN_OR_RETURN(std::string type, String(a, "odata.type", true, "action."));
  if (type.find("AlertingAction") == std::string::npos) {
    return Bad("Only AlertingAction rules are supported (odata.type '" + type.substr(0, 200) + "').");
  }
  ASSIGN_OR_RETURN(std::string ws, String(s, "dataSourceId", true, "source."));
  bj::object out;
  if (const bj::value* d = Member(p, "description")) out["description"] = *d;
  ASSIGN_OR_RETURN(std::string enabled, String(p, "enabled", false, ""));
  if (!enabled.empty() && !EqualsIgnoreCase(enabled, "true") && !EqualsIgnoreCase(enabled, "false")) {
    return Bad("The property 'enabled' must be \"true\" or \"false\".");
  }
  out["enabled"] = !EqualsIgnoreCase(enabled, "false");
  ASSIGN_OR_RETURN(std::string sev, String(a, "severity", false, "action."));
  if (!sev.empty() && (sev.size() != 1 || sev[0] < '0' || sev[0] > '4')) {
    return Bad("The property 'action.severity' must be \"0\" to \"4\".");
  }
  out["severity"] = sev.empty() ? 3 : sev[0] - '0';
  out["scopes"] = bj::array{bj::string(ws)};
  const bj::object& sc = sched->as_object();
  const bj::value* freq = Member(sc, "frequencyInMinutes");
  const bj::value* win = Member(sc, "timeWindowInMinutes");
  if (!freq || !freq->is_int64() || !win || !win->is_int64() || freq->as_int64() < 1 ||
      freq->as_int64() > 1440 || win->as_int64() < 1 || win->as_int64() > 2880) {
    return Bad("schedule.frequencyInMinutes (1-1440) and schedule.timeWindowInMinutes (1-2880) are required integers.");
  }
  out["evaluationFrequency"] = FormatIsoDuration(std::chrono::minutes(freq->as_int64()));
  out["windowSize"] = FormatIsoDuration(std::chrono::minutes(win->as_int64()));
  ASSIGN_OR_RETURN(bool mitigate, Bool(p, "autoMitigate", false, ""));
  out["autoMitigate"] = mitigate;
  if (const bj::value* t = Member(a, "throttlingInMin"); t && t->is_int64() && t->as_int64() > 0) {
    out["muteActionsDuration"] = FormatIsoDuration(std::chrono::minutes(std::min<int64_t>(t->as_int64(), 2880)));
  }
  ASSIGN_OR_RETURN(bj::object cond, LegacyCondition(s, a));
  out["criteria"] = bj::object{{"allOf", bj::array{std::move(cond)}}};
  bj::array groups;
  if (const bj::value* az = Member(a, "aznsAction"); az && az->is_object()) {
    if (const bj::value* g = Member(az->as_object(), "actionGroup")) groups = g->is_array() ? g->as_array() : bj::array{};
  }
  out["actions"] = bj::object{{"actionGroups", std::move(groups)}};
  return out;
}

Result<ActionGroup> ValidateActionGroup(const std::string& id, const bj::object& p) {
  ActionGroup g;
  g.id = id;
  ASSIGN_OR_RETURN(g.short_name, String(p, "groupShortName", true, ""));
  if (g.short_name.empty() || g.short_name.size() > 12) {
    return Bad("The property 'groupShortName' must be 1 to 12 characters.");
  }
  ASSIGN_OR_RETURN(g.enabled, Bool(p, "enabled", true, ""));
  ReceiverNames names;
  ASSIGN_OR_RETURN(const bj::array* hooks, ReceiverList(p, "webhookReceivers"));
  for (size_t i = 0; hooks && i < hooks->size(); ++i) {
    ASSIGN_OR_RETURN(WebhookReceiver w, ParseWebhook((*hooks)[i], names));
    g.webhooks.push_back(std::move(w));
  }
  ASSIGN_OR_RETURN(const bj::array* mails, ReceiverList(p, "emailReceivers"));
  for (size_t i = 0; mails && i < mails->size(); ++i) {
    ASSIGN_OR_RETURN(EmailReceiver e, ParseEmail((*mails)[i], names));
    g.emails.push_back(std::move(e));
  }
  // The other receiver types are accepted and kept (their names count for uniqueness) but
  // nothing is sent to them: no SMS, voice, ITSM, runbook, function or event hub exists here.
  for (const char* other : {"smsReceivers", "itsmReceivers", "azureAppPushReceivers", "automationRunbookReceivers",
                            "voiceReceivers", "logicAppReceivers", "azureFunctionReceivers", "armRoleReceivers",
                            "eventHubReceivers"}) {
    ASSIGN_OR_RETURN(const bj::array* l, ReceiverList(p, other));
    for (size_t i = 0; l && i < l->size(); ++i) {
      if (!(*l)[i].is_object()) return Bad("Each receiver of '" + std::string(other) + "' must be an object.");
      ASSIGN_OR_RETURN(std::string n, String((*l)[i].as_object(), "name", true, std::string(other) + "[]."));
      RETURN_IF_ERROR(names.Add(n));
    }
  }
  return g;
}

}  // namespace cmk::alerts
