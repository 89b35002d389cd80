#include "kql/functions/functions_test_util.h"

namespace cmk::kql {
namespace {

using namespace ::cmk::kql::testing;  // NOLINT(build/namespaces)
using ::cmk::testing::StatusIs;

TEST(ToString, DatetimeIsIsoWithSevenFractionalDigits) {
  EXPECT_EQ(Fn("tostring", {Dt("2024-01-01")}), (V{"2024-01-01T00:00:00.0000000Z"}));
  EXPECT_EQ(Fn("tostring", {Dt("2024-01-01T10:20:30.5Z")}), (V{"2024-01-01T10:20:30.5000000Z"}));
  EXPECT_EQ(Fn("tostring", {Dt("2015-12-31 23:59:59.9")}), (V{"2015-12-31T23:59:59.9000000Z"}));
}

TEST(ToString, NegativeTicksBeforeEpochAndLeapDay) {
  EXPECT_EQ(Fn("tostring", {Ticks(Type::kDateTime, -1)}), (V{"1969-12-31T23:59:59.9999999Z"}));
  EXPECT_EQ(Fn("tostring", {Dt("1600-02-29T12:00:00.0000000Z")}),
            (V{"1600-02-29T12:00:00.0000000Z"}));
  EXPECT_EQ(Fn("todatetime", {Str("2023-02-29")}), (V{"<null>"}));
}

TEST(ToString, TimespanIsDaysDotClockWithFraction) {
  EXPECT_EQ(Fn("tostring", {Ts("1d")}), (V{"1.00:00:00"}));
  EXPECT_EQ(Fn("tostring", {Ts("1.5s")}), (V{"00:00:01.5000000"}));
  EXPECT_EQ(Fn("tostring", {Ticks(Type::kTimespan, -(kTicksPerDay + 1))}), (V{"-1.00:00:00.0000001"}));
  EXPECT_EQ(Fn("tostring", {Ts("00:00:00")}), (V{"00:00:00"}));
}

TEST(ToString, ScalarsAndNulls) {
  EXPECT_EQ(Fn("tostring", {Longs({1, std::nullopt})}, 2), (V{"1", ""}));
  EXPECT_EQ(Fn("tostring", {Reals({1.5, 0.1, 1e20})}, 3), (V{"1.5", "0.1", "1e+20"}));
  EXPECT_EQ(Fn("tostring", {Bools({1, 0})}, 2), (V{"true", "false"}));
  EXPECT_EQ(Fn("tostring", {Dyn({"\"a\"", "{\"b\":1}", "null", "[1,2]"})}, 4), (V{"a", "{\"b\":1}", "", "[1,2]"}));
}

TEST(ToLong, ParsesStringsTruncatesRealsAndNullsGarbage) {
  EXPECT_EQ(Fn("tolong", {Strs({"123", " -5 ", "abc", ""})}, 4), (V{"123", "-5", "<null>", "<null>"}));
  EXPECT_EQ(Fn("tolong", {Reals({2.7, -2.7, std::nan("")})}, 3), (V{"2", "-2", "<null>"}));
  EXPECT_EQ(Fn("tolong", {Dyn({"5", "\"6\"", "true", "null", "[1]"})}, 5), (V{"5", "6", "1", "<null>", "<null>"}));
  EXPECT_EQ(Fn("toint", {Long(4294967297)}), (V{"1"}));
}

TEST(ToDouble, ParsesNumbersAndSpecials) {
  EXPECT_EQ(Fn("todouble", {Strs({"1.25", "1e3", "x", "NaN"})}, 4), (V{"1.25", "1000", "<null>", "NaN"}));
  EXPECT_EQ(Fn("toreal", {Long(3)}), (V{"3"}));
  EXPECT_EQ(Fn("todecimal", {Str("2.5")}), (V{"2.5"}));
}

TEST(ToBool, AcceptsTrueFalseAndNumbers) {
  EXPECT_EQ(Fn("tobool", {Strs({"true", "FALSE", "yes"})}, 3), (V{"true", "false", "<null>"}));
  EXPECT_EQ(Fn("tobool", {Longs({0, 123})}, 2), (V{"false", "true"}));
  EXPECT_EQ(Fn("toboolean", {Dyn({"true", "0"})}, 2), (V{"true", "false"}));
}

TEST(ToDatetime, AcceptsIsoFormsAndOffsets) {
  EXPECT_EQ(Fn("todatetime",
               {Strs({"2015-12-24", "2015-12-24T10:11", "2015-12-24 10:11:12.123Z",
                      "2015-12-24T10:00:00+02:00", "not a date"})},
               5),
            (V{"2015-12-24T00:00:00.0000000Z", "2015-12-24T10:11:00.0000000Z",
               "2015-12-24T10:11:12.1230000Z", "2015-12-24T08:00:00.0000000Z", "<null>"}));
}

TEST(ToTimespan, AcceptsClockAndLiteralForms) {
  EXPECT_EQ(Fn("totimespan", {Strs({"0.00:01:00", "1.02:03:04.5", "-00:00:01", "2h", "100ms", "nope"})}, 6),
            (V{"00:01:00", "1.02:03:04.5000000", "-00:00:01", "02:00:00", "00:00:00.1000000", "<null>"}));
  EXPECT_EQ(Fn("totimespan", {Long(10)}), (V{"00:00:00.0000010"}));
}

TEST(ToGuid, NormalizesToLowerCase) {
  EXPECT_EQ(Fn("toguid", {Strs({"0F8FAD5B-D9CB-469F-A165-70867728950E", "0f8fad5bd9cb469fa16570867728950e", "x"})}, 3),
            (V{"0f8fad5b-d9cb-469f-a165-70867728950e", "0f8fad5b-d9cb-469f-a165-70867728950e", "<null>"}));
}

TEST(ToDynamic, ParsesJsonAndKeepsInvalidTextAsString) {
  EXPECT_EQ(Fn("parse_json", {Strs({"{\"a\": [1, 2.5]}", "not json"})}, 2), (V{"{\"a\":[1,2.5]}", "not json"}));
  auto r = Call(FindFunction("todynamic"), "todynamic", {Str("not json")}, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->Str(0), "\"not json\"");
  EXPECT_EQ(Fn("todynamic", {Long(5)}), (V{"5"}));
}

}  // namespace
}  // namespace cmk::kql
