#pragma once
// HttpServer: HTTPS/1.1 over Boost.Beast and OpenSSL. Keep-alive, limits on header (431) and
// body (413) size, a deadline for reading each request (slow clients are cut off), 400 for
// malformed requests, and graceful shutdown (stop accepting, close idle connections, finish
// requests in flight).
//
// A request that declares a body can be answered from its header alone (HeaderHandler, e.g. a 401
// for a missing or expired token): the answer goes out at once, says `Connection: close`, and the
// server then drains what the client still sends of that body (up to the body limit and the
// request's read deadline) before closing. It never waits for a body before sending an answer it
// already has, and never reads an unread body as the next request.
//
// Socket deadlines run on Asio's steady clock, not the injected Env clock: they protect against
// real peers in real time and decide nothing a test simulates (see docs/architecture.md).
//
// Where handlers run: the Classifier maps each request to one of the worker pools of
// HttpServerOptions::pools, or to -1 for "inline on the network thread" (cheap, non-blocking
// handlers only: health, tokens). A pooled request's connection waits for the answer without
// holding a network thread; if the client disconnects meanwhile (or the server shuts down), the
// request's `cancelled` flag is set. A full pool queue answers 503 ServerBusy with Retry-After.
// No exception escapes: one thrown by a handler becomes a 500 written by the ExceptionHandler
// (the front end's error shape), and the server keeps serving.
// Handlers run concurrently on several threads; they must be thread-safe.

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/secret_bytes.h"
#include "base/status.h"
#include "server/http_types.h"
#include "server/worker_pool.h"

namespace cmk::server {

struct HttpServerOptions {
  // Addresses to listen on; the default covers both answers of libnss-myhostname.
  std::vector<std::string> listen_addresses = {"127.0.0.1", "::1"};
  // 0 picks a free port (the same on every address).
  uint16_t port = 8443;
  size_t max_header_bytes = 64 * 1024;
  size_t max_body_bytes = 32 * 1024 * 1024;
  // Deadline for the TLS handshake and for reading one complete request (header and body),
  // counted from when the server starts waiting for it.
  int read_timeout_ms = 30000;
  int write_timeout_ms = 30000;
  int threads = 2;
  int max_connections = 20000;
  // How long Shutdown() lets requests in flight finish before cutting connections.
  int shutdown_grace_ms = 10000;
  // Worker pools for handlers (see the Classifier); none: every handler runs inline.
  std::vector<WorkerPoolOptions> pools;
};

using Handler = std::function<void(HttpRequest&, HttpResponse&)>;
// Called when the header of a request that declares a body is complete, before the body is read;
// `body` is empty. Returns true if it has written the final response into the HttpResponse (the
// Handler is then not called for this request), false to read the body and call the Handler.
using HeaderHandler = std::function<bool(HttpRequest&, HttpResponse&)>;
// Called after each response is written (access log, metrics).
using Observer = std::function<void(const HttpRequest&, const HttpResponse&, int64_t micros)>;
// Index of the worker pool that runs the request's handler, or -1 to run it inline.
using Classifier = std::function<int(const HttpRequest&)>;
// Writes the 500 for an exception that escaped a handler (`what` is for the log only: it is never
// sent to the client). Must not throw.
using ExceptionHandler =
    std::function<void(const HttpRequest&, HttpResponse&, std::string_view what)>;

struct HttpHandlers {
  Handler handle;
  Observer observe;
  HeaderHandler header;          // optional
  Classifier classify;           // optional: everything inline
  ExceptionHandler on_exception;  // optional: a plain JSON 500
};

// Parses one request from raw bytes exactly as a connection does (same limits and conversion).
// For the fuzz target and tests.
Result<HttpRequest> ParseRequestBytes(std::string_view bytes, const HttpServerOptions& options);

class HttpServer {
 public:
  static Result<std::unique_ptr<HttpServer>> Create(HttpServerOptions options,
                                                    const std::string& cert_chain_pem,
                                                    const SecretBytes& key_pem,
                                                    HttpHandlers handlers);
  static Result<std::unique_ptr<HttpServer>> Create(HttpServerOptions options,
                                                    const std::string& cert_chain_pem,
                                                    const SecretBytes& key_pem, Handler handler,
                                                    Observer observer,
                                                    HeaderHandler header_handler = nullptr);
  ~HttpServer();

  uint16_t port() const;
  // Starts the worker threads. REQUIRES: called once.
  void Start();
  // Graceful shutdown; returns at once. Wait() returns when it is done.
  void Shutdown();
  void Wait();
  int active_connections() const;
  // Requests of pool `i` running and waiting (for /metrics); 0 for an unknown pool.
  int pool_busy(size_t i) const;
  size_t pool_queued(size_t i) const;

  class Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cmk::server
