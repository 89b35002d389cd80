// Scalar functions over hll and tdigest values (sketch.h): dcount_hll, hll_merge (2..64 values),
// merge_tdigest / tdigest_merge (scalar), percentile_tdigest, percentiles_array_tdigest,
// percentrank_tdigest, rank_tdigest. A value that is not a sketch gives null.
#include <cmath>

#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"
#include "kql/functions/sketch.h"

namespace cmk::kql::fn {
namespace {

template <typename S>
std::optional<S> SketchAt(const Column& c, size_t i) {
  if (c.type != Type::kDynamic || c.IsNull(i)) return std::nullopt;
  std::optional<bj::value> v = ParseJson(c.Str(i));
  return v ? S::FromJson(*v) : std::nullopt;
}

Result<Column> EvalDcountHll(Args a, const FunctionContext& ctx) {
  return MapRows(a, ctx, Type::kLong, [&](Column& out, size_t i) {
    std::optional<Hll> h = SketchAt<Hll>(*a[0], i);
    if (h) out.ints[i] = static_cast<int64_t>(h->Estimate());
    else SetNull(out, i);
  });
}

// Merges every argument's sketch; a row with no sketch at all is null.
template <typename S>
Result<Column> EvalMerge(Args a, const FunctionContext& ctx) {
  return MapRows(a, ctx, Type::kDynamic, [&](Column& out, size_t i) {
    std::optional<S> acc;
    for (const Column* c : a) {
      std::optional<S> s = SketchAt<S>(*c, i);
      if (!s) continue;
      if (acc) acc->Merge(*s);
      else acc = std::move(s);
    }
    if (acc) out.strings[i] = acc->ToJson();
    else SetNull(out, i);
  });
}

// One percentile as JSON in the digest's type (datetimes and timespans as their text).
bj::value TypedJson(double v, Type t) {
  if (!UsesInts(t)) return bj::value(v);
  Column c(t);
  c.AppendInt(static_cast<int64_t>(std::llround(v)));
  return ValueToJson(c, 0);
}

// percentile_tdigest(d, p [, typeof(T)]) and percentiles_array_tdigest(d, p... | dynamic
// [, typeof(T)]): dynamic values, converted to T when given.
Result<Column> EvalPercentiles(bool as_array, Args a, const FunctionContext& ctx) {
  bool list = a.size() > 1 && a[1]->type == Type::kDynamic;
  size_t typed = (!as_array && a.size() == 3) || (list && a.size() == 3) ? 1 : 0;
  Result<Column> json = MapRows(a, ctx, Type::kDynamic, [&](Column& out, size_t i) {
    std::optional<TDigest> d = SketchAt<TDigest>(*a[0], i);
    std::vector<double> ps;
    if (list) {
      std::optional<bj::value> arr = a[1]->IsNull(i) ? std::nullopt : ParseJson(a[1]->Str(i));
      if (arr && arr->is_array()) {
        for (const bj::value& p : arr->get_array()) ps.push_back(p.is_number() ? p.to_number<double>() : NAN);
      }
    } else {
      for (size_t k = 1; k < a.size() - typed; ++k) ps.push_back(a[k]->IsNull(i) ? NAN : NumAt(*a[k], i));
    }
    if (!d || (list && ps.empty() && !as_array)) return SetNull(out, i);
    bj::array vals;
    for (double p : ps) {
      std::optional<double> v = d->Percentile(p);
      vals.push_back(v ? TypedJson(*v, d->type()) : bj::value(nullptr));
    }
    if (!as_array && vals.size() == 1 && vals[0].is_null()) return SetNull(out, i);
    out.strings[i] = WriteJson(as_array ? bj::value(std::move(vals)) : vals[0]);
  });
  if (!json.ok() || typed == 0 || (as_array && list)) return json;
  return Convert(*json, a.back()->type, ctx);
}

Result<Type> PercentileType(bool as_array, Types t) {
  if (t[0] != Type::kDynamic) return ArgTypeError(as_array ? "percentiles_array_tdigest" : "percentile_tdigest", 0, t[0], "dynamic");
  if (!as_array && t.size() == 3) return t[2];
  return Type::kDynamic;  // percentiles_array_tdigest: elements in the digest's type
}

// rank_tdigest(d, v) (long) and percentrank_tdigest(d, v) (real, 0..100).
Result<Column> EvalRank(bool percent, Args a, const FunctionContext& ctx) {
  return MapRows(a, ctx, percent ? Type::kReal : Type::kLong, [&](Column& out, size_t i) {
    std::optional<TDigest> d = SketchAt<TDigest>(*a[0], i);
    if (!d || a[1]->IsNull(i) || UsesStrings(a[1]->type) || d->total() == 0) return SetNull(out, i);
    double r = d->Rank(NumAt(*a[1], i));
    if (percent) out.reals[i] = r * 100.0 / d->total();
    else out.ints[i] = static_cast<int64_t>(std::llround(r));
  });
}

}  // namespace

void RegisterSketches(Registry& r) {
  r.Function({"dcount_hll", 1, 1, Returns(Type::kLong), EvalDcountHll});
  r.Function({"hll_merge", 2, 64, Returns(Type::kDynamic), EvalMerge<Hll>});
  r.Function({"merge_tdigest", 1, 64, Returns(Type::kDynamic), EvalMerge<TDigest>});
  r.Function({"tdigest_merge", 1, 64, Returns(Type::kDynamic), EvalMerge<TDigest>});
  r.Function({"percentile_tdigest", 2, 3, [](Types t) { return PercentileType(false, t); },
              [](Args a, const FunctionContext& c) { return EvalPercentiles(false, a, c); }});
  r.Function({"percentiles_array_tdigest", 2, 64, [](Types t) { return PercentileType(true, t); },
              [](Args a, const FunctionContext& c) { return EvalPercentiles(true, a, c); }});
  r.Function({"rank_tdigest", 2, 2, Returns(Type::kLong),
              [](Args a, const FunctionContext& c) { return EvalRank(false, a, c); }});
  r.Function({"percentrank_tdigest", 2, 2, Returns(Type::kReal),
              [](Args a, const FunctionContext& c) { return EvalRank(true, a, c); }});
}

}  // namespace cmk::kql::fn
