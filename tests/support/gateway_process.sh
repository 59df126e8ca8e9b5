# Sourced by the shell tests that run a gateway binary as a user would
# (tests/sdk/, tests/packaging/): a work folder removed on exit, `fail` that
# shows the gateway's log, and start/stop of one gateway process.
#
#   work_folder NAME        make $work (/tmp/NAME.XXXXXX), removed on exit
#   fail WHAT...            print FAIL and the gateway's log, exit 1
#   start_gateway BIN ARGS  run BIN --port=0 ARGS, logging to $work/gw.log;
#                           sets $gw_pid and $port once it says it listens
#   stop_gateway            SIGTERM, then fail unless it exits 0

work=
gw_pid=

work_folder() {
  work=$(mktemp -d "/tmp/$1.XXXXXX")
  trap _gateway_cleanup EXIT
}

_gateway_cleanup() {
  [[ -n "$gw_pid" ]] && kill -KILL "$gw_pid" 2>/dev/null || true
  [[ -n "$work" ]] && rm -rf "$work"
}

fail() {
  echo "FAIL: $*" >&2
  [[ -f "$work/gw.log" ]] && sed 's/^/  gateway: /' "$work/gw.log" >&2
  exit 1
}

start_gateway() {
  local bin=$1 name
  shift
  name=$(basename "$bin")
  "$bin" --port=0 "$@" 2>"$work/gw.log" &
  gw_pid=$!
  port=
  # The program prints "NAME listening on ADDRESS:PORT" once the port is
  # open; wait for that line (up to 30 s), not for a fixed time.
  for _ in $(seq 1 300); do
    port=$(sed -n "s/^$name listening on 127\\.0\\.0\\.1:\\([0-9]*\\).*/\\1/p" "$work/gw.log")
    [[ -n "$port" ]] && return 0
    kill -0 "$gw_pid" 2>/dev/null || fail "the gateway ended before listening"
    sleep 0.1
  done
  fail "the gateway did not say where it listens"
}

stop_gateway() {
  local status=0
  kill -TERM "$gw_pid"
  wait "$gw_pid" || status=$?
  gw_pid=
  [[ $status -eq 0 ]] || fail "the gateway exited $status after SIGTERM"
}
