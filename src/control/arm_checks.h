#pragma once
// Checks shared by the ARM providers (internal to control/): names that users choose (some reach
// file, blob and stream names downstream), resource ids that a request references, and ARM's
// linked-access check on those ids. Plain character-class loops, never std::regex: a regex
// engine that recurses per character can exhaust the stack on long hostile input, and every
// check caps the length before it looks at characters.
#include <boost/json.hpp>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "base/status.h"
#include "identity/principal.h"
#include "identity/rbac.h"

namespace cmk::control {

// ASCII only: the locale-dependent <cctype> classes would accept other bytes.
inline bool IsAsciiLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
inline bool IsAsciiDigit(char c) { return c >= '0' && c <= '9'; }
inline bool IsAsciiAlnum(char c) { return IsAsciiLetter(c) || IsAsciiDigit(c); }
inline bool IsAsciiSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

// `min`..`max` letters, digits and hyphens, starting and ending with a letter or digit (clusters,
// workspaces, data collection endpoints).
bool ValidHyphenatedName(std::string_view n, size_t min, size_t max);

// A custom table's name (Tables.json 2025-07-01: tableName 4..63 characters; the CLI and docs:
// custom log tables end in `_CL`): `<letter>[letters, digits, '_']*_CL`. Stricter than the
// spec's `^[A-Za-z0-9-_]+$` on purpose: the name is a KQL identifier and reaches blob names,
// so it must start with a letter and contain no '-'. The suffix compares case-insensitively.
bool ValidCustomTableName(std::string_view n);

// A custom column's name (create-custom-table.md: "Column names must start with a letter and
// can consist of up to 45 alphanumeric characters and underscores"), and not one of the reserved
// names `id`, `TenantId`, `Type`, `UniqueId`, `Title` (case-insensitive).
bool ValidColumnName(std::string_view n);
bool ReservedColumnName(std::string_view n);

// A declared DCR stream: `Custom-` (any case) then 1..100 letters, digits, '_' or '-'.
bool ValidCustomStreamName(std::string_view n);

// `YYYY-MM-DD` or `YYYY-MM-DD-preview` (any case).
bool ValidApiVersionFormat(std::string_view v);

// Whether `id` is the ARM id of a resource of `type` ("Microsoft.OperationalInsights/clusters"):
// exactly /subscriptions/{s}/resourceGroups/{rg}/providers/{namespace}/{type}/{name}, segments
// compared case-insensitively, no empty, '.' or '..' segment, no control or non-ASCII
// characters, at most 1024 characters. A well-formed id says nothing about existence.
bool IsResourceId(std::string_view id, std::string_view type);

// `s` for an error message: at most 200 characters of it, so that a huge hostile value is not
// echoed back.
std::string Echo(std::string_view s);

// Request bodies: members present with a wrong JSON type are refused (400 InvalidRequestContent
// naming `prefix` + member), not ignored; absent and null members pass. Kind int64 also accepts
// uint64. Names compare case-insensitively, as everywhere on input.
Status CheckTypes(const boost::json::object& o,
                  std::initializer_list<std::pair<const char*, boost::json::kind>> members,
                  std::string_view prefix = "");

// ARM's linked-access check: Ok when `caller` may perform `linked_action` on `linked_scope`;
// otherwise 403 LinkedAuthorizationFailed in ARM's words, naming the action already granted on
// `scope` and the one missing on the linked scope. Call it before looking `linked_scope` up, so
// that a caller learns nothing about resources it may not use.
Status AuthorizeLinked(const identity::Rbac& rbac, const identity::Principal& caller,
                       std::string_view action, std::string_view scope,
                       std::string_view linked_action, std::string_view linked_scope);

}  // namespace cmk::control
