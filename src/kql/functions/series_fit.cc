// Regression over series: series_fit_line (+_dynamic), series_fit_2lines (+_dynamic) and
// series_fit_poly. The x axis of an evenly spaced series is 1..n, as the docs' example of
// series_fit_line shows (its line_fit starts at interception + slope). Variances are sample
// variances (divided by n - 1), which is what reproduces the documented numbers.
#include <algorithm>
#include <cmath>

#include "kql/functions/series_util.h"

namespace cmk::kql::fn {
namespace {

// The series' values when every element is a finite number (regressions are undefined
// otherwise: the result is null).
std::optional<std::vector<double>> FiniteValues(const Column& c, size_t row) {
  std::optional<Series> s = ReadSeries(c, row);
  if (!s || s->size() == 0) return std::nullopt;
  for (size_t i = 0; i < s->size(); ++i) {
    if (!s->ok[i] || !std::isfinite(s->v[i])) return std::nullopt;
  }
  return std::move(s->v);
}

void AppendLine(std::vector<double>& out, const LineFit& f, size_t n) {
  for (size_t i = 0; i < n; ++i) out.push_back(f.slope * static_cast<double>(i + 1) + f.interception);
}

// The docs list series_fit_line's values with interception last, series_fit_2lines' sides
// with it third: the bags follow each.
void WriteLineFit(BagWriter& b, const LineFit& f, std::string_view prefix, bool interception_third = false) {
  std::string p(prefix);
  b.Number(p + "rsquare", f.rsquare);
  b.Number(p + "slope", f.slope);
  if (interception_third) b.Number(p + "interception", f.interception);
  b.Number(p + "variance", f.variance);
  b.Number(p + "rvariance", f.rvariance);
  if (!interception_third) b.Number(p + "interception", f.interception);
}

std::optional<std::string> FitLineBag(const Column& c, size_t row) {
  std::optional<std::vector<double>> y = FiniteValues(c, row);
  if (!y) return std::nullopt;
  LineFit f = FitLine(y->data(), y->size());
  std::vector<double> line;
  AppendLine(line, f, y->size());
  BagWriter b;
  WriteLineFit(b, f, "");
  b.Raw("line_fit", WriteSeries(line));
  return b.Done();
}

// Residual sum of squares of the least-squares line over y[lo, hi) with a local axis 1..m,
// from prefix sums: O(1) per candidate split. The chosen split is refitted exactly.
struct Prefix {
  std::vector<double> sy, syy, sxy;  // x is the global index + 1
  explicit Prefix(const std::vector<double>& y) : sy(y.size() + 1), syy(y.size() + 1), sxy(y.size() + 1) {
    for (size_t i = 0; i < y.size(); ++i) {
      sy[i + 1] = sy[i] + y[i];
      syy[i + 1] = syy[i] + y[i] * y[i];
      sxy[i + 1] = sxy[i] + static_cast<double>(i + 1) * y[i];
    }
  }
  double Rss(size_t lo, size_t hi) const {
    double m = static_cast<double>(hi - lo), y = sy[hi] - sy[lo];
    double yy = syy[hi] - syy[lo] - y * y / m;
    double xy_local = sxy[hi] - sxy[lo] - static_cast<double>(lo) * y;  // x_local = x - lo
    double xy = xy_local - (m + 1) / 2 * y;
    double xx = m * (m * m - 1) / 12;
    return std::max(0.0, xx > 0 ? yy - xy * xy / xx : yy);
  }
};

// Two lines: the split maximizing the total r-square (minimizing the summed residuals), each
// side at least two points; the right side starts at split_idx. Each side is fitted as
// series_fit_line fits a series of its own (axis 1..m).
std::optional<std::string> Fit2LinesBag(const Column& c, size_t row, bool nested) {
  std::optional<std::vector<double>> y = FiniteValues(c, row);
  if (!y || y->size() < 4) return std::nullopt;
  size_t n = y->size(), best = 2;
  Prefix p(*y);
  double best_rss = 0;
  for (size_t k = 2; k + 2 <= n; ++k) {
    double rss = p.Rss(0, k) + p.Rss(k, n);
    if (k == 2 || rss < best_rss) best = k, best_rss = rss;
  }
  LineFit all = FitLine(y->data(), n), left = FitLine(y->data(), best), right = FitLine(y->data() + best, n - best);
  std::vector<double> line;
  AppendLine(line, left, best);
  AppendLine(line, right, n - best);
  double rss = 0;
  for (size_t i = 0; i < n; ++i) rss += ((*y)[i] - line[i]) * ((*y)[i] - line[i]);
  double sst = all.variance * static_cast<double>(n - 1);
  BagWriter b;
  b.Number("rsquare", sst > 0 ? 1 - rss / sst : 1);
  b.Integer("split_idx", static_cast<int64_t>(best));
  b.Number("variance", all.variance);
  b.Number("rvariance", rss / static_cast<double>(n - 1));
  b.Raw("line_fit", WriteSeries(line));
  if (nested) {
    BagWriter r, l;
    WriteLineFit(r, right, "", true);
    WriteLineFit(l, left, "", true);
    b.Raw("right", r.Done());
    b.Raw("left", l.Done());
  } else {
    WriteLineFit(b, right, "right_", true);
    WriteLineFit(b, left, "left_", true);
  }
  return b.Done();
}

// Least squares by Householder QR of the Vandermonde matrix (a: n rows of p columns, row
// major; b: n). Hand-written: one small dense solve does not justify a linear-algebra
// dependency, and QR (unlike the normal equations) stays accurate for the high degrees the
// docs show. Columns that are linearly dependent get a zero coefficient.
Result<std::vector<double>> LeastSquares(std::vector<double> a, std::vector<double> b, size_t n, size_t p,
                                         WorkMeter& work) {
  for (size_t j = 0; j < p && j < n; ++j) {
    RETURN_IF_ERROR(work.Add((n - j) * (p - j + 1)));
    double norm = 0;
    for (size_t i = j; i < n; ++i) norm += a[i * p + j] * a[i * p + j];
    norm = std::sqrt(norm);
    if (norm == 0) continue;
    double alpha = a[j * p + j] > 0 ? -norm : norm;
    std::vector<double> v(n - j);
    for (size_t i = j; i < n; ++i) v[i - j] = a[i * p + j];
    v[0] -= alpha;
    double vv = 0;
    for (double x : v) vv += x * x;
    if (vv == 0) continue;
    auto reflect = [&](auto at) {
      double d = 0;
      for (size_t i = j; i < n; ++i) d += v[i - j] * at(i);
      for (size_t i = j; i < n; ++i) at(i) -= 2 * d / vv * v[i - j];
    };
    for (size_t k = j; k < p; ++k) reflect([&](size_t i) -> double& { return a[i * p + k]; });
    reflect([&](size_t i) -> double& { return b[i]; });
  }
  std::vector<double> c(p, 0.0);
  for (size_t j = std::min(p, n); j-- > 0;) {
    double diag = a[j * p + j];
    if (std::fabs(diag) < 1e-12 * std::max(1.0, std::fabs(a[0]))) continue;
    double s = b[j];
    for (size_t k = j + 1; k < p; ++k) s -= a[j * p + k] * c[k];
    c[j] = s / diag;
  }
  return c;
}

// Degrees above this are refused (null): the fit is O(n * degree^2) per series.
constexpr int64_t kMaxPolyDegree = 32;

Result<MaybeJson> FitPolyBag(Args a, size_t row, const FunctionContext& ctx) {
  std::optional<Series> y = ReadSeries(*a[0], row);
  if (!y || y->size() == 0) return MaybeJson();
  std::optional<Series> x = a.size() > 1 ? ReadSeries(*a[1], row) : std::nullopt;
  if (x && x->size() != y->size()) return MaybeJson();
  int64_t degree = IntArg(a, 2, row, 1);
  if (degree < 1 || degree > kMaxPolyDegree) return MaybeJson();
  size_t n = y->size(), p = static_cast<size_t>(degree) + 1;
  auto xi = [&](size_t i) { return x ? x->v[i] : static_cast<double>(i + 1); };
  std::vector<double> m, rhs;
  double ym = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!y->ok[i] || (x && !x->ok[i])) return MaybeJson();
    for (size_t k = 0; k < p; ++k) m.push_back(std::pow(xi(i), static_cast<double>(k)));
    rhs.push_back(y->v[i]);
    ym += y->v[i] / static_cast<double>(n);
  }
  RETURN_IF_ERROR(SeriesBudgetCheck("series_fit_poly", ctx, m.size() * sizeof(double)));  // the matrix
  WorkMeter work(ctx);
  ASSIGN_OR_RETURN(std::vector<double> c, LeastSquares(std::move(m), rhs, n, p, work));
  std::vector<double> fit(n), coeffs(c.rbegin(), c.rend());  // highest power first
  double rss = 0, sst = 0;
  for (size_t i = 0; i < n; ++i) {
    for (double k : coeffs) fit[i] = fit[i] * xi(i) + k;  // Horner
    rss += (rhs[i] - fit[i]) * (rhs[i] - fit[i]);
    sst += (rhs[i] - ym) * (rhs[i] - ym);
  }
  double dof = n > 1 ? static_cast<double>(n - 1) : 1;
  BagWriter b;
  b.Number("rsquare", sst > 0 ? 1 - rss / sst : 1);
  b.Raw("coefficients", WriteSeries(coeffs));
  b.Number("variance", sst / dof);
  b.Number("rvariance", rss / dof);
  b.Raw("poly_fit", WriteSeries(fit));
  return MaybeJson(b.Done());
}

