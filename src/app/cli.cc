#include "app/cli.h"

#include <boost/json.hpp>
#include <iostream>

#include "base/encoding.h"
#include "base/json.h"
#include "env/env.h"
#include "server/https_client.h"

namespace cmk::app {
namespace {

namespace bj = boost::json;

struct Config {
  bj::object o;
  std::string S(const char* k) const {
    auto it = o.find(k);
    return it != o.end() && it->value().is_string() ? std::string(it->value().as_string()) : "";
  }
  server::HttpsClientOptions Client() const {
    server::HttpsClientOptions opts;
    opts.ca_cert_path = S("caCertPath");
    opts.connect_address = "127.0.0.1";
    if (auto it = o.find("listenAddresses"); it != o.end() && it->value().is_array() &&
                                              !it->value().as_array().empty()) {
      opts.connect_address = std::string(it->value().as_array()[0].as_string());
    }
    return opts;
  }
};

Result<Config> LoadConfig(const std::string& data_dir) {
  env::PosixFileSystem fs;
  std::string path = data_dir + "/client-config.json";
  auto text = fs.ReadFile(path);
  if (!text.ok()) {
    return FailedPrecondition("cannot read " + path + " (is the server running on this data dir?): " +
                              text.status().message());
  }
  ASSIGN_OR_RETURN(bj::object o, json::ParseObject(*text));
  return Config{std::move(o)};
}

std::string ErrorText(const server::ClientResponse& r) {
  return "HTTP " + std::to_string(r.status) + ": " + r.body;
}

Result<std::string> AdminToken(const Config& cfg, const std::string& scope) {
  server::ClientRequest req;
  req.method = "POST";
  req.url = cfg.S("authorityHost") + "/" + cfg.S("tenantId") + "/oauth2/v2.0/token";
  req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}};
  req.body = "grant_type=client_credentials&client_id=" + PercentEncode(cfg.S("clientId")) +
             "&client_secret=" + PercentEncode(cfg.S("clientSecret")) + "&scope=" + PercentEncode(scope);
  ASSIGN_OR_RETURN(auto res, server::HttpsFetch(req, cfg.Client()));
  std::fill(req.body.begin(), req.body.end(), '\0');
  if (res.status != 200) return Unauthenticated("token request failed: " + ErrorText(res));
  ASSIGN_OR_RETURN(bj::object o, json::ParseObject(res.body));
  return std::string(o["access_token"].as_string());
}

Result<server::ClientResponse> Arm(const Config& cfg, const std::string& method, const std::string& path,
                                   const std::string& body = "") {
  ASSIGN_OR_RETURN(std::string token, AdminToken(cfg, cfg.S("armScope")));
  server::ClientRequest req;
  req.method = method;
  req.url = cfg.S("armEndpoint") + path;
  req.headers = {{"Authorization", "Bearer " + token}, {"Accept", "application/json"}};
  if (!body.empty()) req.headers.emplace_back("Content-Type", "application/json");
  req.body = body;
  return server::HttpsFetch(req, cfg.Client());
}

int Fail(const Status& s) {
  std::cerr << "error: " << s.message() << "\n";
  return 1;
}

int PrintResult(const Result<server::ClientResponse>& r) {
  if (!r.ok()) return Fail(r.status());
  if (r->status >= 300) {
    std::cerr << "error: " << ErrorText(*r) << "\n";
    return 1;
  }
  std::cout << r->body << "\n";
  return 0;
}

}  // namespace

Result<Duration> ParseHumanDuration(std::string_view text) {
  if (!text.empty() && (text[0] == 'P' || text[0] == 'p')) return ParseIsoDuration(text);
  size_t i = 0;
  int64_t n = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
    if (n > 1000000000000LL) return InvalidArgument("duration is too large");
    n = n * 10 + (text[i++] - '0');
  }
  std::string_view unit = text.substr(i);
  if (i == 0) return InvalidArgument("'" + std::string(text) + "' is not a duration (try 14d, 2h, 30m, 90s)");
  using namespace std::chrono;
  if (unit == "ms") return duration_cast<Duration>(milliseconds(n));
  if (unit == "s" || unit.empty()) return duration_cast<Duration>(seconds(n));
  if (unit == "m") return duration_cast<Duration>(minutes(n));
  if (unit == "h") return duration_cast<Duration>(hours(n));
  if (unit == "d") return duration_cast<Duration>(hours(24 * n));
  if (unit == "w") return duration_cast<Duration>(hours(24 * 7 * n));
  return InvalidArgument("unknown duration unit '" + std::string(unit) + "' (use ms, s, m, h, d, w)");
}

int PrincipalCreate(const std::string& data_dir, const std::string& name) {
  auto cfg = LoadConfig(data_dir);
  if (!cfg.ok()) return Fail(cfg.status());
  bj::object body{{"name", name}};
  return PrintResult(Arm(*cfg, "POST", "/cmklogs/admin/principals", bj::serialize(body)));
}

