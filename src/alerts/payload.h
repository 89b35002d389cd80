#pragma once
// The common alert schema (docs alerts-common-schema.md; reference/azure-api-2.md §22.3) of a
// log search alert (Log Alerts V2): the JSON a webhook receives when a series fires or resolves.
//
// Types follow the documented samples, odd as they are: `threshold` is a string,
// `targetResourceTypes` a string that looks like a list, `metricValue` a number, times RFC 3339
// UTC with 7 fractional digits. A rule whose workspace keeps alert queries in the customer's
// storage (`omit_query`) sends neither `searchQuery` nor the four links that embed it.
// The serialized payload is at most kMaxPayloadBytes (Azure's 256 KB): when larger, the links,
// then the query, then dimension values are dropped, in that order.
#include <boost/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "alerts/rule.h"
#include "base/time_format.h"

namespace cmk::alerts {

inline constexpr size_t kMaxPayloadBytes = 256 * 1024;

struct AlertEvent {
  std::string alert_id;  // /subscriptions/{s}/providers/Microsoft.AlertsManagement/alerts/{guid}
  bool fired = true;     // false: Resolved
  TimePoint fired_time, resolved_time;
  TimePoint window_start, window_end;
  std::vector<std::pair<std::string, std::string>> dimensions;
  double metric_value = 0;
  bool omit_query = false;
  bool muted = false;  // within the rule's muteActionsDuration: recorded, not sent
  // https://api.loganalytics.D[:port] for linkToSearchResultsAPI; empty: no links.
  std::string query_endpoint;
  std::string workspace_customer_id;
};

// The payload as a JSON object (not size-limited).
boost::json::object CommonAlertPayload(const AlertRule& rule, const AlertEvent& e);
// The payload's text, shrunk to kMaxPayloadBytes as described above.
std::string SerializePayload(const AlertRule& rule, const AlertEvent& e,
                             size_t limit = kMaxPayloadBytes);

}  // namespace cmk::alerts
