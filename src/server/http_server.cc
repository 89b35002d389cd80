#include "server/http_server.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url.hpp>
#include <map>
#include <mutex>

#include "base/encoding.h"
#include "env/env.h"

namespace cmk::server {

namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = net::ip::tcp;

class Session;

// What a Session touches from its destructor. Shared, so that sessions destroyed while the
// io_context itself is being torn down (after a cut-off shutdown) never touch freed memory.
struct SessionRegistry {
  std::mutex mu;
  std::map<uint64_t, std::weak_ptr<Session>> sessions;
  std::atomic<int> active{0};
  std::atomic<bool> stopping{false};
  std::atomic<bool> destroying{false};
};

class HttpServer::Impl {
 public:
  Impl(HttpServerOptions options, Handler handler, Observer observer, HeaderHandler header_handler)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        observer_(std::move(observer)),
        header_handler_(std::move(header_handler)),
        ssl_(ssl::context::tls_server),
        work_(net::make_work_guard(ioc_)),
        watchdog_(ioc_) {}

  ~Impl() { registry_->destroying = true; }
  Status Init(const std::string& cert_pem, const SecretBytes& key_pem);
  void Accept(tcp::acceptor& acceptor);
  void Shutdown();

  HttpServerOptions options_;
  Handler handler_;
  Observer observer_;
  HeaderHandler header_handler_;
  net::io_context ioc_;
  ssl::context ssl_;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  net::steady_timer watchdog_;
  std::vector<std::thread> threads_;
  std::shared_ptr<SessionRegistry> registry_ = std::make_shared<SessionRegistry>();
  std::atomic<uint64_t> next_id_{1};
  uint16_t port_ = 0;
};

namespace {

HttpRequest ToRequest(const http::request<http::string_body>& msg, bool* ok) {
  HttpRequest r;
  r.method = std::string(msg.method_string());
  r.target = std::string(msg.target());
  *ok = false;
  auto url = boost::urls::parse_origin_form(r.target);
  if (!url) return r;
  r.path = std::string(url->path());
  for (auto p : url->params()) r.query.emplace_back(std::string(p.key), std::string(p.value));
  for (const auto& f : msg) r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  r.host = std::string(msg[http::field::host]);
  r.body = msg.body();
  *ok = true;
  return r;
}

std::string ErrorJson(std::string_view code, std::string_view message) {
  return "{\"error\":{\"code\":\"" + std::string(code) + "\",\"message\":\"" + std::string(message) + "\"}}";
}

}  // namespace

Result<HttpRequest> ParseRequestBytes(std::string_view bytes, const HttpServerOptions& options) {
  http::request_parser<http::string_body> parser;
  parser.header_limit(static_cast<uint32_t>(options.max_header_bytes));
  parser.body_limit(options.max_body_bytes);
  parser.eager(true);
  beast::error_code ec;
  size_t used = 0;
  while (used < bytes.size() && !parser.is_done()) {
    size_t n = parser.put(net::buffer(bytes.data() + used, bytes.size() - used), ec);
    if (ec == http::error::need_more) break;
    if (ec == http::error::body_limit) return Status(StatusCode::kPayloadTooLarge, "body too large");
    if (ec) return InvalidArgument("malformed request: " + ec.message());
    if (n == 0) break;
    used += n;
  }
  if (!parser.is_done()) {
    if (!parser.got_some()) return InvalidArgument("empty request");
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return InvalidArgument("incomplete request");
  }
  bool ok = false;
  HttpRequest req = ToRequest(parser.get(), &ok);
  if (!ok) return InvalidArgument("invalid request target");
  return req;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, HttpServer::Impl* server)
      : stream_(std::move(socket), server->ssl_),
        server_(server),
        registry_(server->registry_),
        id_(server->next_id_++) {
    registry_->active++;
    boost::system::error_code ec;
    auto ep = stream_.next_layer().socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
  }
  ~Session() {
    {
      std::lock_guard<std::mutex> l(registry_->mu);
      registry_->sessions.erase(id_);
    }
    // The last connection gone during a shutdown: stop waiting out the grace period.
    if (--registry_->active == 0 && registry_->stopping && !registry_->destroying) {
      net::post(server_->ioc_, [s = server_] { s->watchdog_.cancel(); });
    }
  }

