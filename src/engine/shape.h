#pragma once
// Row shaping: rows mapped onto a table's schema — its columns in order, matched by name
// (case-sensitive), a missing column read as nulls, columns the schema lacks dropped. The one
// routine behind ingestion (parsed or transformed rows as the destination table), queries
// (stored chunks as the table's schema today) and extent building (which chunk column feeds
// which block; BuildExtent reads the chunks in place through PlanShape).
//
// A column present under another type is converted (`convert`, ingestion: long -> real,
// real -> long truncated toward zero or null out of range, numbers -> their text; anything else
// null) or read as nulls (stored rows: a column retyped since is not reinterpreted).
// Thread safety: reentrant; the inputs are only read (except a Batch passed as an rvalue).
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "engine/batch.h"
#include "kql/engine.h"

namespace cmk::engine {

struct ShapeOptions {
  // The schema's columns to produce, in the schema's order; empty: all of them.
  std::span<const std::string> only;
  // A column of another type: converted (true) or nulls (false).
  bool convert = false;
  // Ingestion: null TimeGenerated values (of an integer-backed type) become `now` (ticks), and
  // a string Type column's empty values become `table`, which also names the rows.
  std::optional<int64_t> now;
  std::string table;
  // Queries: only the rows whose TimeGenerated is not null and in [min_time, end_time) (each
  // bound optional; none: every row).
  std::optional<int64_t> min_time, end_time;
  // Queries whose rows are only counted (kql::ScanRequest::rows_only: nothing reads a value):
  // every column is one constant null (kql::Column::Constant), and the rows inside the time
  // bounds are counted, not gathered. A row group counted from its footer has no column
  // (`sample`'s count of 10M rows built 10M nulls), and `where TimeGenerated > X | count` over
  // groups of random times gathered each one's rows inside X to count them.
  bool counted = false;
};

struct ShapedColumn {
  enum class Source : uint8_t { kSame, kConvert, kNull };
  const kql::ColumnSchema* schema = nullptr;
  int input = -1;  // the input column (kSame, kConvert), or -1
  Source source = Source::kNull;
};

struct ShapePlan {
  std::vector<ShapedColumn> columns;  // the output's, in order
  bool same = true;      // the input holds exactly these columns, in order, with these types
  bool superset = true;  // every output column is in the input with its type
};

// How `rows` (a Batch or a kql::Table) map onto `schema` under `options` (rows not considered).
template <class Rows>
ShapePlan PlanShape(const Rows& rows, const kql::Schema& schema, const ShapeOptions& options);

// Ingestion: `rows` as a batch of `schema`. The rvalue form moves the columns that fit.
Batch ShapeRows(const Batch& rows, const kql::Schema& schema, const ShapeOptions& options);
Batch ShapeRows(Batch&& rows, const kql::Schema& schema, const ShapeOptions& options);
// Ingestion after a transform: straight from the KQL table (no intermediate Batch).
// InvalidArgument when a column does not hold a value per row, or a string column holds more
// than 4 GiB of text (a batch's offsets are 32-bit).
Result<Batch> ShapeRows(const kql::Table& rows, const kql::Schema& schema,
                        const ShapeOptions& options);
// Queries: `rows` itself when every row is kept and it already has the columns (or, with
// `only`, a superset of them with their types): chunks are handed out without copies.
std::shared_ptr<const kql::Table> ShapeRows(const std::shared_ptr<const kql::Table>& rows,
                                            const kql::Schema& schema, const ShapeOptions& options);

}  // namespace cmk::engine
