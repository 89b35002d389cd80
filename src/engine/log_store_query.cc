// LogStore: the catalog a query reads workspaces' tables through.
#include <algorithm>
#include <set>

#include "base/encoding.h"
#include "engine/log_store_internal.h"

namespace cmk::engine {
namespace {

int64_t Ticks(TimePoint t) { return t.time_since_epoch().count() / 100; }

}  // namespace

std::shared_ptr<const kql::Table> ShapeChunk(const std::shared_ptr<const kql::Table>& chunk, const kql::Schema& schema,
                                             const std::vector<std::string>& want, std::optional<int64_t> lo,
                                             std::optional<int64_t> hi) {
  const kql::Table& in = *chunk;
  // Columns of the output, in order.
  std::vector<const kql::ColumnSchema*> cols;
  for (const auto& c : schema) {
    if (want.empty() || std::find(want.begin(), want.end(), c.name) != want.end()) cols.push_back(&c);
  }
  // Which rows survive.
  std::vector<uint32_t> sel;
  bool all = true;
  int tc = in.Find("TimeGenerated");
  if (tc >= 0 && (lo || hi)) {
    const kql::Column& t = in.columns[tc];
    sel.reserve(in.rows);
    for (size_t r = 0; r < in.rows; ++r) {
      bool keep = !t.IsNull(r) && (!lo || t.Int(r) >= *lo) && (!hi || t.Int(r) < *hi);
      if (keep) sel.push_back(static_cast<uint32_t>(r));
    }
    all = sel.size() == in.rows;
  }
  bool same_columns = cols.size() == in.columns.size();
  for (size_t i = 0; same_columns && i < cols.size(); ++i) {
    same_columns = in.names[i] == cols[i]->name && in.columns[i].type == cols[i]->type;
  }
  // Every row kept and every wanted column present with its type: hand the chunk out as it is
  // (a superset of the wanted columns, as InMemoryCatalog does) instead of copying columns.
  bool superset = true;
  for (const auto* c : cols) {
    int j = in.Find(c->name);
    superset = superset && j >= 0 && in.columns[j].type == c->type;
  }
  if (all && (same_columns || (superset && !want.empty()))) return chunk;
  auto out = std::make_shared<kql::Table>();
  out->name = in.name;
  out->rows = all ? in.rows : sel.size();
  for (const auto* c : cols) {
    int j = in.Find(c->name);
    if (j >= 0 && in.columns[j].type == c->type && all) {
      out->AddColumn(c->name, in.columns[j]);
      continue;
    }
    kql::Column col(c->type);
    col.Reserve(out->rows);
    for (size_t k = 0; k < out->rows; ++k) {
      size_t r = all ? k : sel[k];
      if (j < 0 || in.columns[j].type != c->type) col.AppendNull();
      else col.AppendFrom(in.columns[j], r);
    }
    out->AddColumn(c->name, std::move(col));
  }
  return out;
}

LogStore::QueryCatalog::QueryCatalog(LogStore* store, std::vector<WorkspaceInfo> workspaces, std::optional<int64_t> from,
                                     std::optional<int64_t> to)
    : store_(store), workspaces_(std::move(workspaces)), from_(from), to_(to) {
  for (const auto& ws : workspaces_) {
    auto t = store_->topology_ ? store_->topology_->Tables(ws.resource_id) : Result<std::vector<TableInfo>>(std::vector<TableInfo>());
    tables_.push_back(t.ok() ? std::move(*t) : std::vector<TableInfo>());
  }
}

std::vector<std::string> LogStore::QueryCatalog::TableNames() const {
  std::set<std::string> names;
  for (const auto& ts : tables_) {
    for (const auto& t : ts) names.insert(t.name);
  }
  return {names.begin(), names.end()};
}

std::optional<kql::Schema> LogStore::QueryCatalog::TableSchema(const std::string& table) const {
  for (const auto& ts : tables_) {
    for (const auto& t : ts) {
      if (t.name == table) return t.schema;
    }
  }
  return std::nullopt;
}

Status LogStore::QueryCatalog::Scan(const kql::ScanRequest& request,
                                    const std::function<Status(std::shared_ptr<const kql::Table>)>& sink) const {
  LogStore& s = *store_;
  int64_t now = Ticks(s.env_.clock->Now());
  for (size_t w = 0; w < workspaces_.size(); ++w) {
    const TableInfo* info = nullptr;
    for (const auto& t : tables_[w]) {
      if (t.name == request.table) info = &t;
    }
    if (info == nullptr) continue;
    const std::string& ws = workspaces_[w].customer_id;
    std::optional<int64_t> lo = now - int64_t{info->retention_days} * kql::kTicksPerDay;
    if (from_ && *from_ > *lo) lo = from_;
    std::optional<int64_t> hi = to_;
    // Which accounts hold rows of this table.
    std::vector<Account*> accounts;
    {
      std::lock_guard<std::mutex> l(s.mu_);
      std::set<std::string> ids;
      for (const auto& [id, e] : s.extents_) {
        if (e.workspace == ws && e.table == request.table) ids.insert(ToLower(e.account));
      }
      for (auto& [id, a] : s.accounts_) {
        std::lock_guard<std::mutex> al(a->mu);
        std::string key = ws + "\n" + request.table;
        if (ids.count(id) || a->active.count(key) || a->flushing.count(key) || a->wal_keys.count(key)) {
          accounts.push_back(a.get());
        }
      }
    }
    // Every account must be readable: a revoked or unavailable key fails the query.
    for (Account* a : accounts) {
      RETURN_IF_ERROR(s.Usable(*a));
      RETURN_IF_ERROR(s.EnsureReplayed(*a));
    }
    // One consistent snapshot: extents and memtables (a flush moves rows from one to the other).
    std::vector<std::shared_ptr<const MemChunk>> chunks;
    std::vector<std::pair<ExtentRec, Account*>> extents;
    {
      std::lock_guard<std::mutex> l(s.mu_);
      for (Account* a : accounts) {
        std::lock_guard<std::mutex> al(a->mu);
        std::string key = ws + "\n" + request.table;
        for (auto* mem : {&a->active, &a->flushing}) {
          if (auto it = mem->find(key); it != mem->end()) {
            chunks.insert(chunks.end(), it->second.chunks.begin(), it->second.chunks.end());
          }
        }
      }
      for (const auto& [id, e] : s.extents_) {
        if (e.workspace != ws || e.table != request.table) continue;
        if ((lo && e.max_time < *lo) || (hi && e.min_time >= *hi)) continue;
        if ((request.min_time && e.max_time < *request.min_time) || (request.max_time && e.min_time > *request.max_time)) {
          continue;
        }
        auto it = s.accounts_.find(ToLower(e.account));
        if (it != s.accounts_.end()) extents.emplace_back(e, it->second.get());
      }
    }
    for (auto& [e, a] : extents) {
      ASSIGN_OR_RETURN(auto tables, s.LoadExtent(e, *a));
      bool inside = lo && e.min_time >= *lo && (!hi || e.max_time < *hi);
      for (const auto& table : tables) {
        RETURN_IF_ERROR(sink(ShapeChunk(table, info->schema, request.columns, inside ? std::nullopt : lo,
                                        inside ? std::nullopt : hi)));
      }
    }
    for (auto& c : chunks) RETURN_IF_ERROR(sink(ShapeChunk(c->Table(), info->schema, request.columns, lo, hi)));
  }
  return OkStatus();
}

}  // namespace cmk::engine