  void Run() {
    {
      std::lock_guard<std::mutex> l(registry_->mu);
      registry_->sessions[id_] = weak_from_this();
    }
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      self->stream_.next_layer().expires_after(
          std::chrono::milliseconds(self->server_->options_.read_timeout_ms));
      self->stream_.async_handshake(ssl::stream_base::server,
                                    beast::bind_front_handler(&Session::OnHandshake, self));
    });
  }

  auto executor() { return stream_.get_executor(); }

  // Posted by HttpServer::Shutdown: an idle connection closes now, a busy one after its response;
  // one draining the body of a request it has already answered stops draining.
  void OnShutdown() {
    if ((reading_ && parser_ && !parser_->got_some() && buffer_.size() == 0) || draining_) {
      stream_.next_layer().cancel();
    }
  }

 private:
  void OnHandshake(beast::error_code ec) {
    if (ec) return;  // handshake failed or timed out: drop the connection
    DoRead();
  }

  void DoRead() {
    if (registry_->stopping) return DoClose();
    parser_.emplace();
    parser_->header_limit(static_cast<uint32_t>(server_->options_.max_header_bytes));
    parser_->body_limit(server_->options_.max_body_bytes);
    reading_ = true;
    started_us_ = 0;
    // One deadline for the whole request, header and body (and for draining an answered body).
    read_deadline_ = std::chrono::steady_clock::now() +
                     std::chrono::milliseconds(server_->options_.read_timeout_ms);
    stream_.next_layer().expires_at(read_deadline_);
    http::async_read_header(stream_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::OnHeader, shared_from_this()));
  }

  // The header is complete (or reading it failed). A request that declares a body may be answered
  // before its body is read; otherwise the body is read and the request handled in OnRead.
  void OnHeader(beast::error_code ec, size_t n) {
    if (ec || parser_->is_done() || !server_->header_handler_) return ReadBody(ec, n);
    bool ok = false;
    HttpRequest req = ToRequest(parser_->get(), &ok);
    if (!ok) return ReadBody(ec, n);  // answered (400) once the body is read, as before
    req.remote_address = remote_;
    HttpResponse res;
    if (!server_->header_handler_(req, res)) return ReadBody(ec, n);
    // Answered from the header: the body is still unread, so this connection cannot carry another
    // request. Send the answer now, then drain the body and close (OnWrite -> DoDrain).
    reading_ = false;
    started_us_ = env::MonotonicMicros();
    keep_alive_ = false;
    drain_after_write_ = true;
    Write(req, std::move(res));
  }

  void ReadBody(beast::error_code ec, size_t n) {
    if (ec || parser_->is_done()) return OnRead(ec, n);
    stream_.next_layer().expires_at(read_deadline_);
    http::async_read(stream_, buffer_, *parser_, beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  // Reads and discards the rest of an answered request's body (bounded by the body limit and the
  // request's read deadline), so that closing does not reset the connection under a client that
  // is still sending it, then closes. A client that never sends the body it declared (the
  // connection's only use is over) ends this when it closes, or the deadline does.
  void DoDrain() {
    drain_after_write_ = false;
    draining_ = true;
    if (registry_->stopping) return DoClose();
    stream_.next_layer().expires_at(read_deadline_);
    http::async_read(stream_, buffer_, *parser_,
                     [self = shared_from_this()](beast::error_code, size_t) {
                       self->draining_ = false;
                       self->DoClose();
                     });
  }

  void OnRead(beast::error_code ec, size_t) {
    reading_ = false;
    started_us_ = env::MonotonicMicros();
    if (ec == http::error::end_of_stream || ec == net::error::operation_aborted ||
        ec == beast::error::timeout || ec == net::ssl::error::stream_truncated) {
      return DoClose();
    }
    if (ec == http::error::body_limit) {
      return SendError(413, "PayloadTooLarge",
                       "The request body exceeds the limit of " +
                           std::to_string(server_->options_.max_body_bytes) + " bytes.");
    }
    if (ec == http::error::header_limit) {
      return SendError(431, "RequestHeaderFieldsTooLarge", "The request headers are too large.");
    }
    if (ec && ec.category() == http::make_error_code(http::error::bad_method).category()) {
      return SendError(400, "BadRequest", "Malformed HTTP request: " + ec.message() + ".");
    }
    if (ec) return DoClose();
    const auto& msg = parser_->get();
    bool ok = false;
    HttpRequest req = ToRequest(msg, &ok);
    req.remote_address = remote_;
    HttpResponse res;
    if (!ok) {
      res.SetJson(400, ErrorJson("BadRequest", "The request target is not a valid URL path."));
    } else {
      server_->handler_(req, res);
    }
    keep_alive_ = msg.keep_alive() && !registry_->stopping;
    Write(req, std::move(res));
  }

  void SendError(int status, std::string_view code, const std::string& message) {
    HttpRequest req;
    req.remote_address = remote_;
    if (parser_ && parser_->is_header_done()) {
      bool ok;
      req = ToRequest(parser_->get(), &ok);
      req.remote_address = remote_;
    }
    HttpResponse res;
    res.SetJson(status, ErrorJson(code, message));
    keep_alive_ = false;
    Write(req, std::move(res));
  }

  void Write(const HttpRequest& req, HttpResponse res) {
    if (req.request_id.empty()) {
      // Front ends assign ids; requests that never reached one get one here.
      std::array<uint8_t, 16> b;
      env::SecureRandom().Fill(b);
      request_id_ = FormatGuidV4(b);
    } else {
      request_id_ = req.request_id;
    }
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(res.status));
    res_.set(http::field::server, "cmklogs");
    bool has_rid = false;
    for (auto& [k, v] : res.headers) {
      if (EqualsIgnoreCase(k, "x-ms-request-id")) has_rid = true;
      res_.set(k, v);
    }
    if (!has_rid) res_.set("x-ms-request-id", request_id_);
    res_.body() = std::move(res.body);
    res_.keep_alive(keep_alive_);
    res_.prepare_payload();
    int64_t micros = started_us_ ? env::MonotonicMicros() - started_us_ : 0;
    if (server_->observer_) {
      res.body.clear();
      HttpRequest logged = req;
      if (logged.request_id.empty()) logged.request_id = request_id_;
      server_->observer_(logged, res, micros);
    }
    stream_.next_layer().expires_after(std::chrono::milliseconds(server_->options_.write_timeout_ms));
    http::async_write(stream_, res_, beast::bind_front_handler(&Session::OnWrite, shared_from_this()));
  }

  void OnWrite(beast::error_code ec, size_t) {
    if (ec) return;
    if (drain_after_write_) return DoDrain();
    if (!keep_alive_) return DoClose();
    DoRead();
  }

  void DoClose() {
    stream_.next_layer().expires_after(std::chrono::seconds(2));
    stream_.async_shutdown([self = shared_from_this()](beast::error_code) {
      beast::error_code ignored;
      self->stream_.next_layer().socket().shutdown(tcp::socket::shutdown_both, ignored);
      self->stream_.next_layer().close();
    });
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  HttpServer::Impl* server_;
  std::shared_ptr<SessionRegistry> registry_;
  uint64_t id_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  http::response<http::string_body> res_;
  std::string remote_;
  std::string request_id_;
  bool keep_alive_ = true;
  bool reading_ = false;
  bool drain_after_write_ = false;  // the response answers a request whose body is unread
  bool draining_ = false;
  std::chrono::steady_clock::time_point read_deadline_;
  int64_t started_us_ = 0;
};

Status HttpServer::Impl::Init(const std::string& cert_pem, const SecretBytes& key_pem) {
  boost::system::error_code ec;
  ssl_.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                       ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1,
                   ec);
  ssl_.use_certificate_chain(net::buffer(cert_pem), ec);
  if (ec) return InvalidArgument("invalid server certificate: " + ec.message());
  ssl_.use_private_key(net::buffer(key_pem.data(), key_pem.size()), ssl::context::pem, ec);
  if (ec) return InvalidArgument("invalid server key: " + ec.message());
  for (const auto& addr_text : options_.listen_addresses) {
    auto addr = net::ip::make_address(addr_text, ec);
    if (ec) return InvalidArgument("invalid listen address '" + addr_text + "'");
    auto acc = std::make_unique<tcp::acceptor>(ioc_);
    tcp::endpoint ep(addr, port_ ? port_ : options_.port);
    acc->open(ep.protocol(), ec);
    if (!ec && addr.is_v6()) acc->set_option(net::ip::v6_only(true), ec);
    if (!ec) acc->set_option(net::socket_base::reuse_address(true), ec);
    if (!ec) acc->bind(ep, ec);
    if (!ec) acc->listen(net::socket_base::max_listen_connections, ec);
    if (ec) {
      // ::1 may be unavailable (no IPv6 in a container): serve the other addresses.
      if (addr.is_v6() && acceptors_.size() > 0 && ec != net::error::address_in_use) continue;
      return Unavailable("cannot listen on " + addr_text + ":" +
                         std::to_string(port_ ? port_ : options_.port) + ": " + ec.message());
    }
    if (port_ == 0) port_ = acc->local_endpoint().port();
    acceptors_.push_back(std::move(acc));
  }
  if (acceptors_.empty()) return InvalidArgument("no listen address");
  return OkStatus();
}

