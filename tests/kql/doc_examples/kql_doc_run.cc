// kql_doc_run: runs KQL queries read as JSON lines on stdin ({"id": "...", "query": "..."}) and
// prints one JSON line per query on stdout, flushed at once:
//   {"id": ..., "status": "ok", "tables": N, "columns": [{"name": .., "type": ..}, ...],
//    "rows": [[cell, ...], ...], "row_count": R, "render": {...}|null, "ms": T}
//   {"id": ..., "status": "error", "code": "SemanticError", "message": "...", "ms": T}
// Cells are rendered by sqllogic::RenderValue (null as JSON null); at most 1000 rows are printed.
// Each query runs governed like a user's: a fixed now() (2024-01-15T12:00:00Z unless the line
// has "now"), a 5 s deadline and a 512 MiB memory budget (--deadline-ms, --memory-mb change
// them), against an empty catalog. A query that crashes the process takes it down: the driver
// (doc_examples.py) notes the crash and restarts the runner after it.
#include <boost/json.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <string>

#include "base/time_format.h"
#include "env/env.h"
#include "kql/engine.h"
#include "sqllogic.h"

namespace {

using namespace cmk;

boost::json::object RunOne(const std::string& query, TimePoint now, int64_t deadline_ms, size_t memory_mb) {
  boost::json::object out;
  kql::InMemoryCatalog catalog;
  kql::ExecOptions options;
  options.now = now;
  options.deadline_us = env::MonotonicMicros() + deadline_ms * 1000;
  options.memory_limit_bytes = memory_mb << 20;
  int64_t start = env::MonotonicMicros();
  Result<kql::QueryResult> r = [&]() -> Result<kql::QueryResult> {
    try {
      return kql::Execute(query, catalog, options);
    } catch (...) {
      return Internal("exception escaped kql::Execute: " + env::CurrentExceptionText());
    }
  }();
  out["ms"] = static_cast<double>(env::MonotonicMicros() - start) / 1000.0;
  if (!r.ok()) {
    out["status"] = "error";
    out["code"] = r.status().error_code();
    out["message"] = r.status().message();
    return out;
  }
  out["status"] = "ok";
  out["tables"] = r->tables.size();
  if (r->render) {
    boost::json::object render;
    for (const auto& [k, v] : *r->render) render[k] = v;
    out["render"] = std::move(render);
  } else {
    out["render"] = nullptr;
  }
  boost::json::array columns, rows;
  if (!r->tables.empty()) {
    const kql::Table& t = r->tables[0];
    for (size_t i = 0; i < t.columns.size(); ++i) {
      boost::json::object c;
      c["name"] = t.names[i];
      c["type"] = kql::TypeName(t.columns[i].type);
      columns.push_back(std::move(c));
    }
    for (size_t row = 0; row < t.rows && row < 1000; ++row) {
      boost::json::array cells;
      for (const kql::Column& c : t.columns) {
        std::optional<std::string> v = kql::sqllogic::RenderValue(c, row);
        if (v) cells.emplace_back(*v);
        else cells.emplace_back(nullptr);
      }
      rows.push_back(std::move(cells));
    }
    out["row_count"] = t.rows;
  }
  out["columns"] = std::move(columns);
  out["rows"] = std::move(rows);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int64_t deadline_ms = 5000;
  size_t memory_mb = 512;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::strcmp(argv[i], "--deadline-ms") == 0) deadline_ms = std::atoll(argv[i + 1]);
    else if (std::strcmp(argv[i], "--memory-mb") == 0) memory_mb = std::strtoull(argv[i + 1], nullptr, 10);
  }
  TimePoint default_now = *ParseRfc3339("2024-01-15T12:00:00Z");
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    boost::system::error_code ec;
    boost::json::value in = boost::json::parse(line, ec);
    boost::json::object out;
    if (ec || !in.is_object() || !in.as_object().contains("query") || !in.at("query").is_string()) {
      out["status"] = "error";
      out["code"] = "BadInput";
      out["message"] = "expected a JSON object with a string \"query\"";
    } else {
      const boost::json::object& o = in.as_object();
      TimePoint now = default_now;
      if (const boost::json::value* n = o.if_contains("now"); n && n->is_string()) {
        Result<TimePoint> t = ParseRfc3339(std::string(n->as_string()));
        if (t.ok()) now = *t;
      }
      // The id goes out first, so that a crash inside the query still names it on stderr.
      if (const boost::json::value* id = o.if_contains("id")) {
        std::fprintf(stderr, "running %s\n", boost::json::serialize(*id).c_str());
        std::fflush(stderr);
      }
      out = RunOne(std::string(o.at("query").as_string()), now, deadline_ms, memory_mb);
      if (const boost::json::value* id = o.if_contains("id")) out["id"] = *id;
    }
    std::cout << boost::json::serialize(out) << "\n" << std::flush;
  }
  return 0;
}
