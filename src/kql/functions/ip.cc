// IP address functions: ipv4_is_match, ipv4_compare, ipv4_is_in_range, ipv4_is_in_any_range,
// ipv4_is_private, ipv4_netmask_suffix, parse_ipv4, parse_ipv4_mask, format_ipv4,
// format_ipv4_mask, ipv4_range_to_cidr_list, ipv6_compare, ipv6_is_match, parse_ipv6,
// parse_ipv6_mask, ipv6_is_in_range, ipv6_is_in_any_range, has_ipv4, has_ipv4_prefix,
// has_any_ipv4, has_any_ipv4_prefix.
//
// Addresses are parsed with POSIX inet_pton (dotted quads without leading zeros, RFC 4291 IPv6
// text) plus Kusto's IP-prefix notation "addr/bits". IPv6 functions take IPv4 text too, as the
// IPv4-mapped address ::ffff:a.b.c.d with its prefix moved up by 96 bits; so are IPv6 texts
// that end in a dotted quad after zeros ("::192.168.1.1/24" is ::ffff:c0a8:100/120), as the
// docs' parse_ipv6_mask examples show. Masks combine by taking the shortest prefix of the
// operands and the optional prefix argument. Text that does not parse gives null (bool, long)
// or "" (string), as documented.
#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <optional>
#include <type_traits>
#include <unordered_set>

#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

struct Ipv4 {
  uint32_t addr = 0;  // masked to `prefix` bits
  int prefix = 32;
};

struct Ipv6 {
  std::array<uint8_t, 16> bytes{};  // masked to `prefix` bits
  int prefix = 128;
};

