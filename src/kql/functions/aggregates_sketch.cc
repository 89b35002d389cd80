// hll, hll_if, hll_merge, tdigest, tdigest_merge / merge_tdigest (aggregates_internal.h): one
// sketch (sketch.h) per group, its growth charged to the query's budget through StateBytes.
#include <algorithm>
#include <cmath>

#include "kql/exec/eval.h"
#include "kql/functions/aggregates_internal.h"
#include "kql/functions/function_json.h"
#include "kql/functions/sketch.h"

namespace cmk::kql::agg {
namespace {

using Args = std::span<const Column* const>;

// Charges the change of a sketch's size around `f` to `bytes`.
template <typename S, typename F>
void Tracked(S& sketch, size_t& bytes, F f) {
  size_t before = sketch.Bytes();
  f();
  size_t after = sketch.Bytes();
  bytes = after >= before ? bytes + (after - before) : bytes - std::min(bytes, before - after);
}

// The sketch of every group; `Add` folds row r of the arguments into a group's sketch.
template <typename S>
class SketchAgg : public Aggregator {
 public:
  explicit SketchAgg(S empty) : empty_(std::move(empty)) {}
  std::vector<Column> Finish(size_t n) override {
    Column c(Type::kDynamic);
    sketches_.resize(n, empty_);
    for (size_t g = 0; g < n; ++g) {
      if (has_.size() > g && has_[g]) c.AppendString(sketches_[g].ToJson());
      else c.AppendNull();
    }
    return {std::move(c)};
  }
  size_t StateBytes() const override { return bytes_; }

 protected:
  // Not inlined: g++ 12 inlined into a caller that knows num_groups == 1 warns of a memmove out
  // of bounds in vector::resize (-Warray-bounds, a false positive).
  [[gnu::noinline]] S& Group(uint32_t g, size_t num_groups) {
    if (sketches_.size() < num_groups) {
      sketches_.resize(num_groups, empty_);
      has_.resize(num_groups, 0);
    }
    has_[g] = 1;
    return sketches_[g];
  }
  S empty_;
  std::vector<S> sketches_;
  std::vector<uint8_t> has_;
  size_t bytes_ = 0;
};

class HllAgg : public SketchAgg<fn::Hll> {
 public:
  HllAgg(int64_t accuracy, bool conditional, bool merge)
      : SketchAgg(fn::Hll::ForAccuracy(accuracy)), conditional_(conditional), merge_(merge) {}
  void Update(Args args, std::span<const uint32_t> groups, size_t num_groups) override {
    const Column& v = *args[0];
    const Column* pred = conditional_ ? args[1] : nullptr;
    std::string key;
    for (size_t r = 0; r < groups.size(); ++r) {
      if (v.IsNull(r) || (pred != nullptr && !IsTrue(*pred, r))) continue;
      if (merge_) {
        std::optional<boost::json::value> j = fn::ParseJson(v.Str(r));
        std::optional<fn::Hll> h = j ? fn::Hll::FromJson(*j) : std::nullopt;
        if (!h) continue;
        fn::Hll& acc = Group(groups[r], num_groups);
        Tracked(acc, bytes_, [&] { acc.Merge(*h); });
        continue;
      }
      key.clear();
      EncodeKey(v, r, key);
      fn::Hll& acc = Group(groups[r], num_groups);
      Tracked(acc, bytes_, [&] { acc.AddHash(fn::HashKey(key)); });
    }
  }

 private:
  bool conditional_, merge_;
};

// dcount and dcountif: the documented estimate, an hll per group (sketch.h) with hll()'s
// hashes, so that dcount(x) is dcount_hll(hll(x)). Exact up to the accuracy level's sparse
// capacity (1000 values at the default level 1), then 2^p one-byte registers (16 KB a group at
// level 1, ~0.8% error): memory stays bounded whatever the number of distinct values (the
// exact count, count_distinct, holds them all and is bounded by the query's memory limit).
class DcountAgg : public SketchAgg<fn::Hll> {
 public:
  DcountAgg(int64_t accuracy, bool conditional) : SketchAgg(fn::Hll::ForAccuracy(accuracy)), conditional_(conditional) {}
  void Update(Args args, std::span<const uint32_t> groups, size_t num_groups) override {
    const Column& v = *args[0];
    const Column* pred = conditional_ ? args[1] : nullptr;
    if (v.coded()) return UpdateCoded(v, pred, groups, num_groups);
    std::string key;
    for (size_t r = 0; r < groups.size(); ++r) {
      if (v.IsNull(r) || (pred != nullptr && !IsTrue(*pred, r))) continue;
      key.clear();
      EncodeKey(v, r, key);
      fn::Hll& acc = Group(groups[r], num_groups);
      Tracked(acc, bytes_, [&] { acc.AddHash(fn::HashKey(key)); });
    }
  }
  bool Mergeable() const override { return true; }
  void Merge(const Aggregator& later, std::span<const uint32_t> groups, size_t num_groups) override {
    const auto& o = static_cast<const DcountAgg&>(later);
    for (size_t g = 0; g < o.sketches_.size() && g < groups.size(); ++g) {
      if (!o.has_[g] || groups[g] == kNoGroup) continue;
      fn::Hll& acc = Group(groups[g], num_groups);
      Tracked(acc, bytes_, [&] { acc.Merge(o.sketches_[g]); });
    }
  }
  std::vector<Column> Finish(size_t n) override {
    Column c(Type::kLong);
    for (size_t g = 0; g < n; ++g) {
      c.AppendInt(g < sketches_.size() && has_[g] ? static_cast<int64_t>(sketches_[g].Estimate()) : 0);
    }
    return {std::move(c)};
  }

