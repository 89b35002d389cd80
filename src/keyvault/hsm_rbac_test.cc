// Managed HSM local RBAC, activation by security domain download, and restore by upload.
#include "keyvault/hsm_rbac.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/encoding.h"
#include "base/json.h"
#include "base/testing.h"
#include "keyvault/key_vault_service.h"
#include "keyvault/security_domain.h"

namespace cmk::keyvault {
namespace {

namespace bj = boost::json;
using testing::IsOk;
using testing::StatusIs;

TEST(HsmRbacTest, ScopesAndBuiltInRolesDecide) {
  HsmLocalState st;
  st.assignments.push_back({"a1", "/keys", kHsmCryptoServiceEncryptionUserRole, "svc"});
  st.assignments.push_back({"a2", "/keys/only", kHsmCryptoUserRole, "narrow"});
  auto wrap = HsmDataAction("keys/wrap/action");
  EXPECT_EQ(wrap, "Microsoft.KeyVault/managedHsm/keys/wrap/action");
  EXPECT_EQ(HsmDataAction("keys/create/action"), "Microsoft.KeyVault/managedHsm/keys/create");
  EXPECT_TRUE(HsmAllows(st, "svc", wrap, "/keys/k1"));
  EXPECT_TRUE(HsmAllows(st, "SVC", HsmDataAction("keys/unwrap/action"), "/keys/K1"));
  EXPECT_FALSE(HsmAllows(st, "svc", HsmDataAction("keys/create/action"), "/keys/k1"));
  EXPECT_FALSE(HsmAllows(st, "svc", "Microsoft.KeyVault/managedHsm/roleAssignments/write/action", "/"));
  EXPECT_TRUE(HsmAllows(st, "narrow", HsmDataAction("keys/create/action"), "/keys/only"));
  EXPECT_FALSE(HsmAllows(st, "narrow", HsmDataAction("keys/create/action"), "/keys/other"));
  EXPECT_FALSE(HsmAllows(st, "narrow", HsmDataAction("keys/create/action"), "/keys/only2"));
  EXPECT_FALSE(HsmAllows(st, "nobody", wrap, "/keys/k1"));
  // A custom role with a wildcard and a notDataAction.
  auto role = HsmRoleDefinitionFromBody(
      *json::ParseObject(R"({"properties":{"roleName":"wrapper","permissions":[{"dataActions":
        ["Microsoft.KeyVault/managedHsm/keys/*"],"notDataActions":["Microsoft.KeyVault/managedHsm/keys/unwrap/action"]}]}})"),
      "0f0f0f0f-0000-4000-8000-000000000001");
  ASSERT_THAT(role, IsOk());
  st.custom_roles.push_back(*role);
  st.assignments.push_back({"a3", "/", role->name, "custom"});
  EXPECT_TRUE(HsmAllows(st, "custom", wrap, "/keys/x"));
  EXPECT_FALSE(HsmAllows(st, "custom", HsmDataAction("keys/unwrap/action"), "/keys/x"));
  // Built-in ids are Azure's.
  EXPECT_EQ(HsmBuiltInRoles().size(), 8u);
  EXPECT_EQ(FindHsmRole(st, "33413926-3206-4cdd-b39a-83574fe37a17")->role_name,
            "Managed HSM Crypto Service Encryption User");
  EXPECT_EQ(FindHsmRole(st, "a290e904-7015-4bba-90c8-60543313cdb4")->role_name, "Managed HSM Administrator");
  // Persistence keeps assignments and custom roles.
  auto back = HsmStateFromJson(HsmStateToJson(st));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->assignments.size(), 3u);
  EXPECT_TRUE(HsmAllows(*back, "custom", wrap, "/keys/x"));
}

