// Comparison operators (== != < <= > >=) over every type, between / !between, and around().
#include <functional>
#include <type_traits>

#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

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

// --- between ----------------------------------------------------------------------------------

Result<Type> BetweenType(std::string_view fn, Types t) {
  bool ok = (IsNumeric(t[0]) && IsNumeric(t[1]) && IsNumeric(t[2])) ||
            (t[0] == Type::kDateTime && t[1] == Type::kDateTime &&
             (t[2] == Type::kDateTime || t[2] == Type::kTimespan)) ||
            (t[0] == Type::kTimespan && t[1] == Type::kTimespan && t[2] == Type::kTimespan);
  if (!ok) {
    return InvalidArgument(std::string(fn) + " cannot be applied to " + TypeName(t[0]) + " (" +
                               TypeName(t[1]) + " .. " + TypeName(t[2]) + ")",
                           "SemanticError");
  }
  return Type::kBool;
}

Result<Column> EvalBetween(std::string_view fn, bool negate, Args a, const FunctionContext& ctx) {
  Type types[3] = {a[0]->type, a[1]->type, a[2]->type};
  RETURN_IF_ERROR(BetweenType(fn, types));
  const Column &v = *a[0], &lo = *a[1], &hi = *a[2];
  bool relative = v.type == Type::kDateTime && hi.type == Type::kTimespan;
  bool ints = UsesInts(v.type) && UsesInts(lo.type) && UsesInts(hi.type);
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kBool, s);
  if (ints && !v.constant && lo.constant && hi.constant && !v.HasNulls() && !lo.HasNulls() && !hi.HasNulls() &&
      v.ints.size() >= s.rows && out.ints.size() >= s.rows) {
    // A column between two constants (`EventId between (1000 .. 1010)`): one tight loop.
    const int64_t low = lo.Int(0), high = relative ? lo.Int(0) + hi.Int(0) : hi.Int(0);
    const int64_t* x = v.ints.data();
    int64_t* o = out.ints.data();
    for (size_t i = 0; i < s.rows; ++i) o[i] = (x[i] >= low && x[i] <= high) != negate;
    return out;
  }
  for (size_t i = 0; i < s.rows; ++i) {
    if (AnyNull(a, i)) continue;  // null compares false, negated or not
    bool in;
    if (ints) {
      int64_t high = relative ? lo.Int(i) + hi.Int(i) : hi.Int(i);
      in = v.Int(i) >= lo.Int(i) && v.Int(i) <= high;
    } else {
      in = NumAt(v, i) >= NumAt(lo, i) && NumAt(v, i) <= NumAt(hi, i);
    }
    out.ints[i] = in != negate;
  }
  return out;
}

// around(value, center, delta): value within [center - delta, center + delta]; null when any
// argument is null. Numbers, or a datetime/timespan value and center with a timespan delta.
Result<Type> AroundType(Types t) {
  bool ok = (IsNumeric(t[0]) && IsNumeric(t[1]) && IsNumeric(t[2])) ||
            ((t[0] == Type::kDateTime || t[0] == Type::kTimespan) && t[1] == t[0] && t[2] == Type::kTimespan);
  if (!ok) {
    return InvalidArgument(std::string("around() cannot be applied to ") + TypeName(t[0]) + ", " + TypeName(t[1]) +
                               ", " + TypeName(t[2]),
                           "SemanticError");
  }
  return Type::kBool;
}

Result<Column> EvalAround(Args a, const FunctionContext& ctx) {
  bool ints = UsesInts(a[0]->type) && UsesInts(a[1]->type) && UsesInts(a[2]->type);
  return MapRows(a, ctx, Type::kBool, [&](Column& out, size_t i) {
    if (AnyNull(a, i)) return SetNull(out, i);
    if (ints) {  // in 128 bits, so that center +- delta cannot overflow
      __int128 v = a[0]->Int(i), c = a[1]->Int(i), d = a[2]->Int(i);
      out.ints[i] = v >= c - d && v <= c + d;
    } else {
      double v = NumAt(*a[0], i), c = NumAt(*a[1], i), d = NumAt(*a[2], i);
      out.ints[i] = v >= c - d && v <= c + d;
    }
  });
}

}  // namespace

void RegisterComparisons(Registry& r) {
  r.Function({"around", 3, 3, AroundType, EvalAround});
  AddCompare<std::equal_to<>>(r, "==");
  AddCompare<std::not_equal_to<>>(r, "!=");
  AddCompare<std::less<>>(r, "<");
  AddCompare<std::less_equal<>>(r, "<=");
  AddCompare<std::greater<>>(r, ">");
  AddCompare<std::greater_equal<>>(r, ">=");
  r.Operator({"between", 3, 3, [](Types t) { return BetweenType("between", t); },
              [](Args a, const FunctionContext& c) { return EvalBetween("between", false, a, c); }});
  r.Operator({"!between", 3, 3, [](Types t) { return BetweenType("!between", t); },
              [](Args a, const FunctionContext& c) { return EvalBetween("!between", true, a, c); }});
}

}  // namespace cmk::kql::fn
