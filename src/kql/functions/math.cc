// Math: abs, sign, round, ceiling, sqrt, exp, exp2, exp10, log, log2, log10, pow, pi, the
// trigonometric functions, isnan, isinf, isfinite, min_of, max_of. (floor lives with bin in
// datetime.cc because floor(x, size) is bin's alias.) Out-of-domain inputs (log of a
// non-positive number, sqrt of a negative one) give null.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
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

}  // namespace

void RegisterMath(Registry& r) {
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
