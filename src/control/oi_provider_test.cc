#include "control/oi_provider.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/json.h"
#include "base/testing.h"
#include "control/arm_checks.h"
#include "control/arm_test_base.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
using testing::IsOk;
using std::chrono::hours;

class OiProviderTest : public ArmTestBase {
 protected:
  OiProviderTest() : ArmTestBase(11) {}
  void SetUp() override {
    OperationalInsightsOptions o;
    o.provisioning = std::chrono::seconds(10);
    SetUpArm(o);
  }
  ArmResponse Call(std::string method, std::string path, std::string body = "") {
    return CallAs(admin_, "rg", std::move(method), "Microsoft.OperationalInsights/" + path, std::move(body));
  }
  // `path` under /subscriptions/{sub}/resourceGroups/{rg}/providers/.
  ArmResponse CallAs(const identity::Principal& who, const std::string& rg, std::string method, const std::string& path,
                     std::string body = "") {
    ArmRequest r;
    r.method = std::move(method);
    r.path = Rg(rg) + "/providers/" + path;
    r.query = {{"api-version", "2021-06-01"}};
    r.body = std::move(body);
    r.caller = who;
    r.base_url = "https://management.localhost:8443";
    return arm_->Handle(r);
  }
  std::string Rg(const std::string& rg) { return "/subscriptions/" + sub_ + "/resourceGroups/" + rg; }
  std::string ClusterId(const std::string& rg, const std::string& name) {
    return Rg(rg) + "/providers/Microsoft.OperationalInsights/clusters/" + name;
  }
  std::string UaiId(const std::string& rg, const std::string& name) {
    return Rg(rg) + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name;
  }
  static std::string Link(const std::string& cluster_id) {
    return R"({"properties":{"writeAccessResourceId":")" + cluster_id + "\"}}";
  }
  // Mallory: Contributor on resource group "rg2" only, with a workspace "mallws" there.
  identity::Principal Mallory() {
    EXPECT_THAT(arm_->EnsureResourceGroup(sub_, "rg2", "eastus"), IsOk());
    identity::Principal m = NewPrincipal("mallory");
    Grant(m, "Contributor", Rg("rg2"));
    EXPECT_EQ(CallAs(m, "rg2", "PUT", "Microsoft.OperationalInsights/workspaces/mallws", R"({"location":"eastus"})").status, 201);
    return m;
  }
  static std::string State(const ArmResponse& r) {
    return std::string(r.body->as_object().at("properties").as_object().at("provisioningState").as_string());
  }
  static std::string Code(const ArmResponse& r) {
    return std::string(r.body->as_object().at("error").as_object().at("code").as_string());
  }
  std::string Cluster(const std::string& name, const std::string& loc = "eastus", std::string extra = "") {
    return R"({"location":")" + loc + R"(","identity":{"type":"SystemAssigned"},"sku":{"name":"CapacityReservation","capacity":500})" + extra + "}";
  }
  static std::string Header(const ArmResponse& r, std::string_view name) {
    for (const auto& [k, v] : r.headers) {
      if (k == name) return v;
    }
    return "";
  }

};

TEST_F(OiProviderTest, ClusterCreateIsALongRunningOperationOnTheClock) {
  auto put = Call("PUT", "clusters/cl1", Cluster("cl1"));
  ASSERT_EQ(put.status, 201) << json::Serialize(*put.body);
  EXPECT_EQ(State(put), "Creating");
  EXPECT_NE(Header(put, "Azure-AsyncOperation").find("/operationstatuses/"), std::string::npos);
  EXPECT_NE(Header(put, "Location").find("/clusters/cl1/operationresults/"), std::string::npos);
  EXPECT_EQ(Header(put, "Retry-After"), "1");
  EXPECT_FALSE(put.body->as_object().at("identity").as_object().at("principalId").as_string().empty());
  // Updates and deletes wait until the operation is done.
  EXPECT_EQ(Code(Call("PATCH", "clusters/cl1", R"({"tags":{"a":"b"}})")), "InvalidOperation");
  EXPECT_EQ(Call("DELETE", "clusters/cl1").status, 409);
  clock_.Advance(std::chrono::seconds(11));
  EXPECT_EQ(State(Call("GET", "clusters/cl1")), "Succeeded");
  auto del = Call("DELETE", "clusters/cl1");
  EXPECT_EQ(del.status, 202);
  clock_.Advance(std::chrono::seconds(11));
  EXPECT_EQ(Call("GET", "clusters/cl1").status, 404);
  // The name stays reserved for 14 days.
  EXPECT_EQ(Call("PUT", "clusters/cl1", Cluster("cl1")).status, 409);
  clock_.Advance(hours(24 * 14));
  EXPECT_EQ(Call("PUT", "clusters/cl1", Cluster("cl1")).status, 201);
}

