#!/usr/bin/python3
"""cmklogs against DuckDB through the real front ends (issue 14, docs/benchmarks.md).

For each size N:
  1. `log_bench gen` writes N deterministic rows (a JSON array file, one record per line) unless
     the file exists;
  2. a fresh `cmklogs serve` (release build, port 0, temporary data dir) gets, through its ARM API,
     a key vault with an RSA key, a dedicated cluster with double encryption whose identity may
     wrap and unwrap with it, a workspace linked to the cluster, a custom table Logs_CL and a
     data collection rule (transformKql "source");
  3. two client threads post the file through the Logs Ingestion API as gzip bodies of about
     1 MiB (as the SDK does), each with a bearer token from the token endpoint; the benchmark
     then waits until every row is visible to a query and the server is idle (memtables flushed,
     CPU flat), and records the server's CPU seconds from the first upload to idle;
  4. the eight queries of bench/log_bench.cc run through the query API (warm-up + --runs timed
     runs each, medians), and their answers are kept;
  5. bench/duckdb/bench.mjs loads the same file into DuckDB and runs the same eight queries in
     SQL (once with one thread, once with --duckdb-threads), prints the ratio table and fails if
     an answer differs; below --duckdb-on-disk-rows (where those loads go to memory) it also
     times DuckDB's one-thread load into a database file, the durable peer of the server's
     ingestion.
The server's peak RSS (VmHWM) is reported too.

  /usr/bin/python3 bench/api_bench.py --bin build-release/cmklogs --log-bench build-release/bench/log_bench \
      --rows 1000000 10000000 [--runs 5] [--work /tmp/cmklogs_api_bench]

Uses the e2e harness (tests/e2e/conftest.py) to run the server and the same ARM helpers as the
end-to-end tests; needs python3-requests, python3-azure and node (bench/duckdb).
"""
import argparse
import gzip
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

import requests  # noqa: E402

# Same order, KQL and answers as kQueries / Answer() in bench/log_bench.cc (table Logs_CL here).
QUERIES = [
    ("filtered count", 'Logs_CL | where Level == "Error" | count'),
    ("count, avg by Computer", "Logs_CL | summarize n = count(), a = avg(DurationMs) by Computer"),
    ("contains count", 'Logs_CL | where Message contains "timeout" | count'),
    ("count by bin 1h", "Logs_CL | summarize n = count() by bin(TimeGenerated, 1h)"),
    ("top 10 by DurationMs", "Logs_CL | top 10 by DurationMs"),
    ("distinct Computer", "Logs_CL | distinct Computer"),
    ("dcount(Computer)", "Logs_CL | summarize d = dcount(Computer)"),
    ("join of two summaries",
     'Logs_CL | where Level == "Error" | summarize Errors = count() by Computer'
     " | join kind=inner (Logs_CL | summarize Total = count() by Computer) on Computer"),
]
COLUMNS = [{"name": "TimeGenerated", "type": "datetime"}, {"name": "Computer", "type": "string"},
           {"name": "Level", "type": "string"}, {"name": "EventId", "type": "int"},
           {"name": "DurationMs", "type": "real"}, {"name": "Message", "type": "string"}]
BODY_BYTES = 1 << 20  # the SDK's chunk size before gzip


def column_sum(table, name):
    names = [c["name"] for c in table["columns"]]
    i = names.index(name)
    return sum(float(r[i]) for r in table["rows"])


def answer(q, table):
    """bench/log_bench.cc Answer(): what both engines must agree on, as text."""
    rows = table["rows"]
    if q in (0, 2):
        return "%.0f" % column_sum(table, "Count")
    if q in (1, 3):
        return "groups=%d rows=%.0f" % (len(rows), column_sum(table, "n"))
    if q == 4:
        i = [c["name"] for c in table["columns"]].index("DurationMs")
        return "rows=%d max=%.3f min=%.3f" % (len(rows), rows[0][i], rows[-1][i])
    if q == 5:
        return "rows=%d" % len(rows)
    if q == 6:
        return "%.0f" % column_sum(table, "d")
    return "rows=%d errors=%.0f total=%.0f" % (len(rows), column_sum(table, "Errors"),
                                              column_sum(table, "Total"))


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


