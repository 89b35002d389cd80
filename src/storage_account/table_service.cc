#include "storage_account/table_service.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "base/encoding.h"
#include "base/json.h"
#include "base/time_format.h"
#include "storage_account/doc_layout.h"
#include "storage_account/odata_filter.h"

namespace cmk::storage_account {
namespace {

namespace bj = boost::json;
constexpr char kTables[] = "Microsoft.Storage/storageAccounts/tableServices/tables";
constexpr size_t kMaxBody = 1 << 20;
constexpr size_t kMaxProperties = 252;
constexpr size_t kMaxKey = 1024;
constexpr size_t kMaxString = 64 * 1024;
constexpr size_t kMaxTop = 1000;
constexpr size_t kMaxEntities = 100'000;

Status NotFoundEntity() { return StorageError(404, "ResourceNotFound", "The specified resource does not exist."); }
Status BadInput(std::string what) { return StorageError(400, "InvalidInput", "One of the request inputs is not valid: " + what); }

// Table names: a letter then 2-62 letters or digits (compared case-insensitively).
bool ValidTableName(std::string_view n) {
  if (n.size() < 3 || n.size() > 63 || !((n[0] >= 'a' && n[0] <= 'z') || (n[0] >= 'A' && n[0] <= 'Z'))) return false;
  for (char c : n) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) return false;
  }
  return true;
}

bool ValidKey(std::string_view k) {
  if (k.size() > kMaxKey) return false;
  for (unsigned char c : k) {
    if (c < 0x20 || c == 0x7f || c == '/' || c == '\\' || c == '#' || c == '?') return false;
  }
  return true;
}

// W/"datetime'<Timestamp with ':' percent-encoded>'" (Table's form; the SDKs rebuild it).
std::string EtagOf(const std::string& ts) {
  std::string enc;
  for (char c : ts) enc += c == ':' ? std::string("%3A") : std::string(1, c);
  return "W/\"datetime'" + enc + "'\"";
}

// `PartitionKey='a''b',RowKey='c'` (decoded path) -> keys with quotes undoubled.
Result<std::pair<std::string, std::string>> ParseKeys(std::string_view s) {
  std::string keys[2];
  const char* names[2] = {"PartitionKey='", "RowKey='"};
  size_t i = 0;
  for (int k = 0; k < 2; ++k) {
    if (k == 1) {
      if (i >= s.size() || s[i] != ',') return BadInput("the entity key is malformed.");
      ++i;
    }
    std::string_view n = names[k];
    if (s.substr(i, n.size()) != n) return BadInput("the entity key is malformed.");
    i += n.size();
    for (;; ++i) {
      if (i >= s.size()) return BadInput("the entity key is malformed.");
      if (s[i] == '\'') {
        if (i + 1 < s.size() && s[i + 1] == '\'') {
          keys[k].push_back('\'');
          ++i;
          continue;
        }
        ++i;
        break;
      }
      keys[k].push_back(s[i]);
    }
  }
  if (i != s.size()) return BadInput("the entity key is malformed.");
  return std::make_pair(std::move(keys[0]), std::move(keys[1]));
}

