// Array, bag and set functions over dynamic values: array_iff (array_iif), array_index_of,
// array_reverse, array_rotate_left/right, array_shift_left/right, array_split, array_sum,
// bag_merge, bag_remove_keys, bag_set_key, bag_zip, set_union, set_intersect, set_difference,
// jaccard_index, zip, range, repeat, treepath, dynamic_to_json; and the sketch functions
// (sketch_functions.cc). A value that is not of the expected shape gives null, as in dynamic.cc.
#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "kql/functions/dynamic_util.h"
#include "kql/functions/sketch.h"

namespace cmk::kql::fn {
namespace {

// The documented maximum of range()'s results; repeat() has no documented bound and gets the
// same one, so that one call cannot build an unbounded array.
constexpr int64_t kMaxElements = 1 << 20;

const bj::array* AsArray(const std::optional<bj::value>& v) { return v ? v->if_array() : nullptr; }

std::optional<int64_t> IntArg(const Column& c, size_t i) {
  if (c.IsNull(i)) return std::nullopt;
  if (IsIntegral(c.type) || UsesReals(c.type)) return static_cast<int64_t>(NumAt(c, i));
  return std::nullopt;
}

// array_iff(conditions, when_true, when_false): either branch an array (element by element,
// null past its end) or a scalar; a condition that is neither bool nor number gives null.
Result<Column> EvalArrayIff(Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    auto cond = Json(*a[0], i), yes = Json(*a[1], i), no = Json(*a[2], i);
    const bj::array* conds = AsArray(cond);
    if (conds == nullptr) return std::nullopt;
    auto pick = [](const std::optional<bj::value>& branch, size_t k) -> bj::value {
      if (!branch) return nullptr;
      const bj::array* arr = branch->if_array();
      if (arr == nullptr) return *branch;
      return k < arr->size() ? (*arr)[k] : bj::value(nullptr);
    };
    bj::array out;
    for (size_t k = 0; k < conds->size(); ++k) {
      const bj::value& c = (*conds)[k];
      if (c.is_bool()) out.push_back(pick(c.get_bool() ? yes : no, k));
      else if (c.is_number()) out.push_back(pick(c.to_number<double>() != 0 ? yes : no, k));
      else out.emplace_back(nullptr);
    }
    return bj::value(std::move(out));
  });
}

// array_index_of(array, value [, start [, length [, occurrence]]]).
Result<Column> EvalArrayIndexOf(Args a, const FunctionContext& ctx) {
  return MapRows(a, ctx, Type::kLong, [&](Column& out, size_t i) {
    auto v = Json(*a[0], i);
    const bj::array* arr = AsArray(v);
    std::optional<int64_t> start = a.size() > 2 ? IntArg(*a[2], i) : 0;
    std::optional<int64_t> length = a.size() > 3 ? IntArg(*a[3], i) : -1;
    std::optional<int64_t> occurrence = a.size() > 4 ? IntArg(*a[4], i) : 1;
    if (arr == nullptr || a[1]->IsNull(i) || !start || !length || !occurrence || *length < -1 ||
        *occurrence < 0) {
      return SetNull(out, i);
    }
    int64_t n = static_cast<int64_t>(arr->size());
    int64_t from = *start < 0 ? std::max<int64_t>(0, n + *start) : *start;
    int64_t to = *length == -1 ? n : std::min(n, from + *length);
    std::string want = Canonical(ValueToJson(*a[1], i));
    int64_t seen = 0;
    out.ints[i] = -1;
    for (int64_t k = from; k < to; ++k) {
      if (Canonical((*arr)[static_cast<size_t>(k)]) == want && ++seen >= std::max<int64_t>(1, *occurrence)) {
        out.ints[i] = k;
        return;
      }
    }
  });
}

Result<Column> EvalArrayReverse(Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    auto v = Json(*a[0], i);
    const bj::array* arr = AsArray(v);
    if (arr == nullptr) return std::nullopt;
    return bj::value(bj::array(arr->rbegin(), arr->rend()));
  });
}

// array_rotate_left(arr, n) (sign -1 for array_rotate_right): a negative count turns the
// other way.
Result<Column> EvalRotate(int sign, Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    auto v = Json(*a[0], i);
    const bj::array* arr = AsArray(v);
    std::optional<int64_t> count = IntArg(*a[1], i);
    if (arr == nullptr || !count) return std::nullopt;
    bj::array out = *arr;
    if (out.empty()) return bj::value(std::move(out));
    int64_t n = static_cast<int64_t>(out.size());
    int64_t k = ((sign * (*count % n)) % n + n) % n;
    std::rotate(out.begin(), out.begin() + k, out.end());
    return bj::value(std::move(out));
  });
}

