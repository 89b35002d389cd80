#pragma once
// LinkedStorage: what the control plane keeps in a customer's storage account (BYOS): rows of
// a table (saved searches and functions of a workspace linked as `Query`) and blobs (alert rule
// queries of a workspace linked as `Alerts`, workbook content). It writes the same sealed
// documents as TableService and BlobService, so the customer reads them with the Storage SDKs
// (layouts in docs/FORMAT.md), and fails like them while the account's key is revoked (403
// KeyVaultEncryptionKeyNotFound). Row properties are strings (Edm.String).
// Thread safety: safe for concurrent use (writes serialized).
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/json.hpp>

#include "env/env.h"
#include "storage_account/account_registry.h"

namespace cmk::storage_account {

class LinkedStorage {
 public:
  LinkedStorage(env::Env env, AccountRegistry* accounts) : env_(env), accounts_(accounts) {}

  // The account name of an ARM id /subscriptions/.../storageAccounts/{name} that exists in the
  // registry under that id; NotFound otherwise.
  Result<std::string> AccountOf(const std::string& resource_id) const;

  // Table rows: `props` maps property names to strings. The table is created when missing.
  Status UpsertRow(const std::string& account, const std::string& table, const std::string& pk, const std::string& rk,
                   const boost::json::object& props);
  // The rows of partition `pk`, each with PartitionKey, RowKey and its string properties.
  Result<std::vector<boost::json::object>> Rows(const std::string& account, const std::string& table,
                                                const std::string& pk);
  Status DeleteRow(const std::string& account, const std::string& table, const std::string& pk, const std::string& rk);

  // Block blobs (one block); the container is created when missing.
  Status PutBlob(const std::string& account, const std::string& container, const std::string& name,
                 std::span<const uint8_t> data, const std::string& content_type = "application/json");
  // NotFound (BlobNotFound) when there is no such blob.
  Result<std::vector<uint8_t>> GetBlob(const std::string& account, const std::string& container,
                                       const std::string& name);
  Status DeleteBlob(const std::string& account, const std::string& container, const std::string& name);

 private:
  Status EnsureTable(const std::string& account, const std::string& table);
  Status EnsureContainer(const std::string& account, const std::string& container);

  env::Env env_;
  AccountRegistry* accounts_;
  std::mutex mu_;
};

// A Table key from any string: '%', '/', '\', '#', '?' and control characters percent-encoded.
std::string EncodeTableKey(std::string_view s);

}  // namespace cmk::storage_account