// A request property's Edm type and stored value, validated; nullopt type for a null value.
Result<std::optional<EdmValue>> TypedValue(const std::string& name, const bj::value& v, const std::string& annotated) {
  using R = std::optional<EdmValue>;
  if (v.is_null()) return R();
  std::string t = annotated;
  if (t.empty()) {
    if (v.is_string()) t = "Edm.String";
    else if (v.is_bool()) t = "Edm.Boolean";
    else if ((v.is_int64() && v.as_int64() >= INT32_MIN && v.as_int64() <= INT32_MAX) || (v.is_uint64() && v.as_uint64() <= INT32_MAX)) t = "Edm.Int32";
    else if (v.is_number()) t = "Edm.Double";
    else return BadInput("the property '" + name + "' has an unsupported value.");
  }
  bool ok = false;
  if (t == "Edm.String" || t == "Edm.Guid" || t == "Edm.Binary") ok = v.is_string() && v.as_string().size() <= kMaxString;
  else if (t == "Edm.Boolean") ok = v.is_bool();
  else if (t == "Edm.Int32") ok = v.is_int64() || v.is_uint64();
  else if (t == "Edm.Double") ok = v.is_number() || (v.is_string() && (v.as_string() == "NaN" || v.as_string() == "Infinity" || v.as_string() == "-Infinity"));
  else if (t == "Edm.Int64") {
    int64_t n = 0;
    std::string_view s = v.is_string() ? std::string_view(v.as_string()) : "";
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    ok = !s.empty() && ec == std::errc() && p == s.data() + s.size();
  } else if (t == "Edm.DateTime") {
    ok = v.is_string() && ParseRfc3339(v.as_string()).ok();
  } else {
    return BadInput("the property '" + name + "' has the unknown type '" + t.substr(0, 64) + "'.");
  }
  if (!ok) return BadInput("the value of property '" + name + "' does not match its type " + t + ".");
  if (t == "Edm.Double" && v.is_number()) return R(EdmValue{t, bj::value(v.to_number<double>())});
  return R(EdmValue{t, v});
}

// The custom properties of a request entity as [{n, t, v}], bounded.
Result<bj::array> PropertiesOf(const bj::object& in) {
  bj::array out;
  for (const auto& kv : in) {
    std::string name(kv.key());
    if (name.rfind("odata.", 0) == 0 || name.find('@') != std::string::npos) continue;
    if (name == "PartitionKey" || name == "RowKey" || name == "Timestamp") continue;
    if (name.empty() || name.size() > 255) return BadInput("a property name is empty or longer than 255 characters.");
    std::string annotated;
    if (const bj::value* a = in.if_contains(name + "@odata.type"); a && a->is_string()) annotated = std::string(a->as_string());
    ASSIGN_OR_RETURN(auto tv, TypedValue(name, kv.value(), annotated));
    if (!tv) continue;
    out.push_back(bj::object{{"n", name}, {"t", tv->type}, {"v", tv->value}});
    if (out.size() > kMaxProperties) return StorageError(400, "TooManyProperties", "The entity contains more properties than allowed.");
  }
  return out;
}

bool Annotated(const std::string& t) { return t != "Edm.String" && t != "Edm.Int32" && t != "Edm.Boolean"; }

// The response form of a stored entity (minimal or no metadata), optionally only `select`.
bj::object EntityJson(const bj::object& e, bool metadata, const std::set<std::string>* select) {
  bj::object out;
  std::string ts = DocStr(e, "ts");
  if (metadata) out["odata.etag"] = EtagOf(ts);
  auto want = [&](const std::string& n) { return select == nullptr || select->count(n) > 0; };
  if (want("PartitionKey")) out["PartitionKey"] = DocStr(e, "pk");
  if (want("RowKey")) out["RowKey"] = DocStr(e, "rk");
  if (want("Timestamp")) {
    out["Timestamp"] = ts;
    if (metadata) out["Timestamp@odata.type"] = "Edm.DateTime";
  }
  for (const auto& p : e.at("p").as_array()) {
    const bj::object& po = p.as_object();
    std::string n = DocStr(po, "n"), t = DocStr(po, "t");
    if (!want(n)) continue;
    if (metadata && Annotated(t)) out[n + "@odata.type"] = t;
    out[n] = po.at("v");
  }
  return out;
}

// The typed view of a stored entity for $filter.
std::map<std::string, EdmValue> FilterView(const bj::object& e) {
  std::map<std::string, EdmValue> m;
  m["PartitionKey"] = {"Edm.String", bj::value(DocStr(e, "pk"))};
  m["RowKey"] = {"Edm.String", bj::value(DocStr(e, "rk"))};
  m["Timestamp"] = {"Edm.DateTime", bj::value(DocStr(e, "ts"))};
  for (const auto& p : e.at("p").as_array()) {
    const bj::object& po = p.as_object();
    m[DocStr(po, "n")] = {DocStr(po, "t"), po.at("v")};
  }
  return m;
}

}  // namespace

