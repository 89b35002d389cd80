// Activity plugins over analysis bins: sliding_window_counts, activity_counts_metrics,
// active_users_count, activity_engagement, activity_metrics and session_count. Each reduces its
// input to hits (dimensions' key, id, bin) and counts them with WindowCounts (analytics_util.h):
// O(n log n) in the rows plus one output row per key and bin with activity in the window. That
// output is not bounded by the input (a hit counts in every bin of its window: 1-tick bins
// under a 300-day window are 2.6e14 bins per key, and a range may hold up to 2^61): it is charged
// to the budget as it grows, so the memory limit ends such a query. Output rows are ordered by key
// (first appearance) then bin.
#include <algorithm>
#include <boost/unordered/unordered_flat_map.hpp>
#include <cmath>
#include <limits>

#include "kql/exec/eval.h"
#include "kql/exec/plugins/analytics_util.h"
#include "kql/exec/plugins/plugins.h"

namespace cmk::kql::plugins {
namespace {

using analytics::Activity;
using analytics::ArgError;
using analytics::BinCounts;
using analytics::BinRange;
using analytics::Bins;
using analytics::ConstInt;
using analytics::Hit;
using analytics::SpanArg;
using analytics::TimeArg;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One row's visit: its dimensions' key, id and time.
struct Visit {
  uint32_t dim, id;
  int64_t t;
};

// The rows with a non-null timeline in [lo, hi], sorted by key, id, time.
Result<std::vector<Visit>> Visits(const Table& input, const Activity& a, int64_t lo, int64_t hi,
                                  MemoryReservation& held, const ExecContext& ctx) {
  const Column& tl = input.columns[static_cast<size_t>(a.timeline)];
  RETURN_IF_ERROR(held.Grow(input.rows * sizeof(Visit)));
  std::vector<Visit> v;
  v.reserve(input.rows);
  for (size_t r = 0; r < input.rows; ++r) {
    if (tl.IsNull(r) || tl.Int(r) < lo || tl.Int(r) > hi) continue;
    v.push_back({a.dim_keys.of_row[r], a.ids.of_row[r], tl.Int(r)});
  }
  RETURN_IF_ERROR(CheckBudget(ctx));
  std::sort(v.begin(), v.end(), [](const Visit& x, const Visit& y) {
    return std::tie(x.dim, x.id, x.t) < std::tie(y.dim, y.id, y.t);
  });
  return v;
}

std::vector<Hit> HitsOf(const std::vector<Visit>& visits, const Bins& bins) {
  std::vector<Hit> hits;
  hits.reserve(visits.size());
  for (const Visit& v : visits) hits.push_back({v.dim, v.id, bins.Index(v.t)});
  return hits;
}

// The output's leading columns: the timeline (each row's bin start), then the dimensions.
Table StartTable(const Table& input, const Activity& a, const Bins& bins,
                 const std::vector<BinCounts>& rows, bool dims_last) {
  Table out;
  Column tl(a.type);
  std::vector<uint32_t> dims;
  for (const BinCounts& r : rows) {
    tl.AppendInt(bins.Start(r.bin));
    dims.push_back(r.dim);
  }
  out.AddColumn(input.names[static_cast<size_t>(a.timeline)], std::move(tl));
  if (!dims_last) analytics::AddDimColumns(out, input, a.dims, a.dim_keys, dims);
  out.rows = rows.size();
  return out;
}

void FinishTable(Table& out, const Table& input, const Activity& a,
                 const std::vector<BinCounts>& rows, bool dims_last) {
  if (!dims_last) return;
  std::vector<uint32_t> dims;
  for (const BinCounts& r : rows) dims.push_back(r.dim);
  analytics::AddDimColumns(out, input, a.dims, a.dim_keys, dims);
}

Column LongColumn(const std::vector<BinCounts>& rows, int64_t BinCounts::*field) {
  Column c(Type::kLong);
  c.Reserve(rows.size());
  for (const BinCounts& r : rows) c.AppendInt(r.*field);
  return c;
}

// Start, End and the bins from Start (arguments 2, 3 and `bin_arg`).
struct Period {
  int64_t start = 0, end = 0;
  Bins bins;
  BinRange range;
};
Result<Period> ReadPeriod(std::string_view plugin, const PluginArgs& args, const Activity& a,
                          size_t bin_arg) {
  Period p;
  ASSIGN_OR_RETURN(p.start, TimeArg(plugin, args, 2, "Start", a.type));
  ASSIGN_OR_RETURN(p.end, TimeArg(plugin, args, 3, "End", a.type));
  ASSIGN_OR_RETURN(p.bins, Bins::Read(plugin, args, bin_arg, a.type, p.start));
  ASSIGN_OR_RETURN(p.range, analytics::RangeOf(plugin, p.bins, p.start, p.end));
  return p;
}

// Like ReadPeriod when Start and End are optional (activity_engagement, activity_metrics):
// without them the period is the timeline's extent. `given`: whether they were.
Result<Period> ReadOptionalPeriod(std::string_view plugin, const Table& input,
                                  const PluginArgs& args, const Activity& a, bool given,
                                  size_t bin_arg) {
  if (given) return ReadPeriod(plugin, args, a, bin_arg);
  const Column& tl = input.columns[static_cast<size_t>(a.timeline)];
  Extreme lo = ColumnExtreme(tl, input.rows, false), hi = ColumnExtreme(tl, input.rows, true);
  Period p;
  p.start = lo.any ? lo.i : 0;
  p.end = hi.any ? hi.i : 0;
  ASSIGN_OR_RETURN(p.bins, Bins::Read(plugin, args, bin_arg, a.type, p.start));
  ASSIGN_OR_RETURN(p.range, analytics::RangeOf(plugin, p.bins, p.start, p.end));
  return p;
}

// Whether arguments first..last are all constants (optional Start/End present).
bool ConstantArgs(const PluginArgs& args, size_t first, size_t last) {
  if (args.values.size() <= last) return false;
  for (size_t i = first; i <= last; ++i) {
    if (args.columns[i] >= 0 || !args.values[i].constant) return false;
  }
  return true;
}

}  // namespace

// sliding_window_counts(IdColumn, TimelineColumn, Start, End, LookbackWindow, Bin [, dim...]):
// per bin in Start..End, the rows and distinct ids in the LookbackWindow / Bin bins ending with it.
Result<Table> SlidingWindowCounts(const Table& input, const PluginArgs& args,
                                  const ExecContext& ctx) {
  constexpr std::string_view kName = "sliding_window_counts";
  if (args.values.size() < 6)
    return ArgError(kName,
                    "expects IdColumn, TimelineColumn, Start, End, LookbackWindow, Bin [, dim...]");
  ASSIGN_OR_RETURN(Activity a, analytics::ReadActivity(kName, input, args, 6, ctx));
  ASSIGN_OR_RETURN(Period p, ReadPeriod(kName, args, a, 5));
  ASSIGN_OR_RETURN(int64_t lookback, SpanArg(kName, args, 4, "LookbackWindow", a.type));
  MemoryReservation held(ctx.budget, std::string(kName));
  ASSIGN_OR_RETURN(std::vector<Visit> visits,
                   Visits(input, a, std::numeric_limits<int64_t>::min(), p.end, held, ctx));
  int64_t window = std::max<int64_t>(1, lookback / p.bins.Width());
  ASSIGN_OR_RETURN(std::vector<BinCounts> rows,
                   analytics::WindowCounts(HitsOf(visits, p.bins), window, p.range, ctx));
  Table out = StartTable(input, a, p.bins, rows, false);
  out.AddColumn("count", LongColumn(rows, &BinCounts::count));
  out.AddColumn("dcount", LongColumn(rows, &BinCounts::dcount));
  return out;
}

// activity_counts_metrics(IdColumn, TimelineColumn, Start, End, Step [, dim...]): per bin, its
// rows, distinct ids, ids not seen in earlier bins, and distinct ids so far.
Result<Table> ActivityCountsMetrics(const Table& input, const PluginArgs& args,
                                    const ExecContext& ctx) {
  constexpr std::string_view kName = "activity_counts_metrics";
  if (args.values.size() < 5)
    return ArgError(kName, "expects IdColumn, TimelineColumn, Start, End, Step [, dim...]");
  ASSIGN_OR_RETURN(Activity a, analytics::ReadActivity(kName, input, args, 5, ctx));
  ASSIGN_OR_RETURN(Period p, ReadPeriod(kName, args, a, 4));
  MemoryReservation held(ctx.budget, std::string(kName));
  ASSIGN_OR_RETURN(std::vector<Visit> visits, Visits(input, a, p.start, p.end, held, ctx));
  std::vector<Hit> hits = HitsOf(visits, p.bins);
  // Visits are sorted by key, id, time: an id's first hit is its first bin.
  std::vector<std::pair<uint32_t, int64_t>> firsts;
  for (size_t i = 0; i < hits.size(); ++i) {
    if (i == 0 || hits[i].dim != hits[i - 1].dim || hits[i].id != hits[i - 1].id)
      firsts.emplace_back(hits[i].dim, hits[i].bin);
  }
  std::sort(firsts.begin(), firsts.end());
  ASSIGN_OR_RETURN(std::vector<BinCounts> rows,
                   analytics::WindowCounts(std::move(hits), 1, p.range, ctx));
  Table out = StartTable(input, a, p.bins, rows, false);
  Column news(Type::kLong), total(Type::kLong);
  size_t f = 0;
  int64_t so_far = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    if (r == 0 || rows[r].dim != rows[r - 1].dim) so_far = 0;
    int64_t n = 0;
    std::pair<uint32_t, int64_t> here{rows[r].dim, rows[r].bin};
    while (f < firsts.size() && firsts[f] < here) ++f;
    for (; f < firsts.size() && firsts[f] == here; ++f) ++n;
    so_far += n;
    news.AppendInt(n);
    total.AppendInt(so_far);
  }
  out.AddColumn("count", LongColumn(rows, &BinCounts::count));
  out.AddColumn("dcount", LongColumn(rows, &BinCounts::dcount));
  out.AddColumn("new_dcount", std::move(news));
  out.AddColumn("aggregated_dcount", std::move(total));
  return out;
}

