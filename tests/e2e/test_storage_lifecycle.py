"""Storage under a customer-managed key over time (issue 5), on a simulated clock with
--key-check-interval 10 and a small memtable so rows reach extents: crypto-shredding (no
marker and no AEK in clear anywhere under the data dir, two layers on the cluster's objects),
the hot cache deleted on revocation and reloaded (last 14 days) on restore, retention also
while the key is revoked, and rotation with an explicit key version."""
import base64
import datetime
import glob
import json
import os
import sqlite3

import pytest
from azure.core.exceptions import HttpResponseError

from conftest import cli
from test_control_plane import (create_cluster, create_workspace, get_json, cluster_path, grant_policy,  # noqa: F401
                                kv_props, link, set_key, vault_with_key)
from test_ingest_query import create_dcr, create_table, customer_id, ingestion_client, records, rows
from test_keyvault import _fresh_challenge_cache, crypto_client, key_client, vault_url  # noqa: F401

MARKER = "MARKER-5c1e-crypto-shred"


@pytest.fixture
def s(server_factory):
    return server_factory(extra_args=["--simulated-clock", "--key-check-interval", "10", "--memtable-rows", "100"])


def now(server):
    out = json.loads(cli(server, "clock", "advance", "0s").stdout)
    return datetime.datetime.fromisoformat(out["now"].replace("Z", "+00:00")[:26] + "+00:00")


def setup_cluster(server, version=""):
    kc, key = vault_with_key(server, "lifevault")
    cluster = create_cluster(server, "lifecluster")
    grant_policy(server, "lifevault", cluster["identity"]["principalId"])
    create_workspace(server, "wslife")
    create_table(server, "wslife")
    rule = create_dcr(server, "dcrlife", "wslife")["properties"]["immutableId"]
    link(server, "wslife", "lifecluster")
    set_key(server, "lifecluster", kv_props(server, "lifevault", version=version))
    return kc, key, cluster, rule, customer_id(server, "wslife")


def upload(server, rule, recs):
    ingestion_client(server).upload(rule_id=rule, stream_name="Custom-AppEvents", logs=recs)


def extents(server):
    return glob.glob(os.path.join(server.data_dir, "logs", "blobs", "**", "*.cmkx"), recursive=True)


def cache_files(server):
    return glob.glob(os.path.join(server.data_dir, "logs", "cache", "**", "*.cmkc"), recursive=True)


def wait_for(fn, what):
    import time
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def count(server, cid):
    return rows(server, cid, "AppEvents_CL | count")[0][0]


def all_files(server):
    for root, _, files in os.walk(server.data_dir):
        for f in files:
            yield os.path.join(root, f)


def test_no_marker_and_no_aek_in_clear_and_cluster_objects_carry_both_layers(s):
    kc, key, cluster, rule, cid = setup_cluster(s)
    recs = records(250, marker=MARKER)
    upload(s, rule, recs)
    wait_for(lambda: len(extents(s)) >= 1, "the memtable to be flushed into extents")
    assert count(s, cid) == 250
    # The AEKs, unwrapped here with the customer's key, must appear nowhere in clear.
    db = sqlite3.connect(f"file:{os.path.join(s.data_dir, 'meta.db')}?mode=ro", uri=True)
    docs = [json.loads(b) for (b,) in db.execute("SELECT body FROM docs WHERE kind = 'storage-account'")]
    db.close()
    assert len(docs) == 2
    crypto = crypto_client(s, docs[0]["kid"])
    aeks = [crypto.unwrap_key("RSA-OAEP-256", base64.b64decode(d["ciphertext"])).key for d in docs]
    assert all(len(a) == 32 for a in aeks)
    needles = [MARKER.encode()] + aeks + [base64.b64encode(a) for a in aeks]
    for path in all_files(s):
        with open(path, "rb") as f:
            data = f.read()
        for n in needles:
            assert n not in data, f"{path} holds {'the marker' if n == needles[0] else 'an AEK'} in clear"
    # Double encryption (on by default in eastus): ChaCha20-Poly1305 outside ("CMKI", alg 2),
    # whose plaintext is the AES-GCM sealed extent.
    for path in extents(s):
        with open(path, "rb") as f:
            head = f.read(8)
        assert head[:4] == b"CMKI" and head[5] == 2, (path, head)


