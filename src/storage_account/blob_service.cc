#include "storage_account/blob_service.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "base/encoding.h"
#include "base/json.h"
#include "storage_account/doc_layout.h"
#include "storage_account/http_date.h"

namespace cmk::storage_account {
namespace {

namespace bj = boost::json;
constexpr char kBlockKind[] = "sa-block";
constexpr char kActions[] = "Microsoft.Storage/storageAccounts/blobServices/containers";
constexpr size_t kMaxCommittedBlocks = 50'000;
constexpr size_t kMaxUncommittedBlocks = 100'000;
constexpr size_t kMaxBlockIdBytes = 64;
constexpr size_t kMaxListResults = 5'000;
constexpr size_t kMaxMetadataBytes = 8 * 1024;
constexpr size_t kMaxBlockListBody = 8u << 20;

// Azure's rules: 3-63 lower-case letters, digits and single hyphens, starting and ending with a
// letter or digit.
bool ValidContainerName(std::string_view n) {
  if (n.size() < 3 || n.size() > 63 || n.front() == '-' || n.back() == '-') return false;
  for (size_t i = 0; i < n.size(); ++i) {
    char c = n[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok || (c == '-' && n[i - 1] == '-')) return false;
  }
  return true;
}

// The x-ms-meta-* headers of a request, names as sent after the prefix.
Result<bj::object> MetadataOf(const StorageRequest& r) {
  bj::object m;
  size_t bytes = 0;
  for (const auto& [k, v] : r.headers) {
    if (k.size() <= 10 || !EqualsIgnoreCase(std::string_view(k).substr(0, 10), "x-ms-meta-")) continue;
    bytes += k.size() + v.size();
    if (bytes > kMaxMetadataBytes) return StorageError(400, "MetadataTooLarge", "The size of the specified metadata exceeds the maximum size permitted.");
    m[ToLower(std::string_view(k).substr(10))] = v;
  }
  return m;
}

void SetMetadataHeaders(StorageResponse& res, const bj::object& doc) {
  if (const bj::value* m = doc.if_contains("metadata"); m && m->is_object()) {
    for (const auto& kv : m->as_object()) {
      if (kv.value().is_string()) res.Set("x-ms-meta-" + std::string(kv.key()), std::string(kv.value().as_string()));
    }
  }
}

uint64_t U(const bj::object& o, std::string_view k) {
  const bj::value* v = o.if_contains(k);
  if (v && v->is_uint64()) return v->as_uint64();
  if (v && v->is_int64() && v->as_int64() >= 0) return static_cast<uint64_t>(v->as_int64());
  return 0;
}

// `bytes=a-b` / `bytes=a-` of x-ms-range (or Range) against `size`: the inclusive range, or
// nullopt for none; 416 InvalidRange when it starts past the end.
Result<std::optional<std::pair<uint64_t, uint64_t>>> ParseRange(std::string_view h, uint64_t size) {
  using R = std::optional<std::pair<uint64_t, uint64_t>>;
  if (h.empty()) return R();
  if (h.rfind("bytes=", 0) != 0 || h.size() > 64) return StorageError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.");
  std::string_view spec = h.substr(6);
  size_t dash = spec.find('-');
  uint64_t a = 0, b = UINT64_MAX;
  auto num = [](std::string_view s, uint64_t& out) {
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && p == s.data() + s.size();
  };
  if (dash == std::string_view::npos || !num(spec.substr(0, dash), a) ||
      (dash + 1 < spec.size() && !num(spec.substr(dash + 1), b)) || b < a) {
    return StorageError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.");
  }
  if (a >= size) return StorageError(416, "InvalidRange", "The range specified is invalid for the current size of the resource.");
  return R(std::make_pair(a, std::min(b, size - 1)));
}

// The ids of a Put Block List body: <Latest>, <Committed>, <Uncommitted> elements in order.
Result<std::vector<std::pair<std::string, std::string>>> ParseBlockList(std::string_view body) {
  std::vector<std::pair<std::string, std::string>> out;
  size_t at = body.find("<BlockList>");
  if (body.size() > kMaxBlockListBody || at == std::string_view::npos) {
    return StorageError(400, "InvalidXmlDocument", "XML specified is not syntactically valid.");
  }
  for (at += 11;;) {
    size_t open = body.find('<', at);
    if (open == std::string_view::npos) break;
    size_t close = body.find('>', open);
    if (close == std::string_view::npos) break;
    std::string_view tag = body.substr(open + 1, close - open - 1);
    if (tag == "/BlockList") return out;
    if (tag != "Latest" && tag != "Committed" && tag != "Uncommitted") {
      return StorageError(400, "InvalidXmlDocument", "XML specified is not syntactically valid.");
    }
    std::string end = "</" + std::string(tag) + ">";
    size_t stop = body.find(end, close);
    if (stop == std::string_view::npos) return StorageError(400, "InvalidXmlDocument", "XML specified is not syntactically valid.");
    out.emplace_back(std::string(tag), std::string(body.substr(close + 1, stop - close - 1)));
    if (out.size() > kMaxCommittedBlocks) return StorageError(400, "InvalidBlockList", "The specified block list is invalid.");
    at = stop + end.size();
  }
  return StorageError(400, "InvalidXmlDocument", "XML specified is not syntactically valid.");
}

Result<bj::object> ParseDoc(const std::string& text) { return json::ParseObject(text); }

}  // namespace

std::string XmlEscape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out.push_back(c);
    }
  }
  return out;
}

