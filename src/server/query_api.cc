// Log Analytics query API: /v1/workspaces/{id}/query (GET, POST) and /v1/$batch.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>

#include <boost/json.hpp>

#include "base/encoding.h"
#include "base/json.h"
#include "base/time_format.h"
#include "env/env.h"
#include "kql/engine.h"
#include "server/data_plane.h"
#include "server/lockbox_view.h"

namespace cmk::server {
namespace {

namespace bj = boost::json;

struct Reply {
  int status = 200;
  bj::object body;
  int retry_after = 0;  // seconds, for 429
};

Reply ErrorReply(int status, const std::string& code, const std::string& message, bj::array details = {}) {
  bj::object e{{"code", code}, {"message", message}};
  if (!details.empty()) e["details"] = std::move(details);
  return Reply{status, bj::object{{"error", std::move(e)}}};
}

bj::value Cell(const kql::Column& c, size_t r) {
  if (c.IsNull(r)) return nullptr;
  switch (c.type) {
    case kql::Type::kBool: return c.Int(r) != 0;
    case kql::Type::kInt:
    case kql::Type::kLong: return c.Int(r);
    case kql::Type::kReal: {
      double d = c.Real(r);
      if (std::isnan(d)) return "NaN";
      if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
      return d;
    }
    case kql::Type::kDecimal: {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.17g", c.Real(r));
      return bj::string(buf);
    }
    case kql::Type::kDateTime:
      return bj::string(FormatRfc3339(TimePoint(std::chrono::nanoseconds(c.Int(r) * 100))));
    case kql::Type::kTimespan: return bj::string(FormatTimespan(c.Int(r)));
    case kql::Type::kString:
    case kql::Type::kGuid:
    case kql::Type::kDynamic: return bj::string(c.Str(r));
  }
  return nullptr;
}

bj::object TableJson(const kql::Table& t) {
  bj::array cols, rows;
  for (size_t i = 0; i < t.columns.size(); ++i) {
    cols.emplace_back(bj::object{{"name", t.names[i]}, {"type", kql::TypeName(t.columns[i].type)}});
  }
  rows.reserve(t.rows);
  for (size_t r = 0; r < t.rows; ++r) {
    bj::array row;
    row.reserve(t.columns.size());
    for (const auto& c : t.columns) row.push_back(Cell(c, r));
    rows.emplace_back(std::move(row));
  }
  return bj::object{{"name", t.name}, {"columns", std::move(cols)}, {"rows", std::move(rows)}};
}

struct Prefer {
  bool statistics = false, render = false;
  int wait_seconds = 0;  // 0: not given
};

// RFC 7240 preferences, comma-separated: `wait=N`, `include-statistics=true`, ... Unknown ones
// are ignored, as the standard asks; a malformed wait is ignored too (the default applies).
Prefer ParsePrefer(std::string_view header) {
  Prefer p;
  if (header.size() > 4096) header = header.substr(0, 4096);
  std::string h = ToLower(std::string(header));
  p.statistics = h.find("include-statistics=true") != std::string::npos;
  p.render = h.find("include-render=true") != std::string::npos;
  for (size_t at = 0; at < h.size();) {
    size_t end = h.find_first_of(",;", at);
    if (end == std::string::npos) end = h.size();
    std::string_view part(h.data() + at, end - at);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (part.rfind("wait=", 0) == 0) {
      std::string_view digits = part.substr(5);
      int v = 0;
      bool ok = !digits.empty() && digits.size() <= 6;
      for (char c : digits) {
        if (c < '0' || c > '9') ok = false;
        if (ok) v = v * 10 + (c - '0');
      }
      if (ok && v > 0) p.wait_seconds = v;
    }
    at = end + 1;
  }
  return p;
}

// The engine charges its budget before it allocates; an allocation that fails anyway (the
// process's address space is capped, or the budget's estimate was short) fails this query only.
Result<kql::QueryResult> ExecuteGuarded(std::string_view query, const kql::Catalog& catalog,
                                        const kql::ExecOptions& options) {
  try {
    return kql::Execute(query, catalog, options);
  } catch (const std::bad_alloc&) {
  } catch (const std::length_error&) {
  }
  return Status(StatusCode::kResourceExhausted,
                "Query execution has exceeded the allowed limits (80DA0001): the server could not "
                "allocate the memory the query needs. Retry later or narrow the query.",
                "E_LOW_MEMORY_CONDITION");
}

}  // namespace

namespace {

// Runs one query (the body of a POST, a GET's parameters or one $batch request).
class Runner {
 public:
  // `base` carries the governance (memory budgets, cancellation); each query adds its deadline.
  Runner(const DataPlaneDeps& d, const QueryLimits& limits, const identity::Principal& caller,
         kql::ExecOptions base, int64_t start_us)
      : d_(d), limits_(limits), caller_(caller), base_(base), start_us_(start_us) {}

