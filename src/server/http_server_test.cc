#include "server/http_server.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "base/encoding.h"
#include "base/testing.h"
#include "crypto/x509.h"
#include "env/env.h"
#include "server/https_client.h"

namespace cmk::server {
namespace {

using testing::IsOk;

class HttpServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ::testing::TempDir() + "/http_" + env::SecureRandom().NewGuid();
    std::filesystem::create_directories(dir_);
    TimePoint now = env::DefaultEnv().clock->Now();
    auto ca = *crypto::CreateCertificateAuthority("test CA", now - std::chrono::hours(1), now + std::chrono::hours(24));
    auto leaf = *crypto::IssueServerCertificate(ca, "test", {"management.localhost"}, {"127.0.0.1"},
                                                now - std::chrono::hours(1), now + std::chrono::hours(24));
    env::PosixFileSystem fs;
    ASSERT_THAT(fs.WriteFileAtomic(dir_ + "/ca.pem", AsBytes(ca.cert_pem), 0644), IsOk());
    HttpServerOptions opts;
    opts.listen_addresses = {"127.0.0.1"};
    opts.port = 0;
    opts.max_body_bytes = 1024;
    auto server = HttpServer::Create(
        opts, leaf.cert_pem, leaf.key_pem,
        [](HttpRequest& req, HttpResponse& res) {
          res.SetJson(200, "{\"path\":\"" + req.path + "\",\"api\":\"" +
                               std::string(req.Query("api-version")) + "\",\"len\":" +
                               std::to_string(req.body.size()) + "}");
        },
        [this](const HttpRequest&, const HttpResponse& res, int64_t) { statuses_.push_back(res.status); });
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    server_->Start();
  }
  void TearDown() override {
    server_->Shutdown();
    server_->Wait();
    std::filesystem::remove_all(dir_);
  }
  Result<ClientResponse> Fetch(const std::string& method, const std::string& path, std::string body = "") {
    ClientRequest req;
    req.method = method;
    req.url = "https://management.localhost:" + std::to_string(server_->port()) + path;
    req.body = std::move(body);
    HttpsClientOptions opts;
    opts.ca_cert_path = dir_ + "/ca.pem";
    opts.connect_address = "127.0.0.1";
    return HttpsFetch(req, opts);
  }
  std::string dir_;
  std::unique_ptr<HttpServer> server_;
  std::vector<int> statuses_;
};

TEST_F(HttpServerTest, ServesOverTlsAndDecodesQueryNames) {
  auto r = Fetch("GET", "/a%20b?api%2Dversion=2025-07-01");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"path":"/a b","api":"2025-07-01","len":0})");
  EXPECT_FALSE(r->Header("x-ms-request-id").empty());
}

TEST_F(HttpServerTest, OversizedBodyGets413) {
  auto ok = Fetch("POST", "/x", std::string(1024, 'a'));
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(ok->status, 200);
  auto big = Fetch("POST", "/x", std::string(1025, 'a'));
  ASSERT_THAT(big, IsOk());
  EXPECT_EQ(big->status, 413);
  EXPECT_NE(big->body.find("PayloadTooLarge"), std::string::npos);
}

TEST_F(HttpServerTest, CertificateIsCheckedAgainstTheHostName) {
  ClientRequest req;
  req.url = "https://other.localhost:" + std::to_string(server_->port()) + "/";
  HttpsClientOptions opts;
  opts.ca_cert_path = dir_ + "/ca.pem";
  opts.connect_address = "127.0.0.1";
  EXPECT_THAT(HttpsFetch(req, opts), testing::StatusIs(StatusCode::kUnavailable));
}

}  // namespace
}  // namespace cmk::server
