#include "control/workbooks_provider.h"

#include "base/encoding.h"
#include "base/json.h"
#include "base/time_format.h"
#include "control/arm_checks.h"
#include "control/arm_util.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
constexpr char kWorkbookType[] = "microsoft.insights/workbooks";
constexpr char kContainers[] = "/blobServices/default/containers/";
constexpr size_t kMaxContent = 10u << 20;  // serializedData; the request body limit is 32 MiB
constexpr size_t kMaxText = 1024;          // displayName, category, version, description

// storageUri -> (account ARM id, container); InvalidArgument when it is not a container id.
Result<std::pair<std::string, std::string>> ParseStorageUri(const std::string& uri) {
  std::string lower = ToLower(uri);
  size_t at = lower.find(ToLower(kContainers));
  if (uri.size() > 1024 || at == std::string::npos) {
    return BadParameter("storageUri must be the resource id of a blob container: "
                        "/subscriptions/{s}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{a}"
                        "/blobServices/default/containers/{c}.");
  }
  std::string account = uri.substr(0, at), container = uri.substr(at + std::string(kContainers).size());
  if (!IsResourceId(account, "Microsoft.Storage/storageAccounts") || !ValidHyphenatedName(container, 3, 63) ||
      ToLower(container) != container) {
    return BadParameter("storageUri must name a storage account and a container (3-63 lower-case letters, digits, hyphens).");
  }
  return std::make_pair(account, container);
}

Status CheckProps(const bj::object& p, bool create) {
  RETURN_IF_ERROR(CheckTypes(p, {{"displayName", bj::kind::string}, {"serializedData", bj::kind::string},
                                 {"category", bj::kind::string}, {"version", bj::kind::string},
                                 {"sourceId", bj::kind::string}, {"storageUri", bj::kind::string},
                                 {"description", bj::kind::string}, {"tags", bj::kind::array}},
                             "properties."));
  for (const char* k : {"displayName", "category", "version", "description"}) {
    if (Str(p, k).size() > kMaxText) return BadParameter(std::string("properties.") + k + " is too long.");
  }
  if (Str(p, "serializedData").size() > kMaxContent) return BadParameter("properties.serializedData is larger than 10 MiB.");
  if (create && (Str(p, "displayName").empty() || Str(p, "category").empty() || !json::FindCI(p, "serializedData"))) {
    return BadParameter("properties.displayName, properties.category and properties.serializedData are required.");
  }
  return OkStatus();
}

}  // namespace

std::optional<ArmResponse> WorkbooksProvider::Route(const ArmRequest& r) {
  auto seg = SplitPath(r.path);
  bool rg = seg.size() >= 7 && Is(seg[2], "resourceGroups") && Is(seg[4], "providers") &&
            Is(seg[5], "Microsoft.Insights") && Is(seg[6], "workbooks") && seg.size() <= 8;
  bool sub = seg.size() == 5 && Is(seg[2], "providers") && Is(seg[3], "Microsoft.Insights") && Is(seg[4], "workbooks");
  if (seg.empty() || !Is(seg[0], "subscriptions") || (!rg && !sub)) return std::nullopt;
  if (r.Query("api-version").empty()) {
    return ArmError(InvalidArgument("The api-version query parameter (?api-version=) is required for all requests.",
                                    "MissingApiVersionParameter"));
  }
  std::string scope = "/subscriptions/" + seg[1] + (rg ? "/resourceGroups/" + seg[3] : "");
  if (seg.size() != 8) {
    if (r.method != "GET") return ArmError(InvalidArgument("Use GET to list.", "MethodNotAllowed"));
    return List(r, scope);
  }
  std::string id = scope + "/providers/Microsoft.Insights/workbooks/" + seg[7];
  if (Status s = rbac_->Authorize(r.caller, ReadWriteDeleteAction(kWorkbookType, r), id); !s.ok()) return ArmError(s);
  std::lock_guard<std::mutex> l(mu_);
  if (r.method == "GET") return Get(r, id);
  if (r.method == "DELETE") return Delete(r, id);
  if (r.method == "PUT" || r.method == "PATCH") return Put(r, id, seg[7], r.method == "PATCH");
  return ArmError(InvalidArgument("The HTTP method '" + r.method + "' is not supported.", "MethodNotAllowed"));
}

