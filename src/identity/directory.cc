#include "identity/directory.h"

#include "base/encoding.h"
#include "base/json.h"
#include "crypto/hash.h"

namespace cmk::identity {
namespace {

constexpr char kTenantKind[] = "tenant";
constexpr char kPrincipalKind[] = "principal";
constexpr char kAppKind[] = "app";

namespace bj = boost::json;

Principal PrincipalFromJson(const bj::object& o) {
  Principal p;
  p.object_id = std::string(o.at("objectId").as_string());
  p.app_id = std::string(o.at("appId").as_string());
  p.tenant_id = std::string(o.at("tenantId").as_string());
  p.display_name = std::string(o.at("displayName").as_string());
  p.type = o.at("type").as_string() == "ManagedIdentity" ? PrincipalType::kManagedIdentity
                                                         : PrincipalType::kServicePrincipal;
  return p;
}

Status AadError(StatusCode code, std::string oauth_error, std::string message) {
  return Status(code, std::move(message), std::move(oauth_error));
}

}  // namespace

Result<Tenant> Directory::CreateTenant(const std::string& domain) {
  Tenant t{env_.random->NewGuid(), ToLower(domain)};
  bj::object o{{"id", t.id}, {"domain", t.domain}};
  RETURN_IF_ERROR(store_->Transaction([&](meta::DocumentOps& ops) -> Status {
    RETURN_IF_ERROR(ops.Put(kTenantKind, t.id, json::Serialize(o)));
    return ops.Put("tenant-domain", t.domain, t.id);
  }));
  return t;
}

Result<std::optional<Tenant>> Directory::FindTenant(std::string_view id_or_domain) {
  std::string id(id_or_domain);
  if (!IsGuid(id)) {
    ASSIGN_OR_RETURN(auto by_domain, store_->Get("tenant-domain", id));
    if (!by_domain) return std::optional<Tenant>();
    id = by_domain->body;
  }
  ASSIGN_OR_RETURN(auto doc, store_->Get(kTenantKind, id));
  if (!doc) return std::optional<Tenant>();
  ASSIGN_OR_RETURN(bj::object o, json::ParseObject(doc->body));
  return std::optional<Tenant>(
      Tenant{std::string(o.at("id").as_string()), std::string(o.at("domain").as_string())});
}

Result<Principal> Directory::Store(const Principal& p, std::span<const uint8_t> salt,
                                   std::span<const uint8_t> hash) {
  bj::object o{{"objectId", p.object_id},
               {"appId", p.app_id},
               {"tenantId", p.tenant_id},
               {"displayName", p.display_name},
               {"type", p.type == PrincipalType::kManagedIdentity ? "ManagedIdentity"
                                                                  : "ServicePrincipal"}};
  if (!hash.empty()) {
    o["secretSalt"] = Base64Encode(salt);
    o["secretHash"] = Base64Encode(hash);
  }
  RETURN_IF_ERROR(store_->Transaction([&](meta::DocumentOps& ops) -> Status {
    RETURN_IF_ERROR(ops.Put(kPrincipalKind, p.object_id, json::Serialize(o)));
    return ops.Put(kAppKind, p.app_id, p.object_id);
  }));
  return p;
}

Result<ServicePrincipalCredentials> Directory::CreateServicePrincipal(
    const std::string& tenant_id, const std::string& display_name) {
  ASSIGN_OR_RETURN(auto tenant, FindTenant(tenant_id));
  if (!tenant) return NotFound("tenant '" + tenant_id + "' does not exist");
  Principal p{env_.random->NewGuid(), env_.random->NewGuid(), tenant->id, display_name,
              PrincipalType::kServicePrincipal};
  // Azure-like secret text: 40 characters from 30 random bytes (240 bits).
  SecretBytes raw = env_.random->NewSecret(30);
  std::string text = Base64UrlEncode(raw.span());
  SecretBytes secret = SecretBytes::FromString(text);
  std::fill(text.begin(), text.end(), '\0');
  SecretBytes salt = env_.random->NewSecret(16);
  auto hash = crypto::HmacSha256(salt.span(), secret.span());
  ASSIGN_OR_RETURN(p, Store(p, salt.span(), hash));
  return ServicePrincipalCredentials{std::move(p), std::move(secret)};
}

Result<Principal> Directory::CreateManagedIdentity(const std::string& tenant_id,
                                                   const std::string& display_name) {
  Principal p{env_.random->NewGuid(), env_.random->NewGuid(), tenant_id, display_name,
              PrincipalType::kManagedIdentity};
  return Store(p, {}, {});
}

Result<std::optional<Principal>> Directory::FindByObjectId(std::string_view object_id) {
  ASSIGN_OR_RETURN(auto doc, store_->Get(kPrincipalKind, object_id));
  if (!doc) return std::optional<Principal>();
  ASSIGN_OR_RETURN(bj::object o, json::ParseObject(doc->body));
  return std::optional<Principal>(PrincipalFromJson(o));
}

Result<std::optional<Principal>> Directory::FindByAppId(std::string_view app_id) {
  ASSIGN_OR_RETURN(auto idx, store_->Get(kAppKind, app_id));
  if (!idx) return std::optional<Principal>();
  return FindByObjectId(idx->body);
}

Result<std::vector<Principal>> Directory::ListPrincipals(std::string_view tenant_id) {
  ASSIGN_OR_RETURN(auto docs, store_->List(kPrincipalKind, ""));
  std::vector<Principal> out;
  for (const auto& doc : docs) {
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(doc.body));
    Principal p = PrincipalFromJson(o);
    if (EqualsIgnoreCase(p.tenant_id, tenant_id)) out.push_back(std::move(p));
  }
  return out;
}

