// Helpers of the series_* family (series_util.h).
#include "kql/functions/series_util.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "kql/core/budget.h"
#include "kql/functions/function_json.h"

namespace cmk::kql::fn {
namespace {

// One array element as a number: JSON numbers, and the non-finite spellings series functions
// write (JSON has no NaN), so that series_divide's infinities feed the next function.
std::optional<double> ElementValue(const bj::value& e, bool* is_int) {
  *is_int = false;
  switch (e.kind()) {
    case bj::kind::int64: *is_int = true; return static_cast<double>(e.get_int64());
    case bj::kind::uint64: *is_int = true; return static_cast<double>(e.get_uint64());
    case bj::kind::double_: return e.get_double();
    case bj::kind::string: {
      std::string_view s = e.get_string();
      if (s == "NaN") return std::numeric_limits<double>::quiet_NaN();
      if (s == "Infinity") return std::numeric_limits<double>::infinity();
      if (s == "-Infinity") return -std::numeric_limits<double>::infinity();
      return std::nullopt;
    }
    default: return std::nullopt;
  }
}

Series FromArray(const bj::array& arr) {
  Series s;
  s.v.resize(arr.size(), 0.0);
  s.ok.resize(arr.size(), 0);
  for (size_t i = 0; i < arr.size(); ++i) {
    bool is_int = false;
    std::optional<double> x = ElementValue(arr[i], &is_int);
    if (!x) continue;
    s.v[i] = *x;
    s.ok[i] = 1;
    s.all_int = s.all_int && is_int;
  }
  return s;
}

}  // namespace

std::optional<Series> ReadSeries(const Column& c, size_t row) {
  if (c.type != Type::kDynamic || c.IsNull(row)) return std::nullopt;
  std::optional<bj::value> v = ParseJson(c.Str(row));
  if (!v || !v->is_array()) return std::nullopt;
  return FromArray(v->get_array());
}

std::optional<SeriesArg> ReadSeriesOrScalar(const Column& c, size_t row) {
  if (c.IsNull(row)) return std::nullopt;
  SeriesArg out;
  if (IsNumeric(c.type)) {
    out.scalar = true;
    out.s.v = {NumAt(c, row)};
    out.s.ok = {1};
    out.s.all_int = !UsesReals(c.type);
    return out;
  }
  if (c.type != Type::kDynamic) return std::nullopt;
  std::optional<bj::value> v = ParseJson(c.Str(row));
  if (!v) return std::nullopt;
  if (v->is_array()) {
    out.s = FromArray(v->get_array());
    return out;
  }
  bool is_int = false;
  std::optional<double> x = ElementValue(*v, &is_int);
  if (!x || v->is_string()) return std::nullopt;
  out.scalar = true;
  out.s.v = {*x};
  out.s.ok = {1};
  out.s.all_int = is_int;
  return out;
}

void AppendNumber(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "\"" + FormatReal(v) + "\"";
    return;
  }
  // A real keeps a fraction or exponent (0.0, not 0): read back, it is a real again.
  std::string text = FormatReal(v);
  if (text.find_first_of(".eE") == std::string::npos) text += ".0";
  out += text;
}

std::string WriteSeries(const std::vector<double>& v, const std::vector<uint8_t>* ok, bool as_int) {
  std::string out = "[";
  out.reserve(v.size() * 8 + 2);
  for (size_t i = 0; i < v.size(); ++i) {
    if (i > 0) out += ',';
    if (ok != nullptr && (*ok)[i] == 0) out += "null";
    else if (as_int && std::isfinite(v[i]) && std::fabs(v[i]) < 9.2e18) out += std::to_string(static_cast<int64_t>(v[i]));
    else AppendNumber(out, v[i]);
  }
  out += ']';
  return out;
}

void BagWriter::Key(std::string_view key) {
  if (out_.size() > 1) out_ += ',';
  out_ += '"';
  out_ += key;
  out_ += "\":";
}
void BagWriter::Number(std::string_view key, std::optional<double> v) {
  Key(key);
  if (v) AppendNumber(out_, *v);
  else out_ += "null";
}
void BagWriter::Integer(std::string_view key, std::optional<int64_t> v) {
  Key(key);
  out_ += v ? std::to_string(*v) : "null";
}
void BagWriter::Raw(std::string_view key, std::string_view json) {
  Key(key);
  out_ += json;
}
std::string BagWriter::Done() { return out_ + "}"; }

