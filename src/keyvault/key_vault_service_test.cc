#include "keyvault/key_vault_service.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/encoding.h"
#include "base/json.h"
#include "base/testing.h"

namespace cmk::keyvault {
namespace {

namespace bj = boost::json;
using testing::IsOk;
using testing::StatusIs;

class KeyVaultServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/kv_" + env::SecureRandom().NewGuid();
    std::filesystem::create_directories(dir_);
    store_ = std::move(*meta::MetadataStore::Open(dir_ + "/meta.db"));
    rbac_ = std::move(*identity::Rbac::Create(store_.get(), env()));
    master_ = random_.NewSecret(32);
    audit_ = std::move(*AuditLog::Open(&fs_, dir_ + "/audit.jsonl"));
    Reopen();
    owner_ = {"owner-oid", "owner-app", tenant_, "owner", identity::PrincipalType::kServicePrincipal};
    other_ = {"other-oid", "other-app", tenant_, "other", identity::PrincipalType::kServicePrincipal};
  }
  void TearDown() override {
    kv_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Reopen() {
    kv_.reset();
    KeyVaultOptions o;
    o.port = 8443;
    kv_ = std::move(*KeyVaultService::Create(env(), store_.get(), rbac_.get(), master_, o, nullptr, audit_.get()));
  }
  env::Env env() { return env::Env{&clock_, &random_, &fs_}; }
  Vault MakeVault(const std::string& name, bool rbac = false, bool purge_protection = true) {
    Vault v;
    v.name = name;
    v.subscription_id = "sub";
    v.resource_group = "rg";
    v.resource_id = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/" + name;
    v.location = "eastus";
    v.tenant_id = tenant_;
    v.purge_protection = purge_protection;
    v.rbac = rbac;
    AccessPolicy p;
    p.tenant_id = tenant_;
    p.object_id = "owner-oid";
    p.keys = {"all"};
    v.access_policies.push_back(p);
    return v;
  }
  KvResponse Call(const identity::Principal& who, const std::string& vault, const std::string& method,
                  const std::string& path, const std::string& body = "") {
    KvRequest r;
    r.method = method;
    r.path = path;
    r.query = {{"api-version", "7.4"}};
    r.body = body;
    r.caller = who;
    r.vault_name = vault;
    return kv_->Handle(r);
  }
  static std::string Version(const KvResponse& r) {
    std::string kid(r.body->as_object().at("key").as_object().at("kid").as_string());
    return kid.substr(kid.rfind('/') + 1);
  }
  static std::string Inner(const KvResponse& r) {
    auto& e = r.body->as_object().at("error").as_object();
    return e.contains("innererror") ? std::string(e.at("innererror").as_object().at("code").as_string()) : "";
  }

  std::string dir_;
  std::string tenant_ = "11111111-1111-1111-1111-111111111111";
  env::SimulatedClock clock_{FromUnixSeconds(1795416367)};
  env::SeededRandom random_{3};
  env::PosixFileSystem fs_;
  std::unique_ptr<meta::MetadataStore> store_;
  std::unique_ptr<identity::Rbac> rbac_;
  std::unique_ptr<AuditLog> audit_;
  SecretBytes master_;
  std::unique_ptr<KeyVaultService> kv_;
  identity::Principal owner_, other_;
};

TEST_F(KeyVaultServiceTest, CreateWrapUnwrapRotateAndDisable) {
  ASSERT_THAT(kv_->PutVault(MakeVault("vault1"), false), IsOk());
  auto created = Call(owner_, "vault1", "POST", "/keys/cmk/create", R"({"kty":"RSA","key_size":2048})");
  ASSERT_EQ(created.status, 200) << json::Serialize(*created.body);
  auto& key = created.body->as_object().at("key").as_object();
  EXPECT_EQ(std::string(key.at("kid").as_string()).rfind("https://vault1.vault.localhost:8443/keys/cmk/", 0), 0u);
  EXPECT_EQ(created.body->as_object().at("attributes").as_object().at("recoveryLevel").as_string(), "Recoverable");
  std::string v1 = Version(created);
  EXPECT_EQ(v1.size(), 32u);
  std::vector<uint8_t> aek(32, 0x42);
  auto wrapped = kv_->WrapKey(owner_, "vault1", "cmk", v1, "RSA-OAEP-256", aek);
  ASSERT_THAT(wrapped, IsOk());
  auto unwrapped = kv_->UnwrapKey(owner_, "vault1", "cmk", v1, "RSA-OAEP-256", wrapped->value);
  ASSERT_THAT(unwrapped, IsOk());
  EXPECT_EQ(unwrapped->value, aek);
  // Rotation: the new version unwraps its own wraps, the old one still unwraps old wraps.
  auto rotated = Call(owner_, "vault1", "POST", "/keys/cmk/rotate");
  ASSERT_EQ(rotated.status, 200);
  std::string v2 = Version(rotated);
  EXPECT_NE(v1, v2);
  auto w2 = *kv_->WrapKey(owner_, "vault1", "cmk", "", "RSA-OAEP-256", aek);
  EXPECT_NE(w2.kid.find(v2), std::string::npos);
  EXPECT_THAT(kv_->UnwrapKey(owner_, "vault1", "cmk", v2, "RSA-OAEP-256", w2.value), IsOk());
  EXPECT_THAT(kv_->UnwrapKey(owner_, "vault1", "cmk", v1, "RSA-OAEP-256", wrapped->value), IsOk());
  // Disabling the old version stops its unwraps with 403 KeyDisabled.
  auto disabled = Call(owner_, "vault1", "PATCH", "/keys/cmk/" + v1, R"({"attributes":{"enabled":false}})");
  ASSERT_EQ(disabled.status, 200);
  auto denied = kv_->UnwrapKey(owner_, "vault1", "cmk", v1, "RSA-OAEP-256", wrapped->value);
  EXPECT_THAT(denied, StatusIs(StatusCode::kPermissionDenied, "Forbidden"));
  EXPECT_EQ(denied.status().inner_code(), "KeyDisabled");
  auto http_denied = Call(owner_, "vault1", "POST", "/keys/cmk/" + v1 + "/unwrapkey",
                          R"({"alg":"RSA-OAEP-256","value":")" + Base64UrlEncode(wrapped->value) + "\"}");
  EXPECT_EQ(http_denied.status, 403);
  EXPECT_EQ(Inner(http_denied), "KeyDisabled");
  ASSERT_EQ(Call(owner_, "vault1", "PATCH", "/keys/cmk/" + v1, R"({"attributes":{"enabled":true}})").status, 200);
  EXPECT_THAT(kv_->UnwrapKey(owner_, "vault1", "cmk", v1, "RSA-OAEP-256", wrapped->value), IsOk());
  EXPECT_EQ(Call(owner_, "vault1", "GET", "/keys/cmk/versions").body->as_object().at("value").as_array().size(), 2u);
}

