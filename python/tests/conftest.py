"""Shared by the tests: the package under test is the one in this checkout (python/), and
the library the one $MAPLOG_LIBRARY names (ctest sets it to the build's libmaplog.so)."""
import os
import subprocess
import sys

import pytest

PYDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, PYDIR)


def child_env():
    """The environment for a child Python that imports this checkout's package."""
    env = dict(os.environ)
    env["PYTHONPATH"] = PYDIR + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def spawn(code, *args, **kw):
    """Start `python -c code args...` importing this checkout's maplog."""
    return subprocess.Popen([sys.executable, "-c", code] + [str(a) for a in args],
                            env=child_env(), **kw)


@pytest.fixture
def logdir(tmp_path):
    return str(tmp_path / "log")


def payload(i):
    """Record i's payload: varied sizes, empty ones included, each naming its index."""
    size = (0, 1, 7, 8, 9, 64, 100, 1000, 4089)[i % 9]
    head = b"%d:" % i
    return (head * (size // len(head) + 1))[:size]


def segments(d):
    return sorted(f for f in os.listdir(d) if f.endswith(".mlog"))
