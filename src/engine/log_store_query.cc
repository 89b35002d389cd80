// LogStore: the catalog a query reads workspaces' tables through.
#include <algorithm>
#include <deque>
#include <future>
#include <set>

#include "base/mutex.h"
#include "base/encoding.h"
#include "engine/log_store_internal.h"
#include "engine/shape.h"
#include "kql/exec/eval.h"

namespace cmk::engine {

namespace {

// Rows a read-ahead job covers (consecutive extents; at least one): a job's handoff to the query
// thread (a pool thread woken, a future waited for) costs about as much as filtering or
// aggregating one cached row group, and flushed extents are often a single row group each (at
// 100M rows ~1,500 of them). kRowsPerGroup * 4 keeps every core busy with a few jobs in flight.
constexpr uint64_t kJobRows = 4 * kRowsPerGroup;

}  // namespace

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

void LogStore::QueryCatalog::RunAll(std::span<const std::function<void()>> jobs) const {
  store_->readers_->RunAll(jobs);
}

Status LogStore::QueryCatalog::Scan(const kql::ScanRequest& request,
                                    const std::function<Status(std::shared_ptr<const kql::Table>)>& sink) const {
  LogStore& s = *store_;
  const TimePoint clock_now = s.env_.clock->Now();
  const int64_t now = Ticks(clock_now);
  const int64_t hot_since = s.HotSince(clock_now);
  // A chunk's place in the scan (ScanRequest::sequenced_filter): the rows of the earlier
  // workspaces, extents (in this workspace's order), row groups and memtable chunks before it.
  // `seq_base` numbers the workspace's parts for the thinning's seeds.
  uint64_t seq_base = 0;
  uint64_t place = 0;
  auto apply_filter = [&request](const std::shared_ptr<const kql::Table>& t, uint64_t seq) {
    return request.sequenced_filter ? request.sequenced_filter(t, seq) : request.filter(t);
  };
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
    // The query's own TimeGenerated bounds are exact (ExactTimeBounds): the rows outside them
    // are dropped with those outside the window.
    if (request.min_time && *request.min_time > *lo) lo = request.min_time;
    if (request.max_time && *request.max_time < INT64_MAX && (!hi || *request.max_time + 1 < *hi)) {
      hi = *request.max_time + 1;
    }
    // Which accounts hold rows of this table.
    std::vector<Account*> accounts;
    {
      MutexLock l(&s.mu_);
      std::set<std::string> ids;
      for (const auto& [id, e] : s.extents_) {
        if (e.workspace == ws && e.table == request.table) ids.insert(ToLower(e.account));
      }
      for (auto& [id, a] : s.accounts_) {
        MutexLock al(&a->mu);
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
    if (hi && *lo >= *hi) continue;  // an empty window (`between (b .. a)`, a > b): no row
    // One consistent snapshot: extents and memtables (a flush moves rows from one to the other).
    std::vector<std::shared_ptr<const MemChunk>> chunks;
    std::vector<std::pair<ExtentRec, Account*>> extents;
    {
      MutexLock l(&s.mu_);
      for (Account* a : accounts) {
        MutexLock al(&a->mu);
        std::string key = ws + "\n" + request.table;
        for (auto* mem : {&a->active, &a->flushing}) {
          if (auto it = mem->find(key); it != mem->end()) {
            chunks.insert(chunks.end(), it->second.chunks.begin(), it->second.chunks.end());
          }
        }
      }
      for (auto& [id, e] : s.extents_) {
        if (e.workspace != ws || e.table != request.table) continue;
        if ((lo && e.max_time < *lo) || (hi && e.min_time >= *hi)) continue;
        if ((request.min_time && e.max_time < *request.min_time) || (request.max_time && e.min_time > *request.max_time)) {
          continue;
        }
        // Past its ingestion window, an extent a query scans is hot again for the window from
        // now (design.md: "or recently queried"): its copy is kept, or written when it is next
        // read from its blob (OpenExtent).
        if (e.created < hot_since) {
          e.queried = now;
          e.cold = false;
        }
        auto it = s.accounts_.find(ToLower(e.account));
        if (it != s.accounts_.end()) extents.emplace_back(e, it->second.get());
      }
    }
    // Stored rows as the table's schema today: a column retyped since reads as nulls.
    ShapeOptions whole;
    whole.only = request.columns;
    ShapeOptions bounded = whole;
    bounded.min_time = lo;
    bounded.end_time = hi;
    ExtentScan scan{request.columns, lo, hi, request.min_time, request.max_time,
                    request.bound ? &*request.bound : nullptr};
    scan.id = s.scans_.fetch_add(1, std::memory_order_relaxed) + 1;
    // The string test narrows what the filter sees: only with the filter that decides.
    if (request.filter && request.prefilter) scan.prefilter = &*request.prefilter;
    if (request.filter && request.term_needs) scan.term_needs = &*request.term_needs;
    if (request.filter && request.select) scan.select = &*request.select;
    if (!request.filter && request.thin) scan.thin = &*request.thin;
    scan.rows_only = request.rows_only && !request.thin && !request.prefilter && !request.select && !request.bound &&
                     !request.best;
    whole.counted = bounded.counted = scan.rows_only;
    std::optional<kql::ScanRequest::ValueBound> best;
    if (request.best && !request.bound) {
      ASSIGN_OR_RETURN(best, s.BestBound(extents, scan, *request.best));
      if (best) scan.bound = &*best;
    }
    // Extents whose cached layout rules out every row group cost no job at all.
    std::erase_if(extents, [&](const std::pair<ExtentRec, Account*>& x) { return s.NothingWanted(x.first, scan); });
    for (const auto& x : extents) scan.rows += x.first.rows;
    // A job reads an extent's wanted blocks, shapes them as the table's schema today (a column
    // retyped since reads as nulls) and applies the query's filter, if it gave one.
    const uint64_t base = seq_base;
    seq_base += (static_cast<uint64_t>(extents.size()) + 2) << 20;
    // Each extent's first row's place; a row group's is past the extent's groups before it (a
    // loaded group holds at most its rows, and the groups at most the extent's).
    std::vector<uint64_t> first_place(extents.size());
    for (size_t i = 0; i < extents.size(); ++i) {
      first_place[i] = place;
      place += extents[i].first.rows;
    }
    auto job = [&s, &scan, &request, &extents, &apply_filter, &first_place, info, &whole, &bounded, lo, hi](
                   size_t begin, size_t end) -> Result<Chunks> {
      Chunks out;
      for (size_t i = begin; i < end; ++i) {
        const ExtentRec* e = &extents[i].first;
        bool inside = lo && e->min_time >= *lo && (!hi || e->max_time < *hi);
        ASSIGN_OR_RETURN(Chunks tables, s.LoadExtent(*e, *extents[i].second, scan));
        uint64_t at = first_place[i];
        for (size_t t = 0; t < tables.size(); ++t) {
          const auto& table = tables[t];
          const uint64_t seq = at;
          at += table->rows;
          std::shared_ptr<const kql::Table> shaped = ShapeRows(table, info->schema, inside ? whole : bounded);
          if (request.filter) {
            ASSIGN_OR_RETURN(shaped, apply_filter(shaped, seq));
            if (shaped == nullptr) continue;
          }
          out.push_back(std::move(shaped));
        }
      }
      return out;
    };
    // Jobs: with a filter (a pushed `where` or `summarize`: what a job hands back is filtered,
    // often a partial aggregation), runs of consecutive extents of up to kJobRows rows; without
    // one (its decoded rows wait for the query thread), or for `top` (which stops reading once
    // it holds enough rows), an extent each.
    std::vector<std::pair<size_t, size_t>> runs;
    uint64_t job_rows = request.filter && !request.bound && !request.best ? kJobRows : 0;
    for (size_t i = 0; i < extents.size();) {
      size_t j = i + 1;
      uint64_t rows = extents[i].first.rows;
      while (j < extents.size() && rows + extents[j].first.rows <= job_rows) rows += extents[j++].first.rows;
      runs.emplace_back(i, j);
      i = j;
    }
    // Read-ahead: the next extents are read and decoded by the store's reader threads (up to
    // scan_read_ahead jobs at a time) while this one's rows go through the query; decoding
    // dominates a scan whose columns are not cached. Extents reach the query in order. Every
    // job references this frame (declared before `drain`, so destroyed after it): however the
    // scan ends, it waits for the jobs it issued.
    std::deque<std::future<Result<Chunks>>> ahead;
    struct Drain {
      std::deque<std::future<Result<Chunks>>>& jobs;
      ~Drain() {
        for (auto& f : jobs) {
          if (f.valid()) f.wait();
        }
      }
    } drain{ahead};
    size_t issued = 0;
    auto issue = [&] {
      while (issued < runs.size() && ahead.size() < s.read_ahead_) {
        size_t begin = runs[issued].first, end = runs[issued].second;  // (clang 14 can't capture bindings)
        ahead.push_back(s.readers_->Submit([&job, begin, end] { return job(begin, end); }));
        ++issued;
      }
    };
    issue();
    for (size_t i = 0; i < runs.size(); ++i) {
      Result<Chunks> loaded = ahead.front().get();
      ahead.pop_front();
      issue();
      ASSIGN_OR_RETURN(auto tables, std::move(loaded));
      for (const auto& table : tables) RETURN_IF_ERROR(sink(table));
    }
    for (size_t j = 0; j < chunks.size(); ++j) {
      std::shared_ptr<const kql::Table> rows = chunks[j]->Table();
      const uint64_t seq = place;
      place += rows->rows;
      std::shared_ptr<const kql::Table> shaped = ShapeRows(rows, info->schema, bounded);
      if (scan.thin != nullptr) {
        std::vector<uint32_t> kept =
            kql::ThinnedRows(shaped->rows, scan.thin->rate, kql::MixSeed(scan.thin->seed, base, j + 1));
        if (kept.empty()) continue;
        shaped = std::make_shared<const kql::Table>(kql::GatherTable(*shaped, kept));
      }
      if (request.filter) {
        ASSIGN_OR_RETURN(shaped, apply_filter(shaped, seq));
        if (shaped == nullptr) continue;
      }
      RETURN_IF_ERROR(sink(shaped));
    }
  }
  return OkStatus();
}

}  // namespace cmk::engine
