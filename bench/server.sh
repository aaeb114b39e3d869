#!/usr/bin/env bash
# disinfox-server rows of the speed table (issue 16) and the memory bound of the existing
# DISINFOX connector's request (issue 13 item 4), on SQLite or PostgreSQL (DATABASE_URL):
#   1. seeding BIG (100,000) incidents the way an import writes them  (target <= 20 s), against
#      the anchor described in step 5, on the seeded rows
#   2. the existing connector's request over BIG incidents: `newer_than` alone (doubled Z, raw
#      Authorization), every change in one streamed answer: incidents, MB, time, server peak
#      RSS while serving it                                          (target < 100 MB RSS)
#   3. full export through the bundle endpoint, paged (cursor, limit=1000) and in that one
#      answer: MB/s and server peak RSS                              (target >= 200 MB/s)
#   4. incremental poll, 100 incidents per answer, POLL (20,000) stored, wrk -t2 -c16: req/s
#      and p50/p99, against the anchor: the same bytes precomputed, served by axum
#      (examples/serve_bytes.rs), measured in the same run    (target >= 2,000 req/s, p99 < 20 ms)
#   5. CSV import of 10,000 incidents (`disinfox-server import`)   (target >= 5,000 incidents/s),
#      against the anchor: the rows that import wrote (every table an import writes), inserted
#      by the database itself into an empty database of the same schema in one transaction
#      (the `sqlite3` shell, or psql into a schema of copied tables), measured in the same run.
# On PostgreSQL each seeded database is vacuumed and checkpointed before it is read.
# The load average is printed with each figure: the machine is shared.
#
#   [DATABASE_URL=postgres://…] [BIN=dir] [ANCHOR=path] [BIG=100000] [POLL=20000] [DURATION=20s] bash bench/server.sh
# DATABASE_URL: unset, SQLite (a file per step in a temporary directory); a postgres:// URL
# of a role that may create databases, PostgreSQL: each step gets a fresh database beside
# the one named (bench_<step>_<pid>), dropped at the end (needs psql). The same figures
# either way.
# BIN: a directory holding disinfox-server and examples/seed of another build (to measure an
# older commit with this script); ANCHOR: a serve_bytes binary already built (else it is built
# from this tree).
# Needs wrk, curl, bc, and sqlite3 for SQLite's anchor (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
big=${BIG:-100000}
poll=${POLL:-20000}
duration=${DURATION:-20s}
work=$(mktemp -d)
pids=()
pg=${DATABASE_URL:-}
case "$pg" in
  ""|postgres://*|postgresql://*) ;;
  *) echo "DATABASE_URL: expected a postgres:// URL (or nothing, for SQLite)"; exit 2 ;;
esac
steps="big poll csv"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "$pg" ]; then
    for s in $steps; do psql -q "$pg" -c "DROP DATABASE IF EXISTS bench_${s}_$$ WITH (FORCE)" 2>/dev/null || true; done
  fi
  rm -rf "$work"
}
trap cleanup EXIT
# The database of step $1: a SQLite file, or a fresh PostgreSQL database.
db_url() {
  if [ -z "$pg" ]; then echo "sqlite://$work/$1/disinfox.db"; else echo "${pg%/*}/bench_$1_$$"; fi
}
if [ -n "$pg" ]; then
  command -v psql >/dev/null || { echo "needs psql: apt-get install postgresql-client"; exit 2; }
  for s in $steps; do psql -q "$pg" -c "CREATE DATABASE bench_${s}_$$"; done
  echo "backend: PostgreSQL ($(psql -tA "$pg" -c 'SHOW server_version'))"
else
  echo "backend: SQLite"
fi
tools="wrk curl bc"
[ -n "$pg" ] || tools="$tools sqlite3"
for tool in $tools; do
  command -v "$tool" >/dev/null || { echo "needs $tool: apt-get install $tool"; exit 2; }
done
if [ -z "${ANCHOR:-}" ]; then
  cargo build -q --release -p disinfox-server --example serve_bytes
  ANCHOR=target/release/examples/serve_bytes
fi
if [ -z "${BIN:-}" ]; then
  cargo build -q --release -p disinfox-server --bin disinfox-server --example seed
  BIN=target/release
