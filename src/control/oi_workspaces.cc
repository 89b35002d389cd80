// Workspaces, their cluster links, linked storage accounts and saved searches, and
// user-assigned identities.
#include "base/encoding.h"
#include "base/json.h"
#include "control/arm_checks.h"
#include "control/arm_util.h"
#include "control/oi_provider.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;

// Microsoft.ManagedIdentity: 3-128 letters, digits, hyphens and underscores, starting with a
// letter or digit.
bool ValidIdentityName(const std::string& n) {
  if (n.size() < 3 || n.size() > 128 || !IsAsciiAlnum(n.front())) return false;
  for (char c : n) {
    if (!IsAsciiAlnum(c) && c != '-' && c != '_') return false;
  }
  return true;
}

// The members of a workspace body (PUT or PATCH) that this provider reads, with their types.
Status CheckWorkspaceTypes(const bj::object& body) {
  RETURN_IF_ERROR(CheckTypes(body, {{"properties", bj::kind::object}, {"tags", bj::kind::object},
                                    {"location", bj::kind::string}}));
  const bj::value* p = json::FindCI(body, "properties");
  if (p == nullptr || !p->is_object()) return OkStatus();
  return CheckTypes(p->as_object(), {{"retentionInDays", bj::kind::int64}, {"sku", bj::kind::object}}, "properties.");
}

// Saved searches live in the metadata store only (never in a file or blob name), but their
// fields are still bounded: ids like ARM names, texts at sizes no real search reaches.
bool ValidSavedSearchId(const std::string& n) {
  if (n.empty() || n.size() > 256) return false;
  for (char c : n) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) return false;
  }
  return true;
}

Status CheckSavedSearch(const bj::object& props) {
  RETURN_IF_ERROR(CheckTypes(props, {{"category", bj::kind::string}, {"displayName", bj::kind::string},
                                     {"query", bj::kind::string}, {"functionAlias", bj::kind::string},
                                     {"functionParameters", bj::kind::string}, {"version", bj::kind::int64},
                                     {"tags", bj::kind::array}},
                             "properties."));
  for (const char* req : {"category", "displayName", "query"}) {
    if (Str(props, req).empty()) return BadParameter("'properties." + std::string(req) + "' is required.");
  }
  if (Str(props, "category").size() > 256 || Str(props, "displayName").size() > 256 ||
      Str(props, "query").size() > 64 * 1024 || Str(props, "functionParameters").size() > 4096) {
    return BadParameter("A saved search's category and displayName are limited to 256 characters, its query to 64 KiB.");
  }
  // A function alias is how queries call the function: a KQL identifier.
  std::string alias = Str(props, "functionAlias");
  if (!alias.empty()) {
    bool ok = alias.size() <= 256 && (IsAsciiLetter(alias.front()) || alias.front() == '_');
    for (char c : alias) ok = ok && (IsAsciiAlnum(c) || c == '_');
    if (!ok) return BadParameter("The function alias '" + Echo(alias) + "' is not valid: use letters, digits and '_', starting with a letter or '_'.");
  }
  if (const bj::value* tags = json::FindCI(props, "tags"); tags && tags->is_array()) {
    for (const auto& t : tags->as_array()) {
      const bj::object* o = t.if_object();
      if (o == nullptr || !CheckTypes(*o, {{"name", bj::kind::string}, {"value", bj::kind::string}}).ok() ||
          Str(*o, "name").empty()) {
        return BadParameter("Each saved search tag must be an object with string 'name' and 'value'.", "InvalidRequestContent");
      }
    }
  }
  return OkStatus();
}

}  // namespace