struct TableService::Ctx {
  const StorageRequest& r;
  StorageResponse& res;
  AccountSpec spec;
  Caller caller;
  bool metadata = true;  // Accept: ...odata=nometadata drops odata.* and annotations
  Status Allow(const StorageAuth& auth, const std::string& table, std::string_view what, bool data, char sas) const {
    std::string scope = spec.resource_id + "/tableServices/default" + (table.empty() ? "" : "/tables/" + table);
    return auth.Authorize(caller, std::string(kTables) + std::string(what), data, scope, sas);
  }
};

std::string TableService::Base(const StorageRequest& r) const { return "https://" + r.account + suffix_ + "/"; }

void TableService::Handle(const StorageRequest& r, StorageResponse& res) {
  auto spec = accounts_->Spec(r.account);
  if (!spec.ok()) return Error(r, res, StorageError(404, "ResourceNotFound", "The specified resource does not exist."), nullptr);
  auto caller = auth_->Authenticate(r, Service::kTable, *spec);
  if (!caller.ok()) return Error(r, res, caller.status(), &*spec);
  Ctx c{r, res, *spec, std::move(*caller)};
  std::string_view accept = r.HasQuery("$format") ? r.Query("$format") : r.Header("Accept");
  c.metadata = accept.find("nometadata") == std::string_view::npos;
  res.Set("x-ms-version", r.HasHeader("x-ms-version") ? std::string(r.Header("x-ms-version")) : "2019-02-02");
  if (Status s = Dispatch(c); !s.ok()) {
    res.headers.clear();
    res.body.clear();
    Error(r, res, s, &*spec);
  }
}

void TableService::Error(const StorageRequest& r, StorageResponse& res, const Status& s, const AccountSpec* spec) {
  res.status = s.code() == StatusCode::kFailedPrecondition ? 412 : s.http_status();
  std::string code = s.error_code().empty() ? "InternalError" : s.error_code();
  res.Set("x-ms-error-code", code);
  if (res.status == 401 && spec != nullptr) res.Set("WWW-Authenticate", auth_->Challenge(*spec));
  if (r.method == "HEAD") return;
  res.Set("Content-Type", "application/json;odata=minimalmetadata;streaming=true;charset=utf-8");
  std::string msg = s.message() + "\nRequestId:" + env_.random->NewGuid() + "\nTime:" + FormatRfc3339(env_.clock->Now());
  res.body = json::Serialize(
      bj::object{{"odata.error", bj::object{{"code", code}, {"message", bj::object{{"lang", "en-US"}, {"value", msg}}}}}});
}

Status TableService::Dispatch(Ctx& c) {
  std::string_view p = c.r.path;
  if (p.size() < 2 || p.size() > 4096 || p[0] != '/' || p.find('/', 1) != std::string_view::npos) {
    return StorageError(400, "InvalidUri", "The requested URI does not represent any resource on the server.");
  }
  p.remove_prefix(1);
  size_t open = p.find('(');
  std::string name(p.substr(0, open));
  std::string_view args;
  if (open != std::string_view::npos) {
    if (p.back() != ')') return StorageError(400, "InvalidUri", "The requested URI does not represent any resource on the server.");
    args = p.substr(open + 1, p.size() - open - 2);
  }
  if (name == "Tables") {
    if (args.empty()) return Tables(c, nullptr);
    if (args.size() < 2 || args.front() != '\'' || args.back() != '\'') return BadInput("the table name is malformed.");
    std::string t(args.substr(1, args.size() - 2));
    return Tables(c, &t);
  }
  if (!ValidTableName(name)) return StorageError(400, "InvalidResourceName", "The specified resource name contains invalid characters.");
  if (args.empty()) {
    if (c.r.method == "GET") return QueryEntities(c, name);
    if (c.r.method == "POST") return Insert(c, name);
    return StorageError(405, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.");
  }
  ASSIGN_OR_RETURN(auto keys, ParseKeys(args));
  if (!ValidKey(keys.first) || !ValidKey(keys.second)) return BadInput("the entity key has invalid characters or is too long.");
  return Entity(c, name, keys.first, keys.second);
}

Status TableService::RequireTable(Ctx& c, const std::string& table, std::string* canonical) {
  ASSIGN_OR_RETURN(auto doc, accounts_->GetDoc(c.r.account, kTableKind, {ToLower(table)}));
  if (!doc) return StorageError(404, "TableNotFound", "The table specified does not exist.");
  if (canonical != nullptr) {
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(*doc));
    *canonical = DocStr(o, "name");
  }
  return OkStatus();
}

