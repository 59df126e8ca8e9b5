#!/usr/bin/env bash
# Runs the matrix "Parley vs the Node ws peer" with one parley-bench binary in
# one session, and writes a markdown table (docs/benchmarks.md, "Peers, side
# by side"):
#
#   bash scripts/bench-matrix.sh --quick                 # small sizes, under a minute
#   bash scripts/bench-matrix.sh --full --out=matrix.md  # the figures of issue 6
#
# For every measurement it starts a fresh server on a free port (parley-gateway
# from the release preset, or bench/peers/ws-server/server.mjs on Node), runs
# parley-bench against it with --server-pid (server memory), reads the server's
# CPU time (utime + stime from /proc/PID/stat) before and after the run, stops
# the server with SIGTERM, and goes on. Client and server share the machine's
# cores, so a server's CPU seconds, not the wall clock, say what it costs.
#
# Options (each also an environment variable, flags win):
#   --quick | --full          the sizes below (default --quick)
#   --out=FILE                also write the table to FILE
#   --modes=LIST              conns,fanout,echo (default all three)     MATRIX_MODES
#   --conns=LIST              conns: connection counts                   MATRIX_CONNS
#   --fanout-members=N        fanout: members of the one room            MATRIX_FANOUT_MEMBERS
#   --fanout-rate=R           fanout: messages/s into it                 MATRIX_FANOUT_RATE
#   --ladder-members=N        ladder: members of the one room            MATRIX_LADDER_MEMBERS
#   --ladder=LIST             ladder: messages/s to try, in order        MATRIX_LADDER
#   --echo-conns=N            echo: connections in the closed loop       MATRIX_ECHO_CONNS
#   --duration=S              seconds of publishing or pinging per run  MATRIX_DURATION
#   --p99-limit=MS            the ladder stops once p99 passes this      MATRIX_P99_LIMIT_MS
#   --no-build                use the binaries as they are
# Binaries: PARLEY_BENCH_BIN and PARLEY_GATEWAY_BIN (default build/release/...,
# built first with the release preset unless --no-build or both are given).
# Exit status: 0, 1 when a run failed (lost deliveries, refused connections,
# a server that did not start), 2 for a bad option.
set -euo pipefail
# Gateways started here keep history in memory unless PARLEY_STORE says
# otherwise: these measure transport, and several nodes must not share ./data.
export PARLEY_STORE="${PARLEY_STORE:-memory}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prog="bench-matrix"

usage_error() {
  echo "$prog: error: $1 (see the header of scripts/bench-matrix.sh)" >&2
  exit 2
}

# -- options ---------------------------------------------------------------------

size="quick"
out=""
build=1
modes="${MATRIX_MODES:-}"
conns="${MATRIX_CONNS:-}"
fanout_members="${MATRIX_FANOUT_MEMBERS:-}"
fanout_rate="${MATRIX_FANOUT_RATE:-}"
ladder_members="${MATRIX_LADDER_MEMBERS:-}"
ladder="${MATRIX_LADDER:-}"
echo_conns="${MATRIX_ECHO_CONNS:-}"
duration="${MATRIX_DURATION:-}"
p99_limit="${MATRIX_P99_LIMIT_MS:-100}"

for arg in "$@"; do
  case "$arg" in
    --quick) size="quick" ;;
    --full) size="full" ;;
    --no-build) build=0 ;;
    --out=?*) out="${arg#*=}" ;;
    --modes=?*) modes="${arg#*=}" ;;
    --conns=?*) conns="${arg#*=}" ;;
    --fanout-members=?*) fanout_members="${arg#*=}" ;;
    --fanout-rate=?*) fanout_rate="${arg#*=}" ;;
    --ladder-members=?*) ladder_members="${arg#*=}" ;;
    --ladder=?*) ladder="${arg#*=}" ;;
    --echo-conns=?*) echo_conns="${arg#*=}" ;;
    --duration=?*) duration="${arg#*=}" ;;
    --p99-limit=?*) p99_limit="${arg#*=}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown argument '$arg'" ;;
  esac
