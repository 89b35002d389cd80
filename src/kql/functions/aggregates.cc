#include "kql/functions/aggregates.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <boost/sort/spreadsort/float_sort.hpp>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <unordered_set>

#include <boost/unordered/unordered_flat_set.hpp>

#include "kql/core/hashed_view.h"
#include "kql/core/text_arena.h"
#include "kql/exec/eval.h"
#include "kql/functions/aggregates_internal.h"
#include "kql/functions/function_json.h"
#include "kql/functions/sketch.h"

namespace cmk::kql {
namespace {

namespace bj = boost::json;
using Args = std::span<const Column* const>;

constexpr AggregateDef kDefs[] = {
    {"count", 0, 1, 1, "count_"},        {"countif", 1, 1, 1, "countif_"},
    {"dcount", 1, 2, 1, "dcount_"},      {"dcountif", 2, 3, 2, "dcountif_"},
    {"sum", 1, 1, 1, "sum_"},            {"sumif", 2, 2, 2, "sumif_"},
    {"avg", 1, 1, 1, "avg_"},            {"avgif", 2, 2, 2, "avgif_"},
    {"min", 1, 1, 1, "min_"},            {"max", 1, 1, 1, "max_"},
    {"minif", 2, 2, 2, "minif_"},        {"maxif", 2, 2, 2, "maxif_"},
    {"arg_min", 1, -1, -1, "min_"},      {"arg_max", 1, -1, -1, "max_"},
    {"make_list", 1, 2, 1, "list_"},     {"make_set", 1, 2, 1, "set_"},
    {"make_bag", 1, 2, 1, "bag_"},       {"percentile", 2, 2, 1, "percentile_"},
    {"percentiles", 2, -1, 1, "percentile_"}, {"stdev", 1, 1, 1, "stdev_"},
    {"stdevp", 1, 1, 1, "stdevp_"},      {"variance", 1, 1, 1, "variance_"},
    {"variancep", 1, 1, 1, "variancep_"}, {"any", 1, -1, -1, "any_"},
    {"take_any", 1, -1, -1, "any_"},
    // Conditional and list variants.
    {"make_list_if", 2, 3, 2, "list_"},  {"make_set_if", 2, 3, 2, "set_"},
    {"make_bag_if", 2, 3, 2, "bag_"},    {"make_list_with_nulls", 1, 2, 1, "list_"},
    {"take_anyif", 2, 2, 2, "anyif_"},   {"anyif", 2, 2, 2, "anyif_"},
    {"stdevif", 2, 2, 2, "stdevif_"},    {"stdevpif", 2, 2, 2, "stdevpif_"},
    {"varianceif", 2, 2, 2, "varianceif_"}, {"variancepif", 2, 2, 2, "variancepif_"},
    {"count_distinct", 1, 1, 1, "count_distinct_"},
    {"count_distinctif", 2, 2, 2, "count_distinctif_"},
    // aggregates_stats.cc
    {"binary_all_and", 1, 1, 1, "binary_all_and_"}, {"binary_all_or", 1, 1, 1, "binary_all_or_"},
    {"binary_all_xor", 1, 1, 1, "binary_all_xor_"}, {"covariance", 2, 2, 2, "covariance_"},
    {"covariancep", 2, 2, 2, "covariancep_"}, {"covarianceif", 3, 3, 3, "covarianceif_"},
    {"covariancepif", 3, 3, 3, "covariancepif_"}, {"buildschema", 1, 1, 1, "schema_"},
    {"percentilew", 3, 3, 2, "percentile_"}, {"percentilesw", 3, -1, 2, "percentile_"},
    // The percentages of the _array forms may be one dynamic array: value arguments, read from
    // their (constant) first row.
    {"percentiles_array", 2, -1, -1, "percentiles_"},
    {"percentilesw_array", 3, -1, -1, "percentile_"},
    // aggregates_sketch.cc
    {"hll", 1, 2, 1, "hll_"},            {"hll_if", 2, 3, 2, "hll_if_"},
    {"hll_merge", 1, 2, 1, "hll_merge_"}, {"tdigest", 1, 2, 2, "tdigest_"},
    {"tdigest_merge", 1, 1, 1, "merge_tdigests_"}, {"merge_tdigest", 1, 1, 1, "merge_tdigests_"},
};

// Sets dst[i] (a plain column with at least i+1 values) to src[row].
void SetValue(Column& dst, size_t i, const Column& src, size_t row) {
  bool null = src.IsNull(row);
  if (null && dst.nulls.empty()) dst.nulls.assign(dst.stored(), 0);
  if (!dst.nulls.empty()) dst.nulls[i] = null ? 1 : 0;
  if (null) return;
  if (UsesInts(dst.type)) dst.ints[i] = src.Int(row);
  else if (UsesReals(dst.type)) dst.reals[i] = src.Real(row);
  else dst.strings[i] = src.Str(row);
}

void GrowWithNulls(Column& c, size_t n) {
  while (c.stored() < n) c.AppendNull();
}

class CountAgg : public Aggregator {
 public:
  explicit CountAgg(bool conditional) : conditional_(conditional) {}
  void Update(Args args, std::span<const uint32_t> groups, size_t num_groups) override {
    counts_.resize(num_groups, 0);
    if (!conditional_ && num_groups == 1) {  // every id is 0 (summarize without keys)
      counts_[0] += static_cast<int64_t>(groups.size());
      return;
    }
    if (!conditional_) {
      for (uint32_t g : groups) ++counts_[g];
      return;
    }
    const Column& p = *args[0];
    for (size_t r = 0; r < groups.size(); ++r) counts_[groups[r]] += IsTrue(p, r) ? 1 : 0;
  }
  bool Mergeable() const override { return true; }
  void Merge(const Aggregator& later, std::span<const uint32_t> groups, size_t num_groups) override {
    const auto& o = static_cast<const CountAgg&>(later);
    counts_.resize(num_groups, 0);
    for (size_t g = 0; g < o.counts_.size() && g < groups.size(); ++g) {
      if (groups[g] != kNoGroup) counts_[groups[g]] += o.counts_[g];
    }
  }
  size_t GroupBytes(size_t num_groups) const override {
    return std::max(counts_.capacity(), num_groups) * sizeof(int64_t);
  }
  std::vector<Column> Finish(size_t n) override {
    counts_.resize(n, 0);
    Column c(Type::kLong);
    c.ints = std::move(counts_);
    return {std::move(c)};
  }

