#!/usr/bin/env bash
# Build maplog and run every test: a warnings-as-errors build, then ASan+UBSan, then TSan.
# Usage: scripts/test.sh [quick|asan|tsan|all|long]   (default all; quick = the first build
#   only; long = the first build only, with the long variants)
# The long variants (the MAPLOG_LONG_TESTS build option) flip every bit of every byte in the
# corruption sweep and run the kill and power-loss tests for 4x and 10x their rounds;
# MAPLOG_LONG_TESTS=1 in the environment adds them to any of the runs above.
# Fuzzing is scripts/fuzz.sh; the benchmark's peer stores come with scripts/deps.sh --bench.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
long=OFF
if [ "$what" = long ] || [ "${MAPLOG_LONG_TESTS:-0}" = 1 ]; then
  long=ON
fi
scripts/deps.sh
jobs="$(nproc)"
run() { # name, cmake args...
  local name="$1"; shift
  echo "=== $name build ==="
  cmake -S . -B "build/$name" -DMAPLOG_WERROR=ON -DMAPLOG_LONG_TESTS="$long" "$@" >/dev/null
  cmake --build "build/$name" -j"$jobs" >"build/$name.log" 2>&1 || { cat "build/$name.log"; exit 1; }
  (cd "build/$name" && ctest --output-on-failure -j"$jobs")
}
case "$what" in
  quick | long) run default ;;
  asan) run asan -DMAPLOG_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug ;;
  tsan) run tsan -DMAPLOG_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
  all)
    run default
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
      run asan -DMAPLOG_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
      run tsan -DMAPLOG_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo
    ;;
  *) echo "usage: scripts/test.sh [quick|asan|tsan|all|long]" >&2; exit 2 ;;
esac
echo "=== all test builds passed ==="
