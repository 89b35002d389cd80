#include "server/graph_filter.h"

#include <gtest/gtest.h>

#include <random>

#include "base/testing.h"

namespace cmk::server::graph {
namespace {

using testing::IsOk;
using testing::StatusIs;
using Op = FilterClause::Op;

TEST(GraphFilterTest, ParsesTheFiltersAzSends) {
  auto f = ParseFilter("servicePrincipalNames/any(c:c eq 'f3a1c2d4-0000-4000-8000-000000000001')");
  ASSERT_THAT(f, IsOk());
  ASSERT_EQ(f->clauses.size(), 1u);
  EXPECT_EQ(f->clauses[0].op, Op::kAnyEq);
  EXPECT_EQ(f->clauses[0].property, "servicePrincipalNames");
  EXPECT_EQ(f->clauses[0].value, "f3a1c2d4-0000-4000-8000-000000000001");

  f = ParseFilter("appId eq 'abc'");
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->clauses[0].op, Op::kEq);
  EXPECT_EQ(f->clauses[0].property, "appId");
  EXPECT_EQ(f->clauses[0].value, "abc");

  f = ParseFilter("userPrincipalName eq 'a@b.c' and startswith(displayName,'x y')");
  ASSERT_THAT(f, IsOk());
  ASSERT_EQ(f->clauses.size(), 2u);
  EXPECT_EQ(f->clauses[1].op, Op::kStartsWith);
  EXPECT_EQ(f->clauses[1].property, "displayName");
  EXPECT_EQ(f->clauses[1].value, "x y");
}

TEST(GraphFilterTest, QuotesAreEscapedByDoublingAndKeywordsIgnoreCase) {
  auto f = ParseFilter("  (displayName EQ 'O''Brien')  AND accountEnabled eq true ");
  ASSERT_THAT(f, IsOk());
  ASSERT_EQ(f->clauses.size(), 2u);
  EXPECT_EQ(f->clauses[0].value, "O'Brien");
  EXPECT_EQ(f->clauses[1].value, "true");
}

TEST(GraphFilterTest, SyntaxErrorsAreBadRequestNamingThePosition) {
  for (const char* text :
       {"appId eq", "appId eq 'x", "appId ne 'x'", "appId eq 'x' or id eq 'y'", "not appId eq 'x'",
        "(appId eq 'x'", "appId eq 'x')", "'x' eq appId", "startswith(displayName 'x')",
        "servicePrincipalNames/all(c:c eq 'x')", "servicePrincipalNames/any(c:d eq 'x')",
        "a/b eq 'x'", "/any(c:c eq 'x')", "appId eq x", "appId eq 'x' 'y'", "appId  eq  'x' and"}) {
    auto f = ParseFilter(text);
    EXPECT_THAT(f, StatusIs(StatusCode::kInvalidArgument, "BadRequest")) << text;
    if (!f.ok()) {
      EXPECT_EQ(f.status().message().rfind("Invalid filter clause", 0), 0u) << f.status().message();
      EXPECT_NE(f.status().message().find("position"), std::string::npos) << f.status().message();
    }
  }
}

TEST(GraphFilterTest, EmptyAndBlankFiltersAreRejected) {
  EXPECT_THAT(ParseFilter(""), StatusIs(StatusCode::kInvalidArgument, "BadRequest"));
  EXPECT_THAT(ParseFilter("   \t"), StatusIs(StatusCode::kInvalidArgument, "BadRequest"));
}

TEST(GraphFilterTest, LengthIsBoundedBeforeParsing) {
  std::string ok = "appId eq '" + std::string(kMaxFilterLength - 11, 'a') + "'";
  ASSERT_EQ(ok.size(), kMaxFilterLength);
  EXPECT_THAT(ParseFilter(ok), IsOk());
  std::string long_text = "appId eq '" + std::string(kMaxFilterLength, 'a') + "'";
  auto f = ParseFilter(long_text);
  EXPECT_THAT(f, StatusIs(StatusCode::kInvalidArgument, "BadRequest"));
  EXPECT_NE(f.status().message().find("at most 2048"), std::string::npos);
}

TEST(GraphFilterTest, NestingIsBoundedWithoutDeepRecursion) {
  // 1,000 open parentheses fit in the length bound; the parser stops at kMaxFilterDepth.
  std::string deep = std::string(1000, '(') + "appId eq 'x'" + std::string(1000, ')');
  auto f = ParseFilter(deep);
  EXPECT_THAT(f, StatusIs(StatusCode::kInvalidArgument, "BadRequest"));
  EXPECT_NE(f.status().message().find("nested too deeply"), std::string::npos);
  std::string fine =
      std::string(kMaxFilterDepth, '(') + "appId eq 'x'" + std::string(kMaxFilterDepth, ')');
  EXPECT_THAT(ParseFilter(fine), IsOk());
}

TEST(GraphFilterTest, ClauseCountIsBounded) {
  std::string text = "id eq '0'";
  for (size_t i = 1; i < kMaxFilterClauses; ++i) text += " and id eq '" + std::to_string(i) + "'";
  EXPECT_THAT(ParseFilter(text), IsOk());
  text += " and id eq 'one too many'";
  auto f = ParseFilter(text);
  EXPECT_THAT(f, StatusIs(StatusCode::kInvalidArgument, "BadRequest"));
  EXPECT_NE(f.status().message().find("clauses"), std::string::npos);
}

TEST(GraphFilterTest, ControlBytesAreNamedAndEscapedInTheMessage) {
  std::string text = std::string("appId eq 'x'\x01\n\"}") + std::string(1, '\0');
  auto f = ParseFilter(text);
  ASSERT_THAT(f, StatusIs(StatusCode::kInvalidArgument, "BadRequest"));
  EXPECT_NE(f.status().message().find("byte 0x01"), std::string::npos) << f.status().message();
  EXPECT_EQ(f.status().message().find('\n'), std::string::npos);
  EXPECT_EQ(f.status().message().find('\0'), std::string::npos);
  // Inside a literal any byte is data (the value is compared, never interpreted).
  auto inside = ParseFilter(std::string("displayName eq '\x01\xff\n'"));
  ASSERT_THAT(inside, IsOk());
  EXPECT_EQ(inside->clauses[0].value, "\x01\xff\n");
}

TEST(GraphFilterTest, RandomInputNeverCrashesAndFailsOnlyAsBadRequest) {
  // A seeded generator over the filter alphabet plus arbitrary bytes: every outcome is a parse
  // or a BadRequest, in time linear in the (bounded) length. ASan/UBSan builds check the rest.
  std::mt19937 rng(20230112);
  const std::string alphabet = "()',:/ \tandoreqstartswithanyc'appIdx\x01\xff";
  for (int i = 0; i < 20000; ++i) {
    size_t len = rng() % 64;
    std::string text;
    for (size_t j = 0; j < len; ++j) {
      text.push_back(rng() % 8 == 0 ? static_cast<char>(rng() % 256)
                                    : alphabet[rng() % alphabet.size()]);
    }
    auto f = ParseFilter(text);
    if (!f.ok()) {
      ASSERT_EQ(f.status().error_code(), "BadRequest") << text;
    } else {
      ASSERT_LE(f->clauses.size(), kMaxFilterClauses);
    }
  }
}

TEST(GraphFilterTest, CheckFilterRejectsPropertiesTheCollectionCannotFilterOn) {
  auto f = ParseFilter("secretHash eq 'x'");
  ASSERT_THAT(f, IsOk());
  Status s =
      CheckFilter(*f, "ServicePrincipal", {"appId"}, {"displayName"}, {"servicePrincipalNames"});
  EXPECT_THAT(s, StatusIs(StatusCode::kInvalidArgument, "Request_UnsupportedQuery"));
  EXPECT_NE(s.message().find("'secretHash' of resource 'ServicePrincipal'"), std::string::npos);

  f = ParseFilter("startswith(appId,'x')");
  ASSERT_THAT(f, IsOk());
  EXPECT_THAT(CheckFilter(*f, "ServicePrincipal", {"appId"}, {"displayName"}, {}),
              StatusIs(StatusCode::kInvalidArgument, "Request_UnsupportedQuery"));

  f = ParseFilter("APPID eq 'x' and servicePrincipalNames/any(c:c eq 'y')");
  ASSERT_THAT(f, IsOk());
  EXPECT_THAT(CheckFilter(*f, "ServicePrincipal", {"appId"}, {}, {"servicePrincipalNames"}),
              IsOk());
}

}  // namespace
}  // namespace cmk::server::graph