 private:
  bool conditional_;
  std::vector<int64_t> counts_;
};

// sum, sumif, avg, avgif, stdev(p), variance(p).
class NumericAgg : public Aggregator {
 public:
  NumericAgg(std::string_view kind, Type out, bool conditional)
      : kind_(kind), out_(out), conditional_(conditional) {}
  void Update(Args args, std::span<const uint32_t> groups, size_t num_groups) override {
    n_.resize(num_groups, 0);
    isum_.resize(num_groups, 0);
    sum_.resize(num_groups, 0);
    m2_.resize(num_groups, 0);
    const Column& v = *args[0];
    const Column* pred = conditional_ ? args[1] : nullptr;
    bool ints = UsesInts(v.type);
    bool welford = kind_ != "sum" && kind_ != "avg";
    ints_ = ints;
    if (!welford && pred == nullptr && !v.HasNulls() && !v.constant) return SumPlain(v, groups);
    for (size_t r = 0; r < groups.size(); ++r) {
      if (v.IsNull(r) || (pred != nullptr && !IsTrue(*pred, r))) continue;
      uint32_t g = groups[r];
      ++n_[g];
      if (ints && !welford) {  // two's-complement: a sum past the range wraps, as in Merge
        isum_[g] = static_cast<int64_t>(static_cast<uint64_t>(isum_[g]) + static_cast<uint64_t>(v.Int(r)));
        continue;
      }
      double x = ints ? static_cast<double>(v.Int(r)) : v.Real(r);
      if (!welford) {
        sum_[g] += x;
        continue;
      }
      double delta = x - sum_[g];  // sum_ holds the running mean for Welford.
      sum_[g] += delta / static_cast<double>(n_[g]);
      m2_[g] += delta * (x - sum_[g]);
    }
  }
  // sum and avg (the Welford forms would need Chan's combination: not merged).
  bool Mergeable() const override { return kind_ == "sum" || kind_ == "avg"; }
  void Merge(const Aggregator& later, std::span<const uint32_t> groups, size_t num_groups) override {
    const auto& o = static_cast<const NumericAgg&>(later);
    n_.resize(num_groups, 0);
    isum_.resize(num_groups, 0);
    sum_.resize(num_groups, 0);
    m2_.resize(num_groups, 0);
    for (size_t g = 0; g < o.n_.size() && g < groups.size(); ++g) {
      uint32_t to = groups[g];
      if (to == kNoGroup) continue;
      n_[to] += o.n_[g];
      // Two's-complement addition, as Update's: a wrapped partial sum wraps the same way.
      isum_[to] = static_cast<int64_t>(static_cast<uint64_t>(isum_[to]) + static_cast<uint64_t>(o.isum_[g]));
      sum_[to] += o.sum_[g];
    }
    ints_ = ints_ || o.ints_;
  }
  std::vector<Column> Finish(size_t n) override {
    Column c(out_);
    for (size_t g = 0; g < n; ++g) {
      int64_t cnt = g < n_.size() ? n_[g] : 0;
      if (cnt == 0) {
        AppendEmpty(c);
      } else if (kind_ == "sum" && UsesInts(out_)) {
        c.AppendInt(isum_[g]);
      } else if (kind_ == "sum") {
        c.AppendReal(ints_ ? static_cast<double>(isum_[g]) : sum_[g]);
      } else if (kind_ == "avg") {
        double s = ints_ ? static_cast<double>(isum_[g]) : sum_[g];
        c.AppendReal(s / static_cast<double>(cnt));
      } else {
        bool sample = kind_ == "stdev" || kind_ == "variance";
        double denom = static_cast<double>(sample ? cnt - 1 : cnt);
        double var = denom <= 0 ? 0 : m2_[g] / denom;
        c.AppendReal(kind_.rfind("stdev", 0) == 0 ? std::sqrt(var) : var);
      }
    }
    return {std::move(c)};
  }

 private:
  // The value over no values (the summarize docs' "default values of aggregations"): 0 for
  // sum, stdev and variance (sample), NaN for avg (0/0, as the docs' example shows), else null.
  void AppendEmpty(Column& c) const {
    if (kind_ == "avg") return c.AppendReal(std::nan(""));
    if (kind_ != "sum" && kind_ != "stdev" && kind_ != "variance") return c.AppendNull();
    if (UsesInts(out_)) return c.AppendInt(0);
    c.AppendReal(0);
  }
  // sum and avg over values without nulls or a condition: a tight loop through pointers (the
  // general one tests each row's null, condition and kind).
  void SumPlain(const Column& v, std::span<const uint32_t> groups) {
    const uint32_t* g = groups.data();
    int64_t* n = n_.data();
    size_t rows = groups.size();
    if (UsesInts(v.type)) {
      const int64_t* x = v.ints.data();
      int64_t* s = isum_.data();
      for (size_t r = 0; r < rows; ++r) {
        ++n[g[r]];
        s[g[r]] = static_cast<int64_t>(static_cast<uint64_t>(s[g[r]]) + static_cast<uint64_t>(x[r]));
      }
      return;
    }
    const double* x = v.reals.data();
    double* s = sum_.data();
    for (size_t r = 0; r < rows; ++r) {
      ++n[g[r]];
      s[g[r]] += x[r];
    }
  }
  std::string kind_;
  Type out_;
  bool conditional_;
  bool ints_ = false;
  std::vector<int64_t> n_, isum_;
  std::vector<double> sum_, m2_;
};

// min, max, minif, maxif, arg_min, arg_max, any/take_any (first value wins).
class BestAgg : public Aggregator {
 public:
  BestAgg(int sign, bool conditional, std::span<const Type> types)
      : sign_(sign), conditional_(conditional) {
    for (Type t : types) outs_.emplace_back(t);
  }
  void Update(Args args, std::span<const uint32_t> groups, size_t num_groups) override {
    has_.resize(num_groups, 0);
    for (Column& c : outs_) GrowWithNulls(c, num_groups);
    const Column& key = *args[0];
    const Column* pred = conditional_ ? args[1] : nullptr;
    for (size_t r = 0; r < groups.size(); ++r) {
      if (pred != nullptr && !IsTrue(*pred, r)) continue;
      uint32_t g = groups[r];
      if (sign_ == 0) {  // any: first row of the group.
        if (has_[g]) continue;
      } else if (key.IsNull(r)) {
        // arg_min/arg_max of a group whose keys are all null still return the group's first
        // row (the docs' "Banana | | Yellow"); min/max return null. A real key replaces it.
        if (has_[g] || outs_.size() == 1) continue;
        has_[g] = kNullKey;
        for (size_t i = 0; i < outs_.size(); ++i) SetValue(outs_[i], g, *args[i], r);
        continue;
      } else if (has_[g] == kHasKey && CompareValues(key, r, outs_[0], g) * sign_ <= 0) {
        continue;
      }
      has_[g] = kHasKey;
      for (size_t i = 0; i < outs_.size(); ++i) SetValue(outs_[i], g, *args[conditional_ ? 0 : i], r);
    }
  }
  bool Mergeable() const override { return true; }
  // As if `later`'s rows had followed: its value replaces this one's only where Update would
  // have replaced it (a better key; any row over none; a real key over a null one).
  void Merge(const Aggregator& later, std::span<const uint32_t> groups, size_t num_groups) override {
    const auto& o = static_cast<const BestAgg&>(later);
    has_.resize(num_groups, 0);
    for (Column& c : outs_) GrowWithNulls(c, num_groups);
    for (size_t g = 0; g < o.has_.size() && g < groups.size(); ++g) {
      uint32_t to = groups[g];
      uint8_t theirs = o.has_[g];
      if (theirs == 0 || to == kNoGroup) continue;
      bool take = has_[to] == 0 ||
                  (sign_ != 0 && theirs == kHasKey &&
                   (has_[to] == kNullKey || CompareValues(o.outs_[0], g, outs_[0], to) * sign_ > 0));
      if (!take) continue;
      has_[to] = theirs;
      for (size_t i = 0; i < outs_.size(); ++i) SetValue(outs_[i], to, o.outs_[i], g);
    }
  }
  std::vector<Column> Finish(size_t n) override {
    for (Column& c : outs_) GrowWithNulls(c, n);
    return std::move(outs_);
  }