// active_users_count(IdColumn, TimelineColumn, Start, End, LookbackWindow, Period,
// ActivePeriodsCount, Bin [, dim...]): per bin, the distinct ids with an appearance in it that
// is active: the id appears in at least ActivePeriodsCount distinct Periods (counted from Start)
// among the Periods of the LookbackWindow ending with the appearance's (the page's figure: for
// 8d and 1d periods, 7/13 - 7/20 for an appearance on 7/20).
Result<Table> ActiveUsersCount(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  constexpr std::string_view kName = "active_users_count";
  if (args.values.size() < 8) {
    return ArgError(kName,
                    "expects IdColumn, TimelineColumn, Start, End, LookbackWindow, Period, "
                    "ActivePeriodsCount, Bin [, dim...]");
  }
  ASSIGN_OR_RETURN(Activity a, analytics::ReadActivity(kName, input, args, 8, ctx));
  ASSIGN_OR_RETURN(Period p, ReadPeriod(kName, args, a, 7));
  ASSIGN_OR_RETURN(int64_t lookback, SpanArg(kName, args, 4, "LookbackWindow", a.type));
  ASSIGN_OR_RETURN(int64_t period, SpanArg(kName, args, 5, "Period", a.type));
  ASSIGN_OR_RETURN(double needed, analytics::ConstReal(kName, args, 6, "ActivePeriodsCount"));
  if (period <= 0) return ArgError(kName, "Period must be positive");
  MemoryReservation held(ctx.budget, std::string(kName));
  ASSIGN_OR_RETURN(std::vector<Visit> visits,
                   Visits(input, a, std::numeric_limits<int64_t>::min(), p.end, held, ctx));
  // distinct[k]: the Periods of the id's visits up to k; visits are sorted by time, so a new
  // Period is one that differs from the previous visit's, and a window's count is a difference.
  // A Period number stays 128-bit: t - Start spans up to 2^64 (a long timeline far below Start),
  // and differences of numbers times `period` stay within 2^66.
  auto period_of = [&](int64_t t) -> __int128 {
    __int128 d = static_cast<__int128>(t) - p.start;
    __int128 q = d / period;
    return d % period != 0 && d < 0 ? q - 1 : q;
  };
  RETURN_IF_ERROR(held.Grow(visits.size() * (sizeof(int64_t) + sizeof(Hit))));
  std::vector<int64_t> distinct(visits.size());
  std::vector<Hit> hits;
  size_t group = 0, lo = 0;
  for (size_t k = 0; k < visits.size(); ++k) {
    RETURN_IF_ERROR(TickBudget(ctx));
    const Visit& v = visits[k];
    if (k == 0 || v.dim != visits[k - 1].dim || v.id != visits[k - 1].id) group = lo = k;
    distinct[k] =
        k == group ? 1 : distinct[k - 1] + (period_of(v.t) != period_of(visits[k - 1].t) ? 1 : 0);
    // The lookback covers the Periods that start less than LookbackWindow before this one's.
    while (lo < k && (period_of(v.t) - period_of(visits[lo].t)) * period >= lookback) ++lo;
    int64_t in_window = distinct[k] - distinct[lo] + 1;
    if (v.t >= p.start && static_cast<double>(in_window) >= needed)
      hits.push_back({v.dim, v.id, p.bins.Index(v.t)});
  }
  ASSIGN_OR_RETURN(std::vector<BinCounts> rows,
                   analytics::WindowCounts(std::move(hits), 1, p.range, ctx));
  Table out = StartTable(input, a, p.bins, rows, false);
  out.AddColumn("dcount", LongColumn(rows, &BinCounts::dcount));
  return out;
}

