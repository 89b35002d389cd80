#include "server/graph_api.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/encoding.h"
#include "base/json.h"
#include "base/testing.h"
#include "server/graph_filter.h"

namespace cmk::server {
namespace {

namespace bj = boost::json;
using identity::Principal;

std::string S(const bj::value& v) {
  return v.is_string() ? std::string(v.as_string()) : bj::serialize(v);
}

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

class GraphApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/graph_" + env::SecureRandom().NewGuid();
    std::filesystem::create_directories(dir_);
    store_ = std::move(*meta::MetadataStore::Open(dir_ + "/meta.db"));
    master_ = random_.NewSecret(32);
    identity::TokenServiceOptions o;
    o.login_url = "https://login.localhost:8443";
    tokens_ = std::move(*identity::TokenService::Create(env(), store_.get(), master_, o));
    directory_ = std::make_unique<identity::Directory>(store_.get(), env());
    tenant_ = directory_->CreateTenant("contoso.localhost")->id;
    other_tenant_ = directory_->CreateTenant("fabrikam.localhost")->id;
    app_ = directory_->CreateServicePrincipal(tenant_, "app1")->principal;
    mi_ = *directory_->CreateManagedIdentity(tenant_, "cluster01");
    foreign_ = directory_->CreateServicePrincipal(other_tenant_, "foreign")->principal;
    api_ = std::make_unique<GraphApi>(GraphApiDeps{directory_.get(), tokens_.get(), &clock_,
                                                   "https://graph.localhost:8443",
                                                   "https://login.localhost:8443"});
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  env::Env env() { return env::Env{&clock_, &random_, &fs_}; }

  std::string Token(const Principal& p, std::string_view resource = "https://graph.localhost") {
    return tokens_->Issue(p, resource)->token;
  }

  struct Reply {
    int status;
    bj::object body;
    HttpResponse res;
  };
  Reply Call(std::string method, std::string path, std::string token,
             std::vector<std::pair<std::string, std::string>> query = {}, std::string body = "") {
    HttpRequest req;
    req.method = std::move(method);
    req.path = std::move(path);
    req.query = std::move(query);
    req.body = std::move(body);
    req.request_id = "rid-1";
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    HttpResponse res;
    api_->Handle(req, res);
    auto parsed = json::ParseObject(res.body);
    EXPECT_THAT(parsed, testing::IsOk()) << res.body;
    return Reply{res.status, parsed.ok() ? *parsed : bj::object{}, res};
  }
  Reply List(std::string collection, std::string filter, const Principal& caller) {
    return Call("GET", "/v1.0/" + collection, Token(caller), {{"$filter", std::move(filter)}});
  }

  // Graph's error shape: {"error":{"code","message","innerError":{"request-id",...}}}.
  static std::string ErrorCode(const Reply& r) {
    const bj::value* e = r.body.if_contains("error");
    if (e == nullptr || !e->is_object()) return "(no error object)";
    const bj::object& o = e->as_object();
    EXPECT_TRUE(o.contains("message") && o.at("message").is_string()) << bj::serialize(r.body);
    const bj::value* inner = o.if_contains("innerError");
    EXPECT_TRUE(inner != nullptr && inner->is_object() &&
                inner->as_object().at("request-id") == "rid-1" &&
                inner->as_object().contains("date"))
        << bj::serialize(r.body);
    return std::string(o.at("code").as_string());
  }
  static std::vector<std::string> Ids(const Reply& r) {
    std::vector<std::string> out;
    for (const auto& v : r.body.at("value").as_array()) {
      out.emplace_back(v.as_object().at("id").as_string());
    }
    return out;
  }

