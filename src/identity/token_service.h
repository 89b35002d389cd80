#pragma once
// TokenService: issues and validates access tokens (JWT, RS256) for the instance's front ends.
//
// A token's `aud` is the resource the client asked for (scope minus "/.default"). Validation
// maps audiences to front ends after normalizing them (lower case, no port, no trailing slash),
// and accepts Azure's public audiences as aliases: a script written for Azure works unchanged.
// The signing key is generated on first start and persisted sealed under the instance master
// key (AES-256-GCM); it never leaves the process in clear.
// Thread safety: safe for concurrent use.

#include <boost/json.hpp>
#include <list>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <optional>
#include <string>
#include <vector>

#include "base/secret_bytes.h"
#include "base/status.h"
#include "base/time_format.h"
#include "crypto/rsa.h"
#include "env/env.h"
#include "identity/principal.h"
#include "meta/metadata_store.h"

namespace cmk::identity {

enum class Audience { kArm, kVault, kQuery, kIngest, kGraph, kStorage };
const char* AudienceName(Audience a);

struct TokenServiceOptions {
  // Base domain D of the instance (`localhost`): audiences are https://management.D etc.
  std::string domain = "localhost";
  // External login URL without a trailing slash (`https://login.localhost:8443`); the issuer is
  // "<login_url>/<tenant>/v2.0".
  std::string login_url;
  // Lifetime of issued tokens (Entra's default for client credentials is about an hour).
  Duration lifetime = std::chrono::seconds(3599);
  // Tolerated difference between the token's nbf/exp and the clock.
  Duration clock_skew = std::chrono::minutes(5);
  // The clock tokens are stamped (iat/nbf/exp) and validated on; null: env.clock. The server
  // passes its real clock here when it runs on a simulated one: a token belongs to the client's
  // session, and clients judge its lifetime on their own clocks, which `clock advance` does not
  // move. So a token issued after a jump is valid at once, and one issued before it stays valid
  // until its real expiry.
  env::Clock* session_clock = nullptr;
};

struct AccessToken {
  std::string token;
  int64_t expires_in = 0;  // seconds
};

struct Claims {
  Principal principal;
  std::string audience;
  TimePoint issued_at;
  TimePoint not_before;
  TimePoint expires;
};

class TokenService {
 public:
  // Loads the signing key from `store` (sealed under `master_key`), creating it on first use.
  static Result<std::unique_ptr<TokenService>> Create(env::Env env, meta::MetadataStore* store,
                                                      const SecretBytes& master_key,
                                                      TokenServiceOptions options);

  // The front end a resource/audience string belongs to, if any.
  std::optional<Audience> AudienceFor(std::string_view resource) const;

  // Issues a token for `resource` (already stripped of "/.default"). Fails with AADSTS500011
  // (`invalid_resource`) for resources this instance does not serve.
  Result<AccessToken> Issue(const Principal& principal, std::string_view resource) const;
  // A token for an application this instance does not serve (an action group's secure
  // webhook): `aud` is `audience` as given and `roles` lists the app roles granted. An audience
  // one of this instance's front ends answers to (AudienceFor) is refused, so Validate never
  // accepts such a token.
  Result<AccessToken> IssueForApplication(const Principal& principal, std::string_view audience,
                                          const std::vector<std::string>& roles) const;

  // Validates a bearer token for front end `expected`. Failures are Unauthenticated with ARM's
  // codes: InvalidAuthenticationToken, InvalidAuthenticationTokenAudience,
  // ExpiredAuthenticationToken, InvalidAuthenticationTokenTenant.
  Result<Claims> Validate(std::string_view token, Audience expected) const;

  std::string Issuer(const std::string& tenant_id) const;
  // Entries in the cache of verified tokens (bounded; least recently used go first).
  static constexpr size_t kVerifiedCacheSize = 4096;
  boost::json::object Jwks() const;
  const TokenServiceOptions& options() const { return options_; }

 private:
  TokenService(env::Env env, TokenServiceOptions options, crypto::RsaKey key, std::string kid)
      : env_(env), options_(std::move(options)), key_(std::move(key)), kid_(std::move(kid)) {}
  Result<AccessToken> Sign(const Principal& p, std::string_view audience,
                           const std::vector<std::string>& roles) const;
  // Signature and claim parsing of a token, without the time checks.
  Result<Claims> Verify(std::string_view token, Audience expected) const;
  env::Clock* session_clock() const {
    return options_.session_clock != nullptr ? options_.session_clock : env_.clock;
  }

  env::Env env_;
  TokenServiceOptions options_;
  crypto::RsaKey key_;
  std::string kid_;
  // Tokens whose signature and claims were verified, by SHA-256 of the token: a client sends
  // the same token for an hour, so the RSA verification and JSON parse are done once. The
  // time checks (nbf/exp) run on every call.
  mutable std::mutex cache_mu_;
  mutable std::list<std::string> lru_;
  mutable std::unordered_map<std::string, std::pair<Claims, std::list<std::string>::iterator>> verified_;
};

// "https://x/.default" -> "https://x"; "https://x//.default" -> "https://x/"; other scopes as is.
std::string ResourceFromScope(std::string_view scope);
// Lower case, scheme kept, port and trailing slashes removed.
std::string NormalizeAudience(std::string_view audience);

}  // namespace cmk::identity