struct BlobService::Ctx {
  const StorageRequest& r;
  StorageResponse& res;
  AccountSpec spec;
  Caller caller;
  std::string scope;  // the account's resource id
  Status Allow(const StorageAuth& auth, const std::string& container, std::string_view what, bool data, char sas) const {
    std::string s = scope + "/blobServices/default" + (container.empty() ? "" : "/containers/" + container);
    return auth.Authorize(caller, std::string(kActions) + std::string(what), data, s, sas);
  }
};

std::string BlobService::NewEtag() {
  uint8_t b[8];
  env_.random->Fill(b);
  std::string hex = HexEncode(b);
  std::transform(hex.begin(), hex.end(), hex.begin(), [](char c) { return static_cast<char>(std::toupper(c)); });
  return "\"0x" + hex.substr(0, 15) + "\"";
}

void BlobService::Handle(const StorageRequest& r, StorageResponse& res) {
  auto spec = accounts_->Spec(r.account);
  if (!spec.ok()) {
    return Error(r, res, StorageError(400, "InvalidUri", "The requested URI does not represent any resource on the server."), nullptr);
  }
  auto caller = auth_->Authenticate(r, Service::kBlob, *spec);
  if (!caller.ok()) return Error(r, res, caller.status(), &*spec);
  Ctx c{r, res, *spec, std::move(*caller), spec->resource_id};
  res.Set("x-ms-version", r.HasHeader("x-ms-version") ? std::string(r.Header("x-ms-version")) : "2021-12-02");
  if (Status s = Dispatch(c); !s.ok()) {
    res.headers.clear();
    Error(r, res, s, &*spec);
  }
}

void BlobService::Error(const StorageRequest& r, StorageResponse& res, const Status& s, const AccountSpec* spec) {
  res.status = s.http_status();
  if (s.code() == StatusCode::kOutOfRange) res.status = 416;
  if (s.code() == StatusCode::kFailedPrecondition) res.status = 412;
  std::string code = s.error_code().empty() ? "InternalError" : s.error_code();
  res.Set("x-ms-error-code", code);
  if (res.status == 401 && spec != nullptr) res.Set("WWW-Authenticate", auth_->Challenge(*spec));
  if (r.method == "HEAD") return;
  res.Set("Content-Type", "application/xml");
  res.body = "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>" + XmlEscape(code) + "</Code><Message>" +
             XmlEscape(s.message()) + "\nTime:" + FormatRfc3339(env_.clock->Now()) + "</Message></Error>";
}

