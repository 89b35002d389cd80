// Dynamic values: __member / __index (the executor's a.b, a["k"], a[0]), bag_keys, bag_has_key,
// array_length, pack/bag_pack, pack_array, array_concat, array_slice, array_sort_asc/desc,
// set_has_element, strcat_array, gettype. Every dynamic row is parsed once per call with
// Boost.JSON; a value that is not of the expected shape gives null.
#include <algorithm>

#include "kql/functions/dynamic_util.h"

namespace cmk::kql::fn {
namespace {

// Runs f(row, int64_t* out) -> bool (false: null) for an int-backed result.
template <typename F>
Result<Column> IntRows(Args a, const FunctionContext& ctx, Type t, F f) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(t, s);
  for (size_t i = 0; i < s.rows; ++i) {
    if (!f(i, &out.ints[i])) SetNull(out, i);
  }
  return out;
}

std::optional<bj::value> Member(const bj::value& v, std::string_view key) {
  if (!v.is_object()) return std::nullopt;
  const bj::value* m = v.get_object().if_contains(key);
  return m ? std::optional<bj::value>(*m) : std::nullopt;
}

std::optional<bj::value> Element(const bj::value& v, int64_t index) {
  if (!v.is_array()) return std::nullopt;
  const bj::array& arr = v.get_array();
  int64_t n = static_cast<int64_t>(arr.size());
  if (index < 0) index += n;
  if (index < 0 || index >= n) return std::nullopt;
  return arr[static_cast<size_t>(index)];
}

Result<Column> EvalMember(Args a, const FunctionContext& ctx) {
  std::string key;
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    auto v = Json(*a[0], i);
    return v ? Member(*v, ValueToString(*a[1], i)) : std::nullopt;
  });
}

Result<Column> EvalIndex(Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    auto v = Json(*a[0], i);
    if (!v || a[1]->IsNull(i)) return std::nullopt;
    if (IsNumeric(a[1]->type)) return Element(*v, static_cast<int64_t>(NumAt(*a[1], i)));
    if (a[1]->type == Type::kDynamic) {
      auto k = ParseJson(a[1]->Str(i));
      if (k && k->is_int64()) return Element(*v, k->get_int64());
      if (k && k->is_string()) return Member(*v, k->get_string());
      return std::nullopt;
    }
    return Member(*v, ValueToString(*a[1], i));
  });
}

Result<Column> EvalBagKeys(Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    auto v = Json(*a[0], i);
    if (!v || !v->is_object()) return std::nullopt;
    bj::array keys;
    for (const auto& kv : v->get_object()) keys.emplace_back(kv.key());
    return bj::value(std::move(keys));
  });
}

Result<Column> EvalPack(Args a, const FunctionContext& ctx) {
  if (a.size() % 2 != 0) return InvalidArgument("pack: expects key/value pairs", "SemanticError");
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    bj::object obj;
    for (size_t k = 0; k + 1 < a.size(); k += 2) obj[ValueToString(*a[k], i)] = ValueToJson(*a[k + 1], i);
    return bj::value(std::move(obj));
  });
}

// __pack_nonempty (pack_all(true)): bag_pack without the null and empty values.
Result<Column> EvalPackNonEmpty(Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    bj::object obj;
    for (size_t k = 0; k + 1 < a.size(); k += 2) {
      bj::value v = ValueToJson(*a[k + 1], i);
      if (v.is_null() || (v.is_string() && v.get_string().empty())) continue;
      obj[ValueToString(*a[k], i)] = std::move(v);
    }
    return bj::value(std::move(obj));
  });
}

Result<Column> EvalPackArray(Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    bj::array arr;
    for (const Column* c : a) arr.push_back(ValueToJson(*c, i));
    return bj::value(std::move(arr));
  });
}

Result<Column> EvalArrayConcat(Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    bj::array arr;
    for (const Column* c : a) {
      auto v = Json(*c, i);
      if (!v || !v->is_array()) return std::nullopt;
      for (const bj::value& e : v->get_array()) arr.push_back(e);
    }
    return bj::value(std::move(arr));
  });
}

