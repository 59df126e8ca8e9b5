#!/usr/bin/env bash
# Runs the same parley-bench load against two parley-gateway binaries, A and
# B, alternating A, B, A, B ... in one session, and prints one markdown row per
# run: the server's CPU seconds (utime + stime from /proc), the figure per
# delivery or round trip, memory per connection, and latency. Side by side in
# one session is how a before/after is measured on a noisy 2-core machine.
#
#   bash scripts/bench-ab.sh [--runs=N] [--label-a=TEXT] [--label-b=TEXT] \
#        [--bench-a=ARGS] [--bench-b=ARGS] A_GATEWAY B_GATEWAY -- PARLEY_BENCH_ARGS...
#
# --bench-a and --bench-b add parley-bench arguments (split at spaces) to A's
# or B's runs only: one gateway, two clients, e.g. two transports:
#   bash scripts/bench-ab.sh --label-a=websocket --label-b=longpoll --bench-b=--transport=longpoll \
#     build/release/gateway/parley-gateway build/release/gateway/parley-gateway -- conns --conns=2000
#
# Example (the gateway of an older commit against the current one):
#   git worktree add /tmp/old OLD_COMMIT && (cd /tmp/old && cmake --preset release \
#     && cmake --build --preset release --target parley-gateway)
#   bash scripts/bench-ab.sh --runs=3 /tmp/old/build/release/gateway/parley-gateway \
#     build/release/gateway/parley-gateway -- fanout --rooms=1 --members=1000 --rate=50 --duration=10
#
# Each gateway starts fresh per run, with the flags bench-matrix.sh uses
# (--max-connections=20000 --max-connections-per-address=0, rate limits off),
# and stops with SIGTERM after the run. parley-bench is
# build/release/bench/parley-bench unless PARLEY_BENCH_BIN says otherwise; --url,
# --json and --server-pid are added to its arguments. Exit status: 0 when every
# run succeeded, 1 when a run failed (its row says so), 2 on bad arguments.
set -euo pipefail
# Gateways started here keep history in memory unless PARLEY_STORE says
# otherwise: these measure transport, and several nodes must not share ./data.
export PARLEY_STORE="${PARLEY_STORE:-memory}"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prog="bench-ab"

usage_error() {
  echo "$prog: error: $1 (see the header of scripts/bench-ab.sh)" >&2
  exit 2
}

runs=3
label_a="A"
label_b="B"
gateways=()
bench_args=()
extra_a=()
extra_b=()
while [ $# -gt 0 ]; do
  case "$1" in
    --runs=*) runs="${1#*=}" ;;
    --label-a=*) label_a="${1#*=}" ;;
    --label-b=*) label_b="${1#*=}" ;;
    --bench-a=*) read -r -a extra_a <<<"${1#*=}" ;;
    --bench-b=*) read -r -a extra_b <<<"${1#*=}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    --) shift; bench_args=("$@"); break ;;
    -*) usage_error "unknown option '$1'" ;;
    *) gateways+=("$1") ;;
  esac
  shift
done

