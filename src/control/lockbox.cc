#include "control/lockbox.h"

#include <algorithm>
#include <cstdio>

#include "base/encoding.h"
#include "base/json.h"
#include "control/arm_checks.h"
#include "control/arm_util.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
constexpr char kRequestKind[] = "lockbox-request";
constexpr char kTenantKind[] = "lockbox-tenant";
constexpr char kOperatorKind[] = "instance-operator";
constexpr char kAccessKind[] = "lockbox-access";
constexpr char kOwnerRoleId[] = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635";
constexpr size_t kMaxReason = 1000;
constexpr size_t kMaxResources = 10;
constexpr size_t kMaxQueryText = 16384;

std::string Str(const bj::object& o, const char* k) {
  const bj::value* v = o.if_contains(k);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : "";
}

TimePoint TimeOf(const bj::object& o, const char* k) {
  auto t = ParseRfc3339(Str(o, k));
  return t.ok() ? *t : TimePoint{};
}

bj::object RequestToDoc(const LockboxRequest& q) {
  bj::array ids;
  for (const auto& r : q.resource_ids) ids.emplace_back(r);
  bj::object o{{"id", q.id},
               {"subscriptionId", q.subscription_id},
               {"tenantId", q.tenant_id},
               {"requester", q.requester},
               {"requesterAppId", q.requester_app_id},
               {"justification", q.justification},
               {"resourceIds", std::move(ids)},
               {"resourceType", q.resource_type},
               {"status", q.status},
               {"created", FormatRfc3339(q.created)},
               {"expires", FormatRfc3339(q.expires)},
               {"durationSeconds", std::chrono::duration_cast<std::chrono::seconds>(q.duration).count()},
               {"supportRequest", q.support_request},
               {"decidedBy", q.decided_by},
               {"reason", q.reason}};
  if (q.decided) o["decided"] = FormatRfc3339(*q.decided);
  return o;
}

std::optional<LockboxRequest> RequestFromDoc(std::string_view body) {
  auto o = json::ParseObject(body);
  if (!o.ok()) return std::nullopt;
  LockboxRequest q;
  q.id = Str(*o, "id");
  q.subscription_id = Str(*o, "subscriptionId");
  q.tenant_id = Str(*o, "tenantId");
  q.requester = Str(*o, "requester");
  q.requester_app_id = Str(*o, "requesterAppId");
  q.justification = Str(*o, "justification");
  if (const bj::value* ids = o->if_contains("resourceIds"); ids != nullptr && ids->is_array()) {
    for (const auto& v : ids->get_array()) {
      if (v.is_string()) q.resource_ids.emplace_back(v.get_string());
    }
  }
  q.resource_type = Str(*o, "resourceType");
  q.status = Str(*o, "status");
  q.created = TimeOf(*o, "created");
  q.expires = TimeOf(*o, "expires");
  if (const bj::value* d = o->if_contains("durationSeconds"); d != nullptr && d->is_number()) {
    q.duration = std::chrono::seconds(d->to_number<int64_t>());
  }
  q.support_request = Str(*o, "supportRequest");
  q.decided_by = Str(*o, "decidedBy");
  q.reason = Str(*o, "reason");
  if (o->contains("decided")) q.decided = TimeOf(*o, "decided");
  return q;
}

}  // namespace

std::string LockboxRequestArmId(const LockboxRequest& q) {
  return "/subscriptions/" + q.subscription_id + "/providers/" + kLockboxNamespace + "/requests/" + q.id;
}

std::string LockboxHours(Duration d) {
  double h = std::chrono::duration<double>(d).count() / 3600.0;
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", h);
  std::string s = buf;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}


Lockbox::Lockbox(env::Env env, meta::MetadataStore* store, identity::Rbac* rbac, ActivityLog* activity,
                 LockboxOptions options)
    : env_(env), store_(store), rbac_(rbac), activity_(activity), options_(std::move(options)) {}

Lockbox::~Lockbox() {
  *alive_ = false;
  MutexLock l(&mu_);
  for (auto id : timers_) env_.clock->Cancel(id);
}

Result<std::unique_ptr<Lockbox>> Lockbox::Create(env::Env env, meta::MetadataStore* store, identity::Rbac* rbac,
                                                 ActivityLog* activity, LockboxOptions options) {
  std::unique_ptr<Lockbox> l(new Lockbox(env, store, rbac, activity, std::move(options)));
  RETURN_IF_ERROR(l->Load());
  return l;
}

