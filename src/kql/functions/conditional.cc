// Conditional and null-handling functions: iff/iif, case, coalesce, isnull/isnotnull/notnull,
// isempty/isnotempty/notempty.
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

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

void RegisterConditionals(Registry& r) {
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