TEST_F(OiProviderTest, DocumentedCreateErrors) {
  EXPECT_EQ(Call("PUT", "clusters/c_1", Cluster("c_1")).status, 400);
  EXPECT_EQ(Call("PUT", "clusters/cl2", "").status, 400);
  EXPECT_EQ(Code(Call("PUT", "clusters/cl2", R"({"location":"eastus","sku":{"name":"CapacityReservation","capacity":123}})")), "InvalidCapacity");
  EXPECT_EQ(Code(Call("PUT", "clusters/cl2", R"({"location":"eastus"})")), "InvalidSku");
  EXPECT_EQ(Call("PUT", "clusters/cl2", Cluster("cl2", "eastus", R"(,"properties":{"keyVaultProperties":{"keyName":"k"}})")).status, 400);
  EXPECT_EQ(Code(Call("PUT", "clusters/cl2", Cluster("cl2", "westcentralus"))), "DoubleEncryptionNotSupported");
  EXPECT_EQ(Call("PUT", "clusters/cl2", Cluster("cl2", "westcentralus", R"(,"properties":{"isDoubleEncryptionEnabled":false})")).status, 201);
  EXPECT_EQ(Code(Call("PUT", "clusters/cl3", Cluster("cl3", "mars"))), "LocationNotAvailableForResourceType");
}

TEST_F(OiProviderTest, IdentityNoneIsPermanentUntilAnAdminRestoresIt) {
  auto put = Call("PUT", "clusters/cl1", Cluster("cl1"));
  std::string pid(put.body->as_object().at("identity").as_object().at("principalId").as_string());
  clock_.Advance(std::chrono::seconds(11));
  ASSERT_EQ(Call("PATCH", "clusters/cl1", R"({"identity":{"type":"None"}})").status, 200);
  clock_.Advance(std::chrono::seconds(11));
  auto back = Call("PATCH", "clusters/cl1", R"({"identity":{"type":"SystemAssigned"}})");
  EXPECT_EQ(back.status, 400);
  EXPECT_EQ(Code(back), "IdentityRevoked");
  ArmRequest r;
  r.method = "POST";
  r.path = "/cmklogs/admin/restore-cluster-identity";
  r.body = R"({"clusterId":"/subscriptions/)" + sub_ + R"(/resourceGroups/rg/providers/Microsoft.OperationalInsights/clusters/cl1"})";
  r.caller = admin_;
  auto restored = arm_->Handle(r);
  ASSERT_EQ(restored.status, 200) << json::Serialize(*restored.body);
  EXPECT_EQ(restored.body->as_object().at("identity").as_object().at("principalId").as_string(), pid);
}

TEST_F(OiProviderTest, ClustersCannotMove) {
  ASSERT_EQ(Call("PUT", "clusters/cl1", Cluster("cl1")).status, 201);
  ArmRequest r;
  r.method = "POST";
  r.path = "/subscriptions/" + sub_ + "/resourceGroups/rg/moveResources";
  r.query = {{"api-version", "2021-04-01"}};
  r.body = R"({"resources":["/subscriptions/)" + sub_ + R"(/resourceGroups/rg/providers/Microsoft.OperationalInsights/clusters/cl1"],"targetResourceGroup":"/subscriptions/x/resourceGroups/other"})";
  r.caller = admin_;
  auto res = arm_->Handle(r);
  EXPECT_EQ(res.status, 400);
  EXPECT_EQ(Code(res), "ResourceMoveNotSupported");
}

