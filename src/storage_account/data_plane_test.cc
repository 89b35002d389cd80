// BlobService and TableService driven directly with Shared Key-signed requests: the round trips
// the SDKs rely on and the refusals of hostile or malformed input (bounded, in Storage's shapes).
#include <gtest/gtest.h>

#include <filesystem>

#include "base/encoding.h"
#include "base/json.h"
#include "base/testing.h"
#include "env/mem_fs.h"
#include "identity/token_service.h"
#include "storage_account/blob_service.h"
#include "storage_account/http_date.h"
#include "storage_account/table_service.h"

namespace cmk::storage_account {
namespace {

using testing::IsOk;

class DataPlaneTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/dp_" + env::SecureRandom().NewGuid();
    std::filesystem::create_directories(dir_);
    store_ = std::move(*meta::MetadataStore::Open(dir_ + "/meta.db"));
    keys_ = storage::ServiceKeys::FromRootsForTest(env(), random_.NewSecret(32), random_.NewSecret(32));
    auto reg = AccountRegistry::Open(
        env(), store_.get(), keys_.get(), [](const std::string&) { return nullptr; }, storage::KeyManagerOptions(),
        std::make_unique<storage::LocalBlobStore>(&fs_, "/blobs"));
    ASSERT_THAT(reg, IsOk());
    reg_ = std::move(*reg);
    ASSERT_THAT(reg_->Configure(AccountSpec{"acct1", "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/"
                                            "storageAccounts/acct1", "eastus", "t1", true, {}}),
                IsOk());
    // Shared Key and SAS only: no token service or RBAC is reached.
    auth_ = std::make_unique<StorageAuth>(reg_.get(), nullptr, nullptr, &clock_, "https://login.localhost");
    blob_ = std::make_unique<BlobService>(env(), reg_.get(), auth_.get(), ".blob.localhost");
    table_ = std::make_unique<TableService>(env(), reg_.get(), auth_.get(), ".table.localhost");
  }
  void TearDown() override {
    blob_.reset();
    table_.reset();
    reg_.reset();
    std::filesystem::remove_all(dir_);
  }
  env::Env env() { return env::Env{&clock_, &random_, nullptr}; }

  // A request signed with key1 (Blob's or Table's Shared Key).
  StorageResponse Call(bool blob, std::string method, std::string path, Pairs query = {}, Pairs headers = {},
                       std::string body = "", bool sign = true) {
    StorageRequest r;
    r.method = std::move(method);
    r.account = "acct1";
    r.raw_path = path;
    r.path = std::move(path);
    r.query = std::move(query);
    r.headers = std::move(headers);
    r.headers.emplace_back("x-ms-date", FormatHttpDate(clock_.Now()));
    r.headers.emplace_back("x-ms-version", blob ? "2021-12-02" : "2019-02-02");
    if (!body.empty()) r.headers.emplace_back("Content-Length", std::to_string(body.size()));
    r.body = std::move(body);
    if (sign) {
      auto keys = reg_->Keys("acct1");
      std::string sts = blob ? BlobStringToSign(r) : TableStringToSign(r, false);
      r.headers.emplace_back("Authorization", "SharedKey acct1:" + SignString(keys->key1, sts));
    }
    StorageResponse res;
    if (blob) {
      blob_->Handle(r, res);
    } else {
      table_->Handle(r, res);
    }
    return res;
  }
  static std::string Header(const StorageResponse& res, std::string_view name) {
    for (const auto& [k, v] : res.headers) {
      if (EqualsIgnoreCase(k, name)) return v;
    }
    return "";
  }

  std::string dir_;
  env::SimulatedClock clock_{FromUnixSeconds(1795416367)};
  env::SeededRandom random_{11};
  env::MemFileSystem fs_;
  std::unique_ptr<meta::MetadataStore> store_;
  std::unique_ptr<storage::ServiceKeys> keys_;
  std::unique_ptr<AccountRegistry> reg_;
  std::unique_ptr<StorageAuth> auth_;
  std::unique_ptr<BlobService> blob_;
  std::unique_ptr<TableService> table_;
};