class Tokens:
    """Bearer tokens per scope from the token endpoint, renewed ten minutes before expiry."""

    def __init__(self, server):
        self.server = server
        self.lock = threading.Lock()
        self.cache = {}

    def get(self, scope):
        from conftest import token_request
        with self.lock:
            tok, exp = self.cache.get(scope, (None, 0))
            if tok is None or time.time() > exp - 600:
                r = token_request(self.server, self.server.clientId, self.server.clientSecret,
                                  scope=scope)
                r.raise_for_status()
                body = r.json()
                tok, exp = body["access_token"], time.time() + int(body.get("expires_in", 3600))
                self.cache[scope] = (tok, exp)
            return tok


def bodies(path):
    """The array file as JSON array bodies of about BODY_BYTES each (records are one per line)."""
    batch, size = [], 0
    with open(path, "rb") as f:
        for line in f:
            line = line.strip()
            if line in (b"[", b"]") or not line:
                continue
            if line.endswith(b","):
                line = line[:-1]
            if size + len(line) + 2 > BODY_BYTES and batch:  # with "[" and "]"
                yield b"[" + b",".join(batch) + b"]", len(batch)
                batch, size = [], 0
            batch.append(line)
            size += len(line) + 1
    if batch:
        yield b"[" + b",".join(batch) + b"]", len(batch)


def provision(server):
    from test_control_plane import create_cluster, create_workspace, grant_policy, kv_props, link, \
        set_key, vault_with_key
    from test_ingest_query import create_dcr, create_table, customer_id
    vault_with_key(server, "benchvault")
    cluster = create_cluster(server, "benchcluster",
                             properties={"isDoubleEncryptionEnabled": True})
    grant_policy(server, "benchvault", cluster["identity"]["principalId"])
    create_workspace(server, "wsbench")
    link(server, "wsbench", "benchcluster")
    set_key(server, "benchcluster", kv_props(server, "benchvault"))
    create_table(server, "wsbench", name="Logs_CL", columns=COLUMNS)
    dcr = create_dcr(server, "dcrbench", "wsbench", table="Logs_CL", stream="Custom-Logs")
    return dcr["properties"]["immutableId"], customer_id(server, "wsbench")


def ingest(server, tokens, rule, path, clients):
    url = (f"https://dce1.ingest.{server.domain}:{server.port}/dataCollectionRules/{rule}"
           f"/streams/Custom-Logs?api-version=2023-01-01")
    scope = f"https://monitor.{server.domain}/.default"
    work = queue.Queue(maxsize=4 * clients)
    errors = []
    sent = [0, 0]  # rows, raw bytes

    def worker():
        with requests.Session() as s:
            s.trust_env = False
            while True:
                item = work.get()
                if item is None:
                    return
                body, n, raw = item
                for attempt in range(20):
                    r = s.post(url, data=body, verify=server.caCertPath, timeout=300, headers={
                        "Authorization": "Bearer " + tokens.get(scope),
                        "Content-Type": "application/json", "Content-Encoding": "gzip"})
                    if r.status_code == 204:
                        break
                    if r.status_code in (429, 503):
                        time.sleep(float(r.headers.get("Retry-After", "1")))
                        continue
                    errors.append(f"{r.status_code} {r.text[:300]}")
                    return
                with lock:
                    sent[0] += n
                    sent[1] += raw

    lock = threading.Lock()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for body, n in bodies(path):
        if errors:
            break
        work.put((gzip.compress(body, compresslevel=1), n, len(body)))
    for _ in threads:
        work.put(None)
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("ingestion failed: " + errors[0])
    return sent[0], sent[1]


def query(server, tokens, session, cid, kql):
    url = f"https://api.loganalytics.{server.domain}:{server.port}/v1/workspaces/{cid}/query"
    r = session.post(url, json={"query": kql}, verify=server.caCertPath, timeout=900, headers={
        "Authorization": "Bearer " + tokens.get(server.queryScope), "Prefer": "wait=600"})
    if r.status_code != 200:
        raise SystemExit(f"query failed: {r.status_code} {r.text[:500]}\n{kql}")
    return r.json()["tables"][0]


