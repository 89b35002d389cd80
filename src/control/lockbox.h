#pragma once
// Lockbox: Customer Lockbox for the instance's operators (docs/lockbox.md).
//
// Operators are the principals that run the instance: the admin created at first start and the
// principals an admin adds (`cmklogs operator add`). Every other principal is a customer. With
// Lockbox enabled for a tenant (POST /providers/Microsoft.CustomerLockbox/enableLockbox, by a
// tenant administrator), an operator's read of customer data in that tenant's subscriptions —
// workspace queries, saved searches, shared and storage keys, Blob and Table requests made with
// the operator's own Entra token — is refused unless a request the
// customer approved covers the resource (the named resource and what lies under it):
//
//   Pending --Approve--> Approved --duration (default 8 h)--> Expired
//   Pending --Deny--> Denied          Approved --Deny/Revoke--> Revoked (early, by the customer)
//   Pending --4 days unanswered--> Expired
//
// Operators open requests with the admin CLI (`cmklogs support request`); approvers are the
// subscription's Owners and holders of "Azure Customer Lockbox Approver for Subscription", never
// an operator. Grants do not extend to Auxiliary-plan tables (Lockbox does not cover them in
// Azure; here operators stay out of them). Every access under a grant is recorded (who, request,
// resource, query text, rows) for the customer's `LockboxAccess` table and the activity log, as
// is every transition. Times come from the injected clock; expiries fire as its timers and are
// also applied on every read, so a request is never honoured past its expiry.
// Microsoft.CustomerLockbox 2018-02-28-preview is served by Route (azure-api.md §16,
// azure-api-2.md §26). Thread safety: safe for concurrent use.

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "base/time_format.h"
#include "control/activity_log.h"
#include "control/arm_service.h"
#include "env/env.h"
#include "identity/principal.h"
#include "identity/rbac.h"
#include "meta/metadata_store.h"

namespace cmk::control {

inline constexpr char kLockboxNamespace[] = "Microsoft.CustomerLockbox";

// The built-in role "Azure Customer Lockbox Approver for Subscription".
inline constexpr char kLockboxApproverRoleId[] = "4dae6930-7baf-46f5-909e-0383bc931c46";

struct LockboxRequest {
  std::string id;  // GUID
  std::string subscription_id;
  std::string tenant_id;
  std::string requester;  // the operator's object id
  std::string requester_app_id;
  std::string justification;
  std::vector<std::string> resource_ids;
  std::string resource_type;
  std::string status;  // Pending, Approved, Denied, Expired, Revoked
  TimePoint created;
  TimePoint expires;  // Pending: created + 4 days; Approved: decision + duration
  Duration duration{};
  std::string support_request;
  std::string decided_by;
  std::string reason;
  std::optional<TimePoint> decided;
};

// Access an operator holds to one resource under an approved request.
struct LockboxGrant {
  std::string request_id;
  std::string resource_id;
  std::string subscription_id;
  std::string tenant_id;
};

// One recorded access (the LockboxAccess table).
struct LockboxAccess {
  TimePoint time;
  std::string operator_id;
  std::string operator_app_id;
  std::string request_id;
  std::string resource_id;
  std::string operation;
  std::string query;
  int64_t rows = 0;
};

struct LockboxOptions {
  Duration pending_expiry = std::chrono::hours(96);  // unanswered requests expire (Azure: 4 days)
  Duration default_duration = std::chrono::hours(8);  // a grant's length when none is asked
  Duration min_duration = std::chrono::minutes(1);
  Duration max_duration = std::chrono::hours(24 * 7);
  std::string admin_object_id;  // the first-start admin: always an operator
  // Resolves a workspace named by resource id or customer id to its resource id; NotFound when
  // unknown. Unset: only resource ids of existing subscriptions are accepted.
  std::function<Result<std::string>(const std::string&)> resolve_workspace;
  // Resolves a storage account named by resource id or name to its resource id; NotFound when
  // unknown. Unset: storage account resource ids are taken as given.
  std::function<Result<std::string>(const std::string&)> resolve_storage_account;
  // A vault's resource id by name ("" when unknown): gates the admin audit endpoint of vaults.
  std::function<std::string(const std::string&)> resolve_vault;
};

// A request's ARM id (/subscriptions/{s}/providers/Microsoft.CustomerLockbox/requests/{id}) and
// a duration as the API's `duration` string (hours: "8", "0.5").
std::string LockboxRequestArmId(const LockboxRequest& q);
std::string LockboxHours(Duration d);
// Whether `id` names a storage account (…/providers/Microsoft.Storage/storageAccounts/{a}).
bool IsStorageAccountId(std::string_view id);

class Lockbox {
 public:
  static Result<std::unique_ptr<Lockbox>> Create(env::Env env, meta::MetadataStore* store, identity::Rbac* rbac,
                                                 ActivityLog* activity, LockboxOptions options);
  ~Lockbox();

