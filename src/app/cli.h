#pragma once
// Admin CLI commands. Each talks to a running server over HTTPS as the instance admin, using
// <data-dir>/client-config.json; each returns a process exit code and prints JSON or an error.
#include <string>
#include <vector>

#include "base/status.h"
#include "base/time_format.h"

namespace cmk::app {

int PrincipalCreate(const std::string& data_dir, const std::string& name);
int RoleAssign(const std::string& data_dir, const std::string& principal, const std::string& role,
               const std::string& scope);
int PrintToken(const std::string& data_dir, const std::string& scope);
int ClusterRestoreIdentity(const std::string& data_dir, const std::string& cluster_id);
int VaultAudit(const std::string& data_dir, const std::string& vault);
int ClockAdvance(const std::string& data_dir, const std::string& duration);
// Prints the server's clocks: mode, simulated and real time, offset (GET /cmklogs/admin/clock).
int ClockShow(const std::string& data_dir);
int VaultOutage(const std::string& data_dir, const std::string& vault, const std::string& on_off);
// An operator's Customer Lockbox request for workspaces (resource ids or customer ids) and storage
// accounts (names or resource ids), with a
// justification and how long access is asked for ("8h"; empty: 8 hours). Prints the request.
int SupportRequest(const std::string& data_dir, const std::vector<std::string>& workspaces,
                   const std::vector<std::string>& storage_accounts,
                   const std::string& reason, const std::string& duration, const std::string& support_request);
// Names (`add`) or unnames (`remove`) an instance operator by object or client id; `list`.
int Operator(const std::string& data_dir, const std::string& verb, const std::string& principal);

// "14d", "2h", "30m", "90s", "1w", "500ms" or an ISO 8601 duration ("P14D").
Result<Duration> ParseHumanDuration(std::string_view text);

}  // namespace cmk::app