Status BlobService::Dispatch(Ctx& c) {
  const std::string& p = c.r.path;
  if (p.size() > 1100) return StorageError(400, "InvalidUri", "The requested URI is too long.");
  size_t slash = p.find('/', 1);
  std::string container = p.substr(1, slash == std::string::npos ? std::string::npos : slash - 1);
  if (container.empty()) {
    if (c.r.method == "GET" && c.r.Query("comp") == "list") return ListContainers(c);
    return StorageError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid.");
  }
  if (!ValidContainerName(container)) return StorageError(400, "InvalidResourceName", "The specified resource name contains invalid characters.");
  std::string blob = slash == std::string::npos ? "" : p.substr(slash + 1);
  if (blob.empty()) return Container(c, container);
  if (blob.size() > 1024) return StorageError(400, "InvalidResourceName", "The specified resource name length is not within the permissible limits.");
  return Blob(c, container, blob);
}

Status BlobService::ListContainers(Ctx& c) {
  RETURN_IF_ERROR(c.Allow(*auth_, "", "/read", false, 'l'));
  ASSIGN_OR_RETURN(auto docs, accounts_->ListDocs(c.r.account, kContainerKind, {}));
  std::vector<bj::object> all;
  std::string prefix(c.r.Query("prefix")), marker(c.r.Query("marker"));
  for (const auto& d : docs) {
    ASSIGN_OR_RETURN(bj::object o, ParseDoc(d));
    std::string n = DocStr(o, "name");
    if (n.rfind(prefix, 0) == 0 && n >= marker) all.push_back(std::move(o));
  }
  std::sort(all.begin(), all.end(), [](const bj::object& a, const bj::object& b) { return DocStr(a, "name") < DocStr(b, "name"); });
  std::string out = "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"https://" +
                    c.r.account + suffix_ + "/\"><Prefix>" + XmlEscape(prefix) + "</Prefix><Containers>";
  for (const auto& o : all) {
    out += "<Container><Name>" + XmlEscape(DocStr(o, "name")) + "</Name><Properties><Last-Modified>" + DocStr(o, "lastModified") +
           "</Last-Modified><Etag>" + XmlEscape(DocStr(o, "etag")) +
           "</Etag><LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState>"
           "<HasImmutabilityPolicy>false</HasImmutabilityPolicy><HasLegalHold>false</HasLegalHold></Properties></Container>";
  }
  out += "</Containers><NextMarker /></EnumerationResults>";
  c.res.status = 200;
  c.res.Set("Content-Type", "application/xml");
  c.res.body = std::move(out);
  return OkStatus();
}

Status BlobService::RequireContainer(Ctx& c, const std::string& container) {
  ASSIGN_OR_RETURN(auto doc, accounts_->GetDoc(c.r.account, kContainerKind, {container}));
  if (!doc) return StorageError(404, "ContainerNotFound", "The specified container does not exist.");
  return OkStatus();
}

