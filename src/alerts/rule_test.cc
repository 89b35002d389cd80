#include "alerts/rule.h"

#include <gtest/gtest.h>

#include "alerts/payload.h"
#include "base/json.h"
#include "base/testing.h"

namespace cmk::alerts {
namespace {

namespace bj = boost::json;
using testing::IsOk;
using testing::StatusIs;

constexpr char kId[] = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Insights/scheduledQueryRules/r1";
constexpr char kWs[] = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws";

bj::object Props(std::string_view extra_condition = "", std::string_view extra = "") {
  std::string text = std::string(R"({"severity":2,"enabled":true,"scopes":[")") + kWs +
                     R"("],"evaluationFrequency":"PT1M","windowSize":"PT5M",)" + std::string(extra) +
                     R"("criteria":{"allOf":[{"query":"T | where Level == 'Error'","timeAggregation":"Count",)"
                     R"("operator":"GreaterThan","threshold":2)" + std::string(extra_condition) + "}]}," +
                     R"("actions":{"actionGroups":["/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Insights/actionGroups/ag"],)"
                     R"("customProperties":{"team":"ops"}}})";
  return *json::ParseObject(text);
}

TEST(RuleTest, ValidatesA2023Rule) {
  auto r = ValidateRule(kId, "eastus", Props(R"(,"dimensions":[{"name":"Computer","operator":"Include","values":["*"]}],"failingPeriods":{"numberOfEvaluationPeriods":3,"minFailingPeriodsToAlert":2})"));
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->name, "r1");
  EXPECT_EQ(r->subscription_id, "s1");
  EXPECT_EQ(r->severity, 2);
  EXPECT_EQ(r->frequency, std::chrono::minutes(1));
  EXPECT_EQ(r->window, std::chrono::minutes(5));
  EXPECT_EQ(r->dimensions.size(), 1u);
  EXPECT_EQ(r->evaluation_periods, 3);
  EXPECT_EQ(r->min_failing_periods, 2);
  EXPECT_TRUE(r->auto_mitigate);
  EXPECT_EQ(r->action_groups.size(), 1u);
  EXPECT_EQ(r->custom_properties.at("team"), "ops");
}

TEST(RuleTest, RefusesDocumentedViolations) {
  for (std::string_view cond : {R"(,"timeAggregation":"Median")", R"(,"operator":"Above")",
                                R"(,"failingPeriods":{"numberOfEvaluationPeriods":2,"minFailingPeriodsToAlert":3})",
                                R"(,"dimensions":[{"name":"a"},{"name":"b"},{"name":"c"},{"name":"d"},{"name":"e"},{"name":"f"},{"name":"g"}])",
                                R"(,"dimensions":[{"name":"a","operator":"Exclude","values":["*"]}])"}) {
    bj::object p = Props();
    bj::object& c = p["criteria"].as_object()["allOf"].as_array()[0].as_object();
    bj::object extra = *json::ParseObject("{" + std::string(cond.substr(1)) + "}");
    for (const auto& kv : extra) c[kv.key()] = kv.value();
    EXPECT_THAT(ValidateRule(kId, "eastus", p), StatusIs(StatusCode::kInvalidArgument, "BadRequest")) << cond;
  }
  bj::object p = Props();
  p["evaluationFrequency"] = "PT30S";
  EXPECT_THAT(ValidateRule(kId, "eastus", p), StatusIs(StatusCode::kInvalidArgument));
  p = Props();
  p["evaluationFrequency"] = "PT10M";  // longer than the window
  EXPECT_THAT(ValidateRule(kId, "eastus", p), StatusIs(StatusCode::kInvalidArgument));
  p = Props();
  p["severity"] = 5;
  EXPECT_THAT(ValidateRule(kId, "eastus", p), StatusIs(StatusCode::kInvalidArgument));
  p = Props();
  p["scopes"] = bj::array{};
  EXPECT_THAT(ValidateRule(kId, "eastus", p), StatusIs(StatusCode::kInvalidArgument));
  p = Props();
  p["criteria"].as_object()["allOf"].as_array()[0].as_object()["timeAggregation"] = "Average";
  EXPECT_THAT(ValidateRule(kId, "eastus", p), StatusIs(StatusCode::kInvalidArgument));  // no measure column
}

TEST(RuleTest, ConvertsTheLegacy2018Body) {
  auto p = json::ParseObject(std::string(R"({"description":"d","autoMitigate":false,"enabled":"true",
    "source":{"query":"Heartbeat | count","dataSourceId":")") + kWs + R"(","queryType":"ResultCount"},
    "schedule":{"frequencyInMinutes":5,"timeWindowInMinutes":10},
    "action":{"odata.type":"Microsoft.WindowsAzure.Management.Monitoring.Alerts.Models.Microsoft.AppInsights.Nexus.DataContracts.Resources.ScheduledQueryRules.AlertingAction",
      "severity":"1","throttlingInMin":30,"aznsAction":{"actionGroup":["/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Insights/actionGroups/ag"]},
      "trigger":{"thresholdOperator":"Equal","threshold":0.0,"metricTrigger":{"thresholdOperator":"GreaterThan","threshold":1,"metricTriggerType":"Total","metricColumn":"Computer"}}}})");
  ASSERT_THAT(p, IsOk());
  auto converted = ConvertLegacyRule(*p);
  ASSERT_THAT(converted, IsOk());
  auto r = ValidateRule(kId, "eastus", *converted);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->severity, 1);
  EXPECT_EQ(r->frequency, std::chrono::minutes(5));
  EXPECT_EQ(r->window, std::chrono::minutes(10));
  EXPECT_EQ(r->op, Operator::kEquals);
  EXPECT_FALSE(r->auto_mitigate);
  EXPECT_EQ(r->mute_actions, std::chrono::minutes(30));
  ASSERT_EQ(r->dimensions.size(), 1u);
  EXPECT_EQ(r->dimensions[0].name, "Computer");
  (*p)["action"].as_object()["odata.type"] = "LogToMetricAction";
  EXPECT_THAT(ConvertLegacyRule(*p), StatusIs(StatusCode::kInvalidArgument));
}