// activity_engagement(IdColumn, TimelineColumn, [Start, End,] InnerActivityWindow,
// OuterActivityWindow [, dim...]): per inner window (bins of InnerActivityWindow), its distinct
// ids, those of the OuterActivityWindow ending with it, and their ratio. Without Start and End
// the period is the timeline's extent.
Result<Table> ActivityEngagement(const Table& input, const PluginArgs& args,
                                 const ExecContext& ctx) {
  constexpr std::string_view kName = "activity_engagement";
  if (args.values.size() < 4) {
    return ArgError(kName,
                    "expects IdColumn, TimelineColumn, [Start, End,] InnerActivityWindow, "
                    "OuterActivityWindow [, dim...]");
  }
  bool ranged = ConstantArgs(args, 2, 5);
  size_t inner_arg = ranged ? 4 : 2;
  ASSIGN_OR_RETURN(Activity a, analytics::ReadActivity(kName, input, args, inner_arg + 2, ctx));
  ASSIGN_OR_RETURN(Period p, ReadOptionalPeriod(kName, input, args, a, ranged, inner_arg));
  if (p.bins.calendar()) return ArgError(kName, "InnerActivityWindow must be a timespan or number");
  ASSIGN_OR_RETURN(int64_t outer,
                   SpanArg(kName, args, inner_arg + 1, "OuterActivityWindow", a.type));
  MemoryReservation held(ctx.budget, std::string(kName));
  ASSIGN_OR_RETURN(std::vector<Visit> visits,
                   Visits(input, a, std::numeric_limits<int64_t>::min(), p.end, held, ctx));
  std::vector<Hit> hits = HitsOf(visits, p.bins);
  int64_t window = std::max<int64_t>(1, outer / p.bins.Width());
  ASSIGN_OR_RETURN(std::vector<BinCounts> outers,
                   analytics::WindowCounts(hits, window, p.range, ctx));
  ASSIGN_OR_RETURN(std::vector<BinCounts> rows,
                   analytics::WindowCounts(std::move(hits), 1, p.range, ctx));
  Table out = StartTable(input, a, p.bins, rows, true);
  Column inner_c(Type::kLong), outer_c(Type::kLong), ratio(Type::kReal);
  size_t o = 0;
  for (const BinCounts& r : rows) {
    // Every bin with inner activity has outer activity: outers is a superset, in the same order.
    while (o < outers.size() && std::tie(outers[o].dim, outers[o].bin) < std::tie(r.dim, r.bin))
      ++o;
    int64_t n = o < outers.size() ? outers[o].dcount : 0;
    inner_c.AppendInt(r.dcount);
    outer_c.AppendInt(n);
    ratio.AppendReal(n == 0 ? kNaN : static_cast<double>(r.dcount) / static_cast<double>(n));
  }
  out.AddColumn("dcount_activities_inner", std::move(inner_c));
  out.AddColumn("dcount_activities_outer", std::move(outer_c));
  out.AddColumn("activity_ratio", std::move(ratio));
  FinishTable(out, input, a, rows, true);
  return out;
}

