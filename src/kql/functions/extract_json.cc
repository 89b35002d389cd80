// extract_json / extractjson(jsonPath, dataSource[, typeof(T)]): the JSONPath subset of the docs
// ($, .name, ['name'], ["name"], [n]) into a JSON text. Without a type the value comes back as a
// string (a JSON string unquoted, other values as JSON text, "" when the path finds nothing);
// with typeof(T) it is converted to T (null when missing or unconvertible; typeof(dynamic)
// keeps the JSON value).
#include <optional>
#include <vector>

#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

struct Step {
  std::optional<std::string> key;  // else an array index
  size_t index = 0;
};

// nullopt for a path outside the supported subset.
std::optional<std::vector<Step>> ParsePath(std::string_view p) {
  if (p.empty() || p[0] != '$') return std::nullopt;
  std::vector<Step> steps;
  size_t i = 1;
  while (i < p.size()) {
    if (p[i] == '.') {
      size_t start = ++i;
      while (i < p.size() && p[i] != '.' && p[i] != '[') ++i;
      if (i == start) return std::nullopt;
      steps.push_back({std::string(p.substr(start, i - start))});
    } else if (p[i] == '[' && i + 1 < p.size() && (p[i + 1] == '\'' || p[i + 1] == '"')) {
      char q = p[i + 1];
      size_t close = p.find(q, i + 2);
      if (close == std::string_view::npos || close + 1 >= p.size() || p[close + 1] != ']')
        return std::nullopt;
      steps.push_back({std::string(p.substr(i + 2, close - i - 2))});
      i = close + 2;
    } else if (p[i] == '[') {
      size_t close = p.find(']', i);
      std::optional<int64_t> n = close == std::string_view::npos
                                     ? std::nullopt
                                     : ParseLong(p.substr(i + 1, close - i - 1));
      if (!n || *n < 0) return std::nullopt;
      steps.push_back({std::nullopt, static_cast<size_t>(*n)});
      i = close + 1;
    } else {
      return std::nullopt;
    }
  }
  return steps;
}

const bj::value* Walk(const bj::value& root, const std::vector<Step>& steps) {
  const bj::value* v = &root;
  for (const Step& s : steps) {
    if (s.key) {
      const bj::object* o = v->if_object();
      v = o != nullptr ? o->if_contains(*s.key) : nullptr;
    } else {
      const bj::array* a = v->if_array();
      v = a != nullptr && s.index < a->size() ? &(*a)[s.index] : nullptr;
    }
    if (v == nullptr) return nullptr;
  }
  return v;
}

Result<Column> EvalExtractJson(Args a, const FunctionContext& ctx) {
  Type target = a.size() > 2 ? a[2]->type : Type::kString;
  bool keep_json = target == Type::kDynamic;
  Shape s = ShapeOf(a, ctx);
  Column text = MakeColumn(keep_json ? Type::kDynamic : Type::kString, s);
  std::vector<uint8_t> missing(s.rows, 0);
  std::optional<std::vector<Step>> steps;
  std::string path_scratch, doc_scratch;
  for (size_t i = 0; i < s.rows; ++i) {
    if (i == 0 || !a[0]->constant) {
      steps = ParsePath(a[0]->type == Type::kString ? a[0]->Str(i)
                                                    : (path_scratch = ValueToString(*a[0], i)));
    }
    const Column& doc = *a[1];
    auto root = !steps || doc.IsNull(i)
                    ? std::nullopt
                    : ParseJson(doc.type == Type::kDynamic ? doc.Str(i)
                                                           : (doc_scratch = ValueToString(doc, i)));
    const bj::value* v = root ? Walk(*root, *steps) : nullptr;
    if (v == nullptr) {
      missing[i] = 1;
      if (keep_json) SetNull(text, i);
      continue;
    }
    text.strings[i] = keep_json ? WriteJson(*v) : JsonScalarToString(*v);
  }
  if (target == Type::kString || keep_json) return text;
  Column out = Convert(text, target, ctx);
  for (size_t i = 0; i < s.rows; ++i) {
    if (missing[i]) SetNull(out, i);
  }
  return out;
}

Result<Type> ExtractJsonType(Types t) { return t.size() > 2 ? t[2] : Type::kString; }

}  // namespace

void RegisterExtractJson(Registry& r) {
  r.Function({"extract_json", 2, 3, ExtractJsonType, EvalExtractJson});
  r.Function({"extractjson", 2, 3, ExtractJsonType, EvalExtractJson});
}

}  // namespace cmk::kql::fn
