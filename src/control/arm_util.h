#pragma once
// Small helpers shared by the ARM providers (internal to control/).
#include <boost/json.hpp>
#include <string>
#include <string_view>

#include "base/encoding.h"
#include "base/json.h"
#include "control/arm_types.h"

namespace cmk::control {

// Store kinds and resource types more than one provider names.
inline constexpr char kArm[] = "arm";  // the ARM resource documents
inline constexpr char kSubscriptionKind[] = "subscription";
inline constexpr char kDeletedWorkspace[] = "deleted-workspace";  // soft-deleted workspaces
inline constexpr char kUaiType[] = "Microsoft.ManagedIdentity/userAssignedIdentities";

// The path of the request without the query: the scope ARM names in a linked-access denial.
inline std::string RequestScope(const ArmRequest& r) { return r.path.substr(0, r.path.find('?')); }

// The RBAC action of a plain resource request: {type}/read, /delete or /write.
inline std::string ReadWriteDeleteAction(std::string_view type, const ArmRequest& r) {
  return std::string(type) + (r.method == "GET" ? "/read" : r.method == "DELETE" ? "/delete" : "/write");
}

inline std::string ApiVersion(const ArmRequest& r) { return std::string(r.Query("api-version")); }

inline bool Is(const std::string& a, std::string_view b) { return EqualsIgnoreCase(a, b); }

inline ArmResponse Json(int status, boost::json::value body) {
  ArmResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

// ARM locations compare without spaces or case: "East US" == "eastus".
inline std::string NormalizeLocation(std::string_view loc) {
  std::string out;
  for (char c : loc) {
    if (c != ' ') out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

// A string member (any key case), or "" when absent or not a string.
inline std::string Str(const boost::json::object& o, std::string_view k) {
  const boost::json::value* v = json::FindCI(o, k);
  return v && v->is_string() ? std::string(v->as_string()) : "";
}

inline Status BadParameter(std::string msg, std::string code = "InvalidParameter") {
  return InvalidArgument(std::move(msg), std::move(code));
}

// The `properties` object of a resource document, created when missing.
inline boost::json::object& Props(boost::json::object& doc) {
  if (!doc.contains("properties") || !doc["properties"].is_object()) doc["properties"] = boost::json::object();
  return doc["properties"].as_object();
}

// Bookkeeping kept in a stored document but never returned (`x-cmk`).
inline boost::json::object& Hidden(boost::json::object& doc) {
  if (!doc.contains("x-cmk") || !doc["x-cmk"].is_object()) doc["x-cmk"] = boost::json::object();
  return doc["x-cmk"].as_object();
}

}  // namespace cmk::control