ArmResponse WorkbooksProvider::List(const ArmRequest& r, const std::string& scope) {
  if (Status s = rbac_->Authorize(r.caller, std::string(kWorkbookType) + "/read", scope); !s.ok()) return ArmError(s);
  std::string category(r.Query("category")), source(r.Query("sourceId"));
  if (category.empty()) return ArmError(BadParameter("The category query parameter is required."));
  auto docs = store_->List(kArm, scope + "/");
  if (!docs.ok()) return ArmError(docs.status());
  bj::array value;
  for (const auto& d : *docs) {
    auto o = json::ParseObject(d.body);
    if (!o.ok() || !Is(Str(*o, "type"), kWorkbookType)) continue;
    const bj::object& p = Props(*o);
    if (!Is(Str(p, "category"), category) || (!source.empty() && !Is(Str(p, "sourceId"), source))) continue;
    auto pub = Public(std::move(*o), r.Query("canFetchContent") == "true");
    if (!pub.ok()) return ArmError(pub.status());
    value.emplace_back(std::move(*pub));
  }
  return Json(200, bj::object{{"value", std::move(value)}});
}

ArmResponse WorkbooksProvider::Get(const ArmRequest& r, const std::string& id) {
  auto doc = store_->Get(kArm, id);
  if (!doc.ok()) return ArmError(doc.status());
  if (!*doc) return ArmError(NotFound("The workbook '" + id + "' was not found.", "ResourceNotFound"));
  auto o = json::ParseObject((*doc)->body);
  if (!o.ok()) return ArmError(o.status());
  auto pub = Public(std::move(*o), r.Query("canFetchContent") != "false");
  if (!pub.ok()) return ArmError(pub.status());
  return Json(200, std::move(*pub));
}

ArmResponse WorkbooksProvider::Delete(const ArmRequest& r, const std::string& id) {
  (void)r;
  auto doc = store_->Get(kArm, id);
  if (!doc.ok()) return ArmError(doc.status());
  if (!*doc) return ArmResponse{204, std::nullopt, {}};
  auto o = json::ParseObject((*doc)->body);
  if (o.ok() && !Str(Props(*o), "storageUri").empty()) {
    auto where = ParseStorageUri(Str(Props(*o), "storageUri"));
    auto account = where.ok() ? linked_->AccountOf(where->first) : Result<std::string>(where.status());
    if (account.ok()) linked_->DeleteBlob(*account, where->second, Str(*o, "name") + ".json").IgnoreError();
  }
  if (Status s = store_->Delete(kArm, id).status(); !s.ok()) return ArmError(s);
  return ArmResponse{200, std::nullopt, {}};
}

ArmResponse WorkbooksProvider::Put(const ArmRequest& r, const std::string& id, const std::string& name, bool patch) {
  if (name.empty() || name.size() > 128) return ArmError(BadParameter("The workbook name must be 1 to 128 characters."));
  auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
  if (!body.ok()) return ArmError(BadParameter("The request body is null or malformed.", "InvalidRequestContent"));
  if (Status s = CheckTypes(*body, {{"properties", bj::kind::object}, {"tags", bj::kind::object},
                                    {"identity", bj::kind::object}, {"location", bj::kind::string}});
      !s.ok()) {
    return ArmError(s);
  }
  auto existing = store_->Get(kArm, id);
  if (!existing.ok()) return ArmError(existing.status());
  if (patch && !*existing) return ArmError(NotFound("The workbook '" + id + "' was not found.", "ResourceNotFound"));
  bj::object in;
  if (const bj::value* p = json::FindCI(*body, "properties"); p && p->is_object()) in = p->as_object();
  if (Status s = CheckProps(in, !*existing); !s.ok()) return ArmError(s);
  bj::object doc = *existing ? *json::ParseObject((*existing)->body)
                             : bj::object{{"id", id}, {"name", name}, {"type", kWorkbookType}, {"kind", "shared"},
                                          {"location", NormalizeLocation(Str(*body, "location"))}};
  if (!*existing && Str(doc, "location").empty()) return ArmError(BadParameter("The 'location' property is required.", "LocationRequired"));
  if (const bj::value* identity = json::FindCI(*body, "identity"); identity && identity->is_object()) doc["identity"] = *identity;
  bj::object& p = Props(doc);
  for (const char* k : {"displayName", "category", "version", "sourceId", "storageUri", "description", "tags"}) {
    if (const bj::value* v = json::FindCI(in, k)) p[k] = *v;
  }
  p["timeModified"] = FormatRfc3339(env_.clock->Now());
  p["userId"] = r.caller.object_id;
  p["revision"] = ToLower(HexEncode(AsBytes(env_.random->NewGuid())).substr(0, 32));
  bj::object tags;
  if (const bj::value* t = json::FindCI(*body, "tags"); t && t->is_object()) tags = t->as_object();
  tags["hidden-title"] = Str(p, "displayName");
  doc["tags"] = std::move(tags);
  const bj::value* data = json::FindCI(in, "serializedData");
  if (!Str(p, "storageUri").empty()) {
    p.erase("serializedData");  // only the reference stays here
    if (data != nullptr) {
      if (Status s = WriteContent(r, doc, std::string(data->as_string())); !s.ok()) return ArmError(s);
    }
  } else if (data != nullptr) {
    p["serializedData"] = *data;
  }
  if (Status s = store_->Put(kArm, id, json::Serialize(doc)); !s.ok()) return ArmError(s);
  auto pub = Public(std::move(doc), true);
  if (!pub.ok()) return ArmError(pub.status());
  return Json(patch ? 201 : (*existing ? 200 : 201), std::move(*pub));
}

