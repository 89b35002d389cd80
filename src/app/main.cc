// cmklogs: `serve` runs every service in one process; the other commands administer a running
// server (see cli.h).
#include <CLI/CLI.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <sys/prctl.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include <spdlog/async.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "app/cli.h"
#include "app/instance.h"
#include "base/encoding.h"
#include "env/env.h"
#include "env/process.h"

namespace {

std::string DefaultDataDir() {
  const char* env = std::getenv("CMKLOGS_DATA_DIR");
  return env != nullptr && *env != '\0' ? env : "cmklogs-data";
}

// Each connection holds a descriptor: raise the soft limit to the hard one so thousands of
// keep-alive clients fit.
void RaiseFileLimit() {
  rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// The server holds unwrapped AEKs, the vault master key and token keys in memory: a core dump or a
// ptrace attach by another process of the same user would expose them. Non-dumpable processes
// write no core file and refuse ptrace from non-root. Sanitizer builds stay dumpable: LeakSanitizer
// stops the world through ptrace and cannot work otherwise.
void ProtectKeyMemory() {
#if defined(__SANITIZE_ADDRESS__)
  return;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  return;
#endif
#endif
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    spdlog::warn("cannot mark the process non-dumpable: {}", std::strerror(errno));
  }
}

int Serve(const cmk::app::ServeOptions& opts) {
  RaiseFileLimit();
  ProtectKeyMemory();
  // Signals are caught from before the server exists: a SIGTERM that arrives while it starts
  // (the client config is already written) still shuts it down gracefully.
  boost::asio::io_context signals_ioc;
  boost::asio::signal_set signals(signals_ioc, SIGINT, SIGTERM);
  auto instance = cmk::app::Instance::Start(opts);
  if (!instance.ok()) {
    spdlog::error("cannot start: {}", instance.status().ToString());
    return 1;
  }
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    spdlog::info("signal {}: shutting down gracefully", sig);
    (*instance)->Shutdown();
  });
  signals_ioc.run();
  (*instance)->Wait();
  instance->reset();
  spdlog::info("stopped");
  spdlog::shutdown();
  return 0;
}

}  // namespace

// Logs (the access log included) go to stderr through spdlog's async logger: request threads
// only format and enqueue; one background thread writes. When the queue is full the oldest
// entries are dropped rather than stalling requests.
void SetUpLogging() {
  spdlog::init_thread_pool(65536, 1);
  auto logger = spdlog::create_async_nb<spdlog::sinks::stderr_sink_mt>("cmklogs");
  spdlog::set_default_logger(logger);
  spdlog::flush_every(std::chrono::seconds(1));
  cmk::env::SetBackgroundErrorReporter([](std::string_view what, std::string_view error) {
    spdlog::error("background job '{}' failed: {}", what, cmk::EscapeForLog(error, 1024));
  });
}

