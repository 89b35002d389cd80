#include "base/time_format.h"

#include <cctype>
#include <cstdio>

namespace cmk {
namespace {

using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

bool ReadDigits(std::string_view s, size_t& pos, size_t n, int64_t& out) {
  if (pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t i = 0; i < n; ++i) {
    char c = s[pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  pos += n;
  out = v;
  return true;
}

constexpr int64_t kMinYear = 1700;
constexpr int64_t kMaxYear = 2200;

Status BadTime(std::string_view text) {
  return InvalidArgument("'" + std::string(text) + "' is not a valid RFC 3339 date-time.");
}

}  // namespace

std::string FormatRfc3339(TimePoint t, int fraction_digits) {
  auto day = std::chrono::floor<days>(t);
  std::chrono::year_month_day ymd{day};
  auto tod = t - day;
  auto h = std::chrono::duration_cast<hours>(tod);
  auto m = std::chrono::duration_cast<minutes>(tod - h);
  auto s = std::chrono::duration_cast<seconds>(tod - h - m);
  int64_t ns = (tod - h - m - s).count();
  char buf[64];
  int n = std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(ymd.year()),
                        static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                        static_cast<int>(h.count()), static_cast<int>(m.count()),
                        static_cast<int>(s.count()));
  std::string out(buf, static_cast<size_t>(n));
  if (fraction_digits > 0) {
    if (fraction_digits > 9) fraction_digits = 9;
    char frac[16];
    std::snprintf(frac, sizeof frac, "%09lld", static_cast<long long>(ns));
    out.push_back('.');
    out.append(frac, static_cast<size_t>(fraction_digits));
  }
  out.push_back('Z');
  return out;
}

Result<TimePoint> ParseRfc3339(std::string_view text) {
  size_t pos = 0;
  int64_t y, mo, d, h = 0, mi = 0, s = 0;
  if (!ReadDigits(text, pos, 4, y) || pos >= text.size() || text[pos++] != '-' ||
      !ReadDigits(text, pos, 2, mo) || pos >= text.size() || text[pos++] != '-' ||
      !ReadDigits(text, pos, 2, d)) {
    return BadTime(text);
  }
  std::chrono::year_month_day ymd{std::chrono::year(static_cast<int>(y)),
                                  std::chrono::month(static_cast<unsigned>(mo)),
                                  std::chrono::day(static_cast<unsigned>(d))};
  // TimePoint counts nanoseconds in 64 bits (years 1678-2262); keep a margin for arithmetic.
  if (!ymd.ok() || y < kMinYear || y > kMaxYear) return BadTime(text);
  TimePoint base = std::chrono::sys_days(ymd);
  if (pos == text.size()) return base;
  char sep = text[pos++];
  if (sep != 'T' && sep != 't' && sep != ' ') return BadTime(text);
  if (!ReadDigits(text, pos, 2, h) || pos >= text.size() || text[pos++] != ':' ||
      !ReadDigits(text, pos, 2, mi)) {
    return BadTime(text);
  }
  if (pos < text.size() && text[pos] == ':') {
    ++pos;
    if (!ReadDigits(text, pos, 2, s)) return BadTime(text);
  }
  if (h > 23 || mi > 59 || s > 60) return BadTime(text);
  int64_t ns = 0;
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    int digits = 0;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      if (digits < 9) {
        ns = ns * 10 + (text[pos] - '0');
        ++digits;
      }
      ++pos;
    }
    if (digits == 0) return BadTime(text);
    for (int i = digits; i < 9; ++i) ns *= 10;
  }
  int64_t offset_min = 0;
  if (pos == text.size()) return BadTime(text);  // a time needs a zone designator
  char z = text[pos++];
  if (z == 'Z' || z == 'z') {
    // UTC
  } else if (z == '+' || z == '-') {
    int64_t oh, om;
    if (!ReadDigits(text, pos, 2, oh)) return BadTime(text);
    if (pos < text.size() && text[pos] == ':') ++pos;
    if (!ReadDigits(text, pos, 2, om) || oh > 23 || om > 59) return BadTime(text);
    offset_min = (oh * 60 + om) * (z == '-' ? -1 : 1);
  } else {
    return BadTime(text);
  }
  if (pos != text.size()) return BadTime(text);
  return base + hours(h) + minutes(mi) + seconds(s) + Duration(ns) - minutes(offset_min);
}

Result<Duration> ParseIsoDuration(std::string_view text) {
  auto bad = [&] {
    return InvalidArgument("'" + std::string(text) + "' is not a valid ISO 8601 duration.");
  };
  size_t pos = 0;
  bool negative = false;
  if (pos < text.size() && (text[pos] == '-' || text[pos] == '+')) negative = text[pos++] == '-';
  if (pos >= text.size() || (text[pos] != 'P' && text[pos] != 'p')) return bad();
  ++pos;
  bool in_time = false, any = false;
  // Accumulate in nanoseconds with 128-bit headroom checks via long double for fractions.
  __int128 total = 0;
  while (pos < text.size()) {
    if (text[pos] == 'T' || text[pos] == 't') {
      if (in_time) return bad();
      in_time = true;
      ++pos;
      continue;
    }
    int64_t whole = 0;
    size_t start = pos;
    while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
      if (whole > 100000000000LL) return bad();
      whole = whole * 10 + (text[pos++] - '0');
    }
    int64_t frac_ns_num = 0;  // fraction scaled to 1e9
    if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
      ++pos;
      int digits = 0;
      while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) {
        if (digits < 9) {
          frac_ns_num = frac_ns_num * 10 + (text[pos] - '0');
          ++digits;
        }
        ++pos;
      }
      if (digits == 0) return bad();
      for (int i = digits; i < 9; ++i) frac_ns_num *= 10;
    }
    if (pos == start || pos >= text.size()) return bad();
    char unit = static_cast<char>(std::toupper(static_cast<unsigned char>(text[pos++])));
    int64_t unit_s;
    if (!in_time && unit == 'Y') unit_s = 365 * 86400;
    else if (!in_time && unit == 'M') unit_s = 30 * 86400;
    else if (!in_time && unit == 'W') unit_s = 7 * 86400;
    else if (!in_time && unit == 'D') unit_s = 86400;
    else if (in_time && unit == 'H') unit_s = 3600;
    else if (in_time && unit == 'M') unit_s = 60;
    else if (in_time && unit == 'S') unit_s = 1;
    else return bad();
    total += static_cast<__int128>(whole) * unit_s * 1000000000 +
             static_cast<__int128>(frac_ns_num) * unit_s;
    any = true;
    if (total > static_cast<__int128>(INT64_MAX)) return bad();
  }
  if (!any) return bad();
  int64_t ns = static_cast<int64_t>(total);
  return Duration(negative ? -ns : ns);
}

