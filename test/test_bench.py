#!/usr/bin/env python3
"""test_bench.py -- maplog-bench runs end to end, and keeps to its own work directory.

Usage: test_bench.py MAPLOG_BENCH --peers=LMDB,SQLite,RocksDB [--peers-off]
(ctest passes the peer stores CMake compiled into the bench, maybe none; --peers-off when
it was built with MAPLOG_BENCH_PEERS=OFF.)

A short run (--quick, 64-byte records, one thread) must exit 0 and print the rows the
closing notes rely on: the limits, the new-pages cost, maplog's rows, the read-walk limit
and the performance targets with their bounds.  Its header must name the peers compiled
in, the same ones CMake did.  Each peer compiled in must have its append and replay rows
(LMDB also its two targets and the read-walk bound); a peer not compiled in must have none,
and is reported as skipped with the package that brings it in.  The --csv file must parse
as CSV with nine fields in every row (names and notes hold commas).  The --dir it is given
already holds a file: the bench must leave it alone and remove only the work directory it
made there.  The run gives --only and --sizes as --opt=value, the rest as --opt value, and
its rows must be those of the values given.

A short run of the follow group (--quick --only follow), whose followers are forked
processes, must exit 0 with every one of its rows a figure (none FAILED), in the CSV too,
and leave nothing behind in its --dir.

Options are strict: a number that is not all digits or out of range, an --only name that
is not a workload's whole name, and a bad --sizes list are usage errors (exit 2) naming the
option; --help exits 0.  maplog-demo, from the same build directory, refuses a
MILLISECONDS that is not a whole number the same way.
"""
import argparse
import csv
import os
import subprocess
import sys
import tempfile

# name: (Debian package, the rows' system name, lines only this peer's presence prints,
#        CSV target rows only it makes)
PEERS = {
    "LMDB": ("liblmdb-dev", "LMDB MDB_APPEND",
             ["append, maplog / LMDB", "replay, maplog batch / LMDB cursor",
              "bound: the mmap read walk"],
             ["append, maplog / LMDB", "replay, maplog batch / LMDB cursor"]),
    "SQLite": ("libsqlite3-dev", "SQLite WAL", [], []),
    "RocksDB": ("librocksdb-dev", "RocksDB WAL", [], []),
}

ap = argparse.ArgumentParser()
ap.add_argument("bench")
ap.add_argument("--peers", required=True, help="comma-separated peers compiled in")
ap.add_argument("--peers-off", action="store_true")
a = ap.parse_args()
peers_in = [p for p in a.peers.split(",") if p]
unknown = [p for p in peers_in if p not in PEERS]
if unknown:
    sys.exit(f"FAIL: test_bench.py knows no peer {unknown} (it knows {list(PEERS)})")

failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def rows_of(out, workload, system):
    return [l for l in out.splitlines() if l.startswith(f"  {workload:<8} {system} ")]


with tempfile.TemporaryDirectory(prefix="bench-smoke-") as d:
    sentinel = os.path.join(d, "not-the-bench's")
    with open(sentinel, "w") as f:
        f.write("keep me\n")
    csv_path = os.path.join(d, "..", os.path.basename(d) + ".csv")
    cmd = [a.bench, "--dir", d, "--quick", "--only=append,replay", "--sizes=64",
           "--threads", "1", "--csv", csv_path]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    out = r.stdout
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}\n{out}\n{r.stderr}")

    # rows and lines that need no peer
    for want in ["limit: memcpy shared map", "cost: new file pages", "  append   maplog ",
                 "maplog (no rollover)", "limit: mmap read walk", "  replay   maplog ",
                 "the project's performance targets", "append, maplog / write(2)",
                 "  replay   maplog, next_batch (64) ", "  replay-cold maplog, next_batch (64) ",
                 "replay, maplog batch / read(2)", "replay cold, maplog batch / best cold reader",
                 "bound: two cores only faulting in new pages"]:
        check(want in out, f"the output has '{want}'")

    # the values given as --opt=value were taken: only these workloads, only this size
    check(not [l for l in out.splitlines() if l.startswith("  latency ")],
          "no latency rows: --only=append,replay was taken")
    check(not [l for l in out.splitlines() if l.startswith("  append ") and " 256 B " in l],
          "no 256-byte rows: --sizes=64 was taken")

    # the header names the peers compiled in: the same as CMake's list
    line = next((l for l in out.splitlines() if l.startswith("peers: ")), None)
    check(line is not None, "the header has a 'peers: ' line")
    named = []
    if line:
        head = line[len("peers: "):].split(";")[0].strip()
        named = [] if head == "none" else [p.strip() for p in head.split(",")]
    check(sorted(named) == sorted(peers_in),
          f"the bench says it has peers {named}; CMake compiled in {peers_in} ({line!r})")

    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    os.unlink(csv_path)
    targets = {r[1] for r in rows if r and r[0] == "target"}

    # each peer: checked when compiled in, absent and said to be skipped when not
    for name, (package, system, lines, target_rows) in PEERS.items():
        if name in peers_in:
            for workload in ["append", "replay"]:
                check(rows_of(out, workload, system), f"the output has a '{workload} {system}' row")
            for want in lines:
                check(want in out, f"the output has '{want}' ({name} is compiled in)")
            for t in target_rows:
                check(t in targets, f"the CSV has the target row '{t}' ({name} is compiled in)")
            print(f"checked: {name}'s rows" + (" and what depends on them" if lines else ""))
        else:
            for workload in ["append", "replay"]:
                check(not rows_of(out, workload, system),
                      f"no '{workload} {system}' row: {name} is not compiled in")
            for want in lines:
                check(want not in out, f"no '{want}': {name} is not compiled in")
            why = ("built with MAPLOG_BENCH_PEERS=OFF" if a.peers_off
                   else f"{name} not compiled in; apt-get install {package}")
            print(f"skipped: {name}'s append and replay rows"
                  + (", its targets and the read-walk bound" if lines else "") + f" ({why})")
    if "LMDB" not in peers_in:
        check("the targets against LMDB: not measured" in out,
              "the targets say those against LMDB were not measured")

    bad = [r for r in rows if len(r) != 9]
    check(not bad and len(rows) >= 10, f"{len(rows)} CSV rows, all of 9 fields (not: {bad})")
    check("append, maplog / write(2)" in targets,
          "the CSV has the target row 'append, maplog / write(2)'")
    check(os.path.exists(sentinel), f"the bench left alone a file it did not make: {sentinel}")
    left = [n for n in os.listdir(d) if n != os.path.basename(sentinel)]
    check(not left, f"the bench removed all it made in {d} (left: {left})")