Status BlobService::Container(Ctx& c, const std::string& container) {
  const std::string& m = c.r.method;
  if (m == "GET" && c.r.Query("comp") == "list") return ListBlobs(c, container);
  if (c.r.Query("restype") != "container") {
    return StorageError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid.");
  }
  if (m == "PUT") {
    RETURN_IF_ERROR(c.Allow(*auth_, container, "/write", false, 'c'));
    std::lock_guard<std::mutex> l(write_mu_);
    ASSIGN_OR_RETURN(auto existing, accounts_->GetDoc(c.r.account, kContainerKind, {container}));
    if (existing) return StorageError(409, "ContainerAlreadyExists", "The specified container already exists.");
    ASSIGN_OR_RETURN(bj::object meta, MetadataOf(c.r));
    std::string etag = NewEtag(), lm = FormatHttpDate(env_.clock->Now());
    bj::object doc{{"name", container}, {"etag", etag}, {"lastModified", lm}, {"metadata", std::move(meta)}};
    RETURN_IF_ERROR(accounts_->PutDoc(c.r.account, kContainerKind, {container}, json::Serialize(doc)));
    c.res.status = 201;
    c.res.Set("ETag", etag);
    c.res.Set("Last-Modified", lm);
    return OkStatus();
  }
  if (m == "DELETE") {
    RETURN_IF_ERROR(c.Allow(*auth_, container, "/delete", false, 'd'));
    std::lock_guard<std::mutex> l(write_mu_);
    RETURN_IF_ERROR(RequireContainer(c, container));
    ASSIGN_OR_RETURN(auto blobs, accounts_->ListDocs(c.r.account, kBlobKind, {container}));
    for (const auto& b : blobs) {
      ASSIGN_OR_RETURN(bj::object o, ParseDoc(b));
      for (const auto& blk : o["blocks"].as_array()) {
        accounts_->DeleteData(c.r.account, DocStr(blk.as_object(), "object")).IgnoreError();
      }
      RETURN_IF_ERROR(accounts_->DeleteDoc(c.r.account, kBlobKind, {container, DocStr(o, "name")}));
    }
    RETURN_IF_ERROR(accounts_->DeleteDoc(c.r.account, kContainerKind, {container}));
    c.res.status = 202;
    return OkStatus();
  }
  if (m == "GET" || m == "HEAD") {
    RETURN_IF_ERROR(c.Allow(*auth_, container, "/read", false, 'r'));
    ASSIGN_OR_RETURN(auto doc, accounts_->GetDoc(c.r.account, kContainerKind, {container}));
    if (!doc) return StorageError(404, "ContainerNotFound", "The specified container does not exist.");
    ASSIGN_OR_RETURN(bj::object o, ParseDoc(*doc));
    c.res.status = 200;
    c.res.Set("ETag", DocStr(o, "etag"));
    c.res.Set("Last-Modified", DocStr(o, "lastModified"));
    c.res.Set("x-ms-lease-status", "unlocked");
    c.res.Set("x-ms-lease-state", "available");
    c.res.Set("x-ms-has-immutability-policy", "false");
    c.res.Set("x-ms-has-legal-hold", "false");
    SetMetadataHeaders(c.res, o);
    return OkStatus();
  }
  return StorageError(400, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.");
}

Status BlobService::ListBlobs(Ctx& c, const std::string& container) {
  RETURN_IF_ERROR(c.Allow(*auth_, container, "/blobs/read", true, 'l'));
  RETURN_IF_ERROR(RequireContainer(c, container));
  size_t max = kMaxListResults;
  if (c.r.HasQuery("maxresults")) {
    std::string_view v = c.r.Query("maxresults");
    size_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec != std::errc() || p != v.data() + v.size() || n == 0) {
      return StorageError(400, "OutOfRangeQueryParameterValue", "One of the query parameters specified in the request URI is outside the permissible range.");
    }
    max = std::min(n, kMaxListResults);
  }
  std::string prefix(c.r.Query("prefix")), marker(c.r.Query("marker"));
  bool with_meta = c.r.Query("include").find("metadata") != std::string_view::npos;
  ASSIGN_OR_RETURN(auto docs, accounts_->ListDocs(c.r.account, kBlobKind, {container}));
  std::vector<bj::object> all;
  for (const auto& d : docs) {
    ASSIGN_OR_RETURN(bj::object o, ParseDoc(d));
    std::string n = DocStr(o, "name");
    if (n.rfind(prefix, 0) == 0 && n >= marker) all.push_back(std::move(o));
  }
  std::sort(all.begin(), all.end(), [](const bj::object& a, const bj::object& b) { return DocStr(a, "name") < DocStr(b, "name"); });
  std::string next = all.size() > max ? DocStr(all[max], "name") : "";
  if (all.size() > max) all.resize(max);
  std::string out = "<?xml version=\"1.0\" encoding=\"utf-8\"?><EnumerationResults ServiceEndpoint=\"https://" + c.r.account +
                    suffix_ + "/\" ContainerName=\"" + XmlEscape(container) + "\"><Prefix>" + XmlEscape(prefix) +
                    "</Prefix><Marker>" + XmlEscape(marker) + "</Marker><MaxResults>" + std::to_string(max) + "</MaxResults><Blobs>";
  for (const auto& o : all) {
    out += "<Blob><Name>" + XmlEscape(DocStr(o, "name")) + "</Name><Properties><Creation-Time>" + DocStr(o, "created") +
           "</Creation-Time><Last-Modified>" + DocStr(o, "lastModified") + "</Last-Modified><Etag>" + XmlEscape(DocStr(o, "etag")) +
           "</Etag><Content-Length>" + std::to_string(U(o, "size")) + "</Content-Length><Content-Type>" +
           XmlEscape(DocStr(o, "contentType")) + "</Content-Type><Content-MD5>" + XmlEscape(DocStr(o, "contentMD5")) +
           "</Content-MD5><BlobType>BlockBlob</BlobType><AccessTier>Hot</AccessTier><AccessTierInferred>true</AccessTierInferred>"
           "<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted></Properties>";
    if (with_meta) {
      out += "<Metadata>";
      if (const bj::value* m = o.if_contains("metadata"); m && m->is_object()) {
        for (const auto& kv : m->as_object()) {
          std::string k = XmlEscape(kv.key());
          out += "<" + k + ">" + XmlEscape(kv.value().is_string() ? std::string(kv.value().as_string()) : "") + "</" + k + ">";
        }
      }
      out += "</Metadata>";
    }
    out += "</Blob>";
  }
  out += "</Blobs><NextMarker>" + XmlEscape(next) + "</NextMarker></EnumerationResults>";
  c.res.status = 200;
  c.res.Set("Content-Type", "application/xml");
  c.res.body = std::move(out);
  return OkStatus();
}

