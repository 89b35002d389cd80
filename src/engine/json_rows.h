#pragma once
// The records of a Logs Ingestion request (a JSON array of objects) as a batch whose columns
// are a stream's declared columns: fields not declared are ignored, missing ones are null,
// string values longer than `max_field` bytes are truncated (Azure: 64 KB). Errors name the
// record and the field (kInvalidArgument, codes InvalidJson / InvalidRecord).
// Thread safety: reentrant.
#include <string>
#include <vector>

#include "base/status.h"
#include "engine/batch.h"
#include "kql/core/column.h"

namespace cmk::engine {

struct StreamColumn {
  std::string name;
  std::string type;  // string, int, long, real, boolean, datetime, dynamic
  bool operator==(const StreamColumn&) const = default;
};

// Bytes of spare capacity after the body that spare ParseRecords a padded copy of it (the JSON
// parser reads a little past the end): callers that own the body reserve them.
inline constexpr size_t kJsonPadding = 64;

// `spare`: readable bytes after the body's last (kJsonPadding or more: parsed in place).
Result<Batch> ParseRecords(std::string_view body, size_t spare, const std::vector<StreamColumn>& columns,
                           size_t max_field);
inline Result<Batch> ParseRecords(const std::string& body, const std::vector<StreamColumn>& columns,
                                  size_t max_field) {
  return ParseRecords(body, body.capacity() - body.size(), columns, max_field);
}

}  // namespace cmk::engine