  bool IsOperator(std::string_view object_id) const;
  Status SetOperator(const std::string& object_id, bool on);
  std::vector<std::string> Operators() const;

  bool OptedIn(std::string_view tenant_id) const;
  // Enables or disables Lockbox for the caller's tenant. PermissionDenied unless the caller is a
  // tenant administrator (Owner at the root or of a subscription of the tenant) and no operator.
  Status SetOptIn(const identity::Principal& caller, bool on);

  // An operator asks for `resources` (workspaces and storage accounts by resource id, one
  // subscription) for `duration` (0: default).
  // Errors: PermissionDenied (not an operator), InvalidArgument, NotFound (unknown resource),
  // FailedPrecondition/LockboxNotEnabled (the tenant has no Lockbox: no request is needed).
  Result<LockboxRequest> Open(const identity::Principal& op, const std::vector<std::string>& resources,
                              const std::string& reason, Duration duration, const std::string& support_request);
  // Approve, Deny (a Pending request) or Revoke (Deny or Revoke of an Approved one).
  // PermissionDenied for anyone but an approver; Conflict (LockboxRequestNotPending) otherwise.
  Result<LockboxRequest> Decide(const identity::Principal& approver, const std::string& subscription_id,
                                const std::string& id, std::string_view decision, const std::string& reason);
  Result<std::optional<LockboxRequest>> Get(const std::string& subscription_id, const std::string& id) const;
  Result<std::vector<LockboxRequest>> List(const std::string& subscription_id) const;

  // The gate on customer data: nullopt when `caller` needs no grant (not an operator, or the
  // resource's tenant has no Lockbox); the grant when an approved, unexpired request covers the
  // resource; PermissionDenied (CustomerLockboxAccessDenied, naming Lockbox) otherwise.
  Result<std::optional<LockboxGrant>> CheckAccess(const identity::Principal& caller,
                                                  const std::string& resource_id) const;
  // Whether the resource's tenant has Lockbox enabled.
  bool Covers(const std::string& resource_id) const;
  // Records an access under `grant` (LockboxAccess and the activity log). The query text is kept
  // up to 16 KiB.
  void RecordAccess(const identity::Principal& op, const LockboxGrant& grant, const std::string& operation,
                    const std::string& query, int64_t rows);
  Result<std::vector<LockboxAccess>> Accesses(const std::string& resource_id) const;

  // Expires what is due now (also run by the clock's timers).
  void Sweep();

  // ArmService routes: Microsoft.CustomerLockbox (tenant and subscription level) and the admin
  // endpoints /cmklogs/admin/lockbox/requests and /cmklogs/admin/operators[/{objectId}].
  std::optional<ArmResponse> Route(const ArmRequest& r);
  // ArmService layer: gates operators' reads of saved searches, shared keys and storage keys, and
  // of a vault's audit (/cmklogs/admin/vaults/{name}/audit), which no request covers.
  ArmResponse GateReads(const ArmRequest& r, const ArmService::Next& next);

 private:
  Lockbox(env::Env env, meta::MetadataStore* store, identity::Rbac* rbac, ActivityLog* activity,
          LockboxOptions options);
  Status Load();
  std::string TenantOf(const std::string& subscription_id) const;
  // A requested resource's id: a workspace or a storage account, through the resolvers.
  Result<std::string> Resolve(const std::string& resource) const;
  bool IsApprover(const identity::Principal& p, const std::string& subscription_id) const;
  bool IsTenantAdmin(const identity::Principal& p) const;
  Status Save(const LockboxRequest& q);
  void Schedule(const LockboxRequest& q);
  void Event(const LockboxRequest& q, const std::string& verb, const std::string& caller,
             const std::string& caller_app, const std::string& description);
  // The request as stored, with a due expiry applied (not persisted).
  LockboxRequest Effective(LockboxRequest q) const;
  ArmResponse TenantRoutes(const ArmRequest& r, const std::vector<std::string>& seg);
  ArmResponse RequestRoutes(const ArmRequest& r, const std::vector<std::string>& seg);
  ArmResponse AdminRoutes(const ArmRequest& r, const std::vector<std::string>& seg);

  env::Env env_;
  meta::MetadataStore* store_;
  identity::Rbac* rbac_;
  ActivityLog* activity_;
  LockboxOptions options_;
  Mutex decide_mu_;  // serializes read-modify-write of requests
  mutable Mutex mu_;
  std::set<std::string> opted_in_ GUARDED_BY(mu_);   // lower-case tenant ids
  std::set<std::string> operators_ GUARDED_BY(mu_);  // lower-case object ids
  mutable std::map<std::string, std::string> tenants_ GUARDED_BY(mu_);  // subscription -> tenant
  std::vector<env::Clock::TimerId> timers_ GUARDED_BY(mu_);
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace cmk::control