TEST_F(OiProviderTest, FiveActiveClustersPerRegion) {
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Call("PUT", "clusters/c" + std::to_string(i) + "x", Cluster("")).status, 201);
  auto sixth = Call("PUT", "clusters/c5x", Cluster(""));
  EXPECT_EQ(sixth.status, 400);
  EXPECT_EQ(Code(sixth), "ClusterLimitExceeded");
  EXPECT_EQ(Call("PUT", "clusters/other", Cluster("", "westus2")).status, 201);
}

TEST_F(OiProviderTest, LinkLimitIsTwoOperationsPer30Days) {
  ASSERT_EQ(Call("PUT", "clusters/cl1", Cluster("cl1")).status, 201);
  ASSERT_EQ(Call("PUT", "workspaces/ws01", R"({"location":"eastus"})").status, 201);
  std::string cluster_id = "/subscriptions/" + sub_ + "/resourceGroups/rg/providers/Microsoft.OperationalInsights/clusters/cl1";
  std::string link = R"({"properties":{"writeAccessResourceId":")" + cluster_id + "\"}}";
  EXPECT_EQ(Code(Call("PUT", "workspaces/ws01/linkedServices/cluster", link)), "ClusterNotReady");
  clock_.Advance(std::chrono::seconds(11));
  ASSERT_EQ(Call("PUT", "workspaces/ws01/linkedServices/cluster", link).status, 201);
  clock_.Advance(std::chrono::seconds(11));
  auto ws = Call("GET", "workspaces/ws01");
  EXPECT_EQ(ws.body->as_object().at("properties").as_object().at("features").as_object().at("clusterResourceId").as_string(), cluster_id);
  EXPECT_EQ(ws.body->as_object().at("properties").as_object().at("sku").as_object().at("name").as_string(), "LACluster");
  auto cl = Call("GET", "clusters/cl1");
  EXPECT_EQ(cl.body->as_object().at("properties").as_object().at("associatedWorkspaces").as_array().size(), 1u);
  ASSERT_EQ(Call("DELETE", "workspaces/ws01/linkedServices/cluster").status, 200);
  clock_.Advance(std::chrono::seconds(11));
  auto third = Call("PUT", "workspaces/ws01/linkedServices/cluster", link);
  EXPECT_EQ(Code(third), "LinkOperationLimitExceeded");
  clock_.Advance(hours(24 * 30));
  EXPECT_EQ(Call("PUT", "workspaces/ws01/linkedServices/cluster", link).status, 201);
}

TEST_F(OiProviderTest, SoftDeletedWorkspaceRecoversWithItsId) {
  auto put = Call("PUT", "workspaces/ws01", R"({"location":"eastus","properties":{"retentionInDays":60}})");
  ASSERT_EQ(put.status, 201);
  std::string customer(put.body->as_object().at("properties").as_object().at("customerId").as_string());
  ASSERT_EQ(Call("DELETE", "workspaces/ws01").status, 200);
  EXPECT_EQ(Call("GET", "workspaces/ws01").status, 404);
  auto again = Call("PUT", "workspaces/ws01", R"({"location":"eastus"})");
  ASSERT_EQ(again.status, 201);
  EXPECT_EQ(again.body->as_object().at("properties").as_object().at("customerId").as_string(), customer);
  EXPECT_EQ(again.body->as_object().at("properties").as_object().at("retentionInDays").as_int64(), 60);
}

TEST_F(OiProviderTest, OperationsSurviveARestart) {
  ASSERT_EQ(Call("PUT", "clusters/cl1", Cluster("cl1")).status, 201);
  OperationalInsightsOptions o;
  o.provisioning = std::chrono::seconds(10);
  auto oi = std::make_unique<OperationalInsightsProvider>(env(), store_.get(), directory_.get(), rbac_.get(), nullptr, o);
  ASSERT_THAT(oi->Load(), IsOk());
  arm_->SetOperationalInsights(std::move(oi));  // the old provider (and its memory) is gone
  EXPECT_EQ(State(Call("GET", "clusters/cl1")), "Creating");
  clock_.Advance(std::chrono::seconds(11));
  EXPECT_EQ(State(Call("GET", "clusters/cl1")), "Succeeded");
}

