#!/usr/bin/env bash
# Installs the Debian 12 packages Parley builds and tests with, if missing.
# Runs `apt-get update` once and only when something has to be installed.
set -euo pipefail

packages=(
  g++ cmake make ccache pkg-config
  libcaf-dev libboost1.81-dev libcli11-dev libspdlog-dev
  libprotobuf-dev protobuf-compiler libsqlite3-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
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
