#include "control/oi_provider.h"

#include "base/encoding.h"
#include "base/json.h"
#include "control/arm_checks.h"
#include "control/arm_util.h"
#include "keyvault/key_vault_client.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
constexpr char kOpKind[] = "operation";
constexpr char kDeletedCluster[] = "deleted-cluster";
const std::vector<int64_t> kCapacities = {100, 200, 300, 400, 500, 1000, 2000, 5000, 10000, 25000, 50000};

constexpr char kAssignAction[] = "Microsoft.ManagedIdentity/userAssignedIdentities/assign/action";

// The members of a cluster body (PUT or PATCH) that this provider reads, with their types.
Status CheckClusterTypes(const bj::object& body) {
  RETURN_IF_ERROR(CheckTypes(body, {{"properties", bj::kind::object}, {"identity", bj::kind::object},
                                    {"sku", bj::kind::object}, {"tags", bj::kind::object}, {"location", bj::kind::string}}));
  const bj::value* p = json::FindCI(body, "properties");
  if (p == nullptr || !p->is_object()) return OkStatus();
  RETURN_IF_ERROR(CheckTypes(p->as_object(), {{"keyVaultProperties", bj::kind::object}, {"billingType", bj::kind::string},
                                              {"isDoubleEncryptionEnabled", bj::kind::bool_},
                                              {"isAvailabilityZonesEnabled", bj::kind::bool_}},
                             "properties."));
  const bj::value* kvp = json::FindCI(p->as_object(), "keyVaultProperties");
  if (kvp == nullptr || !kvp->is_object()) return OkStatus();
  return CheckTypes(kvp->as_object(), {{"keyVaultUri", bj::kind::string}, {"keyName", bj::kind::string},
                                       {"keyVersion", bj::kind::string}, {"keyRsaSize", bj::kind::int64}},
                    "properties.keyVaultProperties.");
}

// The action a request on workspaces/{ws}/{kind}[/...] needs on the workspace.
std::string WorkspaceChildAction(const std::string& kind, const std::string& method) {
  std::string verb = method == "GET" ? "read" : method == "DELETE" ? "delete" : "write";
  for (const char* k : {"linkedServices", "tables", "linkedStorageAccounts", "savedSearches"}) {
    if (Is(kind, k)) return std::string("Microsoft.OperationalInsights/workspaces/") + k + "/" + verb;
  }
  return "Microsoft.OperationalInsights/workspaces/read";
}

}  // namespace

const std::vector<Region>& DefaultRegions() {
  static const std::vector<Region> kRegions = {
      {"eastus", true},       {"eastus2", true},        {"westus", true},     {"westus2", true},
      {"westus3", true},      {"centralus", true},      {"northeurope", true}, {"westeurope", true},
      {"uksouth", true},      {"southeastasia", true},  {"australiaeast", true}, {"westcentralus", false}};
  return kRegions;
}

OperationalInsightsProvider::OperationalInsightsProvider(env::Env env, meta::MetadataStore* store,
                                                         identity::Directory* directory, identity::Rbac* rbac,
                                                         keyvault::KeyVaultService* keyvault,
                                                         OperationalInsightsOptions options)
    : env_(env), store_(store), directory_(directory), rbac_(rbac), keyvault_(keyvault), options_(std::move(options)) {}

OperationalInsightsProvider::~OperationalInsightsProvider() {
  *alive_ = false;
  if (timer_ != 0) env_.clock->Cancel(timer_);
}

const Region* OperationalInsightsProvider::FindRegion(std::string_view name) const {
  for (const auto& r : options_.regions) {
    if (r.name == NormalizeLocation(name)) return &r;
  }
  return nullptr;
}

Status OperationalInsightsProvider::Load() {
  ASSIGN_OR_RETURN(auto docs, store_->List(kOpKind, ""));
  Lock l(mu_);
  for (const auto& d : docs) {
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(d.body));
    Operation op;
    op.id = Str(o, "id");
    op.location = Str(o, "location");
    op.resource_id = Str(o, "resourceId");
    op.kind = Str(o, "kind");
    op.status = Str(o, "status");
    ASSIGN_OR_RETURN(op.start, ParseRfc3339(Str(o, "start")));
    ASSIGN_OR_RETURN(op.due, ParseRfc3339(Str(o, "due")));
    if (!Str(o, "end").empty()) {
      ASSIGN_OR_RETURN(TimePoint e, ParseRfc3339(Str(o, "end")));
      op.end = e;
    }
    op.error_code = Str(o, "errorCode");
    op.error_message = Str(o, "errorMessage");
    op.api_version = Str(o, "apiVersion");
    if (o.contains("payload") && o["payload"].is_object()) op.payload = o["payload"].as_object();
    ops_[op.id] = std::move(op);
  }
  ScheduleTimerLocked();
  return OkStatus();
}

// One timer, at the earliest due time of a pending operation (never a periodic tick: advancing
// a simulated clock by 30 days must not run millions of empty callbacks).
void OperationalInsightsProvider::ScheduleTimerLocked() {
  std::optional<TimePoint> earliest;
  for (const auto& [id, op] : ops_) {
    if (op.status == "InProgress" && (!earliest || op.due < *earliest)) earliest = op.due;
  }
  if (!earliest || (timer_due_ && *timer_due_ <= *earliest)) return;
  if (timer_ != 0) env_.clock->Cancel(timer_);
  timer_due_ = earliest;
  std::weak_ptr<bool> alive = alive_;
  timer_ = env_.clock->RunAt(*earliest, [this, alive] {
    auto a = alive.lock();
    if (!a || !*a) return;
    {
      Lock l(mu_);
      timer_ = 0;
      timer_due_.reset();
    }
    CompleteDue();
  });
}

Status OperationalInsightsProvider::SaveOperation(const Operation& op) {
  bj::object o{{"id", op.id},           {"location", op.location}, {"resourceId", op.resource_id},
               {"kind", op.kind},       {"status", op.status},     {"start", FormatRfc3339(op.start)},
               {"due", FormatRfc3339(op.due)}, {"errorCode", op.error_code},
               {"errorMessage", op.error_message}, {"apiVersion", op.api_version}, {"payload", op.payload}};
  if (op.end) o["end"] = FormatRfc3339(*op.end);
  return store_->Put(kOpKind, op.id, json::Serialize(o));
}

Result<std::optional<bj::object>> OperationalInsightsProvider::LoadDoc(const std::string& id) const {
  ASSIGN_OR_RETURN(auto doc, store_->Get(kArm, id));
  if (!doc) return std::optional<bj::object>();
  ASSIGN_OR_RETURN(bj::object o, json::ParseObject(doc->body));
  return std::optional<bj::object>(std::move(o));
}