Status TableService::Tables(Ctx& c, const std::string* name) {
  const std::string& m = c.r.method;
  if (name == nullptr && m == "POST") return CreateTable(c);
  if (name == nullptr && m == "GET") return QueryTables(c);
  if (name == nullptr || !ValidTableName(*name)) return StorageError(400, "InvalidResourceName", "The specified resource name contains invalid characters.");
  if (m == "DELETE") {
    RETURN_IF_ERROR(c.Allow(*auth_, *name, "/delete", false, 'd'));
    std::lock_guard<std::mutex> l(write_mu_);
    RETURN_IF_ERROR(RequireTable(c, *name));
    // Entities first: a failure leaves the table, never orphaned entities.
    ASSIGN_OR_RETURN(auto entities, accounts_->ListDocs(c.r.account, kEntityKind, {ToLower(*name)}));
    for (const auto& e : entities) {
      ASSIGN_OR_RETURN(bj::object o, json::ParseObject(e));
      RETURN_IF_ERROR(accounts_->DeleteDoc(c.r.account, kEntityKind, {ToLower(*name), DocStr(o, "pk") + kKeySep + DocStr(o, "rk")}));
    }
    RETURN_IF_ERROR(accounts_->DeleteDoc(c.r.account, kTableKind, {ToLower(*name)}));
    c.res.status = 204;
    return OkStatus();
  }
  return StorageError(405, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.");
}

Status TableService::CreateTable(Ctx& c) {
  if (c.r.body.size() > kMaxBody) return StorageError(413, "RequestBodyTooLarge", "The request body is too large.");
  auto body = json::ParseObject(c.r.body);
  std::string name = body.ok() ? DocStr(*body, "TableName") : "";
  if (!ValidTableName(name)) {
    return StorageError(400, "InvalidResourceName", "The specified resource name contains invalid characters.");
  }
  RETURN_IF_ERROR(c.Allow(*auth_, name, "/write", false, 'c'));
  std::lock_guard<std::mutex> l(write_mu_);
  ASSIGN_OR_RETURN(auto existing, accounts_->GetDoc(c.r.account, kTableKind, {ToLower(name)}));
  if (existing) return StorageError(409, "TableAlreadyExists", "The table specified already exists.");
  bj::object doc{{"name", name}, {"created", FormatRfc3339(env_.clock->Now())}};
  RETURN_IF_ERROR(accounts_->PutDoc(c.r.account, kTableKind, {ToLower(name)}, json::Serialize(doc)));
  if (c.r.Header("Prefer").find("return-no-content") != std::string_view::npos) {
    c.res.status = 204;
    c.res.Set("Preference-Applied", "return-no-content");
    return OkStatus();
  }
  c.res.status = 201;
  c.res.Set("Content-Type", "application/json;odata=minimalmetadata;streaming=true;charset=utf-8");
  bj::object out{{"TableName", name}};
  if (c.metadata) out["odata.metadata"] = Base(c.r) + "$metadata#Tables/@Element";
  c.res.body = json::Serialize(out);
  return OkStatus();
}

Status TableService::QueryTables(Ctx& c) {
  RETURN_IF_ERROR(c.Allow(*auth_, "", "/read", false, 'l'));
  ASSIGN_OR_RETURN(Filter f, Filter::Parse(c.r.Query("$filter")));
  ASSIGN_OR_RETURN(auto docs, accounts_->ListDocs(c.r.account, kTableKind, {}));
  std::vector<std::string> names;
  for (const auto& d : docs) {
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(d));
    std::string n = DocStr(o, "name");
    EdmValue v{"Edm.String", bj::value(n)};
    if (f.Matches([&](const std::string& p) { return p == "TableName" ? &v : nullptr; })) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  bj::array value;
  for (const auto& n : names) value.push_back(bj::object{{"TableName", n}});
  bj::object out{{"value", std::move(value)}};
  if (c.metadata) out["odata.metadata"] = Base(c.r) + "$metadata#Tables";
  c.res.status = 200;
  c.res.Set("Content-Type", "application/json;odata=minimalmetadata;streaming=true;charset=utf-8");
  c.res.body = json::Serialize(out);
  return OkStatus();
}

Status TableService::QueryEntities(Ctx& c, const std::string& table) {
  RETURN_IF_ERROR(c.Allow(*auth_, table, "/entities/read", true, 'r'));
  std::string canonical;
  RETURN_IF_ERROR(RequireTable(c, table, &canonical));
  ASSIGN_OR_RETURN(Filter f, Filter::Parse(c.r.Query("$filter")));
  size_t top = kMaxTop;
  if (c.r.HasQuery("$top")) {
    std::string_view v = c.r.Query("$top");
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), top);
    if (ec != std::errc() || p != v.data() + v.size() || top == 0 || top > kMaxTop) return BadInput("$top must be 1 to 1000.");
  }
  std::optional<std::set<std::string>> select;
  if (c.r.HasQuery("$select") && c.r.Query("$select").size() <= 4096) {
    select.emplace();
    std::string_view s = c.r.Query("$select");
    for (size_t i = 0; i <= s.size();) {
      size_t comma = std::min(s.find(',', i), s.size());
      std::string_view n = s.substr(i, comma - i);
      while (!n.empty() && n.front() == ' ') n.remove_prefix(1);
      while (!n.empty() && n.back() == ' ') n.remove_suffix(1);
      if (!n.empty()) select->insert(std::string(n));
      i = comma + 1;
    }
  }
  std::string next_pk, next_rk;
  if (c.r.HasQuery("NextPartitionKey")) {
    auto pk = Base64UrlDecode(c.r.Query("NextPartitionKey"));
    auto rk = Base64UrlDecode(c.r.Query("NextRowKey"));
    if (!pk.ok() || !rk.ok()) return BadInput("the continuation token is malformed.");
    next_pk.assign(pk->begin(), pk->end());
    next_rk.assign(rk->begin(), rk->end());
  }
  ASSIGN_OR_RETURN(auto docs, accounts_->ListDocs(c.r.account, kEntityKind, {ToLower(table)}));
  std::vector<bj::object> all;
  all.reserve(docs.size());
  for (const auto& d : docs) {
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(d));
    std::pair<std::string, std::string> key{DocStr(o, "pk"), DocStr(o, "rk")};
    if (!next_pk.empty() && key < std::make_pair(next_pk, next_rk)) continue;
    auto view = FilterView(o);
    if (!f.Matches([&](const std::string& n) -> const EdmValue* {
          auto it = view.find(n);
          return it == view.end() ? nullptr : &it->second;
        })) {
      continue;
    }
    all.push_back(std::move(o));
  }
  std::sort(all.begin(), all.end(), [](const bj::object& a, const bj::object& b) {
    return std::make_pair(DocStr(a, "pk"), DocStr(a, "rk")) < std::make_pair(DocStr(b, "pk"), DocStr(b, "rk"));
  });
  if (all.size() > top) {
    c.res.Set("x-ms-continuation-NextPartitionKey", Base64UrlEncode(AsBytes(DocStr(all[top], "pk"))));
    c.res.Set("x-ms-continuation-NextRowKey", Base64UrlEncode(AsBytes(DocStr(all[top], "rk"))));
    all.resize(top);
  }
  bj::array value;
  for (const auto& o : all) value.push_back(EntityJson(o, c.metadata, select ? &*select : nullptr));
  bj::object out{{"value", std::move(value)}};
  if (c.metadata) out["odata.metadata"] = Base(c.r) + "$metadata#" + canonical;
  c.res.status = 200;
  c.res.Set("Content-Type", "application/json;odata=minimalmetadata;streaming=true;charset=utf-8");
  c.res.body = json::Serialize(out);
  return OkStatus();
}

