#include "control/activity_log.h"

#include <gtest/gtest.h>

#include "base/encoding.h"
#include "base/json.h"
#include "control/arm_test_base.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
using testing::IsOk;

TEST(ActivityFilterTest, ParsesWhatAzSendsAndWhatTheSpecLists) {
  // az 2.45: unquoted, zone-less timestamps, resourceId (not resourceUri), caller and status.
  auto f = ParseActivityFilter(
      "eventTimestamp ge 2026-12-03T01:22:53.699640 and eventTimestamp le 2026-12-03T07:22:53.699640 and "
      "resourceGroupName eq 'rg1' and caller eq 'abc' and status eq 'Succeeded'");
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(*f->from, *ParseRfc3339("2026-12-03T01:22:53.69964Z"));
  EXPECT_EQ(*f->to, *ParseRfc3339("2026-12-03T07:22:53.69964Z"));
  EXPECT_EQ(f->resource_group, "rg1");
  EXPECT_EQ(f->caller, "abc");
  EXPECT_EQ(f->status, "Succeeded");
  auto g = ParseActivityFilter("eventTimestamp ge '2024-01-02T03:04:05+00:00' AND resourceUri eq '/subscriptions/s/x''y'");
  ASSERT_THAT(g, IsOk());
  EXPECT_EQ(g->resource_id, "/subscriptions/s/x'y");
  EXPECT_EQ(*g->from, *ParseRfc3339("2024-01-02T03:04:05Z"));
}

TEST(ActivityFilterTest, RefusesUnknownFieldsOperatorsAndHostileInput) {
  EXPECT_FALSE(ParseActivityFilter("levels eq 'x'").ok());
  EXPECT_FALSE(ParseActivityFilter("resourceGroupName ne 'x'").ok());
  EXPECT_FALSE(ParseActivityFilter("eventTimestamp ge 'yesterday'").ok());
  EXPECT_FALSE(ParseActivityFilter("caller eq 'unterminated").ok());
  EXPECT_FALSE(ParseActivityFilter("caller eq 'a' or caller eq 'b'").ok());
  EXPECT_FALSE(ParseActivityFilter(std::string(5000, 'a')).ok());
  std::string many;
  for (int i = 0; i < 20; ++i) many += (i ? " and " : "") + std::string("caller eq 'a'");
  EXPECT_FALSE(ParseActivityFilter(many).ok());
}

class ActivityLogTest : public ArmTestBase {
 protected:
  ActivityLogTest() : ArmTestBase(1601) {}
  void SetUp() override {
    ArmTestBase::SetUp();
    ActivityLogOptions o;
    o.page_size = 3;
    log_ = std::make_unique<ActivityLog>(env(), store_.get(), rbac_.get(), o);
    ActivityLog* log = log_.get();
    arm_->AddRoutes([log](const ArmRequest& r) { return log->Route(r); });
    arm_->AddLayer([log](const ArmRequest& r, const ArmService::Next& next) { return log->RecordWrite(r, next); });
  }
  ArmResponse Call(const identity::Principal& who, std::string method, std::string path, std::string body = "",
                   std::vector<std::pair<std::string, std::string>> query = {{"api-version", "2022-10-01"}}) {
    ArmRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.query = std::move(query);
    r.body = std::move(body);
    r.caller = who;
    r.base_url = "https://management.localhost:8443";
    r.correlation_id = "corr-" + std::to_string(++calls_);
    return arm_->Handle(r);
  }
  bj::array Values(const identity::Principal& who, const std::string& filter, std::string* next = nullptr) {
    auto out = Call(who, "GET", "/subscriptions/" + sub_ + "/providers/microsoft.insights/eventtypes/management/values", "",
                    {{"api-version", "2015-04-01"}, {"$filter", filter}});
    EXPECT_EQ(out.status, 200) << json::Serialize(*out.body);
    if (next != nullptr) {
      const bj::value* n = out.body->as_object().if_contains("nextLink");
      *next = n != nullptr ? std::string(n->as_string()) : "";
    }
    return out.body->as_object().at("value").as_array();
  }
  std::unique_ptr<ActivityLog> log_;
  int calls_ = 0;
};