std::string_view TrimSpaces(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

uint32_t Mask4(int prefix) { return prefix <= 0 ? 0 : ~uint32_t{0} << (32 - prefix); }

void Mask6(std::array<uint8_t, 16>& b, int prefix) {
  for (int i = 0; i < 16; ++i) {
    int keep = std::clamp(prefix - 8 * i, 0, 8);
    b[static_cast<size_t>(i)] &= static_cast<uint8_t>(0xFF00 >> keep);
  }
}

// Splits "addr/bits"; bits must be 0..max (decimal, at most 3 digits).
bool SplitPrefix(std::string_view text, int max, std::string& addr, int& prefix) {
  text = TrimSpaces(text);
  size_t slash = text.find('/');
  addr.assign(text.substr(0, slash));
  if (slash == std::string_view::npos) return true;
  std::string_view bits = text.substr(slash + 1);
  if (bits.empty() || bits.size() > 3) return false;
  int v = 0;
  for (char c : bits) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  if (v > max) return false;
  prefix = v;
  return true;
}

std::optional<Ipv4> ParseIpv4(std::string_view text) {
  std::string addr;
  int prefix = 32;
  in_addr a{};
  if (!SplitPrefix(text, 32, addr, prefix) || inet_pton(AF_INET, addr.c_str(), &a) != 1) {
    return std::nullopt;
  }
  return Ipv4{ntohl(a.s_addr) & Mask4(prefix), prefix};
}

std::optional<Ipv6> ParseIpv6(std::string_view text) {
  std::string addr;
  int prefix = -1;
  bool dotted = text.find('.') != std::string_view::npos;
  if (!SplitPrefix(text, dotted ? 32 : 128, addr, prefix)) return std::nullopt;
  Ipv6 ip;
  if (addr.find(':') == std::string::npos) {
    in_addr a{};
    if (inet_pton(AF_INET, addr.c_str(), &a) != 1) return std::nullopt;
    ip.bytes[10] = ip.bytes[11] = 0xFF;
    std::memcpy(ip.bytes.data() + 12, &a.s_addr, 4);  // network order
  } else {
    in6_addr a{};
    if (inet_pton(AF_INET6, addr.c_str(), &a) != 1) return std::nullopt;
    std::memcpy(ip.bytes.data(), a.s6_addr, 16);
    bool zeros =
        std::all_of(ip.bytes.begin(), ip.bytes.begin() + 12, [](uint8_t b) { return b == 0; });
    if (dotted && zeros) ip.bytes[10] = ip.bytes[11] = 0xFF;  // ::a.b.c.d as ::ffff:a.b.c.d
  }
  ip.prefix = prefix < 0 ? 128 : dotted ? prefix + 96 : prefix;
  Mask6(ip.bytes, ip.prefix);
  return ip;
}

// The optional prefix argument at row i: nullopt when absent, -1 when null or out of [0, max].
std::optional<int> PrefixArg(Args a, size_t k, size_t i, int max) {
  if (a.size() <= k) return std::nullopt;
  if (a[k]->IsNull(i)) return -1;
  int64_t v = UsesReals(a[k]->type) ? static_cast<int64_t>(a[k]->Real(i)) : a[k]->Int(i);
  return v < 0 || v > max ? -1 : static_cast<int>(v);
}

Result<Type> StringsThenPrefix(std::string_view fn, Types t, size_t strings, Type result) {
  for (size_t k = strings; k < t.size(); ++k) {
    if (!IsIntegral(t[k]) && !UsesReals(t[k])) return ArgTypeError(fn, k, t[k], "int or long");
  }
  return result;
}

// --- ipv4_compare / ipv4_is_match and their IPv6 forms ---------------------------------------

int Compare6(const Ipv6& x, const Ipv6& y, int prefix) {
  std::array<uint8_t, 16> a = x.bytes, b = y.bytes;
  Mask6(a, prefix);
  Mask6(b, prefix);
  int c = std::memcmp(a.data(), b.data(), 16);
  return c < 0 ? -1 : c > 0 ? 1 : 0;
}

Result<Column> EvalCompare(bool v6, bool as_bool, Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(as_bool ? Type::kBool : Type::kLong, s);
  std::string s0, s1;
  for (size_t i = 0; i < s.rows; ++i) {
    std::optional<int> p = PrefixArg(a, 2, i, v6 ? 128 : 32);
    int c = 0;
    if (v6) {
      auto x = ParseIpv6(TextOf(*a[0], i, s0)), y = ParseIpv6(TextOf(*a[1], i, s1));
      if (!x || !y || p == -1) {
        SetNull(out, i);
        continue;
      }
      c = Compare6(*x, *y, std::min({x->prefix, y->prefix, p.value_or(128)}));
    } else {
      auto x = ParseIpv4(TextOf(*a[0], i, s0)), y = ParseIpv4(TextOf(*a[1], i, s1));
      if (!x || !y || p == -1) {
        SetNull(out, i);
        continue;
      }
      uint32_t m = Mask4(std::min({x->prefix, y->prefix, p.value_or(32)}));
      c = (x->addr & m) < (y->addr & m) ? -1 : (x->addr & m) > (y->addr & m) ? 1 : 0;
    }
    out.ints[i] = as_bool ? (c == 0) : c;
  }
  return out;
}

// --- ranges -----------------------------------------------------------------------------------

template <typename Ip>
std::optional<Ip> ParseAny(std::string_view text) {
  if constexpr (std::is_same_v<Ip, Ipv4>) {
    return ParseIpv4(text);
  } else {
    return ParseIpv6(text);
  }
}

bool InRange(const Ipv4& ip, const Ipv4& range) {
  return (ip.addr & Mask4(range.prefix)) == range.addr;
}
bool InRange(const Ipv6& ip, const Ipv6& range) { return Compare6(ip, range, range.prefix) == 0; }

// Ranges of arguments 1.. at row i (strings or dynamic arrays of strings); false when one does
// not parse.
template <typename Ip>
bool CollectRanges(Args a, size_t i, std::vector<Ip>& out) {
  out.clear();
  std::string scratch;
  for (size_t k = 1; k < a.size(); ++k) {
    if (a[k]->type != Type::kDynamic) {
      auto r = ParseAny<Ip>(TextOf(*a[k], i, scratch));
      if (!r) return false;
      out.push_back(*r);
      continue;
    }
    auto v = a[k]->IsNull(i) ? std::nullopt : ParseJson(a[k]->Str(i));
    if (!v) return false;
    const bj::array* arr = v->if_array();
    for (const bj::value& e : arr != nullptr ? *arr : bj::array{*v}) {
      auto r = e.is_string() ? ParseAny<Ip>(std::string_view(e.get_string())) : std::nullopt;
      if (!r) return false;
      out.push_back(*r);
    }
  }
  return true;
}

// ipv4_is_in_range(ip, range), ipv4_is_in_any_range(ip, ranges...) and the IPv6 forms. Constant
// range lists are parsed once per call.
template <typename Ip>
Result<Column> EvalInRange(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kBool, s);
  bool constant = std::all_of(a.begin() + 1, a.end(), [](const Column* c) { return c->constant; });
  std::vector<Ip> ranges;
  bool ranges_ok = constant && CollectRanges(a, 0, ranges);
  std::string scratch;
  for (size_t i = 0; i < s.rows; ++i) {
    if (!constant) ranges_ok = CollectRanges(a, i, ranges);
    auto ip = ParseAny<Ip>(TextOf(*a[0], i, scratch));
    if (!ip || !ranges_ok) {
      SetNull(out, i);
      continue;
    }
    out.ints[i] =
        std::any_of(ranges.begin(), ranges.end(), [&](const Ip& r) { return InRange(*ip, r); });
  }
  return out;
}

