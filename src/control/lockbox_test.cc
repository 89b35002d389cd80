#include "control/lockbox.h"

#include <gtest/gtest.h>

#include "base/json.h"
#include "control/arm_test_base.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
using testing::IsOk;
using testing::StatusIs;

// The admin of ArmTestBase is the operator (as the first-start admin is); `owner_` is the
// customer who owns the subscription.
class LockboxTest : public ArmTestBase {
 protected:
  LockboxTest() : ArmTestBase(1602) {}
  void SetUp() override {
    ArmTestBase::SetUp();
    activity_ = std::make_unique<ActivityLog>(env(), store_.get(), rbac_.get());
    owner_ = NewPrincipal("customer-owner");
    Grant(owner_, "Owner", "/subscriptions/" + sub_);
    ws_ = "/subscriptions/" + sub_ + "/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws1";
    Reopen();
  }
  void Reopen() {
    lockbox_.reset();
    LockboxOptions o;
    o.admin_object_id = admin_.object_id;
    auto l = Lockbox::Create(env(), store_.get(), rbac_.get(), activity_.get(), o);
    ASSERT_THAT(l, IsOk());
    lockbox_ = std::move(*l);
  }
  ArmResponse Call(const identity::Principal& who, std::string method, std::string path, std::string body = "") {
    ArmRequest r;
    r.method = std::move(method);
    r.path = std::move(path);
    r.query = {{"api-version", "2018-02-28-preview"}};
    r.body = std::move(body);
    r.caller = who;
    auto out = lockbox_->Route(r);
    return out ? *out : ArmResponse{599, std::nullopt, {}};
  }
  std::string Requests() { return "/subscriptions/" + sub_ + "/providers/Microsoft.CustomerLockbox/requests"; }
  LockboxRequest Open(Duration d = {}) {
    auto q = lockbox_->Open(admin_, {ws_}, "investigating ticket 42", d, "42");
    EXPECT_THAT(q, IsOk());
    return q.ok() ? *q : LockboxRequest{};
  }
  std::vector<std::string> Ops() {
    ActivityFilter f;
    f.subscription_id = sub_;
    f.resource_provider = "Microsoft.CustomerLockbox";
    std::vector<std::string> out;
    auto page = activity_->List(f, "", 1000);
    EXPECT_THAT(page, IsOk());
    for (const auto& e : page->events) out.push_back(e.operation.substr(35));
    return out;
  }

  std::unique_ptr<ActivityLog> activity_;
  std::unique_ptr<Lockbox> lockbox_;
  identity::Principal owner_;
  std::string ws_;
};

TEST_F(LockboxTest, WithoutLockboxNobodyIsGated) {
  EXPECT_TRUE(lockbox_->IsOperator(admin_.object_id));
  auto g = lockbox_->CheckAccess(admin_, ws_);
  ASSERT_THAT(g, IsOk());
  EXPECT_FALSE(g->has_value());
  EXPECT_THAT(lockbox_->Open(admin_, {ws_}, "why", {}, "").status(), StatusIs(StatusCode::kFailedPrecondition));
}