done

if [ "$size" = "full" ]; then
  : "${conns:=1000,10000,19000}"
  : "${fanout_members:=10000}"
  : "${fanout_rate:=10}"
  : "${ladder_members:=1000}"
  : "${ladder:=10,20,50,100,200,500,1000,2000}"
  : "${echo_conns:=100}"
  : "${duration:=20}"
else
  : "${conns:=200,1000}"
  : "${fanout_members:=500}"
  : "${fanout_rate:=10}"
  : "${ladder_members:=100}"
  : "${ladder:=300,600,1200}"
  : "${echo_conns:=20}"
  : "${duration:=2}"
fi
: "${modes:=conns,fanout,echo}"

is_list() { [[ "$1" =~ ^[0-9]+(,[0-9]+)*$ ]]; }
is_count() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }
is_number() { [[ "$1" =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ ]] && awk -v v="$1" 'BEGIN { exit !(v > 0) }'; }
is_list "$conns" || usage_error "--conns: '$conns' is not a list of counts like 1000,10000"
is_list "$ladder" || usage_error "--ladder: '$ladder' is not a list of rates like 10,100"
is_count "$fanout_members" || usage_error "--fanout-members: '$fanout_members' is not a count"
is_count "$ladder_members" || usage_error "--ladder-members: '$ladder_members' is not a count"
is_count "$echo_conns" || usage_error "--echo-conns: '$echo_conns' is not a count"
is_number "$fanout_rate" || usage_error "--fanout-rate: '$fanout_rate' is not a positive number"
is_number "$duration" || usage_error "--duration: '$duration' is not a positive number"
is_number "$p99_limit" || usage_error "--p99-limit: '$p99_limit' is not a positive number"
for m in ${modes//,/ }; do
  case "$m" in conns|fanout|echo) ;; *) usage_error "--modes: unknown mode '$m' (conns, fanout, echo)" ;; esac
done
if [ -n "$out" ] && ! : 2>/dev/null >>"$out"; then
  usage_error "--out: cannot write '$out'"
fi

# -- binaries --------------------------------------------------------------------

bench_bin="${PARLEY_BENCH_BIN:-$root/build/release/bench/parley-bench}"
gateway_bin="${PARLEY_GATEWAY_BIN:-$root/build/release/gateway/parley-gateway}"
peer_js="$root/bench/peers/ws-server/server.mjs"
node_bin="${NODE:-node}"

if [ $build -eq 1 ] && { [ -z "${PARLEY_BENCH_BIN:-}" ] || [ -z "${PARLEY_GATEWAY_BIN:-}" ]; }; then
  echo "$prog: building parley-gateway and parley-bench (release preset)" >&2
  (cd "$root" && cmake --preset release >/dev/null \
     && cmake --build --preset release --target parley-gateway parley-bench >/dev/null)
fi
for b in "$bench_bin" "$gateway_bin"; do
  [ -x "$b" ] || { echo "$prog: error: $b is missing: build it (cmake --preset release && cmake --build --preset release --target parley-gateway parley-bench)" >&2; exit 1; }
done
command -v "$node_bin" >/dev/null || { echo "$prog: error: node is missing: bash scripts/deps.sh --test" >&2; exit 1; }
[ -d "$root/bench/peers/ws-server/node_modules/ws" ] \
  || { echo "$prog: error: bench/peers/ws-server/node_modules is missing: bash scripts/deps.sh --test (or npm ci in bench/peers/ws-server)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/bench-matrix.XXXXXX")"
server_pid=""
stop_server() {
  [ -n "$server_pid" ] || return 0
  if kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 150); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
bench_pid=""
trap '[ -z "$bench_pid" ] || kill -TERM "$bench_pid" 2>/dev/null || true; stop_server; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# -- servers ---------------------------------------------------------------------

