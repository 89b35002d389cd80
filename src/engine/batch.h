#pragma once
// Batch: rows of one table as the storage engine keeps them between ingestion and a flush.
//
// The memtable's form. Like kql::Table, but a string column keeps its values in one buffer
// with their end offsets instead of one std::string each: a parsed request is a handful of
// allocations instead of one or two per row, the rows take ~30% less memory, the flush thread
// frees a few buffers instead of every value, and the WAL record is sealed straight from the
// columns' buffers (the "batch layout", docs/FORMAT.md "WAL record") with no encoding pass.
// Queries read memtable rows as kql::Table (ToTable, once per batch).
// Thread safety: plain values; const access is safe from several threads.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "kql/core/column.h"

namespace cmk::engine {

struct BatchColumn {
  kql::Type type = kql::Type::kString;
  std::vector<uint8_t> nulls;    // one byte per row, 1 = null; empty when no value is null
  std::vector<int64_t> ints;     // bool, int, long, datetime, timespan
  std::vector<double> reals;     // real, decimal
  std::vector<uint32_t> ends;    // string, guid, dynamic: value r is bytes[ends[r-1], ends[r])
  std::string bytes;

  BatchColumn() = default;
  explicit BatchColumn(kql::Type t) : type(t) {}

  size_t size() const { return kql::UsesInts(type) ? ints.size() : kql::UsesReals(type) ? reals.size() : ends.size(); }
  bool HasNulls() const { return !nulls.empty(); }
  bool IsNull(size_t r) const { return !nulls.empty() && nulls[r] != 0; }
  int64_t Int(size_t r) const { return ints[r]; }
  double Real(size_t r) const { return reals[r]; }
  std::string_view Str(size_t r) const {
    uint32_t b = r == 0 ? 0 : ends[r - 1];
    return std::string_view(bytes.data() + b, ends[r] - b);
  }

  void Reserve(size_t rows);
  // As kql::Column: a null is 0, 0.0, "" or (dynamic) "null" with the null byte set.
  void AppendNull();
  void AppendInt(int64_t v);
  void AppendReal(double v);
  void AppendString(std::string_view v);
  // Marks row `r` (already appended) null / not null.
  void SetNull(size_t r, bool null);
};

struct Batch {
  std::string name;
  std::vector<std::string> names;
  std::vector<BatchColumn> columns;
  size_t rows = 0;

  int Find(std::string_view column) const;
  void AddColumn(std::string column, BatchColumn values) {
    names.push_back(std::move(column));
    columns.push_back(std::move(values));
  }
  // Bytes of memory the rows take (for flush sizing and the decoded cache).
  size_t MemoryBytes() const;
  // InvalidArgument unless every column holds `rows` values (and null bytes, when any) and
  // string columns' end offsets rise to exactly their text's size (so no offset wrapped).
  Status Check() const;

  // Constant columns are expanded. InvalidArgument when a string column exceeds 4 GiB.
  static Result<Batch> FromTable(const kql::Table& t);
  kql::Table ToTable() const;
};

// OK when every column of `t` holds a value per row (or is constant) and no string column holds
// more than 4 GiB of text (a batch's offsets are 32-bit); InvalidArgument naming the column else.
Status CheckBatchable(const kql::Table& t);
BatchColumn ToBatchColumn(const kql::Column& c, size_t rows);
kql::Column ToKqlColumn(const BatchColumn& c);

// The batch layout of a WAL record's payload (docs/FORMAT.md "WAL record"): a header naming the columns,
// their types and sizes, then each column's arrays as they are in memory (little-endian). The
// header goes to `header`; `parts` gets the header and the arrays in order, to be sealed
// together without copying them into one buffer.
void BatchLayout(const Batch& b, std::vector<uint8_t>& header, std::vector<std::span<const uint8_t>>& parts);
// The first byte of the batch layout; older records start with a codec byte (0, 1 or 2).
inline constexpr uint8_t kBatchLayoutTag = 0x10;
// Parses a payload written by BatchLayout (DataLoss when it is malformed).
Result<Batch> ParseBatchLayout(std::span<const uint8_t> in);

}  // namespace cmk::engine
