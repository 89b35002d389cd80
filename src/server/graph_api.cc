#include "server/graph_api.h"

#include <algorithm>
#include <array>
#include <boost/json.hpp>

#include "base/encoding.h"
#include "base/json.h"
#include "base/time_format.h"
#include "crypto/hash.h"
#include "server/graph_filter.h"

namespace cmk::server {
namespace {

namespace bj = boost::json;
using identity::Principal;
using identity::PrincipalType;

// Graph answers JSON with its OData media type; clients only look at "application/json".
constexpr char kODataJson[] =
    "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;"
    "charset=utf-8";
// getByIds takes at most 1,000 ids (Graph's documented limit).
constexpr size_t kMaxIds = 1000;
// Request bodies here are a list of ids: 1,000 GUIDs in JSON fit in 64 KiB.
constexpr size_t kMaxBodyBytes = 64 * 1024;

bool IsManaged(const Principal& p) { return p.type == PrincipalType::kManagedIdentity; }

// A service principal as Graph v1.0 returns it. Managed identities have no application object
// and no owner organization of the customer's (Entra shows Microsoft's), so those are null.
bj::object ServicePrincipalJson(const Principal& p) {
  bool mi = IsManaged(p);
  bj::value app_owner = mi ? bj::value(nullptr) : bj::value(p.tenant_id);
  bj::value app_name = mi ? bj::value(nullptr) : bj::value(p.display_name);
  bj::value audience = mi ? bj::value(nullptr) : bj::value("AzureADMyOrg");
  return bj::object{{"id", p.object_id},
                    {"deletedDateTime", nullptr},
                    {"accountEnabled", true},
                    {"alternativeNames", bj::array{}},
                    {"appDisplayName", app_name},
                    {"appDescription", nullptr},
                    {"appId", p.app_id},
                    {"applicationTemplateId", nullptr},
                    {"appOwnerOrganizationId", app_owner},
                    {"appRoleAssignmentRequired", false},
                    {"description", nullptr},
                    {"disabledByMicrosoftStatus", nullptr},
                    {"displayName", p.display_name},
                    {"homepage", nullptr},
                    {"loginUrl", nullptr},
                    {"logoutUrl", nullptr},
                    {"notes", nullptr},
                    {"notificationEmailAddresses", bj::array{}},
                    {"preferredSingleSignOnMode", nullptr},
                    {"preferredTokenSigningKeyThumbprint", nullptr},
                    {"replyUrls", bj::array{}},
                    {"servicePrincipalNames", bj::array{bj::value(p.app_id)}},
                    {"servicePrincipalType", mi ? "ManagedIdentity" : "Application"},
                    {"signInAudience", audience},
                    {"tags", bj::array{}},
                    {"tokenEncryptionKeyId", nullptr},
                    {"addIns", bj::array{}},
                    {"appRoles", bj::array{}},
                    {"keyCredentials", bj::array{}},
                    {"oauth2PermissionScopes", bj::array{}},
                    {"passwordCredentials", bj::array{}},
                    {"verifiedPublisher", bj::object{{"displayName", nullptr},
                                                     {"verifiedPublisherId", nullptr},
                                                     {"addedDateTime", nullptr}}}};
}

bj::object ApplicationJson(const Principal& p) {
  return bj::object{{"id", GraphApi::ApplicationObjectId(p.app_id)},
                    {"deletedDateTime", nullptr},
                    {"appId", p.app_id},
                    {"displayName", p.display_name},
                    {"description", nullptr},
                    {"identifierUris", bj::array{}},
                    {"publisherDomain", nullptr},
                    {"signInAudience", "AzureADMyOrg"},
                    {"tags", bj::array{}},
                    {"keyCredentials", bj::array{}},
                    {"passwordCredentials", bj::array{}},
                    {"requiredResourceAccess", bj::array{}},
                    {"api", bj::object{{"oauth2PermissionScopes", bj::array{}}}},
                    {"web", bj::object{{"redirectUris", bj::array{}}}}};
}

// The value a service principal or application has for a filterable property (lower case is
// not applied: the comparison ignores case, as Graph's does for these string properties).
std::string PropertyOf(const Principal& p, std::string_view name, bool application) {
  if (EqualsIgnoreCase(name, "id")) {
    return application ? GraphApi::ApplicationObjectId(p.app_id) : p.object_id;
  }
  if (EqualsIgnoreCase(name, "appId")) return p.app_id;
  if (EqualsIgnoreCase(name, "displayName")) return p.display_name;
  if (EqualsIgnoreCase(name, "servicePrincipalType")) {
    return IsManaged(p) ? "ManagedIdentity" : "Application";
  }
  if (EqualsIgnoreCase(name, "accountEnabled")) return "true";
  return "";
}

bool Matches(const graph::Filter& f, const Principal& p, bool application) {
  for (const graph::FilterClause& c : f.clauses) {
    bool ok = false;
    switch (c.op) {
      case graph::FilterClause::Op::kEq:
        ok = EqualsIgnoreCase(PropertyOf(p, c.property, application), c.value);
        break;
      case graph::FilterClause::Op::kStartsWith:
        ok = StartsWithIgnoreCase(PropertyOf(p, c.property, application), c.value);
        break;
      case graph::FilterClause::Op::kAnyEq:
        // servicePrincipalNames holds the appId (identifierUris is empty here).
        ok = EqualsIgnoreCase(c.property, "servicePrincipalNames") &&
             EqualsIgnoreCase(p.app_id, c.value);
        break;
    }
    if (!ok) return false;
  }
  return true;
}

// The properties each collection can be filtered on (Graph's, restricted to what is stored).
struct CollectionSpec {
  std::string_view resource;  // Graph's entity type name, for error messages
  std::vector<std::string_view> eq, startswith, any;
};

const CollectionSpec* SpecFor(std::string_view collection) {
  static const CollectionSpec kSp{
      "ServicePrincipal",
      {"id", "appId", "displayName", "servicePrincipalType", "accountEnabled"},
      {"displayName"},
      {"servicePrincipalNames"}};
  static const CollectionSpec kApp{
      "Application", {"id", "appId", "displayName"}, {"displayName"}, {"identifierUris"}};
  static const CollectionSpec kUser{
      "User",
      {"id", "userPrincipalName", "displayName", "mail", "accountEnabled"},
      {"displayName", "userPrincipalName", "mail"},
      {"otherMails", "proxyAddresses"}};
  if (collection == "servicePrincipals") return &kSp;
  if (collection == "applications") return &kApp;
  if (collection == "users") return &kUser;
  return nullptr;
}

// Segment names are case-insensitive in Graph; collections are matched by their canonical name.
std::optional<std::string> Canonical(std::string_view seg) {
  for (std::string_view name :
       {"me", "servicePrincipals", "applications", "users", "directoryObjects", "groups"}) {
    if (EqualsIgnoreCase(seg, name)) return std::string(name);
  }
  return std::nullopt;
}

}  // namespace

std::string GraphApi::ApplicationObjectId(std::string_view app_id) {
  auto digest = crypto::Sha256(AsBytes("cmklogs/graph/application/" + ToLower(app_id)));
  std::array<uint8_t, 16> b{};
  std::copy_n(digest.begin(), 16, b.begin());
  return FormatGuidV4(b);
}

void GraphApi::Json(HttpResponse& res, int status, std::string body) const {
  res.SetJson(status, std::move(body));
  res.SetHeader("Content-Type", kODataJson);
}

void GraphApi::Error(const HttpRequest& req, HttpResponse& res, int status, std::string_view code,
                     std::string_view message) const {
  std::string_view client_rid = req.Header("client-request-id");
  bj::object inner{
      {"request-id", req.request_id},
      {"client-request-id", client_rid.empty() ? std::string_view(req.request_id) : client_rid}};
  if (d_.clock != nullptr) {
    std::string date = FormatRfc3339(d_.clock->Now(), 0);
    if (!date.empty() && date.back() == 'Z')
      date.pop_back();  // Graph's innerError.date has no zone
    inner["date"] = date;
  }
  bj::object o{{"error", bj::object{{"code", code}, {"message", message}, {"innerError", inner}}}};
  Json(res, status, bj::serialize(o));
}

std::optional<identity::Claims> GraphApi::Authenticate(const HttpRequest& req,
                                                       HttpResponse& res) const {
  auto fail = [&](std::string_view message) -> std::optional<identity::Claims> {
    res.SetHeader("WWW-Authenticate", "Bearer realm=\"\", authorization_uri=\"" + d_.login_url +
                                          "/common/oauth2/authorize\", client_id=\"" +
                                          "00000003-0000-0000-c000-000000000000\"");
    Error(req, res, 401, "InvalidAuthenticationToken", message);
    return std::nullopt;
  };
  std::string_view auth = req.Header("Authorization");
  if (!StartsWithIgnoreCase(auth, "Bearer ") || auth.size() <= 7) {
    return fail("Access token is empty.");
  }
  if (d_.tokens == nullptr) return fail("Access token validation failure.");
  auto claims = d_.tokens->Validate(auth.substr(7), identity::Audience::kGraph);
  if (!claims.ok()) {
    const std::string& code = claims.status().error_code();
    if (code == "ExpiredAuthenticationToken") {
      return fail("Lifetime validation failed, the token is expired.");
    }
    if (code == "InvalidAuthenticationTokenAudience") {
      return fail("Access token validation failure. Invalid audience.");
    }
    return fail("Access token validation failure.");
  }
  return *claims;
}

void GraphApi::Handle(const HttpRequest& req, HttpResponse& res) {
  auto claims = Authenticate(req, res);
  if (!claims) return;
  res.principal = claims->principal.object_id;
  if (d_.directory == nullptr) {
    return Error(req, res, 503, "serviceNotAvailable", "The directory is not available.");
  }
  Dispatch(req, res, claims->principal);
}

Result<std::optional<Principal>> GraphApi::Visible(const Principal& caller,
                                                   std::string_view object_id) const {
  if (!IsGuid(object_id)) return std::optional<Principal>();
  ASSIGN_OR_RETURN(auto p, d_.directory->FindByObjectId(ToLower(object_id)));
  if (!p || !EqualsIgnoreCase(p->tenant_id, caller.tenant_id)) return std::optional<Principal>();
  return p;
}

void GraphApi::Dispatch(const HttpRequest& req, HttpResponse& res, const Principal& caller) {
  auto seg = SplitPath(req.path);
  if (seg.empty() || (seg[0] != "v1.0" && seg[0] != "beta")) {
    return Error(req, res, 400, "BadRequest",
                 "Invalid version: '" + EscapeForLog(seg.empty() ? "" : seg[0], 64) + "'.");
  }
  const std::string version = seg[0];
  const std::string context = d_.base_url + "/" + version + "/$metadata#";
  if (seg.size() < 2) {
    return Error(req, res, 400, "BadRequest", "The request URI names no resource.");
  }
  // servicePrincipals(appId='…'): Graph's alternate key.
  std::string first = seg[1];
  std::optional<std::string> alt_app_id;
  if (StartsWithIgnoreCase(first, "servicePrincipals(appId='") && first.size() > 27 &&
      first.substr(first.size() - 2) == "')") {
    alt_app_id = first.substr(25, first.size() - 27);
    first = "servicePrincipals";
  }
  auto collection = Canonical(first);
  if (!collection) {
    return Error(req, res, 400, "BadRequest",
                 "Resource not found for the segment '" + EscapeForLog(seg[1], 128) + "'.");
  }
  bool is_get = req.method == "GET" || req.method == "HEAD";
  bool get_by_ids =
      *collection == "directoryObjects" && seg.size() == 3 && EqualsIgnoreCase(seg[2], "getByIds");
  if (get_by_ids) {
    if (req.method != "POST") {
      return Error(req, res, 405, "Request_BadRequest",
                   "Specified HTTP method is not allowed for the request target.");
    }
    return GetByIds(req, res, caller);
  }
  if (!is_get) {
    // Creating, changing or deleting directory objects needs Graph application permissions
    // that no principal of this directory holds.
    return Error(req, res, 403, "Authorization_RequestDenied",
                 "Insufficient privileges to complete the operation.");
  }
  if (*collection == "me") {
    // Tokens here are app-only (client credentials, managed identities): Graph's answer.
    return Error(req, res, 400, "BadRequest",
                 "/me request is only valid with delegated authentication flow.");
  }
  if (*collection == "groups") {
    if (seg.size() == 2) {
      return Json(res, 200,
                  bj::serialize(
                      bj::object{{"@odata.context", context + "groups"}, {"value", bj::array{}}}));
    }
  }
  if (seg.size() == 2 && !alt_app_id && *collection != "directoryObjects") {
    return ListCollection(req, res, caller, *collection);
  }
  if (seg.size() != 3 && !(alt_app_id && seg.size() == 2)) {
    return Error(req, res, 400, "BadRequest",
                 "Resource not found for the segment '" + EscapeForLog(seg.back(), 128) + "'.");
  }
  GetOne(req, res, caller, *collection, alt_app_id ? *alt_app_id : seg[2], alt_app_id.has_value(),
         context);
}

void GraphApi::GetOne(const HttpRequest& req, HttpResponse& res, const Principal& caller,
                      std::string_view collection, const std::string& id, bool by_app_id,
                      const std::string& context) {
  std::string not_found = "Resource '" + EscapeForLog(id, 128) +
                          "' does not exist or one of its queried reference-property objects are "
                          "not present.";
  if (collection == "servicePrincipals" || collection == "directoryObjects") {
    Result<std::optional<Principal>> p = std::optional<Principal>();
    if (by_app_id) {
      p = d_.directory->FindByAppId(ToLower(id));
      if (p.ok() && *p && !EqualsIgnoreCase((*p)->tenant_id, caller.tenant_id)) {
        p = std::optional<Principal>();
      }
    } else {
      p = Visible(caller, id);
    }
    if (!p.ok()) return Error(req, res, 500, "generalException", p.status().message());
    if (!*p) return Error(req, res, 404, "Request_ResourceNotFound", not_found);
    bj::object o = ServicePrincipalJson(**p);
    if (collection == "directoryObjects") {
      o.emplace("@odata.type", "#microsoft.graph.servicePrincipal");
      o.emplace("@odata.context", context + "directoryObjects/$entity");
    } else {
      o.emplace("@odata.context", context + "servicePrincipals/$entity");
    }
    return Json(res, 200, bj::serialize(o));
  }
  if (collection == "applications") {
    auto all = d_.directory->ListPrincipals(caller.tenant_id);
    if (!all.ok()) return Error(req, res, 500, "generalException", all.status().message());
    for (const Principal& p : *all) {
      if (IsManaged(p) || !EqualsIgnoreCase(ApplicationObjectId(p.app_id), id)) continue;
      bj::object o = ApplicationJson(p);
      o.emplace("@odata.context", context + "applications/$entity");
      return Json(res, 200, bj::serialize(o));
    }
  }
  // users/{id}, groups/{id}: this directory has neither.
  return Error(req, res, 404, "Request_ResourceNotFound", not_found);
}

void GraphApi::ListCollection(const HttpRequest& req, HttpResponse& res, const Principal& caller,
                              std::string_view collection) {
  const CollectionSpec* spec = SpecFor(collection);
  if (spec == nullptr) {
    return Error(req, res, 400, "BadRequest", "The collection cannot be listed.");
  }
  std::optional<graph::Filter> filter;
  size_t top = kMaxIds;
  int filters = 0, tops = 0;
  for (const auto& [name, value] : req.query) {
    if (EqualsIgnoreCase(name, "$filter")) {
      if (++filters > 1) {
        return Error(req, res, 400, "BadRequest",
                     "Query option '$filter' was specified more than once.");
      }
      auto f = graph::ParseFilter(value);
      if (!f.ok()) return Error(req, res, 400, f.status().error_code(), f.status().message());
      Status s = graph::CheckFilter(*f, spec->resource, spec->eq, spec->startswith, spec->any);
      if (!s.ok()) return Error(req, res, 400, s.error_code(), s.message());
      filter = std::move(*f);
    } else if (EqualsIgnoreCase(name, "$top")) {
      bool digits = !value.empty() && value.size() <= 4 &&
                    value.find_first_not_of("0123456789") == std::string::npos;
      size_t n = digits ? std::stoul(value) : 0;
      if (++tops > 1 || n < 1 || n > 999) {
        return Error(req, res, 400, "Request_BadRequest",
                     "Invalid page size specified: '" + EscapeForLog(value, 16) +
                         "'. Must be between 1 and 999 inclusive.");
      }
      top = n;
    } else if (!name.empty() && name[0] == '$' && !EqualsIgnoreCase(name, "$select")) {
      return Error(
          req, res, 400, "Request_UnsupportedQuery",
          "The query option '" + EscapeForLog(name, 32) + "' is not supported on this collection.");
    }
  }
  bj::array value;
  if (collection != "users") {
    bool application = collection == "applications";
    auto all = d_.directory->ListPrincipals(caller.tenant_id);
    if (!all.ok()) return Error(req, res, 500, "generalException", all.status().message());
    for (const Principal& p : *all) {
      if (value.size() >= top) break;
      if (application && IsManaged(p)) continue;  // managed identities have no application
      if (filter && !Matches(*filter, p, application)) continue;
      value.push_back(application ? ApplicationJson(p) : ServicePrincipalJson(p));
    }
  }
  bj::object o{{"@odata.context", d_.base_url + "/" + SplitPath(req.path)[0] + "/$metadata#" +
                                      std::string(collection)},
               {"value", std::move(value)}};
  Json(res, 200, bj::serialize(o));
}

void GraphApi::GetByIds(const HttpRequest& req, HttpResponse& res, const Principal& caller) {
  if (req.body.size() > kMaxBodyBytes) {
    return Error(req, res, 413, "Request_BadRequest", "The request body is too large.");
  }
  auto body = json::ParseObject(req.body, 8);
  if (!body.ok()) {
    return Error(req, res, 400, "BadRequest", "Invalid request body: " + body.status().message());
  }
  const bj::value* ids = json::FindCI(*body, "ids");
  if (ids == nullptr || !ids->is_array()) {
    return Error(req, res, 400, "Request_BadRequest",
                 "The request body must name the object ids in an array 'ids'.");
  }
  if (ids->as_array().size() > kMaxIds) {
    return Error(req, res, 400, "Request_BadRequest",
                 "At most " + std::to_string(kMaxIds) + " ids may be requested at once.");
  }
  bool want_sp = true;
  if (const bj::value* types = json::FindCI(*body, "types"); types != nullptr) {
    if (!types->is_array()) {
      return Error(req, res, 400, "Request_BadRequest", "'types' must be an array of strings.");
    }
    want_sp = types->as_array().empty();
    for (const bj::value& t : types->as_array()) {
      if (!t.is_string()) {
        return Error(req, res, 400, "Request_BadRequest", "'types' must be an array of strings.");
      }
      std::string_view name = t.as_string();
      if (StartsWithIgnoreCase(name, "microsoft.graph.")) name.remove_prefix(16);
      want_sp = want_sp || EqualsIgnoreCase(name, "servicePrincipal") ||
                EqualsIgnoreCase(name, "directoryObject");
    }
  }
  bj::array value;
  for (const bj::value& id : ids->as_array()) {
    if (!id.is_string() || !IsGuid(id.as_string())) {
      std::string text = id.is_string() ? std::string(id.as_string()) : bj::serialize(id);
      return Error(req, res, 400, "Request_BadRequest",
                   "Invalid object identifier '" + EscapeForLog(text, 64) + "'.");
    }
    if (!want_sp) continue;
    auto p = Visible(caller, id.as_string());
    if (!p.ok()) return Error(req, res, 500, "generalException", p.status().message());
    if (!*p) continue;  // unknown or another tenant's: left out, as Graph does
    bj::object o = ServicePrincipalJson(**p);
    o.emplace("@odata.type", "#microsoft.graph.servicePrincipal");
    value.push_back(std::move(o));
  }
  bj::object o{{"@odata.context",
                d_.base_url + "/" + SplitPath(req.path)[0] + "/$metadata#directoryObjects"},
               {"value", std::move(value)}};
  Json(res, 200, bj::serialize(o));
}

}  // namespace cmk::server