Status OperationalInsightsProvider::SaveDoc(const std::string& id, const bj::object& doc) {
  return store_->Put(kArm, id, json::Serialize(doc));
}

bj::object OperationalInsightsProvider::Public(bj::object doc) const {
  doc.erase("x-cmk");
  return doc;
}

bool OperationalInsightsProvider::HasPendingOperation(const std::string& resource_id) const {
  for (const auto& [id, op] : ops_) {
    if (op.status == "InProgress" && EqualsIgnoreCase(op.resource_id, resource_id)) return true;
  }
  return false;
}

Result<OperationalInsightsProvider::Operation*> OperationalInsightsProvider::StartOperation(
    const std::string& kind, const std::string& resource_id, const std::string& location,
    const std::string& api_version, bj::object payload) {
  Operation op;
  op.id = env_.random->NewGuid();
  op.kind = kind;
  op.resource_id = resource_id;
  op.location = location;
  op.status = "InProgress";
  op.start = env_.clock->Now();
  op.due = op.start + options_.provisioning;
  op.api_version = api_version.empty() ? "2021-06-01" : api_version;
  op.payload = std::move(payload);
  RETURN_IF_ERROR(SaveOperation(op));
  auto [it, inserted] = ops_.emplace(op.id, std::move(op));
  ScheduleTimerLocked();
  return &it->second;
}

void OperationalInsightsProvider::AddLroHeaders(ArmResponse& res, const ArmRequest& r, const Operation& op) const {
  std::string sub = op.resource_id.substr(0, op.resource_id.find('/', std::string("/subscriptions/").size()));
  res.headers.emplace_back("Azure-AsyncOperation", r.base_url + sub + "/providers/Microsoft.OperationalInsights/locations/" +
                                                       op.location + "/operationstatuses/" + op.id +
                                                       "?api-version=" + op.api_version);
  res.headers.emplace_back("Location", r.base_url + op.resource_id + "/operationresults/" + op.id +
                                           "?api-version=" + op.api_version);
  res.headers.emplace_back("Retry-After", "1");
}

void OperationalInsightsProvider::CompleteDue() {
  Lock l(mu_);
  TimePoint now = env_.clock->Now();
  std::vector<Operation*> due;
  for (auto& [id, op] : ops_) {
    if (op.status == "InProgress" && now >= op.due) due.push_back(&op);
  }
  std::sort(due.begin(), due.end(), [](const Operation* a, const Operation* b) { return a->start < b->start; });
  for (Operation* op : due) {
    Status s = Complete(*op);
    op->end = now;
    if (s.ok()) {
      op->status = "Succeeded";
    } else {
      op->status = "Failed";
      op->error_code = s.error_code();
      op->error_message = s.message();
    }
    SaveOperation(*op).IgnoreError();
  }
  ScheduleTimerLocked();
}

// Applies an operation's effect. Called with mu_ held.
Status OperationalInsightsProvider::Complete(Operation& op) {
  std::string ts = FormatRfc3339(env_.clock->Now());
  if (op.kind == "createCluster" || op.kind == "updateCluster" || op.kind == "createWorkspace") {
    ASSIGN_OR_RETURN(auto doc, LoadDoc(op.resource_id));
    if (!doc)
      return NotFound("The resource was deleted while the operation ran.", "ResourceNotFound");
    if (op.kind != "createWorkspace") {
      if (Status s = ConfigureStorage(*doc); !s.ok()) {
        Props(*doc)["provisioningState"] = "Failed";
        RETURN_IF_ERROR(SaveDoc(op.resource_id, *doc));
        return s;
      }
    }
    Props(*doc)["provisioningState"] = "Succeeded";
    Props(*doc)[op.kind == "createWorkspace" ? "modifiedDate" : "lastModifiedDate"] = ts;
    return SaveDoc(op.resource_id, *doc);
  }
  if (op.kind == "deleteCluster") return CompleteClusterDelete(op, ts);
  if (op.kind == "link" || op.kind == "unlink") return CompleteLink(op, ts);
  return Internal("unknown operation kind " + op.kind);
}

// The resource ids of a cluster's associated workspaces (stored by CompleteLink).
static std::vector<std::string> AssociatedWorkspaceIds(bj::object& cluster) {
  std::vector<std::string> out;
  const bj::value* assoc = Props(cluster).if_contains("associatedWorkspaces");
  if (assoc == nullptr || !assoc->is_array()) return out;
  for (const auto& w : assoc->get_array()) {
    if (w.is_object()) out.push_back(Str(w.get_object(), "resourceId"));
  }
  return out;
}

Status OperationalInsightsProvider::CompleteClusterDelete(Operation& op, const std::string& ts) {
  ASSIGN_OR_RETURN(auto doc, LoadDoc(op.resource_id));
  if (!doc) return OkStatus();
  // Deleting a cluster unlinks its workspaces.
  for (const std::string& ws_id : AssociatedWorkspaceIds(*doc)) {
    ASSIGN_OR_RETURN(auto ws, LoadDoc(ws_id));
    if (!ws) continue;
    if (bj::value* features = Props(*ws).if_contains("features");
        features && features->is_object()) {
      features->get_object().erase("clusterResourceId");
    }
    Props(*ws)["sku"] = bj::object{{"name", "PerGB2018"}, {"lastSkuUpdate", ts}};
    RETURN_IF_ERROR(SaveDoc(ws_id, *ws));
    RETURN_IF_ERROR(store_->Delete(kArm, ws_id + "/linkedServices/cluster").status());
  }
  std::string sub = op.resource_id.substr(std::string("/subscriptions/").size(), 36);
  bj::object tomb{{"name", (*doc)["name"]},
                  {"location", (*doc)["location"]},
                  {"subscriptionId", sub},
                  {"resourceId", op.resource_id},
                  {"deletedAt", ts}};
  RETURN_IF_ERROR(store_->Put(kDeletedCluster, op.resource_id, json::Serialize(tomb)));
  if (storage_) RETURN_IF_ERROR(storage_->RemoveCluster(op.resource_id));
  return store_->Delete(kArm, op.resource_id).status();
}