  std::string dir_;
  env::SimulatedClock clock_{FromUnixSeconds(1795416367)};
  env::SeededRandom random_{7};
  env::PosixFileSystem fs_;
  std::unique_ptr<meta::MetadataStore> store_;
  SecretBytes master_;
  std::unique_ptr<identity::TokenService> tokens_;
  std::unique_ptr<identity::Directory> directory_;
  std::unique_ptr<GraphApi> api_;
  std::string tenant_, other_tenant_;
  Principal app_, mi_, foreign_;
};

TEST_F(GraphApiTest, MissingOrForeignAudienceTokenIs401InGraphShape) {
  Reply none = Call("GET", "/v1.0/servicePrincipals", "");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(ErrorCode(none), "InvalidAuthenticationToken");
  EXPECT_EQ(S(none.body.at("error").at("message")), "Access token is empty.");
  EXPECT_NE(none.res.headers.end(),
            std::find_if(none.res.headers.begin(), none.res.headers.end(),
                         [](const auto& h) { return h.first == "WWW-Authenticate"; }));
  Reply arm = Call("GET", "/v1.0/servicePrincipals", Token(app_, "https://management.localhost"));
  EXPECT_EQ(arm.status, 401);
  EXPECT_EQ(ErrorCode(arm), "InvalidAuthenticationToken");
  EXPECT_EQ(S(arm.body.at("error").at("message")),
            "Access token validation failure. Invalid audience.");
  Reply garbage = Call("GET", "/v1.0/servicePrincipals", "not.a.jwt");
  EXPECT_EQ(garbage.status, 401);
  EXPECT_EQ(ErrorCode(garbage), "InvalidAuthenticationToken");
}

TEST_F(GraphApiTest, ServicePrincipalByIdHasGraphsShape) {
  Reply r = Call("GET", "/v1.0/servicePrincipals/" + app_.object_id, Token(app_));
  ASSERT_EQ(r.status, 200) << bj::serialize(r.body);
  EXPECT_EQ(S(r.body.at("@odata.context")),
            "https://graph.localhost:8443/v1.0/$metadata#servicePrincipals/$entity");
  EXPECT_EQ(S(r.body.at("id")), app_.object_id);
  EXPECT_EQ(S(r.body.at("appId")), app_.app_id);
  EXPECT_EQ(S(r.body.at("displayName")), "app1");
  EXPECT_EQ(S(r.body.at("servicePrincipalType")), "Application");
  EXPECT_EQ(S(r.body.at("appOwnerOrganizationId")), tenant_);
  EXPECT_EQ(r.body.at("servicePrincipalNames"), (bj::array{bj::value(app_.app_id)}));
  EXPECT_TRUE(r.body.at("accountEnabled").as_bool());
  bool odata = false;
  for (const auto& [k, v] : r.res.headers)
    odata |= k == "Content-Type" && v.find("odata") != v.npos;
  EXPECT_TRUE(odata);
}

TEST_F(GraphApiTest, ManagedIdentityIsAServicePrincipalOfTypeManagedIdentity) {
  // The managed identity reads its own tenant's directory too (any principal may).
  Reply r = Call("GET", "/v1.0/servicePrincipals/" + Upper(mi_.object_id), Token(mi_));
  ASSERT_EQ(r.status, 200) << bj::serialize(r.body);
  EXPECT_EQ(S(r.body.at("servicePrincipalType")), "ManagedIdentity");
  EXPECT_EQ(S(r.body.at("displayName")), "cluster01");
  EXPECT_TRUE(r.body.at("appOwnerOrganizationId").is_null());
  Reply alt = Call("GET", "/v1.0/servicePrincipals(appId='" + mi_.app_id + "')", Token(app_));
  ASSERT_EQ(alt.status, 200);
  EXPECT_EQ(S(alt.body.at("id")), mi_.object_id);
}

TEST_F(GraphApiTest, FiltersByAppIdAndServicePrincipalNames) {
  Reply by_spn =
      List("servicePrincipals", "servicePrincipalNames/any(c:c eq '" + mi_.app_id + "')", app_);
  ASSERT_EQ(by_spn.status, 200) << bj::serialize(by_spn.body);
  EXPECT_EQ(Ids(by_spn), std::vector<std::string>{mi_.object_id});
  EXPECT_EQ(S(by_spn.body.at("@odata.context")),
            "https://graph.localhost:8443/v1.0/$metadata#servicePrincipals");
  EXPECT_EQ(Ids(List("servicePrincipals", "appId eq '" + app_.app_id + "'", app_)),
            std::vector<std::string>{app_.object_id});
  EXPECT_EQ(Ids(List("servicePrincipals", "startswith(displayName,'CLUS')", app_)),
            std::vector<std::string>{mi_.object_id});
  EXPECT_TRUE(Ids(List("servicePrincipals", "appId eq 'nope'", app_)).empty());
  Reply all = Call("GET", "/v1.0/servicePrincipals", Token(app_));
  EXPECT_EQ(all.body.at("value").as_array().size(), 2u);  // app1 and cluster01, not foreign
  Reply top = Call("GET", "/v1.0/servicePrincipals", Token(app_), {{"$top", "1"}});
  EXPECT_EQ(top.body.at("value").as_array().size(), 1u);
}

TEST_F(GraphApiTest, OtherTenantsObjectsDoNotExist) {
  Reply get = Call("GET", "/v1.0/servicePrincipals/" + foreign_.object_id, Token(app_));
  EXPECT_EQ(get.status, 404);
  EXPECT_EQ(ErrorCode(get), "Request_ResourceNotFound");
  EXPECT_EQ(Call("GET", "/v1.0/directoryObjects/" + foreign_.object_id, Token(app_)).status, 404);
  EXPECT_TRUE(Ids(List("servicePrincipals", "appId eq '" + foreign_.app_id + "'", app_)).empty());
  EXPECT_EQ(
      Call("GET", "/v1.0/servicePrincipals(appId='" + foreign_.app_id + "')", Token(app_)).status,
      404);
  Reply ids = Call("POST", "/v1.0/directoryObjects/getByIds", Token(foreign_), {},
                   R"({"ids":[")" + app_.object_id + R"(",")" + foreign_.object_id + R"("]})");
  ASSERT_EQ(ids.status, 200);
  EXPECT_EQ(Ids(ids), std::vector<std::string>{foreign_.object_id});
}

TEST_F(GraphApiTest, GetByIdsReturnsTypedObjectsAndSkipsUnknownIds) {
  std::string body = R"({"ids":[")" + mi_.object_id +
                     R"(","00000000-0000-4000-8000-000000000000"],"types":["user","group",)"
                     R"("servicePrincipal","directoryObjectPartnerReference"]})";
  Reply r = Call("POST", "/v1.0/directoryObjects/getByIds", Token(app_), {}, body);
  ASSERT_EQ(r.status, 200) << bj::serialize(r.body);
  EXPECT_EQ(S(r.body.at("@odata.context")),
            "https://graph.localhost:8443/v1.0/$metadata#directoryObjects");
  ASSERT_EQ(Ids(r), std::vector<std::string>{mi_.object_id});
  EXPECT_EQ(S(r.body.at("value").at(0).at("@odata.type")), "#microsoft.graph.servicePrincipal");
  Reply users_only = Call("POST", "/v1.0/directoryObjects/getByIds", Token(app_), {},
                          R"({"ids":[")" + mi_.object_id + R"("],"types":["user"]})");
  EXPECT_TRUE(Ids(users_only).empty());
}

