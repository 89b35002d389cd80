// Arithmetic operators (+ - * / % neg) over numbers, datetimes and timespans.
// Integer arithmetic wraps (two's complement) instead of invoking undefined behaviour; integer
// division and modulo by zero give null, real division follows IEEE (inf, nan). Modulo takes the
// sign rule of the docs: the result is in [0, abs(divisor)).
#include <cmath>
#include <cstdint>
#include <limits>

#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

enum class Op { kAdd, kSub, kMul, kDiv, kMod };

Op OpOf(std::string_view name) {
  if (name == "+") return Op::kAdd;
  if (name == "-") return Op::kSub;
  if (name == "*") return Op::kMul;
  if (name == "/") return Op::kDiv;
  return Op::kMod;
}

// Kusto's operand rules for date and time values; numbers promote int -> long -> real.
Result<Type> ArithType(std::string_view name, Types t) {
  Op op = OpOf(name);
  Type a = t[0], b = t[1];
  auto fail = [&]() -> Result<Type> {
    return InvalidArgument(std::string("operator ") + std::string(name) + " cannot be applied to " +
                               TypeName(a) + " and " + TypeName(b),
                           "SemanticError");
  };
  if (IsNumeric(a) && IsNumeric(b)) return PromoteNumeric(a, b);
  bool add_sub = op == Op::kAdd || op == Op::kSub;
  if (a == Type::kDateTime && b == Type::kDateTime) return op == Op::kSub ? Result<Type>(Type::kTimespan) : fail();
  if (a == Type::kDateTime && b == Type::kTimespan) return add_sub ? Result<Type>(Type::kDateTime) : fail();
  if (a == Type::kTimespan && b == Type::kDateTime) return op == Op::kAdd ? Result<Type>(Type::kDateTime) : fail();
  if (a == Type::kTimespan && b == Type::kTimespan) {
    if (op == Op::kMul) return fail();
    return op == Op::kDiv ? Type::kReal : Type::kTimespan;
  }
  if (a == Type::kTimespan && IsNumeric(b)) {
    return (op == Op::kMul || op == Op::kDiv) ? Result<Type>(Type::kTimespan) : fail();
  }
  if (IsNumeric(a) && b == Type::kTimespan) return op == Op::kMul ? Result<Type>(Type::kTimespan) : fail();
  return fail();
}

int64_t Wrap(uint64_t v) { return static_cast<int64_t>(v); }

// One integer operation; false means null.
bool IntOp(Op op, int64_t a, int64_t b, int64_t* out) {
  switch (op) {
    case Op::kAdd: *out = Wrap(static_cast<uint64_t>(a) + static_cast<uint64_t>(b)); return true;
    case Op::kSub: *out = Wrap(static_cast<uint64_t>(a) - static_cast<uint64_t>(b)); return true;
    case Op::kMul: *out = Wrap(static_cast<uint64_t>(a) * static_cast<uint64_t>(b)); return true;
    case Op::kDiv:
      if (b == 0) return false;
      *out = (b == -1) ? Wrap(0 - static_cast<uint64_t>(a)) : a / b;  // C#-style truncation
      return true;
    case Op::kMod: {
      if (b == 0) return false;
      int64_t r = (b == -1) ? 0 : a % b;
      // Kusto's modulo is never negative: 0 <= N % D < abs(D) (-14 % 12 == 10).
      *out = r >= 0 ? r : (b > 0 ? r + b : r - b);
      return true;
    }
  }
  return false;
}

double RealOp(Op op, double a, double b) {
  switch (op) {
    case Op::kAdd: return a + b;
    case Op::kSub: return a - b;
    case Op::kMul: return a * b;
    case Op::kDiv: return a / b;
    case Op::kMod: {
      double r = std::fmod(a, b);
      return r >= 0 ? r : r + std::fabs(b);
    }
  }
  return 0;
}

// Ticks from a real, or false when it does not fit (inf, nan, overflow).
bool RealToTicks(double v, int64_t* out) {
  if (!std::isfinite(v) || std::fabs(v) >= 9.2e18) return false;
  *out = std::llround(v);
  return true;
}

Result<Column> EvalArith(std::string_view name, Args args, const FunctionContext& ctx) {
  const Column& a = *args[0];
  const Column& b = *args[1];
  Type types[2] = {a.type, b.type};
  ASSIGN_OR_RETURN(Type out_type, ArithType(name, types));
  Op op = OpOf(name);
  Shape s = ShapeOf(args, ctx);
  Column out = MakeColumn(out_type, s);
  bool nullable = a.HasNulls() || b.HasNulls();
  bool both_ints = UsesInts(a.type) && UsesInts(b.type);
  bool ts_by_real = out_type == Type::kTimespan && (UsesReals(a.type) || UsesReals(b.type));
  for (size_t i = 0; i < s.rows; ++i) {
    if (nullable && (a.IsNull(i) || b.IsNull(i))) {
      SetNull(out, i);
      continue;
    }
    if (out_type == Type::kReal || out_type == Type::kDecimal) {
      if (a.type == Type::kTimespan && b.type == Type::kTimespan && b.Int(i) == 0) {
        SetNull(out, i);
        continue;
      }
      out.reals[i] = RealOp(op, NumAt(a, i), NumAt(b, i));
    } else if (both_ints && !ts_by_real) {
      int64_t v = 0;
      if (!IntOp(op, a.Int(i), b.Int(i), &v)) {
        SetNull(out, i);
        continue;
      }
      out.ints[i] = out_type == Type::kInt ? static_cast<int32_t>(static_cast<uint32_t>(v)) : v;
    } else {  // timespan scaled by a real
      int64_t v = 0;
      double r = RealOp(op, NumAt(a, i), NumAt(b, i));
      if ((op == Op::kDiv && NumAt(b, i) == 0) || !RealToTicks(r, &v)) {
        SetNull(out, i);
        continue;
      }
      out.ints[i] = v;
    }
  }
  return out;
}

void AddArith(Registry& r, std::string_view name) {
  r.Operator({name, 2, 2, [name](Types t) { return ArithType(name, t); },
              [name](Args args, const FunctionContext& ctx) { return EvalArith(name, args, ctx); }});
}

Result<Type> NegType(Types t) {
  if (IsNumeric(t[0]) || t[0] == Type::kTimespan) return t[0];
  return ArgTypeError("neg", 0, t[0], "a number or timespan");
}

Result<Column> EvalNeg(Args args, const FunctionContext& ctx) {
  const Column& a = *args[0];
  ASSIGN_OR_RETURN(Type t, NegType(std::span<const Type>(&a.type, 1)));
  Shape s = ShapeOf(args, ctx);
  Column out = MakeColumn(t, s);
  for (size_t i = 0; i < s.rows; ++i) {
    if (a.IsNull(i)) {
      SetNull(out, i);
    } else if (UsesReals(t)) {
      out.reals[i] = -a.Real(i);
    } else {
      int64_t v = Wrap(0 - static_cast<uint64_t>(a.Int(i)));
      out.ints[i] = t == Type::kInt ? static_cast<int32_t>(static_cast<uint32_t>(v)) : v;
    }
  }
  return out;
}

}  // namespace

void RegisterArithmetic(Registry& r) {
  for (std::string_view op : {"+", "-", "*", "/", "%"}) AddArith(r, op);
  r.Operator({"neg", 1, 1, NegType, EvalNeg});
}

}  // namespace cmk::kql::fn
