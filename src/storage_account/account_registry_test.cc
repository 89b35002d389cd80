#include "storage_account/account_registry.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/encoding.h"
#include "base/testing.h"
#include "env/mem_fs.h"
#include "storage/fake_vault_for_test.h"

namespace cmk::storage_account {
namespace {

using std::chrono::seconds;
using testing::IsOk;
using testing::StatusIs;

class AccountRegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/sa_" + env::SecureRandom().NewGuid();
    std::filesystem::create_directories(dir_);
    store_ = std::move(*meta::MetadataStore::Open(dir_ + "/meta.db"));
    keys_ = storage::ServiceKeys::FromRootsForTest(env(), random_.NewSecret(32), random_.NewSecret(32));
  }
  void TearDown() override {
    reg_.reset();
    std::filesystem::remove_all(dir_);
  }
  env::Env env() { return env::Env{&clock_, &random_, nullptr}; }
  void Open() {
    reg_.reset();
    storage::KeyManagerOptions o;
    o.check_interval = seconds(10);
    auto r = AccountRegistry::Open(
        env(), store_.get(), keys_.get(),
        [this](const std::string& principal) -> std::unique_ptr<keyvault::KeyVaultClient> {
          if (principal != "mi-1") return std::make_unique<storage::FakeVaultProxy>(&denied_);
          return std::make_unique<storage::FakeVaultProxy>(&vault_);
        },
        o, std::make_unique<storage::LocalBlobStore>(&fs_, "/blobs"));
    ASSERT_THAT(r, IsOk());
    reg_ = std::move(*r);
  }
  AccountSpec Spec(bool cmk, std::string principal = "mi-1") {
    AccountSpec s{"acct1", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct1",
                  "eastus", "t1", true, {}};
    if (cmk) s.key = {keyvault::KeyRef{"https://kv.vault.localhost:8443", "kek", ""}, std::move(principal)};
    return s;
  }
  // Every stored document body, concatenated: to show what is (not) in clear.
  std::string AllBodies() {
    std::string out;
    for (const char* k : {"sa-container", "sa-blob", "sa-entity", "sa-account", "sa-aek"}) {
      auto docs = *store_->List(k, "");
      for (const auto& d : docs) out += d.id + " " + d.body + "\n";
    }
    return out;
  }

  std::string dir_;
  env::SimulatedClock clock_{FromUnixSeconds(1795416367)};
  env::SeededRandom random_{7};
  env::MemFileSystem fs_;
  storage::FakeVault vault_;
  storage::FakeVault denied_;
  std::unique_ptr<meta::MetadataStore> store_;
  std::unique_ptr<storage::ServiceKeys> keys_;
  std::unique_ptr<AccountRegistry> reg_;
};

TEST_F(AccountRegistryTest, NamesAreThreeToTwentyFourLowerCaseLettersAndDigits) {
  EXPECT_TRUE(ValidAccountName("abc"));
  EXPECT_TRUE(ValidAccountName("a1b2c3d4e5f6g7h8i9j0k1l2"));
  EXPECT_FALSE(ValidAccountName("ab"));
  EXPECT_FALSE(ValidAccountName("a1b2c3d4e5f6g7h8i9j0k1l2m"));
  EXPECT_FALSE(ValidAccountName("Abc"));
  EXPECT_FALSE(ValidAccountName("ab-c"));
}

TEST_F(AccountRegistryTest, DocumentsAreSealedAndNamesHashed) {
  Open();
  ASSERT_THAT(reg_->Configure(Spec(false)), IsOk());
  ASSERT_THAT(reg_->PutDoc("acct1", "sa-blob", {"marker-container", "marker-blob"}, "marker-content"), IsOk());
  auto got = reg_->GetDoc("acct1", "sa-blob", {"marker-container", "marker-blob"});
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(**got, "marker-content");
  auto listed = reg_->ListDocs("acct1", "sa-blob", {"marker-container"});
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(*listed, std::vector<std::string>{"marker-content"});
  EXPECT_EQ(AllBodies().find("marker"), std::string::npos) << AllBodies();
  auto obj = reg_->PutData("acct1", AsBytes("marker-data"));
  ASSERT_THAT(obj, IsOk());
  auto raw = fs_.ReadFile("/blobs/" + *obj);
  ASSERT_THAT(raw, IsOk());
  EXPECT_EQ(raw->find("marker"), std::string::npos);
  auto data = reg_->GetData("acct1", *obj);
  ASSERT_THAT(data, IsOk());
  EXPECT_EQ(std::string(data->begin(), data->end()), "marker-data");
}

