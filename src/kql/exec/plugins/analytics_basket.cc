// basket([Threshold, WeightColumn, MaxDimensions, CustomWildcard, ...]): the frequent patterns
// of the input: sets of (column, value) whose rows weigh at least Threshold of all rows. The page
// names Apriori and shows the closed patterns only (none has a one-value-larger superset with
// the same rows: {Damage=NO, DamageCrops=0} is shown, {Damage=NO} is not); Kusto samples to
// find the frequent values, cmklogs counts exactly. A depth-first search over row lists (Eclat)
// branches on values and absorbs the values that hold on all of a node's rows (correlated ones,
// which MaxDimensions, the "uncorrelated dimensions", doesn't count); a null (or empty string)
// value is no pattern value.
#include <algorithm>
#include <cmath>
#include <map>

#include "kql/exec/eval.h"
#include "kql/exec/plugins/analytics_util.h"
#include "kql/exec/plugins/plugins.h"

namespace cmk::kql::plugins {
namespace {

using analytics::ArgError;

constexpr std::string_view kBasket = "basket";
constexpr size_t kMaxPatterns = 100'000;
constexpr int64_t kMaxDimensionsLimit = 64;

struct Options {
  double threshold = 0.05;
  int weight = -1;
  int64_t max_dims = 5;
  std::map<Type, Column> wildcards;
};

bool IsTilde(const PluginArgs& args, size_t i) {
  const Column& v = args.values[i];
  return args.columns[i] < 0 && v.constant && v.type == Type::kString && v.Str(0) == "~";
}

Result<Options> ReadOptions(const Table& input, const PluginArgs& args) {
  Options o;
  if (args.values.size() > 0 && !IsTilde(args, 0)) {
    ASSIGN_OR_RETURN(o.threshold, analytics::ConstReal(kBasket, args, 0, "Threshold"));
    if (!(o.threshold >= 0.015 && o.threshold <= 1))
      return ArgError(kBasket, "Threshold must be between 0.015 and 1");
  }
  if (args.values.size() > 1 && !IsTilde(args, 1)) {
    ASSIGN_OR_RETURN(o.weight, analytics::ColumnArg(kBasket, args, 1, "WeightColumn"));
    if (!IsNumeric(input.columns[static_cast<size_t>(o.weight)].type))
      return ArgError(kBasket, "WeightColumn must be numeric");
  }
  if (args.values.size() > 2 && !IsTilde(args, 2)) {
    ASSIGN_OR_RETURN(o.max_dims, analytics::ConstInt(kBasket, args, 2, "MaxDimensions"));
    if (o.max_dims < 1) return ArgError(kBasket, "MaxDimensions must be at least 1");
    o.max_dims = std::min(o.max_dims, kMaxDimensionsLimit);
  }
  for (size_t i = 3; i < args.values.size(); ++i) {
    if (IsTilde(args, i)) continue;
    if (args.columns[i] >= 0 || !args.values[i].constant)
      return ArgError(kBasket, "a CustomWildcard must be a constant");
    o.wildcards[args.values[i].type] = args.values[i];
  }
  return o;
}

// One column's values as item codes (-1: null or empty, no item).
struct Dimension {
  int column;
  std::vector<int32_t> code;
  std::vector<uint32_t> first_row;
};

struct Pattern {
  std::vector<std::pair<uint32_t, int32_t>> items;  // (dimension, code)
  double support;
};

class Miner {
 public:
  Miner(const std::vector<Dimension>& dims, const std::vector<double>& weight, double min_support,
        int64_t max_dims, MemoryReservation& held, const ExecContext& ctx)
      : dims_(dims),
        weight_(weight),
        min_support_(min_support),
        max_dims_(max_dims),
        held_(held),
        ctx_(ctx) {}

