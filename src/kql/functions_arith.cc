// Arithmetic (+ - * / % neg), comparisons (== != < <= > >=) and logic (and, or, not).
// Integer arithmetic wraps (two's complement) instead of invoking undefined behaviour; integer
// division and modulo by zero give null, real division follows IEEE (inf, nan).
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <type_traits>

#include "kql/function_util.h"

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
    case Op::kMod:
      if (b == 0) return false;
      *out = (b == -1) ? 0 : a % b;
      return true;
  }
  return false;
}

double RealOp(Op op, double a, double b) {
  switch (op) {
    case Op::kAdd: return a + b;
    case Op::kSub: return a - b;
    case Op::kMul: return a * b;
    case Op::kDiv: return a / b;
    case Op::kMod: return std::fmod(a, b);
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

// --- comparisons ------------------------------------------------------------------------------

Result<Type> CompareType(std::string_view name, Types t) {
  if (CommonType(t[0], t[1]).has_value()) return Type::kBool;
  return InvalidArgument(std::string("operator ") + std::string(name) + " cannot compare " +
                             TypeName(t[0]) + " and " + TypeName(t[1]),
                         "SemanticError");
}

// Kusto's null rules (docs: "null values"): null == null and null != null are null; null == x is
// false and null != x is true for a non-null x; an ordering comparison with a null is null.
// `NullVsValue` is what one null side gives: 0 (==), 1 (!=) or -1 (null, for < <= > >=).
template <typename Cmp>
constexpr int NullVsValue() {
  if constexpr (std::is_same_v<Cmp, std::equal_to<>>) return 0;
  if constexpr (std::is_same_v<Cmp, std::not_equal_to<>>) return 1;
  return -1;
}

template <typename Cmp, typename Get>
Column CompareLoop(const Column& a, const Column& b, Shape s, Get get) {
  Column out = MakeColumn(Type::kBool, s);
  Cmp cmp;
  bool nullable = a.HasNulls() || b.HasNulls();
  for (size_t i = 0; i < s.rows; ++i) {
    if (nullable) {
      bool an = a.IsNull(i), bn = b.IsNull(i);
      if (an || bn) {
        constexpr int kOne = NullVsValue<Cmp>();
        if ((an && bn) || kOne < 0) SetNull(out, i);
        else out.ints[i] = kOne;
        continue;
      }
    }
    out.ints[i] = cmp(get(a, i), get(b, i)) ? 1 : 0;
  }
  return out;
}

template <typename Cmp>
Result<Column> CompareAs(std::string_view name, Args args, const FunctionContext& ctx) {
  const Column* a = args[0];
  const Column* b = args[1];
  Type types[2] = {a->type, b->type};
  RETURN_IF_ERROR(CompareType(name, types));
  Shape s = ShapeOf(args, ctx);
  Type common = *CommonType(a->type, b->type);
  // A dynamic side compared with a scalar converts to the scalar's type first.
  Column ca, cb;
  if (a->type == Type::kDynamic && common != Type::kDynamic) a = &(ca = Convert(*a, common, ctx));
  if (b->type == Type::kDynamic && common != Type::kDynamic) b = &(cb = Convert(*b, common, ctx));
  if (UsesInts(a->type) && UsesInts(b->type)) {
    return CompareLoop<Cmp>(*a, *b, s, [](const Column& c, size_t i) { return c.Int(i); });
  }
  if (IsNumeric(common)) {
    return CompareLoop<Cmp>(*a, *b, s, [](const Column& c, size_t i) { return NumAt(c, i); });
  }
  if (a->type != b->type) {  // guid vs string: guids compare case-insensitively
    return CompareLoop<Cmp>(*a, *b, s, [](const Column& c, size_t i) { return LowerAsciiCopy(c.Str(i)); });
  }
  return CompareLoop<Cmp>(*a, *b, s, [](const Column& c, size_t i) -> std::string_view { return c.Str(i); });
}

template <typename Cmp>
void AddCompare(Registry& r, std::string_view name) {
  r.Operator({name, 2, 2, [name](Types t) { return CompareType(name, t); },
              [name](Args args, const FunctionContext& ctx) { return CompareAs<Cmp>(name, args, ctx); }});
}

// --- logic ------------------------------------------------------------------------------------

Result<Type> LogicType(std::string_view name, Types t) {
  for (size_t i = 0; i < t.size(); ++i) {
    if (t[i] != Type::kBool && t[i] != Type::kDynamic) return ArgTypeError(name, i, t[i], "bool");
  }
  return Type::kBool;
}

// Three-valued and/or: `dominant` (false for and, true for or) wins over null.
Result<Column> EvalLogic(std::string_view name, bool dominant, Args args, const FunctionContext& ctx) {
  for (size_t i = 0; i < args.size(); ++i) {
    Type t = args[i]->type;
    if (t != Type::kBool && t != Type::kDynamic) return ArgTypeError(name, i, t, "bool");
  }
  Column ca, cb;
  const Column* a = args[0];
  const Column* b = args[1];
  if (a->type == Type::kDynamic) a = &(ca = Convert(*a, Type::kBool, ctx));
  if (b->type == Type::kDynamic) b = &(cb = Convert(*b, Type::kBool, ctx));
  Shape s = ShapeOf(args, ctx);
  Column out = MakeColumn(Type::kBool, s);
  int64_t dom = dominant ? 1 : 0;
  for (size_t i = 0; i < s.rows; ++i) {
    bool an = a->IsNull(i), bn = b->IsNull(i);
    int64_t av = a->Int(i) != 0, bv = b->Int(i) != 0;
    if ((!an && av == dom) || (!bn && bv == dom)) {
      out.ints[i] = dom;
    } else if (an || bn) {
      SetNull(out, i);
    } else {
      out.ints[i] = 1 - dom;
    }
  }
  return out;
}

Result<Column> EvalNot(Args args, const FunctionContext& ctx) {
  Column conv;
  const Column* a = args[0];
  if (a->type == Type::kDynamic) a = &(conv = Convert(*a, Type::kBool, ctx));
  if (a->type != Type::kBool) return ArgTypeError("not", 0, a->type, "bool");
  Shape s = ShapeOf(args, ctx);
  Column out = MakeColumn(Type::kBool, s);
  for (size_t i = 0; i < s.rows; ++i) {
    if (a->IsNull(i)) SetNull(out, i);
    else out.ints[i] = a->Int(i) == 0 ? 1 : 0;
  }
  return out;
}

}  // namespace

void RegisterArithmetic(Registry& r) {
  for (std::string_view op : {"+", "-", "*", "/", "%"}) AddArith(r, op);
  r.Operator({"neg", 1, 1, NegType, EvalNeg});
  AddCompare<std::equal_to<>>(r, "==");
  AddCompare<std::not_equal_to<>>(r, "!=");
  AddCompare<std::less<>>(r, "<");
  AddCompare<std::less_equal<>>(r, "<=");
  AddCompare<std::greater<>>(r, ">");
  AddCompare<std::greater_equal<>>(r, ">=");
  r.Operator({"and", 2, 2, [](Types t) { return LogicType("and", t); },
              [](Args a, const FunctionContext& c) { return EvalLogic("and", false, a, c); }});
  r.Operator({"or", 2, 2, [](Types t) { return LogicType("or", t); },
              [](Args a, const FunctionContext& c) { return EvalLogic("or", true, a, c); }});
  r.Function({"not", 1, 1, [](Types t) { return LogicType("not", t); }, EvalNot});
}

}  // namespace cmk::kql::fn
