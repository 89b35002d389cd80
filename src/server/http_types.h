#pragma once
// Plain request/response values handed to front ends; nothing here depends on Beast.
#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cmk::server {

struct HttpRequest {
  std::string method;  // upper case
  std::string target;  // raw request target
  std::string path;    // percent-decoded path
  // Query parameters with names and values percent-decoded, in order of appearance.
  std::vector<std::pair<std::string, std::string>> query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  std::string host;  // Host header as sent (may include a port)
  std::string remote_address;
  std::string request_id;  // x-ms-request-id assigned by the server
  // Set by the server when the client goes away or the server shuts down while a worker pool
  // runs the handler; long handlers (queries) poll it. Null for handlers run inline.
  std::shared_ptr<const std::atomic<bool>> cancelled;

  // Case-insensitive lookups; empty when absent.
  std::string_view Header(std::string_view name) const;
  bool HasHeader(std::string_view name) const;
  std::string_view Query(std::string_view name) const;
  bool HasQuery(std::string_view name) const;
};

struct HttpResponse {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // Filled by front ends for the access log: who called (object id) and which front end.
  std::string principal;
  std::string front_end;

  void SetHeader(std::string name, std::string value);
  void SetJson(int status_code, std::string json_body);
};

}  // namespace cmk::server