  Status Run() {
    // The frequent single values and their rows.
    for (uint32_t d = 0; d < dims_.size(); ++d) {
      std::vector<double> sup(dims_[d].first_row.size(), 0);
      for (size_t r = 0; r < weight_.size(); ++r) {
        if (dims_[d].code[r] >= 0) sup[static_cast<size_t>(dims_[d].code[r])] += weight_[r];
      }
      for (size_t c = 0; c < sup.size(); ++c) {
        if (sup[c] >= min_support_ && sup[c] > 0) items_.push_back({d, static_cast<int32_t>(c)});
      }
    }
    rows_.resize(items_.size());
    for (size_t i = 0; i < items_.size();) {  // one pass over the rows per column
      const Dimension& dim = dims_[items_[i].first];
      std::vector<int64_t> item_of(dim.first_row.size(), -1);
      size_t j = i;
      for (; j < items_.size() && items_[j].first == items_[i].first; ++j)
        item_of[static_cast<size_t>(items_[j].second)] = static_cast<int64_t>(j);
      size_t listed = 0;
      for (size_t r = 0; r < weight_.size(); ++r) {
        int64_t it = dim.code[r] >= 0 ? item_of[static_cast<size_t>(dim.code[r])] : -1;
        if (it >= 0) rows_[static_cast<size_t>(it)].push_back(static_cast<uint32_t>(r)), ++listed;
      }
      RETURN_IF_ERROR(held_.Grow(listed * sizeof(uint32_t)));
      i = j;
    }
    std::vector<uint32_t> all(weight_.size());
    double total = 0;
    for (size_t r = 0; r < all.size(); ++r) all[r] = static_cast<uint32_t>(r), total += weight_[r];
    std::vector<std::pair<uint32_t, int32_t>> pattern;
    return Visit(pattern, all, total, 0, 0);
  }
  std::vector<Pattern>& found() { return found_; }

 private:
  // A node of the search: `pattern` (with `depth` values chosen, the rest absorbed) over `rows`.
  // The values after `next` that hold on every row join the pattern without branching (they
  // are correlated with it, and don't count as dimensions); the others branch.
  Status Visit(std::vector<std::pair<uint32_t, int32_t>>& pattern,
               const std::vector<uint32_t>& rows, double sup, size_t next, int64_t depth) {
    RETURN_IF_ERROR(CheckBudget(ctx_));
    size_t base = pattern.size();
    std::vector<std::pair<size_t, std::vector<uint32_t>>> branches;
    MemoryReservation local(ctx_.budget, std::string(kBasket));
    for (size_t j = next; j < items_.size(); ++j) {
      if (Uses(pattern, items_[j].first)) continue;  // one value per column
      std::vector<uint32_t> both;
      std::set_intersection(rows.begin(), rows.end(), rows_[j].begin(), rows_[j].end(),
                            std::back_inserter(both));
      if (both.size() == rows.size()) {
        pattern.push_back(items_[j]);
        continue;
      }
      if (depth >= max_dims_ || both.empty() || Support(both) < min_support_) continue;
      RETURN_IF_ERROR(local.Grow(both.size() * sizeof(uint32_t) + 32));
      branches.emplace_back(j, std::move(both));
    }
    if (!pattern.empty() && (depth == max_dims_ || Closed(pattern, rows))) {
      if (found_.size() >= kMaxPatterns)
        return ArgError(kBasket, "more than 100000 frequent patterns; raise Threshold");
      found_.push_back({pattern, sup});
      RETURN_IF_ERROR(held_.Grow(pattern.size() * 8 + 48));
    }
    for (auto& [j, both] : branches) {
      pattern.push_back(items_[j]);
      RETURN_IF_ERROR(Visit(pattern, both, Support(both), j + 1, depth + 1));
      pattern.pop_back();
    }
    pattern.resize(base);
    return OkStatus();
  }

  static bool Uses(const std::vector<std::pair<uint32_t, int32_t>>& pattern, uint32_t d) {
    return std::any_of(pattern.begin(), pattern.end(),
                       [&](const auto& it) { return it.first == d; });
  }
  double Support(const std::vector<uint32_t>& rows) const {
    double sup = 0;
    for (uint32_t r : rows) sup += weight_[r];
    return sup;
  }

  // No other column holds one value over all of `rows` (else a larger pattern has them all).
  bool Closed(const std::vector<std::pair<uint32_t, int32_t>>& pattern,
              const std::vector<uint32_t>& rows) const {
    for (uint32_t d = 0; d < dims_.size(); ++d) {
      int32_t v = dims_[d].code[rows[0]];
      if (Uses(pattern, d) || v < 0) continue;
      bool same =
          std::all_of(rows.begin(), rows.end(), [&](uint32_t r) { return dims_[d].code[r] == v; });
      if (same) return false;
    }
    return true;
  }

