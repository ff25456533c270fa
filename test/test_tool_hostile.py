#!/usr/bin/env python3
"""test_tool_hostile.py -- the maplog tool on log directories that lie about their size.

A stray segment file named with a huge first sequence number must not make the tool's work
follow the sequence numbers: dump --reverse, tail -n and dump --reverse --since finish in
time bounded by the data, print the records that are readable, and name the stray file.
stats counts only records a reader can read in order from the first record: a segment that
cannot be read, or that does not continue the records before it, adds none, and stats says
so on a line (a field, in --json) of its own, naming the file, and exits 1.  Its durable
line never reads "0 records (seq < 0)".

Usage: test_tool_hostile.py MAPLOG MKLOG
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from toolcheck import check, finish, run_tool

MAPLOG, MKLOG = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
SEG = 65536
STRAY = "09000000000000000000.mlog"
LIMIT = 30  # seconds: a walk over the data takes well under one


def run(*args, timeout=LIMIT):
    """(exit status, stdout, stderr), or (None, b"", why) when it ran out of time."""
    try:
        return run_tool(MAPLOG, *args, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, b"", "still running after %d s" % timeout


def mklog(d, n):
    subprocess.run([MKLOG, d, str(n), "--seg", str(SEG)], check=True)


def segments(d):
    return sorted(f for f in os.listdir(d) if f.endswith(".mlog"))


def seqs(out):
    return [int(json.loads(line)["seq"]) for line in out.decode().splitlines()]


def stats_json(d):
    rc, out, err = run("stats", "--json", d)
    try:
        return rc, json.loads(out), err
    except ValueError:
        return rc, {}, err + " / stdout: %r" % out[:200]


def stray_checks(d, n, what):
    """The last records readable, and the stray file named, in time bounded by the data."""
    rc, out, err = run("dump", "-o", "json", "--reverse", "--limit", "3", d)
    check(rc == 1 and seqs(out) == [n - 1, n - 2, n - 3] and STRAY in err,
          "%s: dump --reverse --limit 3 prints the last 3 records and names the stray file, "
          "exit 1: rc %s, %r, %s" % (what, rc, out[:300], err))
    rc, out, err = run("tail", "-o", "json", "-n", "3", d)
    check(rc is not None and seqs(out) == [n - 3, n - 2, n - 1],
          "%s: tail -n 3 prints the last 3 records: rc %s, %r, %s" % (what, rc, out[:300], err))
    rc, out, err = run("dump", "-o", "json", "--reverse", "--since", "1 hour ago", "--limit",
                       "2", d)
    check(rc == 1 and seqs(out) == [n - 1, n - 2] and STRAY in err,
          "%s: dump --reverse --since prints the last 2 records, names the stray file: "
          "rc %s, %r, %s" % (what, rc, out[:300], err))
    rc, out, err = run("dump", "-o", "json", "--reverse", "--since", "1 hour ago", d)
    check(rc == 1 and seqs(out) == list(range(n - 1, -1, -1)),
          "%s: dump --reverse --since, no limit, prints every record once, newest first: "
          "rc %s, %d lines, %s" % (what, rc, len(out.splitlines()), err))


base = tempfile.mkdtemp(prefix="maplog-hostile-")
writer = None
try:
    # ---- a stray segment far beyond the end, offline ----
    N = 3000
    d = os.path.join(base, "stray")
    mklog(d, N)
    check(len(segments(d)) >= 3, "the log has several segments: %s" % segments(d))
    shutil.copy(os.path.join(d, segments(d)[0]), os.path.join(d, STRAY))
    stray_checks(d, N, "stray segment")
    rc, st, err = stats_json(d)
    check(rc == 1 and st.get("records") == str(N) and st.get("next_seq") == str(N)
          and STRAY in (st.get("not_counted") or ""),
          "stats --json with a stray segment: %d records, the stray named, exit 1: rc %s, %s %s"
          % (N, rc, st, err))
    rc, out, err = run("stats", d)
    text = out.decode(errors="replace")
    check(rc == 1 and "records:         %d\n" % N in text and "not counted:" in text
          and STRAY in text and "seq < 0" not in text,
          "stats text with a stray segment: %d records, a 'not counted' line naming it, "
          "no 'seq < 0': rc %s, %s %s" % (N, rc, text, err))

    # ---- the same, beside a live writer that has stopped appending ----
    d = os.path.join(base, "live")
    writer = subprocess.Popen([MKLOG, d, "1000000", "--seg", str(SEG), "--slow", "200"])
    deadline = time.time() + 60
    while time.time() < deadline and (not os.path.isdir(d) or len(segments(d)) < 3):
        time.sleep(0.05)
    shutil.copy(os.path.join(d, segments(d)[0]), os.path.join(d, STRAY))
    writer.send_signal(signal.SIGSTOP)
    rc, st, err = stats_json(d)
    n = int(st.get("next_seq", "0"))
    check(rc == 1 and st.get("writer_running") is True and 0 < n < 10**6
          and STRAY in (st.get("not_counted") or ""),
          "stats --json beside a stopped writer, with a stray segment: rc %s, %s %s"
          % (rc, st, err))
    rc, out, err = run("dump", "-o", "json", "--reverse", "--limit", "3", d)
    check(rc is not None and seqs(out) == [n - 1, n - 2, n - 3],
          "beside a stopped writer: dump --reverse --limit 3 finishes with the last 3 records: "
          "rc %s, %r, %s" % (rc, out[:300], err))
    rc, out, err = run("dump", "-o", "json", "--reverse", "--since", "1 hour ago", "--limit",
                       "3", d)
    check(rc is not None and seqs(out) == [n - 1, n - 2, n - 3],
          "beside a stopped writer: dump --reverse --since finishes with the last 3 records: "
          "rc %s, %r, %s" % (rc, out[:300], err))
    writer.kill()
    writer.wait()
    writer = None

    # ---- the first segment's header damaged: nothing is readable ----
    d = os.path.join(base, "header")
    mklog(d, N)
    first = segments(d)[0]
    with open(os.path.join(d, first), "r+b") as f:
        f.seek(10)
        b = f.read(1)
        f.seek(10)
        f.write(bytes([b[0] ^ 0xFF]))
    rc, st, err = stats_json(d)
    nc = st.get("not_counted") or ""
    check(rc == 1 and st.get("records") == "0" and first in nc and "offset 124" in nc
          and st.get("segments") == len(segments(d)),
          "stats --json, first header damaged: 0 records, the file and offset named, exit 1: "
          "rc %s, %s %s" % (rc, st, err))
    rc, out, err = run("stats", d)
    text = out.decode(errors="replace")
    check(rc == 1 and "records:         0\n" in text and "not counted:     " in text
          and first in text,
          "stats text, first header damaged: rc %s, %s %s" % (rc, text, err))

    # ---- a middle segment from another log: the records stop being counted there ----
    d, other = os.path.join(base, "mixed"), os.path.join(base, "other")
    mklog(d, N)
    mklog(other, N)
    middle = segments(d)[1]
    check(middle in segments(other), "both logs have %s" % middle)
    shutil.copy(os.path.join(other, middle), os.path.join(d, middle))
    rc, out, err = run("dump", "-o", "json", d)
    readable = len(seqs(out))
    rc, st, err = stats_json(d)
    nc = st.get("not_counted") or ""
    check(rc == 1 and st.get("records") == str(int(middle[:20])) and middle in nc
          and "log id" in nc,
          "stats --json, a middle segment of another log: the records before it (%d), the "
          "file named, exit 1 (dump reads %d): rc %s, %s %s"
          % (int(middle[:20]), readable, rc, st, err))

    # ---- a clean log: nothing is reported ----
    d = os.path.join(base, "clean")
    mklog(d, N)
    rc, st, err = stats_json(d)
    check(rc == 0 and st.get("records") == str(N) and st.get("not_counted") is None,
          "stats --json on a clean log: rc %s, %s %s" % (rc, st, err))
    rc, out, err = run("stats", d)
    text = out.decode(errors="replace")
    check(rc == 0 and "not counted" not in text and "durable:         %d records (seq < %d)"
          % (N, N) in text, "stats text on a clean log: rc %s, %s %s" % (rc, text, err))
    rc, out, err = run("dump", "-o", "json", "--reverse", d)
    check(rc == 0 and seqs(out) == list(range(N - 1, -1, -1)),
          "dump --reverse on a clean log: every record once, newest first: rc %s, %s"
          % (rc, err))
finally:
    if writer:
        writer.kill()
        writer.wait()
    if not os.environ.get("MAPLOG_KEEP"):
        shutil.rmtree(base, ignore_errors=True)
finish()