Result<bool> Directory::DeletePrincipal(std::string_view object_id) {
  ASSIGN_OR_RETURN(auto p, FindByObjectId(object_id));
  if (!p) return false;
  RETURN_IF_ERROR(store_->Transaction([&](meta::DocumentOps& ops) -> Status {
    RETURN_IF_ERROR(ops.Delete(kPrincipalKind, p->object_id));
    return ops.Delete(kAppKind, p->app_id).status();
  }));
  return true;
}

Result<Principal> Directory::AuthenticateClient(std::string_view tenant, std::string_view client_id,
                                                std::string_view client_secret) {
  std::optional<Tenant> t;
  if (!tenant.empty()) {
    ASSIGN_OR_RETURN(t, FindTenant(tenant));
    if (!t) {
      return AadError(StatusCode::kInvalidArgument, "invalid_request",
                      "AADSTS90002: Tenant '" + std::string(tenant) +
                          "' not found. Check to make sure you have the correct tenant ID and are "
                          "signing into the correct cloud.");
    }
  }
  std::optional<bj::object> doc_obj;
  ASSIGN_OR_RETURN(auto idx, store_->Get(kAppKind, client_id));
  if (idx) {
    ASSIGN_OR_RETURN(auto doc, store_->Get(kPrincipalKind, idx->body));
    if (doc) {
      ASSIGN_OR_RETURN(bj::object o, json::ParseObject(doc->body));
      doc_obj = std::move(o);
    }
  }
  if (!doc_obj || (t && !EqualsIgnoreCase(doc_obj->at("tenantId").as_string(), t->id)) ||
      !doc_obj->contains("secretHash")) {
    return AadError(StatusCode::kInvalidArgument, "unauthorized_client",
                    "AADSTS700016: Application with identifier '" + std::string(client_id) +
                        "' was not found in the directory '" + std::string(tenant) +
                        "'. This can happen if the application has not been installed by the "
                        "administrator of the tenant or consented to by any user in the tenant.");
  }
  ASSIGN_OR_RETURN(auto salt, Base64Decode(doc_obj->at("secretSalt").as_string()));
  ASSIGN_OR_RETURN(auto want, Base64Decode(doc_obj->at("secretHash").as_string()));
  auto got = crypto::HmacSha256(salt, AsBytes(client_secret));
  if (!ConstantTimeEquals(want, got)) {
    return AadError(StatusCode::kUnauthenticated, "invalid_client",
                    "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent "
                    "in the request is the client secret value, not the client secret ID, for a "
                    "secret added to app '" + std::string(client_id) + "'.");
  }
  return PrincipalFromJson(*doc_obj);
}

}  // namespace cmk::identity
