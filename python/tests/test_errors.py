"""Damage, wrong paths, and what verify, stats and the errors look like."""
import os
import struct
import subprocess
import sys

import pytest

import maplog
from conftest import child_env, payload, segments


def make(d, n=3000):
    with maplog.open(d, segment_size=65536) as log:
        for i in range(n):
            log.append(payload(i))


def record_offsets(path):
    """(offset, payload length) of each record of a segment file, by docs/FORMAT.md."""
    data = open(path, "rb").read()
    off, out = 4096, []
    while off + 16 <= len(data):
        word, = struct.unpack_from("<I", data, off)
        if not word & (1 << 31) or word == 0xFFFFFFFF:
            break
        ln = word & ((1 << 30) - 1)
        out.append((off, ln))
        off += (16 + ln + 7) & ~7
    return out


def test_corrupt_record_raises_with_file_and_offset(logdir):
    make(logdir)
    seg = segments(logdir)[2]                    # sealed: later segments follow it
    first = int(seg[:-5])
    recs = record_offsets(os.path.join(logdir, seg))
    k = next(i for i, (o, ln) in enumerate(recs) if ln > 20 and i > 3)
    off, ln = recs[k]
    with open(os.path.join(logdir, seg), "r+b") as f:
        f.seek(off + 16 + ln // 2)
        b = f.read(1)
        f.seek(off + 16 + ln // 2)
        f.write(bytes([b[0] ^ 0x10]))
    with maplog.Reader(logdir) as r:
        got = []
        with pytest.raises(maplog.CorruptError) as e:
            for x in r:
                got.append(x)
        # everything before the damaged record, nothing of it or after it
        assert [x.seq for x in got] == list(range(first + k))
        assert [x.data for x in got] == [payload(i) for i in range(first + k)]
        err = e.value
        assert err.code == -4 and err.code_name == "MAPLOG_ECORRUPT"
        assert seg in err.message and str(off) in err.message, err.message
        assert "offset" in err.message
        # the reader stays there: asking again raises again, with no record
        with pytest.raises(maplog.CorruptError):
            next(r)
        assert r.skip_segment()
        x = next(r)
        assert x.seq == int(segments(logdir)[3][:-5]) and x.data == payload(x.seq)
    for batch in (1, 5):
        with maplog.Reader(logdir, batch=batch, copy=False) as r:
            n = 0
            with pytest.raises(maplog.CorruptError):
                for x in r:
                    n += 1
            assert n == first + k
    problems = maplog.verify(logdir)
    assert problems and all(p.kind == "damage" for p in problems)
    assert any(p.file == seg and p.offset == off for p in problems), problems
    assert all(isinstance(p.what, str) and p.what for p in problems)
    assert maplog.verify(logdir, quick=True)      # the seal's digest no longer matches


def test_not_a_log(tmp_path):
    d = tmp_path / "plain"
    d.mkdir()
    (d / "notes.txt").write_text("hello")
    for call in (maplog.Reader, maplog.verify, maplog.stats):
        with pytest.raises(maplog.NotALogError) as e:
            call(str(d))
        assert e.value.code == -5 and e.value.code_name == "MAPLOG_ENOTLOG"
        assert isinstance(e.value, maplog.Error)
    assert str(d) in str(e.value)
    with pytest.raises(maplog.Error):
        maplog.open(str(d))                      # a writer will not create a log there
    missing = str(tmp_path / "missing")
    with pytest.raises(maplog.NotFoundError):
        maplog.Reader(missing)
    with pytest.raises(maplog.NotFoundError):
        maplog.open(missing, create=False)
    assert not os.path.exists(missing)
    with pytest.raises(maplog.NotFoundError) as e:   # only the log's own directory is made
        maplog.open(os.path.join(missing, "a", "log"))
    assert "parent directory is missing" in str(e.value)
    with pytest.raises(maplog.NotFoundError) as e:   # the library's reason, not a code alone
        maplog.verify(missing)
    assert "No such file or directory" in str(e.value)
    seg = tmp_path / "seg"
    with maplog.open(str(seg)) as log:
        log.append(b"x")
    name = next(n for n in os.listdir(seg) if n.endswith(".mlog"))
    with pytest.raises(maplog.NotALogError) as e:    # a segment file where its directory goes
        maplog.Reader(str(seg / name))
    assert "give the directory that holds it" in str(e.value)


def test_stats_and_verify_shape(logdir):
    make(logdir, 2000)
    st = maplog.stats(logdir)
    for key in ("records", "first_seq", "next_seq", "segments", "bytes_used",
                "bytes_allocated", "first_ts", "last_ts", "void_records", "lost_records",
                "durable_count", "torn_offset", "torn_bytes", "uncounted_segments"):
        assert isinstance(st[key], int), key
    assert (st["records"], st["first_seq"], st["next_seq"]) == (2000, 0, 2000)
    assert st["segments"] == len(segments(logdir))
    assert st["bytes_allocated"] == 65536 * st["segments"]
    assert 0 < st["bytes_used"] <= st["bytes_allocated"]
    assert 0 < st["first_ts"] <= st["last_ts"]
    assert st["clean_shutdown"] is True and st["torn_valid_after"] is False
    assert len(st["log_id"]) == 32
    assert maplog.verify(logdir) == [] and maplog.verify(logdir, quick=True) == []
    seen = []
    maplog.verify(logdir, progress=lambda done, total: seen.append((done, total)))
    assert all(0 <= a <= b for a, b in seen)
    r = maplog.recover(logdir)
    assert r.dropped == 0 and r.report


def test_error_classes():
    e = maplog.CorruptError("x.mlog: offset 8: bad", -4)
    assert (e.code, e.code_name, e.message) == (-4, "MAPLOG_ECORRUPT", "x.mlog: offset 8: bad")
    assert "x.mlog" in str(e)
    assert issubclass(maplog.InvalidArgumentError, ValueError)
    names = {cls.code_name for cls in (maplog.InvalidArgumentError, maplog.IOFailure,
             maplog.NoMemoryError, maplog.CorruptError, maplog.NotALogError, maplog.TooBigError,
             maplog.LockedError, maplog.NoSpaceError, maplog.EndError, maplog.TimedOutError,
             maplog.NotFoundError, maplog.VersionError, maplog.ClosedError, maplog.StaleError)}
    assert len(names) == 14


def test_library_not_found_says_how():
    env = child_env()
    env["MAPLOG_LIBRARY"] = "/nonexistent/libmaplog.so"
    p = subprocess.run([sys.executable, "-c", "import maplog"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert p.returncode != 0
    assert "ImportError" in p.stderr and "MAPLOG_LIBRARY=/nonexistent/libmaplog.so" in p.stderr
    # without it, in a checkout with no build tree, nothing installed: every place tried
    env.pop("MAPLOG_LIBRARY")
    p = subprocess.run([sys.executable, "-c", "import maplog._lib as l; print(l.lib.path)"],
                       env=env, capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        assert "set MAPLOG_LIBRARY" in p.stderr and "libmaplog.so.0" in p.stderr
    else:
        assert "libmaplog.so" in p.stdout


def test_recover_cuts_damage(logdir):
    make(logdir)
    seg = segments(logdir)[1]
    first = int(seg[:-5])
    off, ln = record_offsets(os.path.join(logdir, seg))[3]
    with open(os.path.join(logdir, seg), "r+b") as f:
        f.seek(off + 8)                          # the timestamp: the CRC covers it
        f.write(b"\xff")
    said = maplog.recover(logdir)
    assert said.dropped != 0 and seg in said.report, said
    assert maplog.verify(logdir)                 # saying changed nothing
    done = maplog.recover(logdir, apply=True)
    assert done.report
    assert maplog.verify(logdir) == []
    with maplog.Reader(logdir) as r:
        recs = list(r)
    assert [x.seq for x in recs] == list(range(first + 3))
    assert [x.data for x in recs] == [payload(i) for i in range(first + 3)]
    assert any(".tail-" in f for f in os.listdir(logdir))     # the cut bytes are kept
