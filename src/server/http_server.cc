#include "server/http_server.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/url.hpp>
#include <sys/socket.h>

#include <cerrno>
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
  Impl(HttpServerOptions options, HttpHandlers handlers)
      : options_(std::move(options)),
        h_(std::move(handlers)),
        ssl_(ssl::context::tls_server),
        work_(net::make_work_guard(ioc_)),
        watchdog_(ioc_) {
    for (const auto& p : options_.pools) pools_.push_back(std::make_unique<WorkerPool>(p));
  }

  ~Impl() {
    // Pool jobs post their answers to ioc_: stop the pools (running jobs finish, queued ones are
    // dropped) while ioc_ still exists.
    for (auto& p : pools_) p->Stop();
    registry_->destroying = true;
  }
  Status Init(const std::string& cert_pem, const SecretBytes& key_pem);
  void Accept(tcp::acceptor& acceptor);
  void Shutdown();

  // The handler under the exception guard: nothing a handler throws leaves this function.
  void RunHandler(HttpRequest& req, HttpResponse& res) noexcept;
  bool RunHeaderHandler(HttpRequest& req, HttpResponse& res) noexcept;
  // -1 (inline) or a valid pool index.
  int Classify(const HttpRequest& req) noexcept;

  HttpServerOptions options_;
  HttpHandlers h_;
  net::io_context ioc_;
  ssl::context ssl_;
  std::vector<std::unique_ptr<tcp::acceptor>> acceptors_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  net::steady_timer watchdog_;
  std::vector<std::thread> threads_;
  std::shared_ptr<SessionRegistry> registry_ = std::make_shared<SessionRegistry>();
  std::atomic<uint64_t> next_id_{1};
  uint16_t port_ = 0;
  std::atomic<uint64_t> exceptions_{0};  // escaped from completion handlers (see Start)
  // Last member: destroyed first (after ~Impl has stopped them).
  std::vector<std::unique_ptr<WorkerPool>> pools_;
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

void DefaultExceptionResponse(HttpResponse& res) {
  res = HttpResponse{};
  res.SetJson(500, ErrorJson("InternalServerError",
                             "The server encountered an internal error. Please retry the request."));
}

}  // namespace

void HttpServer::Impl::RunHandler(HttpRequest& req, HttpResponse& res) noexcept {
  std::string what_text;
  try {
    h_.handle(req, res);
    return;
  } catch (...) {
    what_text = env::CurrentExceptionText();
  }
  // Keep what the front end already put in (request id, front end name) for the log and the
  // response headers; the body and status are replaced.
  HttpResponse fresh;
  fresh.front_end = res.front_end;
  fresh.principal = res.principal;
  for (auto& [k, v] : res.headers) {
    if (k.rfind("x-ms-", 0) == 0) fresh.headers.emplace_back(k, v);
  }
  res = std::move(fresh);
  try {
    if (h_.on_exception) {
      h_.on_exception(req, res, what_text);
    } else {
      DefaultExceptionResponse(res);
    }
  } catch (...) {
    DefaultExceptionResponse(res);
  }
}

bool HttpServer::Impl::RunHeaderHandler(HttpRequest& req, HttpResponse& res) noexcept {
  if (!h_.header) return false;
  try {
    return h_.header(req, res);
  } catch (...) {
    // Answered from the full request instead, where the guard of RunHandler reports it.
    res = HttpResponse{};
    return false;
  }
}

