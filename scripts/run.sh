#!/usr/bin/env bash
# Installs what is missing, builds the release preset and runs the main
# program on its embedded defaults. Until the gateway exists that is the
# Pinger/Ponger example; extra arguments go to it (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target ping_pong
exec build/release/examples/ping_pong "$@"
