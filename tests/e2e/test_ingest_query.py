"""Logs Ingestion API and query API end to end, driven by the official Python SDK
(azure.monitor.ingestion.LogsIngestionClient, azure.monitor.query.LogsQueryClient), on shared
storage and on a dedicated cluster with a customer-managed key (issues 5 and 6)."""
import datetime
import gzip
import json
import os
import random
import time

import pytest
from azure.core.exceptions import HttpResponseError

from conftest import admin_token, cli, http, sdk_credential
from test_control_plane import (arm, create_cluster, create_workspace, grant_policy, kv_props, link, ok_json,  # noqa: F401
                                set_key, unlink, vault_with_key, workspace_id)
from test_keyvault import _fresh_challenge_cache, put_role_assignment  # noqa: F401

DCR_API = "2023-03-11"
TABLE_API = "2022-10-01"
PUBLISHER = "3913510d-42f4-4e42-8a64-420c390055eb"  # Monitoring Metrics Publisher
READER = "73c42c96-874c-492b-b04d-ab87d138a893"     # Log Analytics Reader
COLUMNS = [{"name": "TimeGenerated", "type": "datetime"}, {"name": "Computer", "type": "string"},
           {"name": "Level", "type": "string"}, {"name": "EventId", "type": "int"},
           {"name": "DurationMs", "type": "real"}, {"name": "Message", "type": "string"}]
BASE = datetime.datetime(2026, 11, 20, tzinfo=datetime.timezone.utc)


def admin_object_id(server):
    import base64
    tok = admin_token(server).split(".")[1]
    return json.loads(base64.urlsafe_b64decode(tok + "=" * (-len(tok) % 4)))["oid"]


def create_table(server, ws, name="AppEvents_CL", columns=COLUMNS, **props):
    body = {"properties": {"schema": {"name": name, "columns": [
        {"name": c["name"], "type": "dateTime" if c["type"] == "datetime" else c["type"]} for c in columns]}, **props}}
    ok_json(arm(server, "PUT", f"{workspace_id(server, ws)}/tables/{name}?api-version={TABLE_API}", body), 200, 201)


def create_dcr(server, name, ws, table="AppEvents_CL", transform="source", stream="Custom-AppEvents"):
    rid = (f"/subscriptions/{server.subscriptionId}/resourceGroups/{server.resourceGroup}"
           f"/providers/Microsoft.Insights/dataCollectionRules/{name}")
    body = {"location": "eastus", "kind": "Direct", "properties": {
        "streamDeclarations": {stream: {"columns": COLUMNS}},
        "destinations": {"logAnalytics": [{"workspaceResourceId": workspace_id(server, ws), "name": "la"}]},
        "dataFlows": [{"streams": [stream], "destinations": ["la"], "transformKql": transform,
                       "outputStream": f"Custom-{table}"}]}}
    dcr = ok_json(arm(server, "PUT", f"{rid}?api-version={DCR_API}", body), 200, 201)
    put_role_assignment(server, os.urandom(16).hex()[:8] + "-0000-4000-8000-" + os.urandom(6).hex(),
                        admin_object_id(server), PUBLISHER, rid)
    return dcr


def ingestion_client(server):
    from azure.monitor.ingestion import LogsIngestionClient
    return LogsIngestionClient(f"https://dce1.ingest.{server.domain}:{server.port}", sdk_credential(server),
                               connection_verify=server.caCertPath)


def query_client(server):
    from azure.monitor.query import LogsQueryClient
    return LogsQueryClient(sdk_credential(server), endpoint=f"https://api.loganalytics.{server.domain}:{server.port}",
                           connection_verify=server.caCertPath)


def customer_id(server, ws):
    return arm(server, "GET", f"{workspace_id(server, ws)}?api-version=2022-10-01").json()["properties"]["customerId"]


def records(n, seed=1, marker="", start=BASE):
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        out.append({"TimeGenerated": (start + datetime.timedelta(seconds=i * 7)).isoformat().replace("+00:00", "Z"),
                    "Computer": f"host{rnd.randrange(20)}", "Level": rnd.choice(["Info", "Warning", "Error"]),
                    "EventId": rnd.randrange(1000), "DurationMs": round(rnd.random() * 1000, 3),
                    "Message": f"request {i} {marker}".strip()})
    return out