// array_slice(arr, start, end): inclusive end; negative indexes count from the end.
Result<Column> EvalArraySlice(Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    auto v = Json(*a[0], i);
    if (!v || !v->is_array() || a[1]->IsNull(i) || a[2]->IsNull(i)) return std::nullopt;
    const bj::array& arr = v->get_array();
    int64_t n = static_cast<int64_t>(arr.size());
    int64_t from = a[1]->Int(i), to = a[2]->Int(i);
    if (from < 0) from += n;
    if (to < 0) to += n;
    from = std::max<int64_t>(from, 0);
    to = std::min<int64_t>(to, n - 1);
    bj::array out;
    for (int64_t k = from; k <= to; ++k) out.push_back(arr[static_cast<size_t>(k)]);
    return bj::value(std::move(out));
  });
}

// Sort order (the docs'): numbers, then strings, then other values (bools, arrays, bags), each
// group in its own order; nulls first or last as asked, in both directions.
int Rank(const bj::value& v) {
  if (v.is_number()) return 0;
  if (v.is_string()) return 1;
  return v.is_bool() ? 2 : 3;
}

bool JsonLess(const bj::value& x, const bj::value& y) {
  int rx = Rank(x), ry = Rank(y);
  if (rx != ry) return rx < ry;
  if (rx == 0) return x.to_number<double>() < y.to_number<double>();
  if (rx == 1) return x.get_string() < y.get_string();
  if (rx == 2) return !x.get_bool() && y.get_bool();
  return false;
}

// array_sort_asc/desc(a1 [, a2, ...] [, nulls_last]): a1 sorted, the other arrays reordered
// like it (null when their length differs). One array gives the sorted array; several give an
// array of the sorted arrays (the docs' `array_sort_asc(a, b)[1]`).
Result<Column> EvalArraySort(bool asc, Args a, const FunctionContext& ctx) {
  bool flag = a.size() > 1 && a.back()->type == Type::kBool;
  size_t arrays = a.size() - (flag ? 1 : 0);
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    bool nulls_last = !flag || a.back()->IsNull(i) || a.back()->Int(i) != 0;
    auto v = Json(*a[0], i);
    if (!v || !v->is_array()) return std::nullopt;
    const bj::array& first = v->get_array();
    std::vector<size_t> order(first.size());
    for (size_t k = 0; k < order.size(); ++k) order[k] = k;
    std::stable_sort(order.begin(), order.end(), [&](size_t x, size_t y) {
      const bj::value &vx = first[x], &vy = first[y];
      if (vx.is_null() != vy.is_null()) return vy.is_null() == nulls_last;
      return asc ? JsonLess(vx, vy) : JsonLess(vy, vx);
    });
    bj::array results;
    for (size_t k = 0; k < arrays; ++k) {
      auto arr = k == 0 ? v : Json(*a[k], i);
      if (!arr || !arr->is_array() || arr->get_array().size() != order.size()) {
        results.emplace_back(nullptr);
        continue;
      }
      bj::array sorted;
      for (size_t idx : order) sorted.push_back(arr->get_array()[idx]);
      results.emplace_back(std::move(sorted));
    }
    if (arrays == 1) return std::move(results[0]);
    return bj::value(std::move(results));
  });
}

Result<Column> EvalSetHasElement(Args a, const FunctionContext& ctx) {
  return IntRows(a, ctx, Type::kBool, [&](size_t i, int64_t* out) {
    auto v = Json(*a[0], i);
    auto needle = Json(*a[1], i);
    if (!v || !v->is_array()) return false;
    std::string want = needle ? Canonical(*needle) : "null";
    *out = std::any_of(v->get_array().begin(), v->get_array().end(),
                       [&](const bj::value& e) { return Canonical(e) == want; });
    return true;
  });
}

