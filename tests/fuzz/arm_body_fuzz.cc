// Fuzzes ARM request bodies (issue 11: no throwing JSON accessor on untrusted data): every input
// is sent as the body of PUT and PATCH requests to the control plane's resource types —
// workspaces, tables, saved searches, linked services, clusters, user-assigned identities, data
// collection endpoints and rules (whose transformKql goes through the KQL parser and binder),
// resource groups and role assignments. The first byte picks the target; the rest is the body.
// A crash, an exception or a 5xx answer is a finding.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "control/arm_service.h"
#include "control/insights_provider.h"
#include "control/oi_provider.h"
#include "env/env.h"
#include "identity/directory.h"
#include "identity/rbac.h"
#include "meta/metadata_store.h"

namespace {

using namespace cmk;

struct Fixture {
  Fixture() {
    dir = std::filesystem::temp_directory_path() / ("arm_fuzz_" + env::SecureRandom().NewGuid());
    std::filesystem::create_directories(dir);
    store = std::move(*meta::MetadataStore::Open(dir + "/meta.db"));
    env::Env e{&clock, &random, &fs};
    directory = std::make_unique<identity::Directory>(store.get(), e);
    rbac = std::move(*identity::Rbac::Create(store.get(), e));
    auto tenant = *directory->CreateTenant("t.localhost");
    admin = std::move(*directory->CreateServicePrincipal(tenant.id, "admin")).principal;
    sub = random.NewGuid();
    arm = std::make_unique<control::ArmService>(e, store.get(), directory.get(), rbac.get(),
                                                control::InstanceInfo{tenant.id, sub, "rg", "eastus"},
                                                control::AdminHooks{});
    (void)arm->EnsureSubscription(sub, tenant.id, "s");
    (void)arm->EnsureResourceGroup(sub, "rg", "eastus");
    (void)rbac->Assign({random.NewGuid(), "/subscriptions/" + sub,
                        identity::FindRoleDefinition("Owner")->id, admin.object_id});
    auto oi = std::make_unique<control::OperationalInsightsProvider>(e, store.get(), directory.get(),
                                                                     rbac.get(), nullptr, control::OperationalInsightsOptions{});
    (void)oi->Load();
    arm->SetOperationalInsights(std::move(oi));
    auto insights = std::make_unique<control::InsightsProvider>(e, store.get(), directory.get(), rbac.get());
    (void)insights->Load();
    arm->SetInsights(std::move(insights));
    // A workspace and a table for the requests that reference them.
    Send("PUT", "/providers/Microsoft.OperationalInsights/workspaces/ws1", "2022-10-01",
         R"({"location":"eastus"})");
    Send("PUT", "/providers/Microsoft.OperationalInsights/workspaces/ws1/tables/T_CL", "2022-10-01",
         R"({"properties":{"schema":{"name":"T_CL","columns":[{"name":"TimeGenerated","type":"dateTime"},{"name":"M","type":"string"}]}}})");
  }
  control::ArmResponse Send(const std::string& method, const std::string& rel,
                            const std::string& api, std::string body) {
    control::ArmRequest r;
    r.method = method;
    r.path = "/subscriptions/" + sub + "/resourceGroups/rg" + rel;
    r.query = {{"api-version", api}};
    r.body = std::move(body);
    r.caller = admin;
    r.base_url = "https://management.localhost:8443";
    return arm->Handle(r);
  }
  std::string dir;
  env::SimulatedClock clock{FromUnixSeconds(1795416367)};
  env::SeededRandom random{1};
  env::PosixFileSystem fs;
  std::unique_ptr<meta::MetadataStore> store;
  std::unique_ptr<identity::Directory> directory;
  std::unique_ptr<identity::Rbac> rbac;
  std::unique_ptr<control::ArmService> arm;
  identity::Principal admin;
  std::string sub;
};

struct Target {
  const char* method;
  const char* path;
  const char* api;
};

constexpr Target kTargets[] = {
    {"PUT", "/providers/Microsoft.OperationalInsights/workspaces/wsf", "2022-10-01"},
    {"PATCH", "/providers/Microsoft.OperationalInsights/workspaces/ws1", "2022-10-01"},
    {"PUT", "/providers/Microsoft.OperationalInsights/workspaces/ws1/tables/F_CL", "2022-10-01"},
    {"PATCH", "/providers/Microsoft.OperationalInsights/workspaces/ws1/tables/T_CL", "2022-10-01"},
    {"PUT", "/providers/Microsoft.OperationalInsights/workspaces/ws1/savedSearches/s1", "2020-08-01"},
    {"PUT", "/providers/Microsoft.OperationalInsights/workspaces/ws1/linkedServices/cluster", "2020-08-01"},
    {"PUT", "/providers/Microsoft.OperationalInsights/workspaces/ws1/linkedStorageAccounts/Query", "2020-08-01"},
    {"PUT", "/providers/Microsoft.OperationalInsights/clusters/cf", "2022-10-01"},
    {"PATCH", "/providers/Microsoft.OperationalInsights/clusters/cf", "2022-10-01"},
    {"PUT", "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/idf", "2023-01-31"},
    {"PUT", "/providers/Microsoft.Insights/dataCollectionEndpoints/dcef", "2022-06-01"},
    {"PUT", "/providers/Microsoft.Insights/dataCollectionRules/dcrf", "2022-06-01"},
    {"PATCH", "/providers/Microsoft.Insights/dataCollectionRules/dcrf", "2022-06-01"},
    {"PUT", "/providers/Microsoft.Authorization/roleAssignments/2b7f1a4e-1f4b-4b6e-9a51-2f6b0a7c9d10",
     "2022-04-01"},
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Fixture* f = new Fixture();
  if (size == 0) return 0;
  const Target& t = kTargets[data[0] % (sizeof(kTargets) / sizeof(kTargets[0]))];
  std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  auto res = f->Send(t.method, t.path, t.api, std::move(body));
  if (res.status >= 500) __builtin_trap();  // malformed input is the client's error, never ours
  return 0;
}
