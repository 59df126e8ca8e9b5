#!/usr/bin/env bash
# Installs the Debian 12 packages Parley builds and tests with, if missing.
# Runs `apt-get update` once and only when something has to be installed.
#   deps.sh          what building and running needs
#   deps.sh --test   also what the tests need: Chromium, Node.js and the npm
#                    packages of tests/js and bench/peers/ws-server
#   deps.sh --bench  also Erlang/OTP, the peer of scripts/bench-erlang.sh
set -euo pipefail
with_tests=0
with_bench=0
case "${1:-}" in
  --test) with_tests=1 ;;
  --bench) with_bench=1 ;;
  "") ;;
  *) echo "deps.sh: unknown argument '$1' (--test or --bench)" >&2; exit 2 ;;
esac

packages=(
  g++ cmake make ccache pkg-config
  libcaf-dev libboost1.81-dev libboost-url1.81-dev libboost-json1.81-dev libcli11-dev libspdlog-dev libtomlplusplus-dev
  libprotobuf-dev protobuf-compiler libsqlite3-dev libsqlitecpp-dev libpq-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  prometheus-cpp-dev openssl libxxhash-dev iproute2 libjwt-dev libicu-dev libsystemd-dev
  # cpack -G DEB: dpkg-shlibdeps (dpkg-dev) and file read the binaries' needs.
  dpkg-dev file
)
if [ $with_tests -eq 1 ]; then
  packages+=(chromium)
  # systemd-analyze verify checks the packaged unit.
  packages+=(systemd)
  # The PostgreSQL store's tests start a server of their own (initdb,
  # pg_ctl), as an unprivileged user they create when run as root.
  packages+=(postgresql-15 passwd util-linux)
  # The browser and interop tests run Node.js; keep a newer one if present.
  command -v node >/dev/null || packages+=(nodejs)
  command -v npm >/dev/null || packages+=(npm)
fi

if [ $with_bench -eq 1 ]; then
  packages+=(erlang-base erlang-dev python3)
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# The npm packages of the JavaScript tests (ws, protobufjs, playwright-core),
# pinned by tests/js/package-lock.json, and of the Node ws peer that
# parley-bench is compared with (ws), pinned by its own lock. Playwright uses
# Debian's chromium, so no browser is downloaded.
install_js() {
  [ $with_tests -eq 1 ] || return 0
  local root rel dir
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  for rel in tests/js bench/peers/ws-server; do
    dir="$root/$rel"
    if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
      echo "deps.sh: npm ci in $rel" >&2
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
      touch "$dir/node_modules"
    fi
  done
}

if [ ${#missing[@]} -eq 0 ]; then
  install_js
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "deps.sh: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update
$sudo apt-get install -y --no-install-recommends "${missing[@]}"
install_js
