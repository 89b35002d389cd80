// new_activity_metrics: retention and churn of the cohorts of new ids (first seen in a window)
// against every later window. Per dimensions' key the work follows its data: its (id, window)
// pairs are sorted by window and cohort, and each output row (a cohort of the key and a later
// window, up to kMaxWindows per cohort) is two binary searches: O(n log n) plus the output.
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "kql/exec/eval.h"
#include "kql/exec/plugins/analytics_util.h"
#include "kql/exec/plugins/plugins.h"

namespace cmk::kql::plugins {
namespace {

using analytics::ArgError;

constexpr std::string_view kNewActivityMetrics = "new_activity_metrics";
// Windows in the analysis period at most (the output is up to their square).
constexpr int64_t kMaxWindows = 4'000;

struct Seen {
  uint32_t dim, id;
  int64_t window;  // relative to the first window
};

// One key's ids by window: per (id, window) pair of the key, (window, the id's first window),
// sorted; and each id's first window, sorted. The cells of the cohort `from` and a window `to`
// are then counts in the run of pairs of `to`:
//   new ids in `to` relative to `from` (not seen up to `from`): first > from, plus the cohort
//     itself when to == from;
//   the cohort's ids retained in `to`: first == from.
struct KeyWindows {
  std::vector<std::pair<int64_t, int64_t>> pairs;
  std::vector<int64_t> firsts;

  // From one key's sorted, distinct (id, window) pairs; the vectors are reused across keys.
  void Fill(const Seen* begin, const Seen* end) {
    pairs.clear();
    firsts.clear();
    int64_t first = 0;
    for (const Seen* s = begin; s != end; ++s) {
      if (s == begin || s->id != (s - 1)->id) firsts.push_back(first = s->window);
      pairs.emplace_back(s->window, first);
    }
    std::sort(pairs.begin(), pairs.end());
    std::sort(firsts.begin(), firsts.end());
  }
  int64_t CohortSize(int64_t from) const {
    auto [lo, hi] = std::equal_range(firsts.begin(), firsts.end(), from);
    return hi - lo;
  }
};

// The counts of one cell; `run` is the run of pairs of window `to` (empty when the key has no
// id in it).
struct Cell {
  int64_t fresh = 0, retained = 0;
};
Cell CellOf(const std::pair<int64_t, int64_t>* begin, const std::pair<int64_t, int64_t>* end,
            int64_t from, int64_t to) {
  auto cohort = [](const std::pair<int64_t, int64_t>& p) { return p.second; };
  auto lo = std::partition_point(begin, end, [&](const auto& p) { return cohort(p) < from; });
  auto hi = std::partition_point(lo, end, [&](const auto& p) { return cohort(p) <= from; });
  Cell c;
  c.retained = hi - lo;
  c.fresh = (end - hi) + (to == from ? c.retained : 0);
  return c;
}

// Per id number: whether the Lookback table holds it (its column named like IdColumn, or its
// only column); those ids are not new in any cohort. Empty without a table.
Result<std::vector<bool>> KnownIds(const Table& input, const analytics::Activity& a,
                                   const Table* lookback, const ExecContext& ctx) {
  std::vector<bool> known;
  if (lookback == nullptr) return known;
  const std::string& name = input.names[static_cast<size_t>(a.id)];
  int c = lookback->Find(name);
  if (c < 0 && lookback->columns.size() == 1) c = 0;
  if (c < 0) return ArgError(kNewActivityMetrics, "the Lookback table has no column '" + name + "'");
  std::unordered_set<std::string> ids;
  MemoryReservation held(ctx.budget, std::string(kNewActivityMetrics));
  size_t bytes = 0;
  for (size_t r = 0; r < lookback->rows; ++r) {
    auto [it, added] = ids.insert(ValueToJson(lookback->columns[static_cast<size_t>(c)], r));
    bytes += added ? it->size() + 64 : 0;
    if ((r & 4095) == 0) RETURN_IF_ERROR(held.Resize(bytes));
  }
  const Column& idc = input.columns[static_cast<size_t>(a.id)];
  known.resize(a.ids.size());
  for (size_t k = 0; k < a.ids.size(); ++k)
    known[k] = ids.count(ValueToJson(idc, a.ids.first_row[k])) > 0;
  return known;
}

// The (key, id, window) of the rows in Start..End whose id is not known, sorted, distinct;
// windows relative to the first.
std::vector<Seen> SeenWindows(const Table& input, const analytics::Activity& a,
                              const std::vector<bool>& known, const analytics::Bins& bins,
                              int64_t start, int64_t end, int64_t first) {
  const Column& tl = input.columns[static_cast<size_t>(a.timeline)];
  std::vector<Seen> seen;
  for (size_t r = 0; r < input.rows; ++r) {
    if (tl.IsNull(r) || tl.Int(r) < start || tl.Int(r) > end ||
        (!known.empty() && known[a.ids.of_row[r]]))
      continue;
    seen.push_back({a.dim_keys.of_row[r], a.ids.of_row[r], bins.Index(tl.Int(r)) - first});
  }
  auto key = [](const Seen& x) { return std::tie(x.dim, x.id, x.window); };
  std::sort(seen.begin(), seen.end(),
            [&](const Seen& x, const Seen& y) { return key(x) < key(y); });
  seen.erase(std::unique(seen.begin(), seen.end(),
                         [&](const Seen& x, const Seen& y) { return key(x) == key(y); }),
             seen.end());
  return seen;
}

// The output's columns, a row at a time.
struct CohortRows {
  explicit CohortRows(Type timeline) : from(timeline), to(timeline) {}
  Column from, to, fresh{Type::kLong}, kept{Type::kLong}, lost{Type::kLong}, retention{Type::kReal},
      churn{Type::kReal};
  std::vector<uint32_t> dim_of_row;

