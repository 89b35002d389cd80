#include "base/json.h"

#include <cmath>

#include "base/encoding.h"

namespace cmk::json {

Result<bj::value> Parse(std::string_view text, int max_depth) {
  bj::parse_options opts;
  opts.max_depth = static_cast<std::size_t>(max_depth);
  boost::system::error_code ec;
  bj::stream_parser p({}, opts);
  size_t n = p.write_some(text.data(), text.size(), ec);
  if (!ec && n < text.size()) {
    // write_some stops after a complete value; anything but whitespace after it is an error.
    for (size_t i = n; i < text.size(); ++i) {
      char c = text[i];
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
        return InvalidArgument("Invalid JSON: unexpected data after the value at offset " +
                               std::to_string(i));
      }
    }
  }
  if (!ec) p.finish(ec);
  if (ec) {
    return InvalidArgument("Invalid JSON at offset " + std::to_string(n) + ": " + ec.message());
  }
  return p.release();
}

Result<bj::object> ParseObject(std::string_view text, int max_depth) {
  ASSIGN_OR_RETURN(bj::value v, Parse(text, max_depth));
  if (!v.is_object()) return InvalidArgument("The request body must be a JSON object.");
  return std::move(v.as_object());
}

std::string Serialize(const bj::value& v) { return bj::serialize(v); }

const bj::value* FindCI(const bj::object& obj, std::string_view key) {
  if (auto it = obj.find(key); it != obj.end()) return &it->value();
  for (const auto& kv : obj) {
    if (EqualsIgnoreCase(kv.key(), key)) return &kv.value();
  }
  return nullptr;
}

bj::value* FindCI(bj::object& obj, std::string_view key) {
  return const_cast<bj::value*>(FindCI(static_cast<const bj::object&>(obj), key));
}

Result<std::optional<std::string>> GetString(const bj::object& obj, std::string_view key) {
  const bj::value* v = FindCI(obj, key);
  if (v == nullptr || v->is_null()) return std::optional<std::string>();
  if (!v->is_string()) return InvalidArgument("'" + std::string(key) + "' must be a string.");
  return std::optional<std::string>(std::string(v->as_string()));
}

Result<std::optional<int64_t>> GetInt(const bj::object& obj, std::string_view key) {
  const bj::value* v = FindCI(obj, key);
  if (v == nullptr || v->is_null()) return std::optional<int64_t>();
  if (v->is_int64()) return std::optional<int64_t>(v->as_int64());
  if (v->is_uint64() && v->as_uint64() <= static_cast<uint64_t>(INT64_MAX)) {
    return std::optional<int64_t>(static_cast<int64_t>(v->as_uint64()));
  }
  if (v->is_double()) {
    // 2^63 is exact in a double; a double outside [-2^63, 2^63) would overflow the cast.
    double d = v->as_double();
    if (d >= -0x1p63 && d < 0x1p63 && std::trunc(d) == d) {
      return std::optional<int64_t>(static_cast<int64_t>(d));
    }
  }
  return InvalidArgument("'" + std::string(key) + "' must be an integer.");
}

Result<std::optional<bool>> GetBool(const bj::object& obj, std::string_view key) {
  const bj::value* v = FindCI(obj, key);
  if (v == nullptr || v->is_null()) return std::optional<bool>();
  if (v->is_bool()) return std::optional<bool>(v->as_bool());
  if (v->is_string()) {
    if (EqualsIgnoreCase(v->as_string(), "true")) return std::optional<bool>(true);
    if (EqualsIgnoreCase(v->as_string(), "false")) return std::optional<bool>(false);
  }
  return InvalidArgument("'" + std::string(key) + "' must be a boolean.");
}

Result<const bj::object*> GetObject(const bj::object& obj, std::string_view key) {
  const bj::value* v = FindCI(obj, key);
  if (v == nullptr || v->is_null()) return static_cast<const bj::object*>(nullptr);
  if (!v->is_object()) return InvalidArgument("'" + std::string(key) + "' must be an object.");
  return &v->as_object();
}

}  // namespace cmk::json
