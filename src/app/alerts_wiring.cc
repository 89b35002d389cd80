// Instance::StartAlerts: log search alerts (design.md §7d) wired to the rest of the server —
// the evaluation history (system workspace), the webhook sender, the evaluator over the storage
// engine and RBAC, and the ARM provider of rules, action groups and fired alerts.
#include <spdlog/spdlog.h>

#include "alerts/history.h"
#include "app/instance.h"
#include "control/alert_rules_provider.h"
#include "control/oi_provider.h"
#include "kql/engine.h"

namespace cmk::app {
namespace {

// Microsoft's "AzNS AAD Webhook" application, the caller a secure webhook's receiver sees
// (action-groups.md); tokens for it are issued by this instance's token service.
constexpr char kAznsWebhookApp[] = "461e8683-5575-4561-ac7f-899cc907d62a";
constexpr char kQueryRead[] = "Microsoft.OperationalInsights/workspaces/query/read";

// Limits of one alert query: tighter than the query API's (an evaluation must not hold a
// worker for minutes), with Azure's documented result limits.
constexpr int64_t kAlertQueryDeadlineUs = 60'000'000;
constexpr size_t kAlertQueryMemory = size_t{256} << 20;

}  // namespace

Status Instance::StartAlerts() {
  const std::string& dir = options_.data_dir;
  uint16_t port = http_->port();
  std::string suffix = options_.domain + (port == 443 ? "" : ":" + std::to_string(port));
  ASSIGN_OR_RETURN(alert_history_, alerts::AlertHistory::Open(store_.get()));
  alerts::AlertHistory* history = alert_history_.get();

  alerts::WebhookSenderDeps sd;
  sd.env = env_;
  identity::TokenService* tokens = tokens_.get();
  std::string tenant = info_.tenant_id;
  sd.aad_token = [tokens, tenant](const alerts::WebhookReceiver& w) -> Result<std::string> {
    identity::Principal app{kAznsWebhookApp, kAznsWebhookApp, w.tenant_id.empty() ? tenant : w.tenant_id,
                            "AzNS AAD Webhook", identity::PrincipalType::kServicePrincipal};
    ASSIGN_OR_RETURN(auto tok, tokens->IssueForApplication(app, w.identifier_uri, {"ActionGroupsSecureWebhook"}));
    return tok.token;
  };
  sd.record = [history](const alerts::DeliveryRecord& r) { history->Record(r); };
  alerts::WebhookSenderOptions so;
  ASSIGN_OR_RETURN(so.extra_ca_pem,
                   fs_.ReadFile(options_.webhook_ca_file.empty() ? ca_cert_path_ : options_.webhook_ca_file));
  so.email_outbox = dir + "/alerts-email-outbox.jsonl";
  so.allow_loopback = options_.webhook_allow_loopback;
  ASSIGN_OR_RETURN(webhook_sender_, alerts::WebhookSender::Create(std::move(sd), so));

  alerts::EvaluatorDeps ed;
  ed.env = env_;
  ed.notifier = webhook_sender_.get();
  ed.store = store_.get();
  ed.record = [history](const alerts::EvaluationRecord& r) { history->Record(r); };
  ed.query_endpoint = "https://api.loganalytics." + suffix;
  engine::Topology* topology = topology_.get();
  engine::LogStore* logs = log_store_.get();
  identity::Rbac* rbac = rbac_.get();
  meta::MetadataStore* store = store_.get();
  ed.workspace_info = [topology, store](const std::string& id) -> Result<alerts::WorkspaceAlertInfo> {
    ASSIGN_OR_RETURN(engine::WorkspaceInfo ws, topology->WorkspaceByResourceId(id));
    ASSIGN_OR_RETURN(auto linked, store->Get("arm", ws.resource_id + "/linkedStorageAccounts/Alerts"));
    return alerts::WorkspaceAlertInfo{ws.customer_id, linked.has_value()};
  };
  // The rule's principal must still read the workspace: a lost right fails the evaluation.
  ed.run_query = [topology, logs, rbac](const alerts::QueryRequest& q) -> Result<kql::Table> {
    if (!rbac->IsAllowed(q.principal_id, kQueryRead, q.workspace_id, false)) {
      return Status(StatusCode::kPermissionDenied,
                    "The rule's principal '" + q.principal_id + "' has no read access to workspace '" + q.workspace_id + "'.",
                    "InsufficientAccessError");
    }
    ASSIGN_OR_RETURN(engine::WorkspaceInfo ws, topology->WorkspaceByResourceId(q.workspace_id));
    auto catalog = logs->CatalogFor({ws}, Ticks(q.from), Ticks(q.to));
    kql::ExecOptions o;
    o.now = q.now;
    o.deadline_us = env::MonotonicMicros() + kAlertQueryDeadlineUs;
    o.memory_limit_bytes = kAlertQueryMemory;
    ASSIGN_OR_RETURN(kql::QueryResult result, kql::Execute(q.query, *catalog, o));
    if (result.tables.empty()) return kql::Table{};
    return std::move(result.tables[0]);
  };
  // A query kept in the workspace's linked Alerts storage account is read at each evaluation.
  storage_account::LinkedStorage* linked = linked_storage_.get();
  ed.load_query = [linked](const std::string& location) { return control::ReadAlertQuery(*linked, location); };
  alerts::EvaluatorOptions eo;
  eo.threads = options_.alert_threads;
  alert_evaluator_ = std::make_unique<alerts::AlertEvaluator>(std::move(ed), eo);

  control::AlertRulesDeps ad;
  ad.env = env_;
  ad.store = store_.get();
  ad.directory = directory_.get();
  ad.rbac = rbac_.get();
  ad.workspaces = topology;
  // Binding over an empty time range checks tables, columns and functions without reading rows.
  ad.validate_query = [logs](const engine::WorkspaceInfo& ws, const std::string& query) -> Status {
    auto catalog = logs->CatalogFor({ws}, 0, 0);
    kql::ExecOptions o;
    o.deadline_us = env::MonotonicMicros() + 5'000'000;
    o.memory_limit_bytes = size_t{64} << 20;
    auto r = kql::Execute(query, *catalog, o);
    if (!r.ok() && r.status().code() == StatusCode::kInvalidArgument) return r.status();
    return OkStatus();
  };
  control::OperationalInsightsProvider* oi = arm_->operational_insights();
  ad.alerts_account = [oi](const std::string& ws_id) { return oi->LinkedAccount(ws_id, "Alerts"); };
  ad.linked = linked;
  ad.sink = alert_evaluator_.get();
  ad.notifier = webhook_sender_.get();
  auto provider = std::make_shared<control::AlertRulesProvider>(std::move(ad));
  RETURN_IF_ERROR(provider->Load());
  arm_->AddRoutes([provider](const control::ArmRequest& r) { return provider->Route(r); });

  alerts::AlertEvaluator* eval = alert_evaluator_.get();
  alerts::WebhookSender* sender = webhook_sender_.get();
  metrics_->AddCollector([eval, sender] {
    alerts::EvaluatorStats e = eval->Stats();
    alerts::SenderStats s = sender->Stats();
    std::string out = "# HELP cmklogs_alert_rules Scheduled query rules the evaluator runs.\n"
                      "# TYPE cmklogs_alert_rules gauge\ncmklogs_alert_rules " + std::to_string(e.rules) + "\n";
    for (auto [name, value] : {std::pair{"cmklogs_alert_evaluations_total", e.evaluations},
                               std::pair{"cmklogs_alert_evaluation_failures_total", e.failures},
                               std::pair{"cmklogs_alert_query_load_failures_total", e.query_load_failures},
                               std::pair{"cmklogs_alerts_fired_total", e.fired},
                               std::pair{"cmklogs_alerts_resolved_total", e.resolved},
                               std::pair{"cmklogs_alert_ticks_skipped_total", e.skipped_ticks},
                               std::pair{"cmklogs_alert_webhooks_delivered_total", s.delivered},
                               std::pair{"cmklogs_alert_webhooks_failed_total", s.failed},
                               std::pair{"cmklogs_alert_webhook_retries_total", s.retries},
                               std::pair{"cmklogs_alert_notifications_dropped_total", s.dropped},
                               std::pair{"cmklogs_alert_emails_total", s.emails}}) {
      out += std::string("# TYPE ") + name + " counter\n" + name + " " + std::to_string(value) + "\n";
    }
    out += "# TYPE cmklogs_alert_webhooks_in_flight gauge\ncmklogs_alert_webhooks_in_flight " +
           std::to_string(s.in_flight) + "\n";
    return out;
  });
  return OkStatus();
}

}  // namespace cmk::app
