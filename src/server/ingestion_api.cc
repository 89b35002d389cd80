// Logs Ingestion API: POST /dataCollectionRules/{immutableId}/streams/{stream}.
#include <zlib.h>

#include <boost/json.hpp>

#include <optional>

#include "base/encoding.h"
#include "base/time_format.h"
#include "engine/json_rows.h"
#include "env/env.h"
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

int64_t Ticks(TimePoint t) { return t.time_since_epoch().count() / 100; }

// Converts one column to `type` (the destination table's), row by row.
// `owned`: the caller's last use of `in`, whose values may then be moved rather than copied.
kql::Column Convert(kql::Column& in, kql::Type type, size_t rows, bool owned) {
  if (in.type == type) {
    kql::Column c = owned ? std::move(in) : in;
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
      double d = in.Real(r);  // truncated toward zero; out of long's range (or NaN) is null
      if (d >= -0x1p63 && d < 0x1p63) out.AppendInt(static_cast<int64_t>(d));
      else out.AppendNull();
    } else if (kql::UsesInts(type) && kql::UsesInts(in.type)) {
      out.AppendInt(in.Int(r));
    } else {
      out.AppendNull();
    }
  }
  return out;
}

// Shapes rows as the destination table: its columns in order, missing ones null, TimeGenerated
// defaulting to the time of ingestion, Type to the table's name. A column of the destination's
// type is taken as it is (moved when `owned`), others are converted.
engine::Batch ShapeBatch(engine::Batch& rows, const engine::TableInfo& table, int64_t now, bool owned) {
  engine::Batch out;
  out.name = table.name;
  out.rows = rows.rows;
  for (const auto& c : table.schema) {
    int i = rows.Find(c.name);
    engine::BatchColumn col(c.type);
    if (i >= 0 && rows.columns[i].type == c.type) {
      col = owned ? std::move(rows.columns[i]) : rows.columns[i];
    } else if (i >= 0) {
      kql::Column k = engine::ToKqlColumn(rows.columns[i]);
      col = engine::ToBatchColumn(Convert(k, c.type, rows.rows, true), rows.rows);
    } else {
      col.Reserve(rows.rows);
      for (size_t r = 0; r < rows.rows; ++r) col.AppendNull();
    }
    if (c.name == "TimeGenerated" && col.HasNulls() && kql::UsesInts(col.type)) {
      for (size_t r = 0; r < rows.rows; ++r) {
        if (col.IsNull(r)) col.ints[r] = now;
      }
      col.nulls.clear();  // none left
    }
    if (c.name == "Type" && c.type == kql::Type::kString) {
      bool empty = false;
      for (size_t r = 0; r < rows.rows && !empty; ++r) empty = col.Str(r).empty();
      if (empty) {
        engine::BatchColumn named(c.type);
        named.Reserve(rows.rows);
        for (size_t r = 0; r < rows.rows; ++r) {
          std::string_view v = col.Str(r);
          named.AppendString(v.empty() ? std::string_view(table.name) : v);
        }
        col = std::move(named);
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
  // Real time: clients pace themselves (and honour Retry-After) on their own clocks.
  TimePoint session_now = d_.SessionClock()->Now();
  int64_t minute = std::chrono::duration_cast<std::chrono::minutes>(session_now.time_since_epoch()).count();
  std::lock_guard<std::mutex> l(mu_);
  Window& w = windows_[rule];
  if (w.minute != minute) w = Window{minute, 0, 0};
  if (w.requests + 1 > limits_.requests_per_minute || w.bytes + bytes > limits_.bytes_per_minute) {
    // The window is the clock's minute: retry when the next one starts.
    auto second = std::chrono::duration_cast<std::chrono::seconds>(session_now.time_since_epoch()).count();
    std::string retry = std::to_string(60 - second % 60);
    res.SetHeader("Retry-After", retry);
    Error(res, 429, "TooManyRequests",
          "The data collection rule's limit of " + std::to_string(limits_.requests_per_minute) + " requests or " +
              std::to_string(limits_.bytes_per_minute >> 20) + " MB per minute is exceeded; retry after " + retry +
              " seconds.");
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
    body.reserve(req.body.size() + engine::kJsonPadding);  // ParseRecords then reads it in place
    body.assign(req.body);
  }
  if (body.empty()) return Error(res, 400, "InvalidJson", "The request body is empty: send a JSON array of records.");
  if (!Admit(rule->resource_id, body.size(), res)) return;
  std::vector<engine::StreamColumn> declared;
  for (const auto& c : decl->second) declared.push_back(engine::StreamColumn{c.name, c.type});
  auto records = engine::ParseRecords(body, declared, limits_.max_field_bytes);
  if (!records.ok()) return Error(res, 400, records.status().error_code(), records.status().message());

  // Run every flow of the stream first; store only when all of them succeed.
  struct Delivery {
    engine::WorkspaceInfo ws;
    engine::TableInfo table;
    engine::Batch rows;
  };
  std::vector<Delivery> batches;
  TimePoint now = d_.env.clock->Now();
  // How many (flow, destination) pairs read this stream: the last one may take the rows' values.
  size_t uses = 0;
  std::optional<kql::Table> source_table;  // the parsed rows as a KQL table, for transformations
  for (const auto& flow : rule->flows) {
    if (std::find(flow.streams.begin(), flow.streams.end(), stream) != flow.streams.end()) uses += flow.destinations.size();
  }
  for (const auto& flow : rule->flows) {
    if (std::find(flow.streams.begin(), flow.streams.end(), stream) == flow.streams.end()) continue;
    std::optional<kql::Table> transformed;
    std::optional<engine::Batch> transformed_batch;  // its rows, converted once for every destination
    std::string transform = flow.transform_kql.empty() ? "source" : flow.transform_kql;
    if (transform != "source") {
      // Transformations run on the KQL engine's tables; rows without one stay as parsed.
      if (!source_table) source_table = records->ToTable();
      kql::InMemoryCatalog catalog;
      catalog.Add(*source_table);
      // A transformation sees at most 1 MB of records: its budget is generous for that (a
      // transform that multiplies rows, e.g. with mv-expand or a join, hits it) and it must not
      // hold an ingestion thread for long.
      kql::ExecOptions opts{now};
      opts.memory_limit_bytes = size_t{256} << 20;
      opts.deadline_us = env::MonotonicMicros() + 10'000'000;
      opts.cancelled = req.cancelled.get();
      auto out = kql::Execute(transform, catalog, opts);
      if (!out.ok()) {
        return Error(res, 400, "InvalidTransformOutput",
                     "The rule's transformKql failed on this batch: " + out.status().message());
      }
      transformed = std::move(out->tables[0]);
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
        if (transformed) {
          if (!transformed_batch) {
            auto b = engine::Batch::FromTable(*transformed);
            if (!b.ok()) return Error(res, 400, "InvalidTransformOutput", b.status().message());
            transformed_batch = std::move(*b);
          }
          bool last = flow.destinations.size() == 1;
          batches.push_back(Delivery{*ws, *info, ShapeBatch(*transformed_batch, *info, Ticks(now), last)});
        } else {
          batches.push_back(Delivery{*ws, *info, ShapeBatch(*records, *info, Ticks(now), --uses == 0)});
        }
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