def rows(server, ws_cid, query, timespan=None):
    res = query_client(server).query_workspace(ws_cid, query, timespan=timespan)
    assert res.status.name == "SUCCESS", res
    return res.tables[0].rows


def setup_shared(server, ws="wsshared"):
    create_workspace(server, ws)
    create_table(server, ws)
    dcr = create_dcr(server, "dcr1", ws)
    return dcr["properties"]["immutableId"], customer_id(server, ws)


def check_totals(server, cid, recs):
    got = rows(server, cid, "AppEvents_CL | summarize c=count(), s=sum(DurationMs), e=sum(EventId)")
    assert got[0][0] == len(recs)
    assert got[0][1] == pytest.approx(sum(r["DurationMs"] for r in recs), rel=1e-9)
    assert got[0][2] == sum(r["EventId"] for r in recs)
    hourly = rows(server, cid, "AppEvents_CL | summarize n=count() by bin(TimeGenerated, 1h) | order by TimeGenerated asc")
    want = {}
    for r in recs:
        t = datetime.datetime.fromisoformat(r["TimeGenerated"].replace("Z", "+00:00")).replace(minute=0, second=0)
        want[t] = want.get(t, 0) + 1
    assert [(row[0], row[1]) for row in hourly] == sorted(want.items())


def test_hundred_thousand_records_round_trip_on_shared_storage(server):
    rule, cid = setup_shared(server)
    recs = records(100_000)
    ingestion_client(server).upload(rule_id=rule, stream_name="Custom-AppEvents", logs=recs)
    check_totals(server, cid, recs)
    by_level = rows(server, cid, "AppEvents_CL | summarize count() by Level | order by Level asc")
    levels = {}
    for r in recs:
        levels[r["Level"]] = levels.get(r["Level"], 0) + 1
    assert [(r[0], r[1]) for r in by_level] == sorted(levels.items())


def test_a_row_is_queryable_right_after_it_is_acknowledged(server):
    rule, cid = setup_shared(server)
    client = ingestion_client(server)
    for i in range(5):
        client.upload(rule_id=rule, stream_name="Custom-AppEvents", logs=records(1, seed=i, marker=f"now-{i}"))
        got = rows(server, cid, f'AppEvents_CL | where Message has "now-{i}" | count')
        assert got[0][0] == 1


def test_transform_kql_filters_and_extends_with_the_same_engine(server):
    create_workspace(server, "wstransform")
    create_table(server, "wstransform", columns=COLUMNS + [{"name": "Slow", "type": "boolean"}])
    dcr = create_dcr(server, "dcrt", "wstransform",
                     transform="source | where Level != 'Info' | extend Slow = DurationMs > 500 | project-away EventId")
    cid = customer_id(server, "wstransform")
    recs = records(1000, seed=5)
    ingestion_client(server).upload(rule_id=dcr["properties"]["immutableId"], stream_name="Custom-AppEvents", logs=recs)
    kept = [r for r in recs if r["Level"] != "Info"]
    got = rows(server, cid, "AppEvents_CL | summarize n=count(), slow=countif(Slow), ev=sum(EventId)")
    assert got[0][0] == len(kept)
    assert got[0][1] == sum(1 for r in kept if r["DurationMs"] > 500)
    assert got[0][2] in (None, 0)  # EventId was projected away: nulls


