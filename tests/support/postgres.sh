#!/usr/bin/env bash
# A PostgreSQL server of the tests' own, from Debian's postgresql-15, in a
# folder of its own on a free loopback port: nothing to configure, nothing of
# the machine's touched.
#
#   postgres.sh start DIR   initdb (once) and start; prints the URL (also DIR/url)
#   postgres.sh stop DIR    stop it (fast: open sessions are cut)
#   postgres.sh kill DIR    SIGKILL the postmaster (a crash, for tests)
#   postgres.sh rm DIR      stop it and remove the folder
#
# initdb refuses to run as root: as root, the server runs as the system user
# parley-pg, created here if missing.
#
# PARLEY_PG_LISTEN (default 127.0.0.1) lists the addresses it listens on, and
# PARLEY_PG_TRUST a network (10.78.0.0/24) whose clients it lets in, for a
# test whose gateways run in network namespaces. PARLEY_PG_FSYNC=on starts it
# with fsync on (PostgreSQL's default), for benchmarks (docs/benchmarks.md).
set -euo pipefail

cmd=${1:?usage: postgres.sh start|stop|kill|rm DIR}
dir=${2:?usage: postgres.sh start|stop|kill|rm DIR}
bin=/usr/lib/postgresql/15/bin
[ -x "$bin/initdb" ] || { echo "postgres.sh: $bin/initdb missing: run scripts/deps.sh --test" >&2; exit 1; }

as_owner=()
owner=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
  owner=parley-pg
  if ! id -u "$owner" >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin "$owner" 2>/dev/null \
      || id -u "$owner" >/dev/null # another test created it meanwhile
  fi
  as_owner=(runuser -u "$owner" --)
fi

pg() { "${as_owner[@]}" "$@"; }

port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

case "$cmd" in
  start)
    mkdir -p "$dir"
    [ "$(id -u)" -eq 0 ] && chown "$owner" "$dir"
    chmod 700 "$dir"
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      pg "$bin/initdb" -D "$dir/data" -U "$owner" --auth=trust --no-sync -E UTF8 \
        --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    fi
    if [ -n "${PARLEY_PG_TRUST:-}" ] && ! grep -q "^host all all $PARLEY_PG_TRUST trust" "$dir/data/pg_hba.conf"; then
      echo "host all all $PARLEY_PG_TRUST trust" >>"$dir/data/pg_hba.conf"
    fi
    listen=${PARLEY_PG_LISTEN:-127.0.0.1}
    port=""
    [ -f "$dir/port" ] && port=$(cat "$dir/port")
    for attempt in 1 2 3 4 5 6 7 8; do
      if [ -z "$port" ] || [ "$attempt" -gt 1 ]; then
        port=$(shuf -i 20000-59999 -n 1)
        port_free "$port" || continue
      fi
      # fsync off for tests: they kill the gateway, not the machine; a
      # commit is still one the server acknowledged.
      if pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
          -o "-c listen_addresses=$listen -p $port -k $dir -c fsync=${PARLEY_PG_FSYNC:-off} -c max_connections=200" \
          start >/dev/null; then
        echo "$port" >"$dir/port"
        url="postgresql://$owner@127.0.0.1:$port/postgres"
        echo "$url" >"$dir/url"
        echo "$url"
        exit 0
      fi
      tail -5 "$dir/server.log" >&2 || true
    done
    echo "postgres.sh: could not start PostgreSQL in $dir" >&2
    exit 1
    ;;
  stop)
    [ -f "$dir/data/postmaster.pid" ] || exit 0
    pg "$bin/pg_ctl" -D "$dir/data" -m fast -w -t 30 stop >/dev/null
    ;;
  kill)
    pid=$(head -1 "$dir/data/postmaster.pid")
    kill -KILL "$pid"
    ;;
  rm)
    if [ -f "$dir/data/postmaster.pid" ]; then
      pg "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null || true
    fi
    rm -rf "$dir"
    ;;
  *)
    echo "postgres.sh: unknown command $cmd" >&2
    exit 2
    ;;
esac