ArmResponse OperationalInsightsProvider::Workspaces(const ArmRequest& r, const std::string& sub, const std::string& rg,
                                                    const std::string* name) {
  std::string rg_scope = "/subscriptions/" + sub + "/resourceGroups/" + rg;
  if (name == nullptr) {
    if (r.method != "GET") return ArmError(InvalidArgument("Use GET to list workspaces.", "MethodNotAllowed"));
    return List(r, "workspaces", rg_scope + "/", rg_scope);
  }
  std::string id = rg_scope + "/providers/Microsoft.OperationalInsights/workspaces/" + *name;
  const std::string& m = r.method;
  std::string action = std::string("Microsoft.OperationalInsights/workspaces/") +
                       (m == "GET" ? "read" : m == "DELETE" ? "delete" : "write");
  if (Status s = rbac_->Authorize(r.caller, action, id); !s.ok()) return ArmError(s);
  if (m == "PUT") return PutWorkspace(r, sub, rg, *name);
  auto loaded = LoadDoc(id);
  if (!loaded.ok()) return ArmError(loaded.status());
  if (!*loaded) {
    if (m == "DELETE") return ArmResponse{204, std::nullopt, {}};
    return ArmError(NotFound("The Resource 'Microsoft.OperationalInsights/workspaces/" + *name + "' under resource group '" + rg +
                                 "' was not found.", "ResourceNotFound"));
  }
  bj::object doc = std::move(**loaded);
  std::string canonical(doc["id"].as_string());
  if (m == "GET") return Json(200, Public(std::move(doc)));
  if (m == "PATCH") {
    auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
    if (!body.ok()) return ArmError(BadParameter("The request body is null or malformed.", "InvalidRequestContent"));
    if (Status s = CheckWorkspaceTypes(*body); !s.ok()) return ArmError(s);
    bj::object props;
    if (auto p = json::GetObject(*body, "properties"); p.ok() && *p) props = **p;
    if (auto ret = json::GetInt(props, "retentionInDays"); ret.ok() && ret->has_value()) {
      if (**ret < 4 || **ret > 730) return ArmError(BadParameter("retentionInDays must be between 4 and 730."));
      Props(doc)["retentionInDays"] = **ret;
    }
    if (const bj::value* tags = json::FindCI(*body, "tags"); tags && tags->is_object()) doc["tags"] = *tags;
    for (const char* f : {"publicNetworkAccessForIngestion", "publicNetworkAccessForQuery", "forceCmkForQuery", "workspaceCapping"}) {
      if (const bj::value* v = json::FindCI(props, f)) Props(doc)[f] = *v;
    }
    Props(doc)["modifiedDate"] = FormatRfc3339(env_.clock->Now());
    if (Status s = SaveDoc(canonical, doc); !s.ok()) return ArmError(s);
    return Json(200, Public(std::move(doc)));
  }
  if (m == "DELETE") {
    if (HasPendingOperation(canonical + "/linkedServices/cluster")) {
      return ArmError(Conflict("Workspace link or unlink operation in process: try again when it has finished.", "Conflict"));
    }
    bool force = Is(std::string(r.Query("force")), "true");
    // Linked storage accounts, saved searches and the link go with the workspace; a soft-deleted
    // workspace keeps them in its tombstone so that re-creating it restores them.
    std::string cluster_id = Str(Props(doc).contains("features") ? Props(doc)["features"].as_object() : bj::object(), "clusterResourceId");
    Status s = store_->Transaction([&](meta::DocumentOps& ops) -> Status {
      ASSIGN_OR_RETURN(auto children, ops.List(kArm, canonical + "/"));
      bj::array kept;
      for (const auto& c : children) {
        auto o = json::ParseObject(c.body);
        if (o.ok()) kept.emplace_back(std::move(*o));
        RETURN_IF_ERROR(ops.Delete(kArm, c.id).status());
      }
      RETURN_IF_ERROR(ops.Delete(kArm, canonical).status());
      if (!force) {
        bj::object tomb = doc;
        Hidden(tomb)["children"] = std::move(kept);
        Hidden(tomb)["deletedAt"] = FormatRfc3339(env_.clock->Now());
        RETURN_IF_ERROR(ops.Put(kDeletedWorkspace, canonical, json::Serialize(tomb)));
      }
      return OkStatus();
    });
    if (!s.ok()) return ArmError(s);
    if (!cluster_id.empty()) {
      auto cluster = LoadDoc(cluster_id);
      if (cluster.ok() && *cluster) {
        bj::array& assoc = Props(**cluster)["associatedWorkspaces"].as_array();
        bj::array kept;
        for (auto& a : assoc) {
          if (!EqualsIgnoreCase(a.as_object().at("resourceId").as_string(), canonical)) kept.push_back(a);
        }
        assoc = std::move(kept);
        SaveDoc(cluster_id, **cluster).IgnoreError();
      }
    }
    return ArmResponse{200, std::nullopt, {}};
  }
  return ArmError(InvalidArgument("Method not allowed.", "MethodNotAllowed"));
}