TEST_F(LockboxTest, ARequestNamingAStorageAccountByNameCoversExactlyThatAccount) {
  ASSERT_THAT(lockbox_->SetOptIn(owner_, true), IsOk());
  std::string sa = "/subscriptions/" + sub_ + "/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa1";
  lockbox_.reset();
  LockboxOptions o;
  o.admin_object_id = admin_.object_id;
  o.resolve_storage_account = [sa](const std::string& id) -> Result<std::string> {
    if (id == "sa1" || id == sa) return sa;
    return NotFound("The storage account '" + id + "' was not found.", "StorageAccountNotFound");
  };
  lockbox_ = std::move(*Lockbox::Create(env(), store_.get(), rbac_.get(), activity_.get(), o));
  EXPECT_EQ(lockbox_->CheckAccess(admin_, sa).status().error_code(), "CustomerLockboxAccessDenied");
  EXPECT_EQ(Call(admin_, "POST", "/cmklogs/admin/lockbox/requests", R"({"reason":"r","storageAccounts":["nope"]})").status,
            404);
  auto created = Call(admin_, "POST", "/cmklogs/admin/lockbox/requests", R"({"reason":"r","storageAccounts":["sa1"]})");
  ASSERT_EQ(created.status, 201);
  const auto& props = created.body->at("properties").as_object();
  EXPECT_EQ(props.at("resourceType").as_string(), "Microsoft.Storage/storageAccounts");
  std::string id(props.at("requestId").as_string());
  ASSERT_THAT(lockbox_->Decide(owner_, sub_, id, "Approve", "ok").status(), IsOk());
  auto g = lockbox_->CheckAccess(admin_, sa);
  ASSERT_THAT(g, IsOk());
  ASSERT_TRUE(g->has_value());
  EXPECT_EQ((*g)->resource_id, sa);
  EXPECT_TRUE(lockbox_->CheckAccess(admin_, sa + "/blobServices/default/containers/c")->has_value());
  EXPECT_FALSE(lockbox_->CheckAccess(admin_, sa + "2").ok());
  EXPECT_FALSE(lockbox_->CheckAccess(admin_, ws_).ok());
}

TEST_F(LockboxTest, OnlyANonOperatorTenantAdminEnablesLockbox) {
  EXPECT_EQ(Call(admin_, "POST", "/providers/Microsoft.CustomerLockbox/enableLockbox").status, 403);
  auto reader = NewPrincipal("reader");
  Grant(reader, "Reader", "/subscriptions/" + sub_);
  EXPECT_EQ(Call(reader, "POST", "/providers/Microsoft.CustomerLockbox/enableLockbox").status, 403);
  EXPECT_EQ(Call(owner_, "POST", "/providers/Microsoft.CustomerLockbox/enableLockbox").status, 200);
  auto opted = Call(reader, "GET", "/providers/Microsoft.CustomerLockbox/tenantOptedIn/" + tenant_.id);
  ASSERT_EQ(opted.status, 200);
  EXPECT_TRUE(opted.body->at("isOptedIn").as_bool());
  Reopen();  // persisted
  EXPECT_TRUE(lockbox_->OptedIn(tenant_.id));
  EXPECT_EQ(Call(owner_, "POST", "/providers/Microsoft.CustomerLockbox/disableLockbox").status, 200);
  EXPECT_FALSE(lockbox_->OptedIn(tenant_.id));
}

TEST_F(LockboxTest, ApprovalGrantsExactlyTheResourceForItsDurationAndIsRecorded) {
  ASSERT_THAT(lockbox_->SetOptIn(owner_, true), IsOk());
  auto denied = lockbox_->CheckAccess(admin_, ws_);
  ASSERT_THAT(denied.status(), StatusIs(StatusCode::kPermissionDenied));
  EXPECT_EQ(denied.status().error_code(), "CustomerLockboxAccessDenied");
  EXPECT_NE(denied.status().message().find("Customer Lockbox"), std::string::npos);
  // Customers are never gated.
  EXPECT_FALSE(lockbox_->CheckAccess(owner_, ws_)->has_value());

  LockboxRequest q = Open();
  EXPECT_EQ(q.status, "Pending");
  auto reader = NewPrincipal("reader");
  Grant(reader, "Reader", "/subscriptions/" + sub_);
  std::string approve = Requests() + "/" + q.id + "/updateApproval";
  EXPECT_EQ(Call(reader, "POST", approve, R"({"status":"Approve","reason":"ok"})").status, 403);
  EXPECT_EQ(Call(admin_, "POST", approve, R"({"status":"Approve","reason":"self"})").status, 403);
  auto ok = Call(owner_, "POST", approve, R"({"status":"Approve","reason":"go ahead"})");
  ASSERT_EQ(ok.status, 200);
  EXPECT_EQ(ok.body->at("status").as_string(), "Approve");

  auto g = lockbox_->CheckAccess(admin_, ws_);
  ASSERT_THAT(g, IsOk());
  ASSERT_TRUE(g->has_value());
  EXPECT_EQ((*g)->request_id, q.id);
  EXPECT_TRUE(lockbox_->CheckAccess(admin_, ws_ + "/savedSearches/s1")->has_value());
  EXPECT_FALSE(lockbox_->CheckAccess(admin_, ws_ + "2").ok());  // another workspace
  lockbox_->RecordAccess(admin_, **g, "query", "Heartbeat | count", 1);
  auto acc = lockbox_->Accesses(ws_);
  ASSERT_THAT(acc, IsOk());
  ASSERT_EQ(acc->size(), 1u);
  EXPECT_EQ((*acc)[0].query, "Heartbeat | count");
  EXPECT_EQ((*acc)[0].operator_id, admin_.object_id);

  clock_.Advance(std::chrono::hours(8));
  EXPECT_FALSE(lockbox_->CheckAccess(admin_, ws_).ok());
  auto got = Call(reader, "GET", Requests() + "/" + q.id);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body->at("properties").at("status").as_string(), "Expired");
  EXPECT_NE(std::string(got.body->at("properties").at("notCovered").as_string()).find("Auxiliary"), std::string::npos);
  EXPECT_EQ(Ops(), (std::vector<std::string>{"create/action", "approve/action", "access/action", "expire/action"}));
}

