#pragma once
// GraphApi: the Microsoft Graph subset az 2.45 and the SDKs use to resolve principals, served on
// graph.D (`/v1.0/…`, `/beta/…` answer alike):
//   GET  me                                   400 for app-only tokens, as Graph answers them
//   GET  servicePrincipals[?$filter=…&$top=N] servicePrincipals/{id}  servicePrincipals(appId='…')
//   GET  applications[?$filter=…]             applications/{id}
//   GET  users[?$filter=…]                    (this directory has no users: always empty)
//   GET  directoryObjects/{id}                POST directoryObjects/getByIds
// Service principals and managed identities (servicePrincipalType "Application" /
// "ManagedIdentity") come from identity::Directory. Authorization is Entra's default for
// these reads: any principal of a tenant may read its tenant's directory objects; objects of
// other tenants do not exist for it (404 / absent from lists). Writes answer 403
// Authorization_RequestDenied (no principal here holds Graph write permissions).
// Every error has Graph's shape {"error":{"code","message","innerError":{date,request-id,
// client-request-id}}}; $filter is parsed by graph_filter.h (hostile input: a 400, never more
// work than linear in its bounded length).
// Thread safety: safe for concurrent use (the Directory is).

#include <optional>
#include <string>

#include "env/env.h"
#include "identity/directory.h"
#include "identity/token_service.h"
#include "server/http_types.h"

namespace cmk::server {

struct GraphApiDeps {
  // The directory and the token service; both must be set before Handle is called.
  identity::Directory* directory = nullptr;
  identity::TokenService* tokens = nullptr;
  // Stamps innerError.date (Graph reports its own wall-clock time); null: real time is unknown
  // and the date is left out.
  env::Clock* clock = nullptr;
  // External base URL of graph.D (`https://graph.localhost:8443`), for @odata.context.
  std::string base_url;
  // External login URL, named by the WWW-Authenticate challenge of a 401.
  std::string login_url;
};

class GraphApi {
 public:
  explicit GraphApi(GraphApiDeps deps) : d_(std::move(deps)) {}

  // Authenticates the bearer token (Graph audience) and serves the request. REQUIRES:
  // req.request_id set (the Router's Begin does it).
  void Handle(const HttpRequest& req, HttpResponse& res);

  // The bearer check alone: on failure writes Graph's 401 and returns nullopt.
  std::optional<identity::Claims> Authenticate(const HttpRequest& req, HttpResponse& res) const;

  // Writes Graph's error shape with `status`.
  void Error(const HttpRequest& req, HttpResponse& res, int status, std::string_view code,
             std::string_view message) const;

  // The id of the application object behind a service principal's appId: derived (SHA-256), as
  // the directory stores service principals only; stable across restarts.
  static std::string ApplicationObjectId(std::string_view app_id);

 private:
  void Dispatch(const HttpRequest& req, HttpResponse& res, const identity::Principal& caller);
  void ListCollection(const HttpRequest& req, HttpResponse& res, const identity::Principal& caller,
                      std::string_view collection);
  void GetByIds(const HttpRequest& req, HttpResponse& res, const identity::Principal& caller);
  // One object of `collection` by object id (or by appId: servicePrincipals(appId='…')).
  void GetOne(const HttpRequest& req, HttpResponse& res, const identity::Principal& caller,
              std::string_view collection, const std::string& id, bool by_app_id,
              const std::string& context);
  // The principal `id` (object id) if the caller's tenant holds it.
  Result<std::optional<identity::Principal>> Visible(const identity::Principal& caller,
                                                     std::string_view object_id) const;
  void Json(HttpResponse& res, int status, std::string body) const;

  GraphApiDeps d_;
};

}  // namespace cmk::server
