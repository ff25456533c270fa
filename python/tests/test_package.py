"""The package as users get it: pip-installed into a venv, found by its library search, and
the example script."""
import csv
import os
import shutil
import subprocess
import sys

import pytest

import maplog
from conftest import PYDIR, child_env

LIB = maplog.library_path


def copy_package(dst):
    shutil.copytree(PYDIR, dst, ignore=shutil.ignore_patterns(
        "build", "*.egg-info", "__pycache__", "tests", ".pytest_cache"))


def test_pip_install_in_venv(tmp_path):
    try:
        import venv  # noqa: F401
        import ensurepip  # noqa: F401
    except ImportError as e:
        print("SKIPPED: python3-venv is not installed (%s)" % e)
        pytest.skip("python3-venv is not installed: %s" % e)
    src = tmp_path / "src"
    copy_package(src)                      # pip builds in the tree it is given
    v = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(v)],
                   check=True, capture_output=True, timeout=120)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    p = subprocess.run([str(v / "bin" / "pip"), "install", "--no-index", "--no-build-isolation",
                        str(src)], capture_output=True, text=True, timeout=240, env=env)
    assert p.returncode == 0, p.stdout + p.stderr
    d = tmp_path / "log"
    code = ("import maplog, sys\n"
            "with maplog.open(sys.argv[1], segment_size=65536) as log: log.append(b'from the venv')\n"
            "print(maplog.__file__)\n"
            "print([r.data for r in maplog.Reader(sys.argv[1])])\n")
    env["MAPLOG_LIBRARY"] = LIB
    p = subprocess.run([str(v / "bin" / "python"), "-c", code, str(d)], capture_output=True,
                       text=True, timeout=60, env=env, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    where, data = p.stdout.splitlines()
    assert where.startswith(str(v)), where
    assert data == "[b'from the venv']"


def test_library_search(tmp_path):
    # a checkout's build tree is found without MAPLOG_LIBRARY
    co = tmp_path / "checkout"
    (co / "include").mkdir(parents=True)
    (co / "CMakeLists.txt").write_text("")
    (co / "include" / "maplog.h").write_text("")
    copy_package(co / "python")
    (co / "build" / "default").mkdir(parents=True)
    os.symlink(LIB, co / "build" / "default" / "libmaplog.so")
    env = child_env()
    env.pop("MAPLOG_LIBRARY", None)
    env["PYTHONPATH"] = str(co / "python")
    code = "import maplog; print(maplog.library_path)"
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=60, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == str(co / "build" / "default" / "libmaplog.so")
    # outside a checkout: the installed library, or an ImportError that says what to do
    alone = tmp_path / "alone"
    alone.mkdir()
    shutil.copytree(co / "python" / "maplog", alone / "maplog")
    env["PYTHONPATH"] = str(alone)
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=60, cwd=str(tmp_path))
    if p.returncode == 0:
        assert "build" not in p.stdout, p.stdout
    else:
        assert "ImportError" in p.stderr and "set MAPLOG_LIBRARY" in p.stderr, p.stderr
        assert "libmaplog.so.0" in p.stderr
    # an installed library the dynamic loader finds, by its soname
    libdir = tmp_path / "prefix" / "lib"
    libdir.mkdir(parents=True)
    os.symlink(LIB, libdir / "libmaplog.so.0")
    env["LD_LIBRARY_PATH"] = str(libdir)
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=60, cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr
    assert os.path.realpath(p.stdout.strip()) == os.path.realpath(LIB), p.stdout
    # a wrong $MAPLOG_LIBRARY is an error, never a silent fallback
    env["MAPLOG_LIBRARY"] = str(tmp_path / "nonexistent.so")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=60, cwd=str(tmp_path))
    assert p.returncode != 0
    assert "MAPLOG_LIBRARY=%s" % (tmp_path / "nonexistent.so") in p.stderr, p.stderr


def test_example_to_csv(tmp_path):
    d = str(tmp_path / "log")
    with maplog.open(d, segment_size=65536) as log:
        for i in range(1000):
            log.append(("event %d, \"quoted\"" % i).encode() if i % 3 else bytes([i % 256, 255]))
    out = tmp_path / "out.csv"
    p = subprocess.run([sys.executable, os.path.join(PYDIR, "examples", "to_csv.py"), d,
                        "-o", str(out), "--from", "10"], env=child_env(), capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["seq"]) for r in rows] == list(range(10, 1000))
    for r in rows:
        i = int(r["seq"])
        assert r["data"] == ("event %d, \"quoted\"" % i if i % 3 else "hex:%02xff" % (i % 256))
        assert r["time"].endswith("+00:00")