  // Bytes of a row.
  static constexpr size_t kRowBytes = 7 * sizeof(int64_t) + sizeof(uint32_t);

  void Add(int64_t from_start, int64_t to_start, Cell cell, int64_t size, uint32_t dim) {
    int64_t r = cell.retained;
    from.AppendInt(from_start);
    to.AppendInt(to_start);
    fresh.AppendInt(cell.fresh);
    kept.AppendInt(r);
    lost.AppendInt(size - r);
    retention.AppendReal(static_cast<double>(r) / static_cast<double>(size));
    churn.AppendReal(static_cast<double>(size - r) / static_cast<double>(size));
    dim_of_row.push_back(dim);
  }

  Table ToTable(const Table& input, const analytics::Activity& a) {
    Table out;
    const std::string& name = input.names[static_cast<size_t>(a.timeline)];
    out.AddColumn("from_" + name, std::move(from));
    out.AddColumn("to_" + name, std::move(to));
    out.AddColumn("dcount_new_values", std::move(fresh));
    out.AddColumn("dcount_retained_values", std::move(kept));
    out.AddColumn("dcount_churn_values", std::move(lost));
    out.AddColumn("retention_rate", std::move(retention));
    out.AddColumn("churn_rate", std::move(churn));
    analytics::AddDimColumns(out, input, a.dims, a.dim_keys, dim_of_row);
    out.rows = dim_of_row.size();
    return out;
  }
};

// The rows of one key's cohort `from`: one per window `to` in [from, w).
Status AddCohort(const KeyWindows& key, int64_t from, int64_t w, int64_t first_bin,
                 const analytics::Bins& bins, uint32_t dim, CohortRows& rows,
                 const ExecContext& ctx) {
  int64_t size = key.CohortSize(from);
  const auto* p = std::lower_bound(key.pairs.data(), key.pairs.data() + key.pairs.size(),
                                   std::pair(from, int64_t{0}));
  const auto* last = key.pairs.data() + key.pairs.size();
  for (int64_t to = from; to < w; ++to) {
    RETURN_IF_ERROR(TickBudget(ctx));
    const auto* q = std::partition_point(p, last, [&](const auto& x) { return x.first <= to; });
    rows.Add(bins.Start(from + first_bin), bins.Start(to + first_bin), CellOf(p, q, from, to), size,
             dim);
    p = q;
  }
  return OkStatus();
}

}  // namespace

// new_activity_metrics(IdColumn, TimelineColumn, Start, End, Window [, Cohort] [, dim...]): per
// cohort window `from` with new ids and each window `to` >= from: the ids in `to` not seen up
// to `from` (the cohort itself when to == from), the cohort's ids seen in `to` (retained) and
// not (churned), and their shares of the cohort. Ids in the Lookback table (a last, tabular
// argument) were seen before: they are in no cohort and never new.
Result<Table> NewActivityMetrics(const Table& input, const PluginArgs& args,
                                 const ExecContext& ctx) {
  if (args.values.size() < 5) {
    return ArgError(
        kNewActivityMetrics,
        "expects IdColumn, TimelineColumn, Start, End, Window [, Cohort] [, dim...] [, Lookback]");
  }
  auto is_table = [&](size_t i) { return i < args.tables.size() && args.tables[i] != nullptr; };
  size_t n = args.values.size();
  bool has_lookback = is_table(n - 1);
  bool has_cohort = n > 5 && !is_table(5) && args.columns[5] < 0 && args.values[5].constant;
  ASSIGN_OR_RETURN(analytics::Activity a,
                   analytics::ReadActivity(kNewActivityMetrics, input, args, has_cohort ? 6 : 5, ctx,
                                           has_lookback ? n - 1 : n));
  ASSIGN_OR_RETURN(std::vector<bool> known,
                   KnownIds(input, a, has_lookback ? args.tables[n - 1].get() : nullptr, ctx));
  ASSIGN_OR_RETURN(int64_t start, analytics::TimeArg(kNewActivityMetrics, args, 2, "Start", a.type));
  ASSIGN_OR_RETURN(int64_t end, analytics::TimeArg(kNewActivityMetrics, args, 3, "End", a.type));
  ASSIGN_OR_RETURN(analytics::Bins bins, analytics::Bins::Read(kNewActivityMetrics, args, 4, a.type, start));
  ASSIGN_OR_RETURN(analytics::BinRange range, analytics::RangeOf(kNewActivityMetrics, bins, start, end));
  int64_t w = range.hi - range.lo + 1;
  if (w > kMaxWindows) return ArgError(kNewActivityMetrics, "more than 4000 windows in the analysis period");
  std::optional<int64_t> cohort;
  if (has_cohort) {
    ASSIGN_OR_RETURN(int64_t c, analytics::TimeArg(kNewActivityMetrics, args, 5, "Cohort", a.type));
    cohort = bins.Index(c) - range.lo;
  }
  MemoryReservation held(ctx.budget, std::string(kNewActivityMetrics));
  RETURN_IF_ERROR(held.Grow(input.rows * sizeof(Seen)));
  std::vector<Seen> seen = SeenWindows(input, a, known, bins, start, end, range.lo);
  RETURN_IF_ERROR(held.Grow(seen.size() * 3 * sizeof(int64_t)));  // one key's KeyWindows at most
  CohortRows rows(a.type);
  KeyWindows key;
  for (size_t i = 0; i < seen.size();) {
    RETURN_IF_ERROR(CheckBudget(ctx));
    size_t j = i;
    while (j < seen.size() && seen[j].dim == seen[i].dim) ++j;
    key.Fill(seen.data() + i, seen.data() + j);
    for (size_t c = 0; c < key.firsts.size();
         c += static_cast<size_t>(key.CohortSize(key.firsts[c]))) {
      int64_t from = key.firsts[c];
      if (cohort && *cohort != from) continue;
      RETURN_IF_ERROR(held.Grow(static_cast<size_t>(w - from) * CohortRows::kRowBytes));
      RETURN_IF_ERROR(AddCohort(key, from, w, range.lo, bins, seen[i].dim, rows, ctx));
    }
    i = j;
  }
  return rows.ToTable(input, a);
}

}  // namespace cmk::kql::plugins
