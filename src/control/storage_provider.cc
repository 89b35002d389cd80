#include "control/storage_provider.h"

#include <algorithm>

#include "base/encoding.h"
#include "base/json.h"
#include "base/time_format.h"
#include "control/arm_checks.h"
#include "control/arm_util.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
constexpr char kAccountType[] = "Microsoft.Storage/storageAccounts";
constexpr char kAssignAction[] = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action";
constexpr const char* kSkus[] = {"Standard_LRS", "Standard_GRS",  "Standard_RAGRS", "Standard_ZRS",
                                 "Premium_LRS",  "Premium_ZRS",   "Standard_GZRS",  "Standard_RAGZRS"};
constexpr const char* kKinds[] = {"Storage", "StorageV2", "BlobStorage", "FileStorage", "BlockBlobStorage"};
// Azure's limit on tags per resource (storage.json: "a maximum of 15 tags").
constexpr size_t kMaxTags = 15;

// The canonical spelling of `v` among `values` (case-insensitive), or "".
template <size_t N>
std::string Canonical(const std::string& v, const char* const (&values)[N]) {
  for (const char* c : values) {
    if (EqualsIgnoreCase(v, c)) return c;
  }
  return "";
}

Status NameInvalid(const std::string& name) {
  return InvalidArgument(Echo(name) + " is not a valid storage account name. Storage account name must be between 3 and "
                         "24 characters in length and use numbers and lower-case letters only.",
                         "AccountNameInvalid");
}

Status NotFoundAccount(const std::string& name, const std::string& rg) {
  return NotFound("The Resource 'Microsoft.Storage/storageAccounts/" + name + "' under resource group '" + rg +
                      "' was not found.",
                  "ResourceNotFound");
}

bj::object ServiceJson(const std::string& key_type, const std::string& ts) {
  return bj::object{{"enabled", true}, {"keyType", key_type}, {"lastEnabledTime", ts}};
}

// The keyType of `services.<svc>` in an encryption body: "" when absent, else Service|Account.
Result<std::string> KeyTypeOf(const bj::object& enc, std::string_view svc) {
  const bj::value* services = json::FindCI(enc, "services");
  if (services == nullptr || !services->is_object()) return std::string();
  const bj::value* s = json::FindCI(services->as_object(), svc);
  if (s == nullptr || !s->is_object()) return std::string();
  std::string kt = Str(s->as_object(), "keyType");
  if (kt.empty()) return std::string();
  if (EqualsIgnoreCase(kt, "Service")) return std::string("Service");
  if (EqualsIgnoreCase(kt, "Account")) return std::string("Account");
  return BadParameter("'" + Echo(kt) + "' is not a valid keyType: use Service or Account.");
}

}  // namespace

StorageProvider::StorageProvider(env::Env env, meta::MetadataStore* store, identity::Directory* directory,
                                 identity::Rbac* rbac, storage_account::AccountRegistry* accounts,
                                 StorageProviderOptions options)
    : env_(env), store_(store), directory_(directory), rbac_(rbac), accounts_(accounts), options_(std::move(options)) {}

// An account whose ARM resource is gone without a DELETE on it (its resource group was deleted)
// is forgotten, with its data, when its name is next asked for.
Status StorageProvider::DropStale(const std::string& name) {
  auto owner = accounts_->Owner(name);
  if (!owner) return OkStatus();
  ASSIGN_OR_RETURN(auto doc, store_->Get(kArm, *owner));
  return doc ? OkStatus() : accounts_->Remove(name);
}

std::string StorageProvider::Endpoint(const std::string& name, std::string_view service) const {
  std::string url = "https://" + name + "." + std::string(service) + "." + options_.domain;
  if (options_.port != 443) url += ":" + std::to_string(options_.port);
  return url + "/";
}

