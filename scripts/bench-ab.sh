#!/usr/bin/env bash
# Compare the speed of two commits in one sitting: build maplog-bench from each (in
# throw-away worktrees, Release), run them in turn ROUNDS times, and print, for every row
# of the bench's CSV, the median of each commit's medians and the ratio.  Interleaving the
# runs spreads the machine's drift (10-30% here between runs) over both commits.
# Run it alone: the machine's other work is noise in the figures.
#
# Usage: scripts/bench-ab.sh [--rounds N] BEFORE AFTER [-- BENCH-ARGS...]
#   e.g. scripts/bench-ab.sh --rounds 3 HEAD~5 HEAD -- --only append,replay,latency
#        --sizes 64,4096 --threads 1
# The bench source of each commit is the one built: compare commits whose bench rows agree.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=3
if [ "${1:-}" = "--rounds" ]; then
  rounds="$2"
  shift 2
fi
[ $# -ge 2 ] || { echo "usage: scripts/bench-ab.sh [--rounds N] BEFORE AFTER [-- BENCH-ARGS...]" >&2; exit 2; }
case "$rounds" in '' | *[!0-9]*) echo "bench-ab: --rounds wants a whole number" >&2; exit 2 ;; esac
before="$(git rev-parse --verify "$1^{commit}")"
after="$(git rev-parse --verify "$2^{commit}")"
shift 2
[ "${1:-}" != "--" ] || shift
work="$(mktemp -d "${TMPDIR:-/tmp}/maplog-ab-XXXXXX")"
cleanup() {
  git worktree remove --force "$work/before" >/dev/null 2>&1 || true
  git worktree remove --force "$work/after" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
for side in before after; do
  rev="${!side}"
  git worktree add --detach -q "$work/$side" "$rev"
  cmake -S "$work/$side" -B "$work/$side/build" -DCMAKE_BUILD_TYPE=Release \
    -DMAPLOG_BUILD_TESTS=OFF >/dev/null
  cmake --build "$work/$side/build" -j"$(nproc)" --target maplog-bench >/dev/null
  echo "built $side: $(git log --oneline -1 "$rev")"
done
mkdir -p "$work/runs"
for r in $(seq 1 "$rounds"); do
  for side in before after; do
    echo "round $r: $side"
    "$work/$side/build/tools/maplog-bench" --dir "$work/runs" --csv "$work/$side-$r.csv" "$@" \
      >"$work/$side-$r.txt"
  done
done
python3 - "$work" "$rounds" <<'EOF'
import csv, statistics, sys
work, rounds = sys.argv[1], int(sys.argv[2])
rows = {}
order = []
for side in ("before", "after"):
    for r in range(1, rounds + 1):
        with open("%s/%s-%d.csv" % (work, side, r), newline="") as f:
            for row in csv.DictReader(f):
                if row["workload"] == "target":
                    continue
                key = (row["workload"], row["system"], row["size"], row["threads"])
                if key not in rows:
                    rows[key] = {"before": [], "after": []}
                    order.append(key)
                try:
                    rows[key][side].append(float(row["median"]))
                except ValueError:
                    pass
print("\n%-9s %-34s %6s %3s %14s %14s %7s" % ("workload", "system", "size", "thr", "before",
                                              "after", "after/before"))
for key in order:
    b, a = rows[key]["before"], rows[key]["after"]
    if not b or not a:
        continue
    mb, ma = statistics.median(b), statistics.median(a)
    print("%-9s %-34s %6s %3s %14.0f %14.0f %7.3f" % (key[0], key[1][:34], key[2], key[3], mb, ma,
                                                      ma / mb if mb else float("nan")))
print("\n(medians of %d interleaved runs of each; latency rows are ns, lower is better)" % rounds)
EOF
