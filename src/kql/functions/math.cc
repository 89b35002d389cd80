// Math: abs, sign, round, ceiling, sqrt, exp, exp2, exp10, log, log2, log10, pow, pi, the
// trigonometric functions (and cot), isnan, isinf, isfinite, min_of, max_of, gamma, loggamma,
// erf, erfc, beta_cdf/beta_inv/beta_pdf, welch_test, rand, the binary_* bit functions and
// bitset_count_ones. (floor lives with bin in datetime.cc because floor(x, size) is bin's
// alias; the convert_* unit functions are in math_units.cc.) Out-of-domain inputs (log of a
// non-positive number, sqrt of a negative one) give null.
#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

// Boost.Math for the special functions and distributions (incomplete beta and its inverse,
// Student's t): header-only, in libboost1.81-dev already. The policy makes domain, pole and
// overflow errors answer NaN/inf instead of throwing.
#include <boost/math/distributions/beta.hpp>
#include <boost/math/distributions/students_t.hpp>
#include <boost/math/special_functions/beta.hpp>
#include <boost/math/special_functions/gamma.hpp>

#include "kql/functions/function_util.h"

namespace cmk::kql::fn {

void RegisterUnits(Registry& r);  // math_units.cc: convert_angle, convert_length, ...

namespace {

Result<Type> NumericArgs(std::string_view fn, Types t, std::optional<Type> result) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (!IsNumeric(t[i])) return ArgTypeError(fn, i, t[i], "a number");
  }
  return result ? *result : t[0];
}

// A real function of one real argument; NaN results from a finite input become null.
void AddUnaryReal(Registry& r, std::string_view name, double (*f)(double), bool positive_only = false,
                  bool non_negative = false) {
  r.Function({name, 1, 1, [name](Types t) { return NumericArgs(name, t, Type::kReal); },
              [f, positive_only, non_negative](Args a, const FunctionContext& ctx) -> Result<Column> {
                Shape s = ShapeOf(a, ctx);
                Column out = MakeColumn(Type::kReal, s);
                for (size_t i = 0; i < s.rows; ++i) {
                  double x = a[0]->IsNull(i) ? 0 : NumAt(*a[0], i);
                  if (a[0]->IsNull(i) || (positive_only && !(x > 0)) || (non_negative && x < 0)) {
                    SetNull(out, i);
                    continue;
                  }
                  out.reals[i] = f(x);
                }
                return out;
              }});
}

// Rounds half away from zero at `digits` decimals after trimming binary noise to 15
// significant digits, so round(2.15, 1) is 2.2 as in Kusto (decimal rounding).
double RoundDigits(double x, int64_t digits) {
  if (!std::isfinite(x)) return x;
  digits = std::clamp<int64_t>(digits, -300, 300);
  double p = std::pow(10.0, static_cast<double>(digits));
  double scaled = x * p;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.15g", scaled);
  return std::round(std::strtod(buf, nullptr)) / p;
}

Result<Column> EvalRound(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Type t = a[0]->type;
  Column out = MakeColumn(t, s);
  for (size_t i = 0; i < s.rows; ++i) {
    if (AnyNull(a, i)) {
      SetNull(out, i);
      continue;
    }
    int64_t digits = a.size() > 1 ? a[1]->Int(i) : 0;
    if (UsesReals(t)) out.reals[i] = RoundDigits(a[0]->Real(i), digits);
    else out.ints[i] = digits >= 0 ? a[0]->Int(i) : static_cast<int64_t>(RoundDigits(NumAt(*a[0], i), digits));
  }
  return out;
}

Result<Column> EvalAbsSign(bool sign, Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Type t = a[0]->type;
  Column out = MakeColumn(t, s);
  for (size_t i = 0; i < s.rows; ++i) {
    if (a[0]->IsNull(i)) {
      SetNull(out, i);
    } else if (UsesReals(t)) {
      double x = a[0]->Real(i);
      out.reals[i] = sign ? (x > 0 ? 1.0 : x < 0 ? -1.0 : 0.0) : std::fabs(x);
    } else {
      int64_t x = a[0]->Int(i);
      out.ints[i] = sign ? (x > 0) - (x < 0) : static_cast<int64_t>(x < 0 ? 0 - static_cast<uint64_t>(x) : x);
    }
  }
  return out;
}

// A real function of two numbers, null when either is null.
template <double (*Fn)(double, double)>
Result<Column> EvalReal2(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kReal, s);
  for (size_t i = 0; i < s.rows; ++i) {
    if (AnyNull(a, i)) SetNull(out, i);
    else out.reals[i] = Fn(NumAt(*a[0], i), NumAt(*a[1], i));
  }
  return out;
}

