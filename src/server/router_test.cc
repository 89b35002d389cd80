#include "server/router.h"

#include <gtest/gtest.h>

namespace cmk::server {
namespace {

TEST(RouteRequestTest, RoutesByHostUnderTheDomain) {
  EXPECT_EQ(RouteRequest("login.localhost:8443", "/t/oauth2/v2.0/token", "localhost").front_end, FrontEnd::kLogin);
  EXPECT_EQ(RouteRequest("Management.LOCALHOST", "/subscriptions", "localhost").front_end, FrontEnd::kArm);
  auto v = RouteRequest("myvault.vault.localhost:8443", "/keys/k", "localhost");
  EXPECT_EQ(v.front_end, FrontEnd::kVault);
  EXPECT_EQ(v.host_label, "myvault");
  EXPECT_EQ(RouteRequest("hsm1.managedhsm.localhost", "/keys", "localhost").front_end, FrontEnd::kManagedHsm);
  auto i = RouteRequest("mydce.ingest.localhost:8443", "/dataCollectionRules/x/streams/y", "localhost");
  EXPECT_EQ(i.front_end, FrontEnd::kIngest);
  EXPECT_EQ(i.host_label, "mydce");
  EXPECT_EQ(RouteRequest("api.loganalytics.localhost", "/v1/workspaces/w/query", "localhost").front_end, FrontEnd::kQuery);
  EXPECT_EQ(RouteRequest("a.b.vault.localhost", "/keys", "localhost").front_end, FrontEnd::kUnknown);
  EXPECT_EQ(RouteRequest("management.example.com", "/subscriptions", "example.com").front_end, FrontEnd::kArm);
}

TEST(RouteRequestTest, BareHostsRouteByPathExceptTheVault) {
  EXPECT_EQ(RouteRequest("127.0.0.1:8443", "/subscriptions", "localhost").front_end, FrontEnd::kArm);
  EXPECT_EQ(RouteRequest("localhost", "/adfs/oauth2/token", "localhost").front_end, FrontEnd::kLogin);
  EXPECT_EQ(RouteRequest("[::1]:8443", "/tenant/v2.0/.well-known/openid-configuration", "localhost").front_end, FrontEnd::kLogin);
  EXPECT_EQ(RouteRequest("127.0.0.1", "/v1/workspaces/x/query", "localhost").front_end, FrontEnd::kQuery);
  EXPECT_EQ(RouteRequest("127.0.0.1", "/dataCollectionRules/x/streams/y", "localhost").front_end, FrontEnd::kIngest);
  EXPECT_EQ(RouteRequest("127.0.0.1", "/keys/k", "localhost").front_end, FrontEnd::kUnknown);
  EXPECT_EQ(RouteRequest("anything", "/healthz", "localhost").front_end, FrontEnd::kOps);
  EXPECT_EQ(RouteRequest("", "", "localhost").front_end, FrontEnd::kUnknown);
}

}  // namespace
}  // namespace cmk::server