TEST_F(OiProviderTest, CustomTablesNeedSchemasAndValidRetention) {
  ASSERT_EQ(Call("PUT", "workspaces/ws01", R"({"location":"eastus"})").status, 201);
  EXPECT_EQ(Call("PUT", "workspaces/ws01/tables/MyTable", R"({"properties":{}})").status, 400);
  EXPECT_EQ(Call("PUT", "workspaces/ws01/tables/My_CL", R"({"properties":{"schema":{"name":"My_CL","columns":[{"name":"X","type":"string"}]}}})").status, 400);
  auto ok = Call("PUT", "workspaces/ws01/tables/My_CL",
                 R"({"properties":{"plan":"basic","retentionInDays":30,"totalRetentionInDays":90,"schema":{"name":"My_CL","columns":[{"name":"TimeGenerated","type":"datetime"},{"name":"Msg","type":"string"}]}}})");
  ASSERT_EQ(ok.status, 200) << json::Serialize(*ok.body);
  auto& p = ok.body->as_object().at("properties").as_object();
  EXPECT_EQ(p.at("plan").as_string(), "Basic");
  EXPECT_EQ(p.at("archiveRetentionInDays").as_int64(), 60);
  EXPECT_EQ(Call("PUT", "workspaces/ws01/tables/My_CL", R"({"properties":{"retentionInDays":1000}})").status, 400);
  EXPECT_EQ(Call("GET", "workspaces/ws01/tables/Heartbeat").status, 200);
  EXPECT_GE(Call("GET", "workspaces/ws01/tables").body->as_object().at("value").as_array().size(), 5u);
}

// Hardening issue: a Contributor of another group linked her workspace to someone else's cluster.
// Linking needs clusters/write on the cluster (logs-dedicated-clusters.md), checked before the
// cluster is looked up; unlinking stays with the workspace's owner.
TEST_F(OiProviderTest, LinkingToAClusterNeedsWriteOnTheCluster) {
  ASSERT_EQ(Call("PUT", "clusters/victim", Cluster("victim")).status, 201);
  clock_.Advance(std::chrono::seconds(11));
  identity::Principal m = Mallory();
  const std::string ls = "Microsoft.OperationalInsights/workspaces/mallws/linkedServices/cluster";
  auto denied = CallAs(m, "rg2", "PUT", ls, Link(ClusterId("rg", "victim")));
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(Code(denied), "LinkedAuthorizationFailed");
  EXPECT_TRUE(Call("GET", "clusters/victim").body->as_object().at("properties").as_object().at("associatedWorkspaces").as_array().empty());
  // A cluster that doesn't exist in a group she can't write answers the same 403, not 400/404.
  auto ghost = CallAs(m, "rg2", "PUT", ls, Link(ClusterId("rg", "ghost")));
  EXPECT_EQ(ghost.status, 403);
  EXPECT_EQ(Code(ghost), "LinkedAuthorizationFailed");
  // In her own group a missing cluster is an ordinary 400.
  EXPECT_EQ(Code(CallAs(m, "rg2", "PUT", ls, Link(ClusterId("rg2", "ghost")))), "ClusterNotFound");
  EXPECT_EQ(CallAs(m, "rg2", "PUT", ls, Link(Rg("rg") + "/providers/Microsoft.OperationalInsights/clusters/../x")).status, 400);
  EXPECT_EQ(CallAs(m, "rg2", "PUT", ls, Link(Rg("rg") + "/providers/Microsoft.OperationalInsights/workspaces/victim")).status, 400);
  // Granted write on the cluster (Contributor there), the link works.
  std::string grant = Grant(m, "Contributor", ClusterId("rg", "victim"));
  auto ok = CallAs(m, "rg2", "PUT", ls, Link(ClusterId("rg", "victim")));
  ASSERT_EQ(ok.status, 201) << json::Serialize(*ok.body);
  clock_.Advance(std::chrono::seconds(11));
  EXPECT_EQ(Call("GET", "clusters/victim").body->as_object().at("properties").as_object().at("associatedWorkspaces").as_array().size(), 1u);
  // Unlinking needs nothing on the cluster: the workspace's owner can always leave.
  ASSERT_THAT(rbac_->Remove(grant), IsOk());
  EXPECT_EQ(CallAs(m, "rg2", "DELETE", ls).status, 200);
  // The workspace side needs workspaces/write too: a Reader of the workspace can't link it.
  identity::Principal reader = NewPrincipal("reader");
  Grant(reader, "Reader", Rg("rg2"));
  Grant(reader, "Contributor", ClusterId("rg", "victim"));
  EXPECT_EQ(Code(CallAs(reader, "rg2", "PUT", ls, Link(ClusterId("rg", "victim")))), "AuthorizationFailed");
}