ArmResponse OperationalInsightsProvider::PutWorkspace(const ArmRequest& r, const std::string& sub, const std::string& rg,
                                                      const std::string& name) {
  if (!ValidHyphenatedName(name, 4, 63)) {
    return ArmError(BadParameter("Workspace name '" + name + "' is not valid: use 4 to 63 letters, digits and hyphens, starting and ending with a letter or digit."));
  }
  auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
  if (!body.ok()) return ArmError(BadParameter("The request body is null or malformed.", "InvalidRequestContent"));
  if (Status s = CheckWorkspaceTypes(*body); !s.ok()) return ArmError(s);
  std::string id = "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.OperationalInsights/workspaces/" + name;
  auto existing = LoadDoc(id);
  if (!existing.ok()) return ArmError(existing.status());
  bj::object props;
  if (auto p = json::GetObject(*body, "properties"); p.ok() && *p) props = **p;
  std::string loc = NormalizeLocation(Str(*body, "location"));
  TimePoint now = env_.clock->Now();
  std::string ts = FormatRfc3339(now);
  bj::object doc;
  int status = 200;
  if (*existing) {
    doc = std::move(**existing);
    if (!loc.empty() && loc != doc["location"].as_string()) return ArmError(BadParameter("The location of a workspace cannot be changed."));
  } else {
    if (loc.empty()) return ArmError(BadParameter("The 'location' property is required.", "LocationRequired"));
    if (FindRegion(loc) == nullptr) {
      return ArmError(BadParameter("The location '" + loc + "' is not available for resource type 'Microsoft.OperationalInsights/workspaces'.",
                          "LocationNotAvailableForResourceType"));
    }
    status = 201;
    // A workspace deleted less than 14 days ago comes back with its id, data, settings and link.
    auto tomb = store_->Get(kDeletedWorkspace, id);
    if (!tomb.ok()) return ArmError(tomb.status());
    std::optional<bj::object> recoverable;
    if (*tomb) {
      auto t = json::ParseObject((*tomb)->body);
      if (!t.ok()) return ArmError(t.status());
      auto at = ParseRfc3339(Str(Hidden(*t), "deletedAt"));
      if (at.ok() && now - *at < options_.name_reservation) {
        recoverable = std::move(*t);
      } else {
        store_->Delete(kDeletedWorkspace, id).IgnoreError();  // soft-delete period over
      }
    }
    if (recoverable) {
      auto t = std::move(recoverable);
      if (Str(*t, "location") != loc) {
        return ArmError(Conflict("A workspace named '" + name + "' was deleted in region '" + Str(*t, "location") +
                                     "' and can only be recovered there.", "Conflict"));
      }
      doc = std::move(*t);
      bj::array children = Hidden(doc).contains("children") ? Hidden(doc)["children"].as_array() : bj::array();
      Hidden(doc).erase("children");
      Hidden(doc).erase("deletedAt");
      for (auto& c : children) {
        std::string cid(c.as_object().at("id").as_string());
        SaveDoc(cid, c.as_object()).IgnoreError();
      }
      std::string cluster_id = Props(doc).contains("features") ? Str(Props(doc)["features"].as_object(), "clusterResourceId") : "";
      if (!cluster_id.empty()) {
        auto cluster = LoadDoc(cluster_id);
        if (cluster.ok() && *cluster) {
          Props(**cluster)["associatedWorkspaces"].as_array().emplace_back(
              bj::object{{"workspaceId", Props(doc)["customerId"]}, {"workspaceName", doc["name"]}, {"resourceId", doc["id"]}, {"associateDate", ts}});
          SaveDoc(cluster_id, **cluster).IgnoreError();
        } else {
          Props(doc)["features"].as_object().erase("clusterResourceId");
          Props(doc)["sku"] = bj::object{{"name", "PerGB2018"}, {"lastSkuUpdate", ts}};
        }
      }
      store_->Delete(kDeletedWorkspace, id).IgnoreError();
    } else {
      doc = bj::object{{"id", id},
                       {"name", name},
                       {"type", "Microsoft.OperationalInsights/workspaces"},
                       {"location", loc},
                       {"tags", bj::object()},
                       {"properties", bj::object{{"customerId", env_.random->NewGuid()},
                                                 {"provisioningState", "Creating"},
                                                 {"sku", bj::object{{"name", "PerGB2018"}, {"lastSkuUpdate", ts}}},
                                                 {"retentionInDays", 30},
                                                 {"features", bj::object{{"legacy", 0}, {"searchVersion", 1}, {"enableLogAccessUsingOnlyResourcePermissions", true}}},
                                                 {"workspaceCapping", bj::object{{"dailyQuotaGb", -1.0}, {"dataIngestionStatus", "RespectQuota"}}},
                                                 {"publicNetworkAccessForIngestion", "Enabled"},
                                                 {"publicNetworkAccessForQuery", "Enabled"},
                                                 {"createdDate", ts},
                                                 {"modifiedDate", ts}}}};
    }
  }
  if (const bj::value* sku = json::FindCI(props, "sku"); sku && sku->is_object()) {
    std::string s = Str(sku->as_object(), "name");
    static const std::vector<std::string> kSkus = {"Free", "Standard", "Premium", "PerNode", "PerGB2018", "Standalone", "CapacityReservation"};
    auto it = std::find_if(kSkus.begin(), kSkus.end(), [&](const std::string& k) { return EqualsIgnoreCase(k, s); });
    if (it == kSkus.end()) return ArmError(BadParameter("The workspace SKU '" + s + "' is not valid.", "InvalidSku"));
    bool linked = Props(doc).contains("features") && !Str(Props(doc)["features"].as_object(), "clusterResourceId").empty();
    if (!linked) Props(doc)["sku"] = bj::object{{"name", *it}, {"lastSkuUpdate", ts}};
  }
  if (auto ret = json::GetInt(props, "retentionInDays"); ret.ok() && ret->has_value()) {
    if (**ret < 4 || **ret > 730) return ArmError(BadParameter("retentionInDays must be between 4 and 730."));
    Props(doc)["retentionInDays"] = **ret;
  }
  for (const char* f : {"publicNetworkAccessForIngestion", "publicNetworkAccessForQuery", "forceCmkForQuery", "workspaceCapping"}) {
    if (const bj::value* v = json::FindCI(props, f)) Props(doc)[f] = *v;
  }
  if (const bj::value* tags = json::FindCI(*body, "tags"); tags && tags->is_object()) doc["tags"] = *tags;
  Props(doc)["modifiedDate"] = ts;
  if (status == 201) Props(doc)["provisioningState"] = "Creating";
  if (Status s = SaveDoc(std::string(doc["id"].as_string()), doc); !s.ok()) return ArmError(s);
  if (status == 201) {
    auto op = StartOperation("createWorkspace", std::string(doc["id"].as_string()), loc, ApiVersion(r), {});
    if (!op.ok()) return ArmError(op.status());
    ArmResponse res = Json(201, Public(doc));
    AddLroHeaders(res, r, **op);
    return res;
  }
  return Json(200, Public(std::move(doc)));
}

