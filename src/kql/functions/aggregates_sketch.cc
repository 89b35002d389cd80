// hll, hll_if, hll_merge, tdigest, tdigest_merge / merge_tdigest (aggregates_internal.h): one
// sketch (sketch.h) per group, its growth charged to the query's budget through StateBytes.
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
  S& Group(uint32_t g, size_t num_groups) {
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

std::unique_ptr<Aggregator> MakeSketchAggregator(std::string_view n, std::span<const double> params) {
  if (n.starts_with("hll")) {
    int64_t accuracy = params.empty() ? 1 : static_cast<int64_t>(params[0]);
    return std::make_unique<HllAgg>(accuracy, n == "hll_if", n == "hll_merge");
  }
  return std::make_unique<TDigestAgg>(n != "tdigest");
}

}  // namespace cmk::kql::agg
