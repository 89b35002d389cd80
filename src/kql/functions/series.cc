// Series functions: series_* over dynamic arrays of numbers (make-series output). This file
// holds the element-wise functions (series_add, series_greater, series_abs, ...), the fill
// functions, the reductions to one number (series_sum, series_dot_product, ...) and
// series_stats; series_fit.cc, series_filter.cc and series_decompose.cc hold the rest.
// Every series is parsed once per row; elements that are not numbers are nulls (the docs:
// "any non-numeric element yields a null element value").
#include <algorithm>
#include <cmath>
#include <limits>

#include "kql/functions/series_util.h"

namespace cmk::kql::fn {
namespace {

// --- Element-wise ------------------------------------------------------------------------------

Result<Type> SeriesArgs(std::string_view fn, Types t, size_t series_args) {
  for (size_t i = 0; i < std::min(series_args, t.size()); ++i) {
    if (!IsSeriesOrNumber(t[i])) return ArgTypeError(fn, i, t[i], "dynamic");
  }
  return Type::kDynamic;
}

// f(x, y) over two series (or a series and a scalar, broadcast). The result is as long as the
// longer series; positions missing from the other, and non-numeric ones, are null.
template <typename F>
Result<Column> Binary(std::string_view fn, Args a, const FunctionContext& ctx, bool bools, F f) {
  return SeriesRows(fn, a, ctx, [&](size_t row) -> std::optional<std::string> {
    std::optional<SeriesArg> x = ReadSeriesOrScalar(*a[0], row);
    std::optional<SeriesArg> y = ReadSeriesOrScalar(*a[1], row);
    if (!x || !y || (x->scalar && y->scalar)) return std::nullopt;
    size_t n = std::max(x->scalar ? 0 : x->s.size(), y->scalar ? 0 : y->s.size());
    std::vector<double> v(n);
    std::vector<uint8_t> ok(n, 0);
    for (size_t i = 0; i < n; ++i) {
      size_t xi = x->scalar ? 0 : i, yi = y->scalar ? 0 : i;
      if (xi >= x->s.size() || yi >= y->s.size() || !x->s.ok[xi] || !y->s.ok[yi]) continue;
      v[i] = f(x->s.v[xi], y->s.v[yi]);
      ok[i] = 1;
    }
    if (!bools) return WriteSeries(v, &ok);
    std::string out = "[";
    for (size_t i = 0; i < n; ++i) {
      out += i > 0 ? "," : "";
      out += !ok[i] ? "null" : v[i] != 0 ? "true" : "false";
    }
    return out + "]";
  });
}

template <typename F>
void AddBinary(Registry& r, std::string_view name, bool bools, F f) {
  r.Function({name, 2, 2, [name](Types t) { return SeriesArgs(name, t, 2); },
              [name, bools, f](Args a, const FunctionContext& ctx) { return Binary(name, a, ctx, bools, f); }});
}

void AddUnary(Registry& r, std::string_view name, double (*f)(double)) {
  r.Function({name, 1, 1, [name](Types t) { return SeriesArgs(name, t, 1); },
              [name, f](Args a, const FunctionContext& ctx) {
                return SeriesRows(name, a, ctx, [&](size_t row) -> std::optional<std::string> {
                  std::optional<Series> s = ReadSeries(*a[0], row);
                  if (!s) return std::nullopt;
                  for (size_t i = 0; i < s->size(); ++i) {
                    if (s->ok[i]) s->v[i] = f(s->v[i]);
                  }
                  return WriteSeries(s->v, &s->ok);
                });
              }});
}

void RegisterElementwise(Registry& r) {
  AddBinary(r, "series_add", false, [](double x, double y) { return x + y; });
  AddBinary(r, "series_subtract", false, [](double x, double y) { return x - y; });
  AddBinary(r, "series_multiply", false, [](double x, double y) { return x * y; });
  AddBinary(r, "series_divide", false, [](double x, double y) { return x / y; });  // 2/0: +inf
  AddBinary(r, "series_pow", false, [](double x, double y) { return std::pow(x, y); });
  AddBinary(r, "series_equals", true, [](double x, double y) { return x == y ? 1.0 : 0.0; });
  AddBinary(r, "series_not_equals", true, [](double x, double y) { return x != y ? 1.0 : 0.0; });
  AddBinary(r, "series_greater", true, [](double x, double y) { return x > y ? 1.0 : 0.0; });
  AddBinary(r, "series_greater_equals", true, [](double x, double y) { return x >= y ? 1.0 : 0.0; });
  AddBinary(r, "series_less", true, [](double x, double y) { return x < y ? 1.0 : 0.0; });
  AddBinary(r, "series_less_equals", true, [](double x, double y) { return x <= y ? 1.0 : 0.0; });
  AddUnary(r, "series_abs", [](double x) { return std::fabs(x); });
  AddUnary(r, "series_acos", [](double x) { return std::acos(x); });
  AddUnary(r, "series_asin", [](double x) { return std::asin(x); });
  AddUnary(r, "series_atan", [](double x) { return std::atan(x); });
  AddUnary(r, "series_ceiling", [](double x) { return std::ceil(x); });
  AddUnary(r, "series_floor", [](double x) { return std::floor(x); });
  AddUnary(r, "series_cos", [](double x) { return std::cos(x); });
  AddUnary(r, "series_sin", [](double x) { return std::sin(x); });
  AddUnary(r, "series_tan", [](double x) { return std::tan(x); });
  AddUnary(r, "series_exp", [](double x) { return std::exp(x); });
  AddUnary(r, "series_log", [](double x) { return std::log(x); });
  AddUnary(r, "series_sign", [](double x) { return x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0; });
}

// --- Fill --------------------------------------------------------------------------------------

// Which elements are missing: nulls (and non-numbers) when the placeholder is null, else the
// elements equal to the placeholder. Kusto treats double(null), long(null), int(null) alike.
std::vector<uint8_t> Missing(const Series& s, Args a, size_t arg, size_t row) {
  std::vector<uint8_t> miss(s.size());
  bool by_value = arg < a.size() && !a[arg]->IsNull(row) && IsNumeric(a[arg]->type);
  double placeholder = by_value ? NumAt(*a[arg], row) : 0;
  for (size_t i = 0; i < s.size(); ++i) miss[i] = by_value ? (s.ok[i] && s.v[i] == placeholder) : !s.ok[i];
  return miss;
}

// Writes a filled series, keeping integers when the input held only integers.
std::string WriteFilled(const Series& s, const std::vector<uint8_t>& keep) {
  return WriteSeries(s.v, &keep, s.all_int);
}

enum class Fill { kForward, kBackward };

std::string FillDirectional(Series s, const std::vector<uint8_t>& miss, Fill dir) {
  std::vector<uint8_t> keep = s.ok;  // unfilled placeholders keep their value, nulls stay null
  std::optional<double> last;
  size_t n = s.size();
  for (size_t k = 0; k < n; ++k) {
    size_t i = dir == Fill::kForward ? k : n - 1 - k;
    if (!miss[i]) {
      last = s.v[i];
    } else if (last) {
      s.v[i] = *last;
      keep[i] = 1;
    }
  }
  return WriteFilled(s, keep);
}

Result<Column> EvalFillDirectional(std::string_view fn, Fill dir, Args a, const FunctionContext& ctx) {
  return SeriesRows(fn, a, ctx, [&](size_t row) -> std::optional<std::string> {
    std::optional<Series> s = ReadSeries(*a[0], row);
    if (!s) return std::nullopt;
    std::vector<uint8_t> miss = Missing(*s, a, 1, row);
    return FillDirectional(std::move(*s), miss, dir);
  });
}

Result<Column> EvalFillConst(Args a, const FunctionContext& ctx) {
  return SeriesRows("series_fill_const", a, ctx, [&](size_t row) -> std::optional<std::string> {
    std::optional<Series> s = ReadSeries(*a[0], row);
    if (!s) return std::nullopt;
    std::vector<uint8_t> miss = Missing(*s, a, 2, row);
    bool null_const = a[1]->IsNull(row) || !IsNumeric(a[1]->type);
    double c = null_const ? 0 : NumAt(*a[1], row);
    std::vector<uint8_t> keep = s->ok;
    for (size_t i = 0; i < s->size(); ++i) {
      if (!miss[i]) continue;
      s->v[i] = c;
      keep[i] = !null_const;
    }
    s->all_int = s->all_int && !UsesReals(a[1]->type);
    return WriteFilled(*s, keep);
  });
}

// Linear interpolation between the known neighbours; integer series truncate the interpolated
// values (the docs' example: 73.5 -> 73, 32.667 -> 32). Edges take the nearest known value
// unless fill_edges is false; a series with no known value is filled with constant_value.
// `constant` is NaN when the caller asked to keep an all-missing series null.
std::string FillLinear(Series s, const std::vector<uint8_t>& miss, bool edges, double constant) {
  size_t n = s.size();
  std::vector<uint8_t> keep(n, 1);
  std::vector<size_t> known;
  for (size_t i = 0; i < n; ++i) {
    if (!miss[i]) known.push_back(i);
  }
  if (known.empty()) {
    bool keep_null = std::isnan(constant);
    for (size_t i = 0; i < n; ++i) {
      s.v[i] = keep_null ? 0 : constant;
      keep[i] = !keep_null;
    }
    // Elements that were numbers (placeholders by value) keep their type; an array of nulls
    // has none and is filled with reals (the docs: [0.0,0.0,0.0,0.0]).
    bool any_number = std::find(s.ok.begin(), s.ok.end(), 1) != s.ok.end();
    s.all_int = s.all_int && any_number && !keep_null && std::trunc(constant) == constant;
    return WriteFilled(s, keep);
  }
  for (size_t k = 0; k + 1 < known.size(); ++k) {
    size_t lo = known[k], hi = known[k + 1];
    for (size_t i = lo + 1; i < hi; ++i) {
      double t = static_cast<double>(i - lo) / static_cast<double>(hi - lo);
      double v = s.v[lo] + (s.v[hi] - s.v[lo]) * t;
      s.v[i] = s.all_int ? std::trunc(v) : v;
    }
  }
  for (size_t i = 0; i < n; ++i) {
    if (i >= known.front() && i <= known.back()) continue;
    if (edges) s.v[i] = s.v[i < known.front() ? known.front() : known.back()];
    else keep[i] = s.ok[i];
  }
  return WriteFilled(s, keep);
}

Result<Column> EvalFillLinear(Args a, const FunctionContext& ctx) {
  return SeriesRows("series_fill_linear", a, ctx, [&](size_t row) -> std::optional<std::string> {
    std::optional<Series> s = ReadSeries(*a[0], row);
    if (!s) return std::nullopt;
    std::vector<uint8_t> miss = Missing(*s, a, 1, row);
    bool edges = BoolArg(a, 2, row, true);
    double constant = 0.0;
    if (a.size() > 3) {
      bool null = a[3]->IsNull(row) || !IsNumeric(a[3]->type);
      constant = null ? std::numeric_limits<double>::quiet_NaN() : NumAt(*a[3], row);
    }
    return FillLinear(std::move(*s), miss, edges, constant);
  });
}

Result<Type> FillArgs(std::string_view fn, Types t, size_t bool_arg) {
  RETURN_IF_ERROR(ExpectDynamic(fn, t, 0));
  for (size_t i = 1; i < t.size(); ++i) {
    if (i == bool_arg) RETURN_IF_ERROR(ExpectBool(fn, t, i));
    else if (!IsNumeric(t[i]) && t[i] != Type::kDynamic) return ArgTypeError(fn, i, t[i], "a number");
  }
  return Type::kDynamic;
}

void RegisterFill(Registry& r) {
  r.Function({"series_fill_forward", 1, 2, [](Types t) { return FillArgs("series_fill_forward", t, 99); },
              [](Args a, const FunctionContext& c) {
                return EvalFillDirectional("series_fill_forward", Fill::kForward, a, c);
              }});
  r.Function({"series_fill_backward", 1, 2, [](Types t) { return FillArgs("series_fill_backward", t, 99); },
              [](Args a, const FunctionContext& c) {
                return EvalFillDirectional("series_fill_backward", Fill::kBackward, a, c);
              }});
  r.Function({"series_fill_const", 2, 3, [](Types t) { return FillArgs("series_fill_const", t, 99); },
              EvalFillConst});
  r.Function({"series_fill_linear", 1, 4, [](Types t) { return FillArgs("series_fill_linear", t, 2); },
              EvalFillLinear});
}

// --- Reductions to one number ------------------------------------------------------------------

// series_sum / series_product / series_magnitude: non-numeric elements are skipped.
template <typename F>
void AddReduce(Registry& r, std::string_view name, double init, F step, double (*finish)(double)) {
  r.Function({name, 1, 1,
              [name](Types t) -> Result<Type> {
                RETURN_IF_ERROR(ExpectDynamic(name, t, 0));
                return Type::kReal;
              },
              [init, step, finish](Args a, const FunctionContext& ctx) {
                return RealRows(a, ctx, [&](size_t row) -> std::optional<double> {
                  std::optional<Series> s = ReadSeries(*a[0], row);
                  if (!s) return std::nullopt;
                  double acc = init;
                  for (size_t i = 0; i < s->size(); ++i) {
                    if (s->ok[i]) acc = step(acc, s->v[i]);
                  }
                  return finish(acc);
                });
              }});
}

// Pairs (x[i], y[i]) over the shorter length (a scalar broadcasts to the other's length),
// skipping pairs with a non-numeric side. nullopt when an input is not a series or is empty.
std::optional<std::pair<std::vector<double>, std::vector<double>>> Pairs(Args a, size_t row) {
  std::optional<SeriesArg> x = ReadSeriesOrScalar(*a[0], row);
  std::optional<SeriesArg> y = ReadSeriesOrScalar(*a[1], row);
  if (!x || !y || (x->scalar && y->scalar)) return std::nullopt;
  size_t n = x->scalar ? y->s.size() : y->scalar ? x->s.size() : std::min(x->s.size(), y->s.size());
  if (n == 0) return std::nullopt;
  std::pair<std::vector<double>, std::vector<double>> out;
  for (size_t i = 0; i < n; ++i) {
    size_t xi = x->scalar ? 0 : i, yi = y->scalar ? 0 : i;
    if (!x->s.ok[xi] || !y->s.ok[yi]) continue;
    out.first.push_back(x->s.v[xi]);
    out.second.push_back(y->s.v[yi]);
  }
  return out;
}

double Dot(const std::vector<double>& x, const std::vector<double>& y) {
  double d = 0;
  for (size_t i = 0; i < x.size(); ++i) d += x[i] * y[i];
  return d;
}

Result<Column> EvalDotProduct(Args a, const FunctionContext& ctx) {
  return RealRows(a, ctx, [&](size_t row) -> std::optional<double> {
    auto p = Pairs(a, row);
    if (!p) return std::nullopt;
    return Dot(p->first, p->second);
  });
}

Result<Column> EvalCosine(Args a, const FunctionContext& ctx) {
  return RealRows(a, ctx, [&](size_t row) -> std::optional<double> {
    auto p = Pairs(a, row);
    if (!p) return std::nullopt;
    double m1 = a.size() > 2 && !a[2]->IsNull(row) ? NumAt(*a[2], row) : std::sqrt(Dot(p->first, p->first));
    double m2 = a.size() > 3 && !a[3]->IsNull(row) ? NumAt(*a[3], row) : std::sqrt(Dot(p->second, p->second));
    return Dot(p->first, p->second) / (m1 * m2);
  });
}

// Pearson's r: null when the series differ in length or hold a non-numeric element.
Result<Column> EvalPearson(Args a, const FunctionContext& ctx) {
  return RealRows(a, ctx, [&](size_t row) -> std::optional<double> {
    std::optional<Series> x = ReadSeries(*a[0], row), y = ReadSeries(*a[1], row);
    if (!x || !y || x->size() != y->size() || x->size() == 0) return std::nullopt;
    for (size_t i = 0; i < x->size(); ++i) {
      if (!x->ok[i] || !y->ok[i]) return std::nullopt;
    }
    double n = static_cast<double>(x->size()), xm = 0, ym = 0;
    for (size_t i = 0; i < x->size(); ++i) xm += x->v[i] / n, ym += y->v[i] / n;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < x->size(); ++i) {
      double dx = x->v[i] - xm, dy = y->v[i] - ym;
      sxy += dx * dy, sxx += dx * dx, syy += dy * dy;
    }
    return sxy / std::sqrt(sxx * syy);
  });
}

Result<Type> TwoSeriesReal(std::string_view fn, Types t) {
  RETURN_IF_ERROR(SeriesArgs(fn, t, 2).status());
  for (size_t i = 2; i < t.size(); ++i) RETURN_IF_ERROR(ExpectNumber(fn, t, i));
  return Type::kReal;
}

void RegisterReductions(Registry& r) {
  AddReduce(r, "series_sum", 0.0, [](double acc, double x) { return acc + x; }, [](double x) { return x; });
  AddReduce(r, "series_product", 1.0, [](double acc, double x) { return acc * x; }, [](double x) { return x; });
  AddReduce(r, "series_magnitude", 0.0, [](double acc, double x) { return acc + x * x; },
            [](double x) { return std::sqrt(x); });
  r.Function({"series_dot_product", 2, 2, [](Types t) { return TwoSeriesReal("series_dot_product", t); },
              EvalDotProduct});
  r.Function({"series_cosine_similarity", 2, 4,
              [](Types t) { return TwoSeriesReal("series_cosine_similarity", t); }, EvalCosine});
  r.Function({"series_pearson_correlation", 2, 2,
              [](Types t) -> Result<Type> {
                RETURN_IF_ERROR(ExpectDynamic("series_pearson_correlation", t, 0));
                RETURN_IF_ERROR(ExpectDynamic("series_pearson_correlation", t, 1));
                return Type::kReal;
              },
              EvalPearson});
}

// --- series_stats ------------------------------------------------------------------------------

// min, min_idx, max, max_idx, avg, stdev, variance (sample), sum, len. With non-finite elements
// (null, NaN, infinities) every statistic is null unless ignore_nonfinite, which skips them
// (indexes still count every position; len counts the values used).
std::string Stats(const Series& s, bool ignore_nonfinite, bool with_sum_len) {
  size_t n = 0, min_idx = 0, max_idx = 0;
  double sum = 0;
  bool bad = false;
  for (size_t i = 0; i < s.size(); ++i) {
    bool finite = s.ok[i] && std::isfinite(s.v[i]);
    if (!finite) {
      bad = true;
      continue;
    }
    if (n == 0 || s.v[i] < s.v[min_idx]) min_idx = i;
    if (n == 0 || s.v[i] > s.v[max_idx]) max_idx = i;
    sum += s.v[i];
    ++n;
  }
  BagWriter b;
  bool none = n == 0 || (bad && !ignore_nonfinite);
  auto num = [&](std::optional<double> v) { return none ? std::nullopt : v; };
  double avg = n > 0 ? sum / static_cast<double>(n) : 0, ss = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.ok[i] && std::isfinite(s.v[i])) ss += (s.v[i] - avg) * (s.v[i] - avg);
  }
  double variance = n > 1 ? ss / static_cast<double>(n - 1) : 0;
  b.Number("min", num(s.v.empty() ? 0 : s.v[min_idx]));
  b.Integer("min_idx", none ? std::nullopt : std::optional<int64_t>(min_idx));
  b.Number("max", num(s.v.empty() ? 0 : s.v[max_idx]));
  b.Integer("max_idx", none ? std::nullopt : std::optional<int64_t>(max_idx));
  b.Number("avg", num(avg));
  b.Number("stdev", num(std::sqrt(variance)));
  b.Number("variance", num(variance));
  if (with_sum_len) {
    b.Number("sum", num(sum));
    b.Integer("len", none && n > 0 ? std::nullopt : std::optional<int64_t>(n));
  }
  return b.Done();
}

