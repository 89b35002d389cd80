#include "server/lockbox_view.h"

#include <set>

#include "base/encoding.h"

namespace cmk::server {
namespace {

// Wraps the workspaces' catalog: extra tables first looked up by name, refused tables kept in
// the schema (so the error names them) but never scanned.
class LockboxCatalog final : public kql::Catalog {
 public:
  LockboxCatalog(std::unique_ptr<kql::Catalog> inner, std::unique_ptr<kql::InMemoryCatalog> extra,
                 std::set<std::string> refused)
      : inner_(std::move(inner)), extra_(std::move(extra)), refused_(std::move(refused)) {}

  std::vector<std::string> TableNames() const override {
    auto names = inner_->TableNames();
    for (auto& n : extra_->TableNames()) {
      if (!inner_->TableSchema(n)) names.push_back(std::move(n));
    }
    return names;
  }
  std::optional<kql::Schema> TableSchema(const std::string& table) const override {
    if (auto s = inner_->TableSchema(table)) return s;
    return extra_->TableSchema(table);
  }
  Status Scan(const kql::ScanRequest& request,
              const std::function<Status(std::shared_ptr<const kql::Table>)>& sink) const override {
    if (refused_.count(request.table) > 0) {
      return PermissionDenied("Table '" + request.table +
                                  "' is on the Auxiliary plan: Customer Lockbox does not cover Auxiliary-plan tables, "
                                  "so an approved request grants no access to them.",
                              "CustomerLockboxNotCovered");
    }
    if (!inner_->TableSchema(request.table) && extra_->TableSchema(request.table)) {
      return kql::ScanAsAsked(*extra_, request, sink);  // (what the inner catalog's scans do)
    }
    return inner_->Scan(request, sink);
  }
  // The workspaces' catalog's: its scans keep their filters on the reader threads, their exact
  // time bounds and thinning (the extra tables' scans are completed by ScanAsAsked).
  bool AppliesFilters() const override { return inner_->AppliesFilters(); }
  bool SequencesChunks() const override { return inner_->SequencesChunks(); }
  bool Thins() const override { return inner_->Thins(); }
  bool ExactTimeBounds() const override { return inner_->ExactTimeBounds(); }
  void RunAll(std::span<const std::function<void()>> jobs) const override { inner_->RunAll(jobs); }

 private:
  std::unique_ptr<kql::Catalog> inner_;
  std::unique_ptr<kql::InMemoryCatalog> extra_;
  std::set<std::string> refused_;
};

}  // namespace

Status LockboxGate(const DataPlaneDeps& d, const identity::Principal& caller, const engine::WorkspaceInfo& ws,
                   std::vector<control::LockboxGrant>& grants) {
  if (d.lockbox == nullptr) return OkStatus();
  ASSIGN_OR_RETURN(auto grant, d.lockbox->CheckAccess(caller, ws.resource_id));
  if (grant) grants.push_back(std::move(*grant));
  return OkStatus();
}

kql::Table LockboxAccessTable(const std::vector<control::LockboxAccess>& rows) {
  kql::Table t;
  t.name = "LockboxAccess";
  for (auto [n, ty] : std::initializer_list<std::pair<const char*, kql::Type>>{
           {"TimeGenerated", kql::Type::kDateTime}, {"OperatorObjectId", kql::Type::kString},
           {"OperatorAppId", kql::Type::kString},   {"RequestId", kql::Type::kString},
           {"ResourceId", kql::Type::kString},      {"Operation", kql::Type::kString},
           {"QueryText", kql::Type::kString},       {"RowsReturned", kql::Type::kLong}}) {
    t.AddColumn(n, kql::Column(ty));
  }
  for (const auto& a : rows) {
    auto& c = t.columns;
    c[0].AppendInt(Ticks(a.time));
    c[1].AppendString(a.operator_id);
    c[2].AppendString(a.operator_app_id);
    c[3].AppendString(a.request_id);
    c[4].AppendString(a.resource_id);
    c[5].AppendString(a.operation);
    c[6].AppendString(a.query);
    c[7].AppendInt(a.rows);
    ++t.rows;
  }
  return t;
}

std::unique_ptr<kql::Catalog> LockboxView(const DataPlaneDeps& d, const std::vector<engine::WorkspaceInfo>& spaces,
                                          bool under_grant, std::unique_ptr<kql::Catalog> inner) {
  if (d.lockbox == nullptr) return inner;
  // Only workspaces Lockbox covers (or once covered) get the table: without Lockbox, `union *`
  // and `search *` see exactly what they saw before.
  std::vector<control::LockboxAccess> rows;
  bool any = false;
  for (const auto& ws : spaces) {
    auto acc = d.lockbox->Accesses(ws.resource_id);
    bool covered = d.lockbox->Covers(ws.resource_id);
    if (!covered && (!acc.ok() || acc->empty())) continue;
    any = true;
    if (acc.ok()) rows.insert(rows.end(), acc->begin(), acc->end());
  }
  std::set<std::string> refused;
  if (under_grant && d.workspaces != nullptr) {
    for (const auto& ws : spaces) {
      auto tables = d.workspaces->Tables(ws.resource_id);
      if (!tables.ok()) continue;
      for (const auto& t : *tables) {
        if (EqualsIgnoreCase(t.plan, "Auxiliary")) refused.insert(t.name);
      }
    }
  }
  if (!any && refused.empty()) return inner;
  auto extra = std::make_unique<kql::InMemoryCatalog>();
  if (any) extra->Add(LockboxAccessTable(rows));
  return std::make_unique<LockboxCatalog>(std::move(inner), std::move(extra), std::move(refused));
}

void LockboxRecord(const DataPlaneDeps& d, const identity::Principal& caller,
                   const std::vector<control::LockboxGrant>& grants, const std::string& query, int64_t rows) {
  if (d.lockbox == nullptr) return;
  for (const auto& g : grants) {
    d.lockbox->RecordAccess(caller, g, "Microsoft.OperationalInsights/workspaces/query/read", query, rows);
  }
}

}  // namespace cmk::server
