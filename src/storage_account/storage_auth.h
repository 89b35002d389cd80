#pragma once
// Authentication and authorization of Blob and Table requests (azure-api-2.md §20.8-20.10,
// §21.8): Shared Key (Blob's string-to-sign; Table's SharedKey and SharedKeyLite), SAS (account
// SAS and Blob service SAS, signed with an account key), and Entra bearer tokens for
// https://storage.azure.com with the built-in Storage Blob/Table Data roles. Signatures are
// compared in constant time; every input is bounded before it is read.
// Failures are Status values with Storage's codes: 401 NoAuthenticationInformation /
// InvalidAuthenticationInfo (bearer; the caller adds the challenge), 403 AuthenticationFailed,
// KeyBasedAuthenticationNotPermitted, AuthorizationPermissionMismatch.
// Thread safety: safe for concurrent use.
#include <functional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "env/env.h"
#include "identity/rbac.h"
#include "identity/token_service.h"
#include "storage_account/account_registry.h"
#include "storage_account/storage_request.h"

namespace cmk::storage_account {

enum class Service { kBlob, kTable };

struct Caller {
  enum class Kind { kSharedKey, kSas, kBearer } kind = Kind::kSharedKey;
  identity::Principal principal;  // kBearer
  std::string sas_permissions;    // kSas: "racwdl..."
};

// String-to-sign forms (exposed for tests).
std::string BlobStringToSign(const StorageRequest& r);
std::string TableStringToSign(const StorageRequest& r, bool lite);
// base64(HMAC-SHA256(key, text)).
std::string SignString(const SecretBytes& key, std::string_view text);

// Customer Lockbox on the data planes, injected by the app (storage_account does not know the
// control plane): asked about every request an Entra token authorizes, with the caller, the
// account, the operation (Microsoft.Storage/storageAccounts/{blob|table}Services/request) and the
// request line ("GET /container/blob"). OK lets the request proceed (the gate records it when it
// runs under a Lockbox grant); an error refuses it (403 CustomerLockboxAccessDenied).
using OperatorGate = std::function<Status(const identity::Principal& caller, const AccountSpec& spec,
                                          const std::string& operation, const std::string& request)>;

class StorageAuth {
 public:
  // `session_clock`: the clients' clock (x-ms-date skew, SAS expiry, token lifetimes).
  StorageAuth(AccountRegistry* accounts, const identity::TokenService* tokens, const identity::Rbac* rbac,
              env::Clock* session_clock, std::string login_url)
      : accounts_(accounts), tokens_(tokens), rbac_(rbac), clock_(session_clock), login_url_(std::move(login_url)) {}

  Result<Caller> Authenticate(const StorageRequest& r, Service svc, const AccountSpec& spec) const;
  // Whether `caller` may do `action` (an RBAC action or, with `data_action`, a data action) on
  // `scope` (under the account's resource id); a SAS needs `sas_perm` among its permissions.
  Status Authorize(const Caller& caller, std::string_view action, bool data_action, const std::string& scope,
                   char sas_perm) const;
  // Set before serving (not synchronized).
  void set_operator_gate(OperatorGate gate) { gate_ = std::move(gate); }
  // The WWW-Authenticate value of a 401 for `spec`'s tenant.
  std::string Challenge(const AccountSpec& spec) const;

 private:
  Result<Caller> SharedKey(const StorageRequest& r, Service svc, const AccountSpec& spec, std::string_view auth) const;
  Result<Caller> Sas(const StorageRequest& r, const AccountSpec& spec) const;
  Result<Caller> Bearer(const StorageRequest& r, Service svc, const AccountSpec& spec, std::string_view token) const;
  Status CheckDate(const StorageRequest& r) const;
  // Whether `sig` (base64) is the signature of `text` under key1 or key2.
  Result<bool> SignedByAccount(const std::string& account, std::string_view text, std::string_view sig) const;

  AccountRegistry* accounts_;
  const identity::TokenService* tokens_;
  const identity::Rbac* rbac_;
  env::Clock* clock_;
  std::string login_url_;
  OperatorGate gate_;
};

}  // namespace cmk::storage_account
