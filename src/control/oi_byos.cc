// Workspaces' saved searches in a linked `Query` storage account (issue 15, docs/FORMAT.md
// "Customer storage accounts"): each saved search is a row of the account's
// WorkspaceSavedSearches table, PartitionKey = the workspace's customer id, RowKey = the saved
// search id (EncodeTableKey), with readable columns and the whole ARM document in `Document`.
// Linking moves the metadata store's saved searches there; unlinking moves them back.
#include "base/json.h"
#include "control/arm_util.h"
#include "control/oi_provider.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
constexpr char kTable[] = "WorkspaceSavedSearches";

std::string Text(const bj::value* v) {
  if (v == nullptr || v->is_null()) return "";
  return v->is_string() ? std::string(v->as_string()) : json::Serialize(*v);
}

// A storage failure said in the workspace's terms (the code stays: KeyVaultEncryptionKeyNotFound
// while the account's key is revoked).
Status InStorage(const Status& s, const std::string& account) {
  if (s.ok()) return s;
  return Status(s.code(),
                "The saved searches and functions of this workspace are kept in its linked storage account '" +
                    account + "', which cannot be used now: " + s.message(),
                s.error_code());
}

}  // namespace

Result<std::optional<std::string>> OperationalInsightsProvider::LinkedAccount(const std::string& ws_id,
                                                                              const std::string& type) const {
  ASSIGN_OR_RETURN(auto link, LoadDoc(ws_id + "/linkedStorageAccounts/" + type));
  if (!link || linked_ == nullptr) return std::optional<std::string>();
  const bj::value* ids = json::FindCI(Props(*link), "storageAccountIds");
  if (ids == nullptr || !ids->is_array() || ids->as_array().empty() || !ids->as_array()[0].is_string()) {
    return std::optional<std::string>();
  }
  ASSIGN_OR_RETURN(std::string account, linked_->AccountOf(std::string(ids->as_array()[0].as_string())));
  return std::optional<std::string>(std::move(account));
}

Result<std::vector<bj::object>> OperationalInsightsProvider::LinkedSearches(const std::string& account,
                                                                            const std::string& ws_id) const {
  ASSIGN_OR_RETURN(auto ws, LoadDoc(ws_id));
  if (!ws) return NotFound("The workspace was not found.", "ResourceNotFound");
  auto rows = linked_->Rows(account, kTable, Str(Props(*ws), "customerId"));
  if (!rows.ok()) return InStorage(rows.status(), account);
  std::vector<bj::object> out;
  for (const auto& row : *rows) {
    auto doc = json::ParseObject(Str(row, "Document"));
    if (doc.ok()) out.push_back(std::move(*doc));
  }
  return out;
}

Result<std::optional<bj::object>> OperationalInsightsProvider::FindLinkedSearch(const std::string& account,
                                                                               const std::string& ws_id,
                                                                               const std::string& name) const {
  ASSIGN_OR_RETURN(auto all, LinkedSearches(account, ws_id));
  for (auto& o : all) {
    if (Str(o, "name") == name) return std::optional<bj::object>(std::move(o));
  }
  return std::optional<bj::object>();
}

Status OperationalInsightsProvider::PutLinkedSearch(const std::string& account, const std::string& ws_id,
                                                    const bj::object& doc) {
  ASSIGN_OR_RETURN(auto ws, LoadDoc(ws_id));
  if (!ws) return NotFound("The workspace was not found.", "ResourceNotFound");
  const bj::object& p = doc.at("properties").as_object();
  bj::object row{{"Id", Str(doc, "name")},
                 {"DisplayName", Str(p, "displayName")},
                 {"Category", Str(p, "category")},
                 {"Query", Str(p, "query")},
                 {"FunctionAlias", Text(json::FindCI(p, "functionAlias"))},
                 {"FunctionParameters", Text(json::FindCI(p, "functionParameters"))},
                 {"Version", Text(json::FindCI(p, "version"))},
                 {"Tags", Text(json::FindCI(p, "tags"))},
                 {"ETag", Str(doc, "etag")},
                 {"Document", json::Serialize(doc)}};
  std::string pk = Str(Props(*ws), "customerId");
  return InStorage(linked_->UpsertRow(account, kTable, pk, storage_account::EncodeTableKey(Str(doc, "name")), row),
                   account);
}

Status OperationalInsightsProvider::DeleteLinkedSearch(const std::string& account, const std::string& ws_id,
                                                       const std::string& name) {
  ASSIGN_OR_RETURN(auto ws, LoadDoc(ws_id));
  if (!ws) return NotFound("The workspace was not found.", "ResourceNotFound");
  return InStorage(
      linked_->DeleteRow(account, kTable, Str(Props(*ws), "customerId"), storage_account::EncodeTableKey(name)),
      account);
}

// Copies first, then removes the source: an interruption leaves both copies, and reads follow
// the link, so nothing is lost.
Status OperationalInsightsProvider::MoveSearches(const std::string& ws_id, const std::string& account,
                                                 bool to_account) {
  if (to_account) {
    ASSIGN_OR_RETURN(auto docs, store_->List(kArm, ws_id + "/savedSearches/"));
    for (const auto& d : docs) {
      ASSIGN_OR_RETURN(bj::object o, json::ParseObject(d.body));
      RETURN_IF_ERROR(PutLinkedSearch(account, ws_id, o));
    }
    for (const auto& d : docs) RETURN_IF_ERROR(store_->Delete(kArm, d.id).status());
    return OkStatus();
  }
  ASSIGN_OR_RETURN(auto searches, LinkedSearches(account, ws_id));
  for (const auto& o : searches) RETURN_IF_ERROR(SaveDoc(ws_id + "/savedSearches/" + Str(o, "name"), o));
  for (const auto& o : searches) RETURN_IF_ERROR(DeleteLinkedSearch(account, ws_id, Str(o, "name")));
  return OkStatus();
}

}  // namespace cmk::control
