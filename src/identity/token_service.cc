#include "identity/token_service.h"

#include "base/encoding.h"
#include "base/json.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "identity/jwt.h"

namespace cmk::identity {
namespace {

namespace bj = boost::json;
constexpr char kKeyKind[] = "token-signing-key";
constexpr char kKeyAad[] = "cmklogs/token-signing-key/v1";

Status TokenError(std::string code, std::string message) {
  return Unauthenticated(std::move(message), std::move(code));
}

std::string Claim(const bj::object& o, const char* name) {
  auto it = o.find(name);
  return (it != o.end() && it->value().is_string()) ? std::string(it->value().as_string()) : "";
}

std::optional<int64_t> NumClaim(const bj::object& o, const char* name) {
  auto it = o.find(name);
  if (it == o.end()) return std::nullopt;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64()) return static_cast<int64_t>(it->value().as_uint64());
  return std::nullopt;
}

}  // namespace

const char* AudienceName(Audience a) {
  switch (a) {
    case Audience::kArm: return "management";
    case Audience::kVault: return "vault";
    case Audience::kQuery: return "query";
    case Audience::kIngest: return "ingestion";
    case Audience::kGraph:
      return "graph";
    case Audience::kStorage: return "storage";
  }
  return "?";
}

std::string ResourceFromScope(std::string_view scope) {
  constexpr std::string_view kDefault = "/.default";
  if (scope.size() > kDefault.size() && scope.substr(scope.size() - kDefault.size()) == kDefault) {
    return std::string(scope.substr(0, scope.size() - kDefault.size()));
  }
  return std::string(scope);
}

std::string NormalizeAudience(std::string_view audience) {
  std::string a = ToLower(audience);
  while (!a.empty() && a.back() == '/') a.pop_back();
  size_t scheme = a.find("://");
  size_t host_start = scheme == std::string::npos ? 0 : scheme + 3;
  size_t path = a.find('/', host_start);
  std::string host = a.substr(host_start, path == std::string::npos ? std::string::npos : path - host_start);
  std::string rest = path == std::string::npos ? "" : a.substr(path);
  size_t colon = host.rfind(':');
  if (colon != std::string::npos && host.find(']') == std::string::npos) host.resize(colon);
  return a.substr(0, host_start) + host + rest;
}

Result<std::unique_ptr<TokenService>> TokenService::Create(env::Env env, meta::MetadataStore* store,
                                                           const SecretBytes& master_key,
                                                           TokenServiceOptions options) {
  ASSIGN_OR_RETURN(auto doc, store->Get(kKeyKind, "current"));
  std::optional<crypto::RsaKey> key;
  if (doc) {
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(doc->body));
    ASSIGN_OR_RETURN(auto sealed, Base64Decode(o.at("sealed").as_string()));
    auto pem = crypto::AesGcmOpen(master_key, sealed, AsBytes(kKeyAad));
    if (!pem.ok()) {
      return DataLoss("cannot unseal the token signing key: the master key does not match ("
                      + pem.status().message() + ")");
    }
    ASSIGN_OR_RETURN(crypto::RsaKey k, crypto::RsaKey::FromPrivatePem(*pem));
    key = std::move(k);
  } else {
    ASSIGN_OR_RETURN(crypto::RsaKey k, crypto::RsaKey::Generate(2048));
    ASSIGN_OR_RETURN(SecretBytes pem, k.PrivatePem());
    ASSIGN_OR_RETURN(auto sealed, crypto::AesGcmSeal(master_key, pem.span(), AsBytes(kKeyAad), *env.random));
    bj::object o{{"sealed", Base64Encode(sealed)}};
    RETURN_IF_ERROR(store->Put(kKeyKind, "current", json::Serialize(o)));
    key = std::move(k);
  }
  std::string kid = Base64UrlEncode(crypto::Sha256(key->Modulus())).substr(0, 27);
  return std::unique_ptr<TokenService>(
      new TokenService(env, std::move(options), std::move(*key), std::move(kid)));
}