TEST(HsmRbacTest, ScopesNormalise) {
  EXPECT_EQ(*NormalizeHsmScope("/"), "/");
  EXPECT_EQ(*NormalizeHsmScope("//"), "/");
  EXPECT_EQ(*NormalizeHsmScope(""), "/");
  EXPECT_EQ(*NormalizeHsmScope("//keys"), "/keys");
  EXPECT_EQ(*NormalizeHsmScope("/Keys/"), "/keys");
  EXPECT_EQ(*NormalizeHsmScope("/keys/cmk1"), "/keys/cmk1");
  EXPECT_THAT(NormalizeHsmScope("/secrets"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(NormalizeHsmScope("/keys/a/b"), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_EQ(RoleGuidOf("Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/ABC"), "abc");
}

constexpr char kA1[] = "00000000-0000-4000-8000-0000000000a1";
constexpr char kA2[] = "00000000-0000-4000-8000-0000000000a2";

class ManagedHsmServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/mhsm_" + env::SecureRandom().NewGuid();
    std::filesystem::create_directories(dir_);
    store_ = std::move(*meta::MetadataStore::Open(dir_ + "/meta.db"));
    rbac_ = std::move(*identity::Rbac::Create(store_.get(), env()));
    master_ = random_.NewSecret(32);
    audit_ = std::move(*AuditLog::Open(&fs_, dir_ + "/audit.jsonl"));
    Reopen();
    admin_ = {"admin-oid", "admin-app", tenant_, "admin", identity::PrincipalType::kServicePrincipal};
    cluster_ = {"cluster-oid", "cluster-app", tenant_, "cluster", identity::PrincipalType::kManagedIdentity};
    for (int i = 0; i < 3; ++i) certs_.push_back(*sd::NewRsaCertificateForTest(2048, "c" + std::to_string(i)));
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
  void CreateHsm(const std::string& name) {
    Vault v;
    v.name = name;
    v.kind = VaultKind::kManagedHsm;
    v.subscription_id = "sub";
    v.resource_group = "rg";
    v.resource_id = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/" + name;
    v.location = "eastus";
    v.tenant_id = tenant_;
    v.purge_protection = true;
    v.initial_admins = {"admin-oid"};
    ASSERT_THAT(kv_->PutVault(v, false), IsOk());
  }
  KvResponse Call(const identity::Principal& who, const std::string& hsm, const std::string& method,
                  const std::string& path, const std::string& body = "") {
    KvRequest r;
    r.method = method;
    r.path = path;
    r.query = {{"api-version", "7.4"}};
    r.body = body;
    r.caller = who;
    r.vault_name = hsm;
    r.kind = VaultKind::kManagedHsm;
    return kv_->Handle(r);
  }
  std::string CertificateSet() {
    bj::array certs;
    for (const auto& c : certs_) certs.emplace_back(bj::object{{"kty", "RSA"}, {"x5c", bj::array{bj::value(Base64Encode(c.der))}}});
    return json::Serialize(bj::object{{"certificates", std::move(certs)}, {"required", 2}});
  }
  std::string Download(const std::string& hsm) {
    auto r = Call(admin_, hsm, "POST", "/securitydomain/download", CertificateSet());
    EXPECT_EQ(r.status, 202) << json::Serialize(*r.body);
    return std::string(r.body->as_object().at("value").as_string());
  }
  void Assign(const std::string& hsm, const std::string& scope, const std::string& role, const std::string& oid,
              const std::string& name) {
    std::string body = R"({"properties":{"roleDefinitionId":"Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/)" +
                       role + R"(","principalId":")" + oid + R"("}})";
    auto r = Call(admin_, hsm, "PUT", "/" + scope + "/providers/Microsoft.Authorization/roleAssignments/" + name, body);
    ASSERT_EQ(r.status, 201) << json::Serialize(*r.body);
  }
  static std::string Inner(const KvResponse& r) {
    auto& e = r.body->as_object().at("error").as_object();
    return e.contains("innererror") ? std::string(e.at("innererror").as_object().at("code").as_string()) : "";
  }

  std::string dir_;
  std::string tenant_ = "11111111-1111-1111-1111-111111111111";
  env::SimulatedClock clock_{FromUnixSeconds(1795416367)};
  env::SeededRandom random_{7};
  env::PosixFileSystem fs_;
  std::unique_ptr<meta::MetadataStore> store_;
  std::unique_ptr<identity::Rbac> rbac_;
  std::unique_ptr<AuditLog> audit_;
  SecretBytes master_;
  std::unique_ptr<KeyVaultService> kv_;
  identity::Principal admin_, cluster_;
  std::vector<sd::TestCertificate> certs_;
};

