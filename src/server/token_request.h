#pragma once
// The OAuth2 client-credentials request of the token service (RFC 6749 §4.4, Entra's v1, v2 and
// ADFS forms), parsed from a hostile body and Authorization header without throwing. Failures
// are Statuses whose error_code is the OAuth2 `error` (invalid_request, invalid_client,
// unsupported_grant_type, invalid_scope) and whose message is Entra's AADSTS text; the router
// turns them into the AAD error shape. The secret is wiped when the request is destroyed.
// Thread safety: pure functions.
#include <string>
#include <string_view>

#include "base/status.h"

namespace cmk::server {

struct TokenRequest {
  std::string client_id;
  std::string client_secret;  // wiped by the destructor
  std::string resource;       // from v2 `scope` (without "/.default") or v1/ADFS `resource`
  std::string scope;          // as sent (v2), empty for v1/ADFS
  bool resource_form = false;  // the v1/ADFS `resource` parameter was used
  TokenRequest() = default;
  TokenRequest(TokenRequest&&) = default;
  TokenRequest& operator=(TokenRequest&&) = default;
  ~TokenRequest();
};

// Bounded input: the HTTP server caps bodies; a form of more than 256 fields is refused.
Result<TokenRequest> ParseTokenRequest(std::string_view form_body, std::string_view authorization);

}  // namespace cmk::server
