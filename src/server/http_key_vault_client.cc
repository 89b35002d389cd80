#include "server/http_key_vault_client.h"

#include <boost/json.hpp>
#include <regex>

#include "base/encoding.h"
#include "base/json.h"

namespace cmk::server {
namespace {

namespace bj = boost::json;

std::string Base(const keyvault::KeyRef& key) {
  std::string uri = key.vault_uri;
  while (!uri.empty() && uri.back() == '/') uri.pop_back();
  return uri + "/keys/" + PercentEncode(key.name) + (key.version.empty() ? "" : "/" + PercentEncode(key.version));
}

std::string HostOf(const std::string& url) {
  size_t start = url.find("://");
  start = start == std::string::npos ? 0 : start + 3;
  return ToLower(url.substr(start, url.find('/', start) - start));
}

}  // namespace

Status KeyVaultErrorStatus(const ClientResponse& r) {
  std::string code, message = "HTTP " + std::to_string(r.status), inner;
  auto body = json::ParseObject(r.body);
  if (body.ok()) {
    if (auto err = json::GetObject(*body, "error"); err.ok() && *err) {
      code = json::GetString(**err, "code")->value_or("");
      message = json::GetString(**err, "message")->value_or(message);
      if (auto ie = json::GetObject(**err, "innererror"); ie.ok() && *ie) inner = json::GetString(**ie, "code")->value_or("");
    }
  }
  StatusCode c = StatusCode::kInternal;
  switch (r.status) {
    case 400: c = StatusCode::kInvalidArgument; break;
    case 401: c = StatusCode::kUnauthenticated; break;
    case 403: c = StatusCode::kPermissionDenied; break;
    case 404: c = StatusCode::kNotFound; break;
    case 409: c = StatusCode::kConflict; break;
    default: c = (r.status == 429 || r.status >= 500) ? StatusCode::kUnavailable : StatusCode::kInternal;
  }
  return Status(c, message, code, inner);
}

Result<ClientResponse> HttpKeyVaultClient::Call(const std::string& method, const std::string& url,
                                                const std::string& body) {
  std::string host = HostOf(url);
  std::string token;
  {
    std::lock_guard<std::mutex> l(mu_);
    if (auto it = token_by_host_.find(host); it != token_by_host_.end()) token = it->second;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    ClientRequest req;
    req.method = method;
    req.url = url + (url.find('?') == std::string::npos ? "?" : "&") + "api-version=7.4";
    req.headers = {{"Accept", "application/json"}, {"Content-Type", "application/json"}};
    if (!token.empty()) {
      req.headers.emplace_back("Authorization", "Bearer " + token);
      req.body = body;
    }
    ASSIGN_OR_RETURN(ClientResponse res, HttpsFetch(req, options_));
    if (res.status != 401) return res;
    // Challenge: Bearer authorization="https://login.../<tenant>", resource="https://vault..."
    static const std::regex kAuth(R"re(authorization(?:_uri)?="([^"]*)")re"), kRes(R"re(resource="([^"]*)")re"),
        kScope(R"re(scope="([^"]*)")re");
    std::string header = res.Header("WWW-Authenticate");
    std::smatch a, r;
    if (!std::regex_search(header, a, kAuth)) return KeyVaultErrorStatus(res);
    std::string resource;
    if (std::regex_search(header, r, kRes)) {
      resource = r[1].str();
    } else if (std::regex_search(header, r, kScope)) {
      resource = r[1].str();
      if (resource.size() > 9 && resource.substr(resource.size() - 9) == "/.default") resource.resize(resource.size() - 9);
    } else {
      return KeyVaultErrorStatus(res);
    }
    std::string authority = a[1].str();
    std::string tenant = authority.substr(authority.rfind('/') + 1);
    ASSIGN_OR_RETURN(token, tokens_(resource, tenant));
    std::lock_guard<std::mutex> l(mu_);
    token_by_host_[host] = token;
  }
  return Unauthenticated("the vault refused the token obtained for its challenge");
}

Result<keyvault::KeyInfo> HttpKeyVaultClient::GetKey(const keyvault::KeyRef& key) {
  ASSIGN_OR_RETURN(ClientResponse res, Call("GET", Base(key) + (key.version.empty() ? "/" : ""), ""));
  if (res.status != 200) return KeyVaultErrorStatus(res);
  ASSIGN_OR_RETURN(bj::object b, json::ParseObject(res.body));
  // The vault is another server: its answer is checked like any input from the network.
  keyvault::KeyInfo info;
  ASSIGN_OR_RETURN(const bj::object* jwk, json::GetObject(b, "key"));
  ASSIGN_OR_RETURN(const bj::object* attributes, json::GetObject(b, "attributes"));
  if (jwk == nullptr || attributes == nullptr) return Internal("the vault's key bundle has no key or attributes");
  ASSIGN_OR_RETURN(auto kid, json::GetString(*jwk, "kid"));
  ASSIGN_OR_RETURN(auto kty, json::GetString(*jwk, "kty"));
  ASSIGN_OR_RETURN(auto enabled, json::GetBool(*attributes, "enabled"));
  if (!kid || !kty) return Internal("the vault's key bundle has no kid or kty");
  info.kid = std::move(*kid);
  info.kty = std::move(*kty);
  info.enabled = enabled.value_or(true);
  ASSIGN_OR_RETURN(auto n, json::GetString(*jwk, "n"));
  ASSIGN_OR_RETURN(auto e, json::GetString(*jwk, "e"));
  if (n && e) {
    ASSIGN_OR_RETURN(info.n, Base64UrlDecode(*n));
    ASSIGN_OR_RETURN(info.e, Base64UrlDecode(*e));
  }
  return info;
}

Result<keyvault::WrappedKey> HttpKeyVaultClient::WrapKey(const keyvault::KeyRef& key, std::string_view alg,
                                                         std::span<const uint8_t> plaintext) {
  bj::object body{{"alg", alg}, {"value", Base64UrlEncode(plaintext)}};
  ASSIGN_OR_RETURN(ClientResponse res, Call("POST", Base(key) + "/wrapkey", bj::serialize(body)));
  if (res.status != 200) return KeyVaultErrorStatus(res);
  ASSIGN_OR_RETURN(bj::object b, json::ParseObject(res.body));
  keyvault::WrappedKey out;
  ASSIGN_OR_RETURN(auto kid, json::GetString(b, "kid"));
  ASSIGN_OR_RETURN(auto value, json::GetString(b, "value"));
  if (!kid || !value) return Internal("the vault's wrapKey answer has no kid or value");
  out.kid = std::move(*kid);
  ASSIGN_OR_RETURN(out.value, Base64UrlDecode(*value));
  return out;
}

Result<SecretBytes> HttpKeyVaultClient::UnwrapKey(const keyvault::KeyRef& key, std::string_view alg,
                                                  std::span<const uint8_t> wrapped) {
  bj::object body{{"alg", alg}, {"value", Base64UrlEncode(wrapped)}};
  ASSIGN_OR_RETURN(ClientResponse res, Call("POST", Base(key) + "/unwrapkey", bj::serialize(body)));
  if (res.status != 200) return KeyVaultErrorStatus(res);
  ASSIGN_OR_RETURN(bj::object b, json::ParseObject(res.body));
  ASSIGN_OR_RETURN(auto text, json::GetString(b, "value"));
  if (!text) return Internal("the vault's unwrapKey answer has no value");
  ASSIGN_OR_RETURN(auto value, Base64UrlDecode(*text));
  std::fill(text->begin(), text->end(), '\0');
  SecretBytes out(value);
  std::fill(value.begin(), value.end(), 0);
  std::fill(res.body.begin(), res.body.end(), '\0');
  return out;
}

}  // namespace cmk::server
