#include "engine/batch.h"

#include <bit>
#include <cstring>
#include <limits>

#include "engine/codec.h"

namespace cmk::engine {
namespace {

// The batch layout seals the arrays as they are in memory: little-endian, as FORMAT.md says.
static_assert(std::endian::native == std::endian::little, "the WAL's batch layout assumes a little-endian host");

Status CorruptBatch(const std::string& what) { return DataLoss("corrupt WAL batch: " + what); }

template <typename T>
std::span<const uint8_t> ValueBytes(const std::vector<T>& v) {
  return {reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(T)};
}

// Copies `n` values of T from the front of `in` into `out`, advancing `in`.
template <typename T>
bool Take(std::span<const uint8_t>& in, size_t n, std::vector<T>& out) {
  if (n > in.size() / sizeof(T)) return false;
  out.resize(n);
  if (n > 0) std::memcpy(out.data(), in.data(), n * sizeof(T));
  in = in.subspan(n * sizeof(T));
  return true;
}

}  // namespace

void BatchColumn::Reserve(size_t rows) {
  if (kql::UsesInts(type)) ints.reserve(rows);
  else if (kql::UsesReals(type)) reals.reserve(rows);
  else ends.reserve(rows);
}

void BatchColumn::AppendNull() {
  size_t n = size();
  if (nulls.empty()) nulls.assign(n, 0);
  nulls.push_back(1);
  if (kql::UsesInts(type)) ints.push_back(0);
  else if (kql::UsesReals(type)) reals.push_back(0.0);
  else {
    if (type == kql::Type::kDynamic) bytes.append("null");
    ends.push_back(static_cast<uint32_t>(bytes.size()));
  }
}

void BatchColumn::AppendInt(int64_t v) {
  ints.push_back(v);
  if (!nulls.empty()) nulls.push_back(0);
}

void BatchColumn::AppendReal(double v) {
  reals.push_back(v);
  if (!nulls.empty()) nulls.push_back(0);
}

void BatchColumn::AppendString(std::string_view v) {
  bytes.append(v);
  ends.push_back(static_cast<uint32_t>(bytes.size()));
  if (!nulls.empty()) nulls.push_back(0);
}

void BatchColumn::SetNull(size_t r, bool null) {
  if (nulls.empty()) {
    if (!null) return;
    nulls.assign(size(), 0);
  }
  nulls[r] = null ? 1 : 0;
}

int Batch::Find(std::string_view column) const {
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == column) return static_cast<int>(i);
  }
  return -1;
}

Status Batch::Check() const {
  for (size_t i = 0; i < columns.size(); ++i) {
    const BatchColumn& c = columns[i];
    bool ok = c.size() == rows && (c.nulls.empty() || c.nulls.size() == rows);
    if (ok && kql::UsesStrings(c.type)) {
      uint32_t prev = 0;
      for (size_t r = 0; ok && r < c.ends.size(); ++r) {
        ok = c.ends[r] >= prev;
        prev = c.ends[r];
      }
      ok = ok && prev == c.bytes.size();
    }
    if (!ok) return InvalidArgument("column '" + names[i] + "' does not hold " + std::to_string(rows) + " well-formed values");
  }
  return OkStatus();
}

size_t Batch::MemoryBytes() const {
  size_t n = 0;
  for (const auto& c : columns) {
    n += c.nulls.size() + c.ints.size() * 8 + c.reals.size() * 8 + c.ends.size() * 4 + c.bytes.size();
  }
  return n;
}

BatchColumn ToBatchColumn(const kql::Column& c, size_t rows) {
  BatchColumn out(c.type);
  out.Reserve(rows);
  bool nulls = false;
  for (size_t r = 0; r < rows && !nulls; ++r) nulls = c.IsNull(r);
  if (nulls) {
    out.nulls.resize(rows);
    for (size_t r = 0; r < rows; ++r) out.nulls[r] = c.IsNull(r) ? 1 : 0;
  }
  if (kql::UsesInts(c.type)) {
    if (c.constant) out.ints.assign(rows, c.ints.empty() ? 0 : c.ints[0]);
    else out.ints.assign(c.ints.begin(), c.ints.begin() + static_cast<std::ptrdiff_t>(rows));
  } else if (kql::UsesReals(c.type)) {
    if (c.constant) out.reals.assign(rows, c.reals.empty() ? 0.0 : c.reals[0]);
    else out.reals.assign(c.reals.begin(), c.reals.begin() + static_cast<std::ptrdiff_t>(rows));
  } else {
    size_t total = 0;
    for (size_t r = 0; r < rows; ++r) total += c.Str(r).size();
    out.bytes.reserve(total);
    for (size_t r = 0; r < rows; ++r) {
      out.bytes.append(c.Str(r));
      out.ends.push_back(static_cast<uint32_t>(out.bytes.size()));
    }
  }
  return out;
}

kql::Column ToKqlColumn(const BatchColumn& c) {
  kql::Column out(c.type);
  out.nulls = c.nulls;
  if (kql::UsesInts(c.type)) {
    out.ints = c.ints;
  } else if (kql::UsesReals(c.type)) {
    out.reals = c.reals;
  } else {
    out.chars = c.bytes;  // ends are within uint32, as the batch's
    out.offsets.reserve(c.ends.size() + 1);
    out.offsets.push_back(0);
    out.offsets.insert(out.offsets.end(), c.ends.begin(), c.ends.end());
  }
  return out;
}