int RoleAssign(const std::string& data_dir, const std::string& principal, const std::string& role,
               const std::string& scope) {
  auto cfg = LoadConfig(data_dir);
  if (!cfg.ok()) return Fail(cfg.status());
  auto who = Arm(*cfg, "GET", "/cmklogs/admin/principals/" + PercentEncode(principal));
  if (!who.ok()) return Fail(who.status());
  if (who->status != 200) return Fail(NotFound(ErrorText(*who)));
  std::string object_id(json::ParseObject(who->body)->at("objectId").as_string());
  std::string s = scope.empty() ? "/subscriptions/" + cfg->S("subscriptionId") : scope;
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  std::string role_id = role;
  if (!IsGuid(role)) {
    auto defs = Arm(*cfg, "GET", s + "/providers/Microsoft.Authorization/roleDefinitions?api-version=2022-04-01&$filter=" +
                                     PercentEncode("roleName eq '" + role + "'"));
    if (!defs.ok()) return Fail(defs.status());
    if (defs->status != 200) return Fail(InvalidArgument(ErrorText(*defs)));
    auto list = json::ParseObject(defs->body);
    if (!list.ok() || list->at("value").as_array().empty()) {
      return Fail(NotFound("no role definition named '" + role + "'"));
    }
    role_id = std::string(list->at("value").as_array()[0].as_object().at("name").as_string());
  }
  bj::object body{{"properties", bj::object{{"roleDefinitionId", s + "/providers/Microsoft.Authorization/roleDefinitions/" + role_id},
                                            {"principalId", object_id},
                                            {"principalType", "ServicePrincipal"}}}};
  env::SecureRandom random;
  return PrintResult(Arm(*cfg, "PUT", s + "/providers/Microsoft.Authorization/roleAssignments/" +
                                          random.NewGuid() + "?api-version=2022-04-01",
                         bj::serialize(body)));
}

int PrintToken(const std::string& data_dir, const std::string& scope) {
  auto cfg = LoadConfig(data_dir);
  if (!cfg.ok()) return Fail(cfg.status());
  auto token = AdminToken(*cfg, scope.empty() ? cfg->S("armScope") : scope);
  if (!token.ok()) return Fail(token.status());
  std::cout << *token << "\n";
  return 0;
}

int ClusterRestoreIdentity(const std::string& data_dir, const std::string& cluster_id) {
  auto cfg = LoadConfig(data_dir);
  if (!cfg.ok()) return Fail(cfg.status());
  bj::object body{{"clusterId", cluster_id}};
  return PrintResult(Arm(*cfg, "POST", "/cmklogs/admin/restore-cluster-identity", bj::serialize(body)));
}

int VaultAudit(const std::string& data_dir, const std::string& vault) {
  auto cfg = LoadConfig(data_dir);
  if (!cfg.ok()) return Fail(cfg.status());
  return PrintResult(Arm(*cfg, "GET", "/cmklogs/admin/vaults/" + PercentEncode(vault) + "/audit"));
}

int VaultOutage(const std::string& data_dir, const std::string& vault, const std::string& on_off) {
  if (on_off != "on" && on_off != "off") return Fail(InvalidArgument("say 'on' or 'off'"));
  auto cfg = LoadConfig(data_dir);
  if (!cfg.ok()) return Fail(cfg.status());
  bj::object body{{"on", on_off == "on"}};
  return PrintResult(Arm(*cfg, "POST", "/cmklogs/admin/vaults/" + PercentEncode(vault) + "/outage", bj::serialize(body)));
}

int ClockAdvance(const std::string& data_dir, const std::string& duration) {
  auto d = ParseHumanDuration(duration);
  if (!d.ok()) return Fail(d.status());
  auto cfg = LoadConfig(data_dir);
  if (!cfg.ok()) return Fail(cfg.status());
  double secs = std::chrono::duration<double>(*d).count();
  bj::object body{{"seconds", secs}};
  return PrintResult(Arm(*cfg, "POST", "/cmklogs/admin/clock/advance", bj::serialize(body)));
}

int ClockShow(const std::string& data_dir) {
  auto cfg = LoadConfig(data_dir);
  if (!cfg.ok()) return Fail(cfg.status());
  return PrintResult(Arm(*cfg, "GET", "/cmklogs/admin/clock"));
}

int SupportRequest(const std::string& data_dir, const std::vector<std::string>& workspaces,
                   const std::vector<std::string>& storage_accounts,
                   const std::string& reason, const std::string& duration, const std::string& support_request) {
  bj::object body{{"reason", reason}, {"supportRequest", support_request}};
  if (!duration.empty()) {
    auto d = ParseHumanDuration(duration);
    if (!d.ok()) return Fail(d.status());
    body["duration"] = FormatIsoDuration(*d);
  }
  bj::array ws;
  for (const auto& w : workspaces) ws.emplace_back(w);
  body["workspaces"] = std::move(ws);
  bj::array sa;
  for (const auto& a : storage_accounts) sa.emplace_back(a);
  body["storageAccounts"] = std::move(sa);
  auto cfg = LoadConfig(data_dir);
  if (!cfg.ok()) return Fail(cfg.status());
  return PrintResult(Arm(*cfg, "POST", "/cmklogs/admin/lockbox/requests", bj::serialize(body)));
}

int Operator(const std::string& data_dir, const std::string& verb, const std::string& principal) {
  auto cfg = LoadConfig(data_dir);
  if (!cfg.ok()) return Fail(cfg.status());
  if (verb == "list") return PrintResult(Arm(*cfg, "GET", "/cmklogs/admin/operators"));
  if (verb != "add" && verb != "remove") return Fail(InvalidArgument("say add, remove or list"));
  auto who = Arm(*cfg, "GET", "/cmklogs/admin/principals/" + PercentEncode(principal));
  if (!who.ok()) return Fail(who.status());
  if (who->status != 200) return Fail(NotFound(ErrorText(*who)));
  auto o = json::ParseObject(who->body);
  if (!o.ok()) return Fail(o.status());
  auto object_id = json::GetString(*o, "objectId");
  if (!object_id.ok() || !object_id->has_value()) return Fail(Internal("no objectId in " + who->body));
  return PrintResult(Arm(*cfg, verb == "add" ? "PUT" : "DELETE", "/cmklogs/admin/operators/" + PercentEncode(**object_id)));
}

}  // namespace cmk::app
