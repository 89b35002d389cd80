#include "server/token_request.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "base/encoding.h"
#include "identity/token_service.h"

namespace cmk::server {
namespace {

using Form = std::vector<std::pair<std::string, std::string>>;

constexpr size_t kMaxFields = 256;

Status Bad(std::string oauth_error, std::string message) {
  // Decided before the move below: argument evaluation order is unspecified.
  StatusCode code = oauth_error == "invalid_client" ? StatusCode::kUnauthenticated
                                                    : StatusCode::kInvalidArgument;
  return Status(code, std::move(message), std::move(oauth_error));
}

void Wipe(std::string& s) { std::fill(s.begin(), s.end(), '\0'); }

// application/x-www-form-urlencoded body into (name, value) pairs.
Result<Form> ParseForm(std::string_view body) {
  Form out;
  size_t i = 0;
  while (i <= body.size()) {
    size_t amp = body.find('&', i);
    if (amp == std::string_view::npos) amp = body.size();
    std::string_view part = body.substr(i, amp - i);
    if (!part.empty()) {
      if (out.size() >= kMaxFields) return InvalidArgument("too many form fields");
      size_t eq = part.find('=');
      ASSIGN_OR_RETURN(std::string k, PercentDecode(part.substr(0, eq), true));
      std::string v;
      if (eq != std::string_view::npos) {
        ASSIGN_OR_RETURN(v, PercentDecode(part.substr(eq + 1), true));
      }
      out.emplace_back(std::move(k), std::move(v));
    }
    i = amp + 1;
  }
  return out;
}

std::string Value(const Form& f, std::string_view k) {
  for (const auto& [name, v] : f) {
    if (name == k) return v;
  }
  return {};
}

// RFC 6749 §2.3.1: client id and secret are form-urlencoded before Base64.
Status ApplyBasic(std::string_view header, TokenRequest& out) {
  auto decoded = Base64Decode(header);
  if (!decoded.ok()) {
    return Bad("invalid_client", "AADSTS7000216: The 'Authorization' header is not valid Basic "
                                 "authentication (Base64 of 'client_id:client_secret').");
  }
  std::string pair(decoded->begin(), decoded->end());
  std::fill(decoded->begin(), decoded->end(), uint8_t{0});
  size_t colon = pair.find(':');
  Status result = OkStatus();
  if (colon == std::string::npos) {
    result = Bad("invalid_client",
                 "AADSTS7000216: The Basic credentials have no ':' between client id and secret.");
  } else {
    auto id = PercentDecode(std::string_view(pair).substr(0, colon), true);
    auto secret = PercentDecode(std::string_view(pair).substr(colon + 1), true);
    if (!id.ok() || !secret.ok()) {
      result = Bad("invalid_client",
                   "AADSTS7000216: The Basic credentials hold an invalid %-escape (client id and "
                   "secret are form-urlencoded before Base64).");
    } else {
      out.client_id = std::move(*id);
      out.client_secret = std::move(*secret);
    }
    if (secret.ok()) Wipe(*secret);
  }
  Wipe(pair);
  return result;
}

}  // namespace

TokenRequest::~TokenRequest() { Wipe(client_secret); }

Result<TokenRequest> ParseTokenRequest(std::string_view form_body, std::string_view authorization) {
  auto form = ParseForm(form_body);
  if (!form.ok()) {
    return Bad("invalid_request", "AADSTS900144: The request body is not valid form data.");
  }
  struct WipeForm {
    Form& f;
    ~WipeForm() {
      for (auto& [k, v] : f) Wipe(v);
    }
  } wipe{*form};
  TokenRequest out;
  std::string grant = Value(*form, "grant_type");
  if (grant.empty()) {
    return Bad("invalid_request",
               "AADSTS900144: The request body must contain the following parameter: 'grant_type'.");
  }
  if (grant != "client_credentials") {
    return Bad("unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type '" +
                                             EscapeForLog(grant, 64) + "'.");
  }
  out.client_id = Value(*form, "client_id");
  out.client_secret = Value(*form, "client_secret");
  if (out.client_secret.empty() && StartsWithIgnoreCase(authorization, "Basic ")) {
    RETURN_IF_ERROR(ApplyBasic(authorization.substr(6), out));
  }
  if (out.client_id.empty()) {
    return Bad("invalid_request",
               "AADSTS900144: The request body must contain the following parameter: 'client_id'.");
  }
  if (out.client_secret.empty()) {
    return Bad("invalid_client",
               "AADSTS7000216: 'client_assertion', 'client_secret' or 'request' is required for "
               "the 'client_credentials' grant type.");
  }
  // The resource: v2 `scope` ("<resource>/.default"), or v1/ADFS `resource`.
  out.resource = Value(*form, "resource");
  out.resource_form = !out.resource.empty();
  out.scope = Value(*form, "scope");
  if (!out.scope.empty()) {
    std::vector<std::string> resources;
    size_t i = 0;
    while (i < out.scope.size()) {
      size_t sp = out.scope.find(' ', i);
      if (sp == std::string::npos) sp = out.scope.size();
      std::string one = out.scope.substr(i, sp - i);
      if (!one.empty() && one != "openid" && one != "profile" && one != "offline_access") {
        resources.push_back(std::move(one));
      }
      i = sp + 1;
    }
    if (resources.size() != 1) {
      return Bad("invalid_scope",
                 "AADSTS70011: The provided request must include a 'scope' input parameter naming "
                 "exactly one resource with '/.default'.");
    }
    constexpr std::string_view kDefault = "/.default";
    const std::string& r = resources[0];
    if (r.size() <= kDefault.size() || r.compare(r.size() - kDefault.size(), kDefault.size(), kDefault) != 0) {
      return Bad("invalid_scope",
                 "AADSTS1002012: The provided value for scope " + EscapeForLog(r, 256) +
                     " is not valid. Client credential flows must have a scope value with "
                     "/.default suffixed to the resource identifier (application ID URI).");
    }
    out.resource = identity::ResourceFromScope(r);
  }
  if (out.resource.empty()) {
    return Bad("invalid_request",
               "AADSTS900144: The request body must contain the following parameter: 'scope'.");
  }
  return out;
}

}  // namespace cmk::server
