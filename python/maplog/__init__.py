"""maplog -- Python access to maplog logs, through libmaplog.so (ctypes).

    import maplog
    with maplog.open("events", segment_size=1 << 20) as log:
        seq = log.append(b"hello")
    with maplog.Reader("events") as r:
        for rec in r:                      # every CRC verified by the library
            print(rec.seq, rec.datetime, rec.data)

The library is found through $MAPLOG_LIBRARY (the path of libmaplog.so), a build tree of
the checkout this package lies in, or the installed libmaplog.so.0 (see maplog._lib).
Every failure raises maplog.Error (a subclass per code, e.g. CorruptError) with the
library's message, which names the file and offset where it applies.
"""
import collections
import os

from ._lib import lib, c_uint64, c_int64, byref, PROBLEM_FN, PROGRESS_FN
from ._errors import (Error, InvalidArgumentError, IOFailure, NoMemoryError, CorruptError,
                      NotALogError, TooBigError, LockedError, NoSpaceError, EndError,
                      TimedOutError, NotFoundError, VersionError, ClosedError, StaleError,
                      error)
from ._log import open, Log
from ._reader import Reader, Record, VoidRecord, ns_to_datetime, to_ns

__all__ = [
    "open", "Log", "Reader", "Record", "VoidRecord", "verify", "stats", "recover",
    "Problem", "Recovery", "library_version", "library_path", "ns_to_datetime", "to_ns",
    "Error", "InvalidArgumentError", "IOFailure", "NoMemoryError", "CorruptError",
    "NotALogError", "TooBigError", "LockedError", "NoSpaceError", "EndError",
    "TimedOutError", "NotFoundError", "VersionError", "ClosedError", "StaleError",
]

__version__ = "0.1.0"
library_version = lib.maplog_version().decode()
library_path = lib.path

Problem = collections.namedtuple("Problem", "file offset what kind")
Problem.__doc__ = """One finding of verify(): the segment file's name in the log directory, the
offset in it, what is wrong (a sentence), and kind: "damage" (sealed or synced data is not
as written) or "crash" (what a crash leaves and recovery resolves losing nothing synced)."""

Recovery = collections.namedtuple("Recovery", "report dropped")
Recovery.__doc__ = """What recover() said: report, a paragraph for a person; dropped, the
records after the cut that are no longer in the log (-1 if unknown)."""

_KINDS = {1: "damage", 2: "crash"}


def verify(path, quick=False, progress=None):
    """Check the log in directory path, changing nothing (maplog_verify): every header,
    seal, digest and (unless quick) record CRC.  Returns the list of Problems found,
    empty for a sound log.  progress(done, total) is called now and then.  Raises only
    when the check could not run (NotALogError, ...).  Works on read-only copies and
    beside a live writer."""
    problems = []

    def on_problem(ctx, p):
        p = p.contents
        problems.append(Problem(os.fsdecode(p.file or b""), p.offset,
                                (p.what or b"").decode("utf-8", "replace"),
                                _KINDS.get(p.kind, str(p.kind))))

    def on_progress(ctx, done, total):
        progress(done, total)

    pfn = PROBLEM_FN(on_problem)
    gfn = PROGRESS_FN(on_progress) if progress else PROGRESS_FN()
    count = c_uint64()
    rc = lib.maplog_verify(os.fsencode(path), 1 if quick else 0, pfn, gfn, None, byref(count))
    if rc:
        why = lib.maplog_last_open_error() if rc != -1 else None  # -1: MAPLOG_EINVAL
        raise error(rc, "cannot verify %s: %s" % (os.fsdecode(path), (
            why or lib.maplog_strerror(rc)).decode("utf-8", "replace")))
    return problems


def stats(path):
    """The whole log's figures as a dict (maplog_reader_info_get): records, first_seq,
    next_seq, segments, bytes_used, bytes_allocated, first_ts, last_ts (ns since the
    epoch, 0 when none), void_records, lost_records, uncounted_segments, durable_count,
    clean_shutdown (True/False, None while a writer has it open), torn_offset,
    torn_bytes, torn_valid_after, missing_after (None, or the first sequence number of a
    segment after the last that existed and is missing); plus log_id (hex)."""
    with Reader(path) as r:
        out = r.info
        for k in ("holes", "lost", "voids"):
            del out[k]
        lid = r.log_id
        out["log_id"] = lid.hex() if lid is not None else None
        return out


def recover(path, apply=False):
    """Say -- and with apply=True, do -- what makes the log valid again (maplog_recover):
    cut it at the first record that is not valid, keeping the cut bytes in side files.
    Returns a Recovery(report, dropped).  Applying raises LockedError while a writer
    runs."""
    buf = __import__("ctypes").create_string_buffer(8192)
    dropped = c_int64()
    rc = lib.maplog_recover(os.fsencode(path), 1 if apply else 0, buf, len(buf), byref(dropped))
    report = buf.value.decode("utf-8", "replace")
    if rc:
        raise error(rc, report or "cannot recover %s" % os.fsdecode(path))
    return Recovery(report, dropped.value)
