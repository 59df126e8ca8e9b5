#!/usr/bin/env bash
# Installs what is missing, builds the release preset and runs the main
# program on its embedded defaults: parley-gateway on 127.0.0.1:8080, room
# history in SQLite under data/ in the repository (kept across restarts),
# nothing else to start. Extra arguments go to it (try --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release --target parley-gateway
exec build/release/gateway/parley-gateway --data-dir=data "$@"