// Hardening issue: any Contributor could attach another group's user-assigned identity to her
// cluster and act as it toward key vaults. Attaching needs assign/action on the identity.
TEST_F(OiProviderTest, AttachingAUserAssignedIdentityNeedsAssignOnIt) {
  auto uai = CallAs(admin_, "rg", "PUT", "Microsoft.ManagedIdentity/userAssignedIdentities/victimuai", R"({"location":"eastus"})");
  ASSERT_EQ(uai.status, 201);
  identity::Principal m = Mallory();
  auto uai_body = [&](const std::string& id) {
    return R"({"identity":{"type":"UserAssigned","userAssignedIdentities":{")" + id + R"(":{}}}})";
  };
  std::string create = R"({"location":"eastus","identity":{"type":"UserAssigned","userAssignedIdentities":{")" +
                       UaiId("rg", "victimuai") + R"(":{}}},"sku":{"name":"CapacityReservation","capacity":500}})";
  auto at_create = CallAs(m, "rg2", "PUT", "Microsoft.OperationalInsights/clusters/mallcl", create);
  EXPECT_EQ(at_create.status, 403);
  EXPECT_EQ(Code(at_create), "LinkedAuthorizationFailed");
  ASSERT_EQ(CallAs(m, "rg2", "PUT", "Microsoft.OperationalInsights/clusters/mallcl", Cluster("mallcl")).status, 201);
  clock_.Advance(std::chrono::seconds(11));
  const std::string cl = "Microsoft.OperationalInsights/clusters/mallcl";
  auto denied = CallAs(m, "rg2", "PATCH", cl, uai_body(UaiId("rg", "victimuai")));
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(Code(denied), "LinkedAuthorizationFailed");
  // A missing identity in a group she can't use: the same 403. In her own group: 400.
  EXPECT_EQ(Code(CallAs(m, "rg2", "PATCH", cl, uai_body(UaiId("rg", "ghost")))), "LinkedAuthorizationFailed");
  EXPECT_EQ(Code(CallAs(m, "rg2", "PATCH", cl, uai_body(UaiId("rg2", "ghost")))), "InvalidUserAssignedIdentity");
  EXPECT_EQ(Code(CallAs(m, "rg2", "PATCH", cl, uai_body("not-an-id"))), "InvalidUserAssignedIdentity");
  // Granted the identity (Contributor on it includes assign/action), she may attach it.
  Grant(m, "Contributor", UaiId("rg", "victimuai"));
  auto ok = CallAs(m, "rg2", "PATCH", cl, uai_body(UaiId("rg", "victimuai")));
  ASSERT_EQ(ok.status, 200) << json::Serialize(*ok.body);
  EXPECT_TRUE(ok.body->as_object().at("identity").as_object().at("userAssignedIdentities").as_object().contains(UaiId("rg", "victimuai")));
}

TEST_F(OiProviderTest, WorkspaceChildrenAnswer403NotFoundOnlyToThoseWhoMayRead) {
  identity::Principal m = Mallory();
  for (const char* child : {"tables", "linkedServices/cluster", "savedSearches", "linkedStorageAccounts/Query"}) {
    std::string path = std::string("Microsoft.OperationalInsights/workspaces/nope/") + child;
    auto theirs = CallAs(m, "rg", "GET", path);
    EXPECT_EQ(theirs.status, 403) << child;
    EXPECT_EQ(Code(theirs), "AuthorizationFailed") << child;
    EXPECT_EQ(CallAs(m, "rg2", "GET", path).status, 404) << child;
  }
}

