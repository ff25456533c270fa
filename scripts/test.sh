#!/usr/bin/env bash
# Build maplog and run every test: a warnings-as-errors build, then ASan+UBSan, then TSan.
# Usage: scripts/test.sh [quick|asan|tsan|all]   (default all; quick = the first build only)
# Long soak and fuzz runs are not here: see scripts/soak.sh and fuzz/run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
what="${1:-all}"
scripts/deps.sh
jobs="$(nproc)"
run() { # name, cmake args...
  local name="$1"; shift
  echo "=== $name build ==="
  cmake -S . -B "build/$name" -DMAPLOG_WERROR=ON "$@" >/dev/null
  cmake --build "build/$name" -j"$jobs" >"build/$name.log" 2>&1 || { cat "build/$name.log"; exit 1; }
  (cd "build/$name" && ctest --output-on-failure -j"$jobs")
}
case "$what" in
  quick) run default ;;
  asan) run asan -DMAPLOG_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug ;;
  tsan) run tsan -DMAPLOG_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo ;;
  all)
    run default
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
      run asan -DMAPLOG_SANITIZE=address -DCMAKE_BUILD_TYPE=Debug
    TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
      run tsan -DMAPLOG_SANITIZE=thread -DCMAKE_BUILD_TYPE=RelWithDebInfo
    ;;
  *) echo "usage: scripts/test.sh [quick|asan|tsan|all]" >&2; exit 2 ;;
esac
echo "=== all test builds passed ==="