Status Lockbox::Load() {
  ASSIGN_OR_RETURN(auto tenants, store_->List(kTenantKind, ""));
  ASSIGN_OR_RETURN(auto ops, store_->List(kOperatorKind, ""));
  {
    MutexLock l(&mu_);
    for (const auto& d : tenants) opted_in_.insert(ToLower(d.id));
    for (const auto& d : ops) operators_.insert(ToLower(d.id));
  }
  Sweep();
  ASSIGN_OR_RETURN(auto docs, store_->List(kRequestKind, ""));
  for (const auto& d : docs) {
    if (auto q = RequestFromDoc(d.body); q && (q->status == "Pending" || q->status == "Approved")) Schedule(*q);
  }
  return OkStatus();
}

bool Lockbox::IsOperator(std::string_view object_id) const {
  if (object_id.empty()) return false;
  if (EqualsIgnoreCase(object_id, options_.admin_object_id)) return true;
  MutexLock l(&mu_);
  return operators_.count(ToLower(object_id)) > 0;
}

Status Lockbox::SetOperator(const std::string& object_id, bool on) {
  if (on) {
    RETURN_IF_ERROR(store_->Put(kOperatorKind, ToLower(object_id), "{}"));
  } else {
    RETURN_IF_ERROR(store_->Delete(kOperatorKind, ToLower(object_id)).status());
  }
  MutexLock l(&mu_);
  if (on) {
    operators_.insert(ToLower(object_id));
  } else {
    operators_.erase(ToLower(object_id));
  }
  return OkStatus();
}

std::vector<std::string> Lockbox::Operators() const {
  std::vector<std::string> out;
  if (!options_.admin_object_id.empty()) out.push_back(ToLower(options_.admin_object_id));
  MutexLock l(&mu_);
  for (const auto& o : operators_) {
    if (o != ToLower(options_.admin_object_id)) out.push_back(o);
  }
  return out;
}

bool Lockbox::OptedIn(std::string_view tenant_id) const {
  MutexLock l(&mu_);
  return opted_in_.count(ToLower(tenant_id)) > 0;
}

std::string Lockbox::TenantOf(const std::string& subscription_id) const {
  {
    MutexLock l(&mu_);
    auto it = tenants_.find(ToLower(subscription_id));
    if (it != tenants_.end()) return it->second;
  }
  auto doc = store_->Get(kSubscriptionKind, subscription_id);
  if (!doc.ok() || !*doc) return "";
  auto o = json::ParseObject((*doc)->body);
  std::string tenant = o.ok() ? Str(*o, "tenantId") : "";
  MutexLock l(&mu_);
  // A subscription never changes tenant here, so the answer is kept.
  if (!tenant.empty()) tenants_[ToLower(subscription_id)] = tenant;
  return tenant;
}

bool Lockbox::IsTenantAdmin(const identity::Principal& p) const {
  if (IsOperator(p.object_id)) return false;
  for (const auto& a : rbac_->List("/", true)) {
    if (!EqualsIgnoreCase(a.principal_id, p.object_id) || !EqualsIgnoreCase(a.role_definition_id, kOwnerRoleId)) {
      continue;
    }
    auto seg = SplitPath(a.scope);
    if (seg.empty()) return true;
    if (seg.size() == 2 && Is(seg[0], "subscriptions") && EqualsIgnoreCase(TenantOf(seg[1]), p.tenant_id)) return true;
  }
  return false;
}

bool Lockbox::IsApprover(const identity::Principal& p, const std::string& subscription_id) const {
  // Separation of duties: whoever may be granted access never approves it.
  if (IsOperator(p.object_id)) return false;
  for (const auto& a : rbac_->List("/subscriptions/" + subscription_id, false)) {
    if (EqualsIgnoreCase(a.principal_id, p.object_id) &&
        (EqualsIgnoreCase(a.role_definition_id, kOwnerRoleId) ||
         EqualsIgnoreCase(a.role_definition_id, kLockboxApproverRoleId))) {
      return true;
    }
  }
  return false;
}

Status Lockbox::SetOptIn(const identity::Principal& caller, bool on) {
  if (!IsTenantAdmin(caller)) {
    return PermissionDenied("The client '" + caller.object_id +
                                "' is not a tenant administrator of tenant '" + caller.tenant_id +
                                "' (Owner at the root or of one of its subscriptions, and not an operator of "
                                "the instance): it cannot change Customer Lockbox.",
                            "AuthorizationFailed");
  }
  std::string tenant = ToLower(caller.tenant_id);
  if (on) {
    RETURN_IF_ERROR(store_->Put(kTenantKind, tenant, "{\"isOptedIn\":true}"));
  } else {
    RETURN_IF_ERROR(store_->Delete(kTenantKind, tenant).status());
  }
  MutexLock l(&mu_);
  if (on) {
    opted_in_.insert(tenant);
  } else {
    opted_in_.erase(tenant);
  }
  return OkStatus();
}

