#include "control/oi_provider.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/json.h"
#include "base/testing.h"
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
    ArmRequest r;
    r.method = std::move(method);
    r.path = "/subscriptions/" + sub_ + "/resourceGroups/rg/providers/Microsoft.OperationalInsights/" + path;
    r.query = {{"api-version", "2021-06-01"}};
    r.body = std::move(body);
    r.caller = admin_;
    r.base_url = "https://management.localhost:8443";
    return arm_->Handle(r);
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

}  // namespace
}  // namespace cmk::control