// activity_metrics(IdColumn, TimelineColumn, [Start, End,] Window [, dim...]): per window, its
// distinct ids, those not in the previous window (new), and the retention rate (returning ids
// over the previous window's) and churn rate (1 - retention); NaN without a previous window.
Result<Table> ActivityMetrics(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  constexpr std::string_view kName = "activity_metrics";
  if (args.values.size() < 3)
    return ArgError(kName, "expects IdColumn, TimelineColumn, [Start, End,] Window [, dim...]");
  bool ranged = ConstantArgs(args, 2, 4);
  size_t window_arg = ranged ? 4 : 2;
  ASSIGN_OR_RETURN(Activity a, analytics::ReadActivity(kName, input, args, window_arg + 1, ctx));
  ASSIGN_OR_RETURN(Period p, ReadOptionalPeriod(kName, input, args, a, ranged, window_arg));
  MemoryReservation held(ctx.budget, std::string(kName));
  ASSIGN_OR_RETURN(std::vector<Visit> visits, Visits(input, a, p.start, p.end, held, ctx));
  std::vector<Hit> hits = HitsOf(visits, p.bins);
  // New in a window: the id's previous window (hits are sorted by key, id, bin) isn't the one
  // before.
  std::vector<std::pair<uint32_t, int64_t>> news;
  for (size_t i = 0; i < hits.size(); ++i) {
    bool same_id = i > 0 && hits[i].dim == hits[i - 1].dim && hits[i].id == hits[i - 1].id;
    if (same_id && hits[i].bin == hits[i - 1].bin) continue;
    if (!same_id || hits[i - 1].bin != hits[i].bin - 1) news.emplace_back(hits[i].dim, hits[i].bin);
  }
  std::sort(news.begin(), news.end());
  ASSIGN_OR_RETURN(std::vector<BinCounts> rows,
                   analytics::WindowCounts(std::move(hits), 1, p.range, ctx));
  Table out = StartTable(input, a, p.bins, rows, true);
  Column fresh(Type::kLong), retention(Type::kReal), churn(Type::kReal);
  size_t f = 0;
  for (size_t r = 0; r < rows.size(); ++r) {
    std::pair<uint32_t, int64_t> here{rows[r].dim, rows[r].bin};
    int64_t n = 0;
    while (f < news.size() && news[f] < here) ++f;
    for (; f < news.size() && news[f] == here; ++f) ++n;
    bool has_prev = r > 0 && rows[r - 1].dim == rows[r].dim && rows[r - 1].bin == rows[r].bin - 1;
    double prev = has_prev ? static_cast<double>(rows[r - 1].dcount) : 0;
    double returned = static_cast<double>(rows[r].dcount - n);
    fresh.AppendInt(n);
    retention.AppendReal(prev == 0 ? kNaN : returned / prev);
    churn.AppendReal(prev == 0 ? kNaN : (prev - returned) / prev);
  }
  out.AddColumn("dcount_values", LongColumn(rows, &BinCounts::dcount));
  out.AddColumn("dcount_newvalues", std::move(fresh));
  out.AddColumn("retention_rate", std::move(retention));
  out.AddColumn("churn_rate", std::move(churn));
  FinishTable(out, input, a, rows, true);
  return out;
}

