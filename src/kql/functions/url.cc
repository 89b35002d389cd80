// URL functions: url_encode, url_encode_component, url_decode, parse_url, parse_urlquery.
// Encoding follows .NET's HttpUtility, which Kusto's documented results show: letters, digits
// and - _ . ! * ( ) stay, every other UTF-8 byte becomes %xx in lower-case hex, a space becomes
// '+' (url_encode) or %20 (url_encode_component). url_decode turns %xx and '+' back and leaves
// malformed escapes as they are.
#include <boost/json.hpp>
#include <cctype>

#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

bool IsUnreserved(char c) {
  return IsAlnumAscii(c) || c == '-' || c == '_' || c == '.' || c == '!' || c == '*' || c == '(' ||
         c == ')';
}

std::string Encode(std::string_view s, bool component) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (IsUnreserved(c)) {
      out.push_back(c);
    } else if (c == ' ' && !component) {
      out.push_back('+');
    } else {
      auto b = static_cast<unsigned char>(c);
      out += {'%', kHex[b >> 4], kHex[b & 15]};
    }
  }
  return out;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string Decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out.push_back(' ');
    } else if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 &&
               HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

// key=value pairs separated by '&', decoded; a repeated key joins its values with ',' (as .NET's
// ParseQueryString does); a pair without '=' is a key with an empty value.
bj::object ParseQuery(std::string_view q) {
  bj::object params;
  while (!q.empty()) {
    size_t amp = q.find('&');
    std::string_view pair = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view() : q.substr(amp + 1);
    if (pair.empty()) continue;
    size_t eq = pair.find('=');
    std::string key = Decode(pair.substr(0, eq));
    std::string value = eq == std::string_view::npos ? "" : Decode(pair.substr(eq + 1));
    if (bj::value* old = params.if_contains(key)) {
      std::string joined = std::string(old->get_string()) + "," + value;
      *old = bj::string(joined);
    } else {
      params[key] = bj::string(value);
    }
  }
  return params;
}

// parse_url(url): scheme://[user[:password]@]host[:port][/path][?query][#fragment]. Text that is
// not an absolute URL gives every part empty.
bj::object ParseUrl(std::string_view url) {
  std::string_view scheme, user, password, host, port, path, query, fragment;
  size_t colon = url.find("://");
  bool valid = colon != std::string_view::npos && colon > 0 &&
               std::isalpha(static_cast<unsigned char>(url[0]));
  for (size_t k = 0; valid && k < colon; ++k) {
    char c = url[k];
    valid = IsAlnumAscii(c) || c == '+' || c == '-' || c == '.';
  }
  if (valid) {
    scheme = url.substr(0, colon);
    std::string_view rest = url.substr(colon + 3);
    if (size_t hash = rest.find('#'); hash != std::string_view::npos) {
      fragment = rest.substr(hash + 1);
      rest = rest.substr(0, hash);
    }
    if (size_t q = rest.find('?'); q != std::string_view::npos) {
      query = rest.substr(q + 1);
      rest = rest.substr(0, q);
    }
    size_t slash = rest.find('/');
    std::string_view authority = rest.substr(0, slash);
    path = slash == std::string_view::npos ? "/" : rest.substr(slash);
    if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
      std::string_view info = authority.substr(0, at);
      authority = authority.substr(at + 1);
      size_t c = info.find(':');
      user = info.substr(0, c);
      if (c != std::string_view::npos) password = info.substr(c + 1);
    }
    size_t port_colon = authority.rfind(':');
    if (port_colon != std::string_view::npos &&
        authority.find(']', port_colon) == std::string_view::npos) {
      port = authority.substr(port_colon + 1);
      authority = authority.substr(0, port_colon);
    }
    host = authority;
  }
  bj::object out;
  out["Scheme"] = bj::string(scheme);
  out["Host"] = bj::string(host);
  out["Port"] = bj::string(port);
  out["Path"] = bj::string(path);
  out["Username"] = bj::string(user);
  out["Password"] = bj::string(password);
  out["Query Parameters"] = ParseQuery(query);
  out["Fragment"] = bj::string(fragment);
  return out;
}

template <typename F>  // F(std::string_view text) -> value for the row
Result<Column> Map(Type t, Args a, const FunctionContext& ctx, F f) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(t, s);
  std::string sc;
  for (size_t i = 0; i < s.rows; ++i) out.strings[i] = f(TextOf(*a[0], i, sc));
  return out;
}

}  // namespace

void RegisterUrl(Registry& r) {
  r.Function({"url_encode", 1, 1, Returns(Type::kString), [](Args a, const FunctionContext& c) {
                return Map(Type::kString, a, c,
                           [](std::string_view s) { return Encode(s, false); });
              }});
  r.Function(
      {"url_encode_component", 1, 1, Returns(Type::kString), [](Args a, const FunctionContext& c) {
         return Map(Type::kString, a, c, [](std::string_view s) { return Encode(s, true); });
       }});
  r.Function({"url_decode", 1, 1, Returns(Type::kString), [](Args a, const FunctionContext& c) {
                return Map(Type::kString, a, c, [](std::string_view s) { return Decode(s); });
              }});
  r.Function({"parse_url", 1, 1, Returns(Type::kDynamic), [](Args a, const FunctionContext& c) {
                return Map(Type::kDynamic, a, c,
                           [](std::string_view s) { return WriteJson(ParseUrl(s)); });
              }});
  r.Function(
      {"parse_urlquery", 1, 1, Returns(Type::kDynamic), [](Args a, const FunctionContext& c) {
         return Map(Type::kDynamic, a, c, [](std::string_view s) {
           if (!s.empty() && s[0] == '?') s.remove_prefix(1);
           bj::object out;
           out["Query Parameters"] = ParseQuery(s);
           return WriteJson(out);
         });
       }});
}

}  // namespace cmk::kql::fn