ArmResponse StorageProvider::Handle(const ArmRequest& r, const std::string& sub, const std::string* rg,
                                    const std::vector<std::string>& rest) {
  std::string scope = "/subscriptions/" + sub + (rg ? "/resourceGroups/" + *rg : "");
  if (rest.size() == 1 && rg == nullptr && Is(rest[0], "checkNameAvailability")) {
    if (r.method != "POST") return ArmError(InvalidArgument("Use POST.", "MethodNotAllowed"));
    return CheckName(r, sub);
  }
  if (rest.empty() || !Is(rest[0], "storageAccounts")) {
    return ArmError(NotFound("The resource type '" + (rest.empty() ? std::string() : Echo(rest[0])) +
                                 "' could not be found in the namespace 'Microsoft.Storage'.",
                             "InvalidResourceType"));
  }
  if (rest.size() == 1) {
    if (r.method != "GET") return ArmError(InvalidArgument("Use GET to list.", "MethodNotAllowed"));
    return List(r, scope);
  }
  if (rg == nullptr || rest.size() > 3) return ArmError(NotFound("No route for '" + Echo(r.path) + "'.", "NotFound"));
  const std::string& name = rest[1];
  std::string id = scope + "/providers/" + kAccountType + "/" + name;
  std::lock_guard<std::mutex> l(mu_);
  if (rest.size() == 3) {
    bool list = Is(rest[2], "listKeys"), regen = Is(rest[2], "regenerateKey");
    if ((!list && !regen) || r.method != "POST") return ArmError(NotFound("No route for '" + Echo(r.path) + "'.", "NotFound"));
    return Keys(r, id, name, regen);
  }
  if (Status s = rbac_->Authorize(r.caller, ReadWriteDeleteAction(kAccountType, r), id); !s.ok()) return ArmError(s);
  if (r.method == "PUT") return Put(r, sub, *rg, name);
  auto doc = store_->Get(kArm, id);
  if (!doc.ok()) return ArmError(doc.status());
  if (r.method == "DELETE") return Delete(r, id, name);
  if (!*doc) return ArmError(NotFoundAccount(name, *rg));
  auto obj = json::ParseObject((*doc)->body);
  if (!obj.ok()) return ArmError(obj.status());
  if (r.method == "GET") return Json(200, Public(std::move(*obj)));
  if (r.method == "PATCH") return Patch(r, id, std::move(*obj));
  return ArmError(InvalidArgument("The HTTP method '" + r.method + "' is not supported.", "MethodNotAllowed"));
}

ArmResponse StorageProvider::CheckName(const ArmRequest& r, const std::string& sub) {
  if (Status s = rbac_->Authorize(r.caller, "Microsoft.Storage/checknameavailability/read", "/subscriptions/" + sub);
      !s.ok()) {
    return ArmError(s);
  }
  auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
  if (!body.ok()) return ArmError(BadParameter("The request body is null or malformed.", "InvalidRequestContent"));
  std::string name = Str(*body, "name");
  if (!storage_account::ValidAccountName(name)) {
    return Json(200, bj::object{{"nameAvailable", false}, {"reason", "AccountNameInvalid"}, {"message", NameInvalid(name).message()}});
  }
  if (Status s = DropStale(name); !s.ok()) return ArmError(s);
  if (accounts_->Owner(name)) {
    return Json(200, bj::object{{"nameAvailable", false},
                                {"reason", "AlreadyExists"},
                                {"message", "The storage account named " + name + " is already taken."}});
  }
  return Json(200, bj::object{{"nameAvailable", true}});
}

ArmResponse StorageProvider::List(const ArmRequest& r, const std::string& scope) {
  if (Status s = rbac_->Authorize(r.caller, std::string(kAccountType) + "/read", scope); !s.ok()) return ArmError(s);
  auto docs = store_->List(kArm, scope + "/");
  if (!docs.ok()) return ArmError(docs.status());
  bj::array value;
  for (const auto& d : *docs) {
    auto o = json::ParseObject(d.body);
    if (!o.ok() || !Is(Str(*o, "type"), kAccountType)) continue;
    value.emplace_back(Public(std::move(*o)));
  }
  return Json(200, bj::object{{"value", std::move(value)}});
}