Result<Column> EvalBagHasKey(Args a, const FunctionContext& ctx) {
  return IntRows(a, ctx, Type::kBool, [&](size_t i, int64_t* out) {
    auto v = Json(*a[0], i);
    std::optional<std::vector<std::string>> path = KeyPath(ValueToString(*a[1], i));
    if (!v || !v->is_object() || !path) return false;
    const bj::value* node = &*v;
    for (const std::string& step : *path) {
      const bj::object* o = node->if_object();
      node = o != nullptr ? o->if_contains(step) : nullptr;
      if (node == nullptr) break;
    }
    *out = node != nullptr;
    return true;
  });
}

Result<Column> EvalArrayLength(Args a, const FunctionContext& ctx) {
  return IntRows(a, ctx, Type::kLong, [&](size_t i, int64_t* out) {
    auto v = Json(*a[0], i);
    if (!v || !v->is_array()) return false;
    *out = static_cast<int64_t>(v->get_array().size());
    return true;
  });
}

Result<Column> EvalStrcatArray(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kString, s);
  for (size_t i = 0; i < s.rows; ++i) {
    auto v = Json(*a[0], i);
    if (!v || !v->is_array()) continue;
    std::string delim = ValueToString(*a[1], i), text;
    bool first = true;
    for (const bj::value& e : v->get_array()) {
      text += (first ? "" : delim) + JsonScalarToString(e);
      first = false;
    }
    out.strings[i] = std::move(text);
  }
  return out;
}

std::string JsonTypeName(const Column& c, size_t i) {
  if (c.type != Type::kDynamic) return c.IsNull(i) && c.type != Type::kString ? "null" : TypeName(c.type);
  auto v = Json(c, i);
  if (!v || v->is_null()) return "null";
  if (v->is_object()) return "dictionary";
  if (v->is_array()) return "array";
  if (v->is_string()) return "string";
  if (v->is_bool()) return "bool";
  if (v->is_double()) return "real";
  return "long";
}

Result<Column> EvalGetType(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kString, s);
  for (size_t i = 0; i < s.rows; ++i) out.strings[i] = JsonTypeName(*a[0], i);
  return out;
}

Result<Type> IndexType(Types t) {
  if (t[0] != Type::kDynamic) return ArgTypeError("__index", 0, t[0], "dynamic");
  if (!IsIntegral(t[1]) && t[1] != Type::kString && t[1] != Type::kDynamic) {
    return ArgTypeError("__index", 1, t[1], "long or string");
  }
  return Type::kDynamic;
}

}  // namespace

void RegisterDynamic(Registry& r) {
  r.Function({"__member", 2, 2, Returns(Type::kDynamic), EvalMember});
  r.Function({"__index", 2, 2, IndexType, EvalIndex});
  r.Function({"bag_keys", 1, 1, Returns(Type::kDynamic), EvalBagKeys});
  r.Function({"bag_has_key", 2, 2, Returns(Type::kBool), EvalBagHasKey});
  r.Function({"array_length", 1, 1, Returns(Type::kLong), EvalArrayLength});
  r.Function({"pack", 0, 128, Returns(Type::kDynamic), EvalPack});
  r.Function({"bag_pack", 0, 128, Returns(Type::kDynamic), EvalPack});
  r.Function({"__pack_nonempty", 0, 128, Returns(Type::kDynamic), EvalPackNonEmpty});
  r.Function({"pack_array", 0, 128, Returns(Type::kDynamic), EvalPackArray});
  r.Function({"array_concat", 1, 64, Returns(Type::kDynamic), EvalArrayConcat});
  r.Function({"array_slice", 3, 3, Returns(Type::kDynamic), EvalArraySlice});
  r.Function({"array_sort_asc", 1, 17, Returns(Type::kDynamic),
              [](Args a, const FunctionContext& c) { return EvalArraySort(true, a, c); }});
  r.Function({"array_sort_desc", 1, 17, Returns(Type::kDynamic),
              [](Args a, const FunctionContext& c) { return EvalArraySort(false, a, c); }});
  r.Function({"set_has_element", 2, 2, Returns(Type::kBool), EvalSetHasElement});
  r.Function({"strcat_array", 2, 2, Returns(Type::kString), EvalStrcatArray});
  r.Function({"gettype", 1, 1, Returns(Type::kString), EvalGetType});
}

}  // namespace cmk::kql::fn