def test_rows_without_time_get_the_ingestion_time_and_columns_take_the_tables_types(server):
    # No TimeGenerated in the records: Azure stamps the time of ingestion. EventId is declared
    # int in the stream and long in the table: the value converts.
    create_workspace(server, "wsshape")
    create_table(server, "wsshape", columns=[dict(c, type="long") if c["name"] == "EventId" else c for c in COLUMNS])
    dcr = create_dcr(server, "dcrshape", "wsshape")
    cid = customer_id(server, "wsshape")
    recs = records(300, seed=9)
    for r in recs:
        del r["TimeGenerated"]
    before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=5)
    ingestion_client(server).upload(rule_id=dcr["properties"]["immutableId"], stream_name="Custom-AppEvents", logs=recs)
    after = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=5)
    got = rows(server, cid, "AppEvents_CL | summarize n=count(), nulls=countif(isnull(TimeGenerated)), "
                            "lo=min(TimeGenerated), hi=max(TimeGenerated), ev=sum(EventId), t=any(gettype(EventId))")
    n, nulls, lo, hi, ev, t = got[0]
    assert (n, nulls) == (300, 0)
    assert before <= lo <= hi <= after, (before, lo, hi, after)
    assert ev == sum(r["EventId"] for r in recs)
    assert t == "long"
    msgs = rows(server, cid, "AppEvents_CL | summarize make_set(Message, 1000)")[0][0]
    assert sorted(json.loads(msgs) if isinstance(msgs, str) else msgs) == sorted(r["Message"] for r in recs)


def test_query_api_shapes_types_and_reports_errors(server):
    rule, cid = setup_shared(server)
    ingestion_client(server).upload(rule_id=rule, stream_name="Custom-AppEvents", logs=records(10))
    res = query_client(server).query_workspace(
        cid, "AppEvents_CL | take 1 | extend d=dynamic({'a':1}), ts=1h, b=true | project TimeGenerated, d, ts, b, EventId",
        timespan=None)
    t = res.tables[0]
    assert [c for c in t.columns] == ["TimeGenerated", "d", "ts", "b", "EventId"]
    assert isinstance(t.rows[0][0], datetime.datetime)
    assert json.loads(t.rows[0][1]) == {"a": 1}
    assert t.rows[0][2] == "01:00:00" and t.rows[0][3] is True
    with pytest.raises(HttpResponseError) as e:
        query_client(server).query_workspace(cid, "AppEvents_CL | where", timespan=None)
    assert e.value.status_code == 400 and "SyntaxError" in str(e.value)
    with pytest.raises(HttpResponseError) as e:
        query_client(server).query_workspace(cid, "AppEvents_CL | where NoSuchColumn == 1", timespan=None)
    assert e.value.status_code == 400 and "NoSuchColumn" in str(e.value)
    with pytest.raises(HttpResponseError) as e:
        query_client(server).query_workspace(cid, "AppEvents_CL | extend x = nosuchfn(1)", timespan=None)
    assert "nosuchfn" in str(e.value)
    # timespan: the SDK sends durations, start/end and start/duration.
    start = BASE
    got = rows(server, cid, "AppEvents_CL | count", timespan=(start, start + datetime.timedelta(seconds=14)))
    assert got[0][0] == 2
    got = rows(server, cid, "AppEvents_CL | count", timespan=(start, datetime.timedelta(seconds=21)))
    assert got[0][0] == 3


def test_batch_answers_in_request_order_and_echoes_ids(server):
    from azure.monitor.query import LogsBatchQuery
    rule, cid = setup_shared(server)
    ingestion_client(server).upload(rule_id=rule, stream_name="Custom-AppEvents", logs=records(10))
    reqs = [LogsBatchQuery(cid, "AppEvents_CL | count", timespan=None),
            LogsBatchQuery(cid, "print x=1", timespan=None),
            LogsBatchQuery(cid, "AppEvents_CL | where", timespan=None)]
    out = query_client(server).query_batch(reqs)
    assert out[0].tables[0].rows[0][0] == 10
    assert out[1].tables[0].rows[0][0] == 1
    assert out[2].__class__.__name__ == "LogsQueryError"


