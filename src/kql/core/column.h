#pragma once
// Columnar values shared by the KQL engine and the storage engine: a Column holds one typed
// vector and an optional null mask; a Table is named columns of equal length.
//
// Representation by type (Kusto's scalar types):
//   bool, int, long          -> ints (bool is 0/1; int holds 32-bit values)
//   datetime                 -> ints: 100-ns ticks since 1970-01-01T00:00:00Z (may be negative)
//   timespan                 -> ints: 100-ns ticks
//   real, decimal            -> reals (decimal is carried as a double; documented limitation)
//   string, guid             -> strings (guid in lower-case 8-4-4-4-12 form)
//   dynamic                  -> strings holding compact JSON text ("null" for a null dynamic)
// Nulls: `nulls` is empty when no value is null, else one byte per row (1 = null). Strings are
// never null in Kusto (the empty string plays that role), so string columns keep `nulls` empty.
// A column may be `constant`: one stored value standing for every row (literals broadcast
// without copies); use At()/IsNull() with the row index and the column maps it.
// A string column may be dictionary-coded (`coded()`, as read from an extent's dictionary
// block): `codes` index the shared, immutable `dict` and `strings` is empty. Str() reads through
// the dictionary, Gather keeps it, and the evaluator runs a one-column function once per
// dictionary entry instead of once per row. Code that writes strings in place calls Flatten()
// first (the Append* functions do). Codes are 16-bit (a dictionary holds at most kMaxDictEntries
// strings: an extent's dictionary blocks hold at most half their rows, and a larger dictionary
// is read as plain strings), so cached coded columns cost 2 bytes a row.
// A string column may be packed (`packed()`, as decoded from an extent's plain string block):
// `chars` holds the values end to end and value i is chars[offsets[i], offsets[i + 1]), so a
// decoded block is two allocations instead of one per value, and a value costs its bytes plus 4
// (a std::string costs 32 plus, past 15 bytes, its heap block). Str() reads it; Gather keeps it;
// code that writes strings in place calls Flatten() first, as for coded columns. Building one
// (AppendPacked) falls back to plain strings past kMaxPackedChars bytes.
// Thread safety: plain values; const access is safe from several threads.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cmk::kql {

using Code = uint16_t;
inline constexpr size_t kMaxDictEntries = size_t{1} << 16;
inline constexpr size_t kMaxPackedChars = UINT32_MAX;

enum class Type : uint8_t { kBool, kInt, kLong, kReal, kDecimal, kString, kDateTime, kTimespan, kGuid, kDynamic };

inline constexpr int64_t kTicksPerSecond = 10'000'000;
inline constexpr int64_t kTicksPerDay = 86'400 * kTicksPerSecond;

// The query API's type names: bool, int, long, real, decimal, string, datetime, timespan, guid, dynamic.
const char* TypeName(Type t);
// Accepts the KQL names and their aliases (boolean, date, time, double, int32, int64, uniqueid, ...).
std::optional<Type> ParseTypeName(std::string_view name);
inline bool IsIntegral(Type t) { return t == Type::kBool || t == Type::kInt || t == Type::kLong; }
inline bool IsNumeric(Type t) { return t == Type::kInt || t == Type::kLong || t == Type::kReal || t == Type::kDecimal; }
inline bool UsesInts(Type t) {
  return t == Type::kBool || t == Type::kInt || t == Type::kLong || t == Type::kDateTime || t == Type::kTimespan;
}
inline bool UsesReals(Type t) { return t == Type::kReal || t == Type::kDecimal; }
inline bool UsesStrings(Type t) { return t == Type::kString || t == Type::kGuid || t == Type::kDynamic; }

struct Column {
  Type type = Type::kString;
  bool constant = false;
  std::vector<int64_t> ints;
  std::vector<double> reals;
  std::vector<std::string> strings;
  std::vector<uint8_t> nulls;
  std::shared_ptr<const std::vector<std::string>> dict;  // coded strings: see above
  std::vector<Code> codes;
  std::string chars;               // packed strings: see above
  std::vector<uint32_t> offsets;   // packed: stored() + 1 entries, the first 0

  Column() = default;
  explicit Column(Type t) : type(t) {}

  // Stored values (1 for a constant column).
  size_t stored() const {
    return UsesInts(type)    ? ints.size()
           : UsesReals(type) ? reals.size()
           : dict            ? codes.size()
           : packed()        ? offsets.size() - 1
                             : strings.size();
  }
  bool coded() const { return dict != nullptr; }
  bool packed() const { return !offsets.empty(); }
  size_t Index(size_t row) const { return constant ? 0 : row; }
  bool IsNull(size_t row) const { return !nulls.empty() && nulls[Index(row)] != 0; }
  bool HasNulls() const { return !nulls.empty(); }
  int64_t Int(size_t row) const { return ints[Index(row)]; }
  double Real(size_t row) const { return reals[Index(row)]; }
  std::string_view Str(size_t row) const {
    size_t i = Index(row);
    if (dict) return (*dict)[codes[i]];
    if (!offsets.empty()) return std::string_view(chars.data() + offsets[i], offsets[i + 1] - offsets[i]);
    return strings[i];
  }
  // A coded or packed column becomes a plain one (its strings copied out).
  void Flatten();
  // Makes an empty column packed, with room for `rows` values of `bytes` in all.
  void StartPacked(size_t rows, size_t bytes);
  // Appends a value to a packed (or plain) column, leaving `nulls` to the caller; a packed
  // column that would pass kMaxPackedChars becomes plain first.
  void AppendPacked(std::string_view v) {
    if (!offsets.empty() && chars.size() + v.size() <= kMaxPackedChars) {
      chars.append(v);
      offsets.push_back(static_cast<uint32_t>(chars.size()));
    } else {
      Flatten();
      strings.emplace_back(v);
    }
  }

  void Reserve(size_t n);
  // Appends a null (0, NaN-free 0.0 or "" as the placeholder value; dynamic gets "null").
  void AppendNull();
  void AppendInt(int64_t v);
  void AppendReal(double v);
  void AppendString(std::string v);
  // Appends row `row` of `other` (same type).
  void AppendFrom(const Column& other, size_t row);
  // Turns a constant column into a plain one of `rows` values.
  void Materialize(size_t rows);

  static Column Constant(Type t) {
    Column c(t);
    c.constant = true;
    return c;
  }
};

// The largest (or smallest) non-null value among the first `rows` rows of an int-like or real
// column (`any` false when every one is null), and whether a real value is NaN (NaN is not an
// extreme). A tight loop where there are no nulls: scans use it to pass over blocks.
struct Extreme {
  bool any = false;
  bool nan = false;
  int64_t i = 0;
  double d = 0;
};
Extreme ColumnExtreme(const Column& c, size_t rows, bool largest);

struct Table {
  std::string name;
  std::vector<std::string> names;
  std::vector<Column> columns;
  size_t rows = 0;

  // Index of the column called `name` (case-sensitive), or -1.
  int Find(std::string_view column) const;
  void AddColumn(std::string column, Column values) {
    names.push_back(std::move(column));
    columns.push_back(std::move(values));
  }
};

}  // namespace cmk::kql