 private:
  static constexpr uint8_t kNullKey = 1, kHasKey = 2;
  int sign_;  // 1 max, -1 min, 0 any.
  bool conditional_;
  std::vector<uint8_t> has_;  // 0, kNullKey (a row with a null key held) or kHasKey
  std::vector<Column> outs_;
};

// count_distinct and count_distinctif: the exact count, every distinct value held.
class DistinctCountAgg : public Aggregator {
 public:
  explicit DistinctCountAgg(bool conditional) : conditional_(conditional) {}
  void Update(Args args, std::span<const uint32_t> groups, size_t num_groups) override {
    sets_.resize(num_groups);
    const Column& v = *args[0];
    const Column* pred = conditional_ ? args[1] : nullptr;
    if (UsesStrings(v.type)) return UpdateStrings(v, pred, groups);
    std::string key;
    for (size_t r = 0; r < groups.size(); ++r) {
      if (v.IsNull(r) || (pred != nullptr && !IsTrue(*pred, r))) continue;
      key.clear();
      EncodeKey(v, r, key);
      auto& set = sets_[groups[r]];
      if (set.find(key) == set.end()) {
        set.insert(key);
        bytes_ += key.size() + 64;  // node, bucket and string header
      }
    }
  }
  size_t StateBytes() const override { return bytes_; }
  bool Mergeable() const override { return true; }
  void Merge(const Aggregator& later, std::span<const uint32_t> groups, size_t num_groups) override {
    const auto& o = static_cast<const DistinctCountAgg&>(later);
    sets_.resize(num_groups);
    if (!o.views_.empty()) views_.resize(num_groups);
    for (size_t g = 0; g < groups.size(); ++g) {
      uint32_t to = groups[g];
      if (to == kNoGroup) continue;
      if (g < o.sets_.size()) {
        for (const std::string& key : o.sets_[g]) {
          if (sets_[to].insert(key).second) bytes_ += key.size() + 64;
        }
      }
      if (g < o.views_.size()) {
        for (const HashedView& v : o.views_[g]) Add(views_[to], v);  // `later`'s strings go
      }
    }
  }
  std::vector<Column> Finish(size_t n) override {
    Column c(Type::kLong);
    for (size_t g = 0; g < n; ++g) {
      size_t k = (g < sets_.size() ? sets_[g].size() : 0) + (g < views_.size() ? views_[g].size() : 0);
      c.AppendInt(static_cast<int64_t>(k));
    }
    return {std::move(c)};
  }

 private:
  using ViewSet = boost::unordered_flat_set<HashedView, HashedViewHash>;

  // Adds `v` to `set` unless held, its string copied into a deque (whose elements never move,
  // so the views stay valid).
  void Add(ViewSet& set, const HashedView& v) {
    if (set.contains(v)) return;
    set.insert(HashedView{storage_.emplace_back(v.s), v.h});
    bytes_ += v.s.size() + 64;  // slot and stored string
  }

  // Strings are looked up as views of the chunk; only a value new to its group is copied.
  void UpdateStrings(const Column& v, const Column* pred, std::span<const uint32_t> groups) {
    views_.resize(sets_.size());
    if (v.coded() && views_.size() == 1) return UpdateCoded(v, pred, groups.size());
    for (size_t r = 0; r < groups.size(); ++r) {
      if (v.IsNull(r) || (pred != nullptr && !IsTrue(*pred, r))) continue;
      Add(views_[groups[r]], Hashed(v.Str(r)));
    }
  }

