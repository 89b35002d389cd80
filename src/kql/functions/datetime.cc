// Date and time functions: now, ago, bin/floor/bin_at, startof*/endof*, datetime_add,
// datetime_diff, datetime_part, getyear, getmonth, monthofyear, dayofweek, dayofmonth, dayofyear,
// hourofday, week_of_year (weekofyear), unixtime_*_todatetime, make_datetime, make_timespan,
// datetime_utc_to_local, datetime_local_to_utc, datetime_list_timezones.
// Calendar math is proleptic Gregorian UTC over 100-ns ticks (function_util.h: ToCivil).
// Time zones come from ICU's copy of the IANA database (libicu-dev): a well-kept library rather
// than a hand-written TZif reader.
#include <algorithm>
#include <cmath>
#include <memory>

#include <unicode/basictz.h>
#include <unicode/strenum.h>
#include <unicode/timezone.h>

#include "kql/functions/function_util.h"

namespace cmk::kql::fn {
namespace {

constexpr int64_t kTicksPerHour = 3600 * kTicksPerSecond;
constexpr int64_t kTicksPerMinute = 60 * kTicksPerSecond;

int64_t DayStart(int64_t t) { return FloorDiv(t, kTicksPerDay) * kTicksPerDay; }
int64_t DayOfWeek(int64_t t) {  // 0 = Sunday; 1970-01-01 was a Thursday
  int64_t d = FloorDiv(t, kTicksPerDay) + 4;
  return ((d % 7) + 7) % 7;
}
int64_t MonthIndex(const Civil& c) { return c.year * 12 + (c.month - 1); }
int64_t FromMonthIndex(int64_t mi, unsigned day = 1) {
  return FromCivil(FloorDiv(mi, 12), static_cast<unsigned>(mi - FloorDiv(mi, 12) * 12 + 1), day);
}
int64_t DaysInMonth(int64_t mi) { return (FromMonthIndex(mi + 1) - FromMonthIndex(mi)) / kTicksPerDay; }

// Evaluates `f(row, &out_value) -> ok` for every row; nulls in, or !ok, give null.
template <typename F>
Result<Column> PerRow(Args a, const FunctionContext& ctx, Type t, F f) {
  Shape s = ShapeOf(a, ctx);
  Column out = MakeColumn(t, s);
  const bool nulls = std::any_of(a.begin(), a.end(), [](const Column* c) { return c->HasNulls(); });
  for (size_t i = 0; i < s.rows; ++i) {
    bool ok = !nulls || !AnyNull(a, i);
    if (ok) {
      if constexpr (std::is_invocable_v<F, size_t, double*>) ok = f(i, &out.reals[i]);
      else ok = f(i, &out.ints[i]);
    }
    if (!ok) SetNull(out, i);
  }
  return out;
}

auto Expect(std::string_view fn, std::vector<std::vector<Type>> allowed, Type result) {
  return [fn, allowed, result](Types t) -> Result<Type> {
    for (size_t i = 0; i < t.size() && i < allowed.size(); ++i) {
      bool ok = false;
      for (Type x : allowed[i]) ok = ok || x == t[i] || (x == Type::kLong && IsNumeric(t[i]));
      if (!ok) return ArgTypeError(fn, i, t[i], TypeName(allowed[i][0]));
    }
    return result;
  };
}

// --- bin -------------------------------------------------------------------------------------

Result<Type> BinType(std::string_view fn, Types t) {
  Type v = t[0], r = t[1];
  // bin_at(6.5, 2.5, 7): a numeric fixed point may have another numeric type than the value.
  bool numeric_at = t.size() == 3 && IsNumeric(v) && IsNumeric(t[2]);
  if (t.size() == 3 && t[2] != v && !numeric_at) return ArgTypeError(fn, 2, t[2], TypeName(v));
  if ((v == Type::kDateTime || v == Type::kTimespan) && r == Type::kTimespan) return v;
  if (IsNumeric(v) && IsNumeric(r)) {
    Type out = PromoteNumeric(v == Type::kInt ? Type::kLong : v, r);
    return numeric_at ? PromoteNumeric(out, t[2]) : out;
  }
  return ArgTypeError(fn, 1, r, v == Type::kDateTime || v == Type::kTimespan ? "timespan" : "a number");
}

Result<Column> EvalBin(std::string_view fn, Args a, const FunctionContext& ctx) {
  Type types[3] = {a[0]->type, a[1]->type, a.size() > 2 ? a[2]->type : a[0]->type};
  ASSIGN_OR_RETURN(Type t, BinType(fn, std::span<const Type>(types, a.size())));
  const Column &v = *a[0], &size = *a[1];
  if (UsesReals(t)) {
    return PerRow(a, ctx, t, [&](size_t i, double* out) {
      double r = NumAt(size, i), at = a.size() > 2 ? NumAt(*a[2], i) : 0;
      if (!(r > 0)) return false;
      *out = std::floor((NumAt(v, i) - at) / r) * r + at;
      return true;
    });
  }
  return PerRow(a, ctx, t, [&](size_t i, int64_t* out) {
    int64_t r = size.Int(i), at = a.size() > 2 ? a[2]->Int(i) : 0;
    if (r <= 0) return false;
    *out = FloorDiv(v.Int(i) - at, r) * r + at;
    return true;
  });
}

// floor(x) is the math floor; floor(x, size) is an alias of bin.
Result<Column> EvalFloor(Args a, const FunctionContext& ctx) {
  if (a.size() == 2) return EvalBin("floor", a, ctx);
  if (!IsNumeric(a[0]->type)) return ArgTypeError("floor", 0, a[0]->type, "a number");
  if (!UsesReals(a[0]->type)) return PerRow(a, ctx, a[0]->type, [&](size_t i, int64_t* o) { return *o = a[0]->Int(i), true; });
  return PerRow(a, ctx, a[0]->type, [&](size_t i, double* o) { return *o = std::floor(a[0]->Real(i)), true; });
}

// --- start/end of periods ------------------------------------------------------------------------

enum class Period { kDay, kWeek, kMonth, kYear };

int64_t StartOf(Period p, int64_t t, int64_t offset) {
  switch (p) {
    case Period::kDay: return DayStart(t) + offset * kTicksPerDay;
    case Period::kWeek: return DayStart(t) - DayOfWeek(t) * kTicksPerDay + offset * 7 * kTicksPerDay;
    case Period::kMonth: return FromMonthIndex(MonthIndex(ToCivil(t)) + offset);
    case Period::kYear: return FromCivil(ToCivil(t).year + offset, 1, 1);
  }
  return t;
}

void AddPeriod(Registry& r, std::string_view start, std::string_view end, Period p) {
  for (bool is_end : {false, true}) {
    std::string_view name = is_end ? end : start;
    r.Function({name, 1, 2, Expect(name, {{Type::kDateTime}, {Type::kLong}}, Type::kDateTime),
                [p, is_end](Args a, const FunctionContext& ctx) {
                  return PerRow(a, ctx, Type::kDateTime, [&](size_t i, int64_t* out) {
                    int64_t offset = a.size() > 1 ? static_cast<int64_t>(NumAt(*a[1], i)) : 0;
                    *out = is_end ? StartOf(p, a[0]->Int(i), offset + 1) - 1 : StartOf(p, a[0]->Int(i), offset);
                    return true;
                  });
                }});
  }
}

// --- parts ---------------------------------------------------------------------------------------

enum class Part { kYear, kQuarter, kMonth, kWeek, kDay, kHour, kMinute, kSecond, kMilli, kMicro, kNano, kDayOfYear, kBad };

Part ParsePart(std::string_view s) {
  std::string p = LowerAsciiCopy(s);
  if (p == "year") return Part::kYear;
  if (p == "quarter") return Part::kQuarter;
  if (p == "month") return Part::kMonth;
  if (p == "week" || p == "weekofyear" || p == "week_of_year") return Part::kWeek;
  if (p == "day") return Part::kDay;
  if (p == "dayofyear") return Part::kDayOfYear;
  if (p == "hour") return Part::kHour;
  if (p == "minute") return Part::kMinute;
  if (p == "second") return Part::kSecond;
  if (p == "millisecond") return Part::kMilli;
  if (p == "microsecond") return Part::kMicro;
  if (p == "nanosecond") return Part::kNano;
  return Part::kBad;
}

int64_t TicksOf(Part p) {
  switch (p) {
    case Part::kWeek: return 7 * kTicksPerDay;
    case Part::kDay: return kTicksPerDay;
    case Part::kHour: return kTicksPerHour;
    case Part::kMinute: return kTicksPerMinute;
    case Part::kSecond: return kTicksPerSecond;
    case Part::kMilli: return 10'000;
    case Part::kMicro: return 10;
    default: return 1;
  }
}

int64_t DayOfYear(int64_t t) { return (DayStart(t) - FromCivil(ToCivil(t).year, 1, 1)) / kTicksPerDay + 1; }

// ISO 8601 week number (weeks start on Monday; week 1 holds the year's first Thursday).
int64_t IsoWeek(int64_t t) {
  int64_t weekday = (DayOfWeek(t) + 6) % 7 + 1;  // Monday = 1 .. Sunday = 7
  int64_t week = (DayOfYear(t) - weekday + 10) / 7;
  if (week < 1) return IsoWeek(FromCivil(ToCivil(t).year, 1, 1) - kTicksPerDay);
  int64_t dec28 = FromCivil(ToCivil(t).year, 12, 28);  // always in the year's last ISO week
  int64_t last = (DayOfYear(dec28) - ((DayOfWeek(dec28) + 6) % 7 + 1) + 10) / 7;
  return week > last ? 1 : week;
}

bool PartOf(Part p, int64_t t, int64_t* out) {
  // The parts of the time of day need no calendar (the calendar was half of a
  // `summarize count() by hourofday(TimeGenerated)`).
  int64_t time_of_day = t - FloorDiv(t, kTicksPerDay) * kTicksPerDay;
  switch (p) {
    case Part::kHour: *out = time_of_day / kTicksPerHour; return true;
    case Part::kMinute: *out = time_of_day / kTicksPerMinute % 60; return true;
    case Part::kSecond: *out = time_of_day / kTicksPerSecond % 60; return true;
    case Part::kMilli: *out = time_of_day % kTicksPerSecond / 10'000; return true;
    case Part::kMicro: *out = time_of_day % kTicksPerSecond / 10; return true;
    case Part::kNano: *out = time_of_day % kTicksPerSecond * 100; return true;
    default: break;
  }
  Civil c = ToCivil(t);
  switch (p) {
    case Part::kYear: *out = c.year; return true;
    case Part::kQuarter: *out = (c.month - 1) / 3 + 1; return true;
    case Part::kMonth: *out = c.month; return true;
    case Part::kWeek: *out = IsoWeek(t); return true;
    case Part::kDay: *out = c.day; return true;
    case Part::kDayOfYear: *out = DayOfYear(t); return true;
    default: return false;  // kBad (the time of day's parts are answered above)
  }
  return false;
}

bool AddPart(Part p, int64_t n, int64_t t, int64_t* out) {
  if (p == Part::kYear || p == Part::kQuarter || p == Part::kMonth) {
    int64_t months = n * (p == Part::kYear ? 12 : p == Part::kQuarter ? 3 : 1);
    Civil c = ToCivil(t);
    int64_t mi = MonthIndex(c) + months;
    unsigned day = static_cast<unsigned>(std::min<int64_t>(c.day, DaysInMonth(mi)));
    *out = FromMonthIndex(mi, day) + c.time_of_day;
    return true;
  }
  if (p == Part::kBad || p == Part::kDayOfYear) return false;
  *out = t + (p == Part::kNano ? n / 100 : n * TicksOf(p));
  return true;
}

bool DiffPart(Part p, int64_t t1, int64_t t2, int64_t* out) {
  Civil c1 = ToCivil(t1), c2 = ToCivil(t2);
  switch (p) {
    case Part::kYear: *out = c1.year - c2.year; return true;
    case Part::kQuarter:
      *out = (c1.year * 4 + (c1.month - 1) / 3) - (c2.year * 4 + (c2.month - 1) / 3);
      return true;
    case Part::kMonth: *out = MonthIndex(c1) - MonthIndex(c2); return true;
    case Part::kWeek: *out = (StartOf(Period::kWeek, t1, 0) - StartOf(Period::kWeek, t2, 0)) / (7 * kTicksPerDay); return true;
    case Part::kNano: *out = (t1 - t2) * 100; return true;
    case Part::kBad:
    case Part::kDayOfYear: return false;
    default: *out = FloorDiv(t1, TicksOf(p)) - FloorDiv(t2, TicksOf(p)); return true;
  }
}

Status BadPart(std::string_view fn) {
  return InvalidArgument(std::string(fn) + ": unknown date part", "SemanticError");
}

Result<Column> EvalDatetimeAdd(Args a, const FunctionContext& ctx) {
  bool bad = false;
  auto r = PerRow(a, ctx, Type::kDateTime, [&](size_t i, int64_t* out) {
    Part p = ParsePart(a[0]->Str(i));
    bad = bad || p == Part::kBad || p == Part::kDayOfYear;
    return AddPart(p, static_cast<int64_t>(NumAt(*a[1], i)), a[2]->Int(i), out);
  });
  if (bad) return BadPart("datetime_add");
  return r;
}

Result<Column> EvalDatetimeDiff(Args a, const FunctionContext& ctx) {
  bool bad = false;
  auto r = PerRow(a, ctx, Type::kLong, [&](size_t i, int64_t* out) {
    Part p = ParsePart(a[0]->Str(i));
    bad = bad || p == Part::kBad || p == Part::kDayOfYear;
    return DiffPart(p, a[1]->Int(i), a[2]->Int(i), out);
  });
  if (bad) return BadPart("datetime_diff");
  return r;
}

Result<Column> EvalDatetimePart(Args a, const FunctionContext& ctx) {
  bool bad = false;
  auto r = PerRow(a, ctx, Type::kInt, [&](size_t i, int64_t* out) {
    Part p = ParsePart(a[0]->Str(i));
    bad = bad || p == Part::kBad;
    return PartOf(p, a[1]->Int(i), out);
  });
  if (bad) return BadPart("datetime_part");
  return r;
}

// A part of the time of day of every value of a column without nulls, in a loop of its own
// (the switch over the parts per row, the floor division's branches and the per-row null test
// were half of `extend h = hourofday(TimeGenerated) | summarize count() by h`).
template <typename F>
Column TimesOfDay(const Column& c, Type t, F part) {
  Column out(t);
  out.ints.resize(c.ints.size());
  const int64_t* in = c.ints.data();
  int64_t* o = out.ints.data();
  for (size_t i = 0; i < c.ints.size(); ++i) {
    int64_t tod = in[i] % kTicksPerDay;
    tod += tod < 0 ? kTicksPerDay : 0;
    o[i] = part(tod);
  }
  return out;
}

void AddGetter(Registry& r, std::string_view name, Part p, Type t) {
  r.Function({name, 1, 1, Expect(name, {{Type::kDateTime}}, t), [p, t](Args a, const FunctionContext& ctx) -> Result<Column> {
                const Column& c = *a[0];
                if (!c.constant && !c.HasNulls() && c.ints.size() == ctx.rows) {
                  if (p == Part::kHour) return TimesOfDay(c, t, [](int64_t d) { return d / kTicksPerHour; });
                }
                return PerRow(a, ctx, t, [&](size_t i, int64_t* out) { return PartOf(p, a[0]->Int(i), out); });
              }});
}

void AddUnixTime(Registry& r, std::string_view name, double ticks_per_unit) {
  r.Function({name, 1, 1, Expect(name, {{Type::kLong}}, Type::kDateTime), [ticks_per_unit](Args a, const FunctionContext& ctx) {
                return PerRow(a, ctx, Type::kDateTime, [&](size_t i, int64_t* out) {
                  if (UsesInts(a[0]->type) && ticks_per_unit >= 1) {
                    *out = a[0]->Int(i) * static_cast<int64_t>(ticks_per_unit);
                  } else if (UsesInts(a[0]->type)) {
                    *out = FloorDiv(a[0]->Int(i), static_cast<int64_t>(1 / ticks_per_unit));
                  } else {
                    double v = a[0]->Real(i) * ticks_per_unit;
                    if (!std::isfinite(v) || std::fabs(v) > 9e18) return false;
                    *out = std::llround(v);
                  }
                  return true;
                });
              }});
}

// make_datetime(year, month, day[, hour, minute, second]): null when out of range.
Result<Column> EvalMakeDatetime(Args a, const FunctionContext& ctx) {
  return PerRow(a, ctx, Type::kDateTime, [&](size_t i, int64_t* out) {
    int64_t y = static_cast<int64_t>(NumAt(*a[0], i)), mo = static_cast<int64_t>(NumAt(*a[1], i));
    int64_t d = static_cast<int64_t>(NumAt(*a[2], i));
    int64_t h = a.size() > 3 ? static_cast<int64_t>(NumAt(*a[3], i)) : 0;
    int64_t mi = a.size() > 4 ? static_cast<int64_t>(NumAt(*a[4], i)) : 0;
    double sec = a.size() > 5 ? NumAt(*a[5], i) : 0;
    if (y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || d > DaysInMonth(y * 12 + mo - 1) || h < 0 ||
        h > 23 || mi < 0 || mi > 59 || !(sec >= 0 && sec < 60)) {
      return false;
    }
    *out = FromCivil(y, static_cast<unsigned>(mo), static_cast<unsigned>(d)) + h * kTicksPerHour +
           mi * kTicksPerMinute + std::llround(sec * kTicksPerSecond);
    return true;
  });
}

// make_timespan(hours, minutes), (hours, minutes, seconds) or (days, hours, minutes, seconds).
Result<Column> EvalMakeTimespan(Args a, const FunctionContext& ctx) {
  return PerRow(a, ctx, Type::kTimespan, [&](size_t i, int64_t* out) {
    double parts[4] = {0, 0, 0, 0};
    size_t first = 4 - (a.size() == 2 ? 3 : a.size());  // align to days, hours, minutes, seconds
    for (size_t k = 0; k < a.size(); ++k) parts[first + k] = NumAt(*a[k], i);
    double ticks = parts[0] * static_cast<double>(kTicksPerDay) + parts[1] * kTicksPerHour +
                   parts[2] * kTicksPerMinute + parts[3] * kTicksPerSecond;
    if (!std::isfinite(ticks) || std::fabs(ticks) > 9e18) return false;
    *out = std::llround(ticks);
    return true;
  });
}

// --- time zones ------------------------------------------------------------------------------

// The zone named by the text (IANA names and their links, e.g. "US/Pacific"), reused while the
// name stays the same; nullptr for a name ICU does not know.
class ZoneCache {
 public:
  const icu::BasicTimeZone* Get(std::string_view name) {
    if (name != name_ || !tried_) {
      name_ = std::string(name);
      tried_ = true;
      zone_.reset(icu::TimeZone::createTimeZone(icu::UnicodeString::fromUTF8(icu::StringPiece(name_.data(), static_cast<int32_t>(name_.size())))));
      if (zone_ && *zone_ == icu::TimeZone::getUnknown()) zone_.reset();
    }
    return dynamic_cast<const icu::BasicTimeZone*>(zone_.get());
  }

