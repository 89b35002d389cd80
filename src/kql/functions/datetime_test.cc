#include "kql/functions/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

// hourofday over a column: without nulls its own loop, with them the per-row path; both answer
// as datetime_part's hour, before 1970 (negative ticks) and at midnight too.
TEST(DateTime, HourOfDayOverAColumnAnswersAsItsPart) {
  const int64_t h = 3600 * kTicksPerSecond;
  Column times = Ints(Type::kDateTime, {-25 * h - 1, -h, -1, 0, 1, h - 1, h, 23 * h + 59, 24 * h, 47 * h + 3,
                                        1'700'000'000 * kTicksPerSecond + 5 * h + 17});
  const std::vector<std::string> hours = {"22", "23", "23", "0", "0", "0", "1", "23", "0", "23", "3"};
  EXPECT_EQ(Fn("hourofday", {times}, 11), hours);
  EXPECT_EQ(Fn("datetime_part", {Str("Hour"), times}, 11), hours);
  Column with_null = Ints(Type::kDateTime, {-1, std::nullopt, h});
  EXPECT_EQ(Fn("hourofday", {with_null}, 3), (std::vector<std::string>{"23", "<null>", "1"}));
}

TEST(DateTime, NowAndAgoUseTheContextClock) {
  TimePoint now = TimePoint(std::chrono::seconds(1704067200));  // 2024-01-01
  auto r = Call(FindFunction("now"), "now", {}, 3, now);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->constant);
  EXPECT_EQ(Show(*r, 1), (V{"2024-01-01T00:00:00.0000000Z"}));
  auto ago = Call(FindFunction("ago"), "ago", {Ts("1h")}, 1, now);
  ASSERT_TRUE(ago.ok());
  EXPECT_EQ(Show(*ago, 1), (V{"2023-12-31T23:00:00.0000000Z"}));
}

TEST(Bin, RoundsDownNumbersDatetimesAndTimespans) {
  EXPECT_EQ(Fn("bin", {Real(4.5), Long(1)}), (V{"4"}));
  EXPECT_EQ(Fn("bin", {Longs({10, -1, std::nullopt}), Long(7)}, 3), (V{"7", "-7", "<null>"}));
  EXPECT_EQ(Fn("bin", {Ts("1.12:34:56"), Ts("1d")}), (V{"1.00:00:00"}));
  EXPECT_EQ(Fn("bin", {Dt("1970-05-11 13:45:07"), Ts("1d")}), (V{"1970-05-11T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("bin", {Dt("1969-12-31 23:00"), Ts("1d")}), (V{"1969-12-31T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("bin", {Long(5), Long(0)}), (V{"<null>"}));
  EXPECT_EQ(Fn("floor", {Dt("2024-03-05 10:00"), Ts("1h")}), (V{"2024-03-05T10:00:00.0000000Z"}));
  EXPECT_EQ(Fn("floor", {Real(-1.5)}), (V{"-2"}));
  EXPECT_THAT(TypeOf(FindFunction("bin"), {Type::kDateTime, Type::kLong}), StatusIs(StatusCode::kInvalidArgument));
}

TEST(Bin, BinAtAlignsToTheFixedPoint) {
  EXPECT_EQ(Fn("bin_at", {Real(6.5), Real(2.5), Real(7)}), (V{"4.5"}));
  EXPECT_EQ(Fn("bin_at", {Ts("1h"), Ts("1d"), Ts("12h")}), (V{"-12:00:00"}));
  EXPECT_EQ(Fn("bin_at", {Dt("2017-05-15 10:20:00"), Ts("1d"), Dt("1970-01-01 12:00:00")}),
            (V{"2017-05-14T12:00:00.0000000Z"}));
}

TEST(StartEnd, PeriodsWithOffsets) {
  Column t = Dt("2024-02-29T13:14:15.0000000Z");  // a Thursday in a leap year
  EXPECT_EQ(Fn("startofday", {t}), (V{"2024-02-29T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("startofday", {t, Long(1)}), (V{"2024-03-01T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("startofweek", {t}), (V{"2024-02-25T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("startofmonth", {t}), (V{"2024-02-01T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("startofmonth", {t, Long(-2)}), (V{"2023-12-01T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("startofyear", {t}), (V{"2024-01-01T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("endofday", {t}), (V{"2024-02-29T23:59:59.9999999Z"}));
  EXPECT_EQ(Fn("endofweek", {t}), (V{"2024-03-02T23:59:59.9999999Z"}));
  EXPECT_EQ(Fn("endofmonth", {t}), (V{"2024-02-29T23:59:59.9999999Z"}));
  EXPECT_EQ(Fn("endofyear", {t}), (V{"2024-12-31T23:59:59.9999999Z"}));
  EXPECT_EQ(Fn("startofweek", {Dt("1969-12-31")}), (V{"1969-12-28T00:00:00.0000000Z"}));
}

TEST(DatetimeAdd, CalendarPartsClampToMonthEnd) {
  EXPECT_EQ(Fn("datetime_add", {Str("month"), Long(1), Dt("2024-01-31")}),
            (V{"2024-02-29T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("datetime_add", {Str("year"), Long(1), Dt("2024-02-29")}),
            (V{"2025-02-28T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("datetime_add", {Str("quarter"), Long(-1), Dt("2024-01-15")}),
            (V{"2023-10-15T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("datetime_add", {Str("week"), Long(2), Dt("2024-01-01")}),
            (V{"2024-01-15T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("datetime_add", {Str("Hour"), Long(-3), Dt("2024-01-01")}),
            (V{"2023-12-31T21:00:00.0000000Z"}));
  EXPECT_EQ(Fn("datetime_add", {Str("millisecond"), Long(5), Dt("2024-01-01")}), (V{"2024-01-01T00:00:00.0050000Z"}));
  EXPECT_THAT(Call(FindFunction("datetime_add"), "datetime_add", {Str("fortnight"), Long(1), Dt("2024-01-01")}, 1),
              StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
}

TEST(DatetimeDiff, DocsExamples) {
  auto diff = [](const char* part, const char* a, const char* b) { return Fn("datetime_diff", {Str(part), Dt(a), Dt(b)}); };
  EXPECT_EQ(diff("year", "2017-01-01", "2000-12-31"), (V{"17"}));
  EXPECT_EQ(diff("quarter", "2017-07-01", "2017-03-30"), (V{"2"}));
  EXPECT_EQ(diff("month", "2017-01-01", "2015-12-30"), (V{"13"}));
  EXPECT_EQ(diff("week", "2017-10-29 00:00", "2017-09-30 23:59"), (V{"5"}));
  EXPECT_EQ(diff("day", "2017-10-29 00:00", "2017-09-30 23:59"), (V{"29"}));
  EXPECT_EQ(diff("hour", "2017-10-31 01:00", "2017-10-30 23:59"), (V{"2"}));
  EXPECT_EQ(diff("minute", "2017-10-30 23:05:01", "2017-10-30 23:00:59"), (V{"5"}));
  EXPECT_EQ(diff("second", "2017-10-30 23:00:10.100", "2017-10-30 23:00:00.900"), (V{"10"}));
  EXPECT_EQ(diff("millisecond", "2017-10-30 23:00:00.200100", "2017-10-30 23:00:00.100900"), (V{"100"}));
  EXPECT_EQ(diff("microsecond", "2017-10-30 23:00:00.1009001", "2017-10-30 23:00:00.1008009"), (V{"100"}));
  EXPECT_EQ(diff("nanosecond", "2017-10-30 23:00:00.0000000", "2017-10-30 23:00:00.0000010"), (V{"-1000"}));
}

TEST(DatetimePart, PartsAndGetters) {
  Column t = Dt("2017-10-30 01:02:03.7654321");
  auto part = [&](const char* p) { return Fn("datetime_part", {Str(p), t}); };
  EXPECT_EQ(part("Year"), (V{"2017"}));
  EXPECT_EQ(part("Quarter"), (V{"4"}));
  EXPECT_EQ(part("Month"), (V{"10"}));
  EXPECT_EQ(part("week_of_year"), (V{"44"}));
  EXPECT_EQ(part("Day"), (V{"30"}));
  EXPECT_EQ(part("DayOfYear"), (V{"303"}));
  EXPECT_EQ(part("Hour"), (V{"1"}));
  EXPECT_EQ(part("Minute"), (V{"2"}));
  EXPECT_EQ(part("Second"), (V{"3"}));
  EXPECT_EQ(part("Millisecond"), (V{"765"}));
  EXPECT_EQ(part("Microsecond"), (V{"765432"}));
  EXPECT_EQ(part("Nanosecond"), (V{"765432100"}));
  EXPECT_EQ(Fn("getyear", {t}), (V{"2017"}));
  EXPECT_EQ(Fn("getmonth", {t}), (V{"10"}));
  EXPECT_EQ(Fn("dayofmonth", {t}), (V{"30"}));
  EXPECT_EQ(Fn("dayofyear", {Dt("2024-12-31")}), (V{"366"}));
  EXPECT_EQ(Fn("hourofday", {t}), (V{"1"}));
  // Before 1970 (negative ticks) the time of day still counts from midnight.
  Column before = Dt("1969-12-31 23:58:07.25");
  EXPECT_EQ(Fn("hourofday", {before}), (V{"23"}));
  EXPECT_EQ(Fn("datetime_part", {Str("Minute"), before}), (V{"58"}));
  EXPECT_EQ(Fn("datetime_part", {Str("Second"), before}), (V{"7"}));
  EXPECT_EQ(Fn("datetime_part", {Str("Millisecond"), before}), (V{"250"}));
  EXPECT_EQ(Fn("week_of_year", {Dt("2021-01-01")}), (V{"53"}));
  EXPECT_EQ(Fn("week_of_year", {Dt("2024-12-30")}), (V{"1"}));
  EXPECT_EQ(Fn("getyear", {Null(Type::kDateTime)}), (V{"<null>"}));
}

TEST(DayOfWeek, IsATimespanSinceSunday) {
  EXPECT_EQ(Fn("dayofweek", {Dt("1947-11-30 10:00:05")}), (V{"00:00:00"}));
  EXPECT_EQ(Fn("dayofweek", {Dt("1970-05-11")}), (V{"1.00:00:00"}));
  EXPECT_EQ(Fn("dayofweek", {Dt("2024-03-02")}), (V{"6.00:00:00"}));
}

TEST(UnixTime, ConvertsEachUnit) {
  EXPECT_EQ(Fn("unixtime_seconds_todatetime", {Longs({1546300800, -1})}, 2),
            (V{"2019-01-01T00:00:00.0000000Z", "1969-12-31T23:59:59.0000000Z"}));
  EXPECT_EQ(Fn("unixtime_seconds_todatetime", {Real(1.5)}), (V{"1970-01-01T00:00:01.5000000Z"}));
  EXPECT_EQ(Fn("unixtime_milliseconds_todatetime", {Long(1546300800000)}),
            (V{"2019-01-01T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("unixtime_microseconds_todatetime", {Long(1546300800000000)}),
            (V{"2019-01-01T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("unixtime_nanoseconds_todatetime", {Long(1546300800000000100)}), (V{"2019-01-01T00:00:00.0000001Z"}));
}

TEST(Make, DatetimeAndTimespan) {
  EXPECT_EQ(Fn("make_datetime", {Long(2017), Long(10), Long(1)}),
            (V{"2017-10-01T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("make_datetime", {Long(2017), Long(10), Long(1), Long(12), Long(10), Real(0.7)}),
            (V{"2017-10-01T12:10:00.7000000Z"}));
  EXPECT_EQ(Fn("make_datetime", {Long(2023), Long(2), Long(29)}), (V{"<null>"}));
  EXPECT_EQ(Fn("make_timespan", {Long(1), Long(12)}), (V{"01:12:00"}));
  EXPECT_EQ(Fn("make_timespan", {Long(1), Long(12), Long(30)}), (V{"01:12:30"}));
  EXPECT_EQ(Fn("make_timespan", {Long(1), Long(12), Long(30), Real(1.5)}), (V{"1.12:30:01.5000000"}));
}

}  // namespace
}  // namespace cmk::kql
