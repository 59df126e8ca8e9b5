#!/usr/bin/env bash
# Fan-out to one room whose members are spread over the three gateways of a
# cluster (docs/benchmarks.md, "Between nodes"):
#
#   bash scripts/cluster-fanout.sh                         # 3 x 100 members, 20 msg/s, 10 s
#   bash scripts/cluster-fanout.sh --members=1000 --rate=10 --duration=20
#
# Starts three release parley-gateway processes a, b, c on loopback in one
# cluster (mutual TLS, certificates from scripts/cluster-certs.sh; --insecure
# for plain TCP), puts --members members of one room on each (parley-bench
# fanout --publishers=0: members that listen), then lets one more member on a
# publish --rate messages/s for --duration seconds, and
# reports:
#   - deliveries per second over the three nodes, and each node's latency
#     p50/p99 (send time to arrival, the clients share the machine's clock);
#   - loss: every node must have delivered each message to each member once;
#   - bytes crossing the node links per message (both directions, TLS
#     included), from the kernel's per-socket counters (`ss -ti`, bytes_sent)
#     of the sockets on the cluster ports;
#   - frames the room sent to relays per message (parley_room_relayed_total):
#     the room's node sends one copy per other node, not one per member.
# Client and servers share the machine's cores. Exit status: 0, 1 when a
# check failed (loss, a node that did not start), 2 for a bad option.
set -euo pipefail
# Gateways started here keep history in memory unless PARLEY_STORE says
# otherwise: these measure transport, and several nodes must not share ./data.
export PARLEY_STORE="${PARLEY_STORE:-memory}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prog="cluster-fanout"
members=100
rate=20
duration=10
insecure=0
build=1

usage_error() {
  echo "$prog: error: $1 (see the header of scripts/cluster-fanout.sh)" >&2
  exit 2
}
for arg in "$@"; do
  case "$arg" in
    --members=*) members="${arg#*=}" ;;
    --rate=*) rate="${arg#*=}" ;;
    --duration=*) duration="${arg#*=}" ;;
    --insecure) insecure=1 ;;
    --no-build) build=0 ;;
    *) usage_error "unknown option $arg" ;;
  esac
done
[[ "$members" =~ ^[1-9][0-9]*$ ]] || usage_error "--members: a whole number above 0"
[[ "$rate" =~ ^[1-9][0-9]*$ ]] || usage_error "--rate: a whole number above 0"
[[ "$duration" =~ ^[1-9][0-9]*$ ]] || usage_error "--duration: a whole number of seconds"
command -v ss >/dev/null || usage_error "needs ss (Debian package iproute2)"

gateway="${PARLEY_GATEWAY_BIN:-$root/build/release/gateway/parley-gateway}"
bench="${PARLEY_BENCH_BIN:-$root/build/release/bench/parley-bench}"
if [ $build -eq 1 ]; then
  (cd "$root" && cmake --preset release >/dev/null &&
    cmake --build --preset release --target parley-gateway parley-bench >/dev/null)
fi

work="$(mktemp -d /tmp/parley-cluster-fanout-XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Polls a file for a text, at most $3 seconds (the wait is for the event).
wait_for() { # file text seconds
  local deadline=$((SECONDS + $3))
  until grep -q -- "$2" "$1" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}