  // One group, coded values: the chunk's distinct codes first, then one probe per code. Into an
  // empty set (a partial aggregation's one chunk) the dictionary's strings go as views, the
  // dictionary kept: nothing copied, each string hashed once here and not again by Merge.
  void UpdateCoded(const Column& v, const Column* pred, size_t rows) {
    const size_t entries = v.dict->size();
    codes_seen_.assign(entries, 0);
    if (!v.HasNulls() && !v.constant && pred == nullptr) {  // a tight loop through pointers
      uint8_t* seen = codes_seen_.data();
      const Code* codes = v.codes.data();
      // A block's dictionary holds the values of its rows, so over a whole block every entry is
      // usually seen a few thousand rows in, and the rows after add nothing: the loop goes in
      // strides, and once a stride ends with every entry seen, stops. A stride is at least the
      // dictionary's size (no stride before that could have seen them all), so the count costs
      // at most a byte a row.
      const size_t stride = std::max<size_t>(8192, entries);
      for (size_t r = 0; r < rows;) {
        const size_t end = std::min(rows, r + stride);
        for (; r < end; ++r) seen[codes[r]] = 1;
        if (r < rows && static_cast<size_t>(std::count(seen, seen + entries, uint8_t{1})) == entries) break;
      }
    } else {
      for (size_t r = 0; r < rows; ++r) {
        if (v.IsNull(r) || (pred != nullptr && !IsTrue(*pred, r))) continue;
        codes_seen_[v.codes[v.Index(r)]] = 1;
      }
    }
    ViewSet& set = views_[0];
    if (!set.empty()) {
      for (size_t code = 0; code < codes_seen_.size(); ++code) {
        if (codes_seen_[code]) Add(set, Hashed((*v.dict)[code]));
      }
      return;
    }
    dicts_.push_back(v.dict);
    set.reserve(static_cast<size_t>(std::count(codes_seen_.begin(), codes_seen_.end(), uint8_t{1})));
    for (size_t code = 0; code < codes_seen_.size(); ++code) {
      if (!codes_seen_[code]) continue;
      const std::string& s = (*v.dict)[code];
      if (set.insert(Hashed(s)).second) bytes_ += 64;  // the string is the dictionary's
    }
  }

  size_t bytes_ = 0;
  bool conditional_;
  std::vector<uint8_t> codes_seen_;
  std::vector<std::unordered_set<std::string>> sets_;
  // Open addressing (Boost's flat set): dcount of a string column is one probe per row, and
  // the node-based std::unordered_set spent most of it chasing nodes.
  std::vector<ViewSet> views_;
  std::deque<std::string> storage_;
  std::vector<std::shared_ptr<const std::vector<std::string>>> dicts_;  // views_'s other strings
};

// make_list and make_set (their _if forms, make_list_with_nulls): each group's items as JSON
// text, kept in an arena (views, no string per item); make_set's items are distinct by that text,
// its set a flat table of views. Finish joins each group's items into its array.
// Numbers, bools, datetimes and timespans (without make_list_with_nulls' nulls) are kept as their
// 64 bits instead and written as text in Finish: their text is a one-to-one function of the
// value (of the bits for reals, every NaN taken as one: all read "NaN"), so the sets are the same
// without a text built and hashed per row. Should the argument's type change between chunks
// (it does not: a column has one type), the items become text and go on as text.
class ListAgg : public Aggregator {
 public:
  ListAgg(bool set, size_t max, bool conditional, bool with_nulls)
      : set_(set), max_(max), conditional_(conditional), with_nulls_(with_nulls) {}
  void Update(Args args, std::span<const uint32_t> groups, size_t num_groups) override {
    if (groups_.size() < num_groups) groups_.resize(num_groups);
    const Column& v = *args[0];
    const Column* pred = conditional_ ? args[1] : nullptr;
    if (!typed_ && !text_ && !with_nulls_ && (UsesInts(v.type) || UsesReals(v.type))) {
      typed_ = true;
      type_ = v.type;
    }
    if (typed_ && v.type != type_) ToText();
    text_ = !typed_;
    if (typed_) {
      const bool reals = UsesReals(type_);
      // (Under a small cap most rows are passed over before any hash: no pass for the range.)
      if (set_ && !reals && !touched_ && max_ > kSmallCap && DenseSetUpdate(v, pred, groups, num_groups)) return;
      touched_ = true;
      if (sets_pending_) BuildSets();
      for (size_t r = 0; r < groups.size(); ++r) {
        if (v.IsNull(r) || (pred != nullptr && !IsTrue(*pred, r))) continue;
        Group& g = groups_[groups[r]];
        if (g.words.size() >= max_) continue;
        AddWord(g, reals ? RealWord(v.Real(r)) : static_cast<uint64_t>(v.Int(r)));
      }
      return;
    }
    // make_set of dictionary-coded strings: each entry is taken at most once a group (a later
    // row with the same code adds nothing), in the order the rows first show it.
    const size_t entries = v.coded() ? v.dict->size() : 0;
    if (set_ && entries > 0 && num_groups <= (size_t{1} << 22) / entries) {
      done_.assign(num_groups * entries, 0);
      for (size_t r = 0; r < groups.size(); ++r) {
        if (v.IsNull(r) || (pred != nullptr && !IsTrue(*pred, r))) continue;
        uint8_t& d = done_[groups[r] * entries + v.codes[v.Index(r)]];
        if (d != 0) continue;
        d = 1;
        AddRow(groups[r], v, r);
      }
      return;
    }
    for (size_t r = 0; r < groups.size(); ++r) {
      if (pred != nullptr && !IsTrue(*pred, r)) continue;
      AddRow(groups[r], v, r);
    }
  }
  size_t StateBytes() const override { return bytes_ + arena_.bytes(); }
  bool Mergeable() const override { return true; }
  void Merge(const Aggregator& later, std::span<const uint32_t> groups, size_t num_groups) override {
    const auto& o = static_cast<const ListAgg&>(later);
    if (groups_.size() < num_groups) groups_.resize(num_groups);
    if (!o.typed_ && !o.text_) return;  // `later` saw no rows
    touched_ = true;
    if (sets_pending_) BuildSets();
    if (!typed_ && !text_) {
      typed_ = o.typed_;
      text_ = o.text_;
      type_ = o.type_;
    }
    if (typed_ && (!o.typed_ || o.type_ != type_)) ToText();
    for (size_t g = 0; g < o.groups_.size() && g < groups.size(); ++g) {
      if (groups[g] == kNoGroup) continue;
      Group& to = groups_[groups[g]];
      if (typed_) {
        for (uint64_t w : o.groups_[g].words) {
          if (to.words.size() >= max_) break;
          AddWord(to, w);
        }
        continue;
      }
      if (o.typed_) {  // `later`'s numbers as text here
        o.ForEachText(o.groups_[g], [&](std::string_view item) {
          if (to.items.size() < max_) Add(to, {item, set_ ? HashString(item) : 0});
        });
        continue;
      }
      for (const HashedView& item : o.groups_[g].items) {
        if (to.items.size() >= max_) break;
        Add(to, item);  // `later`'s hash is this one's: the same function of the same text
      }
    }
  }
  std::vector<Column> Finish(size_t n) override {
    Column c(Type::kDynamic);
    if (groups_.size() < n) groups_.resize(n);
    std::string out;
    for (size_t g = 0; g < n; ++g) {
      out.clear();
      out.push_back('[');
      bool first = true;
      ForEachText(groups_[g], [&](std::string_view item) {
        if (!first) out.push_back(',');
        first = false;
        out += item;
      });
      out.push_back(']');
      c.AppendString(out);
    }
    return {std::move(c)};
  }