TEST_F(ManagedHsmServiceTest, RoleChangesAndSecurityDomainOperationsAreAudited) {
  CreateHsm("hsm1");
  Download("hsm1");
  Assign("hsm1", "keys", kHsmCryptoServiceEncryptionUserRole, "cluster-oid", "00000000-0000-4000-8000-0000000000c1");
  ASSERT_EQ(Call(admin_, "hsm1", "DELETE",
                 "/keys/providers/Microsoft.Authorization/roleAssignments/00000000-0000-4000-8000-0000000000c1").status, 200);
  EXPECT_EQ(Call(cluster_, "hsm1", "PUT", "/providers/Microsoft.Authorization/roleAssignments/00000000-0000-4000-8000-0000000000c2",
                 "{}").status, 403);
  ASSERT_THAT(audit_->Flush(), IsOk());
  auto lines = audit_->Read("hsm1", 100);
  ASSERT_THAT(lines, IsOk());
  std::vector<std::string> ops;
  for (const auto& l : *lines) {
    auto o = *json::ParseObject(l);
    ops.push_back(std::string(o.at("operation").as_string()) + ":" + std::to_string(o.at("status").as_int64()));
  }
  EXPECT_EQ(ops, (std::vector<std::string>{"downloadSecurityDomain:202", "createRoleAssignment:201",
                                           "deleteRoleAssignment:200", "createRoleAssignment:403"}));
}

TEST_F(ManagedHsmServiceTest, HsmsFromBeforeSecurityDomainsLoadActiveWithTheirAdministrators) {
  CreateHsm("old");
  // A data directory of an earlier version has no local state for the HSM.
  ASSERT_THAT(store_->Delete("kv-hsm-local", "old").status(), IsOk());
  Reopen();
  EXPECT_EQ(kv_->HsmActivationStatus("old"), "Active");
  auto list = Call(admin_, "old", "GET", "/providers/Microsoft.Authorization/roleAssignments");
  ASSERT_EQ(list.status, 200) << json::Serialize(*list.body);
  EXPECT_EQ(list.body->as_object().at("value").as_array().size(), 1u);
  // Its Administrator assigns roles; keys need one (no HSM backend here: key creation says so).
  Assign("old", "", kHsmCryptoUserRole, "admin-oid", kA1);
  auto created = Call(admin_, "old", "POST", "/keys/k/create", R"({"kty":"RSA-HSM","key_size":2048})");
  EXPECT_EQ(created.status, 400) << json::Serialize(*created.body);
}


TEST_F(ManagedHsmServiceTest, NewHsmRefusesKeysUntilItsSecurityDomainIsDownloaded) {
  CreateHsm("hsm1");
  EXPECT_EQ(kv_->HsmActivationStatus("hsm1"), "NotActivated");
  auto before = Call(admin_, "hsm1", "POST", "/keys/k/create", R"({"kty":"RSA-HSM","key_size":3072})");
  EXPECT_EQ(before.status, 403);
  EXPECT_EQ(Inner(before), "HsmNotActivated");
  // So does local RBAC, while the download status says nothing ran yet.
  EXPECT_EQ(Inner(Call(admin_, "hsm1", "GET", "/providers/Microsoft.Authorization/roleAssignments")), "HsmNotActivated");
  EXPECT_EQ(Call(admin_, "hsm1", "GET", "/securitydomain/download/pending").body->as_object().at("status"), "Failed");
  // Two certificates are not enough; someone not an administrator may not download.
  bj::object two = *json::ParseObject(CertificateSet());
  two["certificates"].as_array().pop_back();
  EXPECT_EQ(Call(admin_, "hsm1", "POST", "/securitydomain/download", json::Serialize(two)).status, 400);
  EXPECT_EQ(Call(cluster_, "hsm1", "POST", "/securitydomain/download", CertificateSet()).status, 403);
  std::string domain = Download("hsm1");
  EXPECT_EQ(kv_->HsmActivationStatus("hsm1"), "Active");
  EXPECT_EQ(Call(admin_, "hsm1", "GET", "/securitydomain/download/pending").body->as_object().at("status"), "Success");
  EXPECT_EQ(Call(admin_, "hsm1", "POST", "/securitydomain/download", CertificateSet()).status, 409);
  // The initial administrator is an Administrator at "/", which grants no key operation.
  auto list = Call(admin_, "hsm1", "GET", "/providers/Microsoft.Authorization/roleAssignments");
  ASSERT_EQ(list.status, 200);
  auto& value = list.body->as_object().at("value").as_array();
  ASSERT_EQ(value.size(), 1u);
  EXPECT_EQ(value[0].as_object().at("properties").as_object().at("roleDefinitionId").as_string(),
            std::string("Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/") + kHsmAdministratorRole);
  auto denied = Call(admin_, "hsm1", "POST", "/keys/k/create", R"({"kty":"RSA-HSM","key_size":3072})");
  EXPECT_EQ(denied.status, 403);
  EXPECT_EQ(Inner(denied), "ForbiddenByRbac");
  Assign("hsm1", "", kHsmCryptoUserRole, "admin-oid", kA1);
  auto created = Call(admin_, "hsm1", "POST", "/keys/k/create", R"({"kty":"RSA-HSM","key_size":3072})");
  ASSERT_EQ(created.status, 200) << json::Serialize(*created.body);
  EXPECT_EQ(created.body->as_object().at("key").as_object().at("kty"), "RSA-HSM");
  // The downloaded domain really holds the HSM's domain key: two of the three private keys
  // recover 32 bytes, and they are what the key is sealed under.
  auto material = sd::RecoverWithPrivateKeys(domain, {&certs_[0].key, &certs_[2].key});
  ASSERT_THAT(material, IsOk());
  EXPECT_EQ(material->size(), 32u);
}