def metric(server, tokens, name, session):
    # One kept-alive connection: a new TLS handshake per poll (once a second while waiting for
    # the memtables to flush) was charged to the server as ingestion CPU.
    r = session.get(f"https://management.{server.domain}:{server.port}/metrics",
                     headers={"Authorization": "Bearer " + tokens.get(server.armScope)},
                     verify=server.caCertPath, timeout=30)
    r.raise_for_status()
    m = re.search(r"^" + re.escape(name) + r"\s+(\S+)$", r.text, re.M)
    return float(m.group(1)) if m else 0.0


def proc_minor_faults(pid):
    """The server's minor page faults so far (fresh pages the kernel had to zero, mostly)."""
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[7])


def wait_settled(server, tokens, session, cid, rows, pid):
    """Memtables empty, every row visible, and the server's CPU flat for 3 s. The memtable metric
    is polled (not a count query, whose scans would be charged to ingestion), then one count."""
    deadline = time.monotonic() + 3600
    while metric(server, tokens, "cmklogs_memtable_rows", session) != 0:
        if time.monotonic() > deadline:
            raise SystemExit("not settled: memtables never emptied")
        time.sleep(1)
    n = query(server, tokens, session, cid, "Logs_CL | count")["rows"][0][0]
    if n != rows:
        raise SystemExit(f"not settled: {n} of {rows} acknowledged rows visible")
    last = proc_cpu_seconds(pid)
    while True:
        time.sleep(3)
        now = proc_cpu_seconds(pid)
        if now - last < 0.05:
            return now
        last = now


class QueriesDuring:
    """--query-while-ingesting: one client runs the eight queries round and round while the
    upload goes on (answers over the rows acknowledged so far, not checked), and the server's
    resident memory is sampled every 0.2 s; stop() prints each query's latencies and the peaks."""

    def __init__(self, server, tokens, cid, pid):
        self.server, self.tokens, self.cid, self.pid = server, tokens, cid, pid
        self.done = threading.Event()
        self.ms = {name: [] for name, _ in QUERIES}
        self.errors = []
        self.rss = []
        self.threads = [threading.Thread(target=self.queries, daemon=True),
                        threading.Thread(target=self.memory, daemon=True)]
        for t in self.threads:
            t.start()

    def queries(self):
        url = f"https://api.loganalytics.{self.server.domain}:{self.server.port}/v1/workspaces/{self.cid}/query"
        with requests.Session() as s:
            s.trust_env = False
            while not self.done.is_set():
                for name, kql in QUERIES:
                    if self.done.is_set():
                        return
                    t = time.perf_counter()
                    r = s.post(url, json={"query": kql}, verify=self.server.caCertPath, timeout=900, headers={
                        "Authorization": "Bearer " + self.tokens.get(self.server.queryScope), "Prefer": "wait=600"})
                    if r.status_code != 200:
                        self.errors.append(f"{name}: {r.status_code} {r.text[:200]}")
                    else:
                        self.ms[name].append((time.perf_counter() - t) * 1e3)

    def memory(self):
        while not self.done.wait(0.2):
            self.rss.append(proc_status(self.pid, "VmRSS"))

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join()
        print("queries while ingesting (ms): median / p90 / max, runs", flush=True)
        for name, ms in self.ms.items():
            if ms:
                ms = sorted(ms)
                print(f"  {name:<24} {ms[len(ms) // 2]:9.1f} / {ms[len(ms) * 9 // 10]:9.1f} / {ms[-1]:9.1f}  "
                      f"{len(ms)}", flush=True)
        rss = sorted(self.rss)
        if rss:
            print(f"server RSS while ingesting: median {rss[len(rss) // 2] / 2**20:.0f} MiB, max "
                  f"{rss[-1] / 2**20:.0f} MiB; peak RSS (VmHWM) {proc_status(self.pid, 'VmHWM') / 2**20:.0f} MiB",
                  flush=True)
        for e in self.errors[:5]:
            print("  query failed:", e, flush=True)
        self.ok = not self.errors and all(self.ms.values())


