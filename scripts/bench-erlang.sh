#!/usr/bin/env bash
# Runs Parley's actor benchmarks (bench/actor_bench.cpp) side by side with
# the same workloads written in Erlang (bench/peers/erlang/parley_peer.erl),
# alternating in one session: for each run, each workload runs on the Erlang
# VM and then on Parley under each scheduler policy. Prints one markdown table
# of medians (with each median's min–max) and Parley ÷ Erlang, then the
# commands, the date and the versions.
#
#   bash scripts/bench-erlang.sh [--runs=N] [--seconds=S] [--policies=LIST] \
#        [--bench=PATH] [--only=LIST]
#
# --runs=N          runs per cell (default 5); the table shows medians
# --seconds=S       seconds per timed run, on both sides (default 3); S is
#                   Google Benchmark's --benchmark_min_time (memory ignores it)
# --policies=LIST   Parley scheduler policies, set through PARLEY_SCHEDULER
#                   (default affinity,sharing,stealing)
# --bench=PATH      the Parley actor benchmark binary
#                   (default build/release/bench/actor_bench)
# --only=LIST       workloads, comma-separated (default all of the first seven):
#                   pingpong, spawn, memory, fanout_1000, fanout_10000,
#                   fanout_100000, mailbox_100; also fanout_N, mailbox_S and
#                   mailbox_off_heap_S (the Erlang receiver's message queue
#                   off the heap; compared with Parley's BM_Mailbox/S)
#
# Example: bash scripts/bench-erlang.sh --runs=3 --seconds=2 --only=pingpong,spawn
#
# A workload whose benchmark is not in the binary (--benchmark_list_tests)
# shows n/a. Needs erl and erlc (erlang-base, erlang-dev) and python3, which
# reads Google Benchmark's JSON. The VM runs with its defaults (one scheduler
# per core); bench/peers/erlang/README.md says why. Exit status: 0 when every
# run succeeded, 1 when a run failed (its cell says so), 2 on bad arguments.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prog="bench-erlang"

usage_error() {
  echo "$prog: error: $1 (see the header of scripts/bench-erlang.sh)" >&2
  exit 2
}

runs=5
seconds=3
policies_arg="affinity,sharing,stealing"
bench="$root/build/release/bench/actor_bench"
only_arg="pingpong,spawn,memory,fanout_1000,fanout_10000,fanout_100000,mailbox_100"
while [ $# -gt 0 ]; do
  case "$1" in
    --runs=*) runs="${1#*=}" ;;
    --seconds=*) seconds="${1#*=}" ;;
    --policies=*) policies_arg="${1#*=}" ;;
    --bench=*) bench="${1#*=}" ;;
    --only=*) only_arg="${1#*=}" ;;
    -h|--help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown argument '$1'" ;;
  esac
  shift
done

[[ "$runs" =~ ^[1-9][0-9]*$ ]] || usage_error "--runs: '$runs' is not a count"
{ [[ "$seconds" =~ ^[0-9]+(\.[0-9]+)?$ ]] && [[ "$seconds" =~ [1-9] ]]; } \
  || usage_error "--seconds: '$seconds' is not a positive number of seconds"
