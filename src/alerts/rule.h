#pragma once
// Log search alert rules and action groups as the evaluator sees them, and their validation.
//
// The ARM provider (control/alert_rules_provider.h) stores each scheduledQueryRule with its
// properties normalized to the 2023-12-01 shape (whatever api-version wrote it: 2018-04-16
// bodies are converted by ConvertLegacyRule, 2020-05-01-preview and later are that shape with
// small differences ValidateRule accepts) and hands the parsed AlertRule to the evaluator.
// ValidateRule is the single place where a rule's documented rules are checked; it never
// throws and refuses hostile input with InvalidArgument and ARM's error codes (BadRequest with
// a message naming the property, as Azure's scheduledQueryRules RP answers).
// Thread safety: plain values.
#include <boost/json.hpp>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "base/status.h"
#include "base/time_format.h"

namespace cmk::alerts {

enum class Aggregation { kCount, kAverage, kMinimum, kMaximum, kTotal };
enum class Operator { kEquals, kGreaterThan, kGreaterThanOrEqual, kLessThan, kLessThanOrEqual };
const char* AggregationName(Aggregation a);
const char* OperatorName(Operator o);
bool Compare(Operator op, double value, double threshold);

struct Dimension {
  std::string name;
  bool include = true;              // Include | Exclude
  std::vector<std::string> values;  // "*" (Include only): every value
};

struct AlertRule {
  std::string id, name, location, description;
  std::string subscription_id;
  int severity = 3;
  bool enabled = true;
  std::vector<std::string> scopes;  // workspace resource ids (exactly one)
  Duration frequency{}, window{};
  std::optional<Duration> override_query_range;
  // The query text. Empty when the rule keeps it elsewhere (query_location says where).
  std::string query;
  // Where the query lives when not here: "{account}/{container}/{blob}" of a blob in the
  // workspace's linked `Alerts` storage account; the evaluator reads it through a QueryLoader
  // (EvaluatorDeps::load_query) at each evaluation.
  std::string query_location;
  Aggregation aggregation = Aggregation::kCount;
  std::string metric_column;  // empty: Count counts rows
  Operator op = Operator::kGreaterThan;
  double threshold = 0;
  std::vector<Dimension> dimensions;
  int evaluation_periods = 1, min_failing_periods = 1;
  Duration mute_actions{};
  bool auto_mitigate = true;
  std::vector<std::string> action_groups;
  std::map<std::string, std::string> custom_properties;
  // Who the query runs as: the rule's managed identity, else the principal that last wrote it.
  std::string principal_id;
  std::string monitoring_service = "Log Alerts V2";
};

struct WebhookReceiver {
  std::string name, service_uri;
  bool common_schema = false;
  bool aad_auth = false;
  std::string object_id, identifier_uri, tenant_id;
};

struct EmailReceiver {
  std::string name, address;
  bool common_schema = false;
};

struct ActionGroup {
  std::string id, short_name;
  bool enabled = true;
  std::vector<WebhookReceiver> webhooks;
  std::vector<EmailReceiver> emails;
};

// Documented bounds.
inline constexpr size_t kMaxDimensions = 6;
inline constexpr size_t kMaxActionGroups = 5;
inline constexpr size_t kMaxQueryChars = 20'000;
inline constexpr size_t kMaxReceivers = 100;  // per receiver type

// Validates 2023-12-01-shaped rule properties `p` (members case-insensitive) and returns the
// rule. `id` is the rule's resource id. Errors: InvalidArgument, code "BadRequest", the message
// naming the property.
Result<AlertRule> ValidateRule(const std::string& id, const std::string& location,
                               const boost::json::object& p);

// A 2018-04-16 (legacy LogSearchRule, AlertingAction) properties object converted to the
// 2023-12-01 shape (scopes, evaluationFrequency, windowSize, criteria.allOf[0], actions,
// severity as a number, enabled as a bool). Errors as ValidateRule.
Result<boost::json::object> ConvertLegacyRule(const boost::json::object& p);

// Validates action-group properties (2022-06-01 / 2023-01-01) and returns the group.
// Errors: InvalidArgument with code "BadRequest".
Result<ActionGroup> ValidateActionGroup(const std::string& id, const boost::json::object& p);

}  // namespace cmk::alerts
