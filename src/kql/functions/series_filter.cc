// Filters and transforms over series: series_outliers (Tukey's fences), series_fir,
// series_iir, series_fft and series_ifft.
#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>

#include "kql/functions/series_util.h"

namespace cmk::kql::fn {
namespace {

using Complex = std::complex<double>;

// --- series_outliers ---------------------------------------------------------------------------

// Scores each point against Tukey's fences: (x - Q_hi) / IQR above the upper quantile,
// (x - Q_lo) / IQR below the lower one, 0 in between; |score| > 1.5 is Tukey's "outlier".
// "tukey" uses the 25th/75th percentiles, "ctukey" (default) min/max_percentile (10/90 by
// default, each within [2, 98]). Nulls and ignore_val points score 0 and are left out of the
// quantiles. Percentiles interpolate linearly between ranks (the docs do not say how).
Result<MaybeJson> Outliers(Args a, size_t row, const FunctionContext&) {
  std::optional<Series> s = ReadSeries(*a[0], row);
  if (!s) return MaybeJson();
  std::string kind = LowerAsciiCopy(StringArg(a, 1, row, "ctukey"));
  if (kind != "tukey" && kind != "ctukey") return MaybeJson();
  bool has_ignore = a.size() > 2 && !a[2]->IsNull(row) && IsNumeric(a[2]->type);
  double ignore = has_ignore ? NumAt(*a[2], row) : 0;
  double lo_p = kind == "tukey" ? 25 : RealArg(a, 3, row, 10);
  double hi_p = kind == "tukey" ? 75 : RealArg(a, 4, row, 90);
  if (!(lo_p >= 2 && lo_p <= 98 && hi_p >= 2 && hi_p <= 98 && lo_p <= hi_p)) return MaybeJson();
  std::vector<uint8_t> used(s->size());
  for (size_t i = 0; i < s->size(); ++i) {
    used[i] = s->ok[i] && !std::isnan(s->v[i]) && !(has_ignore && s->v[i] == ignore);
  }
  std::vector<double> score = TukeyScores(s->v, used, lo_p, hi_p);
  return MaybeJson(WriteSeries(score));
}

// --- series_fir / series_iir -------------------------------------------------------------------

// y[i] = sum_j b[j] * x[i - j], samples before the start (or past the end, centered) taken as
// 0. normalize divides by the coefficients' sum; it defaults to true unless a coefficient is
// negative, and asking for it with a negative coefficient gives null. center shifts the
// window by (m - 1) / 2 so that the output lines up with the input.
Result<MaybeJson> Fir(Args a, size_t row, const FunctionContext& ctx) {
  std::optional<Series> x = ReadSeries(*a[0], row), b = ReadSeries(*a[1], row);
  if (!x || !b || b->size() == 0) return MaybeJson();
  bool negative = false;
  double sum = 0;
  for (size_t j = 0; j < b->size(); ++j) {
    if (!b->ok[j]) return MaybeJson();
    negative = negative || b->v[j] < 0;
    sum += b->v[j];
  }
  bool normalize = BoolArg(a, 2, row, !negative);
  if (normalize && (negative || sum == 0)) return MaybeJson();
  bool center = BoolArg(a, 3, row, false);
  size_t m = b->size(), n = x->size(), shift = center ? (m - 1) / 2 : 0;
  std::vector<double> y(n, 0.0);
  WorkMeter work(ctx);
  for (size_t i = 0; i < n; ++i) {
    RETURN_IF_ERROR(work.Add(m));
    double acc = 0;
    for (size_t j = 0; j < m; ++j) {
      size_t k = i + shift;  // x index = i + shift - j
      if (k < j || k - j >= n || !x->ok[k - j]) continue;
      acc += b->v[j] * x->v[k - j];
    }
    y[i] = normalize ? acc / sum : acc;
  }
  return MaybeJson(WriteSeries(y));
}

// Y[i] = (sum_j b[j] X[i-j] - sum_{k>=1} a[k] Y[i-k]) / a[0], zero initial conditions; a[0]
// of 0 gives null. Null input points count as 0.
Result<MaybeJson> Iir(Args a, size_t row, const FunctionContext& ctx) {
  std::optional<Series> x = ReadSeries(*a[0], row), b = ReadSeries(*a[1], row), den = ReadSeries(*a[2], row);
  if (!x || !b || !den || b->size() == 0 || den->size() == 0 || !den->ok[0] || den->v[0] == 0) return MaybeJson();
  for (size_t j = 0; j < b->size(); ++j) {
    if (!b->ok[j]) return MaybeJson();
  }
  for (size_t j = 0; j < den->size(); ++j) {
    if (!den->ok[j]) return MaybeJson();
  }
  size_t n = x->size();
  std::vector<double> y(n, 0.0);
  WorkMeter work(ctx);
  for (size_t i = 0; i < n; ++i) {
    RETURN_IF_ERROR(work.Add(b->size() + den->size()));
    double acc = 0;
    for (size_t j = 0; j < b->size() && j <= i; ++j) acc += x->ok[i - j] ? b->v[j] * x->v[i - j] : 0;
    for (size_t k = 1; k < den->size() && k <= i; ++k) acc -= den->v[k] * y[i - k];
    y[i] = acc / den->v[0];
  }
  return MaybeJson(WriteSeries(y));
}

// --- FFT ---------------------------------------------------------------------------------------
// Hand-written: FFTW is GPL, and Debian's KISS FFT falls back to an O(n * p) DFT for a large
// prime factor p, which a hostile series length could exploit. Radix-2 Cooley-Tukey plus
// Bluestein's chirp-z for other lengths is O(n log n) for every n in ~50 lines.

void Radix2(std::vector<Complex>& a, bool inverse) {
  size_t n = a.size();
  for (size_t i = 1, j = 0; i < n; ++i) {
    size_t bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) std::swap(a[i], a[j]);
  }
  for (size_t len = 2; len <= n; len <<= 1) {
    double ang = 2 * std::numbers::pi / static_cast<double>(len) * (inverse ? 1 : -1);
    for (size_t i = 0; i < n; i += len) {
      for (size_t k = 0; k < len / 2; ++k) {
        Complex w = std::polar(1.0, ang * static_cast<double>(k));
        Complex u = a[i + k], v = a[i + k + len / 2] * w;
        a[i + k] = u + v;
        a[i + k + len / 2] = u - v;
      }
    }
  }
}

// series_fft / series_ifft: the imaginary part defaults to zeros; series of different lengths
// or with non-numeric elements give null. The inverse is scaled by 1/n so that
// ifft(fft(x)) == x.
Result<Column> EvalFft(std::string_view fn, bool inverse, Args a, const FunctionContext& ctx) {
  return SeriesRows(fn, a, ctx, [&](size_t row) -> Result<MaybeJson> {
    std::optional<Series> re = ReadSeries(*a[0], row);
    std::optional<Series> im = a.size() > 1 ? ReadSeries(*a[1], row) : std::nullopt;
    if (!re || (a.size() > 1 && !a[1]->IsNull(row) && (!im || im->size() != re->size()))) return MaybeJson();
    size_t n = re->size();
    RETURN_IF_ERROR(SeriesBudgetCheck(fn, ctx, 96 * (2 * n + 1)));  // Bluestein's scratch
    std::vector<Complex> z(n);
    for (size_t i = 0; i < n; ++i) {
      if (!re->ok[i] || (im && !im->ok[i])) return MaybeJson();
      z[i] = Complex(re->v[i], im ? im->v[i] : 0.0);
    }
    Dft(z, inverse);
    std::vector<double> r(n), j(n);
    for (size_t i = 0; i < n; ++i) {
      Complex v = inverse ? z[i] / static_cast<double>(n) : z[i];
      r[i] = v.real(), j[i] = v.imag();
    }
    BagWriter b;
    b.Raw("real", WriteSeries(r));
    b.Raw("imag", WriteSeries(j));
    return MaybeJson(b.Done());
  });
}

Result<Type> DynamicArgs(std::string_view fn, Types t, size_t dynamic_args) {
  for (size_t i = 0; i < std::min(dynamic_args, t.size()); ++i) RETURN_IF_ERROR(ExpectDynamic(fn, t, i));
  return Type::kDynamic;
}

template <typename F>
void AddRows(Registry& r, std::string_view name, int min, int max, size_t dynamic_args, F f) {
  r.Function({name, min, max, [name, dynamic_args](Types t) { return DynamicArgs(name, t, dynamic_args); },
              [name, f](Args a, const FunctionContext& ctx) {
                return SeriesRows(name, a, ctx, [&](size_t row) { return f(a, row, ctx); });
              }});
}

}  // namespace

