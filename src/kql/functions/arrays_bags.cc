// Bags and sets over dynamic values (registered by arrays.cc): bag_merge, bag_remove_keys,
// bag_set_key, bag_zip, set_union, set_intersect, set_difference, jaccard_index, zip.
#include <algorithm>
#include <cmath>
#include <unordered_set>

#include "kql/functions/dynamic_util.h"

namespace cmk::kql::fn {

std::optional<std::vector<std::string>> KeyPath(std::string_view key) {
  if (key.empty() || key[0] != '$') return std::vector<std::string>{std::string(key)};
  std::vector<std::string> steps;
  size_t i = 1;
  while (i < key.size()) {
    if (key[i] == '.') {
      size_t end = key.find_first_of(".[", i + 1);
      if (end == std::string_view::npos) end = key.size();
      if (end == i + 1) return std::nullopt;
      steps.emplace_back(key.substr(i + 1, end - i - 1));
      i = end;
    } else if (key.substr(i, 2) == "['" || key.substr(i, 2) == "[\"") {
      size_t close = key.find(std::string{key[i + 1], ']'}, i + 2);
      if (close == std::string_view::npos) return std::nullopt;
      steps.emplace_back(key.substr(i + 2, close - i - 2));
      i = close + 2;
    } else {
      return std::nullopt;
    }
  }
  if (steps.empty()) return std::nullopt;
  return steps;
}

namespace {

// bag_merge(b1, ..., bN): the leftmost value of a key wins; arguments that are not bags are
// skipped; null when none is a bag.
Result<Column> EvalBagMerge(Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    std::optional<bj::object> out;
    for (const Column* c : a) {
      auto v = Json(*c, i);
      if (!v || !v->is_object()) continue;
      if (!out) out.emplace();
      for (const auto& kv : v->get_object()) {
        if (!out->contains(kv.key())) out->emplace(kv.key(), kv.value());
      }
    }
    if (!out) return std::nullopt;
    return bj::value(std::move(*out));
  });
}

void RemovePath(bj::object& bag, const std::vector<std::string>& path, size_t step) {
  if (step + 1 == path.size()) {
    bag.erase(path[step]);
    return;
  }
  bj::value* next = bag.if_contains(path[step]);
  if (next != nullptr && next->is_object()) RemovePath(next->get_object(), path, step + 1);
}

Result<Column> EvalBagRemoveKeys(Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    auto v = Json(*a[0], i), keys = Json(*a[1], i);
    if (!v || !v->is_object() || !keys || !keys->is_array()) return std::nullopt;
    for (const bj::value& k : keys->get_array()) {
      if (!k.is_string()) continue;
      std::optional<std::vector<std::string>> path = KeyPath(k.get_string());
      if (path) RemovePath(v->get_object(), *path, 0);
    }
    return v;
  });
}

// bag_set_key(bag, key, value): missing levels of a JSONPath key are created; a level that is
// not a bag is replaced by one.
Result<Column> EvalBagSetKey(Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    auto v = Json(*a[0], i);
    if (!v || !v->is_object() || a[1]->IsNull(i)) return std::nullopt;
    std::optional<std::vector<std::string>> path = KeyPath(ValueToString(*a[1], i));
    if (!path) return std::nullopt;
    bj::object* bag = &v->get_object();
    for (size_t s = 0; s + 1 < path->size(); ++s) {
      bj::value& next = (*bag)[(*path)[s]];
      if (!next.is_object()) next = bj::object();
      bag = &next.get_object();
    }
    (*bag)[path->back()] = Json(*a[2], i).value_or(nullptr);
    return v;
  });
}

// bag_zip(keys, values): keys that are not strings are skipped (their value too); missing
// values are null; values that are not an array make every value null.
Result<Column> EvalBagZip(Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    auto keys = Json(*a[0], i), values = Json(*a[1], i);
    if (!keys || !keys->is_array()) return std::nullopt;
    const bj::array* vals = values ? values->if_array() : nullptr;
    bj::object out;
    const bj::array& ks = keys->get_array();
    for (size_t k = 0; k < ks.size(); ++k) {
      if (!ks[k].is_string()) continue;
      out[ks[k].get_string()] = vals != nullptr && k < vals->size() ? (*vals)[k] : bj::value(nullptr);
    }
    return bj::value(std::move(out));
  });
}

