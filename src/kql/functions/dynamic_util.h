#pragma once
// Private helpers of the dynamic-value families (dynamic.cc, arrays.cc): a row as JSON and the
// row loop that writes JSON results, checked against the query's memory budget (an array
// function's output can dwarf its input: range(), repeat()).
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "kql/core/budget.h"
#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {

// Row i as JSON: dynamic text parsed, other types as dynamic(value); nullopt for null or text
// that is not JSON.
inline std::optional<bj::value> Json(const Column& c, size_t i) {
  if (c.IsNull(i)) return std::nullopt;
  if (c.type == Type::kDynamic) return ParseJson(c.Str(i));
  return ValueToJson(c, i);
}

// The text a value compares by in the set functions (numbers by value: 1 equals 1.0).
inline std::string Canonical(const bj::value& v) {
  return v.is_number() ? FormatReal(v.to_number<double>()) : WriteJson(v);
}

// Runs f(row) -> optional<bj::value> for every row and stores the JSON text (null for nullopt
// or a JSON null). Fails with the budget's error once the text outgrows what the query has left.
template <typename F>
Result<Column> DynamicRows(Args a, const FunctionContext& ctx, F f) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kDynamic, s);
  size_t bytes = 0;
  for (size_t i = 0; i < s.rows; ++i) {
    std::optional<bj::value> v = f(i);
    if (!v || v->is_null()) {
      SetNull(out, i);
      continue;
    }
    out.strings[i] = WriteJson(*v);
    bytes += out.strings[i].size();
    if (ctx.budget != nullptr && bytes > ctx.budget->remaining()) {
      return ctx.budget->Charge(bytes, "dynamic function result");  // fails, naming the limit
    }
  }
  return out;
}

// A key argument of bag_has_key/bag_remove_keys/bag_set_key: a root key, or a JSONPath of
// member steps ("$.a.b", "$['a']['b']"); nullopt for paths with array steps or bad syntax
// (the docs support neither). Defined in arrays_bags.cc.
std::optional<std::vector<std::string>> KeyPath(std::string_view key);

// arrays_bags.cc: bag_*, set_*, jaccard_index, zip (called by RegisterArrays in arrays.cc).
void RegisterBags(Registry& r);

}  // namespace cmk::kql::fn
