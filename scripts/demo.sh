#!/usr/bin/env bash
# Build maplog and run the demo: log events, SIGKILL the writer, recover, replay, dump.
# Usage: scripts/demo.sh [DIR] [MILLISECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DMAPLOG_BUILD_TESTS=OFF >/dev/null
cmake --build build/release -j"$(nproc)" >/dev/null
exec build/release/tools/maplog-demo "${1:-demo-log}" "${2:-700}"
