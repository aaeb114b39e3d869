#!/usr/bin/env bash
# Freshness of the live stream: N (default 200) incidents saved through the API at random
# intervals (0-300 ms), a connector in stream mode (DISINFOX_MODE=stream) pushing into the
# OpenCTI stand-in; prints the median and the 99th percentile of the time from each save's
# answer to the incident's receipt by the stand-in (its `received_unix_ms`). Targets: p99 under
# 2 s, median under 500 ms.
#
#   [PROFILE=release|debug] bash bench/freshness.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-200}
profile=${PROFILE:-release}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
flag=--release
[ "$profile" = debug ] && flag=
cargo build -q $flag -p disinfox-server --bin disinfox-server
cargo build -q $flag -p connector --bin disinfox-connector
cargo build -q $flag -p opencti-standin --bin opencti-standin
bin=target/$profile
export DISINFOX_LOG_LEVEL=warn DISINFOX_RATE_LIMIT_PER_MINUTE=0 DISINFOX_DATA_DIR="$work/data"

echo "bench-password-123" | "$bin/disinfox-server" user add --email writer@example.org --role analyst >/dev/null 2>&1
echo "bench-password-123" | "$bin/disinfox-server" user add --email reader@example.org --role reader >/dev/null 2>&1
write_key=$("$bin/disinfox-server" apikey create --user writer@example.org --scope write)
read_key=$("$bin/disinfox-server" apikey create --user reader@example.org)
sport=$((20000 + RANDOM % 20000))
oport=$((sport + 1))
DISINFOX_LISTEN="127.0.0.1:$sport" "$bin/disinfox-server" serve >/dev/null 2>"$work/server.err" &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$sport/health" >/dev/null && break; sleep 0.1; done
token=6f1c0d5e-3b7a-4c2e-9a8d-0e5f4b3c2a19
"$bin/opencti-standin" --listen "127.0.0.1:$oport" --token "$token" --no-payloads >"$work/standin.out" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$oport/standin/summary" >/dev/null && break; sleep 0.1; done

OPENCTI_URL="http://127.0.0.1:$oport" OPENCTI_TOKEN="$token" \
CONNECTOR_ID=$(cat /proc/sys/kernel/random/uuid) CONNECTOR_LOG_LEVEL=info OPENCTI_JSON_LOGGING=false \
DISINFOX_URL="http://127.0.0.1:$sport/api/v1/bundle" DISINFOX_API_KEY="$read_key" DISINFOX_MODE=stream \
  "$bin/disinfox-connector" >"$work/connector.out" 2>"$work/connector.log" &
pids+=($!)
for _ in $(seq 1 300); do grep -qs "Following the live stream" "$work/connector.log" && break; sleep 0.1; done
grep -q "Following the live stream" "$work/connector.log" || { echo "the connector is not following:"; tail -5 "$work/connector.log"; exit 1; }

echo "== $n incidents saved at random intervals (0-300 ms), connector in stream mode ($profile build)"
python3 - "http://127.0.0.1:$sport" "$write_key" "http://127.0.0.1:$oport" "$n" <<'PY'
import json, random, statistics, sys, time, urllib.request
base, key, standin, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
saved = {}
rng = random.Random(13)
for i in range(n):
    time.sleep(rng.uniform(0, 0.3))
    body = json.dumps({
        "name": f"Freshness probe {i}", "description": f"Probe {i} of the freshness benchmark",
        "first_seen": "2026-11", "techniques": ["T0002", "T0049.003"], "actors": ["Russia"],
        "target_countries": ["UA", "France"], "country_of_origin": "RU", "channels": ["Telegram"],
        "source_urls": [f"https://example.org/probe/{i}"], "attribution_sources": ["government"],
    }).encode()
    req = urllib.request.Request(base + "/api/v1/incidents", data=body, method="POST", headers={
        "Authorization": "Bearer " + key, "Content-Type": "application/json"})
    with urllib.request.urlopen(req) as r:
        answer = json.load(r)
    saved[answer["id"]] = time.time()
deadline = time.time() + 60
while True:
    with urllib.request.urlopen(standin + "/standin/objects") as r:
        got = {o["id"]: o for o in json.load(r) if o["id"] in saved}
    if len(got) == n or time.time() > deadline:
        break
    time.sleep(0.2)
if len(got) < n:
    sys.exit(f"only {len(got)} of {n} incidents reached the stand-in within 60 s")
lat = sorted(got[i]["received_unix_ms"][0] / 1000 - t for i, t in saved.items())
p99 = lat[max(0, -(-99 * n // 100) - 1)]
med = statistics.median(lat)
dup = sum(1 for o in got.values() if o["count"] > 1)
print(f"freshness over {n} incidents: median {med * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
      f"max {lat[-1] * 1000:.0f} ms, min {lat[0] * 1000:.0f} ms; {dup} received twice")
print(f"targets: median < 500 ms {'met' if med < 0.5 else 'MISSED'}; p99 < 2000 ms {'met' if p99 < 2 else 'MISSED'}")
PY