TEST_F(LockboxTest, UnansweredRequestsExpireAfterFourDaysAndDenialGrantsNothing) {
  ASSERT_THAT(lockbox_->SetOptIn(owner_, true), IsOk());
  LockboxRequest q1 = Open();
  LockboxRequest q2 = Open();
  auto deny = Call(owner_, "POST", Requests() + "/" + q2.id + "/updateApproval", R"({"decision":"Deny","reason":"no"})");
  ASSERT_EQ(deny.status, 200);
  EXPECT_FALSE(lockbox_->CheckAccess(admin_, ws_).ok());
  clock_.Advance(std::chrono::hours(95));
  EXPECT_EQ((*lockbox_->Get(sub_, q1.id))->status, "Pending");
  clock_.Advance(std::chrono::hours(1));
  EXPECT_EQ((*lockbox_->Get(sub_, q1.id))->status, "Expired");
  auto late = Call(owner_, "POST", Requests() + "/" + q1.id + "/updateApproval", R"({"status":"Approve"})");
  EXPECT_EQ(late.status, 409);
  EXPECT_EQ(late.body->at("error").at("additionalInfo").at(0).at("info").at("currentStatus").as_string(), "Expired");
  auto pending = Call(owner_, "GET", Requests());
  ASSERT_EQ(pending.status, 200);
  EXPECT_EQ(pending.body->at("value").as_array().size(), 2u);
  ArmRequest r;
  r.method = "GET";
  r.path = Requests();
  r.query = {{"$filter", "properties/status eq 'Denied'"}};
  r.caller = owner_;
  auto filtered = lockbox_->Route(r);
  ASSERT_EQ(filtered->body->at("value").as_array().size(), 1u);
  EXPECT_EQ(Ops(), (std::vector<std::string>{"create/action", "create/action", "deny/action", "expire/action"}));
}

TEST_F(LockboxTest, TheCustomerRevokesEarlyAndTheApproverRoleMayDecide) {
  ASSERT_THAT(lockbox_->SetOptIn(owner_, true), IsOk());
  auto approver = NewPrincipal("approver");
  EXPECT_EQ(identity::FindRoleDefinition(kLockboxApproverRoleId)->role_name,
            "Azure Customer Lockbox Approver for Subscription");
  Grant(approver, "Azure Customer Lockbox Approver for Subscription", "/subscriptions/" + sub_);
  LockboxRequest q = Open(std::chrono::hours(2));
  ASSERT_THAT(lockbox_->Decide(approver, sub_, q.id, "Approve", "yes"), IsOk());
  EXPECT_TRUE(lockbox_->CheckAccess(admin_, ws_).ok());
  auto revoked = lockbox_->Decide(approver, sub_, q.id, "Deny", "enough");
  ASSERT_THAT(revoked, IsOk());
  EXPECT_EQ(revoked->status, "Revoked");
  EXPECT_FALSE(lockbox_->CheckAccess(admin_, ws_).ok());
}