Status OperationalInsightsProvider::CompleteLink(Operation& op, const std::string& ts) {
  std::string ws_id = op.resource_id.substr(
      0, op.resource_id.size() - std::string("/linkedServices/cluster").size());
  std::string cluster_id = Str(op.payload, "clusterId");
  ASSIGN_OR_RETURN(auto ws, LoadDoc(ws_id));
  ASSIGN_OR_RETURN(auto cluster, LoadDoc(cluster_id));
  if (!ws)
    return NotFound("The workspace was deleted while the operation ran.", "ResourceNotFound");
  bj::object& wp = Props(*ws);
  if (!wp.contains("features") || !wp["features"].is_object()) wp["features"] = bj::object();
  bj::object& features = wp["features"].get_object();
  auto associated = [&]() -> bj::array& {
    bj::value& assoc = Props(*cluster)["associatedWorkspaces"];
    if (!assoc.is_array()) assoc = bj::array();
    return assoc.get_array();
  };
  if (op.kind == "link") {
    if (!cluster)
      return NotFound("The cluster was deleted while the link ran.", "ResourceNotFound");
    features["clusterResourceId"] = cluster_id;
    wp["sku"] = bj::object{{"name", "LACluster"}, {"lastSkuUpdate", ts}};
    associated().emplace_back(bj::object{{"workspaceId", wp["customerId"]},
                                         {"workspaceName", (*ws)["name"]},
                                         {"resourceId", ws_id},
                                         {"associateDate", ts}});
    RETURN_IF_ERROR(SaveDoc(cluster_id, *cluster));
    ASSIGN_OR_RETURN(auto ls, LoadDoc(op.resource_id));
    if (ls) {
      Props(*ls)["provisioningState"] = "Succeeded";
      RETURN_IF_ERROR(SaveDoc(op.resource_id, *ls));
    }
    return SaveDoc(ws_id, *ws);
  }
  features.erase("clusterResourceId");
  wp["sku"] = bj::object{{"name", "PerGB2018"}, {"lastSkuUpdate", ts}};
  if (cluster) {
    bj::array& assoc = associated();
    bj::array kept;
    for (auto& a : assoc) {
      if (!a.is_object() || !EqualsIgnoreCase(Str(a.get_object(), "resourceId"), ws_id)) {
        kept.push_back(a);
      }
    }
    assoc = std::move(kept);
    RETURN_IF_ERROR(SaveDoc(cluster_id, *cluster));
  }
  RETURN_IF_ERROR(store_->Delete(kArm, op.resource_id).status());
  return SaveDoc(ws_id, *ws);
}

// ---------------------------------------------------------------------------------------------

ArmResponse OperationalInsightsProvider::HandleOperationalInsights(const ArmRequest& r, const std::string& sub,
                                                                   const std::string* rg,
                                                                   const std::vector<std::string>& rest) {
  CompleteDue();
  Lock l(mu_);
  if (rest.empty()) return ArmError(NotFound("No route for '" + r.path + "'.", "NotFound"));
  std::string sub_scope = "/subscriptions/" + sub;
  if (rg == nullptr) {
    if (rest.size() == 4 && Is(rest[0], "locations") && Is(rest[2], "operationStatuses")) {
      if (r.method != "GET") return ArmError(InvalidArgument("Use GET.", "MethodNotAllowed"));
      return OperationStatus(r, sub, rest[3]);
    }
    if (rest.size() == 1 && r.method == "GET" && (Is(rest[0], "clusters") || Is(rest[0], "workspaces") || Is(rest[0], "deletedWorkspaces"))) {
      std::string type = Is(rest[0], "clusters") ? "clusters" : Is(rest[0], "workspaces") ? "workspaces" : "deletedWorkspaces";
      return List(r, type, sub_scope + "/resourceGroups/", sub_scope);
    }
    return ArmError(NotFound("No route for '" + r.method + " " + r.path + "'.", "NotFound"));
  }
  std::string rg_scope = sub_scope + "/resourceGroups/" + *rg;
  std::string type = rest[0];
  if (Is(type, "clusters")) {
    if (rest.size() == 4 && Is(rest[2], "operationResults")) {
      return OperationResult(r, rg_scope + "/providers/Microsoft.OperationalInsights/clusters/" + rest[1], rest[3]);
    }
    if (rest.size() > 2) return ArmError(NotFound("No route for '" + r.path + "'.", "NotFound"));
    return Clusters(r, sub, *rg, rest.size() == 2 ? &rest[1] : nullptr);
  }
  if (Is(type, "workspaces")) {
    if (rest.size() <= 2) return Workspaces(r, sub, *rg, rest.size() == 2 ? &rest[1] : nullptr);
    std::string ws_id;
    {
      std::string path_id = rg_scope + "/providers/Microsoft.OperationalInsights/workspaces/" + rest[1];
      // Authorized on the id from the path before the lookup: a caller without access gets 403
      // whether or not the workspace exists (the child handlers authorize again, on the stored id).
      if (Status s = rbac_->Authorize(r.caller, WorkspaceChildAction(rest[2], r.method), path_id); !s.ok()) {
        return ArmError(s);
      }
      auto doc = LoadDoc(path_id);
      if (!doc.ok()) return ArmError(doc.status());
      if (!*doc) {
        return ArmError(NotFound("The Resource 'Microsoft.OperationalInsights/workspaces/" + rest[1] +
                                     "' under resource group '" + *rg + "' was not found.", "ResourceNotFound"));
      }
      ws_id = std::string((**doc)["id"].as_string());
    }
    return WorkspaceChild(r, ws_id, std::vector<std::string>(rest.begin() + 2, rest.end()));
  }
  if (Is(type, "deletedWorkspaces") && rest.size() == 1 && r.method == "GET") {
    return List(r, "deletedWorkspaces", rg_scope + "/", rg_scope);
  }
  return ArmError(NotFound("The resource type '" + type + "' is not supported in namespace 'Microsoft.OperationalInsights'.",
                           "InvalidResourceType"));
}