def test_revocation_deletes_the_hot_cache_and_restore_reloads_the_last_14_days(s):
    kc, key, cluster, rule, cid = setup_cluster(s)
    # Hot: ingested in the last 14 days (design.md), whatever the rows' own times (unit-tested).
    t = now(s)
    upload(s, rule, records(100, seed=1, start=t - datetime.timedelta(days=1)))
    wait_for(lambda: len(extents(s)) >= 1, "the first extent")
    # The hot-cache copy is written after the blob: wait for it rather than race the flush.
    wait_for(lambda: cache_files(s), "the first extent's hot-cache copy")
    cli(s, "clock", "advance", "15d")  # the first extent leaves the hot cache
    wait_for(lambda: not cache_files(s), "the first extent's copy removed")
    upload(s, rule, records(100, seed=2, start=now(s) - datetime.timedelta(days=1)))
    wait_for(lambda: len(extents(s)) >= 2, "the second extent")
    wait_for(lambda: cache_files(s), "the second extent's hot-cache copy")
    assert len(cache_files(s)) == 1  # only the extent ingested in the last 14 days is hot
    kc.update_key_properties("cmk1", key.properties.version, enabled=False)
    cli(s, "clock", "advance", "10s")
    assert cache_files(s) == []
    with pytest.raises(HttpResponseError):
        count(s, cid)
    kc.update_key_properties("cmk1", key.properties.version, enabled=True)
    cli(s, "clock", "advance", "10s")
    assert len(cache_files(s)) == 1
    assert count(s, cid) == 200


def test_retention_purges_old_rows_also_while_the_key_is_revoked(s):
    kc, key, cluster, rule, cid = setup_cluster(s)
    t = now(s)
    upload(s, rule, records(100, seed=1, start=t - datetime.timedelta(days=25)))
    wait_for(lambda: len(extents(s)) >= 1, "the old rows' extent")
    upload(s, rule, records(100, seed=2, start=t))
    wait_for(lambda: len(extents(s)) >= 2, "the new rows' extent")
    assert count(s, cid) == 200
    kc.update_key_properties("cmk1", key.properties.version, enabled=False)
    cli(s, "clock", "advance", "10s")
    cli(s, "clock", "advance", "6d")  # the old rows pass the workspace's 30 days
    assert len(extents(s)) == 1  # purged while revoked
    kc = key_client(s, vault_url(s, "lifevault"))  # a fresh client: six simulated days outlive tokens
    kc.update_key_properties("cmk1", key.properties.version, enabled=True)
    cli(s, "clock", "advance", "10s")
    assert count(s, cid) == 100
    cli(s, "clock", "advance", "25d")
    assert count(s, cid) == 0


def test_explicit_version_disabled_before_the_update_revokes_and_after_it_all_rows_stay(s):
    kc, key, cluster, rule, cid = setup_cluster(s, version=None)
    v1 = key.properties.version
    set_key(s, "lifecluster", kv_props(s, "lifevault", version=v1))
    upload(s, rule, records(150, seed=3))
    v2 = kc.create_rsa_key("cmk1", size=2048).properties.version
    cli(s, "clock", "advance", "10s")
    assert count(s, cid) == 150  # explicit version: the new one changes nothing yet
    kc.update_key_properties("cmk1", v1, enabled=False)
    cli(s, "clock", "advance", "10s")
    with pytest.raises(HttpResponseError) as e:
        upload(s, rule, records(1, seed=4))
    assert e.value.status_code == 403
    kc.update_key_properties("cmk1", v1, enabled=True)
    cli(s, "clock", "advance", "10s")
    set_key(s, "lifecluster", kv_props(s, "lifevault", version=v2))
    kc.update_key_properties("cmk1", v1, enabled=False)  # v1 no longer matters
    cli(s, "clock", "advance", "10s")
    upload(s, rule, records(50, seed=5, start=datetime.datetime(2026, 11, 21, tzinfo=datetime.timezone.utc)))
    assert count(s, cid) == 200


def test_autorotation_rewraps_and_the_audit_shows_the_unwrap_under_the_new_version(s):
    kc, key, cluster, rule, cid = setup_cluster(s)
    upload(s, rule, records(120, seed=6))
    new = kc.rotate_key("cmk1")
    cli(s, "clock", "advance", "10s")
    cli(s, "clock", "advance", "10s")
    entries = json.loads(cli(s, "vault", "audit", "--vault", "lifevault").stdout)["value"]
    unwraps = [e for e in entries if e["operation"] == "unwrapKey" and new.properties.version in json.dumps(e)]
    assert unwraps, "no unwrap under the new version in the audit log"
    kc.update_key_properties("cmk1", key.properties.version, enabled=False)  # the old version is no longer used
    cli(s, "clock", "advance", "10s")
    assert count(s, cid) == 120