TEST_F(ManagedHsmServiceTest, ClusterIdentityNeedsLocalRoleAndLosesItWhenRemoved) {
  CreateHsm("hsm1");
  Download("hsm1");
  Assign("hsm1", "", kHsmCryptoUserRole, "admin-oid", kA1);
  ASSERT_EQ(Call(admin_, "hsm1", "POST", "/keys/cmk/create", R"({"kty":"RSA","key_size":2048})").status, 200);
  std::vector<uint8_t> aek(32, 9);
  auto wrapped = kv_->WrapKey(admin_, "hsm1", "cmk", "", "RSA-OAEP-256", aek);
  ASSERT_THAT(wrapped, IsOk());
  // An Azure RBAC assignment at the HSM's ARM scope does not reach its data plane.
  identity::RoleAssignment arm;
  arm.name = "00000000-0000-4000-8000-0000000000ff";
  arm.scope = "/subscriptions/sub/resourceGroups/rg/providers/Microsoft.KeyVault/managedHSMs/hsm1";
  arm.role_definition_id = "e147488a-f6f5-4113-8e2d-b22465e65bf6";  // Key Vault Crypto Service Encryption User
  arm.principal_id = "cluster-oid";
  ASSERT_THAT(rbac_->Assign(arm), IsOk());
  auto no = kv_->UnwrapKey(cluster_, "hsm1", "cmk", "", "RSA-OAEP-256", wrapped->value);
  EXPECT_THAT(no, StatusIs(StatusCode::kPermissionDenied, "Forbidden"));
  EXPECT_EQ(no.status().inner_code(), "ForbiddenByRbac");
  // Managed HSM Crypto Service Encryption User at /keys: get, wrap and unwrap, nothing more.
  Assign("hsm1", "keys", kHsmCryptoServiceEncryptionUserRole, "cluster-oid", kA2);
  EXPECT_THAT(kv_->GetKey(cluster_, "hsm1", "cmk", ""), IsOk());
  auto yes = kv_->UnwrapKey(cluster_, "hsm1", "cmk", "", "RSA-OAEP-256", wrapped->value);
  ASSERT_THAT(yes, IsOk());
  EXPECT_EQ(yes->value, aek);
  EXPECT_EQ(Call(cluster_, "hsm1", "POST", "/keys/other/create", R"({"kty":"RSA"})").status, 403);
  EXPECT_EQ(Call(cluster_, "hsm1", "DELETE", "/keys/cmk").status, 403);
  // The role assignment shows at /keys; deleting it revokes at once, re-adding restores.
  auto got = Call(admin_, "hsm1", "GET", "//keys/providers/Microsoft.Authorization/roleAssignments/" + std::string(kA2));
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(got.body->as_object().at("properties").as_object().at("scope"), "/keys");
  ASSERT_EQ(Call(admin_, "hsm1", "DELETE", "/keys/providers/Microsoft.Authorization/roleAssignments/" + std::string(kA2)).status, 200);
  EXPECT_THAT(kv_->UnwrapKey(cluster_, "hsm1", "cmk", "", "RSA-OAEP-256", wrapped->value),
              StatusIs(StatusCode::kPermissionDenied));
  EXPECT_EQ(Call(admin_, "hsm1", "DELETE", "/keys/providers/Microsoft.Authorization/roleAssignments/" + std::string(kA2)).status, 404);
  Assign("hsm1", "keys/cmk", kHsmCryptoServiceEncryptionUserRole, "cluster-oid", kA2);
  EXPECT_THAT(kv_->UnwrapKey(cluster_, "hsm1", "cmk", "", "RSA-OAEP-256", wrapped->value), IsOk());
  // The cluster may not manage roles.
  EXPECT_EQ(Call(cluster_, "hsm1", "PUT", "/providers/Microsoft.Authorization/roleAssignments/" + std::string(kA1), "{}").status, 403);
  // Assignments and activation survive a restart.
  Reopen();
  EXPECT_EQ(kv_->HsmActivationStatus("hsm1"), "Active");
  EXPECT_THAT(kv_->UnwrapKey(cluster_, "hsm1", "cmk", "", "RSA-OAEP-256", wrapped->value), IsOk());
}

