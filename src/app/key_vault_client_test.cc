// The KeyVaultClient contract, run against both implementations on a real instance: in process
// (acting as a principal) and over HTTPS (challenge, token, Key Vault REST).
#include "keyvault/key_vault_client.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "app/instance.h"
#include "base/encoding.h"
#include "base/testing.h"
#include "server/http_key_vault_client.h"

namespace cmk::app {
namespace {

using testing::IsOk;
using testing::StatusIs;

class KeyVaultClientTest : public ::testing::TestWithParam<bool> {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(::testing::TempDir() + "/kvclient_" + env::SecureRandom().NewGuid());
    ServeOptions o;
    o.data_dir = *dir_;
    o.port = 0;
    o.listen = {"127.0.0.1"};
    o.write_client_config = false;
    o.pkcs11_module = "";
    instance_ = std::move(*Instance::Start(o)).release();
  }
  static void TearDownTestSuite() {
    delete instance_;
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }
  void SetUp() override {
    auto* dir = instance_->directory_for_test();
    principal_ = std::move(*dir->CreateServicePrincipal(instance_->info().tenant_id, "storage")).principal;
    name_ = "v" + HexEncode(std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(principal_.object_id.data()), 6));
    keyvault::Vault v;
    v.name = name_;
    v.subscription_id = instance_->info().subscription_id;
    v.resource_group = "cmklogs";
    v.resource_id = "/subscriptions/" + v.subscription_id + "/resourceGroups/cmklogs/providers/Microsoft.KeyVault/vaults/" + name_;
    v.location = "eastus";
    v.tenant_id = instance_->info().tenant_id;
    v.purge_protection = true;
    keyvault::AccessPolicy p;
    p.tenant_id = v.tenant_id;
    p.object_id = principal_.object_id;
    p.keys = {"get", "wrapkey", "unwrapkey", "create", "update"};
    v.access_policies = {p};
    auto* kv = instance_->keyvault_for_test();
    ASSERT_THAT(kv->PutVault(v, false), IsOk());
    uri_ = kv->VaultUri(v);
    keyvault::KvRequest r{"POST", "/keys/kek/create", {{"api-version", "7.4"}}, R"({"kty":"RSA","key_size":2048})",
                          principal_, name_, keyvault::VaultKind::kVault};
    ASSERT_EQ(kv->Handle(r).status, 200);
    if (GetParam()) {
      server::HttpsClientOptions opts;
      opts.ca_cert_path = instance_->ca_cert_path();
      opts.connect_address = "127.0.0.1";
      auto* tokens = instance_->tokens_for_test();
      identity::Principal who = principal_;
      client_ = std::make_unique<server::HttpKeyVaultClient>(
          [tokens, who](const std::string& resource, const std::string&) -> Result<std::string> {
            ASSIGN_OR_RETURN(auto t, tokens->Issue(who, resource));
            return t.token;
          },
          opts);
    } else {
      client_ = std::make_unique<keyvault::InProcessKeyVaultClient>(kv, principal_);
    }
  }
  keyvault::KvResponse Patch(const std::string& path, const std::string& body) {
    keyvault::KvRequest r{"PATCH", path, {{"api-version", "7.4"}}, body, principal_, name_, keyvault::VaultKind::kVault};
    return instance_->keyvault_for_test()->Handle(r);
  }

  static std::string* dir_;
  static Instance* instance_;
  identity::Principal principal_;
  std::string name_, uri_;
  std::unique_ptr<keyvault::KeyVaultClient> client_;
};

std::string* KeyVaultClientTest::dir_ = nullptr;
Instance* KeyVaultClientTest::instance_ = nullptr;

TEST_P(KeyVaultClientTest, GetKeyReturnsThePublicKeyAndVersion) {
  auto info = client_->GetKey({uri_, "kek", ""});
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->kty, "RSA");
  EXPECT_EQ(info->n.size(), 256u);
  auto ref = keyvault::KeyRefFromKid(info->kid);
  ASSERT_THAT(ref, IsOk());
  EXPECT_EQ(ref->name, "kek");
  EXPECT_EQ(ref->version.size(), 32u);
}