ArmResponse OperationalInsightsProvider::List(const ArmRequest& r, const std::string& type, const std::string& prefix,
                                              const std::string& scope) {
  std::string action = type == "deletedWorkspaces" ? "Microsoft.OperationalInsights/workspaces/read"
                                                   : "Microsoft.OperationalInsights/" + type + "/read";
  if (Status s = rbac_->Authorize(r.caller, action, scope); !s.ok()) return ArmError(s);
  bj::array value;
  if (type == "deletedWorkspaces") {
    auto docs = store_->List(kDeletedWorkspace, prefix);
    if (!docs.ok()) return ArmError(docs.status());
    TimePoint now = env_.clock->Now();
    for (const auto& d : *docs) {
      auto o = json::ParseObject(d.body);
      if (!o.ok()) continue;
      auto at = ParseRfc3339(Str(Hidden(*o), "deletedAt"));
      if (at.ok() && now - *at >= options_.name_reservation) {
        store_->Delete(kDeletedWorkspace, d.id).IgnoreError();  // past the 14 days: gone for good
        continue;
      }
      value.emplace_back(Public(std::move(*o)));
    }
    return Json(200, bj::object{{"value", std::move(value)}});
  }
  auto docs = store_->List(kArm, prefix);
  if (!docs.ok()) return ArmError(docs.status());
  std::string marker = "/providers/microsoft.operationalinsights/" + ToLower(type) + "/";
  for (const auto& d : *docs) {
    std::string lid = ToLower(d.id);
    size_t at = lid.find(marker);
    if (at == std::string::npos || lid.find('/', at + marker.size()) != std::string::npos) continue;
    auto o = json::ParseObject(d.body);
    if (o.ok()) value.emplace_back(Public(std::move(*o)));
  }
  bj::object out{{"value", std::move(value)}};
  if (type == "clusters") out["nextLink"] = nullptr;
  return Json(200, std::move(out));
}

ArmResponse OperationalInsightsProvider::OperationStatus(const ArmRequest& r, const std::string& sub,
                                                         const std::string& op_id) {
  auto it = ops_.find(ToLower(op_id));
  if (it == ops_.end()) it = ops_.find(op_id);
  if (it == ops_.end() || !StartsWithIgnoreCase(it->second.resource_id, "/subscriptions/" + sub)) {
    return ArmError(NotFound("The operation '" + op_id + "' was not found.", "OperationNotFound"));
  }
  const Operation& op = it->second;
  if (Status s = rbac_->Authorize(r.caller, "Microsoft.OperationalInsights/locations/operationStatuses/read", op.resource_id); !s.ok()) {
    return ArmError(s);
  }
  bj::object o{{"id", "/subscriptions/" + sub + "/providers/Microsoft.OperationalInsights/locations/" + op.location +
                          "/operationstatuses/" + op.id},
               {"name", op.id},
               {"status", op.status},
               {"startTime", FormatRfc3339(op.start)}};
  if (op.end) o["endTime"] = FormatRfc3339(*op.end);
  if (op.status == "Failed") o["error"] = bj::object{{"code", op.error_code}, {"message", op.error_message}};
  ArmResponse res = Json(200, std::move(o));
  // Without Retry-After some pollers (az, Python) wait 30 s between polls.
  if (op.status == "InProgress") res.headers.emplace_back("Retry-After", "1");
  return res;
}

ArmResponse OperationalInsightsProvider::OperationResult(const ArmRequest& r, const std::string& resource_id,
                                                         const std::string& op_id) {
  auto it = ops_.find(op_id);
  if (it == ops_.end() || !EqualsIgnoreCase(it->second.resource_id, resource_id)) {
    return ArmError(NotFound("The operation '" + op_id + "' was not found.", "OperationNotFound"));
  }
  const Operation& op = it->second;
  if (Status s = rbac_->Authorize(r.caller, "Microsoft.OperationalInsights/locations/operationStatuses/read", op.resource_id); !s.ok()) {
    return ArmError(s);
  }
  if (op.status == "InProgress") {
    ArmResponse res{202, std::nullopt, {}};
    res.headers.emplace_back("Location", r.base_url + r.path + "?api-version=" + op.api_version);
    res.headers.emplace_back("Retry-After", "1");
    return res;
  }
  if (op.status == "Failed") return ArmError(Status(StatusCode::kInvalidArgument, op.error_message, op.error_code));
  if (op.kind == "deleteCluster" || op.kind == "unlink") return ArmResponse{204, std::nullopt, {}};
  auto doc = LoadDoc(op.resource_id);
  if (!doc.ok()) return ArmError(doc.status());
  if (!*doc) return ArmResponse{204, std::nullopt, {}};
  return Json(200, Public(std::move(**doc)));
}

// The cluster's storage accounts follow its key (new accounts under a first key, re-wrap under a
// new version) and its identity (None: the next key check finds access revoked).
Status OperationalInsightsProvider::ConfigureStorage(const bj::object& cluster) {
  if (storage_ == nullptr) return OkStatus();
  const bj::object& identity = cluster.at("identity").as_object();
  std::string principal;
  if (Is(Str(identity, "type"), "SystemAssigned")) {
    principal = Str(identity, "principalId");
  } else if (Is(Str(identity, "type"), "UserAssigned") && identity.contains("userAssignedIdentities")) {
    const auto& uais = identity.at("userAssignedIdentities").as_object();
    if (!uais.empty()) principal = Str(uais.begin()->value().as_object(), "principalId");
  }
  std::optional<keyvault::KeyRef> key;
  const bj::object& props = cluster.at("properties").as_object();
  if (auto* kvp = props.if_contains("keyVaultProperties"); kvp && kvp->is_object()) {
    std::string uri = Str(kvp->as_object(), "keyVaultUri");
    while (!uri.empty() && uri.back() == '/') uri.pop_back();
    key = keyvault::KeyRef{uri, Str(kvp->as_object(), "keyName"), Str(kvp->as_object(), "keyVersion")};
  }
  return storage_->ConfigureCluster(std::string(cluster.at("id").as_string()), principal, key);
}

