"""_lib.py -- finds libmaplog.so and declares its functions for ctypes.

Where the library is looked for, in order:
  1. $MAPLOG_LIBRARY: the path of libmaplog.so (or libmaplog.so.0) to load, and only that;
  2. when this package is imported from a source checkout (python/maplog/ beside the
     project's CMakeLists.txt): the build trees build/default, build/release and build of
     that checkout (`cmake -S . -B build/default && cmake --build build/default`);
  3. the installed library: libmaplog.so.0 through the dynamic loader (ld.so.cache,
     LD_LIBRARY_PATH), what ctypes.util.find_library("maplog") finds, then the usual
     lib directories of /usr/local and /usr.
Every argtypes/restype is set once here, so calls convert nothing they need not.
"""
import ctypes
import ctypes.util
import os

SONAME = "libmaplog.so.0"
ABI_MAJOR = 0

c_int, c_int64, c_uint64, c_size_t = ctypes.c_int, ctypes.c_int64, ctypes.c_uint64, ctypes.c_size_t
c_char_p, c_void_p, POINTER, byref = ctypes.c_char_p, ctypes.c_void_p, ctypes.POINTER, ctypes.byref


class maplog_record(ctypes.Structure):
    _fields_ = [("seq", c_uint64), ("timestamp_ns", c_uint64), ("data", c_void_p),
                ("len", c_size_t), ("flags", ctypes.c_uint32)]


class maplog_problem(ctypes.Structure):
    _fields_ = [("file", c_char_p), ("offset", c_uint64), ("what", c_char_p), ("kind", c_int)]


PROBLEM_FN = ctypes.CFUNCTYPE(None, c_void_p, POINTER(maplog_problem))
PROGRESS_FN = ctypes.CFUNCTYPE(None, c_void_p, c_uint64, c_uint64)

# name: (restype, argtypes); every function the package calls
_PROTOS = {
    "maplog_version": (c_char_p, []),
    "maplog_version_number": (c_int, []),
    "maplog_strerror": (c_char_p, [c_int]),
    "maplog_options_create": (c_int, [POINTER(c_void_p)]),
    "maplog_options_set": (c_int, [c_void_p, c_int, c_int64]),
    "maplog_options_set_identity": (c_int, [c_void_p, c_char_p, c_uint64]),
    "maplog_options_free": (None, [c_void_p]),
    "maplog_open": (c_int, [POINTER(c_void_p), c_char_p, c_void_p]),
    "maplog_last_open_error": (c_char_p, []),
    "maplog_close": (c_int, [c_void_p]),
    # buf as c_char_p: a bytes object is passed as a pointer to its own buffer, no copy
    "maplog_append": (c_int, [c_void_p, c_char_p, c_size_t, c_void_p]),
    "maplog_append_ts": (c_int, [c_void_p, c_char_p, c_size_t, c_uint64, c_void_p]),
    "maplog_append_void": (c_int, [c_void_p, c_void_p]),
    "maplog_sync": (c_int, [c_void_p]),
    "maplog_archive": (c_int, [c_void_p, POINTER(c_uint64)]),
    "maplog_durable_count": (c_int, [c_void_p, POINTER(c_uint64)]),
    "maplog_next_seq": (c_int, [c_void_p, POINTER(c_uint64)]),
    "maplog_recovery_info": (c_int, [c_void_p, c_int, POINTER(c_int64)]),
    "maplog_recovery_report": (c_char_p, [c_void_p]),
    "maplog_errmsg": (c_char_p, [c_void_p]),
    "maplog_reader_open": (c_int, [POINTER(c_void_p), c_char_p, c_int]),
    "maplog_reader_close": (None, [c_void_p]),
    "maplog_reader_next_batch": (c_int, [c_void_p, c_void_p, c_size_t, POINTER(c_size_t)]),
    "maplog_reader_seek": (c_int, [c_void_p, c_uint64]),
    "maplog_reader_seek_time": (c_int, [c_void_p, c_uint64]),
    "maplog_reader_wait": (c_int, [c_void_p, c_int]),
    "maplog_reader_set_spin": (c_int, [c_void_p, c_int]),
    "maplog_reader_fd": (c_int, [c_void_p]),
    "maplog_reader_skip_segment": (c_int, [c_void_p]),
    "maplog_reader_errmsg": (c_char_p, [c_void_p]),
    "maplog_reader_info_get": (c_int, [c_void_p, c_int, POINTER(c_int64)]),
    "maplog_reader_log_id": (c_int, [c_void_p, c_char_p]),
    "maplog_reader_cursor": (c_int, [c_void_p, c_char_p, c_size_t]),
    "maplog_reader_seek_cursor": (c_int, [c_void_p, c_char_p]),
    "maplog_verify": (c_int, [c_char_p, c_int, PROBLEM_FN, PROGRESS_FN, c_void_p,
                              POINTER(c_uint64)]),
    "maplog_recover": (c_int, [c_char_p, c_int, c_char_p, c_size_t, POINTER(c_int64)]),
}

