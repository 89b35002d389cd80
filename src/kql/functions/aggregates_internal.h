#pragma once
// Private to the aggregates (aggregates.cc dispatches to these by name; see aggregates.h).
#include <memory>
#include <span>
#include <string_view>

#include "kql/functions/aggregates.h"

namespace cmk::kql::agg {

// aggregates_stats.cc: binary_all_and/or/xor, covariance(p)(if), buildschema, percentilew(s),
// percentiles_array, percentilesw_array.
std::unique_ptr<Aggregator> MakeStatsAggregator(std::string_view name, std::span<const Type> types,
                                                std::span<const double> params);
// aggregates_sketch.cc: hll, hll_if, hll_merge, tdigest, tdigest_merge / merge_tdigest.
std::unique_ptr<Aggregator> MakeSketchAggregator(std::string_view name, std::span<const double> params);
// aggregates_sketch.cc: dcount, dcountif (an hll per group; params: the accuracy level).
std::unique_ptr<Aggregator> MakeDcountAggregator(std::span<const double> params, bool conditional);

}  // namespace cmk::kql::agg
