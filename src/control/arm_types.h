#pragma once
// HTTP-agnostic ARM request/response values exchanged between the server and control.
#include <boost/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "base/status.h"
#include "identity/principal.h"

namespace cmk::control {

struct ArmRequest {
  std::string method;
  std::string path;  // percent-decoded
  std::vector<std::pair<std::string, std::string>> query;
  std::string body;
  identity::Principal caller;
  std::string base_url;  // external https://management.D:PORT, for absolute URLs
  // For the activity log: x-ms-correlation-request-id (or the server's request id), the
  // client's x-ms-client-request-id and address.
  std::string correlation_id;
  std::string client_request_id;
  std::string client_ip;
  std::string_view Query(std::string_view name) const;
  bool HasQuery(std::string_view name) const;
};

struct ArmResponse {
  int status = 200;
  std::optional<boost::json::value> body;
  std::vector<std::pair<std::string, std::string>> headers;
};

ArmResponse ArmError(const Status& status);

}  // namespace cmk::control
