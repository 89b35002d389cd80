// new_activity_metrics: retention and churn of the cohorts of new ids (first seen in a window)
// against every later window. O(n log n) plus the windows' square per dimensions' key.
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

constexpr std::string_view kName = "new_activity_metrics";
// Windows in the analysis period at most (the output is up to their square).
constexpr int64_t kMaxWindows = 4'000;

struct Seen {
  uint32_t dim, id;
  int64_t window;  // relative to the first window
};

// One key's matrices, indexed [from * w + to].
struct Matrix {
  std::vector<int64_t> fresh, retained;
  std::vector<int64_t> cohort;
};

// Fills `m` from one key's sorted, distinct (id, window) pairs.
void Fill(const Seen* begin, const Seen* end, int64_t w, Matrix& m) {
  m.fresh.assign(static_cast<size_t>(w * w), 0);
  m.retained.assign(static_cast<size_t>(w * w), 0);
  m.cohort.assign(static_cast<size_t>(w), 0);
  std::vector<int64_t> diff(static_cast<size_t>(w * (w + 1)), 0);  // per `to`, over `from`
  int64_t first = 0;
  for (const Seen* s = begin; s != end; ++s) {
    if (s == begin || s->id != (s - 1)->id) {
      first = s->window;
      ++m.cohort[static_cast<size_t>(first)];
    }
    int64_t to = s->window;
    m.retained[static_cast<size_t>(first * w + to)] += 1;
    // New in `to` relative to `from`: not seen up to `from` (from < first), or the cohort itself.
    diff[static_cast<size_t>(to * (w + 1))] += 1;
    diff[static_cast<size_t>(to * (w + 1) + first)] -= 1;
    if (to == first) m.fresh[static_cast<size_t>(first * w + to)] += 1;
  }
  for (int64_t to = 0; to < w; ++to) {
    int64_t run = 0;
    for (int64_t from = 0; from <= to; ++from) {
      run += diff[static_cast<size_t>(to * (w + 1) + from)];
      m.fresh[static_cast<size_t>(from * w + to)] += run;
    }
  }
}

// Per id number: whether the Lookback table holds it (its column named like IdColumn, or its
// only column); those ids are not new in any cohort. Empty without a table.
Result<std::vector<bool>> KnownIds(const Table& input, const analytics::Activity& a, const Table* lookback,
                                   const ExecContext& ctx) {
  std::vector<bool> known;
  if (lookback == nullptr) return known;
  const std::string& name = input.names[static_cast<size_t>(a.id)];
  int c = lookback->Find(name);
  if (c < 0 && lookback->columns.size() == 1) c = 0;
  if (c < 0) return ArgError(kName, "the Lookback table has no column '" + name + "'");
  std::unordered_set<std::string> ids;
  MemoryReservation held(ctx.budget, std::string(kName));
  size_t bytes = 0;
  for (size_t r = 0; r < lookback->rows; ++r) {
    auto [it, added] = ids.insert(ValueToJson(lookback->columns[static_cast<size_t>(c)], r));
    bytes += added ? it->size() + 64 : 0;
    if ((r & 4095) == 0) RETURN_IF_ERROR(held.Resize(bytes));
  }
  const Column& idc = input.columns[static_cast<size_t>(a.id)];
  known.resize(a.ids.size());
  for (size_t k = 0; k < a.ids.size(); ++k) known[k] = ids.count(ValueToJson(idc, a.ids.first_row[k])) > 0;
  return known;
}

// The (key, id, window) of the rows in Start..End whose id is not known, sorted, distinct;
// windows relative to the first.
std::vector<Seen> SeenWindows(const Table& input, const analytics::Activity& a, const std::vector<bool>& known,
                              const analytics::Bins& bins, int64_t start, int64_t end, int64_t first) {
  const Column& tl = input.columns[static_cast<size_t>(a.timeline)];
  std::vector<Seen> seen;
  for (size_t r = 0; r < input.rows; ++r) {
    if (tl.IsNull(r) || tl.Int(r) < start || tl.Int(r) > end || (!known.empty() && known[a.ids.of_row[r]])) continue;
    seen.push_back({a.dim_keys.of_row[r], a.ids.of_row[r], bins.Index(tl.Int(r)) - first});
  }
  auto key = [](const Seen& x) { return std::tie(x.dim, x.id, x.window); };
  std::sort(seen.begin(), seen.end(), [&](const Seen& x, const Seen& y) { return key(x) < key(y); });
  seen.erase(std::unique(seen.begin(), seen.end(), [&](const Seen& x, const Seen& y) { return key(x) == key(y); }),
             seen.end());
  return seen;
}