// The documented setup (workbooks-bring-your-own-storage.md): a user-assigned identity on the
// workbook with Storage Blob Data Contributor on the account; and, as for every referenced
// resource, the caller may read the account and assign the identity.
Status WorkbooksProvider::WriteContent(const ArmRequest& r, const bj::object& doc, const std::string& data) {
  ASSIGN_OR_RETURN(auto where, ParseStorageUri(Str(doc.at("properties").as_object(), "storageUri")));
  const bj::value* identity = doc.if_contains("identity");
  const bj::value* uais = identity && identity->is_object() ? json::FindCI(identity->as_object(), "userAssignedIdentities") : nullptr;
  if (uais == nullptr || !uais->is_object() || uais->as_object().size() != 1) {
    return BadParameter("A workbook with storageUri needs a user-assigned identity (identity.userAssignedIdentities).");
  }
  std::string uai_id(uais->as_object().begin()->key());
  if (!IsResourceId(uai_id, kUaiType)) return BadParameter("'" + Echo(uai_id) + "' is not a user-assigned identity.");
  RETURN_IF_ERROR(AuthorizeLinked(*rbac_, r.caller, std::string(kWorkbookType) + "/write", Str(doc, "id"),
                                  "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action", uai_id));
  RETURN_IF_ERROR(AuthorizeLinked(*rbac_, r.caller, std::string(kWorkbookType) + "/write", Str(doc, "id"),
                                  "Microsoft.Storage/storageAccounts/read", where.first));
  ASSIGN_OR_RETURN(auto uai, store_->Get(kArm, uai_id));
  auto uo = uai ? json::ParseObject(uai->body) : Result<bj::object>(NotFound(""));
  if (!uo.ok()) return BadParameter("The user-assigned identity '" + uai_id + "' was not found.", "InvalidUserAssignedIdentity");
  std::string principal = Str(Props(*uo), "principalId");
  std::string scope = where.first + "/blobServices/default/containers/" + where.second;
  if (!rbac_->IsAllowed(principal, "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write", scope, true)) {
    return PermissionDenied("The workbook's identity '" + uai_id + "' needs the Storage Blob Data Contributor role on '" +
                                where.first + "' to save the workbook's content there.",
                            "AuthorizationFailed");
  }
  ASSIGN_OR_RETURN(std::string account, linked_->AccountOf(where.first));
  return linked_->PutBlob(account, where.second, Str(doc, "name") + ".json", AsBytes(data));
}

Result<bj::object> WorkbooksProvider::Public(bj::object doc, bool content) {
  bj::object& p = Props(doc);
  std::string uri = Str(p, "storageUri");
  if (uri.empty() || !content) {
    if (!content) p.erase("serializedData");
    return doc;
  }
  ASSIGN_OR_RETURN(auto where, ParseStorageUri(uri));
  ASSIGN_OR_RETURN(std::string account, linked_->AccountOf(where.first));
  auto data = linked_->GetBlob(account, where.second, Str(doc, "name") + ".json");
  if (!data.ok()) {
    return Status(data.status().code(),
                  "The workbook's content is kept in storage account '" + account + "', which cannot be read: " +
                      data.status().message(),
                  data.status().error_code());
  }
  p["serializedData"] = std::string(data->begin(), data->end());
  return doc;
}

}  // namespace cmk::control