TEST_F(ActivityLogTest, RecordsEveryWriteStartedThenOutcomeWithCallerAndCorrelation) {
  std::string rg = "/subscriptions/" + sub_ + "/resourceGroups/rg2";
  ASSERT_EQ(Call(admin_, "PUT", rg, R"({"location":"eastus"})").status, 201);
  auto reader = NewPrincipal("reader");
  Grant(reader, "Reader", "/subscriptions/" + sub_);
  ASSERT_EQ(Call(reader, "DELETE", rg).status, 403);
  ASSERT_EQ(Call(admin_, "GET", rg).status, 200);  // reads are not recorded
  auto events = Values(reader, "eventTimestamp ge '2020-01-01T00:00:00Z' and resourceGroupName eq 'rg2'");
  ASSERT_EQ(events.size(), 3u);  // page size 3: the second page holds the fourth
  auto op = [](const bj::value& e) { return std::string(e.at("operationName").at("value").as_string()); };
  auto status = [](const bj::value& e) { return std::string(e.at("status").at("value").as_string()); };
  EXPECT_EQ(op(events[0]), "Microsoft.Resources/subscriptions/resourceGroups/write");
  EXPECT_EQ(status(events[0]), "Started");
  EXPECT_EQ(status(events[1]), "Succeeded");
  EXPECT_EQ(events[1].at("subStatus").at("value").as_string(), "Created (HTTP Status Code: 201)");
  EXPECT_EQ(events[0].at("caller").as_string(), admin_.object_id);
  EXPECT_EQ(events[0].at("correlationId"), events[1].at("correlationId"));
  EXPECT_EQ(events[0].at("resourceId").as_string(), rg);
  EXPECT_EQ(events[0].at("resourceGroupName").as_string(), "rg2");
  EXPECT_EQ(op(events[2]), "Microsoft.Resources/subscriptions/resourceGroups/delete");
  EXPECT_EQ(events[2].at("caller").as_string(), reader.object_id);
  auto failed = Values(reader, "eventTimestamp ge '2020-01-01T00:00:00Z' and status eq 'Failed'");
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].at("properties").at("statusCode").as_string(), "Forbidden");
  EXPECT_NE(std::string(failed[0].at("properties").at("statusMessage").as_string()).find("AuthorizationFailed"),
            std::string::npos);
}

TEST_F(ActivityLogTest, PagesWithAnAbsoluteNextLinkThatKeepsTheFilter) {
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(Call(admin_, "PUT", "/subscriptions/" + sub_ + "/resourceGroups/g" + std::to_string(i),
                   R"({"location":"eastus"})")
                  .status,
              201);
  }
  std::string next;
  auto first = Values(admin_, "eventTimestamp ge '2020-01-01T00:00:00Z'", &next);
  ASSERT_EQ(first.size(), 3u);
  ASSERT_EQ(next.rfind("https://management.localhost:8443/subscriptions/" + sub_, 0), 0u) << next;
  EXPECT_NE(next.find("skiptoken="), std::string::npos);
  // Continue as the SDK does: the token from the link.
  std::string token = next.substr(next.find("skiptoken=") + 10);
  auto decoded = PercentDecode(token, false);
  ASSERT_THAT(decoded, IsOk());
  auto out = Call(admin_, "GET", "/subscriptions/" + sub_ + "/providers/Microsoft.Insights/eventtypes/management/values", "",
                  {{"api-version", "2015-04-01"}, {"$filter", "eventTimestamp ge '2020-01-01T00:00:00Z'"}, {"$skiptoken", *decoded}});
  ASSERT_EQ(out.status, 200);
  auto second = out.body->as_object().at("value").as_array();
  ASSERT_EQ(second.size(), 3u);
  EXPECT_NE(second[0].at("eventDataId"), first[2].at("eventDataId"));
}

TEST_F(ActivityLogTest, FiltersByTimeAndNeedsReadOnTheSubscription) {
  ASSERT_EQ(Call(admin_, "PUT", "/subscriptions/" + sub_ + "/resourceGroups/early", R"({"location":"eastus"})").status, 201);
  clock_.Advance(std::chrono::hours(48));
  ASSERT_EQ(Call(admin_, "PUT", "/subscriptions/" + sub_ + "/resourceGroups/late", R"({"location":"eastus"})").status, 201);
  std::string since = FormatRfc3339(clock_.Now() - std::chrono::hours(1));
  auto late = Values(admin_, "eventTimestamp ge '" + since + "'");
  ASSERT_EQ(late.size(), 2u);
  EXPECT_EQ(late[0].at("resourceGroupName").as_string(), "late");
  auto stranger = NewPrincipal("stranger");
  auto denied = Call(stranger, "GET", "/subscriptions/" + sub_ + "/providers/Microsoft.Insights/eventtypes/management/values",
                     "", {{"api-version", "2015-04-01"}, {"$filter", "eventTimestamp ge '2020-01-01T00:00:00Z'"}});
  EXPECT_EQ(denied.status, 403);
  auto bad = Call(admin_, "GET", "/subscriptions/" + sub_ + "/providers/Microsoft.Insights/eventtypes/management/values",
                  "", {{"api-version", "2015-04-01"}, {"$filter", "nonsense eq 'x'"}});
  EXPECT_EQ(bad.status, 400);
}