// session_count(IdColumn, TimelineColumn, Start, End, Bin, LookBackWindow [, dim...]): per bin,
// the sessions that start in it. An id's appearance continues its session when its previous
// appearance is at most LookBackWindow earlier, else it starts a new one (the page's chart: the
// ids seen at least every LookBackWindow count once, in the first bin only).
Result<Table> SessionCount(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  constexpr std::string_view kName = "session_count";
  if (args.values.size() < 6)
    return ArgError(kName,
                    "expects IdColumn, TimelineColumn, Start, End, Bin, LookBackWindow [, dim...]");
  ASSIGN_OR_RETURN(Activity a, analytics::ReadActivity(kName, input, args, 6, ctx));
  ASSIGN_OR_RETURN(Period p, ReadPeriod(kName, args, a, 4));
  ASSIGN_OR_RETURN(int64_t lookback, SpanArg(kName, args, 5, "LookBackWindow", a.type));
  MemoryReservation held(ctx.budget, std::string(kName));
  ASSIGN_OR_RETURN(std::vector<Visit> visits,
                   Visits(input, a, std::numeric_limits<int64_t>::min(), p.end, held, ctx));
  RETURN_IF_ERROR(held.Grow(visits.size() * sizeof(Hit)));
  std::vector<Hit> hits;
  uint32_t session = 0;
  for (size_t k = 0; k < visits.size(); ++k) {
    const Visit& v = visits[k];
    bool same_id = k > 0 && v.dim == visits[k - 1].dim && v.id == visits[k - 1].id;
    bool starts = !same_id || static_cast<__int128>(v.t) - visits[k - 1].t > lookback;
    if (k > 0 && starts) {
      if (session == std::numeric_limits<uint32_t>::max())
        return ArgError(kName, "too many sessions");
      ++session;
    }
    if (starts && v.t >= p.start) hits.push_back({v.dim, session, p.bins.Index(v.t)});
  }
  ASSIGN_OR_RETURN(std::vector<BinCounts> rows,
                   analytics::WindowCounts(std::move(hits), 1, p.range, ctx));
  Table out = StartTable(input, a, p.bins, rows, false);
  out.AddColumn("count_sessions", LongColumn(rows, &BinCounts::dcount));
  return out;
}

}  // namespace cmk::kql::plugins