TEST_F(ManagedHsmServiceTest, RoleDefinitionsListBuiltInsAndTakeCustomRoles) {
  CreateHsm("hsm1");
  Download("hsm1");
  auto list = Call(admin_, "hsm1", "GET", "/providers/Microsoft.Authorization/roleDefinitions");
  ASSERT_EQ(list.status, 200);
  EXPECT_EQ(list.body->as_object().at("value").as_array().size(), 8u);
  std::string name = "0f0f0f0f-0000-4000-8000-000000000001";
  auto put = Call(admin_, "hsm1", "PUT", "/providers/Microsoft.Authorization/roleDefinitions/" + name,
                  R"({"properties":{"roleName":"unwrapper","type":"CustomRole","permissions":[{"dataActions":
                     ["Microsoft.KeyVault/managedHsm/keys/unwrap/action"]}],"assignableScopes":["/"]}})");
  ASSERT_EQ(put.status, 201) << json::Serialize(*put.body);
  EXPECT_EQ(Call(admin_, "hsm1", "GET", "/providers/Microsoft.Authorization/roleDefinitions/" + name).status, 200);
  EXPECT_EQ(Call(admin_, "hsm1", "PUT",
                 std::string("/providers/Microsoft.Authorization/roleDefinitions/") + kHsmCryptoUserRole,
                 R"({"properties":{"roleName":"x"}})").status, 400);
  Assign("hsm1", "keys", name, "cluster-oid", kA2);
  EXPECT_EQ(Call(admin_, "hsm1", "DELETE", "/providers/Microsoft.Authorization/roleDefinitions/" + name).status, 400);
  ASSERT_EQ(Call(admin_, "hsm1", "DELETE", "/keys/providers/Microsoft.Authorization/roleAssignments/" + std::string(kA2)).status, 200);
  EXPECT_EQ(Call(admin_, "hsm1", "DELETE", "/providers/Microsoft.Authorization/roleDefinitions/" + name).status, 200);
  EXPECT_EQ(Call(admin_, "hsm1", "GET", "/providers/Microsoft.Authorization/roleDefinitions/" + name).status, 404);
}