std::optional<Audience> TokenService::AudienceFor(std::string_view resource) const {
  std::string a = NormalizeAudience(resource);
  const std::string& d = options_.domain;
  if (a == "https://management." + d || a == "https://management.azure.com" ||
      a == "https://management.core.windows.net") {
    return Audience::kArm;
  }
  if (a == "https://vault." + d || a == "https://managedhsm." + d || a == "https://vault.azure.net" ||
      a == "https://managedhsm.azure.net") {
    return Audience::kVault;
  }
  if (a == "https://api.loganalytics." + d || a == "https://api.loganalytics.io" ||
      a == "https://api.loganalytics.azure.com") {
    return Audience::kQuery;
  }
  if (a == "https://monitor." + d || a == "https://monitor.azure.com" ||
      a == "https://ingest." + d) {
    return Audience::kIngest;
  }
  // Microsoft Graph (graph.D), also by its public host and its well-known application id.
  if (a == "https://graph." + d || a == "https://graph.microsoft.com" ||
      a == "00000003-0000-0000-c000-000000000000") {
    return Audience::kGraph;
  }
  // Blob and Table data planes: Azure Storage's one audience, as the SDKs ask for it.
  if (a == "https://storage.azure.com" || a == "https://storage." + d) return Audience::kStorage;
  return std::nullopt;
}

std::string TokenService::Issuer(const std::string& tenant_id) const {
  return options_.login_url + "/" + tenant_id + "/v2.0";
}

Result<AccessToken> TokenService::Issue(const Principal& p, std::string_view resource) const {
  if (!AudienceFor(resource)) {
    return Status(StatusCode::kInvalidArgument,
                  "AADSTS500011: The resource principal named " + std::string(resource) +
                      " was not found in the tenant named " + p.tenant_id +
                      ". This can happen if the application has not been installed by the "
                      "administrator of the tenant.",
                  "invalid_resource");
  }
  return Sign(p, resource, {});
}

Result<AccessToken> TokenService::IssueForApplication(const Principal& p, std::string_view audience,
                                                      const std::vector<std::string>& roles) const {
  if (audience.empty() || audience.size() > 1024) {
    return InvalidArgument("The audience of an application token must be 1 to 1024 characters.",
                           "invalid_resource");
  }
  // Whoever writes an action group chooses this audience and the URL the token is sent to: a
  // token one of this instance's front ends would accept is never handed out this way.
  if (AudienceFor(audience)) {
    return InvalidArgument("The audience '" + std::string(audience) +
                               "' is one of this instance's own services; an application token cannot be issued for it.",
                           "invalid_resource");
  }
  return Sign(p, audience, roles);
}

Result<AccessToken> TokenService::Sign(const Principal& p, std::string_view resource,
                                       const std::vector<std::string>& roles) const {
  int64_t now = ToUnixSeconds(session_clock()->Now());
  int64_t lifetime = std::chrono::duration_cast<std::chrono::seconds>(options_.lifetime).count();
  bj::object header{{"typ", "JWT"}, {"alg", "RS256"}, {"kid", kid_}};
  bj::object payload{{"aud", std::string(resource)},
                     {"iss", Issuer(p.tenant_id)},
                     {"iat", now},
                     {"nbf", now},
                     {"exp", now + lifetime},
                     {"appid", p.app_id},
                     {"azp", p.app_id},
                     {"idtyp", "app"},
                     {"oid", p.object_id},
                     {"sub", p.object_id},
                     {"tid", p.tenant_id},
                     {"ver", "2.0"},
                     {"uti", env_.random->NewGuid()}};
  if (!roles.empty()) {
    bj::array r;
    for (const auto& role : roles) r.emplace_back(role);
    payload["roles"] = std::move(r);
  }
  ASSIGN_OR_RETURN(std::string token, EncodeJwt(header, payload, key_));
  return AccessToken{std::move(token), lifetime};
}