  // The query's options: now, the shared limits, and the deadline of `Prefer: wait=N` (default
  // 3 minutes, at most 10), counted from when the request arrived.
  kql::ExecOptions Options(const Prefer& p) const {
    kql::ExecOptions o = base_;
    o.now = d_.env.clock->Now();
    int secs = p.wait_seconds > 0 ? std::min(p.wait_seconds, limits_.max_timeout_seconds)
                                  : limits_.default_timeout_seconds;
    o.deadline_us = start_us_ + int64_t{secs} * 1'000'000;
    return o;
  }

  Reply Run(const std::string& workspace, const bj::object& body, std::string_view prefer) {
    auto q = json::GetString(body, "query");
    if (!q.ok() || !q->has_value() || (*q)->empty()) {
      return ErrorReply(400, "BadArgumentError", "The request had some invalid properties",
                        bj::array{bj::object{{"code", "QueryValidationError"}, {"message", "The 'query' property is required."}}});
    }
    if (EqualsIgnoreCase(workspace, "system")) return RunSystem(**q, ParsePrefer(prefer));
    std::vector<std::string> ids{workspace};
    if (auto* w = body.if_contains("workspaces"); w && w->is_array()) {
      for (const auto& x : w->as_array()) {
        if (x.is_string()) ids.emplace_back(x.as_string());
      }
    }
    std::vector<engine::WorkspaceInfo> spaces;
    std::vector<control::LockboxGrant> grants;  // what an operator reads under (Customer Lockbox)
    for (const auto& id : ids) {
      auto ws = Resolve(id);
      if (!ws.ok()) {
        return ErrorReply(404, "WorkspaceNotFoundError", "The workspace '" + id + "' could not be found.");
      }
      if (Status s = d_.rbac->Authorize(caller_, "Microsoft.OperationalInsights/workspaces/query/read", ws->resource_id); !s.ok()) {
        return ErrorReply(403, "InsufficientAccessError",
                          "The provided credentials have insufficient access to perform the requested operation",
                          bj::array{bj::object{{"code", "InsufficientAccessError"},
                                               {"message", "No read access to workspace '" + ws->name + "'."}}});
      }
      if (Status s = LockboxGate(d_, caller_, *ws, grants); !s.ok()) {
        return ErrorReply(403, "InsufficientAccessError", s.message(),
                          bj::array{bj::object{{"code", s.error_code()}, {"message", s.message()}}});
      }
      bool dup = false;
      for (const auto& s : spaces) dup |= s.customer_id == ws->customer_id;
      if (!dup) spaces.push_back(*ws);
    }
    std::optional<int64_t> from, to;
    if (auto* ts = body.if_contains("timespan"); ts && ts->is_string() && !ts->as_string().empty()) {
      auto iv = ParseIsoInterval(std::string(ts->as_string()), d_.env.clock->Now());
      if (!iv.ok()) {
        return ErrorReply(400, "BadArgumentError", "The timespan '" + std::string(ts->as_string()) + "' is not valid.",
                          bj::array{bj::object{{"code", "InvalidTimespan"}, {"message", iv.status().message()}}});
      }
      from = iv->start.time_since_epoch().count() / 100;
      to = iv->end.time_since_epoch().count() / 100;
    }
    auto start = env::MonotonicMicros();
    Prefer p = ParsePrefer(prefer);
    auto catalog = LockboxView(d_, spaces, !grants.empty(), d_.store->CatalogFor(spaces, from, to));
    auto result = ExecuteGuarded(**q, *catalog, Options(p));
    int64_t rows = 0;
    if (result.ok()) {
      for (const auto& t : result->tables) rows += static_cast<int64_t>(t.rows);
    }
    // Refused and failed attempts are on record too (0 rows).
    LockboxRecord(d_, caller_, grants, **q, rows);
    if (!result.ok()) return QueryError(result.status());
    Reply r;
    bj::array tables;
    for (const auto& t : result->tables) tables.emplace_back(TableJson(t));
    r.body["tables"] = std::move(tables);
    if (p.statistics) {
      double secs = static_cast<double>(env::MonotonicMicros() - start) / 1e6;
      // Kusto's resource usage, its memory part: the most the query's operators held at once.
      bj::object usage{{"memory", bj::object{{"peakPerNode", static_cast<uint64_t>(result->peak_memory_bytes)}}}};
      r.body["statistics"] = bj::object{{"query", bj::object{{"executionTime", secs}, {"resourceUsage", std::move(usage)}}}};
    }
    if (p.render && result->render) {
      bj::object render;
      for (const auto& [k, v] : *result->render) render[k] = v;
      r.body["render"] = std::move(render);
    }
    if (!result->warnings.empty()) {
      bj::array details;
      for (const auto& w : result->warnings) details.emplace_back(bj::object{{"code", "EngineError"}, {"message", w.message()}});
      r.body["error"] = bj::object{{"code", "PartialError"},
                                   {"message", "There were some errors when processing your query."},
                                   {"details", std::move(details)}};
    }
    return r;
  }

