// Logs Ingestion API: POST /dataCollectionRules/{immutableId}/streams/{stream}.
#include <algorithm>
#include <cstdint>

#include <boost/json.hpp>

#include "base/encoding.h"
#include "engine/ingest.h"
#include "engine/json_rows.h"
#include "env/env.h"
#include "server/data_plane.h"
#include "server/gzip_body.h"

namespace cmk::server {
namespace {

namespace bj = boost::json;

void Error(HttpResponse& res, int status, const std::string& code, const std::string& message) {
  res.SetHeader("x-ms-error-code", code);
  res.SetJson(status, bj::serialize(bj::object{{"error", bj::object{{"code", code}, {"message", message}}}}));
}

// The rule as the ingestion pipeline reads it.
engine::IngestRule IngestRuleOf(const control::DataCollectionRule& rule) {
  engine::IngestRule out;
  out.id = rule.resource_id;
  for (const auto& d : rule.destinations)
    out.destinations.push_back({d.name, d.workspace_resource_id});
  for (const auto& f : rule.flows)
    out.flows.push_back({f.streams, f.destinations, f.transform_kql, f.output_stream});
  return out;
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
  // A gzip body is inflated into this thread's buffer, kept from request to request (no
  // zero-filled megabyte per request); the handler runs to its end on this thread.
  thread_local InflateBuffer inflated;
  std::string copy;
  std::string_view body;
  size_t spare = engine::kJsonPadding;
  if (EqualsIgnoreCase(req.Header("Content-Encoding"), "gzip")) {
    auto z = GunzipInto(req.body, limits_.max_body_bytes, engine::kJsonPadding, inflated);
    if (!z.ok())
      return Error(res, HttpStatusFor(z.status().code()), z.status().error_code(),
                   z.status().message());
    body = *z;
  } else {
    copy.reserve(req.body.size() + engine::kJsonPadding);  // ParseRecords then reads it in place
    copy.assign(req.body);
    body = copy;
    spare = copy.capacity() - copy.size();
  }
  if (body.empty()) return Error(res, 400, "InvalidJson", "The request body is empty: send a JSON array of records.");
  if (!Admit(rule->resource_id, body.size(), res)) return;
  std::vector<engine::StreamColumn> declared;
  for (const auto& c : decl->second) declared.push_back(engine::StreamColumn{c.name, c.type});
  Status s = d_.ingestor->Ingest(IngestRuleOf(*rule), stream, declared, body, spare, req.cancelled.get());
  if (!s.ok()) return Error(res, HttpStatusFor(s.code()), s.error_code(), s.message());
  res.status = 204;
  res.body.clear();
}

}  // namespace cmk::server
