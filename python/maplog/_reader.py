"""_reader.py -- Reader and Record: replaying and following a log.

Records come from maplog_reader_next_batch() into a ctypes array; each batch is decoded
at once: the array is read as 64-bit words through a memoryview (strided slices give the
seqs, timestamps, pointers and lengths), and the payloads are sliced out of a memoryview
over the mapped region the batch spans (PyMemoryView_FromMemory), all with map() and
zip(): no ctypes call and no ctypes attribute access per record.  The C reader has
checked every record's CRC before it returns it; a batch stops before anything that is
not a valid record, and the next call reports it, which raises here.
"""
import ctypes
import datetime as _dt
import os
import time
from itertools import repeat as _repeat
from operator import add as _add, sub as _sub, itemgetter

from ._errors import error
from ._lib import lib, maplog_record, c_void_p, c_size_t, c_int64, byref

READER_VOIDS = 1
RECORD_VOID = 1
CURSOR_MAX = 80
EPOCH = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc)
_US = _dt.timedelta(microseconds=1)

assert ctypes.sizeof(maplog_record) == 40 and maplog_record.flags.offset == 32

_from_memory = ctypes.pythonapi.PyMemoryView_FromMemory
_from_memory.restype = ctypes.py_object
_from_memory.argtypes = [c_void_p, ctypes.c_ssize_t, ctypes.c_int]
_PYBUF_READ = 0x100
_EMPTY = memoryview(b"")

# maplog_reader_info keys: (name, key); the whole-log figures first
INFO_KEYS = [
    ("records", 9), ("first_seq", 2), ("next_seq", 8), ("segments", 1),
    ("bytes_used", 10), ("bytes_allocated", 11), ("first_ts", 12), ("last_ts", 13),
    ("void_records", 17), ("lost_records", 18), ("uncounted_segments", 19),
    ("durable_count", 5), ("clean_shutdown", 6), ("torn_offset", 3), ("torn_bytes", 4),
    ("torn_valid_after", 7), ("missing_after", 21),
]
PROGRESS_KEYS = [("holes", 14), ("lost", 15), ("voids", 16)]


