#include "storage_account/linked_storage.h"

#include "base/encoding.h"
#include "base/json.h"
#include "base/time_format.h"
#include "storage_account/doc_layout.h"
#include "storage_account/http_date.h"

namespace cmk::storage_account {
namespace {

namespace bj = boost::json;
std::string Etag(env::Random& random) {
  uint8_t b[8];
  random.Fill(b);
  std::string hex = HexEncode(b);
  for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return "\"0x" + hex.substr(0, 15) + "\"";
}

}  // namespace

std::string EncodeTableKey(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (c < 0x20 || c == 0x7f || c == '%' || c == '/' || c == '\\' || c == '#' || c == '?') {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out.push_back(static_cast<char>(c));
    }
  }
  return out;
}

Result<std::string> LinkedStorage::AccountOf(const std::string& resource_id) const {
  std::string name = resource_id.substr(resource_id.rfind('/') + 1);
  auto owner = accounts_->Owner(name);
  if (!owner || !EqualsIgnoreCase(*owner, resource_id)) {
    return NotFound("The storage account '" + resource_id + "' was not found.", "StorageAccountNotFound");
  }
  return name;
}

Status LinkedStorage::EnsureTable(const std::string& account, const std::string& table) {
  ASSIGN_OR_RETURN(auto doc, accounts_->GetDoc(account, kTableKind, {ToLower(table)}));
  if (doc) return OkStatus();
  bj::object t{{"name", table}, {"created", FormatRfc3339(env_.clock->Now())}};
  return accounts_->PutDoc(account, kTableKind, {ToLower(table)}, json::Serialize(t));
}

Status LinkedStorage::UpsertRow(const std::string& account, const std::string& table, const std::string& pk,
                                const std::string& rk, const bj::object& props) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(EnsureTable(account, table));
  bj::array p;
  for (const auto& kv : props) {
    if (kv.value().is_string()) p.push_back(bj::object{{"n", kv.key()}, {"t", "Edm.String"}, {"v", kv.value()}});
  }
  bj::object e{{"pk", pk}, {"rk", rk}, {"ts", FormatRfc3339(env_.clock->Now(), 7)}, {"p", std::move(p)}};
  return accounts_->PutDoc(account, kEntityKind, {ToLower(table), pk + kKeySep + rk}, json::Serialize(e));
}

Result<std::vector<bj::object>> LinkedStorage::Rows(const std::string& account, const std::string& table,
                                                    const std::string& pk) {
  ASSIGN_OR_RETURN(auto t, accounts_->GetDoc(account, kTableKind, {ToLower(table)}));
  std::vector<bj::object> out;
  if (!t) return out;
  ASSIGN_OR_RETURN(auto docs, accounts_->ListDocs(account, kEntityKind, {ToLower(table)}));
  for (const auto& d : docs) {
    ASSIGN_OR_RETURN(bj::object e, json::ParseObject(d));
    if (DocStr(e, "pk") != pk) continue;
    bj::object row{{"PartitionKey", DocStr(e, "pk")}, {"RowKey", DocStr(e, "rk")}};
    const bj::value* p = e.if_contains("p");
    if (p && p->is_array()) {
      for (const auto& v : p->as_array()) {
        if (v.is_object() && v.as_object().contains("v")) row[DocStr(v.as_object(), "n")] = v.as_object().at("v");
      }
    }
    out.push_back(std::move(row));
  }
  return out;
}

Status LinkedStorage::DeleteRow(const std::string& account, const std::string& table, const std::string& pk,
                                const std::string& rk) {
  std::lock_guard<std::mutex> l(mu_);
  return accounts_->DeleteDoc(account, kEntityKind, {ToLower(table), pk + kKeySep + rk});
}

Status LinkedStorage::EnsureContainer(const std::string& account, const std::string& container) {
  ASSIGN_OR_RETURN(auto doc, accounts_->GetDoc(account, kContainerKind, {container}));
  if (doc) return OkStatus();
  bj::object c{{"name", container}, {"etag", Etag(*env_.random)}, {"lastModified", FormatHttpDate(env_.clock->Now())},
               {"metadata", bj::object()}};
  return accounts_->PutDoc(account, kContainerKind, {container}, json::Serialize(c));
}

Status LinkedStorage::PutBlob(const std::string& account, const std::string& container, const std::string& name,
                              std::span<const uint8_t> data, const std::string& content_type) {
  std::lock_guard<std::mutex> l(mu_);
  RETURN_IF_ERROR(EnsureContainer(account, container));
  ASSIGN_OR_RETURN(auto old, accounts_->GetDoc(account, kBlobKind, {container, name}));
  ASSIGN_OR_RETURN(std::string object, accounts_->PutData(account, data));
  std::string lm = FormatHttpDate(env_.clock->Now());
  bj::object doc{{"name", name}, {"size", data.size()}, {"etag", Etag(*env_.random)}, {"lastModified", lm},
                 {"created", lm}, {"contentType", content_type}, {"contentMD5", ""}, {"metadata", bj::object()},
                 {"blocks", bj::array{bj::object{{"id", ""}, {"object", object}, {"size", data.size()}}}}};
  RETURN_IF_ERROR(accounts_->PutDoc(account, kBlobKind, {container, name}, json::Serialize(doc)));
  if (old) {
    auto o = json::ParseObject(*old);
    if (o.ok() && o->contains("blocks") && (*o)["blocks"].is_array()) {
      for (const auto& b : (*o)["blocks"].as_array()) {
        if (b.is_object()) accounts_->DeleteData(account, DocStr(b.as_object(), "object")).IgnoreError();
      }
    }
  }
  return OkStatus();
}

Result<std::vector<uint8_t>> LinkedStorage::GetBlob(const std::string& account, const std::string& container,
                                                    const std::string& name) {
  ASSIGN_OR_RETURN(auto doc, accounts_->GetDoc(account, kBlobKind, {container, name}));
  if (!doc) return NotFound("The specified blob does not exist.", "BlobNotFound");
  ASSIGN_OR_RETURN(bj::object o, json::ParseObject(*doc));
  std::vector<uint8_t> out;
  const bj::value* blocks = o.if_contains("blocks");
  if (blocks == nullptr || !blocks->is_array()) return DataLoss("blob document without blocks");
  for (const auto& b : blocks->as_array()) {
    if (!b.is_object()) return DataLoss("bad blob block");
    ASSIGN_OR_RETURN(auto data, accounts_->GetData(account, DocStr(b.as_object(), "object")));
    out.insert(out.end(), data.begin(), data.end());
  }
  return out;
}

Status LinkedStorage::DeleteBlob(const std::string& account, const std::string& container, const std::string& name) {
  std::lock_guard<std::mutex> l(mu_);
  ASSIGN_OR_RETURN(auto doc, accounts_->GetDoc(account, kBlobKind, {container, name}));
  if (!doc) return OkStatus();
  ASSIGN_OR_RETURN(bj::object o, json::ParseObject(*doc));
  if (o.contains("blocks") && o["blocks"].is_array()) {
    for (const auto& b : o["blocks"].as_array()) {
      if (b.is_object()) accounts_->DeleteData(account, DocStr(b.as_object(), "object")).IgnoreError();
    }
  }
  return accounts_->DeleteDoc(account, kBlobKind, {container, name});
}

}  // namespace cmk::storage_account