Result<Claims> TokenService::Validate(std::string_view token, Audience expected) const {
  auto digest = crypto::Sha256(AsBytes(token));
  std::string key(reinterpret_cast<const char*>(digest.data()), digest.size());
  key.push_back(static_cast<char>(expected));
  std::optional<Claims> cached;
  {
    std::lock_guard<std::mutex> l(cache_mu_);
    if (auto it = verified_.find(key); it != verified_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.second);
      cached = it->second.first;
    }
  }
  if (!cached) {
    ASSIGN_OR_RETURN(Claims claims, Verify(token, expected));
    std::lock_guard<std::mutex> l(cache_mu_);
    if (verified_.find(key) == verified_.end()) {
      lru_.push_front(key);
      verified_.emplace(key, std::make_pair(claims, lru_.begin()));
      if (verified_.size() > kVerifiedCacheSize) {
        verified_.erase(lru_.back());
        lru_.pop_back();
      }
    }
    cached = std::move(claims);
  }
  Claims& claims = *cached;
  TimePoint now = session_clock()->Now();
  if (now >= claims.expires + options_.clock_skew) {
    return TokenError("ExpiredAuthenticationToken",
                      "The access token expiry UTC time '" + FormatRfc3339(claims.expires, 0) +
                          "' is earlier than current UTC time '" + FormatRfc3339(now, 0) + "'.");
  }
  if (now + options_.clock_skew < claims.not_before) {
    return TokenError("InvalidAuthenticationToken",
                      "The access token is not valid yet: its not-before time '" +
                          FormatRfc3339(claims.not_before, 0) + "' is after the current UTC time '" +
                          FormatRfc3339(now, 0) + "'.");
  }
  return std::move(claims);
}

Result<Claims> TokenService::Verify(std::string_view token, Audience expected) const {
  auto jwt = DecodeJwt(token);
  if (!jwt.ok()) {
    return TokenError("InvalidAuthenticationToken",
                      "The access token is invalid: " + jwt.status().message() + ".");
  }
  if (Claim(jwt->header, "alg") != "RS256") {
    return TokenError("InvalidAuthenticationToken",
                      "The access token is invalid: unsupported signing algorithm.");
  }
  if (!key_.VerifyRs256(AsBytes(jwt->signing_input), jwt->signature).ok()) {
    return TokenError("InvalidAuthenticationToken",
                      "The access token has an invalid signature.");
  }
  const bj::object& c = jwt->payload;
  Claims claims;
  claims.principal.object_id = Claim(c, "oid");
  claims.principal.app_id = Claim(c, "appid");
  claims.principal.tenant_id = Claim(c, "tid");
  claims.audience = Claim(c, "aud");
  auto iat = NumClaim(c, "iat"), nbf = NumClaim(c, "nbf"), exp = NumClaim(c, "exp");
  if (claims.principal.object_id.empty() || claims.principal.tenant_id.empty() || !exp || !nbf) {
    return TokenError("InvalidAuthenticationToken",
                      "The access token is missing required claims (oid, tid, nbf, exp).");
  }
  // The issuer names the login host; its port may differ between runs (port 0), so compare without it.
  if (NormalizeAudience(Claim(c, "iss")) != NormalizeAudience(Issuer(claims.principal.tenant_id))) {
    return TokenError("InvalidAuthenticationTokenTenant",
                      "The access token is from the wrong issuer '" + Claim(c, "iss") + "'.");
  }
  auto aud = AudienceFor(claims.audience);
  if (!aud || *aud != expected) {
    return TokenError("InvalidAuthenticationTokenAudience",
                      "The access token has been obtained for the wrong audience or resource '" +
                          claims.audience + "'. It should exactly match one of the audiences of "
                          "the " + std::string(AudienceName(expected)) + " endpoint.");
  }
  claims.issued_at = FromUnixSeconds(iat.value_or(*nbf));
  claims.not_before = FromUnixSeconds(*nbf);
  claims.expires = FromUnixSeconds(*exp);
  return claims;
}

bj::object TokenService::Jwks() const {
  bj::object k{{"kty", "RSA"},
               {"use", "sig"},
               {"alg", "RS256"},
               {"kid", kid_},
               {"n", Base64UrlEncode(key_.Modulus())},
               {"e", Base64UrlEncode(key_.Exponent())}};
  return bj::object{{"keys", bj::array{k}}};
}

}  // namespace cmk::identity
