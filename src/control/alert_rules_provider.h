#pragma once
// AlertRulesProvider: the ARM surface of log search alerts (reference/azure-api.md §15,
// azure-api-2.md §22-23), served through ArmService::AddRoutes:
//   Microsoft.Insights/actionGroups          2022-06-01 (Debian's azure-mgmt-monitor, az 2.45),
//                                            2023-01-01 and any other dated version; the
//                                            createNotifications test action and its status
//   Microsoft.Insights/scheduledQueryRules   2018-04-16 (legacy LogSearchRule body, what
//                                            azure-mgmt-monitor 5.0.1 sends), 2020-05-01-preview,
//                                            2021-08-01 .. 2023-12-01
//   Microsoft.AlertsManagement/alerts        2019-05-05-preview: list, get, changestate
//
// A rule is stored as an ARM document (kind "arm") holding the body in the shape of the
// api-version that wrote it, plus (hidden, `x-cmk`) its properties normalized to 2023-12-01,
// the principal its query runs as and its creator. Validation (alerts::ValidateRule) happens
// once, at PUT/PATCH, with the documented errors: the workspace in `scopes` must exist and the
// caller needs read on it (ARM's linked-access check), action groups must exist, the query must
// parse and bind against the workspace's tables (400 naming the position) unless
// skipQueryValidation, and checkWorkspaceAlertsStorageConfigured requires a linked `Alerts`
// storage account. Every change is passed to the AlertSink (the evaluator); Load() replays the
// stored rules and groups at start.
//
// Alert queries in the customer's storage: when the rule's workspace has a linked `Alerts`
// storage account at PUT/PATCH, the query is written (sealed under that account's key) as the
// block blob `alertqueries/{lower-case rule id without its leading '/'}.kql` (text/plain) there,
// and the stored document keeps only that reference (x-cmk `queryBlob`, AlertRule::
// query_location = "{account}/alertqueries/{blob}") with the query blanked. GET and list read the
// query back from the blob; while it cannot be read (the account's key revoked, the blob gone)
// they return the rule with an empty query, so it can still be listed, disabled and deleted,
// and PATCH fails with the storage error. A PUT while the key is revoked fails with it (403
// KeyVaultEncryptionKeyNotFound). DELETE deletes the blob (best effort: a blob sealed under a
// revoked key stays, unreadable). The evaluator reads the blob at each evaluation
// (EvaluatorDeps::load_query = ReadAlertQuery).
// Thread safety: safe for concurrent use (one mutex around each write).
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "alerts/evaluator.h"
#include "base/status.h"
#include "control/arm_types.h"
#include "engine/log_store.h"
#include "env/env.h"
#include "identity/directory.h"
#include "identity/rbac.h"
#include "meta/metadata_store.h"
#include "storage_account/linked_storage.h"

namespace cmk::control {

struct AlertRulesDeps {
  env::Env env;
  meta::MetadataStore* store = nullptr;
  identity::Directory* directory = nullptr;  // null: SystemAssigned identities are refused
  identity::Rbac* rbac = nullptr;
  const engine::Topology* workspaces = nullptr;
  // Parses and binds `query` against the workspace's tables: InvalidArgument with the engine's
  // "SyntaxError"/"SemanticError" and the position, or OK. Empty: syntax is not checked.
  std::function<Status(const engine::WorkspaceInfo&, const std::string& query)> validate_query;
  alerts::AlertSink* sink = nullptr;  // may be null (tests of the ARM surface)
  alerts::Notifier* notifier = nullptr;  // delivers createNotifications' test alerts; may be null
  // The account name of the workspace's linked `Alerts` storage account (nullopt: none), and
  // the blobs there. Either unset: queries stay in the metadata.
  std::function<Result<std::optional<std::string>>(const std::string& workspace_id)> alerts_account;
  storage_account::LinkedStorage* linked = nullptr;
};

// The text of a query kept at `location` ("{account}/{container}/{blob}"); the blob store's
// errors (NotFound BlobNotFound, 403 KeyVaultEncryptionKeyNotFound while the key is revoked).
Result<std::string> ReadAlertQuery(storage_account::LinkedStorage& linked, const std::string& location);

class AlertRulesProvider {
 public:
  explicit AlertRulesProvider(AlertRulesDeps deps) : d_(std::move(deps)) {}

  // Hands every stored rule and action group to the sink.
  Status Load();

  // The ArmService route: answers requests for the resource types above, nullopt for others.
  std::optional<ArmResponse> Route(const ArmRequest& r);

 private:
  struct Kind;
  ArmResponse Insights(const ArmRequest& r, const std::string& sub, const std::string* rg,
                       const std::vector<std::string>& rest);
  ArmResponse Alerts(const ArmRequest& r, const std::string& sub, const std::vector<std::string>& rest);
  ArmResponse ListAlerts(const ArmRequest& r, const std::string& scope);
  ArmResponse TestNotifications(const ArmRequest& r, const std::string& group_id, const std::string* notification_id);
  ArmResponse List(const ArmRequest& r, const Kind& k, const std::string& sub, const std::string* rg);
  ArmResponse Resource(const ArmRequest& r, const Kind& k, const std::string& id, const std::string& name);
  ArmResponse PutRule(const ArmRequest& r, const std::string& id, const std::string& name,
                      std::optional<boost::json::object> existing, const boost::json::object& body);
  ArmResponse PutGroup(const ArmRequest& r, const std::string& id, const std::string& name,
                       std::optional<boost::json::object> existing, const boost::json::object& body);
  // The 2023-12-01 properties of a rule body in the request's api-version, validated against
  // the workspace, action groups and query. Fills `rule`.
  Result<boost::json::object> CheckRule(const ArmRequest& r, const std::string& id, const std::string& location,
                                        const boost::json::object& props, bool legacy, alerts::AlertRule& rule);
  Result<boost::json::value> ResolveIdentity(const ArmRequest& r, const boost::json::value* in,
                                             const boost::json::value* existing, const std::string& name);
  Result<std::optional<boost::json::object>> LoadDoc(const std::string& kind, const std::string& id) const;
  Result<alerts::AlertRule> RuleOf(const boost::json::object& doc) const;
  // With a linked Alerts account: writes the rule's query there, blanks it in `doc` (properties
  // and x-cmk v2), records the blob in x-cmk and in rule.query_location.
  Status StoreQuery(boost::json::object& doc, alerts::AlertRule& rule);
  // The document as ARM returns it, its query read back from storage: the read's error, or (Shown)
  // the query left empty.
  Result<boost::json::object> WithQuery(boost::json::object doc) const;
  boost::json::object Shown(boost::json::object doc) const;
  void DeleteQueryBlob(const std::string& location);

  AlertRulesDeps d_;
  std::mutex mu_;  // serializes writes (read-check-write of one document)
};

}  // namespace cmk::control