ArmResponse OperationalInsightsProvider::WorkspaceChild(const ArmRequest& r, const std::string& ws_id,
                                                        const std::vector<std::string>& rest) {
  const std::string& kind = rest[0];
  if (Is(kind, "linkedServices")) {
    if (rest.size() == 4 && Is(rest[2], "operationResults")) return OperationResult(r, ws_id + "/linkedServices/" + rest[1], rest[3]);
    if (rest.size() > 2) return ArmError(NotFound("No route for '" + r.path + "'.", "NotFound"));
    return LinkedServices(r, ws_id, rest.size() == 2 ? &rest[1] : nullptr);
  }
  if (Is(kind, "tables")) {
    if (rest.size() > 2) return ArmError(NotFound("No route for '" + r.path + "'.", "NotFound"));
    return Tables(r, ws_id, rest.size() == 2 ? &rest[1] : nullptr);
  }
  bool storage = Is(kind, "linkedStorageAccounts");
  bool searches = Is(kind, "savedSearches");
  if (!storage && !searches) {
    return ArmError(NotFound("The resource type 'workspaces/" + kind + "' is not supported.", "InvalidResourceType"));
  }
  std::string type = storage ? "linkedStorageAccounts" : "savedSearches";
  std::string action = "Microsoft.OperationalInsights/workspaces/" + type + "/" +
                       (r.method == "GET" ? "read" : r.method == "DELETE" ? "delete" : "write");
  if (Status s = rbac_->Authorize(r.caller, action, ws_id); !s.ok()) return ArmError(s);
  std::optional<std::string> byos;  // the linked Query account that holds the saved searches
  if (searches) {
    auto account = LinkedAccount(ws_id, "Query");
    if (!account.ok()) return ArmError(account.status());
    byos = *account;
  }
  if (rest.size() == 1) {
    if (r.method != "GET") return ArmError(InvalidArgument("Use GET to list.", "MethodNotAllowed"));
    if (byos) {
      auto linked = LinkedSearches(*byos, ws_id);
      if (!linked.ok()) return ArmError(linked.status());
      return Json(200, bj::object{{"value", bj::array(linked->begin(), linked->end())}});
    }
    auto docs = store_->List(kArm, ws_id + "/" + type + "/");
    if (!docs.ok()) return ArmError(docs.status());
    bj::array value;
    for (const auto& d : *docs) value.emplace_back(*json::Parse(d.body));
    return Json(200, bj::object{{"value", std::move(value)}});
  }
  if (rest.size() != 2) return ArmError(NotFound("No route for '" + r.path + "'.", "NotFound"));
  std::string name = rest[1];
  if (storage) {
    static const std::vector<std::string> kTypes = {"CustomLogs", "AzureWatson", "Query", "Ingestion", "Alerts"};
    auto it = std::find_if(kTypes.begin(), kTypes.end(), [&](const std::string& t) { return EqualsIgnoreCase(t, name); });
    if (it == kTypes.end()) {
      return ArmError(BadParameter("'" + name + "' is not a data source type: use CustomLogs, AzureWatson, Query, Ingestion or Alerts."));
    }
    name = *it;
  }
  std::string id = ws_id + "/" + type + "/" + name;
  auto loaded = byos ? FindLinkedSearch(*byos, ws_id, name) : LoadDoc(id);
  if (!loaded.ok()) return ArmError(loaded.status());
  if (r.method == "GET") {
    if (!*loaded) return ArmError(NotFound("The " + type + " resource '" + name + "' was not found.", "ResourceNotFound"));
    return Json(200, std::move(**loaded));
  }
  if (r.method == "DELETE") {
    if (*loaded && storage && name == "Query") {
      // Unlinking Query brings the saved searches back first (it needs the account's key).
      auto account = LinkedAccount(ws_id, "Query");
      if (!account.ok()) return ArmError(account.status());
      if (*account) {
        if (Status s = MoveSearches(ws_id, **account, false); !s.ok()) return ArmError(s);
      }
    }
    Status s = !*loaded ? OkStatus() : byos ? DeleteLinkedSearch(*byos, ws_id, name) : store_->Delete(kArm, id).status();
    if (!s.ok()) return ArmError(s);
    return ArmResponse{200, std::nullopt, {}};
  }
  if (r.method != "PUT") return ArmError(InvalidArgument("Method not allowed.", "MethodNotAllowed"));
  if (!storage && !ValidSavedSearchId(name)) {
    return ArmError(BadParameter("The saved search id '" + Echo(name) + "' is not valid: use 1 to 256 printable characters."));
  }
  auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
  if (!body.ok()) return ArmError(BadParameter("The request body is null or malformed.", "InvalidRequestContent"));
  if (Status s = CheckTypes(*body, {{"properties", bj::kind::object}}); !s.ok()) return ArmError(s);
  bj::object props;
  if (auto p = json::GetObject(*body, "properties"); p.ok() && *p) props = **p;
  bj::object doc{{"id", id}, {"name", name}, {"type", "Microsoft.OperationalInsights/workspaces/" + type}};
  if (storage) {
    // Documented (private-storage.md): managing a workspace's linked storage accounts needs
    // workspaces/write on the workspace.
    if (Status s = rbac_->Authorize(r.caller, "Microsoft.OperationalInsights/workspaces/write", ws_id); !s.ok()) {
      return ArmError(s);
    }
    const bj::value* ids = json::FindCI(props, "storageAccountIds");
    if (ids == nullptr || !ids->is_array() || ids->as_array().empty() || ids->as_array().size() > 5) {
      return ArmError(BadParameter("'properties.storageAccountIds' (an array of 1 to 5 storage account ids) is required."));
    }
    for (const auto& s : ids->as_array()) {
      if (!s.is_string() || !IsResourceId(s.as_string(), "Microsoft.Storage/storageAccounts")) {
        return ArmError(BadParameter("Each storage account id must be the ARM id of a Microsoft.Storage/storageAccounts resource."));
      }
    }
    // Azure documents no ARM action on the account itself (the workspace's identity needs a
    // data-plane role there); we still require read on each account, ARM's usual linked check,
    // so that nobody points a workspace at an account they can't even see.
    for (const auto& s : ids->as_array()) {
      if (Status st = AuthorizeLinked(*rbac_, r.caller, "Microsoft.OperationalInsights/workspaces/linkedStorageAccounts/write",
                                      id, "Microsoft.Storage/storageAccounts/read", s.as_string());
          !st.ok()) {
        return ArmError(st);
      }
    }
    doc["properties"] = bj::object{{"dataSourceType", name}, {"storageAccountIds", *ids}};
    if (name == "Query" && linked_ != nullptr) {
      // The saved searches move into the (first) account, which must exist here.
      auto account = linked_->AccountOf(std::string(ids->as_array()[0].as_string()));
      if (!account.ok()) return ArmError(BadParameter(account.status().message(), "StorageAccountNotFound"));
      auto current = LinkedAccount(ws_id, "Query");
      if (!current.ok()) return ArmError(current.status());
      if (*current != *account) {
        if (*current) {
          if (Status s = MoveSearches(ws_id, **current, false); !s.ok()) return ArmError(s);
        }
        if (Status s = MoveSearches(ws_id, *account, true); !s.ok()) return ArmError(s);
      }
    }
  } else {
    if (Status s = CheckSavedSearch(props); !s.ok()) return ArmError(s);
    bj::object p{{"category", Str(props, "category")}, {"displayName", Str(props, "displayName")}, {"query", Str(props, "query")}};
    for (const char* opt : {"functionAlias", "functionParameters", "version", "tags"}) {
      if (const bj::value* v = json::FindCI(props, opt)) p[opt] = *v;
    }
    doc["properties"] = std::move(p);
    doc["etag"] = "W/\"datetime'" + FormatRfc3339(env_.clock->Now()) + "'\"";
  }
  if (Status s = byos ? PutLinkedSearch(*byos, ws_id, doc) : SaveDoc(id, doc); !s.ok()) return ArmError(s);
  return Json(200, std::move(doc));  // 200 even on create: the SDKs reject 201 here
}

