#!/usr/bin/env bash
# Runs a three-node cluster across network namespaces, each node with its own
# address, to show nothing depends on loopback; then cuts one node's link and
# shows the partition is detected, and heals it and shows the node is
# admitted again (docs/cluster.md, "Across machines: the namespace script").
#
#   sudo bash scripts/cluster-netns.sh                  # uses build/release, else build/debug-asan
#   sudo bash scripts/cluster-netns.sh --bin=PATH --keep-logs
#
# Topology: a bridge in the root namespace and three namespaces, each joined
# to it by a veth pair, with 10.77.0.1 (a), .2 (b) and .3 (c). The nodes are
# examples/ping_pong_remote: a (seed), b (the Ponger), c; a fourth process in
# c's namespace plays a game against b's Ponger. Node links are mutual TLS
# with certificates from scripts/cluster-certs.sh; heartbeats every 200 ms,
# failure timeout 1.5 s. The cut is `ip link set <b's veth> down` on the
# bridge side: b's packets are dropped, nothing is closed, so only the
# missing heartbeats can tell.
#
# Waits poll the nodes' logs for their lines, each bounded. Exit status: 0
# when every check passed, 1 when one failed, 2 for a bad option, 77 when the
# machine does not allow network namespaces (not root, no CAP_NET_ADMIN).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prog="cluster-netns"
bin=""
keep=0
for arg in "$@"; do
  case "$arg" in
    --bin=*) bin="${arg#*=}" ;;
    --keep-logs) keep=1 ;;
    *) echo "$prog: error: unknown option $arg (see the header of scripts/cluster-netns.sh)" >&2; exit 2 ;;
  esac
done
if [ -z "$bin" ]; then
  for b in "$root/build/release/examples/example_ping_pong_remote" \
           "$root/build/debug-asan/examples/example_ping_pong_remote"; do
    [ -x "$b" ] && { bin="$b"; break; }
  done
fi
[ -n "$bin" ] && [ -x "$bin" ] ||
  { echo "$prog: error: no example_ping_pong_remote binary (build it, or give --bin=PATH)" >&2; exit 2; }

id="p$$"
ns_of() { echo "pn-$id-$1"; }
probe="$(ns_of probe)"
if ! command -v ip >/dev/null || ! ip netns add "$probe" 2>/dev/null; then
  echo "$prog: SKIP: this machine does not allow network namespaces (needs root and CAP_NET_ADMIN)" >&2
  exit 77
fi
ip netns del "$probe"

work="$(mktemp -d /tmp/parley-netns-XXXXXX)"
bridge="pbr-$id"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in a b c; do ip netns del "$(ns_of $n)" 2>/dev/null || true; done
  ip link del "$bridge" 2>/dev/null || true
  if [ $keep -eq 1 ]; then
    echo "$prog: logs kept in $work" >&2
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT INT TERM

declare -A addr=([a]=10.77.0.1 [b]=10.77.0.2 [c]=10.77.0.3)
ip link add "$bridge" type bridge
ip link set "$bridge" up
for n in a b c; do
  ns="$(ns_of $n)"
  ip netns add "$ns"
  ip link add "pv-$id-$n" type veth peer name eth0 netns "$ns"
  ip link set "pv-$id-$n" master "$bridge" up
  ip -n "$ns" addr add "${addr[$n]}/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
done

bash "$root/scripts/cluster-certs.sh" "$work/certs" a b c d 2>/dev/null
port=7101
failures=0
check() { # description command...
  local what="$1"
  shift
  if "$@"; then
    echo "$prog: PASS: $what" >&2
  else
    echo "$prog: FAIL: $what" >&2
    failures=$((failures + 1))
  fi
}
# Polls a log for the n-th occurrence of a text, at most $4 seconds.
saw() { # file text count seconds
  local deadline=$((SECONDS + $4))
  until [ "$(grep -c -- "$2" "$1" 2>/dev/null || true)" -ge "$3" ]; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 0.05
  done
}
start() { # name role namespace-of extra...
  local name="$1" role="$2" where="$3"
  shift 3
  ip netns exec "$(ns_of "$where")" "$bin" --role="$role" --name="$name" \
    --cluster-port=$port --cluster-bind="${addr[$where]}" \
    --cluster-cert="$work/certs/$name.pem" --cluster-key="$work/certs/$name.key" \
    --cluster-ca="$work/certs/ca.pem" --cluster-heartbeat-ms=200 \
    --cluster-failure-timeout-ms=1500 --cluster-retry-ms=300 "$@" \
    >"$work/$name.log" 2>&1 &
  pids+=($!)
}

start a node a
start b ponger b --seed="${addr[a]}:$port"
start c node c --seed="${addr[a]}:$port"
for n in a b c; do
  check "$n sees all three nodes" saw "$work/$n.log" "(3 members)" 1 30
done
check "b and c met through a, over their own addresses" \
  saw "$work/c.log" "node 'b' joined from ${addr[b]}:$port" 1 30

# A game across namespaces: d (in c's namespace, another port) finds b's Ponger.
if ip netns exec "$(ns_of c)" "$bin" --role=pinger --name=d --cluster-port=7102 \
  --cluster-bind="${addr[c]}" --cluster-cert="$work/certs/d.pem" --cluster-key="$work/certs/d.key" \
  --cluster-ca="$work/certs/ca.pem" --seed="${addr[a]}:$port" --rounds=2000 >"$work/d.log" 2>&1; then
  echo "$prog: PASS: $(grep 'played' "$work/d.log")" >&2
else
  echo "$prog: FAIL: the game across namespaces:" >&2
  # The game's own lines, and a sanitizer's report whole (its stacks are
  # what tells a leak from a crash).
  grep -v '^    #' "$work/d.log" | grep -v '^$' | head -20 >&2
  sed -n '/ERROR: \(Leak\|Address\|Undefined\)/,/^SUMMARY/p' "$work/d.log" | head -150 >&2
  failures=$((failures + 1))
fi

# The cut: b's packets go nowhere; only heartbeats can tell.
cut_at=$(date +%s%N)
ip link set "pv-$id-b" down
check "a notices b is cut off" saw "$work/a.log" "node 'b' left: its link dropped or went silent" 1 15
detected_at=$(date +%s%N)
check "c notices b is cut off" saw "$work/c.log" "node 'b' left" 1 15
check "b notices it is alone" saw "$work/b.log" "(1 members)" 1 15
echo "$prog: the cut was detected by a after $(( (detected_at - cut_at) / 1000000 )) ms (failure timeout 1500 ms, heartbeat 200 ms)" >&2

# The heal: b's seed retries bring it back, and the mesh closes again.
ip link set "pv-$id-b" up
check "a admits b again" saw "$work/a.log" "node 'b' joined" 2 60
check "c admits b again" saw "$work/c.log" "node 'b' joined" 2 60

if [ $failures -eq 0 ]; then
  echo "$prog: all checks passed" >&2
  exit 0
fi
echo "$prog: $failures check(s) failed; logs:" >&2
for n in a b c; do echo "--- $n" >&2; tail -20 "$work/$n.log" >&2; done
exit 1