 private:
  using ViewSet = boost::unordered_flat_set<HashedView, HashedViewHash>;
  struct Group {
    std::vector<HashedView> items;  // in the order they came (make_list's hashes unset)
    ViewSet seen;                   // make_set's: the items again, for lookups
    std::vector<uint64_t> words;    // typed: the values' bits, in the order they came
    boost::unordered_flat_set<uint64_t> seen_words;  // typed make_set's
  };

  static uint64_t RealWord(double d) {
    if (std::isnan(d)) d = std::numeric_limits<double>::quiet_NaN();  // one NaN: its text is one
    uint64_t w;
    std::memcpy(&w, &d, sizeof w);
    return w;
  }
  void AddWord(Group& g, uint64_t w) {
    if (set_) {
      if (!g.seen_words.insert(w).second) return;
      bytes_ += 3 * sizeof(uint64_t);  // the item, its slot and the table's overhead
    } else {
      bytes_ += sizeof(uint64_t);
    }
    g.words.push_back(w);
  }
  // Calls `f` with each of the group's items as JSON text, in order.
  template <typename F>
  void ForEachText(const Group& g, F&& f) const {
    if (!typed_) {
      for (const HashedView& item : g.items) f(item.s);
      return;
    }
    Column values(type_);
    for (uint64_t w : g.words) {
      if (UsesReals(type_)) {
        double d;
        std::memcpy(&d, &w, sizeof d);
        values.AppendReal(d);
      } else {
        values.AppendInt(static_cast<int64_t>(w));
      }
    }
    std::string text;
    for (size_t i = 0; i < g.words.size(); ++i) {
      text.clear();
      AppendValueJson(values, i, text);
      f(std::string_view(text));
    }
  }
  // The typed items become text items (a chunk of another type came).
  void ToText() {
    for (Group& g : groups_) {
      std::vector<uint64_t> words = std::move(g.words);
      Group text;
      Group typed;
      typed.words = std::move(words);
      ForEachText(typed, [&](std::string_view item) { Add(text, {item, set_ ? HashString(item) : 0}); });
      g = std::move(text);
    }
    typed_ = false;
    text_ = true;
    sets_pending_ = false;
  }

  // make_set of integers over an aggregation's first chunk (a partial's only one) whose values
  // lie within kDenseRange of each other (event ids, status codes): each group's values are
  // marked in a byte array (groups x range) instead of hashed into its set, and the sets are
  // built (BuildSets) only when another chunk or a merge into this aggregation follows; a
  // partial merged into another never builds them (its words are read, deduplicated). At 10M
  // rows, `make_set(EventId) by Computer` built and grew 500 small tables a chunk. False,
  // nothing added, when the values spread wider.
  static constexpr uint64_t kDenseRange = 4096;
  static constexpr size_t kSmallCap = 64;
  // (Not inlined: inlined, it slowed the hashed loop of `make_set(EventId, 5) by Level` 15%.)
  [[gnu::noinline]] bool DenseSetUpdate(const Column& v, const Column* pred, std::span<const uint32_t> groups,
                                        size_t num_groups) {
    auto wanted = [&](size_t r) { return !v.IsNull(r) && (pred == nullptr || IsTrue(*pred, r)); };
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (size_t r = 0; r < groups.size(); ++r) {
      if (!wanted(r)) continue;
      lo = std::min(lo, v.Int(r));
      hi = std::max(hi, v.Int(r));
    }
    if (lo > hi) return false;
    const uint64_t range = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo) + 1;  // (no overflow: < 2^64)
    if (range > kDenseRange || num_groups * range > (size_t{1} << 22)) return false;
    done_.assign(num_groups * range, 0);
    for (size_t r = 0; r < groups.size(); ++r) {
      if (!wanted(r)) continue;
      Group& g = groups_[groups[r]];
      if (g.words.size() >= max_) continue;
      uint8_t& d = done_[groups[r] * range + (static_cast<uint64_t>(v.Int(r)) - static_cast<uint64_t>(lo))];
      if (d != 0) continue;
      d = 1;
      g.words.push_back(static_cast<uint64_t>(v.Int(r)));
      bytes_ += 3 * sizeof(uint64_t);  // as AddWord charges
    }
    touched_ = true;
    sets_pending_ = true;
    return true;
  }
  void BuildSets() {
    for (Group& g : groups_) {
      for (uint64_t w : g.words) g.seen_words.insert(w);
    }
    sets_pending_ = false;
  }