ArmResponse StorageProvider::Put(const ArmRequest& r, const std::string& sub, const std::string& rg,
                                 const std::string& name) {
  if (!storage_account::ValidAccountName(name)) return ArmError(NameInvalid(name));
  auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
  if (!body.ok()) return ArmError(BadParameter("The request body is null or malformed.", "InvalidRequestContent"));
  if (Status s = CheckTypes(*body, {{"sku", bj::kind::object}, {"kind", bj::kind::string}, {"location", bj::kind::string},
                                    {"tags", bj::kind::object}, {"identity", bj::kind::object}, {"properties", bj::kind::object}});
      !s.ok()) {
    return ArmError(s);
  }
  std::string id = "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/" + kAccountType + "/" + name;
  if (Status s = DropStale(name); !s.ok()) return ArmError(s);
  if (auto owner = accounts_->Owner(name); owner && !EqualsIgnoreCase(*owner, id)) {
    if (EqualsIgnoreCase(SplitPath(*owner)[1], sub)) {
      return ArmError(Conflict("The account " + name + " is already in another resource group in this subscription.",
                               "StorageAccountInAnotherResourceGroup"));
    }
    return ArmError(Conflict("The storage account named " + name + " is already taken.", "StorageAccountAlreadyTaken"));
  }
  auto existing = store_->Get(kArm, id);
  if (!existing.ok()) return ArmError(existing.status());
  std::string loc = NormalizeLocation(Str(*body, "location"));
  if (*existing) {
    auto doc = json::ParseObject((*existing)->body);
    if (!doc.ok()) return ArmError(doc.status());
    if (!loc.empty() && loc != Str(*doc, "location")) {
      return ArmError(BadParameter("The resource '" + id + "' already exists in location '" + Str(*doc, "location") +
                                       "' in resource group '" + rg + "'. A resource with the same name cannot be created in location '" +
                                       loc + "'. Please select a new resource name.",
                                   "InvalidResourceLocation"));
    }
    return Patch(r, id, std::move(*doc));  // a PUT on an existing account updates it (az: GET + PUT)
  }
  if (loc.empty()) return ArmError(BadParameter("The 'location' property is required.", "LocationRequired"));
  std::string kind = Canonical(Str(*body, "kind"), kKinds);
  if (kind.empty()) return ArmError(BadParameter("The value of parameter kind is invalid.", "InvalidValuesForRequestParameters"));
  std::string ts = FormatRfc3339(env_.clock->Now());
  bj::object doc{{"id", id},
                 {"name", name},
                 {"type", kAccountType},
                 {"location", loc},
                 {"kind", kind},
                 {"tags", bj::object()},
                 {"properties",
                  bj::object{{"provisioningState", "Succeeded"}, {"creationTime", ts}, {"primaryLocation", loc},
                             {"statusOfPrimary", "available"}, {"accessTier", "Hot"}, {"supportsHttpsTrafficOnly", true},
                             {"allowBlobPublicAccess", false}, {"minimumTlsVersion", "TLS1_2"}, {"allowSharedKeyAccess", nullptr},
                             {"networkAcls", bj::object{{"bypass", "AzureServices"}, {"defaultAction", "Allow"},
                                                        {"ipRules", bj::array()}, {"virtualNetworkRules", bj::array()}}},
                             {"encryption", bj::object{{"keySource", "Microsoft.Storage"},
                                                       {"requireInfrastructureEncryption", false},
                                                       {"services", bj::object{{"blob", ServiceJson("Account", ts)},
                                                                               {"file", ServiceJson("Account", ts)}}}}}}},
                 {"x-cmk", bj::object{{"tenantId", r.caller.tenant_id}}}};
  if (Status s = Apply(r, doc, *body, true); !s.ok()) return ArmError(s);
  if (Status s = store_->Put(kArm, id, json::Serialize(doc)); !s.ok()) return ArmError(s);
  return Json(200, Public(std::move(doc)));  // finished at once: the SDK's poller stops here
}

ArmResponse StorageProvider::Patch(const ArmRequest& r, const std::string& id, bj::object doc) {
  auto body = json::ParseObject(r.body.empty() ? "{}" : r.body);
  if (!body.ok()) return ArmError(BadParameter("The request body is malformed.", "InvalidRequestContent"));
  if (Status s = CheckTypes(*body, {{"sku", bj::kind::object}, {"tags", bj::kind::object}, {"identity", bj::kind::object},
                                    {"properties", bj::kind::object}});
      !s.ok()) {
    return ArmError(s);
  }
  if (Status s = Apply(r, doc, *body, false); !s.ok()) return ArmError(s);
  if (Status s = store_->Put(kArm, id, json::Serialize(doc)); !s.ok()) return ArmError(s);
  return Json(200, Public(std::move(doc)));
}