TEST_F(ActivityLogTest, ActionsNameTheResourceAndSelectPicksFields) {
  ActivityEvent e;
  e.time = clock_.Now();
  e.subscription_id = sub_;
  e.tenant_id = tenant_.id;
  e.caller = "cluster-identity";
  e.resource_id = "/subscriptions/" + sub_ + "/resourceGroups/rg/providers/Microsoft.OperationalInsights/clusters/c1";
  e.operation = "Microsoft.OperationalInsights/clusters/key/rotate/action";
  e.status = "Succeeded";
  e.properties = {{"keyVersion", "v2"}, {"reason", "a new version of the key"}};
  ASSERT_THAT(log_->Record(e), IsOk());
  auto out = Call(admin_, "GET", "/subscriptions/" + sub_ + "/providers/Microsoft.Insights/eventtypes/management/values", "",
                  {{"api-version", "2015-04-01"},
                   {"$filter", "eventTimestamp ge '2020-01-01T00:00:00Z' and resourceUri eq '" + e.resource_id + "'"},
                   {"$select", "caller , properties"}});
  ASSERT_EQ(out.status, 200);
  auto v = out.body->as_object().at("value").as_array();
  ASSERT_EQ(v.size(), 1u);
  EXPECT_EQ(v[0].as_object().size(), 2u);
  EXPECT_EQ(v[0].at("properties").at("keyVersion").as_string(), "v2");
  auto full = ActivityLog::EventJson(e);
  EXPECT_EQ(full.at("resourceType").at("value").as_string(), "Microsoft.OperationalInsights/clusters/key");
  EXPECT_EQ(full.at("resourceProviderName").at("value").as_string(), "Microsoft.OperationalInsights");
}

TEST_F(ActivityLogTest, KeyEventsNameTheResourcesTypeAndAreNotRepeated) {
  KeyEventRecorder keys(log_.get(), &clock_);
  std::string sa = "/subscriptions/" + sub_ + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa1";
  std::string cl = "/subscriptions/" + sub_ + "/resourceGroups/rg/providers/Microsoft.OperationalInsights/clusters/c1";
  keys.Record(sa, "sa-identity", "revoke", "", "the key is disabled");
  keys.Record(sa, "sa-identity", "revoke", "", "the key is disabled");  // a second account's: not repeated
  keys.Record(cl, "cl-identity", "rotate", "https://v.vault.localhost/keys/k/v2", "re-wrapped");
  ActivityFilter f;
  f.subscription_id = sub_;
  auto page = log_->List(f, "", 100);
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->events.size(), 2u);
  EXPECT_EQ(page->events[0].operation, "Microsoft.Storage/storageAccounts/key/revoke/action");
  EXPECT_EQ(page->events[0].caller, "sa-identity");
  EXPECT_EQ(page->events[0].resource_id, sa);
  EXPECT_EQ(page->events[0].level, "Warning");
  EXPECT_EQ(page->events[1].operation, "Microsoft.OperationalInsights/clusters/key/rotate/action");
  ASSERT_FALSE(page->events[1].properties.empty());
  EXPECT_EQ(page->events[1].properties[0], std::make_pair(std::string("keyVersion"), std::string("v2")));
}

TEST_F(ActivityLogTest, EventsSurviveAReopenInOrderAndTenantEventsListWithTheSubscription) {
  // A frozen clock: every event below has the same time; only the recording order sorts them.
  ASSERT_EQ(Call(admin_, "PUT", "/subscriptions/" + sub_ + "/resourceGroups/one", R"({"location":"eastus"})").status, 201);
  ActivityLog reopened(env(), store_.get(), rbac_.get());  // as after a restart
  for (const char* status : {"Started", "Succeeded"}) {
    ActivityEvent e;
    e.time = clock_.Now();
    e.subscription_id = sub_;
    e.resource_id = "/subscriptions/" + sub_ + "/resourceGroups/two";
    e.operation = "Microsoft.Resources/subscriptions/resourceGroups/write";
    e.status = status;
    ASSERT_THAT(reopened.Record(e), IsOk());
  }
  ActivityEvent tenant_level;
  tenant_level.time = clock_.Now();
  tenant_level.tenant_id = tenant_.id;
  tenant_level.resource_id = "/providers/Microsoft.CustomerLockbox";
  tenant_level.operation = "Microsoft.CustomerLockbox/enableLockbox/action";
  tenant_level.status = "Succeeded";
  ASSERT_THAT(reopened.Record(tenant_level), IsOk());
  ActivityEvent other_tenant = tenant_level;
  other_tenant.tenant_id = "00000000-0000-0000-0000-000000000000";
  ASSERT_THAT(reopened.Record(other_tenant), IsOk());
  ActivityFilter f;
  f.subscription_id = sub_;
  f.tenant_id = tenant_.id;
  auto page = reopened.List(f, "", 100);
  ASSERT_THAT(page, IsOk());
  std::vector<std::string> seen;
  for (const auto& e : page->events) seen.push_back(ResourceGroupOf(e.resource_id) + ":" + e.status);
  EXPECT_EQ(seen, (std::vector<std::string>{"one:Started", "one:Succeeded", "two:Started", "two:Succeeded", ":Succeeded"}));
}

}  // namespace
}  // namespace cmk::control