fi
bin=$BIN/disinfox-server
seed=$BIN/examples/seed
anchor=$ANCHOR
export DISINFOX_LOG_LEVEL=warn DISINFOX_RATE_LIMIT_PER_MINUTE=0
load() { echo "(load: $(cut -d' ' -f1-3 /proc/loadavg))"; }
now() { date +%s.%N; }
secs() { echo "scale=2; ($2 - $1) / 1" | bc; }
# Peak RSS of a process since the last reset (writing 5 to clear_refs resets VmHWM).
reset_peak() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }
peak_mb() { awk '/VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }

# Starts a server on the database of step $1; sets $server, $port, $key.
start_server() {
  export DISINFOX_DATA_DIR=$work/$1 DISINFOX_DATABASE_URL
  DISINFOX_DATABASE_URL=$(db_url "$1")
  echo "benchmark-password-1" | "$bin" user add --email bench@example.org --role reader >/dev/null 2>&1
  key=$("$bin" apikey create --user bench@example.org)
  port=$((20000 + RANDOM % 20000))
  DISINFOX_LISTEN="127.0.0.1:$port" "$bin" serve >/dev/null 2>"$work/server.err" &
  server=$!
  pids+=("$server")
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && return; sleep 0.1; done
  echo "server did not start:"; cat "$work/server.err"; exit 1
}
stop_server() { kill "$server"; wait "$server" 2>/dev/null || true; }

# The anchor of the write rows: the rows that step $1's database holds (every table an import
# writes, referenced ones first), inserted by the database itself into an empty database of
# the same schema in one transaction; sets $anchor_secs and prints the rate for $2 incidents.
tables="changes incidents incident_techniques incident_actors incident_countries incident_channels collection_refs collection_entries collection_object_ids stix_shared incident_stix"
anchor_rows() {
  local t0 t1 t cols
  if [ -z "$pg" ]; then
    # An empty database with the server's schema (and its settings: WAL, synchronous=NORMAL,
    # an 8 MiB cache, foreign keys and the full-text trigger on), then every row in the order
    # it was written.
    rm -rf "$work/anchor" && mkdir -p "$work/anchor"
    DISINFOX_DATA_DIR="$work/anchor" "$seed" "$(db_url anchor)" 0 0 2>/dev/null
    {
      echo "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-8192; PRAGMA foreign_keys=ON; PRAGMA temp_store=memory;"
      echo "ATTACH 'file:$work/$1/disinfox.db?mode=ro' AS import; BEGIN;"
      for t in $tables; do echo "INSERT INTO main.$t SELECT * FROM import.$t ORDER BY rowid;"; done
      echo "COMMIT;"
    } >"$work/anchor.sql"
    t0=$(now)
    sqlite3 "$work/anchor/disinfox.db" <"$work/anchor.sql" >/dev/null
    t1=$(now)
    rm -rf "$work/anchor"
  else
    # In the step's database: a schema of empty copies of its tables (columns, defaults,
    # indexes and constraints but the foreign keys), filled from its rows.
    {
      echo "SET client_min_messages = warning; DROP SCHEMA IF EXISTS anchor CASCADE; CREATE SCHEMA anchor;"
      for t in $tables; do echo "CREATE TABLE anchor.$t (LIKE public.$t INCLUDING ALL);"; done
    } | psql -q "$(db_url "$1")"
    {
      echo "BEGIN;"
      for t in $tables; do
        cols=$(psql -tA "$(db_url "$1")" -c "SELECT string_agg(quote_ident(column_name), ', ' ORDER BY ordinal_position) FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '$t' AND is_generated = 'NEVER'")
        echo "INSERT INTO anchor.$t ($cols) OVERRIDING SYSTEM VALUE SELECT $cols FROM public.$t ORDER BY ctid;"
      done
      echo "COMMIT;"
    } >"$work/anchor.sql"
    t0=$(now)
    psql -q -v ON_ERROR_STOP=1 "$(db_url "$1")" -f "$work/anchor.sql" >/dev/null
    t1=$(now)
    psql -q "$(db_url "$1")" -c "SET client_min_messages = warning" -c "DROP SCHEMA anchor CASCADE"
  fi
  anchor_secs=$(echo "$t1 - $t0" | bc)
  echo "anchor (the same rows inserted by the database in one transaction): $(secs "$t0" "$t1") s = $(echo "$2 / ($t1 - $t0)" | bc) incidents/s $(load)"
}
# On PostgreSQL, a freshly seeded database is vacuumed and checkpointed before it is read, so
# that the reads measure the server and not autovacuum catching up with the bulk load.
settle() {
  if [ -n "$pg" ]; then psql -q "$(db_url "$1")" -c "VACUUM (ANALYZE)" -c "CHECKPOINT"; fi
}

echo "== 1. seeding $big incidents $(load)"
t0=$(now)
DISINFOX_DATA_DIR="$work/big" "$seed" "$(db_url big)" "$big" 100 2>/dev/null
t1=$(now)
echo "seed: $big incidents in $(secs "$t0" "$t1") s ($(echo "$big / ($t1 - $t0)" | bc) incidents/s; target <= 20 s for 100,000) $(load)"
seed_secs=$(echo "$t1 - $t0" | bc)
anchor_rows big "$big"
echo "ratio seed/anchor: $(echo "scale=3; $anchor_secs / $seed_secs" | bc)"
settle big
t0=$(now)
start_server big
echo "server start on $big incidents: $(secs "$t0" "$(now)") s"

echo "== 2. the existing connector's request (newer_than only) over $big incidents"
# Timed with the answer read and dropped (curl -o /dev/null), so that the figure is the
# server's and not the client's disk; the same answer is then fetched again to a file to
# count its incidents.
all="http://127.0.0.1:$port/api/v1/bundle?newer_than=2024-01-01T00:00:00ZZ"
reset_peak "$server"
t0=$(now)
bytes=$(curl -sf -H "Authorization: $key" -o /dev/null -w '%{size_download}' "$all")
t1=$(now)
peak=$(peak_mb "$server")
curl -sf -H "Authorization: $key" -o "$work/all.json" "$all"
got=$(grep -o '"type":"incident"' "$work/all.json" | wc -l)
echo "one answer: $got incidents, $((bytes / 1000000)) MB in $(secs "$t0" "$t1") s ($(echo "$bytes / 1000000 / ($t1 - $t0)" | bc) MB/s); server peak RSS $peak MB while serving it (target < 100 MB) $(load)"
rm -f "$work/all.json"

echo "== 3. full export through the bundle endpoint, paged (cursor, limit=1000)"
# One client on one keep-alive connection, as a connector pages (bench/page_all.py).
reset_peak "$server"
read -r incidents pages bytes took < <(python3 bench/page_all.py "$port" "$key" 1000)
echo "paged export: $incidents incidents, $pages pages, $((bytes / 1000000)) MB in $took s = $(echo "$bytes / 1000000 / $took" | bc) MB/s (target >= 200 MB/s); server peak RSS $(peak_mb "$server") MB $(load)"
stop_server

echo "== 4. incremental poll: 100 incidents per answer, $poll stored; wrk -t2 -c16 -d$duration"
DISINFOX_DATA_DIR="$work/poll" "$seed" "$(db_url poll)" "$poll" 100 2>/dev/null
settle poll
start_server poll
since=$(date -u -d '1 hour ago' +%Y-%m-%dT%H:%M:%S.000000Z)
url="http://127.0.0.1:$port/api/v1/bundle?newer_than=$since&limit=100"
count=$(curl -sf -H "Authorization: Bearer $key" -D - -o "$work/answer.json" "$url" | tr -d '\r' | awk -F': ' '/x-disinfox-incidents/ {print $2}')
echo "answer: $count incidents, $(stat -c %s "$work/answer.json") bytes"
apart=$((port + 1))
"$anchor" "$work/answer.json" "127.0.0.1:$apart" &
anchor_pid=$!
pids+=("$anchor_pid")
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$apart/" && break; sleep 0.1; done
run_wrk() {
  wrk -t2 -c16 -d"$duration" --latency -H "Authorization: Bearer $key" "$1" >"$work/wrk.txt"
  rps=$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")
}
run_wrk "http://127.0.0.1:$apart/"
a_rps=$rps; a_p50=$p50; a_p99=$p99; a_load=$(load)
run_wrk "$url"
echo "server: $rps req/s, p50 $p50, p99 $p99 $(load) (target >= 2,000 req/s, p99 < 20 ms)"
echo "anchor (same bytes precomputed): $a_rps req/s, p50 $a_p50, p99 $a_p99 $a_load"
echo "ratio server/anchor: $(echo "scale=3; $rps / $a_rps" | bc)"
kill "$anchor_pid"
stop_server

echo "== 5. CSV import of 10,000 incidents"
python3 bench/make_csv.py 10000 >"$work/bulk.csv"
t0=$(now)
DISINFOX_DATA_DIR="$work/csv" DISINFOX_DATABASE_URL="$(db_url csv)" /usr/bin/time -f "%M" -o "$work/rss" "$bin" import "$work/bulk.csv" >"$work/import.out" 2>&1
t1=$(now)
tail -1 "$work/import.out"
echo "import: 10000 incidents in $(secs "$t0" "$t1") s = $(echo "10000 / ($t1 - $t0)" | bc) incidents/s (target >= 5,000/s), peak RSS $(($(cat "$work/rss") / 1024)) MB $(load)"
import_secs=$(echo "$t1 - $t0" | bc)
anchor_rows csv 10000
echo "ratio import/anchor: $(echo "scale=3; $anchor_secs / $import_secs" | bc)"