 private:
  // Dictionary-coded strings: each entry hashed once. One group without a condition (a
  // partial aggregation's chunk, dcount over the whole table): the entries present, found by
  // a pass over the codes that stops once every entry has been seen (a block's dictionary
  // holds its rows' values, usually all seen a few thousand rows in).
  void UpdateCoded(const Column& v, const Column* pred, std::span<const uint32_t> groups, size_t num_groups) {
    const std::vector<std::string>& dict = *v.dict;
    std::vector<uint64_t> hashes(dict.size());
    std::string key;
    for (size_t i = 0; i < dict.size(); ++i) {
      key.clear();
      key.push_back('\1');
      uint32_t n = static_cast<uint32_t>(dict[i].size());
      key.append(reinterpret_cast<const char*>(&n), sizeof(n));
      key.append(dict[i]);
      hashes[i] = fn::HashKey(key);  // EncodeKey's bytes for the string
    }
    const size_t rows = groups.size();
    if (num_groups == 1 && pred == nullptr && !v.HasNulls() && !v.constant && rows > 0) {
      std::vector<uint8_t> seen(dict.size(), 0);
      const Code* codes = v.codes.data();
      const size_t stride = std::max<size_t>(8192, dict.size());
      for (size_t r = 0; r < rows;) {
        const size_t end = std::min(rows, r + stride);
        for (; r < end; ++r) seen[codes[r]] = 1;
        if (r < rows && static_cast<size_t>(std::count(seen.begin(), seen.end(), uint8_t{1})) == dict.size()) break;
      }
      fn::Hll& acc = Group(groups[0], num_groups);
      Tracked(acc, bytes_, [&] {
        acc.Reserve(static_cast<size_t>(std::count(seen.begin(), seen.end(), uint8_t{1})));
        for (size_t i = 0; i < dict.size(); ++i) {
          if (seen[i]) acc.AddHash(hashes[i]);
        }
      });
      return;
    }
    const size_t entries = dict.size();
    if (!v.constant && entries > 0 && num_groups <= 16 * rows / entries) {
      // Several groups (`dcount(Computer) by Level`): each (group, entry) pair the rows show is
      // found with a byte a row, and hashed into its group's sketch once.
      std::vector<uint8_t> pair_seen(num_groups * entries, 0);
      std::vector<std::pair<uint32_t, Code>> pairs;
      for (size_t r = 0; r < rows; ++r) {
        if (v.IsNull(r) || (pred != nullptr && !IsTrue(*pred, r))) continue;
        Code c = v.codes[r];
        uint8_t& seen = pair_seen[static_cast<size_t>(groups[r]) * entries + c];
        if (seen != 0) continue;
        seen = 1;
        pairs.emplace_back(groups[r], c);
      }
      for (const std::pair<uint32_t, Code>& pair : pairs) {
        fn::Hll& acc = Group(pair.first, num_groups);
        Tracked(acc, bytes_, [&] { acc.AddHash(hashes[pair.second]); });
      }
      return;
    }
    for (size_t r = 0; r < rows; ++r) {
      if (v.IsNull(r) || (pred != nullptr && !IsTrue(*pred, r))) continue;
      fn::Hll& acc = Group(groups[r], num_groups);
      Tracked(acc, bytes_, [&] { acc.AddHash(hashes[v.codes[v.Index(r)]]); });
    }
  }
  bool conditional_;
};

class TDigestAgg : public SketchAgg<fn::TDigest> {
 public:
  explicit TDigestAgg(bool merge) : SketchAgg(fn::TDigest()), merge_(merge) {}
  void Update(Args args, std::span<const uint32_t> groups, size_t num_groups) override {
    const Column& v = *args[0];
    const Column* w = args.size() > 1 ? args[1] : nullptr;
    if (!merge_) empty_ = fn::TDigest(v.type == Type::kInt ? Type::kLong : v.type);
    for (size_t r = 0; r < groups.size(); ++r) {
      if (v.IsNull(r) || (w != nullptr && w->IsNull(r))) continue;
      if (merge_) {
        std::optional<boost::json::value> j = fn::ParseJson(v.Str(r));
        std::optional<fn::TDigest> d = j ? fn::TDigest::FromJson(*j) : std::nullopt;
        if (!d) continue;
        fn::TDigest& acc = Group(groups[r], num_groups);
        Tracked(acc, bytes_, [&] { acc.Merge(*d); });
        continue;
      }
      double x = UsesReals(v.type) ? v.Real(r) : static_cast<double>(v.Int(r));
      double weight = w == nullptr ? 1.0 : UsesReals(w->type) ? w->Real(r) : static_cast<double>(w->Int(r));
      fn::TDigest& acc = Group(groups[r], num_groups);
      Tracked(acc, bytes_, [&] { acc.Add(x, weight); });
    }
  }

 private:
  bool merge_;
};

}  // namespace

std::unique_ptr<Aggregator> MakeDcountAggregator(std::span<const double> params, bool conditional) {
  int64_t accuracy = params.empty() ? 1 : static_cast<int64_t>(params[0]);
  return std::make_unique<DcountAgg>(accuracy, conditional);
}

std::unique_ptr<Aggregator> MakeSketchAggregator(std::string_view n, std::span<const double> params) {
  if (n.starts_with("hll")) {
    int64_t accuracy = params.empty() ? 1 : static_cast<int64_t>(params[0]);
    return std::make_unique<HllAgg>(accuracy, n == "hll_if", n == "hll_merge");
  }
  return std::make_unique<TDigestAgg>(n != "tdigest");
}

}  // namespace cmk::kql::agg