TEST_F(AccountRegistryTest, InfrastructureEncryptionSealsTwiceAndSurvivesAReopen) {
  Open();
  AccountSpec plain = Spec(false);
  ASSERT_THAT(reg_->Configure(plain), IsOk());
  ASSERT_THAT(reg_->PutDoc("acct1", "sa-blob", {"c", "b"}, "same"), IsOk());
  size_t single = store_->List("sa-blob", "acct1/")->front().body.size();
  AccountSpec twice = Spec(false);
  twice.name = "acct2";
  twice.infrastructure_encryption = true;
  ASSERT_THAT(reg_->Configure(twice), IsOk());
  ASSERT_THAT(reg_->PutDoc("acct2", "sa-blob", {"c", "b"}, "same"), IsOk());
  auto docs = *store_->List("sa-blob", "acct2/");
  ASSERT_EQ(docs.size(), 1u);
  // The second layer's header and tag: 40 bytes more, about 56 in base64.
  EXPECT_GT(docs[0].body.size(), single + 40);
  auto data = reg_->PutData("acct2", AsBytes("twice-sealed"));
  ASSERT_THAT(data, IsOk());
  Open();
  EXPECT_EQ(**reg_->GetDoc("acct2", "sa-blob", {"c", "b"}), "same");
  auto back = reg_->GetData("acct2", *data);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(std::string(back->begin(), back->end()), "twice-sealed");
  // Reconfiguring (a PATCH) keeps the create-time choice.
  twice.infrastructure_encryption = false;
  ASSERT_THAT(reg_->Configure(twice), IsOk());
  Open();
  EXPECT_EQ(**reg_->GetDoc("acct2", "sa-blob", {"c", "b"}), "same");
}

TEST_F(AccountRegistryTest, KeysAndDocumentsSurviveAReopen) {
  Open();
  ASSERT_THAT(reg_->Configure(Spec(true)), IsOk());
  ASSERT_THAT(reg_->PutDoc("acct1", "sa-entity", {"t", "pk", "rk"}, "{}"), IsOk());
  auto before = reg_->Keys("acct1");
  ASSERT_THAT(before, IsOk());
  Open();
  auto after = reg_->Keys("acct1");
  ASSERT_THAT(after, IsOk());
  EXPECT_TRUE(ConstantTimeEquals(before->key1.span(), after->key1.span()));
  EXPECT_EQ(reg_->KeyStateName("acct1"), "Healthy");
  EXPECT_THAT(reg_->GetDoc("acct1", "sa-entity", {"t", "pk", "rk"}), IsOk());
  EXPECT_EQ(reg_->CurrentKid("acct1"), vault_.Kid("v1"));
}

TEST_F(AccountRegistryTest, RevokedKeyFailsWithinOneIntervalAndComesBack) {
  Open();
  ASSERT_THAT(reg_->Configure(Spec(true)), IsOk());
  ASSERT_THAT(reg_->PutDoc("acct1", "sa-blob", {"c", "b"}, "x"), IsOk());
  vault_.disabled.insert("v1");
  clock_.Advance(seconds(10));
  EXPECT_THAT(reg_->GetDoc("acct1", "sa-blob", {"c", "b"}),
              StatusIs(StatusCode::kPermissionDenied, "KeyVaultEncryptionKeyNotFound"));
  EXPECT_THAT(reg_->Aek("acct1"), StatusIs(StatusCode::kPermissionDenied, "KeyVaultEncryptionKeyNotFound"));
  vault_.disabled.clear();
  clock_.Advance(seconds(10));
  EXPECT_THAT(reg_->GetDoc("acct1", "sa-blob", {"c", "b"}), IsOk());
}

