#include "control/alert_rules_provider.h"

#include <gtest/gtest.h>

#include "base/json.h"
#include "base/testing.h"
#include "control/arm_test_base.h"
#include "control/arm_util.h"
#include "kql/syntax/parser.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
using testing::IsOk;

class RecordingSink : public alerts::AlertSink {
 public:
  void RuleChanged(const alerts::AlertRule& r) override { rules[ToLower(r.id)] = r; }
  void RuleRemoved(const std::string& id) override { rules.erase(ToLower(id)); }
  void GroupChanged(const alerts::ActionGroup& g) override { groups[ToLower(g.id)] = g; }
  void GroupRemoved(const std::string& id) override { groups.erase(ToLower(id)); }
  std::map<std::string, alerts::AlertRule> rules;
  std::map<std::string, alerts::ActionGroup> groups;
};

class RecordingNotifier : public alerts::Notifier {
 public:
  void Notify(const alerts::AlertRule& rule, const alerts::AlertEvent& e, const std::vector<alerts::ActionGroup>& groups) override {
    rules.push_back(rule.name);
    receivers = groups.empty() ? 0 : groups[0].webhooks.size() + groups[0].emails.size();
  }
  std::vector<std::string> rules;
  size_t receivers = 0;
};

class AlertRulesProviderTest : public ArmTestBase {
 protected:
  AlertRulesProviderTest() : ArmTestBase(19) {}
  void SetUp() override {
    ArmTestBase::SetUp();
    topology_ = std::make_unique<OperationalInsightsProvider>(env(), store_.get(), directory_.get(), rbac_.get(), nullptr,
                                                              OperationalInsightsOptions{});
    Install(&sink_);
    ASSERT_EQ(Call("PUT", "/providers/Microsoft.OperationalInsights/workspaces/wsp1", R"({"location":"eastus"})", "2022-10-01").status, 201);
  }
  void Install(alerts::AlertSink* sink) {
    AlertRulesDeps d;
    d.env = env();
    d.store = store_.get();
    d.directory = directory_.get();
    d.rbac = rbac_.get();
    d.workspaces = topology_.get();
    // Syntax only here; the server binds against the workspace's tables.
    d.validate_query = [](const engine::WorkspaceInfo&, const std::string& q) { return kql::ParseQuery(q).status(); };
    d.sink = sink;
    d.notifier = &notifier_;
    provider_ = std::make_shared<AlertRulesProvider>(std::move(d));
    ASSERT_THAT(provider_->Load(), IsOk());
    auto p = provider_;
    arm_->AddRoutes([p](const ArmRequest& r) { return p->Route(r); });
  }
  std::string Rg() { return "/subscriptions/" + sub_ + "/resourceGroups/rg"; }
  std::string WsId() { return Rg() + "/providers/Microsoft.OperationalInsights/workspaces/wsp1"; }
  std::string AgId() { return Rg() + "/providers/Microsoft.Insights/actionGroups/ag1"; }
  ArmResponse Call(std::string method, std::string rel, std::string body, std::string api,
                   const identity::Principal* who = nullptr, std::string rg_segment = "resourceGroups") {
    ArmRequest r;
    r.method = std::move(method);
    r.path = "/subscriptions/" + sub_ + "/" + rg_segment + "/rg" + rel;
    r.query = {{"api-version", api}};
    r.body = std::move(body);
    r.caller = who ? *who : admin_;
    r.base_url = "https://management.localhost:8443";
    return arm_->Handle(r);
  }
  std::string Rule2023(const std::string& query = "Heartbeat | where Computer != ''") {
    return R"({"location":"eastus","properties":{"severity":1,"enabled":true,"scopes":[")" + WsId() +
           R"("],"evaluationFrequency":"PT1M","windowSize":"PT5M","criteria":{"allOf":[{"query":")" + query +
           R"(","timeAggregation":"Count","operator":"GreaterThan","threshold":0,"dimensions":[{"name":"Computer","operator":"Include","values":["*"]}]}]},)"
           R"("actions":{"actionGroups":[")" + AgId() + R"("]}}})";
  }
  void PutGroup() {
    auto res = Call("PUT", "/providers/Microsoft.Insights/actionGroups/ag1",
                    R"({"location":"Global","properties":{"groupShortName":"ag1","enabled":true,"webhookReceivers":[{"name":"h","serviceUri":"http://127.0.0.1:1/x","useCommonAlertSchema":true}],"emailReceivers":[{"name":"m","emailAddress":"a@example.com"}]}})",
                    "2022-06-01");
    ASSERT_EQ(res.status, 201) << json::Serialize(*res.body);
  }

  std::unique_ptr<OperationalInsightsProvider> topology_;
  RecordingSink sink_;
  RecordingNotifier notifier_;
  std::shared_ptr<AlertRulesProvider> provider_;
};