void Dft(std::vector<Complex>& a, bool inverse) {
  size_t n = a.size();
  if (n <= 1) return;
  if ((n & (n - 1)) == 0) return Radix2(a, inverse);
  size_t m = 1;
  while (m < 2 * n - 1) m <<= 1;
  std::vector<Complex> chirp(n), u(m), v(m);
  double sign = inverse ? 1 : -1;
  for (size_t k = 0; k < n; ++k) {
    // k^2 mod 2n keeps the angle exact for large k.
    double kk = static_cast<double>((static_cast<unsigned __int128>(k) * k) % (2 * n));
    chirp[k] = std::polar(1.0, sign * std::numbers::pi * kk / static_cast<double>(n));
  }
  for (size_t k = 0; k < n; ++k) u[k] = a[k] * chirp[k];
  v[0] = std::conj(chirp[0]);
  for (size_t k = 1; k < n; ++k) v[k] = v[m - k] = std::conj(chirp[k]);
  Radix2(u, false);
  Radix2(v, false);
  for (size_t i = 0; i < m; ++i) u[i] *= v[i];
  Radix2(u, true);
  for (size_t k = 0; k < n; ++k) a[k] = u[k] / static_cast<double>(m) * chirp[k];
}


void RegisterSeriesFilters(Registry& r) {
  AddRows(r, "series_outliers", 1, 5, 1, Outliers);
  AddRows(r, "series_fir", 2, 4, 2, Fir);
  AddRows(r, "series_iir", 3, 3, 3, Iir);
  r.Function({"series_fft", 1, 2, [](Types t) { return DynamicArgs("series_fft", t, 2); },
              [](Args a, const FunctionContext& c) { return EvalFft("series_fft", false, a, c); }});
  r.Function({"series_ifft", 1, 2, [](Types t) { return DynamicArgs("series_ifft", t, 2); },
              [](Args a, const FunctionContext& c) { return EvalFft("series_ifft", true, a, c); }});
}

}  // namespace cmk::kql::fn