# Both servers get the limits the load needs: room for 19k sockets and for a
# publisher at thousands of messages per second. The rest are defaults.
start_server() { # parley|ws  -> sets server_pid, server_url
  local kind="$1" log="$work/server.log" line="" port
  : >"$log"
  if [ "$kind" = "parley" ]; then
    # --public-metrics: parley-bench churn reads the heap gauge from /metrics.
    "$gateway_bin" --port=0 --log-level=warn --max-connections=20000 \
      --max-connections-per-address=0 --rate-limit=1000000 --rate-burst=1000000 \
      --public-metrics 2>"$log" >/dev/null &
    line="parley-gateway listening on"
  else
    "$node_bin" "$peer_js" --port=0 2>"$log" >/dev/null &
    line="ws-server listening on"
  fi
  server_pid=$!
  for _ in $(seq 150); do
    port="$(sed -n "s/.*$line [0-9.]*:\([0-9]*\).*/\1/p" "$log" | head -1)"
    [ -n "$port" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "${port:-}" ]; then
    echo "$prog: error: the $kind server did not start:" >&2
    sed 's/^/  /' "$log" >&2
    stop_server
    return 1
  fi
  server_url="ws://127.0.0.1:$port/ws"
}

clk_tck="$(getconf CLK_TCK)"
cpu_ticks() { # utime + stime of a PID, in clock ticks
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || { echo 0; return; }
  stat="${stat##*) }" # fields after the command name, from state (3) on
  set -- $stat
  echo $(( ${12} + ${13} )) # fields 14 and 15
}

# -- one measurement -------------------------------------------------------------

failed=0
# Runs parley-bench against a fresh server of `kind`; writes its JSON line,
# plus the server's CPU seconds, to $work/<id>.json. Returns parley-bench's status.
measure() { # id kind bench-args...
  local id="$1" kind="$2"
  shift 2
  if ! start_server "$kind"; then
    echo '{}' >"$work/$id.json"
    return 1
  fi
  echo "$prog: $id: parley-bench $* (server $kind, pid $server_pid)" >&2
  local before after status=0
  before="$(cpu_ticks "$server_pid")"
  # In the background and waited for, so that a signal reaches the trap at once.
  "$bench_bin" "$@" --url="$server_url" --json --server-pid="$server_pid" \
    >"$work/$id.out" 2>"$work/$id.err" </dev/null &
  bench_pid=$!
  wait "$bench_pid" || status=$?
  bench_pid=""
  after="$(cpu_ticks "$server_pid")"
  stop_server
  # parley-bench's summary (its progress lines end in \r and are dropped).
  tr '\r' '\n' <"$work/$id.err" | grep -E '^(parley-bench|  )' | sed 's/^/    /' >&2 || true
  local json
  json="$(grep '^{' "$work/$id.out" | tail -1)"
  [ -n "$json" ] || json='{}'
  "$node_bin" -e '
    const [json, cpu, status] = process.argv.slice(1);
    const o = JSON.parse(json);
    o.matrix = { server_cpu_s: Number(cpu), status: Number(status) };
    console.log(JSON.stringify(o));' \
    "$json" "$(awk -v a="$before" -v b="$after" -v t="$clk_tck" 'BEGIN { printf "%.2f", (b - a) / t }')" \
    "$status" >"$work/$id.json"
  return $status
}

ids=()
run() { # id kind args...
  ids+=("$1")
  measure "$@" || { failed=1; return 1; }
}

