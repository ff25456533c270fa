#!/usr/bin/env python3
"""bench.py -- how fast the Python package appends and iterates, with the naive ways of
doing the same through ctypes beside it, so that what the package's choices buy shows.

Usage: MAPLOG_LIBRARY=build/default/libmaplog.so python3 python/bench.py [-n N] [--size B]
       [--dir D]
Rows (records/s, best of --repeat runs):
  append, naive          maplog_append through ctypes with no argtypes: c_char_p, byref per call
  append                 Log.append()
  append_many            Log.append_many() over a list
  iterate, naive         maplog_reader_next() per record, fields read as ctypes attributes,
                         data by ctypes.string_at
  iterate, batch+attrs   next_batch into an array, then ctypes attribute access per record
  iterate                Reader: next_batch, struct.iter_unpack, memoryview slices (bytes)
  iterate, copy=False    Reader(copy=False): data as memoryviews into the mapping
Targets: iterate >= 1,000,000 records/s, append >= 500,000 records/s (64-byte records).
"""
import argparse
import ctypes
import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import maplog  # noqa: E402
from maplog._lib import maplog_record  # noqa: E402


def best(fn, repeat):
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        t.append(time.perf_counter() - t0)
    return min(t)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=1000000, help="records per run")
    ap.add_argument("--size", type=int, default=64, help="payload bytes")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--dir", default=None, help="where to make the logs (default: a temp dir)")
    a = ap.parse_args()
    base = tempfile.mkdtemp(prefix="maplog-pybench-", dir=a.dir)
    n, size = a.n, a.size
    payloads = [(b"%08d" % i).ljust(size, b"p")[:size] for i in range(n)]
    rows = []
    path = os.path.join(base, "log")
    # a raw library handle without the package's prototypes, for the naive rows
    raw = ctypes.CDLL(maplog.library_path)
    try:
        def fresh(name):
            p = os.path.join(base, name)
            shutil.rmtree(p, ignore_errors=True)
            return p

        def naive_append():
            p = fresh("naive")
            log = maplog.open(p, segment_size=64 << 20, durability="none")
            h = log._h.value
            seq = ctypes.c_uint64()
            for d in payloads:
                rc = raw.maplog_append(ctypes.c_void_p(h), ctypes.c_char_p(d),
                                       ctypes.c_size_t(len(d)), ctypes.byref(seq))
                if rc:
                    raise RuntimeError(rc)
            log.close()

        def append():
            p = fresh("append")
            with maplog.open(p, segment_size=64 << 20, durability="none") as log:
                app = log.append
                for d in payloads:
                    app(d)

        def append_many():
            p = fresh("many")
            with maplog.open(p, segment_size=64 << 20, durability="none") as log:
                log.append_many(payloads)

        rows.append(("append, naive", n / best(naive_append, a.repeat)))
        rows.append(("append", n / best(append, a.repeat)))
        rows.append(("append_many", n / best(append_many, a.repeat)))
        shutil.copytree(os.path.join(base, "many"), path)

        def naive_iter():
            r = maplog.Reader(path)
            h = r._h
            rec = maplog_record()
            k = 0
            while raw.maplog_reader_next(h, ctypes.byref(rec)) == 0:
                x = (rec.seq, rec.timestamp_ns, ctypes.string_at(rec.data, rec.len))
                k += 1
            r.close()
            assert k == n, k

        def batch_attrs():
            r = maplog.Reader(path)
            h = r._h
            arr = (maplog_record * 1024)()
            got = ctypes.c_size_t()
            k = 0
            while raw.maplog_reader_next_batch(h, arr, ctypes.c_size_t(1024), ctypes.byref(got)) == 0:
                for i in range(got.value):
                    rec = arr[i]
                    x = (rec.seq, rec.timestamp_ns, ctypes.string_at(rec.data, rec.len))
                    k += 1
            r.close()
            assert k == n, k

        def iterate(copy=True):
            def run():
                k = 0
                with maplog.Reader(path, copy=copy) as r:
                    for rec in r:
                        k += 1
                assert k == n, k
            return run

        rows.append(("iterate, naive", n / best(naive_iter, a.repeat)))
        rows.append(("iterate, batch+attrs", n / best(batch_attrs, a.repeat)))
        rows.append(("iterate", n / best(iterate(True), a.repeat)))
        rows.append(("iterate, copy=False", n / best(iterate(False), a.repeat)))
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print("maplog %s, %s, Python %s; %d records of %d bytes, best of %d"
          % (maplog.library_version, maplog.library_path, sys.version.split()[0], n, size,
             a.repeat))
    for name, rate in rows:
        print("  %-22s %12s records/s" % (name, format(int(rate), ",")))
    it = dict(rows)["iterate"]
    ap_ = max(dict(rows)["append"], dict(rows)["append_many"])
    print("target iterate >= 1,000,000/s: %s; append >= 500,000/s: %s"
          % ("met" if it >= 1e6 else "NOT met", "met" if ap_ >= 5e5 else "NOT met"))


if __name__ == "__main__":
    main()
