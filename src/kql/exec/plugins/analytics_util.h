#pragma once
// Pieces shared by the user-analytics plugins (analytics*.cc): reading their constant arguments,
// the analysis bins (fixed steps from Start, or calendar weeks/months/years), dense numbers for
// ids and dimension values, and the sliding-window count/dcount they are built on. ArgError is
// also the other plugins' (lookup.cc, schema_merge.cc) argument error.
// Errors: kInvalidArgument "SemanticError" naming the plugin; budget errors pass through.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kql/core/column.h"
#include "kql/exec/exec.h"
#include "kql/exec/plugins/plugins.h"

namespace cmk::kql::plugins::analytics {

// "<plugin>(): <message>", kInvalidArgument "SemanticError" (the binder adds the position).
Status ArgError(std::string_view plugin, const std::string& message);

// `v` clamped to the int64 range.
int64_t Saturate(__int128 v);
// later - earlier, saturated (timelines may be any long, so the difference may not fit).
inline int64_t Gap(int64_t later, int64_t earlier) {
  return Saturate(static_cast<__int128>(later) - earlier);
}

// Timelines are datetime, timespan, int or long (their values are integers: ticks or numbers).
bool IsTimelineType(Type t);
// Argument `i` must name an input column; its index.
Result<int> ColumnArg(std::string_view plugin, const PluginArgs& args, size_t i,
                      std::string_view what);
// Argument `i` must be a constant, non-null integer-valued scalar (int, long, datetime,
// timespan, or a real holding an integer); its value.
Result<int64_t> ConstInt(std::string_view plugin, const PluginArgs& args, size_t i,
                         std::string_view what);
// Argument `i` (Start, End, ...) must be a constant of the timeline's kind: a datetime for a
// datetime timeline, a timespan for a timespan one, a number for a numeric one.
Result<int64_t> TimeArg(std::string_view plugin, const PluginArgs& args, size_t i,
                        std::string_view what, Type timeline);
// A window length (LookbackWindow, MaxSequenceSpan, ...), argument `i`: a non-negative
// constant timespan for datetime and timespan timelines, a number (int, long, real holding an
// integer) for numeric ones, as the pages document; a datetime is no length.
Result<int64_t> SpanArg(std::string_view plugin, const PluginArgs& args, size_t i,
                        std::string_view what, Type timeline);
// Argument `i` must be a constant, non-null number (int, long, real, decimal).
Result<double> ConstReal(std::string_view plugin, const PluginArgs& args, size_t i,
                         std::string_view what);

// The analysis bins of a timeline: a fixed step counted from an origin (bin_at), or the
// calendar weeks (from Sunday), months or years of a datetime timeline (the strings "week",
// "month", "year"). Indexes of bins are consecutive integers.
class Bins {
 public:
  // `step` is argument `i`: a positive constant of the timeline's kind (timespan for datetime
  // and timespan timelines, a number for numeric ones) or one of the strings.
  static Result<Bins> Read(std::string_view plugin, const PluginArgs& args, size_t i, Type timeline,
                           int64_t origin);
  int64_t Index(int64_t t) const;
  // The first value of bin `index` (saturates at the int64 range).
  int64_t Start(int64_t index) const;
  // The step (fixed bins) or a calendar bin's nominal length: 7, 30 or 365 days.
  int64_t Width() const { return step_; }
  bool calendar() const { return kind_ != Kind::kFixed; }

 private:
  enum class Kind { kFixed, kWeek, kMonth, kYear };
  Kind kind_ = Kind::kFixed;
  int64_t origin_ = 0;
  int64_t step_ = 1;
};

// Bin indexes beyond this magnitude are refused (sums of indexes and windows stay in int64).
inline constexpr int64_t kMaxBinIndex = int64_t{1} << 60;
// The bin indexes [lo, hi] of Start..End (both inclusive); an error when End < Start or the
// range is beyond kMaxBinIndex.
struct BinRange {
  int64_t lo = 0, hi = 0;
};
Result<BinRange> RangeOf(std::string_view plugin, const Bins& bins, int64_t start, int64_t end);

// Dense numbers of the rows' values over some columns: equal values (nulls equal) get equal
// numbers 0, 1, ... in order of first appearance. `held` charges the two vectors to the query's
// budget for as long as the Keys live (moving Keys moves the charge).
struct Keys {
  std::vector<uint32_t> of_row;
  std::vector<uint32_t> first_row;  // per number: the first row holding it
  std::unique_ptr<MemoryReservation> held;
  size_t size() const { return first_row.size(); }
};
// With no columns every row gets number 0 (when there are rows).
Result<Keys> DenseKeys(const std::vector<const Column*>& columns, size_t rows,
                       const ExecContext& ctx);

// One occurrence of an id in a bin, under a dimensions' key.
struct Hit {
  uint32_t dim = 0;
  uint32_t id = 0;
  int64_t bin = 0;
};
// Per dimensions' key and bin b in [range.lo, range.hi]: the hits in the window of bins
// (b - window, b] (count) and their distinct ids (dcount). Bins without hits are left out;
// sorted by key, then bin. window >= 1. O(n log n) in the hits plus the rows returned.
struct BinCounts {
  uint32_t dim = 0;
  int64_t bin = 0;
  int64_t count = 0;
  int64_t dcount = 0;
};
Result<std::vector<BinCounts>> WindowCounts(std::vector<Hit> hits, int64_t window, BinRange range,
                                            const ExecContext& ctx);

// Appends, for each output row, the dimension columns' values of key dim_of_row[r] (the
// columns `dims` of `input`, numbered by `keys`).
void AddDimColumns(Table& out, const Table& input, const std::vector<int>& dims, const Keys& keys,
                   const std::vector<uint32_t>& dim_of_row);

// The common arguments' shape: Id and Timeline columns, then constants, then dimension columns
// from argument `first_dim` up to `end_dim` (excluded; the last argument by default).
struct Activity {
  int id = -1;
  int timeline = -1;
  Type type = Type::kDateTime;
  std::vector<int> dims;
  Keys ids, dim_keys;
};
Result<Activity> ReadActivity(std::string_view plugin, const Table& input, const PluginArgs& args,
                              size_t first_dim, const ExecContext& ctx, size_t end_dim = SIZE_MAX);

}  // namespace cmk::kql::plugins::analytics