Status StorageProvider::Apply(const ArmRequest& r, bj::object& doc, const bj::object& body, bool create) {
  if (const bj::value* sku = json::FindCI(body, "sku"); sku != nullptr && sku->is_object()) {
    std::string n = Canonical(Str(sku->as_object(), "name"), kSkus);
    if (n.empty()) return BadParameter("The value of parameter sku.name is invalid.", "InvalidValuesForRequestParameters");
    doc["sku"] = bj::object{{"name", n}, {"tier", n.rfind("Premium", 0) == 0 ? "Premium" : "Standard"}};
  } else if (create) {
    return BadParameter("The 'sku' property is required.", "InvalidValuesForRequestParameters");
  }
  if (const bj::value* tags = json::FindCI(body, "tags"); tags != nullptr && tags->is_object()) {
    if (tags->as_object().size() > kMaxTags) return BadParameter("At most 15 tags are allowed.", "InvalidTagsCount");
    doc["tags"] = *tags;
  }
  if (const bj::value* identity = json::FindCI(body, "identity"); identity != nullptr && identity->is_object()) {
    const bj::value* old = doc.if_contains("identity");
    ASSIGN_OR_RETURN(auto resolved, ResolveIdentity(r, *identity, old && old->is_object() ? &old->as_object() : nullptr,
                                                    Str(doc, "name")));
    doc["identity"] = std::move(resolved);
  }
  bj::object& props = Props(doc);
  if (const bj::value* p = json::FindCI(body, "properties"); p != nullptr && p->is_object()) {
    const bj::object& in = p->as_object();
    RETURN_IF_ERROR(CheckTypes(in, {{"allowSharedKeyAccess", bj::kind::bool_}, {"encryption", bj::kind::object},
                                    {"accessTier", bj::kind::string}, {"minimumTlsVersion", bj::kind::string},
                                    {"supportsHttpsTrafficOnly", bj::kind::bool_}, {"allowBlobPublicAccess", bj::kind::bool_}},
                               "properties."));
    for (const char* k : {"allowSharedKeyAccess", "accessTier", "minimumTlsVersion", "supportsHttpsTrafficOnly",
                          "allowBlobPublicAccess", "defaultToOAuthAuthentication", "publicNetworkAccess"}) {
      if (const bj::value* v = json::FindCI(in, k); v != nullptr && !v->is_null()) props[k] = *v;
    }
    if (const bj::value* enc = json::FindCI(in, "encryption"); enc != nullptr && enc->is_object()) {
      RETURN_IF_ERROR(ApplyEncryption(r, doc, enc->as_object(), create));
    }
  }
  return Configure(doc);
}

Result<bj::object> StorageProvider::ResolveIdentity(const ArmRequest& r, const bj::value& identity,
                                                    const bj::object* existing, const std::string& name) {
  std::string type = Str(identity.as_object(), "type");
  std::string t = ToLower(type);
  t.erase(std::remove(t.begin(), t.end(), ' '), t.end());
  bool sai = t == "systemassigned" || t == "systemassigned,userassigned";
  bool uai = t == "userassigned" || t == "systemassigned,userassigned";
  if (t == "none") return bj::object{{"type", "None"}};
  if (!sai && !uai) {
    return BadParameter("The identity type '" + Echo(type) + "' is not valid: use None, SystemAssigned, UserAssigned or "
                        "SystemAssigned,UserAssigned.");
  }
  bj::object out{{"type", sai && uai ? "SystemAssigned,UserAssigned" : sai ? "SystemAssigned" : "UserAssigned"}};
  if (sai) {
    if (existing && !Str(*existing, "principalId").empty()) {
      out["principalId"] = Str(*existing, "principalId");
      out["tenantId"] = Str(*existing, "tenantId");
    } else {
      ASSIGN_OR_RETURN(identity::Principal p, directory_->CreateManagedIdentity(r.caller.tenant_id, name));
      out["principalId"] = p.object_id;
      out["tenantId"] = p.tenant_id;
    }
  }
  if (uai) {
    const bj::value* uais = json::FindCI(identity.as_object(), "userAssignedIdentities");
    if (uais == nullptr || !uais->is_object() || uais->as_object().size() != 1) {
      return BadParameter("Exactly one user-assigned identity is permitted in 'userAssignedIdentities'.");
    }
    std::string uai_id(uais->as_object().begin()->key());
    if (!IsResourceId(uai_id, kUaiType)) {
      return BadParameter("'" + Echo(uai_id) + "' is not the resource id of a user-assigned identity.", "InvalidUserAssignedIdentity");
    }
    // Assigning an identity needs assign/action on it: otherwise a writer could act toward
    // vaults as another group's identity. Checked before the lookup.
    RETURN_IF_ERROR(AuthorizeLinked(*rbac_, r.caller, std::string(kAccountType) + "/write", r.path, kAssignAction, uai_id));
    ASSIGN_OR_RETURN(auto doc, store_->Get(kArm, uai_id));
    auto o = doc ? json::ParseObject(doc->body) : Result<bj::object>(NotFound(""));
    if (!o.ok() || !Is(Str(*o, "type"), kUaiType)) {
      return BadParameter("The user-assigned identity '" + uai_id + "' was not found.", "InvalidUserAssignedIdentity");
    }
    const bj::object& p = Props(*o);
    out["userAssignedIdentities"] = bj::object{{Str(*o, "id"), bj::object{{"principalId", Str(p, "principalId")},
                                                                          {"clientId", Str(p, "clientId")}}}};
  }
  return out;
}

