#include "storage_account/odata_filter.h"

#include <gtest/gtest.h>

#include <map>

#include "base/testing.h"

namespace cmk::storage_account {
namespace {

namespace bj = boost::json;

bool Match(std::string_view filter, const std::map<std::string, EdmValue>& e) {
  auto f = Filter::Parse(filter);
  EXPECT_THAT(f, testing::IsOk()) << filter;
  if (!f.ok()) return false;
  return f->Matches([&](const std::string& n) -> const EdmValue* {
    auto it = e.find(n);
    return it == e.end() ? nullptr : &it->second;
  });
}

const std::map<std::string, EdmValue> kEntity = {
    {"PartitionKey", {"Edm.String", bj::value("p'1")}},
    {"RowKey", {"Edm.String", bj::value("r0500")}},
    {"n", {"Edm.Int32", bj::value(42)}},
    {"big", {"Edm.Int64", bj::value("1099511627776")}},
    {"d", {"Edm.Double", bj::value(1.5)}},
    {"ok", {"Edm.Boolean", bj::value(true)}},
    {"when", {"Edm.DateTime", bj::value("2024-01-02T00:00:00.0000000Z")}},
    {"id", {"Edm.Guid", bj::value("0000000a-0000-0000-0000-000000000000")}},
    {"bin", {"Edm.Binary", bj::value("AQI=")}},
};

TEST(ODataFilterTest, TheFormsTheSdksBuildMatch) {
  EXPECT_TRUE(Match("PartitionKey eq 'p''1' and RowKey ge 'r0400'", kEntity));
  EXPECT_FALSE(Match("PartitionKey eq 'p''1' and RowKey lt 'r0400'", kEntity));
  EXPECT_TRUE(Match("n gt 41 and n le 42", kEntity));
  EXPECT_TRUE(Match("big eq 1099511627776L", kEntity));
  EXPECT_TRUE(Match("d lt 2.0 or missing eq 'x'", kEntity));
  EXPECT_TRUE(Match("ok eq true and not (n eq 1)", kEntity));
  EXPECT_TRUE(Match("when lt datetime'2024-01-02T00:00:00.000001Z'", kEntity));
  EXPECT_TRUE(Match("id eq guid'0000000A-0000-0000-0000-000000000000'", kEntity));
  EXPECT_TRUE(Match("bin eq X'0102' and bin eq binary'0102'", kEntity));
  EXPECT_TRUE(Match("'r0500' eq RowKey", kEntity));
  EXPECT_TRUE(Match("", kEntity));
}

TEST(ODataFilterTest, MissingPropertiesAndMismatchedTypesAreFalse) {
  EXPECT_FALSE(Match("missing eq 'x'", kEntity));
  EXPECT_FALSE(Match("missing ne 'x'", kEntity));
  EXPECT_FALSE(Match("n eq '42'", kEntity));
  EXPECT_FALSE(Match("ok eq 1", kEntity));
}

TEST(ODataFilterTest, MalformedAndOversizedFiltersAreRefused) {
  for (const char* bad : {"n eq", "n eq 'x", "(n eq 1", "n eq 1)", "n foo 1", "n eq m", "1 eq 2", "n eq 1 and",
                          "n eq nope'x'", "bin eq X'012'", "when eq datetime'yesterday'"}) {
    EXPECT_THAT(Filter::Parse(bad), testing::StatusIs(StatusCode::kInvalidArgument, "InvalidInput")) << bad;
  }
  std::string deep(40, '(');
  deep += "n eq 1" + std::string(40, ')');
  EXPECT_THAT(Filter::Parse(deep), testing::StatusIs(StatusCode::kInvalidArgument, "InvalidInput"));
  std::string many = "n eq 1";
  for (int i = 0; i < 120; ++i) many += " or n eq 1";
  EXPECT_THAT(Filter::Parse(many), testing::StatusIs(StatusCode::kInvalidArgument, "InvalidInput"));
  EXPECT_THAT(Filter::Parse(std::string(9000, ' ')), testing::StatusIs(StatusCode::kInvalidArgument, "InvalidInput"));
}

}  // namespace
}  // namespace cmk::storage_account
