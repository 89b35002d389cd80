#include "alerts/webhook_sender.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include <boost/asio/ssl.hpp>

#include "base/json.h"
#include "crypto/x509.h"
#include "base/testing.h"
#include "env/mem_fs.h"

namespace cmk::alerts {
namespace {

namespace net = boost::asio;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;
using testing::IsOk;

// A receiver on 127.0.0.1: answers each request with the next scripted status (200 when the
// script is spent), or never answers while `hang` is set. Keeps every body it received.
class Receiver {
 public:
  explicit Receiver(std::deque<int> script = {}) : script_(std::move(script)), acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Receiver() {
    stop_ = true;
    boost::system::error_code ec;
    tcp::socket poke(ioc_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string url(const std::string& path = "/hook") const {
    return "http://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + path;
  }
  std::vector<std::string> bodies() {
    std::lock_guard<std::mutex> l(mu_);
    return bodies_;
  }
  std::vector<std::string> auth() {
    std::lock_guard<std::mutex> l(mu_);
    return auth_;
  }
  std::atomic<bool> hang{false};

 private:
  void Loop() {
    std::vector<std::unique_ptr<tcp::socket>> held;  // hung connections stay open
    while (!stop_) {
      auto sock = std::make_unique<tcp::socket>(ioc_);
      boost::system::error_code ec;
      acceptor_.accept(*sock, ec);
      if (ec || stop_) break;
      if (hang) {
        held.push_back(std::move(sock));
        continue;
      }
      boost::beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(*sock, buf, req, ec);
      if (ec) continue;
      int status = 200;
      {
        std::lock_guard<std::mutex> l(mu_);
        bodies_.push_back(req.body());
        auth_.push_back(std::string(req[http::field::authorization]));
        if (!script_.empty()) {
          status = script_.front();
          script_.pop_front();
        }
      }
      http::response<http::string_body> res{static_cast<http::status>(status), 11};
      res.body() = "ok";
      res.prepare_payload();
      http::write(*sock, res, ec);
    }
  }
  std::mutex mu_;
  std::deque<int> script_;
  std::vector<std::string> bodies_, auth_;
  std::atomic<bool> stop_{false};
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  std::thread thread_;
};

// An HTTPS receiver on 127.0.0.1 with a certificate for that address, issued by its own CA.
class TlsReceiver {
 public:
  TlsReceiver() : acceptor_(ioc_, {net::ip::make_address("127.0.0.1"), 0}), ctx_(net::ssl::context::tls_server) {
    TimePoint now = FromUnixSeconds(1'704'067'200);
    TimePoint real = std::chrono::time_point_cast<Duration>(std::chrono::system_clock::now());
    ca_ = *crypto::CreateCertificateAuthority("receiver ca", std::min(now, real) - std::chrono::hours(1),
                                              real + std::chrono::hours(24));
    auto leaf = *crypto::IssueServerCertificate(ca_, "receiver", {}, {"127.0.0.1"}, std::min(now, real) - std::chrono::hours(1),
                                                real + std::chrono::hours(24));
    ctx_.use_certificate_chain(net::buffer(leaf.cert_pem));
    ctx_.use_private_key(net::buffer(leaf.key_pem.AsStringView()), net::ssl::context::pem);
    thread_ = std::thread([this] { Loop(); });
  }
  ~TlsReceiver() {
    stop_ = true;
    boost::system::error_code ec;
    tcp::socket poke(ioc_);
    poke.connect(acceptor_.local_endpoint(), ec);
    thread_.join();
  }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(acceptor_.local_endpoint().port()) + "/hook"; }
  const std::string& ca_pem() const { return ca_.cert_pem; }
  std::atomic<int> received{0};

 private:
  void Loop() {
    while (!stop_) {
      net::ssl::stream<tcp::socket> s(ioc_, ctx_);
      boost::system::error_code ec;
      acceptor_.accept(s.next_layer(), ec);
      if (ec || stop_) break;
      s.handshake(net::ssl::stream_base::server, ec);
      if (ec) continue;  // the client refused our certificate
      boost::beast::flat_buffer buf;
      http::request<http::string_body> req;
      http::read(s, buf, req, ec);
      if (ec) continue;
      ++received;
      http::response<http::string_body> res{http::status::ok, 11};
      res.prepare_payload();
      http::write(s, res, ec);
      s.shutdown(ec);
    }
  }
  net::io_context ioc_;
  tcp::acceptor acceptor_;
  net::ssl::context ctx_;
  crypto::CertificateAndKey ca_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class WebhookSenderTest : public ::testing::Test {
 protected:
  // The receivers here run on 127.0.0.1: loopback is allowed unless a test says otherwise.
  std::unique_ptr<WebhookSender> Sender(int timeout_ms = 5000, std::string ca_pem = "", bool allow_loopback = true) {
    WebhookSenderDeps deps;
    deps.env = env::Env{&clock_, &random_, &fs_};
    deps.record = [this](const DeliveryRecord& r) {
      std::lock_guard<std::mutex> l(mu_);
      records_.push_back(r);
    };
    deps.aad_token = [](const WebhookReceiver& w) { return Result<std::string>("tok-for-" + w.identifier_uri); };
    WebhookSenderOptions o;
    o.attempt_timeout_ms = timeout_ms;
    o.email_outbox = "/outbox.jsonl";
    o.extra_ca_pem = std::move(ca_pem);
    o.allow_loopback = allow_loopback;
    auto s = WebhookSender::Create(deps, o);
    EXPECT_THAT(s, IsOk());
    return std::move(*s);
  }
  static AlertRule Rule() {
    AlertRule r;
    r.id = "/subscriptions/s1/resourceGroups/rg/providers/Microsoft.Insights/scheduledQueryRules/r1";
    r.name = "r1";
    r.scopes = {"/subscriptions/s1/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/ws"};
    r.query = "T";
    r.window = r.frequency = std::chrono::minutes(1);
    return r;
  }
  static ActionGroup Group(const std::string& url, bool aad = false) {
    ActionGroup g;
    g.id = "ag";
    g.webhooks.push_back(WebhookReceiver{"hook", url, true, aad, "", aad ? "api://receiver" : "", ""});
    return g;
  }
  static AlertEvent Event() {
    AlertEvent e;
    e.alert_id = "/subscriptions/s1/providers/Microsoft.AlertsManagement/alerts/a1";
    return e;
  }
  std::vector<DeliveryRecord> Records() {
    std::lock_guard<std::mutex> l(mu_);
    return records_;
  }

  env::SimulatedClock clock_{FromUnixSeconds(1'704'067'200)};
  env::SeededRandom random_{3};
  env::MemFileSystem fs_;
  std::mutex mu_;
  std::vector<DeliveryRecord> records_;
};

TEST_F(WebhookSenderTest, RetriesA503AfterTheDocumentedDelaysAndDeliversOnce) {
  Receiver rx({503, 503});
  auto sender = Sender();
  sender->Notify(Rule(), Event(), {Group(rx.url())});
  sender->WaitIdleForTest();
  EXPECT_EQ(rx.bodies().size(), 1u);
  clock_.Advance(std::chrono::seconds(4));
  sender->WaitIdleForTest();
  EXPECT_EQ(rx.bodies().size(), 1u);  // the first retry waits 5 s
  clock_.Advance(std::chrono::seconds(1));
  sender->WaitIdleForTest();
  EXPECT_EQ(rx.bodies().size(), 2u);
  clock_.Advance(std::chrono::seconds(20));  // the second waits 20 s
  sender->WaitIdleForTest();
  ASSERT_EQ(rx.bodies().size(), 3u);
  auto p = json::ParseObject(rx.bodies()[2]);
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ((*p)["schemaId"], "azureMonitorCommonAlertSchema");
  auto recs = Records();
  ASSERT_EQ(recs.size(), 3u);
  EXPECT_EQ(recs[0].result, "Retrying");
  EXPECT_EQ(recs[0].status, 503);
  EXPECT_EQ(recs[2].result, "Delivered");
  EXPECT_EQ(recs[2].attempt, 3);
  EXPECT_EQ(sender->Stats().delivered, 1u);
}

TEST(WebhookAddressTest, LinkLocalUnspecifiedMulticastAndUnallowedLoopbackAreRefusedInEverySpelling) {
  struct Case {
    const char* ip;
    bool refused, refused_with_loopback_allowed;
  };
  for (const Case& c : std::vector<Case>{
           {"127.0.0.1", true, false},           {"127.200.3.4", true, false},
           {"::1", true, false},                 {"::ffff:127.0.0.1", true, false},
           {"::127.0.0.1", true, false},         {"64:ff9b::7f00:1", true, false},
           {"169.254.169.254", true, true},      {"169.254.0.1", true, true},
           {"::ffff:169.254.169.254", true, true}, {"64:ff9b::a9fe:a9fe", true, true},
           {"fe80::1", true, true},              {"febf::1", true, true},
           {"0.0.0.0", true, true},              {"0.1.2.3", true, true},
           {"::", true, true},                   {"224.0.0.1", true, true},
           {"239.255.255.250", true, true},      {"255.255.255.255", true, true},
           {"240.0.0.1", true, true},            {"ff02::1", true, true},
           {"not-an-address", true, true},       {"", true, true},
           {"10.0.0.1", false, false},           {"172.16.5.4", false, false},
           {"192.168.1.10", false, false},       {"8.8.8.8", false, false},
           {"126.255.255.255", false, false},    {"128.0.0.1", false, false},
           {"169.253.255.255", false, false},    {"169.255.0.1", false, false},
           {"223.255.255.255", false, false},    {"2001:db8::1", false, false},
           {"fd00::1", false, false},            {"fec0::1", false, false},
           {"::2", true, true} /* IPv4-compatible ::0.0.0.2, in 0.0.0.0/8 */}) {
    SCOPED_TRACE(c.ip);
    EXPECT_EQ(WebhookAddressRefusal(c.ip, false).has_value(), c.refused);
    EXPECT_EQ(WebhookAddressRefusal(c.ip, true).has_value(), c.refused_with_loopback_allowed);
  }
  EXPECT_NE(WebhookAddressRefusal("169.254.169.254", true)->find("link-local"), std::string::npos);
  EXPECT_NE(WebhookAddressRefusal("::1", false)->find("--webhook-allow-loopback"), std::string::npos);
}

// Whoever writes an action group chooses the URL: the server must not become their way into
// its own host. Refused once (no address it may reach does not get better with retries), not
// muted, and called as soon as the operator allows loopback receivers.
TEST_F(WebhookSenderTest, ALoopbackReceiverIsRefusedAtOnceUnlessTheOperatorAllowsIt) {
  Receiver rx;
  std::string port = rx.url("").substr(std::string("http://127.0.0.1:").size());
  std::vector<std::string> urls = {rx.url(), "http://localhost:" + port + "/hook",
                                   "http://[::ffff:127.0.0.1]:" + port + "/hook", "http://[::1]:" + port + "/hook"};
  {
    auto sender = Sender(5000, "", /*allow_loopback=*/false);
    for (int round = 0; round < 2; ++round) {
      for (const auto& u : urls) sender->Notify(Rule(), Event(), {Group(u)});
      sender->WaitIdleForTest();
      clock_.Advance(std::chrono::minutes(2));
      sender->WaitIdleForTest();
    }
    EXPECT_TRUE(rx.bodies().empty());
    auto recs = Records();
    ASSERT_EQ(recs.size(), 2 * urls.size());
    for (const auto& r : recs) {
      EXPECT_EQ(r.result, "Failed") << r.target;
      EXPECT_EQ(r.attempt, 1) << r.target;
      EXPECT_NE(r.error.find("no address a webhook may reach"), std::string::npos) << r.error;
      EXPECT_NE(r.error.find("loopback"), std::string::npos) << r.error;
    }
    EXPECT_EQ(sender->Stats().retries, 0u);
    EXPECT_EQ(sender->Stats().failed, 2 * urls.size());
  }
  auto sender = Sender(5000, "", /*allow_loopback=*/true);
  sender->Notify(Rule(), Event(), {Group(urls[0]), Group(urls[2])});
  sender->WaitIdleForTest();
  EXPECT_EQ(rx.bodies().size(), 2u);
  EXPECT_EQ(Records().back().result, "Delivered");
}

TEST_F(WebhookSenderTest, A500IsNotRetried) {
  Receiver rx({500});
  auto sender = Sender();
  sender->Notify(Rule(), Event(), {Group(rx.url())});
  sender->WaitIdleForTest();
  clock_.Advance(std::chrono::minutes(2));
  sender->WaitIdleForTest();
  EXPECT_EQ(rx.bodies().size(), 1u);
  auto recs = Records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0].result, "Failed");
  EXPECT_EQ(recs[0].status, 500);
}

TEST_F(WebhookSenderTest, SpentRetriesMuteTheEndpointFor15Minutes) {
  Receiver rx({503, 503, 503, 503, 503, 503});
  auto sender = Sender();
  sender->Notify(Rule(), Event(), {Group(rx.url())});
  for (int s : {5, 20, 5, 40, 5}) {
    sender->WaitIdleForTest();
    clock_.Advance(std::chrono::seconds(s));
  }
  sender->WaitIdleForTest();
  EXPECT_EQ(rx.bodies().size(), 6u);
  sender->Notify(Rule(), Event(), {Group(rx.url())});
  sender->WaitIdleForTest();
  EXPECT_EQ(rx.bodies().size(), 6u);
  EXPECT_EQ(Records().back().result, "Muted");
  clock_.Advance(std::chrono::minutes(15));
  sender->Notify(Rule(), Event(), {Group(rx.url())});
  sender->WaitIdleForTest();
  EXPECT_EQ(rx.bodies().size(), 7u);
}

TEST_F(WebhookSenderTest, AReceiverThatNeverAnswersTimesOutWithoutBlockingOthers) {
  Receiver stuck;
  stuck.hang = true;
  Receiver ok;
  auto sender = Sender(/*timeout_ms=*/300);
  sender->Notify(Rule(), Event(), {Group(stuck.url())});
  sender->Notify(Rule(), Event(), {Group(ok.url())});
  sender->WaitIdleForTest();
  EXPECT_EQ(ok.bodies().size(), 1u);
  bool timed_out = false;
  for (const auto& r : Records()) timed_out |= r.result == "Retrying" && r.error.find("timed out") != std::string::npos;
  EXPECT_TRUE(timed_out);
}

TEST_F(WebhookSenderTest, SecureWebhooksCarryABearerTokenAndUserinfoBecomesBasic) {
  Receiver rx;
  auto sender = Sender();
  sender->Notify(Rule(), Event(), {Group(rx.url(), /*aad=*/true)});
  std::string url = rx.url();
  url.insert(7, "user:pa%20ss@");
  sender->Notify(Rule(), Event(), {Group(url)});
  sender->WaitIdleForTest();
  auto auth = rx.auth();
  ASSERT_EQ(auth.size(), 2u);
  std::sort(auth.begin(), auth.end());
  EXPECT_EQ(auth[0], "Basic dXNlcjpwYSBzcw==");
  EXPECT_EQ(auth[1], "Bearer tok-for-api://receiver");
}

TEST_F(WebhookSenderTest, EmailsGoToTheOutbox) {
  auto sender = Sender();
  ActionGroup g;
  g.id = "ag";
  g.emails.push_back(EmailReceiver{"mail", "ops@example.com", true});
  sender->Notify(Rule(), Event(), {g});
  auto text = fs_.ReadFile("/outbox.jsonl");
  ASSERT_THAT(text, IsOk());
  auto line = json::ParseObject(text->substr(0, text->find('\n')));
  ASSERT_THAT(line, IsOk());
  EXPECT_EQ((*line)["to"], "ops@example.com");
  EXPECT_EQ((*line)["body"].as_object()["schemaId"], "azureMonitorCommonAlertSchema");
  EXPECT_EQ(Records().back().kind, "Email");
}

}  // namespace
}  // namespace cmk::alerts

namespace cmk::alerts {
namespace {

TEST_F(WebhookSenderTest, HttpsReceiversAreVerifiedAgainstTheTrustedCas) {
  TlsReceiver rx;
  auto untrusting = Sender();
  untrusting->Notify(Rule(), Event(), {Group(rx.url())});
  untrusting->WaitIdleForTest();
  EXPECT_EQ(rx.received.load(), 0);
  ASSERT_FALSE(Records().empty());
  EXPECT_NE(Records().back().error.find("TLS handshake failed"), std::string::npos) << Records().back().error;
  auto trusting = Sender(5000, rx.ca_pem());
  trusting->Notify(Rule(), Event(), {Group(rx.url())});
  trusting->WaitIdleForTest();
  EXPECT_EQ(rx.received.load(), 1);
  EXPECT_EQ(Records().back().result, "Delivered");
}

}  // namespace
}  // namespace cmk::alerts
