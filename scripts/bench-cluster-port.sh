#!/usr/bin/env bash
# What a connect costs the server on the cluster port against the HTTP port:
# starts one parley-gateway node with mutual TLS on its cluster port, opens
# and closes N TCP connections to each port (the connect/close loop of
# issue 12's attack), and prints the gateway's CPU time per connect on each,
# read from /proc/PID/stat before and after, and their ratio.
#
#   bash scripts/bench-cluster-port.sh [--connects=N] [GATEWAY_BIN]
#
# GATEWAY_BIN defaults to build/release/gateway/parley-gateway (build it with
# cmake --preset release && cmake --build --preset release --target
# parley-gateway); an older gateway works too, to compare. Linux only; needs
# openssl (for the certificates).
set -euo pipefail
# Gateways started here keep history in memory unless PARLEY_STORE says
# otherwise: these measure transport, and several nodes must not share ./data.
export PARLEY_STORE="${PARLEY_STORE:-memory}"
prog="bench-cluster-port"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
connects=10000
gateway=""
for arg in "$@"; do
  case "$arg" in
    --connects=*) connects="${arg#--connects=}" ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "$prog: error: unknown option $arg" >&2; exit 2 ;;
    *) gateway="$arg" ;;
  esac
done
[[ "$connects" =~ ^[1-9][0-9]*$ ]] || { echo "$prog: error: --connects=$connects: expected a positive number" >&2; exit 2; }
gateway="${gateway:-$root/build/release/gateway/parley-gateway}"
[ -x "$gateway" ] || { echo "$prog: error: $gateway is missing: build it first" >&2; exit 2; }

work="$(mktemp -d)"
pid=""
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
bash "$root/scripts/cluster-certs.sh" "$work/certs" a >/dev/null 2>&1
# A gateway from before the gate (CAF's own TLS accept path) knows none of
# the gate's flags: compare the two by giving this script either binary.
gate=()
if "$gateway" --help 2>/dev/null | grep -q -- --cluster-max-pending; then
  gate=(--cluster-max-pending-per-address=100000 --cluster-max-pending=100000)
fi
"$gateway" --port=0 --name=a --cluster-port=0 --cluster-bind=127.0.0.1 \
  --cluster-cert="$work/certs/a.pem" --cluster-key="$work/certs/a.key" \
  --cluster-ca="$work/certs/ca.pem" "${gate[@]}" \
  --max-connections-per-address=0 --log-level=info 2>"$work/log" &
pid=$!
http="" cluster=""
for _ in $(seq 300); do
  http="$(sed -n 's/^parley-gateway listening on 127\.0\.0\.1:\([0-9]*\)$/\1/p' "$work/log")"
  cluster="$(sed -n "s/.*cluster: node 'a' listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p" "$work/log")"
  [ -n "$http" ] && [ -n "$cluster" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$http" ] && [ -n "$cluster" ] || { echo "$prog: error: the gateway did not start:" >&2; cat "$work/log" >&2; exit 1; }

ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
hz="$(getconf CLK_TCK)"
# Connect, close at once, as the attack did; the server's cost is the accept,
# its bookkeeping and noticing the close.
loop() {
  local port="$1" i
  for ((i = 0; i < connects; i++)); do
    exec 3<>"/dev/tcp/127.0.0.1/$port"
    exec 3<&-
  done
}
measure() {
  local port="$1" before after
  before="$(ticks)"
  loop "$port"
  sleep 1 # the server notices the last closes
  after="$(ticks)"
  awk -v t="$((after - before))" -v hz="$hz" -v n="$connects" 'BEGIN { printf "%.1f", t * 1e6 / hz / n }'
}
h="$(measure "$http")"
c="$(measure "$cluster")"
echo "| port | connects | server CPU per connect (µs) |"
echo "|---|---:|---:|"
echo "| HTTP | $connects | $h |"
echo "| cluster | $connects | $c |"
awk -v c="$c" -v h="$h" 'BEGIN { if (h > 0) printf "cluster / HTTP: %.2f\n", c / h }'
