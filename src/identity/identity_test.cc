#include <gtest/gtest.h>

#include <filesystem>

#include "base/encoding.h"
#include "base/testing.h"
#include "env/offset_clock.h"
#include "identity/directory.h"
#include "identity/jwt.h"
#include "identity/rbac.h"
#include "identity/token_service.h"

namespace cmk::identity {
namespace {

using std::chrono::hours;
using std::chrono::minutes;
using testing::IsOk;
using testing::StatusIs;

class IdentityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/identity_" + env::SecureRandom().NewGuid();
    std::filesystem::create_directories(dir_);
    store_ = std::move(*meta::MetadataStore::Open(dir_ + "/meta.db"));
    master_ = random_.NewSecret(32);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  env::Env env() { return env::Env{&clock_, &random_, &fs_}; }
  std::unique_ptr<TokenService> Tokens() {
    TokenServiceOptions o;
    o.login_url = "https://login.localhost:8443";
    return std::move(*TokenService::Create(env(), store_.get(), master_, o));
  }

  std::string dir_;
  env::SimulatedClock clock_{FromUnixSeconds(1795416367)};
  env::SeededRandom random_{42};
  env::PosixFileSystem fs_;
  std::unique_ptr<meta::MetadataStore> store_;
  SecretBytes master_;
};

TEST_F(IdentityTest, ClientSecretAuthenticatesAndWrongSecretIsAadsts7000215) {
  Directory dir(store_.get(), env());
  Tenant t = *dir.CreateTenant("contoso.localhost");
  auto creds = dir.CreateServicePrincipal(t.id, "app");
  ASSERT_THAT(creds, IsOk());
  EXPECT_EQ(creds->client_secret.size(), 40u);
  std::string secret(creds->client_secret.AsStringView());
  auto p = dir.AuthenticateClient(t.id, creds->principal.app_id, secret);
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->object_id, creds->principal.object_id);
  EXPECT_THAT(dir.AuthenticateClient("contoso.localhost", creds->principal.app_id, secret), IsOk());
  auto bad = dir.AuthenticateClient(t.id, creds->principal.app_id, secret + "x");
  EXPECT_THAT(bad, StatusIs(StatusCode::kUnauthenticated, "invalid_client"));
  EXPECT_EQ(bad.status().message().rfind("AADSTS7000215:", 0), 0u);
  auto unknown = dir.AuthenticateClient(t.id, "00000000-0000-0000-0000-000000000000", secret);
  EXPECT_THAT(unknown, StatusIs(StatusCode::kInvalidArgument, "unauthorized_client"));
  EXPECT_EQ(unknown.status().message().rfind("AADSTS700016:", 0), 0u);
  auto no_tenant = dir.AuthenticateClient("11111111-1111-1111-1111-111111111111",
                                          creds->principal.app_id, secret);
  EXPECT_EQ(no_tenant.status().message().rfind("AADSTS90002:", 0), 0u);
}

TEST_F(IdentityTest, SecretIsNotStoredInClear) {
  Directory dir(store_.get(), env());
  Tenant t = *dir.CreateTenant("contoso.localhost");
  auto creds = dir.CreateServicePrincipal(t.id, "app");
  auto docs = store_->List("principal", "");
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_EQ((*docs)[0].body.find(creds->client_secret.AsStringView()), std::string::npos);
}

TEST_F(IdentityTest, IssuedTokenValidatesForItsAudienceAndAliases) {
  auto tokens = Tokens();
  Principal p{"oid-1", "app-1", "tid-1", "n", PrincipalType::kServicePrincipal};
  auto tok = tokens->Issue(p, "https://management.localhost/");
  ASSERT_THAT(tok, IsOk());
  auto claims = tokens->Validate(tok->token, Audience::kArm);
  ASSERT_THAT(claims, IsOk());
  EXPECT_EQ(claims->principal.object_id, "oid-1");
  EXPECT_EQ(claims->principal.tenant_id, "tid-1");
  EXPECT_THAT(tokens->Validate(tok->token, Audience::kVault),
              StatusIs(StatusCode::kUnauthenticated, "InvalidAuthenticationTokenAudience"));
  for (const char* aud : {"https://management.azure.com", "https://management.localhost:8443",
                          "https://management.core.windows.net/"}) {
    EXPECT_EQ(tokens->AudienceFor(aud), Audience::kArm) << aud;
  }
  EXPECT_EQ(tokens->AudienceFor(ResourceFromScope("https://monitor.azure.com//.default")),
            Audience::kIngest);
  EXPECT_EQ(tokens->AudienceFor("https://vault.localhost:8443"), Audience::kVault);
  EXPECT_EQ(tokens->AudienceFor("https://api.loganalytics.io"), Audience::kQuery);
  for (const char* aud : {"https://graph.localhost:8443/", "https://graph.microsoft.com",
                          "00000003-0000-0000-c000-000000000000"}) {
    EXPECT_EQ(tokens->AudienceFor(aud), Audience::kGraph) << aud;
  }
  EXPECT_FALSE(tokens->AudienceFor("https://graph.windows.net").has_value());
  // Azure Storage's audience is one for every account (the Blob and Table data planes).
  EXPECT_EQ(tokens->AudienceFor("https://storage.azure.com/"), Audience::kStorage);
  EXPECT_THAT(tokens->Issue(p, "https://storage.azure.com"), IsOk());
  EXPECT_THAT(tokens->Issue(p, "https://storage.example.com"),
              StatusIs(StatusCode::kInvalidArgument, "invalid_resource"));
}

