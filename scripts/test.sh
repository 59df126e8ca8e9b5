#!/usr/bin/env bash
# Installs what is missing, builds with AddressSanitizer + UBSan, runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh --test
cmake --workflow --preset debug-asan
