#pragma once
// The metadata documents of the storage services (docs/FORMAT.md): their kinds and the helpers
// table_service.cc, blob_service.cc and linked_storage.cc share (internal to storage_account/).
#include <boost/json.hpp>
#include <string>
#include <string_view>
#include <utility>

#include "base/status.h"

namespace cmk::storage_account {

inline constexpr char kTableKind[] = "sa-table";
inline constexpr char kEntityKind[] = "sa-entity";  // key: {table, pk + kKeySep + rk}
inline constexpr char kContainerKind[] = "sa-container";
inline constexpr char kBlobKind[] = "sa-blob";
inline constexpr char kKeySep = '\x1f';  // control characters are not allowed in keys

// The string member `k` of a document, "" when absent or not a string.
inline std::string DocStr(const boost::json::object& o, std::string_view k) {
  const boost::json::value* v = o.if_contains(k);
  return v && v->is_string() ? std::string(v->as_string()) : "";
}

// A refusal with the HTTP status `http` and the storage error code `code`.
inline Status StorageError(int http, std::string code, std::string message) {
  StatusCode sc = http == 404   ? StatusCode::kNotFound
                  : http == 409 ? StatusCode::kConflict
                  : http == 412 ? StatusCode::kFailedPrecondition
                  : http == 416 ? StatusCode::kOutOfRange
                  : http == 403 ? StatusCode::kPermissionDenied
                                : StatusCode::kInvalidArgument;
  return Status(sc, std::move(message), std::move(code));
}

}  // namespace cmk::storage_account
