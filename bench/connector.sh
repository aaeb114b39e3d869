#!/usr/bin/env bash
# Connector figures (numbers go in the closing notes): INCIDENTS (default 10,000) incidents
# from a seeded disinfox-server through disinfox-connector to the OpenCTI stand-in, over the
# API path (and the AMQP path when a RabbitMQ broker answers at $AMQP_URL): wall time,
# objects per second, peak RSS of the connector.
#
# With PY_CONNECTOR=<dir of OpenCTI-Platform/connectors external-import/disinfox/src> the
# existing Python DISINFOX connector (pycti from PyPI) is measured the same way against the
# same server and stand-in, and the ratios are printed. That connector reads one answer of
# the endpoint per run (it ignores paging), so it gets one page of at most 1,000 incidents;
# the ratio is of objects per second and of peak memory.
#
#   [PAGE_SIZE=500] [PY_CONNECTOR=dir] bash bench/connector.sh [INCIDENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-10000}
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
  for _ in $(seq 1 1200); do
    curl -sf "http://127.0.0.1:$1/standin/works" | python3 -c "
import json, sys
works = json.load(sys.stdin)
sys.exit(0 if works and all(w['processed'] >= w['expected'] for w in works) else 1)" && return 0
    sleep 0.1
  done
  echo "the stand-in did not drain its queue"
}
field() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# Prints a run's figures and keeps them for the ratios. $1 = label, $2 = stand-in port,
# $3 = the /usr/bin/time output ("wall rss"), $4 = "distinct" to print the distinct count too.
report() {
  local s wall rss objects distinct=""
  s=$(summary "$2")
  read -r wall rss <"$3"
  objects=$(echo "$s" | field objects_received)
  [ "${4:-}" = distinct ] && distinct=" ($(echo "$s" | field objects) distinct)"
  echo "$1: $objects objects$distinct in $wall s = $(python3 -c "print(round($objects / $wall))") objects/s; connector peak RSS $((rss / 1024)) MiB"
  echo "$objects $wall $rss" >"$work/$1.result"
}

run_rust() { # $1 = label, $2 = stand-in port, $3 = protocol
  local out="$work/rust-$2.time"
  OPENCTI_URL="http://127.0.0.1:$2" OPENCTI_TOKEN="$token" \
  CONNECTOR_ID=$(cat /proc/sys/kernel/random/uuid) CONNECTOR_RUN_AND_TERMINATE=true \
  CONNECTOR_QUEUE_PROTOCOL="$3" CONNECTOR_LOG_LEVEL=error \
  DISINFOX_URL="http://127.0.0.1:$sport/api/v1/bundle" DISINFOX_API_KEY="$key" DISINFOX_PAGE_SIZE="${PAGE_SIZE:-500}" \
    /usr/bin/time -f "%e %M" -o "$out" "$bin/disinfox-connector" 2>"$work/rust-$2.log" \
    || { echo "connector failed:"; tail -5 "$work/rust-$2.log"; return 1; }
  [ "$3" = amqp ] && drained "$2"
  report "$1" "$2" "$out" distinct
}

echo "== Rust connector, API path (stixBundlePush)"
start_standin $((sport + 1))
run_rust rust-api $((sport + 1)) api

if "$bin/opencti-standin" --help >/dev/null 2>&1 && python3 - "$amqp_url" <<'EOF' 2>/dev/null
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

run_python() { # $1 = label, $2 = stand-in port, $3 = protocol
  mkdir -p "$work/py-$2"
  cp -r "$PY_CONNECTOR"/. "$work/py-$2/"
  # The Python connector reads one answer per run (it ignores paging): ask for the largest
  # page the server gives. It reads DISINFOX_BASE_URL in some revisions, DISINFOX_URL in others.
  (cd "$work/py-$2" && OPENCTI_URL="http://127.0.0.1:$2" OPENCTI_TOKEN="$token" \
    CONNECTOR_ID=$(cat /proc/sys/kernel/random/uuid) CONNECTOR_TYPE=EXTERNAL_IMPORT \
    CONNECTOR_NAME="DISINFOX Connector" CONNECTOR_SCOPE=stix2 CONNECTOR_DURATION_PERIOD=PT5M \
    CONNECTOR_RUN_AND_TERMINATE=true CONNECTOR_QUEUE_PROTOCOL="$3" CONNECTOR_LOG_LEVEL=error \
    DISINFOX_URL="http://127.0.0.1:$sport/api/v1/bundle?limit=1000" \
    DISINFOX_BASE_URL="http://127.0.0.1:$sport/api/v1/bundle?limit=1000" DISINFOX_API_KEY="$key" \
    /usr/bin/time -f "%e %M" -o "$work/$1.time" "$py/bin/python" main.py >"$work/$1.log" 2>&1) \
    || { echo "python connector failed:"; tail -20 "$work/$1.log"; return 1; }
  [ "$3" = amqp ] && drained "$2"
  report "$1" "$2" "$work/$1.time"
}

ratio() { # $1 = rust label, $2 = python label
  [ -f "$work/$1.result" ] && [ -f "$work/$2.result" ] || return 0
  read -r ro rw rr <"$work/$1.result"
  read -r po pw pr <"$work/$2.result"
  python3 -c "print(f'ratio $1 / $2: {($ro / $rw) / ($po / $pw):.1f}x the objects per second at {$rr / $pr:.2f} of the peak memory')"
}

if [ -n "${PY_CONNECTOR:-}" ]; then
  py="$PWD/bench/out/pyvenv"
  if [ ! -x "$py/bin/python" ]; then
    python3 -m venv "$py"
    "$py/bin/pip" install -q --disable-pip-version-check "pycti==6.8.10"
  fi
  echo "== Python DISINFOX connector (pycti 6.8.10), API path"
  start_standin $((sport + 3))
  run_python python-api $((sport + 3)) api
  ratio rust-api python-api
  if [ -f "$work/rust-amqp.result" ]; then
    echo "== Python DISINFOX connector (pycti 6.8.10), AMQP path"
    start_standin $((sport + 4)) --amqp-url "$amqp_url" --queue-prefix "benchpy$RANDOM"
    run_python python-amqp $((sport + 4)) amqp
    ratio rust-amqp python-amqp
  fi
fi