for mode in ${modes//,/ }; do
  case "$mode" in
    conns)
      for n in ${conns//,/ }; do
        for kind in parley ws; do
          # --hold: stay connected a moment, so the memory reading is settled.
          run "conns-$n-$kind" "$kind" conns --conns="$n" --rooms=$(( (n + 999) / 1000 )) \
            --hold=1 --timeout=$(( 60 + n / 50 )) || true
        done
      done
      ;;
    fanout)
      for kind in parley ws; do
        run "fanout-$kind" "$kind" fanout --rooms=1 --members="$fanout_members" --publishers=1 \
          --rate="$fanout_rate" --duration="$duration" || true
      done
      # The ladder: raise the rate until p99 passes the limit or a delivery is
      # lost (parley-bench exits 1); either ends the ladder, neither fails the matrix.
      for kind in parley ws; do
        for rate in ${ladder//,/ }; do
          ids+=("ladder-$rate-$kind")
          measure "ladder-$rate-$kind" "$kind" fanout --rooms=1 --members="$ladder_members" \
            --publishers=1 --rate="$rate" --duration="$duration" || break
          p99="$("$node_bin" -e 'const o = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
                                 console.log(o.results?.latency_p99_ms ?? 1e9)' "$work/ladder-$rate-$kind.json")"
          awk -v p="$p99" -v l="$p99_limit" 'BEGIN { exit !(p > l) }' && break
        done
      done
      ;;
    echo)
      for kind in parley ws; do
        run "echo-$kind" "$kind" echo --conns="$echo_conns" --duration="$duration" || true
      done
      ;;
  esac
done

# -- the table -------------------------------------------------------------------

table="$("$node_bin" - "$work" "$p99_limit" "$size" "$fanout_members" "$fanout_rate" \
          "$ladder_members" "$echo_conns" "$duration" "${ids[@]}" <<'EOF'
const fs = require('fs');
const [work, p99Limit, size, fanoutMembers, fanoutRate, ladderMembers, echoConns, duration,
       ...ids] = process.argv.slice(2);
const runs = {};
for (const id of ids)
  runs[id] = JSON.parse(fs.readFileSync(`${work}/${id}.json`, 'utf8'));
const res = (id) => runs[id]?.results ?? {};
const cpu = (id) => runs[id]?.matrix?.server_cpu_s;
const ok = (id) => runs[id]?.matrix?.status === 0;

const fmt = (v, digits = 0) => {
  if (v === undefined || v === null || Number.isNaN(v))
    return '–';
  if (Math.abs(v) >= 1000)
    return Math.round(v).toLocaleString('en-US');
  return v.toFixed(digits);
};
const rows = [];
// One row: what, the two figures, their ratio, which way is better.
function row(what, p, w, digits, better, pOk = true, wOk = true) {
  const ratio = p > 0 && w > 0 ? (p / w).toFixed(2) : '–';
  const mark = (v, good) => fmt(v, digits) + (good ? '' : ' (FAILED)');
  rows.push(`| ${what} | ${mark(p, pOk)} | ${mark(w, wOk)} | ${ratio} | ${better} |`);
}

