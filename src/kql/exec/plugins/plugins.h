#pragma once
// `evaluate` plugins (kql/exec/plugins): each takes its input table, materialized, and its
// arguments evaluated over it, and returns its output table. The binder (binder_evaluate.cc)
// runs them while binding, since their output schema depends on the data (bag_unpack's slots);
// pivot, which needs summarize's aggregates, is bound there directly.
// Errors: kInvalidArgument "SemanticError" for wrong arguments; budget errors pass through.
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kql/core/column.h"
#include "kql/exec/exec.h"

namespace cmk::kql::plugins {

struct PluginArgs {
  std::vector<Column> values;               // each argument over the input's rows (or constant)
  std::vector<std::string> names;           // `name=value` arguments' names, "" when positional
  std::vector<int> columns;                 // input column an argument names, else -1
  // A bare-name argument's name, else "". When the call has a tabular argument, a bare name
  // that is no input column is passed unbound (a null `values` entry, `columns` -1): it may name
  // a column of that table (ipv4_lookup's IPv4LookupKey).
  std::vector<std::string> idents;
  // A tabular argument's rows (run under the query's budget, like the input), else null; its
  // `values` entry is a null constant.
  std::vector<std::shared_ptr<const Table>> tables;
};

using PluginFn = Result<Table> (*)(const Table& input, const PluginArgs& args, const ExecContext& ctx);

struct PluginDef {
  std::string_view name;
  PluginFn run;
};

// The plugin called `name`, or null.
const PluginDef* FindPlugin(std::string_view name);
// Documented plugins cmklogs answers with "not supported", with the reason; nullopt otherwise.
std::optional<std::string_view> UnsupportedPlugin(std::string_view name);

// The plugins (one file each).
Result<Table> BagUnpack(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> Narrow(const Table& input, const PluginArgs& args, const ExecContext& ctx);
// lookup.cc: joins against a lookup table by IP range or by geography.
Result<Table> Ipv4Lookup(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> Ipv6Lookup(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> GeoLineLookup(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> GeoPolygonLookup(const Table& input, const PluginArgs& args, const ExecContext& ctx);
// analytics*.cc: user analytics and statistics.
Result<Table> ActiveUsersCount(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> ActivityCountsMetrics(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> ActivityEngagement(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> ActivityMetrics(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> Basket(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> DcountIntersect(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> FunnelSequence(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> FunnelSequenceCompletion(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> NewActivityMetrics(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> RollingPercentile(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> RowsNear(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> SchemaMerge(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> SequenceDetect(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> SessionCount(const Table& input, const PluginArgs& args, const ExecContext& ctx);
Result<Table> SlidingWindowCounts(const Table& input, const PluginArgs& args, const ExecContext& ctx);

}  // namespace cmk::kql::plugins