// Writes `entity` (the request's properties) as pk/rk with a Timestamp later than the old one's.
Result<bj::object> TableService::StoreEntity(Ctx& c, const std::string& table, const std::string& pk,
                                             const std::string& rk, bj::object entity,
                                             const std::optional<bj::object>& old) {
  TimePoint now = env_.clock->Now();
  if (old) {
    auto prev = ParseRfc3339(DocStr(*old, "ts"));
    if (prev.ok() && *prev >= now) now = *prev + std::chrono::nanoseconds(100);
  }
  entity["pk"] = pk;
  entity["rk"] = rk;
  entity["ts"] = FormatRfc3339(now, 7);
  RETURN_IF_ERROR(accounts_->PutDoc(c.r.account, kEntityKind, {ToLower(table), pk + kKeySep + rk}, json::Serialize(entity)));
  c.res.Set("ETag", EtagOf(DocStr(entity, "ts")));
  return entity;
}

Status TableService::Insert(Ctx& c, const std::string& table) {
  RETURN_IF_ERROR(c.Allow(*auth_, table, "/entities/add/action", true, 'a'));
  if (c.r.body.size() > kMaxBody) return StorageError(413, "RequestBodyTooLarge", "The request body is too large.");
  auto body = json::ParseObject(c.r.body);
  if (!body.ok()) return StorageError(400, "InvalidInput", "The request body is not a JSON object.");
  const bj::value* pk = body->if_contains("PartitionKey");
  const bj::value* rk = body->if_contains("RowKey");
  if (!pk || !rk || !pk->is_string() || !rk->is_string()) {
    return StorageError(400, "PropertiesNeedValue", "The values are not specified for all properties in the entity.");
  }
  std::string pks(pk->as_string()), rks(rk->as_string());
  if (!ValidKey(pks) || !ValidKey(rks)) return BadInput("the entity key has invalid characters or is too long.");
  ASSIGN_OR_RETURN(bj::array props, PropertiesOf(*body));
  std::lock_guard<std::mutex> l(write_mu_);
  RETURN_IF_ERROR(RequireTable(c, table));
  ASSIGN_OR_RETURN(auto existing, accounts_->GetDoc(c.r.account, kEntityKind, {ToLower(table), pks + kKeySep + rks}));
  if (existing) return StorageError(409, "EntityAlreadyExists", "The specified entity already exists.");
  ASSIGN_OR_RETURN(size_t count, accounts_->CountDocs(c.r.account, kEntityKind, {ToLower(table)}));
  if (count >= kMaxEntities) return StorageError(409, "TableFull", "The table holds as many entities as this service allows.");
  ASSIGN_OR_RETURN(bj::object stored, StoreEntity(c, table, pks, rks, bj::object{{"p", std::move(props)}}, std::nullopt));
  if (c.r.Header("Prefer").find("return-no-content") != std::string_view::npos) {
    c.res.status = 204;
    c.res.Set("Preference-Applied", "return-no-content");
    return OkStatus();
  }
  c.res.status = 201;
  c.res.Set("Content-Type", "application/json;odata=minimalmetadata;streaming=true;charset=utf-8");
  bj::object out = EntityJson(stored, c.metadata, nullptr);
  if (c.metadata) out["odata.metadata"] = Base(c.r) + "$metadata#" + table + "/@Element";
  c.res.body = json::Serialize(out);
  return OkStatus();
}

