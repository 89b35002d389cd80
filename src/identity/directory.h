#pragma once
// Directory: tenants and principals (service principals with client secrets, managed
// identities). Client secrets are 256-bit random values generated here; only a salted
// HMAC-SHA256 of each is stored and checks are constant-time (a slow KDF would add nothing for
// secrets of that entropy; see docs/security.md).
// Errors carry AAD codes: the message starts with "AADSTSnnnn:" and error_code() is the OAuth
// error (`invalid_client`, `unauthorized_client`, `invalid_request`).
// Thread safety: safe for concurrent use.

#include <optional>
#include <string>
#include <vector>

#include "base/secret_bytes.h"
#include "base/status.h"
#include "env/env.h"
#include "identity/principal.h"
#include "meta/metadata_store.h"

namespace cmk::identity {

struct Tenant {
  std::string id;
  std::string domain;
};

struct ServicePrincipalCredentials {
  Principal principal;
  SecretBytes client_secret;
};

class Directory {
 public:
  Directory(meta::MetadataStore* store, env::Env env) : store_(store), env_(env) {}

  Result<Tenant> CreateTenant(const std::string& domain);
  // By id (GUID, any case) or domain name.
  Result<std::optional<Tenant>> FindTenant(std::string_view id_or_domain);

  Result<ServicePrincipalCredentials> CreateServicePrincipal(const std::string& tenant_id,
                                                             const std::string& display_name);
  // A managed identity for `resource_id` (no secret; tokens are issued in-process).
  Result<Principal> CreateManagedIdentity(const std::string& tenant_id,
                                          const std::string& display_name);
  Result<std::optional<Principal>> FindByObjectId(std::string_view object_id);
  Result<std::optional<Principal>> FindByAppId(std::string_view app_id);
  // Every principal (service principals and managed identities) of `tenant_id`, ordered by
  // object id. Reads the whole principal table: for the directory's listing queries (Graph).
  Result<std::vector<Principal>> ListPrincipals(std::string_view tenant_id);
  Result<bool> DeletePrincipal(std::string_view object_id);

  // Client-credentials check. `tenant` may be the tenant id or domain, or empty (ADFS: the
  // principal's own tenant). Fails with AADSTS90002 (unknown tenant), AADSTS700016 (unknown
  // client) or AADSTS7000215 (wrong secret).
  Result<Principal> AuthenticateClient(std::string_view tenant, std::string_view client_id,
                                       std::string_view client_secret);

 private:
  Result<Principal> Store(const Principal& p, std::span<const uint8_t> salt,
                          std::span<const uint8_t> hash);
  meta::MetadataStore* store_;
  env::Env env_;
};

}  // namespace cmk::identity
