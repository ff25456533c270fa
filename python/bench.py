#!/usr/bin/env python3
"""bench.py -- how fast the Python package appends and iterates, with the naive ways of
doing the same through ctypes beside it, so that what the package's choices buy shows.

Usage: MAPLOG_LIBRARY=build/default/libmaplog.so python3 python/bench.py [-n N] [--size B]
       [--repeat R] [--dir D]
Rows (records/s, best of R rounds; each round runs every row once, in turn):
  append, naive          maplog_append through ctypes with no argtypes: c_char_p, byref per call
  append                 Log.append()
  append_many            Log.append_many() over a list
  iterate, naive         maplog_reader_next() per record, fields read as ctypes attributes,
                         data by ctypes.string_at
  iterate, batch+attrs   next_batch into an array, then ctypes attribute access per record
  iterate, iter_unpack   next_batch, struct.iter_unpack, a Record per row in a comprehension
  iterate                Reader: next_batch, the array as strided memoryviews of 64-bit words,
                         payloads and Records built by map()/zip() (bytes)
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


def interleaved(fns, n, repeat):
    """(name, records/s) of each of fns, best of repeat rounds; a round runs each once, so
    that a machine busy with something else slows every row alike."""
    times = {name: [] for name, _ in fns}
    for _ in range(repeat):
        for name, fn in fns:
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return [(name, n / min(times[name])) for name, _ in fns]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", type=int, default=1000000, help="records per run")
    ap.add_argument("--size", type=int, default=64, help="payload bytes")
    ap.add_argument("--repeat", type=int, default=5)
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

        appends = [("append, naive", naive_append), ("append", append),
                   ("append_many", append_many)]
        rows += interleaved(appends, n, a.repeat)
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

        def unpack_each():
            # the package's first way: struct.iter_unpack, then a Record per row in a
            # comprehension, each payload a bytes() of a memoryview slice
            import struct
            from maplog._reader import Record, _from_memory, _PYBUF_READ
            st = struct.Struct("=QQQQI4x")
            new = tuple.__new__
            r = maplog.Reader(path)
            h = r._h
            arr = (maplog_record * 1024)()
            rawb = memoryview(arr).cast("B")
            got = ctypes.c_size_t()
            k = 0
            nb = r._next_batch
            while nb(h, arr, 1024, ctypes.byref(got)) == 0:
                rows = list(st.iter_unpack(rawb[:got.value * 40]))
                lo = min(x[2] for x in rows)
                hi = max(x[2] + x[3] for x in rows)
                mv = _from_memory(lo, hi - lo, _PYBUF_READ)
                for rec in [new(Record, (s, t, bytes(mv[p - lo:p - lo + ln])))
                            for s, t, p, ln, f in rows]:
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

        iterations = [("iterate, naive", naive_iter), ("iterate, batch+attrs", batch_attrs),
                      ("iterate, iter_unpack", unpack_each), ("iterate", iterate(True)),
                      ("iterate, copy=False", iterate(False))]
        rows += interleaved(iterations, n, a.repeat)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print("maplog %s, %s, Python %s; %d records of %d bytes, best of %d"
          % (maplog.library_version, maplog.library_path, sys.version.split()[0], n, size,
             a.repeat))
    for name, rate in rows:
        print("  %-22s %12s records/s" % (name, format(int(rate), ",")))
    it = dict(rows)["iterate"]
    ap_ = max(dict(rows)["append"], dict(rows)["append_many"])
    if size == 64:
        print("target iterate >= 1,000,000/s: %s; append >= 500,000/s: %s"
              % ("met" if it >= 1e6 else "NOT met", "met" if ap_ >= 5e5 else "NOT met"))
    else:
        print("(the targets are for 64-byte records: run with --size 64 to check them)")


if __name__ == "__main__":
    main()