Status CheckBatchable(const kql::Table& t) {
  for (size_t i = 0; i < t.columns.size(); ++i) {
    const kql::Column& c = t.columns[i];
    size_t values = c.constant ? 1 : t.rows;
    bool ok = c.stored() == values && (c.nulls.empty() || c.nulls.size() == values);
    if (!ok && !(c.constant && t.rows == 0)) {  // an empty constant column has nothing to expand
      return InvalidArgument("column '" + t.names[i] + "' holds " + std::to_string(c.stored()) + " values for " +
                             std::to_string(t.rows) + " rows");
    }
    if (kql::UsesStrings(c.type)) {
      uint64_t total = 0;
      for (size_t r = 0; r < t.rows; ++r) total += c.Str(r).size();
      if (total > std::numeric_limits<uint32_t>::max()) {
        return InvalidArgument("column '" + t.names[i] + "' holds more than 4 GiB of text in one batch");
      }
    }
  }
  return OkStatus();
}

Result<Batch> Batch::FromTable(const kql::Table& t) {
  RETURN_IF_ERROR(CheckBatchable(t));
  Batch b;
  b.name = t.name;
  b.rows = t.rows;
  for (size_t i = 0; i < t.columns.size(); ++i)
    b.AddColumn(t.names[i], ToBatchColumn(t.columns[i], t.rows));
  return b;
}

kql::Table Batch::ToTable() const {
  kql::Table t;
  t.name = name;
  t.rows = rows;
  for (size_t i = 0; i < columns.size(); ++i) t.AddColumn(names[i], ToKqlColumn(columns[i]));
  return t;
}

// tag u8 (0x10), varint rows, varint columns, then per column: name (varint length + bytes),
// type u8, has_nulls u8, and for strings the size of their bytes (varint); then per column, in
// order: the null bytes (rows, when has_nulls), and the values: ints or reals as rows x 8 bytes,
// strings as rows x u32 end offsets followed by the bytes.
void BatchLayout(const Batch& b, std::vector<uint8_t>& header, std::vector<std::span<const uint8_t>>& parts) {
  header.clear();
  header.push_back(kBatchLayoutTag);
  PutVarint(header, b.rows);
  PutVarint(header, b.columns.size());
  for (size_t i = 0; i < b.columns.size(); ++i) {
    const BatchColumn& c = b.columns[i];
    PutString(header, b.names[i]);
    header.push_back(static_cast<uint8_t>(c.type));
    header.push_back(c.HasNulls() ? 1 : 0);
    if (kql::UsesStrings(c.type)) PutVarint(header, c.bytes.size());
  }
  parts.clear();
  parts.push_back(header);
  for (const BatchColumn& c : b.columns) {
    if (c.HasNulls()) parts.push_back(c.nulls);
    if (kql::UsesInts(c.type)) {
      parts.push_back(ValueBytes(c.ints));
    } else if (kql::UsesReals(c.type)) {
      parts.push_back(ValueBytes(c.reals));
    } else {
      parts.push_back(ValueBytes(c.ends));
      parts.push_back({reinterpret_cast<const uint8_t*>(c.bytes.data()), c.bytes.size()});
    }
  }
}

Result<Batch> ParseBatchLayout(std::span<const uint8_t> in) {
  if (in.empty() || in[0] != kBatchLayoutTag) return CorruptBatch("not a batch");
  in = in.subspan(1);
  uint64_t rows = 0, ncols = 0;
  if (!GetVarint(in, rows) || !GetVarint(in, ncols) || ncols > in.size() || (ncols == 0 && rows > 0)) {
    return CorruptBatch("header");
  }
  Batch b;
  b.rows = rows;
  std::vector<uint8_t> has_nulls;
  std::vector<uint64_t> text;
  for (uint64_t i = 0; i < ncols; ++i) {
    std::string name;
    if (!GetString(in, name) || in.size() < 2) return CorruptBatch("column header");
    uint8_t type = in[0];
    if (type > static_cast<uint8_t>(kql::Type::kDynamic)) return CorruptBatch("column type");
    has_nulls.push_back(in[1]);
    in = in.subspan(2);
    uint64_t size = 0;
    if (kql::UsesStrings(static_cast<kql::Type>(type)) && !GetVarint(in, size)) return CorruptBatch("column header");
    text.push_back(size);
    b.AddColumn(std::move(name), BatchColumn(static_cast<kql::Type>(type)));
  }
  for (size_t i = 0; i < b.columns.size(); ++i) {
    BatchColumn& c = b.columns[i];
    if (has_nulls[i] && !Take(in, rows, c.nulls)) return CorruptBatch("null bytes");
    bool ok = true;
    if (kql::UsesInts(c.type)) {
      ok = Take(in, rows, c.ints);
    } else if (kql::UsesReals(c.type)) {
      ok = Take(in, rows, c.reals);
    } else {
      ok = Take(in, rows, c.ends) && text[i] <= in.size();
      uint32_t prev = 0;
      for (size_t r = 0; ok && r < c.ends.size(); ++r) {
        ok = c.ends[r] >= prev && c.ends[r] <= text[i];
        prev = c.ends[r];
      }
      if (ok) ok = (rows == 0 ? 0 : c.ends.back()) == text[i];
      if (ok) {
        c.bytes.assign(reinterpret_cast<const char*>(in.data()), text[i]);
        in = in.subspan(text[i]);
      }
    }
    if (!ok) return CorruptBatch("column '" + b.names[i] + "'");
  }
  if (!in.empty()) return CorruptBatch("trailing bytes");
  return b;
}

}  // namespace cmk::engine
