// Logs Ingestion API: POST /dataCollectionRules/{immutableId}/streams/{stream}.
#include <simdjson.h>
#include <zlib.h>

#include <boost/json.hpp>

#include "base/encoding.h"
#include "base/time_format.h"
#include "kql/engine.h"
#include "server/data_plane.h"

namespace cmk::server {
namespace {

namespace bj = boost::json;

void Error(HttpResponse& res, int status, const std::string& code, const std::string& message) {
  res.SetHeader("x-ms-error-code", code);
  res.SetJson(status, bj::serialize(bj::object{{"error", bj::object{{"code", code}, {"message", message}}}}));
}

// Inflates a gzip body, refusing more than `limit` bytes of output.
Result<std::string> Gunzip(std::string_view in, size_t limit) {
  z_stream z{};
  if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) return Internal("inflateInit2 failed");
  std::string out;
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  char buf[64 * 1024];
  while (rc != Z_STREAM_END) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof(buf);
    rc = inflate(&z, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&z);
      return InvalidArgument("The request body is not valid gzip data.", "InvalidContentEncoding");
    }
    out.append(buf, sizeof(buf) - z.avail_out);
    if (out.size() > limit) {
      inflateEnd(&z);
      return Status(StatusCode::kResourceExhausted,
                    "Maximum allowed content length: " + std::to_string(limit) + " bytes (1 MB).",
                    "ContentLengthLimitExceeded");
    }
    if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
      inflateEnd(&z);
      return InvalidArgument("The gzip body is truncated.", "InvalidContentEncoding");
    }
  }
  inflateEnd(&z);
  return out;
}

kql::Type StreamType(const std::string& t) {
  if (t == "boolean") return kql::Type::kBool;
  auto p = kql::ParseTypeName(t);
  return p ? *p : kql::Type::kString;
}

int64_t Ticks(TimePoint t) { return t.time_since_epoch().count() / 100; }

Status FieldError(size_t record, const std::string& field, const std::string& what) {
  return InvalidArgument("Record " + std::to_string(record) + ", field '" + field + "': " + what, "InvalidRecord");
}