def ns_to_datetime(ns):
    """A timestamp in ns since the epoch as a UTC-aware datetime (microsecond precision)."""
    return EPOCH + _dt.timedelta(microseconds=ns // 1000)


def to_ns(when):
    """A datetime (naive = local time, as datetime.timestamp() takes it) or an int of
    nanoseconds since the epoch, as nanoseconds."""
    if isinstance(when, _dt.datetime):
        if when.tzinfo is None:
            when = when.astimezone()
        return (when - EPOCH) // _US * 1000
    if isinstance(when, (int,)) and not isinstance(when, bool):
        return when
    raise TypeError("a time is a datetime or an int of nanoseconds, not %r" % (when,))


class Record(tuple):
    """One record: a (seq, timestamp_ns, data) tuple with those names as attributes.
    data is bytes (a memoryview for Reader(copy=False)).  void is True only for the void
    records a Reader(voids=True) returns."""
    __slots__ = ()
    void = False
    seq = property(itemgetter(0), doc="sequence number")
    timestamp_ns = property(itemgetter(1), doc="ns since the Unix epoch, at append")
    data = property(itemgetter(2), doc="the payload")

    @property
    def datetime(self):
        """timestamp_ns as a UTC-aware datetime (microseconds: datetime holds no ns)."""
        return ns_to_datetime(self[1])

    def __repr__(self):
        d = self[2]
        shown = bytes(d[:32])
        return "Record(seq=%d, timestamp_ns=%d, data=%r%s)" % (
            self[0], self[1], shown, "...(%d bytes)" % len(d) if len(d) > 32 else "")


class VoidRecord(Record):
    """A void record: it keeps its sequence number and carries nothing."""
    __slots__ = ()
    void = True


_new = tuple.__new__
_tobytes = memoryview.tobytes


class Reader:
    """Read the log in directory path from its first record: iterate for records.

    voids: also return void records (as VoidRecord).  copy=False: each record's data is
    a read-only memoryview into the log's mapping instead of bytes -- no copy, valid only
    until the next record is asked for or another call is made on the reader (info,
    cursor, seek, ...); keep bytes(rec.data) to hold on to it.  The reader releases the
    views it handed out when it fetches the next batch, so that a late use raises
    ValueError instead of reading memory that may be unmapped.
    batch: records fetched per library call.

    Iterating stops at the end of what is there now; iterate again (or use follow()) for
    what comes later.  A record that fails its check raises CorruptError naming the
    segment file and offset, and is never returned; skip_segment() moves past it.
    One Reader is for one thread (as maplog_reader)."""

    def __init__(self, path, voids=False, copy=True, batch=1024):
        if batch < 1:
            raise ValueError("batch must be at least 1")
        self.path = path
        self._voids = bool(voids)
        self._copy = bool(copy)
        h = c_void_p()
        rc = lib.maplog_reader_open(byref(h), os.fsencode(path), READER_VOIDS if voids else 0)
        if rc:
            raise error(rc, lib.maplog_last_open_error())
        self._h = h
        self._max = batch
        self._arr = (maplog_record * batch)()
        self._words = memoryview(self._arr).cast("B").cast("Q")
        self._got = c_size_t()
        self._gotref = byref(self._got)
        self._next_batch = lib.maplog_reader_next_batch
        self._batch = []         # the records of the current batch
        self._it = iter(self._batch)
        self._views = []         # memoryviews handed out (copy=False), released on refill
        self._log_id = None

    # ---- fetching ----

    def _handle(self):
        h = self._h
        if h is None:
            raise ValueError("the reader is closed")
        return h

    def _fail(self, rc):
        return error(rc, lib.maplog_reader_errmsg(self._h))

    def _drop_batch(self):
        # ends the current batch's iterator too: a list iterator stops at a cleared list
        self._batch.clear()
        for v in self._views:
            v.release()
        self._views.clear()

    def _refill(self):
        """Fetch the next batch.  True with records; False at the end; raises on errors."""
        self._drop_batch()
        h = self._handle()
        if self._log_id is None:
            # before the batch, not after: any call on the reader ends its records' validity
            self.log_id
        rc = self._next_batch(h, self._arr, self._max, self._gotref)
        n = self._got.value
        if n == 0:
            if rc == -9:
                return False
            raise self._fail(rc if rc else -1)
        # the array as 64-bit words, five per record: seq, timestamp_ns, data, len, flags
        q = self._words[:n * 5]
        ptrs = q[2::5]
        lo = min(ptrs)
        if not lo:  # void records have no payload pointer
            lo = min((p for p in ptrs if p), default=0)
        starts = list(map(_sub, ptrs, _repeat(lo, n)))
        ends = list(map(_add, starts, q[3::5]))
        # a view from the lowest payload to the end of the highest: every slice taken is a
        # payload the library vouched for, and nothing else of the span is read (a batch
        # may cross from one segment's mapping to another's)
        span = max(ends)
        mv = _from_memory(lo, span, _PYBUF_READ) if span > 0 else _EMPTY
        datas = map(mv.__getitem__, map(slice, starts, ends))
        if self._copy:
            datas = map(_tobytes, datas)
        else:
            datas = self._views = list(datas)
        batch = list(map(Record, zip(q[0::5], q[1::5], datas)))
        if self._voids:
            for i, f in enumerate(q[4::5]):
                if f & RECORD_VOID:
                    r = batch[i]
                    batch[i] = VoidRecord((r[0], r[1], r[2][:0]))
        self._q = q
        self._batch = batch
        self._it = iter(batch)
        return True

    def __iter__(self):
        while True:
            yield from self._it
            if not self._refill():
                return

    def __next__(self):
        for rec in self._it:
            return rec
        if not self._refill():
            raise StopIteration
        return next(self._it)

    def read(self, n=None):
        """A list of the next n records (all that are there now, when n is None).  With
        copy=False the views of all but the last batch's records are released by then:
        read lists with copy=True."""
        out = []
        if n is None:
            out.extend(self)
            return out
        while len(out) < n:
            rest = len(self._batch) - self._it.__length_hint__()
            take = self._batch[rest:rest + n - len(out)]
            if take:
                out.extend(take)
                for _ in range(len(take)):
                    next(self._it)
            elif not self._refill():
                break
        return out

    def follow(self, timeout=None, poll=0.5):
        """Yield records as they come, in order, across segment rollovers: first what is
        there, then every record as it is appended (maplog_reader_wait between).  Stops
        after timeout seconds with no new record (None: never).  poll: the longest one
        wait lasts, so that signals (Ctrl-C) are handled in time."""
        last = time.monotonic()
        h = self._handle()
        wait = lib.maplog_reader_wait
        while True:
            for rec in self._it:
                yield rec
                last = None
            if self._refill():
                last = None
                continue
            now = time.monotonic()
            if last is None:
                last = now
            if timeout is None:
                ms = int(poll * 1000)
            else:
                left = timeout - (now - last)
                if left <= 0:
                    return
                ms = max(1, min(int(left * 1000 + 0.999), int(poll * 1000)))
            rc = wait(h, ms)
            if rc not in (0, -10):
                raise self._fail(rc)

    # ---- positioning ----

    def _check(self, rc, allow=()):
        if rc and rc not in allow:
            raise self._fail(rc)
        return rc

    def seek(self, seq):
        """Position so that the next record is the one with sequence number seq.  Raises
        NotFoundError when seq is before the first record present; a seq past the end
        positions at the end."""
        self._drop_batch()
        self._check(lib.maplog_reader_seek(self._handle(), seq), (-9,))

    def seek_time(self, when):
        """Position at the first record whose timestamp is >= when (a datetime -- naive
        means local time -- or int ns since the epoch)."""
        self._drop_batch()
        self._check(lib.maplog_reader_seek_time(self._handle(), to_ns(when)), (-9,))

    def seek_cursor(self, cursor):
        """Position just after the record cursor names.  Raises StaleError for a cursor
        of another log or of a record recovery cut; NotFoundError when retention removed
        it (the reader is then at the first record present); past the end, positions at
        the end."""
        self._drop_batch()
        if isinstance(cursor, str):
            cursor = cursor.encode("ascii")
        self._check(lib.maplog_reader_seek_cursor(self._handle(), cursor), (-9,))

    def skip_segment(self):
        """After a CorruptError: skip the rest of that segment (its records are lost to
        this reader).  False when there is no later segment."""
        self._drop_batch()
        return self._check(lib.maplog_reader_skip_segment(self._handle()), (-9,)) == 0

    # ---- where the reader is ----

    def _last_index(self):
        """Index in the batch of the record returned last, -1 for none since it began."""
        return len(self._batch) - self._it.__length_hint__() - 1

    @property
    def log_id(self):
        """The log's 16-byte identity (None before any segment could be read)."""
        if self._log_id is None:
            buf = ctypes.create_string_buffer(16)
            if lib.maplog_reader_log_id(self._handle(), buf) == 0:
                self._log_id = buf.raw
        return self._log_id

    @property
    def cursor(self):
        """The cursor (a str) of the record returned last, for seek_cursor() later: it
        names the log, the seq and the record's check.  None before any record."""
        h = self._handle()
        i = self._last_index()
        if 0 <= i < len(self._batch) - 1:
            # the library's cursor is the batch's last record's; this one is inside it
            s, p = self._q[5 * i], self._q[5 * i + 2]
            if p and self._log_id is not None:
                # the record's stored crc is bytes 4..7 of its 16-byte header, just before
                # its payload (docs/FORMAT.md, "Cursors"); the batch is still valid
                crc = int.from_bytes(ctypes.string_at(p - 12, 4), "little")
                return "maplog1:%s:%d:%08x" % (self._log_id.hex(), s, crc)
            # a void record (no payload pointer): read it again alone, and ask the library
            self._drop_batch()
            self._check(lib.maplog_reader_seek(h, s))
            rc = self._next_batch(h, self._arr, 1, self._gotref)
            if rc:
                raise self._fail(rc)
        buf = ctypes.create_string_buffer(CURSOR_MAX)
        rc = lib.maplog_reader_cursor(h, buf, CURSOR_MAX)
        if rc == -11:
            return None
        if rc:
            raise self._fail(rc)
        return buf.value.decode("ascii")

    def _info(self, keys):
        h = self._handle()
        v = c_int64()
        out = {}
        for name, key in keys:
            rc = lib.maplog_reader_info_get(h, key, byref(v))
            if rc == -11:
                out[name] = None
            elif rc:
                raise self._fail(rc)
            else:
                out[name] = v.value
        return out

    @property
    def info(self):
        """The log's figures now (maplog_reader_info_get): records, first_seq, next_seq,
        segments, bytes_used, bytes_allocated, first_ts, last_ts (ns), void_records,
        lost_records, uncounted_segments, durable_count, clean_shutdown (True, False, or
        None while a writer has it open), torn_offset, torn_bytes, torn_valid_after,
        missing_after (None; or, the last segment being sealed, the first sequence number of
        the segment after it, which existed and is missing); and this reader's holes, lost
        and voids stepped over so far."""
        out = self._info(INFO_KEYS + PROGRESS_KEYS)
        cs = out.get("clean_shutdown")
        out["clean_shutdown"] = None if cs is None or cs < 0 else bool(cs)
        out["torn_valid_after"] = bool(out.get("torn_valid_after"))
        if out.get("missing_after") is None or out["missing_after"] < 0:
            out["missing_after"] = None
        return out

    def fileno(self):
        """A descriptor that becomes readable when a record may be there (maplog_reader_fd),
        for select/poll/asyncio; the reader owns it."""
        fd = lib.maplog_reader_fd(self._handle())
        if fd < 0:
            raise self._fail(fd)
        return fd

    # ---- closing ----

    @property
    def closed(self):
        return self._h is None

    def close(self):
        """Unmap everything.  Records' bytes stay valid; memoryviews of copy=False do not."""
        if self._h is not None:
            self._drop_batch()
            lib.maplog_reader_close(self._h)
            self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def __repr__(self):
        return "<maplog.Reader %r%s>" % (self.path, " closed" if self.closed else "")