ArmResponse OperationalInsightsProvider::LinkedServices(const ArmRequest& r,
                                                       const std::string& ws_id,
                                                       const std::string* name) {
  std::string action = std::string("Microsoft.OperationalInsights/workspaces/linkedServices/") +
                       (r.method == "GET" ? "read" : r.method == "DELETE" ? "delete" : "write");
  if (Status s = rbac_->Authorize(r.caller, action, ws_id); !s.ok()) return ArmError(s);
  std::string ws_name = ws_id.substr(ws_id.rfind('/') + 1);
  if (name == nullptr) {
    if (r.method != "GET") return ArmError(InvalidArgument("Use GET to list.", "MethodNotAllowed"));
    auto docs = store_->List(kArm, ws_id + "/linkedServices/");
    if (!docs.ok()) return ArmError(docs.status());
    bj::array value;
    for (const auto& d : *docs) value.emplace_back(Public(*json::ParseObject(d.body)));
    return Json(200, bj::object{{"value", std::move(value)}});
  }
  if (!Is(*name, "cluster")) {
    return ArmError(BadParameter(
        "Only the 'cluster' linked service (a dedicated cluster) is supported; got '" + *name +
        "'."));
  }
  std::string id = ws_id + "/linkedServices/cluster";
  auto loaded = LoadDoc(id);
  if (!loaded.ok()) return ArmError(loaded.status());
  if (r.method == "GET") {
    if (!*loaded) {
      return ArmError(NotFound(
          "The linked service 'cluster' of workspace '" + ws_name + "' was not found.",
          "ResourceNotFound"));
    }
    return Json(200, Public(std::move(**loaded)));
  }
  if (HasPendingOperation(id)) {
    return ArmError(Conflict(
        "Workspace link or unlink operation in process: try again when it has finished.",
        "Conflict"));
  }
  auto ws = LoadDoc(ws_id);
  if (!ws.ok() || !*ws) {
    return ArmError(NotFound("The workspace was not found.", "ResourceNotFound"));
  }
  bj::array recent = RecentLinkOps(Hidden(**ws), env_.clock->Now());
  if (r.method == "DELETE") {
    // Unlinking needs only linkedServices/delete on the workspace (checked above): Azure documents
    // the unlink from the workspace's side only, and a workspace's owner must always be able to
    // take it off a cluster that someone else controls.
    if (!*loaded) return ArmResponse{204, std::nullopt, {}};
    return Unlink(r, id, ws_id, **loaded, **ws, std::move(recent));
  }
  if (r.method != "PUT") {
    return ArmError(InvalidArgument("Method not allowed.", "MethodNotAllowed"));
  }
  return Link(r, id, ws_id, *loaded, **ws, std::move(recent));
}