TEST_F(KeyVaultServiceTest, AccessPoliciesAndRbacDecide) {
  ASSERT_THAT(kv_->PutVault(MakeVault("vault1"), false), IsOk());
  ASSERT_EQ(Call(owner_, "vault1", "POST", "/keys/k/create", R"({"kty":"RSA"})").status, 200);
  auto w = *kv_->WrapKey(owner_, "vault1", "k", "", "RSA-OAEP", std::vector<uint8_t>(32, 1));
  auto denied = kv_->UnwrapKey(other_, "vault1", "k", "", "RSA-OAEP", w.value);
  EXPECT_THAT(denied, StatusIs(StatusCode::kPermissionDenied));
  EXPECT_EQ(denied.status().inner_code(), "AccessDenied");
  AccessPolicy p;
  p.tenant_id = tenant_;
  p.object_id = "other-oid";
  p.keys = {"get", "wrapkey", "unwrapkey"};
  ASSERT_THAT(kv_->UpdateAccessPolicies("vault1", "add", {p}), IsOk());
  EXPECT_THAT(kv_->UnwrapKey(other_, "vault1", "k", "", "RSA-OAEP", w.value), IsOk());
  EXPECT_EQ(Call(other_, "vault1", "DELETE", "/keys/k").status, 403);
  ASSERT_THAT(kv_->UpdateAccessPolicies("vault1", "remove", {p}), IsOk());
  EXPECT_THAT(kv_->UnwrapKey(other_, "vault1", "k", "", "RSA-OAEP", w.value), StatusIs(StatusCode::kPermissionDenied));

  // An RBAC vault ignores access policies and asks Azure RBAC.
  ASSERT_THAT(kv_->PutVault(MakeVault("vault2", true), false), IsOk());
  ASSERT_THAT(rbac_->Assign({"a1", "/subscriptions/sub", "8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "owner-oid"}), IsOk());
  auto owner_denied = Call(owner_, "vault2", "POST", "/keys/k/create", R"({"kty":"RSA"})");
  EXPECT_EQ(owner_denied.status, 403);  // Owner has no data actions
  EXPECT_EQ(Inner(owner_denied), "ForbiddenByRbac");
  ASSERT_THAT(rbac_->Assign({"a2", "/subscriptions/sub", "14b46e9e-c2b7-41b4-b07b-48a6ebf60603", "owner-oid"}), IsOk());
  ASSERT_EQ(Call(owner_, "vault2", "POST", "/keys/k/create", R"({"kty":"RSA"})").status, 200);
  auto w2 = *kv_->WrapKey(owner_, "vault2", "k", "", "RSA-OAEP-256", std::vector<uint8_t>(32, 2));
  EXPECT_THAT(kv_->UnwrapKey(other_, "vault2", "k", "", "RSA-OAEP-256", w2.value), StatusIs(StatusCode::kPermissionDenied));
  ASSERT_THAT(rbac_->Assign({"a3", MakeVault("vault2").resource_id, "e147488a-f6f5-4113-8e2d-b22465e65bf6", "other-oid"}), IsOk());
  EXPECT_THAT(kv_->UnwrapKey(other_, "vault2", "k", "", "RSA-OAEP-256", w2.value), IsOk());
}

TEST_F(KeyVaultServiceTest, SoftDeleteRecoverAndPurgeProtection) {
  ASSERT_THAT(kv_->PutVault(MakeVault("vault1"), false), IsOk());
  ASSERT_EQ(Call(owner_, "vault1", "POST", "/keys/k/create", R"({"kty":"RSA"})").status, 200);
  auto del = Call(owner_, "vault1", "DELETE", "/keys/k");
  ASSERT_EQ(del.status, 200);
  auto& b = del.body->as_object();
  EXPECT_EQ(b.at("scheduledPurgeDate").as_int64() - b.at("deletedDate").as_int64(), 90 * 86400);
  EXPECT_EQ(Call(owner_, "vault1", "GET", "/keys/k/").status, 404);
  EXPECT_EQ(Call(owner_, "vault1", "GET", "/deletedkeys/k").status, 200);
  EXPECT_EQ(Call(owner_, "vault1", "POST", "/keys/k/create", R"({"kty":"RSA"})").status, 409);
  auto purge = Call(owner_, "vault1", "DELETE", "/deletedkeys/k");
  EXPECT_EQ(purge.status, 403);
  ASSERT_EQ(Call(owner_, "vault1", "POST", "/deletedkeys/k/recover").status, 200);
  EXPECT_EQ(Call(owner_, "vault1", "GET", "/keys/k").status, 200);
  // Without purge protection a deleted key can be purged, and its name reused.
  ASSERT_THAT(kv_->PutVault(MakeVault("vault2", false, false), false), IsOk());
  ASSERT_EQ(Call(owner_, "vault2", "POST", "/keys/k/create", R"({"kty":"RSA"})").status, 200);
  ASSERT_EQ(Call(owner_, "vault2", "DELETE", "/keys/k").status, 200);
  EXPECT_EQ(Call(owner_, "vault2", "DELETE", "/deletedkeys/k").status, 204);
  EXPECT_EQ(Call(owner_, "vault2", "GET", "/deletedkeys/k").status, 404);
  EXPECT_EQ(Call(owner_, "vault2", "POST", "/keys/k/create", R"({"kty":"RSA"})").status, 200);
}

TEST_F(KeyVaultServiceTest, ScheduledPurgeAndAutoRotationRunOnTheClock) {
  ASSERT_THAT(kv_->PutVault(MakeVault("vault1"), false), IsOk());
  kv_->StartBackground();
  ASSERT_EQ(Call(owner_, "vault1", "POST", "/keys/rot/create", R"({"kty":"RSA"})").status, 200);
  auto policy = Call(owner_, "vault1", "PUT", "/keys/rot/rotationpolicy",
                     R"({"lifetimeActions":[{"trigger":{"timeAfterCreate":"P30D"},"action":{"type":"Rotate"}}],"attributes":{"expiryTime":"P90D"}})");
  ASSERT_EQ(policy.status, 200) << json::Serialize(*policy.body);
  EXPECT_EQ(Call(owner_, "vault1", "PUT", "/keys/rot/rotationpolicy",
                 R"({"lifetimeActions":[{"trigger":{"timeAfterCreate":"P1D"},"action":{"type":"Rotate"}}]})").status, 400);
  clock_.Advance(std::chrono::hours(24 * 29));
  EXPECT_EQ(Call(owner_, "vault1", "GET", "/keys/rot/versions").body->as_object().at("value").as_array().size(), 1u);
  clock_.Advance(std::chrono::hours(24 * 2));
  auto versions = Call(owner_, "vault1", "GET", "/keys/rot/versions");
  ASSERT_EQ(versions.body->as_object().at("value").as_array().size(), 2u);
  auto latest = Call(owner_, "vault1", "GET", "/keys/rot");
  EXPECT_TRUE(latest.body->as_object().at("attributes").as_object().contains("exp"));

  ASSERT_EQ(Call(owner_, "vault1", "POST", "/keys/gone/create", R"({"kty":"RSA"})").status, 200);
  ASSERT_EQ(Call(owner_, "vault1", "DELETE", "/keys/gone").status, 200);
  clock_.Advance(std::chrono::hours(24 * 91));
  EXPECT_EQ(Call(owner_, "vault1", "GET", "/deletedkeys/gone").status, 404);
}

TEST_F(KeyVaultServiceTest, StatePersistsSealedAcrossRestart) {
  ASSERT_THAT(kv_->PutVault(MakeVault("vault1"), false), IsOk());
  ASSERT_EQ(Call(owner_, "vault1", "POST", "/keys/k/create", R"({"kty":"RSA","key_size":3072})").status, 200);
  auto w = *kv_->WrapKey(owner_, "vault1", "k", "", "RSA-OAEP-256", std::vector<uint8_t>(32, 9));
  Reopen();
  auto u = kv_->UnwrapKey(owner_, "vault1", "k", "", "RSA-OAEP-256", w.value);
  ASSERT_THAT(u, IsOk());
  EXPECT_EQ(u->value, std::vector<uint8_t>(32, 9));
  auto docs = store_->List("kv-key", "");
  ASSERT_THAT(docs, IsOk());
  for (const auto& d : *docs) {
    EXPECT_EQ(d.body.find("PRIVATE KEY"), std::string::npos);
  }
}

TEST_F(KeyVaultServiceTest, BadInputGetsKeyVaultErrors) {
  ASSERT_THAT(kv_->PutVault(MakeVault("vault1"), false), IsOk());
  EXPECT_EQ(Call(owner_, "vault1", "POST", "/keys/k/create", R"({"kty":"EC"})").status, 400);
  EXPECT_EQ(Call(owner_, "vault1", "POST", "/keys/k/create", R"({"kty":"RSA","key_size":1024})").status, 400);
  EXPECT_EQ(Call(owner_, "vault1", "POST", "/keys/k/create", R"({"kty":)").status, 400);
  EXPECT_EQ(Call(owner_, "vault1", "POST", "/keys/bad_name/create", R"({"kty":"RSA"})").status, 400);
  auto missing = Call(owner_, "vault1", "GET", "/keys/none");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(missing.body->as_object().at("error").as_object().at("code").as_string(), "KeyNotFound");
  ASSERT_EQ(Call(owner_, "vault1", "POST", "/keys/k/create", R"({"kty":"RSA"})").status, 200);
  EXPECT_EQ(Call(owner_, "vault1", "POST", "/keys/k/unwrapkey", R"({"alg":"A256KW","value":"AAAA"})").status, 400);
  EXPECT_EQ(Call(owner_, "vault1", "POST", "/keys/k/unwrapkey", R"({"alg":"RSA-OAEP","value":"!!"})").status, 400);
  EXPECT_EQ(Call(owner_, "nosuchvault", "GET", "/keys").status, 404);
  KvRequest r;
  r.method = "GET";
  r.path = "/keys";
  r.caller = owner_;
  r.vault_name = "vault1";
  EXPECT_EQ(kv_->Handle(r).status, 400);  // no api-version
  EXPECT_THAT(kv_->PutVault(MakeVault("ab"), false), StatusIs(StatusCode::kInvalidArgument));
  Vault dup = MakeVault("vault1");
  dup.resource_id = "/subscriptions/sub/resourceGroups/other/providers/Microsoft.KeyVault/vaults/vault1";
  EXPECT_THAT(kv_->PutVault(dup, false), StatusIs(StatusCode::kConflict, "VaultAlreadyExists"));
  Vault off = MakeVault("vault1");
  off.purge_protection = false;
  EXPECT_THAT(kv_->PutVault(off, false), StatusIs(StatusCode::kInvalidArgument));
}

TEST_F(KeyVaultServiceTest, AuditRecordsOperationsWithoutSecrets) {
  ASSERT_THAT(kv_->PutVault(MakeVault("vault1"), false), IsOk());
  ASSERT_EQ(Call(owner_, "vault1", "POST", "/keys/k/create", R"({"kty":"RSA"})").status, 200);
  std::vector<uint8_t> secret(32, 0x5a);
  auto w = *kv_->WrapKey(owner_, "vault1", "k", "", "RSA-OAEP-256", secret);
  ASSERT_THAT(kv_->UnwrapKey(owner_, "vault1", "k", "", "RSA-OAEP-256", w.value), IsOk());
  ASSERT_THAT(audit_->Flush(), IsOk());
  auto lines = *audit_->Read("vault1", 100);
  ASSERT_GE(lines.size(), 2u);
  EXPECT_NE(lines.back().find("\"operation\":\"unwrapKey\""), std::string::npos);
  EXPECT_NE(lines.back().find("owner-oid"), std::string::npos);
  for (const auto& l : lines) EXPECT_EQ(l.find(Base64UrlEncode(secret)), std::string::npos);
}

}  // namespace
}  // namespace cmk::keyvault