std::string FormatIsoDuration(Duration d) {
  int64_t ns = d.count();
  std::string out;
  if (ns < 0) {
    out.push_back('-');
    ns = -ns;
  }
  out.push_back('P');
  int64_t days_v = ns / (86400LL * 1000000000);
  ns -= days_v * 86400LL * 1000000000;
  int64_t h = ns / (3600LL * 1000000000);
  ns -= h * 3600LL * 1000000000;
  int64_t m = ns / (60LL * 1000000000);
  ns -= m * 60LL * 1000000000;
  int64_t s = ns / 1000000000;
  int64_t frac = ns % 1000000000;
  if (days_v) out += std::to_string(days_v) + "D";
  if (h || m || s || frac || !days_v) {
    out.push_back('T');
    if (h) out += std::to_string(h) + "H";
    if (m) out += std::to_string(m) + "M";
    if (s || frac || (!h && !m)) {
      out += std::to_string(s);
      if (frac) {
        char buf[16];
        std::snprintf(buf, sizeof buf, "%09lld", static_cast<long long>(frac));
        std::string f(buf);
        while (!f.empty() && f.back() == '0') f.pop_back();
        out += "." + f;
      }
      out.push_back('S');
    }
  }
  return out;
}

namespace {
// Intervals span at most 50 years, which keeps every endpoint inside TimePoint's range.
constexpr Duration kMaxSpan = std::chrono::hours(24 * 365 * 50);
Status TooLong(std::string_view text) {
  return InvalidArgument("'" + std::string(text) + "': the interval is longer than 50 years.");
}
}  // namespace

Result<TimeInterval> ParseIsoInterval(std::string_view text, TimePoint now) {
  size_t slash = text.find('/');
  auto is_duration = [](std::string_view s) {
    return !s.empty() && (s[0] == 'P' || s[0] == 'p' || ((s[0] == '-' || s[0] == '+') &&
                                                          s.size() > 1 && (s[1] == 'P' || s[1] == 'p')));
  };
  if (slash == std::string_view::npos) {
    ASSIGN_OR_RETURN(Duration d, ParseIsoDuration(text));
    if (d.count() < 0) return InvalidArgument("A timespan duration must not be negative.");
    if (d > kMaxSpan) return TooLong(text);
    return TimeInterval{now - d, now};
  }
  std::string_view a = text.substr(0, slash), b = text.substr(slash + 1);
  if (is_duration(a) && is_duration(b)) {
    return InvalidArgument("'" + std::string(text) + "' is not a valid ISO 8601 interval.");
  }
  TimeInterval iv;
  if (is_duration(a)) {
    ASSIGN_OR_RETURN(Duration d, ParseIsoDuration(a));
    ASSIGN_OR_RETURN(iv.end, ParseRfc3339(b));
    if (d > kMaxSpan || d < -kMaxSpan) return TooLong(text);
    iv.start = iv.end - d;
  } else if (is_duration(b)) {
    ASSIGN_OR_RETURN(iv.start, ParseRfc3339(a));
    ASSIGN_OR_RETURN(Duration d, ParseIsoDuration(b));
    if (d > kMaxSpan || d < -kMaxSpan) return TooLong(text);
    iv.end = iv.start + d;
  } else {
    ASSIGN_OR_RETURN(iv.start, ParseRfc3339(a));
    ASSIGN_OR_RETURN(iv.end, ParseRfc3339(b));
  }
  if (iv.end < iv.start) {
    return InvalidArgument("'" + std::string(text) + "': the interval ends before it starts.");
  }
  return iv;
}

std::string FormatTimespan(int64_t ticks) {
  constexpr uint64_t kPerSecond = 10'000'000;
  // |ticks| without overflow at INT64_MIN.
  uint64_t t = ticks < 0 ? static_cast<uint64_t>(-(ticks + 1)) + 1 : static_cast<uint64_t>(ticks);
  uint64_t frac = t % kPerSecond, secs = t / kPerSecond;
  unsigned long long days = secs / 86400;
  char buf[64];
  int n = std::snprintf(buf, sizeof(buf), "%s", ticks < 0 ? "-" : "");
  if (days > 0) n += std::snprintf(buf + n, sizeof(buf) - n, "%llu.", days);
  n += std::snprintf(buf + n, sizeof(buf) - n, "%02u:%02u:%02u",
                     static_cast<unsigned>(secs / 3600 % 24), static_cast<unsigned>(secs / 60 % 60),
                     static_cast<unsigned>(secs % 60));
  if (frac != 0) {
    n += std::snprintf(buf + n, sizeof(buf) - n, ".%07llu", static_cast<unsigned long long>(frac));
  }
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace cmk