  const std::vector<Dimension>& dims_;
  const std::vector<double>& weight_;
  double min_support_;
  int64_t max_dims_;
  MemoryReservation& held_;
  const ExecContext& ctx_;
  std::vector<std::pair<uint32_t, int32_t>> items_;
  std::vector<std::vector<uint32_t>> rows_;
  std::vector<Pattern> found_;
};

Result<std::vector<Dimension>> Dimensions(const Table& input, int weight, const ExecContext& ctx) {
  std::vector<Dimension> dims;
  for (size_t c = 0; c < input.columns.size(); ++c) {
    if (static_cast<int>(c) == weight) continue;
    const Column& col = input.columns[c];
    ASSIGN_OR_RETURN(analytics::Keys k, analytics::DenseKeys({&col}, input.rows, ctx));
    Dimension d{static_cast<int>(c), std::vector<int32_t>(input.rows), k.first_row};
    for (size_t r = 0; r < input.rows; ++r) {
      bool none = col.IsNull(r) || (col.type == Type::kString && col.Str(r).empty());
      d.code[r] = none ? -1 : static_cast<int32_t>(k.of_row[r]);
    }
    dims.push_back(std::move(d));
  }
  return dims;
}

}  // namespace

Result<Table> Basket(const Table& input, const PluginArgs& args, const ExecContext& ctx) {
  ASSIGN_OR_RETURN(Options opt, ReadOptions(input, args));
  MemoryReservation held(ctx.budget, std::string(kBasket));
  RETURN_IF_ERROR(held.Grow(input.rows * (input.columns.size() * 4 + 8)));
  ASSIGN_OR_RETURN(std::vector<Dimension> dims, Dimensions(input, opt.weight, ctx));
  std::vector<double> weight(input.rows, 1.0);
  if (opt.weight >= 0) {
    const Column& w = input.columns[static_cast<size_t>(opt.weight)];
    for (size_t r = 0; r < input.rows; ++r) {
      double v = w.IsNull(r) ? 0 : UsesReals(w.type) ? w.Real(r) : static_cast<double>(w.Int(r));
      weight[r] = std::isfinite(v) && v > 0 ? v : 0;
    }
  }
  double total = 0;
  for (double w : weight) total += w;
  Miner miner(dims, weight, opt.threshold * total, opt.max_dims, held, ctx);
  RETURN_IF_ERROR(miner.Run());
  std::vector<Pattern>& found = miner.found();
  std::stable_sort(found.begin(), found.end(),
                   [](const Pattern& a, const Pattern& b) { return a.support > b.support; });
  Table out;
  Column id(Type::kLong), count(Type::kLong), percent(Type::kReal);
  for (size_t i = 0; i < found.size(); ++i) {
    id.AppendInt(static_cast<int64_t>(i));
    count.AppendInt(std::llround(found[i].support));
    percent.AppendReal(100.0 * found[i].support / total);
  }
  out.AddColumn("SegmentId", std::move(id));
  out.AddColumn("Count", std::move(count));
  out.AddColumn("Percent", std::move(percent));
  // The input's columns in order; the weight column is in no pattern (its wildcard throughout).
  uint32_t d = 0;
  for (size_t col = 0; col < input.columns.size(); ++col) {
    const Column& src = input.columns[col];
    bool dim = d < dims.size() && dims[d].column == static_cast<int>(col);
    auto wild = opt.wildcards.find(src.type);
    Column c(src.type);
    for (const Pattern& p : found) {
      auto it = std::find_if(p.items.begin(), p.items.end(),
                             [&](const auto& item) { return dim && item.first == d; });
      if (it != p.items.end())
        c.AppendFrom(src, dims[d].first_row[static_cast<size_t>(it->second)]);
      else if (wild != opt.wildcards.end())
        c.AppendFrom(wild->second, 0);
      else
        c.AppendNull();
    }
    out.AddColumn(input.names[col], std::move(c));
    d += dim ? 1 : 0;
  }
  out.rows = found.size();
  return out;
}

}  // namespace cmk::kql::plugins
