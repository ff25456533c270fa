"""_log.py -- maplog.open() and Log, the writer."""
import ctypes
import os
import threading

from ._errors import error, InvalidArgumentError
from ._lib import lib, c_void_p, c_uint64, c_int64, byref

DURABILITY = {"none": 0, "async": 1, "sync_every": 2}

# keyword: maplog_option (include/maplog.h)
OPTIONS = {
    "segment_size": 1,
    "create": 2,
    "durability": 3,
    "flush_interval_ms": 4,
    "flush_bytes": 5,
    "sync_every": 6,
    "file_mode": 7,
    "strict_recovery": 8,
    "prefault": 9,
    "retain_segments": 10,
    "retain_bytes": 11,
    "retain_age_ms": 12,
    "archive": 13,
}

RECOVERY_KEYS = {"clean": 1, "records": 2, "cut_offset": 3, "cut_bytes": 4, "saved_tail": 5,
                 "sealed": 6, "removed": 7, "voided": 8}


def _path(p):
    return os.fsencode(p)


def open(path, *, create=True, identity=None, **options):
    """Open (by default create) the log in directory path for appending; returns a Log.

    Keyword options are maplog.h's maplog_option keys in lower case: segment_size,
    durability ("none", "async", "sync_every" or the enum's number), flush_interval_ms,
    flush_bytes, sync_every, file_mode, strict_recovery, prefault, retain_segments,
    retain_bytes, retain_age_ms, archive; booleans are taken as 0/1.  identity=(log_id,
    first_seq) gives the log an identity (maplog_options_set_identity).  Opening runs
    recovery; raises LockedError when another process writes the log, NotFoundError
    when it is missing and create is False, CorruptError when recovery found damage."""
    opts = c_void_p()
    rc = lib.maplog_options_create(byref(opts))
    if rc:
        raise error(rc)
    try:
        items = dict(options, create=create)
        for key, value in items.items():
            if key not in OPTIONS:
                raise TypeError("maplog.open() got an unknown option %r (known: %s)"
                                % (key, ", ".join(sorted(OPTIONS))))
            if key == "durability" and isinstance(value, str):
                if value not in DURABILITY:
                    raise InvalidArgumentError("durability must be one of %s, not %r"
                                               % (", ".join(DURABILITY), value), -1)
                value = DURABILITY[value]
            rc = lib.maplog_options_set(opts, OPTIONS[key], int(value))
            if rc:
                raise error(rc, "option %s=%r is out of range" % (key, value))
        if identity is not None:
            log_id, first_seq = identity
            log_id = bytes(log_id)
            if len(log_id) != 16:
                raise InvalidArgumentError("identity's log id must be 16 bytes", -1)
            rc = lib.maplog_options_set_identity(opts, log_id, first_seq)
            if rc:
                raise error(rc, "identity (%s, %d) refused" % (log_id.hex(), first_seq))
        handle = c_void_p()
        rc = lib.maplog_open(byref(handle), _path(path), opts)
        if rc:
            raise error(rc, lib.maplog_last_open_error())
    finally:
        lib.maplog_options_free(opts)
    return Log(handle, path)


