#pragma once
// Boost.JSON helpers: bounded parsing into Status, case-insensitive member lookup (ARM treats
// property names case-insensitively on input), typed getters with clear messages.

#include <boost/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace cmk::json {

namespace bj = boost::json;

// Parses `text` (at most `max_depth` levels of nesting). Errors name the position.
Result<bj::value> Parse(std::string_view text, int max_depth = 64);
// Parses and requires an object at the top.
Result<bj::object> ParseObject(std::string_view text, int max_depth = 64);
std::string Serialize(const bj::value& v);

// Member lookup ignoring the case of the key; nullptr when absent.
const bj::value* FindCI(const bj::object& obj, std::string_view key);
bj::value* FindCI(bj::object& obj, std::string_view key);

// Typed getters: NotFound-free — absent members yield std::nullopt; wrong types an
// InvalidArgument naming `key`.
Result<std::optional<std::string>> GetString(const bj::object& obj, std::string_view key);
Result<std::optional<int64_t>> GetInt(const bj::object& obj, std::string_view key);
Result<std::optional<bool>> GetBool(const bj::object& obj, std::string_view key);
Result<const bj::object*> GetObject(const bj::object& obj, std::string_view key);  // nullptr if absent

}  // namespace cmk::json
