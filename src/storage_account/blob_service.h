#pragma once
// BlobService: the Blob data plane of customers' storage accounts at <account>.blob.D
// (azure-api-2.md §20): containers (create, delete, properties, list), block blobs (Put Blob,
// Put Block, Put Block List, Get Blob with x-ms-range / Range, properties, metadata, List Blobs
// with prefix, maxresults and markers, Delete Blob), Storage's XML errors with x-ms-error-code.
// Every request is authenticated and authorized by StorageAuth; everything stored goes through
// the AccountRegistry sealed under the account's AEK, so while its customer key is revoked every
// operation answers 403 KeyVaultEncryptionKeyNotFound.
// Limits (ours, bounded inputs): a request body at most the server's body limit, a blob at most
// kMaxBlobBytes, 50,000 committed blocks and 100,000 uncommitted blocks per blob, block ids of
// at most 64 bytes, 50,000 blobs per container listed per request at most 5,000, metadata at
// most 8 KiB. Thread safety: safe for concurrent use (writes to one blob are serialized).
#include <boost/json.hpp>
#include <memory>
#include <mutex>
#include <string>

#include "env/env.h"
#include "storage_account/account_registry.h"
#include "storage_account/storage_auth.h"
#include "storage_account/storage_request.h"

namespace cmk::storage_account {

inline constexpr size_t kMaxBlobBytes = 512ull << 20;

class BlobService {
 public:
  // `external_suffix`: ".blob.D:PORT" for the ServiceEndpoint of listings.
  BlobService(env::Env env, AccountRegistry* accounts, const StorageAuth* auth, std::string external_suffix)
      : env_(env), accounts_(accounts), auth_(auth), suffix_(std::move(external_suffix)) {}

  void Handle(const StorageRequest& r, StorageResponse& res);

 private:
  struct Ctx;
  Status Dispatch(Ctx& c);
  Status ListContainers(Ctx& c);
  Status Container(Ctx& c, const std::string& container);
  Status ListBlobs(Ctx& c, const std::string& container);
  Status Blob(Ctx& c, const std::string& container, const std::string& blob);
  Status PutBlob(Ctx& c, const std::string& container, const std::string& blob);
  Status PutBlock(Ctx& c, const std::string& container, const std::string& blob);
  Status PutBlockList(Ctx& c, const std::string& container, const std::string& blob);
  Status GetBlob(Ctx& c, const std::string& container, const std::string& blob, bool head);
  Status SetMetadata(Ctx& c, const std::string& container, const std::string& blob);
  Status DeleteBlob(Ctx& c, const std::string& container, const std::string& blob);
  Status RequireContainer(Ctx& c, const std::string& container);
  Status Commit(Ctx& c, const std::string& container, const std::string& blob, boost::json::array blocks,
                uint64_t size);
  void Error(const StorageRequest& r, StorageResponse& res, const Status& s, const AccountSpec* spec);
  std::string NewEtag();

  env::Env env_;
  AccountRegistry* accounts_;
  const StorageAuth* auth_;
  std::string suffix_;
  std::mutex write_mu_;  // one blob write (read-modify-write of its documents) at a time
};

// XML text escaping for element content and attribute values.
std::string XmlEscape(std::string_view s);

}  // namespace cmk::storage_account
