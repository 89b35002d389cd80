#pragma once
// Time vocabulary: TimePoint/Duration at nanosecond resolution, RFC 3339 text (up to 7 fractional
// digits on output, any number on input), ISO 8601 durations (`PT1H`, `P2D`, `PT3600.0S`) and
// intervals (`start/end`, `start/duration`, `duration/end`, a bare duration ending now).

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"

namespace cmk {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::sys_time<std::chrono::nanoseconds>;

// "2024-01-01T00:00:00.1234567Z" with `fraction_digits` (0..9) digits; 0 omits the dot.
std::string FormatRfc3339(TimePoint t, int fraction_digits = 7);
// Accepts `YYYY-MM-DDThh:mm:ss[.f+](Z|±hh:mm)`, 't'/' ' separators and lower-case 'z';
// a date alone (`YYYY-MM-DD`) means midnight UTC. Fractions beyond 9 digits are truncated.
Result<TimePoint> ParseRfc3339(std::string_view text);

// ISO 8601 duration. Years count 365 days and months 30 days (Azure's own convention for
// timespans); weeks 7 days. A leading '-' negates.
Result<Duration> ParseIsoDuration(std::string_view text);
// Shortest exact form: "PT0S", "PT1H", "P2D", "PT0.5S", "P1DT2H3M4.0000001S".
std::string FormatIsoDuration(Duration d);

struct TimeInterval {
  TimePoint start;
  TimePoint end;
};
// `start/end`, `start/duration`, `duration/end`, or a bare duration meaning (now - d, now].
Result<TimeInterval> ParseIsoInterval(std::string_view text, TimePoint now);

inline int64_t ToUnixSeconds(TimePoint t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}
inline TimePoint FromUnixSeconds(int64_t s) { return TimePoint(std::chrono::seconds(s)); }

// Ticks: 100-nanosecond units since the Unix epoch, KQL's datetime and timespan unit.
inline int64_t Ticks(TimePoint t) { return t.time_since_epoch().count() / 100; }
inline int64_t Ticks(Duration d) { return d.count() / 100; }
// A timespan of `ticks` as KQL and the query API print it: "[-][d.]hh:mm:ss[.fffffff]"
// (days only when non-zero; the fraction only when non-zero, always 7 digits).
std::string FormatTimespan(int64_t ticks);

}  // namespace cmk