 private:
  std::string name_;
  bool tried_ = false;
  std::unique_ptr<icu::TimeZone> zone_;
};

constexpr int64_t kTicksPerMs = 10'000;

// datetime_utc_to_local(dt, zone) / datetime_local_to_utc(dt, zone): null for an unknown zone.
// A local time that a clock change skips (02:30 on a spring-forward night) or repeats takes the
// offset in force after the change, which is what the docs' Brussels example shows (local 02:00
// on 2022-03-27 is 00:00 UTC).
Result<Column> EvalZoneShift(bool to_local, Args a, const FunctionContext& ctx) {
  ZoneCache cache;
  std::string sc;
  return PerRow(a, ctx, Type::kDateTime, [&](size_t i, int64_t* out) {
    const icu::BasicTimeZone* zone = cache.Get(TextOf(*a[1], i, sc));
    if (zone == nullptr) return false;
    int64_t ticks = a[0]->Int(i);
    UDate ms = static_cast<UDate>(FloorDiv(ticks, kTicksPerMs));
    int32_t raw = 0, dst = 0;
    UErrorCode status = U_ZERO_ERROR;
    if (to_local) {
      zone->getOffset(ms, false, raw, dst, status);
    } else {
      zone->getOffsetFromLocal(ms, UCAL_TZ_LOCAL_LATTER, UCAL_TZ_LOCAL_LATTER, raw, dst, status);
    }
    if (U_FAILURE(status)) return false;
    int64_t shift = (static_cast<int64_t>(raw) + dst) * kTicksPerMs;
    *out = to_local ? ticks + shift : ticks - shift;
    return true;
  });
}

// datetime_list_timezones(): the IANA zones ICU knows that stand for a location, and UTC.
Result<Column> EvalListTimezones(Args, const FunctionContext&) {
  UErrorCode status = U_ZERO_ERROR;
  std::unique_ptr<icu::StringEnumeration> ids(
      icu::TimeZone::createTimeZoneIDEnumeration(UCAL_ZONE_TYPE_CANONICAL_LOCATION, nullptr, nullptr, status));
  std::vector<std::string> names{"UTC"};
  while (U_SUCCESS(status) && ids) {
    int32_t len = 0;
    const char* id = ids->next(&len, status);
    if (id == nullptr || U_FAILURE(status)) break;
    names.emplace_back(id, static_cast<size_t>(len));
  }
  std::sort(names.begin(), names.end());
  std::string json = "[";
  for (const std::string& n : names) json += (json.size() > 1 ? ",\"" : "\"") + n + "\"";
  Column c = MakeColumn(Type::kDynamic, Shape{1, true});
  c.strings[0] = json + "]";
  return c;
}

}  // namespace

void RegisterDateTime(Registry& r) {
  r.Function({"datetime_utc_to_local", 2, 2, Expect("datetime_utc_to_local", {{Type::kDateTime}, {Type::kString}}, Type::kDateTime),
              [](Args a, const FunctionContext& c) { return EvalZoneShift(true, a, c); }});
  r.Function({"datetime_local_to_utc", 2, 2, Expect("datetime_local_to_utc", {{Type::kDateTime}, {Type::kString}}, Type::kDateTime),
              [](Args a, const FunctionContext& c) { return EvalZoneShift(false, a, c); }});
  r.Function({"datetime_list_timezones", 0, 0, Returns(Type::kDynamic), EvalListTimezones});
  r.Function({"now", 0, 1, Expect("now", {{Type::kTimespan}}, Type::kDateTime), [](Args a, const FunctionContext& ctx) -> Result<Column> {
                Column c = MakeColumn(Type::kDateTime, Shape{1, true});
                c.ints[0] = ctx.now.time_since_epoch().count() / 100 + (a.empty() ? 0 : a[0]->Int(0));
                return c;
              }});
  r.Function({"ago", 1, 1, Expect("ago", {{Type::kTimespan}}, Type::kDateTime), [](Args a, const FunctionContext& ctx) {
                int64_t now = ctx.now.time_since_epoch().count() / 100;
                return PerRow(a, ctx, Type::kDateTime, [&](size_t i, int64_t* out) { return *out = now - a[0]->Int(i), true; });
              }});
  r.Function({"bin", 2, 2, [](Types t) { return BinType("bin", t); },
              [](Args a, const FunctionContext& c) { return EvalBin("bin", a, c); }});
  r.Function({"bin_at", 3, 3, [](Types t) { return BinType("bin_at", t); },
              [](Args a, const FunctionContext& c) { return EvalBin("bin_at", a, c); }});
  r.Function({"floor", 1, 2,
              [](Types t) -> Result<Type> {
                if (t.size() == 2) return BinType("floor", t);
                if (!IsNumeric(t[0])) return ArgTypeError("floor", 0, t[0], "a number");
                return t[0];
              },
              EvalFloor});
  AddPeriod(r, "startofday", "endofday", Period::kDay);
  AddPeriod(r, "startofweek", "endofweek", Period::kWeek);
  AddPeriod(r, "startofmonth", "endofmonth", Period::kMonth);
  AddPeriod(r, "startofyear", "endofyear", Period::kYear);
  r.Function({"datetime_add", 3, 3, Expect("datetime_add", {{Type::kString}, {Type::kLong}, {Type::kDateTime}}, Type::kDateTime),
              EvalDatetimeAdd});
  r.Function({"datetime_diff", 3, 3,
              Expect("datetime_diff", {{Type::kString}, {Type::kDateTime}, {Type::kDateTime}}, Type::kLong), EvalDatetimeDiff});
  r.Function({"datetime_part", 2, 2, Expect("datetime_part", {{Type::kString}, {Type::kDateTime}}, Type::kInt),
              EvalDatetimePart});
  AddGetter(r, "getyear", Part::kYear, Type::kInt);
  AddGetter(r, "getmonth", Part::kMonth, Type::kInt);
  AddGetter(r, "monthofyear", Part::kMonth, Type::kInt);
  AddGetter(r, "dayofmonth", Part::kDay, Type::kInt);
  AddGetter(r, "dayofyear", Part::kDayOfYear, Type::kInt);
  AddGetter(r, "hourofday", Part::kHour, Type::kInt);
  AddGetter(r, "week_of_year", Part::kWeek, Type::kInt);
  AddGetter(r, "weekofyear", Part::kWeek, Type::kInt);  // the docs' deprecated alias
  r.Function({"dayofweek", 1, 1, Expect("dayofweek", {{Type::kDateTime}}, Type::kTimespan), [](Args a, const FunctionContext& ctx) {
                return PerRow(a, ctx, Type::kTimespan,
                              [&](size_t i, int64_t* out) { return *out = DayOfWeek(a[0]->Int(i)) * kTicksPerDay, true; });
              }});
  AddUnixTime(r, "unixtime_seconds_todatetime", 1e7);
  AddUnixTime(r, "unixtime_milliseconds_todatetime", 1e4);
  AddUnixTime(r, "unixtime_microseconds_todatetime", 10);
  AddUnixTime(r, "unixtime_nanoseconds_todatetime", 0.01);
  r.Function({"make_datetime", 3, 6, Expect("make_datetime", std::vector<std::vector<Type>>(6, {Type::kLong}), Type::kDateTime),
              EvalMakeDatetime});
  r.Function({"make_timespan", 2, 4, Expect("make_timespan", std::vector<std::vector<Type>>(4, {Type::kLong}), Type::kTimespan),
              EvalMakeTimespan});
}

}  // namespace cmk::kql::fn
