// DuckDB peer of bench/log_bench (docs/benchmarks.md): one thread, read_json of the same file
// into an in-memory table (timed: wall and process CPU), then the eight queries in SQL, one
// warm-up run and then --runs timed runs each, medians. With --cmklogs (log_bench's --json
// output from the same machine and hour) it prints the ratios and checks that both engines
// returned the same answers.
//
//   npm install && node bench.mjs --file logs.json [--runs 5] [--threads N] [--db FILE] [--cmklogs cmklogs.json]
//     [--load-only 1]
// --load-only 1: the load alone (and with --cmklogs its ratio), no queries: api_bench.py's
// durable peer, a load into a database file beside the in-memory one.
// (`npm install`, not `npm ci`: the lock file holds only the platform packages of the machine
// that wrote it, which `npm ci` refuses; package.json pins the exact version.)
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (i % 2 === 0 ? [...acc, [a.replace(/^--/, ''), all[i + 1]]] : acc), []));
if (!args.file) throw new Error('usage: node bench.mjs --file FILE [--runs R] [--cmklogs JSON]');
const runs = Number(args.runs ?? 5);

// Same order and same answers as kQueries / Answer() in bench/log_bench.cc.
const queries = [
  ['filtered count', `SELECT count(*) AS c FROM logs WHERE Level = 'Error'`, (r) => `${r[0].c}`],
  ['count, avg by Computer', `SELECT Computer, count(*) AS n, avg(DurationMs) AS a FROM logs GROUP BY Computer`,
    (r) => `groups=${r.length} rows=${sum(r, 'n')}`],
  // KQL `contains` is case-insensitive: ILIKE.
  ['contains count', `SELECT count(*) AS c FROM logs WHERE Message ILIKE '%timeout%'`, (r) => `${r[0].c}`],
  ['count by bin 1h', `SELECT date_trunc('hour', TimeGenerated) AS b, count(*) AS n FROM logs GROUP BY b`,
    (r) => `groups=${r.length} rows=${sum(r, 'n')}`],
  ['top 10 by DurationMs', `SELECT * FROM logs ORDER BY DurationMs DESC LIMIT 10`,
    (r) => `rows=${r.length} max=${r[0].DurationMs.toFixed(3)} min=${r[r.length - 1].DurationMs.toFixed(3)}`],
  ['distinct Computer', `SELECT DISTINCT Computer FROM logs`, (r) => `rows=${r.length}`],
  // KQL dcount is exact up to 1000 distinct values (src/kql/README.md; 500 hosts here), so the
  // exact count(DISTINCT).
  ['dcount(Computer)', `SELECT count(DISTINCT Computer) AS d FROM logs`, (r) => `${r[0].d}`],
  ['join of two summaries',
    `SELECT e.Computer, e.Errors, t.Total
       FROM (SELECT Computer, count(*) AS Errors FROM logs WHERE Level = 'Error' GROUP BY Computer) e
       JOIN (SELECT Computer, count(*) AS Total FROM logs GROUP BY Computer) t ON e.Computer = t.Computer`,
    (r) => `rows=${r.length} errors=${sum(r, 'Errors')} total=${sum(r, 'Total')}`],
];

function sum(rows, col) {
  return rows.reduce((s, r) => s + Number(r[col]), 0);
}
function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}
function cpuSeconds() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

// --threads N: DuckDB on N threads (default 1), for the all-core pair of bench/api_bench.py.
// --db FILE: a database file instead of memory (100M rows do not fit in memory beside the server).
const wantThreads = String(Number(args.threads ?? 1));
const instance = await DuckDBInstance.create(args.db ?? ':memory:', { threads: wantThreads });
const con = await instance.connect();
await con.run(`SET threads = ${wantThreads}`);
await con.run("SET preserve_insertion_order = false");
const threads = (await con.runAndReadAll("SELECT current_setting('threads') AS t")).getRowObjects()[0].t;

const file = args.file.replaceAll("'", "''");
const cpu0 = cpuSeconds();
const t0 = performance.now();
await con.run(`CREATE TABLE logs AS SELECT * FROM read_json('${file}', format = 'array', columns = {
  TimeGenerated: 'TIMESTAMP', Computer: 'VARCHAR', Level: 'VARCHAR', EventId: 'INTEGER',
  DurationMs: 'DOUBLE', Message: 'VARCHAR'})`);
const loadWall = (performance.now() - t0) / 1e3;
const loadCpu = cpuSeconds() - cpu0;
const rows = Number((await con.runAndReadAll('SELECT count(*) AS n FROM logs')).getRowObjects()[0].n);
const bytes = (await import('node:fs')).statSync(args.file).size;
console.log(`duckdb ${(await con.runAndReadAll('SELECT version() AS v')).getRowObjects()[0].v}, threads=${threads}`);
console.log(`load: ${rows} rows, ${(bytes / 1e6).toFixed(1)} MB: wall ${loadWall.toFixed(2)} s, process CPU ${loadCpu.toFixed(2)} s, ` +
  `${(loadCpu / (bytes / 1e9)).toFixed(1)} CPU-s/GB, ${(bytes / 1e6 / loadCpu).toFixed(1)} MB/s per core`);

const loadOnly = args['load-only'] === '1';
const results = [];
for (const [name, sql, answer] of loadOnly ? [] : queries) {
  let ans;
  const ms = [];
  for (let i = 0; i <= runs; i++) {  // run 0 is the warm-up
    const t = performance.now();
    const r = (await con.runAndReadAll(sql)).getRowObjects();
    const el = performance.now() - t;
    if (i === 0) ans = answer(r);
    else ms.push(el);
  }
  results.push({ name, median_ms: median(ms), answer: ans });
  console.log(`query ${results.length} ${name.padEnd(24)} median ${median(ms).toFixed(2).padStart(9)} ms  answer ${ans}`);
}
console.log(`duckdb process peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB` +
  (args.db ? ` (database file ${args.db})` : ' (in-memory database)'));

if (args.cmklogs) {
  const c = JSON.parse(readFileSync(args.cmklogs, 'utf8'));
  const gb = c.ingest.bytes / 1e9;
  console.log(`\n| | cmklogs | DuckDB (${threads} thread${threads == 1 ? '' : 's'}) | ratio (cmklogs / DuckDB) | same answer |`);
  console.log('|---|---|---|---|---|');
  console.log(`| ingest CPU-s/GB | ${(c.ingest.cpu_s / gb).toFixed(1)} | ${(loadCpu / (bytes / 1e9)).toFixed(1)} | ` +
    `${((c.ingest.cpu_s / gb) / (loadCpu / (bytes / 1e9))).toFixed(2)} | ${c.ingest.rows === rows ? 'rows ' + rows : 'NO: ' + c.ingest.rows + ' vs ' + rows} |`);
  let ok = true;
  (loadOnly ? [] : c.queries).forEach((q, i) => {
    const d = results[i];
    const same = q.answer === d.answer;
    ok &&= same;
    console.log(`| ${i + 1}. ${q.name} | ${q.median_ms.toFixed(2)} ms | ${d.median_ms.toFixed(2)} ms | ` +
      `${(q.median_ms / d.median_ms).toFixed(2)} | ${same ? 'yes: ' + d.answer : 'NO: ' + q.answer + ' vs ' + d.answer} |`);
  });
  if (!ok) process.exitCode = 1;
}