// The distinct elements of an array in first-seen order, and their canonical texts.
struct Distinct {
  bj::array values;
  std::unordered_set<std::string> keys;
  void Add(const bj::value& e) {
    if (keys.insert(Canonical(e)).second) values.push_back(e);
  }
};

// set_union / set_intersect / set_difference over 2..64 arrays; null when one is not an array.
Result<Column> EvalSet(char op, Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    std::vector<bj::array> sets;
    for (const Column* c : a) {
      auto v = Json(*c, i);
      if (!v || !v->is_array()) return std::nullopt;
      sets.push_back(std::move(v->get_array()));
    }
    Distinct out;
    if (op == '|') {
      for (const bj::array& s : sets) std::for_each(s.begin(), s.end(), [&](const bj::value& e) { out.Add(e); });
      return bj::value(std::move(out.values));
    }
    std::vector<std::unordered_set<std::string>> others(sets.size());
    for (size_t k = 1; k < sets.size(); ++k) {
      for (const bj::value& e : sets[k]) others[k].insert(Canonical(e));
    }
    for (const bj::value& e : sets[0]) {
      std::string key = Canonical(e);
      bool everywhere = true, anywhere = false;
      for (size_t k = 1; k < sets.size(); ++k) {
        bool in = others[k].count(key) > 0;
        everywhere = everywhere && in;
        anywhere = anywhere || in;
      }
      if (op == '&' ? everywhere : !anywhere) out.Add(e);
    }
    return bj::value(std::move(out.values));
  });
}

// |s1 ∩ s2| / |s1 ∪ s2| over distinct values; two empty sets give NaN (0/0).
Result<Column> EvalJaccard(Args a, const FunctionContext& ctx) {
  return MapRows(a, ctx, Type::kReal, [&](Column& out, size_t i) {
    auto x = Json(*a[0], i), y = Json(*a[1], i);
    if (!x || !x->is_array() || !y || !y->is_array()) return SetNull(out, i);
    Distinct dx, all;
    for (const bj::value& e : x->get_array()) dx.Add(e), all.Add(e);
    size_t common = 0;
    std::unordered_set<std::string> seen_y;
    for (const bj::value& e : y->get_array()) {
      std::string key = Canonical(e);
      if (!seen_y.insert(key).second) continue;
      common += dx.keys.count(key);
      all.Add(e);
    }
    out.reals[i] = static_cast<double>(common) / static_cast<double>(all.values.size());
  });
}

// zip(a1, ..., aN): the i-th elements together, as long as the longest array (nulls past the
// others' ends); null when an argument is not an array.
Result<Column> EvalZip(Args a, const FunctionContext& ctx) {
  return DynamicRows(a, ctx, [&](size_t i) -> std::optional<bj::value> {
    std::vector<bj::array> arrays;
    size_t n = 0;
    for (const Column* c : a) {
      auto v = Json(*c, i);
      if (!v || !v->is_array()) return std::nullopt;
      arrays.push_back(std::move(v->get_array()));
      n = std::max(n, arrays.back().size());
    }
    bj::array out;
    for (size_t k = 0; k < n; ++k) {
      bj::array tuple;
      for (const bj::array& arr : arrays) tuple.push_back(k < arr.size() ? arr[k] : bj::value(nullptr));
      out.emplace_back(std::move(tuple));
    }
    return bj::value(std::move(out));
  });
}

}  // namespace

void RegisterBags(Registry& r) {
  auto dyn = Returns(Type::kDynamic);
  r.Function({"bag_merge", 2, 64, dyn, EvalBagMerge});
  r.Function({"bag_remove_keys", 2, 2, dyn, EvalBagRemoveKeys});
  r.Function({"bag_set_key", 3, 3, dyn, EvalBagSetKey});
  r.Function({"bag_zip", 2, 2, dyn, EvalBagZip});
  r.Function({"set_union", 2, 64, dyn, [](Args a, const FunctionContext& c) { return EvalSet('|', a, c); }});
  r.Function({"set_intersect", 2, 64, dyn, [](Args a, const FunctionContext& c) { return EvalSet('&', a, c); }});
  r.Function({"set_difference", 2, 64, dyn, [](Args a, const FunctionContext& c) { return EvalSet('-', a, c); }});
  r.Function({"jaccard_index", 2, 2, Returns(Type::kReal), EvalJaccard});
  r.Function({"zip", 2, 16, dyn, EvalZip});
}

}  // namespace cmk::kql::fn
