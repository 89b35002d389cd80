#include "server/http_server.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

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
    // One pool of one thread with room for one queued job: /pool/... runs there.
    opts.pools = {WorkerPoolOptions{"test-pool", 1, 1, 0}};
    HttpHandlers h;
    h.handle = [this](HttpRequest& req, HttpResponse& res) {
      handled_++;
      if (req.path == "/throw") throw std::runtime_error("boom from a handler");
      if (req.path == "/pool/block") {
        // Holds the pool's thread until the test releases it (or 10 s pass).
        std::unique_lock<std::mutex> l(mu_);
        blocked_++;
        cv_.notify_all();
        cv_.wait_for(l, std::chrono::seconds(10), [this] { return released_; });
      }
      if (req.path == "/pool/until-cancelled") {
        // Polls its cancellation flag, as a query does between chunks.
        for (int i = 0; i < 10000 && !req.cancelled->load(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        std::lock_guard<std::mutex> l(mu_);
        saw_cancel_ = req.cancelled->load();
        cv_.notify_all();
      }
      res.SetJson(200, "{\"path\":\"" + req.path + "\",\"api\":\"" +
                           std::string(req.Query("api-version")) + "\",\"len\":" +
                           std::to_string(req.body.size()) + "}");
    };
    h.observe = [this](const HttpRequest&, const HttpResponse& res, int64_t) {
      std::lock_guard<std::mutex> l(mu_);
      statuses_.push_back(res.status);
    };
    // Answers requests that carry X-Reject from their header alone, as the router does for
    // a missing or expired token.
    h.header = [](HttpRequest& req, HttpResponse& res) {
      if (!req.HasHeader("X-Reject")) return false;
      res.SetJson(401, "{\"len\":" + std::to_string(req.body.size()) + "}");
      return true;
    };
    h.classify = [](const HttpRequest& req) { return req.path.rfind("/pool/", 0) == 0 ? 0 : -1; };
    auto server = HttpServer::Create(opts, leaf.cert_pem, leaf.key_pem, std::move(h));
    ASSERT_THAT(server, IsOk());
    server_ = std::move(*server);
    server_->Start();
  }
  void TearDown() override {
    Release();
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
  void Release() {
    std::lock_guard<std::mutex> l(mu_);
    released_ = true;
    cv_.notify_all();
  }
  // Waits (at most 5 s) until `n` requests hold the pool's thread in /pool/block.
  bool WaitBlocked(int n) {
    std::unique_lock<std::mutex> l(mu_);
    return cv_.wait_for(l, std::chrono::seconds(5), [&] { return blocked_ >= n; });
  }
  std::string dir_;
  std::unique_ptr<HttpServer> server_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<int> statuses_;
  int blocked_ = 0;
  bool released_ = false;
  bool saw_cancel_ = false;
  std::atomic<int> handled_{0};
};

// A raw TLS connection to the test server, for bytes no well-behaved client sends. Every
// operation gives up after 5 s (beast::error::timeout).
class RawConnection {
 public:
  RawConnection(const std::string& ca_path, uint16_t port)
      : ctx_(boost::asio::ssl::context::tls_client), stream_(ioc_, ctx_) {
    ctx_.load_verify_file(ca_path);
    ctx_.set_verify_mode(boost::asio::ssl::verify_peer);
    SSL_set_tlsext_host_name(stream_.native_handle(), "management.localhost");
    stream_.next_layer().connect({boost::asio::ip::make_address("127.0.0.1"), port});
    stream_.handshake(boost::asio::ssl::stream_base::client);
  }
  void Send(std::string_view bytes) { boost::asio::write(stream_, boost::asio::buffer(bytes)); }
  // Reads one response; ec is set if none could be read.
  boost::beast::http::response<boost::beast::http::string_body> Read(boost::beast::error_code& ec) {
    boost::beast::http::response<boost::beast::http::string_body> res;
    stream_.next_layer().expires_after(std::chrono::seconds(5));
    boost::beast::http::async_read(stream_, buffer_, res,
                                   [&ec](boost::beast::error_code e, size_t) { ec = e; });
    ioc_.restart();
    ioc_.run();
    return res;
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ssl::context ctx_;
  boost::beast::ssl_stream<boost::beast::tcp_stream> stream_;
  boost::beast::flat_buffer buffer_;
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

TEST_F(HttpServerTest, HeaderHandlerAnswersBeforeTheBodyAndClosesTheConnection) {
  auto accepted = Fetch("POST", "/x", std::string(100, 'a'));
  ASSERT_THAT(accepted, IsOk());
  EXPECT_EQ(accepted->status, 200);  // no X-Reject: the body is read and the handler answers
  EXPECT_EQ(accepted->body, R"({"path":"/x","api":"","len":100})");
  EXPECT_EQ(handled_, 1);

  // Declares a 34-byte body and never sends it (what azure-keyvault-keys 4.8.0b3 does when it
  // retries after a 401): the answer must come at once, not after the read deadline.
  RawConnection conn(dir_ + "/ca.pem", server_->port());
  std::string next = "GET /next HTTP/1.1\r\nHost: x\r\n\r\n";
  conn.Send("PATCH /keys/k HTTP/1.1\r\nHost: management.localhost\r\nX-Reject: 1\r\n"
            "Content-Type: application/json\r\nContent-Length: " + std::to_string(next.size()) + "\r\n\r\n");
  auto start = std::chrono::steady_clock::now();
  boost::beast::error_code ec;
  auto res = conn.Read(ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  EXPECT_EQ(res.result_int(), 401u);
  EXPECT_EQ(res.body(), R"({"len":0})");
  EXPECT_FALSE(res.keep_alive());  // Connection: close: the unread body ends the connection
  // The body that arrives after the answer is drained, never parsed as a request of its own.
  conn.Send(next);
  conn.Read(ec);
  EXPECT_TRUE(ec == boost::beast::http::error::end_of_stream || ec == boost::asio::ssl::error::stream_truncated ||
              ec == boost::asio::error::eof)
      << ec.message();
  EXPECT_EQ(handled_, 1);

  // A request without a body is never answered from its header: no drain needed, keep-alive.
  RawConnection conn2(dir_ + "/ca.pem", server_->port());
  conn2.Send("GET /y HTTP/1.1\r\nHost: management.localhost\r\nX-Reject: 1\r\n\r\n");
  res = conn2.Read(ec);
  ASSERT_FALSE(ec) << ec.message();
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_TRUE(res.keep_alive());
  EXPECT_EQ(handled_, 2);
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

namespace cmk::server {
namespace {

TEST_F(HttpServerTest, HandlerExceptionBecomes500AndTheServerKeepsServing) {
  auto r = Fetch("GET", "/throw");
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->status, 500);
  EXPECT_NE(r->body.find("InternalServerError"), std::string::npos) << r->body;
  EXPECT_EQ(r->body.find("boom"), std::string::npos) << "the exception text must not be sent";
  for (int i = 0; i < 3; ++i) {
    auto ok = Fetch("GET", "/ok");
    ASSERT_THAT(ok, IsOk());
    EXPECT_EQ(ok->status, 200);
  }
}

TEST_F(HttpServerTest, InlineRequestsAnswerWhilePoolIsBusy) {
  auto blocked = std::async(std::launch::async, [this] { return Fetch("GET", "/pool/block"); });
  ASSERT_TRUE(WaitBlocked(1));
  auto ok = Fetch("GET", "/healthz");
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(ok->status, 200);
  Release();
  auto r = blocked.get();
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, R"({"path":"/pool/block","api":"","len":0})");
}

TEST_F(HttpServerTest, FullPoolQueueAnswers503WithRetryAfter) {
  auto first = std::async(std::launch::async, [this] { return Fetch("GET", "/pool/block"); });
  ASSERT_TRUE(WaitBlocked(1));
  auto second = std::async(std::launch::async, [this] { return Fetch("GET", "/pool/block"); });
  // The second waits in the queue (room for one); wait until it is there.
  for (int i = 0; i < 5000 && server_->pool_queued(0) < 1; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ASSERT_EQ(server_->pool_queued(0), 1u);
  auto third = Fetch("GET", "/pool/other");
  ASSERT_THAT(third, IsOk());
  EXPECT_EQ(third->status, 503);
  EXPECT_EQ(third->Header("Retry-After"), "1");
  EXPECT_NE(third->body.find("ServerBusy"), std::string::npos);
  Release();
  EXPECT_EQ(first.get()->status, 200);
  EXPECT_EQ(second.get()->status, 200);
}

TEST_F(HttpServerTest, ClientDisconnectCancelsPooledRequest) {
  {
    RawConnection c(dir_ + "/ca.pem", server_->port());
    c.Send("GET /pool/until-cancelled HTTP/1.1\r\nHost: management.localhost\r\n\r\n");
    // Give the request time to reach the pool before the connection goes away.
    for (int i = 0; i < 5000 && handled_.load() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }  // closes the socket without reading the answer
  std::unique_lock<std::mutex> l(mu_);
  ASSERT_TRUE(cv_.wait_for(l, std::chrono::seconds(8), [this] { return saw_cancel_; }))
      << "the handler never saw its request cancelled";
}

}  // namespace
}  // namespace cmk::server
