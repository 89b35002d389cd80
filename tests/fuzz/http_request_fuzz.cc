// Fuzzes the HTTP request parsing of every connection (Beast parser with the server's limits,
// target and query decoding) and the routing decision made from its result.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/http_server.h"
#include "server/router.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  cmk::server::HttpServerOptions opts;
  opts.max_body_bytes = 64 * 1024;
  auto req = cmk::server::ParseRequestBytes(
      std::string_view(reinterpret_cast<const char*>(data), size), opts);
  if (req.ok()) {
    cmk::server::RouteRequest(req->host, req->path, "localhost");
    (void)req->Query("api-version");
    (void)req->Header("authorization");
  }
  return 0;
}
