#!/usr/bin/env bash
# stix-model figures, each row printed as a ratio against its anchor measured in the same run:
#
#   1. parse + validate + serialize of a ~15 MB synthetic bundle (in-process medians):
#      against Python stix2 parse + serialize (target >= 50x) and against a plain
#      serde_json::Value parse + serialize of the same bytes (target: at least as fast);
#   2. OpenCTI's split of a ~57 MB synthetic bundle (~100,000 objects), the whole process with
#      reading and checking (`split --text`): against pycti 6.8's OpenCTIStix2Splitter (target
#      >= 15x), and its peak memory against the input's size (target <= 2x);
#   3. DISARM 1.7 (when DISINFOX_DISARM_DIR has it): parse + validate + serialize against Value
#      and Python stix2.
#
#   bash bench/stix-model.sh            # RUNS=N: in-process runs of ours (default 7);
#                                       # PY_RUNS=N: runs of Python stix2 on the 15 MB bundle (3)
#
# The Python anchors run in bench/out/pyvenv (pycti 6.8.10 from PyPI, which brings stix2; the
# same venv as bench/connector.sh). `cargo bench -p stix-model` has criterion's view.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p bench/out
runs=${RUNS:-7}
py="$PWD/bench/out/pyvenv"
if [ ! -x "$py/bin/python" ] || ! "$py/bin/python" -c 'import pycti, stix2' 2>/dev/null; then
  python3 -m venv "$py"
  "$py/bin/pip" install -q --disable-pip-version-check "pycti==6.8.10"
fi
cargo build -q --release --locked -p stix-model --examples
ex=target/release/examples
small=bench/out/generated-15mb.json
large=bench/out/generated-100k.json
"$ex/generate" 3900 >"$small"
"$ex/generate" 14800 >"$large"
ratio() { python3 -c "print(f'{$1 / $2:.1f}')"; }
median() { sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
# rust_row NAME FILE PY_RUNS: in-process medians of ours and Value, then Python stix2.
rust_row() {
  local line ours value pyt
  line=$("$ex/timing" "$2" --runs "$runs")
  echo "  $line"
  ours=$(echo "$line" | sed -E 's/.*stix-model ([0-9.]+) s.*/\1/')
  value=$(echo "$line" | sed -E 's/.*serde_json::Value ([0-9.]+) s.*/\1/')
  line=$("$py/bin/python" bench/python_stix2.py "$2" "$3")
  echo "  $line"
  pyt=${line##* }
  echo "ROW $1: stix-model ${ours} s; Python stix2 ${pyt} s -> $(ratio "$pyt" "$ours")x (target >= 50x); serde_json::Value ${value} s -> $(ratio "$value" "$ours")x the Value round trip's speed (target >= 1.0x)"
}

echo "== 1. parse + validate + serialize, $(du -m "$small" | cut -f1) MB synthetic bundle"
rust_row "roundtrip 15 MB" "$small" "${PY_RUNS:-3}"

echo "== 2. OpenCTI split, whole process (read, stream and check, split, write each bundle)"
input_kib=$(($(stat -c %s "$large") / 1024))
echo "  input: $((input_kib / 1024)) MiB, $(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['objects']))" "$large") objects"
rust_t=() rust_m=() py_t=() py_m=()
for i in 1 2 3; do
  /usr/bin/time -f "%e %M" -o bench/out/time "$ex/split" --text <"$large" 2>bench/out/split.err >/dev/null \
    || { cat bench/out/split.err; exit 1; }
  read -r t m <bench/out/time
  rust_t+=("$t") rust_m+=("$m")
  echo "  stix-model split --text run $i: $t s, peak RSS $((m / 1024)) MiB; $(grep -v '^\s' bench/out/split.err | tail -n 1)"
  /usr/bin/time -f "%e %M" -o bench/out/time "$py/bin/python" bench/pycti_split.py "$large" 2>bench/out/split.err \
    || { cat bench/out/split.err; exit 1; }
  read -r t m <bench/out/time
  py_t+=("$t") py_m+=("$m")
  echo "  pycti OpenCTIStix2Splitter run $i: $t s, peak RSS $((m / 1024)) MiB; $(tail -n 1 bench/out/split.err)"
done
rt=$(printf '%s\n' "${rust_t[@]}" | median)
rm_=$(printf '%s\n' "${rust_m[@]}" | median)
pt=$(printf '%s\n' "${py_t[@]}" | median)
pm=$(printf '%s\n' "${py_m[@]}" | median)
echo "ROW split $((input_kib / 1024)) MiB: stix-model ${rt} s, $((rm_ / 1024)) MiB; pycti ${pt} s, $((pm / 1024)) MiB -> $(ratio "$pt" "$rt")x (target >= 15x); peak memory $(ratio "$rm_" "$input_kib")x the input (target <= 2x)"

echo "== 3. DISARM 1.7"
# shellcheck source=scripts/disarm.sh
. scripts/disarm.sh
if need_disarm "bench row on DISARM 1.7"; then
  rust_row "DISARM 1.7" "$disarm_dir/DISARM-1.7.json" 5
elif [ $? -eq 2 ]; then
  exit 1
fi