// At most two link operations (link or unlink) per workspace in any 30 days.
bj::array OperationalInsightsProvider::RecentLinkOps(bj::object& hidden, TimePoint now) const {
  bj::array recent;
  if (const bj::value* ops = hidden.if_contains("linkOps"); ops != nullptr && ops->is_array()) {
    for (const auto& t : ops->get_array()) {
      if (!t.is_string()) continue;
      auto at = ParseRfc3339(t.get_string());
      if (at.ok() && now - *at < options_.link_window) recent.push_back(t);
    }
  }
  return recent;
}

std::optional<ArmResponse> OperationalInsightsProvider::LinkLimitReached(
    const bj::array& recent) const {
  if (static_cast<int>(recent.size()) < options_.max_link_operations) return std::nullopt;
  auto first = ParseRfc3339(recent.front().get_string());
  return ArmError(BadParameter(
      "The workspace has reached the limit of " + std::to_string(options_.max_link_operations) +
          " link and unlink operations in 30 days; the next one is possible after " +
          FormatRfc3339(*first + options_.link_window, 0) + ".",
      "LinkOperationLimitExceeded"));
}

ArmResponse OperationalInsightsProvider::Unlink(const ArmRequest& r, const std::string& id,
                                                const std::string& ws_id, bj::object& link,
                                                bj::object& ws, bj::array recent) {
  if (auto err = LinkLimitReached(recent)) return *err;
  std::string cluster_id = Str(Props(link), "writeAccessResourceId");
  recent.emplace_back(FormatRfc3339(env_.clock->Now()));
  Hidden(ws)["linkOps"] = std::move(recent);
  if (Status s = SaveDoc(ws_id, ws); !s.ok()) return ArmError(s);
  Props(link)["provisioningState"] = "Deleting";
  if (Status s = SaveDoc(id, link); !s.ok()) return ArmError(s);
  auto op = StartOperation("unlink", id, Str(ws, "location"), ApiVersion(r),
                           bj::object{{"clusterId", cluster_id}});
  if (!op.ok()) return ArmError(op.status());
  // 200 + the linked service (JS arm 11 needs a body with properties; clients.md §4.4).
  return Json(200, Public(std::move(link)));
}