IFS=, read -r -a policies <<<"$policies_arg"
[ ${#policies[@]} -gt 0 ] || usage_error "--policies: no policy given"
for p in "${policies[@]}"; do
  [[ "$p" =~ ^[a-z][a-z0-9_]*$ ]] || usage_error "--policies: '$p' is not a policy name"
done
IFS=, read -r -a workloads <<<"$only_arg"
[ ${#workloads[@]} -gt 0 ] || usage_error "--only: no workload given"
for w in "${workloads[@]}"; do
  [[ "$w" =~ ^(pingpong|spawn|memory|fanout_[1-9][0-9]*|mailbox_[1-9][0-9]*|mailbox_off_heap_[1-9][0-9]*)$ ]] \
    || usage_error "--only: unknown workload '$w' (pingpong, spawn, memory, fanout_N, mailbox_S, mailbox_off_heap_S)"
done
{ [ -f "$bench" ] && [ -x "$bench" ]; } \
  || usage_error "--bench: '$bench' is not an executable file (cmake --build --preset release --target actor_bench)"

for tool in erl erlc; do
  command -v "$tool" >/dev/null \
    || { echo "$prog: error: $tool is missing: install erlang-base erlang-dev (scripts/deps.sh --bench)" >&2; exit 1; }
done
command -v python3 >/dev/null || { echo "$prog: error: python3 is missing (it reads Google Benchmark's JSON)" >&2; exit 1; }

work="$(mktemp -d "${TMPDIR:-/tmp}/bench-erlang.XXXXXX")"
trap 'rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

peer_src="$root/bench/peers/erlang/parley_peer.erl"
erlc -o "$work" "$peer_src" || { echo "$prog: error: erlc could not compile $peer_src" >&2; exit 1; }

# Each run gets 20 times its seconds plus two minutes before it is stopped.
limit="$(awk -v s="$seconds" 'BEGIN { printf "%d", s * 20 + 120 }')"

# Per workload: the Erlang arguments after the workload's seconds, and the
# Parley benchmark with the counter it reports.
erlang_args() { # WORKLOAD -> "NAME SECONDS [N]"
  case "$1" in
    pingpong|spawn) echo "$1 $seconds" ;;
    memory) echo "memory 1 100000" ;;
    fanout_*) echo "fanout $seconds ${1#fanout_}" ;;
    mailbox_off_heap_*) echo "mailbox_off_heap $seconds ${1#mailbox_off_heap_}" ;;
    mailbox_*) echo "mailbox $seconds ${1#mailbox_}" ;;
  esac
}
parley_benchmark() {
  case "$1" in
    pingpong) echo "BM_ParleyPingPong" ;;
    spawn) echo "BM_SpawnAndExit" ;;
    memory) echo "BM_IdleActorMemory/100000" ;;
    fanout_*) echo "BM_ActorFanOut/${1#fanout_}" ;;
    mailbox_off_heap_*) echo "BM_Mailbox/${1#mailbox_off_heap_}" ;;
    mailbox_*) echo "BM_Mailbox/${1#mailbox_}" ;;
  esac
}
counter() {
  case "$1" in
    pingpong) echo "round_trips_per_s" ;;
    spawn) echo "spawns_per_s" ;;
    memory) echo "bytes_per_idle_actor" ;;
    fanout_*) echo "deliveries_per_s" ;;
    mailbox_*) echo "msgs_per_s" ;;
  esac
}
# Google Benchmark appends /real_time or /iterations:1 to the registered
# name, hence (/|$) rather than $ alone.
parley_filter() { echo "^$(parley_benchmark "$1")(/|\$)"; }
parley_args() { # WORKLOAD -> the benchmark binary's arguments
  local a=("--benchmark_filter=$(parley_filter "$1")")
  # The memory benchmark runs a fixed single iteration.
  [ "$1" = memory ] || a+=("--benchmark_min_time=$seconds")
  a+=(--benchmark_format=json)
  echo "${a[@]}"
}

if ! "$bench" --benchmark_list_tests >"$work/tests" 2>"$work/err"; then
  echo "$prog: error: $bench --benchmark_list_tests failed:" >&2
  sed 's/^/  /' "$work/err" >&2
  exit 1
fi
declare -A present=()
for w in "${workloads[@]}"; do
  if grep -Eq "$(parley_filter "$w")" "$work/tests"; then present[$w]=1; else present[$w]=0; fi
done

results="$work/results.tsv" # workload, column, run, value (a number, n/a or failed)
: >"$results"
failed=0

run_erlang() { # WORKLOAD RUN
  local w="$1" run="$2" args out value rss status=0
  read -r -a args <<<"$(erlang_args "$w")"
  timeout "$limit" erl -noshell -pa "$work" -run parley_peer main "${args[@]}" \
    >"$work/out" 2>"$work/err" </dev/null || status=$?
  # "LABEL COUNTER VALUE [rss_bytes_per_idle_actor VALUE]"
  out="$(grep -E "^[a-z_0-9]+ $(counter "$w") " "$work/out" | tail -1 || true)"
  value="$(echo "$out" | awk '{ print $3 }')"
  if [ $status -ne 0 ] || [ -z "$value" ]; then
    echo "$prog: Erlang $w run $run failed (status $status):" >&2
    sed 's/^/  /' "$work/out" "$work/err" >&2
    value=failed
    failed=1
  fi
  printf '%s\terlang\t%s\t%s\n' "$w" "$run" "$value" >>"$results"
  rss="$(echo "$out" | awk '$4 == "rss_bytes_per_idle_actor" { print $5 }')"
  [ -z "$rss" ] || printf '%s\terlang_rss\t%s\t%s\n' "$w" "$run" "$rss" >>"$results"
  echo "$prog: run $run $w: Erlang $value" >&2
}

run_parley() { # WORKLOAD RUN POLICY
  local w="$1" run="$2" policy="$3" args value status=0
  if [ "${present[$w]}" = 0 ]; then
    printf '%s\t%s\t%s\tn/a\n' "$w" "$policy" "$run" >>"$results"
    return
  fi
  read -r -a args <<<"$(parley_args "$w")"
  PARLEY_SCHEDULER="$policy" timeout "$limit" "$bench" "${args[@]}" \
    >"$work/out.json" 2>"$work/err" </dev/null || status=$?
  value="$(python3 -c '
import json, sys
counter = sys.argv[2]
try:
    doc = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit(0)
for b in doc.get("benchmarks", []):
    if b.get("run_type", "iteration") != "iteration" or b.get("error_occurred"):
        continue
    if counter in b:
        print(repr(float(b[counter])))
        break
' "$work/out.json" "$(counter "$w")")" || value=""
  if [ $status -ne 0 ] || [ -z "$value" ]; then
    echo "$prog: Parley ($policy) $w run $run failed (status $status):" >&2
    sed 's/^/  /' "$work/err" >&2
    grep -h '"error_message"' "$work/out.json" 2>/dev/null | sed 's/^ */  /' >&2 || true
    value=failed
    failed=1
  fi
  printf '%s\t%s\t%s\t%s\n' "$w" "$policy" "$run" "$value" >>"$results"
  echo "$prog: run $run $w: Parley ($policy) $value" >&2
}

