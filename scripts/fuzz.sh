#!/usr/bin/env bash
# Build the libFuzzer targets with clang and run each for a set time.
# Usage: scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default 60 s, every target)
#        scripts/fuzz.sh --regen    rewrite the seed corpus (fuzz/corpus) from the writer
# Each target starts from fuzz/corpus/T plus what earlier runs found (fuzz/work/T, not
# committed); a crash leaves its input in fuzz/artifacts/ -- fix the bug, then copy the
# input into fuzz/corpus/T so ctest replays it from then on.  Prints executions and
# coverage per target.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh --fuzz
cmake -S . -B build/fuzz -DCMAKE_C_COMPILER=clang -DMAPLOG_BUILD_FUZZ=ON -DMAPLOG_BUILD_TESTS=OFF \
  -DMAPLOG_BUILD_TOOLS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/fuzz -j"$(nproc)" >/dev/null
if [ "${1:-}" = "--regen" ]; then
  rm -rf fuzz/corpus/header fuzz/corpus/records fuzz/corpus/recovery fuzz/corpus/dir
  build/fuzz/fuzz/gen_corpus fuzz/corpus
  exit 0
fi
secs="${1:-60}"; shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(header records recovery dir dump import cursor decode archive)
mkdir -p fuzz/artifacts
for t in "${targets[@]}"; do
  [ -x "build/fuzz/fuzz/fuzz_$t" ] || { echo "no target $t"; continue; }
  mkdir -p "fuzz/work/$t"
  echo "=== fuzz_$t for ${secs}s"
  ASAN_OPTIONS=detect_leaks=1 "build/fuzz/fuzz/fuzz_$t" -max_total_time="$secs" -max_len=262144 \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="fuzz/artifacts/$t-" \
    "fuzz/work/$t" "fuzz/corpus/$t" 2>&1 | grep -E "stat::number_of_executed_units|cov:|ERROR|SUMMARY|Test unit written|DONE" | tail -4
done
