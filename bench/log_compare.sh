#!/bin/sh
# cmklogs vs DuckDB on the same generated file, back to back, REPEATS times (docs/benchmarks.md).
#   bench/log_compare.sh BUILD_DIR [ROWS] [REPEATS]
set -eu
build=$1
rows=${2:-1000000}
repeats=${3:-3}
here=$(cd "$(dirname "$0")" && pwd)
data=${TMPDIR:-/tmp}/cmklogs_bench
mkdir -p "$data"
file=$data/logs_$rows.json
[ -f "$file" ] || "$build/bench/log_bench" gen --rows "$rows" --out "$file"
[ -d "$here/duckdb/node_modules" ] || (cd "$here/duckdb" && npm install --no-audit --no-fund)
# Both engines read the file from the page cache: without this, whichever runs first after the
# file was evicted (by a build, say) also pays for reading it from disk.
cat "$file" > /dev/null
for i in $(seq "$repeats"); do
  echo "== repeat $i"
  "$build/bench/log_bench" run --file "$file" --runs 5 --json "$data/cmklogs_$i.json"
  node "$here/duckdb/bench.mjs" --file "$file" --runs 5 --cmklogs "$data/cmklogs_$i.json"
done