// The output's columns, a row at a time.
struct CohortRows {
  explicit CohortRows(Type timeline) : from(timeline), to(timeline) {}
  Column from, to, fresh{Type::kLong}, kept{Type::kLong}, lost{Type::kLong}, retention{Type::kReal},
      churn{Type::kReal};
  std::vector<uint32_t> dim_of_row;

  void Add(int64_t from_start, int64_t to_start, const Matrix& m, int64_t cell, int64_t size, uint32_t dim) {
    int64_t r = m.retained[static_cast<size_t>(cell)];
    from.AppendInt(from_start);
    to.AppendInt(to_start);
    fresh.AppendInt(m.fresh[static_cast<size_t>(cell)]);
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

}  // namespace

// new_activity_metrics(IdColumn, TimelineColumn, Start, End, Window [, Cohort] [, dim...]): per
// cohort window `from` with new ids and each window `to` >= from: the ids in `to` not seen up
// to `from` (the cohort itself when to == from), the cohort's ids seen in `to` (retained) and
// not (churned), and their shares of the cohort. Ids in the Lookback table (a last, tabular
// argument) were seen before: they are in no cohort and never new.
Result<Table> NewActivityMetrics(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  if (args.values.size() < 5) {
    return ArgError(kName, "expects IdColumn, TimelineColumn, Start, End, Window [, Cohort] [, dim...] [, Lookback]");
  }
  auto is_table = [&](size_t i) { return i < args.tables.size() && args.tables[i] != nullptr; };
  size_t n = args.values.size();
  bool has_lookback = is_table(n - 1);
  bool has_cohort = n > 5 && !is_table(5) && args.columns[5] < 0 && args.values[5].constant;
  ASSIGN_OR_RETURN(analytics::Activity a, analytics::ReadActivity(kName, input, args, has_cohort ? 6 : 5, ctx,
                                                                  has_lookback ? n - 1 : n));
  ASSIGN_OR_RETURN(std::vector<bool> known, KnownIds(input, a, has_lookback ? args.tables[n - 1].get() : nullptr, ctx));
  ASSIGN_OR_RETURN(int64_t start, analytics::TimeArg(kName, args, 2, "Start", a.type));
  ASSIGN_OR_RETURN(int64_t end, analytics::TimeArg(kName, args, 3, "End", a.type));
  ASSIGN_OR_RETURN(analytics::Bins bins, analytics::Bins::Read(kName, args, 4, a.type, start));
  ASSIGN_OR_RETURN(analytics::BinRange range, analytics::RangeOf(kName, bins, start, end));
  int64_t w = range.hi - range.lo + 1;
  if (w > kMaxWindows) return ArgError(kName, "more than 4000 windows in the analysis period");
  std::optional<int64_t> cohort;
  if (has_cohort) {
    ASSIGN_OR_RETURN(int64_t c, analytics::TimeArg(kName, args, 5, "Cohort", a.type));
    cohort = bins.Index(c) - range.lo;
  }
  MemoryReservation held(ctx.budget, std::string(kName));
  RETURN_IF_ERROR(held.Grow(input.rows * sizeof(Seen)));
  std::vector<Seen> seen = SeenWindows(input, a, known, bins, start, end, range.lo);
  RETURN_IF_ERROR(held.Grow(static_cast<size_t>(w * (3 * w + 2)) * sizeof(int64_t)));
  CohortRows rows(a.type);
  Matrix m;
  for (size_t i = 0; i < seen.size();) {
    RETURN_IF_ERROR(CheckBudget(ctx));
    size_t j = i;
    while (j < seen.size() && seen[j].dim == seen[i].dim) ++j;
    Fill(seen.data() + i, seen.data() + j, w, m);
    for (int64_t from = 0; from < w; ++from) {
      if (m.cohort[static_cast<size_t>(from)] == 0 || (cohort && *cohort != from)) continue;
      for (int64_t to = from; to < w; ++to) {
        rows.Add(bins.Start(from + range.lo), bins.Start(to + range.lo), m, from * w + to,
                 m.cohort[static_cast<size_t>(from)], seen[i].dim);
      }
      RETURN_IF_ERROR(held.Grow(static_cast<size_t>(w - from) * 80));
    }
    i = j;
  }
  return rows.ToTable(input, a);
}

}  // namespace cmk::kql::plugins
