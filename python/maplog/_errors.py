"""_errors.py -- maplog.Error and one subclass per MAPLOG_E* code."""
from ._lib import lib


class Error(Exception):
    """A maplog call failed.  .code is the negative MAPLOG_E* code, .code_name its name
    (e.g. "MAPLOG_ECORRUPT"), .message the library's text (file, offset, what was wrong)."""
    code = None
    code_name = None

    def __init__(self, message, code=None):
        super().__init__(message)
        if code is not None:
            self.code = code
            self.code_name = CODE_NAMES.get(code, "MAPLOG_E%d" % -code)
        self.message = message

    def __str__(self):
        return "%s (%s)" % (self.message, self.code_name) if self.code_name else self.message


class InvalidArgumentError(Error, ValueError):
    """MAPLOG_EINVAL: an argument is out of range."""


class IOFailure(Error):
    """MAPLOG_EIO: a system call failed; the message names it and errno."""


class NoMemoryError(Error, MemoryError):
    """MAPLOG_ENOMEM: out of memory or address space."""


class CorruptError(Error):
    """MAPLOG_ECORRUPT: on-disk data failed a check; the message names file and offset."""


class NotALogError(Error):
    """MAPLOG_ENOTLOG: the path is not a maplog directory."""


class TooBigError(Error, ValueError):
    """MAPLOG_ETOOBIG: the record cannot fit in one segment."""


class LockedError(Error):
    """MAPLOG_ELOCKED: another process holds the log for writing."""


class NoSpaceError(Error):
    """MAPLOG_ENOSPC: the file system is full."""


class EndError(Error):
    """MAPLOG_END: no further record (yet)."""


class TimedOutError(Error):
    """MAPLOG_ETIMEDOUT: a wait ran out of time."""


class NotFoundError(Error):
    """MAPLOG_ENOENT: no such log, or the record asked for is not (or no more) there."""


class VersionError(Error):
    """MAPLOG_EVERSION: a file needs a newer format version or an unknown feature."""


class ClosedError(Error):
    """MAPLOG_ECLOSED: a sync failed earlier on this handle: durability is unknown."""


class StaleError(Error):
    """MAPLOG_ESTALE: a cursor names a record this log does not hold."""


CODES = {
    -1: ("MAPLOG_EINVAL", InvalidArgumentError),
    -2: ("MAPLOG_EIO", IOFailure),
    -3: ("MAPLOG_ENOMEM", NoMemoryError),
    -4: ("MAPLOG_ECORRUPT", CorruptError),
    -5: ("MAPLOG_ENOTLOG", NotALogError),
    -6: ("MAPLOG_ETOOBIG", TooBigError),
    -7: ("MAPLOG_ELOCKED", LockedError),
    -8: ("MAPLOG_ENOSPC", NoSpaceError),
    -9: ("MAPLOG_END", EndError),
    -10: ("MAPLOG_ETIMEDOUT", TimedOutError),
    -11: ("MAPLOG_ENOENT", NotFoundError),
    -12: ("MAPLOG_EVERSION", VersionError),
    -13: ("MAPLOG_ECLOSED", ClosedError),
    -14: ("MAPLOG_ESTALE", StaleError),
}
CODE_NAMES = {c: n for c, (n, _) in CODES.items()}
for _c, (_n, _cls) in CODES.items():
    _cls.code, _cls.code_name = _c, _n


def error(code, message=None):
    """The exception for code, with message (or the library's name for the code)."""
    cls = CODES.get(code, (None, Error))[1]
    if not message:
        message = lib.maplog_strerror(code).decode("utf-8", "replace")
    elif isinstance(message, bytes):
        message = message.decode("utf-8", "replace")
    return cls(message, code)
