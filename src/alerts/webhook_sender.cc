#include "alerts/webhook_sender.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/json.hpp>
#include <boost/url.hpp>
#include <deque>

#include "base/encoding.h"
#include "base/json.h"

namespace cmk::alerts {
namespace {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace bj = boost::json;
using tcp = net::ip::tcp;

struct Delivery {
  std::string host, port, target, host_header;
  bool tls = false;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  DeliveryRecord rec;  // the fields every attempt shares
  std::string endpoint;  // what a mute applies to: the URL without userinfo and query
};

// 408, 429, 503, 504 and transport failures (status 0) are worth another try; nothing else is.
bool Retriable(int status) {
  return status == 0 || status == 408 || status == 429 || status == 503 || status == 504;
}

Result<Delivery> ParseTarget(const std::string& uri) {
  auto url = boost::urls::parse_absolute_uri(uri);
  if (!url) return InvalidArgument("the serviceUri is not an absolute URL");
  Delivery d;
  std::string scheme = ToLower(std::string(url->scheme()));
  if (scheme != "http" && scheme != "https") return InvalidArgument("the serviceUri is not http or https");
  d.tls = scheme == "https";
  d.host = std::string(url->encoded_host());
  if (!d.host.empty() && d.host.front() == '[' && d.host.back() == ']') d.host = d.host.substr(1, d.host.size() - 2);
  if (d.host.empty()) return InvalidArgument("the serviceUri has no host");
  d.port = url->has_port() ? std::string(url->port()) : d.tls ? "443" : "80";
  d.target = std::string(url->encoded_target());
  if (d.target.empty()) d.target = "/";
  d.host_header = std::string(url->encoded_host()) + (url->has_port() ? ":" + d.port : "");
  d.endpoint = scheme + "://" + d.host_header + std::string(url->encoded_path());
  if (url->has_userinfo()) {
    auto user = PercentDecode(url->encoded_userinfo(), false);
    if (user.ok()) d.headers.emplace_back("Authorization", "Basic " + Base64Encode(AsBytes(*user)));
  }
  return d;
}

std::optional<std::string> RefusedV4(uint32_t a, bool allow_loopback) {
  if ((a >> 24) == 0) return "an unspecified address (0.0.0.0/8)";
  if ((a >> 24) == 127) {
    if (allow_loopback) return std::nullopt;
    return "a loopback address (127.0.0.0/8; the operator's --webhook-allow-loopback permits it)";
  }
  if ((a >> 16) == 0xa9fe) return "a link-local address (169.254.0.0/16, where cloud metadata services answer)";
  if ((a >> 28) == 0xe) return "a multicast address (224.0.0.0/4)";
  if ((a >> 28) == 0xf) return "a reserved or broadcast address (240.0.0.0/4)";
  return std::nullopt;
}

std::optional<std::string> RefusedAddress(const net::ip::address& addr, bool allow_loopback) {
  if (addr.is_v4()) return RefusedV4(addr.to_v4().to_uint(), allow_loopback);
  net::ip::address_v6::bytes_type b = addr.to_v6().to_bytes();
  auto zero = [&](size_t from, size_t to) {
    for (size_t i = from; i < to; ++i) {
      if (b[i] != 0) return false;
    }
    return true;
  };
  auto v4_at = [&](size_t i) {
    return (uint32_t{b[i]} << 24) | (uint32_t{b[i + 1]} << 16) | (uint32_t{b[i + 2]} << 8) | uint32_t{b[i + 3]};
  };
  if (zero(0, 16)) return "an unspecified address (::)";
  if (zero(0, 15) && b[15] == 1) {
    if (allow_loopback) return std::nullopt;
    return "a loopback address (::1; the operator's --webhook-allow-loopback permits it)";
  }
  // ::ffff:a.b.c.d (mapped), ::a.b.c.d (compatible), 64:ff9b::a.b.c.d (NAT64): the IPv4 address.
  bool mapped = zero(0, 10) && b[10] == 0xff && b[11] == 0xff;
  bool nat64 = b[0] == 0 && b[1] == 0x64 && b[2] == 0xff && b[3] == 0x9b && zero(4, 12);
  if (mapped || nat64 || zero(0, 12)) return RefusedV4(v4_at(12), allow_loopback);
  if (b[0] == 0xfe && (b[1] & 0xc0) == 0x80) return "a link-local address (fe80::/10)";
  if (b[0] == 0xff) return "a multicast address (ff00::/8)";
  return std::nullopt;
}

}  // namespace

std::optional<std::string> WebhookAddressRefusal(std::string_view ip, bool allow_loopback) {
  boost::system::error_code ec;
  net::ip::address addr = net::ip::make_address(std::string(ip), ec);
  if (ec) return "not an IP address";
  return RefusedAddress(addr, allow_loopback);
}

struct WebhookSender::Impl {
  struct Guard {
    std::mutex mu;
    Impl* self = nullptr;
  };
  class Attempt;