started="$(date -u '+%Y-%m-%d %H:%M UTC')"
for run in $(seq "$runs"); do
  for w in "${workloads[@]}"; do
    run_erlang "$w" "$run"
    for p in "${policies[@]}"; do
      run_parley "$w" "$run" "$p"
    done
  done
done

otp="$(erl -noshell -eval 'io:format("~s~n",[erlang:system_info(otp_release)]), halt().')"
erts="$(erl -noshell -eval 'io:format("~s ~p~n",[erlang:system_info(version), erlang:system_info(schedulers_online)]), halt().')"
bench_shown="${bench#"$root"/}"

python3 - "$results" "$runs" "${policies_arg}" "${only_arg}" <<'PY'
import math, statistics, sys

results, runs, policies, workloads = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(","), sys.argv[4].split(",")
cells = {}
for line in open(results):
    w, col, _run, value = line.rstrip("\n").split("\t")
    cells.setdefault((w, col), []).append(value)

def label(w):
    if w == "pingpong": return "ping-pong: round trips/s"
    if w == "spawn": return "spawn + exit: spawns/s"
    if w == "memory": return "memory: bytes per idle actor (lower is better)"
    if w.startswith("fanout_"): return f"fan-out to {int(w[7:]):,}: deliveries/s"
    if w.startswith("mailbox_off_heap_"): return f"mailbox, {int(w[17:]):,} senders, Erlang off_heap: msgs/s"
    return f"mailbox, {int(w[8:]):,} senders: msgs/s"

def scale(v):
    if v >= 1e6: return 1e6, " M"
    if v >= 1e4: return 1e3, " k"
    return 1.0, ""

def num(v, div):
    x = v / div
    decimals = 0 if x == 0 else max(0, 2 - int(math.floor(math.log10(abs(x)))))
    return f"{x:,.{decimals}f}"

def summary(values):
    """(median or None, cell text)"""
    if not values or all(v == "n/a" for v in values): return None, "n/a"
    numbers = [float(v) for v in values if v not in ("n/a", "failed")]
    if not numbers: return None, "failed"
    med = statistics.median(numbers)
    div, unit = scale(med)
    text = f"{num(med, div)}{unit}"
    if len(numbers) > 1:
        text += f" ({num(min(numbers), div)}–{num(max(numbers), div)})"
    bad = len(values) - len(numbers)
    if bad: text += f", {bad} of {len(values)} failed"
    return med, text

head = ["workload", "Erlang"]
for p in policies: head += [f"Parley {p}", "÷ Erlang"]
print("| " + " | ".join(head) + " |")
print("|---|" + "---:|" * (len(head) - 1))
notes = []
for w in workloads:
    erl, erl_text = summary(cells.get((w, "erlang"), []))
    row = [label(w), erl_text]
    for p in policies:
        med, text = summary(cells.get((w, p), []))
        row += [text, f"{med / erl:.2f}×" if med is not None and erl else "–"]
    print("| " + " | ".join(row) + " |")
    rss, rss_text = summary(cells.get((w, "erlang_rss"), []))
    if rss is not None:
        notes.append(f"Erlang's memory figure is the growth of erlang:memory(processes); the VM's resident set "
                     f"grew by {rss_text} bytes per idle process (Parley's figure is resident-set growth).")
for n in notes:
    print(); print(n)
PY

echo
echo "Date: $started. Runs: $runs per cell, alternating (each run: Erlang, then Parley under ${policies[*]}); $seconds s per timed run."
echo "Erlang/OTP $otp (erts ${erts% *}, ${erts##* } schedulers online), VM flags: defaults (erl -noshell). Machine: $(nproc) cores, $(uname -srm)."
echo "Parley: $bench_shown (built $(date -u -r "$bench" '+%Y-%m-%d %H:%M UTC'))."
echo
echo "Commands (DIR holds parley_peer.beam):"
echo
echo "    erlc -o DIR bench/peers/erlang/parley_peer.erl"
for w in "${workloads[@]}"; do
  echo "    erl -noshell -pa DIR -run parley_peer main $(erlang_args "$w")"
  if [ "${present[$w]}" = 1 ]; then
    min_time="--benchmark_min_time=$seconds "
    [ "$w" != memory ] || min_time=""
    echo "    PARLEY_SCHEDULER=<policy> $bench_shown --benchmark_filter='$(parley_filter "$w")' ${min_time}--benchmark_format=json   # counter $(counter "$w")"
  else
    echo "    # $(parley_benchmark "$w"): not in $bench_shown (n/a)"
  fi
done
exit $failed