  // `item` (a view of anything; hashed for make_set) as the group's next item unless make_set
  // holds it already; its text is copied into the arena only when it is kept.
  void Add(Group& g, HashedView item) {
    if (set_) {
      if (g.seen.contains(item)) return;
      item.s = arena_.Store(item.s);
      g.seen.insert(item);
      bytes_ += sizeof(HashedView) * 2 + 8;  // the item, its slot and the table's overhead
    } else {
      item.s = arena_.Store(item.s);
      bytes_ += sizeof(HashedView);
    }
    g.items.push_back(item);
  }
  void AddText(uint32_t g, std::string_view text) {
    HashedView item{text, 0};
    if (set_) item.h = HashString(text);
    Add(groups_[g], item);
  }
  // The elements of a dynamic array (distinct ones for make_set); false when `text` is not an
  // array.
  bool AddArrayElements(uint32_t g, std::string_view text) {
    if (text.empty() || text[0] != '[') return false;
    boost::system::error_code ec;
    bj::value v = bj::parse(text, ec);
    if (ec || !v.is_array()) return false;
    for (const bj::value& e : v.get_array()) {
      if (groups_[g].items.size() >= max_) break;
      AddText(g, fn::WriteJson(e));
    }
    return true;
  }
  void AddRow(uint32_t g, const Column& v, size_t r) {
    if ((v.IsNull(r) && !with_nulls_) || groups_[g].items.size() >= max_) return;
    if (v.IsNull(r)) {
      AddText(g, "null");
      return;
    }
    // make_set and make_list over a dynamic array add its elements (make_set's "Set from array
    // column"; geo-point-in-polygon's MultiPolygon example wraps each polygon's coordinates in
    // pack_array() so that make_list's flattening leaves them one level deep).
    if (v.type == Type::kDynamic && AddArrayElements(g, v.Str(r))) return;
    json_.clear();
    AppendValueJson(v, r, json_);
    AddText(g, json_);
  }
  bool set_;
  size_t max_;
  bool conditional_, with_nulls_;
  bool typed_ = false, text_ = false;  // which items the groups hold (neither before a row)
  bool touched_ = false;               // an Update or a Merge into this one has run
  bool sets_pending_ = false;          // typed make_set's words deduplicated, its sets not built
  Type type_ = Type::kLong;            // typed_: the values' type
  size_t bytes_ = 0;
  std::vector<Group> groups_;
  TextArena arena_;
  std::string json_;           // the row's text before it is kept
  std::vector<uint8_t> done_;  // the coded path's (group, entry) marks
};

// make_bag (and make_bag_if): each group's distinct keys in the order they came, with the value
// each first had.
class BagAgg : public Aggregator {
 public:
  BagAgg(size_t max, bool conditional) : max_(max), conditional_(conditional) {}
  void Update(Args args, std::span<const uint32_t> groups, size_t num_groups) override {
    items_.resize(num_groups);
    seen_.resize(num_groups);
    const Column& v = *args[0];
    const Column* pred = conditional_ ? args[1] : nullptr;
    for (size_t r = 0; r < groups.size(); ++r) {
      if (pred != nullptr && !IsTrue(*pred, r)) continue;
      if (v.IsNull(r) || items_[groups[r]].size() >= max_) continue;
      AddBag(groups[r], v.Str(r));
    }
  }
  size_t StateBytes() const override { return bytes_; }
  std::vector<Column> Finish(size_t n) override {
    Column c(Type::kDynamic);
    items_.resize(n);
    for (const auto& items : items_) {
      std::string out(1, '{');
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ',';
        out += items[i];
      }
      out += '}';
      c.AppendString(std::move(out));
    }
    return {std::move(c)};
  }

 private:
  void AddBag(uint32_t g, std::string_view text) {
    boost::system::error_code ec;
    bj::value v = bj::parse(text, ec);
    if (ec || !v.is_object()) return;
    for (const auto& kv : v.get_object()) {
      std::string key(kv.key());
      if (!seen_[g].insert(key).second) continue;
      items_[g].push_back(bj::serialize(bj::value(kv.key())) + ":" + fn::WriteJson(kv.value()));
      bytes_ += key.size() + items_[g].back().size() + 80;
    }
  }
  size_t max_;
  bool conditional_;
  size_t bytes_ = 0;
  std::vector<std::vector<std::string>> items_;
  std::vector<std::unordered_set<std::string>> seen_;
};

