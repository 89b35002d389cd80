#pragma once
// Private helpers of the series_* family (series*.cc): reading a dynamic array as a numeric
// series, writing series and property bags back as JSON text, and the per-row loop that keeps a
// call under the query's budget. Not part of the engine's contract.
#include <complex>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "kql/functions/function_util.h"

namespace cmk::kql::fn {

// A dynamic array read as numbers: `ok[i]` is 0 where the element is null or not a number
// (strings "NaN", "Infinity" and "-Infinity", as series functions write them, are numbers).
struct Series {
  std::vector<double> v;
  std::vector<uint8_t> ok;
  bool all_int = true;  // every numeric element was an integer literal
  size_t size() const { return v.size(); }
};

// nullopt when the row is null or not a JSON array.
std::optional<Series> ReadSeries(const Column& c, size_t row);
// A series argument that may also be a numeric scalar (series_add(s, 2)): a scalar is a
// one-element series with `scalar` set; the caller broadcasts it.
struct SeriesArg {
  Series s;
  bool scalar = false;
};
std::optional<SeriesArg> ReadSeriesOrScalar(const Column& c, size_t row);
// True for dynamic and numeric types (a series-or-scalar argument).
inline bool IsSeriesOrNumber(Type t) { return t == Type::kDynamic || IsNumeric(t); }

// JSON array of `v` ("null" where `ok` is given and 0; integers when `as_int`).
std::string WriteSeries(const std::vector<double>& v, const std::vector<uint8_t>* ok = nullptr,
                        bool as_int = false);
// One number as JSON (non-finite values as the strings "NaN", "Infinity", "-Infinity").
void AppendNumber(std::string& out, double v);

// Builds a JSON property bag in insertion order.
class BagWriter {
 public:
  void Number(std::string_view key, std::optional<double> v);
  void Integer(std::string_view key, std::optional<int64_t> v);
  void Raw(std::string_view key, std::string_view json);
  std::string Done();

 private:
  void Key(std::string_view key);
  std::string out_ = "{";
};

// Result type check: argument `i` of `fn` must be dynamic.
Status ExpectDynamic(std::string_view fn, Types t, size_t i);
// Argument `i` (when present) must be numeric / bool / string.
Status ExpectNumber(std::string_view fn, Types t, size_t i);
Status ExpectBool(std::string_view fn, Types t, size_t i);
Status ExpectString(std::string_view fn, Types t, size_t i);

// Optional scalar arguments at `row`, with defaults when absent or null.
double RealArg(Args a, size_t i, size_t row, double def);
int64_t IntArg(Args a, size_t i, size_t row, int64_t def);
bool BoolArg(Args a, size_t i, size_t row, bool def);
std::string StringArg(Args a, size_t i, size_t row, std::string_view def);

// A dynamic column over the arguments' rows, each value the JSON text f(row) returns (nullopt
// gives a null). Checks the deadline per row and the output's size against the budget, so a
// call on many large series fails with the budget's error rather than outgrowing it.
template <typename F>
Result<Column> SeriesRows(std::string_view fn, Args a, const FunctionContext& ctx, F f);

// A real column over the rows, f(row) -> optional<double>.
template <typename F>
Result<Column> RealRows(Args a, const FunctionContext& ctx, F f) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kReal, s);
  for (size_t i = 0; i < s.rows; ++i) {
    std::optional<double> v = f(i);
    if (!v) SetNull(out, i);
    else out.reals[i] = *v;
  }
  return out;
}

Status SeriesBudgetCheck(std::string_view fn, const FunctionContext& ctx, size_t bytes_so_far);

// Counts the work of loops whose cost is not bounded by their output (filters, regressions,
// period search) and checks the query's deadline every ~64K units.
class WorkMeter {
 public:
  explicit WorkMeter(const FunctionContext& ctx) : ctx_(ctx) {}
  Status Add(size_t units);

 private:
  const FunctionContext& ctx_;
  size_t pending_ = 0;
};

using MaybeJson = std::optional<std::string>;

template <typename F>
Result<Column> SeriesRows(std::string_view fn, Args a, const FunctionContext& ctx, F f) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kDynamic, s);
  size_t bytes = 0;
  for (size_t i = 0; i < s.rows; ++i) {
    MaybeJson v;
    if constexpr (std::is_same_v<decltype(f(i)), MaybeJson>) {
      v = f(i);
    } else {  // Result<MaybeJson>: the deadline or the budget may stop the call
      ASSIGN_OR_RETURN(v, f(i));
    }
    if (!v) {
      SetNull(out, i);
      continue;
    }
    bytes += v->size();
    out.strings[i] = std::move(*v);
    RETURN_IF_ERROR(SeriesBudgetCheck(fn, ctx, bytes));
  }
  return out;
}

// Least-squares line y = slope * x + interception over x = 1..n (series_fit_line's axis).
struct LineFit {
  double rsquare = 0, slope = 0, variance = 0, rvariance = 0, interception = 0;
};
// REQUIRES: y.size() >= 1.
LineFit FitLine(const double* y, size_t n);

// Linear-interpolated percentile (0..100) of sorted values. REQUIRES: !sorted.empty().
double PercentileSorted(const std::vector<double>& sorted, double p);

// Tukey-fence scores of v (series_outliers): (x - Q_hi) / (Q_hi - Q_lo) above the upper
// percentile, (x - Q_lo) / (Q_hi - Q_lo) below the lower one, else 0; points with used[i] == 0
// score 0 and are left out of the percentiles.
std::vector<double> TukeyScores(const std::vector<double>& v, const std::vector<uint8_t>& used, double lo_p,
                                double hi_p);

// Unscaled discrete Fourier transform of any length, O(n log n) (series_filter.cc):
// X[k] = sum_t x[t] e^(-2 pi i t k / n), with +i when `inverse`.
void Dft(std::vector<std::complex<double>>& a, bool inverse);

// Registration of the family's files (series.cc calls them from RegisterSeries).
void RegisterSeriesFit(Registry& r);        // series_fit.cc: fit_line, fit_2lines, fit_poly
void RegisterSeriesFilters(Registry& r);    // series_filter.cc: outliers, fir, iir, fft, ifft
void RegisterSeriesDecompose(Registry& r);  // series_decompose.cc: periods, seasonal, decompose

}  // namespace cmk::kql::fn