def test_admins_query_the_audit_log_and_key_state_history_in_the_system_workspace(s):
    from conftest import admin_token, http, new_principal, token_for
    kc, key, cluster, rule, cid = setup_cluster(s)
    kc.update_key_properties("cmk1", key.properties.version, enabled=False)
    cli(s, "clock", "advance", "10s")
    kc.update_key_properties("cmk1", key.properties.version, enabled=True)
    cli(s, "clock", "advance", "10s")
    got = rows(s, "system", 'KeyStateHistory | where ToState == "Revoked" | summarize n=count(), worst=max(EffectSeconds)')
    # Both accounts, within one check interval (plus the real time the check itself takes: the
    # simulated clock ticks, issue 12).
    assert got[0][0] == 2 and 0 <= got[0][1] <= 11, got
    got = rows(s, "system", 'KeyStateHistory | where FromState == "Revoked" and ToState == "Healthy" | count')
    assert got[0][0] == 2
    got = rows(s, "system", 'KeyVaultAudit | where Operation == "unwrapKey" | summarize ok=countif(ResultStatus == 200), '
                            'denied=countif(ResultStatus == 403), p=max(LatencyMs)')
    assert got[0][0] > 0 and got[0][1] >= 2 and got[0][2] >= 0
    metrics = http(s, "GET", "management", "/metrics", token=admin_token(s)).text
    assert "cmklogs_revocation_effect_seconds{" in metrics
    app = new_principal(s, "nosy")
    tok = token_for(s, app["clientId"], app["clientSecret"], scope=f"https://api.loganalytics.{s.domain}/.default")
    r = http(s, "POST", "api.loganalytics", "/v1/workspaces/system/query", token=tok,
             body=json.dumps({"query": "KeyVaultAudit | count"}).encode(), headers={"Content-Type": "application/json"})
    assert r.status_code == 403, r.text


def metric(server, name):
    from conftest import admin_token, http
    r = http(server, "GET", "localhost", "/metrics", token=admin_token(server))
    assert r.status_code == 200, r.text[:300]
    for line in r.text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


def test_the_hot_cache_keeps_to_its_byte_bound(server_factory):
    # One extent's copy measured on a server without a bound; then a server whose --hot-cache-gb
    # holds one and a half of them: three flushes leave one copy, the others dropped for room,
    # and every row is still answered (from the blobs).
    def shared(server):
        create_workspace(server, "wsbound")
        create_table(server, "wsbound")
        return create_dcr(server, "dcrbound", "wsbound")["properties"]["immutableId"], customer_id(server, "wsbound")

    a = server_factory(name="unbounded", extra_args=["--simulated-clock", "--memtable-rows", "100"])
    rule, _ = shared(a)
    upload(a, rule, records(100, seed=1))
    size = os.path.getsize(wait_for(lambda: cache_files(a), "a hot-cache copy")[0])
    bound = size * 3 // 2
    b = server_factory(name="bounded", extra_args=["--simulated-clock", "--memtable-rows", "100",
                                   "--hot-cache-gb", f"{bound / 2**30:.12f}"])
    rule, cid = shared(b)
    for seed in (1, 2, 3):
        upload(b, rule, records(100, seed=seed))
        wait_for(lambda: len(extents(b)) >= seed, f"extent {seed}")
        wait_for(lambda: metric(b, "cmklogs_hot_cache_dropped_total") >= seed - 1, f"room for copy {seed}")
    # (A copy is renamed into place once written: the last one's file appears whole.)
    newest = wait_for(lambda: [f for f in cache_files(b) if os.path.getsize(f) > 0], "the last copy")
    assert len(cache_files(b)) == 1 and len(newest) == 1
    assert metric(b, "cmklogs_hot_cache_files") == 1
    assert 0 < metric(b, "cmklogs_hot_cache_bytes") <= bound
    assert metric(b, "cmklogs_hot_cache_dropped_total") == 2
    assert count(b, cid) == 300