TEST_F(AlertRulesProviderTest, ActionGroupLifecycle) {
  PutGroup();
  EXPECT_EQ(sink_.groups.size(), 1u);
  auto got = Call("GET", "/providers/Microsoft.Insights/actionGroups/ag1", "", "2023-01-01");
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body->at("properties").at("emailReceivers").as_array()[0].at("status"), "Enabled");
  auto patched = Call("PATCH", "/providers/Microsoft.Insights/actionGroups/ag1", R"({"properties":{"enabled":false}})", "2022-06-01");
  ASSERT_EQ(patched.status, 200);
  EXPECT_FALSE(sink_.groups.begin()->second.enabled);
  auto list = Call("GET", "/providers/Microsoft.Insights/actionGroups", "", "2022-06-01");
  EXPECT_EQ(list.body->at("value").as_array().size(), 1u);
  auto bad = Call("PUT", "/providers/Microsoft.Insights/actionGroups/ag2", R"({"location":"Global","properties":{"groupShortName":"waytoolongname"}})", "2022-06-01");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(Call("DELETE", "/providers/Microsoft.Insights/actionGroups/ag1", "", "2022-06-01").status, 200);
  EXPECT_TRUE(sink_.groups.empty());
  EXPECT_EQ(Call("GET", "/providers/Microsoft.Insights/actionGroups/ag1", "", "2022-06-01").status, 404);
}

TEST_F(AlertRulesProviderTest, CreateNotificationsSendsATestAlertAndKeepsItsStatus) {
  PutGroup();
  auto res = Call("POST", "/providers/Microsoft.Insights/actionGroups/ag1/createNotifications",
                  R"({"alertType":"logalertv2","webhookReceivers":[{"name":"h","serviceUri":"http://127.0.0.1:1/x","useCommonAlertSchema":true}]})",
                  "2022-06-01");
  ASSERT_EQ(res.status, 200) << json::Serialize(*res.body);
  EXPECT_EQ(res.body->at("state"), "Complete");
  EXPECT_EQ(res.body->at("actionDetails").as_array()[0].at("MechanismType"), "Webhook");
  ASSERT_EQ(notifier_.rules.size(), 1u);
  EXPECT_EQ(notifier_.rules[0], "Test alert rule");
  EXPECT_EQ(notifier_.receivers, 1u);
  std::string location;
  for (const auto& [k, v] : res.headers) {
    if (k == "Location") location = v;
  }
  std::string id = location.substr(location.find("/notificationStatus/") + 20);
  id = id.substr(0, id.find('?'));
  auto status = Call("GET", "/providers/Microsoft.Insights/actionGroups/ag1/notificationStatus/" + id, "", "2022-06-01");
  ASSERT_EQ(status.status, 200);
  EXPECT_EQ(status.body->at("context").at("contextType"), "logalertv2");
  EXPECT_EQ(Call("POST", "/providers/Microsoft.Insights/actionGroups/ag1/createNotifications", R"({"webhookReceivers":[]})",
                 "2022-06-01").status, 400);
  EXPECT_EQ(Call("GET", "/providers/Microsoft.Insights/actionGroups/ag1/notificationStatus/nope", "", "2022-06-01").status, 404);
}