HOW = ("set MAPLOG_LIBRARY to the path of libmaplog.so (a build tree has it at "
       "BUILD/libmaplog.so: scripts/demo.sh builds build/release, scripts/test.sh "
       "build/default), or install the library (cmake --install BUILD) where the dynamic "
       "loader finds it")


def _candidates():
    """(path, why) pairs to try, in order, when $MAPLOG_LIBRARY is not set."""
    here = os.path.dirname(os.path.abspath(__file__))
    top = os.path.dirname(os.path.dirname(here))
    if os.path.isfile(os.path.join(top, "CMakeLists.txt")) and \
            os.path.isfile(os.path.join(top, "include", "maplog.h")):
        for b in ("build/default", "build/release", "build"):
            yield os.path.join(top, b, "libmaplog.so"), "build tree"
    yield SONAME, "dynamic loader"
    found = ctypes.util.find_library("maplog")
    if found and found != SONAME:
        yield found, "ctypes.util.find_library"
    for d in ("/usr/local/lib", "/usr/local/lib64", "/usr/local/lib/x86_64-linux-gnu",
              "/usr/local/lib/aarch64-linux-gnu", "/usr/lib", "/usr/lib64",
              "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu"):
        yield os.path.join(d, SONAME), "lib directory"


def _declare(lib):
    for name, (res, args) in _PROTOS.items():
        f = getattr(lib, name)
        f.restype = res
        f.argtypes = args
    return lib


def load():
    """Load and declare the library; ImportError naming every place tried when none loads."""
    env = os.environ.get("MAPLOG_LIBRARY")
    if env:
        try:
            lib = ctypes.CDLL(env)
        except OSError as e:
            raise ImportError("maplog: cannot load MAPLOG_LIBRARY=%s: %s" % (env, e)) from None
        return _check(_declare_or_fail(lib, env), env)
    tried = []
    for path, why in _candidates():
        if os.sep in path and not os.path.exists(path):
            tried.append("%s (%s): not there" % (path, why))
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            tried.append("%s (%s): %s" % (path, why, e))
            continue
        return _check(_declare_or_fail(lib, path), path)
    raise ImportError("maplog: libmaplog.so not found; tried:\n  " + "\n  ".join(tried) +
                      "\n" + HOW)


def _declare_or_fail(lib, path):
    try:
        return _declare(lib)
    except AttributeError as e:
        raise ImportError("maplog: %s is not a libmaplog this package can use (%s); %s"
                          % (path, e, HOW)) from None


def _check(lib, path):
    n = lib.maplog_version_number()
    if n // 10000 != ABI_MAJOR:
        raise ImportError("maplog: %s is version %s, this package needs %d.x; %s"
                          % (path, lib.maplog_version().decode(), ABI_MAJOR, HOW))
    lib.path = _where(path)
    return lib


def _where(path):
    """The file the loader took for path (a bare soname says little), when it can tell."""
    if os.path.isabs(path):
        return path
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                p = line.split(None, 5)[-1].strip()
                if os.path.basename(p).startswith("libmaplog.so"):
                    return p
    except OSError:
        pass
    return path


lib = load()
