#pragma once
// Private helpers shared by the function family files of kql/functions/ (not part of the
// engine's contract; include functions.h instead). Each family registers its functions into a
// Registry that registry.cc builds once, on first lookup.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kql/core/column.h"
#include "kql/functions/functions.h"

namespace cmk::kql::fn {

using Args = std::span<const Column* const>;
using Types = std::span<const Type>;

struct Registry {
  std::vector<ScalarFunction> functions;
  std::vector<ScalarFunction> operators;
  void Function(ScalarFunction f) { functions.push_back(std::move(f)); }
  void Operator(ScalarFunction f) { operators.push_back(std::move(f)); }
};

void RegisterArithmetic(Registry& r);    // arithmetic.cc: + - * / % neg
void RegisterComparisons(Registry& r);   // comparison.cc: == != < <= > >=, between, !between
void RegisterLogic(Registry& r);         // logical.cc: and, or, not
void RegisterStringOps(Registry& r);     // string_operators.cc: has, contains, =~, matches regex, ...
void RegisterInOps(Registry& r);         // in_operators.cc: in, !in, in~, has_any, has_all
void RegisterStrings(Registry& r);       // string.cc: strlen, substring, split, ...
void RegisterRegex(Registry& r);         // regex.cc: extract, replace_regex, trim, ...
void RegisterConversions(Registry& r);   // conversion.cc: tostring, tolong, todatetime, ...
void RegisterConditionals(Registry& r);  // conditional.cc: iff, case, coalesce, isnull, isempty
void RegisterDateTime(Registry& r);      // datetime.cc: bin, startofday, ...
void RegisterFormat(Registry& r);        // datetime_format.cc: format_datetime, format_timespan
void RegisterMath(Registry& r);          // math.cc: abs, round, log, pow, ...
void RegisterDynamic(Registry& r);       // dynamic.cc: pack, bag_keys, __member, ...
void RegisterHash(Registry& r);          // hash.cc: hash_sha256, hash_md5, hash, ...
void RegisterEncoding(Registry& r);      // encoding.cc: base64_*, tohex, gzip_*, zlib_*
void RegisterUrl(Registry& r);  // url.cc: url_encode, url_decode, parse_url, parse_urlquery
void RegisterExtractJson(Registry& r);   // extract_json.cc: extract_json, extractjson
void RegisterPunycode(Registry& r);      // punycode.cc: punycode_from_string, ...
void RegisterIp(Registry& r);            // ip.cc: parse_ipv4, ipv4_is_in_range, has_ipv4, ...
void RegisterSeries(Registry& r);         // series.cc: series_fit_line, series_stats, ...
void RegisterArrays(Registry& r);         // arrays.cc: array_*, set_*, zip, range, ...
void RegisterGeo(Registry& r);            // geo.cc: geo_* (S2, GEOS, GeographicLib)
void RegisterMisc(Registry& r);           // misc.cc: parse_user_agent, parse_xml, ...

// --- Type checking ---------------------------------------------------------------------------
// kInvalidArgument / "SemanticError": "<fn>: argument <i+1> has type <t>, expected <what>".
Status ArgTypeError(std::string_view fn, size_t arg, Type got, std::string_view expected);
// Numeric promotion int -> long -> (decimal) -> real; bool is not numeric.
Type PromoteNumeric(Type a, Type b);
// A type both values convert to for comparison/iff/coalesce, or nullopt when none.
std::optional<Type> CommonType(Type a, Type b);
// Helper to build a result_type callback that always answers `t`.
inline auto Returns(Type t) {
  return [t](Types) -> Result<Type> { return t; };
}

// --- Output shaping --------------------------------------------------------------------------
struct Shape {
  size_t rows = 0;        // number of values to produce (1 when constant)
  bool constant = false;  // every argument is constant
};
Shape ShapeOf(Args args, const FunctionContext& ctx);
// A column of `s.rows` default values (0, 0.0, "" or "null" for dynamic) and no nulls.
Column MakeColumn(Type t, Shape s);
// Marks value `i` null (allocates the mask lazily) and resets it to the placeholder.
void SetNull(Column& c, size_t i);
// A column of type `t` over the rows the arguments span, each value written by f(out, row).
template <typename F>
Result<Column> MapRows(Args a, const FunctionContext& ctx, Type t, F f) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(t, s);
  for (size_t i = 0; i < s.rows; ++i) f(out, i);
  return out;
}
// True when any argument is null at `row`.
bool AnyNull(Args args, size_t row);
// A constant column holding one value.
Column ConstantNull(Type t);

