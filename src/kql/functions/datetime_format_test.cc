#include "kql/functions/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(Format, DatetimeSpecifiers) {
  Column t = Dt("2017-01-29 09:00:05.123");
  auto fmt = [&](const char* f) { return Fn("format_datetime", {t, Str(f)}); };
  EXPECT_EQ(fmt("yy-MM-dd [HH:mm:ss]"), (V{"17-01-29 [09:00:05]"}));
  EXPECT_EQ(fmt("yyyy-M-dd [H:mm:ss]"), (V{"2017-1-29 [9:00:05]"}));
  EXPECT_EQ(fmt("yy-MM-dd [hh:mm:ss tt]"), (V{"17-01-29 [09:00:05 AM]"}));
  EXPECT_EQ(fmt("yyyy-MM-dd HH:mm:ss.fff"), (V{"2017-01-29 09:00:05.123"}));
  EXPECT_EQ(fmt("s.FFFFFFF"), (V{"5.123"}));
  EXPECT_EQ(Fn("format_datetime", {Dt("2017-01-29 21:00"), Str("h tt")}), (V{"9 PM"}));
}

TEST(Format, TimespanSpecifiers) {
  Column t = Ts("1.02:03:04.1234567");
  EXPECT_EQ(Fn("format_timespan", {t, Str("d.hh:mm:ss")}), (V{"1.02:03:04"}));
  EXPECT_EQ(Fn("format_timespan", {t, Str("dd.hh:mm:ss:fff")}), (V{"01.02:03:04:123"}));
  EXPECT_EQ(Fn("format_timespan", {t, Str("ddd.h:mm:ss [ffff]")}), (V{"001.2:03:04 [1234]"}));
  EXPECT_EQ(Fn("format_timespan", {Ts("-00:30:00"), Str("hh:mm")}), (V{"-00:30"}));
  EXPECT_THAT(TypeOf(FindFunction("format_timespan"), {Type::kDateTime, Type::kString}),
              StatusIs(StatusCode::kInvalidArgument, "SemanticError"));
}

}  // namespace
}  // namespace cmk::kql