TEST_F(ManagedHsmServiceTest, UploadedSecurityDomainRestoresTheOldHsmsKeys) {
  CreateHsm("hsm1");
  std::string domain = Download("hsm1");
  Assign("hsm1", "", kHsmCryptoUserRole, "admin-oid", kA1);
  ASSERT_EQ(Call(admin_, "hsm1", "POST", "/keys/cmk/create", R"({"kty":"RSA-HSM","key_size":2048})").status, 200);
  ASSERT_EQ(Call(admin_, "hsm1", "POST", "/keys/aes/create", R"({"kty":"oct-HSM","key_size":256})").status, 200);
  std::vector<uint8_t> aek(32, 5);
  auto wrapped = *kv_->WrapKey(admin_, "hsm1", "cmk", "", "RSA-OAEP-256", aek);
  auto aes_wrapped = *kv_->WrapKey(admin_, "hsm1", "aes", "", "A256KW", aek);
  EXPECT_EQ(aes_wrapped.value.size(), 40u);
  auto backup = Call(admin_, "hsm1", "POST", "/keys/cmk/backup");
  ASSERT_EQ(backup.status, 200) << json::Serialize(*backup.body);
  auto aes_backup = Call(admin_, "hsm1", "POST", "/keys/aes/backup");
  ASSERT_EQ(aes_backup.status, 200);

  // A fresh HSM: transfer key, restore blob built from two of the three private keys, upload.
  CreateHsm("hsm2");
  EXPECT_EQ(Call(admin_, "hsm2", "POST", "/securitydomain/upload", R"({"value":"{}"})").status, 400);
  auto tk = Call(admin_, "hsm2", "GET", "/securitydomain/upload");
  ASSERT_EQ(tk.status, 200);
  auto jwk = *json::ParseObject(tk.body->as_object().at("transfer_key").as_string());
  auto cert = *Base64Decode(jwk.at("x5c").as_array()[0].as_string());
  auto blob = sd::MakeRestoreBlobForTest(domain, {&certs_[1].key, &certs_[2].key}, cert, random_);
  ASSERT_THAT(blob, IsOk());
  auto up = Call(admin_, "hsm2", "POST", "/securitydomain/upload", json::Serialize(bj::object{{"value", *blob}}));
  ASSERT_EQ(up.status, 202) << json::Serialize(*up.body);
  EXPECT_EQ(Call(admin_, "hsm2", "GET", "/securitydomain/upload/pending").body->as_object().at("status"), "Success");
  EXPECT_EQ(kv_->HsmActivationStatus("hsm2"), "Active");
  Assign("hsm2", "", kHsmCryptoUserRole, "admin-oid", kA1);
  auto restored = Call(admin_, "hsm2", "POST", "/keys/restore",
                       json::Serialize(bj::object{{"value", backup.body->as_object().at("value")}}));
  ASSERT_EQ(restored.status, 200) << json::Serialize(*restored.body);
  ASSERT_EQ(Call(admin_, "hsm2", "POST", "/keys/restore",
                 json::Serialize(bj::object{{"value", aes_backup.body->as_object().at("value")}})).status, 200);
  // Wrapped by the old HSM, unwrapped by the new one.
  auto un = kv_->UnwrapKey(admin_, "hsm2", "cmk", "", "RSA-OAEP-256", wrapped.value);
  ASSERT_THAT(un, IsOk());
  EXPECT_EQ(un->value, aek);
  auto aes_un = kv_->UnwrapKey(admin_, "hsm2", "aes", "", "A256KW", aes_wrapped.value);
  ASSERT_THAT(aes_un, IsOk());
  EXPECT_EQ(aes_un->value, aek);

  // An HSM with another security domain cannot restore the backup; neither can a vault.
  CreateHsm("hsm3");
  Download("hsm3");
  Assign("hsm3", "", kHsmCryptoUserRole, "admin-oid", kA1);
  auto foreign = Call(admin_, "hsm3", "POST", "/keys/restore",
                      json::Serialize(bj::object{{"value", backup.body->as_object().at("value")}}));
  EXPECT_EQ(foreign.status, 400);
  // A restore blob made for hsm2's transfer key does not activate hsm4.
  CreateHsm("hsm4");
  ASSERT_EQ(Call(admin_, "hsm4", "GET", "/securitydomain/upload").status, 200);
  EXPECT_EQ(Call(admin_, "hsm4", "POST", "/securitydomain/upload", json::Serialize(bj::object{{"value", *blob}})).status, 400);
  EXPECT_EQ(kv_->HsmActivationStatus("hsm4"), "NotActivated");
  EXPECT_EQ(Call(admin_, "hsm4", "GET", "/securitydomain/upload/pending").body->as_object().at("status"), "Failed");

  // After a restart the restored HSM still unwraps (the domain key is sealed at rest).
  Reopen();
  EXPECT_THAT(kv_->UnwrapKey(admin_, "hsm2", "cmk", "", "RSA-OAEP-256", wrapped.value), IsOk());
}

}  // namespace
}  // namespace cmk::keyvault
