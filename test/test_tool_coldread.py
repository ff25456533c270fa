#!/usr/bin/env python3
"""test_tool_coldread.py -- what `maplog tail` and `maplog dump --reverse --since` read from
the disk, from a cold page cache.

Both need the header page of each segment (seals, checkpoints), the records they print,
and a walk over the records before those in the segment that holds them (a record is found
by walking the length words from the segment's start).  Nothing else: not the read-ahead
window the kernel reads around the first page a mapping touches (read_ahead_kb, 8 MiB on
some disks), nor what it reads ahead under MADV_SEQUENTIAL.  Here the last segment holds
the records both commands print, so what they bring into the page cache must stay within

    the segments before the last:  their header pages (HEADER_BUDGET each)
    the last segment:              its header page + its records + MARGIN

and what they read of the segments before the last must grow by no more than their header
pages when the log has twice the segments.

Then a log of one large segment, nearly full (BIG_SEG, with BIG_USED of records): `tail -n
10` and `dump --reverse -n 10` find where its records end, and the last ten, from the
segment's record hints (docs/FORMAT.md, "Record hints"), not by walking its length words
from the start, so each brings less than BIG_BUDGET into the page cache.

Two logs of small segments are built.  Before each command the log is evicted from the page
cache without privilege (fdatasync, then POSIX_FADV_DONTNEED on every segment file); after
it, the segment files' pages in the page cache are counted with mincore(2).  The logs are made in the
directory the test runs in, or in $MAPLOG_COLDREAD_DIR.  Where the page cache keeps the
files after the eviction (tmpfs, say), nothing can be measured: the test says so and is
reported skipped (exit 77).

Usage: test_tool_coldread.py MAPLOG MKLOG    (ctest passes the two built binaries)
"""
import ctypes
import json
import os
import resource
import shutil
import struct
import subprocess
import sys
import tempfile

from toolcheck import check, finish, run_tool

MAPLOG, MKLOG = sys.argv[1], sys.argv[2]
SEG = 4 << 20          # segment size: small, so the logs build in a second or two
PAD = 200              # mklog --pad: about 270 bytes a record, 15,000 a segment
SIZES = (20, 40)       # segments in the two logs
PAGE = os.sysconf("SC_PAGE_SIZE")
HEADER_BUDGET = 2 * PAGE   # a header page; the first segment's also holds the log's
                           # first record (stats' first time)
MARGIN = 1 << 20           # read ahead of a walk (512 KiB in the library) and what a
                           # record running past it touches
SKIP = 77
BIG_SEG = 64 << 20         # the large segment, and what its records fill of it
BIG_USED = 60 << 20
BIG_BUDGET = 5 * 10**6     # what the last ten records of it may cost, from cold
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                      ctypes.c_int, ctypes.c_long]
libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
PROT_READ, MAP_SHARED = 1, 1


def resident(path):
    """Bytes of file path in the page cache (mincore over a mapping that touches nothing)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        if size == 0:
            return 0
        addr = libc.mmap(None, size, PROT_READ, MAP_SHARED, fd, 0)
        if addr in (None, ctypes.c_void_p(-1).value):
            raise OSError(ctypes.get_errno(), "mmap " + path)
        vec = ctypes.create_string_buffer((size + PAGE - 1) // PAGE)
        rc = libc.mincore(addr, size, vec)
        libc.munmap(addr, size)
        if rc != 0:
            raise OSError(ctypes.get_errno(), "mincore " + path)
        return sum(b & 1 for b in vec.raw) * PAGE
    finally:
        os.close(fd)


def segment_files(d):
    return [os.path.join(d, f) for f in sorted(os.listdir(d))
            if f.endswith(".mlog") and len(f) == 25]


def evict(files):
    """Drop the files from the page cache; the bytes still cached afterwards."""
    for p in files:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fdatasync(fd)  # clean pages only are dropped
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    return sum(resident(p) for p in files)


def header_fields(path):
    """(seal last_ts or None, checkpoint end_offset or None) from a segment's header page
    (docs/FORMAT.md); the CRCs are the library's business, this is a fresh log."""
    with open(path, "rb") as f:
        page = f.read(4096)
    last_ts = None
    if struct.unpack_from("<I", page, 512)[0] == 0x4C414553:
        last_ts = struct.unpack_from("<Q", page, 512 + 24)[0]
    best = None
    for off in (1024, 1536):
        magic, _state, gen, end = struct.unpack_from("<IIQQ", page, off)
        if magic == 0x54504B43 and (best is None or gen > best[0]):
            best = (gen, end)
    return last_ts, best[1] if best else None


