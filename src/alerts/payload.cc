#include "alerts/payload.h"

#include <cstdio>

#include "base/encoding.h"

namespace cmk::alerts {
namespace {

namespace bj = boost::json;

std::string ThresholdText(double t) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.15g", t);
  return buf;
}

// configurationItems come from the dimensions `_ResourceId`, `ResourceId`, `Resource`,
// `Computer`, in that priority (the schema's field table).
bj::array ConfigurationItems(const AlertEvent& e, const std::string& fallback) {
  for (const char* key : {"_ResourceId", "ResourceId", "Resource", "Computer"}) {
    for (const auto& [k, v] : e.dimensions) {
      if (EqualsIgnoreCase(k, key)) return bj::array{bj::string(v)};
    }
  }
  return bj::array{bj::string(fallback)};
}

std::string WorkspaceName(const std::string& id) {
  size_t slash = id.rfind('/');
  return slash == std::string::npos ? id : id.substr(slash + 1);
}

}  // namespace

bj::object CommonAlertPayload(const AlertRule& rule, const AlertEvent& e) {
  std::string target = rule.scopes.empty() ? "" : ToLower(rule.scopes[0]);
  bj::object essentials{
      {"alertId", e.alert_id},
      {"alertRule", rule.name},
      {"alertRuleID", rule.id},
      {"severity", "Sev" + std::to_string(rule.severity)},
      {"signalType", "Log"},
      {"monitorCondition", e.fired ? "Fired" : "Resolved"},
      {"monitoringService", rule.monitoring_service},
      {"alertTargetIDs", bj::array{bj::string(target)}},
      {"configurationItems", ConfigurationItems(e, WorkspaceName(target))},
      {"originAlertId", e.alert_id.substr(e.alert_id.rfind('/') + 1)},
      {"firedDateTime", FormatRfc3339(e.fired_time, 7)},
      {"description", rule.description},
      {"essentialsVersion", "1.0"},
      {"alertContextVersion", "1.0"}};
  if (!e.fired) essentials["resolvedDateTime"] = FormatRfc3339(e.resolved_time, 7);
  bj::array dims;
  for (const auto& [k, v] : e.dimensions) dims.emplace_back(bj::object{{"name", k}, {"value", v}});
  std::string timespan = FormatRfc3339(e.window_start, 7) + "/" + FormatRfc3339(e.window_end, 7);
  bj::object cond{{"metricMeasureColumn", rule.metric_column.empty() ? bj::value(nullptr)
                                                                     : bj::value(rule.metric_column)},
                  {"targetResourceTypes", "['Microsoft.OperationalInsights/workspaces']"},
                  {"operator", OperatorName(rule.op)},
                  {"threshold", ThresholdText(rule.threshold)},
                  {"timeAggregation", AggregationName(rule.aggregation)},
                  {"dimensions", std::move(dims)},
                  {"metricValue", e.metric_value},
                  {"failingPeriods", bj::object{{"numberOfEvaluationPeriods", rule.evaluation_periods},
                                                {"minFailingPeriodsToAlert", rule.min_failing_periods}}}};
  if (!e.omit_query) {
    cond["searchQuery"] = rule.query;
    if (!e.query_endpoint.empty()) {
      std::string api = e.query_endpoint + "/v1/workspaces/" + e.workspace_customer_id +
                        "/query?query=" + PercentEncode(rule.query) +
                        "&timespan=" + PercentEncode(timespan);
      cond["linkToSearchResultsAPI"] = api;
      cond["linkToFilteredSearchResultsAPI"] = api;
    }
  }
  bj::object props;
  for (const auto& [k, v] : rule.custom_properties) props[k] = v;
  bj::object context{{"properties", std::move(props)},
                     {"conditionType", "LogQueryCriteria"},
                     {"condition", bj::object{{"windowSize", FormatIsoDuration(rule.window)},
                                              {"allOf", bj::array{std::move(cond)}},
                                              {"windowStartTime", FormatRfc3339(e.window_start, 7)},
                                              {"windowEndTime", FormatRfc3339(e.window_end, 7)}}}};
  bj::object custom;
  for (const auto& [k, v] : rule.custom_properties) custom[k] = v;
  return bj::object{{"schemaId", "azureMonitorCommonAlertSchema"},
                    {"data", bj::object{{"essentials", std::move(essentials)},
                                        {"alertContext", std::move(context)},
                                        {"customProperties", custom.empty() ? bj::value(nullptr)
                                                                            : bj::value(std::move(custom))}}}};
}

std::string SerializePayload(const AlertRule& rule, const AlertEvent& e, size_t limit) {
  bj::object p = CommonAlertPayload(rule, e);
  std::string text = bj::serialize(p);
  if (text.size() <= limit) return text;
  bj::object& cond = p["data"].as_object()["alertContext"].as_object()["condition"]
                         .as_object()["allOf"].as_array()[0].as_object();
  for (const char* k : {"linkToSearchResultsAPI", "linkToFilteredSearchResultsAPI", "searchQuery"}) {
    cond.erase(k);
    text = bj::serialize(p);
    if (text.size() <= limit) return text;
  }
  for (auto& d : cond["dimensions"].as_array()) d.as_object()["value"] = "";
  text = bj::serialize(p);
  if (text.size() <= limit) return text;
  cond["dimensions"] = bj::array();
  p["data"].as_object()["customProperties"] = nullptr;
  p["data"].as_object()["alertContext"].as_object()["properties"] = bj::object();
  return bj::serialize(p);
}

}  // namespace cmk::alerts