// Appends one JSON value to a column of `type`.
Status AppendValue(kql::Column& col, simdjson::dom::element v, size_t record, const std::string& field,
                   size_t max_field) {
  using simdjson::dom::element_type;
  if (v.is_null()) {
    col.AppendNull();
    return OkStatus();
  }
  switch (col.type) {
    case kql::Type::kString: {
      std::string s;
      if (v.is_string()) s = std::string(std::string_view(v.get_string()));
      else s = simdjson::minify(v);
      if (s.size() > max_field) s.resize(max_field);
      col.AppendString(std::move(s));
      return OkStatus();
    }
    case kql::Type::kBool:
      if (!v.is_bool()) return FieldError(record, field, "expected a boolean");
      col.AppendInt(bool(v.get_bool()) ? 1 : 0);
      return OkStatus();
    case kql::Type::kInt:
    case kql::Type::kLong: {
      if (v.is_int64()) {
        col.AppendInt(int64_t(v.get_int64()));
      } else if (v.is_double() && double(v.get_double()) == static_cast<double>(static_cast<int64_t>(double(v.get_double())))) {
        col.AppendInt(static_cast<int64_t>(double(v.get_double())));
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
      col.AppendString(std::move(s));
      return OkStatus();
    }
  }
  return OkStatus();
}

// The records of a JSON array body as a table with the stream's declared columns.
Result<kql::Table> ParseRecords(const std::string& body, const std::vector<control::DcrColumn>& columns,
                                size_t max_field) {
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (auto err = parser.parse(body).get(doc); err) {
    return InvalidArgument(std::string("The request body is not valid JSON: ") + simdjson::error_message(err), "InvalidJson");
  }
  simdjson::dom::array records;
  if (doc.get_array().get(records)) return InvalidArgument("The request body must be a JSON array of objects.", "InvalidJson");
  kql::Table t;
  t.name = "source";
  for (const auto& c : columns) t.AddColumn(c.name, kql::Column(StreamType(c.type)));
  size_t n = 0;
  for (simdjson::dom::element rec : records) {
    simdjson::dom::object obj;
    if (rec.get_object().get(obj)) return InvalidArgument("Record " + std::to_string(n) + " is not a JSON object.", "InvalidRecord");
    for (size_t c = 0; c < columns.size(); ++c) {
      simdjson::dom::element v;
      if (obj.at_key(columns[c].name).get(v)) {
        t.columns[c].AppendNull();
        continue;
      }
      RETURN_IF_ERROR(AppendValue(t.columns[c], v, n, columns[c].name, max_field));
    }
    ++n;
  }
  t.rows = n;
  return t;
}

// Converts one column to `type` (the destination table's), row by row.
kql::Column Convert(const kql::Column& in, kql::Type type, size_t rows) {
  if (in.type == type) {
    kql::Column c = in;
    c.Materialize(rows);
    return c;
  }
  kql::Column out(type);
  out.Reserve(rows);
  for (size_t r = 0; r < rows; ++r) {
    if (in.IsNull(r)) {
      out.AppendNull();
    } else if (kql::UsesStrings(type)) {
      if (kql::UsesStrings(in.type)) out.AppendString(in.Str(r));
      else if (kql::UsesReals(in.type)) out.AppendString(std::to_string(in.Real(r)));
      else out.AppendString(std::to_string(in.Int(r)));
    } else if (kql::UsesReals(type) && kql::UsesInts(in.type)) {
      out.AppendReal(static_cast<double>(in.Int(r)));
    } else if (kql::UsesInts(type) && kql::UsesReals(in.type)) {
      out.AppendInt(static_cast<int64_t>(in.Real(r)));
    } else if (kql::UsesInts(type) && kql::UsesInts(in.type)) {
      out.AppendInt(in.Int(r));
    } else {
      out.AppendNull();
    }
  }
  return out;
}

// Shapes transformed rows as the destination table: its columns in order, missing ones null,
// TimeGenerated defaulting to the time of ingestion.
kql::Table ToTable(const kql::Table& rows, const engine::TableInfo& table, int64_t now) {
  kql::Table out;
  out.name = table.name;
  out.rows = rows.rows;
  for (const auto& c : table.schema) {
    int i = rows.Find(c.name);
    kql::Column col = i >= 0 ? Convert(rows.columns[i], c.type, rows.rows) : kql::Column(c.type);
    if (i < 0) {
      for (size_t r = 0; r < rows.rows; ++r) col.AppendNull();
    }
    if (c.name == "TimeGenerated") {
      for (size_t r = 0; r < rows.rows; ++r) {
        if (col.IsNull(r)) {
          col.nulls[r] = 0;
          col.ints[r] = now;
        }
      }
    }
    if (c.name == "Type" && c.type == kql::Type::kString) {
      for (size_t r = 0; r < rows.rows; ++r) {
        if (col.strings[r].empty()) col.strings[r] = table.name;
      }
    }
    out.AddColumn(c.name, std::move(col));
  }
  return out;
}

std::string TableOf(const std::string& output_stream) {
  for (std::string_view p : {"Custom-", "Microsoft-"}) {
    if (StartsWithIgnoreCase(output_stream, p)) return output_stream.substr(p.size());
  }
  return output_stream;
}

}  // namespace

bool IngestionApi::Admit(const std::string& rule, size_t bytes, HttpResponse& res) {
  int64_t minute = std::chrono::duration_cast<std::chrono::minutes>(d_.env.clock->Now().time_since_epoch()).count();
  std::lock_guard<std::mutex> l(mu_);
  Window& w = windows_[rule];
  if (w.minute != minute) w = Window{minute, 0, 0};
  if (w.requests + 1 > limits_.requests_per_minute || w.bytes + bytes > limits_.bytes_per_minute) {
    res.SetHeader("Retry-After", "60");
    Error(res, 429, "TooManyRequests",
          "The data collection rule's limit of " + std::to_string(limits_.requests_per_minute) +
              " requests or 2 GB per minute is exceeded; retry after 60 seconds.");
    return false;
  }
  ++w.requests;
  w.bytes += bytes;
  return true;
}

