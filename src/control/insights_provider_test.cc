#include "control/insights_provider.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "base/json.h"
#include "base/testing.h"
#include "control/arm_test_base.h"
#include "control/arm_util.h"
#include "control/oi_provider.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
using testing::IsOk;
using testing::StatusIs;

std::string Upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

constexpr char kTable[] =
    R"({"properties":{"schema":{"name":"MyTable_CL","columns":[{"name":"TimeGenerated","type":"dateTime"},{"name":"Message","type":"string"}]}}})";

class InsightsProviderTest : public ArmTestBase {
 protected:
  InsightsProviderTest() : ArmTestBase(12) {}
  void SetUp() override {
    ArmTestBase::SetUp();
    ASSERT_THAT(arm_->EnsureResourceGroup(sub_, "rg2", "eastus"), IsOk());
    InstallInsights();
    auto ws = Oi("PUT", "workspaces/wsp1", R"({"location":"eastus"})");
    ASSERT_EQ(ws.status, 201) << json::Serialize(*ws.body);
    ASSERT_EQ(Oi("PUT", "workspaces/wsp1/tables/MyTable_CL", kTable).status, 200);
    customer_id_ = Str(Oi("GET", "workspaces/wsp1").body->as_object()["properties"].as_object(), "customerId");
  }
  // (Re)creates the provider from the store, as a server restart does.
  void InstallInsights(size_t page_size = 100) {
    InsightsOptions o;
    o.page_size = page_size;
    auto p = std::make_unique<InsightsProvider>(env(), store_.get(), directory_.get(), rbac_.get(), o);
    ASSERT_THAT(p->Load(), IsOk());
    arm_->SetInsights(std::move(p));
  }
  InsightsProvider& insights() { return *arm_->insights(); }
  std::string Rg(const char* rg = "rg") { return "/subscriptions/" + sub_ + "/resourceGroups/" + rg; }
  std::string WsId() { return Rg() + "/providers/Microsoft.OperationalInsights/workspaces/wsp1"; }
  std::string DceId(const char* name = "dce1") { return Rg() + "/providers/Microsoft.Insights/dataCollectionEndpoints/" + name; }
  ArmResponse Raw(std::string method, std::string path, std::string body = "", const identity::Principal* who = nullptr,
                  std::vector<std::pair<std::string, std::string>> query = {{"api-version", "2022-06-01"}}) {
    ArmRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.query = std::move(query);
    r.body = std::move(body);
    r.caller = who ? *who : admin_;
    r.base_url = "https://management.localhost:8443";
    return arm_->Handle(r);
  }
  ArmResponse Call(std::string method, std::string path, std::string body = "", const identity::Principal* who = nullptr) {
    return Raw(std::move(method), Rg() + "/providers/Microsoft.Insights/" + path, std::move(body), who);
  }
  ArmResponse Oi(std::string method, std::string path, std::string body = "") {
    return Raw(std::move(method), Rg() + "/providers/Microsoft.OperationalInsights/" + path, std::move(body), nullptr,
               {{"api-version", "2022-10-01"}});
  }
  // A Direct rule whose parts can be replaced one at a time.
  std::string Rule(std::string streams = "", std::string dests = "", std::string flows = "", std::string extra = "") {
    if (streams.empty()) {
      streams = R"({"Custom-MyStream":{"columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"Message","type":"string"},{"name":"Level","type":"int"}]}})";
    }
    if (dests.empty()) dests = R"({"logAnalytics":[{"workspaceResourceId":")" + WsId() + R"(","name":"la"}]})";
    if (flows.empty()) {
      flows = R"([{"streams":["Custom-MyStream"],"destinations":["la"],"transformKql":"source | extend x = 1","outputStream":"Custom-MyTable_CL"}])";
    }
    return R"({"location":"eastus","kind":"Direct","properties":{"streamDeclarations":)" + streams +
           R"(,"destinations":)" + dests + R"(,"dataFlows":)" + flows + extra + "}}";
  }
  static bj::object& P(ArmResponse& r) { return r.body->as_object()["properties"].as_object(); }
  static std::string Code(const ArmResponse& r) {
    return std::string(r.body->as_object().at("error").as_object().at("code").as_string());
  }
  // The specific validation code (error.details[0].code), or error.code when there is none.
  static std::string Detail(const ArmResponse& r) {
    const bj::object& e = r.body->as_object().at("error").as_object();
    if (const bj::value* d = e.if_contains("details"); d && !d->as_array().empty()) {
      return std::string(d->as_array()[0].as_object().at("code").as_string());
    }
    return std::string(e.at("code").as_string());
  }
  static std::string Message(const ArmResponse& r) {
    return std::string(r.body->as_object().at("error").as_object().at("message").as_string());
  }

  std::string customer_id_;
};

