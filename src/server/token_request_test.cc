#include "server/token_request.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "base/testing.h"

namespace cmk::server {
namespace {

using testing::IsOk;
using testing::StatusIs;

std::string Basic(std::string_view user_pass) { return "Basic " + Base64Encode(AsBytes(user_pass)); }

constexpr std::string_view kForm =
    "grant_type=client_credentials&scope=https%3A%2F%2Fmanagement.localhost%2F.default";

TEST(TokenRequestTest, ParsesPostedCredentialsAndScope) {
  auto r = ParseTokenRequest(std::string(kForm) + "&client_id=app&client_secret=s%2Bcr%20t", "");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->client_id, "app");
  EXPECT_EQ(r->client_secret, "s+cr t");
  EXPECT_EQ(r->resource, "https://management.localhost");
  EXPECT_FALSE(r->resource_form);
}

TEST(TokenRequestTest, ParsesBasicCredentialsFormUrlEncoded) {
  auto r = ParseTokenRequest(kForm, Basic("my%3Aapp:p%40ss+word"));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->client_id, "my:app");
  EXPECT_EQ(r->client_secret, "p@ss word");
}

TEST(TokenRequestTest, V1ResourceForm) {
  auto r = ParseTokenRequest("grant_type=client_credentials&client_id=a&client_secret=b&resource=https%3A%2F%2Fvault.localhost", "");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->resource, "https://vault.localhost");
  EXPECT_TRUE(r->resource_form);
}

// Issue 11's reproduction: a bad %-escape in Basic credentials aborted the process.
TEST(TokenRequestTest, MalformedBasicCredentialsAreInvalidClient) {
  for (std::string h : {Basic("%zz:whatever"), Basic("client:%zz"), Basic("%"), Basic("no-colon"),
                        std::string("Basic !!!"), std::string("Basic "), Basic(":")}) {
    auto r = ParseTokenRequest(kForm, h);
    if (h == Basic(":")) {
      EXPECT_THAT(r, StatusIs(StatusCode::kInvalidArgument)) << h;  // no client id
      continue;
    }
    EXPECT_THAT(r, StatusIs(StatusCode::kUnauthenticated)) << h;
    EXPECT_EQ(r.status().error_code(), "invalid_client") << h;
    EXPECT_NE(r.status().message().find("AADSTS"), std::string::npos);
  }
}

TEST(TokenRequestTest, MalformedFormsAreInvalidRequest) {
  for (std::string body : {std::string("grant_type=%zz"), std::string("%"), std::string("a=%4"),
                           std::string(""), std::string("grant_type=password&client_id=a"),
                           std::string(300, '&') + "grant_type=client_credentials"}) {
    auto r = ParseTokenRequest(body, "");
    EXPECT_FALSE(r.ok()) << body;
    EXPECT_FALSE(r.status().error_code().empty()) << body;
  }
  std::string many;
  for (int i = 0; i < 300; ++i) many += "f" + std::to_string(i) + "=1&";
  EXPECT_THAT(ParseTokenRequest(many + "grant_type=client_credentials", ""),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(TokenRequestTest, ScopeRules) {
  std::string base = "grant_type=client_credentials&client_id=a&client_secret=b&scope=";
  EXPECT_EQ(ParseTokenRequest(base + "https%3A%2F%2Fx", "").status().error_code(), "invalid_scope");
  EXPECT_EQ(ParseTokenRequest(base + "a%2F.default+b%2F.default", "").status().error_code(),
            "invalid_scope");
  EXPECT_THAT(ParseTokenRequest(base + "openid+https%3A%2F%2Fx%2F.default", ""), IsOk());
  EXPECT_EQ(ParseTokenRequest("grant_type=client_credentials&client_id=a&client_secret=b", "")
                .status()
                .error_code(),
            "invalid_request");
}

}  // namespace
}  // namespace cmk::server
