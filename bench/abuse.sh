#!/usr/bin/env bash
# Hostile clients against `serve --demo` (release build), the figures of issue 12 (not in CI):
#   H1: peak RSS of the server during 128 parallel bad sign-ins with random e-mails (target
#       under 150 MB, back under 60 MB within 10 s), and the p99 of a correct sign-in from
#       another address meanwhile (target under 1 s); once from one attacker address, once
#       from a new address per request (only the hashing cap applies then);
#   H2: time to refuse a body with 100,000 actors (target under 50 ms) and /health latency
#       meanwhile (target under 100 ms).
# The server trusts 127.0.0.1 as a reverse proxy, so the load says in X-Forwarded-For which
# client each request comes from (disinfox-server/examples/abuse.rs).
#   bash bench/abuse.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
server=""
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$work"' EXIT
cargo build -q --release -p disinfox-server --bin disinfox-server --example abuse
bin=target/release/disinfox-server
port=$((20000 + RANDOM % 20000))
export DISINFOX_DATA_DIR="$work/data" DISINFOX_LOG_LEVEL=warn DISINFOX_TRUSTED_PROXIES=127.0.0.1
DISINFOX_LISTEN="127.0.0.1:$port" "$bin" serve --demo >"$work/demo.out" 2>"$work/server.err" &
server=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
for _ in $(seq 1 50); do grep -q 'admin login' "$work/demo.out" && break; sleep 0.1; done
login=$(awk -F'admin login: +' '/admin login/ {print $2}' "$work/demo.out")
email=${login%% / *}
password=${login##* / }
key=$("$bin" apikey create --user "$email" --scope write --name abuse-bench)
echo "serve --demo on port $port (pid $server), $(nproc) cores"
target/release/examples/abuse "http://127.0.0.1:$port" "$server" "$email" "$password" "$key"
echo "server log lines (warnings and errors): $(wc -l <"$work/server.err")"
