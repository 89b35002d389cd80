#include "engine/json_rows.h"

#include <gtest/gtest.h>

#include "base/testing.h"

namespace cmk::engine {
namespace {

using testing::IsOk;
using testing::StatusIs;

const std::vector<StreamColumn> kColumns = {
    {"TimeGenerated", "datetime"}, {"Computer", "string"}, {"EventId", "int"}, {"Ok", "boolean"}, {"Props", "dynamic"}};

TEST(JsonRowsTest, FieldsMapByNameInAnyOrderMissingOnesAreNullUnknownOnesIgnored) {
  std::string body = R"([
    {"TimeGenerated":"2026-11-20T00:00:01Z","Computer":"a","EventId":1,"Ok":true,"Props":{"k":[1,2]}},
    {"Props":null,"Ok":false,"Extra":5,"EventId":2.0,"Computer":"b","TimeGenerated":"2026-11-20T00:00:02Z"},
    {"Computer":"c","Computer":"dup","TimeGenerated":"2026-11-20T00:00:03Z"}
  ])";
  auto t = ParseRecords(body, kColumns, 64 * 1024);
  ASSERT_THAT(t, IsOk());
  ASSERT_EQ(t->rows, 3u);
  const auto& time = t->columns[0];
  const auto& computer = t->columns[1];
  const auto& id = t->columns[2];
  const auto& ok = t->columns[3];
  const auto& props = t->columns[4];
  EXPECT_EQ(time.Int(1) - time.Int(0), 10'000'000);
  EXPECT_EQ(computer.Str(0), "a");
  EXPECT_EQ(computer.Str(1), "b");
  EXPECT_EQ(computer.Str(2), "c");  // a repeated key keeps its first value
  EXPECT_EQ(id.Int(1), 2);
  EXPECT_TRUE(id.IsNull(2));
  EXPECT_EQ(ok.Int(0), 1);
  EXPECT_EQ(ok.Int(1), 0);
  EXPECT_TRUE(ok.IsNull(2));
  EXPECT_EQ(props.Str(0), R"({"k":[1,2]})");
  EXPECT_TRUE(props.IsNull(1));
  EXPECT_TRUE(props.IsNull(2));
}

TEST(JsonRowsTest, ErrorsNameTheRecordAndTheFieldAndLongStringsAreCut) {
  auto bad = ParseRecords(R"([{"EventId":1},{"EventId":"x"}])", kColumns, 64);
  EXPECT_THAT(bad, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_NE(bad.status().message().find("Record 1, field 'EventId'"), std::string::npos) << bad.status().message();
  EXPECT_EQ(bad.status().error_code(), "InvalidRecord");
  EXPECT_EQ(ParseRecords(R"([{"EventId":1},)", kColumns, 64).status().error_code(), "InvalidJson");
  EXPECT_EQ(ParseRecords(R"([1])", kColumns, 64).status().error_code(), "InvalidRecord");
  auto cut = ParseRecords(R"([{"Computer":"0123456789"}])", kColumns, 4);
  ASSERT_THAT(cut, IsOk());
  EXPECT_EQ(cut->columns[1].Str(0), "0123");
}

}  // namespace
}  // namespace cmk::engine