double Pow(double x, double y) { return std::pow(x, y); }
double Atan2(double y, double x) { return std::atan2(y, x); }


void AddClassify(Registry& r, std::string_view name, bool (*f)(double)) {
  r.Function({name, 1, 1, [name](Types t) { return NumericArgs(name, t, Type::kBool); },
              [f](Args a, const FunctionContext& ctx) -> Result<Column> {
                Shape s = ShapeOf(a, ctx);
                Column out = MakeColumn(Type::kBool, s);
                for (size_t i = 0; i < s.rows; ++i) {
                  if (a[0]->IsNull(i)) SetNull(out, i);
                  else out.ints[i] = f(NumAt(*a[0], i));
                }
                return out;
              }});
}

Result<Type> ExtremeType(std::string_view fn, Types t) {
  Type common = t[0];
  for (size_t i = 1; i < t.size(); ++i) {
    auto c = CommonType(common, t[i]);
    if (!c || *c == Type::kDynamic || *c == Type::kBool) return ArgTypeError(fn, i, t[i], TypeName(common));
    common = *c;
  }
  return common;
}

// min_of / max_of: nulls are skipped (null only when every argument is null).
Result<Column> EvalExtreme(std::string_view fn, bool want_max, Args a, const FunctionContext& ctx) {
  std::vector<Type> types;
  for (const Column* c : a) types.push_back(c->type);
  ASSIGN_OR_RETURN(Type t, ExtremeType(fn, types));
  std::vector<Column> storage(a.size());
  std::vector<const Column*> cols;
  for (size_t k = 0; k < a.size(); ++k) cols.push_back(CoerceTo(a[k], t, storage[k], ctx));
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(t, s);
  for (size_t i = 0; i < s.rows; ++i) {
    const Column* best = nullptr;
    for (const Column* c : cols) {
      if (c->IsNull(i)) continue;
      bool better;
      if (best == nullptr) better = true;
      else if (UsesInts(t)) better = want_max ? c->Int(i) > best->Int(i) : c->Int(i) < best->Int(i);
      else if (UsesReals(t)) better = want_max ? c->Real(i) > best->Real(i) : c->Real(i) < best->Real(i);
      else better = want_max ? c->Str(i) > best->Str(i) : c->Str(i) < best->Str(i);
      if (better) best = c;
    }
    if (best == nullptr) SetNull(out, i);
    else CopyValue(out, i, *best, i);
  }
  return out;
}

namespace bm = boost::math;
using NoThrow = bm::policies::policy<bm::policies::domain_error<bm::policies::ignore_error>,
                                     bm::policies::pole_error<bm::policies::ignore_error>,
                                     bm::policies::overflow_error<bm::policies::ignore_error>,
                                     bm::policies::evaluation_error<bm::policies::ignore_error>,
                                     bm::policies::rounding_error<bm::policies::ignore_error>,
                                     bm::policies::promote_double<false>>;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// A real function of three numbers, null when any is null; f returns nullopt for a null.
template <std::optional<double> (*Fn)(double, double, double)>
Result<Column> EvalReal3(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kReal, s);
  for (size_t i = 0; i < s.rows; ++i) {
    std::optional<double> v = AnyNull(a, i) ? std::nullopt : Fn(NumAt(*a[0], i), NumAt(*a[1], i), NumAt(*a[2], i));
    if (v) out.reals[i] = *v;
    else SetNull(out, i);
  }
  return out;
}

bool BetaParams(double alpha, double beta) { return alpha > 0 && beta > 0 && std::isfinite(alpha) && std::isfinite(beta); }

// The docs: x outside [0, 1] or a non-positive parameter yields NaN.
std::optional<double> BetaCdf(double x, double alpha, double beta) {
  if (!(x >= 0 && x <= 1) || !BetaParams(alpha, beta)) return kNaN;
  return bm::ibeta(alpha, beta, x, NoThrow());
}
std::optional<double> BetaPdf(double x, double alpha, double beta) {
  if (!(x >= 0 && x <= 1) || !BetaParams(alpha, beta)) return kNaN;
  return bm::pdf(bm::beta_distribution<double, NoThrow>(alpha, beta), x);
}
// A probability outside [0, 1] is null (the docs' example), bad parameters NaN.
std::optional<double> BetaInv(double p, double alpha, double beta) {
  if (!(p >= 0 && p <= 1)) return std::nullopt;
  if (!BetaParams(alpha, beta)) return kNaN;
  return bm::ibeta_inv(alpha, beta, p, NoThrow());
}

