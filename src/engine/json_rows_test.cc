#include "engine/json_rows.h"

#include <gtest/gtest.h>

#include <cstdint>

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

// Names are matched whole, at every length (the compare takes words of 8 bytes): a key that
// differs from a column's name in any one byte, or is one byte shorter or longer, is another
// field, whether it comes where the name is expected or elsewhere.
TEST(JsonRowsTest, KeysMatchColumnNamesOnlyWhenEveryByteIsEqual) {
  for (size_t n = 0; n <= 24; ++n) {
    std::string name;
    for (size_t i = 0; i < n; ++i) name.push_back(static_cast<char>('a' + i));
    std::vector<StreamColumn> columns = {{name, "string"}};
    std::vector<std::string> others = {name + "x"};
    if (n > 0) others.push_back(name.substr(0, n - 1));
    for (size_t i = 0; i < n; ++i) {
      std::string k = name;
      k[i] = 'Q';
      others.push_back(k);
    }
    for (const std::string& other : others) {
      std::string body = "[{\"" + other + "\":\"other\",\"" + name + "\":\"mine\"},{\"" + other +
                         "\":\"other\"},{\"" + name + "\":\"first\",\"" + other + "\":\"other\"}]";
      auto t = ParseRecords(body, columns, 64);
      ASSERT_THAT(t, IsOk()) << n << " " << other;
      ASSERT_EQ(t->rows, 3u);
      std::string what = "name of " + std::to_string(n) + " bytes, key '" + other + "'";
      EXPECT_EQ(t->columns[0].Str(0), "mine") << what;
      EXPECT_TRUE(t->columns[0].IsNull(1)) << what;
      EXPECT_EQ(t->columns[0].Str(2), "first") << what;
    }
  }
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

TEST(JsonRowsTest, ManyRecordsOfGrowingSizeKeepEveryValue) {
  // Text buffers are sized from the first 64 records; later, longer values must still land
  // whole (the estimate is a reservation, not a limit).
  std::string body = "[";
  for (int i = 0; i < 1000; ++i) {
    if (i > 0) body += ",";
    body += R"({"TimeGenerated":"2026-11-20T00:00:01Z","Computer":")" + std::string(static_cast<size_t>(1 + i), 'x') +
            R"(","EventId":)" + std::to_string(i) + "}";
  }
  body += "]";
  auto t = ParseRecords(body, kColumns, 64 * 1024);
  ASSERT_THAT(t, IsOk());
  ASSERT_EQ(t->rows, 1000u);
  for (size_t r = 0; r < 1000; ++r) {
    ASSERT_EQ(t->columns[1].Str(r), std::string(r + 1, 'x')) << r;
    ASSERT_EQ(t->columns[2].Int(r), static_cast<int64_t>(r));
    ASSERT_TRUE(t->columns[4].IsNull(r));
    ASSERT_EQ(t->columns[4].Str(r), "null");  // a null dynamic reads as JSON null
  }
}

TEST(JsonRowsTest, WholeDoublesOutsideLongsRangeAreNotIntegers) {
  // 2^63 and beyond parse as doubles; casting them to a long would be undefined.
  for (const char* v : {"9223372036854775808.0", "1e300", "-1e19"}) {
    auto t = ParseRecords(std::string(R"([{"EventId":)") + v + "}]", kColumns, 64);
    EXPECT_THAT(t, StatusIs(StatusCode::kInvalidArgument)) << v;
  }
  auto edge = ParseRecords(R"([{"EventId":-9223372036854775808.0}])", kColumns, 64);
  ASSERT_THAT(edge, IsOk());
  EXPECT_EQ(edge->columns[2].Int(0), INT64_MIN);
}

}  // namespace
}  // namespace cmk::engine