Status Lockbox::Save(const LockboxRequest& q) { return store_->Put(kRequestKind, q.id, json::Serialize(RequestToDoc(q))); }

void Lockbox::Schedule(const LockboxRequest& q) {
  std::weak_ptr<bool> alive = alive_;
  auto id = env_.clock->RunAt(q.expires, [this, alive] {
    auto a = alive.lock();
    if (a && *a) Sweep();
  });
  MutexLock l(&mu_);
  timers_.push_back(id);
}

void Lockbox::Event(const LockboxRequest& q, const std::string& verb, const std::string& caller,
                    const std::string& caller_app, const std::string& description) {
  if (activity_ == nullptr) return;
  ActivityEvent e;
  e.time = env_.clock->Now();
  e.correlation_id = q.id;
  e.caller = caller;
  e.caller_app_id = caller_app;
  e.tenant_id = q.tenant_id;
  e.subscription_id = q.subscription_id;
  e.resource_id = LockboxRequestArmId(q);
  e.operation = std::string(kLockboxNamespace) + "/requests/" + verb + "/action";
  e.status = "Succeeded";
  e.sub_status = q.status;
  e.description = description;
  std::string ids;
  for (const auto& r : q.resource_ids) ids += (ids.empty() ? "" : ",") + r;
  e.properties = {{"requestId", q.id},       {"status", q.status},
                  {"resourceIds", ids},      {"justification", q.justification},
                  {"reason", q.reason},      {"duration", LockboxHours(q.duration)},
                  {"requester", q.requester}, {"expirationDateTime", FormatRfc3339(q.expires)}};
  (void)activity_->Record(std::move(e));
}

LockboxRequest Lockbox::Effective(LockboxRequest q) const {
  if ((q.status == "Pending" || q.status == "Approved") && env_.clock->Now() >= q.expires) q.status = "Expired";
  return q;
}

void Lockbox::Sweep() {
  MutexLock d(&decide_mu_);
  auto docs = store_->List(kRequestKind, "");
  if (!docs.ok()) return;
  for (const auto& doc : *docs) {
    auto q = RequestFromDoc(doc.body);
    if (!q) continue;
    LockboxRequest e = Effective(*q);
    if (e.status == q->status) continue;
    bool was_pending = q->status == "Pending";
    if (!Save(e).ok()) continue;
    Event(e, "expire", "", "",
          was_pending ? "Customer Lockbox request expired unanswered" : "Customer Lockbox access expired");
  }
}

bool IsStorageAccountId(std::string_view id) {
  return ToLower(id).find("/providers/microsoft.storage/storageaccounts/") != std::string::npos;
}

Result<std::string> Lockbox::Resolve(const std::string& resource) const {
  if (IsStorageAccountId(resource)) {
    return options_.resolve_storage_account ? options_.resolve_storage_account(resource) : resource;
  }
  return options_.resolve_workspace ? options_.resolve_workspace(resource) : resource;
}