TEST_F(IdentityTest, ApplicationTokensCarryTheAudienceAndRolesAndAreNotAcceptedByFrontEnds) {
  auto tokens = Tokens();
  Principal p{"oid-w", "app-w", "tid-1", "AzNS", PrincipalType::kServicePrincipal};
  auto tok = tokens->IssueForApplication(p, "api://receiver", {"ActionGroupsSecureWebhook"});
  ASSERT_THAT(tok, IsOk());
  auto jwt = DecodeJwt(tok->token);
  ASSERT_THAT(jwt, IsOk());
  EXPECT_EQ(jwt->payload.at("aud"), "api://receiver");
  EXPECT_EQ(jwt->payload.at("roles").as_array()[0], "ActionGroupsSecureWebhook");
  EXPECT_THAT(tokens->Validate(tok->token, Audience::kArm), StatusIs(StatusCode::kUnauthenticated));
  EXPECT_THAT(tokens->IssueForApplication(p, "", {}), StatusIs(StatusCode::kInvalidArgument));
}

// An action group's writer picks a secure webhook's identifierUri and where the token goes: a
// token this instance's own front ends accept, under any spelling of their audiences, is refused.
TEST_F(IdentityTest, ApplicationTokensAreNeverIssuedForTheInstancesOwnAudiences) {
  auto tokens = Tokens();
  Principal p{"oid-w", "app-w", "tid-1", "AzNS", PrincipalType::kServicePrincipal};
  for (const char* aud : {"https://management.localhost", "HTTPS://Management.LocalHost:8443/", "https://management.azure.com",
                          "https://vault.localhost", "https://vault.azure.net/", "https://api.loganalytics.io",
                          "https://monitor.azure.com", "https://graph.microsoft.com", "https://storage.azure.com",
                          "00000003-0000-0000-c000-000000000000"}) {
    SCOPED_TRACE(aud);
    ASSERT_TRUE(tokens->AudienceFor(aud).has_value());
    EXPECT_THAT(tokens->IssueForApplication(p, aud, {"ActionGroupsSecureWebhook"}),
                StatusIs(StatusCode::kInvalidArgument, "invalid_resource"));
  }
  EXPECT_THAT(tokens->IssueForApplication(p, "https://management.localhost.example", {}), IsOk());
}

TEST_F(IdentityTest, TokenExpiresOnTheInjectedClock) {
  auto tokens = Tokens();
  Principal p{"oid-1", "app-1", "tid-1", "n", PrincipalType::kServicePrincipal};
  auto tok = *tokens->Issue(p, "https://management.localhost");
  clock_.Advance(minutes(59));
  EXPECT_THAT(tokens->Validate(tok.token, Audience::kArm), IsOk());
  clock_.Advance(hours(1) + minutes(2));
  EXPECT_THAT(tokens->Validate(tok.token, Audience::kArm),
              StatusIs(StatusCode::kUnauthenticated, "ExpiredAuthenticationToken"));
}