// Hardening issue: a table named `evil+x_CL` was accepted and its blob name refused at flush.
TEST_F(OiProviderTest, CustomTableNamesFollowAzureRules) {
  ASSERT_EQ(Call("PUT", "workspaces/ws01", R"({"location":"eastus"})").status, 201);
  const std::string schema = R"({"properties":{"schema":{"columns":[{"name":"TimeGenerated","type":"dateTime"},{"name":"Msg","type":"string"}]}}})";
  for (const std::string& bad : std::vector<std::string>{"evil+x_CL", "..x_CL", ".._CL", "x.y_CL", "My-Table_CL", "MyTable", "MyTable_CLX", "_CL", "1Table_CL",
                          "_Table_CL", "Tabl\xc3\xa9_CL", "Table\x01_CL", std::string(61, 'A') + "_CL"}) {
    auto r = Call("PUT", "workspaces/ws01/tables/" + bad, schema);
    EXPECT_EQ(r.status, 400) << bad;
    EXPECT_EQ(Code(r), "InvalidParameter") << bad;
    EXPECT_EQ(Call("GET", "workspaces/ws01/tables/" + bad).status, 404) << bad;
  }
  EXPECT_NE(Call("PUT", "workspaces/ws01/tables/../x_CL", schema).status / 100, 2);
  EXPECT_FALSE(ValidCustomTableName("../x_CL"));
  for (const std::string& good : std::vector<std::string>{"My_CL", "my_table_2_cl", "T1_CL", std::string(60, 'A') + "_CL"}) {
    auto r = Call("PUT", "workspaces/ws01/tables/" + good, schema);
    EXPECT_EQ(r.status, 200) << good << " " << json::Serialize(*r.body);
  }
  // Column names: a letter first, at most 45 letters, digits and '_', not reserved.
  for (const std::string& col : std::vector<std::string>{"bad-col", "1x", "_x", "Type", "id", "TenantId", std::string(46, 'c')}) {
    auto r = Call("PUT", "workspaces/ws01/tables/Cols_CL",
                  R"({"properties":{"schema":{"columns":[{"name":"TimeGenerated","type":"dateTime"},{"name":")" + col + R"(","type":"string"}]}}})");
    EXPECT_EQ(r.status, 400) << col;
  }
}

