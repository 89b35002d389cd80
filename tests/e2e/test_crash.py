"""Crash safety (issue 5): the server is killed with SIGKILL at random points while several
clients ingest; after each restart every acknowledged row is found exactly once. The memtable
is small so that kills also land in the middle of flushes into extents."""
import json
import os
import random
import threading
import time

from conftest import admin_token, http
from test_control_plane import create_workspace
from test_ingest_query import create_dcr, create_table, customer_id, records

ROUNDS = 20


def post_batch(server, rule, token, batch):
    url = (f"https://dce1.ingest.{server.domain}:{server.port}/dataCollectionRules/{rule}"
           f"/streams/Custom-AppEvents?api-version=2023-01-01")
    try:
        r = http(server, "POST", url, token=token, body=json.dumps(batch).encode(),
                 headers={"Content-Type": "application/json"}, timeout=5)
    except Exception:  # the server died under us: not acknowledged
        return False
    return r.status_code == 204


def query_ids(server, cid):
    tok = admin_token(server, scope=f"https://api.loganalytics.{server.domain}/.default")
    body = {"query": "AppEvents_CL | summarize n=count() by Message"}
    r = http(server, "POST", "api.loganalytics", f"/v1/workspaces/{cid}/query", token=tok,
             body=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == 200, r.text
    return {row[0]: row[1] for row in r.json()["tables"][0]["rows"]}


def test_sigkill_during_ingestion_loses_no_acknowledged_row_and_duplicates_none(server_factory):
    seed = int(os.environ.get("CMK_TEST_SEED", random.randrange(1 << 30)))
    print(f"seed={seed}")
    rnd = random.Random(seed)
    s = server_factory(extra_args=["--memtable-rows", "300"])
    create_workspace(s, "wscrash")
    create_table(s, "wscrash")
    rule = create_dcr(s, "dcrcrash", "wscrash")["properties"]["immutableId"]
    cid = customer_id(s, "wscrash")
    acked = set()
    lock = threading.Lock()
    next_id = [0]
    for rnd_i in range(ROUNDS):
        token = admin_token(s, scope=f"https://monitor.{s.domain}/.default")
        stop = threading.Event()

        def client():
            while not stop.is_set():
                with lock:
                    base = next_id[0]
                    next_id[0] += 50
                batch = records(50, seed=base)
                for i, rec in enumerate(batch):
                    rec["Message"] = f"id-{base + i}"
                if post_batch(s, rule, token, batch):
                    with lock:
                        acked.update(r["Message"] for r in batch)
                else:
                    return

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(rnd.uniform(0.05, 0.6))
        s.kill()
        stop.set()
        for t in threads:
            t.join()
        s.start()
        got = query_ids(s, cid)
        missing = [m for m in acked if m not in got]
        dups = {m: n for m, n in got.items() if n != 1}
        assert not missing, f"round {rnd_i} (seed {seed}): {len(missing)} acknowledged rows lost, e.g. {missing[:5]}"
        assert not dups, f"round {rnd_i} (seed {seed}): duplicated rows {list(dups.items())[:5]}"
    assert len(acked) > 1000, f"too few acknowledged rows to mean anything: {len(acked)}"
    extents = [f for _, _, fs in os.walk(os.path.join(s.data_dir, "logs", "blobs")) for f in fs if f.endswith(".cmkx")]
    assert extents, "no extent was ever flushed: the kills never met a flush"
    print(f"acknowledged rows: {len(acked)}, extents: {len(extents)}")
