#include "kql/semantic/catalog.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "kql/exec/eval.h"

namespace cmk::kql {
namespace {

// Rows per chunk handed out by InMemoryCatalog::Scan, so the executor streams even in tests.
constexpr size_t kChunkRows = 64 * 1024;

Column Slice(const Column& c, size_t begin, size_t end) {
  if (c.constant) return c;
  Column out(c.type);
  auto b = static_cast<ptrdiff_t>(begin), e = static_cast<ptrdiff_t>(end);
  if (UsesInts(c.type)) out.ints.assign(c.ints.begin() + b, c.ints.begin() + e);
  else if (UsesReals(c.type)) out.reals.assign(c.reals.begin() + b, c.reals.begin() + e);
  else if (c.coded()) {
    out.dict = c.dict;
    out.codes.assign(c.codes.begin() + b, c.codes.begin() + e);
  } else if (c.packed()) {
    out.StartPacked(end - begin, c.offsets[end] - c.offsets[begin]);
    out.chars.assign(c.chars, c.offsets[begin], c.offsets[end] - c.offsets[begin]);
    for (size_t r = begin + 1; r <= end; ++r) out.offsets.push_back(c.offsets[r] - c.offsets[begin]);
  } else {
    // Packed, as the log store hands out the strings it decodes.
    size_t bytes = 0;
    for (size_t r = begin; r < end; ++r) bytes += c.strings[r].size();
    out.StartPacked(end - begin, bytes);
    for (size_t r = begin; r < end; ++r) out.AppendPacked(c.strings[r]);
  }
  if (c.HasNulls()) out.nulls.assign(c.nulls.begin() + b, c.nulls.begin() + e);
  return out;
}

}  // namespace

void InMemoryCatalog::Add(Table table) {
  std::string name = table.name;
  std::vector<std::shared_ptr<const Table>>& chunks = chunks_[name];
  chunks.clear();
  for (size_t begin = 0; begin < table.rows; begin += kChunkRows) {
    size_t end = std::min(table.rows, begin + kChunkRows);
    auto chunk = std::make_shared<Table>();
    chunk->name = name;
    chunk->rows = end - begin;
    for (size_t c = 0; c < table.columns.size(); ++c) {
      chunk->AddColumn(table.names[c], Slice(table.columns[c], begin, end));
    }
    chunks.push_back(std::move(chunk));
  }
  Table schema;
  schema.name = name;
  for (size_t c = 0; c < table.columns.size(); ++c) schema.AddColumn(table.names[c], Column(table.columns[c].type));
  tables_[name] = std::move(schema);
}

std::vector<std::string> InMemoryCatalog::TableNames() const {
  std::vector<std::string> out;
  for (const auto& [name, t] : tables_) out.push_back(name);
  return out;
}

std::optional<Schema> InMemoryCatalog::TableSchema(const std::string& table) const {
  auto it = tables_.find(table);
  if (it == tables_.end()) return std::nullopt;
  Schema s;
  for (size_t i = 0; i < it->second.names.size(); ++i) s.push_back({it->second.names[i], it->second.columns[i].type});
  return s;
}

Status InMemoryCatalog::Scan(const ScanRequest& request,
                             const std::function<Status(std::shared_ptr<const Table>)>& sink) const {
  auto it = tables_.find(request.table);
  if (it == tables_.end()) return NotFound("Unknown table '" + request.table + "'");
  // Chunks hold every column; the executor picks the requested ones by name.
  const std::vector<std::shared_ptr<const Table>>& chunks = chunks_.at(request.table);
  for (size_t i = 0; i < chunks.size(); ++i) {
    if (!request.thin) {
      RETURN_IF_ERROR(sink(chunks[i]));
      continue;
    }
    std::vector<uint32_t> kept = ThinnedRows(chunks[i]->rows, request.thin->rate, MixSeed(request.thin->seed, i));
    if (kept.empty()) continue;
    RETURN_IF_ERROR(sink(std::make_shared<const Table>(GatherTable(*chunks[i], kept))));
  }
  return OkStatus();
}

Status ScanAsAsked(const Catalog& catalog, const ScanRequest& request,
                   const std::function<Status(std::shared_ptr<const Table>)>& sink) {
  bool crop = !catalog.ExactTimeBounds() && (request.min_time || request.max_time);
  bool thin = !catalog.Thins() && request.thin;
  bool filter = !catalog.AppliesFilters() && (request.filter || request.sequenced_filter);
  if (!crop && !thin && !filter) return catalog.Scan(request, sink);
  uint64_t chunk = 0;
  uint64_t next = 0;  // the next chunk's place (ScanRequest::sequenced_filter)
  return catalog.Scan(request, [&](std::shared_ptr<const Table> t) -> Status {
    const uint64_t index = chunk++, seq = next;
    next += t->rows;
    if (crop) {
      // Rows whose TimeGenerated is null (or absent) are outside any bounds.
      int tc = t->Find("TimeGenerated");
      std::vector<uint32_t> rows;
      if (tc >= 0 && UsesInts(t->columns[static_cast<size_t>(tc)].type)) {
        const Column& c = t->columns[static_cast<size_t>(tc)];
        for (size_t r = 0; r < t->rows; ++r) {
          if (!c.IsNull(r) && (!request.min_time || c.Int(r) >= *request.min_time) &&
              (!request.max_time || c.Int(r) <= *request.max_time)) {
            rows.push_back(static_cast<uint32_t>(r));
          }
        }
      }
      if (rows.size() != t->rows) t = std::make_shared<const Table>(GatherTable(*t, rows));
    }
    if (thin) {
      t = std::make_shared<const Table>(
          GatherTable(*t, ThinnedRows(t->rows, request.thin->rate, MixSeed(request.thin->seed, index))));
    }
    if (t->rows == 0) return OkStatus();
    if (filter) {
      ASSIGN_OR_RETURN(t, request.sequenced_filter ? request.sequenced_filter(t, seq) : request.filter(t));
      if (t == nullptr) return OkStatus();
    }
    return sink(std::move(t));
  });
}

std::vector<uint32_t> ThinnedRows(size_t rows, double rate, uint64_t seed) {
  std::vector<uint32_t> kept;
  if (!(rate > 0) || rows == 0) return kept;
  if (rate >= 1) {
    kept.resize(rows);
    for (size_t r = 0; r < rows; ++r) kept[r] = static_cast<uint32_t>(r);
    return kept;
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0, 1);
  double log_miss = std::log1p(-rate);  // < 0
  // The rows skipped before the next one kept: floor(log(U) / log(1 - rate)), U in (0, 1].
  auto gap = [&]() -> double { return std::floor(std::log(1 - unit(rng)) / log_miss); };
  for (double r = gap(); r < static_cast<double>(rows); r += 1 + gap()) kept.push_back(static_cast<uint32_t>(r));
  return kept;
}

uint64_t MixSeed(uint64_t seed, uint64_t a, uint64_t b) {
  auto mix = [](uint64_t z) {
    z += 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  };
  return mix(mix(mix(seed) ^ a) ^ b);
}

}  // namespace cmk::kql