def start_perf(directory, name, pid, extra=""):
    """`perf record -g` of the server while a query's timed runs go (--perf DIR); `extra` are
    more perf record arguments (--perf-args)."""
    os.makedirs(directory, exist_ok=True)
    proc = subprocess.Popen(["perf", "record", "-q", "-g"] + extra.split() + ["-p", str(pid), "-o",
                             os.path.join(directory, name + ".data")], stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # attached before the first timed run
    return proc


def run_size(args, rows):
    from conftest import Server
    data = os.path.join(args.work, f"logs_{rows}.json")
    if not os.path.exists(data):
        subprocess.run([args.log_bench, "gen", "--rows", str(rows), "--out", data], check=True)
    size = os.path.getsize(data)
    subprocess.run(["cat", data], stdout=subprocess.DEVNULL, check=True)  # page cache, as DuckDB
    tmp = tempfile.mkdtemp(prefix="api_bench_", dir=args.work)
    clock = ["--simulated-clock"] if args.advance_clock else []
    server = Server(os.path.join(tmp, "data"), binary=args.bin,
                    extra_args=["--ingestion-mb-per-minute", "100000"] + clock + args.server_arg)
    server.start()
    try:
        pid = server.proc.pid
        tokens = Tokens(server)
        rule, cid = provision(server)
        perf = start_perf(args.perf, f"{rows}_ingest", pid, args.perf_args) if args.perf else None
        cpu0, t0 = proc_cpu_seconds(pid), time.monotonic()
        during = QueriesDuring(server, tokens, cid, pid) if args.query_while_ingesting else None
        sent_rows, sent_bytes = ingest(server, tokens, rule, data, args.clients)
        ack_wall, ack_cpu = time.monotonic() - t0, proc_cpu_seconds(pid) - cpu0
        print(f"acknowledged: wall {ack_wall:.2f} s, server CPU {ack_cpu:.2f} s, minor faults "
              f"{proc_minor_faults(pid)}", flush=True)
        if during:
            during.stop()
            return during.ok
        if args.ack_only:
            return True
        if args.advance_clock:  # the memtables' flush age passes now, not in 5 minutes
            subprocess.run([args.bin, "clock", "advance", "6m", "--data-dir", os.path.join(tmp, "data")],
                           check=True, stdout=subprocess.DEVNULL)
        with requests.Session() as session:
            session.trust_env = False
            settled_cpu = wait_settled(server, tokens, session, cid, sent_rows, pid) - cpu0
            settled_wall = time.monotonic() - t0
            if perf:
                perf.send_signal(signal.SIGINT)
                perf.wait()
            print(f"cmklogs ingest: {sent_rows} rows, {sent_bytes / 1e6:.1f} MB raw JSON: "
                  f"to ack wall {ack_wall:.2f} s, server CPU {ack_cpu:.2f} s; to settled "
                  f"server CPU {settled_cpu:.2f} s, minor faults {proc_minor_faults(pid)}; peak RSS so far "
                  f"{proc_status(pid, 'VmHWM') / 2**20:.0f} MiB", flush=True)
            results = []
            for q, (name, kql) in enumerate(QUERIES):
                if args.queries and q + 1 not in args.queries:
                    continue
                ms, ans, perf = [], None, None
                for i in range(args.runs + 1):  # run 0 is the warm-up
                    if i == 1 and args.perf:
                        perf = start_perf(args.perf, f"{rows}_q{q + 1}", pid, args.perf_args)
                    t = time.perf_counter()
                    table = query(server, tokens, session, cid, kql)
                    el = (time.perf_counter() - t) * 1e3
                    if i == 0:
                        ans = answer(q, table)
                    else:
                        ms.append(el)
                if perf:
                    perf.send_signal(signal.SIGINT)
                    perf.wait()
                med = sorted(ms)[len(ms) // 2]
                results.append({"name": name, "median_ms": med, "answer": ans, "runs_ms": ms})
                print(f"query {q + 1} {name:<24} median {med:9.2f} ms  answer {ans}", flush=True)
        peak = proc_status(pid, "VmHWM")
        print(f"server peak RSS {peak / 2**20:.0f} MiB", flush=True)
        out = {"ingest": {"bytes": size, "rows": sent_rows, "cpu_s": settled_cpu,
                          "ack_cpu_s": ack_cpu, "wall_s": settled_wall},
               "queries": results, "peak_rss_bytes": peak}
        out_path = os.path.join(args.work, f"api_{rows}.json")
        with open(out_path, "w") as f:
            json.dump(out, f)
        server.stop_and_check(timeout=120)
    finally:
        server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.skip_duckdb:
        return True
    duck = os.path.join(HERE, "duckdb")
    if not os.path.isdir(os.path.join(duck, "node_modules")):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=duck, check=True)
    ok = True
    for threads in sorted({1, args.duckdb_threads}):
        print(f"== DuckDB, {threads} thread(s)", flush=True)
        cmd = ["node", os.path.join(duck, "bench.mjs"), "--file", data, "--runs", str(args.runs),
               "--threads", str(threads), "--cmklogs", out_path]
        db = None
        if rows >= args.duckdb_on_disk_rows:
            db = os.path.join(args.work, f"duckdb_{rows}_{threads}.db")
            for leftover in (db, db + ".wal"):
                if os.path.exists(leftover):
                    os.remove(leftover)
            cmd += ["--db", db]
        r = subprocess.run(cmd)
        ok &= r.returncode == 0
        if db:
            for f in (db, db + ".wal"):
                if os.path.exists(f):
                    os.remove(f)
    if rows < args.duckdb_on_disk_rows:
        # The durable peer of the server's ingestion (acknowledged rows survive kill -9): DuckDB's
        # one-thread load into a database file, the load alone.
        print("== DuckDB, 1 thread, load into a database file", flush=True)
        db = os.path.join(args.work, f"duckdb_{rows}_load.db")
        for f in (db, db + ".wal"):
            if os.path.exists(f):
                os.remove(f)
        r = subprocess.run(["node", os.path.join(duck, "bench.mjs"), "--file", data, "--threads", "1",
                            "--cmklogs", out_path, "--db", db, "--load-only", "1"])
        ok &= r.returncode == 0
        for f in (db, db + ".wal"):
            if os.path.exists(f):
                os.remove(f)
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--bin", default=os.path.join(ROOT, "build-release", "cmklogs"))
    p.add_argument("--log-bench", default=os.path.join(ROOT, "build-release", "bench", "log_bench"))
    p.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--perf", help="record each query's timed runs with perf into this directory")
    p.add_argument("--perf-args", default="",
                   help="more `perf record` arguments, e.g. --perf-args='-e page-faults -c 1 --call-graph dwarf' "
                        "(where ingestion faults its pages)")
    p.add_argument("--clients", type=int, default=2)
    p.add_argument("--duckdb-threads", type=int, default=os.cpu_count())
    p.add_argument("--work", default=os.path.join(os.environ.get("TMPDIR", "/tmp"),
                                                  "cmklogs_api_bench"))
    p.add_argument("--ack-only", action="store_true",
                   help="stop once the upload is acknowledged (server CPU and page faults to ack; "
                        "for A/B runs of ingestion settings)")
    p.add_argument("--skip-duckdb", action="store_true",
                   help="cmklogs only (compare with DuckDB figures of an earlier run on the same machine)")
    p.add_argument("--duckdb-on-disk-rows", type=int, default=50_000_000,
                   help="from this many rows DuckDB loads into a database file in --work, not memory "
                        "(100M rows of tables do not fit in memory beside the server)")
    p.add_argument("--queries", type=int, nargs="+",
                   help="run only these of the eight queries (1-8); A/B runs of one query")
    p.add_argument("--advance-clock", action="store_true",
                   help="serve on the simulated clock and advance it past the memtables' flush age "
                        "once every row is acknowledged, instead of waiting 5 minutes (A/B runs)")
    p.add_argument("--query-while-ingesting", action="store_true",
                   help="run the eight queries round and round while uploading, report their latencies and "
                        "the server's memory, and stop once the upload is acknowledged")
    p.add_argument("--server-arg", action="append", default=[],
                   help="extra `cmklogs serve` argument (repeatable)")
    args = p.parse_args()
    args.bin = os.path.abspath(args.bin)
    os.makedirs(args.work, exist_ok=True)
    ok = True
    for rows in args.rows:
        print(f"==== {rows} rows", flush=True)
        ok &= run_size(args, rows)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
