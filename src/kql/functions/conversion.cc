// Conversion functions: tostring, tolong, toint, todouble/toreal, todecimal, tobool, todatetime,
// totimespan, toguid, todynamic/parse_json (the text forms and lenient parsers behind them are in
// conversion_text.cc; isnull, isempty, coalesce, iff and case in conditional.cc).
#include <cmath>

#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"

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

std::string DynamicFromString(std::string_view s) {
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
}

}  // namespace cmk::kql::fn