int HttpServer::Impl::Classify(const HttpRequest& req) noexcept {
  if (!h_.classify || pools_.empty()) return -1;
  try {
    int i = h_.classify(req);
    return i >= 0 && static_cast<size_t>(i) < pools_.size() ? i : -1;
  } catch (...) {
    return -1;
  }
}

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
    if (in_pool_ && cancelled_) cancelled_->store(true);
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
    if (ec || parser_->is_done() || !server_->h_.header) return ReadBody(ec, n);
    bool ok = false;
    HttpRequest req = ToRequest(parser_->get(), &ok);
    if (!ok) return ReadBody(ec, n);  // answered (400) once the body is read, as before
    req.remote_address = remote_;
    HttpResponse res;
    if (!server_->RunHeaderHandler(req, res)) return ReadBody(ec, n);
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
    keep_alive_ = msg.keep_alive() && !registry_->stopping;
    if (!ok) {
      res.SetJson(400, ErrorJson("BadRequest", "The request target is not a valid URL path."));
      return Write(req, std::move(res));
    }
    int pool = server_->Classify(req);
    if (pool < 0) {
      server_->RunHandler(req, res);
      return Write(req, std::move(res));
    }
    Offload(static_cast<size_t>(pool), std::move(req));
  }

  // Runs the handler on a worker pool; the answer comes back to this session's strand. Meanwhile
  // the socket is watched for the client going away, which cancels the request.
  void Offload(size_t pool, HttpRequest req) {
    cancelled_ = std::make_shared<std::atomic<bool>>(false);
    req.cancelled = cancelled_;
    auto shared_req = std::make_shared<HttpRequest>(std::move(req));
    auto self = shared_from_this();
    // Keeps the io_context running (and so this answer deliverable) while the job runs, even
    // when a shutdown has released the server's own work guard.
    auto work = net::make_work_guard(stream_.get_executor());
    bool queued = server_->pools_[pool]->TrySubmit([self, shared_req, work]() mutable {
      HttpResponse res;
      self->server_->RunHandler(*shared_req, res);
      auto ex = self->stream_.get_executor();
      net::post(ex, [self, shared_req, res = std::move(res)]() mutable {
        self->OnHandled(*shared_req, std::move(res));
      });
      work.reset();
    });
    if (!queued) {
      cancelled_.reset();
      HttpResponse res;
      res.SetHeader("Retry-After", "1");
      res.SetJson(503, ErrorJson("ServerBusy",
                                 "The server is busy with other requests. Retry after 1 second."));
      return Write(*shared_req, std::move(res));
    }
    in_pool_ = true;
    WatchDisconnect();
  }

  // A readable socket while the request is in a pool: either the peer closed (a 0-byte peek or
  // an error: cancel the request) or it sent more (a pipelined request or a TLS alert: stop
  // watching; the next read handles it).
  void WatchDisconnect() {
    auto& sock = stream_.next_layer().socket();
    sock.async_wait(tcp::socket::wait_read, [self = shared_from_this()](beast::error_code ec) {
      if (ec || !self->in_pool_) return;
      // A raw non-blocking peek: Asio's synchronous receive would wait for data when the
      // readiness was spurious, holding this session's strand (and the answer) hostage.
      char byte;
      ssize_t n;
      do {
        n = ::recv(self->stream_.next_layer().socket().native_handle(), &byte, 1,
                   MSG_PEEK | MSG_DONTWAIT);
      } while (n < 0 && errno == EINTR);
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return self->WatchDisconnect();
      if (n <= 0 && self->cancelled_) self->cancelled_->store(true);
    });
  }

  void OnHandled(const HttpRequest& req, HttpResponse res) {
    in_pool_ = false;
    cancelled_.reset();
    beast::error_code ignored;
    stream_.next_layer().socket().cancel(ignored);  // the disconnect watch
    if (registry_->stopping) keep_alive_ = false;
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
    std::string head_length;  // a HEAD answer states the length a GET would have (Blob properties)
    for (auto& [k, v] : res.headers) {
      if (EqualsIgnoreCase(k, "x-ms-request-id")) has_rid = true;
      if (req.method == "HEAD" && EqualsIgnoreCase(k, "Content-Length")) head_length = v;
      res_.set(k, v);
    }
    if (!has_rid) res_.set("x-ms-request-id", request_id_);
    res_.body() = std::move(res.body);
    res_.keep_alive(keep_alive_);
    res_.prepare_payload();
    if (!head_length.empty() && res_.body().empty()) res_.set(http::field::content_length, head_length);
    int64_t micros = started_us_ ? env::MonotonicMicros() - started_us_ : 0;
    if (server_->h_.observe) {
      res.body.clear();
      HttpRequest logged = req;
      logged.body.clear();
      if (logged.request_id.empty()) logged.request_id = request_id_;
      try {
        server_->h_.observe(logged, res, micros);
      } catch (...) {
        // The access log or metrics failing must not cost the client its answer.
      }
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
    // close_notify is sent at once; the peer's is awaited for up to 2 s so a client that reads it
    // sees a clean end. During a shutdown the wait is cut to 100 ms: an idle pooled keep-alive
    // connection (every SDK keeps one) never answers until its next use, and waiting it out made
    // each server stop take the whole 2 s.
    stream_.next_layer().expires_after(registry_->stopping ? std::chrono::milliseconds(100)
                                                           : std::chrono::milliseconds(2000));
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
  bool in_pool_ = false;  // a worker pool runs this session's request
  std::shared_ptr<std::atomic<bool>> cancelled_;  // that request's cancellation flag
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
        // Responses go out as they are written: with Nagle's algorithm, the last TLS record of
        // a response over one record (16 KiB) waited for the client's delayed ACK, ~40 ms.
        socket.set_option(tcp::no_delay(true), ec);
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
                                                       const SecretBytes& key_pem,
                                                       HttpHandlers handlers) {
  if (!handlers.handle) return InvalidArgument("HttpServer needs a handler");
  auto impl = std::make_unique<Impl>(std::move(options), std::move(handlers));
  RETURN_IF_ERROR(impl->Init(cert_chain_pem, key_pem));
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

Result<std::unique_ptr<HttpServer>> HttpServer::Create(HttpServerOptions options,
                                                       const std::string& cert_chain_pem,
                                                       const SecretBytes& key_pem, Handler handler,
                                                       Observer observer, HeaderHandler header_handler) {
  HttpHandlers h;
  h.handle = std::move(handler);
  h.observe = std::move(observer);
  h.header = std::move(header_handler);
  return Create(std::move(options), cert_chain_pem, key_pem, std::move(h));
}

uint16_t HttpServer::port() const { return impl_->port_; }
int HttpServer::active_connections() const { return impl_->registry_->active; }
int HttpServer::pool_busy(size_t i) const {
  return i < impl_->pools_.size() ? impl_->pools_[i]->busy() : 0;
}
size_t HttpServer::pool_queued(size_t i) const {
  return i < impl_->pools_.size() ? impl_->pools_[i]->queued() : 0;
}

void HttpServer::Start() {
  for (auto& a : impl_->acceptors_) impl_->Accept(*a);
  int n = std::max(1, impl_->options_.threads);
  for (int i = 0; i < n; ++i) {
    impl_->threads_.emplace_back([this] {
      // A completion handler that throws unwinds out of run(): the connection it served is
      // abandoned (its socket closes with the session), and this thread goes back to serving.
      for (;;) {
        try {
          impl_->ioc_.run();
          return;
        } catch (...) {
          impl_->exceptions_++;
        }
      }
    });
  }
}

void HttpServer::Shutdown() { impl_->Shutdown(); }

void HttpServer::Wait() {
  for (auto& t : impl_->threads_) {
    if (t.joinable()) t.join();
  }
  impl_->threads_.clear();
}

}  // namespace cmk::server