// Issue 12: on a rehearsal clock (real time plus an offset), tokens live on the real clock.
TEST_F(IdentityTest, TokensOnTheSessionClockSurviveASimulatedJumpOf31Days) {
  env::SimulatedClock real(FromUnixSeconds(1795416367));  // stands for the wall clock
  env::OffsetClock simulated(&real, Duration::zero());
  TokenServiceOptions o;
  o.login_url = "https://login.localhost:8443";
  o.session_clock = &real;
  auto tokens = std::move(*TokenService::Create(env::Env{&simulated, &random_, &fs_}, store_.get(),
                                                master_, o));
  Principal p{"oid-1", "app-1", "tid-1", "n", PrincipalType::kServicePrincipal};
  auto before = *tokens->Issue(p, "https://management.localhost");
  simulated.Advance(hours(24 * 31));
  EXPECT_THAT(tokens->Validate(before.token, Audience::kArm), IsOk())
      << "a token issued before the jump is valid until its real expiry";
  auto after = *tokens->Issue(p, "https://management.localhost");
  auto claims = tokens->Validate(after.token, Audience::kArm);
  ASSERT_THAT(claims, IsOk()) << "a token issued after the jump is valid at once";
  EXPECT_EQ(claims->issued_at, real.Now()) << "stamped on real time, as clients compare it";
  EXPECT_EQ(claims->expires, real.Now() + std::chrono::seconds(3599));
  real.Advance(minutes(59));
  EXPECT_THAT(tokens->Validate(before.token, Audience::kArm), IsOk());
  real.Advance(minutes(7));  // past the hour and the 5 minutes of skew, in real time
  EXPECT_THAT(tokens->Validate(before.token, Audience::kArm),
              StatusIs(StatusCode::kUnauthenticated, "ExpiredAuthenticationToken"));
  EXPECT_THAT(tokens->Validate(after.token, Audience::kArm),
              StatusIs(StatusCode::kUnauthenticated, "ExpiredAuthenticationToken"));
}

TEST_F(IdentityTest, TamperedOrForeignTokensAreRejected) {
  auto tokens = Tokens();
  Principal p{"oid-1", "app-1", "tid-1", "n", PrincipalType::kServicePrincipal};
  std::string tok = tokens->Issue(p, "https://management.localhost")->token;
  std::string tampered = tok;
  tampered[tampered.find('.') + 5] ^= 1;
  EXPECT_THAT(tokens->Validate(tampered, Audience::kArm),
              StatusIs(StatusCode::kUnauthenticated, "InvalidAuthenticationToken"));
  EXPECT_THAT(tokens->Validate("not-a-jwt", Audience::kArm),
              StatusIs(StatusCode::kUnauthenticated, "InvalidAuthenticationToken"));
  // A token signed by another key with the same claims.
  auto other_key = *crypto::RsaKey::Generate(2048);
  auto jwt = *DecodeJwt(tok);
  auto forged = *EncodeJwt(jwt.header, jwt.payload, other_key);
  EXPECT_THAT(tokens->Validate(forged, Audience::kArm),
              StatusIs(StatusCode::kUnauthenticated, "InvalidAuthenticationToken"));
}

TEST_F(IdentityTest, SigningKeyPersistsSealedAndNeedsTheMasterKey) {
  auto t1 = Tokens();
  Principal p{"oid-1", "app-1", "tid-1", "n", PrincipalType::kServicePrincipal};
  std::string tok = t1->Issue(p, "https://management.localhost")->token;
  auto t2 = Tokens();  // reloads from the store
  EXPECT_THAT(t2->Validate(tok, Audience::kArm), IsOk());
  EXPECT_EQ(t1->Jwks().at("keys").as_array()[0].as_object().at("kid"),
            t2->Jwks().at("keys").as_array()[0].as_object().at("kid"));
  auto doc = *store_->Get("token-signing-key", "current");
  EXPECT_EQ(doc->body.find("PRIVATE KEY"), std::string::npos);
  SecretBytes wrong = random_.NewSecret(32);
  TokenServiceOptions o;
  EXPECT_THAT(TokenService::Create(env(), store_.get(), wrong, o), StatusIs(StatusCode::kDataLoss));
}

TEST(RbacMatchTest, ActionWildcardsAndScopes) {
  EXPECT_TRUE(ActionMatches("*", "Microsoft.Resources/subscriptions/read"));
  EXPECT_TRUE(ActionMatches("*/read", "Microsoft.Resources/subscriptions/read"));
  EXPECT_FALSE(ActionMatches("*/read", "Microsoft.Resources/subscriptions/resourceGroups/write"));
  EXPECT_TRUE(ActionMatches("Microsoft.Authorization/*/Write",
                            "microsoft.authorization/roleAssignments/write"));
  EXPECT_TRUE(ActionMatches("Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/vaults/keys/read"));
  EXPECT_FALSE(ActionMatches("Microsoft.KeyVault/vaults/keys/read",
                             "Microsoft.KeyVault/vaults/keys/unwrap/action"));
  EXPECT_TRUE(ScopeCovers("/", "/subscriptions/s"));
  EXPECT_TRUE(ScopeCovers("/subscriptions/S", "/subscriptions/s/resourcegroups/rg"));
  EXPECT_FALSE(ScopeCovers("/subscriptions/s", "/subscriptions/s2"));
  EXPECT_FALSE(ScopeCovers("/subscriptions/s/resourcegroups/rg", "/subscriptions/s"));
}