TEST_F(AccountRegistryTest, KeyEventsNameConfigureRotateRevokeAndRestore) {
  Open();
  std::vector<AccountRegistry::KeyEvent> events;
  reg_->set_on_key_event([&](const AccountRegistry::KeyEvent& e) { events.push_back(e); });
  ASSERT_THAT(reg_->Configure(Spec(true)), IsOk());
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, "configure");
  EXPECT_EQ(events[0].resource_id, Spec(true).resource_id);
  EXPECT_EQ(events[0].principal_id, "mi-1");
  EXPECT_EQ(events[0].kid, vault_.Kid("v1"));
  std::string v2 = vault_.Rotate();
  clock_.Advance(seconds(10));
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[1].kind, "rotate");
  EXPECT_EQ(events[1].kid, vault_.Kid(v2));
  EXPECT_NE(events[1].reason.find(vault_.Kid("v1")), std::string::npos) << events[1].reason;
  vault_.disabled.insert(v2);
  clock_.Advance(seconds(10));
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[2].kind, "revoke");
  EXPECT_FALSE(events[2].reason.empty());
  vault_.disabled.clear();
  clock_.Advance(seconds(10));
  ASSERT_EQ(events.size(), 4u);
  EXPECT_EQ(events[3].kind, "restore");
  // A key under the MMK has no key events.
  ASSERT_THAT(reg_->Configure(Spec(false)), IsOk());
  EXPECT_EQ(events.size(), 4u);
}

TEST_F(AccountRegistryTest, AKeyTheIdentityCannotUseIsRefused) {
  Open();
  denied_.access_removed = true;
  EXPECT_THAT(reg_->Configure(Spec(true, "other")),
              StatusIs(StatusCode::kInvalidArgument, "KeyVaultAuthenticationFailure"));
  EXPECT_FALSE(reg_->Owner("acct1").has_value());
}

TEST_F(AccountRegistryTest, MovingUnderACustomerKeyKeepsTheDataReadable) {
  Open();
  ASSERT_THAT(reg_->Configure(Spec(false)), IsOk());
  ASSERT_THAT(reg_->PutDoc("acct1", "sa-blob", {"c", "b"}, "kept"), IsOk());
  ASSERT_THAT(reg_->Configure(Spec(true)), IsOk());
  EXPECT_EQ(reg_->CurrentKid("acct1"), vault_.Kid("v1"));
  auto got = reg_->GetDoc("acct1", "sa-blob", {"c", "b"});
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(**got, "kept");
  Open();
  EXPECT_EQ(**reg_->GetDoc("acct1", "sa-blob", {"c", "b"}), "kept");
  ASSERT_THAT(reg_->Configure(Spec(false)), IsOk());
  EXPECT_EQ(**reg_->GetDoc("acct1", "sa-blob", {"c", "b"}), "kept");
}

TEST_F(AccountRegistryTest, RegenerateChangesOneKeyAndRemoveForgetsTheAccount) {
  Open();
  ASSERT_THAT(reg_->Configure(Spec(false)), IsOk());
  auto before = *reg_->Keys("acct1");
  ASSERT_THAT(reg_->RegenerateKey("acct1", 2), IsOk());
  auto after = *reg_->Keys("acct1");
  EXPECT_TRUE(ConstantTimeEquals(before.key1.span(), after.key1.span()));
  EXPECT_FALSE(ConstantTimeEquals(before.key2.span(), after.key2.span()));
  ASSERT_THAT(reg_->PutDoc("acct1", "sa-blob", {"c", "b"}, "x"), IsOk());
  ASSERT_THAT(reg_->Remove("acct1"), IsOk());
  EXPECT_FALSE(reg_->Owner("acct1").has_value());
  auto left = store_->List("sa-blob", "");
  ASSERT_THAT(left, IsOk());
  EXPECT_TRUE(left->empty());
}

}  // namespace
}  // namespace cmk::storage_account