TEST_F(InsightsProviderTest, EndpointCreateReadUpdateListDelete) {
  auto put = Call("PUT", "dataCollectionEndpoints/My-Dce", R"({"location":"East US","tags":{"a":"b"}})");
  ASSERT_EQ(put.status, 201) << json::Serialize(*put.body);
  std::string imm = Str(P(put), "immutableId");
  EXPECT_TRUE(std::regex_match(imm, std::regex("^dce-[0-9a-f]{32}$"))) << imm;
  std::string url = Str(P(put)["logsIngestion"].as_object(), "endpoint");
  EXPECT_EQ(url, "https://my-dce-" + imm.substr(4, 4) + ".ingest.localhost:8443");
  EXPECT_EQ(Str(P(put)["configurationAccess"].as_object(), "endpoint"), url);
  EXPECT_EQ(Str(P(put)["networkAcls"].as_object(), "publicNetworkAccess"), "Enabled");
  EXPECT_EQ(Str(P(put), "provisioningState"), "Succeeded");
  EXPECT_EQ(Str(put.body->as_object(), "location"), "eastus");
  EXPECT_EQ(Str(put.body->as_object(), "type"), "Microsoft.Insights/dataCollectionEndpoints");
  EXPECT_EQ(*insights().FindEndpointByHostLabel("MY-DCE-" + imm.substr(4, 4)), DceId("My-Dce"));

  auto again = Call("PUT", "dataCollectionEndpoints/my-dce", R"({"location":"eastus","properties":{"networkAcls":{"publicNetworkAccess":"disabled"}}})");
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(Str(P(again), "immutableId"), imm);
  EXPECT_EQ(Str(P(again)["networkAcls"].as_object(), "publicNetworkAccess"), "Disabled");
  EXPECT_EQ(Code(Call("PUT", "dataCollectionEndpoints/my-dce", R"({"location":"westus"})")), "LocationUpdateNotAllowed");

  auto patch = Call("PATCH", "dataCollectionEndpoints/my-dce", R"({"tags":{"env":"test"}})");
  ASSERT_EQ(patch.status, 200);
  EXPECT_EQ(Str(patch.body->as_object()["tags"].as_object(), "env"), "test");
  EXPECT_EQ(Str(P(patch), "immutableId"), imm);

  auto list = Call("GET", "dataCollectionEndpoints");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body->as_object()["value"].as_array().size(), 1u);
  EXPECT_EQ(Call("DELETE", "dataCollectionEndpoints/my-dce").status, 200);
  EXPECT_EQ(Code(Call("GET", "dataCollectionEndpoints/my-dce")), "ResourceNotFound");
  EXPECT_EQ(Call("DELETE", "dataCollectionEndpoints/my-dce").status, 204);
  EXPECT_THAT(insights().FindEndpointByHostLabel("my-dce-" + imm.substr(4, 4)), StatusIs(StatusCode::kNotFound));
}

TEST_F(InsightsProviderTest, EndpointRejectsBadNamesKindsAndLocations) {
  EXPECT_EQ(Code(Call("PUT", "dataCollectionEndpoints/d_1", R"({"location":"eastus"})")), "InvalidResourceName");
  EXPECT_EQ(Code(Call("PUT", "dataCollectionEndpoints/dce1", R"({})")), "LocationRequired");
  EXPECT_EQ(Code(Call("PUT", "dataCollectionEndpoints/dce1", R"({"location":"mars"})")), "LocationNotAvailableForResourceType");
  EXPECT_EQ(Code(Call("PUT", "dataCollectionEndpoints/dce1", R"({"location":"eastus","kind":"Direct"})")), "InvalidKind");
  EXPECT_EQ(Code(Call("PUT", "dataCollectionEndpoints/dce1",
                      R"({"location":"eastus","properties":{"networkAcls":{"publicNetworkAccess":"Maybe"}}})")),
            "InvalidNetworkAcls");
  EXPECT_EQ(Call("PUT", "dataCollectionEndpoints/dce1", "not json").status, 400);
  EXPECT_EQ(Code(Call("GET", "scheduledQueryRules")), "InvalidResourceType");
  EXPECT_EQ(Code(Raw("GET", Rg() + "/providers/Microsoft.Insights/dataCollectionEndpoints", "", nullptr,
                     {{"api-version", "latest"}})),
            "InvalidApiVersionParameter");
  for (const char* v : {"2021-04-01", "2021-09-01-preview", "2022-06-01", "2023-03-11", "2024-03-11"}) {
    EXPECT_EQ(Raw("GET", Rg() + "/providers/Microsoft.Insights/dataCollectionRules", "", nullptr, {{"api-version", v}}).status, 200) << v;
  }
}