// array_shift_left(arr, n [, default]) (sign -1 for array_shift_right): vacated places get
// the default (null when not given).
Result<Column> EvalShift(int sign, Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    auto v = Json(*a[0], i);
    const bj::array* arr = AsArray(v);
    std::optional<int64_t> count = IntArg(*a[1], i);
    if (arr == nullptr || !count) return std::nullopt;
    bj::value fill = a.size() > 2 ? ValueToJson(*a[2], i) : bj::value(nullptr);
    int64_t n = static_cast<int64_t>(arr->size());
    int64_t shift = std::clamp<int64_t>(*count, -n, n) * sign;
    bj::array out;
    for (int64_t k = 0; k < n; ++k) {
      int64_t src = k + shift;
      out.push_back(src >= 0 && src < n ? (*arr)[static_cast<size_t>(src)] : fill);
    }
    return bj::value(std::move(out));
  });
}

// array_split(arr, index or [indexes]): the parts [0, i1), [i1, i2), ... [iN, n).
Result<Column> EvalArraySplit(Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    auto v = Json(*a[0], i), idx = Json(*a[1], i);
    const bj::array* arr = AsArray(v);
    if (arr == nullptr || !idx) return std::nullopt;
    int64_t n = static_cast<int64_t>(arr->size());
    std::vector<int64_t> cuts;
    const bj::array* list = idx->if_array();
    for (size_t k = 0; k < (list ? list->size() : 1); ++k) {
      const bj::value& c = list ? (*list)[k] : *idx;
      if (!c.is_number()) return std::nullopt;
      int64_t cut = static_cast<int64_t>(c.to_number<double>());
      cuts.push_back(std::clamp<int64_t>(cut < 0 ? n + cut : cut, 0, n));
    }
    cuts.push_back(n);
    bj::array out;
    int64_t from = 0;
    for (int64_t cut : cuts) {
      int64_t to = std::max(from, cut);
      out.emplace_back(bj::array(arr->begin() + from, arr->begin() + to));
      from = to;
    }
    return bj::value(std::move(out));
  });
}

Result<Column> EvalArraySum(Args a, const FunctionContext& ctx) {
  return MapRows(a, ctx, Type::kReal, [&](Column& out, size_t i) {
    auto v = Json(*a[0], i);
    const bj::array* arr = AsArray(v);
    if (arr == nullptr) return SetNull(out, i);
    double sum = 0;
    for (const bj::value& e : *arr) {
      if (!e.is_number()) return SetNull(out, i);
      sum += e.to_number<double>();
    }
    out.reals[i] = sum;
  });
}

// range(start, stop [, step]): numbers (long when every argument is integral), datetimes or
// timespans (step 1h by default); at most kMaxElements values; a zero step is null.
Result<Type> RangeType(Types t) {
  bool time = t[0] == Type::kDateTime || t[0] == Type::kTimespan;
  for (size_t k = 0; k < t.size(); ++k) {
    bool ok = IsNumeric(t[k]) || (time && (t[k] == Type::kTimespan || (k < 2 && t[k] == t[0])));
    if (!ok) return ArgTypeError("range", k, t[k], time ? "timespan" : "a number");
  }
  return Type::kDynamic;
}

Result<Column> EvalRange(Args a, const FunctionContext& ctx) {
  Type t = a[0]->type;
  bool time = t == Type::kDateTime || t == Type::kTimespan;
  bool ints = time || std::all_of(a.begin(), a.end(), [](const Column* c) { return IsIntegral(c->type); });
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    if (AnyNull(a, i)) return std::nullopt;
    double start = NumAt(*a[0], i), stop = NumAt(*a[1], i);
    double step = a.size() > 2 ? NumAt(*a[2], i) : time ? 36'000'000'000.0 : 1;
    if (step == 0 || !std::isfinite(start) || !std::isfinite(stop) || !std::isfinite(step)) return std::nullopt;
    double count = std::floor((stop - start) / step) + 1;
    int64_t n = count < 0 ? 0 : static_cast<int64_t>(std::min<double>(count, kMaxElements));
    bj::array out;
    out.reserve(static_cast<size_t>(n));
    Column one(t);
    one.AppendInt(0);
    for (int64_t k = 0; k < n; ++k) {
      double v = start + static_cast<double>(k) * step;
      if (!time && ints) out.emplace_back(a[0]->Int(i) + k * static_cast<int64_t>(step));
      else if (!time) out.emplace_back(v);
      else out.push_back(ValueToJson((one.ints[0] = a[0]->Int(i) + k * static_cast<int64_t>(step), one), 0));
    }
    return bj::value(std::move(out));
  });
}