# The follow group: a figure in every row, whatever the targets say on this machine.
FOLLOW_ROWS = ["append->next 10K/s", "append->next 100K/s", "append->next full speed",
               "idle: CPU, % of a core", "idle: wake-ups/s", "append: no follower",
               "append: one follower", "append: follower asleep", "append: reading / none",
               "append: asleep / none"]
with tempfile.TemporaryDirectory(prefix="bench-follow-") as d:
    csv_path = os.path.join(d, "..", os.path.basename(d) + ".csv")
    cmd = [a.bench, "--dir", d, "--quick", "--only", "follow", "--csv", csv_path]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    check(r.returncode == 0, f"{' '.join(cmd)} exited 0 (got {r.returncode}: {r.stderr!r})")
    for system in FOLLOW_ROWS:
        check(rows_of(r.stdout, "follow", system), f"the follow group has a '{system}' row")
    check("FAILED" not in r.stdout, f"no follow row FAILED:\n{r.stdout}")
    rows = []
    if os.path.exists(csv_path):
        with open(csv_path, newline="") as f:
            rows = [row for row in csv.reader(f) if row and row[0] == "follow"]
        os.unlink(csv_path)
    check([row[1] for row in rows] == FOLLOW_ROWS and all(len(row) == 9 and row[4]
                                                          for row in rows),
          f"the CSV has the follow rows, 9 fields each, a figure in the fifth: {rows}")
    check(not os.listdir(d), f"the follow group removed all it made in {d}")
    print("checked: the follow group's rows")


def refused(cmd, name, also=()):
    """cmd is a usage error: exit 2, and stderr names the option (and what else it must)."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    ok = r.returncode == 2 and name in r.stderr and all(w in r.stderr for w in also)
    check(ok, f"{' '.join(cmd[1:])}: exit 2 naming {name} (got {r.returncode}: {r.stderr!r})")


# Strict options: each of these ran before, taking a value it was not given.
with tempfile.TemporaryDirectory(prefix="bench-opts-") as d:
    for args, name in [(["--reps", "x"], "--reps"), (["--only", "app"], "--only"),
                       (["--only", "nonsense"], "--only"), (["--only=nonsense,append"], "--only"),
                       (["--mb", "12abc"], "--mb"), (["--sizes", "64,x"], "--sizes"),
                       (["--threads=1,9"], "--threads")]:
        refused([a.bench, "--dir", d] + args, name,
                ["append", "rss"] if name == "--only" else [])
    check(os.listdir(d) == [], f"a refused run made nothing in {d}")
r = subprocess.run([a.bench, "--help"], capture_output=True, text=True, timeout=30)
check(r.returncode == 0 and "--only" in r.stdout and not r.stderr,
      f"--help: exit 0, the usage on stdout (got {r.returncode}: {r.stdout!r} {r.stderr!r})")

demo = os.path.join(os.path.dirname(a.bench), "maplog-demo")
if os.path.exists(demo):
    with tempfile.TemporaryDirectory(prefix="demo-opts-") as d:
        refused([demo, os.path.join(d, "log"), "12x"], "MILLISECONDS", ["12x"])
    print("checked: maplog-demo DIR 12x is a usage error")
else:
    print(f"skipped: maplog-demo's argument check ({demo} not built)")

if failures:
    print(out)
print("%d passed, %d failed" % (0 if failures else 1, 1 if failures else 0))
sys.exit(1 if failures else 0)