Status TableService::Entity(Ctx& c, const std::string& table, const std::string& pk, const std::string& rk) {
  const std::string& m = c.r.method;
  if (m == "PUT") return Write(c, table, pk, rk, false);
  if (m == "PATCH" || m == "MERGE") return Write(c, table, pk, rk, true);
  if (m == "GET") {
    RETURN_IF_ERROR(c.Allow(*auth_, table, "/entities/read", true, 'r'));
    RETURN_IF_ERROR(RequireTable(c, table));
    ASSIGN_OR_RETURN(auto doc, accounts_->GetDoc(c.r.account, kEntityKind, {ToLower(table), pk + kKeySep + rk}));
    if (!doc) return NotFoundEntity();
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(*doc));
    c.res.status = 200;
    c.res.Set("ETag", EtagOf(DocStr(o, "ts")));
    c.res.Set("Content-Type", "application/json;odata=minimalmetadata;streaming=true;charset=utf-8");
    bj::object out = EntityJson(o, c.metadata, nullptr);
    if (c.metadata) out["odata.metadata"] = Base(c.r) + "$metadata#" + table + "/@Element";
    c.res.body = json::Serialize(out);
    return OkStatus();
  }
  if (m == "DELETE") {
    RETURN_IF_ERROR(c.Allow(*auth_, table, "/entities/delete", true, 'd'));
    std::lock_guard<std::mutex> l(write_mu_);
    RETURN_IF_ERROR(RequireTable(c, table));
    ASSIGN_OR_RETURN(auto doc, accounts_->GetDoc(c.r.account, kEntityKind, {ToLower(table), pk + kKeySep + rk}));
    if (!doc) return NotFoundEntity();
    ASSIGN_OR_RETURN(bj::object o, json::ParseObject(*doc));
    std::string_view if_match = c.r.Header("If-Match");
    if (!if_match.empty() && if_match != "*" && if_match != EtagOf(DocStr(o, "ts"))) {
      return StorageError(412, "UpdateConditionNotSatisfied", "The update condition specified in the request was not satisfied.");
    }
    RETURN_IF_ERROR(accounts_->DeleteDoc(c.r.account, kEntityKind, {ToLower(table), pk + kKeySep + rk}));
    c.res.status = 204;
    return OkStatus();
  }
  return StorageError(405, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.");
}