// Two-tailed p-value of Welch's unequal-variances t-test from each sample's mean, variance
// and count; null when a count is below 2 or both variances are 0.
Result<Column> EvalWelch(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kReal, s);
  for (size_t i = 0; i < s.rows; ++i) {
    double m1 = NumAt(*a[0], i), v1 = NumAt(*a[1], i), c1 = NumAt(*a[2], i);
    double m2 = NumAt(*a[3], i), v2 = NumAt(*a[4], i), c2 = NumAt(*a[5], i);
    double s1 = v1 / c1, s2 = v2 / c2, se = s1 + s2;
    if (AnyNull(a, i) || !(c1 >= 2 && c2 >= 2 && v1 >= 0 && v2 >= 0 && se > 0)) {
      SetNull(out, i);
      continue;
    }
    double t = (m1 - m2) / std::sqrt(se);
    double dof = se * se / (s1 * s1 / (c1 - 1) + s2 * s2 / (c2 - 1));
    out.reals[i] = 2 * bm::cdf(bm::complement(bm::students_t_distribution<double, NoThrow>(dof), std::fabs(t)));
  }
  return out;
}

// rand() is uniform in [0, 1), rand(N) uniform over {0, 1, ..., N - 1} (N < 1: null). A
// SplitMix64 stream seeded from the query's now() and a process-wide counter: kql/functions has
// no Env to draw from, and the values need only be uniform, not secret. The binder never folds
// rand() into a constant, and each row gets its own value.
Result<Column> EvalRand(Args a, const FunctionContext& ctx) {
  static std::atomic<uint64_t> counter{0};
  uint64_t state = static_cast<uint64_t>(ctx.now.time_since_epoch().count()) ^
                   (counter.fetch_add(0x9E3779B97F4A7C15u, std::memory_order_relaxed));
  auto next = [&state] {
    uint64_t z = (state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return z ^ (z >> 31);
  };
  Column out = MakeColumn(Type::kReal, Shape{ctx.rows, false});
  for (size_t i = 0; i < ctx.rows; ++i) {
    double u = static_cast<double>(next() >> 11) * 0x1.0p-53;
    double n = a.empty() || a[0]->IsNull(i) ? 0 : std::floor(NumAt(*a[0], i));
    if (!a.empty() && !(n >= 1)) SetNull(out, i);
    else out.reals[i] = a.empty() ? u : std::floor(u * n);
  }
  return out;
}

// binary_and/or/xor/not, shifts (by shift % 64; a negative shift is null) and popcount over
// 64-bit values.
template <int64_t (*Fn)(int64_t, int64_t), bool kShift = false>
Result<Column> EvalBits(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kLong, s);
  for (size_t i = 0; i < s.rows; ++i) {
    if (AnyNull(a, i) || (kShift && a[1]->Int(i) < 0)) SetNull(out, i);
    else out.ints[i] = Fn(a[0]->Int(i), a.size() > 1 ? a[1]->Int(i) : 0);
  }
  return out;
}
int64_t BitAnd(int64_t x, int64_t y) { return x & y; }
int64_t BitOr(int64_t x, int64_t y) { return x | y; }
int64_t BitXor(int64_t x, int64_t y) { return x ^ y; }
int64_t BitNot(int64_t x, int64_t) { return ~x; }
int64_t ShiftLeft(int64_t x, int64_t n) { return static_cast<int64_t>(static_cast<uint64_t>(x) << (n % 64)); }
int64_t ShiftRight(int64_t x, int64_t n) { return x >> (n % 64); }
int64_t PopCount(int64_t x, int64_t) { return std::popcount(static_cast<uint64_t>(x)); }

Result<Type> IntegerArgs(std::string_view fn, Types t) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] != Type::kInt && t[i] != Type::kLong) return ArgTypeError(fn, i, t[i], "int or long");
  }
  return Type::kLong;
}

void RegisterBits(Registry& r) {
  struct Bits {
    std::string_view name;
    int args;
    Result<Column> (*eval)(Args, const FunctionContext&);
  };
  static constexpr Bits kBits[] = {
      {"binary_and", 2, EvalBits<BitAnd>},         {"binary_or", 2, EvalBits<BitOr>},
      {"binary_xor", 2, EvalBits<BitXor>},         {"binary_not", 1, EvalBits<BitNot>},
      {"binary_shift_left", 2, EvalBits<ShiftLeft, true>},
      {"binary_shift_right", 2, EvalBits<ShiftRight, true>},
      {"bitset_count_ones", 1, EvalBits<PopCount>},
  };
  for (const Bits& b : kBits) {
    std::string_view name = b.name;
    r.Function({name, b.args, b.args, [name](Types t) { return IntegerArgs(name, t); }, b.eval});
  }
}