// Wrong JSON types anywhere in a body are a 400 in ARM's shape, never an exception (a column
// name of the wrong type used to throw bad_variant_access).
TEST_F(OiProviderTest, MalformedBodiesAre400) {
  ASSERT_EQ(Call("PUT", "clusters/cl1", Cluster("cl1")).status, 201);
  ASSERT_EQ(Call("PUT", "workspaces/ws01", R"({"location":"eastus"})").status, 201);
  clock_.Advance(std::chrono::seconds(11));
  std::string deep(200, '[');
  struct Case {
    const char* method;
    std::string path, body;
  };
  std::vector<Case> cases = {
      {"PUT", "clusters/cl2", R"({"location":"eastus","identity":"SystemAssigned","sku":{"name":"CapacityReservation","capacity":500}})"},
      {"PUT", "clusters/cl2", R"({"location":"eastus","sku":"CapacityReservation"})"},
      {"PUT", "clusters/cl2", R"({"location":5,"sku":{"name":"CapacityReservation","capacity":500}})"},
      {"PUT", "clusters/cl2", R"({"location":"eastus","properties":[],"sku":{"name":"CapacityReservation","capacity":500}})"},
      {"PUT", "clusters/cl2", R"({"location":"eastus","properties":{"isDoubleEncryptionEnabled":"yes"},"sku":{"name":"CapacityReservation","capacity":500}})"},
      {"PUT", "clusters/cl2", R"({"location":"eastus","sku":{"name":7,"capacity":500}})"},
      {"PUT", "clusters/cl2", R"({"location":"eastus","sku":{"name":"CapacityReservation","capacity":"500"}})"},
      {"PUT", "clusters/cl2", deep},
      {"PATCH", "clusters/cl1", R"({"tags":[1]})"},
      {"PATCH", "clusters/cl1", R"({"identity":{"type":"UserAssigned","userAssignedIdentities":[]}})"},
      {"PATCH", "clusters/cl1", R"({"identity":{"type":"UserAssigned","userAssignedIdentities":{"x":{}}}})"},
      {"PATCH", "clusters/cl1", R"({"properties":{"keyVaultProperties":{"keyVaultUri":"https://v.vault.localhost","keyName":5}}})"},
      {"PATCH", "clusters/cl1", R"({"properties":{"keyVaultProperties":"k"}})"},
      {"PATCH", "clusters/cl1", R"({"properties":{"billingType":1}})"},
      {"PUT", "workspaces/ws02", R"({"location":"eastus","properties":1})"},
      {"PATCH", "workspaces/ws01", R"({"properties":{"retentionInDays":"60"}})"},
      {"PUT", "workspaces/ws01/linkedServices/cluster", R"({"properties":"x"})"},
      {"PUT", "workspaces/ws01/linkedServices/cluster", R"({"properties":{"writeAccessResourceId":5}})"},
      {"PUT", "workspaces/ws01/tables/T_CL", R"({"properties":{"schema":{"columns":[{"name":5,"type":"string"}]}}})"},
      {"PUT", "workspaces/ws01/tables/T_CL", R"({"properties":{"schema":{"columns":[{"name":"TimeGenerated","type":true}]}}})"},
      {"PUT", "workspaces/ws01/tables/T_CL", R"({"properties":{"schema":{"columns":{}}}})"},
      {"PUT", "workspaces/ws01/tables/T_CL", R"({"properties":{"schema":"x"}})"},
      {"PUT", "workspaces/ws01/tables/T_CL", R"({"properties":{"retentionInDays":"30"}})"},
      {"PUT", "workspaces/ws01/tables/T_CL", R"({"properties":{"plan":["Basic"]}})"},
      {"PUT", "workspaces/ws01/tables/T_CL", "[]"},
      {"PUT", "workspaces/ws01/savedSearches/s1", R"({"properties":{"category":5,"displayName":"d","query":"q"}})"},
      {"PUT", "workspaces/ws01/savedSearches/s1", R"({"properties":{"category":"c","displayName":"d","query":"q","tags":[1]}})"},
      {"PUT", "workspaces/ws01/savedSearches/s1", R"({"properties":{"category":"c","displayName":"d","query":"q","functionAlias":"a b"}})"},
      {"PUT", "workspaces/ws01/savedSearches/s1", R"({"properties":{"category":"c","displayName":"d","query":"q","version":"2"}})"},
      {"PUT", "workspaces/ws01/linkedStorageAccounts/Query", R"({"properties":{"storageAccountIds":"x"}})"},
      {"PUT", "workspaces/ws01/linkedStorageAccounts/Query", R"({"properties":{"storageAccountIds":[5]}})"},
  };
  cases.push_back({"PUT", "workspaces/ws01/tables/T_CL", R"({"properties":{"schema":{"columns":[)" +
                                                             std::string(600 * 2, ' ') + R"({"name":"TimeGenerated","type":"dateTime"})" +
                                                             [] {
                                                               std::string more;
                                                               for (int i = 0; i < 600; ++i) more += R"(,{"name":"c)" + std::to_string(i) + R"(","type":"string"})";
                                                               return more;
                                                             }() + "]}}}"});
  for (const auto& c : cases) {
    auto r = Call(c.method, c.path, c.body);
    EXPECT_EQ(r.status, 400) << c.method << " " << c.path << " " << c.body.substr(0, 200);
    ASSERT_TRUE(r.body && r.body->is_object() && r.body->as_object().contains("error")) << c.body.substr(0, 200);
    EXPECT_FALSE(Code(r).empty());
  }
  auto uai = CallAs(admin_, "rg", "PUT", "Microsoft.ManagedIdentity/userAssignedIdentities/u_1", R"({"location":"eastus","tags":"x"})");
  EXPECT_EQ(uai.status, 400);
  EXPECT_EQ(CallAs(admin_, "rg", "PUT", "Microsoft.ManagedIdentity/userAssignedIdentities/a%20b_", R"({"location":"eastus"})").status, 400);
}

}  // namespace
}  // namespace cmk::control