// PUT (replace) and PATCH/MERGE (merge); without If-Match an upsert, with it an update of an
// existing entity whose ETag matches.
Status TableService::Write(Ctx& c, const std::string& table, const std::string& pk, const std::string& rk, bool merge) {
  RETURN_IF_ERROR(c.Allow(*auth_, table, "/entities/write", true, 'u'));
  if (c.r.body.size() > kMaxBody) return StorageError(413, "RequestBodyTooLarge", "The request body is too large.");
  auto body = json::ParseObject(c.r.body.empty() ? "{}" : c.r.body);
  if (!body.ok()) return StorageError(400, "InvalidInput", "The request body is not a JSON object.");
  ASSIGN_OR_RETURN(bj::array props, PropertiesOf(*body));
  std::lock_guard<std::mutex> l(write_mu_);
  RETURN_IF_ERROR(RequireTable(c, table));
  ASSIGN_OR_RETURN(auto doc, accounts_->GetDoc(c.r.account, kEntityKind, {ToLower(table), pk + kKeySep + rk}));
  std::optional<bj::object> old;
  if (doc) {
    ASSIGN_OR_RETURN(old, json::ParseObject(*doc));
  }
  std::string_view if_match = c.r.Header("If-Match");
  if (!if_match.empty()) {
    if (!old) return NotFoundEntity();
    if (if_match != "*" && if_match != EtagOf(DocStr(*old, "ts"))) {
      return StorageError(412, "UpdateConditionNotSatisfied", "The update condition specified in the request was not satisfied.");
    }
  }
  if (merge && old) {
    bj::array merged = old->at("p").as_array();
    for (const auto& p : props) {
      std::string n = DocStr(p.as_object(), "n");
      auto it = std::find_if(merged.begin(), merged.end(), [&](const bj::value& q) { return DocStr(q.as_object(), "n") == n; });
      if (it != merged.end()) *it = p;
      else merged.push_back(p);
    }
    if (merged.size() > kMaxProperties) return StorageError(400, "TooManyProperties", "The entity contains more properties than allowed.");
    props = std::move(merged);
  }
  if (!old) {
    ASSIGN_OR_RETURN(size_t count, accounts_->CountDocs(c.r.account, kEntityKind, {ToLower(table)}));
    if (count >= kMaxEntities) return StorageError(409, "TableFull", "The table holds as many entities as this service allows.");
  }
  RETURN_IF_ERROR(StoreEntity(c, table, pk, rk, bj::object{{"p", std::move(props)}}, old).status());
  c.res.status = 204;
  return OkStatus();
}

}  // namespace cmk::storage_account
