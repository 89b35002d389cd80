// Seasonality: series_periods_detect, series_periods_validate, series_seasonal and the
// decomposition family (series_decompose, _anomalies, _forecast).
//
// Kusto's period scoring is not published. Ours: candidate periods come from the peaks of the
// periodogram (frequency bin k suggests a period between n/(k+1) and n/(k-1)); within that
// window the period with the highest autocorrelation wins, and its score is that
// autocorrelation (unbiased estimate, clipped at 0). A multiple of another candidate that does
// not score clearly higher is its harmonic and is skipped. This finds the periods of every documented
// example (14 bins in the traffic series; 6, 5 and none for series_seasonal's), though the
// scores differ from the docs' (0.96 where the docs show ~0.84): tests/kql/README.md lists it.
#include <algorithm>
#include <cmath>

#include "kql/functions/series_util.h"

namespace cmk::kql::fn {
namespace {

using Complex = std::complex<double>;

// Autocorrelation r[p] for every lag p < n (unbiased: each lag's sum divided by its n - p
// terms, over the variance), by FFT: O(n log n).
std::vector<double> Autocorrelation(const std::vector<double>& d) {
  size_t n = d.size();
  std::vector<Complex> z(2 * n);
  for (size_t i = 0; i < n; ++i) z[i] = d[i];
  Dft(z, false);
  for (Complex& c : z) c = std::norm(c);
  Dft(z, true);
  std::vector<double> r(n, 0.0);
  double var = z[0].real() / static_cast<double>(n);
  for (size_t p = 0; p < n && var > 0; ++p) r[p] = z[p].real() / static_cast<double>(n - p) / var;
  return r;
}

struct Periods {
  std::vector<double> periods, scores;
};

std::vector<double> Centered(const std::vector<double>& x) {
  double mean = 0;
  for (double v : x) mean += v / static_cast<double>(x.size());
  std::vector<double> d;
  for (double v : x) d.push_back(v - mean);
  return d;
}

// Up to `num` periods within [min_p, max_p] (at least 4 bins and less than half the series),
// best score first.
Periods Detect(const std::vector<double>& x, double min_p, double max_p, size_t num) {
  Periods out;
  size_t n = x.size();
  double lo_d = std::max(4.0, std::ceil(min_p)), hi_d = std::min(std::floor(max_p), static_cast<double>((n - 1) / 2));
  if (n < 8 || !(lo_d <= hi_d)) return out;
  size_t lo = static_cast<size_t>(lo_d), hi = static_cast<size_t>(hi_d);
  std::vector<double> d = Centered(x), r = Autocorrelation(d);
  std::vector<Complex> z(d.begin(), d.end());
  Dft(z, false);
  std::vector<size_t> peaks;
  for (size_t k = 1; k < n / 2; ++k) {
    double pk = std::norm(z[k]);
    if (pk > 0 && pk >= std::norm(z[k - 1]) && pk >= std::norm(z[k + 1])) peaks.push_back(k);
  }
  std::stable_sort(peaks.begin(), peaks.end(), [&](size_t a, size_t b) { return std::norm(z[a]) > std::norm(z[b]); });
  std::vector<size_t> candidates;
  for (size_t k : peaks) {
    size_t from = std::max(lo, n / (k + 1) + 1);
    size_t to = k > 1 ? std::min(hi, (n + k - 2) / (k - 1) - 1) : hi;
    size_t best = 0;
    for (size_t p = from; p <= to; ++p) {
      if (best == 0 || r[p] > r[best]) best = p;
    }
    if (best != 0 && r[best] > 0 && std::find(candidates.begin(), candidates.end(), best) == candidates.end()) {
      candidates.push_back(best);
    }
  }
  // A multiple of another candidate is its harmonic unless it scores clearly higher (a weekly
  // period over a daily one: the docs' time-series-analysis example finds both).
  constexpr double kMargin = 0.05;
  std::vector<size_t> kept;
  for (size_t p : candidates) {
    bool harmonic = false;
    for (size_t q : candidates) harmonic = harmonic || (q < p && p % q == 0 && r[q] >= r[p] - kMargin);
    if (!harmonic) kept.push_back(p);
  }
  std::stable_sort(kept.begin(), kept.end(), [&](size_t a, size_t b) { return r[a] > r[b]; });
  for (size_t i = 0; i < kept.size() && i < num; ++i) {
    out.periods.push_back(static_cast<double>(kept[i]));
    out.scores.push_back(std::min(1.0, r[kept[i]]));
  }
  return out;
}

// The series' values when every element is a finite number, else nullopt.
std::optional<std::vector<double>> Finite(const Series& s, size_t count) {
  for (size_t i = 0; i < count; ++i) {
    if (!s.ok[i] || !std::isfinite(s.v[i])) return std::nullopt;
  }
  return std::vector<double>(s.v.begin(), s.v.begin() + static_cast<std::ptrdiff_t>(count));
}

// The requested number of periods is the output's length; beyond this it is refused (null).
constexpr int64_t kMaxPeriods = 1024;

Result<MaybeJson> PeriodsDetect(Args a, size_t row) {
  std::optional<Series> s = ReadSeries(*a[0], row);
  int64_t num = IntArg(a, 3, row, -1);
  if (!s || num < 0 || num > kMaxPeriods || AnyNull(a, row)) return MaybeJson();
  std::optional<std::vector<double>> x = Finite(*s, s->size());
  if (!x) return MaybeJson();
  Periods p = Detect(*x, NumAt(*a[1], row), NumAt(*a[2], row), static_cast<size_t>(num));
  p.periods.resize(static_cast<size_t>(num), 0.0);
  p.scores.resize(static_cast<size_t>(num), 0.0);
  BagWriter b;
  b.Raw("periods", WriteSeries(p.periods));
  b.Raw("scores", WriteSeries(p.scores));
  return MaybeJson(b.Done());
}

// Each given period's autocorrelation (clipped at 0); periods below 4 bins or above half the
// series score 0.
Result<MaybeJson> PeriodsValidate(Args a, size_t row) {
  std::optional<Series> s = ReadSeries(*a[0], row);
  if (!s) return MaybeJson();
  std::optional<std::vector<double>> x = Finite(*s, s->size());
  if (!x) return MaybeJson();
  std::vector<double> r = x->empty() ? std::vector<double>() : Autocorrelation(Centered(*x));
  std::vector<double> periods, scores;
  for (size_t i = 1; i < a.size(); ++i) {
    double p = a[i]->IsNull(row) ? 0 : NumAt(*a[i], row);
    periods.push_back(p);
    bool valid = p >= 4 && 2 * p <= static_cast<double>(x->size());
    scores.push_back(valid ? std::clamp(r[static_cast<size_t>(std::lround(p))], 0.0, 1.0) : 0.0);
  }
  BagWriter b;
  b.Raw("periods", WriteSeries(periods));
  b.Raw("scores", WriteSeries(scores));
  return MaybeJson(b.Done());
}

// --- Decomposition -----------------------------------------------------------------------------

// Seasonal component of the first `train` points extended to n: each phase's median.
std::vector<double> Seasonal(const std::vector<double>& x, size_t train, size_t n, size_t period) {
  std::vector<double> out(n, 0.0);
  if (period == 0 || train == 0) return out;
  std::vector<double> phase;
  for (size_t ph = 0; ph < period && ph < n; ++ph) {
    phase.clear();
    for (size_t i = ph; i < train; i += period) phase.push_back(x[i]);
    if (phase.empty()) continue;
    std::sort(phase.begin(), phase.end());
    size_t m = phase.size();
    double median = m % 2 ? phase[m / 2] : (phase[m / 2 - 1] + phase[m / 2]) / 2;
    for (size_t i = ph; i < n; i += period) out[i] = median;
  }
  return out;
}

// Seasonality -1: detect (period search in [4, n/2), the first period at least `threshold`);
// 0: none; positive: that period.
size_t ChoosePeriod(const std::vector<double>& train, int64_t seasonality, double threshold) {
  if (seasonality >= 0) return static_cast<size_t>(seasonality);
  Periods p = Detect(train, 4, static_cast<double>(train.size()), 1);
  return !p.periods.empty() && p.scores[0] >= threshold ? static_cast<size_t>(p.periods[0]) : 0;
}

struct Decomposition {
  std::vector<double> baseline, seasonal, trend, residual;
  std::vector<uint8_t> ok;  // residual known (the input point is a number)
};

struct DecomposeOptions {
  int64_t seasonality = -1;
  std::string trend = "avg";
  int64_t test_points = 0;
  double threshold = 0.6;
};

// Seasonal from the training points, trend ("avg", "linefit", "none") from the deseasonalized
// training points, both extended over the test points; residual = x - baseline. nullopt when a
// training point is not a finite number or an option is invalid.
std::optional<Decomposition> Decompose(const Series& s, const DecomposeOptions& o) {
  size_t n = s.size();
  if (o.test_points < 0 || static_cast<size_t>(o.test_points) > n) return std::nullopt;
  if (o.trend != "avg" && o.trend != "linefit" && o.trend != "none") return std::nullopt;
  size_t train = n - static_cast<size_t>(o.test_points);
  std::optional<std::vector<double>> x = Finite(s, train);
  if (!x || o.seasonality < -1 || o.seasonality > static_cast<int64_t>(n)) return std::nullopt;
  Decomposition d;
  d.seasonal = Seasonal(*x, train, n, ChoosePeriod(*x, o.seasonality, o.threshold));
  std::vector<double> deseason(train);
  for (size_t i = 0; i < train; ++i) deseason[i] = (*x)[i] - d.seasonal[i];
  d.trend.assign(n, 0.0);
  if (train > 0 && o.trend == "linefit") {
    LineFit f = FitLine(deseason.data(), train);
    for (size_t i = 0; i < n; ++i) d.trend[i] = f.slope * static_cast<double>(i + 1) + f.interception;
  } else if (train > 0 && o.trend == "avg") {
    double mean = 0;
    for (double v : deseason) mean += v / static_cast<double>(train);
    d.trend.assign(n, mean);
  }
  d.baseline.resize(n);
  d.residual.resize(n);
  d.ok = s.ok;
  for (size_t i = 0; i < n; ++i) {
    d.baseline[i] = d.seasonal[i] + d.trend[i];
    d.residual[i] = s.ok[i] ? s.v[i] - d.baseline[i] : 0;
  }
  return d;
}

DecomposeOptions Options(Args a, size_t row, size_t seasonality_arg) {
  DecomposeOptions o;
  o.seasonality = IntArg(a, seasonality_arg, row, -1);
  o.trend = LowerAsciiCopy(StringArg(a, seasonality_arg + 1, row, "avg"));
  return o;
}

Result<MaybeJson> EvalDecompose(Args a, size_t row) {
  std::optional<Series> s = ReadSeries(*a[0], row);
  if (!s) return MaybeJson();
  DecomposeOptions o = Options(a, row, 1);
  o.test_points = IntArg(a, 3, row, 0);
  o.threshold = RealArg(a, 4, row, 0.6);
  std::optional<Decomposition> d = Decompose(*s, o);
  if (!d) return MaybeJson();
  BagWriter b;
  b.Raw("baseline", WriteSeries(d->baseline));
  b.Raw("seasonal", WriteSeries(d->seasonal));
  b.Raw("trend", WriteSeries(d->trend));
  b.Raw("residual", WriteSeries(d->residual, &d->ok));
  return MaybeJson(b.Done());
}

// Tukey scores of the residuals (series_outliers' definition; points that are not numbers
// score 0), flagged +1 / -1 beyond +-threshold.
Result<MaybeJson> EvalAnomalies(Args a, size_t row) {
  std::optional<Series> s = ReadSeries(*a[0], row);
  if (!s) return MaybeJson();
  double threshold = RealArg(a, 1, row, 1.5);
  DecomposeOptions o = Options(a, row, 2);
  o.test_points = IntArg(a, 4, row, 0);
  std::string method = LowerAsciiCopy(StringArg(a, 5, row, "ctukey"));
  o.threshold = RealArg(a, 6, row, 0.6);
  std::optional<Decomposition> d = Decompose(*s, o);
  if (!d || (method != "ctukey" && method != "tukey")) return MaybeJson();
  bool tukey = method == "tukey";
  std::vector<double> score = TukeyScores(d->residual, d->ok, tukey ? 25 : 10, tukey ? 75 : 90);
  std::vector<double> flag(score.size(), 0.0);
  for (size_t i = 0; i < score.size(); ++i) flag[i] = score[i] > threshold ? 1 : score[i] < -threshold ? -1 : 0;
  BagWriter b;
  b.Raw("ad_flag", WriteSeries(flag, nullptr, true));
  b.Raw("ad_score", WriteSeries(score));
  b.Raw("baseline", WriteSeries(d->baseline));
  return MaybeJson(b.Done());
}

Result<MaybeJson> EvalForecast(Args a, size_t row) {
  std::optional<Series> s = ReadSeries(*a[0], row);
  if (!s || a[1]->IsNull(row)) return MaybeJson();
  DecomposeOptions o = Options(a, row, 2);
  o.test_points = IntArg(a, 1, row, 0);
  o.threshold = RealArg(a, 4, row, 0.6);
  std::optional<Decomposition> d = Decompose(*s, o);
  if (!d) return MaybeJson();
  return MaybeJson(WriteSeries(d->baseline));
}

Result<MaybeJson> EvalSeasonal(Args a, size_t row) {
  std::optional<Series> s = ReadSeries(*a[0], row);
  if (!s) return MaybeJson();
  std::optional<std::vector<double>> x = Finite(*s, s->size());
  int64_t period = IntArg(a, 1, row, -1);
  if (!x || period < -1 || period > static_cast<int64_t>(x->size())) return MaybeJson();
  size_t p = period >= 0 ? static_cast<size_t>(period) : ChoosePeriod(*x, -1, 0.7);
  return MaybeJson(WriteSeries(Seasonal(*x, x->size(), x->size(), p)));
}

// Argument kinds for the result-type check: d dynamic, n number, s string.
Result<Type> Check(std::string_view fn, Types t, std::string_view kinds) {
  for (size_t i = 0; i < t.size(); ++i) {
    char k = i < kinds.size() ? kinds[i] : kinds.back();
    if (k == 'd') RETURN_IF_ERROR(ExpectDynamic(fn, t, i));
    if (k == 'n') RETURN_IF_ERROR(ExpectNumber(fn, t, i));
    if (k == 's') RETURN_IF_ERROR(ExpectString(fn, t, i));
  }
  return Type::kDynamic;
}

void Add(Registry& r, std::string_view name, int min, int max, std::string_view kinds,
         Result<MaybeJson> (*f)(Args, size_t)) {
  r.Function({name, min, max, [name, kinds](Types t) { return Check(name, t, kinds); },
              [name, f](Args a, const FunctionContext& ctx) {
                return SeriesRows(name, a, ctx, [&](size_t row) -> Result<MaybeJson> {
                  // The FFTs' scratch: up to ~200 bytes per element, and an element takes at
                  // least 2 bytes of JSON text.
                  size_t text = a[0]->type == Type::kDynamic ? a[0]->Str(row).size() : 0;
                  RETURN_IF_ERROR(SeriesBudgetCheck(name, ctx, 100 * text));
                  return f(a, row);
                });
              }});
}

}  // namespace

void RegisterSeriesDecompose(Registry& r) {
  Add(r, "series_periods_detect", 4, 4, "dnnn", PeriodsDetect);
  Add(r, "series_periods_validate", 2, 17, "dn", PeriodsValidate);
  Add(r, "series_seasonal", 1, 2, "dn", EvalSeasonal);
  Add(r, "series_decompose", 1, 5, "dnsnn", EvalDecompose);
  Add(r, "series_decompose_anomalies", 1, 7, "dnnsnsn", EvalAnomalies);
  Add(r, "series_decompose_forecast", 2, 5, "dnnsn", EvalForecast);
}

}  // namespace cmk::kql::fn