 private:
  // The system workspace: the vault audit log and the key-state history, for admins.
  Reply RunSystem(const std::string& query, const Prefer& prefer) {
    if (Status s = d_.rbac->Authorize(caller_, "Microsoft.Authorization/roleAssignments/write", d_.admin_scope); !s.ok()) {
      return ErrorReply(403, "InsufficientAccessError",
                        "The system workspace is for administrators (Owner of the instance's subscription).");
    }
    auto catalog = SystemCatalog(d_, &caller_);
    if (!catalog.ok()) return QueryError(catalog.status());
    auto result = ExecuteGuarded(query, **catalog, Options(prefer));
    if (!result.ok()) return QueryError(result.status());
    Reply r;
    bj::array tables;
    for (const auto& t : result->tables) tables.emplace_back(TableJson(t));
    r.body["tables"] = std::move(tables);
    return r;
  }

  Result<engine::WorkspaceInfo> Resolve(const std::string& id) {
    if (IsGuid(id)) return d_.workspaces->WorkspaceByCustomerId(id);
    if (StartsWithIgnoreCase(id, "/subscriptions/")) return d_.workspaces->WorkspaceByResourceId(id);
    return NotFound("not a workspace id");
  }

  static Reply QueryError(const Status& s) {
    const std::string& code = s.error_code();
    if (code == "SyntaxError" || code == "SemanticError") {
      std::string inner = code == "SyntaxError" ? "SYN0002" : "SEM0100";
      return ErrorReply(400, "BadArgumentError", "The request had some invalid properties",
                        bj::array{bj::object{{"code", code},
                                             {"message", s.message()},
                                             {"innererror", bj::object{{"code", inner}, {"message", s.message()}}}}});
    }
    if (s.code() == StatusCode::kPermissionDenied) return ErrorReply(403, code.empty() ? "Forbidden" : code, s.message());
    // Governance (kql/budget.h). A timeout is 504 Gateway Timeout, as Log Analytics documents;
    // a query over its own memory budget is the query's fault (400); the server-wide pool being
    // full is temporary (429, retry later).
    if (s.code() == StatusCode::kDeadlineExceeded) {
      return ErrorReply(504, "GatewayTimeout", s.message(),
                        bj::array{bj::object{{"code", code.empty() ? "E_QUERY_TIMEOUT" : code},
                                             {"message", s.message()}}});
    }
    if (s.code() == StatusCode::kResourceExhausted) {
      bool server_wide = code == "E_LOW_MEMORY_CONDITION";
      Reply r = ErrorReply(server_wide ? 429 : 400, server_wide ? "ThrottledError" : "BadArgumentError",
                           s.message(),
                           bj::array{bj::object{{"code", code.empty() ? "E_RUNAWAY_QUERY" : code},
                                                {"message", s.message()}}});
      if (server_wide) r.retry_after = 10;
      return r;
    }
    if (s.code() == StatusCode::kCancelled) {
      return ErrorReply(400, "QueryCancelled", s.message(),
                        bj::array{bj::object{{"code", code.empty() ? "E_QUERY_CANCELLED" : code},
                                             {"message", s.message()}}});
    }
    if (s.code() == StatusCode::kUnavailable) return ErrorReply(503, code.empty() ? "ServiceUnavailable" : code, s.message());
    if (s.code() == StatusCode::kInvalidArgument) {
      return ErrorReply(400, "BadArgumentError", s.message(),
                        bj::array{bj::object{{"code", code.empty() ? "SemanticError" : code}, {"message", s.message()}}});
    }
    return ErrorReply(500, code.empty() ? "InternalServerError" : code, s.message());
  }