TEST_F(InsightsProviderTest, DirectRuleGetsImmutableIdEndpointAndWorkspaceId) {
  auto put = Call("PUT", "dataCollectionRules/rule1", Rule());
  ASSERT_EQ(put.status, 201) << json::Serialize(*put.body);
  std::string imm = Str(P(put), "immutableId");
  EXPECT_TRUE(std::regex_match(imm, std::regex("^dcr-[0-9a-f]{32}$"))) << imm;
  EXPECT_EQ(Str(P(put)["endpoints"].as_object(), "logsIngestion"), "https://" + imm + ".ingest.localhost:8443");
  const bj::object& dest = P(put)["destinations"].as_object()["logAnalytics"].as_array()[0].as_object();
  EXPECT_EQ(Str(dest, "workspaceId"), customer_id_);
  EXPECT_EQ(Str(P(put), "provisioningState"), "Succeeded");
  EXPECT_EQ(Str(put.body->as_object(), "kind"), "Direct");
  EXPECT_FALSE(Str(put.body->as_object(), "etag").empty());
  EXPECT_EQ(Str(put.body->as_object()["systemData"].as_object(), "createdByType"), "Application");

  // An update keeps the immutable id and changes the etag.
  auto upd = Call("PUT", "dataCollectionRules/rule1", Rule());
  ASSERT_EQ(upd.status, 200);
  EXPECT_EQ(Str(P(upd), "immutableId"), imm);
  EXPECT_NE(Str(upd.body->as_object(), "etag"), Str(put.body->as_object(), "etag"));
  EXPECT_EQ(Str(Call("GET", "dataCollectionRules/RULE1").body->as_object(), "name"), "rule1");
}

TEST_F(InsightsProviderTest, LookupByImmutableIdFollowsPutDeleteAndRestart) {
  auto put = Call("PUT", "dataCollectionRules/rule1", Rule());
  ASSERT_EQ(put.status, 201);
  std::string imm = Str(P(put), "immutableId");
  auto rule = insights().FindRuleByImmutableId(Upper(imm));
  ASSERT_THAT(rule, IsOk());
  EXPECT_EQ(rule->immutable_id, imm);
  EXPECT_EQ(rule->location, "eastus");
  EXPECT_EQ(rule->kind, "Direct");
  EXPECT_EQ(rule->resource_id, Rg() + "/providers/Microsoft.Insights/dataCollectionRules/rule1");
  ASSERT_EQ(rule->streams.count("Custom-MyStream"), 1u);
  const auto& cols = rule->streams.at("Custom-MyStream");
  ASSERT_EQ(cols.size(), 3u);
  EXPECT_EQ(cols[0].name, "TimeGenerated");
  EXPECT_EQ(cols[0].type, "datetime");
  EXPECT_EQ(cols[2].type, "int");
  ASSERT_EQ(rule->destinations.size(), 1u);
  EXPECT_EQ(rule->destinations[0].name, "la");
  EXPECT_EQ(rule->destinations[0].workspace_resource_id, WsId());
  EXPECT_EQ(rule->destinations[0].workspace_id, customer_id_);
  ASSERT_EQ(rule->flows.size(), 1u);
  EXPECT_EQ(rule->flows[0].streams, std::vector<std::string>{"Custom-MyStream"});
  EXPECT_EQ(rule->flows[0].destinations, std::vector<std::string>{"la"});
  EXPECT_EQ(rule->flows[0].transform_kql, "source | extend x = 1");
  EXPECT_EQ(rule->flows[0].output_stream, "Custom-MyTable_CL");

  InstallInsights();  // a restart rebuilds the index from the store
  ASSERT_THAT(insights().FindRuleByImmutableId(imm), IsOk());
  EXPECT_EQ(Call("DELETE", "dataCollectionRules/rule1").status, 200);
  EXPECT_THAT(insights().FindRuleByImmutableId(imm), StatusIs(StatusCode::kNotFound, "NotFound"));
  InstallInsights();
  EXPECT_THAT(insights().FindRuleByImmutableId(imm), StatusIs(StatusCode::kNotFound));
}