Result<Type> RangeType(std::string_view fn, Types t) {
  for (size_t k = 1; k < t.size(); ++k) {
    if (t[k] != Type::kString && t[k] != Type::kDynamic) {
      return ArgTypeError(fn, k, t[k], "string or dynamic");
    }
  }
  return Type::kBool;
}

// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 (RFC 1918).
Result<Column> EvalIsPrivate(Args a, const FunctionContext& ctx) {
  static constexpr Ipv4 kPrivate[] = {{0x0A000000, 8}, {0xAC100000, 12}, {0xC0A80000, 16}};
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kBool, s);
  std::string scratch;
  for (size_t i = 0; i < s.rows; ++i) {
    auto ip = ParseIpv4(TextOf(*a[0], i, scratch));
    if (!ip) {
      SetNull(out, i);
      continue;
    }
    out.ints[i] = std::any_of(std::begin(kPrivate), std::end(kPrivate),
                              [&](const Ipv4& r) { return InRange(*ip, r); });
  }
  return out;
}

// --- parse / format ---------------------------------------------------------------------------

// parse_ipv4(ip), parse_ipv4_mask(ip, prefix), ipv4_netmask_suffix(ip).
Result<Column> EvalParse4(bool with_mask, bool suffix, Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kLong, s);
  std::string scratch;
  for (size_t i = 0; i < s.rows; ++i) {
    auto ip = ParseIpv4(TextOf(*a[0], i, scratch));
    std::optional<int> p = with_mask ? PrefixArg(a, 1, i, 32) : std::nullopt;
    if (!ip || p == -1) {
      SetNull(out, i);
      continue;
    }
    out.ints[i] = suffix ? ip->prefix : static_cast<int64_t>(ip->addr & Mask4(p.value_or(32)));
  }
  return out;
}

std::string Format4(uint32_t addr) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", addr >> 24, (addr >> 16) & 0xFF, (addr >> 8) & 0xFF,
                addr & 0xFF);
  return buf;
}