TEST_F(GraphApiTest, GetByIdsRejectsBadBodiesInGraphShape) {
  for (std::string body : {std::string("{"), std::string("[]"), std::string(R"({"ids":"x"})"),
                           std::string(R"({"ids":[1]})"), std::string(R"({"ids":["not-a-guid"]})"),
                           std::string(R"({"ids":[],"types":"user"})")}) {
    Reply r = Call("POST", "/v1.0/directoryObjects/getByIds", Token(app_), {}, body);
    EXPECT_EQ(r.status, 400) << body;
    EXPECT_NE(ErrorCode(r), "(no error object)") << body;
  }
  std::string many = R"({"ids":[)";
  for (int i = 0; i < 1001; ++i) many += std::string(i ? "," : "") + "\"" + app_.object_id + "\"";
  many += "]}";
  EXPECT_EQ(Call("POST", "/v1.0/directoryObjects/getByIds", Token(app_), {}, many).status, 400);
  EXPECT_EQ(
      Call("POST", "/v1.0/directoryObjects/getByIds", Token(app_), {}, std::string(70 * 1024, ' '))
          .status,
      413);
}

TEST_F(GraphApiTest, DirectoryObjectByIdCarriesItsType) {
  Reply r = Call("GET", "/v1.0/directoryObjects/" + app_.object_id, Token(app_));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(S(r.body.at("@odata.type")), "#microsoft.graph.servicePrincipal");
  EXPECT_EQ(S(r.body.at("@odata.context")),
            "https://graph.localhost:8443/v1.0/$metadata#directoryObjects/$entity");
}

TEST_F(GraphApiTest, MeIsBadRequestForAppOnlyTokensAsInGraph) {
  Reply r = Call("GET", "/v1.0/me", Token(app_));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(ErrorCode(r), "BadRequest");
  EXPECT_EQ(S(r.body.at("error").at("message")),
            "/me request is only valid with delegated authentication flow.");
}

