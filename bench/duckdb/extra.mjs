// DuckDB peer of bench/breadth_bench.py: the same NDJSON loaded into memory as in bench.mjs,
// then each query of --queries (a JSON array of [name, sql]) run once to warm up and --runs
// times timed. One JSON line a query on stdout: name, median_ms, rows and the first value of
// a one-value answer (progress on stderr).
//
//   node extra.mjs --file logs.json --queries q.json [--runs 3] [--threads N]
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { DuckDBInstance } from '@duckdb/node-api';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (i % 2 === 0 ? [...acc, [a.replace(/^--/, ''), all[i + 1]]] : acc), []));
if (!args.file || !args.queries) throw new Error('usage: node extra.mjs --file FILE --queries JSON [--runs R] [--threads N]');
const runs = Number(args.runs ?? 3);
const threads = String(Number(args.threads ?? 1));
const instance = await DuckDBInstance.create(':memory:', { threads });
const con = await instance.connect();
await con.run(`SET threads = ${threads}`);
await con.run('SET preserve_insertion_order = false');
const file = args.file.replaceAll("'", "''");
await con.run(`CREATE TABLE logs AS SELECT * FROM read_json('${file}', format = 'array', columns = {
  TimeGenerated: 'TIMESTAMP', Computer: 'VARCHAR', Level: 'VARCHAR', EventId: 'INTEGER',
  DurationMs: 'DOUBLE', Message: 'VARCHAR'})`);
for (const [name, sql] of JSON.parse(readFileSync(args.queries, 'utf8'))) {
  const ms = [];
  let rows = 0;
  let value = null;
  for (let i = 0; i <= runs; i++) {  // run 0 is the warm-up
    const t = performance.now();
    const r = (await con.runAndReadAll(sql)).getRows();
    const el = performance.now() - t;
    if (i === 0) {
      rows = r.length;
      if (r.length === 1 && r[0].length === 1) {
        const v = r[0][0];
        value = typeof v === 'bigint' || typeof v === 'number' ? Number(v) : String(v);
      }
    } else {
      ms.push(el);
    }
  }
  ms.sort((a, b) => a - b);
  const median_ms = ms[Math.floor(ms.length / 2)];
  process.stderr.write(`duckdb ${threads}t ${name.padEnd(28)} ${median_ms.toFixed(1).padStart(9)} ms\n`);
  console.log(JSON.stringify({ name, median_ms, rows, value }));
}
