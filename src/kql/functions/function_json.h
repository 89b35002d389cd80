#pragma once
// Private JSON helpers for dynamic values (see function_util.h). Dynamic columns hold compact JSON
// text; these parse it with Boost.JSON and write it back in Kusto's compact form (reals in
// shortest round-trip form rather than Boost's "1.5E0").
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "kql/core/column.h"

namespace cmk::kql::fn {

namespace bj = boost::json;

// nullopt when `text` is not JSON.
std::optional<bj::value> ParseJson(std::string_view text);
// Compact JSON text.
std::string WriteJson(const bj::value& v);
// `s` as a JSON string (quoted, escaped as WriteJson escapes), appended to `out`.
void AppendJsonString(std::string_view s, std::string& out);
// tostring() of dynamic text: a JSON string unquoted, null -> "", anything else as JSON text.
std::string DynamicToString(std::string_view json);
// One value as JSON: datetimes and timespans as their tostring() text, null as null.
bj::value ValueToJson(const Column& c, size_t row);
// JSON scalar -> string for string functions over dynamic values (strings unquoted).
std::string JsonScalarToString(const bj::value& v);

}  // namespace cmk::kql::fn