// format_ipv4(ip[, prefix]) and format_ipv4_mask(ip[, prefix]): ip is IPv4 text or a number
// (the address in big-endian order, 0..2^32-1); "" when it doesn't convert.
Result<Column> EvalFormat4(bool with_suffix, Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kString, s);
  std::string scratch;
  for (size_t i = 0; i < s.rows; ++i) {
    std::optional<Ipv4> ip;
    const Column& c = *a[0];
    if (c.IsNull(i)) {
      ip = std::nullopt;
    } else if (IsIntegral(c.type) || UsesReals(c.type)) {
      double v = NumAt(c, i);
      if (v >= 0 && v <= 4294967295.0 && v == static_cast<double>(static_cast<int64_t>(v))) {
        ip = Ipv4{static_cast<uint32_t>(v), 32};
      }
    } else {
      ip = ParseIpv4(TextOf(c, i, scratch));
    }
    std::optional<int> p = PrefixArg(a, 1, i, 32);
    if (!ip || p == -1) continue;
    int prefix = std::min(ip->prefix, p.value_or(32));
    out.strings[i] = Format4(ip->addr & Mask4(prefix));
    if (with_suffix) out.strings[i] += "/" + std::to_string(prefix);
  }
  return out;
}

std::string Format6(const std::array<uint8_t, 16>& b) {
  std::string out;
  out.reserve(39);
  char buf[8];
  for (size_t k = 0; k < 16; k += 2) {
    std::snprintf(buf, sizeof buf, k ? ":%02x%02x" : "%02x%02x", b[k], b[k + 1]);
    out += buf;
  }
  return out;
}

// parse_ipv6(ip), parse_ipv6_mask(ip, prefix): the canonical (full, lower-case) text.
Result<Column> EvalParse6(bool with_mask, Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kString, s);
  std::string scratch;
  for (size_t i = 0; i < s.rows; ++i) {
    auto ip = ParseIpv6(TextOf(*a[0], i, scratch));
    std::optional<int> p = with_mask ? PrefixArg(a, 1, i, 128) : std::nullopt;
    if (!ip || p == -1) continue;
    Mask6(ip->bytes, p.value_or(128));
    out.strings[i] = Format6(ip->bytes);
  }
  return out;
}

// ipv4_range_to_cidr_list(start, end): the fewest CIDR blocks covering [start, end], each the
// largest block aligned at its start that stays within the range. Null when an address doesn't
// parse, [] when start > end.
Result<Column> EvalRangeToCidr(Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kDynamic, s);
  std::string s0, s1;
  for (size_t i = 0; i < s.rows; ++i) {
    auto from = ParseIpv4(TextOf(*a[0], i, s0)), to = ParseIpv4(TextOf(*a[1], i, s1));
    if (!from || !to) {
      SetNull(out, i);
      continue;
    }
    bj::array list;
    uint64_t lo = from->addr, hi = to->addr;
    while (lo <= hi) {
      int bits = 0;  // host bits of the block
      while (bits < 32 && (lo & ((uint64_t{1} << (bits + 1)) - 1)) == 0 &&
             lo + (uint64_t{1} << (bits + 1)) - 1 <= hi) {
        ++bits;
      }
      list.emplace_back(
          bj::string(Format4(static_cast<uint32_t>(lo)) + "/" + std::to_string(32 - bits)));
      lo += uint64_t{1} << bits;
    }
    out.strings[i] = WriteJson(list);
  }
  return out;
}

// --- has_ipv4 and friends ---------------------------------------------------------------------

bool IsAlnumOrDot(char c) { return IsAlnumAscii(c) || c == '.'; }