Result<bj::object> OperationalInsightsProvider::LinkTarget(const ArmRequest& r,
                                                           const std::string& id,
                                                           const std::string& ws_id,
                                                           const bj::object& ws) {
  auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
  if (!body.ok()) {
    return BadParameter("The request body is null or malformed.", "InvalidRequestContent");
  }
  RETURN_IF_ERROR(CheckTypes(*body, {{"properties", bj::kind::object}}));
  bj::object props;
  if (auto p = json::GetObject(*body, "properties"); p.ok() && *p) props = **p;
  RETURN_IF_ERROR(CheckTypes(
      props, {{"writeAccessResourceId", bj::kind::string}, {"resourceId", bj::kind::string}},
      "properties."));
  std::string cluster_ref = Str(props, "writeAccessResourceId");
  if (cluster_ref.empty()) {
    return BadParameter(
        "'properties.writeAccessResourceId' (the cluster's resource id) is required.");
  }
  // Documented (logs-dedicated-clusters.md, "Link a workspace to a cluster"): the link needs
  // write on both resources, workspaces/write on the workspace and clusters/write on the cluster.
  // Both are checked before the cluster is looked up, so that the answer to a caller without
  // access is 403 whether or not the cluster exists.
  RETURN_IF_ERROR(
      rbac_->Authorize(r.caller, "Microsoft.OperationalInsights/workspaces/write", ws_id));
  if (!IsResourceId(cluster_ref, "Microsoft.OperationalInsights/clusters")) {
    return BadParameter(
        "'properties.writeAccessResourceId' must be the resource id of a Log Analytics cluster; "
        "got '" +
        Echo(cluster_ref) + "'.");
  }
  RETURN_IF_ERROR(AuthorizeLinked(*rbac_, r.caller,
                                  "Microsoft.OperationalInsights/workspaces/linkedServices/write",
                                  id, "Microsoft.OperationalInsights/clusters/write", cluster_ref));
  ASSIGN_OR_RETURN(auto cluster, LoadDoc(cluster_ref));
  if (!cluster || !Is(Str(*cluster, "type"), "Microsoft.OperationalInsights/clusters")) {
    return BadParameter("The cluster '" + cluster_ref + "' was not found.", "ClusterNotFound");
  }
  if (!Is(Str(Props(*cluster), "provisioningState"), "Succeeded") ||
      HasPendingOperation(Str(*cluster, "id"))) {
    return BadParameter(
        "The cluster is still being provisioned or updated; link workspaces once its "
        "provisioningState is Succeeded.",
        "ClusterNotReady");
  }
  if (Str(*cluster, "location") != Str(ws, "location")) {
    return BadParameter("The workspace and the cluster must be in the same region.",
                        "InvalidRegion");
  }
  return std::move(*cluster);
}

ArmResponse OperationalInsightsProvider::Link(const ArmRequest& r, const std::string& id,
                                              const std::string& ws_id,
                                              const std::optional<bj::object>& link,
                                              bj::object& ws, bj::array recent) {
  auto cluster = LinkTarget(r, id, ws_id, ws);
  if (!cluster.ok()) return ArmError(cluster.status());
  std::string cluster_id = Str(*cluster, "id");
  const bj::value* features = Props(ws).if_contains("features");
  std::string current = features != nullptr && features->is_object()
                            ? Str(features->get_object(), "clusterResourceId")
                            : "";
  if (link && !current.empty()) {
    if (EqualsIgnoreCase(current, cluster_id)) return Json(200, Public(*link));
    return ArmError(Conflict(
        "The workspace is already linked to cluster '" + current + "'. Unlink it first.",
        "Conflict"));
  }
  const bj::value* linked = Props(*cluster).if_contains("associatedWorkspaces");
  size_t count = linked != nullptr && linked->is_array() ? linked->get_array().size() : 0;
  if (count >= static_cast<size_t>(options_.max_workspaces_per_cluster)) {
    return ArmError(BadParameter("The cluster already has " +
                                     std::to_string(options_.max_workspaces_per_cluster) +
                                     " linked workspaces.",
                                 "WorkspaceLimitExceeded"));
  }
  if (auto err = LinkLimitReached(recent)) return *err;
  recent.emplace_back(FormatRfc3339(env_.clock->Now()));
  Hidden(ws)["linkOps"] = std::move(recent);
  if (Status s = SaveDoc(ws_id, ws); !s.ok()) return ArmError(s);
  std::string ws_name = ws_id.substr(ws_id.rfind('/') + 1);
  bj::object doc{{"id", id},
                 {"name", ws_name + "/cluster"},
                 {"type", "Microsoft.OperationalInsights/workspaces/linkedServices"},
                 {"properties", bj::object{{"writeAccessResourceId", cluster_id},
                                           {"provisioningState", "ProvisioningAccount"}}}};
  if (Status s = SaveDoc(id, doc); !s.ok()) return ArmError(s);
  auto op = StartOperation("link", id, Str(ws, "location"), ApiVersion(r),
                           bj::object{{"clusterId", cluster_id}});
  if (!op.ok()) return ArmError(op.status());
  ArmResponse res = Json(link ? 200 : 201, Public(doc));
  AddLroHeaders(res, r, **op);
  return res;
}