// repeat(value, count): count copies (at most kMaxElements); a negative count is null. The
// text's size is known before it is built: one that the query's budget (or 256 MiB per value)
// cannot hold fails the query instead of being allocated.
Result<Column> EvalRepeat(Args a, const FunctionContext& ctx) {
  constexpr size_t kMaxValueBytes = size_t{256} << 20;
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kDynamic, s);
  size_t total = 0;
  for (size_t i = 0; i < s.rows; ++i) {
    std::optional<int64_t> count = IntArg(*a[1], i);
    if (!count || *count < 0) {
      SetNull(out, i);
      continue;
    }
    std::string item = WriteJson(ValueToJson(*a[0], i));
    size_t n = static_cast<size_t>(std::min<int64_t>(*count, kMaxElements));
    size_t bytes = n * (item.size() + 1) + 2;
    total += bytes;
    size_t limit = std::min(kMaxValueBytes, ctx.budget != nullptr ? ctx.budget->remaining() : SIZE_MAX);
    if (bytes > kMaxValueBytes || (ctx.budget != nullptr && total > ctx.budget->remaining())) {
      if (ctx.budget != nullptr) RETURN_IF_ERROR(ctx.budget->Charge(std::max(total, limit + 1), "repeat()"));
      return Status(StatusCode::kResourceExhausted,
                    "repeat(): a result of " + std::to_string(bytes) + " bytes is more than the 256 MiB allowed",
                    "E_RUNAWAY_QUERY");
    }
    std::string& text = out.strings[i];
    text.reserve(bytes);
    text = "[";
    for (size_t k = 0; k < n; ++k) (text += k ? "," : "") += item;
    text += ']';
  }
  return out;
}

// treepath: every member path of a bag, an array's elements all under [0], each path once.
void TreePaths(const bj::value& v, const std::string& prefix, std::vector<std::string>& out,
               std::unordered_set<std::string>& seen) {
  auto add = [&](std::string p, const bj::value& child) {
    if (seen.insert(p).second) out.push_back(p);
    TreePaths(child, p, out, seen);
  };
  if (const bj::object* o = v.if_object()) {
    for (const auto& kv : *o) add(prefix + "['" + std::string(kv.key()) + "']", kv.value());
  } else if (const bj::array* arr = v.if_array()) {
    for (const bj::value& e : *arr) add(prefix + "[0]", e);
  }
}

Result<Column> EvalTreepath(Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    auto v = Json(*a[0], i);
    if (!v) return std::nullopt;
    std::vector<std::string> paths;
    std::unordered_set<std::string> seen;
    TreePaths(*v, "", paths, seen);
    bj::array out;
    for (std::string& p : paths) out.emplace_back(std::move(p));
    return bj::value(std::move(out));
  });
}

// dynamic_to_json: JSON with every bag's keys sorted (a canonical text); other types as
// tostring().
void CanonicalJson(const bj::value& v, std::string& out) {
  if (const bj::object* o = v.if_object()) {
    std::vector<const bj::key_value_pair*> kvs;
    for (const auto& kv : *o) kvs.push_back(&kv);
    std::sort(kvs.begin(), kvs.end(), [](auto* x, auto* y) { return x->key() < y->key(); });
    out += '{';
    for (size_t k = 0; k < kvs.size(); ++k) {
      out += (k ? "," : "") + WriteJson(bj::value(kvs[k]->key())) + ":";
      CanonicalJson(kvs[k]->value(), out);
    }
    out += '}';
  } else if (const bj::array* arr = v.if_array()) {
    out += '[';
    for (size_t k = 0; k < arr->size(); ++k) {
      if (k) out += ',';
      CanonicalJson((*arr)[k], out);
    }
    out += ']';
  } else {
    out += WriteJson(v);
  }
}

Result<Column> EvalDynamicToJson(Args a, const FunctionContext& ctx) {
  return MapRows(a, ctx, Type::kString, [&](Column& out, size_t i) {
    if (a[0]->type != Type::kDynamic) {
      out.strings[i] = ValueToString(*a[0], i);
      return;
    }
    auto v = Json(*a[0], i);
    out.strings[i].clear();
    if (v) CanonicalJson(*v, out.strings[i]);
  });
}

}  // namespace

void RegisterArrays(Registry& r) {
  auto dyn = Returns(Type::kDynamic);
  r.Function({"array_iff", 3, 3, dyn, EvalArrayIff});
  r.Function({"array_iif", 3, 3, dyn, EvalArrayIff});
  r.Function({"array_index_of", 2, 5, Returns(Type::kLong), EvalArrayIndexOf});
  r.Function({"array_reverse", 1, 1, dyn, EvalArrayReverse});
  r.Function({"array_rotate_left", 2, 2, dyn, [](Args a, const FunctionContext& c) { return EvalRotate(1, a, c); }});
  r.Function({"array_rotate_right", 2, 2, dyn, [](Args a, const FunctionContext& c) { return EvalRotate(-1, a, c); }});
  r.Function({"array_shift_left", 2, 3, dyn, [](Args a, const FunctionContext& c) { return EvalShift(1, a, c); }});
  r.Function({"array_shift_right", 2, 3, dyn, [](Args a, const FunctionContext& c) { return EvalShift(-1, a, c); }});
  r.Function({"array_split", 2, 2, dyn, EvalArraySplit});
  r.Function({"array_sum", 1, 1, Returns(Type::kReal), EvalArraySum});
  r.Function({"range", 2, 3, RangeType, EvalRange});
  r.Function({"repeat", 2, 2, dyn, EvalRepeat});
  r.Function({"treepath", 1, 1, dyn, EvalTreepath});
  r.Function({"dynamic_to_json", 1, 1, Returns(Type::kString), EvalDynamicToJson});
  RegisterBags(r);
  RegisterSketches(r);
}

}  // namespace cmk::kql::fn