TEST_F(InsightsProviderTest, FlowDefaultsAndStandardStreams) {
  // No transform: "source"; no output stream: the input stream's own table.
  std::string streams = R"({"Custom-MyTable_CL":{"columns":[{"name":"TimeGenerated","type":"DateTime"}]}})";
  auto put = Call("PUT", "dataCollectionRules/rule2",
                  Rule(streams, "", R"([{"streams":["custom-mytable_cl"],"destinations":["LA"]},
                                        {"streams":["Microsoft-Syslog"],"destinations":["la"],"outputStream":"microsoft-syslog"}])"));
  ASSERT_EQ(put.status, 201) << json::Serialize(*put.body);
  auto rule = insights().FindRuleByImmutableId(Str(P(put), "immutableId"));
  ASSERT_THAT(rule, IsOk());
  EXPECT_EQ(rule->streams.at("Custom-MyTable_CL")[0].type, "datetime");
  EXPECT_EQ(rule->flows[0].transform_kql, "source");
  EXPECT_EQ(rule->flows[0].streams[0], "Custom-MyTable_CL");
  EXPECT_EQ(rule->flows[0].destinations[0], "la");
  EXPECT_EQ(rule->flows[0].output_stream, "Custom-MyTable_CL");
  EXPECT_EQ(rule->flows[1].output_stream, "Microsoft-Syslog");
  // Rules without kind Direct have no endpoints of their own.
  auto linux_rule = Call("PUT", "dataCollectionRules/rule3", R"({"location":"eastus","kind":"linux"})");
  ASSERT_EQ(linux_rule.status, 201) << json::Serialize(*linux_rule.body);
  EXPECT_EQ(Str(linux_rule.body->as_object(), "kind"), "Linux");
  EXPECT_FALSE(P(linux_rule).contains("endpoints"));
}

TEST_F(InsightsProviderTest, RuleValidationErrorsNameTheProblem) {
  struct Case {
    std::string body, code, needle;
  };
  std::string ws = WsId();
  std::string missing_ws = Rg() + "/providers/Microsoft.OperationalInsights/workspaces/nope";
  std::string deep_pipes;
  for (int i = 0; i < 5000; ++i) deep_pipes += " | take 1";
  std::vector<Case> cases = {
      {R"({"kind":"Direct"})", "LocationRequired", "location"},
      {R"({"location":"eastus","kind":"Sideways"})", "InvalidKind", "Sideways"},
      {Rule(R"({"MyStream":{"columns":[{"name":"a","type":"string"}]}})"), "InvalidStreamDeclaration", "MyStream"},
      {Rule(R"({"Custom-S":{"columns":[]}})"), "InvalidStreamDeclaration", "Custom-S"},
      {Rule(R"({"Custom-S":{"columns":[{"name":"Price","type":"decimal"}]}})"), "InvalidColumnType", "Price"},
      {Rule(R"({"Custom-S":{"columns":[{"name":"Id","type":"guid"}]}})"), "InvalidColumnType", "Id"},
      {Rule(R"({"Custom-S":{"columns":[{"name":"a","type":"string"},{"name":"A","type":"int"}]}})"), "InvalidStreamDeclaration", "twice"},
      {Rule("", R"({"logAnalytics":[{"workspaceResourceId":")" + missing_ws + R"(","name":"la"}]})"), "InvalidWorkspace", "nope"},
      {Rule("", R"({"logAnalytics":[{"workspaceResourceId":")" + ws + R"("}]})"), "InvalidDestination", "name"},
      {Rule("", R"({"logAnalytics":[{"workspaceResourceId":")" + ws + R"(","name":"la"},{"workspaceResourceId":")" + ws +
                    R"(","name":"LA"}]})"), "InvalidDestination", "more than once"},
      {Rule("", R"({"azureMonitorMetrics":{"name":"m"}})"), "UnsupportedDestination", "azureMonitorMetrics"},
      {Rule("", "", R"([{"streams":["Custom-Other"],"destinations":["la"],"outputStream":"Custom-MyTable_CL"}])"), "InvalidDataFlow", "Custom-Other"},
      {Rule("", "", R"([{"streams":["Microsoft-Nonsense"],"destinations":["la"]}])"), "InvalidDataFlow", "Microsoft-Nonsense"},
      {Rule("", "", R"([{"streams":["Custom-MyStream"],"destinations":["elsewhere"],"outputStream":"Custom-MyTable_CL"}])"), "InvalidDataFlow", "elsewhere"},
      {Rule("", "", R"([{"streams":[],"destinations":["la"]}])"), "InvalidDataFlow", "streams"},
      {Rule("", "", R"([{"streams":["Custom-MyStream"],"destinations":["la"],"transformKql":"source | where (x > 1","outputStream":"Custom-MyTable_CL"}])"),
       "InvalidTransformQuery", "1:"},
      {Rule("", "", R"([{"streams":["Custom-MyStream"],"destinations":["la"],"transformKql":42,"outputStream":"Custom-MyTable_CL"}])"),
       "InvalidTransformQuery", "string"},
      // Bound against the stream's columns at PUT: unknown columns and queries past the
      // engine's limits are refused here, not on every upload (hardening issue).
      {Rule("", "", R"([{"streams":["Custom-MyStream"],"destinations":["la"],"transformKql":"source | extend y = NoSuchColumn + 1","outputStream":"Custom-MyTable_CL"}])"),
       "InvalidTransformQuery", "NoSuchColumn"},
      {Rule("", "", R"([{"streams":["Custom-MyStream"],"destinations":["la"],"transformKql":"source)" + deep_pipes +
                        R"(","outputStream":"Custom-MyTable_CL"}])"),
       "InvalidTransformQuery", "too"},
      {Rule("", "", R"([{"streams":["Custom-MyStream"],"destinations":["la"],"outputStream":"Custom-Missing_CL"}])"), "InvalidOutputTable", "Missing_CL"},
      {Rule("", "", R"([{"streams":["Custom-MyStream"],"destinations":["la"],"outputStream":"Custom-NoSuffix"}])"), "InvalidOutputTable", "Custom-NoSuffix"},
      {Rule("", "", R"([{"streams":["Custom-MyStream"],"destinations":["la"],"outputStream":"Microsoft-Nonsense"}])"), "InvalidOutputTable", "Microsoft-Nonsense"},
      {Rule("", "", R"([{"streams":["Custom-MyStream"],"destinations":["la"]}])"), "InvalidOutputTable", "Custom-MyStream"},
      {Rule("", "", "", R"(,"dataCollectionEndpointId":")" + DceId("nope") + R"(")"), "InvalidDataCollectionEndpointId", "nope"},
  };
  for (const auto& c : cases) {
    auto res = Call("PUT", "dataCollectionRules/bad", c.body);
    ASSERT_EQ(res.status, 400) << c.body << " -> " << (res.body ? json::Serialize(*res.body) : "");
    EXPECT_EQ(Detail(res), c.code) << c.body << " -> " << json::Serialize(*res.body);
    EXPECT_NE(Message(res).find(c.needle), std::string::npos) << Message(res);
  }
  // Detailed refusals are ARM's InvalidPayload with the specific code in details.
  EXPECT_EQ(Code(Call("PUT", "dataCollectionRules/bad", cases[4].body)), "InvalidPayload");
  EXPECT_EQ(Call("GET", "dataCollectionRules/bad").status, 404);
  EXPECT_EQ(Code(Call("PUT", "dataCollectionRules/-bad", Rule())), "InvalidResourceName");
}