[[ "$runs" =~ ^[1-9][0-9]*$ ]] || usage_error "--runs: '$runs' is not a count"
[ -n "$label_a" ] && [ -n "$label_b" ] || usage_error "labels must not be empty"
[ ${#gateways[@]} -eq 2 ] || usage_error "expected two gateway binaries, got ${#gateways[@]}"
[ ${#bench_args[@]} -gt 0 ] || usage_error "expected parley-bench arguments after --"
for gw in "${gateways[@]}"; do
  [ -x "$gw" ] && [ -f "$gw" ] || usage_error "'$gw' is not an executable file"
done
case "${bench_args[0]}" in
  conns|fanout|echo|churn) ;;
  *) usage_error "parley-bench mode must come first after --: conns, fanout, echo or churn" ;;
esac
for a in "${bench_args[@]}"; do
  case "$a" in
    --url=*|--server-pid=*|--json|--binary) usage_error "'$a' is set by the script (JSON mode)" ;;
  esac
done
bench_bin="${PARLEY_BENCH_BIN:-$root/build/release/bench/parley-bench}"
[ -x "$bench_bin" ] || { echo "$prog: error: $bench_bin is missing: cmake --build --preset release --target parley-bench" >&2; exit 1; }
command -v node >/dev/null || { echo "$prog: error: node is missing (it reads parley-bench's JSON): bash scripts/deps.sh --test" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/bench-ab.XXXXXX")"
server_pid=""
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  for _ in $(seq 150); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap 'stop_server; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

cpu_ticks() { # utime + stime of a PID, in clock ticks
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || { echo 0; return; }
  stat="${stat##*) }"
  set -- $stat
  echo $(( ${12} + ${13} ))
}
clk_tck="$(getconf CLK_TCK)"

failed=0
echo "| gateway | run | server CPU (s) | µs per delivery | µs per round trip | bytes per connection | p50 (ms) | p99 (ms) | lost + dup | status |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
for run in $(seq "$runs"); do
  for side in a b; do
    if [ "$side" = a ]; then
      gw="${gateways[0]}"; label="$label_a"; extra=("${extra_a[@]}")
    else
      gw="${gateways[1]}"; label="$label_b"; extra=("${extra_b[@]}")
    fi
    log="$work/server.log"
    # parley-bench churn reads /metrics; a gateway older than the admin
    # console serves it without being asked.
    metrics=()
    "$gw" --help 2>/dev/null | grep -q -- --public-metrics && metrics=(--public-metrics)
    "$gw" --port=0 --log-level=warn --max-connections=20000 --max-connections-per-address=0 \
      --rate-limit=1000000 --rate-burst=1000000 "${metrics[@]}" 2>"$log" >/dev/null &
    server_pid=$!
    port=""
    for _ in $(seq 150); do
      port="$(sed -n 's/.*parley-gateway listening on [0-9.]*:\([0-9]*\).*/\1/p' "$log" | head -1)"
      [ -n "$port" ] && break
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    if [ -z "$port" ]; then
      echo "$prog: error: $gw did not start:" >&2
      sed 's/^/  /' "$log" >&2
      stop_server
      exit 1
    fi
    before="$(cpu_ticks "$server_pid")"
    status=0
    "$bench_bin" "${bench_args[@]}" "${extra[@]}" --url="ws://127.0.0.1:$port/ws" --json \
      --server-pid="$server_pid" >"$work/out" 2>"$work/err" </dev/null || status=$?
    after="$(cpu_ticks "$server_pid")"
    stop_server
    [ $status -eq 0 ] || failed=1
    json="$(grep '^{' "$work/out" | tail -1 || true)"
    node -e '
      const [json, ticks, tck, label, run, status] = process.argv.slice(1);
      const r = (json ? JSON.parse(json).results : {}) ?? {};
      const cpu = Number(ticks) / Number(tck);
      const f = (v, d = 2) => (v === undefined || v === null || !isFinite(v) ? "–" : v.toFixed(d));
      const per = (n) => (n > 0 ? f((cpu * 1e6) / n) : "–");
      console.log(`| ${label} | ${run} | ${f(cpu)} | ${per(r.delivered)} | ${per(r.round_trips)} | ` +
                  `${r.server_bytes_per_conn > 0 ? f(r.server_bytes_per_conn, 0) : "–"} | ` +
                  `${r.latency_count > 0 ? f(r.latency_p50_ms) : "–"} | ` +
                  `${r.latency_count > 0 ? f(r.latency_p99_ms) : "–"} | ` +
                  `${r.lost === undefined ? "–" : r.lost + r.duplicated} | ${status === "0" ? "ok" : "FAILED (" + status + ")"} |`);' \
      "$json" "$(( after - before ))" "$clk_tck" "$label" "$run" "$status"
  done
done
exit $failed
