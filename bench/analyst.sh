#!/usr/bin/env bash
# Analyst engines (issue 14), release build, this machine:
#   1. sizes of the choropleth SVG of the 240 demo incidents, of an incident map and of an
#      incident graph;
#   2. time (median of RUNS) and size of an incident report and of the 240-incident report,
#      each as PDF and DOCX; the files are left in OUT for a look;
#   3. the PDF intake on the reports just written (pages, characters, proposals, time).
#   bash bench/analyst.sh [OUT=bench/out/analyst] [RUNS=5]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-bench/out/analyst}
runs=${2:-5}
cargo run -q --release -p disinfox-server --example analyst_engines -- "$out" "$runs"
cargo run -q --release -p disinfox-server --example pdf_intake -- "$out/incident.pdf" "$out/set.pdf" \
  | grep -v '^  [A-Z]'
