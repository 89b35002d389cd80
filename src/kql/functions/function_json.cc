// JSON text for dynamic values (function_json.h).
#include <cmath>
#include <cstdio>

#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

void WriteString(std::string_view s, std::string& out) {
  out.push_back('"');
  // Runs that need no escape are copied whole (most of a text).
  size_t clean = 0;
  while (clean < s.size()) {
    auto u = static_cast<unsigned char>(s[clean]);
    if (u < 0x20 || u == '"' || u == '\\') break;
    ++clean;
  }
  out.append(s.data(), clean);
  s.remove_prefix(clean);
  for (char ch : s) {
    switch (ch) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(ch)));
          out += buf;
        } else {
          out.push_back(ch);
        }
    }
  }
  out.push_back('"');
}

void Write(const bj::value& v, std::string& out) {
  switch (v.kind()) {
    case bj::kind::null: out += "null"; return;
    case bj::kind::bool_: out += v.get_bool() ? "true" : "false"; return;
    case bj::kind::int64: out += std::to_string(v.get_int64()); return;
    case bj::kind::uint64: out += std::to_string(v.get_uint64()); return;
    case bj::kind::double_: {
      double d = v.get_double();
      if (!std::isfinite(d)) {
        WriteString(FormatReal(d), out);
        return;
      }
      // A real keeps a fraction or exponent (1.0, not 1), so that reading the text back gives
      // a real again: gettype(dynamic([1.0])[0]) is "real", and series functions keep reals.
      std::string text = FormatReal(d);
      if (text.find_first_of(".eE") == std::string::npos) text += ".0";
      out += text;
      return;
    }
    case bj::kind::string: WriteString(v.get_string(), out); return;
    case bj::kind::array: {
      out.push_back('[');
      bool first = true;
      for (const bj::value& e : v.get_array()) {
        if (!first) out.push_back(',');
        first = false;
        Write(e, out);
      }
      out.push_back(']');
      return;
    }
    case bj::kind::object: {
      out.push_back('{');
      bool first = true;
      for (const auto& kv : v.get_object()) {
        if (!first) out.push_back(',');
        first = false;
        WriteString(kv.key(), out);
        out.push_back(':');
        Write(kv.value(), out);
      }
      out.push_back('}');
      return;
    }
  }
}

}  // namespace

std::optional<bj::value> ParseJson(std::string_view text) {
  boost::system::error_code ec;
  bj::parse_options opts;
  opts.max_depth = 64;
  bj::value v = bj::parse(text, ec, {}, opts);
  if (ec) return std::nullopt;
  return v;
}

void AppendJsonString(std::string_view s, std::string& out) { WriteString(s, out); }

std::string WriteJson(const bj::value& v) {
  std::string out;
  Write(v, out);
  return out;
}

std::string JsonScalarToString(const bj::value& v) {
  if (v.is_string()) return std::string(v.get_string());
  if (v.is_null()) return "";
  return WriteJson(v);
}

std::string DynamicToString(std::string_view json) {
  if (json == "null" || json.empty()) return "";
  if (json.front() != '"') return std::string(json);
  auto v = ParseJson(json);
  return v ? JsonScalarToString(*v) : std::string(json);
}

bj::value ValueToJson(const Column& c, size_t row) {
  if (c.IsNull(row)) return nullptr;
  switch (c.type) {
    case Type::kBool: return bj::value(c.Int(row) != 0);
    case Type::kInt:
    case Type::kLong: return bj::value(c.Int(row));
    case Type::kReal:
    case Type::kDecimal: return bj::value(c.Real(row));
    case Type::kDateTime: {
      // Inside dynamic values too, datetimes have all 7 fractional digits.
      return bj::value(FormatDateTime(c.Int(row)));
    }
    case Type::kTimespan:
    case Type::kString:
    case Type::kGuid: return bj::value(ValueToString(c, row));
    case Type::kDynamic: {
      auto v = ParseJson(c.Str(row));
      return v ? std::move(*v) : bj::value(nullptr);
    }
  }
  return nullptr;
}

}  // namespace cmk::kql::fn