TEST_P(KeyVaultClientTest, WrapThenUnwrapRoundTrips) {
  std::vector<uint8_t> aek(32);
  env::SecureRandom().Fill(aek);
  auto wrapped = client_->WrapKey({uri_, "kek", ""}, "RSA-OAEP-256", aek);
  ASSERT_THAT(wrapped, IsOk());
  auto ref = *keyvault::KeyRefFromKid(wrapped->kid);
  auto unwrapped = client_->UnwrapKey({uri_, "kek", ref.version}, "RSA-OAEP-256", wrapped->value);
  ASSERT_THAT(unwrapped, IsOk());
  EXPECT_TRUE(ConstantTimeEquals(unwrapped->span(), aek));
}

TEST_P(KeyVaultClientTest, DisabledVersionRefusesUnwrapWithKeyDisabled) {
  std::vector<uint8_t> aek(32, 3);
  auto wrapped = *client_->WrapKey({uri_, "kek", ""}, "RSA-OAEP-256", aek);
  auto ref = *keyvault::KeyRefFromKid(wrapped.kid);
  ASSERT_EQ(Patch("/keys/kek/" + ref.version, R"({"attributes":{"enabled":false}})").status, 200);
  auto denied = client_->UnwrapKey({uri_, "kek", ref.version}, "RSA-OAEP-256", wrapped.value);
  EXPECT_THAT(denied, StatusIs(StatusCode::kPermissionDenied, "Forbidden"));
  EXPECT_EQ(denied.status().inner_code(), "KeyDisabled");
  ASSERT_EQ(Patch("/keys/kek/" + ref.version, R"({"attributes":{"enabled":true}})").status, 200);
  EXPECT_THAT(client_->UnwrapKey({uri_, "kek", ref.version}, "RSA-OAEP-256", wrapped.value), IsOk());
}

TEST_P(KeyVaultClientTest, RemovedAccessIsPermissionDenied) {
  std::vector<uint8_t> aek(32, 4);
  auto wrapped = *client_->WrapKey({uri_, "kek", ""}, "RSA-OAEP-256", aek);
  keyvault::AccessPolicy p;
  p.tenant_id = instance_->info().tenant_id;
  p.object_id = principal_.object_id;
  ASSERT_THAT(instance_->keyvault_for_test()->UpdateAccessPolicies(name_, "remove", {p}), IsOk());
  auto denied = client_->UnwrapKey({uri_, "kek", ""}, "RSA-OAEP-256", wrapped.value);
  EXPECT_THAT(denied, StatusIs(StatusCode::kPermissionDenied));
  EXPECT_EQ(denied.status().inner_code(), "AccessDenied");
}

TEST_P(KeyVaultClientTest, UnknownKeyIsNotFound) {
  EXPECT_THAT(client_->GetKey({uri_, "missing", ""}), StatusIs(StatusCode::kNotFound, "KeyNotFound"));
  EXPECT_THAT(client_->UnwrapKey({uri_, "missing", ""}, "RSA-OAEP-256", std::vector<uint8_t>(256, 1)),
              StatusIs(StatusCode::kNotFound));
}

INSTANTIATE_TEST_SUITE_P(BothTransports, KeyVaultClientTest, ::testing::Values(false, true),
                         [](const auto& info) { return info.param ? "Http" : "InProcess"; });

TEST(KeyRefTest, ParsesKidsAndVaultUris) {
  auto ref = keyvault::KeyRefFromKid("https://v1.vault.localhost:8443/keys/k/abc");
  ASSERT_THAT(ref, IsOk());
  EXPECT_EQ(ref->vault_uri, "https://v1.vault.localhost:8443");
  EXPECT_EQ(ref->version, "abc");
  EXPECT_EQ(*keyvault::VaultNameFromUri("https://MyVault.vault.localhost:8443/"), "myvault");
  EXPECT_THAT(keyvault::VaultNameFromUri("http://x.vault.localhost"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(keyvault::KeyRefFromKid("https://v/secrets/x"), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace cmk::app
