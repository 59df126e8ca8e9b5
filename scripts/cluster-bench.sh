#!/usr/bin/env bash
# Between two node processes (docs/benchmarks.md, "Between nodes"): request
# round trips (the Ponger of examples/ping_pong_remote on one node, the Pinger
# on another; one request at a time, and 64 in flight) and one-way throughput
# (--role=source sends --rounds messages to --role=sink, which counts them),
# on loopback, over mutual TLS and over plain TCP.
#
#   bash scripts/cluster-bench.sh                 # 20,000 rounds each, 200,000 one-way
#   bash scripts/cluster-bench.sh --rounds=100000 --no-build
#
# Prints a markdown table. Both processes share the machine's cores.
# Exit status: 0, 1 when a run failed, 2 for a bad option.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prog="cluster-bench"
rounds=20000
build=1
for arg in "$@"; do
  case "$arg" in
    --rounds=*) rounds="${arg#*=}" ;;
    --no-build) build=0 ;;
    *) echo "$prog: error: unknown option $arg (see the header of scripts/cluster-bench.sh)" >&2; exit 2 ;;
  esac
done
[[ "$rounds" =~ ^[1-9][0-9]*$ ]] || { echo "$prog: error: --rounds: a whole number above 0" >&2; exit 2; }

bin="${PARLEY_PING_PONG_REMOTE_BIN:-$root/build/release/examples/example_ping_pong_remote}"
if [ $build -eq 1 ]; then
  (cd "$root" && cmake --preset release >/dev/null &&
    cmake --build --preset release --target example_ping_pong_remote >/dev/null)
fi

work="$(mktemp -d /tmp/parley-cluster-bench-XXXXXX)"
ponger=""
cleanup() {
  [ -n "$ponger" ] && kill "$ponger" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
bash "$root/scripts/cluster-certs.sh" "$work/certs" a b 2>/dev/null

tls_flags() { # mode node
  if [ "$1" = plain ]; then
    echo "--cluster-insecure"
  else
    echo "--cluster-cert=$work/certs/$2.pem --cluster-key=$work/certs/$2.key --cluster-ca=$work/certs/ca.pem"
  fi
}

status=0
printf '| links | in flight | rounds | round trips/s | wall time per round trip, µs |\n|---|---|---|---|---|\n'
for mode in tls plain; do
  # shellcheck disable=SC2046
  "$bin" --role=ponger --name=a --cluster-port=0 --cluster-bind=127.0.0.1 $(tls_flags $mode a) \
    >"$work/ponger.log" 2>&1 &
  ponger=$!
  deadline=$((SECONDS + 30))
  until grep -q "listening on 127.0.0.1:" "$work/ponger.log"; do
    [ $SECONDS -lt $deadline ] || { echo "$prog: the ponger did not start" >&2; exit 1; }
    sleep 0.05
  done
  port="$(grep -o "listening on 127.0.0.1:[0-9]*" "$work/ponger.log" | grep -o '[0-9]*$')"
  for k in 1 64; do
    # shellcheck disable=SC2046
    if out="$("$bin" --role=pinger --name=b --cluster-port=0 --cluster-bind=127.0.0.1 \
      $(tls_flags $mode b) --seed=127.0.0.1:"$port" --rounds="$rounds" --in-flight=$k 2>/dev/null)"; then
      line="$(grep 'played' <<<"$out")"
      rate="$(sed -E 's/.*: ([0-9]+) round trips\/s.*/\1/' <<<"$line")"
      us="$(sed -E 's/.*, ([0-9.]+) us each.*/\1/' <<<"$line")"
      printf '| %s | %d | %d | %s | %s |\n' "$([ $mode = tls ] && echo 'mutual TLS' || echo 'plain TCP')" \
        "$k" "$rounds" "$rate" "$us"
    else
      echo "$prog: the pinger failed ($mode, $k in flight): $out" >&2
      status=1
    fi
  done
  kill "$ponger" 2>/dev/null || true
  wait "$ponger" 2>/dev/null || true
  ponger=""
done

printf '\n| links | one-way messages | messages/s | counted by the sink |\n|---|---|---|---|\n'
for mode in tls plain; do
  # shellcheck disable=SC2046
  "$bin" --role=sink --name=a --cluster-port=0 --cluster-bind=127.0.0.1 $(tls_flags $mode a) \
    >"$work/sink.log" 2>&1 &
  ponger=$!
  deadline=$((SECONDS + 30))
  until grep -q "listening on 127.0.0.1:" "$work/sink.log"; do
    [ $SECONDS -lt $deadline ] || { echo "$prog: the sink did not start" >&2; exit 1; }
    sleep 0.05
  done
  port="$(grep -o "listening on 127.0.0.1:[0-9]*" "$work/sink.log" | grep -o '[0-9]*$')"
  n=$((rounds * 10))
  # shellcheck disable=SC2046
  if out="$("$bin" --role=source --name=b --cluster-port=0 --cluster-bind=127.0.0.1 \
    $(tls_flags $mode b) --seed=127.0.0.1:"$port" --rounds="$n" 2>/dev/null)"; then
    line="$(grep 'one-way' <<<"$out")"
    rate="$(sed -E 's/.*: ([0-9]+) messages\/s.*/\1/' <<<"$line")"
    counted="$(sed -E 's/.*counted ([0-9]+).*/\1/' <<<"$line")"
    printf '| %s | %d | %s | %s |\n' "$([ $mode = tls ] && echo 'mutual TLS' || echo 'plain TCP')" \
      "$n" "$rate" "$counted"
  else
    echo "$prog: the source failed ($mode): $out" >&2
    status=1
  fi
  kill "$ponger" 2>/dev/null || true
  wait "$ponger" 2>/dev/null || true
  ponger=""
done
exit $status
