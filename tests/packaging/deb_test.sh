#!/usr/bin/env bash
# The Debian packages, built and used as a machine would: cpack -G DEB from
# this build, the control data (dependencies from dpkg-shlibdeps, the
# conffile, the maintainer scripts), the files unpacked with dpkg-deb -x into
# a temporary root, the unit accepted by systemd-analyze verify, every
# gateway flag present in the packaged gateway.toml, and the packaged binary
# run with the packaged configuration until it drains on SIGTERM.
#
#   bash tests/packaging/deb_test.sh BUILD_DIR
set -euo pipefail

build=$(realpath "$1")
source "$(dirname "$0")/../support/gateway_process.sh"
work_folder parley-deb-test

echo "== cpack -G DEB"
(cd "$work" && cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/out") >"$work/cpack.log" 2>&1 \
  || { tail -30 "$work/cpack.log" >&2; fail "cpack"; }
deb=$(ls "$work"/out/parley_*.deb 2>/dev/null | head -1 || true)
dev=$(ls "$work"/out/parley-dev_*.deb 2>/dev/null | head -1 || true)
[[ -f "$deb" ]] || fail "no parley_*.deb in $(ls "$work/out")"
[[ -f "$dev" ]] || fail "no parley-dev_*.deb in $(ls "$work/out")"

echo "== control data"
control=$(dpkg-deb -f "$deb")
grep -q '^Package: parley$' <<<"$control" || fail "package name: $control"
depends=$(dpkg-deb -f "$deb" Depends)
# From the binaries, not a hand-written list.
for lib in libcaf-core0.17 libcaf-io0.17 libsystemd0 libicu72 libprotobuf32 libsqlite3-0 libssl3 libjwt; do
  grep -q "$lib" <<<"$depends" || fail "Depends lacks $lib: $depends"
done
mkdir "$work/control"
dpkg-deb -e "$deb" "$work/control"
grep -qx '/etc/parley/gateway.toml' "$work/control/conffiles" || fail "gateway.toml is not a conffile"
grep -q '^Depends:.*adduser' <<<"$control" || fail "postinst uses adduser, which Depends lacks"
for s in postinst prerm postrm; do
  [[ -x "$work/control/$s" ]] || fail "$s is missing or not executable"
  sh -n "$work/control/$s" || fail "$s is not valid sh"
done
dev_depends=$(dpkg-deb -f "$dev" Depends)
grep -q 'libcaf-dev' <<<"$dev_depends" || fail "parley-dev does not depend on libcaf-dev: $dev_depends"

echo "== files"
root="$work/root"
dpkg-deb -x "$deb" "$root"
dpkg-deb -x "$dev" "$work/devroot"
for f in usr/bin/parley-gateway usr/bin/parley-cli etc/parley/gateway.toml \
         usr/lib/systemd/system/parley-gateway.service usr/share/doc/parley/deploy.md \
         usr/share/doc/parley/copyright; do
  [[ -e "$root/$f" ]] || fail "the package has no /$f"
done
[[ -f "$work/devroot/usr/include/parley/gateway/run.hpp" ]] || fail "parley-dev has no run.hpp"
find "$work/devroot/usr/lib" -path '*/cmake/Parley/ParleyConfig.cmake' | grep -q . \
  || fail "parley-dev has no ParleyConfig.cmake"
[[ ! -e "$work/devroot/usr/include/parley/gateway/internal" ]] || fail "parley-dev ships internal headers"

echo "== the unit"
unit="$root/usr/lib/systemd/system/parley-gateway.service"
grep -q '^Type=notify$' "$unit" || fail "the unit is not Type=notify"
# verify checks that ExecStart exists: point it at the unpacked binary.
sed "s|/usr/bin/parley-gateway|$root/usr/bin/parley-gateway|" "$unit" >"$work/parley-gateway.service"
systemd-analyze verify "$work/parley-gateway.service" 2>"$work/verify.log" \
  || fail "systemd-analyze verify: $(cat "$work/verify.log")"
# Warnings about the unit name it; notices about the host (no systemd as PID 1
# in a container) do not.
! grep -q 'parley-gateway.service' "$work/verify.log" || fail "systemd-analyze verify warns: $(cat "$work/verify.log")"

echo "== every flag is in gateway.toml"
conf="$root/etc/parley/gateway.toml"
help=$(ASAN_OPTIONS=detect_leaks=0 "$root/usr/bin/parley-gateway" --help) || fail "--help"
keys=$(grep -oE '^\s+--[a-z][a-z0-9-]*' <<<"$help" | sed -E 's/^\s+--//' | grep -vxE 'help|version|config')
[[ $(wc -l <<<"$keys") -gt 40 ]] || fail "found only $(wc -l <<<"$keys") flags in --help"
for k in $keys; do
  grep -qE "^(# )?$k = " "$conf" || fail "gateway.toml has no line for $k"
done
while read -r k; do
  grep -qx "$k" <<<"$keys" || fail "gateway.toml names $k, which the gateway does not know"
done < <(sed -nE 's/^(# )?([a-z][a-z0-9-]*) = .*/\2/p' "$conf")

echo "== run the packaged binary with the packaged configuration"
"$root/usr/bin/parley-gateway" --version | grep -q '^parley-gateway ' || fail "--version"
mkdir "$work/data"
# The file says data-dir = /var/lib/parley (systemd's StateDirectory); a flag
# beats the file, as on the unit's command line.
start_gateway "$root/usr/bin/parley-gateway" --config="$conf" --data-dir="$work/data"
"$root/usr/bin/parley-cli" --url="ws://127.0.0.1:$port/ws" --user=ann publish lobby 'from the package' \
  >/dev/null || fail "publish"
"$root/usr/bin/parley-cli" --url="ws://127.0.0.1:$port/ws" join lobby | grep -q 'from the package' \
  || fail "the message is not in the lobby"
stop_gateway
ls "$work/data" | grep -q . || fail "nothing in the data folder"
echo "OK: the packages install a gateway that runs as packaged"