int main(int argc, char** argv) {
  // The server's heap on transparent huge pages, kept rather than trimmed (re-executes once;
  // the CLI's short-lived commands don't need it).
  if (argc > 1 && std::string(argv[1]) == "serve") cmk::env::ReexecWithTunedHeap(argv);
  SetUpLogging();
  CLI::App app{"cmklogs: self-hosted log analytics under customer-managed keys"};
  app.require_subcommand(1);
  std::string data_dir = DefaultDataDir();

  cmk::app::ServeOptions serve_opts;
  auto* serve = app.add_subcommand("serve", "Run the server (HTTPS, every front end)");
  serve->add_option("--data-dir", serve_opts.data_dir, "Data directory (created on first start)")
      ->default_val(DefaultDataDir());
  serve->add_option("--port", serve_opts.port, "TCP port; 0 picks a free one")->default_val(8443);
  serve->add_option("--domain", serve_opts.domain, "Base domain D of the host names")->default_val("localhost");
  std::string clock_mode;
  serve->add_flag("--simulated-clock{simulated}", clock_mode,
                  "Run the data and resource lifecycle on real time plus an offset that `cmklogs clock "
                  "advance` raises (sessions stay on real time); --simulated-clock=frozen: time stands "
                  "still between advances")
      ->check(CLI::IsMember({"simulated", "frozen"}));
  serve->add_option("--listen", serve_opts.listen, "Addresses to listen on")->default_str("127.0.0.1 ::1");
  serve->add_option("--read-timeout-ms", serve_opts.read_timeout_ms,
                    "Deadline for reading one request")->default_val(30000)->check(CLI::Range(100, 600000));
  serve->add_option("--provisioning-seconds", serve_opts.provisioning_seconds,
                    "How long ARM operations (cluster create, link, ...) take on the server's clock "
                    "(default 2 on the real clock, 0 on a simulated one)")->check(CLI::Range(0.0, 86400.0));
  serve->add_option("--memtable-rows", serve_opts.memtable_rows,
                    "Rows a storage account keeps in memory (and in its WAL) before flushing them into extents")
      ->default_val(65536)->check(CLI::Range(int64_t{1}, int64_t{100'000'000}));
  serve->add_option("--memtable-mb", serve_opts.memtable_mb,
                    "MB of (encoded) rows a storage account keeps in memory before flushing, whichever of "
                    "--memtable-rows and this comes first")
      ->default_val(32)->check(CLI::Range(int64_t{1}, int64_t{65536}));
  serve->add_option("--ingestion-requests-per-minute", serve_opts.ingestion_requests_per_minute,
                    "Logs Ingestion API requests a data collection rule may take per minute (then 429)")
      ->default_val(12000)->check(CLI::Range(1, 1'000'000));
  serve->add_option("--ingestion-mb-per-minute", serve_opts.ingestion_mb_per_minute,
                    "MB a data collection rule may take per minute (then 429)")
      ->default_val(2048)->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
  serve->add_option("--extent-codec", serve_opts.extent_codec,
                    "Compression of stored extents: lz4 (fast ingestion) or zstd (about 1.5x smaller)")
      ->default_val("lz4")->check(CLI::IsMember({"lz4", "zstd"}));
  serve->add_option("--alert-threads", serve_opts.alert_threads,
                    "Threads that evaluate log search alert rules")
      ->default_val(4)->check(CLI::Range(1, 64));
  serve->add_option("--webhook-ca-file", serve_opts.webhook_ca_file,
                    "PEM CA that https webhook receivers' certificates chain to, besides the system's "
                    "(default: the instance's own CA)");
  serve->add_flag("--webhook-allow-loopback", serve_opts.webhook_allow_loopback,
                  "Let action groups' webhooks call receivers on this host (127.0.0.0/8, ::1); refused "
                  "by default, as link-local, multicast and unspecified addresses always are");
  serve->add_option("--key-check-interval", serve_opts.key_check_interval_seconds,
                    "Seconds between AEK unwraps through the customer's vault (6-60)")
      ->default_val(30)->check(CLI::Range(6, 60));
  serve->add_option("--threads", serve_opts.threads, "Network threads")->default_val(2)->check(CLI::Range(1, 64));
  serve->add_option("--query-threads", serve_opts.query_threads,
                    "Threads that run queries (0: two per core, at least 8)")
      ->default_val(0)->check(CLI::Range(0, 256));
  serve->add_option("--query-memory-mb", serve_opts.query_memory_mb,
                    "MB of operator state one query may hold before it fails with E_RUNAWAY_QUERY")
      ->default_val(1024)->check(CLI::Range(int64_t{16}, int64_t{1} << 20));
  serve->add_option("--query-server-memory-mb", serve_opts.query_server_memory_mb,
                    "MB all running queries may hold together (then 429, E_LOW_MEMORY_CONDITION); -1: "
                    "4096, or half the memory the server may use (its cgroup's limit) when that is less")
      ->default_val(-1)->check(CLI::Range(int64_t{-1}, int64_t{1} << 22));
  serve
      ->add_option(
          "--query-cache-mb", serve_opts.query_cache_mb,
          "MB of decoded column blocks kept in memory for later queries (least recently used "
          "out first); -1: 1024, or a quarter of the memory the server may use (physical memory, or "
          "its cgroup's limit) when that is less")
      ->default_val(-1)
      ->check(CLI::Range(int64_t{-1}, int64_t{1} << 22));

  serve
      ->add_option("--hot-cache-gb", serve_opts.hot_cache_gb,
                   "GB the hot cache's copies of recent extents may take on disk (least recently used "
                   "out first when a new extent needs room); 0: no bound but the 14-day hot window")
      ->default_val(0)
      ->check(CLI::Range(0.0, 1e6));

  auto* principal = app.add_subcommand("principal", "Service principals")->require_subcommand(1);
  std::string principal_name;
  auto* pcreate = principal->add_subcommand("create", "Create a service principal; prints its credentials");
  pcreate->add_option("--name", principal_name, "Display name")->required();
  pcreate->add_option("--data-dir", data_dir, "Data directory of the running server");

  auto* role = app.add_subcommand("role", "Role assignments")->require_subcommand(1);
  std::string role_principal, role_name, role_scope;
  auto* rassign = role->add_subcommand("assign", "Assign a role to a principal at a scope");
  rassign->add_option("--principal", role_principal, "Object id or client id")->required();
  rassign->add_option("--role", role_name, "Role name or definition id")->required();
  rassign->add_option("--scope", role_scope, "Scope (default: the default subscription)");
  rassign->add_option("--data-dir", data_dir, "Data directory of the running server");

  auto* token = app.add_subcommand("token", "Print an access token of the admin principal");
  std::string token_scope;
  token->add_option("--scope", token_scope, "Scope, e.g. https://management.localhost/.default");
  token->add_option("--data-dir", data_dir, "Data directory of the running server");

  auto* clock = app.add_subcommand("clock", "Simulated clock")->require_subcommand(1);
  std::string advance_by;
  auto* advance = clock->add_subcommand("advance", "Advance the simulated clock (14d, 2h, 30m, 90s)");
  advance->add_option("duration", advance_by, "How far")->required();
  advance->add_option("--data-dir", data_dir, "Data directory of the running server");
  auto* clock_show = clock->add_subcommand("show", "Print the simulated time, the real time and the offset (JSON)");
  clock_show->add_option("--data-dir", data_dir, "Data directory of the running server");

  auto* vault = app.add_subcommand("vault", "Key vaults")->require_subcommand(1);
  std::string audit_vault;
  auto* vaudit = vault->add_subcommand("audit", "Print the audit log of a vault's key operations (JSON)");
  vaudit->add_option("--vault", audit_vault, "Vault or managed HSM name")->required();
  vaudit->add_option("--data-dir", data_dir, "Data directory of the running server");

  std::string outage_vault, outage_state;
  auto* voutage = vault->add_subcommand("outage", "Make a vault unreachable for the key managers (on) or reachable (off)");
  voutage->add_option("--vault", outage_vault, "Vault or managed HSM name")->required();
  voutage->add_option("state", outage_state, "on or off")->required();
  voutage->add_option("--data-dir", data_dir, "Data directory of the running server");

  auto* cluster = app.add_subcommand("cluster", "Log Analytics clusters")->require_subcommand(1);
  std::string restore_cluster;
  auto* crestore = cluster->add_subcommand("restore-identity",
                                           "Give a cluster back the identity it had before it was set to None");
  crestore->add_option("--cluster", restore_cluster, "Cluster resource id")->required();
  crestore->add_option("--data-dir", data_dir, "Data directory of the running server");

  auto* support = app.add_subcommand("support", "Operator access to customer data (Customer Lockbox)")->require_subcommand(1);
  std::vector<std::string> support_workspaces;
  std::string support_reason, support_duration, support_case;
  auto* srequest =
      support->add_subcommand("request", "Open a Customer Lockbox request for workspaces and storage accounts (JSON)");
  std::vector<std::string> support_accounts;
  srequest->add_option("--workspace", support_workspaces, "Workspace resource id or customer id (repeatable)");
  srequest->add_option("--storage-account", support_accounts, "Storage account name or resource id (repeatable)");
  srequest->add_option("--reason", support_reason, "Justification the customer reads")->required();
  srequest->add_option("--duration", support_duration, "How long access is asked for once approved (default 8h)");
  srequest->add_option("--support-request", support_case, "Support case number");
  srequest->add_option("--data-dir", data_dir, "Data directory of the running server");

  auto* op = app.add_subcommand("operator", "Instance operators (gated by Customer Lockbox)")->require_subcommand(1);
  std::string op_principal;
  auto* opadd = op->add_subcommand("add", "Make a principal an operator");
  opadd->add_option("--principal", op_principal, "Object id or client id")->required();
  opadd->add_option("--data-dir", data_dir, "Data directory of the running server");
  auto* opremove = op->add_subcommand("remove", "Make a principal no longer an operator");
  opremove->add_option("--principal", op_principal, "Object id or client id")->required();
  opremove->add_option("--data-dir", data_dir, "Data directory of the running server");
  auto* oplist = op->add_subcommand("list", "List the operators' object ids (JSON)");
  oplist->add_option("--data-dir", data_dir, "Data directory of the running server");

  CLI11_PARSE(app, argc, argv);
  if (srequest->parsed()) {
    return cmk::app::SupportRequest(data_dir, support_workspaces, support_accounts, support_reason, support_duration,
                                    support_case);
  }
  if (opadd->parsed()) return cmk::app::Operator(data_dir, "add", op_principal);
  if (opremove->parsed()) return cmk::app::Operator(data_dir, "remove", op_principal);
  if (oplist->parsed()) return cmk::app::Operator(data_dir, "list", "");
  if (crestore->parsed()) return cmk::app::ClusterRestoreIdentity(data_dir, restore_cluster);
  if (voutage->parsed()) return cmk::app::VaultOutage(data_dir, outage_vault, outage_state);
  if (vaudit->parsed()) return cmk::app::VaultAudit(data_dir, audit_vault);
  if (serve->parsed()) {
    serve_opts.simulated_clock = !clock_mode.empty();
    serve_opts.frozen_clock = clock_mode == "frozen";
    return Serve(serve_opts);
  }
  if (pcreate->parsed()) return cmk::app::PrincipalCreate(data_dir, principal_name);
  if (rassign->parsed()) return cmk::app::RoleAssign(data_dir, role_principal, role_name, role_scope);
  if (token->parsed()) return cmk::app::PrintToken(data_dir, token_scope);
  if (advance->parsed()) return cmk::app::ClockAdvance(data_dir, advance_by);
  if (clock_show->parsed()) return cmk::app::ClockShow(data_dir);
  return 2;
}
