#pragma once
// StorageProvider: Microsoft.Storage/storageAccounts (azure-api-2.md §19): create (answered
// 200 with the finished account), get, list, update (PATCH, 200), delete, listKeys,
// regenerateKey and checkNameAvailability, with Azure's name rules (3-24 lower-case letters and
// digits, unique across the instance) and errors. The account's key configuration (keySource
// Microsoft.Storage or Microsoft.Keyvault through a user- or system-assigned identity) is
// applied to the data planes' storage_account::AccountRegistry, which refuses a customer key
// the identity can't use (400 KeyVaultAuthenticationFailure).
// Thread safety: safe for concurrent use (one mutex; control-plane rates).

#include <boost/json.hpp>
#include <mutex>
#include <string>
#include <vector>

#include "control/arm_types.h"
#include "env/env.h"
#include "identity/directory.h"
#include "identity/rbac.h"
#include "meta/metadata_store.h"
#include "storage_account/account_registry.h"

namespace cmk::control {

struct StorageProviderOptions {
  std::string domain = "localhost";  // endpoints are https://<account>.blob.<domain>:<port>/
  uint16_t port = 8443;
};

class StorageProvider {
 public:
  StorageProvider(env::Env env, meta::MetadataStore* store, identity::Directory* directory, identity::Rbac* rbac,
                  storage_account::AccountRegistry* accounts, StorageProviderOptions options);

  // /subscriptions/{s}[/resourceGroups/{rg}]/providers/Microsoft.Storage/{rest...}
  ArmResponse Handle(const ArmRequest& r, const std::string& sub, const std::string* rg,
                     const std::vector<std::string>& rest);

 private:
  ArmResponse CheckName(const ArmRequest& r, const std::string& sub);
  ArmResponse List(const ArmRequest& r, const std::string& scope);
  ArmResponse Put(const ArmRequest& r, const std::string& sub, const std::string& rg, const std::string& name);
  ArmResponse Patch(const ArmRequest& r, const std::string& id, boost::json::object doc);
  ArmResponse Delete(const ArmRequest& r, const std::string& id, const std::string& name);
  ArmResponse Keys(const ArmRequest& r, const std::string& id, const std::string& name, bool regenerate);
  // Applies `props` (create or update properties) and `identity` to `doc`, then the key
  // configuration to the registry; `doc` is saved by the caller only when this succeeds.
  Status Apply(const ArmRequest& r, boost::json::object& doc, const boost::json::object& body, bool create);
  Result<boost::json::object> ResolveIdentity(const ArmRequest& r, const boost::json::value& identity,
                                              const boost::json::object* existing, const std::string& name);
  Status ApplyEncryption(const ArmRequest& r, boost::json::object& doc, const boost::json::object& enc, bool create);
  Status Configure(const boost::json::object& doc);
  boost::json::object Public(boost::json::object doc) const;
  std::string Endpoint(const std::string& name, std::string_view service) const;
  Status DropStale(const std::string& name);

  env::Env env_;
  meta::MetadataStore* store_;
  identity::Directory* directory_;
  identity::Rbac* rbac_;
  storage_account::AccountRegistry* accounts_;
  StorageProviderOptions options_;
  std::mutex mu_;  // one writer at a time: name uniqueness is check-then-create
};

}  // namespace cmk::control