jnum() { grep -o "\"$2\":[0-9.eE+-]*" <<<"$1" | head -1 | cut -d: -f2; }
metric() { # port name
  curl -s --noproxy '*' "http://127.0.0.1:$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}

tls_flags() {
  if [ $insecure -eq 1 ]; then
    echo "--cluster-insecure"
  else
    echo "--cluster-cert=$work/certs/$1.pem --cluster-key=$work/certs/$1.key --cluster-ca=$work/certs/ca.pem"
  fi
}
[ $insecure -eq 1 ] || bash "$root/scripts/cluster-certs.sh" "$work/certs" a b c 2>/dev/null

declare -A http cluster
start_gateway() { # name [seed-port]
  local name="$1" seed="${2:-}"
  # shellcheck disable=SC2046
  "$gateway" --name="$name" --port=0 --public-metrics --cluster-port=0 --cluster-bind=127.0.0.1 \
    $(tls_flags "$name") ${seed:+--seed=127.0.0.1:$seed} \
    --max-connections=20000 --max-connections-per-address=0 \
    --rate-limit=100000 --rate-burst=100000 >"$work/$name.log" 2>&1 &
  pids+=($!)
  wait_for "$work/$name.log" "parley-gateway listening on" 30 ||
    { echo "$prog: gateway $name did not start:" >&2; cat "$work/$name.log" >&2; exit 1; }
  http[$name]="$(grep -o 'parley-gateway listening on 127.0.0.1:[0-9]*' "$work/$name.log" | grep -o '[0-9]*$')"
  cluster[$name]="$(grep -o "node '$name' listening on 127.0.0.1:[0-9]*" "$work/$name.log" | grep -o '[0-9]*$')"
}
start_gateway a
start_gateway b "${cluster[a]}"
start_gateway c "${cluster[a]}"
for n in a b c; do
  wait_for "$work/$n.log" "(3 members)" 30 || { echo "$prog: $n did not see 3 members" >&2; exit 1; }
done
echo "$prog: cluster up: a, b, c (HTTP ${http[a]}, ${http[b]}, ${http[c]}; cluster ${cluster[a]}, ${cluster[b]}, ${cluster[c]}; $([ $insecure -eq 1 ] && echo insecure || echo mutual TLS))" >&2

link_bytes() { # sum of bytes_sent of every socket on a cluster port
  local filter="( sport = :${cluster[a]} or sport = :${cluster[b]} or sport = :${cluster[c]} or dport = :${cluster[a]} or dport = :${cluster[b]} or dport = :${cluster[c]} )"
  ss -tinH state established "$filter" | grep -o 'bytes_sent:[0-9]*' | cut -d: -f2 |
    awk '{ s += $1 } END { print s + 0 }'
}

run_id="cf$$"
common=(fanout --rooms=1 --members="$members" --run-id="$run_id" --timeout=$((duration + 120)))
for n in a b c; do
  "$bench" "${common[@]}" --publishers=0 --duration=$((duration + 6)) \
    --url="ws://127.0.0.1:${http[$n]}/ws" >"$work/bench-$n.out" 2>"$work/bench-$n.err" </dev/null &
  pids+=($!)
  listeners+=($!)
done
for n in a b c; do
  wait_for "$work/bench-$n.err" "delivered" $((30 + members / 50)) ||
    { echo "$prog: the members on $n did not join:" >&2; cat "$work/bench-$n.err" >&2; exit 1; }
done

owner=""
for n in a b c; do [ "$(metric "${http[$n]}" parley_rooms_open)" = "1" ] && owner="$n"; done
bytes_before="$(link_bytes)"
relayed_before=0
for n in a b c; do relayed_before=$((relayed_before + $(metric "${http[$n]}" parley_room_relayed_total))); done
# The publisher: one more member on a. Its join (a member list) crosses a
# node link once if the room lives elsewhere; everything else measured is
# the messages.
"$bench" fanout --rooms=1 --members=1 --run-id="$run_id" --timeout=$((duration + 120)) \
  --publishers=1 --rate="$rate" --duration="$duration" \
  --url="ws://127.0.0.1:${http[a]}/ws" >"$work/publisher.out" 2>"$work/publisher.err" </dev/null ||
  { echo "$prog: the publishing run failed:" >&2; tail -5 "$work/publisher.err" >&2; exit 1; }
# Before the members leave: their leaving (monitors across nodes) is not
# part of the messages' cost.
bytes_after="$(link_bytes)"
relayed_after=0
for n in a b c; do relayed_after=$((relayed_after + $(metric "${http[$n]}" parley_room_relayed_total))); done
status=0
for p in "${listeners[@]}"; do wait "$p" || status=1; done

ja="$(grep '^{' "$work/publisher.out" | tail -1)"
messages="$(jnum "$ja" messages)"
run_s="$(jnum "$ja" run_seconds)"
total=0
printf '| node | members | deliveries | expected | p50 ms | p99 ms |\n|---|---|---|---|---|---|\n'
for n in a b c; do
  j="$(grep '^{' "$work/bench-$n.out" | tail -1)"
  d="$(jnum "$j" delivered)"
  total=$((total + d))
  expected=$((messages * members))
  [ "$d" = "$expected" ] && [ "$(jnum "$j" duplicated)" = "0" ] || status=1
  printf '| %s%s | %s | %s | %s | %s | %s |\n' "$n" "$([ "$n" = "$owner" ] && echo ' (room)')" \
    "$members" "$d" "$expected" "$(jnum "$j" latency_p50_ms)" "$(jnum "$j" latency_p99_ms)"
done
awk -v t="$total" -v s="$run_s" -v m="$messages" -v b0="$bytes_before" -v b1="$bytes_after" \
  -v r0="$relayed_before" -v r1="$relayed_after" -v mem="$members" 'BEGIN {
    printf "\nmessages: %d; deliveries: %d (%.0f/s over %.1f s)\n", m, t, t / s, s
    printf "node links: %.0f bytes per message, both directions (%d members on other nodes)\n", (b1 - b0) / m, 2 * mem
    printf "frames sent to relays: %.2f per message\n", (r1 - r0) / m
  }'
[ $status -eq 0 ] && echo "$prog: every member on every node got every message once" >&2 ||
  echo "$prog: FAILED: a node lost or duplicated deliveries" >&2
exit $status