TEST_F(AlertRulesProviderTest, ScheduledQueryRule2023IsValidatedStoredAndHandedToTheEvaluator) {
  PutGroup();
  auto res = Call("PUT", "/providers/Microsoft.Insights/scheduledQueryRules/r1", Rule2023(), "2023-12-01");
  ASSERT_EQ(res.status, 201) << json::Serialize(*res.body);
  EXPECT_EQ(res.body->at("kind"), "LogAlert");
  EXPECT_FALSE(res.body->as_object().contains("x-cmk"));
  EXPECT_EQ(res.body->at("properties").at("isWorkspaceAlertsStorageConfigured"), false);
  ASSERT_EQ(sink_.rules.size(), 1u);
  const alerts::AlertRule& r = sink_.rules.begin()->second;
  EXPECT_EQ(r.principal_id, admin_.object_id);  // no identity: runs as its creator
  EXPECT_EQ(r.dimensions[0].name, "Computer");
  EXPECT_EQ(Call("PUT", "/providers/Microsoft.Insights/scheduledQueryRules/r1", Rule2023(), "2023-12-01").status, 200);
  // A restart replays the stored rules.
  RecordingSink again;
  Install(&again);
  EXPECT_EQ(again.rules.size(), 1u);
  EXPECT_EQ(again.groups.size(), 1u);
  EXPECT_EQ(Call("DELETE", "/providers/Microsoft.Insights/scheduledQueryRules/r1", "", "2023-12-01").status, 200);
  EXPECT_TRUE(sink_.rules.empty());
}

TEST_F(AlertRulesProviderTest, RefusesBadQueriesScopesAndGroupsWithDocumentedErrors) {
  PutGroup();
  auto res = Call("PUT", "/providers/Microsoft.Insights/scheduledQueryRules/r1", Rule2023("Heartbeat | where (("), "2023-12-01");
  ASSERT_EQ(res.status, 400);
  std::string msg(res.body->at("error").at("message").as_string());
  EXPECT_NE(msg.find("query"), std::string::npos);
  EXPECT_NE(msg.find("1:"), std::string::npos) << msg;  // the position
  EXPECT_EQ(res.body->at("error").at("details").as_array()[0].at("code"), "SyntaxError");
  std::string body = Rule2023();
  // skipQueryValidation lets it through.
  std::string skip = Rule2023("Heartbeat | where ((");
  skip.insert(skip.find("\"severity\""), "\"skipQueryValidation\":true,");
  EXPECT_EQ(Call("PUT", "/providers/Microsoft.Insights/scheduledQueryRules/r2", skip, "2023-12-01").status, 201);
  std::string no_ws = body;
  no_ws.replace(no_ws.find("wsp1"), 4, "nope");
  EXPECT_EQ(Call("PUT", "/providers/Microsoft.Insights/scheduledQueryRules/r3", no_ws, "2023-12-01").status, 400);
  std::string no_ag = body;
  no_ag.replace(no_ag.find("ag1"), 3, "ag9");
  auto r = Call("PUT", "/providers/Microsoft.Insights/scheduledQueryRules/r3", no_ag, "2023-12-01");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body->at("error").at("code"), "ActionGroupNotFound");
  std::string storage = body;
  storage.insert(storage.find("\"severity\""), "\"checkWorkspaceAlertsStorageConfigured\":true,");
  r = Call("PUT", "/providers/Microsoft.Insights/scheduledQueryRules/r3", storage, "2023-12-01");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body->at("error").at("code"), "WorkspaceAlertsStorageNotConfigured");
}

TEST_F(AlertRulesProviderTest, ACallerWithoutReadOnTheWorkspaceCannotPointARuleAtIt) {
  identity::Principal writer = NewPrincipal("writer");
  Grant(writer, "Contributor", Rg() + "/providers/Microsoft.Insights/scheduledQueryRules/r1");
  std::string body = Rule2023();
  body.replace(body.find("\"actions\""), std::string::npos, "\"actions\":{}}}");
  auto res = Call("PUT", "/providers/Microsoft.Insights/scheduledQueryRules/r1", body, "2023-12-01", &writer);
  EXPECT_EQ(res.status, 403) << json::Serialize(*res.body);
}

