#!/usr/bin/python3
"""Ingestion-to-query latency (issue 6): starts cmklogs (port 0, temporary data dir), then N
times uploads one record through the Logs Ingestion API and, as soon as the 204 arrives,
queries for it through the query API; prints the time from the 204 to the first query that
returns the row (p50, p99, max) and how many queries it took.

    /usr/bin/python3 bench/ingest_latency.py --bin build-release/cmklogs [--n 300] [--memtable-rows N]

With a small --memtable-rows the memtable is flushed every N records, so queries also read
extents flushed an instant before (decoded on their first query).
"""
import argparse
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "e2e"))
os.environ.setdefault("CMKLOGS_BIN", "")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--memtable-rows", type=int, default=0)
    args = ap.parse_args()
    os.environ["CMKLOGS_BIN"] = os.path.abspath(args.bin)
    import conftest
    conftest.CMKLOGS_BIN = os.environ["CMKLOGS_BIN"]
    from conftest import Server, admin_token, http
    from test_control_plane import create_workspace
    from test_ingest_query import create_dcr, create_table, customer_id, records
    with tempfile.TemporaryDirectory() as d:
        s = Server(os.path.join(d, "data"))
        s.start(extra_args=["--memtable-rows", str(args.memtable_rows)] if args.memtable_rows else None)
        try:
            create_workspace(s, "wslatency")
            create_table(s, "wslatency")
            rule = create_dcr(s, "dcrlatency", "wslatency")["properties"]["immutableId"]
            cid = customer_id(s, "wslatency")
            itok = admin_token(s, scope=f"https://monitor.{s.domain}/.default")
            qtok = admin_token(s, scope=f"https://api.loganalytics.{s.domain}/.default")
            url = (f"https://dce1.ingest.{s.domain}:{s.port}/dataCollectionRules/{rule}"
                   f"/streams/Custom-AppEvents?api-version=2023-01-01")
            lat, tries = [], []
            for i in range(args.n):
                rec = records(1, seed=i)[0]
                rec["Message"] = f"latency-probe-{i}"
                r = http(s, "POST", url, token=itok, body=json.dumps([rec]).encode(),
                         headers={"Content-Type": "application/json"})
                assert r.status_code == 204, r.text
                acked = time.perf_counter()
                q = {"query": f'AppEvents_CL | where Message == "latency-probe-{i}" | count'}
                for k in range(1, 1000):
                    r = http(s, "POST", "api.loganalytics", f"/v1/workspaces/{cid}/query", token=qtok,
                             body=json.dumps(q).encode(), headers={"Content-Type": "application/json"})
                    if r.status_code == 200 and r.json()["tables"][0]["rows"][0][0] == 1:
                        break
                lat.append(time.perf_counter() - acked)
                tries.append(k)
            lat.sort()
            pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
            print(f"n={args.n} ack->visible ms: p50={pct(0.5):.1f} p99={pct(0.99):.1f} max={lat[-1]*1000:.1f}; "
                  f"queries needed: max {max(tries)} (1 = visible to the first query)")
        finally:
            s.stop()


if __name__ == "__main__":
    main()
