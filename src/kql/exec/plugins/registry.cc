// The evaluate plugins cmklogs provides, and the documented ones it does not (with why).
#include <array>

#include "kql/exec/plugins/plugins.h"

namespace cmk::kql::plugins {

const PluginDef* FindPlugin(std::string_view name) {
  static constexpr std::array<PluginDef, 21> kPlugins = {{
      {"bag_unpack", &BagUnpack},
      {"narrow", &Narrow},
      {"ipv4_lookup", &Ipv4Lookup},
      {"ipv6_lookup", &Ipv6Lookup},
      {"geo_line_lookup", &GeoLineLookup},
      {"geo_polygon_lookup", &GeoPolygonLookup},
      {"active_users_count", &ActiveUsersCount},
      {"activity_counts_metrics", &ActivityCountsMetrics},
      {"activity_engagement", &ActivityEngagement},
      {"activity_metrics", &ActivityMetrics},
      {"basket", &Basket},
      {"dcount_intersect", &DcountIntersect},
      {"funnel_sequence", &FunnelSequence},
      {"funnel_sequence_completion", &FunnelSequenceCompletion},
      {"new_activity_metrics", &NewActivityMetrics},
      {"rolling_percentile", &RollingPercentile},
      {"rows_near", &RowsNear},
      {"schema_merge", &SchemaMerge},
      {"sequence_detect", &SequenceDetect},
      {"session_count", &SessionCount},
      {"sliding_window_counts", &SlidingWindowCounts},
  }};
  for (const PluginDef& p : kPlugins) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::optional<std::string_view> UnsupportedPlugin(std::string_view name) {
  struct Entry {
    std::string_view name, why;
  };
  static constexpr std::string_view kExternal =
      "it reaches an external service, which a self-hosted workspace does not call";
  static constexpr std::string_view kSandbox = "it runs user code in a sandbox, which cmklogs does not host";
  static constexpr std::string_view kMining =
      "its page names the algorithm but not the scoring and pruning that choose the patterns it shows";
  static constexpr std::array<Entry, 18> kUnsupported = {{
      {"http_request", kExternal}, {"http_request_post", kExternal}, {"sql_request", kExternal},
      {"mysql_request", kExternal}, {"postgresql_request", kExternal},
      {"cosmosdb_sql_request", kExternal}, {"azure_digital_twins_query_request", kExternal},
      {"ai_chat_completion", kExternal}, {"ai_chat_completion_prompt", kExternal},
      {"ai_embeddings", kExternal}, {"infer_storage_schema", kExternal},
      {"infer_storage_schema_with_suggestions", kExternal}, {"python", kSandbox}, {"r", kSandbox},
      {"preview", "it returns a second table, which is not provided"},
      {"autocluster", kMining}, {"diffpatterns", kMining}, {"diffpatterns_text", kMining},
  }};
  for (const Entry& e : kUnsupported) {
    if (e.name == name) return e.why;
  }
  return std::nullopt;
}

}  // namespace cmk::kql::plugins