void IngestionApi::Handle(const HttpRequest& req, HttpResponse& res, const identity::Principal& caller) {
  auto seg = SplitPath(req.path);
  if (seg.size() != 4 || !EqualsIgnoreCase(seg[0], "dataCollectionRules") || !EqualsIgnoreCase(seg[2], "streams")) {
    return Error(res, 404, "NotFound", "No ingestion resource at '" + req.path + "'.");
  }
  if (req.method != "POST") return Error(res, 405, "MethodNotAllowed", "Use POST to upload logs.");
  std::string_view api = req.Query("api-version");
  if (api.empty()) return Error(res, 400, "MissingApiVersionParameter", "The api-version query parameter is required.");
  if (api != "2021-11-01-preview" && api != "2023-01-01") {
    return Error(res, 400, "InvalidApiVersionParameter",
                 "The api-version '" + std::string(api) + "' is not supported; use 2023-01-01 or 2021-11-01-preview.");
  }
  if (req.body.size() > limits_.max_body_bytes) {
    return Error(res, 413, "ContentLengthLimitExceeded", "Maximum allowed content length: 1048576 bytes (1 MB).");
  }
  auto rule = d_.rules->FindRuleByImmutableId(seg[1]);
  if (!rule.ok()) return Error(res, 404, "NotFound", "The data collection rule '" + seg[1] + "' was not found.");
  if (Status s = d_.rbac->AuthorizeData(caller, "Microsoft.Insights/Telemetry/Write", rule->resource_id); !s.ok()) {
    return Error(res, 403, "Forbidden",
                 "The caller lacks 'Microsoft.Insights/Telemetry/Write' (Monitoring Metrics Publisher) on the data collection rule '" +
                     rule->resource_id + "'.");
  }
  const std::string& stream = seg[3];
  auto decl = rule->streams.find(stream);
  if (decl == rule->streams.end()) {
    return Error(res, 400, "InvalidStream", "The stream '" + stream + "' is not declared in the data collection rule.");
  }
  std::string body;
  if (EqualsIgnoreCase(req.Header("Content-Encoding"), "gzip")) {
    auto z = Gunzip(req.body, limits_.max_body_bytes);
    if (!z.ok()) {
      int st = z.status().code() == StatusCode::kResourceExhausted ? 413 : 400;
      return Error(res, st, z.status().error_code(), z.status().message());
    }
    body = std::move(*z);
  } else {
    body = req.body;
  }
  if (body.empty()) return Error(res, 400, "InvalidJson", "The request body is empty: send a JSON array of records.");
  if (!Admit(rule->resource_id, body.size(), res)) return;
  auto records = ParseRecords(body, decl->second, limits_.max_field_bytes);
  if (!records.ok()) return Error(res, 400, records.status().error_code(), records.status().message());

  // Run every flow of the stream first; store only when all of them succeed.
  struct Batch {
    engine::WorkspaceInfo ws;
    engine::TableInfo table;
    kql::Table rows;
  };
  std::vector<Batch> batches;
  TimePoint now = d_.env.clock->Now();
  for (const auto& flow : rule->flows) {
    if (std::find(flow.streams.begin(), flow.streams.end(), stream) == flow.streams.end()) continue;
    std::shared_ptr<const kql::Table> rows = std::make_shared<const kql::Table>(*records);
    std::string transform = flow.transform_kql.empty() ? "source" : flow.transform_kql;
    if (transform != "source") {
      kql::InMemoryCatalog catalog;
      catalog.Add(*records);
      auto out = kql::Execute(transform, catalog, kql::ExecOptions{now});
      if (!out.ok()) {
        return Error(res, 400, "InvalidTransformOutput",
                     "The rule's transformKql failed on this batch: " + out.status().message());
      }
      rows = std::make_shared<const kql::Table>(std::move(out->tables[0]));
    }
    std::string table_name = TableOf(flow.output_stream.empty() ? stream : flow.output_stream);
    for (const auto& dest_name : flow.destinations) {
      for (const auto& dest : rule->destinations) {
        if (dest.name != dest_name) continue;
        auto ws = d_.workspaces->WorkspaceByResourceId(dest.workspace_resource_id);
        if (!ws.ok()) return Error(res, 400, "InvalidDestination", "The destination workspace of '" + dest.name + "' no longer exists.");
        auto tables = d_.workspaces->Tables(ws->resource_id);
        const engine::TableInfo* info = nullptr;
        if (tables.ok()) {
          for (const auto& t : *tables) {
            if (EqualsIgnoreCase(t.name, table_name)) info = &t;
          }
        }
        if (info == nullptr) {
          return Error(res, 400, "InvalidOutputTable",
                       "The table '" + table_name + "' does not exist in workspace '" + ws->name + "'.");
        }
        batches.push_back(Batch{*ws, *info, ToTable(*rows, *info, Ticks(now))});
      }
    }
  }
  for (auto& b : batches) {
    Status s = d_.store->Ingest(b.ws, b.table, std::move(b.rows));
    if (!s.ok()) {
      int st = s.code() == StatusCode::kPermissionDenied ? 403 : s.code() == StatusCode::kUnavailable ? 503
             : s.code() == StatusCode::kInvalidArgument ? 400 : 500;
      return Error(res, st, s.error_code().empty() ? "InternalServerError" : s.error_code(), s.message());
    }
  }
  res.status = 204;
  res.body.clear();
}

}  // namespace cmk::server
