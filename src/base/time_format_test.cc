#include "base/time_format.h"

#include <limits>

#include <gtest/gtest.h>

#include "base/testing.h"

namespace cmk {
namespace {

using std::chrono::hours;
using std::chrono::seconds;
using testing::StatusIs;

TEST(TimeFormatTest, FormatsSevenFractionalDigits) {
  TimePoint t = FromUnixSeconds(1704067200) + std::chrono::nanoseconds(123456789);
  EXPECT_EQ(FormatRfc3339(t), "2024-01-01T00:00:00.1234567Z");
  EXPECT_EQ(FormatRfc3339(t, 0), "2024-01-01T00:00:00Z");
  EXPECT_EQ(FormatRfc3339(t, 3), "2024-01-01T00:00:00.123Z");
}

TEST(TimeFormatTest, ParsesZonesFractionsAndDates) {
  EXPECT_EQ(*ParseRfc3339("2024-01-01T00:00:00Z"), FromUnixSeconds(1704067200));
  EXPECT_EQ(*ParseRfc3339("2024-01-01T01:00:00+01:00"), FromUnixSeconds(1704067200));
  EXPECT_EQ(*ParseRfc3339("2024-01-01"), FromUnixSeconds(1704067200));
  EXPECT_EQ(*ParseRfc3339("2024-01-01T00:05:00.1234567Z"),
            FromUnixSeconds(1704067500) + std::chrono::nanoseconds(123456700));
  EXPECT_THAT(ParseRfc3339("2024-02-30T00:00:00Z"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseRfc3339("2024-01-01T00:00:00"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseRfc3339("2024-01-01T25:00:00Z"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseRfc3339("2024-01-01T00:00:00Zjunk"), StatusIs(StatusCode::kInvalidArgument));
  // Regression (found by json_fuzz): years outside TimePoint's range must not overflow.
  EXPECT_THAT(ParseRfc3339("0417-01-01T00:00:00Z"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseRfc3339("9999-12-31T00:00:00Z"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(TimeFormatTest, RoundTripsThroughText) {
  TimePoint t = FromUnixSeconds(1795416367) + std::chrono::nanoseconds(100);
  EXPECT_EQ(*ParseRfc3339(FormatRfc3339(t)), t);
}

TEST(TimeFormatTest, ParsesDurationsAsClientsSendThem) {
  EXPECT_EQ(*ParseIsoDuration("PT1H"), hours(1));
  EXPECT_EQ(*ParseIsoDuration("P2D"), hours(48));
  EXPECT_EQ(*ParseIsoDuration("PT3600.0S"), hours(1));
  EXPECT_EQ(*ParseIsoDuration("PT0.5S"), std::chrono::milliseconds(500));
  EXPECT_EQ(*ParseIsoDuration("P1DT2H3M4S"), hours(26) + std::chrono::minutes(3) + seconds(4));
  EXPECT_EQ(*ParseIsoDuration("P1W"), hours(168));
  EXPECT_EQ(*ParseIsoDuration("PT172800.0S"), hours(48));
  EXPECT_THAT(ParseIsoDuration("P"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseIsoDuration("PT"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseIsoDuration("P1H"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseIsoDuration("1H"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseIsoDuration("PT1.S"), StatusIs(StatusCode::kInvalidArgument));
}

TEST(TimeFormatTest, FormatsDurationsCompactly) {
  EXPECT_EQ(FormatIsoDuration(hours(1)), "PT1H");
  EXPECT_EQ(FormatIsoDuration(hours(48)), "P2D");
  EXPECT_EQ(FormatIsoDuration(Duration(0)), "PT0S");
  EXPECT_EQ(FormatIsoDuration(std::chrono::milliseconds(500)), "PT0.5S");
  EXPECT_EQ(FormatIsoDuration(hours(26) + std::chrono::nanoseconds(100)), "P1DT2H0.0000001S");
}

TEST(TimeFormatTest, ParsesEveryIntervalForm) {
  TimePoint now = FromUnixSeconds(1704153600);  // 2024-01-02
  auto a = *ParseIsoInterval("2024-01-01T00:00:00.000Z/2024-01-02T00:00:00.000Z", now);
  EXPECT_EQ(a.start, FromUnixSeconds(1704067200));
  EXPECT_EQ(a.end, now);
  auto b = *ParseIsoInterval("2024-01-01T00:00:00Z/PT172800.0S", now);
  EXPECT_EQ(b.end, FromUnixSeconds(1704067200) + hours(48));
  auto c = *ParseIsoInterval("P1D/2024-01-02T00:00:00Z", now);
  EXPECT_EQ(c.start, FromUnixSeconds(1704067200));
  auto d = *ParseIsoInterval("PT1H", now);
  EXPECT_EQ(d.start, now - hours(1));
  EXPECT_EQ(d.end, now);
  EXPECT_THAT(ParseIsoInterval("2024-01-02T00:00:00Z/2024-01-01T00:00:00Z", now),
              StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseIsoInterval("PT1H/P1D", now), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(ParseIsoInterval("2200-01-01T00:00:00Z/P100000D", now), StatusIs(StatusCode::kInvalidArgument));
}

TEST(TimeFormatTest, FormatsTimespansAsKqlPrintsThem) {
  EXPECT_EQ(FormatTimespan(0), "00:00:00");
  EXPECT_EQ(FormatTimespan(15'000'000), "00:00:01.5000000");
  EXPECT_EQ(FormatTimespan(-36'000'000'000), "-01:00:00");
  EXPECT_EQ(FormatTimespan(2 * 864'000'000'000 + 36'610'000'001), "2.01:01:01.0000001");
  EXPECT_EQ(FormatTimespan(std::numeric_limits<int64_t>::min()), "-10675199.02:48:05.4775808");
  EXPECT_EQ(FormatTimespan(std::numeric_limits<int64_t>::max()), "10675199.02:48:05.4775807");
}

TEST(TimeFormatTest, TicksAreHundredsOfNanosecondsSinceTheEpoch) {
  EXPECT_EQ(Ticks(FromUnixSeconds(1)), 10'000'000);
  EXPECT_EQ(Ticks(std::chrono::milliseconds(3)), 30'000);
}

}  // namespace
}  // namespace cmk
