# Sourced by scripts/interop and bench/stix-model.sh (from the repository root): where the
# DISARM Foundation's published STIX bundles are, which the repository does not carry
# (docs/disarm.md §1). The same setting as the Rust tests (stix-model/tests/it/published.rs):
# DISINFOX_DISARM_DIR (a relative path is taken from the repository root), by default
# ../shared/data/disarm beside the repository root.

disarm_dir="${DISINFOX_DISARM_DIR:-../shared/data/disarm}"

# need_disarm WHAT: 0 when DISARM-1.6.json and DISARM-1.7.json are in $disarm_dir. Otherwise
# prints "SKIPPED WHAT: why" and returns 1, or, with DISINFOX_REQUIRE_DISARM=1 (as .ci/run
# sets), prints "FAIL WHAT: why" and returns 2.
need_disarm() {
  local f missing=()
  for f in DISARM-1.6.json DISARM-1.7.json; do
    [ -r "$disarm_dir/$f" ] || missing+=("$f")
  done
  ((${#missing[@]} == 0)) && return 0
  local why="$1: ${missing[*]} not in $disarm_dir. Set DISINFOX_DISARM_DIR to a folder holding DISARM-1.6.json and DISARM-1.7.json; docs/disarm.md §1 says where they come from"
  if [ "${DISINFOX_REQUIRE_DISARM:-}" = 1 ]; then
    echo "FAIL $why (DISINFOX_REQUIRE_DISARM=1)"
    return 2
  fi
  echo "SKIPPED $why"
  return 1
}