TEST_F(IdentityTest, RolesGrantAsInAzure) {
  auto rbac = std::move(*Rbac::Create(store_.get(), env()));
  const std::string sub = "/subscriptions/11111111-1111-1111-1111-111111111111";
  Principal reader{"r", "ra", "t", "reader", PrincipalType::kServicePrincipal};
  Principal owner{"o", "oa", "t", "owner", PrincipalType::kServicePrincipal};
  ASSERT_THAT(rbac->Assign({random_.NewGuid(), sub, FindRoleDefinition("Reader")->id, "r"}), IsOk());
  ASSERT_THAT(rbac->Assign({random_.NewGuid(), sub, FindRoleDefinition("Owner")->id, "o"}), IsOk());
  EXPECT_THAT(rbac->Authorize(reader, "Microsoft.Resources/subscriptions/read", sub), IsOk());
  auto denied = rbac->Authorize(reader, "Microsoft.Resources/subscriptions/resourceGroups/write",
                                sub + "/resourceGroups/rg1");
  EXPECT_THAT(denied, StatusIs(StatusCode::kPermissionDenied, "AuthorizationFailed"));
  EXPECT_NE(denied.message().find("'r'"), std::string::npos);
  EXPECT_NE(denied.message().find("resourceGroups/write"), std::string::npos);
  EXPECT_THAT(rbac->Authorize(owner, "Microsoft.Authorization/roleAssignments/write", sub), IsOk());
  // Owner grants no data actions.
  EXPECT_THAT(rbac->AuthorizeData(owner, "Microsoft.KeyVault/vaults/keys/unwrap/action", sub),
              StatusIs(StatusCode::kPermissionDenied));
  // Contributor cannot assign roles.
  ASSERT_THAT(rbac->Assign({random_.NewGuid(), sub, FindRoleDefinition("Contributor")->id, "c"}), IsOk());
  EXPECT_FALSE(rbac->IsAllowed("c", "Microsoft.Authorization/roleAssignments/write", sub, false));
  EXPECT_TRUE(rbac->IsAllowed("c", "Microsoft.OperationalInsights/clusters/write", sub + "/x", false));
  // Crypto Service Encryption User: wrap/unwrap data actions only.
  ASSERT_THAT(rbac->Assign({random_.NewGuid(), sub + "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v",
                            "e147488a-f6f5-4113-8e2d-b22465e65bf6", "mi"}), IsOk());
  EXPECT_TRUE(rbac->IsAllowed("mi", "Microsoft.KeyVault/vaults/keys/unwrap/action",
                              sub + "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v/keys/k", true));
  EXPECT_FALSE(rbac->IsAllowed("mi", "Microsoft.KeyVault/vaults/keys/delete",
                               sub + "/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v/keys/k", true));
}

TEST_F(IdentityTest, AssignmentRulesAndPersistence) {
  const std::string sub = "/subscriptions/11111111-1111-1111-1111-111111111111";
  std::string name = random_.NewGuid();
  {
    auto rbac = std::move(*Rbac::Create(store_.get(), env()));
    ASSERT_THAT(rbac->Assign({name, sub, FindRoleDefinition("Reader")->id, "p"}), IsOk());
    EXPECT_THAT(rbac->Assign({name, sub, FindRoleDefinition("Reader")->id, "p"}), IsOk());
    EXPECT_THAT(rbac->Assign({random_.NewGuid(), sub, FindRoleDefinition("Reader")->id, "p"}),
                StatusIs(StatusCode::kConflict, "RoleAssignmentExists"));
    EXPECT_THAT(rbac->Assign({name, sub, FindRoleDefinition("Owner")->id, "p"}),
                StatusIs(StatusCode::kInvalidArgument, "RoleAssignmentUpdateNotPermitted"));
    EXPECT_THAT(rbac->Assign({random_.NewGuid(), sub, "00000000-0000-0000-0000-000000000000", "p"}),
                StatusIs(StatusCode::kInvalidArgument, "RoleDefinitionDoesNotExist"));
  }
  auto rbac = std::move(*Rbac::Create(store_.get(), env()));
  EXPECT_TRUE(rbac->IsAllowed("p", "Microsoft.Resources/subscriptions/read", sub, false));
  EXPECT_EQ(rbac->List(sub + "/resourceGroups/x", false).size(), 1u);
  EXPECT_EQ(rbac->List("/subscriptions/other", false).size(), 0u);
  auto removed = rbac->Remove(name);
  ASSERT_THAT(removed, IsOk());
  EXPECT_TRUE(removed->has_value());
  EXPECT_FALSE(rbac->IsAllowed("p", "Microsoft.Resources/subscriptions/read", sub, false));
}

}  // namespace
}  // namespace cmk::identity
