// JSON records of a Logs Ingestion request to columns (simdjson's DOM parser: ~1 GB/s).
#include "engine/json_rows.h"

#include <simdjson.h>

#include <algorithm>
#include <cmath>

#include "base/time_format.h"

namespace cmk::engine {
namespace {

kql::Type StreamType(const std::string& t) {
  if (t == "boolean") return kql::Type::kBool;
  auto p = kql::ParseTypeName(t);
  return p ? *p : kql::Type::kString;
}


Status FieldError(size_t record, const std::string& field, const std::string& what) {
  return InvalidArgument("Record " + std::to_string(record) + ", field '" + field + "': " + what, "InvalidRecord");
}

// Appends one JSON value to a column of `type`.
Status AppendValue(BatchColumn& col, simdjson::dom::element v, size_t record, const std::string& field,
                   size_t max_field) {
  using simdjson::dom::element_type;
  if (v.is_null()) {
    col.AppendNull();
    return OkStatus();
  }
  switch (col.type) {
    case kql::Type::kString: {
      if (v.is_string()) {
        std::string_view s = v.get_string();
        col.AppendString(s.substr(0, max_field));
      } else {
        std::string s = simdjson::minify(v);
        col.AppendString(std::string_view(s).substr(0, max_field));
      }
      return OkStatus();
    }
    case kql::Type::kBool:
      if (!v.is_bool()) return FieldError(record, field, "expected a boolean");
      col.AppendInt(bool(v.get_bool()) ? 1 : 0);
      return OkStatus();
    case kql::Type::kInt:
    case kql::Type::kLong: {
      // A whole double within int64's range (2^63 is exact in a double; beyond it the cast
      // would be undefined).
      double d = v.is_double() ? double(v.get_double()) : 0.5;
      if (v.is_int64()) {
        col.AppendInt(int64_t(v.get_int64()));
      } else if (d >= -0x1p63 && d < 0x1p63 && std::trunc(d) == d) {
        col.AppendInt(static_cast<int64_t>(d));
      } else {
        return FieldError(record, field, "expected an integer");
      }
      return OkStatus();
    }
    case kql::Type::kReal:
    case kql::Type::kDecimal:
      if (v.is_int64()) col.AppendReal(static_cast<double>(int64_t(v.get_int64())));
      else if (v.is_uint64()) col.AppendReal(static_cast<double>(uint64_t(v.get_uint64())));
      else if (v.is_double()) col.AppendReal(double(v.get_double()));
      else return FieldError(record, field, "expected a number");
      return OkStatus();
    case kql::Type::kDateTime: {
      if (!v.is_string()) return FieldError(record, field, "expected an ISO 8601 date and time string");
      auto t = ParseRfc3339(std::string_view(v.get_string()));
      if (!t.ok()) return FieldError(record, field, "'" + std::string(std::string_view(v.get_string())) + "' is not an ISO 8601 date and time");
      col.AppendInt(Ticks(*t));
      return OkStatus();
    }
    case kql::Type::kTimespan:
    case kql::Type::kGuid:
    case kql::Type::kDynamic: {
      std::string s = simdjson::minify(v);
      if (s.size() > max_field) return FieldError(record, field, "the value is larger than 64 KB");
      col.AppendString(s);
      return OkStatus();
    }
  }
  return OkStatus();
}

constexpr size_t kSizingRecords = 64;

}  // namespace

Result<Batch> ParseRecords(std::string_view body, size_t spare, const std::vector<StreamColumn>& columns,
                           size_t max_field) {
  // One parser per thread, reused: a fresh parser allocates (and the kernel zero-fills) its
  // tape and string buffers for every request. Likewise the padded copy of the body that
  // simdjson needs when the body's own capacity leaves no room for its padding. They keep the
  // capacity of the largest request the thread has parsed (requests are at most 1 MiB).
  thread_local simdjson::dom::parser parser;
  thread_local std::string padded;
  static_assert(kJsonPadding >= simdjson::SIMDJSON_PADDING);
  const char* text = body.data();
  if (spare < simdjson::SIMDJSON_PADDING) {
    padded.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    padded.assign(body.data(), body.size());
    text = padded.data();
  }
  simdjson::dom::element doc;
  if (auto err = parser.parse(text, body.size(), false).get(doc); err) {
    return InvalidArgument(std::string("The request body is not valid JSON: ") + simdjson::error_message(err), "InvalidJson");
  }
  simdjson::dom::array records;
  if (doc.get_array().get(records)) return InvalidArgument("The request body must be a JSON array of objects.", "InvalidJson");
  Batch t;
  t.name = "source";
  for (const auto& c : columns) {
    BatchColumn col(StreamType(c.type));
    col.Reserve(records.size());
    t.AddColumn(c.name, std::move(col));
  }
  // One pass over each record's fields. Records of one stream nearly always list their fields
  // in the same order, so the column at the field's position is tried first; a key seen twice
  // keeps its first value (as a lookup by key would).
  size_t n = 0;
  std::vector<uint8_t> seen(columns.size());
  for (simdjson::dom::element rec : records) {
    simdjson::dom::object obj;
    if (rec.get_object().get(obj)) return InvalidArgument("Record " + std::to_string(n) + " is not a JSON object.", "InvalidRecord");
    std::fill(seen.begin(), seen.end(), 0);
    size_t pos = 0;
    for (simdjson::dom::key_value_pair field : obj) {
      size_t c = pos < columns.size() && columns[pos].name == field.key ? pos : columns.size();
      ++pos;
      for (size_t i = 0; c == columns.size() && i < columns.size(); ++i) {
        if (columns[i].name == field.key) c = i;
      }
      if (c == columns.size() || seen[c]) continue;
      seen[c] = 1;
      RETURN_IF_ERROR(AppendValue(t.columns[c], field.value, n, columns[c].name, max_field));
    }
    for (size_t c = 0; c < columns.size(); ++c) {
      if (!seen[c]) t.columns[c].AppendNull();
    }
    ++n;
    // Text buffers sized once from the first records (an eighth to spare) instead of doubling
    // from empty, which copied each column's text about once more.
    if (n == kSizingRecords && records.size() > 2 * kSizingRecords) {
      for (auto& col : t.columns) {
        if (!kql::UsesStrings(col.type)) continue;
        // A column's text can't outgrow the body it comes from.
        size_t estimate = col.bytes.size() / kSizingRecords * records.size() * 9 / 8 + 64;
        col.bytes.reserve(std::min(estimate, body.size()));
      }
    }
  }
  t.rows = n;
  return t;
}


}  // namespace cmk::engine