Status StorageProvider::ApplyEncryption(const ArmRequest& r, bj::object& doc, const bj::object& enc, bool create) {
  (void)r;
  bj::object& cur = Props(doc)["encryption"].as_object();
  bj::object& services = cur["services"].as_object();
  std::string ts = FormatRfc3339(env_.clock->Now());
  for (const char* svc : {"table", "queue"}) {
    ASSIGN_OR_RETURN(std::string kt, KeyTypeOf(enc, svc));
    if (kt.empty()) continue;
    const bj::value* old = services.if_contains(svc);
    std::string old_kt = old && old->is_object() ? Str(old->as_object(), "keyType") : "Service";
    if (!create && kt != old_kt) {
      return BadParameter(std::string("The keyType of the ") + svc + " service cannot be changed after the account is created.",
                          "InvalidValuesForRequestParameters");
    }
    services[svc] = ServiceJson(kt, ts);
  }
  if (const bj::value* v = json::FindCI(enc, "requireInfrastructureEncryption"); v && v->is_bool() && create) {
    cur["requireInfrastructureEncryption"] = *v;
  }
  std::string source = Str(enc, "keySource");
  if (source.empty()) return OkStatus();
  if (EqualsIgnoreCase(source, "Microsoft.Storage")) {
    cur["keySource"] = "Microsoft.Storage";
    cur.erase("keyvaultproperties");
    cur.erase("identity");
    return OkStatus();
  }
  if (!EqualsIgnoreCase(source, "Microsoft.Keyvault")) {
    return BadParameter("'" + Echo(source) + "' is not a valid keySource: use Microsoft.Storage or Microsoft.Keyvault.",
                        "InvalidValuesForRequestParameters");
  }
  const bj::value* kvp = json::FindCI(enc, "keyvaultproperties");
  if (kvp == nullptr || !kvp->is_object()) {
    return BadParameter("keyvaultproperties are required with keySource Microsoft.Keyvault.", "InvalidValuesForRequestParameters");
  }
  std::string uri = Str(kvp->as_object(), "keyvaulturi"), key = Str(kvp->as_object(), "keyname"),
              version = Str(kvp->as_object(), "keyversion");
  if (uri.empty() || key.empty() || uri.size() > 2048 || key.size() > 127 || version.size() > 64) {
    return BadParameter("keyvaultproperties need keyvaulturi and keyname (at most 2048 and 127 characters).",
                        "InvalidValuesForRequestParameters");
  }
  cur["keySource"] = "Microsoft.Keyvault";
  cur["keyvaultproperties"] = bj::object{{"keyname", key}, {"keyversion", version}, {"keyvaulturi", uri},
                                         {"lastKeyRotationTimestamp", ts}};
  cur.erase("identity");
  if (const bj::value* ei = json::FindCI(enc, "identity"); ei && ei->is_object()) {
    std::string uai = Str(ei->as_object(), "userAssignedIdentity");
    if (!uai.empty()) cur["identity"] = bj::object{{"userAssignedIdentity", uai}};
  }
  return OkStatus();
}