// percentile, percentiles: the documented estimate. Values are kept exactly (answers are then
// the exact nearest ranks) until they take kExactBytes in all; past that, a group with more
// than kExact values goes into a t-digest (sketch.h, as tdigest(): bounded, rank error well
// under the documented 1%), so that memory stays bounded whatever the rows (100M values kept
// exactly were 800 MB, past the query's memory limit).
class PercentileAgg : public Aggregator {
 public:
  static constexpr size_t kExact = size_t{1} << 15;
  static constexpr size_t kExactBytes = size_t{8} << 20;
  PercentileAgg(std::span<const Type> types, std::span<const double> ps)
      : types_(types.begin(), types.end()), ps_(ps.begin(), ps.end()) {}
  void Update(Args args, std::span<const uint32_t> groups, size_t num_groups) override {
    Grow(num_groups);
    const Column& v = *args[0];
    bool ints = UsesInts(v.type);
    // Room for each group's values of the chunk at once (a partial's ~130 values a group were
    // 8 doublings each, a malloc and a copy apiece), still growing at least twofold.
    if (num_groups <= groups.size()) {
      counts_.assign(num_groups, 0);
      for (uint32_t g : groups) ++counts_[g];
      for (size_t g = 0; g < num_groups; ++g) {
        std::vector<double>& vals = values_[g];
        size_t need = vals.size() + counts_[g];
        if (counts_[g] != 0 && !digests_[g] && need > vals.capacity()) vals.reserve(std::max(need, 2 * vals.capacity()));
      }
    }
    for (size_t r = 0; r < groups.size(); ++r) {
      if (v.IsNull(r)) continue;
      Add(groups[r], ints ? static_cast<double>(v.Int(r)) : v.Real(r));
    }
  }
  size_t StateBytes() const override { return bytes_; }
  bool Mergeable() const override { return true; }
  // A partial's values, sorted where it was built (a reader thread): a digest takes them in
  // one merge instead of sorting them on the query's thread (10M values into one digest: the
  // sort was half of the query's time, all of it on one thread).
  void Seal() override {
    for (size_t g = 0; g < values_.size(); ++g) {
      if (values_[g].size() < kSortAtSeal || sorted_[g] != 0) continue;
      boost::sort::spreadsort::float_sort(values_[g].begin(), values_[g].end());
      sorted_[g] = 1;
    }
  }
  void Merge(const Aggregator& later, std::span<const uint32_t> groups, size_t num_groups) override {
    const auto& o = static_cast<const PercentileAgg&>(later);
    Grow(num_groups);
    for (size_t g = 0; g < o.values_.size() && g < groups.size(); ++g) {
      uint32_t to = groups[g];
      if (to == kNoGroup) continue;
      if (o.digests_[g]) {
        ToDigest(to);
        size_t before = digests_[to]->Bytes();
        digests_[to]->Merge(*o.digests_[g]);
        Resized(before, digests_[to]->Bytes());
      }
      const std::vector<double>& vals = o.values_[g];
      if (digests_[to]) {
        size_t before = digests_[to]->Bytes();
        if (o.sorted_[g] != 0) digests_[to]->AddSortedValues(vals);
        else digests_[to]->AddValues(vals);
        Resized(before, digests_[to]->Bytes());
        continue;
      }
      sorted_[to] = 0;
      values_[to].insert(values_[to].end(), vals.begin(), vals.end());
      bytes_ += vals.size() * sizeof(double);
      if (values_[to].size() > kExact && bytes_ > kExactBytes) ToDigest(to);
    }
  }
  std::vector<Column> Finish(size_t n) override {
    Grow(n);
    std::vector<Column> outs;
    for (Type t : types_) outs.emplace_back(t);
    // The nearest rank of each percentage, found by selection instead of a sort: ranks in
    // increasing order, each selected among the values above the previous one (O(n) a group).
    std::vector<size_t> order(ps_.size()), idx(ps_.size());
    for (size_t g = 0; g < n; ++g) {
      if (digests_[g]) {
        for (size_t i = 0; i < ps_.size(); ++i) Append(outs[i], types_[i], digests_[g]->Percentile(ps_[i]));
        continue;
      }
      std::vector<double>& vals = values_[g];
      for (size_t i = 0; i < ps_.size(); ++i) {
        if (vals.empty()) {
          outs[i].AppendNull();
          continue;
        }
        // (clamped: a percentage past 0..100 is the minimum or maximum; a cast of a double past
        // size_t's range would be undefined)
        double rank = std::ceil(std::clamp(ps_[i], 0.0, 100.0) / 100.0 * static_cast<double>(vals.size()));
        idx[i] = rank < 1 || std::isnan(rank) ? 0 : std::min(vals.size() - 1, static_cast<size_t>(rank) - 1);
      }
      if (vals.empty()) continue;
      for (size_t i = 0; i < order.size(); ++i) order[i] = i;
      std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return idx[a] < idx[b]; });
      auto nan_last = [](double a, double b) { return a < b || (!std::isnan(a) && std::isnan(b)); };
      // Without NaNs (the usual case, one pass to know) the plain order selects the same.
      bool nans = std::any_of(vals.begin(), vals.end(), [](double x) { return std::isnan(x); });
      auto from = vals.begin();
      for (size_t i : order) {
        auto nth = vals.begin() + static_cast<ptrdiff_t>(idx[i]);
        if (nth < from) continue;  // the same rank as the one before: in place already
        if (nans) std::nth_element(from, nth, vals.end(), nan_last);
        else std::nth_element(from, nth, vals.end());
        from = nth + 1;  // what follows is not less than it: the next rank is selected there
      }
      for (size_t i = 0; i < ps_.size(); ++i) Append(outs[i], types_[i], vals[idx[i]]);
    }
    return outs;
  }

 private:
  static void Append(Column& out, Type t, std::optional<double> v) {
    if (!v) out.AppendNull();
    else if (UsesInts(t)) out.AppendInt(static_cast<int64_t>(*v));
    else out.AppendReal(*v);
  }
  void Grow(size_t num_groups) {
    if (values_.size() < num_groups) {
      values_.resize(num_groups);
      digests_.resize(num_groups);
      sorted_.resize(num_groups);
    }
  }
  void Add(uint32_t g, double x) {
    sorted_[g] = 0;
    if (digests_[g]) {
      size_t before = digests_[g]->Bytes();
      digests_[g]->Add(x, 1.0);
      Resized(before, digests_[g]->Bytes());
      return;
    }
    values_[g].push_back(x);
    bytes_ += sizeof(double);
    if (values_[g].size() > kExact && bytes_ > kExactBytes) ToDigest(g);
  }
  void Resized(size_t before, size_t after) { bytes_ = bytes_ - std::min(bytes_, before) + after; }
  void ToDigest(uint32_t g) {
    if (digests_[g]) return;
    digests_[g] = std::make_unique<fn::TDigest>();
    digests_[g]->AddValues(values_[g]);
    bytes_ -= std::min(bytes_, values_[g].size() * sizeof(double));
    bytes_ += digests_[g]->Bytes();
    std::vector<double>().swap(values_[g]);
  }
  std::vector<Type> types_;
  std::vector<double> ps_;
  std::vector<std::vector<double>> values_;
  std::vector<std::unique_ptr<fn::TDigest>> digests_;  // groups past kExact values
  std::vector<uint8_t> sorted_;  // values_[g] ascending (Seal)
  std::vector<uint32_t> counts_;  // Update's scratch: the chunk's values a group
  // A partial's group of fewer values is merged as it is: sorting it where it was read saves
  // little, and exact answers don't need it.
  static constexpr size_t kSortAtSeal = 1024;
  size_t bytes_ = 0;
};

Status TypeError(const AggregateDef& def, const std::string& what) {
  return InvalidArgument(std::string(def.name) + "(): " + what, "SemanticError");
}

}  // namespace

const AggregateDef* FindAggregate(std::string_view name) {
  for (const AggregateDef& d : kDefs) {
    if (d.name == name) return &d;
  }
  return nullptr;
}

