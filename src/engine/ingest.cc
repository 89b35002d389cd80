#include "engine/ingest.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "base/mutex.h"
#include "base/encoding.h"
#include "engine/shape.h"
#include "kql/engine.h"
#include "kql/syntax/ast.h"
#include "kql/syntax/parser.h"

namespace cmk::engine {
namespace {

bool Reads(const IngestFlow& flow, const std::string& stream) {
  return std::find(flow.streams.begin(), flow.streams.end(), stream) != flow.streams.end();
}

// The table an output stream names: `Custom-X_CL` writes X_CL, `Microsoft-Syslog` Syslog.
std::string TableOf(const std::string& output_stream) {
  for (std::string_view p : {"Custom-", "Microsoft-"}) {
    if (StartsWithIgnoreCase(output_stream, p)) return output_stream.substr(p.size());
  }
  return output_stream;
}

Status TransformFailed(const Status& s) {
  return InvalidArgument("The rule's transformKql failed on this batch: " + s.message(),
                         "InvalidTransformOutput");
}

// A transform that hands the rows on as they are (no KQL run, no conversion).
bool Identity(const std::string& transform) { return transform.empty() || transform == "source"; }

}  // namespace

struct Ingestor::Delivery {
  WorkspaceInfo ws;
  TableInfo table;
  Batch rows;
};

Status Ingestor::Route(const IngestDestination& dest, const std::string& table,
                       Delivery& out) const {
  auto ws = topology_->WorkspaceByResourceId(dest.workspace_resource_id);
  if (!ws.ok()) {
    return InvalidArgument("The destination workspace of '" + dest.name + "' no longer exists.",
                           "InvalidDestination");
  }
  auto tables = topology_->Tables(ws->resource_id);
  const TableInfo* info = nullptr;
  if (tables.ok()) {
    for (const auto& t : *tables) {
      if (EqualsIgnoreCase(t.name, table)) info = &t;  // the last of equal names, as before
    }
  }
  if (info == nullptr) {
    return InvalidArgument(
        "The table '" + table + "' does not exist in workspace '" + ws->name + "'.",
        "InvalidOutputTable");
  }
  out.ws = std::move(*ws);
  out.table = *info;
  return OkStatus();
}

Ingestor::Ingestor(LogStore* store, const Topology* topology, env::Clock* clock,
                   IngestorOptions options)
    : store_(store), topology_(topology), clock_(clock), options_(options) {}

Ingestor::~Ingestor() = default;

Result<std::shared_ptr<const kql::Query>> Ingestor::Parsed(
    const IngestRule& rule, const std::string& stream, size_t flow,
    const std::vector<StreamColumn>& columns) {
  const std::string& text = rule.flows[flow].transform_kql;
  std::string key = rule.id + "\n" + stream + "\n" + std::to_string(flow);
  {
    MutexLock l(&mu_);
    auto it = transforms_.find(key);
    // The rule's resource id stays the same across PUTs: the text and the declaration say
    // whether this is still the version the cached transform was parsed from.
    if (it != transforms_.end() && it->second.text == text && it->second.columns == columns) {
      hits_.fetch_add(1, std::memory_order_relaxed);
      return it->second.query;
    }
  }
  // Parsed outside the lock (a long transform must not hold up other rules' requests); two
  // first requests may both parse it, the last one's is kept.
  auto query = kql::ParseQuery(text);
  if (!query.ok()) return TransformFailed(query.status());
  parses_.fetch_add(1, std::memory_order_relaxed);
  auto shared = std::make_shared<const kql::Query>(std::move(*query));
  MutexLock l(&mu_);
  if (transforms_.size() >= options_.max_cached_transforms) transforms_.clear();
  transforms_.insert_or_assign(key, Transform{text, columns, shared});
  return std::shared_ptr<const kql::Query>(shared);
}

Status Ingestor::Ingest(const IngestRule& rule, const std::string& stream,
                        const std::vector<StreamColumn>& columns, std::string_view body, size_t spare,
                        const std::atomic<bool>* cancelled) {
  ASSIGN_OR_RETURN(Batch records, ParseRecords(body, spare, columns, options_.max_field_bytes));
  TimePoint now = clock_->Now();
  ShapeOptions shape;
  shape.convert = true;
  shape.now = Ticks(now);
  // How many deliveries take the parsed rows as they are: the last one may move their columns.
  size_t uses = 0;
  std::optional<kql::Table> source;  // the parsed rows as a KQL table, for the transforms
  for (const auto& flow : rule.flows) {
    if (!Reads(flow, stream)) continue;
    // TODO(#13): the KQL engine reads kql::Table, so a transform's input is converted from the
    // batch, once per request (its output is shaped straight into each destination's batch).
    // Converted before any delivery may move the batch's columns.
    if (!Identity(flow.transform_kql)) {
      if (!source) source = records.ToTable();
      continue;
    }
    for (const auto& name : flow.destinations) {
      uses += std::count_if(rule.destinations.begin(), rule.destinations.end(),
                            [&](const IngestDestination& d) { return d.name == name; });
    }
  }
  std::vector<Delivery> deliveries;
  for (size_t f = 0; f < rule.flows.size(); ++f) {
    const IngestFlow& flow = rule.flows[f];
    if (!Reads(flow, stream)) continue;
    std::optional<kql::Table> transformed;
    if (!Identity(flow.transform_kql)) {
      ASSIGN_OR_RETURN(auto query, Parsed(rule, stream, f, columns));
      kql::InMemoryCatalog catalog;
      catalog.Add(*source);
      kql::ExecOptions opts{now};
      opts.memory_limit_bytes = options_.transform_memory_bytes;
      opts.deadline_us = env::MonotonicMicros() + options_.transform_timeout_us;
      opts.cancelled = cancelled;
      auto out = kql::Execute(*query, catalog, opts);
      if (!out.ok()) return TransformFailed(out.status());
      transformed = std::move(out->tables[0]);
    }
    std::string table_name = TableOf(flow.output_stream.empty() ? stream : flow.output_stream);
    for (const auto& dest_name : flow.destinations) {
      for (const auto& dest : rule.destinations) {
        if (dest.name != dest_name) continue;
        Delivery d;
        RETURN_IF_ERROR(Route(dest, table_name, d));
        shape.table = d.table.name;
        if (transformed) {
          auto shaped = ShapeRows(*transformed, d.table.schema, shape);
          if (!shaped.ok()) {
            return InvalidArgument(shaped.status().message(), "InvalidTransformOutput");
          }
          d.rows = std::move(*shaped);
        } else {
          d.rows = --uses == 0 ? ShapeRows(std::move(records), d.table.schema, shape)
                               : ShapeRows(records, d.table.schema, shape);
        }
        deliveries.push_back(std::move(d));
      }
    }
  }
  for (auto& d : deliveries) {
    Status s = store_->Ingest(d.ws, d.table, std::move(d.rows));
    if (s.ok()) continue;
    StatusCode c = s.code();
    if (c == StatusCode::kPermissionDenied || c == StatusCode::kUnavailable ||
        c == StatusCode::kInvalidArgument) {
      return s;
    }
    return Status(StatusCode::kInternal, s.message(), s.error_code());
  }
  return OkStatus();
}

}  // namespace cmk::engine
