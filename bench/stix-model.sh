#!/usr/bin/env bash
# stix-model figures: Rust throughput (criterion + summary with ratios), split time and peak
# memory, and Python stix2 on the same files.
#   bash bench/stix-model.sh
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
cargo build -q --release -p stix-model --examples
target/release/examples/generate 14800 > bench/out/generated-100k.json
python3 - <<'PY'
import json
b = json.load(open("bench/out/generated-100k.json"))
print(f"generated bundle: {len(b['objects'])} objects")
PY
echo "== split: time and peak memory of the process (input file read and parsed included)"
/usr/bin/time -f "split example: %e s wall, peak RSS %M KiB" \
  target/release/examples/split < bench/out/generated-100k.json
/usr/bin/time -f "split example --text (streamed, objects held as JSON text): %e s wall, peak RSS %M KiB" \
  target/release/examples/split --text < bench/out/generated-100k.json
echo "== Rust throughput"
cargo bench -q -p stix-model --bench throughput 2>&1 | grep -vE '^(Gnuplot|Benchmarking|\s*$)' | tail -n 40
echo "== Python stix2"
# shellcheck source=scripts/disarm.sh
. scripts/disarm.sh
py_inputs=(bench/out/generated-100k.json)
if need_disarm "Python stix2 on DISARM 1.7"; then
  py_inputs=("$disarm_dir/DISARM-1.7.json" "${py_inputs[@]}")
elif [ $? -eq 2 ]; then
  exit 1
fi
.venv/bin/python bench/python_stix2.py "${py_inputs[@]}"