  WebhookSenderDeps deps;
  WebhookSenderOptions options;
  net::io_context ioc;
  net::executor_work_guard<net::io_context::executor_type> work{ioc.get_executor()};
  ssl::context tls{ssl::context::tls_client};
  std::thread thread;
  std::shared_ptr<Guard> guard = std::make_shared<Guard>();
  mutable Mutex mu;
  CondVar idle;
  size_t in_flight GUARDED_BY(mu) = 0;
  size_t waiting_retries GUARDED_BY(mu) = 0;
  std::deque<Delivery> queue GUARDED_BY(mu);
  std::map<std::string, TimePoint> muted GUARDED_BY(mu);  // endpoint -> until
  SenderStats stats GUARDED_BY(mu);
  Mutex outbox_mu;
  std::unique_ptr<env::WritableFile> outbox GUARDED_BY(outbox_mu);

  void Record(const Delivery& d, int status, std::string result, std::string error) {
    if (!deps.record) return;
    DeliveryRecord r = d.rec;
    r.time = deps.env.clock->Now();
    r.status = status;
    r.result = std::move(result);
    r.error = std::move(error);
    deps.record(r);
  }
  void Enqueue(Delivery d);
  void Start(Delivery d);
  void Done(Delivery d, int status, const std::string& error, bool final);
  void StartNextLocked() REQUIRES(mu);
};

// One HTTP(S) request: resolve, connect, handshake, write, read, under one real-time deadline.
class WebhookSender::Impl::Attempt : public std::enable_shared_from_this<Attempt> {
 public:
  Attempt(Impl* impl, Delivery d)
      : impl_(impl), d_(std::move(d)), resolver_(impl->ioc), stream_(impl->ioc, impl->tls), deadline_(impl->ioc) {}

  void Run() {
    auto self = shared_from_this();
    deadline_.expires_after(std::chrono::milliseconds(impl_->options.attempt_timeout_ms));
    deadline_.async_wait([self](beast::error_code ec) {
      if (ec) return;  // cancelled: the attempt finished first
      self->timed_out_ = true;
      self->resolver_.cancel();
      beast::get_lowest_layer(self->stream_).close();
    });
    req_ = http::request<http::string_body>(http::verb::post, d_.target, 11);
    req_.set(http::field::host, d_.host_header);
    req_.set(http::field::user_agent, "cmklogs-alerts/1.0");
    req_.set(http::field::content_type, "application/json; charset=utf-8");
    for (const auto& [k, v] : d_.headers) req_.set(k, v);
    req_.body() = d_.body;
    req_.keep_alive(false);
    req_.prepare_payload();
    parser_.body_limit(impl_->options.max_response_bytes);
    parser_.header_limit(16 * 1024);
    resolver_.async_resolve(d_.host, d_.port, [self](beast::error_code ec, tcp::resolver::results_type r) {
      if (ec) return self->Finish("cannot resolve " + self->d_.host + ": " + ec.message());
      // Only the addresses a webhook may reach are connected to: the check and the connection
      // use the same resolution, so a name that changes its answer between them gains nothing.
      std::vector<tcp::endpoint> allowed;
      std::string refusal;
      for (const auto& entry : r) {
        tcp::endpoint ep = entry.endpoint();
        auto why = RefusedAddress(ep.address(), self->impl_->options.allow_loopback);
        if (!why) allowed.push_back(ep);
        else if (refusal.empty()) refusal = ep.address().to_string() + " is " + *why;
      }
      if (allowed.empty()) {
        return self->Finish("the serviceUri's host " + self->d_.host + " has no address a webhook may reach: " + refusal,
                            /*final=*/true);
      }
      self->endpoints_ = std::move(allowed);
      beast::get_lowest_layer(self->stream_).async_connect(self->endpoints_,
                                                           [self](beast::error_code ec, const tcp::endpoint&) {
        if (ec) return self->Finish("cannot connect: " + ec.message());
        self->AfterConnect();
      });
    });
  }

 private:
  void AfterConnect() {
    auto self = shared_from_this();
    if (!d_.tls) return Send(beast::get_lowest_layer(stream_));
    if (!SSL_set_tlsext_host_name(stream_.native_handle(), d_.host.c_str())) return Finish("cannot set SNI");
    stream_.set_verify_callback(ssl::host_name_verification(d_.host));
    stream_.async_handshake(ssl::stream_base::client, [self](beast::error_code ec) {
      if (ec) return self->Finish("TLS handshake failed: " + ec.message());
      self->Send(self->stream_);
    });
  }

