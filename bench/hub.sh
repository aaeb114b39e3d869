#!/usr/bin/env bash
# Running-in-public figures of disinfox-server (issue 12), release build, this machine:
#   1. H2: time to refuse a 1.3 MB body with 100,000 actors (5 runs), and /health latency
#      while two such bodies are sent over and over in parallel (p50, p99, max);
#   2. M4: TAXII lookup of an unknown object id (incident and relationship) and of a known
#      relationship with INCIDENTS incidents seeded (median of 20 each);
#   3. M1: an import job of a DISINFOX CSV of IMPORT incidents: time to the 202, time until the
#      job is over, and its counts.
# Needs curl and python3.   bash bench/hub.sh [INCIDENTS=6000] [IMPORT=16000]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-6000}
m=${2:-16000}
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$work"' EXIT
cargo build -q --release -p disinfox-server --bin disinfox-server --example seed
bin=target/release/disinfox-server
export DISINFOX_DATA_DIR="$work/data" DISINFOX_LOG_LEVEL=warn DISINFOX_RATE_LIMIT_PER_MINUTE=0
echo "== seeding $n incidents"
/usr/bin/time -f "seed: %e s" target/release/examples/seed "sqlite://$work/data/disinfox.db" "$n" 100
echo "benchmark-password-1" | "$bin" user add --email bench@example.org --role analyst >/dev/null 2>&1
key=$("$bin" apikey create --user bench@example.org --scope write)
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
DISINFOX_LISTEN="127.0.0.1:$port" "$bin" serve >/dev/null 2>"$work/server.err" &
server=$!
for _ in $(seq 1 100); do curl -sf "$base/health" >/dev/null && break; sleep 0.1; done
auth=(-g -H "Authorization: Bearer $key")

# Percentiles of a file of seconds, printed in ms.
stats() {
  sort -n "$1" | awk '{v[NR]=$1} END {
    p50=v[int((NR+1)*0.50)]; p99=v[int(NR*0.99) > 0 ? int(NR*0.99) : 1];
    printf "n=%d p50=%.1f ms p99=%.1f ms max=%.1f ms\n", NR, p50*1000, p99*1000, v[NR]*1000 }'
}

echo "== H2: a body with 100,000 actors"
python3 - "$work/actors.json" <<'PY'
import json, sys
body = {"name": "Too many actors", "actors": [f"actor {i:06}" for i in range(100000)]}
open(sys.argv[1], "w").write(json.dumps(body))
PY
echo "body: $(stat -c %s "$work/actors.json") bytes"
for _ in 1 2 3 4 5; do
  curl -s -o "$work/refused.json" -w "%{http_code} %{time_total}\n" "${auth[@]}" \
    -H 'Content-Type: application/json' --data-binary @"$work/actors.json" "$base/api/v1/incidents"
done | awk '{printf "refused: HTTP %s in %.1f ms\n", $1, $2*1000}'
echo "answer: $(head -c 200 "$work/refused.json")"
flood() {
  while [ ! -e "$work/stop" ]; do
    curl -s -o /dev/null "${auth[@]}" -H 'Content-Type: application/json' \
      --data-binary @"$work/actors.json" "$base/api/v1/incidents"
  done
}
flood & f1=$!
flood & f2=$!
: >"$work/health.txt"
end=$((SECONDS + 10))
while [ $SECONDS -lt $end ]; do
  curl -s -o /dev/null -w "%{time_total}\n" "$base/health" >>"$work/health.txt"
  sleep 0.02
done
touch "$work/stop"
wait $f1 $f2 2>/dev/null || true
echo "/health during two parallel floods of 100,000-actor bodies: $(stats "$work/health.txt")"

echo "== M4: TAXII lookups with $n incidents"
col="$base/taxii2/disinfox/collections/incidents/objects"
known=$(curl -sf "${auth[@]}" "$col/?match[type]=relationship&limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["objects"][0]["id"])')
for what in "unknown incident|incident--00000000-0000-4000-8000-000000000001" \
            "unknown relationship|relationship--00000000-0000-4000-8000-000000000001" \
            "known relationship|$known"; do
  : >"$work/taxii.txt"
  for _ in $(seq 1 20); do
    curl -s -o /dev/null -w "%{time_total}\n" "${auth[@]}" "$col/${what#*|}/" >>"$work/taxii.txt"
  done
  code=$(curl -s -o /dev/null -w "%{http_code}" "${auth[@]}" "$col/${what#*|}/")
  echo "${what%%|*}: HTTP $code, $(stats "$work/taxii.txt")"
done

echo "== M1: import job of a CSV with $m incidents"
python3 bench/make_csv.py "$m" >"$work/bulk.csv"
echo "file: $(stat -c %s "$work/bulk.csv") bytes"
start=$(date +%s.%N)
location=$(curl -s -D - -o /dev/null "${auth[@]}" -H 'Content-Type: text/csv' \
  --data-binary @"$work/bulk.csv" "$base/api/v1/import" | tr -d '\r' | awk -F': ' 'tolower($1)=="location" {print $2}')
accepted=$(date +%s.%N)
echo "202 after $(echo "($accepted - $start) * 1000" | bc) ms: $location"
while :; do
  job=$(curl -sf "${auth[@]}" "$base$location")
  state=$(echo "$job" | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
  [ "$state" = succeeded ] || [ "$state" = failed ] && break
  sleep 0.2
done
done_at=$(date +%s.%N)
echo "$job" | python3 -c 'import json,sys; j=json.load(sys.stdin); print("job", j["state"], "progress", j["progress"], "counts", j["counts"])'
echo "job over after $(echo "$done_at - $start" | bc) s"
