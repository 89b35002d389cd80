#pragma once
// WorkbooksProvider: Microsoft.Insights/workbooks (azure-api-2.md §25; api-version 2022-04-01
// as azure-mgmt-applicationinsights 3.1.0 sends it, and 2023-06-01): create or update (200/201),
// get (canFetchContent), list by subscription and group (category required, tags, sourceId),
// update (PATCH, 201 as the Python SDK wants), delete. With `storageUri` (the ARM id of a blob
// container of a customer storage account) and a user-assigned identity that holds Storage Blob
// Data Contributor there, `serializedData` is written to the container as the blob
// `<workbook name>.json` (storage_account::LinkedStorage, sealed under the account's key) and
// only the reference stays in the resource; reads fetch it back, and fail with the account's
// error while its key is revoked. Served through ArmService::AddRoutes.
// Thread safety: safe for concurrent use (one mutex; control-plane rates).
#include <mutex>
#include <optional>
#include <string>

#include <boost/json.hpp>

#include "control/arm_types.h"
#include "env/env.h"
#include "identity/rbac.h"
#include "meta/metadata_store.h"
#include "storage_account/linked_storage.h"

namespace cmk::control {

class WorkbooksProvider {
 public:
  WorkbooksProvider(env::Env env, meta::MetadataStore* store, identity::Rbac* rbac,
                    storage_account::LinkedStorage* linked)
      : env_(env), store_(store), rbac_(rbac), linked_(linked) {}

  // The response for a workbooks request, nullopt for any other path.
  std::optional<ArmResponse> Route(const ArmRequest& r);

 private:
  ArmResponse List(const ArmRequest& r, const std::string& scope);
  ArmResponse Put(const ArmRequest& r, const std::string& id, const std::string& name, bool patch);
  ArmResponse Get(const ArmRequest& r, const std::string& id);
  ArmResponse Delete(const ArmRequest& r, const std::string& id);
  // Writes `data` to the workbook's storageUri container after the identity's role check.
  Status WriteContent(const ArmRequest& r, const boost::json::object& doc, const std::string& data);
  // The workbook as returned: serializedData fetched from its container when asked.
  Result<boost::json::object> Public(boost::json::object doc, bool content);

  env::Env env_;
  meta::MetadataStore* store_;
  identity::Rbac* rbac_;
  storage_account::LinkedStorage* linked_;
  std::mutex mu_;
};

}  // namespace cmk::control