TEST(RuleTest, ValidatesActionGroups) {
  auto g = ValidateActionGroup("ag", *json::ParseObject(R"({"groupShortName":"ops","enabled":true,
    "webhookReceivers":[{"name":"hook","serviceUri":"http://127.0.0.1:9/x","useCommonAlertSchema":true}],
    "emailReceivers":[{"name":"mail","emailAddress":"a@example.com"}]})"));
  ASSERT_THAT(g, IsOk());
  EXPECT_EQ(g->webhooks.size(), 1u);
  EXPECT_TRUE(g->webhooks[0].common_schema);
  EXPECT_EQ(g->emails[0].address, "a@example.com");
  for (const char* bad : {R"({"groupShortName":"thisistoolong1"})",
                          R"({"groupShortName":"x","webhookReceivers":[{"name":"a","serviceUri":"ftp://x"}]})",
                          R"({"groupShortName":"x","webhookReceivers":[{"name":"a","serviceUri":"http://x"}],"emailReceivers":[{"name":"A","emailAddress":"a@b"}]})",
                          R"({"groupShortName":"x","webhookReceivers":[{"name":"a","serviceUri":"http://x","useAadAuth":true}]})",
                          R"({"groupShortName":"x","emailReceivers":[{"name":"a","emailAddress":"nobody"}]})"}) {
    EXPECT_THAT(ValidateActionGroup("ag", *json::ParseObject(bad)), StatusIs(StatusCode::kInvalidArgument)) << bad;
  }
}

TEST(PayloadTest, CommonAlertSchemaOfALogAlert) {
  auto rule = ValidateRule(kId, "eastus", Props(R"(,"dimensions":[{"name":"Computer","values":["*"]}])"));
  ASSERT_THAT(rule, IsOk());
  AlertEvent e;
  e.alert_id = "/subscriptions/s1/providers/Microsoft.AlertsManagement/alerts/g1";
  e.fired_time = FromUnixSeconds(1'700'000'030);
  e.window_start = FromUnixSeconds(1'699'999'700);
  e.window_end = FromUnixSeconds(1'700'000'000);
  e.dimensions = {{"Computer", "vm1"}};
  e.metric_value = 3;
  e.query_endpoint = "https://api.loganalytics.localhost:8443";
  e.workspace_customer_id = "c1";
  auto p = json::ParseObject(SerializePayload(*rule, e));
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ((*p)["schemaId"], "azureMonitorCommonAlertSchema");
  const bj::object& ess = p->at("data").at("essentials").as_object();
  EXPECT_EQ(ess.at("monitorCondition"), "Fired");
  EXPECT_EQ(ess.at("signalType"), "Log");
  EXPECT_EQ(ess.at("monitoringService"), "Log Alerts V2");
  EXPECT_EQ(ess.at("severity"), "Sev2");
  EXPECT_EQ(ess.at("configurationItems").as_array()[0], "vm1");
  EXPECT_EQ(ess.at("firedDateTime"), "2023-11-14T22:13:50.0000000Z");
  EXPECT_FALSE(ess.contains("resolvedDateTime"));
  const bj::object& ctx = p->at("data").at("alertContext").as_object();
  EXPECT_EQ(ctx.at("conditionType"), "LogQueryCriteria");
  const bj::object& c = ctx.at("condition").at("allOf").as_array()[0].as_object();
  EXPECT_EQ(c.at("threshold"), "2");
  EXPECT_EQ(c.at("metricValue").to_number<double>(), 3);
  EXPECT_EQ(c.at("dimensions").as_array()[0].at("value"), "vm1");
  EXPECT_EQ(c.at("searchQuery"), "T | where Level == 'Error'");
  EXPECT_NE(c.at("linkToSearchResultsAPI").as_string().find("/v1/workspaces/c1/query?query="), std::string::npos);
  e.omit_query = true;
  e.fired = false;
  e.resolved_time = e.fired_time + std::chrono::minutes(1);
  p = json::ParseObject(SerializePayload(*rule, e));
  const bj::object& c2 = p->at("data").at("alertContext").at("condition").at("allOf").as_array()[0].as_object();
  EXPECT_FALSE(c2.contains("searchQuery"));
  EXPECT_FALSE(c2.contains("linkToSearchResultsAPI"));
  EXPECT_EQ(p->at("data").at("essentials").at("monitorCondition"), "Resolved");
}

TEST(PayloadTest, ShrinksToTheSizeLimit) {
  auto rule = ValidateRule(kId, "eastus", Props());
  ASSERT_THAT(rule, IsOk());
  rule->query = std::string(19'000, 'x');
  AlertEvent e;
  e.alert_id = "/subscriptions/s1/providers/Microsoft.AlertsManagement/alerts/g1";
  e.query_endpoint = "https://q";
  for (int i = 0; i < 5; ++i) e.dimensions.emplace_back("d" + std::to_string(i), std::string(1000, 'v'));
  std::string full = SerializePayload(*rule, e);
  std::string small = SerializePayload(*rule, e, 8 * 1024);
  EXPECT_GT(full.size(), 8u * 1024);
  EXPECT_LE(small.size(), 8u * 1024);
  EXPECT_EQ(small.find("searchQuery"), std::string::npos);
}

}  // namespace
}  // namespace cmk::alerts
