#include "storage_account/storage_auth.h"

#include <algorithm>

#include "base/encoding.h"
#include "crypto/hash.h"
#include "storage_account/http_date.h"

namespace cmk::storage_account {
namespace {

// Bounds on what is read of the request before any work: an Authorization header is at most
// "SharedKeyLite " + a 24-character account + ':' + 44 base64 characters; tokens are a few KB.
constexpr size_t kMaxAuthorization = 16 * 1024;
constexpr size_t kMaxSasField = 256;
// The request line a Lockbox record keeps.
constexpr size_t kMaxRequestLine = 2048;
// Azure refuses requests dated more than 15 minutes from its clock.
constexpr auto kMaxSkew = std::chrono::minutes(15);

Status AuthFailed(std::string detail) {
  return PermissionDenied(
      "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly "
      "including the signature." + (detail.empty() ? "" : " " + detail),
      "AuthenticationFailed");
}

Status InvalidAuthInfo() {
  return Unauthenticated("Server failed to authenticate the request. Please refer to the information in the "
                         "www-authenticate header.",
                         "InvalidAuthenticationInfo");
}

}  // namespace

std::string BlobStringToSign(const StorageRequest& r) {
  std::string s = r.method + "\n";
  for (const char* h : {"Content-Encoding", "Content-Language", "Content-Length", "Content-MD5", "Content-Type",
                        "Date", "If-Modified-Since", "If-Match", "If-None-Match", "If-Unmodified-Since", "Range"}) {
    std::string_view v = r.Header(h);
    if (EqualsIgnoreCase(h, "Content-Length") && v == "0") v = {};
    s.append(v).push_back('\n');
  }
  std::vector<std::pair<std::string, std::string_view>> xms;
  for (const auto& [k, v] : r.headers) {
    std::string name = ToLower(k);
    if (name.rfind("x-ms-", 0) == 0) xms.emplace_back(std::move(name), v);
  }
  std::sort(xms.begin(), xms.end());
  for (const auto& [k, v] : xms) s += k + ":" + std::string(v) + "\n";
  s += "/" + r.account + r.raw_path;
  std::vector<std::pair<std::string, std::string>> q;
  for (const auto& [k, v] : r.query) q.emplace_back(ToLower(k), v);
  std::sort(q.begin(), q.end());
  for (size_t i = 0; i < q.size();) {
    std::string line = "\n" + q[i].first + ":" + q[i].second;
    size_t j = i + 1;
    for (; j < q.size() && q[j].first == q[i].first; ++j) line += "," + q[j].second;
    s += line;
    i = j;
  }
  return s;
}

std::string TableStringToSign(const StorageRequest& r, bool lite) {
  std::string_view date = r.HasHeader("x-ms-date") ? r.Header("x-ms-date") : r.Header("Date");
  std::string resource = "/" + r.account + r.raw_path;
  if (r.HasQuery("comp")) resource += "?comp=" + std::string(r.Query("comp"));
  if (lite) return std::string(date) + "\n" + resource;
  return r.method + "\n" + std::string(r.Header("Content-MD5")) + "\n" + std::string(r.Header("Content-Type")) + "\n" +
         std::string(date) + "\n" + resource;
}

std::string SignString(const SecretBytes& key, std::string_view text) {
  auto mac = crypto::HmacSha256(key.span(), AsBytes(text));
  return Base64Encode(mac);
}

Result<bool> StorageAuth::SignedByAccount(const std::string& account, std::string_view text, std::string_view sig) const {
  ASSIGN_OR_RETURN(AccountKeyInfo keys, accounts_->Keys(account));
  bool ok = false;
  for (const SecretBytes* k : {&keys.key1, &keys.key2}) {
    std::string expected = SignString(*k, text);
    ok |= ConstantTimeEquals(std::string_view(expected), sig);
  }
  return ok;
}

Status StorageAuth::CheckDate(const StorageRequest& r) const {
  std::string_view d = r.HasHeader("x-ms-date") ? r.Header("x-ms-date") : r.Header("Date");
  if (d.empty()) return AuthFailed("The request has no x-ms-date or Date header.");
  auto t = ParseHttpDate(d);
  if (!t.ok()) return AuthFailed("The x-ms-date header is not a valid RFC 1123 date.");
  TimePoint now = clock_->Now();
  if (*t > now + kMaxSkew || *t < now - kMaxSkew) {
    return AuthFailed("Request date header too old or too far in the future: '" + std::string(d) + "'.");
  }
  return OkStatus();
}

Result<Caller> StorageAuth::SharedKey(const StorageRequest& r, Service svc, const AccountSpec& spec,
                                      std::string_view auth) const {
  bool lite = auth.rfind("SharedKeyLite ", 0) == 0;
  std::string_view cred = auth.substr(lite ? 14 : 10);
  size_t colon = cred.find(':');
  if (colon == std::string_view::npos || cred.substr(0, colon) != r.account) {
    return AuthFailed("The account name in the Authorization header does not match the request.");
  }
  if (!spec.allow_shared_key) {
    return PermissionDenied("Key based authentication is not permitted on this storage account.",
                            "KeyBasedAuthenticationNotPermitted");
  }
  RETURN_IF_ERROR(CheckDate(r));
  if (lite && svc != Service::kTable) return AuthFailed("SharedKeyLite is supported for the Table service only.");
  std::string sts = svc == Service::kBlob ? BlobStringToSign(r) : TableStringToSign(r, lite);
  ASSIGN_OR_RETURN(bool ok, SignedByAccount(r.account, sts, cred.substr(colon + 1)));
  // The string to sign is echoed as Azure does (it holds no secret), so a client can compare.
  if (!ok) {
    return AuthFailed("The MAC signature found in the HTTP request is not the same as any computed signature. "
                      "Server used following string to sign: '" + sts.substr(0, 2048) + "'.");
  }
  return Caller{Caller::Kind::kSharedKey, {}, ""};
}

// Account SAS (ss, srt) and Blob service SAS (sr c|b). The signed fields are bounded, the
// expiry and start checked on the clients' clock, and the signature compared in constant time.
Result<Caller> StorageAuth::Sas(const StorageRequest& r, const AccountSpec& spec) const {
  if (!spec.allow_shared_key) {
    return PermissionDenied("Key based authentication is not permitted on this storage account.",
                            "KeyBasedAuthenticationNotPermitted");
  }
  for (const auto& [k, v] : r.query) {
    if (v.size() > kMaxSasField) return AuthFailed("A signed SAS field is too long.");
  }
  auto q = [&](std::string_view n) { return std::string(r.Query(n)); };
  std::string se = q("se"), st = q("st");
  if (se.empty()) return AuthFailed("Signed expiry time [se] must be specified.");
  TimePoint now = clock_->Now();
  auto expiry = ParseRfc3339(se);
  if (!expiry.ok() || *expiry < now) return AuthFailed("Signed expiry time [" + se + "] has to be after the current time.");
  if (!st.empty()) {
    auto start = ParseRfc3339(st);
    if (!start.ok() || *start > now + kMaxSkew) return AuthFailed("Signed start time [" + st + "] is in the future.");
  }
  std::string sts;
  if (r.HasQuery("ss")) {
    sts = r.account + "\n" + q("sp") + "\n" + q("ss") + "\n" + q("srt") + "\n" + st + "\n" + se + "\n" + q("sip") + "\n" +
          q("spr") + "\n" + q("sv") + "\n" + q("ses") + "\n";
  } else if (r.HasQuery("sr")) {
    // /blob/{account}/{container}[/{blob}] from the decoded path.
    std::string resource = "/blob/" + r.account + (q("sr") == "c" ? r.path.substr(0, r.path.find('/', 1)) : r.path);
    sts = q("sp") + "\n" + st + "\n" + se + "\n" + resource + "\n" + q("si") + "\n" + q("sip") + "\n" + q("spr") + "\n" +
          q("sv") + "\n" + q("sr") + "\n" + q("snapshot") + "\n" + q("ses") + "\n" + q("rscc") + "\n" + q("rscd") + "\n" +
          q("rsce") + "\n" + q("rscl") + "\n" + q("rsct");
  } else {
    return AuthFailed("The SAS names neither services (ss) nor a resource (sr).");
  }
  ASSIGN_OR_RETURN(bool ok, SignedByAccount(r.account, sts, r.Query("sig")));
  if (!ok) return AuthFailed("Signature did not match. String to sign used was " + sts.substr(0, 2048));
  return Caller{Caller::Kind::kSas, {}, q("sp")};
}

Result<Caller> StorageAuth::Bearer(const StorageRequest& r, Service svc, const AccountSpec& spec,
                                   std::string_view token) const {
  auto claims = tokens_->Validate(token, identity::Audience::kStorage);
  if (!claims.ok()) return InvalidAuthInfo();
  if (!EqualsIgnoreCase(claims->principal.tenant_id, spec.tenant_id)) return InvalidAuthInfo();
  if (gate_) {
    std::string op = std::string("Microsoft.Storage/storageAccounts/") +
                     (svc == Service::kBlob ? "blobServices" : "tableServices") + "/request";
    RETURN_IF_ERROR(gate_(claims->principal, spec, op, r.method + " " + r.path.substr(0, kMaxRequestLine)));
  }
  return Caller{Caller::Kind::kBearer, claims->principal, ""};
}

Result<Caller> StorageAuth::Authenticate(const StorageRequest& r, Service svc, const AccountSpec& spec) const {
  std::string_view auth = r.Header("Authorization");
  if (auth.size() > kMaxAuthorization) return AuthFailed("The Authorization header is too long.");
  if (auth.rfind("SharedKey ", 0) == 0 || auth.rfind("SharedKeyLite ", 0) == 0) return SharedKey(r, svc, spec, auth);
  if (auth.size() > 7 && EqualsIgnoreCase(auth.substr(0, 7), "Bearer ")) return Bearer(r, svc, spec, auth.substr(7));
  if (!auth.empty()) return AuthFailed("The Authorization header's scheme is not supported.");
  if (r.HasQuery("sig")) return Sas(r, spec);
  return Unauthenticated("Server failed to authenticate the request. Please refer to the information in the "
                         "www-authenticate header.",
                         "NoAuthenticationInformation");
}

Status StorageAuth::Authorize(const Caller& caller, std::string_view action, bool data_action, const std::string& scope,
                              char sas_perm) const {
  switch (caller.kind) {
    case Caller::Kind::kSharedKey:
      return OkStatus();  // the account key grants everything
    case Caller::Kind::kSas:
      if (caller.sas_permissions.find(sas_perm) != std::string::npos) return OkStatus();
      return PermissionDenied("This request is not authorized to perform this operation using this permission.",
                              "AuthorizationPermissionMismatch");
    case Caller::Kind::kBearer:
      if (rbac_->IsAllowed(caller.principal.object_id, action, scope, data_action)) return OkStatus();
      return PermissionDenied("This request is not authorized to perform this operation using this permission.",
                              "AuthorizationPermissionMismatch");
  }
  return PermissionDenied("unknown caller", "AuthorizationPermissionMismatch");
}

std::string StorageAuth::Challenge(const AccountSpec& spec) const {
  return "Bearer authorization_uri=" + login_url_ + "/" + spec.tenant_id +
         "/oauth2/authorize resource_id=https://storage.azure.com";
}

}  // namespace cmk::storage_account
