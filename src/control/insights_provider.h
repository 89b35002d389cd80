#pragma once
// InsightsProvider: Microsoft.Insights/dataCollectionEndpoints and dataCollectionRules (ARM,
// api-versions 2021-04-01 .. 2024-03-11, none of them long-running), and the lookup the Logs
// Ingestion front end uses to find a rule by its immutableId.
//
// Resources are documents of kind "arm" in the metadata store keyed by their resource id (the
// store compares ids case-insensitively). A rule is validated against what the
// OperationalInsights provider stores: its destination workspaces must exist (their customerId
// becomes `workspaceId`) and a `Custom-<Name>_CL` output stream needs the custom table
// `<Name>_CL` in each destination workspace. Transform queries are checked for KQL syntax only.
//
// Endpoints are derived, not stored: every host is one label under `.ingest.<domain>` (the
// server certificate's wildcard, and what the router sends to the ingestion front end), built
// from the management base URL of the request, so a restart on another port stays correct.
//   DCE:             https://<dce-name-lowercase>-<4 hex>.ingest.<domain>[:port]
//   DCR kind Direct: https://<dcr-immutable-id-lowercase>.ingest.<domain>[:port]
//
// Thread safety: safe for concurrent use (one mutex; control-plane rates). The lookup methods
// take the same mutex briefly and return copies.

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "control/arm_types.h"
#include "env/env.h"
#include "identity/directory.h"
#include "identity/rbac.h"
#include "meta/metadata_store.h"

namespace cmk::control {

// A column of a stream declaration; `type` is canonical lower case: string, int, long, real,
// boolean, datetime or dynamic.
struct DcrColumn {
  std::string name, type;
};

struct DcrFlow {
  std::vector<std::string> streams;       // declared `Custom-*` or known `Microsoft-*` streams
  std::vector<std::string> destinations;  // names of DcrDestination
  std::string transform_kql;              // "source" when the rule gave none
  // `Custom-<Name>_CL` or `Microsoft-<Table>` (canonical table spelling). When the rule gave
  // none this is the flow's single input stream; empty when it gave none and the flow has
  // several input streams (then each stream goes to its own table).
  std::string output_stream;
};

struct DcrDestination {
  std::string name;
  std::string workspace_resource_id;  // as stored by the OperationalInsights provider
  std::string workspace_id;           // the workspace's customerId
};

struct DataCollectionRule {
  std::string resource_id, immutable_id, location;
  std::string kind;                        // "", Direct, Linux, Windows, ...
  std::string data_collection_endpoint_id;  // "" when the rule names no DCE
  std::map<std::string, std::vector<DcrColumn>> streams;  // declared streams by name
  std::vector<DcrDestination> destinations;
  std::vector<DcrFlow> flows;
};

struct InsightsOptions {
  // Items per page of a list before a nextLink (ARM pages lists; DCR lists declare nextLink).
  size_t page_size = 100;
};

class InsightsProvider {
 public:
  // `directory` may be null: SystemAssigned identities are then refused.
  InsightsProvider(env::Env env, meta::MetadataStore* store, identity::Directory* directory,
                   identity::Rbac* rbac, InsightsOptions options = {});

  // Rebuilds the in-memory indexes (immutableId -> rule, host label -> DCE) from the store.
  Status Load();

  // /subscriptions/{s}[/resourceGroups/{rg}]/providers/Microsoft.Insights/{rest...}.
  // REQUIRES: the subscription (and resource group) exist; api-version is present.
  ArmResponse Handle(const ArmRequest& r, const std::string& sub, const std::string* rg,
                     const std::vector<std::string>& rest);

  // The rule whose immutableId is `immutable_id` (case-insensitive); NotFound (error code
  // "NotFound") when there is none. Destinations reflect the workspaces at the rule's last PUT;
  // a workspace or table deleted since is the caller's to notice.
  Result<DataCollectionRule> FindRuleByImmutableId(std::string_view immutable_id) const;

  // The resource id of the DCE whose logsIngestion host is `<label>.ingest.<domain>`
  // (case-insensitive); NotFound when there is none. (The host label of a Direct rule's own
  // endpoint is its immutableId: look it up with FindRuleByImmutableId.)
  Result<std::string> FindEndpointByHostLabel(std::string_view label) const;

 private:
  using Lock = std::unique_lock<std::mutex>;
  struct Type;

  ArmResponse List(const ArmRequest& r, const Type& t, const std::string& prefix,
                   const std::string& scope);
  ArmResponse Resource(const ArmRequest& r, const Type& t, const std::string& id,
                       const std::string& name);
  ArmResponse Put(const ArmRequest& r, const Type& t, const std::string& id, const std::string& name,
                  std::optional<boost::json::object> existing);
  ArmResponse Patch(const ArmRequest& r, boost::json::object doc);
  // Validates the properties of a DCR body `in` and fills the stored properties `out`
  // (streamDeclarations, destinations with workspaceId, dataFlows). Refusals are
  // InvalidArgument "InvalidPayload" with the specific code as inner code. REQUIRES: mu_ held.
  Status BuildRuleProperties(const ArmRequest& r, const std::string& location,
                             const boost::json::object& in, boost::json::object& out);
  Status BuildDestinations(const ArmRequest& r, const boost::json::object& in,
                           boost::json::object& out);
  Status CheckFlowOutputs(std::vector<std::string>& outputs,
                          const std::vector<const boost::json::object*>& targets,
                          const std::string& where);
  Status BuildFlows(const boost::json::object& in, const boost::json::object& props,
                    boost::json::array& out);
  Result<boost::json::value> ResolveIdentity(const ArmRequest& r, const boost::json::value* in,
                                             const boost::json::value* existing,
                                             const std::string& name);
  Result<std::optional<boost::json::object>> LoadDoc(const std::string& id) const;
  boost::json::object Public(const ArmRequest& r, boost::json::object doc) const;
  std::string NewImmutableId(std::string_view prefix);

  env::Env env_;
  meta::MetadataStore* store_;
  identity::Directory* directory_;
  identity::Rbac* rbac_;
  InsightsOptions options_;
  mutable std::mutex mu_;
  // Guarded by mu_: lower-case immutableId -> rule; lower-case host label -> DCE resource id.
  std::map<std::string, DataCollectionRule> rules_;
  std::map<std::string, std::string> endpoint_labels_;
};

// Parses a stored DCR document into the lookup form (exposed for tests).
Result<DataCollectionRule> RuleFromDocument(const boost::json::object& doc);

}  // namespace cmk::control
