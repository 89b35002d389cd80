#include "server/router.h"

#include "server/data_plane.h"
#include "server/token_request.h"

#include <boost/json.hpp>
#include <spdlog/spdlog.h>

#include "base/encoding.h"
#include "base/json.h"
#include "storage_account/blob_service.h"
#include "storage_account/table_service.h"

namespace cmk::server {
namespace {

namespace bj = boost::json;

std::string HostWithoutPort(std::string_view host) {
  if (!host.empty() && host.front() == '[') {
    size_t end = host.find(']');
    return ToLower(host.substr(0, end == std::string_view::npos ? host.size() : end + 1));
  }
  size_t colon = host.rfind(':');
  if (colon != std::string_view::npos) host = host.substr(0, colon);
  return ToLower(host);
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

void ArmJsonError(HttpResponse& res, int status, std::string_view code, std::string_view message) {
  bj::object o{{"error", bj::object{{"code", code}, {"message", message}}}};
  res.SetJson(status, bj::serialize(o));
}

// AAD error shape: {error, error_description, error_codes, timestamp, trace_id, correlation_id}.
void AadError(HttpResponse& res, const HttpRequest& req, const Status& s, TimePoint now) {
  int code_num = 0;
  const std::string& m = s.message();
  if (m.rfind("AADSTS", 0) == 0) code_num = std::atoi(m.c_str() + 6);
  std::string ts = FormatRfc3339(now, 0);
  bj::object o{{"error", s.error_code()},
               {"error_description", m + "\r\nTrace ID: " + req.request_id +
                                         "\r\nCorrelation ID: " + req.request_id +
                                         "\r\nTimestamp: " + ts},
               {"error_codes", bj::array{code_num}},
               {"timestamp", ts},
               {"trace_id", req.request_id},
               {"correlation_id", req.request_id}};
  res.SetJson(s.http_status(), bj::serialize(o));
}

}  // namespace

const char* FrontEndName(FrontEnd f) {
  switch (f) {
    case FrontEnd::kLogin: return "login";
    case FrontEnd::kArm: return "management";
    case FrontEnd::kVault: return "vault";
    case FrontEnd::kManagedHsm: return "managedhsm";
    case FrontEnd::kQuery: return "query";
    case FrontEnd::kIngest: return "ingestion";
    case FrontEnd::kGraph:
      return "graph";
    case FrontEnd::kBlob: return "blob";
    case FrontEnd::kTable: return "table";
    case FrontEnd::kOps: return "ops";
    case FrontEnd::kUnknown: return "unknown";
  }
  return "unknown";
}

Route RouteRequest(std::string_view host_header, std::string_view path, std::string_view domain) {
  std::string host = HostWithoutPort(host_header);
  std::string d = ToLower(domain);
  if (path == "/healthz" || path == "/metrics") return {FrontEnd::kOps, ""};
  if (host == "login." + d) return {FrontEnd::kLogin, ""};
  if (host == "management." + d) return {FrontEnd::kArm, ""};
  if (host == "api.loganalytics." + d) return {FrontEnd::kQuery, ""};
  if (host == "graph." + d) return {FrontEnd::kGraph, ""};
  for (auto [suffix, fe] : {std::pair{".vault." + d, FrontEnd::kVault},
                            std::pair{".managedhsm." + d, FrontEnd::kManagedHsm},
                            std::pair{".ingest." + d, FrontEnd::kIngest},
                            std::pair{".blob." + d, FrontEnd::kBlob},
                            std::pair{".table." + d, FrontEnd::kTable}}) {
    if (EndsWith(host, suffix) && host.size() > suffix.size()) {
      std::string label = host.substr(0, host.size() - suffix.size());
      if (label.find('.') == std::string::npos) return {fe, label};
      return {FrontEnd::kUnknown, ""};
    }
  }
  // Bare IPs, `localhost`, the domain itself and other names route by path.
  auto seg = SplitPath(path);
  if (seg.empty()) return {FrontEnd::kUnknown, ""};
  const std::string& s0 = seg[0];
  if (EqualsIgnoreCase(s0, "adfs")) return {FrontEnd::kLogin, ""};
  if (seg.size() >= 2 && (EqualsIgnoreCase(seg[1], "oauth2") || EqualsIgnoreCase(seg[1], "v2.0") ||
                          EqualsIgnoreCase(seg[1], "discovery") ||
                          EqualsIgnoreCase(seg[1], ".well-known"))) {
    return {FrontEnd::kLogin, ""};
  }
  if (EqualsIgnoreCase(s0, "subscriptions") || EqualsIgnoreCase(s0, "providers") ||
      EqualsIgnoreCase(s0, "cmklogs")) {
    return {FrontEnd::kArm, ""};
  }
  if (s0 == "v1" || EqualsIgnoreCase(s0, "$batch")) return {FrontEnd::kQuery, ""};
  if (s0 == "v1.0" || s0 == "beta") return {FrontEnd::kGraph, ""};
  if (EqualsIgnoreCase(s0, "dataCollectionRules")) return {FrontEnd::kIngest, ""};
  return {FrontEnd::kUnknown, ""};
}

Router::Router(RouterDeps deps)
    : d_(std::move(deps)),
      graph_(GraphApiDeps{d_.directory, d_.tokens,
                          d_.session_clock != nullptr ? d_.session_clock : d_.env.clock,
                          ExternalUrl("graph"), ExternalUrl("login")}) {}

std::string Router::ExternalUrl(std::string_view prefix) const {
  std::string url = "https://" + std::string(prefix) + "." + d_.domain;
  if (d_.port != 443) url += ":" + std::to_string(d_.port);
  return url;
}

Route Router::Begin(HttpRequest& req, HttpResponse& res) {
  req.request_id = d_.env.random->NewGuid();
  res.SetHeader("x-ms-request-id", req.request_id);
  std::string_view corr = req.Header("x-ms-correlation-request-id");
  res.SetHeader("x-ms-correlation-request-id", corr.empty() ? req.request_id : std::string(corr));
  std::string_view client_rid = req.Header("x-ms-client-request-id");
  if (!client_rid.empty()) res.SetHeader("x-ms-client-request-id", std::string(client_rid));
  Route route = RouteRequest(req.host, req.path, d_.domain);
  res.front_end = FrontEndName(route.front_end);
  return route;
}

bool Router::HandleHeader(HttpRequest& req, HttpResponse& res) {
  // Only the front ends whose every request starts with a bearer check (as in Handle); the token
  // service and /healthz, /metrics take no body worth answering early.
  Route route = RouteRequest(req.host, req.path, d_.domain);
  bool rejected = false;
  switch (route.front_end) {
    case FrontEnd::kArm:
      rejected = !Authenticate(req, res, identity::Audience::kArm);
      break;
    case FrontEnd::kVault:
    case FrontEnd::kManagedHsm:
      rejected = !AuthenticateVault(req, res, route);
      break;
    case FrontEnd::kQuery:
      rejected = d_.query != nullptr && !Authenticate(req, res, identity::Audience::kQuery);
      break;
    case FrontEnd::kIngest:
      rejected = d_.ingestion != nullptr && !Authenticate(req, res, identity::Audience::kIngest);
      break;
    case FrontEnd::kGraph:
      Begin(req, res);  // first: Graph's 401 names the request id in its innerError
      return !graph_.Authenticate(req, res);
    case FrontEnd::kBlob:   // Shared Key signs the body's headers only; checked with the request
    case FrontEnd::kTable:
    case FrontEnd::kLogin:
    case FrontEnd::kOps:
    case FrontEnd::kUnknown:
      break;
  }
  if (rejected) Begin(req, res);
  return rejected;
}

int Router::Classify(const HttpRequest& req) const {
  switch (RouteRequest(req.host, req.path, d_.domain).front_end) {
    case FrontEnd::kQuery: return kQueryPool;
    case FrontEnd::kArm:
    case FrontEnd::kVault:
    case FrontEnd::kManagedHsm:
    case FrontEnd::kIngest:
    case FrontEnd::kGraph:
    case FrontEnd::kBlob:
    case FrontEnd::kTable:
      return kGeneralPool;
    case FrontEnd::kLogin:
    case FrontEnd::kOps:
    case FrontEnd::kUnknown:
      return -1;
  }
  return -1;
}

void Router::OnException(const HttpRequest& req, HttpResponse& res, std::string_view what) {
  std::string rid = req.request_id.empty() ? d_.env.random->NewGuid() : req.request_id;
  Route route = RouteRequest(req.host, req.path, d_.domain);
  if (res.front_end.empty()) res.front_end = FrontEndName(route.front_end);
  res.SetHeader("x-ms-request-id", rid);
  if (d_.metrics != nullptr) d_.metrics->RecordHandlerException();
  spdlog::error("request rid={} method={} path={}: unhandled exception: {}", rid,
                EscapeForLog(req.method, 32), EscapeForLog(req.path, 512), EscapeForLog(what, 512));
  std::string message = "The server encountered an internal error processing the request. "
                        "Retry later; if the problem persists, report request id " +
                        rid + ".";
  switch (route.front_end) {
    case FrontEnd::kLogin:
      return AadError(res, req, Status(StatusCode::kInternal, "AADSTS90100: " + message, "server_error"),
                      SessionNow());
    case FrontEnd::kVault:
    case FrontEnd::kManagedHsm: {
      bj::object o{{"error", bj::object{{"code", "InternalServerError"},
                                        {"message", message},
                                        {"innererror", bj::object{{"code", "InternalError"}}}}}};
      return res.SetJson(500, bj::serialize(o));
    }
    case FrontEnd::kGraph:
      return graph_.Error(req, res, 500, "generalException", message);
    default:
      return ArmJsonError(res, 500, "InternalServerError", message);
  }
}

void Router::Handle(HttpRequest& req, HttpResponse& res) {
  Route route = Begin(req, res);
  switch (route.front_end) {
    case FrontEnd::kLogin: return HandleLogin(req, res);
    case FrontEnd::kArm: return HandleArm(req, res);
    case FrontEnd::kOps: return HandleOps(req, res);
    case FrontEnd::kVault:
    case FrontEnd::kManagedHsm:
      return HandleVault(req, res, route);
    case FrontEnd::kQuery:
      if (d_.query != nullptr) {
        auto claims = Authenticate(req, res, identity::Audience::kQuery);
        if (!claims) return;
        res.principal = claims->principal.object_id;
        return d_.query->Handle(req, res, claims->principal);
      }
      return ArmJsonError(res, 404, "NotFound",
                          std::string("The ") + FrontEndName(route.front_end) +
                              " endpoint has no resource at '" + req.path + "'.");
    case FrontEnd::kIngest:
      if (d_.ingestion != nullptr) {
        auto claims = Authenticate(req, res, identity::Audience::kIngest);
        if (!claims) return;
        res.principal = claims->principal.object_id;
        return d_.ingestion->Handle(req, res, claims->principal);
      }
      return ArmJsonError(res, 404, "NotFound",
                          std::string("The ") + FrontEndName(route.front_end) +
                              " endpoint has no resource at '" + req.path + "'.");
    case FrontEnd::kGraph:
      return graph_.Handle(req, res);
    case FrontEnd::kBlob:
    case FrontEnd::kTable:
      return HandleStorage(req, res, route);
    case FrontEnd::kUnknown:
      return ArmJsonError(res, 404, "NotFound",
                          "No endpoint of this instance serves host '" + req.host + "' and path '" +
                              req.path + "'.");
  }
}

void Router::HandleStorage(HttpRequest& req, HttpResponse& res, const Route& route) {
  bool blob = route.front_end == FrontEnd::kBlob;
  if ((blob && d_.blob == nullptr) || (!blob && d_.table == nullptr)) {
    return ArmJsonError(res, 404, "NotFound",
                        std::string("The ") + FrontEndName(route.front_end) + " endpoint has no resource at '" +
                            req.path + "'.");
  }
  storage_account::StorageRequest sr;
  sr.method = req.method;
  sr.account = route.host_label;
  sr.raw_path = req.target.substr(0, req.target.find('?'));
  sr.path = req.path;
  sr.query = req.query;
  sr.headers = req.headers;
  sr.body = std::move(req.body);
  storage_account::StorageResponse out;
  if (blob) {
    d_.blob->Handle(sr, out);
  } else {
    d_.table->Handle(sr, out);
  }
  res.status = out.status;
  for (auto& [k, v] : out.headers) res.SetHeader(k, v);
  res.body = std::move(out.body);
}

void Router::HandleOps(HttpRequest& req, HttpResponse& res) {
  if (req.method != "GET" && req.method != "HEAD") {
    return ArmJsonError(res, 405, "MethodNotAllowed", "Use GET.");
  }
  if (req.path == "/healthz") {
    res.SetJson(200, R"({"status":"Healthy"})");
    return;
  }
  // /metrics: any principal with read access to the default subscription.
  auto claims = Authenticate(req, res, identity::Audience::kArm);
  if (!claims) return;
  res.principal = claims->principal.object_id;
  Status s = d_.rbac->Authorize(claims->principal, "Microsoft.Insights/metrics/read",
                                "/subscriptions/" + d_.default_subscription_id);
  if (!s.ok()) return ArmJsonError(res, s.http_status(), s.error_code(), s.message());
  res.status = 200;
  res.body = d_.metrics->Render();
  res.SetHeader("Content-Type", "text/plain; version=0.0.4; charset=utf-8");
}

std::optional<identity::Claims> Router::Authenticate(const HttpRequest& req, HttpResponse& res,
                                                     identity::Audience aud) {
  std::string_view auth = req.Header("Authorization");
  std::string challenge = "Bearer authorization_uri=\"" + ExternalUrl("login") + "/" +
                          d_.default_tenant_id + "\", error=\"invalid_token\"";
  if (auth.empty()) {
    res.SetHeader("WWW-Authenticate", challenge + ", error_description=\"The authentication failed because of missing 'Authorization' header.\"");
    ArmJsonError(res, 401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing.");
    return std::nullopt;
  }
  if (!StartsWithIgnoreCase(auth, "Bearer ")) {
    res.SetHeader("WWW-Authenticate", challenge);
    ArmJsonError(res, 401, "InvalidAuthenticationToken",
                 "Authentication failed. The 'Authorization' header is provided in an invalid format.");
    return std::nullopt;
  }
  auto claims = d_.tokens->Validate(auth.substr(7), aud);
  if (!claims.ok()) {
    res.SetHeader("WWW-Authenticate", challenge);
    ArmJsonError(res, 401, claims.status().error_code(), claims.status().message());
    return std::nullopt;
  }
  return *claims;
}

void Router::HandleArm(HttpRequest& req, HttpResponse& res) {
  auto claims = Authenticate(req, res, identity::Audience::kArm);
  if (!claims) return;
  res.principal = claims->principal.object_id;
  control::ArmRequest ar;
  ar.method = req.method;
  ar.path = req.path;
  ar.query = req.query;
  ar.body = std::move(req.body);
  ar.caller = claims->principal;
  ar.base_url = ExternalUrl("management");
  // Bounded: these land in the activity log as they came.
  std::string_view corr = req.Header("x-ms-correlation-request-id");
  ar.correlation_id = corr.empty() || corr.size() > 128 ? req.request_id : std::string(corr);
  ar.client_request_id = std::string(req.Header("x-ms-client-request-id").substr(0, 128));
  ar.client_ip = req.remote_address.substr(0, 64);
  control::ArmResponse out = d_.arm->Handle(ar);
  res.status = out.status;
  for (auto& [k, v] : out.headers) res.SetHeader(k, v);
  if (out.body) res.SetJson(out.status, bj::serialize(*out.body));
}

std::optional<identity::Claims> Router::AuthenticateVault(const HttpRequest& req, HttpResponse& res,
                                                          const Route& route) {
  bool hsm = route.front_end == FrontEnd::kManagedHsm;
  std::string tenant = d_.default_tenant_id;
  if (d_.keyvault) {
    if (auto v = d_.keyvault->GetVault(route.host_label)) tenant = v->tenant_id;
  }
  // Key Vault's challenge: clients send their first request without a token (and without its
  // body) and learn from this 401 where to get one and for which resource.
  std::string challenge = "Bearer authorization=\"" + ExternalUrl("login") + "/" + tenant +
                          "\", resource=\"" + ExternalUrl(hsm ? "managedhsm" : "vault") + "\"";
  auto unauthorized = [&](const std::string& message) -> std::optional<identity::Claims> {
    res.SetHeader("WWW-Authenticate", challenge);
    bj::object o{{"error", bj::object{{"code", "Unauthorized"}, {"message", message}}}};
    res.SetJson(401, bj::serialize(o));
    return std::nullopt;
  };
  std::string_view auth = req.Header("Authorization");
  if (!StartsWithIgnoreCase(auth, "Bearer ") || auth.size() <= 7) {
    return unauthorized("AKV10000: Request is missing a Bearer or PoP token.");
  }
  auto claims = d_.tokens->Validate(auth.substr(7), identity::Audience::kVault);
  if (!claims.ok()) {
    std::string code = claims.status().error_code();
    std::string prefix = code == "ExpiredAuthenticationToken" ? "AKV10032: Token expired. "
                         : code == "InvalidAuthenticationTokenAudience" ? "AKV10022: Invalid audience. "
                                                                        : "AKV10020: Invalid token. ";
    return unauthorized(prefix + claims.status().message());
  }
  return *claims;
}

void Router::HandleVault(HttpRequest& req, HttpResponse& res, const Route& route) {
  bool hsm = route.front_end == FrontEnd::kManagedHsm;
  auto claims = AuthenticateVault(req, res, route);
  if (!claims) return;
  res.principal = claims->principal.object_id;
  if (d_.keyvault == nullptr) {
    return ArmJsonError(res, 404, "VaultNotFound", "No vault named '" + route.host_label + "'.");
  }
  keyvault::KvRequest kr;
  kr.method = req.method;
  kr.path = req.path;
  kr.query = req.query;
  kr.body = std::move(req.body);
  kr.caller = claims->principal;
  kr.vault_name = route.host_label;
  kr.kind = hsm ? keyvault::VaultKind::kManagedHsm : keyvault::VaultKind::kVault;
  auto existing = d_.keyvault->GetVault(route.host_label);
  if (!existing || existing->kind != kr.kind) {
    return ArmJsonError(res, 404, "VaultNotFound",
                        std::string(hsm ? "The managed HSM '" : "The vault '") + route.host_label + "' does not exist.");
  }
  keyvault::KvResponse out = d_.keyvault->Handle(kr);
  res.status = out.status;
  if (out.body) res.SetJson(out.status, bj::serialize(*out.body));
}

void Router::HandleLogin(HttpRequest& req, HttpResponse& res) {
  auto seg = SplitPath(req.path);
  TimePoint now = SessionNow();
  std::string login = ExternalUrl("login");
  if (seg.empty()) return ArmJsonError(res, 404, "NotFound", "Unknown token service path.");
  bool adfs = EqualsIgnoreCase(seg[0], "adfs");
  std::string tenant = adfs ? "" : seg[0];
  if (!adfs) {
    auto t = d_.directory->FindTenant(tenant);
    bool known = t.ok() && t->has_value();
    if (!known) {
      return AadError(res, req,
                      Status(StatusCode::kInvalidArgument,
                             "AADSTS90002: Tenant '" + tenant +
                                 "' not found. Check to make sure you have the correct tenant ID "
                                 "and are signing into the correct cloud.",
                             "invalid_tenant"),
                      now);
    }
    tenant = (*t)->id;
  }
  std::string base = adfs ? login + "/adfs" : login + "/" + tenant;
  std::vector<std::string> rest(seg.begin() + 1, seg.end());
  auto is = [&](std::initializer_list<const char*> want) {
    if (rest.size() != want.size()) return false;
    size_t i = 0;
    for (const char* w : want) {
      if (!EqualsIgnoreCase(rest[i++], w)) return false;
    }
    return true;
  };
  if (req.method == "GET" && (is({"v2.0", ".well-known", "openid-configuration"}) ||
                              is({".well-known", "openid-configuration"}))) {
    bool v2 = !adfs && rest.size() == 3;
    std::string prefix = adfs ? base : (v2 ? base : base);
    bj::object o{
        {"authorization_endpoint", prefix + (v2 ? "/oauth2/v2.0/authorize" : "/oauth2/authorize")},
        {"token_endpoint", prefix + (v2 ? "/oauth2/v2.0/token" : "/oauth2/token")},
        {"issuer", adfs ? base : d_.tokens->Issuer(tenant)},
        {"jwks_uri", prefix + (v2 ? "/discovery/v2.0/keys" : "/discovery/keys")},
        {"token_endpoint_auth_methods_supported", bj::array{"client_secret_post", "client_secret_basic"}},
        {"response_types_supported", bj::array{"token"}},
        {"grant_types_supported", bj::array{"client_credentials"}},
        {"subject_types_supported", bj::array{"pairwise"}},
        {"id_token_signing_alg_values_supported", bj::array{"RS256"}},
        {"scopes_supported", bj::array{"openid"}},
        {"tenant_region_scope", nullptr},
        {"cloud_instance_name", d_.domain},
        {"access_token_issuer", adfs ? base : d_.tokens->Issuer(tenant)}};
    res.SetJson(200, bj::serialize(o));
    return;
  }
  if (req.method == "GET" && (is({"discovery", "v2.0", "keys"}) || is({"discovery", "keys"}))) {
    res.SetJson(200, bj::serialize(d_.tokens->Jwks()));
    return;
  }
  if (is({"oauth2", "v2.0", "token"}) || is({"oauth2", "token"})) {
    if (req.method != "POST") {
      return AadError(res, req, Status(StatusCode::kInvalidArgument, "AADSTS900561: The endpoint only accepts POST requests.", "invalid_request"), now);
    }
    return HandleToken(req, res, tenant, adfs);
  }
  ArmJsonError(res, 404, "NotFound", "Unknown token service path '" + req.path + "'.");
}

void Router::HandleToken(HttpRequest& req, HttpResponse& res, const std::string& tenant, bool adfs) {
  TimePoint now = SessionNow();
  auto parsed = ParseTokenRequest(req.body, req.Header("Authorization"));
  std::fill(req.body.begin(), req.body.end(), '\0');  // it held the client secret
  if (!parsed.ok()) return AadError(res, req, parsed.status(), now);
  TokenRequest& tr = *parsed;
  const std::string& client_id = tr.client_id;
  std::string& secret = tr.client_secret;
  const std::string& resource = tr.resource;
  const std::string& scope = tr.scope;
  auto principal = d_.directory->AuthenticateClient(adfs ? "" : tenant, client_id, secret);
  std::fill(secret.begin(), secret.end(), '\0');
  if (!principal.ok()) return AadError(res, req, principal.status(), now);
  res.principal = principal->object_id;
  auto token = d_.tokens->Issue(*principal, resource);
  if (!token.ok()) return AadError(res, req, token.status(), now);
  bj::object o{{"token_type", "Bearer"},
               {"expires_in", token->expires_in},
               {"ext_expires_in", token->expires_in},
               {"access_token", token->token}};
  if (!scope.empty()) o["scope"] = scope;
  if (adfs || tr.resource_form) {
    o["resource"] = resource;
    o["expires_on"] = std::to_string(ToUnixSeconds(now) + token->expires_in);
  }
  res.SetJson(200, bj::serialize(o));
  res.SetHeader("Cache-Control", "no-store, no-cache");
  res.SetHeader("Pragma", "no-cache");
}

}  // namespace cmk::server
