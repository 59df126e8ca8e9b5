#!/usr/bin/env bash
# Cycles of clients that come and go, against one gateway: each cycle
# parley-bench connects --conns clients (the same names every cycle), each
# says hello and joins one of --rooms rooms (the same rooms every cycle),
# holds --hold seconds and closes without leaving. After each cycle, once the
# gateway's connection actors are gone, it prints one markdown row: the
# allocator's live bytes (parley_heap_live_bytes in /metrics) and the RSS.
# Memory that closed connections leave behind shows as a live heap that grows
# with every cycle; RSS alone cannot tell (glibc keeps freed pages).
#
#   bash scripts/churn-soak.sh [--cycles=N] [--conns=N] [--rooms=N] [--hold=S] [GATEWAY]
#
# Defaults: 12 cycles of 4,000 clients over 40 rooms, held 1 s, against
# build/release/gateway/parley-gateway, started fresh with
# --max-connections=20000 --max-connections-per-address=0 and rate limits off
# (issue 18's setup), and stopped with SIGTERM at the end. parley-bench is
# build/release/bench/parley-bench unless PARLEY_BENCH_BIN says otherwise.
# Exit status: 0 when the live heap after the last cycle is within 1 MiB of
# where the first cycle left it, 1 when it is not or a cycle failed, 2 on bad
# arguments.
set -euo pipefail
# Gateways started here keep history in memory unless PARLEY_STORE says
# otherwise: these measure transport, and several nodes must not share ./data.
export PARLEY_STORE="${PARLEY_STORE:-memory}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prog="churn-soak"

usage_error() {
  echo "$prog: error: $1 (see the header of scripts/churn-soak.sh)" >&2
  exit 2
}

cycles=12
conns=4000
rooms=40
hold=1
gateway=""
while [ $# -gt 0 ]; do
  case "$1" in
    --cycles=*) cycles="${1#*=}" ;;
    --conns=*) conns="${1#*=}" ;;
    --rooms=*) rooms="${1#*=}" ;;
    --hold=*) hold="${1#*=}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) usage_error "unknown option '$1'" ;;
    *) [ -z "$gateway" ] || usage_error "one gateway binary, got '$gateway' and '$1'"
       gateway="$1" ;;
  esac
  shift
done
[[ "$cycles" =~ ^[1-9][0-9]*$ ]] || usage_error "--cycles: '$cycles' is not a count"
[[ "$conns" =~ ^[1-9][0-9]*$ ]] && [ "$conns" -le 19000 ] \
  || usage_error "--conns: '$conns' is not a count from 1 to 19000"
[[ "$rooms" =~ ^[1-9][0-9]*$ ]] || usage_error "--rooms: '$rooms' is not a count"
[[ "$hold" =~ ^[0-9]+(\.[0-9]+)?$ ]] || usage_error "--hold: '$hold' is not a number of seconds"
gateway="${gateway:-$root/build/release/gateway/parley-gateway}"
[ -x "$gateway" ] && [ -f "$gateway" ] || usage_error "'$gateway' is not an executable file"
bench_bin="${PARLEY_BENCH_BIN:-$root/build/release/bench/parley-bench}"
[ -x "$bench_bin" ] || { echo "$prog: error: $bench_bin is missing: cmake --build --preset release --target parley-bench" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/churn-soak.XXXXXX")"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$gateway" --port=0 --public-metrics --threads=2 --max-connections=20000 --max-connections-per-address=0 \
  --rate-limit=1000000 --rate-burst=1000000 2>"$work/gateway.log" &
server_pid=$!
port=""
for _ in $(seq 300); do
  port="$(sed -n 's/^parley-gateway listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/gateway.log")"
  [ -n "$port" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$port" ] || { echo "$prog: error: the gateway did not start:" >&2; cat "$work/gateway.log" >&2; exit 1; }

# One gauge from /metrics, over bash's /dev/tcp (no HTTP client to install).
gauge() {
  local page
  exec 3<>"/dev/tcp/127.0.0.1/$port" || return 1
  printf 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
  page="$(cat <&3)"
  exec 3<&-
  printf '%s\n' "$page" | tr -d '\r' | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { printf "%.0f\n", $NF; exit }'
}

rss_kib() {
  awk '/^VmRSS:/ { print $2 }' "/proc/$server_pid/status"
}

echo "| cycle | live heap KiB | RSS KiB |"
echo "|---:|---:|---:|"
echo "| start | $(( $(gauge parley_heap_live_bytes) / 1024 )) | $(rss_kib) |"
first=""
last=""
for cycle in $(seq "$cycles"); do
  if ! "$bench_bin" conns --conns="$conns" --rooms="$rooms" --hold="$hold" --run-id=soak \
       --json --url="ws://127.0.0.1:$port/ws" >"$work/bench.out" 2>"$work/bench.err"; then
    echo "$prog: error: cycle $cycle failed:" >&2
    tail -5 "$work/bench.err" >&2
    exit 1
  fi
  for _ in $(seq 300); do
    [ "$(gauge parley_connection_actors)" = "0" ] && break
    sleep 0.1
  done
  live="$(gauge parley_heap_live_bytes)"
  [ -n "$first" ] || first="$live"
  last="$live"
  echo "| $cycle | $(( live / 1024 )) | $(rss_kib) |"
done
grown=$(( last - first ))
echo
echo "live heap after cycle $cycles: $(( grown / 1024 )) KiB from where cycle 1 left it"
if [ "$grown" -gt $(( 1024 * 1024 )) ]; then
  echo "$prog: the live heap grew by more than 1 MiB" >&2
  exit 1
fi
