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
  // Kusto's text form always has 7 fractional digits (tostring(datetime(2020-01-01)) is
  // "2020-01-01T00:00:00.0000000Z"), which hash_sha256(datetime) and string keys depend on.
  std::string out = buf;
  std::snprintf(buf, sizeof buf, ".%07lldZ", static_cast<long long>(t % kTicksPerSecond));
  return out + buf;
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
    case Type::kGuid: return std::string(c.Str(row));
    case Type::kDynamic: return DynamicToString(c.Str(row));
  }
  return "";
}

namespace {

// The RFC 822 and RFC 850 forms of the datetime docs: [Weekday, ]d Mon yy hh:mm[:ss][ GMT] and
// [Weekday, ]dd-Mon-yy hh:mm[:ss][ GMT]; two-digit years are 20yy. Times are UTC.
std::optional<int64_t> ParseRfcDateTime(std::string_view s) {
  static constexpr std::string_view kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                                 "jul", "aug", "sep", "oct", "nov", "dec"};
  if (size_t comma = s.find(','); comma != std::string_view::npos) s = Trim(s.substr(comma + 1));
  size_t pos = 0;
  int64_t d, y, h, mi, sec = 0;
  if (!Digits(s, pos, 1, 2, d) || pos >= s.size() || (s[pos] != ' ' && s[pos] != '-')) {
    return std::nullopt;
  }
  char sep = s[pos++];
  if (pos + 3 > s.size()) return std::nullopt;
  std::string month = LowerAsciiCopy(s.substr(pos, 3));
  pos += 3;
  int64_t mo = 0;
  for (size_t k = 0; k < 12; ++k) mo = kMonths[k] == month ? static_cast<int64_t>(k) + 1 : mo;
  if (mo == 0 || pos >= s.size() || s[pos++] != sep) return std::nullopt;
  size_t year_start = pos;
  if (!Digits(s, pos, 2, 4, y) || pos - year_start == 3) return std::nullopt;
  if (pos - year_start == 2) y += 2000;
  if (pos >= s.size() || s[pos++] != ' ') return std::nullopt;
  if (!Digits(s, pos, 1, 2, h) || pos >= s.size() || s[pos++] != ':' || !Digits(s, pos, 2, 2, mi)) {
    return std::nullopt;
  }
  if (pos < s.size() && s[pos] == ':' && !Digits(s, ++pos, 2, 2, sec)) return std::nullopt;
  std::string_view zone = Trim(s.substr(pos));
  if (!zone.empty() && !EqualsNoCase(zone, "GMT") && !EqualsNoCase(zone, "UTC") && zone != "Z") {
    return std::nullopt;
  }
  if (d < 1 || h > 23 || mi > 59 || sec > 59) return std::nullopt;
  int64_t day = FromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  if (ToCivil(day).day != static_cast<unsigned>(d)) return std::nullopt;
  return day + ((h * 60 + mi) * 60 + sec) * kTicksPerSecond;
}

}  // namespace