TEST_F(InsightsProviderTest, RuleNamesAnEndpointInItsOwnLocation) {
  ASSERT_EQ(Call("PUT", "dataCollectionEndpoints/dce1", R"({"location":"eastus"})").status, 201);
  ASSERT_EQ(Call("PUT", "dataCollectionEndpoints/dce2", R"({"location":"westus"})").status, 201);
  auto ok = Call("PUT", "dataCollectionRules/rule1", Rule("", "", "", R"(,"dataCollectionEndpointId":")" + ToLower(DceId()) + R"(")"));
  ASSERT_EQ(ok.status, 201) << json::Serialize(*ok.body);
  EXPECT_EQ(Str(P(ok), "dataCollectionEndpointId"), DceId());
  EXPECT_EQ(insights().FindRuleByImmutableId(Str(P(ok), "immutableId"))->data_collection_endpoint_id, DceId());
  auto other = Call("PUT", "dataCollectionRules/rule2", Rule("", "", "", R"(,"dataCollectionEndpointId":")" + DceId("dce2") + R"(")"));
  EXPECT_EQ(Detail(other), "InvalidDataCollectionEndpointId");
  EXPECT_NE(Message(other).find("westus"), std::string::npos);
}

TEST_F(InsightsProviderTest, PatchChangesOnlyTagsAndIdentity) {
  auto put = Call("PUT", "dataCollectionRules/rule1", Rule());
  ASSERT_EQ(put.status, 201);
  auto patch = Call("PATCH", "dataCollectionRules/rule1", R"({"tags":{"team":"obs"},"identity":{"type":"SystemAssigned"}})");
  ASSERT_EQ(patch.status, 200) << json::Serialize(*patch.body);
  EXPECT_EQ(Str(patch.body->as_object()["tags"].as_object(), "team"), "obs");
  EXPECT_FALSE(Str(patch.body->as_object()["identity"].as_object(), "principalId").empty());
  EXPECT_EQ(Str(P(patch), "immutableId"), Str(P(put), "immutableId"));
  EXPECT_EQ(P(patch)["dataFlows"], P(put)["dataFlows"]);
  EXPECT_EQ(Code(Call("PATCH", "dataCollectionRules/rule1", R"({"properties":{"description":"x"}})")), "InvalidRequestContent");
  EXPECT_EQ(Code(Call("PATCH", "dataCollectionRules/rule1", R"({"identity":{"type":"Weird"}})")), "InvalidIdentity");
  EXPECT_EQ(Code(Call("PATCH", "dataCollectionRules/nope", R"({"tags":{}})")), "ResourceNotFound");
  auto none = Call("PATCH", "dataCollectionRules/rule1", R"({"identity":{"type":"None"}})");
  EXPECT_EQ(Str(none.body->as_object()["identity"].as_object(), "type"), "None");
}

