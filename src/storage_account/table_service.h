#pragma once
// TableService: the Table data plane of customers' storage accounts at <account>.table.D
// (azure-api-2.md §21): tables (create, delete, query), entities (insert, update and merge with
// If-Match, upsert replace/merge without it, delete, point get, query with the $filter subset
// of odata_filter.h, $select, $top and NextPartitionKey/NextRowKey continuation), ETags
// W/"datetime'...'" from each entity's Timestamp, Table's JSON errors. Authentication and
// authorization by StorageAuth (SharedKey, SharedKeyLite, Entra tokens with the Storage Table
// Data roles); entities are sealed under the account's AEK like everything in the account, so a
// revoked customer key fails every operation with 403 KeyVaultEncryptionKeyNotFound.
// Limits: entity bodies at most 1 MiB, 252 properties besides the keys, keys at most 1 KiB
// without / \ # ? or control characters, string values at most 64 KiB, $top at most 1,000,
// 100,000 entities per table (ours: a query reads the whole table). Thread safety: safe for
// concurrent use (writes serialized).
#include <mutex>
#include <string>

#include <boost/json.hpp>

#include "env/env.h"
#include "storage_account/account_registry.h"
#include "storage_account/storage_auth.h"
#include "storage_account/storage_request.h"

namespace cmk::storage_account {

class TableService {
 public:
  // `external_suffix`: ".table.D:PORT" for odata.metadata URLs.
  TableService(env::Env env, AccountRegistry* accounts, const StorageAuth* auth, std::string external_suffix)
      : env_(env), accounts_(accounts), auth_(auth), suffix_(std::move(external_suffix)) {}

  void Handle(const StorageRequest& r, StorageResponse& res);

 private:
  struct Ctx;
  Status Dispatch(Ctx& c);
  Status Tables(Ctx& c, const std::string* name);
  Status CreateTable(Ctx& c);
  Status QueryTables(Ctx& c);
  Status QueryEntities(Ctx& c, const std::string& table);
  Status Insert(Ctx& c, const std::string& table);
  Status Entity(Ctx& c, const std::string& table, const std::string& pk, const std::string& rk);
  Status Write(Ctx& c, const std::string& table, const std::string& pk, const std::string& rk, bool merge);
  Status RequireTable(Ctx& c, const std::string& table, std::string* canonical = nullptr);
  Result<boost::json::object> StoreEntity(Ctx& c, const std::string& table, const std::string& pk,
                                          const std::string& rk, boost::json::object entity,
                                          const std::optional<boost::json::object>& old);
  void Error(const StorageRequest& r, StorageResponse& res, const Status& s, const AccountSpec* spec);
  std::string Base(const StorageRequest& r) const;

  env::Env env_;
  AccountRegistry* accounts_;
  const StorageAuth* auth_;
  std::string suffix_;
  std::mutex write_mu_;
};

}  // namespace cmk::storage_account
