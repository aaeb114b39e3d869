# A throwaway PostgreSQL cluster for tests and benchmarks. Source it, then:
#
#   throwaway_postgres_start   # installs Debian's `postgresql` when missing, starts a cluster
#                              # on a free port, sets THROWAWAY_POSTGRES_URL (an administrator's
#                              # URL, .../postgres, trust authentication on 127.0.0.1)
#   throwaway_postgres_stop    # stops it and removes its files (call it from an EXIT trap)
#
# The cluster lives in a temporary directory (data, log and Unix socket), listens on 127.0.0.1
# only, and trades durability for speed (fsync off: nothing in it outlives the run). PostgreSQL
# refuses to run as root: as root the cluster runs as the `postgres` user the package creates;
# anyone else runs it as themselves.

THROWAWAY_POSTGRES_DIR=""
THROWAWAY_POSTGRES_URL=""
_throwaway_postgres_as=()

# The newest installed server's bin directory (Debian keeps it off PATH), or nothing.
_throwaway_postgres_bin() {
  local initdb
  initdb=$(ls -1 /usr/lib/postgresql/*/bin/initdb 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$initdb" ]; then
    dirname "$initdb"
  elif command -v initdb >/dev/null; then
    dirname "$(command -v initdb)"
  fi
}

throwaway_postgres_start() {
  local bin port sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  bin=$(_throwaway_postgres_bin)
  if [ -z "$bin" ]; then
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq postgresql >/dev/null
    bin=$(_throwaway_postgres_bin)
    [ -n "$bin" ] || { echo "throwaway-postgres: no initdb after installing postgresql" >&2; return 1; }
  fi
  THROWAWAY_POSTGRES_DIR=$(mktemp -d "${TMPDIR:-/tmp}/disinfox-pg.XXXXXX")
  _throwaway_postgres_as=()
  if [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$THROWAWAY_POSTGRES_DIR"
    _throwaway_postgres_as=(runuser -u postgres --)
  fi
  "${_throwaway_postgres_as[@]}" "$bin/initdb" -D "$THROWAWAY_POSTGRES_DIR/data" -U postgres \
    -A trust -E UTF8 --locale=C.UTF-8 --no-sync >"$THROWAWAY_POSTGRES_DIR/initdb.log" 2>&1 || {
    cat "$THROWAWAY_POSTGRES_DIR/initdb.log" >&2
    return 1
  }
  # A free port: bind port 0, read the port, let go (a race with another process taking it in
  # between only makes pg_ctl fail, loudly).
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "${_throwaway_postgres_as[@]}" "$bin/pg_ctl" -D "$THROWAWAY_POSTGRES_DIR/data" \
    -l "$THROWAWAY_POSTGRES_DIR/server.log" -w -t 60 \
    -o "-p $port -k $THROWAWAY_POSTGRES_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null || {
    cat "$THROWAWAY_POSTGRES_DIR/server.log" >&2
    return 1
  }
  THROWAWAY_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres"
  echo "throwaway PostgreSQL ($("$bin/postgres" --version)) at $THROWAWAY_POSTGRES_URL"
}

throwaway_postgres_stop() {
  [ -n "$THROWAWAY_POSTGRES_DIR" ] || return 0
  local bin
  bin=$(_throwaway_postgres_bin)
  "${_throwaway_postgres_as[@]}" "$bin/pg_ctl" -D "$THROWAWAY_POSTGRES_DIR/data" -m immediate \
    stop >/dev/null 2>&1 || true
  rm -rf "$THROWAWAY_POSTGRES_DIR"
  THROWAWAY_POSTGRES_DIR=""
}
