#pragma once
// WebhookSender: the Notifier that delivers alert events to action groups' receivers.
//
// Webhooks: POST of the common alert schema (payload.h) to the receiver's serviceUri, http or
// https (Azure accepts both; https is verified against the system's CAs and
// Options::extra_ca_pem, with the URL's host name). Credentials in the URL's userinfo go out
// as Basic authorization, as Azure documents; `useAadAuth` receivers get
// `Authorization: Bearer <token>` from Deps::aad_token (the instance's token service, audience
// the receiver's identifierUri).
// Retries follow Azure's documented webhook retry behavior (action-groups.md): a call that
// ends in 408, 429, 503, 504, a connection error or a timeout is retried up to 5 times, after
// 5, 20, 5, 40 and 5 seconds; any other status (a 500 too) is final. An endpoint whose
// retries are all spent gets no calls for 15 minutes. The delays and the mute run on the
// lifecycle clock (env.clock: a rehearsal advances them), each attempt's timeout on real time.
//
// Nothing a receiver does can stall the server: delivery runs asynchronously on the sender's
// own io_context thread; each attempt is bounded by attempt_timeout_ms (connect, TLS, request
// and response together) and max_response_bytes; at most max_in_flight connections are open
// and at most max_queued deliveries wait (more are dropped, and recorded). Notify() never
// blocks on the network. A receiver's host is resolved on each attempt and only addresses a
// webhook may reach are connected to (WebhookAddressRefusal): never link-local (the cloud
// metadata address 169.254.169.254 among them), unspecified, multicast or broadcast addresses,
// and loopback only where Options::allow_loopback (the operator's --webhook-allow-loopback)
// says so. Private networks are reachable: a self-hosted instance alerts into its own network.
// A host with no reachable address fails at once, without retries. Email receivers are appended to a local outbox file (JSON lines), as
// no mail server is assumed. Every attempt's outcome goes to Deps::record.
// Thread safety: safe for concurrent use.
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "alerts/evaluator.h"
#include "base/mutex.h"
#include "env/env.h"

namespace cmk::alerts {

struct DeliveryRecord {
  TimePoint time;
  std::string alert_id, rule_id, action_group, receiver;
  std::string kind;    // Webhook | Email
  std::string target;  // the URL without userinfo and query, or the email address
  int attempt = 0;     // 1-based
  int status = 0;      // HTTP status, 0 when none
  std::string result;  // Delivered, Retrying, Failed, Dropped, Muted
  std::string error;
};

struct WebhookSenderOptions {
  int attempt_timeout_ms = 10'000;  // Azure's documented first-call wait
  std::vector<Duration> retry_delays = {std::chrono::seconds(5), std::chrono::seconds(20),
                                        std::chrono::seconds(5), std::chrono::seconds(40),
                                        std::chrono::seconds(5)};
  Duration endpoint_mute = std::chrono::minutes(15);
  size_t max_in_flight = 64;
  size_t max_queued = 10'000;
  size_t max_response_bytes = 64 * 1024;
  std::string extra_ca_pem;  // PEM certificates trusted besides the system's; empty: none
  std::string email_outbox;   // path of the outbox (JSON lines); empty: emails are not written
  bool allow_loopback = false;  // receivers on this host (127.0.0.0/8, ::1) may be called
};

// Why a webhook may not connect to `ip` (an IPv4 or IPv6 address in text form), or nullopt when
// it may. IPv4 addresses embedded in IPv6 ones (mapped, compatible, NAT64 64:ff9b::/96) are
// judged as the IPv4 address they carry; text that is no address is refused.
std::optional<std::string> WebhookAddressRefusal(std::string_view ip, bool allow_loopback);

struct WebhookSenderDeps {
  env::Env env;
  // A bearer token for a useAadAuth receiver; may be empty (such receivers then fail).
  std::function<Result<std::string>(const WebhookReceiver&)> aad_token;
  std::function<void(const DeliveryRecord&)> record;  // may be empty
};

struct SenderStats {
  uint64_t delivered = 0, failed = 0, retries = 0, dropped = 0, emails = 0;
  size_t in_flight = 0, queued = 0;
};

class WebhookSender final : public Notifier {
 public:
  static Result<std::unique_ptr<WebhookSender>> Create(WebhookSenderDeps deps,
                                                       WebhookSenderOptions options);
  ~WebhookSender() override;
  void Notify(const AlertRule& rule, const AlertEvent& event,
              const std::vector<ActionGroup>& groups) override;
  SenderStats Stats() const;
  // Waits until nothing is in flight or queued (a retry waiting for its delay is neither).
  void WaitIdleForTest();

 private:
  struct Impl;
  explicit WebhookSender(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cmk::alerts