Result<Type> OneSeries(std::string_view fn, Types t) {
  RETURN_IF_ERROR(ExpectDynamic(fn, t, 0));
  return Type::kDynamic;
}

void AddFit(Registry& r, std::string_view name, std::optional<std::string> (*f)(const Column&, size_t)) {
  r.Function({name, 1, 1, [name](Types t) { return OneSeries(name, t); },
              [name, f](Args a, const FunctionContext& ctx) {
                return SeriesRows(name, a, ctx, [&](size_t row) { return f(*a[0], row); });
              }});
}

}  // namespace

void RegisterSeriesFit(Registry& r) {
  AddFit(r, "series_fit_line", FitLineBag);
  AddFit(r, "series_fit_line_dynamic", FitLineBag);
  AddFit(r, "series_fit_2lines", [](const Column& c, size_t row) { return Fit2LinesBag(c, row, false); });
  AddFit(r, "series_fit_2lines_dynamic", [](const Column& c, size_t row) { return Fit2LinesBag(c, row, true); });
  r.Function({"series_fit_poly", 1, 3,
              [](Types t) -> Result<Type> {
                RETURN_IF_ERROR(ExpectDynamic("series_fit_poly", t, 0));
                RETURN_IF_ERROR(ExpectDynamic("series_fit_poly", t, 1));
                RETURN_IF_ERROR(ExpectNumber("series_fit_poly", t, 2));
                return Type::kDynamic;
              },
              [](Args a, const FunctionContext& ctx) {
                return SeriesRows("series_fit_poly", a, ctx, [&](size_t row) { return FitPolyBag(a, row, ctx); });
              }});
}

}  // namespace cmk::kql::fn