namespace {

// The name without a trailing "if" for the conditional forms (sumif -> sum, variancepif ->
// variancep); the predicate is then the argument after the value(s).
std::string_view Base(std::string_view n) {
  if (n == "take_anyif" || n == "anyif") return "any";
  if (n.ends_with("if") && n != "countif") return n.substr(0, n.size() - 2);
  return n;
}

// The types of the aggregates added for issue 18 (the rest are in AggregateTypes).
std::optional<Result<std::vector<Type>>> MoreTypes(const AggregateDef& def, std::span<const Type> args) {
  std::string_view n = def.name, b = Base(n);
  using V = std::vector<Type>;
  if (b != n && n != "make_bag_if" && args.back() != Type::kBool && !n.starts_with("make_")) {
    return TypeError(def, "the predicate must be bool");
  }
  if (n.starts_with("make_")) {
    if (n.ends_with("_if") && args[1] != Type::kBool) return TypeError(def, "the predicate must be bool");
    return V{Type::kDynamic};
  }
  if (b == "stdev" || b == "stdevp" || b == "variance" || b == "variancep" || b.starts_with("covariance")) {
    for (size_t i = 0; i < args.size() - (b != n ? 1 : 0); ++i) {
      if (!IsNumeric(args[i]) && args[i] != Type::kBool) return TypeError(def, "expects numeric arguments");
    }
    return V{Type::kReal};
  }
  if (b == "count_distinct") return V{Type::kLong};
  if (b == "any" && b != n) return V{args[0]};
  if (n.starts_with("binary_all_")) {
    if (!IsIntegral(args[0])) return TypeError(def, "expects a long argument");
    return V{Type::kLong};
  }
  if (n == "buildschema" || n.starts_with("hll") || n.ends_with("tdigest") || n == "tdigest_merge") {
    bool merge = n.find("merge") != std::string_view::npos;
    if ((n == "tdigest" && !IsNumeric(args[0]) && args[0] != Type::kDateTime && args[0] != Type::kTimespan) ||
        (n == "tdigest" && args.size() > 1 && !IsNumeric(args[1])) || (merge && args[0] != Type::kDynamic)) {
      return TypeError(def, "unexpected argument type");
    }
    return V{Type::kDynamic};
  }
  if (n == "percentiles_array" || n == "percentilesw_array") {
    Type t = args[0];
    if (!IsNumeric(t) && t != Type::kDateTime && t != Type::kTimespan) return TypeError(def, "expects a numeric argument");
    if (n == "percentilesw_array" && !IsNumeric(args[1])) return TypeError(def, "the weight must be a number");
    for (size_t i = n == "percentiles_array" ? 1 : 2; i < args.size(); ++i) {
      if (!IsNumeric(args[i]) && args[i] != Type::kDynamic) return TypeError(def, "expects numeric percentiles");
    }
    return V{Type::kDynamic};
  }
  return std::nullopt;
}

}  // namespace

Result<std::vector<Type>> AggregateTypes(const AggregateDef& def, std::span<const Type> args,
                                         std::span<const double> params) {
  std::string_view n = def.name;
  if (n == "percentilew" || n == "percentilesw") {
    if (!IsNumeric(args[1])) return TypeError(def, "the weight must be a number");
    std::array<Type, 1> value{args[0]};
    return AggregateTypes(*FindAggregate("percentiles"), value, params);
  }
  if (std::optional<Result<std::vector<Type>>> more = MoreTypes(def, args)) return std::move(*more);
  if (n == "count" || n == "countif" || n == "dcount" || n == "dcountif") {
    if ((n == "countif" && args[0] != Type::kBool) || (n == "dcountif" && args[1] != Type::kBool)) {
      return TypeError(def, "the predicate must be bool");
    }
    return std::vector<Type>{Type::kLong};
  }
  if ((n == "sumif" || n == "avgif" || n == "minif" || n == "maxif") && args.back() != Type::kBool) {
    return TypeError(def, "the predicate must be bool");
  }
  Type t = args[0];
  if (n == "sum" || n == "sumif") {
    if (!IsNumeric(t) && t != Type::kTimespan && t != Type::kBool) return TypeError(def, "expects a numeric argument");
    return std::vector<Type>{t == Type::kTimespan ? t : IsIntegral(t) ? Type::kLong : Type::kReal};
  }
  if (n == "avg" || n == "avgif" || n == "stdev" || n == "stdevp" || n == "variance" || n == "variancep") {
    if (!IsNumeric(t) && t != Type::kBool) return TypeError(def, "expects a numeric argument");
    return std::vector<Type>{Type::kReal};
  }
  if (n == "min" || n == "max" || n == "minif" || n == "maxif") {
    if (t == Type::kDynamic) return TypeError(def, "cannot compare dynamic values");
    return std::vector<Type>{t};
  }
  if (n == "make_list" || n == "make_set" || n == "make_bag") return std::vector<Type>{Type::kDynamic};
  if (n == "percentile" || n == "percentiles") {
    if (!IsNumeric(t) && t != Type::kDateTime && t != Type::kTimespan) return TypeError(def, "expects a numeric argument");
    Type out = UsesReals(t) ? Type::kReal : t == Type::kInt ? Type::kLong : t;
    return std::vector<Type>(params.size(), out);
  }
  return std::vector<Type>(args.begin(), args.end());  // arg_min/arg_max/any: their arguments.
}

std::unique_ptr<Aggregator> MakeAggregator(const AggregateDef& def, std::span<const Type> types,
                                           std::span<const double> params) {
  std::string_view n = def.name, b = Base(n);
  bool cond = b != n;
  if (n == "count" || n == "countif") return std::make_unique<CountAgg>(n == "countif");
  if (n == "dcount" || n == "dcountif") return agg::MakeDcountAggregator(params, n == "dcountif");
  if (n == "sum" || n == "sumif" || n == "avg" || n == "avgif") {
    return std::make_unique<NumericAgg>(n.substr(0, 3), types[0], n.size() > 3);
  }
  if (b == "stdev" || b == "stdevp" || b == "variance" || b == "variancep") {
    return std::make_unique<NumericAgg>(b, types[0], cond);
  }
  if (n == "min" || n == "max" || n == "minif" || n == "maxif") {
    return std::make_unique<BestAgg>(n.substr(0, 3) == "max" ? 1 : -1, n.size() > 3, types);
  }
  if (n == "arg_min" || n == "arg_max") return std::make_unique<BestAgg>(n == "arg_max" ? 1 : -1, false, types);
  if (b == "any" || n == "take_any") return std::make_unique<BestAgg>(0, cond, types);
  if (b == "count_distinct") return std::make_unique<DistinctCountAgg>(cond);
  if (n.starts_with("make_")) {
    // The documented default and maximum size.
    constexpr double kMaxList = 1'048'576;
    size_t max = static_cast<size_t>(params.empty() ? kMaxList : std::clamp(params[0], 0.0, kMaxList));
    if (n.starts_with("make_bag")) return std::make_unique<BagAgg>(max, n.ends_with("_if"));
    return std::make_unique<ListAgg>(n.starts_with("make_set"), max, n.ends_with("_if"), n == "make_list_with_nulls");
  }
  if (n == "percentile" || n == "percentiles") return std::make_unique<PercentileAgg>(types, params);
  if (n.starts_with("hll") || n.ends_with("tdigest") || n == "tdigest_merge") {
    return agg::MakeSketchAggregator(n, params);
  }
  return agg::MakeStatsAggregator(n, types, params);
}

}  // namespace cmk::kql