// Numeric value of an int-, real- or bool-backed column.
inline double NumAt(const Column& c, size_t row) {
  return UsesReals(c.type) ? c.Real(row) : static_cast<double>(c.Int(row));
}

// --- Text and time ---------------------------------------------------------------------------
inline char LowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c; }
inline char UpperAscii(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }
inline bool IsAlnumAscii(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
std::string LowerAsciiCopy(std::string_view s);
// Searches of a needle given by the query or the rows, in time linear in the text whatever the
// two hold (string_view::find compares the needle at each candidate: text times needle for
// texts made for it). FindText: the first occurrence at or after `from`, or npos (memmem: the
// two-way algorithm for long needles). CountOverlapping: every occurrence, overlapping ones
// too (Knuth-Morris-Pratt); 0 for an empty needle. Both case-sensitive (string_operators.cc).
size_t FindText(std::string_view hay, std::string_view needle, size_t from = 0);
size_t CountOverlapping(std::string_view hay, std::string_view needle);
bool EqualsNoCase(std::string_view a, std::string_view b);

// tostring() of one value: datetime ISO 8601 with 7 fractional digits, timespan
// [-][d.]hh:mm:ss[.fffffff], real in shortest round-trip form, dynamic strings unquoted, other
// dynamics as JSON; null -> "".
std::string ValueToString(const Column& c, size_t row);
// Row i of `c` as text: strings and guids as stored, other types as tostring() writes them
// (into `scratch`, which the result may point into).
inline std::string_view TextOf(const Column& c, size_t i, std::string& scratch) {
  if (c.type == Type::kString || c.type == Type::kGuid) return c.Str(i);
  scratch = ValueToString(c, i);
  return scratch;
}
std::string FormatDateTime(int64_t ticks);
std::string FormatReal(double v);
// Lenient parsers used by todatetime/totimespan and comparisons with strings.
std::optional<int64_t> ParseDateTime(std::string_view s);
std::optional<int64_t> ParseTimespan(std::string_view s);
std::optional<int64_t> ParseLong(std::string_view s);
std::optional<double> ParseReal(std::string_view s);
std::optional<bool> ParseBool(std::string_view s);
std::optional<std::string> ParseGuid(std::string_view s);  // lower-case canonical form

// Converts a column to `to` with to<type>() semantics (unconvertible values become null).
Column Convert(const Column& c, Type to, const FunctionContext& ctx);
// `c` itself when it already has type `to`, else its conversion kept in `storage`.
inline const Column* CoerceTo(const Column* c, Type to, Column& storage, const FunctionContext& ctx) {
  if (c->type == to) return c;
  storage = Convert(*c, to, ctx);
  return &storage;
}
// out[i] = src[row] (value or null); same storage kind.
void CopyValue(Column& out, size_t i, const Column& src, size_t row);

// Civil calendar over ticks (proleptic Gregorian, negative ticks allowed).
struct Civil {
  int64_t year = 1970;
  unsigned month = 1, day = 1;
  int64_t time_of_day = 0;  // ticks since midnight
};
Civil ToCivil(int64_t ticks);
int64_t FromCivil(int64_t year, unsigned month, unsigned day);  // ticks at midnight
inline int64_t FloorDiv(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

}  // namespace cmk::kql::fn
