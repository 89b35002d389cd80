// OperationalInsightsProvider as the storage engine's Topology: workspaces by customer id,
// their retention and linked cluster, clusters' double encryption. Tables are in oi_tables.cc.
#include "base/encoding.h"
#include "base/json.h"
#include "control/arm_util.h"
#include "control/oi_provider.h"

namespace cmk::control {
namespace {

namespace bj = boost::json;
constexpr std::string_view kWorkspaces = "/providers/microsoft.operationalinsights/workspaces/";

engine::WorkspaceInfo ToInfo(const bj::object& doc) {
  engine::WorkspaceInfo w;
  w.resource_id = std::string(doc.at("id").as_string());
  w.name = doc.contains("name") ? std::string(doc.at("name").as_string()) : "";
  w.location = doc.contains("location") ? ToLower(std::string(doc.at("location").as_string())) : "";
  if (auto* p = doc.if_contains("properties"); p && p->is_object()) {
    const bj::object& props = p->as_object();
    if (auto* c = props.if_contains("customerId"); c && c->is_string()) w.customer_id = ToLower(std::string(c->as_string()));
    if (auto* r = props.if_contains("retentionInDays"); r && r->is_int64()) w.retention_days = static_cast<int>(r->as_int64());
    if (auto* f = props.if_contains("features"); f && f->is_object()) {
      if (auto* c = f->as_object().if_contains("clusterResourceId"); c && c->is_string()) {
        w.cluster_id = std::string(c->as_string());
      }
    }
  }
  return w;
}

}  // namespace

Result<engine::WorkspaceInfo> OperationalInsightsProvider::WorkspaceByResourceId(const std::string& resource_id) const {
  ASSIGN_OR_RETURN(auto doc, LoadDoc(resource_id));
  if (!doc) return NotFound("The workspace '" + resource_id + "' was not found.", "WorkspaceNotFound");
  return ToInfo(*doc);
}

Result<engine::WorkspaceInfo> OperationalInsightsProvider::WorkspaceByCustomerId(const std::string& customer_id) const {
  std::string want = ToLower(customer_id);
  {
    std::lock_guard<std::mutex> l(topo_mu_);
    if (auto it = customer_ids_.find(want); it != customer_ids_.end()) {
      auto w = WorkspaceByResourceId(it->second);
      if (w.ok() && w->customer_id == want) return w;
    }
  }
  // Not cached (or moved): one pass over the stored workspaces.
  ASSIGN_OR_RETURN(auto docs, store_->List(kArm, "/subscriptions/"));
  std::lock_guard<std::mutex> l(topo_mu_);
  std::optional<engine::WorkspaceInfo> found;
  for (const auto& d : docs) {
    std::string id = ToLower(d.id);
    size_t at = id.find(kWorkspaces);
    if (at == std::string::npos || id.find('/', at + kWorkspaces.size()) != std::string::npos) continue;
    auto o = json::ParseObject(d.body);
    if (!o.ok()) continue;
    engine::WorkspaceInfo w = ToInfo(*o);
    customer_ids_[w.customer_id] = w.resource_id;
    if (w.customer_id == want) found = w;
  }
  if (!found) return NotFound("The workspace '" + customer_id + "' was not found.", "WorkspaceNotFound");
  return *found;
}

uint64_t OperationalInsightsProvider::Version() const { return store_->Generation(kArm); }

bool OperationalInsightsProvider::DoubleEncryption(const std::string& cluster_id) const {
  auto doc = LoadDoc(cluster_id);
  if (!doc.ok() || !*doc) return false;
  auto* p = (**doc).if_contains("properties");
  if (p == nullptr || !p->is_object()) return false;
  auto* d = p->as_object().if_contains("isDoubleEncryptionEnabled");
  return d != nullptr && d->is_bool() && d->as_bool();
}

}  // namespace cmk::control
