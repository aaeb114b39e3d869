#!/usr/bin/env bash
# The connector row of the speed table: INCIDENTS (default 14,000) incidents from a seeded
# disinfox-server through disinfox-connector into the OpenCTI stand-in, over the API path (and
# the AMQP path when a RabbitMQ broker answers at $AMQP_URL). For each run: objects delivered,
# wall time, CPU seconds (user + system) and peak RSS of the connector process.
#
# With PY_CONNECTOR=<dir of OpenCTI-Platform/connectors external-import/disinfox/src> the
# existing Python DISINFOX connector (pycti 6.8.10 from PyPI, in a venv under bench/out) is the
# anchor, measured in the same run: it is given the same objects (every object of every page
# the Rust connector fetches, in order) in one answer, which it reads whole and pushes as one
# bundle, and the row prints the ratios of CPU seconds and peak memory. PY_AMQP=1 measures it
# over AMQP too (one message per object: slow).
#
#   [PAGE_SIZE=500] [PY_CONNECTOR=dir [PY_AMQP=1]] [AMQP_URL=amqp://…] bash bench/connector.sh [INCIDENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-14000}
page_size=${PAGE_SIZE:-500}
amqp_url=${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
cargo build -q --release -p disinfox-server --bin disinfox-server --example seed
cargo build -q --release -p connector --bin disinfox-connector
cargo build -q --release -p opencti-standin --bin opencti-standin
bin=target/release
export DISINFOX_LOG_LEVEL=warn DISINFOX_RATE_LIMIT_PER_MINUTE=0

echo "== seeding $n incidents"
DISINFOX_DATA_DIR="$work/data" /usr/bin/time -f "seed: %e s" \
  "$bin/examples/seed" "sqlite://$work/data/disinfox.db" "$n" 100
export DISINFOX_DATA_DIR="$work/data"
echo "benchmark-password-1" | "$bin/disinfox-server" user add --email bench@example.org --role reader >/dev/null 2>&1
key=$("$bin/disinfox-server" apikey create --user bench@example.org)
sport=$((20000 + RANDOM % 20000))
DISINFOX_LISTEN="127.0.0.1:$sport" "$bin/disinfox-server" serve >/dev/null 2>"$work/server.err" &
pids+=($!)
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$sport/health" >/dev/null && break; sleep 0.1; done

token=6f1c0d5e-3b7a-4c2e-9a8d-0e5f4b3c2a19
start_standin() { # $1 = port, $2... = extra flags
  local port=$1
  shift
  "$bin/opencti-standin" --listen "127.0.0.1:$port" --token "$token" --no-payloads "$@" >"$work/standin-$port.out" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/standin/summary" >/dev/null && break; sleep 0.1; done
}
summary() { curl -sf "http://127.0.0.1:$1/standin/summary"; }
# Waits until the stand-in's worker has reported every expectation of every work.
drained() {
  for _ in $(seq 1 3000); do
    curl -sf "http://127.0.0.1:$1/standin/works" | python3 -c "
import json, sys
works = json.load(sys.stdin)
sys.exit(0 if works and all(w['processed'] >= w['expected'] for w in works) else 1)" && return 0
    sleep 0.1
  done
  echo "the stand-in did not drain its queue"
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# Prints a run's figures and keeps them for the row. $1 = label, $2 = stand-in port, $3 = the
# /usr/bin/time output ("wall rss_kib user sys").
report() {
  local s wall rss user sys cpu
  s=$(summary "$2")
  read -r wall rss user sys <"$3"
  cpu=$(python3 -c "print(f'{$user + $sys:.2f}')")
  echo "$1: $(echo "$s" | field objects) objects delivered ($(echo "$s" | field objects_received) received) in $wall s wall; connector CPU $cpu s (user $user + sys $sys), peak RSS $(python3 -c "print(round($rss / 1024))") MiB"
  echo "$cpu $rss" >"$work/$1.result"
}

run_rust() { # $1 = label, $2 = stand-in port, $3 = protocol
  local out="$work/rust-$2.time"
  OPENCTI_URL="http://127.0.0.1:$2" OPENCTI_TOKEN="$token" \
  CONNECTOR_ID=$(cat /proc/sys/kernel/random/uuid) CONNECTOR_RUN_AND_TERMINATE=true \
  CONNECTOR_QUEUE_PROTOCOL="$3" CONNECTOR_LOG_LEVEL=error \
  DISINFOX_URL="http://127.0.0.1:$sport/api/v1/bundle" DISINFOX_API_KEY="$key" DISINFOX_PAGE_SIZE="$page_size" \
    /usr/bin/time -f "%e %M %U %S" -o "$out" "$bin/disinfox-connector" 2>"$work/rust-$2.log" \
    || { echo "connector failed:"; tail -5 "$work/rust-$2.log"; return 1; }
  [ "$3" = amqp ] && drained "$2"
  report "$1" "$2" "$out"
}

echo "== Rust connector, API path (stixBundlePush), $page_size incidents per page"
start_standin $((sport + 1))
run_rust rust-api $((sport + 1)) api

if python3 - "$amqp_url" <<'EOF' 2>/dev/null
import socket, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1])
socket.create_connection((u.hostname, u.port or 5672), timeout=2).close()
EOF
then
  echo "== Rust connector, AMQP path (RabbitMQ at $amqp_url)"
  start_standin $((sport + 2)) --amqp-url "$amqp_url" --queue-prefix "bench$RANDOM"
  run_rust rust-amqp $((sport + 2)) amqp
else
  echo "== AMQP path skipped: no broker at $amqp_url"
fi

[ -n "${PY_CONNECTOR:-}" ] || {
  echo "== the anchor needs PY_CONNECTOR=<checkout of OpenCTI-Platform/connectors>/external-import/disinfox/src"
  exit 0
}

