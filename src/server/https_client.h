#pragma once
// A small blocking HTTPS/1.1 client (one request per connection) for the admin CLI and for
// tests. The peer certificate is verified against a given CA and the URL's host name.
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"

namespace cmk::server {

struct ClientRequest {
  std::string method = "GET";
  std::string url;  // https://host[:port]/path?query
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
};

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string Header(std::string_view name) const;
};

struct HttpsClientOptions {
  std::string ca_cert_path;
  // Connect here instead of resolving the URL's host (the host still goes into SNI, the Host
  // header and certificate checks). Empty: resolve.
  std::string connect_address;
  int timeout_ms = 30000;
};

Result<ClientResponse> HttpsFetch(const ClientRequest& request, const HttpsClientOptions& options);

}  // namespace cmk::server
