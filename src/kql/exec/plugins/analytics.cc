// Row-level analytics plugins: rows_near, dcount_intersect and rolling_percentile.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kql/exec/eval.h"
#include "kql/exec/plugins/analytics_util.h"
#include "kql/exec/plugins/plugins.h"
#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"
#include "kql/functions/sketch.h"

namespace cmk::kql::plugins {
namespace {

namespace bj = boost::json;
using analytics::ArgError;

// dcount_intersect's set count bounds (documented: 2..16).
constexpr size_t kMinSets = 2, kMaxSets = 16;

// The distinct hashes of a sparse hll, sorted; nullopt when it is dense.
std::optional<std::vector<uint64_t>> SparseHashes(const bj::value& v) {
  const bj::array& parts = v.get_array();  // REQUIRES: fn::Hll::FromJson accepted v
  if (!parts[2].get_array().empty()) return std::nullopt;
  std::vector<uint64_t> out;
  for (const bj::value& h : parts[1].get_array()) {
    std::optional<int64_t> n = fn::ParseLong(std::string_view(h.get_string()));
    out.push_back(static_cast<uint64_t>(n.value_or(0)));
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// The intersections' counts by inclusion-exclusion: |S1 n ... n Sk| is the alternating sum of
// the counts of the unions of the non-empty subsets of S1..Sk. One depth-first walk over the
// subsets (a union per level) adds each subset's term to every prefix containing its last set.
// Cost: 2^n - 1 unions per row, each a merge of up to a dense hll (64 KB at the finest
// accuracy): 65,535 merges per row at the documented maximum of 16 sets (kMaxSets), which is
// why n is capped there and each union checks the deadline and cancellation.
Status AddSubsetTerms(const std::vector<fn::Hll>& sets, size_t next, const fn::Hll& acc, int size,
                      std::vector<double>& by_last, const ExecContext& ctx) {
  for (size_t i = next; i < sets.size(); ++i) {
    RETURN_IF_ERROR(CheckBudget(ctx));
    fn::Hll u = acc;
    u.Merge(sets[i]);
    double sign = (size + 1) % 2 == 1 ? 1.0 : -1.0;
    by_last[i] += sign * static_cast<double>(u.Estimate());
    RETURN_IF_ERROR(AddSubsetTerms(sets, i + 1, u, size + 1, by_last, ctx));
  }
  return OkStatus();
}

// s0..s(n-1) of one row; nullopt when a value is not an hll.
Result<std::optional<std::vector<int64_t>>> Intersections(const std::vector<const Column*>& cols,
                                                          size_t row, const ExecContext& ctx) {
  std::vector<fn::Hll> sets;
  std::vector<std::optional<std::vector<uint64_t>>> sparse;
  for (const Column* c : cols) {
    std::optional<bj::value> v = c->IsNull(row) ? std::nullopt : fn::ParseJson(c->Str(row));
    std::optional<fn::Hll> h = v ? fn::Hll::FromJson(*v) : std::nullopt;
    if (!h) return std::optional<std::vector<int64_t>>();
    sparse.push_back(SparseHashes(*v));
    sets.push_back(std::move(*h));
  }
  std::vector<int64_t> out;
  std::vector<uint64_t> common = sparse[0] ? *sparse[0] : std::vector<uint64_t>();
  size_t exact = 0;  // sets 0..exact-1 are sparse: their intersection is `common`, exactly
  while (exact < sparse.size() && sparse[exact]) {
    if (exact > 0) {
      std::vector<uint64_t> both;
      std::set_intersection(common.begin(), common.end(), sparse[exact]->begin(),
                            sparse[exact]->end(), std::back_inserter(both));
      common = std::move(both);
    }
    out.push_back(static_cast<int64_t>(common.size()));
    ++exact;
  }
  if (exact == sets.size()) return std::optional(std::move(out));
  std::vector<double> by_last(sets.size(), 0);
  fn::Hll empty = fn::Hll::ForAccuracy(4);
  RETURN_IF_ERROR(AddSubsetTerms(sets, 0, empty, 0, by_last, ctx));
  double sum = 0;
  for (size_t k = 0; k < sets.size(); ++k) {
    sum += by_last[k];
    if (k < exact) continue;
    double bound = k == 0 ? sum : static_cast<double>(out[k - 1]);
    out.push_back(static_cast<int64_t>(std::llround(std::clamp(sum, 0.0, std::max(bound, 0.0)))));
  }
  return std::optional(std::move(out));
}

// Fenwick tree over value ranks: add/remove a rank, find the k-th smallest present.
class RankTree {
 public:
  explicit RankTree(size_t n) : tree_(n + 1, 0) {}
  void Add(size_t rank, int delta) {
    for (size_t i = rank + 1; i < tree_.size(); i += i & (~i + 1)) tree_[i] += delta;
    total_ += delta;
  }
  // REQUIRES: 1 <= k <= total().
  size_t Kth(int64_t k) const {
    size_t pos = 0, step = 1;
    while (step * 2 < tree_.size()) step *= 2;
    for (; step > 0; step /= 2) {
      if (pos + step < tree_.size() && tree_[pos + step] < k) {
        pos += step;
        k -= tree_[pos];
      }
    }
    return pos;  // 0-based rank
  }
  int64_t total() const { return total_; }

 private:
  std::vector<int64_t> tree_;
  int64_t total_ = 0;
};

struct BinnedRow {
  uint32_t dim;
  int64_t bin;
  uint32_t row;
};

// rolling_percentile's bins of the index column: bin(index, BinSize), as indexes; the output
// value of an index.
struct IndexBins {
  bool real = false;
  int64_t size = 1;
  double real_size = 1;
  std::optional<int64_t> Of(const Column& c, size_t row) const {
    if (c.IsNull(row)) return std::nullopt;
    if (!real) return fn::FloorDiv(c.Int(row), size);
    double q = std::floor(c.Real(row) / real_size);
    if (!std::isfinite(q) || std::fabs(q) > 1e15) return std::nullopt;
    return static_cast<int64_t>(q);
  }
  void Append(Column& out, int64_t bin) const {
    if (real)
      out.AppendReal(static_cast<double>(bin) * real_size);
    else
      out.AppendInt(static_cast<int64_t>(std::clamp<__int128>(
          static_cast<__int128>(bin) * size, std::numeric_limits<int64_t>::min(),
          std::numeric_limits<int64_t>::max())));
  }
};

Result<IndexBins> ReadIndexBins(const Column& index, const PluginArgs& args) {
  constexpr std::string_view kName = "rolling_percentile";
  IndexBins b;
  if (UsesReals(index.type)) {
    b.real = true;
    ASSIGN_OR_RETURN(b.real_size, analytics::ConstReal(kName, args, 3, "BinSize"));
    if (!(b.real_size > 0) || !std::isfinite(b.real_size))
      return ArgError(kName, "BinSize must be positive");
    return b;
  }
  if (!analytics::IsTimelineType(index.type))
    return ArgError(kName, "IndexColumn must be numeric, datetime or timespan");
  bool ticks = index.type == Type::kDateTime || index.type == Type::kTimespan;
  if (ticks && args.values[3].type != Type::kTimespan)
    return ArgError(kName, "BinSize of a datetime or timespan index must be a timespan");
  ASSIGN_OR_RETURN(b.size, analytics::ConstInt(kName, args, 3, "BinSize"));
  if (b.size <= 0) return ArgError(kName, "BinSize must be positive");
  return b;
}

std::string PercentName(double p) {
  std::string s = FormatReal(p);
  std::replace(s.begin(), s.end(), '.', '_');
  return s;
}

// rolling_percentile's arguments.
struct Rolling {
  int value_col = -1, index_col = -1;
  double pct = 50;
  IndexBins bins;
  int64_t per_window = 1;
  std::vector<int> dims;
};

Result<Rolling> ReadRolling(const Table& input, const PluginArgs& args) {
  constexpr std::string_view kName = "rolling_percentile";
  if (args.values.size() < 5)
    return ArgError(
        kName, "expects ValueColumn, Percentile, IndexColumn, BinSize, BinsPerWindow [, dim...]");
  Rolling a;
  ASSIGN_OR_RETURN(a.value_col, analytics::ColumnArg(kName, args, 0, "ValueColumn"));
  ASSIGN_OR_RETURN(a.index_col, analytics::ColumnArg(kName, args, 2, "IndexColumn"));
  Type value_type = input.columns[static_cast<size_t>(a.value_col)].type;
  if (!IsNumeric(value_type) && value_type != Type::kDateTime && value_type != Type::kTimespan) {
    return ArgError(kName, "ValueColumn must be numeric, datetime or timespan");
  }
  ASSIGN_OR_RETURN(a.pct, analytics::ConstReal(kName, args, 1, "Percentile"));
  if (!(a.pct >= 0 && a.pct <= 100)) return ArgError(kName, "Percentile must be between 0 and 100");
  ASSIGN_OR_RETURN(a.bins, ReadIndexBins(input.columns[static_cast<size_t>(a.index_col)], args));
  ASSIGN_OR_RETURN(a.per_window, analytics::ConstInt(kName, args, 4, "BinsPerWindow"));
  if (a.per_window < 1) return ArgError(kName, "BinsPerWindow must be at least 1");
  for (size_t i = 5; i < args.values.size(); ++i) {
    ASSIGN_OR_RETURN(int c, analytics::ColumnArg(kName, args, i, "a dimension"));
    a.dims.push_back(c);
  }
  return a;
}

}  // namespace

// rows_near(Condition, NumRows [, RowsAfter]): the rows within NumRows before and NumRows (or
// RowsAfter) after a row where Condition is true, in input order, each once.
Result<Table> RowsNear(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  constexpr std::string_view kName = "rows_near";
  if (args.values.size() < 2 || args.values.size() > 3)
    return ArgError(kName, "expects Condition, NumRows [, RowsAfter]");
  if (args.values[0].type != Type::kBool)
    return ArgError(kName, "Condition must be a bool expression");
  ASSIGN_OR_RETURN(int64_t before, analytics::ConstInt(kName, args, 1, "NumRows"));
  int64_t after = before;
  if (args.values.size() == 3) {
    ASSIGN_OR_RETURN(after, analytics::ConstInt(kName, args, 2, "RowsAfter"));
  }
  if (before < 0 || after < 0) return ArgError(kName, "NumRows and RowsAfter must not be negative");
  int64_t n = static_cast<int64_t>(input.rows);
  before = std::min(before, n);
  after = std::min(after, n);
  MemoryReservation held(ctx.budget, std::string(kName));
  RETURN_IF_ERROR(held.Grow(input.rows * 12));
  std::vector<int32_t> delta(input.rows + 1, 0);
  for (int64_t r = 0; r < n; ++r) {
    if (!IsTrue(args.values[0], static_cast<size_t>(r))) continue;
    ++delta[static_cast<size_t>(std::max<int64_t>(0, r - before))];
    --delta[static_cast<size_t>(std::min(n, r + after + 1))];
  }
  std::vector<uint32_t> keep;
  int64_t open = 0;
  for (size_t r = 0; r < input.rows; ++r) {
    open += delta[r];
    if (open > 0) keep.push_back(static_cast<uint32_t>(r));
  }
  Table out = GatherTable(input, keep);
  RETURN_IF_ERROR(held.Grow(ApproxBytes(out)));
  return out;
}

// dcount_intersect(hll_1, hll_2 [, ...]): the input's columns, then s0..s(n-1): the distinct
// counts of S1, S1 n S2, ..., S1 n ... n Sn of each row's hll values (exact while the values are
// sparse hlls, else estimated by inclusion-exclusion); null where a value is not an hll.
Result<Table> DcountIntersect(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  constexpr std::string_view kName = "dcount_intersect";
  if (args.values.size() < kMinSets || args.values.size() > kMaxSets)
    return ArgError(kName, "expects 2 to 16 hll values");
  std::vector<const Column*> cols;
  for (const Column& c : args.values) {
    if (c.type != Type::kDynamic)
      return ArgError(kName, "the arguments must be hll() values (dynamic)");
    cols.push_back(&c);
  }
  Table out;
  for (size_t c = 0; c < input.columns.size(); ++c) out.AddColumn(input.names[c], input.columns[c]);
  std::vector<Column> counts(cols.size(), Column(Type::kLong));
  for (size_t r = 0; r < input.rows; ++r) {
    RETURN_IF_ERROR(TickBudget(ctx));
    ASSIGN_OR_RETURN(std::optional<std::vector<int64_t>> s, Intersections(cols, r, ctx));
    for (size_t i = 0; i < cols.size(); ++i) {
      if (s)
        counts[i].AppendInt((*s)[i]);
      else
        counts[i].AppendNull();
    }
  }
  for (size_t i = 0; i < cols.size(); ++i)
    out.AddColumn("s" + std::to_string(i), std::move(counts[i]));
  out.rows = input.rows;
  return out;
}

// rolling_percentile(ValueColumn, Percentile, IndexColumn, BinSize, BinsPerWindow [, dim...]):
// per dimensions' key and bin of the index with values, the nearest-rank Percentile of the
// values in the BinsPerWindow bins ending with it. A sliding window over a rank tree: O(n log n).
Result<Table> RollingPercentile(const Table& input, const PluginArgs& args,
                                const ExecContext& ctx) {
  ASSIGN_OR_RETURN(Rolling a, ReadRolling(input, args));
  const Column& values = input.columns[static_cast<size_t>(a.value_col)];
  const Column& index = input.columns[static_cast<size_t>(a.index_col)];
  std::vector<const Column*> dim_cols;
  for (int c : a.dims) dim_cols.push_back(&input.columns[static_cast<size_t>(c)]);
  ASSIGN_OR_RETURN(analytics::Keys keys, analytics::DenseKeys(dim_cols, input.rows, ctx));
  MemoryReservation held(ctx.budget, "rolling_percentile");
  RETURN_IF_ERROR(held.Grow(input.rows * (sizeof(BinnedRow) + 3 * sizeof(int64_t))));
  bool reals = UsesReals(values.type);
  std::vector<BinnedRow> rows;
  for (size_t r = 0; r < input.rows; ++r) {
    std::optional<int64_t> b = a.bins.Of(index, r);
    if (!b || values.IsNull(r) || (reals && std::isnan(values.Real(r)))) continue;
    rows.push_back({keys.of_row[r], *b, static_cast<uint32_t>(r)});
  }
  // Ranks: the rows sorted by value.
  std::vector<uint32_t> by_value(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) by_value[i] = rows[i].row;
  std::sort(by_value.begin(), by_value.end(), [&](uint32_t x, uint32_t y) {
    return reals ? values.Real(x) < values.Real(y) : values.Int(x) < values.Int(y);
  });
  std::vector<uint32_t> rank_of(input.rows, 0);
  for (size_t i = 0; i < by_value.size(); ++i) rank_of[by_value[i]] = static_cast<uint32_t>(i);
  std::sort(rows.begin(), rows.end(), [](const BinnedRow& x, const BinnedRow& y) {
    return std::tie(x.dim, x.bin, x.row) < std::tie(y.dim, y.bin, y.row);
  });
  RETURN_IF_ERROR(CheckBudget(ctx));
  Table out;
  Column idx_out(index.type), val_out(values.type);
  std::vector<uint32_t> dim_of_row;
  RankTree tree(rows.size());
  size_t first = 0;  // the window's first row
  for (size_t i = 0; i < rows.size();) {
    RETURN_IF_ERROR(TickBudget(ctx));
    size_t j = i;
    for (; j < rows.size() && rows[j].dim == rows[i].dim && rows[j].bin == rows[i].bin; ++j)
      tree.Add(rank_of[rows[j].row], 1);
    while (rows[first].dim != rows[i].dim ||
           static_cast<__int128>(rows[first].bin) <=
               static_cast<__int128>(rows[i].bin) - a.per_window) {
      tree.Add(rank_of[rows[first].row], -1);
      ++first;
    }
    int64_t k = std::max<int64_t>(
        1, static_cast<int64_t>(std::ceil(a.pct / 100 * static_cast<double>(tree.total()))));
    a.bins.Append(idx_out, rows[i].bin);
    val_out.AppendFrom(values, by_value[tree.Kth(std::min(k, tree.total()))]);
    dim_of_row.push_back(rows[i].dim);
    i = j;
  }
  out.AddColumn(input.names[static_cast<size_t>(a.index_col)], std::move(idx_out));
  analytics::AddDimColumns(out, input, a.dims, keys, dim_of_row);
  out.AddColumn("rolling_" + std::to_string(a.per_window) + "_percentile_" +
                    input.names[static_cast<size_t>(a.value_col)] + "_" + PercentName(a.pct),
                std::move(val_out));
  out.rows = dim_of_row.size();
  return out;
}

}  // namespace cmk::kql::plugins