void HttpServer::Impl::Accept(tcp::acceptor& acceptor) {
  acceptor.async_accept(net::make_strand(ioc_), [this, &acceptor](beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || registry_->stopping) return;
    if (!ec) {
      if (registry_->active >= options_.max_connections) {
        socket.close(ec);
      } else {
        std::make_shared<Session>(std::move(socket), this)->Run();
      }
    }
    Accept(acceptor);
  });
}

void HttpServer::Impl::Shutdown() {
  if (registry_->stopping.exchange(true)) return;
  net::post(ioc_, [this] {
    for (auto& a : acceptors_) {
      boost::system::error_code ec;
      a->close(ec);
    }
    std::vector<std::shared_ptr<Session>> live;
    {
      std::lock_guard<std::mutex> l(registry_->mu);
      for (auto& [id, w] : registry_->sessions) {
        if (auto s = w.lock()) live.push_back(std::move(s));
      }
    }
    for (auto& s : live) net::post(s->executor(), [s] { s->OnShutdown(); });
    work_.reset();
    if (registry_->active == 0) return;
    watchdog_.expires_after(std::chrono::milliseconds(options_.shutdown_grace_ms));
    watchdog_.async_wait([this](beast::error_code ec) {
      if (!ec) ioc_.stop();  // grace period over: cut what is left
    });
  });
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  Shutdown();
  Wait();
}

Result<std::unique_ptr<HttpServer>> HttpServer::Create(HttpServerOptions options,
                                                       const std::string& cert_chain_pem,
                                                       const SecretBytes& key_pem, Handler handler,
                                                       Observer observer, HeaderHandler header_handler) {
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handler), std::move(observer),
                                     std::move(header_handler));
  RETURN_IF_ERROR(impl->Init(cert_chain_pem, key_pem));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const { return impl_->port_; }
int HttpServer::active_connections() const { return impl_->registry_->active; }

void HttpServer::Start() {
  for (auto& a : impl_->acceptors_) impl_->Accept(*a);
  int n = std::max(1, impl_->options_.threads);
  for (int i = 0; i < n; ++i) impl_->threads_.emplace_back([this] { impl_->ioc_.run(); });
}

void HttpServer::Shutdown() { impl_->Shutdown(); }

void HttpServer::Wait() {
  for (auto& t : impl_->threads_) {
    if (t.joinable()) t.join();
  }
  impl_->threads_.clear();
}

}  // namespace cmk::server