Result<LockboxRequest> Lockbox::Open(const identity::Principal& op, const std::vector<std::string>& resources,
                                     const std::string& reason, Duration duration,
                                     const std::string& support_request) {
  if (!IsOperator(op.object_id)) {
    return PermissionDenied("Only operators of the instance open Customer Lockbox requests.", "AuthorizationFailed");
  }
  if (reason.empty() || reason.size() > kMaxReason) {
    return InvalidArgument("A justification of 1 to " + std::to_string(kMaxReason) + " characters is required.",
                           "InvalidRequestContent");
  }
  if (resources.empty() || resources.size() > kMaxResources) {
    return InvalidArgument("1 to " + std::to_string(kMaxResources) + " workspaces or storage accounts are required.",
                           "InvalidRequestContent");
  }
  if (duration == Duration::zero()) duration = options_.default_duration;
  if (duration < options_.min_duration || duration > options_.max_duration) {
    return InvalidArgument("The duration must be between " + FormatIsoDuration(options_.min_duration) + " and " +
                               FormatIsoDuration(options_.max_duration) + ".",
                           "InvalidRequestContent");
  }
  if (support_request.size() > 128) return InvalidArgument("The support request id is too long.", "InvalidRequestContent");
  LockboxRequest q;
  for (const auto& r : resources) {
    if (r.size() > 1024) return InvalidArgument("A resource id is too long.", "InvalidRequestContent");
    ASSIGN_OR_RETURN(std::string id, Resolve(r));
    auto seg = SplitPath(id);
    if (seg.size() < 2 || !Is(seg[0], "subscriptions")) {
      return InvalidArgument("'" + r + "' is not a workspace or storage account resource id.", "InvalidRequestContent");
    }
    if (!q.subscription_id.empty() && !Is(q.subscription_id, seg[1])) {
      return InvalidArgument("A request covers resources of one subscription.", "InvalidRequestContent");
    }
    q.subscription_id = seg[1];
    q.resource_ids.push_back(id);
  }
  q.tenant_id = TenantOf(q.subscription_id);
  if (q.tenant_id.empty()) return NotFound("The subscription '" + q.subscription_id + "' could not be found.", "SubscriptionNotFound");
  if (!OptedIn(q.tenant_id)) {
    return FailedPrecondition("Customer Lockbox is not enabled for tenant '" + q.tenant_id +
                                  "': operators need no request there.",
                              "LockboxNotEnabled");
  }
  q.id = env_.random->NewGuid();
  q.requester = op.object_id;
  q.requester_app_id = op.app_id;
  q.justification = reason;
  q.resource_type = IsStorageAccountId(q.resource_ids[0]) ? "Microsoft.Storage/storageAccounts"
                                                          : "Microsoft.OperationalInsights/workspaces";
  q.status = "Pending";
  q.created = env_.clock->Now();
  q.expires = q.created + options_.pending_expiry;
  q.duration = duration;
  q.support_request = support_request;
  RETURN_IF_ERROR(Save(q));
  Schedule(q);
  Event(q, "create", op.object_id, op.app_id, "Customer Lockbox request created");
  return q;
}

Result<LockboxRequest> Lockbox::Decide(const identity::Principal& approver, const std::string& subscription_id,
                                       const std::string& id, std::string_view decision, const std::string& reason) {
  if (!IsApprover(approver, subscription_id)) {
    return PermissionDenied("The client '" + approver.object_id +
                                "' does not have authorization to perform action "
                                "'Microsoft.CustomerLockbox/requests/UpdateApproval/action' over scope '/subscriptions/" +
                                subscription_id +
                                "'. Approvers are the subscription's Owners and holders of 'Azure Customer Lockbox "
                                "Approver for Subscription', never operators of the instance.",
                            "AuthorizationFailed");
  }
  if (reason.size() > kMaxReason) return InvalidArgument("The reason is too long.", "InvalidRequestContent");
  MutexLock d(&decide_mu_);
  ASSIGN_OR_RETURN(auto found, Get(subscription_id, id));
  if (!found) return NotFound("The Customer Lockbox request '" + id + "' was not found.", "RequestNotFound");
  LockboxRequest q = *found;
  bool approve = EqualsIgnoreCase(decision, "Approve");
  bool deny = EqualsIgnoreCase(decision, "Deny") || EqualsIgnoreCase(decision, "Reject");
  bool revoke = EqualsIgnoreCase(decision, "Revoke");
  if (!approve && !deny && !revoke) {
    return InvalidArgument("The decision must be 'Approve' or 'Deny' (or 'Revoke' of an approval).",
                           "InvalidRequestContent");
  }
  std::string verb;
  if (q.status == "Pending" && approve) {
    q.status = "Approved";
    q.expires = env_.clock->Now() + q.duration;
    verb = "approve";
  } else if (q.status == "Pending" && deny) {
    q.status = "Denied";
    q.expires = env_.clock->Now();
    verb = "deny";
  } else if (q.status == "Approved" && (deny || revoke)) {
    q.status = "Revoked";
    q.expires = env_.clock->Now();
    verb = "revoke";
  } else {
    return Conflict(q.status, "LockboxRequestNotPending");
  }
  q.decided = env_.clock->Now();
  q.decided_by = approver.object_id;
  q.reason = reason;
  RETURN_IF_ERROR(Save(q));
  if (q.status == "Approved") Schedule(q);
  Event(q, verb, approver.object_id, approver.app_id, "Customer Lockbox request " + ToLower(q.status));
  return q;
}

Result<std::optional<LockboxRequest>> Lockbox::Get(const std::string& subscription_id, const std::string& id) const {
  if (!IsGuid(id)) return std::optional<LockboxRequest>();
  ASSIGN_OR_RETURN(auto doc, store_->Get(kRequestKind, id));
  if (!doc) return std::optional<LockboxRequest>();
  auto q = RequestFromDoc(doc->body);
  if (!q || !Is(q->subscription_id, subscription_id)) return std::optional<LockboxRequest>();
  return std::optional<LockboxRequest>(Effective(std::move(*q)));
}