def test_bad_ingestion_requests_get_their_documented_errors_and_store_nothing(server):
    rule, cid = setup_shared(server)
    url = f"https://dce1.ingest.{server.domain}:{server.port}/dataCollectionRules/{rule}/streams/Custom-AppEvents?api-version=2023-01-01"
    tok = admin_token(server, scope=f"https://monitor.{server.domain}/.default")

    def post(body, headers=None, u=url):
        return http(server, "POST", u, token=tok, body=body, headers=headers)

    r = post(b"[{\"TimeGenerated\": ", {"Content-Type": "application/json"})
    assert r.status_code == 400 and "JSON" in r.json()["error"]["message"]
    good = records(3)
    bad = good + [{"TimeGenerated": "2026-11-20T00:00:00Z", "EventId": "not a number"}]
    r = post(json.dumps(bad).encode(), {"Content-Type": "application/json"})
    assert r.status_code == 400 and "Record 3" in r.json()["error"]["message"] and "EventId" in r.json()["error"]["message"]
    r = post(json.dumps(good).encode(), u=url.replace("Custom-AppEvents", "Custom-Nope"))
    assert r.status_code == 400 and "Custom-Nope" in r.json()["error"]["message"]
    big = gzip.compress(json.dumps(records(30000)).encode(), compresslevel=1)
    r = post(big if len(big) > 1048576 else os.urandom(1048577), {"Content-Encoding": "gzip"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "ContentLengthLimitExceeded"
    r = post(gzip.compress(json.dumps(records(20000)).encode()), {"Content-Encoding": "gzip"})
    assert r.status_code == 413  # more than 1 MiB once decoded
    lying = bytearray(gzip.compress(json.dumps(good).encode()))
    lying[-4:] = b"\xff\xff\xff\xff"  # ISIZE, which sizes the output buffer: a hint only
    r = post(bytes(lying), {"Content-Encoding": "gzip"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidContentEncoding", r.text
    assert rows(server, cid, "AppEvents_CL | count")[0][0] == 0
    r = post(json.dumps(good).encode(), {"Content-Type": "application/json"})
    assert r.status_code == 204, r.text
    assert rows(server, cid, "AppEvents_CL | count")[0][0] == 3


def test_ingestion_needs_monitoring_metrics_publisher_on_the_rule(server):
    from conftest import new_principal
    rule, cid = setup_shared(server)
    app = new_principal(server, "uploader")
    from azure.monitor.ingestion import LogsIngestionClient
    client = LogsIngestionClient(f"https://dce1.ingest.{server.domain}:{server.port}",
                                 sdk_credential(server, app["clientId"], app["clientSecret"]), connection_verify=server.caCertPath)
    with pytest.raises(HttpResponseError) as e:
        client.upload(rule_id=rule, stream_name="Custom-AppEvents", logs=records(2))
    assert e.value.status_code == 403


@pytest.fixture
def cmk_server(server_factory):
    return server_factory(extra_args=["--simulated-clock", "--key-check-interval", "10"])


def setup_cmk(server):
    kc, key = vault_with_key(server, "ingvault")
    cluster = create_cluster(server, "ingcluster")
    grant_policy(server, "ingvault", cluster["identity"]["principalId"])
    create_workspace(server, "wscmk")
    create_table(server, "wscmk")
    dcr = create_dcr(server, "dcrc", "wscmk")
    return kc, key, cluster, dcr["properties"]["immutableId"], customer_id(server, "wscmk")


def setup_linked_cmk(server):
    """setup_cmk, then the workspace linked to the cluster and the cluster's key set."""
    kc, key, cluster, rule, cid = setup_cmk(server)
    link(server, "wscmk", "ingcluster")
    set_key(server, "ingcluster", kv_props(server, "ingvault"))
    return kc, key, cluster, rule, cid


def upload(server, rule, recs):
    ingestion_client(server).upload(rule_id=rule, stream_name="Custom-AppEvents", logs=recs)


def expect_refused(server, rule, cid):
    with pytest.raises(HttpResponseError) as e:
        upload(server, rule, records(1, marker="refused"))
    assert e.value.status_code == 403 and "KeyVaultAccessRevoked" in str(e.value)
    with pytest.raises(HttpResponseError) as e:
        rows(server, cid, "AppEvents_CL | count")
    assert "ingcluster" in str(e.value)


def test_cmk_lifecycle_disable_and_reenable_the_key(cmk_server):
    s = cmk_server
    kc, key, cluster, rule, cid = setup_cmk(s)
    before = records(50, seed=1, marker="before")
    upload(s, rule, before)  # not linked yet: shared storage under the MMK
    link(s, "wscmk", "ingcluster")
    set_key(s, "ingcluster", kv_props(s, "ingvault"))
    after = records(70, seed=2, marker="after", start=BASE + datetime.timedelta(hours=1))
    upload(s, rule, after)
    assert rows(s, cid, "AppEvents_CL | count")[0][0] == 120
    kc.update_key_properties("cmk1", key.properties.version, enabled=False)
    cli(s, "clock", "advance", "10s")
    expect_refused(s, rule, cid)
    kc.update_key_properties("cmk1", key.properties.version, enabled=True)
    cli(s, "clock", "advance", "10s")
    check_totals(s, cid, before + after)


def test_cmk_access_removed_and_restored(cmk_server):
    from azure.mgmt.keyvault.models import VaultAccessPolicyParameters, VaultAccessPolicyProperties
    from test_keyvault import mgmt_client, policy
    s = cmk_server
    kc, key, cluster, rule, cid = setup_linked_cmk(s)
    recs = records(60, seed=9)
    upload(s, rule, recs)
    pid = cluster["identity"]["principalId"]
    mgmt_client(s).vaults.update_access_policy(
        s.resourceGroup, "ingvault", "remove",
        VaultAccessPolicyParameters(properties=VaultAccessPolicyProperties(access_policies=[policy(s, pid, [])])))
    cli(s, "clock", "advance", "10s")
    expect_refused(s, rule, cid)
    grant_policy(s, "ingvault", pid)
    cli(s, "clock", "advance", "10s")
    check_totals(s, cid, recs)


def test_hundred_thousand_records_round_trip_on_a_cmk_cluster(cmk_server):
    s = cmk_server
    kc, key, cluster, rule, cid = setup_linked_cmk(s)
    recs = records(100_000, seed=11)
    upload(s, rule, recs)
    check_totals(s, cid, recs)


def test_cmk_identity_none_revokes_until_restored(cmk_server):
    s = cmk_server
    kc, key, cluster, rule, cid = setup_linked_cmk(s)
    recs = records(40)
    upload(s, rule, recs)
    from test_control_plane import patch_cluster, wait_async
    r = patch_cluster(s, "ingcluster", {"identity": {"type": "None"}})
    if r.headers.get("Azure-AsyncOperation"):
        wait_async(s, r)
    cli(s, "clock", "advance", "10s")
    expect_refused(s, rule, cid)
    cli(s, "clock", "advance", "60s")
    expect_refused(s, rule, cid)  # no automatic recovery
    cli(s, "cluster", "restore-identity", "--cluster", cluster["id"])
    # The identity comes back with the restore; the accounts follow at the cluster's next update.
    r = patch_cluster(s, "ingcluster", {"tags": {"restored": "yes"}})
    if r.headers.get("Azure-AsyncOperation"):
        wait_async(s, r)
    cli(s, "clock", "advance", "10s")
    check_totals(s, cid, recs)


def test_vault_outage_short_is_invisible_long_holds_ingestion(cmk_server):
    s = cmk_server
    kc, key, cluster, rule, cid = setup_linked_cmk(s)
    first = records(30, seed=3)
    upload(s, rule, first)
    cli(s, "vault", "outage", "--vault", "ingvault", "on")
    cli(s, "clock", "advance", "20m")
    assert rows(s, cid, "AppEvents_CL | count")[0][0] == 30
    held = records(20, seed=4, marker="held", start=BASE + datetime.timedelta(hours=2))
    cli(s, "clock", "advance", "20m")
    upload(s, rule, held)  # accepted: held under the MMK
    with pytest.raises(HttpResponseError):
        rows(s, cid, "AppEvents_CL | count")
    cli(s, "vault", "outage", "--vault", "ingvault", "off")
    cli(s, "clock", "advance", "10s")
    check_totals(s, cid, first + held)


def test_unlinking_sends_new_rows_to_shared_storage_and_queries_span_both(cmk_server):
    s = cmk_server
    kc, key, cluster, rule, cid = setup_linked_cmk(s)
    a = records(25, seed=6)
    upload(s, rule, a)
    unlink(s, "wscmk")
    b = records(15, seed=7, start=BASE + datetime.timedelta(hours=3))
    upload(s, rule, b)
    check_totals(s, cid, a + b)
    # The new rows stay readable when the cluster's key is revoked? No: the workspace's older
    # rows live in the cluster, so its queries fail while the key is gone.
    kc.update_key_properties("cmk1", key.properties.version, enabled=False)
    cli(s, "clock", "advance", "10s")
    with pytest.raises(HttpResponseError):
        rows(s, cid, "AppEvents_CL | count")
    upload(s, rule, records(1, seed=8))  # shared storage still takes rows


def test_queries_need_read_access_to_the_workspace(server):
    from conftest import new_principal
    from azure.monitor.query import LogsQueryClient
    rule, cid = setup_shared(server)
    ingestion_client(server).upload(rule_id=rule, stream_name="Custom-AppEvents", logs=records(3))
    app = new_principal(server, "reader")
    client = LogsQueryClient(sdk_credential(server, app["clientId"], app["clientSecret"]),
                             endpoint=f"https://api.loganalytics.{server.domain}:{server.port}",
                             connection_verify=server.caCertPath)
    with pytest.raises(HttpResponseError) as e:
        client.query_workspace(cid, "AppEvents_CL | count", timespan=None)
    assert e.value.status_code == 403 and "InsufficientAccessError" in str(e.value)
    put_role_assignment(server, "0f0e0d0c-0000-4000-8000-0123456789ab", app["objectId"], READER,
                        workspace_id(server, "wsshared"))
    res = client.query_workspace(cid, "AppEvents_CL | count", timespan=None)
    assert res.tables[0].rows[0][0] == 3
    # Resource-context form: /v1/{workspace resource id}/query, same authorization.
    from conftest import token_for
    tok = token_for(server, app["clientId"], app["clientSecret"], scope=f"https://api.loganalytics.{server.domain}/.default")
    r = http(server, "POST", "api.loganalytics", f"/v1{workspace_id(server, 'wsshared')}/query", token=tok,
             body=json.dumps({"query": "AppEvents_CL | count"}).encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 200 and r.json()["tables"][0]["rows"][0][0] == 3, r.text


def _early_in_a_real_minute(margin_s=40):
    """Waits, if needed, until at least `margin_s` seconds of the current real-time minute remain."""
    now = datetime.datetime.now(datetime.timezone.utc)
    into = now.second + now.microsecond / 1e6
    if into > 60 - margin_s:
        time.sleep(60 - into + 0.5)


def test_per_rule_limits_answer_429_with_retry_after_and_store_nothing(server_factory):
    """--ingestion-requests-per-minute / --ingestion-mb-per-minute bound each data collection
    rule per clock minute (Azure: 12,000 requests, 2 GB); past them, 429 TooManyRequests with
    Retry-After until the next minute, and the refused request stores nothing. The windows are
    minutes of real time, even on a simulated clock (issue 12: clients pace themselves and honour
    Retry-After on their own clocks), so the test waits for them."""
    s = server_factory(extra_args=["--simulated-clock", "--ingestion-requests-per-minute", "3",
                                   "--ingestion-mb-per-minute", "1"])
    rule, cid = setup_shared(s)
    url = f"https://dce1.ingest.{s.domain}:{s.port}/dataCollectionRules/{rule}/streams/Custom-AppEvents?api-version=2023-01-01"
    tok = admin_token(s, scope=f"https://monitor.{s.domain}/.default")

    def post(recs):
        return http(s, "POST", url, token=tok, body=json.dumps(recs).encode(), headers={"Content-Type": "application/json"})

    cli(s, "clock", "advance", "1h")  # the simulated clock moves no rate window
    _early_in_a_real_minute()  # the four requests below share one minute
    for i in range(3):
        r = post(records(2, seed=i))
        assert r.status_code == 204, r.text
    r = post(records(2, seed=9))
    assert r.status_code == 429, r.text
    err = r.json()["error"]
    assert err["code"] == "TooManyRequests" and "3 requests" in err["message"], err
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= 60 and f"retry after {retry} seconds" in err["message"], (retry, err)
    assert rows(s, cid, "AppEvents_CL | count")[0][0] == 6  # the refused request stored nothing
    time.sleep(retry)  # the next real minute: admitted again
    r = post(records(2, seed=20))
    assert r.status_code == 204, r.text
    assert rows(s, cid, "AppEvents_CL | count")[0][0] == 8
    # The byte bound: after ~0.6 MB, a second ~0.6 MB request in the same minute is refused
    # although only three requests were made.
    first, second = records(4000, seed=30), records(4000, seed=31)
    assert 500_000 < len(json.dumps(first)) < 1_000_000
    r = post(first)
    assert r.status_code == 204, r.text
    r = post(second)
    assert r.status_code == 429 and "1 MB per minute" in r.json()["error"]["message"], r.text
    assert rows(s, cid, "AppEvents_CL | count")[0][0] == 8 + 4000


def wait_for_extents(server, n, timeout=60):
    """Waits until the data directory holds at least n extent objects (flushed memtables)."""
    deadline = time.monotonic() + timeout
    while True:
        found = sum(1 for _, _, fs in os.walk(server.data_dir) for f in fs if f.endswith(".cmkx"))
        if found >= n:
            return
        assert time.monotonic() < deadline, f"{found} extents after {timeout} s, {n} expected"
        time.sleep(0.2)


def test_has_over_flushed_extents_answers_as_a_scan_and_bounds_hostile_needles(cmk_server):
    """Rows flushed into extents carry a term filter per text block, and `has`, `has_cs`, `==`
    and phrases skip the blocks whose filter lacks a term they need: a term of one extent's rows
    only, in either case, an absent term and a phrase answer as a scan would. Hostile needles
    (tens of thousands of terms, no term at all, non-ASCII) answer or are refused with a clear
    error, and the server keeps serving."""
    s = cmk_server
    kc, key, cluster, rule, cid = setup_linked_cmk(s)
    first = records(3000, seed=21, marker="alpha")
    first[1234]["Message"] = "job Needle7f3a finished in 12 ms"
    upload(s, rule, first)
    cli(s, "clock", "advance", "10m")
    wait_for_extents(s, 1)
    second = records(2000, seed=22, marker="beta", start=BASE + datetime.timedelta(days=1))
    upload(s, rule, second)
    cli(s, "clock", "advance", "10m")
    wait_for_extents(s, 2)

    def count(where):
        return rows(s, cid, f"AppEvents_CL | where {where} | count")[0][0]

    assert count('Message has "needle7f3a"') == 1
    assert count('Message has "NEEDLE7F3A"') == 1
    assert count('Message has_cs "needle7f3a"') == 0
    assert count('Message has_cs "Needle7f3a"') == 1
    assert count('Message == "job Needle7f3a finished in 12 ms"') == 1
    assert count('Message has "beta"') == 2000
    assert count('Message has "alpha"') == 2999
    assert count('Message has "gamma"') == 0
    assert count('Message has "request 17"') == 2
    assert count('Message hasprefix "request 17 a"') == 1
    assert count('Message has "needle7f3a" and Level != "none"') == 1
    assert count('Message has_any ("needle7f3a", "gamma")') == 1
    assert count('Message has_any (dynamic(["gamma", "BETA"]))') == 2000
    assert count('Message has_all ("needle7f3a", "finished")') == 1
    assert count('Message has_all ("needle7f3a", "beta")') == 0
    # search and `* has` test every column (Computer and Level are dictionary blocks, with
    # filters of their entries; a number's or a time's text can't hold a letter's term), as
    # the where over each column would.
    assert count('* has "needle7f3a"') == 1
    assert [list(r) for r in rows(s, cid, 'search "needle7f3a" | project $table, Message')] == [
        ["AppEvents_CL", "job Needle7f3a finished in 12 ms"]]
    assert rows(s, cid, 'AppEvents_CL | search "NEEDLE7F3A" | count')[0][0] == 1
    assert rows(s, cid, 'AppEvents_CL | search kind=case_sensitive "needle7f3a" | count')[0][0] == 0
    assert rows(s, cid, 'AppEvents_CL | search "needle7*" | count')[0][0] == 1
    assert rows(s, cid, 'AppEvents_CL | search "*eedle7f*" | count')[0][0] == 1
    for term, where in [("host7", 'Computer == "host7"'), ("warning", 'Level == "Warning"'),
                        ("gamma", "false"), ("beta", 'Message has "beta"'),
                        ("17", 'Message has "17" or Computer has "17" or Level has "17" or '
                               'tostring(EventId) has "17" or tostring(DurationMs) has "17" or '
                               'tostring(TimeGenerated) has "17"')]:
        assert rows(s, cid, f'AppEvents_CL | search "{term}" | count')[0][0] == count(where), term
    assert rows(s, cid, 'search Level:"error" and "beta" | count')[0][0] == \
        count('Level == "Error" and Message has "beta"')
    hostile = ['Message has "' + " ".join(f"t{i}" for i in range(20000)) + '"',
               'Message has "\u00e9\u00e9"', 'Message has ""', 'Message == ""',
               'Message has "' + "x" * 100000 + '"',
               'Message has_any (' + ", ".join(f'"t{i}"' for i in range(2000)) + ')',
               'Message has_all (dynamic([' + ", ".join(f'"t{i}"' for i in range(2000)) + ']))',
               '* has "' + " ".join(f"t{i}" for i in range(20000)) + '"',
               " or ".join(f'* has "t{i}"' for i in range(300)),
               '* matches regex "(a+)+$"', '* has_cs "\u00e9"']
    for where in hostile:
        try:
            rows(s, cid, f"AppEvents_CL | where {where} | count")
        except HttpResponseError as e:
            assert 400 <= e.status_code < 500, f"{e.status_code} for {where[:80]!r}: {e}"
    assert count('Message has "needle7f3a"') == 1
    check_totals(s, cid, first + second)



def test_the_decoded_cache_gives_way_to_a_querys_memory(server_factory):
    """The decoded block cache (--query-cache-mb) and running queries' memory share the machine:
    while queries hold more than a quarter of the cache's budget, the cache's bound shrinks by the rest
    (down to a quarter) and what it held past that is dropped; when the query ends the bound is
    whole again. /metrics shows the bound and what was given up."""
    s = server_factory(extra_args=["--simulated-clock", "--query-cache-mb", "1"])
    rule, cid = setup_shared(s)
    recs = records(12_000, seed=5, marker="cache")
    upload(s, rule, recs)
    cli(s, "clock", "advance", "10m")
    wait_for_extents(s, 1)

    def metric(name):
        r = http(s, "GET", "management", "/metrics", token=admin_token(s))
        assert r.status_code == 200, r.text
        return int(next(line.split()[1] for line in r.text.splitlines() if line.startswith(name + " ")))

    assert metric("cmklogs_query_cache_capacity_bytes") == 1 << 20
    summary = "AppEvents_CL | summarize count(), dcount(Message), sum(EventId), max(DurationMs) by Computer, Level"
    got = sorted(list(r) for r in rows(s, cid, summary))
    assert sum(r[2] for r in got) == len(recs)
    held = metric("cmklogs_query_cache_bytes")
    assert held > (1 << 20) // 4, held  # past what the cache keeps under pressure
    assert metric("cmklogs_query_cache_yielded_bytes_total") == 0
    # ~3M groups: far more memory than the cache's bound, held while the query runs; the
    # statistics the SDK asks for show it.
    res = query_client(s).query_workspace(cid, "range x from 1 to 3000000 step 1 | summarize count() by x | count",
                                          timespan=None, include_statistics=True)
    assert res.tables[0].rows[0][0] == 3_000_000
    assert res.statistics["query"]["executionTime"] > 0
    assert res.statistics["query"]["resourceUsage"]["memory"]["peakPerNode"] >= 3_000_000 * 8
    assert metric("cmklogs_query_cache_yielded_bytes_total") >= held - (1 << 20) // 4
    assert metric("cmklogs_query_cache_bytes") <= (1 << 20) // 4
    assert metric("cmklogs_query_cache_capacity_bytes") == 1 << 20
    # The cache fills again for the next queries.
    assert sorted(list(r) for r in rows(s, cid, summary)) == got
    assert metric("cmklogs_query_cache_bytes") > (1 << 20) // 4