Status BlobService::Blob(Ctx& c, const std::string& container, const std::string& blob) {
  const std::string& m = c.r.method;
  std::string_view comp = c.r.Query("comp");
  if (m == "PUT" && comp.empty()) return PutBlob(c, container, blob);
  if (m == "PUT" && comp == "block") return PutBlock(c, container, blob);
  if (m == "PUT" && comp == "blocklist") return PutBlockList(c, container, blob);
  if (m == "PUT" && comp == "metadata") return SetMetadata(c, container, blob);
  if ((m == "GET" || m == "HEAD") && (comp.empty() || comp == "metadata")) return GetBlob(c, container, blob, m == "HEAD" || !comp.empty());
  if (m == "DELETE" && comp.empty()) return DeleteBlob(c, container, blob);
  return StorageError(400, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.");
}

Status BlobService::PutBlob(Ctx& c, const std::string& container, const std::string& blob) {
  RETURN_IF_ERROR(c.Allow(*auth_, container, "/blobs/write", true, 'w'));
  if (!EqualsIgnoreCase(c.r.Header("x-ms-blob-type"), "BlockBlob")) {
    return StorageError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format: only BlockBlob is supported.");
  }
  ASSIGN_OR_RETURN(std::string object, accounts_->PutData(c.r.account, AsBytes(c.r.body)));
  bj::array blocks{bj::object{{"id", ""}, {"object", object}, {"size", c.r.body.size()}}};
  return Commit(c, container, blob, std::move(blocks), c.r.body.size());
}

Status BlobService::PutBlock(Ctx& c, const std::string& container, const std::string& blob) {
  RETURN_IF_ERROR(c.Allow(*auth_, container, "/blobs/write", true, 'w'));
  std::string id(c.r.Query("blockid"));
  auto raw = Base64Decode(id);
  if (id.empty() || !raw.ok() || raw->size() > kMaxBlockIdBytes) {
    return StorageError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid.");
  }
  RETURN_IF_ERROR(RequireContainer(c, container));
  ASSIGN_OR_RETURN(auto pending, accounts_->ListDocs(c.r.account, kBlockKind, {container, blob}));
  if (pending.size() >= kMaxUncommittedBlocks) return StorageError(409, "BlockCountExceedsLimit", "The uncommitted block count cannot exceed the maximum limit of 100,000 blocks.");
  ASSIGN_OR_RETURN(std::string object, accounts_->PutData(c.r.account, AsBytes(c.r.body)));
  bj::object doc{{"id", id}, {"object", object}, {"size", c.r.body.size()}};
  RETURN_IF_ERROR(accounts_->PutDoc(c.r.account, kBlockKind, {container, blob, id}, json::Serialize(doc)));
  c.res.status = 201;
  c.res.Set("x-ms-request-server-encrypted", "true");
  return OkStatus();
}

Status BlobService::PutBlockList(Ctx& c, const std::string& container, const std::string& blob) {
  RETURN_IF_ERROR(c.Allow(*auth_, container, "/blobs/write", true, 'w'));
  ASSIGN_OR_RETURN(auto ids, ParseBlockList(c.r.body));
  ASSIGN_OR_RETURN(auto current, accounts_->GetDoc(c.r.account, kBlobKind, {container, blob}));
  std::optional<bj::object> cur;
  if (current) {
    ASSIGN_OR_RETURN(cur, ParseDoc(*current));
  }
  bj::array blocks;
  uint64_t size = 0;
  for (const auto& [kind, id] : ids) {
    std::optional<bj::object> found;
    if (kind != "Committed") {
      ASSIGN_OR_RETURN(auto doc, accounts_->GetDoc(c.r.account, kBlockKind, {container, blob, id}));
      if (doc) {
        ASSIGN_OR_RETURN(found, ParseDoc(*doc));
      }
    }
    if (!found && kind != "Uncommitted" && cur) {
      for (const auto& b : (*cur)["blocks"].as_array()) {
        if (DocStr(b.as_object(), "id") == id) found = b.as_object();
      }
    }
    if (!found) return StorageError(400, "InvalidBlockList", "The specified block list is invalid.");
    size += U(*found, "size");
    blocks.emplace_back(std::move(*found));
  }
  return Commit(c, container, blob, std::move(blocks), size);
}

// Writes the blob's document over `blocks` (checking If-Match / If-None-Match), then drops the
// uncommitted blocks and the data of blocks no longer referenced.
Status BlobService::Commit(Ctx& c, const std::string& container, const std::string& blob, bj::array blocks,
                           uint64_t size) {
  if (size > kMaxBlobBytes) return StorageError(413, "RequestBodyTooLarge", "The blob is larger than this service allows.");
  std::lock_guard<std::mutex> l(write_mu_);
  RETURN_IF_ERROR(RequireContainer(c, container));
  ASSIGN_OR_RETURN(auto current, accounts_->GetDoc(c.r.account, kBlobKind, {container, blob}));
  std::optional<bj::object> old;
  if (current) {
    ASSIGN_OR_RETURN(old, ParseDoc(*current));
  }
  std::string_view if_match = c.r.Header("If-Match"), if_none = c.r.Header("If-None-Match");
  if (if_none == "*" && old) return StorageError(409, "BlobAlreadyExists", "The specified blob already exists.");
  if (!if_match.empty() && (!old || (if_match != "*" && if_match != DocStr(*old, "etag")))) {
    return StorageError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.");
  }
  ASSIGN_OR_RETURN(bj::object meta, MetadataOf(c.r));
  std::string etag = NewEtag(), lm = FormatHttpDate(env_.clock->Now());
  bj::object doc{{"name", blob}, {"size", size}, {"etag", etag}, {"lastModified", lm},
                 {"created", old ? DocStr(*old, "created") : lm},
                 {"contentType", c.r.HasHeader("x-ms-blob-content-type") ? std::string(c.r.Header("x-ms-blob-content-type"))
                                                                          : std::string("application/octet-stream")},
                 {"contentMD5", std::string(c.r.Header("x-ms-blob-content-md5"))},
                 {"metadata", std::move(meta)}, {"blocks", blocks}};
  if (c.r.Query("comp").empty() && c.r.HasHeader("Content-Type")) doc["contentType"] = std::string(c.r.Header("Content-Type"));
  RETURN_IF_ERROR(accounts_->PutDoc(c.r.account, kBlobKind, {container, blob}, json::Serialize(doc)));
  std::set<std::string> kept;
  for (const auto& b : blocks) kept.insert(DocStr(b.as_object(), "object"));
  ASSIGN_OR_RETURN(auto pending, accounts_->ListDocs(c.r.account, kBlockKind, {container, blob}));
  for (const auto& p : pending) {
    ASSIGN_OR_RETURN(bj::object o, ParseDoc(p));
    if (!kept.count(DocStr(o, "object"))) accounts_->DeleteData(c.r.account, DocStr(o, "object")).IgnoreError();
    accounts_->DeleteDoc(c.r.account, kBlockKind, {container, blob, DocStr(o, "id")}).IgnoreError();
  }
  if (old) {
    for (const auto& b : (*old)["blocks"].as_array()) {
      if (!kept.count(DocStr(b.as_object(), "object"))) accounts_->DeleteData(c.r.account, DocStr(b.as_object(), "object")).IgnoreError();
    }
  }
  c.res.status = 201;
  c.res.Set("ETag", etag);
  c.res.Set("Last-Modified", lm);
  c.res.Set("x-ms-request-server-encrypted", "true");
  return OkStatus();
}

Status BlobService::GetBlob(Ctx& c, const std::string& container, const std::string& blob, bool head) {
  RETURN_IF_ERROR(c.Allow(*auth_, container, "/blobs/read", true, 'r'));
  ASSIGN_OR_RETURN(auto doc, accounts_->GetDoc(c.r.account, kBlobKind, {container, blob}));
  if (!doc) {
    RETURN_IF_ERROR(RequireContainer(c, container));
    return StorageError(404, "BlobNotFound", "The specified blob does not exist.");
  }
  ASSIGN_OR_RETURN(bj::object o, ParseDoc(*doc));
  uint64_t size = U(o, "size");
  std::string_view if_none = c.r.Header("If-None-Match"), if_match = c.r.Header("If-Match");
  if (!if_match.empty() && if_match != "*" && if_match != DocStr(o, "etag")) {
    return StorageError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.");
  }
  std::string_view rh = c.r.HasHeader("x-ms-range") ? c.r.Header("x-ms-range") : c.r.Header("Range");
  using Range = std::optional<std::pair<uint64_t, uint64_t>>;
  ASSIGN_OR_RETURN(Range range, (head ? Result<Range>(std::nullopt) : ParseRange(rh, size)));
  c.res.status = range ? 206 : 200;
  if (!if_none.empty() && (if_none == "*" || if_none == DocStr(o, "etag"))) c.res.status = 304;
  c.res.Set("Content-Type", DocStr(o, "contentType"));
  c.res.Set("ETag", DocStr(o, "etag"));
  c.res.Set("Last-Modified", DocStr(o, "lastModified"));
  c.res.Set("x-ms-creation-time", DocStr(o, "created"));
  c.res.Set("x-ms-blob-type", "BlockBlob");
  c.res.Set("Accept-Ranges", "bytes");
  c.res.Set("x-ms-server-encrypted", "true");
  c.res.Set("x-ms-lease-status", "unlocked");
  c.res.Set("x-ms-lease-state", "available");
  c.res.Set("x-ms-access-tier", "Hot");
  c.res.Set("x-ms-access-tier-inferred", "true");
  if (!DocStr(o, "contentMD5").empty()) c.res.Set(range ? "x-ms-blob-content-md5" : "Content-MD5", DocStr(o, "contentMD5"));
  SetMetadataHeaders(c.res, o);
  if (head || c.res.status == 304) {
    c.res.Set("Content-Length", std::to_string(head ? size : 0));
    return OkStatus();
  }
  uint64_t from = range ? range->first : 0, to = range ? range->second + 1 : size;
  if (range) c.res.Set("Content-Range", "bytes " + std::to_string(from) + "-" + std::to_string(to - 1) + "/" + std::to_string(size));
  std::string body;
  body.reserve(to - from);
  uint64_t at = 0;
  for (const auto& b : o["blocks"].as_array()) {
    uint64_t n = U(b.as_object(), "size");
    if (at + n > from && at < to) {
      ASSIGN_OR_RETURN(auto data, accounts_->GetData(c.r.account, DocStr(b.as_object(), "object")));
      uint64_t lo = std::max(from, at) - at, hi = std::min(to, at + n) - at;
      if (hi > data.size()) return DataLoss("blob block shorter than recorded");
      body.append(reinterpret_cast<const char*>(data.data()) + lo, hi - lo);
      WipeBytes(data);
    }
    at += n;
  }
  c.res.body = std::move(body);
  return OkStatus();
}

Status BlobService::SetMetadata(Ctx& c, const std::string& container, const std::string& blob) {
  RETURN_IF_ERROR(c.Allow(*auth_, container, "/blobs/write", true, 'w'));
  std::lock_guard<std::mutex> l(write_mu_);
  ASSIGN_OR_RETURN(auto doc, accounts_->GetDoc(c.r.account, kBlobKind, {container, blob}));
  if (!doc) return StorageError(404, "BlobNotFound", "The specified blob does not exist.");
  ASSIGN_OR_RETURN(bj::object o, ParseDoc(*doc));
  ASSIGN_OR_RETURN(o["metadata"], MetadataOf(c.r));
  o["etag"] = NewEtag();
  o["lastModified"] = FormatHttpDate(env_.clock->Now());
  RETURN_IF_ERROR(accounts_->PutDoc(c.r.account, kBlobKind, {container, blob}, json::Serialize(o)));
  c.res.status = 200;
  c.res.Set("ETag", DocStr(o, "etag"));
  c.res.Set("Last-Modified", DocStr(o, "lastModified"));
  c.res.Set("x-ms-request-server-encrypted", "true");
  return OkStatus();
}

Status BlobService::DeleteBlob(Ctx& c, const std::string& container, const std::string& blob) {
  RETURN_IF_ERROR(c.Allow(*auth_, container, "/blobs/delete", true, 'd'));
  std::lock_guard<std::mutex> l(write_mu_);
  ASSIGN_OR_RETURN(auto doc, accounts_->GetDoc(c.r.account, kBlobKind, {container, blob}));
  if (!doc) {
    RETURN_IF_ERROR(RequireContainer(c, container));
    return StorageError(404, "BlobNotFound", "The specified blob does not exist.");
  }
  ASSIGN_OR_RETURN(bj::object o, ParseDoc(*doc));
  for (const auto& b : o["blocks"].as_array()) accounts_->DeleteData(c.r.account, DocStr(b.as_object(), "object")).IgnoreError();
  RETURN_IF_ERROR(accounts_->DeleteDoc(c.r.account, kBlobKind, {container, blob}));
  c.res.status = 202;
  c.res.Set("x-ms-delete-type-permanent", "true");
  return OkStatus();
}

}  // namespace cmk::storage_account
