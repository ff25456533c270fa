#!/usr/bin/env python3
"""test_tool_bigrecord.py -- the largest record a log can hold goes through export and import.

The largest record is a 1 GiB segment less 4112 bytes (maplog.h, maplog_append).  Written
as a binary export (by this script, independently of the tool), it must import (the new
log's segments grow to hold it), export as JSON lines and as the binary stream, import
back from each, and come out byte for byte as it went in.  One byte more is refused with
a message naming the record.  Needs about 10 GB of disk and 6 GB of memory, so it runs
in the plain build only.

Usage: test_tool_bigrecord.py MAPLOG [SCRATCH_DIR]
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

from toolcheck import check, finish, run_tool

MAPLOG = os.path.abspath(sys.argv[1])
RECORD_MAX = (1 << 30) - 4112
TS = 2**63 + 12345


def run(*args):
    rc, _, err = run_tool(MAPLOG, *args, timeout=1200)
    return rc, err


def write_export(path, length):
    chunk = bytes((i * 7 + 3) % 251 for i in range(251 * 4096))  # not UTF-8: base64 in JSON
    with open(path, "wb") as f:
        f.write(b"MAPLOGX1" + struct.pack("<QQI", 0, TS, length))
        left = length
        while left:
            n = min(left, len(chunk))
            f.write(chunk[:n])
            left -= n


def same_file(a, b):
    if os.path.getsize(a) != os.path.getsize(b):
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 24), fb.read(1 << 24)
            if x != y:
                return False
            if not x:
                return True


base = tempfile.mkdtemp(prefix="maplog-bigrecord-", dir=sys.argv[2] if len(sys.argv) > 2 else None)
try:
    src = os.path.join(base, "max.bin")
    write_export(src, RECORD_MAX)
    rc, err = run("import", src, os.path.join(base, "a"))
    check(rc == 0, "a record of %d bytes imports from the binary stream: %s" % (RECORD_MAX, err))
    for fmt in ["json", "binary"]:
        exp = os.path.join(base, "a." + fmt)
        rc, err = run("export", os.path.join(base, "a"), "-o", exp, "--format", fmt)
        check(rc == 0, "export --format %s of the largest record: %s" % (fmt, err))
        dest = os.path.join(base, "b-" + fmt)
        rc, err = run("import", exp, dest)
        check(rc == 0, "import of its %s export: %s" % (fmt, err))
        again = os.path.join(base, "again-" + fmt + ".bin")
        rc, err = run("export", dest, "-o", again, "--format", "binary")
        check(rc == 0 and same_file(src, again),
              "the largest record round-trips through %s byte for byte" % fmt)
        for p in [exp, again]:
            os.unlink(p)
        shutil.rmtree(dest)
    over = os.path.join(base, "over.bin")
    with open(over, "wb") as f:
        f.write(b"MAPLOGX1" + struct.pack("<QQI", 0, TS, RECORD_MAX + 1) + b"x" * 100)
    rc, err = run("import", over, os.path.join(base, "c"))
    check(rc == 1 and "record 0" in err and "larger than any record" in err
          and not os.path.exists(os.path.join(base, "c")),
          "one byte more is refused, naming the record: %r" % err)
finally:
    shutil.rmtree(base, ignore_errors=True)

finish()