for (const id of ids.filter((i) => i.startsWith('conns-') && i.endsWith('-parley'))) {
  const n = id.split('-')[1];
  const [p, w] = [`conns-${n}-parley`, `conns-${n}-ws`];
  row(`conns ${n}: connections joined`, res(p).opened, res(w).opened, 0, 'higher', ok(p), ok(w));
  row(`conns ${n}: server memory per idle joined connection (bytes)`,
      res(p).server_bytes_per_conn, res(w).server_bytes_per_conn, 0, 'lower', ok(p), ok(w));
  row(`conns ${n}: server RSS with all joined (MiB)`,
      res(p).server_rss_loaded_kib / 1024, res(w).server_rss_loaded_kib / 1024, 1, 'lower', ok(p), ok(w));
  row(`conns ${n}: connects/s`, res(p).connect_rate, res(w).connect_rate, 0, 'higher', ok(p), ok(w));
  row(`conns ${n}: server CPU (s)`, cpu(p), cpu(w), 2, 'lower', ok(p), ok(w));
}
if (runs['fanout-parley'] || runs['fanout-ws']) {
  const [p, w] = ['fanout-parley', 'fanout-ws'];
  const what = `fanout 1 room × ${fanoutMembers}, ${fanoutRate} msg/s`;
  row(`${what}: deliveries/s`, res(p).deliveries_per_s, res(w).deliveries_per_s, 0, 'higher', ok(p), ok(w));
  row(`${what}: p50 (ms)`, res(p).latency_p50_ms, res(w).latency_p50_ms, 2, 'lower', ok(p), ok(w));
  row(`${what}: p99 (ms)`, res(p).latency_p99_ms, res(w).latency_p99_ms, 2, 'lower', ok(p), ok(w));
  row(`${what}: lost + duplicated`, (res(p).lost ?? NaN) + (res(p).duplicated ?? NaN),
      (res(w).lost ?? NaN) + (res(w).duplicated ?? NaN), 0, 'lower (0)', ok(p), ok(w));
  const perDelivery = (id) => (res(id).delivered > 0 ? (cpu(id) * 1e6) / res(id).delivered : NaN);
  row(`${what}: server CPU per delivery (µs, joins included)`, perDelivery(p), perDelivery(w), 2,
      'lower', ok(p), ok(w));
}
// The ladder: the highest rung whose p99 stayed within the limit, without loss.
const best = (kind) => {
  let top;
  for (const id of ids.filter((i) => i.startsWith('ladder-') && i.endsWith(`-${kind}`))) {
    const r = res(id);
    if (ok(id) && r.latency_p99_ms <= Number(p99Limit) && r.lost === 0)
      if (!top || r.deliveries_per_s > top.deliveries_per_s)
        top = { ...r, rate: id.split('-')[1] };
  }
  return top;
};
if (ids.some((i) => i.startsWith('ladder-'))) {
  const [bp, bw] = [best('parley'), best('ws')];
  const tried = (kind) => ids.filter((i) => i.startsWith('ladder-') && i.endsWith(`-${kind}`))
    .map((i) => i.split('-')[1]).join(', ');
  // Did the ladder end (a rung past the limit, or a loss)? If not, the top
  // rung was not enough to find the maximum: the figure is a lower bound.
  const ended = (kind) => ids.filter((i) => i.startsWith('ladder-') && i.endsWith(`-${kind}`))
    .some((i) => !ok(i) || !(res(i).latency_p99_ms <= Number(p99Limit)));
  const bound = (b, kind) => (b && !ended(kind) ? '≥ ' : '') + fmt(b?.deliveries_per_s);
  const ratio = bp && bw ? (bp.deliveries_per_s / bw.deliveries_per_s).toFixed(2) : '–';
  rows.push(`| ladder 1 room × ${ladderMembers}: max deliveries/s with p99 ≤ ${p99Limit} ms and no loss `
            + `| ${bound(bp, 'parley')} | ${bound(bw, 'ws')} | ${ratio} | higher |`);
  rows.push(`| … reached at msg/s (tried: Parley ${tried('parley')}; ws ${tried('ws')}) | ${bp?.rate ?? '–'} | ${bw?.rate ?? '–'} | | |`);
}
if (runs['echo-parley'] || runs['echo-ws']) {
  const [p, w] = ['echo-parley', 'echo-ws'];
  const what = `echo ${echoConns} conns`;
  row(`${what}: round trips/s`, res(p).round_trips_per_s, res(w).round_trips_per_s, 0, 'higher', ok(p), ok(w));
  row(`${what}: p50 (ms)`, res(p).latency_p50_ms, res(w).latency_p50_ms, 3, 'lower', ok(p), ok(w));
  row(`${what}: p99 (ms)`, res(p).latency_p99_ms, res(w).latency_p99_ms, 3, 'lower', ok(p), ok(w));
  const perTrip = (id) => (res(id).round_trips > 0 ? (cpu(id) * 1e6) / res(id).round_trips : NaN);
  row(`${what}: server CPU per round trip (µs, connects included)`, perTrip(p), perTrip(w), 2,
      'lower', ok(p), ok(w));
}
console.log(`Parley vs Node ws (${size}; ${duration} s per fan-out/echo run; client and server share the cores)\n`);
console.log('| measurement | Parley | Node ws | Parley / ws | better |');
console.log('|---|---:|---:|---:|---|');
console.log(rows.join('\n'));
EOF
)"

echo "$table"
if [ -n "$out" ]; then
  echo "$table" >"$out"
  echo "$prog: wrote $out" >&2
fi
exit $(( failed > 0 ? 1 : 0 ))