TEST_F(LockboxTest, OperatorsAreNamedByTheAdminAndOpenRequestsThroughTheAdminEndpoint) {
  auto second = NewPrincipal("second-operator");
  EXPECT_EQ(Call(owner_, "PUT", "/cmklogs/admin/operators/" + second.object_id).status, 403);
  ASSERT_EQ(Call(admin_, "PUT", "/cmklogs/admin/operators/" + second.object_id).status, 200);
  Reopen();
  EXPECT_TRUE(lockbox_->IsOperator(second.object_id));
  ASSERT_THAT(lockbox_->SetOptIn(owner_, true), IsOk());
  // An operator is no approver and no tenant admin, whatever its roles.
  Grant(second, "Owner", "/subscriptions/" + sub_);
  EXPECT_THAT(lockbox_->SetOptIn(second, false), StatusIs(StatusCode::kPermissionDenied));
  bj::object body{{"workspaces", bj::array{ws_}}, {"reason", "ticket 7"}, {"duration", "PT4H"}};
  auto opened = Call(second, "POST", "/cmklogs/admin/lockbox/requests", json::Serialize(body));
  ASSERT_EQ(opened.status, 201) << json::Serialize(*opened.body);
  EXPECT_EQ(opened.body->at("properties").at("duration").as_string(), "4");
  EXPECT_EQ(opened.body->at("properties").at("resourceIds").as_string(), ws_);
  std::string id(opened.body->at("properties").at("requestId").as_string());
  EXPECT_THAT(lockbox_->Decide(second, sub_, id, "Approve", ""), StatusIs(StatusCode::kPermissionDenied));
  EXPECT_EQ(Call(owner_, "POST", "/cmklogs/admin/lockbox/requests", json::Serialize(body)).status, 403);
  bj::object bad{{"workspaces", bj::array{ws_}}, {"reason", "x"}, {"duration", "P30D"}};
  EXPECT_EQ(Call(second, "POST", "/cmklogs/admin/lockbox/requests", json::Serialize(bad)).status, 400);
}

// Regression: the read gate held its lock while the routes below it took the same lock.
TEST_F(LockboxTest, ServedThroughTheArmServiceWithItsLayerWhileLockboxIsOn) {
  Lockbox* l = lockbox_.get();
  arm_->AddRoutes([l](const ArmRequest& r) { return l->Route(r); });
  arm_->AddLayer([l](const ArmRequest& r, const ArmService::Next& next) { return l->GateReads(r, next); });
  ASSERT_THAT(lockbox_->SetOptIn(owner_, true), IsOk());
  ArmRequest r;
  r.method = "GET";
  r.path = "/providers/Microsoft.CustomerLockbox/tenantOptedIn/" + tenant_.id;
  r.caller = admin_;
  auto out = arm_->Handle(r);
  ASSERT_EQ(out.status, 200);
  EXPECT_TRUE(out.body->at("isOptedIn").as_bool());
  // The operator's read of saved searches is refused by the layer, naming Lockbox.
  r.path = ws_ + "/savedSearches";
  r.query = {{"api-version", "2020-08-01"}};
  out = arm_->Handle(r);
  ASSERT_EQ(out.status, 403);
  EXPECT_EQ(out.body->at("error").at("code").as_string(), "CustomerLockboxAccessDenied");
  r.caller = owner_;  // the customer passes through to the provider
  EXPECT_NE(arm_->Handle(r).status, 403);
}

TEST_F(LockboxTest, ExpiryTimersRecordTheTransitionAndSurviveAReopen) {
  ASSERT_THAT(lockbox_->SetOptIn(owner_, true), IsOk());
  LockboxRequest q = Open();
  Reopen();
  clock_.Advance(std::chrono::hours(97));  // fires the reopened instance's timer
  auto doc = store_->Get("lockbox-request", q.id);
  ASSERT_THAT(doc, IsOk());
  EXPECT_NE((*doc)->body.find("\"Expired\""), std::string::npos);
}

}  // namespace
}  // namespace cmk::control