bj::array OperationalInsightsProvider::StorageStatus() const {
  bj::array out;
  if (storage_ == nullptr) return out;
  for (const auto& a : storage_->List()) {
    bj::object o{{"clusterId", a.cluster_id}, {"account", a.account}, {"keyState", storage::KeyStateName(a.state)},
                 {"kid", a.kid}};
    if (a.last_success) o["lastSuccessfulUnwrap"] = FormatRfc3339(*a.last_success);
    out.emplace_back(std::move(o));
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Clusters

Result<bj::object> OperationalInsightsProvider::RestoreIdentity(const std::string& cluster_id) {
  Lock l(mu_);
  ASSIGN_OR_RETURN(auto doc, LoadDoc(cluster_id));
  if (!doc) return NotFound("The cluster '" + cluster_id + "' was not found.", "ResourceNotFound");
  if (!Hidden(*doc).contains("revokedIdentity")) {
    return FailedPrecondition("The cluster's identity was not revoked.", "InvalidOperation");
  }
  (*doc)["identity"] = Hidden(*doc)["revokedIdentity"];
  Hidden(*doc).erase("revokedIdentity");
  RETURN_IF_ERROR(SaveDoc(std::string((*doc)["id"].as_string()), *doc));
  return Public(std::move(*doc));
}

ArmResponse OperationalInsightsProvider::Clusters(const ArmRequest& r, const std::string& sub, const std::string& rg,
                                                  const std::string* name) {
  std::string rg_scope = "/subscriptions/" + sub + "/resourceGroups/" + rg;
  if (name == nullptr) {
    if (r.method != "GET") return ArmError(InvalidArgument("Use GET to list clusters.", "MethodNotAllowed"));
    return List(r, "clusters", rg_scope + "/", rg_scope);
  }
  std::string id = rg_scope + "/providers/Microsoft.OperationalInsights/clusters/" + *name;
  const std::string& m = r.method;
  std::string action = std::string("Microsoft.OperationalInsights/clusters/") +
                       (m == "GET" ? "read" : m == "DELETE" ? "delete" : "write");
  if (Status s = rbac_->Authorize(r.caller, action, id); !s.ok()) return ArmError(s);
  if (m == "PUT") return PutCluster(r, sub, rg, *name);
  auto doc = LoadDoc(id);
  if (!doc.ok()) return ArmError(doc.status());
  if (!*doc) {
    return ArmError(NotFound("The Resource 'Microsoft.OperationalInsights/clusters/" + *name + "' under resource group '" +
                                 rg + "' was not found.", "ResourceNotFound"));
  }
  std::string canonical((**doc)["id"].as_string());
  if (m == "GET") return Json(200, Public(std::move(**doc)));
  if (m == "PATCH") {
    auto body = json::ParseObject(r.body.empty() ? "null" : r.body);
    if (!body.ok()) return ArmError(BadParameter("The request body is null or malformed: " + body.status().message(), "InvalidRequestContent"));
    return PatchCluster(r, canonical, std::move(*body), false);
  }
  if (m == "DELETE") return DeleteCluster(r, canonical);
  return ArmError(InvalidArgument("Method not allowed.", "MethodNotAllowed"));
}

Result<bj::object> OperationalInsightsProvider::ResolveIdentity(const ArmRequest& r, const bj::value* identity,
                                                               const bj::object* existing, const std::string& name) {
  if (identity == nullptr || identity->is_null()) {
    if (existing) return *existing;
    return bj::object{{"type", "None"}};
  }
  if (!identity->is_object()) return BadParameter("'identity' must be an object.");
  std::string type = Str(identity->as_object(), "type");
  std::string t = ToLower(type);
  t.erase(std::remove(t.begin(), t.end(), ' '), t.end());
  if (t == "none") return bj::object{{"type", "None"}};
  if (t == "systemassigned") {
    if (existing && Is(Str(*existing, "type"), "SystemAssigned")) return *existing;
    ASSIGN_OR_RETURN(identity::Principal p, directory_->CreateManagedIdentity(r.caller.tenant_id, name));
    return bj::object{{"type", "SystemAssigned"}, {"principalId", p.object_id}, {"tenantId", p.tenant_id}};
  }
  if (t == "userassigned") {
    const bj::value* uais = json::FindCI(identity->as_object(), "userAssignedIdentities");
    if (uais == nullptr || !uais->is_object() || uais->as_object().size() != 1) {
      return BadParameter("A UserAssigned identity needs exactly one entry in 'userAssignedIdentities'.");
    }
    std::string uai_id(uais->as_object().begin()->key());
    if (!IsResourceId(uai_id, kUaiType)) {
      return BadParameter("'" + Echo(uai_id) + "' is not the resource id of a user-assigned identity.", "InvalidUserAssignedIdentity");
    }
    // Assigning a user-assigned identity needs assign/action on the identity (private-storage.md,
    // "Manage a user assigned managed identity ... - identity scope"); otherwise any writer could
    // borrow another group's identity and act as it toward key vaults. Checked before the lookup.
    RETURN_IF_ERROR(AuthorizeLinked(*rbac_, r.caller, "Microsoft.OperationalInsights/clusters/write", RequestScope(r),
                                    kAssignAction, uai_id));
    ASSIGN_OR_RETURN(auto uai, LoadDoc(uai_id));
    if (!uai || !Is(Str(*uai, "type"), kUaiType)) {
      return BadParameter("The user-assigned identity '" + uai_id + "' was not found.", "InvalidUserAssignedIdentity");
    }
    bj::object& p = Props(*uai);
    return bj::object{{"type", "UserAssigned"},
                      {"userAssignedIdentities", bj::object{{std::string((*uai)["id"].as_string()),
                                                             bj::object{{"principalId", p["principalId"]}, {"clientId", p["clientId"]}}}}}};
  }
  return BadParameter("The identity type '" + type + "' is not valid: use SystemAssigned, UserAssigned or None.");
}

ArmResponse OperationalInsightsProvider::PutCluster(const ArmRequest& r, const std::string& sub, const std::string& rg,
                                                    const std::string& name) {
  if (!ValidHyphenatedName(name, 3, 63)) {
    return ArmError(BadParameter("Cluster name '" + name + "' is not valid: use 3 to 63 letters, digits and hyphens, starting and ending with a letter or digit."));
  }
  auto body_r = json::Parse(r.body.empty() ? "null" : r.body);
  if (!body_r.ok() || !body_r->is_object()) {
    return ArmError(BadParameter("The request body is null or malformed.", "InvalidRequestContent"));
  }
  bj::object body = body_r->as_object();
  if (Status s = CheckClusterTypes(body); !s.ok()) return ArmError(s);
  std::string id = "/subscriptions/" + sub + "/resourceGroups/" + rg + "/providers/Microsoft.OperationalInsights/clusters/" + name;
  auto existing = LoadDoc(id);
  if (!existing.ok()) return ArmError(existing.status());
  if (*existing) {
    // A PUT on an existing cluster is an update of its writable fields (az does GET + PUT).
    std::string canonical((**existing)["id"].as_string());
    std::string loc = NormalizeLocation(Str(body, "location"));
    if (!loc.empty() && loc != (**existing)["location"].as_string()) {
      return ArmError(BadParameter("The location of a cluster cannot be changed."));
    }
    return PatchCluster(r, canonical, std::move(body), true);
  }
  // Same name in another group of the subscription, or deleted in the last 14 days: refused.
  auto all = store_->List(kArm, "/subscriptions/" + sub + "/");
  if (!all.ok()) return ArmError(all.status());
  TimePoint now = env_.clock->Now();
  std::string loc = NormalizeLocation(Str(body, "location"));
  if (loc.empty()) return ArmError(BadParameter("The 'location' property is required.", "LocationRequired"));
  const Region* region = FindRegion(loc);
  if (region == nullptr) {
    return ArmError(BadParameter("The location '" + loc + "' is not available for resource type 'Microsoft.OperationalInsights/clusters'.", "LocationNotAvailableForResourceType"));
  }
  int active = 0;
  for (const auto& d : *all) {
    std::string lid = ToLower(d.id);
    if (lid.find("/providers/microsoft.operationalinsights/clusters/") == std::string::npos ||
        lid.find("/operationresults") != std::string::npos) {
      continue;
    }
    auto o = json::ParseObject(d.body);
    if (!o.ok()) continue;
    if (Is(Str(*o, "name"), name)) {
      return ArmError(Conflict("The cluster name '" + name + "' is already in use in this subscription.", "Conflict"));
    }
    if (Str(*o, "location") == loc) ++active;
  }
  int reserved = active;
  auto tombs = store_->List(kDeletedCluster, "/subscriptions/" + sub + "/");
  if (!tombs.ok()) return ArmError(tombs.status());
  for (const auto& d : *tombs) {
    auto o = json::ParseObject(d.body);
    if (!o.ok()) continue;
    auto at = ParseRfc3339(Str(*o, "deletedAt"));
    if (!at.ok() || now - *at >= options_.name_reservation) continue;
    if (Is(Str(*o, "name"), name)) {
      return ArmError(Conflict("The cluster name '" + name + "' was used by a cluster deleted less than 14 days ago and is reserved until " +
                                   FormatRfc3339(*at + options_.name_reservation, 0) + ".", "Conflict"));
    }
    if (Str(*o, "location") == loc) ++reserved;
  }
  if (active >= options_.max_active_clusters_per_region) {
    return ArmError(BadParameter("The subscription already has " + std::to_string(active) + " active clusters in region '" + loc +
                            "'; the limit is " + std::to_string(options_.max_active_clusters_per_region) + " per region.",
                        "ClusterLimitExceeded"));
  }
  if (reserved >= options_.max_reserved_clusters_per_region) {
    return ArmError(BadParameter("The subscription has reached the limit of " + std::to_string(options_.max_reserved_clusters_per_region) +
                            " clusters in region '" + loc + "', counting clusters deleted in the last 14 days.",
                        "ClusterLimitExceeded"));
  }
  const bj::value* sku = json::FindCI(body, "sku");
  if (sku == nullptr || !sku->is_object()) return ArmError(BadParameter("The 'sku' property is missing or invalid.", "InvalidSku"));
  if (Status s = CheckTypes(sku->as_object(), {{"name", bj::kind::string}}, "sku."); !s.ok()) return ArmError(s);
  std::string sku_name = Str(sku->as_object(), "name");
  if (!Is(sku_name, "CapacityReservation")) return ArmError(BadParameter("The SKU name '" + sku_name + "' is not valid: use CapacityReservation.", "InvalidSku"));
  auto cap = json::GetInt(sku->as_object(), "capacity");
  if (!cap.ok() || !cap->has_value() || std::find(kCapacities.begin(), kCapacities.end(), **cap) == kCapacities.end()) {
    return ArmError(BadParameter("The capacity is not valid: use 100, 200, 300, 400, 500, 1000, 2000, 5000, 10000, 25000 or 50000 GB per day.", "InvalidCapacity"));
  }
  bj::object props;
  if (auto p = json::GetObject(body, "properties"); p.ok() && *p) props = **p;
  if (const bj::value* kvp = json::FindCI(props, "keyVaultProperties"); kvp && !kvp->is_null()) {
    return ArmError(BadParameter("Key vault properties can't be set when the cluster is created: create the cluster, grant its identity access to the key, then update the cluster with the key.",
                        "InvalidParameter"));
  }
  auto dbl = json::GetBool(props, "isDoubleEncryptionEnabled");
  bool double_enc = dbl.ok() && dbl->has_value() ? **dbl : true;
  if (double_enc && !region->double_encryption) {
    return ArmError(BadParameter("Double encryption is not supported in region '" + loc + "'. Create the cluster with 'isDoubleEncryptionEnabled': false.",
                        "DoubleEncryptionNotSupported"));
  }
  auto az = json::GetBool(props, "isAvailabilityZonesEnabled");
  std::string billing = Str(props, "billingType");
  if (!billing.empty() && !Is(billing, "Cluster") && !Is(billing, "Workspaces")) {
    return ArmError(BadParameter("billingType must be Cluster or Workspaces."));
  }
  auto identity = ResolveIdentity(r, json::FindCI(body, "identity"), nullptr, name);
  if (!identity.ok()) return ArmError(identity.status());
  std::string ts = FormatRfc3339(now);
  bj::object doc{{"id", id},
                 {"name", name},
                 {"type", "Microsoft.OperationalInsights/clusters"},
                 {"location", loc},
                 {"tags", json::FindCI(body, "tags") && json::FindCI(body, "tags")->is_object() ? *json::FindCI(body, "tags") : bj::value(bj::object())},
                 {"identity", *identity},
                 {"sku", bj::object{{"name", "CapacityReservation"}, {"capacity", **cap}}},
                 {"properties", bj::object{{"clusterId", env_.random->NewGuid()},
                                           {"provisioningState", "Creating"},
                                           {"isDoubleEncryptionEnabled", double_enc},
                                           {"isAvailabilityZonesEnabled", az.ok() && az->has_value() ? **az : false},
                                           {"billingType", billing.empty() ? "Cluster" : (Is(billing, "Cluster") ? "Cluster" : "Workspaces")},
                                           {"createdDate", ts},
                                           {"lastModifiedDate", ts},
                                           {"associatedWorkspaces", bj::array()},
                                           {"capacityReservationProperties", bj::object{{"lastSkuUpdate", ts}, {"minCapacity", 100}}}}}};
  if (Status s = SaveDoc(id, doc); !s.ok()) return ArmError(s);
  auto op = StartOperation("createCluster", id, loc, ApiVersion(r), {});
  if (!op.ok()) return ArmError(op.status());
  ArmResponse res = Json(201, Public(doc));
  AddLroHeaders(res, r, **op);
  return res;
}

Status OperationalInsightsProvider::ValidateKey(const bj::object& cluster, const bj::object& kvp) {
  std::string uri = Str(kvp, "keyVaultUri"), key = Str(kvp, "keyName"), version = Str(kvp, "keyVersion");
  if (uri.empty() && key.empty() && version.empty()) return OkStatus();  // clearing the key
  if (uri.empty() || key.empty()) {
    return BadParameter("KeyVaultProperties are not valid: keyVaultUri and keyName are required.", "InvalidKeyVaultProperties");
  }
  // Key Vault's own limits (names 1-127 characters, versions 32 hex digits) with room to spare,
  // checked before the URI is parsed.
  if (uri.size() > 2048 || key.size() > 127 || version.size() > 64) {
    return BadParameter("KeyVaultProperties are not valid: keyVaultUri, keyName or keyVersion is too long.", "InvalidKeyVaultProperties");
  }
  // The vault may be in any resource group or subscription, and the caller needs no ARM
  // permission on it: as in Azure, what matters is the data-plane access of the cluster's
  // identity (get, wrapKey, unwrapKey), which the probes below exercise as that identity. A
  // caller who names a vault it does not control learns only what its DNS name already tells:
  // that the vault exists.
  const bj::object& identity = cluster.at("identity").as_object();
  std::string principal_id;
  if (Is(Str(identity, "type"), "SystemAssigned")) {
    principal_id = Str(identity, "principalId");
  } else if (Is(Str(identity, "type"), "UserAssigned")) {
    const auto& uais = identity.at("userAssignedIdentities").as_object();
    principal_id = Str(uais.begin()->value().as_object(), "principalId");
  } else {
    return BadParameter("The cluster has no managed identity to access the key vault with.", "InvalidIdentity");
  }
  if (keyvault_ == nullptr) return BadParameter("Key vaults are not available on this instance.");
  auto vault = keyvault::VaultNameFromUri(uri);
  if (!vault.ok()) return BadParameter("keyVaultUri '" + uri + "' is not a valid key vault URI.", "InvalidKeyVaultProperties");
  auto v = keyvault_->GetVault(*vault);
  if (!v) return BadParameter("Failed to validate key in Key Vault: the key vault '" + uri + "' was not found.", "KeyVaultNotFound");
  if (!EqualsIgnoreCase(v->location, Str(cluster, "location"))) {
    return BadParameter("The key vault must be in the cluster's region ('" + Str(cluster, "location") + "'); it is in '" + v->location + "'.",
               "InvalidKeyVaultRegion");
  }
  auto principal = directory_->FindByObjectId(principal_id);
  if (!principal.ok() || !principal->has_value()) return BadParameter("The cluster identity does not exist.", "InvalidIdentity");
  keyvault::InProcessKeyVaultClient client(keyvault_, **principal);
  keyvault::KeyRef ref{uri, key, version};
  auto info = client.GetKey(ref);
  if (!info.ok()) {
    return BadParameter("Failed to validate key in Key Vault as the cluster's identity (needs get, wrapKey and unwrapKey on the key): " +
                   info.status().message(), "KeyVaultValidationFailed");
  }
  auto bundle = keyvault_->GetKey(**principal, *vault, key, version);
  if (bundle.ok()) {
    std::string level(bundle->at("attributes").as_object().at("recoveryLevel").as_string());
    if (level.find("Purgeable") != std::string::npos) {
      return BadParameter("Key isn't recoverable: the key vault must have soft delete and purge protection enabled (recovery level is '" + level + "').",
                 "KeyNotRecoverable");
    }
  }
  std::array<uint8_t, 32> probe;
  env_.random->Fill(probe);
  auto wrapped = client.WrapKey(ref, "RSA-OAEP-256", probe);
  if (!wrapped.ok()) {
    return BadParameter("Failed to validate key in Key Vault: wrapKey as the cluster's identity failed: " + wrapped.status().message(),
               "KeyVaultValidationFailed");
  }
  auto unwrapped = client.UnwrapKey(ref, "RSA-OAEP-256", wrapped->value);
  if (!unwrapped.ok()) {
    return BadParameter("Failed to validate key in Key Vault: unwrapKey as the cluster's identity failed: " + unwrapped.status().message(),
               "KeyVaultValidationFailed");
  }
  return OkStatus();
}

ArmResponse OperationalInsightsProvider::PatchCluster(const ArmRequest& r, const std::string& id, bj::object body,
                                                      bool from_put) {
  auto loaded = LoadDoc(id);
  if (!loaded.ok()) return ArmError(loaded.status());
  bj::object doc = std::move(**loaded);
  std::string state = Str(Props(doc), "provisioningState");
  if (Is(state, "Deleting")) return ArmError(BadParameter("Operation can't be executed now: the cluster is being deleted.", "InvalidOperation"));
  if (HasPendingOperation(id) || Is(state, "Creating") || Is(state, "Updating") || Is(state, "ProvisioningAccount")) {
    return ArmError(BadParameter("Operation can't be executed now: another operation on the cluster is in progress. Try again when the cluster's provisioningState is Succeeded.",
                        "InvalidOperation"));
  }
  if (Status s = CheckClusterTypes(body); !s.ok()) return ArmError(s);
  bj::object props;
  if (auto p = json::GetObject(body, "properties"); p.ok() && *p) props = **p;
  const bj::value* kvp = json::FindCI(props, "keyVaultProperties");
  const bj::value* identity = json::FindCI(body, "identity");
  bj::object& cur_identity = doc["identity"].as_object();
  bool identity_changes = identity && identity->is_object() &&
                          (!Is(Str(identity->as_object(), "type"), Str(cur_identity, "type")) ||
                           json::FindCI(identity->as_object(), "userAssignedIdentities"));
  if (identity_changes && json::FindCI(identity->as_object(), "userAssignedIdentities") &&
      Is(Str(identity->as_object(), "type"), Str(cur_identity, "type"))) {
    // The same user-assigned identity again is not a change.
    auto* uais = json::FindCI(identity->as_object(), "userAssignedIdentities");
    if (uais->is_object() && uais->as_object().size() == 1 && cur_identity.contains("userAssignedIdentities") &&
        EqualsIgnoreCase(uais->as_object().begin()->key(), cur_identity["userAssignedIdentities"].as_object().begin()->key())) {
      identity_changes = false;
    }
  }
  bj::object cur_kvp = Props(doc).contains("keyVaultProperties") ? Props(doc)["keyVaultProperties"].as_object() : bj::object();
  bool key_changes = kvp && kvp->is_object() &&
                     (Str(kvp->as_object(), "keyVaultUri") != Str(cur_kvp, "keyVaultUri") ||
                      Str(kvp->as_object(), "keyName") != Str(cur_kvp, "keyName") ||
                      Str(kvp->as_object(), "keyVersion") != Str(cur_kvp, "keyVersion"));
  if (kvp && !kvp->is_null() && !kvp->is_object()) return ArmError(BadParameter("keyVaultProperties must be an object.", "InvalidKeyVaultProperties"));
  // A PATCH naming both is refused outright (the documented rule); a full PUT (az's
  // read-modify-write) necessarily carries the unchanged identity next to a new key.
  bool both_given = identity && !identity->is_null() && kvp && !kvp->is_null();
  if ((identity_changes && key_changes) || (!from_put && both_given)) {
    return ArmError(BadParameter("Identity and key vault properties can't be updated in the same operation: update the identity first, then the key.",
                        "InvalidParameter"));
  }
  if (identity_changes) {
    std::string new_type = ToLower(Str(identity->as_object(), "type"));
    if (Is(Str(cur_identity, "type"), "None") && Hidden(doc).contains("revokedIdentity")) {
      return ArmError(BadParameter("The cluster's identity was set to None, which revoked its access permanently. An administrator of "
                          "this instance can restore it (cmklogs cluster restore-identity).", "IdentityRevoked"));
    }
    if (new_type == "none" && !Is(Str(cur_identity, "type"), "None")) Hidden(doc)["revokedIdentity"] = cur_identity;
    if (Is(Str(cur_identity, "type"), "UserAssigned") && new_type == "systemassigned" && !Str(cur_kvp, "keyName").empty()) {
      return ArmError(BadParameter("To change the identity from UserAssigned to SystemAssigned, first remove the key (set keyVaultUri, keyName and keyVersion to \"\").",
                          "InvalidParameter"));
    }
    auto resolved = ResolveIdentity(r, identity, nullptr, std::string(doc["name"].as_string()));
    if (!resolved.ok()) return ArmError(resolved.status());
    doc["identity"] = *resolved;
  }
  if (key_changes) {
    if (Status s = ValidateKey(doc, kvp->as_object()); !s.ok()) return ArmError(s);
    bj::object k{{"keyVaultUri", Str(kvp->as_object(), "keyVaultUri")},
                 {"keyName", Str(kvp->as_object(), "keyName")},
                 {"keyVersion", Str(kvp->as_object(), "keyVersion")}};
    auto rsa = json::GetInt(kvp->as_object(), "keyRsaSize");
    if (rsa.ok() && rsa->has_value()) k["keyRsaSize"] = **rsa;
    if (Str(k, "keyVaultUri").empty() && Str(k, "keyName").empty()) {
      Props(doc).erase("keyVaultProperties");
    } else {
      Props(doc)["keyVaultProperties"] = std::move(k);
    }
  }
  TimePoint now = env_.clock->Now();
  if (const bj::value* sku = json::FindCI(body, "sku"); sku && sku->is_object()) {
    auto cap = json::GetInt(sku->as_object(), "capacity");
    if (!cap.ok() || (cap->has_value() && std::find(kCapacities.begin(), kCapacities.end(), **cap) == kCapacities.end())) {
      return ArmError(BadParameter("The capacity is not valid: use 100, 200, 300, 400, 500, 1000, 2000, 5000, 10000, 25000 or 50000 GB per day.", "InvalidCapacity"));
    }
    if (cap->has_value()) {
      int64_t old = doc["sku"].as_object()["capacity"].as_int64();
      bj::object& in = Hidden(doc);
      if (**cap < old && in.contains("lastIncrease")) {
        auto inc = ParseRfc3339(in["lastIncrease"].as_string());
        if (inc.ok() && now - *inc < options_.sku_decrease_lock) {
          return ArmError(BadParameter("The capacity can't be decreased within 30 days of an increase (last increase " + FormatRfc3339(*inc, 0) + ").",
                              "InvalidCapacity"));
        }
      }
      if (**cap > old) in["lastIncrease"] = FormatRfc3339(now);
      if (**cap != old) {
        doc["sku"].as_object()["capacity"] = **cap;
        Props(doc)["capacityReservationProperties"].as_object()["lastSkuUpdate"] = FormatRfc3339(now);
      }
    }
  }
  std::string billing = Str(props, "billingType");
  if (!billing.empty()) {
    if (!Is(billing, "Cluster") && !Is(billing, "Workspaces")) return ArmError(BadParameter("billingType must be Cluster or Workspaces."));
    Props(doc)["billingType"] = Is(billing, "Cluster") ? "Cluster" : "Workspaces";
  }
  if (const bj::value* tags = json::FindCI(body, "tags"); tags && tags->is_object()) doc["tags"] = *tags;
  if (auto d = json::GetBool(props, "isDoubleEncryptionEnabled"); d.ok() && d->has_value() &&
                                                                   **d != Props(doc)["isDoubleEncryptionEnabled"].as_bool()) {
    return ArmError(BadParameter("isDoubleEncryptionEnabled is set when the cluster is created and can't be changed."));
  }
  Props(doc)["provisioningState"] = "Updating";
  Props(doc)["lastModifiedDate"] = FormatRfc3339(now);
  if (Status s = SaveDoc(id, doc); !s.ok()) return ArmError(s);
  auto op = StartOperation("updateCluster", id, std::string(doc["location"].as_string()), ApiVersion(r), {});
  if (!op.ok()) return ArmError(op.status());
  ArmResponse res = Json(200, Public(doc));
  AddLroHeaders(res, r, **op);
  return res;
}

ArmResponse OperationalInsightsProvider::DeleteCluster(const ArmRequest& r, const std::string& id) {
  auto loaded = LoadDoc(id);
  if (!loaded.ok()) return ArmError(loaded.status());
  bj::object doc = std::move(**loaded);
  std::string state = Str(Props(doc), "provisioningState");
  if (Is(state, "Deleting")) {
    return ArmError(Conflict("The cluster is already being deleted.", "Conflict"));
  }
  if (HasPendingOperation(id) || Is(state, "Creating") || Is(state, "Updating") || Is(state, "ProvisioningAccount")) {
    return ArmError(Conflict("The cluster can't be deleted while it is being provisioned or updated. Try again when its provisioningState is Succeeded.",
                             "Conflict"));
  }
  Props(doc)["provisioningState"] = "Deleting";
  if (Status s = SaveDoc(id, doc); !s.ok()) return ArmError(s);
  auto op = StartOperation("deleteCluster", id, std::string(doc["location"].as_string()), ApiVersion(r), {});
  if (!op.ok()) return ArmError(op.status());
  ArmResponse res{202, std::nullopt, {}};
  AddLroHeaders(res, r, **op);
  return res;
}

}  // namespace cmk::control