Result<std::vector<LockboxRequest>> Lockbox::List(const std::string& subscription_id) const {
  ASSIGN_OR_RETURN(auto docs, store_->List(kRequestKind, ""));
  std::vector<LockboxRequest> out;
  for (const auto& d : docs) {
    auto q = RequestFromDoc(d.body);
    if (q && Is(q->subscription_id, subscription_id)) out.push_back(Effective(std::move(*q)));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.created < b.created; });
  return out;
}

bool Lockbox::Covers(const std::string& resource_id) const {
  {
    MutexLock l(&mu_);
    if (opted_in_.empty()) return false;
  }
  auto seg = SplitPath(resource_id);
  if (seg.size() < 2 || !Is(seg[0], "subscriptions")) return false;
  return OptedIn(TenantOf(seg[1]));
}

Result<std::optional<LockboxGrant>> Lockbox::CheckAccess(const identity::Principal& caller,
                                                         const std::string& resource_id) const {
  // Customers, and every tenant without Lockbox, pass without a lookup.
  if (!IsOperator(caller.object_id) || !Covers(resource_id)) return std::optional<LockboxGrant>();
  std::string sub = SplitPath(resource_id)[1];
  ASSIGN_OR_RETURN(auto requests, List(sub));
  for (const auto& q : requests) {
    if (q.status != "Approved") continue;
    for (const auto& r : q.resource_ids) {
      if (identity::ScopeCovers(r, resource_id)) {
        return std::optional<LockboxGrant>(LockboxGrant{q.id, r, q.subscription_id, q.tenant_id});
      }
    }
  }
  return PermissionDenied("Customer Lockbox is enabled for tenant '" + TenantOf(sub) + "': operator '" +
                              caller.object_id + "' may access '" + resource_id +
                              "' only under a Customer Lockbox request the customer approved, and none covers it "
                              "now. Open one with `cmklogs support request`.",
                          "CustomerLockboxAccessDenied");
}

void Lockbox::RecordAccess(const identity::Principal& op, const LockboxGrant& grant, const std::string& operation,
                           const std::string& query, int64_t rows) {
  TimePoint now = env_.clock->Now();
  std::string text = query.substr(0, kMaxQueryText);
  bj::object o{{"time", FormatRfc3339(now)},   {"operator", op.object_id}, {"operatorAppId", op.app_id},
               {"requestId", grant.request_id}, {"resourceId", grant.resource_id}, {"operation", operation},
               {"query", text},                 {"rows", rows}};
  char key[40];
  std::snprintf(key, sizeof(key), "%020lld-", static_cast<long long>(Ticks(now)));
  (void)store_->Put(kAccessKind, key + env_.random->NewGuid(), json::Serialize(o));
  if (activity_ == nullptr) return;
  ActivityEvent e;
  e.time = now;
  e.correlation_id = grant.request_id;
  e.caller = op.object_id;
  e.caller_app_id = op.app_id;
  e.tenant_id = grant.tenant_id;
  e.subscription_id = grant.subscription_id;
  e.resource_id = grant.resource_id;
  e.operation = std::string(kLockboxNamespace) + "/requests/access/action";
  e.status = "Succeeded";
  e.description = "Operator access under Customer Lockbox request " + grant.request_id;
  e.properties = {{"requestId", grant.request_id}, {"operation", operation}, {"query", text},
                  {"rowsReturned", std::to_string(rows)}};
  (void)activity_->Record(std::move(e));
}

Result<std::vector<LockboxAccess>> Lockbox::Accesses(const std::string& resource_id) const {
  ASSIGN_OR_RETURN(auto docs, store_->List(kAccessKind, ""));
  std::vector<LockboxAccess> out;
  for (const auto& d : docs) {
    auto o = json::ParseObject(d.body);
    if (!o.ok() || !identity::ScopeCovers(resource_id, Str(*o, "resourceId"))) continue;
    LockboxAccess a;
    a.time = TimeOf(*o, "time");
    a.operator_id = Str(*o, "operator");
    a.operator_app_id = Str(*o, "operatorAppId");
    a.request_id = Str(*o, "requestId");
    a.resource_id = Str(*o, "resourceId");
    a.operation = Str(*o, "operation");
    a.query = Str(*o, "query");
    if (const bj::value* r = o->if_contains("rows"); r != nullptr && r->is_number()) a.rows = r->to_number<int64_t>();
    out.push_back(std::move(a));
  }
  return out;
}

}  // namespace cmk::control