TEST_F(GraphApiTest, ApplicationsExistForServicePrincipalsNotManagedIdentities) {
  Reply r = List("applications", "appId eq '" + app_.app_id + "'", app_);
  ASSERT_EQ(r.status, 200);
  ASSERT_EQ(r.body.at("value").as_array().size(), 1u);
  const bj::object& a = r.body.at("value").at(0).as_object();
  EXPECT_EQ(S(a.at("appId")), app_.app_id);
  EXPECT_EQ(S(a.at("id")), GraphApi::ApplicationObjectId(app_.app_id));
  EXPECT_NE(S(a.at("id")), app_.object_id);
  EXPECT_TRUE(IsGuid(a.at("id").as_string()));
  EXPECT_TRUE(Ids(List("applications", "appId eq '" + mi_.app_id + "'", app_)).empty());
  Reply one =
      Call("GET", "/beta/applications/" + GraphApi::ApplicationObjectId(app_.app_id), Token(app_));
  EXPECT_EQ(one.status, 200);
  EXPECT_EQ(S(one.body.at("@odata.context")),
            "https://graph.localhost:8443/beta/$metadata#applications/$entity");
}

TEST_F(GraphApiTest, UsersAreAnEmptyCollectionButFiltersAreStillChecked) {
  Reply r = List("users", "userPrincipalName eq 'someone@contoso.localhost'", app_);
  ASSERT_EQ(r.status, 200);
  EXPECT_TRUE(r.body.at("value").as_array().empty());
  EXPECT_EQ(S(r.body.at("@odata.context")), "https://graph.localhost:8443/v1.0/$metadata#users");
  Reply bad = List("users", "appId eq 'x'", app_);
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(ErrorCode(bad), "Request_UnsupportedQuery");
}

TEST_F(GraphApiTest, HostileFiltersAreClearBadRequests) {
  for (std::string filter :
       {std::string(graph::kMaxFilterLength + 1, 'a'), std::string(500, '(') + "id eq 'x'",
        std::string("appId eq '") + std::string(1, '\0'), std::string("appId eq 'x' or 1 eq 1"),
        std::string("\xff\xfe"), std::string("appId eq 'x' and ") + std::string(1500, ' ')}) {
    Reply r = List("servicePrincipals", filter, app_);
    EXPECT_EQ(r.status, 400) << EscapeForLog(filter, 64);
    EXPECT_EQ(ErrorCode(r), "BadRequest") << EscapeForLog(filter, 64);
  }
  Reply secret = List("servicePrincipals", "secretHash eq 'x'", app_);
  EXPECT_EQ(secret.status, 400);
  EXPECT_EQ(ErrorCode(secret), "Request_UnsupportedQuery");
  Reply twice = Call("GET", "/v1.0/servicePrincipals", Token(app_),
                     {{"$filter", "id eq 'a'"}, {"$filter", "id eq 'b'"}});
  EXPECT_EQ(twice.status, 400);
  EXPECT_EQ(Call("GET", "/v1.0/servicePrincipals", Token(app_), {{"$top", "0"}}).status, 400);
  EXPECT_EQ(Call("GET", "/v1.0/servicePrincipals", Token(app_), {{"$top", "99999999999"}}).status,
            400);
  EXPECT_EQ(Call("GET", "/v1.0/servicePrincipals", Token(app_), {{"$expand", "owners"}}).status,
            400);
}

TEST_F(GraphApiTest, WritesAreDeniedAndUnknownSegmentsAreBadRequests) {
  Reply post = Call("POST", "/v1.0/servicePrincipals", Token(app_), {}, R"({"appId":"x"})");
  EXPECT_EQ(post.status, 403);
  EXPECT_EQ(ErrorCode(post), "Authorization_RequestDenied");
  EXPECT_EQ(Call("DELETE", "/v1.0/servicePrincipals/" + mi_.object_id, Token(app_)).status, 403);
  Reply unknown = Call("GET", "/v1.0/secrets", Token(app_));
  EXPECT_EQ(unknown.status, 400);
  EXPECT_EQ(ErrorCode(unknown), "BadRequest");
  EXPECT_EQ(Call("GET", "/v2/servicePrincipals", Token(app_)).status, 400);
  EXPECT_EQ(Call("GET", "/v1.0/servicePrincipals/a/b", Token(app_)).status, 400);
  EXPECT_EQ(Call("GET", "/v1.0/directoryObjects/getByIds", Token(app_)).status, 405);
  EXPECT_EQ(Call("GET", "/v1.0/users/nobody", Token(app_)).status, 404);
}

}  // namespace
}  // namespace cmk::server
