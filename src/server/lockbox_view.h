#pragma once
// The query API under Customer Lockbox (control/lockbox.h, docs/lockbox.md): the gate on each
// workspace a query names, the catalog the query then sees, and the record of what it read.
// Thread safety: stateless functions over thread-safe services.
#include <memory>
#include <string>
#include <vector>

#include "control/lockbox.h"
#include "engine/log_store.h"
#include "kql/semantic/catalog.h"
#include "server/data_plane.h"

namespace cmk::server {

// OK when the caller may read `ws` as far as Lockbox is concerned, adding the grant it reads
// under to `grants` when it needs one; PermissionDenied (CustomerLockboxAccessDenied) otherwise.
Status LockboxGate(const DataPlaneDeps& d, const identity::Principal& caller, const engine::WorkspaceInfo& ws,
                   std::vector<control::LockboxGrant>& grants);

// The catalog a query sees: `inner`, plus the `LockboxAccess` table of the workspaces Lockbox
// covers (what operators read there), and — for a caller reading under a grant — scans of
// Auxiliary-plan tables refused (Lockbox does not cover them). `inner` as is without Lockbox.
std::unique_ptr<kql::Catalog> LockboxView(const DataPlaneDeps& d, const std::vector<engine::WorkspaceInfo>& spaces,
                                          bool under_grant, std::unique_ptr<kql::Catalog> inner);

// Records a query run under `grants` (who, request, workspace, query text, rows returned).
void LockboxRecord(const DataPlaneDeps& d, const identity::Principal& caller,
                   const std::vector<control::LockboxGrant>& grants, const std::string& query, int64_t rows);

// The LockboxAccess table of `rows`.
kql::Table LockboxAccessTable(const std::vector<control::LockboxAccess>& rows);

}  // namespace cmk::server