namespace {

// The numeric forms .NET's invariant parser also takes, which the docs' examples use:
// "12-02-2022" and "12/2/2022 10:30:00 PM" (month first when the year comes last) and
// "2025, 6, 14" (year first), each with an optional "h:mm[:ss[.fffffff]] [AM|PM]" and Z/UTC/GMT.
std::optional<int64_t> ParseNumericDate(std::string_view s) {
  size_t pos = 0;
  int64_t n[3];
  size_t width[3];
  for (int k = 0; k < 3; ++k) {
    size_t start = pos;
    if (!Digits(s, pos, 1, 4, n[k])) return std::nullopt;
    width[k] = pos - start;
    if (k == 2) break;
    if (pos >= s.size() || (s[pos] != '-' && s[pos] != '/' && s[pos] != '.' && s[pos] != ',')) return std::nullopt;
    ++pos;
    while (pos < s.size() && s[pos] == ' ') ++pos;
  }
  int64_t y, mo, d;
  if (width[0] == 4 && width[1] <= 2 && width[2] <= 2) {
    y = n[0], mo = n[1], d = n[2];
  } else if (width[2] == 4 && width[0] <= 2 && width[1] <= 2) {
    mo = n[0], d = n[1], y = n[2];
  } else {
    return std::nullopt;
  }
  int64_t h = 0, mi = 0, sec = 0, frac = 0;
  std::string_view rest = Trim(s.substr(pos));
  size_t p = 0;
  if (!rest.empty() && rest[0] >= '0' && rest[0] <= '9') {
    if (!Digits(rest, p, 1, 2, h) || p >= rest.size() || rest[p++] != ':' || !Digits(rest, p, 2, 2, mi)) return std::nullopt;
    if (p < rest.size() && rest[p] == ':' && !Digits(rest, ++p, 2, 2, sec)) return std::nullopt;
    if (p < rest.size() && rest[p] == '.') frac = Fraction(rest, ++p);
    std::string_view ampm = Trim(rest.substr(p));
    bool pm = EqualsNoCase(ampm.substr(0, 2), "PM");
    if (pm || EqualsNoCase(ampm.substr(0, 2), "AM")) {
      if (h < 1 || h > 12) return std::nullopt;
      h = h % 12 + (pm ? 12 : 0);
      p = rest.size() - ampm.size() + 2;
    }
  }
  std::string_view tail = Trim(rest.substr(p));
  if (!tail.empty() && tail != "Z" && tail != "z" && !EqualsNoCase(tail, "UTC") && !EqualsNoCase(tail, "GMT")) {
    return std::nullopt;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || y < 1 || h > 23 || mi > 59 || sec > 59) return std::nullopt;
  int64_t day = FromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d));
  if (ToCivil(day).day != static_cast<unsigned>(d)) return std::nullopt;  // e.g. Feb 30
  return day + ((h * 60 + mi) * 60 + sec) * kTicksPerSecond + frac;
}

// YYYY-MM-DD[(T| )hh:mm[:ss[.f+]]][Z|±hh:mm| UTC| GMT], or an RFC 822/850 form.
std::optional<int64_t> ParseIsoDateTime(std::string_view s) {
  size_t pos = 0;
  int64_t y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
  if (!Digits(s, pos, 4, 4, y)) return ParseRfcDateTime(s);
  // Spaces around the date's separators are allowed, as .NET's parser allows them (the docs
  // write datetime(2017 - 08 - 01)).
  auto skip_spaces = [&] {
    while (pos < s.size() && s[pos] == ' ') ++pos;
  };
  skip_spaces();
  if (pos >= s.size() || (s[pos] != '-' && s[pos] != '/')) return std::nullopt;
  char sep = s[pos++];
  skip_spaces();
  if (!Digits(s, pos, 1, 2, mo)) return std::nullopt;
  skip_spaces();
  if (pos >= s.size() || s[pos++] != sep) return std::nullopt;
  skip_spaces();
  if (!Digits(s, pos, 1, 2, d)) return std::nullopt;
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

}  // namespace

std::optional<int64_t> ParseDateTime(std::string_view text) {
  std::string_view s = Trim(text);
  if (std::optional<int64_t> t = ParseIsoDateTime(s)) return t;
  return ParseNumericDate(s);
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

// toguid()'s rule (toguid-function.md): the first 32 hex digits, each hyphen standing where the
// canonical form has one (after digit 8, 12, 16 or 20; "0123456789ab-cdef-0123-456789abcdef"
// converts), anything after the 32nd digit ignored; an opening brace is skipped.
std::optional<std::string> ParseGuid(std::string_view text) {
  std::string_view s = Trim(text);
  if (!s.empty() && s.front() == '{') s.remove_prefix(1);
  std::string hex;
  bool hyphen_ok = false;
  for (size_t k = 0; k < s.size() && hex.size() < 32; ++k) {
    char ch = s[k];
    if (std::isxdigit(static_cast<unsigned char>(ch))) {
      hex.push_back(LowerAscii(ch));
      hyphen_ok = hex.size() == 8 || hex.size() == 12 || hex.size() == 16 || hex.size() == 20;
    } else if (ch == '-' && hyphen_ok) {
      hyphen_ok = false;
    } else {
      return std::nullopt;
    }
  }
  if (hex.size() != 32) return std::nullopt;
  return hex.substr(0, 8) + "-" + hex.substr(8, 4) + "-" + hex.substr(12, 4) + "-" + hex.substr(16, 4) + "-" +
         hex.substr(20);
}

}  // namespace cmk::kql::fn
