#include "storage/cluster_storage.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/testing.h"
#include "storage/fake_vault_for_test.h"

namespace cmk::storage {
namespace {

using std::chrono::seconds;
using testing::IsOk;

class ClusterStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/cs_" + env::SecureRandom().NewGuid();
    std::filesystem::create_directories(dir_);
    store_ = std::move(*meta::MetadataStore::Open(dir_ + "/meta.db"));
  }
  void TearDown() override {
    cs_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Open() {
    KeyManagerOptions o;
    o.check_interval = seconds(10);
    cs_.reset();
    auto cs = ClusterStorage::Open(env::Env{&clock_, &random_, nullptr}, store_.get(),
                                   [this](const std::string& principal) -> std::unique_ptr<keyvault::KeyVaultClient> {
                                     principals_.push_back(principal);
                                     return std::make_unique<Proxy>(&vault_, principal);
                                   },
                                   o);
    ASSERT_THAT(cs, IsOk());
    cs_ = std::move(*cs);
  }
  std::vector<KeyState> States() {
    std::vector<KeyState> out;
    for (const auto& a : cs_->List()) out.push_back(a.state);
    return out;
  }
  // Forwards to the shared fake; refuses everything without a principal (identity None).
  class Proxy : public keyvault::KeyVaultClient {
   public:
    Proxy(FakeVault* v, std::string p) : v_(v), p_(std::move(p)) {}
    Result<keyvault::KeyInfo> GetKey(const keyvault::KeyRef& k) override {
      if (p_.empty()) return PermissionDenied("no identity");
      return v_->GetKey(k);
    }
    Result<keyvault::WrappedKey> WrapKey(const keyvault::KeyRef& k, std::string_view a, std::span<const uint8_t> pt) override {
      if (p_.empty()) return PermissionDenied("no identity");
      return v_->WrapKey(k, a, pt);
    }
    Result<SecretBytes> UnwrapKey(const keyvault::KeyRef& k, std::string_view a, std::span<const uint8_t> ct) override {
      if (p_.empty()) return PermissionDenied("no identity");
      return v_->UnwrapKey(k, a, ct);
    }

   private:
    FakeVault* v_;
    std::string p_;
  };

  const std::string cluster_ = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/clusters/c1";
  const keyvault::KeyRef key_{"https://kv.vault.localhost:8443", "kek", ""};
  std::string dir_;
  env::SimulatedClock clock_{FromUnixSeconds(1795416367)};
  env::SeededRandom random_{3};
  FakeVault vault_;
  std::unique_ptr<meta::MetadataStore> store_;
  std::unique_ptr<ClusterStorage> cs_;
  std::vector<std::string> principals_;
};

TEST_F(ClusterStorageTest, AKeyCreatesTwoAccountsThatSurviveAReopen) {
  Open();
  ASSERT_THAT(cs_->ConfigureCluster(cluster_, "mi-1", std::nullopt), IsOk());
  EXPECT_TRUE(cs_->List().empty());
  ASSERT_THAT(cs_->ConfigureCluster(cluster_, "mi-1", key_), IsOk());
  auto accounts = cs_->List();
  ASSERT_EQ(accounts.size(), 2u);
  EXPECT_EQ(accounts[0].account, "acct1");
  EXPECT_EQ(accounts[0].state, KeyState::kHealthy);
  EXPECT_EQ(accounts[0].kid, vault_.Kid("v1"));
  Open();  // a restart: the accounts come back with their persisted wrapping
  EXPECT_EQ(States(), (std::vector<KeyState>{KeyState::kHealthy, KeyState::kHealthy}));
  EXPECT_EQ(principals_.back(), "mi-1");
  ASSERT_THAT(cs_->RemoveCluster(cluster_), IsOk());
  EXPECT_TRUE(cs_->List().empty());
  Open();
  EXPECT_TRUE(cs_->List().empty());
}

TEST_F(ClusterStorageTest, IdentityNoneRevokesAndAKeyChangeRewraps) {
  Open();
  ASSERT_THAT(cs_->ConfigureCluster(cluster_, "mi-1", keyvault::KeyRef{key_.vault_uri, "kek", "v1"}), IsOk());
  std::string v2 = vault_.Rotate();
  ASSERT_THAT(cs_->ConfigureCluster(cluster_, "mi-1", keyvault::KeyRef{key_.vault_uri, "kek", v2}), IsOk());
  for (const auto& a : cs_->List()) EXPECT_EQ(a.kid, vault_.Kid(v2));
  ASSERT_THAT(cs_->ConfigureCluster(cluster_, "", keyvault::KeyRef{key_.vault_uri, "kek", v2}), IsOk());
  clock_.Advance(seconds(10));
  EXPECT_EQ(States(), (std::vector<KeyState>{KeyState::kRevoked, KeyState::kRevoked}));
  ASSERT_THAT(cs_->ConfigureCluster(cluster_, "mi-1", keyvault::KeyRef{key_.vault_uri, "kek", v2}), IsOk());
  clock_.Advance(seconds(10));
  EXPECT_EQ(States(), (std::vector<KeyState>{KeyState::kHealthy, KeyState::kHealthy}));
}

}  // namespace
}  // namespace cmk::storage