// Calls f(address text) for each IPv4 address of `text` that stands alone: a run of digits and
// dots, with no letter, digit or dot on either side (one trailing dot, as at the end of a
// sentence, is dropped), that is a valid dotted quad.
template <typename F>
bool AnyIpv4In(std::string_view text, F f) {
  size_t i = 0;
  while (i < text.size()) {
    if (!IsAlnumOrDot(text[i])) {
      ++i;
      continue;
    }
    size_t start = i;
    bool digits_and_dots = true;
    while (i < text.size() && IsAlnumOrDot(text[i])) {
      digits_and_dots = digits_and_dots && (text[i] == '.' || (text[i] >= '0' && text[i] <= '9'));
      ++i;
    }
    if (!digits_and_dots) continue;
    std::string run(text.substr(start, i - start));
    if (!run.empty() && run.back() == '.') run.pop_back();
    in_addr a{};
    if (run.size() >= 7 && inet_pton(AF_INET, run.c_str(), &a) == 1 && f(run)) return true;
  }
  return false;
}

// A valid has_ipv4_prefix needle: a full address, or 1-3 octets each followed by a dot.
bool IsIpv4Prefix(std::string_view p) {
  if (ParseIpv4(p) && p.find('/') == std::string_view::npos) return true;
  if (p.empty() || p.back() != '.') return false;
  int octets = 0;
  size_t i = 0;
  while (i < p.size()) {
    size_t start = i;
    int v = 0;
    while (i < p.size() && p[i] >= '0' && p[i] <= '9' && i - start < 3) v = v * 10 + (p[i++] - '0');
    if (i == start || i >= p.size() || p[i] != '.' || v > 255) return false;
    if (i - start > 1 && p[start] == '0') return false;
    ++i;
    ++octets;
  }
  return octets <= 3;
}

// has_ipv4(source, ip), has_ipv4_prefix(source, prefix), has_any_ipv4(source, ips...),
// has_any_ipv4_prefix(source, prefixes...): needles are strings or dynamic arrays of strings;
// invalid needles never match. Constant needle lists are read once per call.
Result<Column> EvalHasIpv4(bool prefix, Args a, const FunctionContext& ctx) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(Type::kBool, s);
  bool constant = std::all_of(a.begin() + 1, a.end(), [](const Column* c) { return c->constant; });
  std::unordered_set<std::string> exact;  // canonical dotted quads
  // Prefixes as written: an address's candidates are itself and its text up to each dot (three
  // lookups, not one comparison per prefix: 10,000 prefixes over a text of addresses).
  std::unordered_set<std::string> prefixes;
  auto collect = [&](size_t row) {
    exact.clear();
    prefixes.clear();
    std::string scratch;
    auto add = [&](std::string_view needle) {
      needle = TrimSpaces(needle);
      if (!prefix && needle.find('/') == std::string_view::npos) {
        if (auto ip = ParseIpv4(needle)) exact.insert(Format4(ip->addr));
      } else if (prefix && IsIpv4Prefix(needle)) {
        prefixes.emplace(needle);
      }
    };
    for (size_t k = 1; k < a.size(); ++k) {
      if (a[k]->type != Type::kDynamic) {
        add(TextOf(*a[k], row, scratch));
        continue;
      }
      auto v = a[k]->IsNull(row) ? std::nullopt : ParseJson(a[k]->Str(row));
      if (!v) continue;
      if (v->is_string()) add(v->get_string());
      if (!v->is_array()) continue;
      for (const bj::value& e : v->get_array()) {
        if (e.is_string()) add(e.get_string());
      }
    }
  };
  if (constant) collect(0);
  std::string scratch;
  for (size_t i = 0; i < s.rows; ++i) {
    if (!constant) collect(i);
    if (exact.empty() && prefixes.empty()) continue;
    out.ints[i] = AnyIpv4In(TextOf(*a[0], i, scratch), [&](const std::string& ip) {
      if (!prefix) return exact.count(ip) > 0;
      if (prefixes.count(ip) > 0) return true;
      for (size_t dot = ip.find('.'); dot != std::string::npos; dot = ip.find('.', dot + 1)) {
        if (prefixes.count(ip.substr(0, dot + 1)) > 0) return true;
      }
      return false;
    });
  }
  return out;
}

}  // namespace