void RegisterSpecial(Registry& r) {
  AddUnaryReal(r, "cot", [](double x) { return 1.0 / std::tan(x); });
  AddUnaryReal(r, "gamma", [](double x) { return bm::tgamma(x, NoThrow()); });
  AddUnaryReal(r, "loggamma", [](double x) { return bm::lgamma(x, NoThrow()); });
  AddUnaryReal(r, "erf", [](double x) { return std::erf(x); });
  AddUnaryReal(r, "erfc", [](double x) { return std::erfc(x); });
  r.Function({"beta_cdf", 3, 3, [](Types t) { return NumericArgs("beta_cdf", t, Type::kReal); }, EvalReal3<BetaCdf>});
  r.Function({"beta_inv", 3, 3, [](Types t) { return NumericArgs("beta_inv", t, Type::kReal); }, EvalReal3<BetaInv>});
  r.Function({"beta_pdf", 3, 3, [](Types t) { return NumericArgs("beta_pdf", t, Type::kReal); }, EvalReal3<BetaPdf>});
  r.Function({"welch_test", 6, 6, [](Types t) { return NumericArgs("welch_test", t, Type::kReal); }, EvalWelch});
  r.Function({"rand", 0, 1, [](Types t) { return NumericArgs("rand", t, Type::kReal); }, EvalRand});
}

}  // namespace

void RegisterMath(Registry& r) {
  RegisterSpecial(r);
  RegisterBits(r);
  RegisterUnits(r);
  auto same_numeric_or_timespan = [](std::string_view fn) {
    return [fn](Types t) -> Result<Type> {
      if (t[0] == Type::kTimespan) return t[0];
      return NumericArgs(fn, t, std::nullopt);
    };
  };
  r.Function({"abs", 1, 1, same_numeric_or_timespan("abs"),
              [](Args a, const FunctionContext& c) { return EvalAbsSign(false, a, c); }});
  r.Function({"sign", 1, 1, [](Types t) { return NumericArgs("sign", t, std::nullopt); },
              [](Args a, const FunctionContext& c) { return EvalAbsSign(true, a, c); }});
  r.Function({"round", 1, 2, [](Types t) { return NumericArgs("round", t, std::nullopt); }, EvalRound});
  AddUnaryReal(r, "ceiling", [](double x) { return std::ceil(x); });
  AddUnaryReal(r, "sqrt", [](double x) { return std::sqrt(x); }, false, true);
  AddUnaryReal(r, "exp", [](double x) { return std::exp(x); });
  AddUnaryReal(r, "exp2", [](double x) { return std::exp2(x); });
  AddUnaryReal(r, "exp10", [](double x) { return std::pow(10.0, x); });
  AddUnaryReal(r, "log", [](double x) { return std::log(x); }, true);
  AddUnaryReal(r, "log2", [](double x) { return std::log2(x); }, true);
  AddUnaryReal(r, "log10", [](double x) { return std::log10(x); }, true);
  AddUnaryReal(r, "cos", [](double x) { return std::cos(x); });
  AddUnaryReal(r, "sin", [](double x) { return std::sin(x); });
  AddUnaryReal(r, "tan", [](double x) { return std::tan(x); });
  AddUnaryReal(r, "acos", [](double x) { return std::acos(x); });
  AddUnaryReal(r, "asin", [](double x) { return std::asin(x); });
  AddUnaryReal(r, "atan", [](double x) { return std::atan(x); });
  AddUnaryReal(r, "degrees", [](double x) { return x * 180.0 / M_PI; });
  AddUnaryReal(r, "radians", [](double x) { return x * M_PI / 180.0; });
  r.Function({"atan2", 2, 2, [](Types t) { return NumericArgs("atan2", t, Type::kReal); }, EvalReal2<Atan2>});
  r.Function({"pow", 2, 2, [](Types t) { return NumericArgs("pow", t, Type::kReal); }, EvalReal2<Pow>});
  r.Function({"pi", 0, 0, Returns(Type::kReal), [](Args, const FunctionContext&) -> Result<Column> {
                Column c = MakeColumn(Type::kReal, Shape{1, true});
                c.reals[0] = M_PI;
                return c;
              }});
  AddClassify(r, "isnan", [](double x) { return std::isnan(x); });
  AddClassify(r, "isinf", [](double x) { return std::isinf(x); });
  AddClassify(r, "isfinite", [](double x) { return std::isfinite(x); });
  r.Function({"min_of", 1, 64, [](Types t) { return ExtremeType("min_of", t); },
              [](Args a, const FunctionContext& c) { return EvalExtreme("min_of", false, a, c); }});
  r.Function({"max_of", 1, 64, [](Types t) { return ExtremeType("max_of", t); },
              [](Args a, const FunctionContext& c) { return EvalExtreme("max_of", true, a, c); }});
}

}  // namespace cmk::kql::fn
