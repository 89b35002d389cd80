"""Log search alerts that fire (issue 19): action groups (azure-mgmt-monitor 5.0.1 and az 2.45),
scheduled query rules (raw ARM REST 2023-12-01, and the 2018-04-16 shape azure-mgmt-monitor sends)
evaluated on the simulated clock, webhooks in the common alert schema to receivers this test
runs on 127.0.0.1 (plain HTTP, which Azure accepts too), Azure's retry rules, the evaluation
history in the `system` workspace, /metrics and Microsoft.AlertsManagement/alerts.

One server on a frozen simulated clock for the module: time moves only when a test advances it.
Rule ticks are multiples of the frequency; tick T is evaluated at T + 30 s over [T - window, T).
"""
import datetime
import http.server as http_server
import json
import math
import os
import socket
import threading
import time
import uuid

import pytest

from conftest import Server, _teardown, admin_token, cli_json, http, new_principal, parse_rfc3339, sdk_credential, token_for
from test_control_plane import arm, ok_json
from test_ingest_query import create_dcr, create_table, customer_id, ingestion_client
from test_control_plane import create_workspace, workspace_id
from test_keyvault import put_role_assignment

RULE_API = "2023-12-01"
LATENCY = datetime.timedelta(seconds=30)
WAIT_S = 20  # real seconds a test waits for something asynchronous (webhook delivery, history)


# ----------------------------------------------------------------------------------------------
# Receivers


