#pragma once
// Column helpers shared by the executor and the aggregates, and the vectorized evaluator of bound
// expressions (plan.h) over one chunk of rows.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/time_format.h"
#include "kql/core/budget.h"
#include "kql/core/chunk.h"
#include "kql/core/column.h"
#include "kql/semantic/plan.h"

namespace cmk::kql {

// A column borrowed from the chunk (column references) or owned (computed values).
class ColumnValue {
 public:
  explicit ColumnValue(const Column* borrowed) : borrowed_(borrowed) {}
  explicit ColumnValue(Column owned) : owned_(std::move(owned)) {}
  const Column& get() const { return borrowed_ != nullptr ? *borrowed_ : owned_; }
  // The value as an owned column (copies a borrowed one).
  Column Take() && { return borrowed_ != nullptr ? *borrowed_ : std::move(owned_); }

 private:
  const Column* borrowed_ = nullptr;
  Column owned_;
};

// Evaluates `e` over `chunk` (ctx.rows must equal chunk.rows). Errors come from functions.
// Column references borrow the chunk's column (no copy).
Result<ColumnValue> Eval(const BoundExpr& e, const Chunk& chunk, const FunctionContext& ctx);

// A predicate of the form fn(column, constants...) whose column is dictionary-coded (Eval runs
// such a call once per dictionary entry): whether it holds for each entry, and the column, whose
// codes then select the rows without a value per row. nullopt for any other predicate.
struct EntryTruth {
  size_t column = 0;           // the coded column's index in the chunk
  std::vector<uint8_t> holds;  // per dictionary entry
};
Result<std::optional<EntryTruth>> EvalPerEntryTruth(const BoundExpr& e, const Chunk& chunk, const FunctionContext& ctx);
// Evaluates a constant expression (no column references) to a constant column.
// `budget` (may be null) bounds the memory of string results, as in Eval.
Result<Column> EvalConstant(const BoundExpr& e, TimePoint now, QueryBudget* budget = nullptr);

// ---- Column helpers.
// A null of type t (an empty string for string: Kusto strings are never null).
Column NullConstant(Type t);
// Clears the null mask of a string column (its placeholders are already empty strings).
void DropStringNulls(Column& c);
// Dynamic literal text with 'single quoted' strings turned into JSON strings.
std::string NormalizeDynamicText(std::string_view text);
Column IntConstant(Type t, int64_t v);
Column RealConstant(double v);
Column StringConstant(Type t, std::string v);
// Appends the first `rows` rows of `src` (constant or not) to `dst` (same storage type).
void AppendRows(Column& dst, const Column& src, size_t rows);
// Rows `idx` of `src`, as a plain column.
Column Gather(const Column& src, const std::vector<uint32_t>& idx);
Column Gather(const Column& src, const std::vector<Code>& idx);  // by a coded column's codes
Column Gather(const Column& src, std::span<const uint32_t> idx);
Table GatherTable(const Table& src, const std::vector<uint32_t>& idx);
Table GatherTable(const Chunk& src, const std::vector<uint32_t>& idx);
// Rows `idx` of every column of `src`, as owned columns (constants stay constant).
Chunk GatherChunk(const Chunk& src, const std::vector<uint32_t>& idx);
// Appends `src` to `dst` column by column (same schema); dst empty -> taken (moved when owned).
// With `keep_constants`, a column that is the same constant in every chunk appended stays one
// (a column no one reads, null in every chunk, costs nothing however many rows are held): the
// table is then read through Column's accessors or gathered, never by its vectors.
void AppendTable(Table& dst, Chunk&& src, bool keep_constants = false);
// An empty table with the columns of `schema`.
Table EmptyTable(const Schema& schema);
// Whether the bool column holds true at `row` (null is false).
inline bool IsTrue(const Column& c, size_t row) { return !c.IsNull(row) && c.Int(row) != 0; }

// ---- Values as text.
// FormatTimespan (timespans as text) is cmk::FormatTimespan in base/time_format.h.
std::string FormatDatetime(int64_t ticks);           // 2024-01-01T00:00:00.0000000Z
std::string FormatReal(double v);
// The value at `row` as JSON text (for dynamic arrays and bags): numbers, true/false, strings
// quoted, datetimes and timespans as strings, dynamic verbatim, null as null.
std::string ValueToJson(const Column& c, size_t row);
// ValueToJson's text appended to `out`, without a temporary string for numbers or text.
void AppendValueJson(const Column& c, size_t row, std::string& out);
// The value at `row` as text for search/parse (strings verbatim, dynamic as JSON).
std::string ValueToText(const Column& c, size_t row);
// Appends `text` converted to dst's type (null when it doesn't convert): parse, mv-expand.
void AppendConverted(Column& dst, std::string_view text, bool text_is_json);
std::optional<int64_t> ParseDatetimeTicks(std::string_view text);

// ---- Keys and ordering.
// Appends a self-delimiting binary encoding of the value at `row` (equal values, equal bytes).
void EncodeKey(const Column& c, size_t row, std::string& out);
// EncodeKey of a non-null string value `s` (a dictionary entry of a coded column).
void EncodeStringKey(std::string_view s, std::string& out);
// Three-way comparison of two non-null values of the same type.
int CompareValues(const Column& a, size_t i, const Column& b, size_t j);

}  // namespace cmk::kql