// The registry's view of the account: which key, reached as which identity.
Status StorageProvider::Configure(const bj::object& doc) {
  storage_account::AccountSpec spec;
  spec.name = Str(doc, "name");
  spec.resource_id = Str(doc, "id");
  spec.region = Str(doc, "location");
  const bj::object& hidden = doc.at("x-cmk").as_object();
  spec.tenant_id = Str(hidden, "tenantId");
  const bj::object& props = doc.at("properties").as_object();
  const bj::value* allow = props.if_contains("allowSharedKeyAccess");
  spec.allow_shared_key = allow == nullptr || !allow->is_bool() || allow->as_bool();
  const bj::object& enc = props.at("encryption").as_object();
  const bj::value* infra = enc.if_contains("requireInfrastructureEncryption");
  spec.infrastructure_encryption = infra != nullptr && infra->is_bool() && infra->as_bool();
  if (!Is(Str(enc, "keySource"), "Microsoft.Keyvault")) return accounts_->Configure(spec);
  const bj::object& kvp = enc.at("keyvaultproperties").as_object();
  spec.key.key = keyvault::KeyRef{Str(kvp, "keyvaulturi"), Str(kvp, "keyname"), Str(kvp, "keyversion")};
  const bj::value* id = doc.if_contains("identity");
  const bj::object empty;
  const bj::object& identity = id && id->is_object() ? id->as_object() : empty;
  std::string uai;
  if (const bj::value* ei = enc.if_contains("identity"); ei && ei->is_object()) uai = Str(ei->as_object(), "userAssignedIdentity");
  if (!uai.empty()) {
    const bj::value* uais = identity.if_contains("userAssignedIdentities");
    const bj::value* entry = nullptr;
    if (uais && uais->is_object()) {
      for (const auto& kv : uais->as_object()) {
        if (EqualsIgnoreCase(kv.key(), uai) && kv.value().is_object()) entry = &kv.value();
      }
    }
    if (entry == nullptr) {
      return BadParameter("The encryption identity '" + Echo(uai) + "' is not one of the account's user-assigned identities.",
                          "InvalidEncryptionIdentity");
    }
    spec.key.principal_id = Str(entry->as_object(), "principalId");
  } else {
    spec.key.principal_id = Str(identity, "principalId");
  }
  if (spec.key.principal_id.empty()) {
    return BadParameter("A customer-managed key needs a managed identity on the account (identity, and "
                        "encryption.identity.userAssignedIdentity for a user-assigned one).",
                        "KeyVaultAuthenticationFailure");
  }
  return accounts_->Configure(spec);
}

bj::object StorageProvider::Public(bj::object doc) const {
  doc.erase("x-cmk");
  std::string name = Str(doc, "name");
  bj::object& props = Props(doc);
  props["primaryEndpoints"] = bj::object{{"blob", Endpoint(name, "blob")}, {"table", Endpoint(name, "table")}};
  if (auto keys = accounts_->Keys(name); keys.ok()) {
    props["keyCreationTime"] = bj::object{{"key1", keys->created1}, {"key2", keys->created2}};
  }
  if (props.contains("encryption") && props["encryption"].is_object()) {
    bj::object& enc = props["encryption"].as_object();
    if (enc.contains("keyvaultproperties") && enc["keyvaultproperties"].is_object()) {
      enc["keyvaultproperties"].as_object()["currentVersionedKeyIdentifier"] = accounts_->CurrentKid(name);
    }
  }
  return doc;
}

ArmResponse StorageProvider::Delete(const ArmRequest& r, const std::string& id, const std::string& name) {
  (void)r;
  auto owner = accounts_->Owner(name);
  auto doc = store_->Get(kArm, id);
  if (!doc.ok()) return ArmError(doc.status());
  if (!*doc) return ArmResponse{204, std::nullopt, {}};
  if (owner && EqualsIgnoreCase(*owner, id)) {
    if (Status s = accounts_->Remove(name); !s.ok()) return ArmError(s);
  }
  if (Status s = store_->Delete(kArm, id).status(); !s.ok()) return ArmError(s);
  return ArmResponse{200, std::nullopt, {}};
}

ArmResponse StorageProvider::Keys(const ArmRequest& r, const std::string& id, const std::string& name, bool regenerate) {
  std::string action = std::string(kAccountType) + (regenerate ? "/regeneratekey/action" : "/listkeys/action");
  if (Status s = rbac_->Authorize(r.caller, action, id); !s.ok()) return ArmError(s);
  auto doc = store_->Get(kArm, id);
  if (!doc.ok()) return ArmError(doc.status());
  if (!*doc) return ArmError(NotFoundAccount(name, SplitPath(id)[3]));
  if (regenerate) {
    auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
    std::string which = body.ok() ? Str(*body, "keyName") : "";
    if (!Is(which, "key1") && !Is(which, "key2")) {
      return ArmError(BadParameter("keyName must be key1 or key2.", "InvalidValuesForRequestParameters"));
    }
    if (Status s = accounts_->RegenerateKey(name, Is(which, "key1") ? 1 : 2); !s.ok()) return ArmError(s);
  }
  auto keys = accounts_->Keys(name);
  if (!keys.ok()) return ArmError(keys.status());
  auto entry = [](const char* n, const SecretBytes& k, const std::string& created) {
    return bj::object{{"keyName", n}, {"value", Base64Encode(k.span())}, {"permissions", "FULL"}, {"creationTime", created}};
  };
  return Json(200, bj::object{{"keys", bj::array{entry("key1", keys->key1, keys->created1),
                                                 entry("key2", keys->key2, keys->created2)}}});
}

}  // namespace cmk::control
