#!/usr/bin/env bash
# Sets up and runs the cmklogs server on its embedded defaults (port 8443, ./cmklogs-data).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cmake -S . -B build-release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-release --target cmklogs
exec build-release/cmklogs serve "$@"
