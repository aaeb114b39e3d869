#!/usr/bin/env bash
# disinfox-server figures (numbers go in the closing notes):
#   1. requests/s and p50/p99 latency of an incremental poll (newer_than one hour ago, about
#      100 incidents) with 100,000 incidents seeded, under wrk on this machine;
#   2. time and peak memory of a full export of all incidents through the paged bundle endpoint;
#   3. time to import 10,000 incidents from a DISINFOX CSV file.
# Needs wrk (Debian package `wrk`).   bash bench/server.sh [INCIDENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-100000}
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk"; exit 2; }
cargo build -q --release -p disinfox-server --bin disinfox-server --example seed
bin=target/release/disinfox-server
export DISINFOX_DATA_DIR="$work/data" DISINFOX_LOG_LEVEL=warn DISINFOX_RATE_LIMIT_PER_MINUTE=0
echo "== seeding $n incidents"
/usr/bin/time -f "seed: %e s" target/release/examples/seed "sqlite://$work/data/disinfox.db" "$n" 100
echo "benchmark-password-1" | "$bin" user add --email bench@example.org --role reader >/dev/null 2>&1
key=$("$bin" apikey create --user bench@example.org)
port=$((20000 + RANDOM % 20000))
DISINFOX_LISTEN="127.0.0.1:$port" "$bin" serve >/dev/null 2>"$work/server.err" &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
since=$(date -u -d '1 hour ago' +%Y-%m-%dT%H:%M:%S.000000Z)
url="http://127.0.0.1:$port/api/v1/bundle?newer_than=$since&limit=1000"
count=$(curl -sf -H "Authorization: Bearer $key" -D - -o /dev/null "$url" | tr -d '\r' | awk -F': ' '/x-disinfox-incidents/ {print $2}')
echo "== incremental poll: $count incidents per answer; wrk -t2 -c16 -d20s"
wrk -t2 -c16 -d20s --latency -H "Authorization: Bearer $key" "$url" | grep -E "Latency|50%|99%|Requests/sec|requests in"
echo "== full export through the paged bundle endpoint (limit 1000)"
rss() { awk '/VmHWM/ {print $2}' "/proc/$server/status"; }
before=$(rss)
start=$(date +%s.%N)
cursor=0; pages=0; incidents=0; bytes=0
while :; do
  curl -sf -H "Authorization: Bearer $key" -D "$work/h" -o "$work/page.json" "http://127.0.0.1:$port/api/v1/bundle?cursor=$cursor&limit=1000"
  pages=$((pages + 1))
  bytes=$((bytes + $(stat -c %s "$work/page.json")))
  incidents=$((incidents + $(tr -d '\r' <"$work/h" | awk -F': ' '/x-disinfox-incidents/ {print $2}')))
  cursor=$(tr -d '\r' <"$work/h" | awk -F': ' '/x-disinfox-next-cursor/ {print $2}')
  tr -d '\r' <"$work/h" | grep -q 'x-disinfox-more: true' || break
done
end=$(date +%s.%N)
echo "export: $incidents incidents, $pages pages, $((bytes / 1000000)) MB in $(echo "$end - $start" | bc) s; server peak RSS ${before} KiB before, $(rss) KiB after"
kill $server; wait $server 2>/dev/null || true
echo "== CSV import of 10,000 incidents"
python3 bench/make_csv.py 10000 >"$work/bulk.csv"
DISINFOX_DATA_DIR="$work/csv" /usr/bin/time -f "import: %e s wall, peak RSS %M KiB" "$bin" import "$work/bulk.csv" 2>&1 | tail -2
