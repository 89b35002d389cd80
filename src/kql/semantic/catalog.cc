#include "kql/semantic/catalog.h"

#include <algorithm>

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
  } else {
    out.strings.assign(c.strings.begin() + b, c.strings.begin() + e);
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
  for (const std::shared_ptr<const Table>& chunk : chunks_.at(request.table)) {
    RETURN_IF_ERROR(sink(chunk));
  }
  return OkStatus();
}

}  // namespace cmk::kql