Status ExpectDynamic(std::string_view fn, Types t, size_t i) {
  if (i < t.size() && t[i] != Type::kDynamic) return ArgTypeError(fn, i, t[i], "dynamic");
  return OkStatus();
}
Status ExpectNumber(std::string_view fn, Types t, size_t i) {
  if (i < t.size() && !IsNumeric(t[i])) return ArgTypeError(fn, i, t[i], "a number");
  return OkStatus();
}
Status ExpectBool(std::string_view fn, Types t, size_t i) {
  if (i < t.size() && t[i] != Type::kBool) return ArgTypeError(fn, i, t[i], "bool");
  return OkStatus();
}
Status ExpectString(std::string_view fn, Types t, size_t i) {
  if (i < t.size() && t[i] != Type::kString) return ArgTypeError(fn, i, t[i], "string");
  return OkStatus();
}

double RealArg(Args a, size_t i, size_t row, double def) {
  if (i >= a.size() || a[i]->IsNull(row) || !(IsNumeric(a[i]->type) || a[i]->type == Type::kBool)) return def;
  return NumAt(*a[i], row);
}
int64_t IntArg(Args a, size_t i, size_t row, int64_t def) {
  if (i >= a.size() || a[i]->IsNull(row)) return def;
  if (UsesInts(a[i]->type)) return a[i]->Int(row);
  if (UsesReals(a[i]->type)) {
    double x = a[i]->Real(row);
    return std::isfinite(x) && std::fabs(x) < 9e18 ? static_cast<int64_t>(x) : def;
  }
  return def;
}
bool BoolArg(Args a, size_t i, size_t row, bool def) {
  if (i >= a.size() || a[i]->IsNull(row) || a[i]->type != Type::kBool) return def;
  return a[i]->Int(row) != 0;
}
std::string StringArg(Args a, size_t i, size_t row, std::string_view def) {
  if (i >= a.size() || a[i]->type != Type::kString || a[i]->Str(row).empty()) return std::string(def);
  return std::string(a[i]->Str(row));
}

Status SeriesBudgetCheck(std::string_view fn, const FunctionContext& ctx, size_t bytes_so_far) {
  if (ctx.budget == nullptr) return OkStatus();
  RETURN_IF_ERROR(ctx.budget->Tick());
  if (bytes_so_far <= ctx.budget->remaining()) return OkStatus();
  // Charging what does not fit fails with the budget's own error, naming the limit.
  return ctx.budget->Charge(bytes_so_far, std::string(fn) + "()");
}

Status WorkMeter::Add(size_t units) {
  pending_ += units;
  if (pending_ < (1u << 16)) return OkStatus();
  pending_ = 0;
  return ctx_.budget != nullptr ? ctx_.budget->Check() : OkStatus();
}

LineFit FitLine(const double* y, size_t n) {
  // Centered sums (x = 1..n has mean (n+1)/2) keep the regression exact for long series.
  double xm = (static_cast<double>(n) + 1) / 2, ym = 0;
  for (size_t i = 0; i < n; ++i) ym += y[i];
  ym /= static_cast<double>(n);
  double sxx = 0, sxy = 0, syy = 0;
  for (size_t i = 0; i < n; ++i) {
    double dx = static_cast<double>(i + 1) - xm, dy = y[i] - ym;
    sxx += dx * dx;
    sxy += dx * dy;
    syy += dy * dy;
  }
  LineFit f;
  f.slope = sxx > 0 ? sxy / sxx : 0;
  f.interception = ym - f.slope * xm;
  double rss = 0;
  for (size_t i = 0; i < n; ++i) {
    double r = y[i] - (f.slope * static_cast<double>(i + 1) + f.interception);
    rss += r * r;
  }
  double dof = n > 1 ? static_cast<double>(n - 1) : 1;
  f.variance = syy / dof;
  f.rvariance = rss / dof;
  f.rsquare = syy > 0 ? 1 - rss / syy : 1;
  return f;
}

double PercentileSorted(const std::vector<double>& sorted, double p) {
  double rank = p / 100 * static_cast<double>(sorted.size() - 1);
  rank = std::clamp(rank, 0.0, static_cast<double>(sorted.size() - 1));
  size_t lo = static_cast<size_t>(std::floor(rank));
  size_t hi = std::min(lo + 1, sorted.size() - 1);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - static_cast<double>(lo));
}

std::vector<double> TukeyScores(const std::vector<double>& v, const std::vector<uint8_t>& used, double lo_p,
                                double hi_p) {
  std::vector<double> sorted, score(v.size(), 0.0);
  for (size_t i = 0; i < v.size(); ++i) {
    if (used[i]) sorted.push_back(v[i]);
  }
  if (sorted.empty()) return score;
  std::sort(sorted.begin(), sorted.end());
  double q_lo = PercentileSorted(sorted, lo_p), q_hi = PercentileSorted(sorted, hi_p), iqr = q_hi - q_lo;
  for (size_t i = 0; i < v.size(); ++i) {
    if (!used[i]) continue;
    if (v[i] > q_hi) score[i] = (v[i] - q_hi) / iqr;
    else if (v[i] < q_lo) score[i] = (v[i] - q_lo) / iqr;
  }
  return score;
}

}  // namespace cmk::kql::fn