TEST_F(AlertRulesProviderTest, Legacy2018BodyFromAzureMgmtMonitor) {
  PutGroup();
  std::string body = R"({"location":"eastus","properties":{"description":"d","autoMitigate":false,"enabled":"true",
    "source":{"query":"Heartbeat | count","dataSourceId":")" + WsId() + R"(","queryType":"ResultCount"},
    "schedule":{"frequencyInMinutes":5,"timeWindowInMinutes":10},
    "action":{"odata.type":"Microsoft.WindowsAzure.Management.Monitoring.Alerts.Models.Microsoft.AppInsights.Nexus.DataContracts.Resources.ScheduledQueryRules.AlertingAction",
      "severity":"3","aznsAction":{"actionGroup":[")" + AgId() + R"("],"emailSubject":"x"},
      "trigger":{"thresholdOperator":"GreaterThan","threshold":0.0}}}})";
  auto res = Call("PUT", "/providers/Microsoft.Insights/scheduledQueryRules/old", body, "2018-04-16", nullptr, "resourcegroups");
  ASSERT_EQ(res.status, 201) << json::Serialize(*res.body);
  EXPECT_EQ(res.body->at("properties").at("enabled"), "true");
  EXPECT_EQ(res.body->at("properties").at("provisioningState"), "Succeeded");
  const alerts::AlertRule& r = sink_.rules.begin()->second;
  EXPECT_EQ(r.frequency, std::chrono::minutes(5));
  EXPECT_FALSE(r.auto_mitigate);
  auto patched = Call("PATCH", "/providers/Microsoft.Insights/scheduledQueryRules/old", R"({"properties":{"enabled":"false"}})", "2018-04-16");
  ASSERT_EQ(patched.status, 200) << json::Serialize(*patched.body);
  EXPECT_FALSE(sink_.rules.begin()->second.enabled);
}

TEST_F(AlertRulesProviderTest, AlertsManagementListsGetsAndChangesState) {
  bj::object doc{{"id", "/subscriptions/" + sub_ + "/providers/Microsoft.AlertsManagement/alerts/a1"},
                 {"name", "a1"},
                 {"type", "Microsoft.AlertsManagement/alerts"},
                 {"properties", bj::object{{"essentials", bj::object{{"alertState", "New"}, {"monitorCondition", "Fired"}}}}}};
  ASSERT_THAT(store_->Put(alerts::kAlertKind, "a1", json::Serialize(doc)), IsOk());
  ArmRequest r;
  r.method = "GET";
  r.path = "/subscriptions/" + sub_ + "/providers/Microsoft.AlertsManagement/alerts";
  r.query = {{"api-version", "2019-05-05-preview"}};
  r.caller = admin_;
  auto list = arm_->Handle(r);
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body->at("value").as_array().size(), 1u);
  r.method = "POST";
  r.path += "/a1/changestate";
  r.query.emplace_back("newState", "Acknowledged");
  auto changed = arm_->Handle(r);
  ASSERT_EQ(changed.status, 200) << json::Serialize(*changed.body);
  EXPECT_EQ(changed.body->at("properties").at("essentials").at("alertState"), "Acknowledged");
  identity::Principal nobody = NewPrincipal("nobody");
  r.caller = nobody;
  EXPECT_EQ(arm_->Handle(r).status, 403);
  // Lists page by 250 behind nextLink.
  for (int i = 0; i < 260; ++i) {
    std::string name = "b" + std::to_string(1000 + i);
    doc["id"] = "/subscriptions/" + sub_ + "/providers/Microsoft.AlertsManagement/alerts/" + name;
    ASSERT_THAT(store_->Put(alerts::kAlertKind, name, json::Serialize(doc)), IsOk());
  }
  r.caller = admin_;
  r.method = "GET";
  r.path = "/subscriptions/" + sub_ + "/providers/Microsoft.AlertsManagement/alerts";
  r.query = {{"api-version", "2019-05-05-preview"}};
  auto page = arm_->Handle(r);
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.body->at("value").as_array().size(), 250u);
  std::string next(page.body->at("nextLink").as_string());
  EXPECT_NE(next.find("%24skipToken=250"), std::string::npos) << next;
  r.query.emplace_back("$skipToken", "250");
  page = arm_->Handle(r);
  EXPECT_EQ(page.body->at("value").as_array().size(), 11u);
  EXPECT_FALSE(page.body->as_object().contains("nextLink"));
}

}  // namespace
}  // namespace cmk::control
