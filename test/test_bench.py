#!/usr/bin/env python3
"""test_bench.py -- maplog-bench runs end to end, and keeps to its own work directory.

A short run (--quick, 64-byte records, one thread) must exit 0 and print the rows the
closing notes rely on: the limits, the new-pages cost, maplog's rows, the read-walk limit
and the targets with their bounds.  Its --csv file must parse as CSV with nine fields in
every row (names and notes hold commas).  The --dir it is given already holds a file: the bench
must leave it alone and remove only the work directory it made there.
"""
import csv
import os
import subprocess
import sys
import tempfile

bench = sys.argv[1]
with tempfile.TemporaryDirectory(prefix="bench-smoke-") as d:
    sentinel = os.path.join(d, "not-the-bench's")
    with open(sentinel, "w") as f:
        f.write("keep me\n")
    csv_path = os.path.join(d, "..", os.path.basename(d) + ".csv")
    cmd = [bench, "--dir", d, "--quick", "--only", "append,replay", "--sizes", "64",
           "--threads", "1", "--csv", csv_path]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    out = r.stdout
    if r.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {r.returncode}\n{out}\n{r.stderr}")
    for want in ["limit: memcpy shared map", "cost: new file pages", "  append   maplog ",
                 "maplog (no rollover)", "limit: mmap read walk", "  replay   maplog ",
                 "issue 8's targets", "bound: the mmap read walk",
                 "bound: two cores only faulting in new pages"]:
        if want not in out:
            sys.exit(f"FAIL: the output has no '{want}'\n{out}")
    with open(csv_path, newline="") as f:
        rows = list(csv.reader(f))
    os.unlink(csv_path)
    bad = [r for r in rows if len(r) != 9]
    if bad or len(rows) < 10:
        sys.exit(f"FAIL: {len(rows)} CSV rows, these not of 9 fields: {bad}")
    if not any(r[0] == "target" and r[1] == "append, maplog / write(2)" for r in rows):
        sys.exit("FAIL: the CSV has no target row 'append, maplog / write(2)'")
    if not os.path.exists(sentinel):
        sys.exit(f"FAIL: the bench removed a file it did not make: {sentinel}")
    left = [n for n in os.listdir(d) if n != os.path.basename(sentinel)]
    if left:
        sys.exit(f"FAIL: the bench left {left} in {d}")
print("1 passed, 0 failed")
