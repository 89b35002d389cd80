#!/usr/bin/python3
"""Queries beyond the issue's eight, through the real API, against DuckDB in the same run.

api_bench.py measures the eight queries of issue 14; a log store is asked many more. This
driver starts the server as api_bench.py does (CMK cluster with double encryption, the same
NDJSON uploaded through the Logs Ingestion API, memtables flushed by a clock advance), runs each
KQL query of QUERIES through the query API (one warm-up, then --runs timed runs, medians), then
loads the same file into DuckDB (bench/duckdb/extra.mjs, in memory, one thread and all cores)
and runs each query's SQL. It prints one table: both times, the ratios and whether the answers
agree (row counts, and the first value of one-value answers; two estimates within 5%).

    /usr/bin/python3 bench/breadth_bench.py --rows 10000000 [--runs 3] [--only NAME ...]

docs/benchmarks.md records its results.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))

import requests  # noqa: E402

import api_bench  # noqa: E402

# (name, KQL, SQL, how answers compare: "exact", "estimate" (first value within 3%) or "rows").
# A needle from the generated data is looked up by --needle (a token of one message).
QUERIES = [
    ("latest 100 rows", "Logs_CL | sort by TimeGenerated desc | take 100",
     "SELECT * FROM logs ORDER BY TimeGenerated DESC LIMIT 100", "rows"),
    ("top 5 of a projection", "Logs_CL | project Computer, DurationMs | sort by DurationMs desc | take 5",
     "SELECT Computer, DurationMs FROM logs ORDER BY DurationMs DESC LIMIT 5", "rows"),
    ("rare token (has)", 'Logs_CL | where Message has "{needle}" | count',
     "SELECT count(*) FROM logs WHERE Message ILIKE '%{needle}%'", "exact"),
    ("search a rare token", 'search "{needle}" | count',
     "SELECT count(*) FROM logs WHERE Message ILIKE '%{needle}%' OR Computer ILIKE '%{needle}%' OR "
     "Level ILIKE '%{needle}%' OR CAST(EventId AS VARCHAR) ILIKE '%{needle}%' OR "
     "CAST(DurationMs AS VARCHAR) ILIKE '%{needle}%' OR CAST(TimeGenerated AS VARCHAR) ILIKE '%{needle}%'",
     "exact"),
    ("search a common term", 'Logs_CL | search "timeout" | count',
     "SELECT count(*) FROM logs WHERE Message ILIKE '%timeout%' OR Computer ILIKE '%timeout%' OR "
     "Level ILIKE '%timeout%' OR CAST(EventId AS VARCHAR) ILIKE '%timeout%' OR "
     "CAST(DurationMs AS VARCHAR) ILIKE '%timeout%' OR CAST(TimeGenerated AS VARCHAR) ILIKE '%timeout%'",
     "exact"),
    ("join: the rare token's host", 'Logs_CL | join kind=inner (Logs_CL | where Message has "{needle}" '
     '| project Computer) on Computer | count',
     "SELECT count(*) FROM logs a JOIN (SELECT Computer FROM logs WHERE Message ILIKE '%{needle}%') b "
     "ON a.Computer = b.Computer", "exact"),
    ("leftanti two hosts", 'Logs_CL | join kind=leftanti (datatable(Computer:string) ["app-291", "web-385"]) '
     'on Computer | count',
     "SELECT count(*) FROM logs a ANTI JOIN (VALUES ('app-291'), ('web-385')) v(Computer) "
     "ON a.Computer = v.Computer", "exact"),
    ("union of two, count by Level", "union Logs_CL, Logs_CL | summarize count() by Level",
     "SELECT Level, count(*) FROM (SELECT Level FROM logs UNION ALL SELECT Level FROM logs) GROUP BY Level",
     "rows"),
    ("sample 10", "Logs_CL | sample 10", "SELECT * FROM logs USING SAMPLE 10 ROWS", "rows"),
    ("count by Computer, Level, 1h", "Logs_CL | summarize count() by Computer, Level, bin(TimeGenerated, 1h)",
     "SELECT Computer, Level, time_bucket(INTERVAL 1 hour, TimeGenerated) b, count(*) FROM logs GROUP BY ALL",
     "rows"),
    ("not contains", 'Logs_CL | where Message !contains "timeout" | count',
     "SELECT count(*) FROM logs WHERE Message NOT ILIKE '%timeout%'", "exact"),
    ("startswith, sum by Level", 'Logs_CL | where Message startswith "Job" | summarize sum(EventId) by Level',
     "SELECT Level, sum(EventId) FROM logs WHERE Message ILIKE 'Job%' GROUP BY Level", "rows"),
    ("has_cs and Level", 'Logs_CL | where Message has_cs "Job" and Level == "Error" | count',
     "SELECT count(*) FROM logs WHERE Message LIKE '%Job%' AND Level = 'Error'", "exact"),
    ("one host's messages containing", 'Logs_CL | where Computer == "web-385" and Message contains "timeout" | count',
     "SELECT count(*) FROM logs WHERE Computer = 'web-385' AND Message ILIKE '%timeout%'", "exact"),
    ("regex", 'Logs_CL | where Message matches regex "shard 9[0-9]\\\\)" | count',
     "SELECT count(*) FROM logs WHERE regexp_matches(Message, 'shard 9[0-9]\\)')", "exact"),
    ("time range count", "Logs_CL | where TimeGenerated > datetime(2026-11-22T12:00:00Z) | count",
     "SELECT count(*) FROM logs WHERE TimeGenerated > TIMESTAMP '2026-11-22 12:00:00'", "exact"),
    ("int range count", "Logs_CL | where EventId between (1000 .. 1010) | count",
     "SELECT count(*) FROM logs WHERE EventId BETWEEN 1000 AND 1010", "exact"),
    ("min, max time", "Logs_CL | summarize max(TimeGenerated), min(TimeGenerated)",
     "SELECT max(TimeGenerated), min(TimeGenerated) FROM logs", "rows"),
    ("groups by Computer, 1m, counted", "Logs_CL | summarize count() by Computer, bin(TimeGenerated, 1m) | count",
     "SELECT count(*) FROM (SELECT Computer, time_bucket(INTERVAL 1 minute, TimeGenerated) b, count(*) FROM logs "
     "GROUP BY ALL)", "exact"),
    ("groups by TimeGenerated, counted", "Logs_CL | summarize count() by TimeGenerated | count",
     "SELECT count(*) FROM (SELECT TimeGenerated, count(*) FROM logs GROUP BY ALL)", "exact"),
    ("count by Level, 5m", "Logs_CL | summarize count() by Level, bin(TimeGenerated, 5m)",
     "SELECT Level, time_bucket(INTERVAL 5 minute, TimeGenerated) b, count(*) FROM logs GROUP BY ALL", "rows"),
    ("count by hourofday (extend)", "Logs_CL | extend h = hourofday(TimeGenerated) | summarize count() by h",
     "SELECT hour(TimeGenerated) h, count(*) FROM logs GROUP BY h", "rows"),
    ("count by tostring(EventId)", "Logs_CL | summarize count() by tostring(EventId)",
     "SELECT CAST(EventId AS VARCHAR) e, count(*) FROM logs GROUP BY e", "rows"),
    ("p95 by Computer", "Logs_CL | summarize percentile(DurationMs, 95) by Computer",
     "SELECT Computer, quantile_disc(DurationMs, 0.95) FROM logs GROUP BY Computer", "rows"),
    ("arg_max by Computer", "Logs_CL | summarize arg_max(TimeGenerated, *) by Computer",
     "SELECT Computer, arg_max(Level, TimeGenerated), arg_max(EventId, TimeGenerated), "
     "arg_max(DurationMs, TimeGenerated), arg_max(Message, TimeGenerated), max(TimeGenerated) "
     "FROM logs GROUP BY Computer", "rows"),
    ("dcount(Message)", "Logs_CL | summarize dcount(Message)",
     "SELECT approx_count_distinct(Message) FROM logs", "estimate"),
    ("make_set(Level)", "Logs_CL | summarize make_set(Level)",
     "SELECT list(DISTINCT Level) FROM logs", "rows"),
    ("make_set(EventId) by Computer", "Logs_CL | summarize make_set(EventId) by Computer",
     "SELECT Computer, list(DISTINCT EventId) FROM logs GROUP BY Computer", "rows"),
    ("errors' make_list(Message, 100) by Computer",
     'Logs_CL | where Level == "Error" | summarize make_list(Message, 100) by Computer',
     "SELECT Computer, list(Message)[1:100] FROM logs WHERE Level = 'Error' GROUP BY Computer", "rows"),
    ("avg strlen(Message)", "Logs_CL | extend l = strlen(Message) | summarize avg(l)",
     "SELECT avg(length(Message)) FROM logs", "exact"),
    ("parse, count by status",
     'Logs_CL | parse Message with "GET " path " returned " status:int * | summarize count() by status',
     "SELECT TRY_CAST(regexp_extract(Message, '^GET .* returned (\\d+) ', 1) AS INTEGER) s, count(*) "
     "FROM logs GROUP BY s", "rows"),
]


def first_value(rows):
    if len(rows) != 1 or len(rows[0]) != 1:
        return None
    v = rows[0][0]
    return float(v) if isinstance(v, (int, float)) else v


def agree(how, ours, theirs):
    if ours["rows"] != theirs["rows"]:
        return False
    if how == "rows":
        return True
    a, b = ours["value"], theirs["value"]
    if isinstance(a, float) and isinstance(b, float):
        tol = 0.05 if how == "estimate" else 1e-9
        return abs(a - b) <= tol * max(abs(a), abs(b), 1.0)
    return a == b


def needle_of(path):
    """A 12-hex-digit token of one message in the file (a request id: found in one row)."""
    with open(path, "rb") as f:
        for i, line in enumerate(f):
            if i < 5000:
                continue
            msg = json.loads(line.strip().rstrip(b","))["Message"]
            for word in msg.replace(":", " ").split():
                if len(word) == 12 and all(c in "0123456789abcdef" for c in word):
                    return word
    raise SystemExit("no needle found")


def run_cmklogs(args, data, queries):
    from conftest import Server
    tmp = tempfile.mkdtemp(prefix="breadth_", dir=args.work)
    server = Server(os.path.join(tmp, "data"), binary=args.bin,
                    extra_args=["--ingestion-mb-per-minute", "100000", "--simulated-clock"])
    server.start()
    out = {}
    try:
        pid = server.proc.pid
        tokens = api_bench.Tokens(server)
        rule, cid = api_bench.provision(server)
        sent, _ = api_bench.ingest(server, tokens, rule, data, 2)
        subprocess.run([args.bin, "clock", "advance", "6m", "--data-dir", os.path.join(tmp, "data")],
                       check=True, stdout=subprocess.DEVNULL)
        with requests.Session() as session:
            session.trust_env = False
            api_bench.wait_settled(server, tokens, session, cid, sent, pid)
            url = f"https://api.loganalytics.{server.domain}:{server.port}/v1/workspaces/{cid}/query"
            for name, kql, _, _ in queries:
                ms, ans = [], None
                for i in range(args.runs + 1):
                    t = time.perf_counter()
                    r = session.post(url, json={"query": kql}, verify=server.caCertPath, timeout=900, headers={
                        "Authorization": "Bearer " + tokens.get(server.queryScope), "Prefer": "wait=600"})
                    el = (time.perf_counter() - t) * 1e3
                    if r.status_code != 200:
                        ans = {"error": f"{r.status_code} {r.text[:200]}"}
                        break
                    if i == 0:
                        rows = r.json()["tables"][0]["rows"]
                        ans = {"rows": len(rows), "value": first_value(rows)}
                    else:
                        ms.append(el)
                out[name] = {"ms": sorted(ms)[len(ms) // 2] if ms else None, "answer": ans}
                print(f"cmklogs {name:<28} {out[name]['ms'] or 0:9.1f} ms  {ans}", flush=True)
        out["peak_rss_mib"] = api_bench.proc_status(pid, "VmHWM") / 2**20
        server.stop_and_check(timeout=120)
    finally:
        server.kill()
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def run_duckdb(args, data, queries, threads):
    duck = os.path.join(HERE, "duckdb")
    if not os.path.isdir(os.path.join(duck, "node_modules")):
        subprocess.run(["npm", "install", "--no-audit", "--no-fund"], cwd=duck, check=True)
    spec = os.path.join(args.work, "breadth_queries.json")
    with open(spec, "w") as f:
        json.dump([[name, sql] for name, _, sql, _ in queries], f)
    r = subprocess.run(["node", os.path.join(duck, "extra.mjs"), "--file", data, "--queries", spec,
                        "--runs", str(args.runs), "--threads", str(threads)],
                       check=True, stdout=subprocess.PIPE, text=True)
    return {q["name"]: q for q in map(json.loads, r.stdout.splitlines())}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", default=os.path.join(ROOT, "build-release", "cmklogs"))
    p.add_argument("--log-bench", default=os.path.join(ROOT, "build-release", "bench", "log_bench"))
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="DuckDB's all-core run")
    p.add_argument("--only", nargs="+", help="query names to run (default: all)")
    p.add_argument("--skip-duckdb", action="store_true", help="cmklogs only (its times and answers)")
    p.add_argument("--work", default=os.path.join(os.environ.get("TMPDIR", "/tmp"), "cmklogs_api_bench"))
    args = p.parse_args()
    os.makedirs(args.work, exist_ok=True)
    data = os.path.join(args.work, f"logs_{args.rows}.json")
    if not os.path.exists(data):
        subprocess.run([args.log_bench, "gen", "--rows", str(args.rows), "--out", data], check=True)
    needle = needle_of(data)
    queries = [(n, k.replace("{needle}", needle), s.replace("{needle}", needle), how)
               for n, k, s, how in QUERIES if not args.only or n in args.only]
    ours = run_cmklogs(args, data, queries)
    if args.skip_duckdb:
        print(f"\n{args.rows} rows, medians of {args.runs} runs (ms); needle {needle}; "
              f"server peak RSS {ours['peak_rss_mib']:.0f} MiB\n")
        print("| query | cmklogs | answer |\n|---|---|---|")
        for name, kql, _, _ in queries:
            o = ours[name]
            shown = o["answer"].get("error") or f"{o['answer']['rows']} rows, {o['answer']['value']}"
            print(f"| `{kql}` | {o['ms'] or 0:.1f} | {shown} |")
        return 0 if all("error" not in ours[n]["answer"] for n, _, _, _ in queries) else 1
    duck = {t: run_duckdb(args, data, queries, t) for t in sorted({1, args.threads})}
    all_t = max(duck)
    print(f"\n{args.rows} rows, medians of {args.runs} runs (ms); needle {needle}; "
          f"server peak RSS {ours['peak_rss_mib']:.0f} MiB\n")
    print(f"| query | cmklogs | DuckDB 1t | ratio | DuckDB {all_t}t | ratio | answers |")
    print("|---|---|---|---|---|---|---|")
    ok = True
    for name, kql, _, how in queries:
        o = ours[name]
        if "error" in o["answer"]:
            print(f"| {name} | {o['answer']['error']} | | | | | |")
            ok = False
            continue
        cells = [f"{o['ms']:.1f}"]
        for t in sorted(duck):
            d = duck[t][name]
            cells += [f"{d['median_ms']:.1f}", f"{o['ms'] / d['median_ms']:.2f}"]
        same = agree(how, o["answer"], duck[all_t][name])
        ok &= same
        if same:
            cells.append(f"yes ({o['answer']['rows']} rows)")
        else:
            d = duck[all_t][name]
            cells.append(f"NO: {o['answer']['rows']} rows, {o['answer']['value']} vs {d['rows']} rows, {d['value']}")
        print(f"| `{kql}` | " + " | ".join(cells) + " |")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
