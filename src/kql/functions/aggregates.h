#pragma once
// Aggregation functions of `summarize` and `make-series`: count (count(x) counts every row,
// nulls too, as the docs show), countif, dcount, dcountif, count_distinct(if), sum, sumif, avg,
// avgif, min, max, minif, maxif, arg_min, arg_max, make_list(_if), make_list_with_nulls,
// make_set(_if), make_bag(_if), percentile(s), percentiles_array, percentilew(s),
// percentilesw_array, stdev(if), stdevp(if), variance(if), variancep(if), covariance(p)(if),
// binary_all_and/or/xor, buildschema, any/take_any, anyif/take_anyif, hll, hll_if, hll_merge,
// tdigest, tdigest_merge (merge_tdigest). aggregates.cc holds the common ones and the dispatch;
// aggregates_stats.cc and aggregates_sketch.cc the rest (aggregates_internal.h).
//
// An Aggregator holds the state of every group of one aggregate call and consumes whole chunks:
// its arguments evaluated as columns plus the group id of each row (hash aggregation in
// exec.cc assigns the ids). Nulls are ignored as Kusto does; an aggregate over no values is 0 for
// count/countif/dcount, an empty array for make_*, and null otherwise.
// dcount is exact (a hash set of values per group), where Kusto's is a HyperLogLog estimate;
// hll()/dcount_hll() are HyperLogLog sketches (sketch.h), exact up to 1000 values.
// percentile(s) use nearest rank (Kusto's definition): the value at rank ceil(p/100 * n).
// Thread safety: an Aggregator is used by one thread at a time.
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kql/core/column.h"

namespace cmk::kql {

// A group Aggregator::Merge leaves out.
inline constexpr uint32_t kNoGroup = UINT32_MAX;

class Aggregator {
 public:
  virtual ~Aggregator() = default;
  // `args` are the evaluated arguments for `groups.size()` rows; `groups[r]` < num_groups.
  virtual void Update(std::span<const Column* const> args, std::span<const uint32_t> groups,
                      size_t num_groups) = 0;
  // One column per output (arg_max/percentiles may have several), `num_groups` rows each.
  virtual std::vector<Column> Finish(size_t num_groups) = 0;
  // Approximate bytes of state that grows with the values seen (lists, sets, percentiles),
  // beyond a fixed few words per group; charged to the query's memory budget.
  virtual size_t StateBytes() const { return 0; }
  // Bytes of the few words a group that every group holds (vectors indexed by group, as
  // allocated): an estimate of 32 a group unless the aggregator knows better.
  virtual size_t GroupBytes(size_t num_groups) const { return 32 * num_groups; }
  // Whether Merge is supported: partial aggregates built on several threads can then be folded
  // into one (exec's HashAggregation::Merge).
  virtual bool Mergeable() const { return false; }
  // Folds `later`, an aggregator of the same call over rows that came after this one's, into
  // this one: its group g is group `groups[g]` here (`groups` covers all its groups), or none
  // when kNoGroup (a share of its groups merged: exec's HashAggregation::MergeSome). The result
  // is the one Update over all the rows in order would give, except the rounding of real sums.
  virtual void Merge(const Aggregator& later, std::span<const uint32_t> groups, size_t num_groups) {
    (void)later, (void)groups, (void)num_groups;
  }
  // Called once on a partial aggregation (one chunk's, merged later) on the thread that built
  // it, before it is handed to Merge: work that makes the merge cheaper is done there, on every
  // core, not on the query's one thread (percentile sorts its values).
  virtual void Seal() {}
};

struct AggregateDef {
  std::string_view name;
  int min_args = 0;
  int max_args = 0;       // -1: any number (arg_max columns, percentiles)
  int value_args = 0;     // leading arguments that are row values; the rest are constants
  std::string_view prefix;  // default output name: prefix + column name ("sum_" + "x")
};

// nullptr when `name` is not an aggregate.
const AggregateDef* FindAggregate(std::string_view name);

// Output types for argument types `args` (value arguments only) and `params` (constant
// arguments, e.g. percentiles). kInvalidArgument/"SemanticError" when the types don't fit.
Result<std::vector<Type>> AggregateTypes(const AggregateDef& def, std::span<const Type> args,
                                         std::span<const double> params);

// A fresh aggregator for outputs of `types`.
std::unique_ptr<Aggregator> MakeAggregator(const AggregateDef& def, std::span<const Type> types,
                                           std::span<const double> params);

}  // namespace cmk::kql