TEST_F(InsightsProviderTest, ListsPageWithNextLinkAtResourceGroupAndSubscription) {
  InstallInsights(2);
  for (const char* n : {"r1", "r2", "r3"}) ASSERT_EQ(Call("PUT", std::string("dataCollectionRules/") + n, Rule()).status, 201);
  ASSERT_EQ(Raw("PUT", Rg("rg2") + "/providers/Microsoft.Insights/dataCollectionRules/r4", Rule()).status, 201);
  auto page1 = Call("GET", "dataCollectionRules");
  ASSERT_EQ(page1.status, 200);
  EXPECT_EQ(page1.body->as_object()["value"].as_array().size(), 2u);
  std::string next = Str(page1.body->as_object(), "nextLink");
  ASSERT_NE(next.find("%24skipToken=2"), std::string::npos) << next;
  EXPECT_EQ(next.rfind("https://management.localhost:8443/subscriptions/", 0), 0u) << next;
  auto page2 = Raw("GET", Rg() + "/providers/Microsoft.Insights/dataCollectionRules", "", nullptr,
                   {{"api-version", "2022-06-01"}, {"$skipToken", "2"}});
  ASSERT_EQ(page2.status, 200);
  EXPECT_EQ(page2.body->as_object()["value"].as_array().size(), 1u);
  EXPECT_FALSE(page2.body->as_object().contains("nextLink"));
  size_t total = 0;
  std::string token;
  for (int i = 0; i < 5; ++i) {
    std::vector<std::pair<std::string, std::string>> q = {{"api-version", "2022-06-01"}};
    if (!token.empty()) q.emplace_back("$skipToken", token);
    auto page = Raw("GET", "/subscriptions/" + sub_ + "/providers/Microsoft.Insights/dataCollectionRules", "", nullptr, q);
    ASSERT_EQ(page.status, 200);
    total += page.body->as_object()["value"].as_array().size();
    std::string link = Str(page.body->as_object(), "nextLink");
    if (link.empty()) break;
    token = link.substr(link.find("skipToken=") + 10);
  }
  EXPECT_EQ(total, 4u);
  EXPECT_EQ(Code(Raw("GET", Rg() + "/providers/Microsoft.Insights/dataCollectionRules", "", nullptr,
                     {{"api-version", "2022-06-01"}, {"$skipToken", "x"}})),
            "InvalidSkipToken");
  EXPECT_EQ(Code(Raw("GET", Rg("nope") + "/providers/Microsoft.Insights/dataCollectionRules")), "ResourceGroupNotFound");
}

TEST_F(InsightsProviderTest, RbacReadersReadWritersWriteAndWorkspacesNeedRead) {
  ASSERT_EQ(Call("PUT", "dataCollectionRules/rule1", Rule()).status, 201);
  auto reader = std::move(*directory_->CreateServicePrincipal(tenant_.id, "reader")).principal;
  auto stranger = std::move(*directory_->CreateServicePrincipal(tenant_.id, "stranger")).principal;
  auto writer = std::move(*directory_->CreateServicePrincipal(tenant_.id, "writer")).principal;
  Grant(reader, "Reader", Rg());
  Grant(writer, "Contributor", Rg("rg2"));
  EXPECT_EQ(Call("GET", "dataCollectionRules/rule1", "", &reader).status, 200);
  EXPECT_EQ(Call("GET", "dataCollectionRules", "", &reader).status, 200);
  EXPECT_EQ(Code(Call("PUT", "dataCollectionRules/rule1", Rule(), &reader)), "AuthorizationFailed");
  EXPECT_EQ(Code(Call("DELETE", "dataCollectionRules/rule1", "", &reader)), "AuthorizationFailed");
  EXPECT_EQ(Call("GET", "dataCollectionRules/rule1", "", &stranger).status, 403);
  // A writer in rg2 can't send data to a workspace it may not write to: reading it is not
  // enough; sharedKeys/action (Contributor, Log Analytics Contributor) is.
  auto linked = Raw("PUT", Rg("rg2") + "/providers/Microsoft.Insights/dataCollectionRules/r", Rule(), &writer);
  EXPECT_EQ(linked.status, 403);
  EXPECT_EQ(Code(linked), "LinkedAuthorizationFailed");
  Grant(writer, "Reader", WsId());
  EXPECT_EQ(Code(Raw("PUT", Rg("rg2") + "/providers/Microsoft.Insights/dataCollectionRules/r", Rule(), &writer)),
            "LinkedAuthorizationFailed");
  Grant(writer, "Log Analytics Contributor", WsId());
  EXPECT_EQ(Raw("PUT", Rg("rg2") + "/providers/Microsoft.Insights/dataCollectionRules/r", Rule(), &writer).status, 201);
}