TEST_F(DataPlaneTest, BlocksCommitAndRangesReadBack) {
  EXPECT_EQ(Call(true, "PUT", "/cont", {{"restype", "container"}}).status, 201);
  std::string id1 = Base64Encode(AsBytes("block-1")), id2 = Base64Encode(AsBytes("block-2"));
  EXPECT_EQ(Call(true, "PUT", "/cont/b", {{"comp", "block"}, {"blockid", id1}}, {}, "hello ").status, 201);
  EXPECT_EQ(Call(true, "PUT", "/cont/b", {{"comp", "block"}, {"blockid", id2}}, {}, "world").status, 201);
  std::string list = "<?xml version='1.0' encoding='utf-8'?><BlockList><Latest>" + id1 + "</Latest><Latest>" + id2 +
                     "</Latest></BlockList>";
  EXPECT_EQ(Call(true, "PUT", "/cont/b", {{"comp", "blocklist"}}, {}, list).status, 201);
  auto whole = Call(true, "GET", "/cont/b");
  EXPECT_EQ(whole.status, 200);
  EXPECT_EQ(whole.body, "hello world");
  auto part = Call(true, "GET", "/cont/b", {}, {{"x-ms-range", "bytes=4-7"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_EQ(part.body, "o wo");
  EXPECT_EQ(Header(part, "Content-Range"), "bytes 4-7/11");
  auto past = Call(true, "GET", "/cont/b", {}, {{"x-ms-range", "bytes=11-20"}});
  EXPECT_EQ(past.status, 416);
  EXPECT_EQ(Header(past, "x-ms-error-code"), "InvalidRange");
  EXPECT_EQ(Call(true, "GET", "/cont/b", {}, {{"x-ms-range", "bytes=9-2"}}).status, 400);
  EXPECT_EQ(Call(true, "PUT", "/cont/b", {}, {{"x-ms-blob-type", "BlockBlob"}, {"If-None-Match", "*"}}, "x").status, 409);
}

TEST_F(DataPlaneTest, BlobRefusesMalformedAndHostileInput) {
  ASSERT_EQ(Call(true, "PUT", "/cont", {{"restype", "container"}}).status, 201);
  auto bad_name = Call(true, "PUT", "/Bad_Name", {{"restype", "container"}});
  EXPECT_EQ(bad_name.status, 400);
  EXPECT_EQ(Header(bad_name, "x-ms-error-code"), "InvalidResourceName");
  EXPECT_NE(bad_name.body.find("<Code>InvalidResourceName</Code>"), std::string::npos);
  EXPECT_EQ(Call(true, "PUT", "/cont/" + std::string(1025, 'a'), {}, {{"x-ms-blob-type", "BlockBlob"}}, "x").status, 400);
  std::string long_id = Base64Encode(AsBytes(std::string(65, 'i')));
  EXPECT_EQ(Call(true, "PUT", "/cont/b", {{"comp", "block"}, {"blockid", long_id}}, {}, "x").status, 400);
  EXPECT_EQ(Header(Call(true, "PUT", "/cont/b", {{"comp", "blocklist"}}, {}, "<BlockList><Latest>x"), "x-ms-error-code"),
            "InvalidXmlDocument");
  EXPECT_EQ(Header(Call(true, "PUT", "/cont/b", {{"comp", "blocklist"}}, {}, "<BlockList><Latest>bm9wZQ==</Latest></BlockList>"),
                   "x-ms-error-code"),
            "InvalidBlockList");
  EXPECT_EQ(Header(Call(true, "GET", "/cont/missing"), "x-ms-error-code"), "BlobNotFound");
  EXPECT_EQ(Header(Call(true, "GET", "/nocont/b"), "x-ms-error-code"), "ContainerNotFound");
  EXPECT_EQ(Call(true, "PUT", "/cont/b", {}, {{"x-ms-blob-type", "PageBlob"}}, "x").status, 400);
}

TEST_F(DataPlaneTest, SharedKeyIsCheckedInFullAndOnTheClock) {
  auto none = Call(true, "GET", "/", {{"comp", "list"}}, {}, "", false);
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(Header(none, "x-ms-error-code"), "NoAuthenticationInformation");
  EXPECT_NE(Header(none, "WWW-Authenticate").find("resource_id=https://storage.azure.com"), std::string::npos);
  auto forged = Call(true, "GET", "/", {{"comp", "list"}}, {{"Authorization", "SharedKey acct1:AAAA"}}, "", false);
  EXPECT_EQ(forged.status, 403);
  EXPECT_EQ(Header(forged, "x-ms-error-code"), "AuthenticationFailed");
  auto other = Call(true, "GET", "/", {{"comp", "list"}}, {{"Authorization", "SharedKey acct2:AAAA"}}, "", false);
  EXPECT_EQ(other.status, 403);
  EXPECT_EQ(Call(true, "GET", "/", {{"comp", "list"}}, {{"Authorization", std::string(20000, 'x')}}, "", false).status, 403);
  // Signed 20 minutes ago: outside the 15 minutes Azure allows.
  StorageRequest r;
  r.method = "GET";
  r.account = "acct1";
  r.raw_path = r.path = "/";
  r.query = {{"comp", "list"}};
  r.headers = {{"x-ms-date", FormatHttpDate(clock_.Now() - std::chrono::minutes(20))}};
  r.headers.emplace_back("Authorization", "SharedKey acct1:" + SignString(reg_->Keys("acct1")->key1, BlobStringToSign(r)));
  StorageResponse res;
  blob_->Handle(r, res);
  EXPECT_EQ(res.status, 403);
  // The same, in time, passes.
  EXPECT_EQ(Call(true, "GET", "/", {{"comp", "list"}}).status, 200);
}

// The injected Customer Lockbox gate sees every Entra request (not Shared Key's) once its token
// is valid, and its refusal is answered in each service's error shape.
TEST_F(DataPlaneTest, TheOperatorGateRefusesEntraRequestsInStoragesShape) {
  identity::TokenServiceOptions o;
  o.login_url = "https://login.localhost";
  auto tokens = identity::TokenService::Create(env::Env{&clock_, &random_, &fs_}, store_.get(), random_.NewSecret(32), o);
  ASSERT_THAT(tokens, IsOk());
  identity::Principal op{"op-oid", "op-app", "t1", "operator", identity::PrincipalType::kServicePrincipal};
  auto tok = (*tokens)->Issue(op, "https://storage.azure.com");
  ASSERT_THAT(tok, IsOk());
  auth_ = std::make_unique<StorageAuth>(reg_.get(), tokens->get(), nullptr, &clock_, "https://login.localhost");
  std::vector<std::string> seen;
  auth_->set_operator_gate([&](const identity::Principal& p, const AccountSpec& spec, const std::string& operation,
                               const std::string& request) -> Status {
    seen.push_back(p.object_id + " " + spec.name + " " + operation + " " + request);
    return PermissionDenied("Customer Lockbox is enabled: no approved request covers the account.",
                            "CustomerLockboxAccessDenied");
  });
  blob_ = std::make_unique<BlobService>(env(), reg_.get(), auth_.get(), ".blob.localhost");
  table_ = std::make_unique<TableService>(env(), reg_.get(), auth_.get(), ".table.localhost");
  ASSERT_EQ(Call(true, "PUT", "/data", {{"restype", "container"}}).status, 201);  // Shared Key: not gated
  EXPECT_TRUE(seen.empty());
  Pairs bearer = {{"Authorization", "Bearer " + tok->token}};
  auto res = Call(true, "GET", "/data/b1", {}, bearer, "", false);
  EXPECT_EQ(res.status, 403);
  EXPECT_EQ(Header(res, "x-ms-error-code"), "CustomerLockboxAccessDenied");
  EXPECT_NE(res.body.find("<Code>CustomerLockboxAccessDenied</Code><Message>Customer Lockbox"), std::string::npos)
      << res.body;
  res = Call(false, "GET", "/Tables", {}, bearer, "", false);
  EXPECT_EQ(res.status, 403);
  EXPECT_EQ(Header(res, "x-ms-error-code"), "CustomerLockboxAccessDenied");
  EXPECT_NE(res.body.find("\"value\":\"Customer Lockbox"), std::string::npos) << res.body;
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0], "op-oid acct1 Microsoft.Storage/storageAccounts/blobServices/request GET /data/b1");
  EXPECT_EQ(seen[1], "op-oid acct1 Microsoft.Storage/storageAccounts/tableServices/request GET /Tables");
}

TEST_F(DataPlaneTest, TableRefusesMalformedAndHostileInput) {
  ASSERT_EQ(Call(false, "POST", "/Tables", {}, {{"Content-Type", "application/json"}}, R"({"TableName":"tab1"})").status, 201);
  auto dup = Call(false, "POST", "/Tables", {}, {}, R"({"TableName":"TAB1"})");
  EXPECT_EQ(dup.status, 409);
  auto err = json::ParseObject(dup.body);
  ASSERT_THAT(err, IsOk());
  EXPECT_EQ(std::string((*err)["odata.error"].as_object()["code"].as_string()), "TableAlreadyExists");
  EXPECT_TRUE((*err)["odata.error"].as_object()["message"].as_object().contains("value"));
  EXPECT_EQ(Call(false, "POST", "/Tables", {}, {}, R"({"TableName":"1bad"})").status, 400);
  EXPECT_EQ(Call(false, "POST", "/tab1", {}, {}, R"({"PartitionKey":"p","RowKey":"r","n":1})").status, 201);
  EXPECT_EQ(Header(Call(false, "POST", "/tab1", {}, {}, R"({"PartitionKey":"p","RowKey":"r"})"), "x-ms-error-code"),
            "EntityAlreadyExists");
  EXPECT_EQ(Call(false, "POST", "/tab1", {}, {}, R"({"PartitionKey":"p"})").status, 400);
  EXPECT_EQ(Call(false, "POST", "/tab1", {}, {}, R"({"PartitionKey":"p","RowKey":"a\u0001"})").status, 400);
  std::string many = R"({"PartitionKey":"p","RowKey":"many")";
  for (int i = 0; i < 300; ++i) many += ",\"c" + std::to_string(i) + "\":1";
  EXPECT_EQ(Header(Call(false, "POST", "/tab1", {}, {}, many + "}"), "x-ms-error-code"), "TooManyProperties");
  EXPECT_EQ(Call(false, "POST", "/tab1", {}, {}, R"({"PartitionKey":"p","RowKey":"x","v":"1","v@odata.type":"Edm.Int64x"})").status, 400);
  EXPECT_EQ(Call(false, "GET", "/tab1()", {{"$filter", std::string(40, '(') + "n eq 1" + std::string(40, ')')}}).status, 400);
  EXPECT_EQ(Call(false, "GET", "/tab1()", {{"$top", "5000"}}).status, 400);
  EXPECT_EQ(Call(false, "GET", "/tab1(PartitionKey='p',RowKey='r'", {}).status, 400);
  EXPECT_EQ(Call(false, "GET", "/tab1(PartitionKey='p')", {}).status, 400);
  auto stale = Call(false, "PUT", "/tab1(PartitionKey='p',RowKey='r')", {}, {{"If-Match", "W/\"datetime'2000-01-01T00%3A00%3A00.0000000Z'\""}},
                    R"({"n":2})");
  EXPECT_EQ(stale.status, 412);
  EXPECT_EQ(Header(stale, "x-ms-error-code"), "UpdateConditionNotSatisfied");
  auto got = Call(false, "GET", "/tab1(PartitionKey='p',RowKey='r')");
  EXPECT_EQ(got.status, 200);
  EXPECT_EQ(Call(false, "PUT", "/tab1(PartitionKey='p',RowKey='r')", {}, {{"If-Match", Header(got, "ETag")}}, R"({"n":3})").status, 204);
  EXPECT_EQ(Call(false, "GET", "/missing()").status, 404);
}

}  // namespace
}  // namespace cmk::storage_account
