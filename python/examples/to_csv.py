#!/usr/bin/env python3
"""to_csv.py -- write a maplog log as CSV: one row per record, seq, timestamp_ns, time (UTC,
ISO 8601) and data (UTF-8 text, or hex prefixed "hex:" when it is not text).

Usage: MAPLOG_LIBRARY=build/default/libmaplog.so python3 python/examples/to_csv.py LOG
       [-o OUT.csv] [--from SEQ] [--since ISO-TIME] [--limit N]
A log copied off a dead machine is read as it is (no recovery); damage stops the dump with
the file and offset on stderr and exit status 1.
"""
import argparse
import csv
import datetime
import itertools
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import maplog  # noqa: E402


def as_text(data):
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + data.hex()


def rows(path, first=None, since=None, limit=None):
    """The log's records as dicts (seq, timestamp_ns, time, data), for a program to use."""
    with maplog.Reader(path) as r:
        if first is not None:
            r.seek(first)
        if since is not None:
            r.seek_time(since)
        for rec in itertools.islice(r, limit):
            yield {"seq": rec.seq, "timestamp_ns": rec.timestamp_ns,
                   "time": rec.datetime.isoformat(), "data": as_text(rec.data)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0].split(" -- ", 1)[1]
                                 .replace("\n", " "))
    ap.add_argument("log")
    ap.add_argument("-o", "--output", default="-")
    ap.add_argument("--from", dest="first", type=int)
    ap.add_argument("--since", type=datetime.datetime.fromisoformat)
    ap.add_argument("--limit", type=int)
    a = ap.parse_args()
    out = sys.stdout if a.output == "-" else open(a.output, "w", newline="")
    w = csv.DictWriter(out, fieldnames=["seq", "timestamp_ns", "time", "data"])
    w.writeheader()
    try:
        for row in rows(a.log, a.first, a.since, a.limit):
            w.writerow(row)
    except maplog.Error as e:
        out.flush()
        print("to_csv: %s" % e, file=sys.stderr)
        return 1
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