class Receiver:
    """An HTTP receiver on 127.0.0.1: answers with the next scripted status (then 200), or
    accepts and never answers when hang=True. Keeps every request."""

    def __init__(self, script=(), hang=False):
        self.script = list(script)
        self.requests = []
        self.lock = threading.Lock()
        self.hang = hang
        self.held = []
        outer = self

        class Handler(http_server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with outer.lock:
                    outer.requests.append({"body": json.loads(body), "headers": dict(self.headers)})
                    status = outer.script.pop(0) if outer.script else 200
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        if hang:
            self.sock = socket.socket()
            self.sock.bind(("127.0.0.1", 0))
            self.sock.listen(16)
            self.port = self.sock.getsockname()[1]
            threading.Thread(target=self._hold, daemon=True).start()
        else:
            self.httpd = http_server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            self.port = self.httpd.server_address[1]
            threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def _hold(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/hook"

    def bodies(self):
        with self.lock:
            return [r["body"] for r in self.requests]

    def wait_for(self, n, what="payloads"):
        deadline = time.monotonic() + WAIT_S
        while time.monotonic() < deadline:
            if len(self.bodies()) >= n:
                return self.bodies()
            time.sleep(0.05)
        raise AssertionError(f"receiver got {len(self.bodies())} {what}, wanted {n}")

    def close(self):
        if self.hang:
            self.sock.close()
        else:
            self.httpd.shutdown()


# ----------------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture(scope="module")
def env(request, tmp_path_factory):
    # The receivers run on this host: the operator's flag lets webhooks call them.
    s = Server(tmp_path_factory.mktemp("alerts") / "data", ["--simulated-clock=frozen", "--webhook-allow-loopback"])
    s.start()
    create_workspace(s, "wsalerts")
    create_table(s, "wsalerts")
    dcr = create_dcr(s, "dcralerts", "wsalerts")
    e = {"server": s, "rule": dcr["properties"]["immutableId"], "cid": customer_id(s, "wsalerts"),
         "ws": workspace_id(s, "wsalerts"), "receivers": []}
    yield e
    for r in e["receivers"]:
        r.close()
    _teardown(request, [s])


def receiver(env, *a, **kw):
    r = Receiver(*a, **kw)
    env["receivers"].append(r)
    return r


def rg_path(s):
    return f"/subscriptions/{s.subscriptionId}/resourceGroups/{s.resourceGroup}"


def now(s):
    return parse_rfc3339(cli_json(s, "clock", "show")["now"])


def advance(s, seconds):
    cli_json(s, "clock", "advance", f"{int(seconds)}s")


# The rehearsal clock ticks with real time: between reading `now` and asking for `clock advance`
# a loaded machine spends up to seconds on SDK round trips. A tick whose evaluation is due within
# this slack of `now` may already have run by the time the test advances to it. (So that skipped
# tick may still evaluate a rule made just before it, over an empty window.)
SLACK = datetime.timedelta(seconds=15)


def next_tick(t, minutes=1):
    """The first tick whose evaluation (tick + 30 s) is more than SLACK after t."""
    base = t - LATENCY + SLACK
    epoch = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    step = minutes * 60
    secs = int((base - epoch).total_seconds()) // step * step + step
    return epoch + datetime.timedelta(seconds=secs)


def advance_to(s, when):
    delta = (when - now(s)).total_seconds()
    assert delta >= 0, f"already past {when}"
    advance(s, math.ceil(delta))


def ingest(env, when, computer, n, marker, level="Error"):
    recs = [{"TimeGenerated": when.isoformat().replace("+00:00", "Z"), "Computer": computer, "Level": level,
             "EventId": i, "DurationMs": 10.0 * (i + 1), "Message": f"event {marker} {i}"} for i in range(n)]
    ingestion_client(env["server"]).upload(rule_id=env["rule"], stream_name="Custom-AppEvents", logs=recs)


def monitor_client(s, credential=None):
    from azure.mgmt.monitor import MonitorManagementClient
    return MonitorManagementClient(credential or sdk_credential(s), s.subscriptionId, base_url=s.armEndpoint,
                                   credential_scopes=[s.armScope], connection_verify=s.caCertPath)


def action_group(env, name, url, **extra):
    """An action group made with azure-mgmt-monitor (api-version 2022-06-01)."""
    from azure.mgmt.monitor.models import ActionGroupResource, EmailReceiver, WebhookReceiver
    s = env["server"]
    ag = monitor_client(s).action_groups.create_or_update(
        s.resourceGroup, name, ActionGroupResource(
            location="Global", group_short_name=name[:12], enabled=True,
            webhook_receivers=[WebhookReceiver(name="hook", service_uri=url, use_common_alert_schema=True, **extra)],
            email_receivers=[EmailReceiver(name="mail", email_address="oncall@example.com")]))
    return ag.id


def rule_2023(env, name, query, group_ids, *, threshold=2, dims=("Computer",), periods=(1, 1), auto_mitigate=True,
              mute=None, token=None, expect=(200, 201)):
    s = env["server"]
    cond = {"query": query, "timeAggregation": "Count", "operator": "GreaterThan", "threshold": threshold,
            "dimensions": [{"name": d, "operator": "Include", "values": ["*"]} for d in dims],
            "failingPeriods": {"numberOfEvaluationPeriods": periods[0], "minFailingPeriodsToAlert": periods[1]}}
    props = {"severity": 2, "enabled": True, "scopes": [env["ws"]], "evaluationFrequency": "PT1M",
             "windowSize": "PT1M", "criteria": {"allOf": [cond]}, "autoMitigate": auto_mitigate,
             "actions": {"actionGroups": list(group_ids), "customProperties": {"team": "ops"}}}
    if mute:
        props["muteActionsDuration"] = mute
    path = f"{rg_path(s)}/providers/Microsoft.Insights/scheduledQueryRules/{name}?api-version={RULE_API}"
    body = {"location": "eastus", "properties": props}
    r = http(s, "PUT", "management", path, token=token or admin_token(s), body=body)
    return ok_json(r, *expect)


def delete_rule(env, name, api=RULE_API):
    s = env["server"]
    ok_json(arm(s, "DELETE", f"{rg_path(s)}/providers/Microsoft.Insights/scheduledQueryRules/{name}?api-version={api}"),
            200, 204)


def system_rows(s, query):
    r = http(s, "POST", "api.loganalytics", "/v1/workspaces/system/query",
             token=admin_token(s, scope=s.queryScope), body={"query": query})
    assert r.status_code == 200, r.text
    return r.json()["tables"][0]["rows"]


def wait_rows(s, query, pred, what):
    deadline = time.monotonic() + WAIT_S
    rows = []
    while time.monotonic() < deadline:
        rows = system_rows(s, query)
        if pred(rows):
            return rows
        time.sleep(0.1)
    raise AssertionError(f"{what}: {rows}")


def condition(payload):
    return payload["data"]["alertContext"]["condition"]["allOf"][0]


# ----------------------------------------------------------------------------------------------
# Tests


def test_a_rule_fires_once_per_series_with_its_dimensions_then_resolves(env):
    s = env["server"]
    rx = receiver(env)
    ag = action_group(env, "agfire", rx.url)
    start = now(s)
    tick = next_tick(start)
    rule = rule_2023(env, "fires", "AppEvents_CL | where Message has 'mfire'", [ag])
    assert rule["properties"]["isWorkspaceAlertsStorageConfigured"] is False
    ingest(env, tick - datetime.timedelta(seconds=20), "host1", 3, "mfire")
    ingest(env, tick - datetime.timedelta(seconds=20), "host2", 1, "mfire")  # under the threshold
    advance_to(s, tick + LATENCY)
    fired = rx.wait_for(1)[0]
    assert fired["schemaId"] == "azureMonitorCommonAlertSchema"
    ess = fired["data"]["essentials"]
    assert ess["monitorCondition"] == "Fired" and ess["signalType"] == "Log", ess
    assert ess["monitoringService"] == "Log Alerts V2" and ess["severity"] == "Sev2", ess
    assert ess["alertRule"] == "fires" and ess["alertTargetIDs"] == [env["ws"].lower()], ess
    assert ess["alertId"].startswith(f"/subscriptions/{s.subscriptionId}/providers/Microsoft.AlertsManagement/alerts/")
    ctx = fired["data"]["alertContext"]
    assert ctx["conditionType"] == "LogQueryCriteria"
    assert parse_rfc3339(ctx["condition"]["windowEndTime"]) == tick
    assert parse_rfc3339(ctx["condition"]["windowStartTime"]) == tick - datetime.timedelta(minutes=1)
    c = condition(fired)
    assert c["dimensions"] == [{"name": "Computer", "value": "host1"}], c
    assert c["metricValue"] == 3 and c["threshold"] == "2" and c["timeAggregation"] == "Count", c
    assert c["searchQuery"] == "AppEvents_CL | where Message has 'mfire'"
    assert f"/v1/workspaces/{env['cid']}/query?query=" in c["linkToSearchResultsAPI"]
    assert fired["data"]["customProperties"] == {"team": "ops"}
    # The condition clears: one Resolved for the same alert, and nothing more after.
    advance(s, 60)
    resolved = rx.wait_for(2)[1]
    assert resolved["data"]["essentials"]["monitorCondition"] == "Resolved"
    assert resolved["data"]["essentials"]["alertId"] == ess["alertId"]
    assert parse_rfc3339(resolved["data"]["essentials"]["resolvedDateTime"]) == tick + datetime.timedelta(minutes=1) + LATENCY
    advance(s, 60)
    # From the tick on: the rule may also have been evaluated once before it, on nothing (SLACK).
    since = f"AlertEvaluations | where RuleName == 'fires' and WindowEnd >= datetime({tick.strftime('%Y-%m-%dT%H:%M:%SZ')})"
    wait_rows(s, f"{since} | count", lambda r: r[0][0] >= 3, "third evaluation")
    assert len(rx.bodies()) == 2
    # Each evaluation is in the system workspace, and the deliveries too.
    rows = system_rows(s, f"{since} | order by TimeGenerated asc | project Result, Series, FailingSeries, WindowEnd")
    assert [r[0] for r in rows[:3]] == ["Fired", "Resolved", "Unchanged"], rows
    wait_rows(s, "AlertDeliveries | where RuleId endswith '/fires' and Kind == 'Webhook' and Result == 'Delivered' | count",
              lambda r: r[0][0] == 2, "two delivered webhooks")
    outbox = open(os.path.join(s.data_dir, "alerts-email-outbox.jsonl")).read().splitlines()
    assert any(json.loads(line)["to"] == "oncall@example.com" for line in outbox)
    # Fired alerts through Microsoft.AlertsManagement (azure-mgmt-alertsmanagement 2019-05-05-preview).
    from azure.mgmt.alertsmanagement import AlertsManagementClient
    am = AlertsManagementClient(sdk_credential(s), s.subscriptionId, base_url=s.armEndpoint,
                                credential_scopes=[s.armScope], connection_verify=s.caCertPath)
    alert_name = ess["alertId"].rsplit("/", 1)[1]
    got = am.alerts.get_by_id(alert_name)
    assert got.properties.essentials.monitor_condition == "Resolved"
    assert alert_name in [a.name for a in am.alerts.get_all()]
    changed = am.alerts.change_state(alert_name, "Acknowledged")
    assert changed.properties.essentials.alert_state == "Acknowledged"
    delete_rule(env, "fires")


def test_legacy_sdk_rule_fails_periods_and_muting(env):
    """azure-mgmt-monitor 5.0.1's scheduled query rules (2018-04-16): a stateless rule (the SDK
    always sends autoMitigate false) fires every failing evaluation, and throttlingInMin mutes
    its notifications. A 2023-12-01 rule with failingPeriods 2 of 2 fires on the second breach."""
    from azure.mgmt.monitor.models import (AlertingAction, AzNsActionGroup, LogSearchRuleResource, Schedule, Source,
                                           TriggerCondition)
    s = env["server"]
    rx, rx2 = receiver(env), receiver(env)
    ag, ag2 = action_group(env, "aglegacy", rx.url), action_group(env, "agperiods", rx2.url)
    client = monitor_client(s)
    client.scheduled_query_rules.create_or_update(s.resourceGroup, "legacy", LogSearchRuleResource(
        location="eastus", enabled="true", description="legacy",
        source=Source(query="AppEvents_CL | where Message has 'mlegacy'", data_source_id=env["ws"]),
        schedule=Schedule(frequency_in_minutes=1, time_window_in_minutes=1),
        action=AlertingAction(severity="3", throttling_in_min=3, azns_action=AzNsActionGroup(action_group=[ag]),
                              trigger=TriggerCondition(threshold_operator="GreaterThan", threshold=0))))
    got = client.scheduled_query_rules.get(s.resourceGroup, "legacy")
    assert got.enabled == "true" and got.source.data_source_id.lower() == env["ws"].lower()
    rule_2023(env, "periods", "AppEvents_CL | where Message has 'mperiods'", [ag2], threshold=0, dims=(),
              periods=(2, 2))
    tick = next_tick(now(s))
    for m in range(4):  # a row in each of four windows
        ingest(env, tick + datetime.timedelta(minutes=m) - datetime.timedelta(seconds=20), "host9", 1, "mlegacy")
    for m in range(2):
        ingest(env, tick + datetime.timedelta(minutes=m) - datetime.timedelta(seconds=20), "host9", 1, "mperiods")
    advance_to(s, tick + LATENCY)
    rx.wait_for(1)
    wait_rows(s, "AlertEvaluations | where RuleName == 'periods' | count", lambda r: r[0][0] >= 1, "periods evaluated")
    assert rx2.bodies() == [], "fired on the first of two failing periods"
    advance(s, 60)  # legacy: fired again but muted (3 minutes); periods: second breach fires
    rx2.wait_for(1)
    advance(s, 60)  # legacy: still muted
    wait_rows(s, "AlertEvaluations | where RuleName == 'legacy' | count", lambda r: r[0][0] >= 3, "three evaluations")
    assert len(rx.bodies()) == 1
    advance(s, 60)  # the mute is over: the fourth failing window notifies
    second = rx.wait_for(2)[1]
    assert second["data"]["essentials"]["monitorCondition"] == "Fired"
    assert second["data"]["essentials"]["alertId"] != rx.bodies()[0]["data"]["essentials"]["alertId"]
    fired = system_rows(s, "AlertEvaluations | where RuleName == 'legacy' | summarize sum(Fired)")[0][0]
    assert fired == 4, fired
    client.scheduled_query_rules.delete(s.resourceGroup, "legacy")
    delete_rule(env, "periods")


def test_webhook_retries_503_not_500_and_a_silent_receiver_blocks_nothing(env):
    s = env["server"]
    flaky, broken, silent, fine = receiver(env, [503, 503]), receiver(env, [500]), receiver(env, hang=True), receiver(env)
    groups = [action_group(env, n, r.url) for n, r in (("agflaky", flaky), ("agbroken", broken),
                                                        ("agsilent", silent), ("agfine", fine))]
    tick = next_tick(now(s))
    ingest(env, tick - datetime.timedelta(seconds=20), "host3", 5, "mretry")
    rule_2023(env, "retry", "AppEvents_CL | where Message has 'mretry'", groups[:2], dims=(), auto_mitigate=False,
              mute="PT1H")
    rule_2023(env, "silent", "AppEvents_CL | where Message has 'mretry'", groups[2:3], dims=(), auto_mitigate=False,
              mute="PT1H")
    rule_2023(env, "other", "AppEvents_CL | where Message has 'mretry'", groups[3:], dims=(), auto_mitigate=False,
              mute="PT1H")
    advance_to(s, tick + LATENCY)
    # The receiver that never answers holds its connection; the other rule's webhook arrives at once.
    t0 = time.monotonic()
    fine.wait_for(1)
    assert time.monotonic() - t0 < 5, "a silent receiver delayed another rule's webhook"
    flaky.wait_for(1)
    broken.wait_for(1)
    for name in ("retry", "silent", "other"):
        delete_rule(env, name)
    advance(s, 4)
    time.sleep(0.3)
    assert len(flaky.bodies()) == 1, "retried before the documented 5 s"
    advance(s, 1)
    flaky.wait_for(2)
    advance(s, 20)
    bodies = flaky.wait_for(3)
    assert bodies[0] == bodies[2]
    advance(s, 120)
    time.sleep(0.3)
    assert len(flaky.bodies()) == 3 and len(broken.bodies()) == 1, "a 500 was retried or a success re-sent"
    rows = wait_rows(s, "AlertDeliveries | where ActionGroup endswith '/agflaky' and Kind == 'Webhook' "
                        "| order by Attempt asc | project Attempt, HttpStatus, Result",
                     lambda r: len(r) == 3, "three attempts recorded")
    assert rows == [[1, 503, "Retrying"], [2, 503, "Retrying"], [3, 200, "Delivered"]], rows
    rows = system_rows(s, "AlertDeliveries | where ActionGroup endswith '/agbroken' and Kind == 'Webhook' "
                          "| project HttpStatus, Result")
    assert rows == [[500, "Failed"]], rows
    metrics = http(s, "GET", "management", "/metrics", token=admin_token(s)).text
    assert "cmklogs_alert_webhook_retries_total" in metrics and "cmklogs_alert_evaluations_total" in metrics


def test_a_rule_whose_principal_lost_read_access_records_the_failure(env):
    s = env["server"]
    rx = receiver(env)
    ag = action_group(env, "agaccess", rx.url)
    sp = new_principal(s, "alert-author")
    assignment = str(uuid.uuid4())
    put_role_assignment(s, assignment, sp["objectId"], "b24988ac-6180-42a0-ab88-20f7382dd24c", rg_path(s))  # Contributor
    token = token_for(s, sp["clientId"], sp["clientSecret"])
    rule_2023(env, "access", "AppEvents_CL | where Message has 'maccess'", [ag], threshold=0, dims=(), token=token)
    tick = next_tick(now(s))
    ingest(env, tick - datetime.timedelta(seconds=20), "host4", 1, "maccess")
    advance_to(s, tick + LATENCY)
    rx.wait_for(1)  # the author could read the workspace
    ok_json(arm(s, "DELETE", f"{rg_path(s)}/providers/Microsoft.Authorization/roleAssignments/{assignment}"
                             "?api-version=2022-04-01"), 200, 204)
    advance(s, 60)
    rows = wait_rows(s, "AlertEvaluations | where RuleName == 'access' and Result == 'Failed' | project Error",
                     lambda r: len(r) >= 1, "a recorded failure")
    assert "InsufficientAccessError" in rows[0][0] and sp["objectId"] in rows[0][0], rows
    delete_rule(env, "access")


def test_rule_validation_errors_and_the_test_notification_action(env):
    from azure.mgmt.monitor.models import NotificationRequestBody, WebhookReceiver
    s = env["server"]
    rx = receiver(env)
    ag = action_group(env, "agvalid", "http://127.0.0.1:9/x")
    done = monitor_client(s).action_groups.begin_create_notifications_at_action_group_resource_level(
        s.resourceGroup, "agvalid", NotificationRequestBody(
            alert_type="logalertv2",
            webhook_receivers=[WebhookReceiver(name="t", service_uri=rx.url, use_common_alert_schema=True)])).result()
    assert done.state == "Complete" and done.action_details[0].mechanism_type == "Webhook", done
    test = rx.wait_for(1)[0]
    assert test["data"]["essentials"]["alertRule"] == "Test alert rule", test
    r = rule_2023(env, "badquery", "AppEvents_CL | where (", [ag], expect=(400,))
    assert r["error"]["code"] == "BadRequest" and "1:" in r["error"]["message"], r
    r = rule_2023(env, "badcolumn", "AppEvents_CL | where NoSuchColumn == 1", [ag], expect=(400,))
    assert "NoSuchColumn" in r["error"]["message"], r
    r = rule_2023(env, "badperiods", "AppEvents_CL", [ag], periods=(1, 2), expect=(400,))
    assert "failingPeriods" in r["error"]["message"], r
    missing = ag.replace("agvalid", "agmissing")
    r = rule_2023(env, "badgroup", "AppEvents_CL", [missing], expect=(400,))
    assert r["error"]["code"] == "ActionGroupNotFound", r


def test_webhooks_to_this_host_are_refused_unless_the_operator_allows_them(request, tmp_path):
    """Whoever may write an action group chooses where the server POSTs: by default not to the
    server's own host (loopback, in any spelling) nor to link-local addresses such as the cloud
    metadata service; the delivery fails at once, recorded, without retries."""
    from azure.mgmt.monitor.models import NotificationRequestBody, WebhookReceiver
    s = Server(tmp_path / "data", ["--simulated-clock=frozen"])
    s.start()
    e = {"server": s, "receivers": []}
    try:
        rx = receiver(e)
        port = rx.url.split(":")[2].split("/")[0]
        action_group(e, "agloop", rx.url)
        urls = [rx.url, f"http://localhost:{port}/hook", f"http://[::ffff:127.0.0.1]:{port}/hook",
                "http://169.254.169.254/metadata/instance"]
        monitor_client(s).action_groups.begin_create_notifications_at_action_group_resource_level(
            s.resourceGroup, "agloop", NotificationRequestBody(
                alert_type="logalertv2",
                webhook_receivers=[WebhookReceiver(name=f"t{i}", service_uri=u, use_common_alert_schema=True)
                                   for i, u in enumerate(urls)])).result()
        rows = wait_rows(s, "AlertDeliveries | where ActionGroup endswith '/agloop' and Kind == 'Webhook' "
                            "| order by Receiver asc | project Receiver, Attempt, Result, Error",
                         lambda r: len(r) == len(urls), "every refusal recorded")
        for (name, attempt, result, error), why in zip(rows, ["loopback", "loopback", "loopback", "link-local"]):
            assert attempt == 1 and result == "Failed" and why in error, rows
            assert "no address a webhook may reach" in error, rows
        advance(s, 120)
        time.sleep(0.3)
        assert rx.bodies() == [], "a refused webhook reached the receiver"
        assert len(system_rows(s, "AlertDeliveries | where ActionGroup endswith '/agloop'"
                                  " and Kind == 'Webhook'")) == len(urls), "a refused webhook was retried"
    finally:
        for r in e["receivers"]:
            r.close()
        _teardown(request, [s])


def test_az_action_group_with_a_secure_webhook_and_an_az_rest_rule(env, tmp_path):
    """az 2.45 (no `scheduled-query` group): `az monitor action-group create` with a useAadAuth
    webhook, then the rule through `az rest` (2023-12-01). The receiver gets a bearer token of
    the instance's token service for the identifierUri, with the ActionGroupsSecureWebhook role."""
    import base64
    from test_az import az, readme_az_block, run_bash
    s = env["server"]
    rx = receiver(env)
    root = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
    os.symlink(os.path.join(root, "scripts"), tmp_path / "scripts")
    os.symlink(s.data_dir, tmp_path / "cmklogs-data")
    _, vars_ = run_bash(str(tmp_path), readme_az_block(), str(tmp_path / "env.out"))
    ag = az(str(tmp_path), vars_, "monitor", "action-group", "create", "-g", s.resourceGroup, "-n", "agaz",
            "--action", "webhook", "secure", rx.url, "useaadauth", "00000000-0000-0000-0000-0000000000aa",
            "api://alert-receiver", "usecommonalertschema")
    hook = ag["webhookReceivers"][0]
    assert hook["useAadAuth"] is True and hook["identifierUri"] == "api://alert-receiver", hook
    assert ag["groupShortName"] == "agaz" and ag["location"].lower() == "global", ag
    rule = {"location": "eastus", "properties": {
        "severity": 1, "enabled": True, "scopes": [env["ws"]], "evaluationFrequency": "PT1M", "windowSize": "PT1M",
        "criteria": {"allOf": [{"query": "AppEvents_CL | where Message has 'maz'", "timeAggregation": "Count",
                                "operator": "GreaterThan", "threshold": 0}]},
        "actions": {"actionGroups": [ag["id"]]}}}
    body = tmp_path / "rule.json"
    body.write_text(json.dumps(rule))
    made = az(str(tmp_path), vars_, "rest", "--method", "put", "--url",
              f"{rg_path(s)}/providers/Microsoft.Insights/scheduledQueryRules/azrule?api-version={RULE_API}",
              "--body", f"@{body}")
    assert made["name"] == "azrule" and made["kind"] == "LogAlert", made
    tick = next_tick(now(s))
    ingest(env, tick - datetime.timedelta(seconds=20), "host5", 1, "maz")
    advance_to(s, tick + LATENCY)
    rx.wait_for(1)
    auth = rx.requests[0]["headers"].get("Authorization", "")
    assert auth.startswith("Bearer "), rx.requests[0]["headers"]
    payload = auth.split(" ", 1)[1].split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert claims["aud"] == "api://alert-receiver" and claims["roles"] == ["ActionGroupsSecureWebhook"], claims
    assert claims["appid"] == "461e8683-5575-4561-ac7f-899cc907d62a" and claims["tid"] == s.tenantId, claims
    delete_rule(env, "azrule")


def test_rules_and_action_groups_survive_a_restart_and_keep_firing(env):
    """Persistence: rules and groups are replayed at start (series state is not: docs/architecture.md)."""
    s = env["server"]
    rx = receiver(env)
    ag = action_group(env, "agrestart", rx.url)
    rule_2023(env, "restart", "AppEvents_CL | where Message has 'mrestart'", [ag], threshold=0, dims=())
    s.stop_and_check()
    s.start(port=s.cfg["port"])
    got = ok_json(arm(s, "GET", f"{rg_path(s)}/providers/Microsoft.Insights/scheduledQueryRules/restart"
                                f"?api-version={RULE_API}"), 200)
    assert got["properties"]["criteria"]["allOf"][0]["query"].endswith("'mrestart'"), got
    tick = next_tick(now(s))
    ingest(env, tick - datetime.timedelta(seconds=20), "host6", 1, "mrestart")
    advance_to(s, tick + LATENCY)
    fired = rx.wait_for(1)[0]
    assert fired["data"]["essentials"]["alertRule"] == "restart"
    history = system_rows(s, "AlertEvaluations | where RuleName == 'fires' | count")[0][0]
    assert history >= 3, "the evaluation history did not survive the restart"
    delete_rule(env, "restart")
