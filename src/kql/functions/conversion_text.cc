// Text forms of values (tostring) and the lenient parsers behind todatetime, totimespan, tolong,
// todouble, tobool and toguid.
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "base/encoding.h"
#include "kql/functions/function_json.h"
#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool Digits(std::string_view s, size_t& pos, size_t min_n, size_t max_n, int64_t& out) {
  size_t start = pos;
  int64_t v = 0;
  while (pos < s.size() && pos - start < max_n && s[pos] >= '0' && s[pos] <= '9') {
    v = v * 10 + (s[pos++] - '0');
  }
  out = v;
  return pos - start >= min_n;
}

// ".fffffff" (any number of digits, beyond 7 truncated) as ticks.
int64_t Fraction(std::string_view s, size_t& pos) {
  int64_t ticks = 0, scale = 1'000'000;
  while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
    ticks += (s[pos++] - '0') * scale;
    scale /= 10;
  }
  return ticks;
}

}  // namespace

std::string FormatDateTime(int64_t ticks) {
  Civil c = ToCivil(ticks);
  int64_t t = c.time_of_day;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lld", static_cast<long long>(c.year),
                c.month, c.day, static_cast<long long>(t / (3600 * kTicksPerSecond)),
                static_cast<long long>(t / (60 * kTicksPerSecond) % 60),
                static_cast<long long>(t / kTicksPerSecond % 60));
  std::string out = buf;
  if (int64_t frac = t % kTicksPerSecond; frac != 0) {
    std::snprintf(buf, sizeof buf, ".%07lld", static_cast<long long>(frac));
    out += buf;
  }
  out.push_back('Z');
  return out;
}

std::string FormatReal(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "Infinity" : "-Infinity";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, res.ptr);
}

std::string ValueToString(const Column& c, size_t row) {
  if (c.IsNull(row)) return "";
  switch (c.type) {
    case Type::kBool: return c.Int(row) ? "true" : "false";
    case Type::kInt:
    case Type::kLong: return std::to_string(c.Int(row));
    case Type::kReal:
    case Type::kDecimal: return FormatReal(c.Real(row));
    case Type::kDateTime: return FormatDateTime(c.Int(row));
    case Type::kTimespan: return FormatTimespan(c.Int(row));
    case Type::kString:
    case Type::kGuid: return c.Str(row);
    case Type::kDynamic: return DynamicToString(c.Str(row));
  }
  return "";
}

// YYYY-MM-DD[(T| )hh:mm[:ss[.f+]]][Z|±hh:mm| UTC| GMT]
std::optional<int64_t> ParseDateTime(std::string_view text) {
  std::string_view s = Trim(text);
  size_t pos = 0;
  int64_t y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
  if (!Digits(s, pos, 4, 4, y) || pos >= s.size() || (s[pos] != '-' && s[pos] != '/')) return std::nullopt;
  char sep = s[pos++];
  if (!Digits(s, pos, 1, 2, mo) || pos >= s.size() || s[pos++] != sep || !Digits(s, pos, 1, 2, d)) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31) return std::nullopt;
  if (pos < s.size() && (s[pos] == 'T' || s[pos] == 't' || s[pos] == ' ')) {
    ++pos;
    if (!Digits(s, pos, 1, 2, h) || pos >= s.size() || s[pos++] != ':' || !Digits(s, pos, 2, 2, mi)) {
      return std::nullopt;
    }
    if (pos < s.size() && s[pos] == ':') {
      ++pos;
      if (!Digits(s, pos, 2, 2, sec)) return std::nullopt;
      if (pos < s.size() && s[pos] == '.') frac = Fraction(s, ++pos);
    }
  }
  if (h > 23 || mi > 59 || sec > 59) return std::nullopt;
  int64_t offset = 0;
  std::string_view tail = Trim(s.substr(pos));
  if (tail == "Z" || tail == "z" || EqualsNoCase(tail, "UTC") || EqualsNoCase(tail, "GMT")) {
    tail = {};
  } else if (!tail.empty() && (tail[0] == '+' || tail[0] == '-')) {
    size_t p = 1;
    int64_t oh, om = 0;
    if (!Digits(tail, p, 2, 2, oh)) return std::nullopt;
    if (p < tail.size() && tail[p] == ':') ++p;
    if (p < tail.size() && !Digits(tail, p, 2, 2, om)) return std::nullopt;
    if (p != tail.size()) return std::nullopt;
    offset = (oh * 60 + om) * 60 * kTicksPerSecond * (tail[0] == '-' ? -1 : 1);
    tail = {};
  }
  if (!tail.empty()) return std::nullopt;
  Civil check = ToCivil(FromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)));
  if (check.day != static_cast<unsigned>(d)) return std::nullopt;  // e.g. Feb 30
  return FromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) +
         ((h * 60 + mi) * 60 + sec) * kTicksPerSecond + frac - offset;
}

