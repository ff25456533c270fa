"""Positioning a reader: by sequence number, by time, by cursor."""
import datetime

import pytest

import maplog
from conftest import payload


@pytest.fixture
def filled(logdir):
    base = 1_700_000_000 * 10**9
    with maplog.open(logdir, segment_size=65536) as log:
        for i in range(2000):
            log.append(payload(i), timestamp_ns=base + i * 1000)
    return logdir, base


def test_seek(filled):
    d, base = filled
    with maplog.Reader(d) as r:
        for s in (0, 1, 999, 1234, 1999):
            r.seek(s)
            x = next(r)
            assert (x.seq, x.data) == (s, payload(s))
        r.seek(500)
        assert [x.seq for x in r.read(3)] == [500, 501, 502]
        # mid-batch: the rest of the batch is dropped and reading goes on from the seek
        r.seek(10)
        it = iter(r)
        next(it)
        r.seek(1500)
        assert next(it).seq == 1500
        r.seek(2000)                      # the next seq: at the end
        assert list(r) == []
        r.seek(5000)                      # past the end: at the end as well
        assert list(r) == []


def test_seek_before_first(logdir):
    with maplog.open(logdir, segment_size=65536, retain_segments=2) as log:
        for i in range(3000):
            log.append(payload(i))
        log.sync()
    with maplog.Reader(logdir) as r:
        first = next(r).seq
        assert first > 0
        with pytest.raises(maplog.NotFoundError) as e:
            r.seek(first - 1)
        assert e.value.code_name == "MAPLOG_ENOENT" and e.value.message
        r.seek(first)
        assert next(r).data == payload(first)
    assert maplog.stats(logdir)["first_seq"] == first


def test_seek_time(filled):
    d, base = filled
    with maplog.Reader(d) as r:
        r.seek_time(base + 700 * 1000)
        assert next(r).seq == 700
        r.seek_time(base + 700 * 1000 + 1)
        assert next(r).seq == 701
        r.seek_time(0)
        assert next(r).seq == 0
        when = datetime.datetime.fromtimestamp((base + 1500 * 1000) / 1e9, datetime.timezone.utc)
        r.seek_time(when)
        assert next(r).seq == 1500
        r.seek_time(when.astimezone().replace(tzinfo=None))     # naive: local time
        assert next(r).seq == 1500
        r.seek_time(base + 10**12)
        assert list(r) == []
        with pytest.raises(TypeError):
            r.seek_time("yesterday")


@pytest.mark.parametrize("voids", [False, True])
def test_cursors(filled, voids):
    d, base = filled
    with maplog.Reader(d, batch=1) as r:        # each record the last of its batch
        want = []
        for x in r:
            want.append(r.cursor)
    assert len(set(want)) == 2000 and want[5].startswith("maplog1:")
    with maplog.Reader(d, voids=voids) as r:
        assert r.cursor is None
        got = []
        for x in r:
            got.append(r.cursor)
        assert got == want
        assert r.cursor == want[-1]
    with maplog.Reader(d) as r:
        r.seek_cursor(want[999])
        assert r.cursor == want[999]
        assert [x.seq for x in r.read(2)] == [1000, 1001]
        r.seek_cursor(want[-1])
        assert list(r) == []
        with pytest.raises(maplog.InvalidArgumentError):
            r.seek_cursor("not a cursor")
        forged = want[5][:-8] + "%08x" % (int(want[5][-8:], 16) ^ 1)
        with pytest.raises(maplog.StaleError) as e:
            r.seek_cursor(forged)
        assert e.value.code == -14 and e.value.message


def test_cursor_of_another_log(filled, tmp_path):
    d, base = filled
    other = str(tmp_path / "other")
    with maplog.open(other, segment_size=65536) as log:
        log.append(b"x")
    with maplog.Reader(other) as r:
        next(r)
        c = r.cursor
    with maplog.Reader(d) as r:
        with pytest.raises(maplog.StaleError):
            r.seek_cursor(c)


def test_void_records(logdir):
    with maplog.open(logdir, segment_size=65536) as log:
        log.append(b"a")
        log.append_void()
        log.append(b"c")
    with maplog.Reader(logdir) as r:
        assert [(x.seq, x.data) for x in r] == [(0, b"a"), (2, b"c")]
    with maplog.Reader(logdir, batch=1) as r:
        one = [r.cursor for x in r if True]
    with maplog.Reader(logdir, voids=True) as r:
        recs = []
        curs = []
        for x in r:
            recs.append(x)
            curs.append(r.cursor)            # the void's is asked of the library
    assert [(x.seq, x.void, x.data) for x in recs] == [(0, False, b"a"), (1, True, b""),
                                                        (2, False, b"c")]
    assert isinstance(recs[1], maplog.VoidRecord) and recs[1].timestamp_ns == 0
    assert curs[0] == one[0] and curs[2] == one[1] and curs[1] not in one