# The same objects in one answer: every page the Rust connector fetched (same page size, same
# flavour and id rules as it asks a 6.8 platform for), concatenated in order, served as one
# bundle by a static file server (the Python connector's query string is ignored).
mkdir -p "$work/one"
python3 - "http://127.0.0.1:$sport/api/v1/bundle" "$key" "$page_size" "$work/one/bundle" <<'EOF' >"$work/one.size"
import json, sys, urllib.parse, urllib.request
url, key, limit, out = sys.argv[1:]
objects, cursor = [], None
while True:
    q = {"limit": limit, "flavor": "opencti", "opencti_ids": "6"}
    if cursor:
        q["cursor"] = cursor
    req = urllib.request.Request(url + "?" + urllib.parse.urlencode(q),
                                 headers={"Authorization": "Bearer " + key})
    with urllib.request.urlopen(req) as r:
        page = json.load(r)
        cursor, more = r.headers["x-disinfox-next-cursor"], r.headers["x-disinfox-more"] == "true"
    objects += page.get("objects", [])
    if not more:
        break
size = sum(len(json.dumps(o, separators=(",", ":"))) for o in objects)
with open(out, "w") as f:
    json.dump({"type": "bundle", "id": "bundle--0b6d2e1c-4a3f-4e5d-8c7b-9a1f2e3d4c5b",
               "objects": objects}, f, separators=(",", ":"))
print(len(objects), size)
EOF
read -r one_objects one_bytes <"$work/one.size"
fport=$((sport + 5))
python3 -m http.server "$fport" --bind 127.0.0.1 --directory "$work/one" >/dev/null 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$fport/bundle" && break; sleep 0.1; done

py="$PWD/bench/out/pyvenv"
if [ ! -x "$py/bin/python" ]; then
  python3 -m venv "$py"
  "$py/bin/pip" install -q --disable-pip-version-check "pycti==6.8.10"
fi

run_python() { # $1 = label, $2 = stand-in port, $3 = protocol
  mkdir -p "$work/py-$2"
  cp -r "$PY_CONNECTOR"/. "$work/py-$2/"
  # It reads DISINFOX_BASE_URL in some revisions, DISINFOX_URL in others.
  (cd "$work/py-$2" && OPENCTI_URL="http://127.0.0.1:$2" OPENCTI_TOKEN="$token" \
    CONNECTOR_ID=$(cat /proc/sys/kernel/random/uuid) CONNECTOR_TYPE=EXTERNAL_IMPORT \
    CONNECTOR_NAME="DISINFOX Connector" CONNECTOR_SCOPE=stix2 CONNECTOR_DURATION_PERIOD=PT5M \
    CONNECTOR_RUN_AND_TERMINATE=true CONNECTOR_QUEUE_PROTOCOL="$3" CONNECTOR_LOG_LEVEL=error \
    DISINFOX_URL="http://127.0.0.1:$fport/bundle" DISINFOX_BASE_URL="http://127.0.0.1:$fport/bundle" \
    DISINFOX_API_KEY="$key" \
    /usr/bin/time -f "%e %M %U %S" -o "$work/$1.time" "$py/bin/python" main.py >"$work/$1.log" 2>&1) \
    || { echo "python connector failed:"; tail -20 "$work/$1.log"; return 1; }
  if grep -q '"level": "ERROR"' "$work/$1.log"; then
    echo "python connector reported an error:"
    grep '"level": "ERROR"' "$work/$1.log" | cut -c1-400
  fi
  [ "$3" = amqp ] && drained "$2"
  report "$1" "$2" "$work/$1.time"
}

# The row: ours, the anchor, the ratios. $1 = rust label, $2 = python label, $3 = path.
row() {
  [ -f "$work/$1.result" ] && [ -f "$work/$2.result" ] || return 0
  read -r rc rr <"$work/$1.result"
  read -r pc pr <"$work/$2.result"
  python3 - "$n" "$one_bytes" "$3" "$rc" "$rr" "$pc" "$pr" <<'EOF'
import sys
n, size, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
rc, rr, pc, pr = float(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6]), int(sys.argv[7])
mb = lambda kib: kib / 1024
print("| work | ours | anchor | ratio | target |")
print("|---|---|---|---|---|")
print(f"| connector, {n:,} incidents ({size / 1e6:.1f} MB of objects) from a seeded server into an "
      f"OpenCTI stand-in, {path} path | {rc:.2f} s CPU, {mb(rr):.0f} MiB peak | the pycti DISINFOX "
      f"connector given the same objects in one answer: {pc:.2f} s CPU, {mb(pr):.0f} MiB | "
      f"{pc / rc:.1f}x CPU; {pr / rr:.0f}x memory | ≥ 10x CPU (≤ {pc / 10:.2f} s); memory ≤ 32 MB |")
EOF
}

echo "== Python DISINFOX connector (pycti 6.8.10), API path, $one_objects objects in one answer"
# One bundle of every object: above OpenCTI's default 50 MB body limit, so the stand-in is
# given room for it (an operator would raise app:max_payload_body_size the same way).
start_standin $((sport + 3)) --max-body-bytes $((512 * 1024 * 1024))
run_python python-api $((sport + 3)) api
row rust-api python-api API
if [ -f "$work/rust-amqp.result" ] && [ -n "${PY_AMQP:-}" ]; then
  echo "== Python DISINFOX connector (pycti 6.8.10), AMQP path"
  start_standin $((sport + 4)) --amqp-url "$amqp_url" --queue-prefix "benchpy$RANDOM"
  run_python python-amqp $((sport + 4)) amqp
  row rust-amqp python-amqp AMQP
fi