  template <class Stream>
  void Send(Stream& s) {
    auto self = shared_from_this();
    http::async_write(s, req_, [self, &s](beast::error_code ec, size_t) {
      if (ec) return self->Finish("cannot send the request: " + ec.message());
      http::async_read(s, self->buffer_, self->parser_, [self](beast::error_code ec, size_t) {
        // A status line that arrived counts even when the body was cut at the limit.
        if (ec && !self->parser_.is_header_done()) return self->Finish("no response: " + ec.message());
        self->status_ = static_cast<int>(self->parser_.get().result_int());
        self->Finish("");
      });
    });
  }

  // `final`: the failure is the target's own (no address it may reach): no retry helps.
  void Finish(std::string error, bool final = false) {
    if (finished_) return;
    finished_ = true;
    deadline_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(stream_).socket().close(ignored);
    if (timed_out_) error = "timed out after " + std::to_string(impl_->options.attempt_timeout_ms) + " ms";
    impl_->Done(std::move(d_), timed_out_ ? 0 : status_, error, final && !timed_out_);
  }

  Impl* impl_;
  Delivery d_;
  tcp::resolver resolver_;
  std::vector<tcp::endpoint> endpoints_;
  beast::ssl_stream<beast::tcp_stream> stream_;
  net::steady_timer deadline_;
  http::request<http::string_body> req_;
  http::response_parser<http::string_body> parser_;
  beast::flat_buffer buffer_;
  int status_ = 0;
  bool timed_out_ = false, finished_ = false;
};

void WebhookSender::Impl::Enqueue(Delivery d) {
  MutexLock l(&mu);
  TimePoint now = deps.env.clock->Now();
  if (auto it = muted.find(d.endpoint); it != muted.end()) {
    if (now < it->second) {
      ++stats.dropped;
      Record(d, 0, "Muted", "the endpoint failed every retry; no calls until " + FormatRfc3339(it->second, 0));
      return;
    }
    muted.erase(it);
  }
  if (in_flight < options.max_in_flight) {
    ++in_flight;
    net::post(ioc, [this, d = std::move(d)]() mutable { Start(std::move(d)); });
    return;
  }
  if (queue.size() >= options.max_queued) {
    ++stats.dropped;
    Record(d, 0, "Dropped", "too many deliveries waiting (" + std::to_string(options.max_queued) + ")");
    return;
  }
  queue.push_back(std::move(d));
}

void WebhookSender::Impl::Start(Delivery d) {
  ++d.rec.attempt;
  std::make_shared<Attempt>(this, std::move(d))->Run();
}

void WebhookSender::Impl::StartNextLocked() {
  if (queue.empty() || in_flight >= options.max_in_flight) return;
  ++in_flight;
  net::post(ioc, [this, d = std::move(queue.front())]() mutable { Start(std::move(d)); });
  queue.pop_front();
}

void WebhookSender::Impl::Done(Delivery d, int status, const std::string& error, bool final) {
  bool ok = status >= 200 && status < 300;
  size_t attempt = static_cast<size_t>(d.rec.attempt);
  bool retriable = !final && Retriable(status);
  bool retry = !ok && retriable && attempt <= options.retry_delays.size();
  std::string what = error.empty() && !ok ? "HTTP " + std::to_string(status) : error;
  Record(d, status, ok ? "Delivered" : retry ? "Retrying" : "Failed", ok ? "" : what);
  MutexLock l(&mu);
  --in_flight;
  if (ok) ++stats.delivered;
  if (!ok && !retry) {
    ++stats.failed;
    // Retries spent on a retriable failure: the endpoint rests (Azure: 15 minutes).
    if (retriable) muted[d.endpoint] = deps.env.clock->Now() + options.endpoint_mute;
  }
  if (retry) {
    ++stats.retries;
    ++waiting_retries;
    std::weak_ptr<Guard> weak = guard;
    Duration delay = options.retry_delays[attempt - 1];
    auto shared = std::make_shared<Delivery>(std::move(d));
    deps.env.clock->RunAfter(delay, [weak, shared] {
      auto g = weak.lock();
      if (!g) return;
      std::lock_guard<std::mutex> gl(g->mu);
      if (g->self == nullptr) return;
      {
        MutexLock l2(&g->self->mu);
        --g->self->waiting_retries;
      }
      g->self->Enqueue(std::move(*shared));
    });
  }
  StartNextLocked();
  idle.NotifyAll();
}

Result<std::unique_ptr<WebhookSender>> WebhookSender::Create(WebhookSenderDeps deps,
                                                             WebhookSenderOptions options) {
  auto impl = std::make_unique<Impl>();
  impl->deps = std::move(deps);
  impl->options = std::move(options);
  boost::system::error_code ec;
  impl->tls.set_default_verify_paths(ec);
  if (!impl->options.extra_ca_pem.empty()) {
    impl->tls.add_certificate_authority(net::buffer(impl->options.extra_ca_pem), ec);
    if (ec) return InvalidArgument("cannot load the webhook CA certificates: " + ec.message());
  }
  impl->tls.set_verify_mode(ssl::verify_peer);
  if (!impl->options.email_outbox.empty()) {
    ASSIGN_OR_RETURN(auto f, impl->deps.env.fs->NewAppendableFile(impl->options.email_outbox, 0600));
    MutexLock l(&impl->outbox_mu);
    impl->outbox = std::move(f);
  }
  impl->guard->self = impl.get();
  Impl* raw = impl.get();
  impl->thread = std::thread([raw] {
    env::RunGuarded("webhook sender", [raw] { raw->ioc.run(); });
  });
  return std::unique_ptr<WebhookSender>(new WebhookSender(std::move(impl)));
}

WebhookSender::WebhookSender(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

WebhookSender::~WebhookSender() {
  {
    std::lock_guard<std::mutex> g(impl_->guard->mu);
    impl_->guard->self = nullptr;
  }
  impl_->work.reset();
  impl_->ioc.stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void WebhookSender::Notify(const AlertRule& rule, const AlertEvent& event,
                           const std::vector<ActionGroup>& groups) {
  std::string payload = SerializePayload(rule, event);
  for (const auto& g : groups) {
    for (const auto& w : g.webhooks) {
      DeliveryRecord rec{{}, event.alert_id, rule.id, g.id, w.name, "Webhook", "", 0, 0, "", ""};
      auto d = ParseTarget(w.service_uri);
      if (!d.ok()) {
        impl_->Record(Delivery{.rec = rec}, 0, "Failed", d.status().message());
        continue;
      }
      d->rec = rec;
      d->rec.target = d->endpoint;
      d->body = payload;
      if (w.aad_auth) {
        auto token = impl_->deps.aad_token ? impl_->deps.aad_token(w)
                                           : Result<std::string>(FailedPrecondition("no token service"));
        if (!token.ok()) {
          impl_->Record(*d, 0, "Failed", "cannot get a token for " + w.identifier_uri + ": " + token.status().message());
          continue;
        }
        d->headers.emplace_back("Authorization", "Bearer " + *token);
      }
      impl_->Enqueue(std::move(*d));
    }
    for (const auto& e : g.emails) {
      bj::object line{{"time", FormatRfc3339(impl_->deps.env.clock->Now(), 7)},
                      {"to", e.address},
                      {"subject", std::string(event.fired ? "Fired" : "Resolved") + ": Sev" +
                                      std::to_string(rule.severity) + " Azure Monitor Alert " + rule.name},
                      {"actionGroup", g.id},
                      {"receiver", e.name},
                      {"alertId", event.alert_id},
                      {"body", nullptr}};
      if (auto body = json::Parse(payload); body.ok()) line["body"] = std::move(*body);
      std::string text = bj::serialize(line) + "\n";
      Status s = OkStatus();
      {
        MutexLock l(&impl_->outbox_mu);
        if (impl_->outbox) {
          s = impl_->outbox->Append(AsBytes(text));
          if (s.ok()) s = impl_->outbox->Flush();
        }
      }
      {
        MutexLock l(&impl_->mu);
        ++impl_->stats.emails;
      }
      Delivery d{.rec = {{}, event.alert_id, rule.id, g.id, e.name, "Email", e.address, 1, 0, "", ""}};
      impl_->Record(d, 0, s.ok() ? "Delivered" : "Failed", s.ok() ? "" : s.message());
    }
  }
}

SenderStats WebhookSender::Stats() const {
  MutexLock l(&impl_->mu);
  SenderStats s = impl_->stats;
  s.in_flight = impl_->in_flight;
  s.queued = impl_->queue.size();
  return s;
}

void WebhookSender::WaitIdleForTest() {
  UniqueLock l(&impl_->mu);
  impl_->idle.Wait(l, [&]() REQUIRES(impl_->mu) {
    return impl_->in_flight == 0 && impl_->queue.empty();
  });
}

}  // namespace cmk::alerts