class Log:
    """A log open for appending (maplog_open).  As the C handle: append(), append_many(),
    sync(), archive() and the properties may be called from any number of threads at
    once; close() must not run concurrently with any other call on the same Log.  A Log
    is a context manager that closes it."""

    def __init__(self, handle, path):
        self._h = handle
        self.path = path
        self._tls = threading.local()
        self._append = lib.maplog_append
        self._append_ts = lib.maplog_append_ts

    def _handle(self):
        h = self._h
        if h is None or not h.value:
            raise ValueError("the log is closed")
        return h

    def _seqbuf(self):
        # one out-parameter per thread, so that concurrent appends do not share it
        try:
            return self._tls.buf
        except AttributeError:
            v = c_uint64()
            buf = self._tls.buf = (v, ctypes.addressof(v))
            return buf

    def _fail(self, rc):
        if self._h is None:
            return ValueError("the log is closed")
        return error(rc, lib.maplog_errmsg(self._h))

    def append(self, data, timestamp_ns=None):
        """Append one record (bytes, bytearray, memoryview or any buffer); returns its
        sequence number.  timestamp_ns: the record's time instead of the clock's."""
        # the hot path: no call but the library's (a closed log's None handle is NULL,
        # which the library refuses)
        try:
            v, addr = self._tls.buf
        except AttributeError:
            v, addr = self._seqbuf()
        if type(data) is not bytes:
            data = _as_bytes(data)
        if timestamp_ns is None:
            rc = self._append(self._h, data, len(data), addr)
        else:
            rc = self._append_ts(self._h, data, len(data), timestamp_ns, addr)
        if rc:
            raise self._fail(rc)
        return v.value

    def append_many(self, records, with_timestamps=False):
        """Append every item of an iterable of buffers, in order; returns the number
        appended.  with_timestamps=True: the items are (data, timestamp_ns) pairs.  Faster
        than append() in a loop: the lookups are made once.  On a failure the records
        before it are appended and the error is raised."""
        h = self._handle()
        v, addr = self._seqbuf()
        app, app_ts = self._append, self._append_ts
        n = 0
        if with_timestamps:
            for data, ts in records:
                if type(data) is not bytes:
                    data = _as_bytes(data)
                rc = app_ts(h, data, len(data), ts, addr)
                if rc:
                    raise self._fail(rc)
                n += 1
            return n
        for data in records:
            if type(data) is not bytes:
                data = _as_bytes(data)
            rc = app(h, data, len(data), addr)
            if rc:
                raise self._fail(rc)
            n += 1
        return n

    def append_void(self):
        """Append a void record (it takes a sequence number and carries nothing)."""
        v, addr = self._seqbuf()
        rc = lib.maplog_append_void(self._handle(), addr)
        if rc:
            raise self._fail(rc)
        return v.value

    def sync(self):
        """Make every record appended so far durable (maplog_sync)."""
        rc = lib.maplog_sync(self._handle())
        if rc:
            raise self._fail(rc)

    def archive(self):
        """Compress every sealed segment now (maplog_archive); returns how many."""
        n = c_uint64()
        rc = lib.maplog_archive(self._handle(), byref(n))
        if rc:
            raise self._fail(rc)
        return n.value

    def _u64(self, fn):
        n = c_uint64()
        rc = fn(self._handle(), byref(n))
        if rc:
            raise self._fail(rc)
        return n.value

    @property
    def durable_count(self):
        """Records known durable: those with seq < durable_count survive a power loss."""
        return self._u64(lib.maplog_durable_count)

    @property
    def next_seq(self):
        """The sequence number the next append will get."""
        return self._u64(lib.maplog_next_seq)

    @property
    def recovery(self):
        """What recovery did when this log was opened: a dict of maplog_recovery_info's
        figures (clean, records, cut_offset, ...) and "report", its sentence."""
        h = self._handle()
        out = {}
        v = c_int64()
        for name, key in RECOVERY_KEYS.items():
            if lib.maplog_recovery_info(h, key, byref(v)) == 0:
                out[name] = v.value
        out["clean"] = bool(out.get("clean"))
        out["report"] = lib.maplog_recovery_report(h).decode("utf-8", "replace")
        return out

    @property
    def closed(self):
        return not self._h

    def close(self):
        """Flush, checkpoint, release the lock (maplog_close).  Closing twice is fine."""
        h, self._h = self._h, None
        if h:
            rc = lib.maplog_close(h)
            if rc:
                raise error(rc, lib.maplog_errmsg(None))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_h", None):
            try:
                lib.maplog_close(self._h)
            except Exception:
                pass
            self._h = None

    def __repr__(self):
        return "<maplog.Log %r%s>" % (self.path, " closed" if self.closed else "")


def _as_bytes(data):
    """A buffer as something ctypes passes as a pointer: bytes as they are, others copied
    (a bytearray or memoryview append costs one copy of the payload)."""
    if isinstance(data, str):
        raise TypeError("a record is bytes, not str: encode it first")
    return bytes(data)