void AddStats(Registry& r, std::string_view name, bool with_sum_len) {
  r.Function({name, 1, 2,
              [name](Types t) -> Result<Type> {
                RETURN_IF_ERROR(ExpectDynamic(name, t, 0));
                RETURN_IF_ERROR(ExpectBool(name, t, 1));
                return Type::kDynamic;
              },
              [name, with_sum_len](Args a, const FunctionContext& ctx) {
                return SeriesRows(name, a, ctx, [&](size_t row) -> std::optional<std::string> {
                  std::optional<Series> s = ReadSeries(*a[0], row);
                  if (!s) return std::nullopt;
                  return Stats(*s, BoolArg(a, 1, row, false), with_sum_len);
                });
              }});
}

}  // namespace

void RegisterSeries(Registry& r) {
  RegisterElementwise(r);
  RegisterFill(r);
  RegisterReductions(r);
  AddStats(r, "series_stats", false);
  AddStats(r, "series_stats_dynamic", true);
  RegisterSeriesFit(r);
  RegisterSeriesFilters(r);
  RegisterSeriesDecompose(r);
}

}  // namespace cmk::kql::fn

namespace cmk::kql {
namespace {
using O = OutputColumn;
constexpr Type kR = Type::kReal, kL = Type::kLong, kD = Type::kDynamic;
constexpr O kStats[] = {{"min", kR}, {"min_idx", kL}, {"max", kR}, {"max_idx", kL},
                        {"avg", kR}, {"stdev", kR},   {"variance", kR}};
constexpr O kFitLine[] = {{"rsquare", kR},   {"slope", kR},        {"variance", kR},
                          {"rvariance", kR}, {"interception", kR}, {"line_fit", kD}};
constexpr O kFit2Lines[] = {{"rsquare", kR},           {"split_idx", kL},      {"variance", kR},
                            {"rvariance", kR},         {"line_fit", kD},       {"right_rsquare", kR},
                            {"right_slope", kR},       {"right_interception", kR},
                            {"right_variance", kR},    {"right_rvariance", kR}, {"left_rsquare", kR},
                            {"left_slope", kR},        {"left_interception", kR},
                            {"left_variance", kR},     {"left_rvariance", kR}};
constexpr O kFitPoly[] = {{"rsquare", kR}, {"coefficients", kD}, {"variance", kR}, {"rvariance", kR},
                          {"poly_fit", kD}};
constexpr O kPeriods[] = {{"periods", kD}, {"scores", kD}};
constexpr O kComplex[] = {{"real", kD}, {"imag", kD}};
constexpr O kDecompose[] = {{"baseline", kD}, {"seasonal", kD}, {"trend", kD}, {"residual", kD}};
constexpr O kAnomalies[] = {{"ad_flag", kD}, {"ad_score", kD}, {"baseline", kD}};
}  // namespace

std::span<const OutputColumn> MultiValueOutputs(std::string_view fn) {
  if (fn == "series_stats") return kStats;
  if (fn == "series_fit_line") return kFitLine;
  if (fn == "series_fit_2lines") return kFit2Lines;
  if (fn == "series_fit_poly") return kFitPoly;
  if (fn == "series_periods_detect" || fn == "series_periods_validate") return kPeriods;
  if (fn == "series_fft" || fn == "series_ifft") return kComplex;
  if (fn == "series_decompose") return kDecompose;
  if (fn == "series_decompose_anomalies") return kAnomalies;
  return {};
}

}  // namespace cmk::kql