ArmResponse OperationalInsightsProvider::HandleManagedIdentity(const ArmRequest& r, const std::string& sub,
                                                               const std::string* rg, const std::vector<std::string>& rest) {
  Lock l(mu_);
  if (rest.empty() || !Is(rest[0], "userAssignedIdentities") || rest.size() > 2) {
    return ArmError(NotFound("No route for '" + r.path + "'.", "NotFound"));
  }
  std::string sub_scope = "/subscriptions/" + sub;
  std::string scope = rg ? sub_scope + "/resourceGroups/" + *rg : sub_scope;
  if (rest.size() == 1 || rg == nullptr) {
    if (r.method != "GET" || rest.size() != 1) return ArmError(InvalidArgument("Use GET to list.", "MethodNotAllowed"));
    if (Status s = rbac_->Authorize(r.caller, "Microsoft.ManagedIdentity/userAssignedIdentities/read", scope); !s.ok()) return ArmError(s);
    auto docs = store_->List(kArm, rg ? scope + "/" : sub_scope + "/resourceGroups/");
    if (!docs.ok()) return ArmError(docs.status());
    bj::array value;
    for (const auto& d : *docs) {
      if (ToLower(d.id).find("/providers/microsoft.managedidentity/userassignedidentities/") == std::string::npos) continue;
      value.emplace_back(*json::Parse(d.body));
    }
    return Json(200, bj::object{{"value", std::move(value)}, {"nextLink", nullptr}});
  }
  const std::string& name = rest[1];
  std::string id = scope + "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + name;
  std::string action = std::string("Microsoft.ManagedIdentity/userAssignedIdentities/") +
                       (r.method == "GET" ? "read" : r.method == "DELETE" ? "delete" : "write");
  if (Status s = rbac_->Authorize(r.caller, action, id); !s.ok()) return ArmError(s);
  auto loaded = LoadDoc(id);
  if (!loaded.ok()) return ArmError(loaded.status());
  if (r.method == "GET") {
    if (!*loaded) return ArmError(NotFound("The Resource 'Microsoft.ManagedIdentity/userAssignedIdentities/" + name + "' was not found.", "ResourceNotFound"));
    return Json(200, std::move(**loaded));
  }
  if (r.method == "DELETE") {
    if (!*loaded) return ArmResponse{204, std::nullopt, {}};
    std::string pid(Props(**loaded)["principalId"].as_string());
    rbac_->RemoveAllForPrincipal(pid).IgnoreError();
    directory_->DeletePrincipal(pid).IgnoreError();
    store_->Delete(kArm, id).IgnoreError();
    return ArmResponse{200, std::nullopt, {}};
  }
  if (r.method != "PUT" && r.method != "PATCH") return ArmError(InvalidArgument("Method not allowed.", "MethodNotAllowed"));
  if (!ValidIdentityName(name)) {
    return ArmError(BadParameter("The identity name '" + name + "' is not valid."));
  }
  auto body = json::ParseObject(r.body.empty() ? "{}" : r.body);
  if (!body.ok()) return ArmError(BadParameter("The request body is malformed.", "InvalidRequestContent"));
  if (Status s = CheckTypes(*body, {{"tags", bj::kind::object}, {"location", bj::kind::string}}); !s.ok()) return ArmError(s);
  if (*loaded) {
    if (const bj::value* tags = json::FindCI(*body, "tags"); tags && tags->is_object()) (**loaded)["tags"] = *tags;
    if (Status s = SaveDoc(std::string((**loaded)["id"].as_string()), **loaded); !s.ok()) return ArmError(s);
    return Json(200, std::move(**loaded));
  }
  if (r.method == "PATCH") return ArmError(NotFound("The identity '" + name + "' was not found.", "ResourceNotFound"));
  std::string loc = NormalizeLocation(Str(*body, "location"));
  if (loc.empty()) return ArmError(BadParameter("The 'location' property is required.", "LocationRequired"));
  auto p = directory_->CreateManagedIdentity(r.caller.tenant_id, name);
  if (!p.ok()) return ArmError(p.status());
  bj::object doc{{"id", id},
                 {"name", name},
                 {"type", "Microsoft.ManagedIdentity/userAssignedIdentities"},
                 {"location", loc},
                 {"tags", json::FindCI(*body, "tags") && json::FindCI(*body, "tags")->is_object() ? *json::FindCI(*body, "tags") : bj::value(bj::object())},
                 {"properties", bj::object{{"tenantId", p->tenant_id}, {"principalId", p->object_id}, {"clientId", p->app_id},
                                           {"isolationScope", "None"}}}};
  if (Status s = SaveDoc(id, doc); !s.ok()) return ArmError(s);
  return Json(201, std::move(doc));
}

}  // namespace cmk::control