def json_records(out):
    return [(int(o["seq"]), int(o["ts_ns"])) for o in map(json.loads, out.decode().splitlines())]


def read_ahead_kb(d):
    """The read_ahead_kb of the disk d is on, for the messages ('?' if not found)."""
    dev = os.stat(d).st_dev
    base = "/sys/dev/block/%d:%d" % (os.major(dev), os.minor(dev))
    for q in ("queue/read_ahead_kb", "../queue/read_ahead_kb", "bdi/read_ahead_kb"):
        try:
            with open(os.path.join(base, q)) as f:
                return f.read().strip()
        except OSError:
            pass
    return "?"


def cold_run(files, *args):
    """Run the tool on a cold log: (status, stdout, stderr, bytes of the segment files but
    the last it brought into the page cache, the same of the last, bytes it read from the
    disk by its rusage).  Status None: the log could not be evicted (stderr says why)."""
    left = evict(files)
    if left:
        return None, None, "the page cache kept %d bytes after eviction" % left, 0, 0, 0
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_inblock
    rc, out, err = run_tool(MAPLOG, *args)
    inblock = resource.getrusage(resource.RUSAGE_CHILDREN).ru_inblock - before
    return (rc, out, err, sum(resident(p) for p in files[:-1]), resident(files[-1]),
            inblock * 512)


def mb(n):
    return "%.2f MB" % (n / 1e6)