  const DataPlaneDeps& d_;
  const QueryLimits& limits_;
  const identity::Principal& caller_;
  const kql::ExecOptions base_;
  const int64_t start_us_;
};

// POST /v1/$batch: each request of the body run in order, its reply in its place.
Reply RunBatch(Runner& runner, std::string_view text) {
  auto body = json::ParseObject(text);
  const bj::value* reqs = body.ok() ? body->if_contains("requests") : nullptr;
  if (reqs == nullptr || !reqs->is_array()) {
    return ErrorReply(400, "BadArgumentError", "The batch body must be {\"requests\": [...]}.");
  }
  bj::array responses;
  for (const auto& item : reqs->get_array()) {
    bj::object one;
    const bj::object* o = item.if_object();
    const bj::value* id = o != nullptr ? o->if_contains("id") : nullptr;
    one["id"] = id != nullptr && id->is_string() ? std::string(id->get_string()) : "";
    std::string prefer;
    const bj::value* headers = o != nullptr ? o->if_contains("headers") : nullptr;
    if (headers != nullptr && headers->is_object()) {
      for (const auto& [k, v] : headers->get_object()) {
        if (EqualsIgnoreCase(k, "prefer") && v.is_string()) prefer = std::string(v.get_string());
      }
    }
    const bj::value* ws = o != nullptr ? o->if_contains("workspace") : nullptr;
    const bj::value* q = o != nullptr ? o->if_contains("body") : nullptr;
    Reply r = ws == nullptr || !ws->is_string() || q == nullptr || !q->is_object()
                  ? ErrorReply(400, "BadArgumentError",
                               "Each batch request needs id, workspace and body.")
                  : runner.Run(std::string(ws->get_string()), q->get_object(), prefer);
    one["status"] = r.status;
    one["body"] = std::move(r.body);
    one["headers"] = bj::object();
    responses.emplace_back(std::move(one));
  }
  return Reply{200, bj::object{{"responses", std::move(responses)}}};
}

// A query request's body: the JSON object of a POST, or GET's query, timespan and workspaces
// parameters as that object. Nullopt when a POST's body is not a JSON object.
std::optional<bj::object> QueryBody(const HttpRequest& req) {
  if (req.method == "POST") {
    auto parsed = json::ParseObject(req.body);
    if (!parsed.ok()) return std::nullopt;
    return std::move(*parsed);
  }
  bj::object body;
  body["query"] = std::string(req.Query("query"));
  if (req.HasQuery("timespan")) body["timespan"] = std::string(req.Query("timespan"));
  if (req.HasQuery("workspaces")) {
    bj::array ws;
    std::string all(req.Query("workspaces"));
    for (size_t at = 0; at <= all.size();) {
      size_t comma = all.find(',', at);
      if (comma == std::string::npos) comma = all.size();
      if (comma > at) ws.emplace_back(all.substr(at, comma - at));
      at = comma + 1;
    }
    body["workspaces"] = std::move(ws);
  }
  return body;
}

}  // namespace

QueryApi::QueryApi(DataPlaneDeps deps, QueryLimits limits) : d_(deps), limits_(limits) {
  pool_ = std::make_shared<kql::MemoryPool>(limits_.memory_all_queries_bytes > 0 ? limits_.memory_all_queries_bytes
                                                                                 : SIZE_MAX);
  if (engine::LogStore* ls = d_.store; ls != nullptr) {
    ls->WatchQueryMemory(pool_);
    pool_->SetObserver([ls](size_t) { ls->YieldCache(); });
  }
}

QueryApi::~QueryApi() = default;

bool QueryApi::Acquire(const std::string& principal) {
  std::lock_guard<std::mutex> l(mu_);
  int& n = running_[principal];
  if (n >= limits_.max_concurrent_per_principal) {
    if (n == 0) running_.erase(principal);
    return false;
  }
  ++n;
  return true;
}

void QueryApi::Release(const std::string& principal) {
  std::lock_guard<std::mutex> l(mu_);
  auto it = running_.find(principal);
  if (it != running_.end() && --it->second <= 0) running_.erase(it);
}

void QueryApi::Handle(const HttpRequest& req, HttpResponse& res,
                      const identity::Principal& caller) {
  int64_t start_us = env::MonotonicMicros();
  auto seg = SplitPath(req.path);
  auto send = [&res](const Reply& r) {
    if (r.retry_after > 0) res.SetHeader("Retry-After", std::to_string(r.retry_after));
    res.SetJson(r.status, bj::serialize(r.body));
  };
  if (!Acquire(caller.object_id)) {
    Reply r = ErrorReply(429, "ThrottledError",
                         "Too many concurrent queries: a principal may run " +
                             std::to_string(limits_.max_concurrent_per_principal) +
                             " queries at once. Retry after one of them completes.");
    r.retry_after = 1;
    return send(r);
  }
  struct Slot {
    QueryApi* api;
    const std::string& who;
    ~Slot() { api->Release(who); }
  } slot{this, caller.object_id};
  kql::ExecOptions base;
  base.memory_limit_bytes = limits_.memory_per_query_bytes;
  base.memory_pool = pool_.get();
  base.cancelled = req.cancelled.get();
  Runner runner(d_, limits_, caller, base, start_us);
  if (seg.size() == 2 && seg[0] == "v1" && seg[1] == "$batch") {
    if (req.method != "POST")
      return send(ErrorReply(405, "MethodNotAllowed", "Use POST for $batch."));
    return send(RunBatch(runner, req.body));
  }
  // Resource-context form: /v1/{resource id}/query (the id not URL-encoded). A workspace's
  // resource id reads that workspace.
  bool resource_context = seg.size() > 4 && seg[0] == "v1" &&
                          EqualsIgnoreCase(seg[1], "subscriptions") &&
                          EqualsIgnoreCase(seg.back(), "query");
  if (resource_context) {
    std::string rid;
    for (size_t i = 1; i + 1 < seg.size(); ++i) rid += "/" + seg[i];
    seg = {"v1", "workspaces", rid, "query"};
  }
  if (seg.size() == 4 && seg[0] == "v1" && EqualsIgnoreCase(seg[1], "workspaces") &&
      EqualsIgnoreCase(seg[3], "query")) {
    if (req.method != "GET" && req.method != "POST") {
      return send(ErrorReply(405, "MethodNotAllowed", "Use GET or POST."));
    }
    auto body = QueryBody(req);
    if (!body) {
      return send(ErrorReply(400, "BadArgumentError", "The request body is not a JSON object."));
    }
    return send(runner.Run(seg[2], *body, req.Header("Prefer")));
  }
  send(ErrorReply(404, "PathNotFoundError", "The requested path does not exist: " + req.path));
}

}  // namespace cmk::server
