#pragma once
// Test fixture shared by the control-plane provider tests: a metadata store in a temporary
// directory, a directory with one tenant and an admin service principal that is Owner of one
// subscription (with resource group "rg"), an ArmService over them, and the OperationalInsights
// provider installed. Subclasses add their own providers in SetUp after calling this one.
#include <gtest/gtest.h>

#include <filesystem>

#include "base/testing.h"
#include "control/arm_service.h"
#include "control/oi_provider.h"

namespace cmk::control {

class ArmTestBase : public ::testing::Test {
 protected:
  explicit ArmTestBase(uint64_t seed) : random_(seed) {}
  void SetUp() override { SetUpArm(OperationalInsightsOptions{}); }
  void SetUpArm(OperationalInsightsOptions options) {
    dir_ = ::testing::TempDir() + "/arm_" + env::SecureRandom().NewGuid();
    std::filesystem::create_directories(dir_);
    store_ = std::move(*meta::MetadataStore::Open(dir_ + "/meta.db"));
    directory_ = std::make_unique<identity::Directory>(store_.get(), env());
    rbac_ = std::move(*identity::Rbac::Create(store_.get(), env()));
    tenant_ = *directory_->CreateTenant("t.localhost");
    admin_ = std::move(*directory_->CreateServicePrincipal(tenant_.id, "admin")).principal;
    sub_ = random_.NewGuid();
    arm_ = std::make_unique<ArmService>(env(), store_.get(), directory_.get(), rbac_.get(),
                                        InstanceInfo{tenant_.id, sub_, "rg", "eastus"}, AdminHooks{});
    ASSERT_THAT(arm_->EnsureSubscription(sub_, tenant_.id, "s"), testing::IsOk());
    ASSERT_THAT(arm_->EnsureResourceGroup(sub_, "rg", "eastus"), testing::IsOk());
    Grant(admin_, "Owner", "/subscriptions/" + sub_);
    auto oi = std::make_unique<OperationalInsightsProvider>(env(), store_.get(), directory_.get(), rbac_.get(),
                                                            nullptr, std::move(options));
    ASSERT_THAT(oi->Load(), testing::IsOk());
    arm_->SetOperationalInsights(std::move(oi));
  }
  void TearDown() override {
    arm_.reset();
    std::filesystem::remove_all(dir_);
  }
  env::Env env() { return env::Env{&clock_, &random_, &fs_}; }
  // Assigns `role` to `p` at `scope`; returns the assignment's name (for Rbac::Remove).
  std::string Grant(const identity::Principal& p, const char* role, const std::string& scope) {
    std::string name = random_.NewGuid();
    EXPECT_THAT(rbac_->Assign({name, scope, identity::FindRoleDefinition(role)->id, p.object_id}), testing::IsOk());
    return name;
  }
  // A new service principal with no role anywhere.
  identity::Principal NewPrincipal(const char* name) {
    return std::move(*directory_->CreateServicePrincipal(tenant_.id, name)).principal;
  }

  std::string dir_;
  env::SimulatedClock clock_{FromUnixSeconds(1795416367)};
  env::SeededRandom random_;
  env::PosixFileSystem fs_;
  std::unique_ptr<meta::MetadataStore> store_;
  std::unique_ptr<identity::Directory> directory_;
  std::unique_ptr<identity::Rbac> rbac_;
  std::unique_ptr<ArmService> arm_;
  identity::Tenant tenant_;
  identity::Principal admin_;
  std::string sub_;
};

}  // namespace cmk::control