def measure(base, nsegs):
    """Build a log of about nsegs segments and measure both commands on it; returns a dict
    of figures, or None after a skip."""
    d = os.path.join(base, "log%d" % nsegs)
    per_seg = (SEG - 4096) // 265
    n = int((nsegs - 0.5) * per_seg)
    subprocess.run([MKLOG, d, str(n), "--seg", str(SEG), "--pad", str(PAD)], check=True)
    files = segment_files(d)
    last = files[-1]
    first_last = int(os.path.basename(last)[:20])
    _, last_end = header_fields(last)
    prev_ts, _ = header_fields(files[-2])
    last_used = (last_end or SEG) - 4096
    # what the commands must print, read while the log is warm
    rc, out, err = run_tool(MAPLOG, "dump", "-o", "json", "--from", str(first_last), d)
    last_recs = json_records(out)
    check(rc == 0 and len(last_recs) == n - first_last,
          "%d segments: the last segment's records dump (rc %s, %d of %d) %s"
          % (nsegs, rc, len(last_recs), n - first_last, err))
    # a time inside the last segment, after every record of the one before it
    cands = [ts for _, ts in last_recs[len(last_recs) // 2:] if prev_ts is None or ts > prev_ts]
    if not cands:
        check(False, "%d segments: no record of the last segment is newer than the seal of "
              "the one before it" % nsegs)
        return {}
    since = cands[0]
    want_rev = [r for r in reversed(last_recs) if r[1] >= since]
    since_arg = "@%d.%09d" % divmod(since, 10**9)

    figures = {"segments": len(files)}
    budget_others = (len(files) - 1) * HEADER_BUDGET
    budget_last = HEADER_BUDGET + last_used + MARGIN
    for name, args, want in (
            ("tail -n 10", ("tail", "-n", "10", "-o", "json", d), last_recs[-10:]),
            ("dump --reverse --since", ("dump", "--reverse", "--since", since_arg, "-o", "json",
                                        d), want_rev)):
        rc, out, err, others, lastc, read = cold_run(files, *args)
        if rc is None:
            print("skipped: %s: %s; cold reads cannot be measured on this file system "
                  "(tmpfs?); MAPLOG_COLDREAD_DIR=DIR puts the logs on another" % (d, err),
                  flush=True)
            return None
        got = json_records(out) if rc == 0 else []
        check(rc == 0 and got == want,
              "%d segments: %s prints %d records, %s..%s (rc %s, %s)"
              % (nsegs, name, len(want), want[0][0] if want else "-",
                 want[-1][0] if want else "-", rc, err.strip()[:300]))
        print("%d segments of %d MiB: %s brought into the page cache %s of the segments "
              "before the last (budget %s) and %s of the last, which holds %s of records "
              "(budget %s); %s read from the disk by rusage"
              % (len(files), SEG >> 20, name, mb(others), mb(budget_others), mb(lastc),
                 mb(last_used), mb(budget_last), mb(read)), flush=True)
        check(others <= budget_others,
              "%d segments: %s brought %s of the segments before the last into the page cache "
              "from cold; their headers need %d x %d KiB = %s (read_ahead_kb %s)"
              % (len(files), name, mb(others), len(files) - 1, HEADER_BUDGET >> 10,
                 mb(budget_others), read_ahead_kb(d)))
        check(0 < lastc <= budget_last,
              "%d segments: %s brought %s of the last segment into the page cache from cold; "
              "its header, %s of records and %s of margin are at most %s (read_ahead_kb %s)"
              % (len(files), name, mb(lastc), mb(last_used), mb(MARGIN), mb(budget_last),
                 read_ahead_kb(d)))
        figures[name] = others
    return figures


def measure_big(base):
    """A log of one BIG_SEG segment holding BIG_USED of records: the last ten records from
    cold, by tail and by dump --reverse.  False after a skip."""
    d = os.path.join(base, "big")
    n = BIG_USED // 265
    subprocess.run([MKLOG, d, str(n), "--seg", str(BIG_SEG), "--pad", str(PAD)], check=True)
    files = segment_files(d)
    _, end = header_fields(files[-1])
    rc, out, err = run_tool(MAPLOG, "dump", "-o", "json", "--from", str(n - 10), d)
    want = json_records(out) if rc == 0 else []
    check(rc == 0 and len(want) == 10, "big segment: the last ten records dump (rc %s) %s"
          % (rc, err))
    for name, args, expect in (
            ("tail -n 10", ("tail", "-n", "10", "-o", "json", d), want),
            ("dump --reverse -n 10", ("dump", "--reverse", "-n", "10", "-o", "json", d),
             list(reversed(want)))):
        rc, out, err, others, lastc, read = cold_run(files, *args)
        if rc is None:
            print("skipped: %s: %s" % (d, err), flush=True)
            return False
        got = json_records(out) if rc == 0 else []
        check(rc == 0 and got == expect, "big segment: %s prints the last ten records (rc %s, "
              "%s)" % (name, rc, err.strip()[:300]))
        print("1 segment of %d MiB holding %s of records: %s brought %s into the page cache "
              "(budget %s); %s read from the disk by rusage"
              % (BIG_SEG >> 20, mb((end or BIG_SEG) - 4096), name, mb(others + lastc),
                 mb(BIG_BUDGET), mb(read)), flush=True)
        check(others + lastc <= BIG_BUDGET,
              "big segment: %s brought %s into the page cache from cold, more than %s "
              "(read_ahead_kb %s)" % (name, mb(others + lastc), mb(BIG_BUDGET),
                                      read_ahead_kb(d)))
    return True


# the logs go where the test runs (the build tree), or where MAPLOG_COLDREAD_DIR says
base = tempfile.mkdtemp(prefix="maplog-coldread-",
                        dir=os.environ.get("MAPLOG_COLDREAD_DIR") or os.getcwd())
status = None
try:
    runs = []
    for nsegs in SIZES:
        f = measure(base, nsegs)
        if f is None:
            status = SKIP
            break
        runs.append(f)
        shutil.rmtree(os.path.join(base, "log%d" % nsegs))
    if status is None and len(runs) == 2 and all("tail -n 10" in f for f in runs):
        small, big = runs
        extra_segs = big["segments"] - small["segments"]
        for name in ("tail -n 10", "dump --reverse --since"):
            if name not in small or name not in big:
                continue
            # the segments before the last: their headers, and nothing that grows faster
            grow = big[name] - small[name]
            check(grow <= extra_segs * HEADER_BUDGET,
                  "%s on %d segments against %d: %s more of the segments before the last "
                  "(%d more headers allow %s)"
                  % (name, big["segments"], small["segments"], mb(grow), extra_segs,
                     mb(extra_segs * HEADER_BUDGET)))
    if status is None and not measure_big(base):
        status = SKIP
finally:
    shutil.rmtree(base, ignore_errors=True)
if status == SKIP:
    print("skipped: the cold-read checks (see above)")
    sys.exit(SKIP)
finish()
