#!/usr/bin/env bash
# Analyst engines (issue 14), release build, this machine:
#   1. sizes of the choropleth SVG of the 240 demo incidents, of an incident map and of an
#      incident graph;
#   2. time (median of RUNS) and size of an incident report and of the 240-incident report,
#      each as PDF and DOCX; the files are left in OUT for a look;
#   3. the PDF intake on the reports just written (pages, characters, proposals, time);
#   4. the sizes of the dashboard, /map and an incident page served with the demo data.
#   bash bench/analyst.sh [OUT=bench/out/analyst] [RUNS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/out/analyst}
runs=${2:-5}
cargo run -q --release -p disinfox-server --example analyst_engines -- "$out" "$runs"
cargo run -q --release -p disinfox-server --example pdf_intake -- "$out/incident.pdf" "$out/set.pdf" \
  | grep -v '^  [A-Z]'

# 4. Page sizes with the demo data: the release server with its 240 demo incidents, pages
#    opened as a visitor (public_read on: no session, so no star forms or report links).
cargo build -q --release -p disinfox-server --bin disinfox-server
data=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
DISINFOX_DATA_DIR="$data" DISINFOX_LISTEN="127.0.0.1:$port" DISINFOX_PUBLIC_READ=true \
  target/release/disinfox-server serve --demo >"$data/server.log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null; rm -rf "$data"' EXIT
base="http://127.0.0.1:$port"
for _ in $(seq 1 100); do
  curl -sf "$base/health" >/dev/null && break
  sleep 0.2
done
incident=$(curl -sf "$base/incidents" | grep -o 'href="/incidents/incident--[0-9a-f-]*"' | head -1 | cut -d'"' -f2)
echo "page sizes (bytes of HTML, uncompressed, demo data):"
for path in /dashboard /map "$incident"; do
  printf '  %-60s %8d\n' "$path" "$(curl -sf "$base$path" | wc -c)"
done