void RegisterIp(Registry& r) {
  for (bool v6 : {false, true}) {
    std::string_view cmp = v6 ? "ipv6_compare" : "ipv4_compare";
    std::string_view match = v6 ? "ipv6_is_match" : "ipv4_is_match";
    r.Function({cmp, 2, 3, [cmp](Types t) { return StringsThenPrefix(cmp, t, 2, Type::kLong); },
                [v6](Args a, const FunctionContext& c) { return EvalCompare(v6, false, a, c); }});
    r.Function({match, 2, 3,
                [match](Types t) { return StringsThenPrefix(match, t, 2, Type::kBool); },
                [v6](Args a, const FunctionContext& c) { return EvalCompare(v6, true, a, c); }});
  }
  r.Function({"ipv4_is_in_range", 2, 2, Returns(Type::kBool), EvalInRange<Ipv4>});
  r.Function({"ipv6_is_in_range", 2, 2, Returns(Type::kBool), EvalInRange<Ipv6>});
  r.Function({"ipv4_is_in_any_range", 2, -1,
              [](Types t) { return RangeType("ipv4_is_in_any_range", t); }, EvalInRange<Ipv4>});
  r.Function({"ipv6_is_in_any_range", 2, -1,
              [](Types t) { return RangeType("ipv6_is_in_any_range", t); }, EvalInRange<Ipv6>});
  r.Function({"ipv4_is_private", 1, 1, Returns(Type::kBool), EvalIsPrivate});
  r.Function({"parse_ipv4", 1, 1, Returns(Type::kLong),
              [](Args a, const FunctionContext& c) { return EvalParse4(false, false, a, c); }});
  r.Function({"parse_ipv4_mask", 2, 2,
              [](Types t) { return StringsThenPrefix("parse_ipv4_mask", t, 1, Type::kLong); },
              [](Args a, const FunctionContext& c) { return EvalParse4(true, false, a, c); }});
  r.Function({"ipv4_netmask_suffix", 1, 1, Returns(Type::kLong),
              [](Args a, const FunctionContext& c) { return EvalParse4(false, true, a, c); }});
  r.Function({"format_ipv4", 1, 2,
              [](Types t) { return StringsThenPrefix("format_ipv4", t, 1, Type::kString); },
              [](Args a, const FunctionContext& c) { return EvalFormat4(false, a, c); }});
  r.Function({"format_ipv4_mask", 1, 2,
              [](Types t) { return StringsThenPrefix("format_ipv4_mask", t, 1, Type::kString); },
              [](Args a, const FunctionContext& c) { return EvalFormat4(true, a, c); }});
  r.Function({"parse_ipv6", 1, 1, Returns(Type::kString),
              [](Args a, const FunctionContext& c) { return EvalParse6(false, a, c); }});
  r.Function({"parse_ipv6_mask", 2, 2,
              [](Types t) { return StringsThenPrefix("parse_ipv6_mask", t, 1, Type::kString); },
              [](Args a, const FunctionContext& c) { return EvalParse6(true, a, c); }});
  r.Function({"ipv4_range_to_cidr_list", 2, 2, Returns(Type::kDynamic), EvalRangeToCidr});
  r.Function({"has_ipv4", 2, 2, Returns(Type::kBool),
              [](Args a, const FunctionContext& c) { return EvalHasIpv4(false, a, c); }});
  r.Function({"has_ipv4_prefix", 2, 2, Returns(Type::kBool),
              [](Args a, const FunctionContext& c) { return EvalHasIpv4(true, a, c); }});
  r.Function({"has_any_ipv4", 2, -1, Returns(Type::kBool),
              [](Args a, const FunctionContext& c) { return EvalHasIpv4(false, a, c); }});
  r.Function({"has_any_ipv4_prefix", 2, -1, Returns(Type::kBool),
              [](Args a, const FunctionContext& c) { return EvalHasIpv4(true, a, c); }});
}

}  // namespace cmk::kql::fn