// Hardening issue: a rule may only reference what its author may use, and a reference into a
// group the author can't use answers 403 whether or not the resource exists.
TEST_F(InsightsProviderTest, RuleReferencesNeedPermissionOnTheReferencedResource) {
  ASSERT_EQ(Call("PUT", "dataCollectionEndpoints/dce1", R"({"location":"eastus"})").status, 201);
  ASSERT_EQ(Raw("PUT", Rg() + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai1", R"({"location":"eastus"})").status, 201);
  identity::Principal m = NewPrincipal("mallory");
  Grant(m, "Contributor", Rg("rg2"));
  std::string rule = Rg("rg2") + "/providers/Microsoft.Insights/dataCollectionRules/r";
  auto expect_linked_denial = [&](const std::string& body, const char* what) {
    auto res = Raw("PUT", rule, body, &m);
    EXPECT_EQ(res.status, 403) << what << " " << json::Serialize(*res.body);
    EXPECT_EQ(Code(res), "LinkedAuthorizationFailed") << what;
  };
  expect_linked_denial(Rule(), "another group's workspace");
  std::string ghost_ws = Rg() + "/providers/Microsoft.OperationalInsights/workspaces/ghost";
  expect_linked_denial(Rule("", R"({"logAnalytics":[{"workspaceResourceId":")" + ghost_ws + R"(","name":"la"}]})"),
                       "a missing workspace in a group she can't use");
  Grant(m, "Log Analytics Contributor", WsId());
  expect_linked_denial(Rule("", "", "", R"(,"dataCollectionEndpointId":")" + DceId() + R"(")"), "another group's endpoint");
  expect_linked_denial(Rule("", "", "", R"(,"dataCollectionEndpointId":")" + DceId("ghost") + R"(")"), "a missing endpoint");
  std::string uai = Rg() + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uai1";
  std::string with_uai = Rule();
  with_uai.insert(1, R"("identity":{"type":"UserAssigned","userAssignedIdentities":{")" + uai + R"(":{}}},)");
  expect_linked_denial(with_uai, "another group's identity");
  std::string ghost_uai = with_uai;
  ghost_uai.replace(ghost_uai.find("uai1"), 4, "ghost");
  expect_linked_denial(ghost_uai, "a missing identity");
  // In her own group, a missing endpoint is the ordinary validation error.
  EXPECT_EQ(Detail(Raw("PUT", rule, Rule("", "", "", R"(,"dataCollectionEndpointId":")" + Rg("rg2") +
                                             R"(/providers/Microsoft.Insights/dataCollectionEndpoints/ghost")"), &m)),
            "InvalidDataCollectionEndpointId");
  // Granted what each reference needs, the same rules are accepted.
  Grant(m, "Reader", DceId());
  EXPECT_EQ(Raw("PUT", rule, Rule("", "", "", R"(,"dataCollectionEndpointId":")" + DceId() + R"(")"), &m).status, 201);
  Grant(m, "Contributor", uai);
  auto ok = Raw("PUT", rule, with_uai, &m);
  ASSERT_EQ(ok.status, 200) << json::Serialize(*ok.body);
  // Keeping an identity the rule already has needs nothing more (a read-modify-write PUT).
  identity::Principal other = NewPrincipal("other");
  Grant(other, "Contributor", Rg("rg2"));
  Grant(other, "Log Analytics Contributor", WsId());
  EXPECT_EQ(Raw("PUT", rule, with_uai, &other).status, 200);
}

TEST_F(InsightsProviderTest, OutputTablesAndStreamsFollowTableNameRules) {
  for (const char* out : {"Custom-evil+x_CL", "Custom-../x_CL", "Custom-1x_CL", "Custom-" }) {
    auto res = Call("PUT", "dataCollectionRules/bad",
                    Rule("", "", std::string(R"([{"streams":["Custom-MyStream"],"destinations":["la"],"outputStream":")") + out + R"("}])"));
    EXPECT_EQ(res.status, 400) << out;
    EXPECT_EQ(Detail(res), "InvalidOutputTable") << out;
  }
  for (const std::string& stream : std::vector<std::string>{"Custom-a+b", "Custom-a/b", "Custom-", "custom-" + std::string(101, 'x')}) {
    auto res = Call("PUT", "dataCollectionRules/bad", Rule("{\"" + stream + R"(":{"columns":[{"name":"a","type":"string"}]}})"));
    EXPECT_EQ(Detail(res), "InvalidStreamDeclaration") << stream;
  }
}

// Wrong JSON types anywhere in a rule are a 400 in ARM's shape, never an exception.
TEST_F(InsightsProviderTest, MalformedRuleBodiesAre400) {
  std::string ws = WsId();
  std::vector<std::string> bodies = {
      R"({"location":5})",
      R"({"location":"eastus","kind":5})",
      R"({"location":"eastus","tags":"x"})",
      R"({"location":"eastus","identity":"SystemAssigned"})",
      R"({"location":"eastus","identity":{"type":"UserAssigned","userAssignedIdentities":{"not-an-id":{}}}})",
      R"({"location":"eastus","properties":"x"})",
      R"({"location":"eastus","properties":{"description":5}})",
      R"({"location":"eastus","properties":{"dataFlows":{}}})",
      R"({"location":"eastus","properties":{"dataCollectionEndpointId":5}})",
      R"({"location":"eastus","properties":{"dataCollectionEndpointId":"x"}})",
      Rule("", R"({"logAnalytics":[{"workspaceResourceId":5,"name":"la"}]})"),
      Rule("", R"({"logAnalytics":[{"workspaceResourceId":")" + ws + R"(","name":["la"]}]})"),
      Rule("", R"({"logAnalytics":{"workspaceResourceId":")" + ws + R"("}})"),
      Rule("", "", R"([{"streams":["Custom-MyStream",1],"destinations":["la"],"outputStream":"Custom-MyTable_CL"}])"),
      Rule("", "", R"([{"streams":"Custom-MyStream","destinations":["la"],"outputStream":"Custom-MyTable_CL"}])"),
      Rule("", "", R"([{"streams":["Custom-MyStream"],"destinations":[{}],"outputStream":"Custom-MyTable_CL"}])"),
      Rule("", "", R"([{"streams":["Custom-MyStream"],"destinations":["la"],"outputStream":5}])"),
      Rule("", "", R"([5])"),
      Rule(R"({"Custom-S":{"columns":[{"name":5,"type":"string"}]}})"),
      Rule(R"({"Custom-S":"x"})"),
      std::string(100, '[') + std::string(100, ']'),
  };
  // Huge lists are refused before any pairwise or per-item work.
  std::string many_dests, many_flows;
  for (int i = 0; i < 1000; ++i) {
    many_dests += std::string(i ? "," : "") + R"({"workspaceResourceId":")" + ws + R"(","name":"d)" + std::to_string(i) + "\"}";
  }
  for (int i = 0; i < 33; ++i) {
    many_flows += std::string(i ? "," : "") + R"({"streams":["Custom-MyStream"],"destinations":["la"],"outputStream":"Custom-MyTable_CL"})";
  }
  bodies.push_back(Rule("", R"({"logAnalytics":[)" + many_dests + "]}"));
  bodies.push_back(Rule("", "", "[" + many_flows + "]"));
  for (const auto& b : bodies) {
    auto res = Call("PUT", "dataCollectionRules/bad", b);
    EXPECT_EQ(res.status, 400) << b;
    ASSERT_TRUE(res.body && res.body->as_object().contains("error")) << b;
  }
  ASSERT_EQ(Call("PUT", "dataCollectionRules/good", Rule()).status, 201);
  EXPECT_EQ(Call("PATCH", "dataCollectionRules/good", R"({"tags":{"a":1}})").status, 400);
  EXPECT_EQ(Call("PATCH", "dataCollectionRules/good", R"({"identity":[]})").status, 400);
}

TEST_F(InsightsProviderTest, RuleFromDocumentReadsStoredShape) {
  auto doc = json::ParseObject(R"({"id":"/x","location":"eastus","properties":{"immutableId":"dcr-1",
      "streamDeclarations":{"Custom-A":{"columns":[{"name":"c","type":"long"}]}},
      "destinations":{"logAnalytics":[{"name":"d","workspaceResourceId":"/w","workspaceId":"g"}]},
      "dataFlows":[{"streams":["Custom-A","Custom-B"],"destinations":["d"]}]}})");
  ASSERT_THAT(doc, IsOk());
  auto rule = RuleFromDocument(*doc);
  ASSERT_THAT(rule, IsOk());
  EXPECT_EQ(rule->streams.at("Custom-A")[0].type, "long");
  EXPECT_EQ(rule->flows[0].output_stream, "");  // several input streams: each to its own table
  EXPECT_EQ(rule->flows[0].transform_kql, "source");
  EXPECT_THAT(RuleFromDocument(bj::object{{"id", "/x"}}), StatusIs(StatusCode::kInternal));
}

}  // namespace
}  // namespace cmk::control