namespace {

// "1.5h", "30m", "2d", "100ms", "10microseconds", "5ticks" (the KQL literal forms).
std::optional<int64_t> ParseUnitTimespan(std::string_view s) {
  size_t i = 0;
  while (i < s.size() && ((s[i] >= '0' && s[i] <= '9') || s[i] == '.')) ++i;
  if (i == 0) return std::nullopt;
  std::optional<double> num = ParseReal(s.substr(0, i));
  if (!num) return std::nullopt;
  std::string unit = LowerAsciiCopy(s.substr(i));
  double per;
  if (unit == "d" || unit == "day" || unit == "days") per = static_cast<double>(kTicksPerDay);
  else if (unit == "h" || unit == "hr" || unit == "hrs" || unit == "hour" || unit == "hours") per = 3600e7;
  else if (unit == "m" || unit == "min" || unit == "minute" || unit == "minutes") per = 60e7;
  else if (unit == "s" || unit == "sec" || unit == "second" || unit == "seconds") per = 1e7;
  else if (unit == "ms" || unit == "milli" || unit == "millis" || unit == "millisecond" ||
           unit == "milliseconds") per = 1e4;
  else if (unit == "microsecond" || unit == "microseconds") per = 10;
  else if (unit == "tick" || unit == "ticks") per = 1;
  else return std::nullopt;
  return std::llround(*num * per);
}

}  // namespace

// [-][d.]hh:mm[:ss[.f+]] or a literal form such as 1.5h.
std::optional<int64_t> ParseTimespan(std::string_view text) {
  std::string_view s = Trim(text);
  bool neg = !s.empty() && s[0] == '-';
  if (neg) s.remove_prefix(1);
  if (s.find(':') == std::string_view::npos) {
    auto v = ParseUnitTimespan(s);
    if (!v) return std::nullopt;
    return neg ? -*v : *v;
  }
  size_t pos = 0;
  int64_t days = 0, h, m, sec = 0, frac = 0;
  size_t dot = s.find('.'), colon = s.find(':');
  if (dot != std::string_view::npos && dot < colon) {
    if (!Digits(s, pos, 1, 9, days) || s[pos++] != '.') return std::nullopt;
  }
  if (!Digits(s, pos, 1, 2, h) || pos >= s.size() || s[pos++] != ':' || !Digits(s, pos, 1, 2, m)) {
    return std::nullopt;
  }
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    if (!Digits(s, pos, 1, 2, sec)) return std::nullopt;
    if (pos < s.size() && s[pos] == '.') frac = Fraction(s, ++pos);
  }
  if (pos != s.size() || h > 23 || m > 59 || sec > 59) return std::nullopt;
  int64_t v = days * kTicksPerDay + ((h * 60 + m) * 60 + sec) * kTicksPerSecond + frac;
  return neg ? -v : v;
}

std::optional<int64_t> ParseLong(std::string_view text) {
  std::string_view s = Trim(text);
  if (!s.empty() && s[0] == '+') s.remove_prefix(1);
  int64_t v = 0;
  auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || res.ec != std::errc() || res.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> ParseReal(std::string_view text) {
  std::string s(Trim(text));
  if (s.empty()) return std::nullopt;
  if (s == "Infinity" || s == "+Infinity") return HUGE_VAL;
  if (s == "-Infinity") return -HUGE_VAL;
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size()) return std::nullopt;
  return v;
}

std::optional<bool> ParseBool(std::string_view text) {
  std::string_view s = Trim(text);
  if (EqualsNoCase(s, "true") || s == "1") return true;
  if (EqualsNoCase(s, "false") || s == "0") return false;
  return std::nullopt;
}

std::optional<std::string> ParseGuid(std::string_view text) {
  std::string_view s = Trim(text);
  if (s.size() == 38 && s.front() == '{' && s.back() == '}') s = s.substr(1, 36);
  if (IsGuid(s)) return LowerAsciiCopy(s);
  if (s.size() != 32) return std::nullopt;
  for (char ch : s) {
    if (!std::isxdigit(static_cast<unsigned char>(ch))) return std::nullopt;
  }
  std::string g = LowerAsciiCopy(s);
  return g.substr(0, 8) + "-" + g.substr(8, 4) + "-" + g.substr(12, 4) + "-" + g.substr(16, 4) + "-" +
         g.substr(20);
}

}  // namespace cmk::kql::fn
