// Conversions (tostring, tolong, toint, todouble/toreal, todecimal, tobool, todatetime,
// totimespan, toguid, todynamic/parse_json) and null/emptiness helpers (isnull, isempty,
// coalesce, iff/iif, case).
#include <cmath>

#include "kql/function_json.h"
#include "kql/function_util.h"

namespace cmk::kql::fn {
namespace {

std::optional<bj::value> DynAt(const Column& c, size_t i) {
  if (c.IsNull(i)) return std::nullopt;
  auto v = ParseJson(c.Str(i));
  if (!v || v->is_null()) return std::nullopt;
  return v;
}

bool LongAt(const Column& c, size_t i, int64_t* out) {
  if (c.IsNull(i)) return false;
  if (UsesInts(c.type)) {
    *out = c.Int(i);
    return true;
  }
  if (UsesReals(c.type)) {
    double d = c.Real(i);
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return false;
    *out = static_cast<int64_t>(d);
    return true;
  }
  if (c.type == Type::kDynamic) {
    auto v = DynAt(c, i);
    if (!v) return false;
    if (v->is_int64()) return *out = v->get_int64(), true;
    if (v->is_uint64()) return *out = static_cast<int64_t>(v->get_uint64()), true;
    if (v->is_bool()) return *out = v->get_bool() ? 1 : 0, true;
    if (v->is_double()) {
      double d = v->get_double();
      if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return false;
      return *out = static_cast<int64_t>(d), true;
    }
    if (!v->is_string()) return false;
    auto p = ParseLong(v->get_string());
    return p ? (*out = *p, true) : false;
  }
  auto p = ParseLong(c.Str(i));
  return p ? (*out = *p, true) : false;
}

bool RealAt(const Column& c, size_t i, double* out) {
  if (c.IsNull(i)) return false;
  if (UsesInts(c.type) || UsesReals(c.type)) return *out = NumAt(c, i), true;
  if (c.type == Type::kDynamic) {
    auto v = DynAt(c, i);
    if (!v) return false;
    if (v->is_number()) return *out = v->to_number<double>(), true;
    if (v->is_bool()) return *out = v->get_bool() ? 1 : 0, true;
    if (!v->is_string()) return false;
    auto p = ParseReal(v->get_string());
    return p ? (*out = *p, true) : false;
  }
  auto p = ParseReal(c.Str(i));
  return p ? (*out = *p, true) : false;
}

bool BoolAt(const Column& c, size_t i, int64_t* out) {
  if (c.IsNull(i)) return false;
  if (UsesInts(c.type)) return *out = c.Int(i) != 0, true;
  if (UsesReals(c.type)) return *out = c.Real(i) != 0, true;
  std::string text;
  if (c.type == Type::kDynamic) {
    auto v = DynAt(c, i);
    if (!v) return false;
    if (v->is_bool()) return *out = v->get_bool(), true;
    if (v->is_number()) return *out = v->to_number<double>() != 0, true;
    if (!v->is_string()) return false;
    text = v->get_string();
  } else {
    text = c.Str(i);
  }
  auto p = ParseBool(text);
  return p ? (*out = *p, true) : false;
}

// datetime or timespan from text, a number (timespan: ticks) or the same type.
bool TimeAt(const Column& c, size_t i, Type to, int64_t* out) {
  if (c.IsNull(i)) return false;
  if (c.type == to) return *out = c.Int(i), true;
  bool ts = to == Type::kTimespan;
  if (ts && IsNumeric(c.type)) {
    double d = NumAt(c, i);
    if (!std::isfinite(d) || std::fabs(d) >= 9.2e18) return false;
    return *out = std::llround(d), true;
  }
  if (!UsesStrings(c.type)) return false;
  std::string text;
  if (c.type == Type::kDynamic) {
    auto v = DynAt(c, i);
    if (!v) return false;
    if (ts && v->is_number()) return *out = std::llround(v->to_number<double>()), true;
    if (!v->is_string()) return false;
    text = v->get_string();
  } else {
    text = c.Str(i);
  }
  auto p = ts ? ParseTimespan(text) : ParseDateTime(text);
  return p ? (*out = *p, true) : false;
}

std::string DynamicFromString(const std::string& s) {
  auto v = ParseJson(s);
  return v ? WriteJson(*v) : WriteJson(bj::value(s));
}

}  // namespace

Column Convert(const Column& c, Type to, const FunctionContext& ctx) {
  Shape s{c.constant ? 1 : c.stored(), c.constant};
  Column out = MakeColumn(to, s);
  for (size_t i = 0; i < s.rows; ++i) {
    bool ok = true;
    switch (to) {
      case Type::kString: out.strings[i] = ValueToString(c, i); break;
      case Type::kBool: ok = BoolAt(c, i, &out.ints[i]); break;
      case Type::kInt:
        ok = LongAt(c, i, &out.ints[i]);
        out.ints[i] = static_cast<int32_t>(static_cast<uint32_t>(out.ints[i]));
        break;
      case Type::kLong: ok = LongAt(c, i, &out.ints[i]); break;
      case Type::kReal:
      case Type::kDecimal: ok = RealAt(c, i, &out.reals[i]); break;
      case Type::kDateTime:
      case Type::kTimespan: ok = TimeAt(c, i, to, &out.ints[i]); break;
      case Type::kGuid: {
        auto g = UsesStrings(c.type) && !c.IsNull(i) ? ParseGuid(ValueToString(c, i)) : std::nullopt;
        if (g) out.strings[i] = *g;
        else ok = false;
        break;
      }
      case Type::kDynamic:
        if (c.type == Type::kString) out.strings[i] = DynamicFromString(c.Str(i));
        else out.strings[i] = WriteJson(ValueToJson(c, i));
        break;
    }
    if (!ok) SetNull(out, i);
  }
  (void)ctx;
  return out;
}

namespace {

void AddConversion(Registry& r, std::string_view name, Type to) {
  r.Function({name, 1, 1, Returns(to), [to](Args a, const FunctionContext& ctx) -> Result<Column> {
                return Convert(*a[0], to, ctx);
              }});
}

// isnull/isnotnull (strings are never null) and isempty/isnotempty (empty string or null).
void AddNullTest(Registry& r, std::string_view name, bool empty_counts, bool negate) {
  r.Function({name, 1, 1, Returns(Type::kBool),
              [empty_counts, negate](Args a, const FunctionContext& ctx) -> Result<Column> {
                const Column& c = *a[0];
                Shape s = ShapeOf(a, ctx);
                Column out = MakeColumn(Type::kBool, s);
                for (size_t i = 0; i < s.rows; ++i) {
                  bool v = c.IsNull(i) || (c.type == Type::kDynamic && c.Str(i) == "null");
                  if (empty_counts && UsesStrings(c.type) && c.type != Type::kDynamic) v = c.Str(i).empty();
                  if (empty_counts && c.type == Type::kDynamic && c.Str(i) == "\"\"") v = true;
                  out.ints[i] = v != negate;
                }
                return out;
              }});
}

// Common type of t[first], t[first + step], ... and (for case/iff) the last, else, value.
Result<Type> CommonOf(std::string_view fn, Types t, size_t first, size_t step) {
  Type common = t[first];
  for (size_t i = first + step; i < t.size() + step - 1; i += step) {
    if (i >= t.size()) i = t.size() - 1;
    auto c = CommonType(common, t[i]);
    if (!c) return ArgTypeError(fn, i, t[i], TypeName(common));
    common = *c;
  }
  return common;
}

Result<Column> EvalCoalesce(Args a, const FunctionContext& ctx) {
  std::vector<Type> types;
  for (const Column* c : a) types.push_back(c->type);
  ASSIGN_OR_RETURN(Type t, CommonOf("coalesce", types, 0, 1));
  std::vector<Column> storage(a.size());
  std::vector<const Column*> cols;
  for (size_t k = 0; k < a.size(); ++k) cols.push_back(CoerceTo(a[k], t, storage[k], ctx));
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(t, s);
  for (size_t i = 0; i < s.rows; ++i) {
    size_t k = 0;
    for (; k + 1 < cols.size(); ++k) {
      bool missing = cols[k]->IsNull(i) || (t == Type::kString && cols[k]->Str(i).empty()) ||
                     (t == Type::kDynamic && cols[k]->Str(i) == "null");
      if (!missing) break;
    }
    CopyValue(out, i, *cols[k], i);
  }
  return out;
}

// case(p1, v1, p2, v2, ..., else) and iff(p, v, else): the first true predicate picks its value.
Result<Column> EvalCase(std::string_view fn, Args a, const FunctionContext& ctx) {
  if (a.size() < 3 || a.size() % 2 == 0) {
    return InvalidArgument(std::string(fn) + ": expects predicate/value pairs and an else value", "SemanticError");
  }
  std::vector<Type> types;
  for (const Column* c : a) types.push_back(c->type);
  ASSIGN_OR_RETURN(Type t, CommonOf(fn, types, 1, 2));
  std::vector<Column> storage(a.size());
  std::vector<const Column*> cols(a.begin(), a.end());
  for (size_t k = 0; k < a.size(); ++k) {
    bool value = k % 2 == 1 || k + 1 == a.size();
    if (!value && a[k]->type != Type::kBool) {
      if (a[k]->type != Type::kDynamic) return ArgTypeError(fn, k, a[k]->type, "bool");
      cols[k] = CoerceTo(a[k], Type::kBool, storage[k], ctx);
    }
    if (value) cols[k] = CoerceTo(a[k], t, storage[k], ctx);
  }
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(t, s);
  for (size_t i = 0; i < s.rows; ++i) {
    size_t pick = cols.size() - 1;
    for (size_t k = 0; k + 1 < cols.size(); k += 2) {
      if (!cols[k]->IsNull(i) && cols[k]->Int(i) != 0) {
        pick = k + 1;
        break;
      }
    }
    CopyValue(out, i, *cols[pick], i);
  }
  return out;
}

Result<Type> CaseType(std::string_view fn, Types t) {
  if (t.size() < 3 || t.size() % 2 == 0) {
    return InvalidArgument(std::string(fn) + ": expects predicate/value pairs and an else value", "SemanticError");
  }
  for (size_t k = 0; k + 1 < t.size(); k += 2) {
    if (t[k] != Type::kBool && t[k] != Type::kDynamic) return ArgTypeError(fn, k, t[k], "bool");
  }
  return CommonOf(fn, t, 1, 2);
}

void AddCase(Registry& r, std::string_view name, int min_args, int max_args) {
  r.Function({name, min_args, max_args, [name](Types t) { return CaseType(name, t); },
              [name](Args a, const FunctionContext& ctx) { return EvalCase(name, a, ctx); }});
}

}  // namespace

void RegisterConversions(Registry& r) {
  AddConversion(r, "tostring", Type::kString);
  AddConversion(r, "tolong", Type::kLong);
  AddConversion(r, "toint", Type::kInt);
  AddConversion(r, "todouble", Type::kReal);
  AddConversion(r, "toreal", Type::kReal);
  AddConversion(r, "todecimal", Type::kDecimal);
  AddConversion(r, "tobool", Type::kBool);
  AddConversion(r, "toboolean", Type::kBool);
  AddConversion(r, "todatetime", Type::kDateTime);
  AddConversion(r, "totimespan", Type::kTimespan);
  AddConversion(r, "totime", Type::kTimespan);
  AddConversion(r, "toguid", Type::kGuid);
  AddConversion(r, "todynamic", Type::kDynamic);
  AddConversion(r, "parse_json", Type::kDynamic);
  AddNullTest(r, "isnull", false, false);
  AddNullTest(r, "isnotnull", false, true);
  AddNullTest(r, "notnull", false, true);
  AddNullTest(r, "isempty", true, false);
  AddNullTest(r, "isnotempty", true, true);
  AddNullTest(r, "notempty", true, true);
  r.Function({"coalesce", 1, -1, [](Types t) { return CommonOf("coalesce", t, 0, 1); }, EvalCoalesce});
  AddCase(r, "iff", 3, 3);
  AddCase(r, "iif", 3, 3);
  AddCase(r, "case", 3, -1);
}

}  // namespace cmk::kql::fn
