#include "control/arm_checks.h"

#include <array>

#include "base/encoding.h"
#include "base/json.h"

namespace cmk::control {

bool ValidHyphenatedName(std::string_view n, size_t min, size_t max) {
  if (n.size() < min || n.size() > max || n.empty()) return false;
  if (!IsAsciiAlnum(n.front()) || !IsAsciiAlnum(n.back())) return false;
  for (char c : n) {
    if (!IsAsciiAlnum(c) && c != '-') return false;
  }
  return true;
}

bool ValidCustomTableName(std::string_view n) {
  if (n.size() < 4 || n.size() > 63 || !IsAsciiLetter(n.front())) return false;
  if (!EqualsIgnoreCase(n.substr(n.size() - 3), "_CL")) return false;
  for (char c : n) {
    if (!IsAsciiAlnum(c) && c != '_') return false;
  }
  return true;
}

bool ReservedColumnName(std::string_view n) {
  // `_ResourceId` and `_SubscriptionId` are reserved too; they fail the leading-letter rule.
  static constexpr std::array<std::string_view, 5> kReserved = {"id", "TenantId", "Type", "UniqueId", "Title"};
  for (std::string_view r : kReserved) {
    if (EqualsIgnoreCase(n, r)) return true;
  }
  return false;
}

bool ValidColumnName(std::string_view n) {
  if (n.empty() || n.size() > 45 || !IsAsciiLetter(n.front())) return false;
  for (char c : n) {
    if (!IsAsciiAlnum(c) && c != '_') return false;
  }
  return !ReservedColumnName(n);
}

bool ValidCustomStreamName(std::string_view n) {
  constexpr std::string_view kPrefix = "Custom-";
  if (n.size() <= kPrefix.size() || n.size() > kPrefix.size() + 100) return false;
  if (!StartsWithIgnoreCase(n, kPrefix)) return false;
  for (char c : n.substr(kPrefix.size())) {
    if (!IsAsciiAlnum(c) && c != '_' && c != '-') return false;
  }
  return true;
}

bool ValidApiVersionFormat(std::string_view v) {
  if (v.size() != 10 && v.size() != 18) return false;
  for (size_t i = 0; i < 10; ++i) {
    bool dash = i == 4 || i == 7;
    if (dash ? v[i] != '-' : !IsAsciiDigit(v[i])) return false;
  }
  return v.size() == 10 || EqualsIgnoreCase(v.substr(10), "-preview");
}

bool IsResourceId(std::string_view id, std::string_view type) {
  if (id.empty() || id.size() > 1024 || id.front() != '/') return false;
  for (char c : id) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) return false;
  }
  size_t slash = type.find('/');
  if (slash == std::string_view::npos) return false;
  std::string_view ns = type.substr(0, slash), leaf = type.substr(slash + 1);
  // Split by hand: SplitPath would drop the empty segments this must refuse.
  std::array<std::string_view, 8> seg;
  size_t count = 0, start = 1;
  while (start <= id.size()) {
    size_t end = id.find('/', start);
    if (end == std::string_view::npos) end = id.size();
    if (count == seg.size()) return false;
    seg[count++] = id.substr(start, end - start);
    start = end + 1;
  }
  if (count != seg.size()) return false;
  for (std::string_view s : seg) {
    if (s.empty() || s == "." || s == "..") return false;
  }
  return EqualsIgnoreCase(seg[0], "subscriptions") && EqualsIgnoreCase(seg[2], "resourceGroups") &&
         EqualsIgnoreCase(seg[4], "providers") && EqualsIgnoreCase(seg[5], ns) && EqualsIgnoreCase(seg[6], leaf);
}

std::string Echo(std::string_view s) {
  return s.size() <= 200 ? std::string(s) : std::string(s.substr(0, 200)) + "...";
}

Status CheckTypes(const boost::json::object& o,
                  std::initializer_list<std::pair<const char*, boost::json::kind>> members, std::string_view prefix) {
  namespace bj = boost::json;
  for (const auto& [name, kind] : members) {
    const bj::value* v = json::FindCI(o, name);
    if (v == nullptr || v->is_null()) continue;
    bool ok = kind == bj::kind::int64 ? (v->is_int64() || v->is_uint64()) : v->kind() == kind;
    if (ok) continue;
    const char* want = kind == bj::kind::object  ? "an object"
                       : kind == bj::kind::string ? "a string"
                       : kind == bj::kind::bool_  ? "true or false"
                       : kind == bj::kind::array  ? "an array"
                                                  : "an integer";
    return InvalidArgument("'" + std::string(prefix) + name + "' must be " + want + ".", "InvalidRequestContent");
  }
  return OkStatus();
}

Status AuthorizeLinked(const identity::Rbac& rbac, const identity::Principal& caller, std::string_view action,
                       std::string_view scope, std::string_view linked_action, std::string_view linked_scope) {
  if (rbac.IsAllowed(caller.object_id, linked_action, linked_scope, false)) return OkStatus();
  return PermissionDenied("The client '" + caller.object_id + "' with object id '" + caller.object_id +
                              "' has permission to perform action '" + std::string(action) + "' on scope '" +
                              std::string(scope) + "'; however, it does not have permission to perform action(s) '" +
                              std::string(linked_action) + "' on the linked scope(s) '" + std::string(linked_scope) +
                              "' or the linked scope(s) are invalid.",
                          "LinkedAuthorizationFailed");
}

}  // namespace cmk::control
