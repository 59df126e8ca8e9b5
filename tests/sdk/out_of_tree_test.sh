#!/usr/bin/env bash
# The SDK from outside: install this build into a temporary prefix, build
# examples/out_of_tree (a gateway with an echo bot of its own) against it with
# find_package(Parley), and run it: --version, --help listing its behaviour,
# a room that gets the bot from --room-behavior and one that does not, and a
# clean stop on SIGTERM. parley-cli is the client.
#
#   bash tests/sdk/out_of_tree_test.sh BUILD_DIR PARLEY_CLI
set -euo pipefail

build=$(realpath "$1")
cli=$(realpath "$2")
src=$(cd "$(dirname "$0")/../.." && pwd)
source "$src/tests/support/gateway_process.sh"
work_folder parley-sdk-test

echo "== install into $work/prefix"
cmake --install "$build" --prefix "$work/prefix" --component sdk >/dev/null
inc="$work/prefix/include/parley"
[[ -f "$inc/gateway/run.hpp" ]] || fail "run.hpp is not installed"
[[ -f "$inc/actors/room_behavior.hpp" ]] || fail "room_behavior.hpp is not installed"
[[ -f "$inc/v1/parley.pb.h" ]] || fail "the generated protocol header is not installed"
[[ -f "$work/prefix/share/parley/proto/parley/v1/parley.proto" ]] || fail "the schema is not installed"
[[ ! -e "$inc/gateway/internal" ]] || fail "internal headers were installed"
[[ ! -e "$inc/gateway/session.hpp" ]] || fail "the gateway's socket session header was installed"
[[ -f "$inc/client/session.hpp" ]] || fail "the client's session header (public) is not installed"
for f in ParleyConfig.cmake ParleyConfigVersion.cmake ParleyTargets.cmake FindCAF.cmake; do
  [[ -f "$work/prefix/lib/cmake/Parley/$f" ]] || fail "lib/cmake/Parley/$f is not installed"
done

echo "== a version this SDK is not is refused"
mkdir -p "$work/too-new"
cat > "$work/too-new/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.25)
project(too_new LANGUAGES CXX)
find_package(Parley 9.0 CONFIG REQUIRED)
CMAKE
if cmake -S "$work/too-new" -B "$work/too-new/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
     >"$work/too-new.log" 2>&1; then
  fail "find_package(Parley 9.0) found this $(grep -m1 VERSION "$src/CMakeLists.txt")"
fi
grep -q "ParleyConfig.cmake, version: " "$work/too-new.log" || fail "no version message: $(cat "$work/too-new.log")"

echo "== build examples/out_of_tree against it"
cmake -S "$src/examples/out_of_tree" -B "$work/build" -DCMAKE_PREFIX_PATH="$work/prefix" \
  -DCMAKE_BUILD_TYPE=Debug >"$work/configure.log" 2>&1 || { cat "$work/configure.log" >&2; fail "configure"; }
cmake --build "$work/build" -j2 >"$work/build.log" 2>&1 || { tail -50 "$work/build.log" >&2; fail "build"; }
gw="$work/build/echo-gateway"

echo "== --version and --help"
version=$("$gw" --version)
# A user's gateway says what it is built on, not that it is Parley's.
[[ "$version" == "echo-gateway (on Parley "*", commit "* ]] || fail "--version said: $version"
help=$("$gw" --help) || fail "--help exited $?"
grep -q "echo-bot: answers /echo TEXT with who said it" <<<"$help" || fail "--help does not list echo-bot: $help"
if "$gw" --room-behavior='x=dice-bot' 2>"$work/refused.log"; then fail "an unknown behaviour started"; fi
grep -q "no behaviour called 'dice-bot' (known: echo-bot)" "$work/refused.log" \
  || fail "refusal said: $(cat "$work/refused.log")"

echo "== run it"
start_gateway "$gw" --store=memory --room-behavior='echo:*=echo-bot'
url="ws://127.0.0.1:$port/ws"

"$cli" --url="$url" --user=ann publish echo:1 '/echo hi there' >"$work/pub.json" || fail "publish to echo:1"
"$cli" --url="$url" join echo:1 >"$work/echo.json" || fail "join echo:1"
grep -q '"sender":"#echo-bot","text":"~ann said: hi there"' "$work/echo.json" \
  || fail "echo:1 has no answer from the bot: $(cat "$work/echo.json")"
grep -q '"text":"/echo hi there"' "$work/echo.json" && fail "the bot's command was published as sent"

"$cli" --url="$url" --user=ann publish lobby '/echo hi there' >/dev/null || fail "publish to lobby"
"$cli" --url="$url" join lobby >"$work/lobby.json" || fail "join lobby"
grep -q '"text":"/echo hi there"' "$work/lobby.json" || fail "lobby lost the message: $(cat "$work/lobby.json")"
grep -q 'echo-bot' "$work/lobby.json" && fail "lobby has a bot it was not given"

echo "== stop"
stop_gateway
grep -q "echo-gateway stopped" "$work/gw.log" || fail "no 'stopped' line"
echo "OK: an out-of-tree gateway built against the installed SDK runs its own behaviour"
