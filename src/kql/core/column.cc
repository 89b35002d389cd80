#include "kql/core/column.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <type_traits>
#include <utility>

namespace cmk::kql {

const char* TypeName(Type t) {
  switch (t) {
    case Type::kBool: return "bool";
    case Type::kInt: return "int";
    case Type::kLong: return "long";
    case Type::kReal: return "real";
    case Type::kDecimal: return "decimal";
    case Type::kString: return "string";
    case Type::kDateTime: return "datetime";
    case Type::kTimespan: return "timespan";
    case Type::kGuid: return "guid";
    case Type::kDynamic: return "dynamic";
  }
  return "string";
}

std::optional<Type> ParseTypeName(std::string_view name) {
  std::string n(name);
  std::transform(n.begin(), n.end(), n.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  static constexpr std::array<std::pair<std::string_view, Type>, 19> kNames = {{
      {"bool", Type::kBool},         {"boolean", Type::kBool},      {"int", Type::kInt},
      {"int32", Type::kInt},         {"long", Type::kLong},         {"int64", Type::kLong},
      {"real", Type::kReal},         {"double", Type::kReal},       {"decimal", Type::kDecimal},
      {"string", Type::kString},     {"datetime", Type::kDateTime}, {"date", Type::kDateTime},
      {"timespan", Type::kTimespan}, {"time", Type::kTimespan},     {"guid", Type::kGuid},
      {"uniqueid", Type::kGuid},     {"dynamic", Type::kDynamic},   {"float", Type::kReal},
      {"int16", Type::kInt},
  }};
  for (const auto& [k, t] : kNames) {
    if (k == n) return t;
  }
  return std::nullopt;
}

void Column::Flatten() {
  if (dict) {
    std::vector<std::string> out;
    out.reserve(codes.size());
    for (uint32_t code : codes) out.push_back((*dict)[code]);
    strings = std::move(out);
    dict.reset();
    codes.clear();
    codes.shrink_to_fit();
  } else if (!offsets.empty()) {
    std::vector<std::string> out;
    out.reserve(offsets.size() - 1);
    for (size_t i = 0; i + 1 < offsets.size(); ++i) out.emplace_back(chars.data() + offsets[i], offsets[i + 1] - offsets[i]);
    strings = std::move(out);
    chars.clear();
    chars.shrink_to_fit();
    offsets.clear();
    offsets.shrink_to_fit();
  }
}

void Column::StartPacked(size_t rows, size_t bytes) {
  strings.clear();
  chars.clear();
  chars.reserve(std::min(bytes, kMaxPackedChars));
  offsets.clear();
  offsets.reserve(rows + 1);
  offsets.push_back(0);
}

void Column::Reserve(size_t n) {
  if (UsesInts(type)) ints.reserve(n);
  else if (dict) codes.reserve(n);
  else if (UsesReals(type)) reals.reserve(n);
  else if (!offsets.empty()) offsets.reserve(n + 1);
  else strings.reserve(n);
}

void Column::AppendNull() {
  if (dict) Flatten();
  size_t n = stored();
  if (nulls.empty()) nulls.assign(n, 0);
  nulls.push_back(1);
  if (UsesInts(type)) {
    ints.push_back(0);
  } else if (UsesReals(type)) {
    reals.push_back(0.0);
  } else {
    AppendPacked(type == Type::kDynamic ? "null" : "");
  }
}

void Column::AppendInt(int64_t v) {
  ints.push_back(v);
  if (!nulls.empty()) nulls.push_back(0);
}

void Column::AppendReal(double v) {
  reals.push_back(v);
  if (!nulls.empty()) nulls.push_back(0);
}

void Column::AppendString(std::string v) {
  if (dict) Flatten();
  if (!offsets.empty()) AppendPacked(v);  // stays packed (flattened past kMaxPackedChars)
  else strings.push_back(std::move(v));
  if (!nulls.empty()) nulls.push_back(0);
}

void Column::AppendFrom(const Column& other, size_t row) {
  if (other.IsNull(row)) {
    AppendNull();
    return;
  }
  if (UsesInts(type)) AppendInt(other.Int(row));
  else if (UsesReals(type)) AppendReal(other.Real(row));
  else {
    if (dict) Flatten();
    if (!offsets.empty()) AppendPacked(other.Str(row));
    else strings.emplace_back(other.Str(row));
    if (!nulls.empty()) nulls.push_back(0);
  }
}

void Column::Materialize(size_t rows) {
  if (!constant) return;
  constant = false;
  if (!nulls.empty()) nulls.assign(rows, nulls[0]);
  if (UsesInts(type)) ints.assign(rows, ints.empty() ? 0 : ints[0]);
  else if (UsesReals(type)) reals.assign(rows, reals.empty() ? 0.0 : reals[0]);
  else if (dict) codes.assign(rows, codes.empty() ? 0 : codes[0]);
  else if (!offsets.empty()) {
    std::string v(offsets.size() > 1 ? Str(0) : std::string_view());
    Flatten();
    strings.assign(rows, v);
  } else {
    strings.assign(rows, strings.empty() ? std::string() : strings[0]);
  }
}

namespace {

// Without nulls: four independent accumulators (a max's latency, not its throughput, bounds a
// single chain) and the direction decided once per block.
template <class T, class Better>
void ReducePlain(const T* v, size_t rows, bool& any, T& out, bool& nan, Better better) {
  T acc[4] = {v[0], v[0], v[0], v[0]};
  bool has_nan = false;
  size_t r = 0;
  for (; r + 4 <= rows; r += 4) {
    for (size_t k = 0; k < 4; ++k) {
      T x = v[r + k];
      if constexpr (std::is_floating_point_v<T>) has_nan |= x != x;
      acc[k] = better(x, acc[k]) ? x : acc[k];
    }
  }
  for (; r < rows; ++r) {
    T x = v[r];
    if constexpr (std::is_floating_point_v<T>) has_nan |= x != x;
    acc[0] = better(x, acc[0]) ? x : acc[0];
  }
  T best = acc[0];
  for (size_t k = 1; k < 4; ++k) best = better(acc[k], best) ? acc[k] : best;
  // A NaN start value never loses a comparison: then the careful loop decides.
  if constexpr (std::is_floating_point_v<T>) {
    if (best != best) return;
  }
  any = true;
  out = best;
  nan = has_nan;
}

template <class T>
void Reduce(const std::vector<T>& v, const Column& c, size_t rows, bool largest, bool& any, T& out, bool& nan) {
  if (c.constant) rows = std::min<size_t>(rows, 1);
  rows = std::min(rows, v.size());
  bool nulls = c.HasNulls();
  if (!nulls && rows > 0) {
    any = false;
    if (largest) ReducePlain(v.data(), rows, any, out, nan, [](T a, T b) { return a > b; });
    else ReducePlain(v.data(), rows, any, out, nan, [](T a, T b) { return a < b; });
    if (any) return;
  }
  T best{};
  bool seen = false, has_nan = false;
  for (size_t r = 0; r < rows; ++r) {
    if (nulls && c.nulls[r] != 0) continue;
    T x = v[r];
    if constexpr (std::is_floating_point_v<T>) {
      if (x != x) {
        has_nan = true;
        continue;
      }
    }
    if (!seen || (largest ? x > best : x < best)) best = x;
    seen = true;
  }
  any = seen;
  out = best;
  nan = has_nan;
}

}  // namespace

Extreme ColumnExtreme(const Column& c, size_t rows, bool largest) {
  Extreme e;
  if (UsesInts(c.type)) Reduce(c.ints, c, rows, largest, e.any, e.i, e.nan);
  else if (UsesReals(c.type)) Reduce(c.reals, c, rows, largest, e.any, e.d, e.nan);
  return e;
}

int Table::Find(std::string_view column) const {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == column) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace cmk::kql
