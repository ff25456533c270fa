"""Appending and reading back: payloads, sequence numbers, timestamps, batch sizes."""
import datetime
import threading
import time

import pytest

import maplog
from conftest import payload, segments


def fill(d, n, **opts):
    with maplog.open(d, **opts) as log:
        seqs = [log.append(payload(i)) for i in range(n)]
        assert log.next_seq == n
    return seqs


def test_round_trip_varied_sizes(logdir):
    t0 = time.time_ns()
    seqs = fill(logdir, 3000, segment_size=65536)
    t1 = time.time_ns()
    assert seqs == list(range(3000))
    assert len(segments(logdir)) > 5          # the records span many segments
    with maplog.Reader(logdir) as r:
        recs = list(r)
    assert [x.seq for x in recs] == list(range(3000))
    assert [x.data for x in recs] == [payload(i) for i in range(3000)]
    assert all(type(x.data) is bytes for x in recs)
    ts = [x.timestamp_ns for x in recs]
    assert ts == sorted(ts) and t0 - 10**9 <= ts[0] and ts[-1] <= t1 + 10**9
    x = recs[5]
    assert tuple(x) == (x.seq, x.timestamp_ns, x.data)
    assert x.datetime.tzinfo is not None
    assert abs(x.datetime.timestamp() - x.timestamp_ns / 1e9) < 1e-5
    assert not x.void


@pytest.mark.parametrize("batch", [1, 7, 1024])
def test_batch_sizes_and_views_agree(logdir, batch):
    fill(logdir, 700, segment_size=65536)
    with maplog.Reader(logdir) as r:
        want = [(x.seq, x.timestamp_ns, x.data) for x in r]
    with maplog.Reader(logdir, batch=batch) as r:
        assert [tuple(x) for x in r] == want
    got = []
    with maplog.Reader(logdir, batch=batch, copy=False) as r:
        for x in r:
            assert isinstance(x.data, memoryview) and x.data.readonly
            got.append((x.seq, x.timestamp_ns, bytes(x.data)))
        last = x.data
    assert got == want
    with pytest.raises(ValueError):     # released: it pointed into a mapping now gone
        bytes(last)


def test_large_and_too_big(logdir):
    big = bytes(range(256)) * 255 + b"end"               # 65283 bytes: more than a segment holds
    with maplog.open(logdir, segment_size=65536) as log:
        most = 65536 - 4112
        assert log.append(big[:most]) == 0
        with pytest.raises(maplog.TooBigError) as e:
            log.append(big[:most + 1])
        assert e.value.code == -6 and e.value.code_name == "MAPLOG_ETOOBIG"
        assert log.append(b"") == 1
        assert log.append(bytearray(b"ba")) == 2
        assert log.append(memoryview(b"xmvx")[1:3]) == 3
        with pytest.raises(TypeError):
            log.append("text")
    with maplog.Reader(logdir) as r:
        assert [x.data for x in r] == [big[:most], b"", b"ba", b"mv"]


def test_timestamps_given(logdir):
    when = datetime.datetime(2024, 2, 29, 12, 30, 45, 123456, tzinfo=datetime.timezone.utc)
    ns = int(when.timestamp()) * 10**9 + 123456789
    with maplog.open(logdir, segment_size=65536) as log:
        log.append(b"a", timestamp_ns=ns)
        assert log.append_many([(b"b", ns + 1), (b"c", ns + 2)], with_timestamps=True) == 2
        assert log.append_many(iter([b"d", b"e"])) == 2
    with maplog.Reader(logdir) as r:
        recs = list(r)
    assert [(x.seq, x.timestamp_ns, x.data) for x in recs[:3]] == \
        [(0, ns, b"a"), (1, ns + 1, b"b"), (2, ns + 2, b"c")]
    assert recs[0].datetime == when.replace(microsecond=123456)
    assert [x.data for x in recs[3:]] == [b"d", b"e"]


def test_threads_append_dense(logdir):
    with maplog.open(logdir, segment_size=65536) as log:
        got = [[] for _ in range(4)]

        def work(k):
            for i in range(2000):
                got[k].append(log.append(b"%d-%d" % (k, i)))
        ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert sorted(sum(got, [])) == list(range(8000))
    with maplog.Reader(logdir) as r:
        by_seq = {x.seq: x.data for x in r}
    for k in range(4):
        assert [by_seq[s] for s in got[k]] == [b"%d-%d" % (k, i) for i in range(2000)]


def test_reader_sees_more_and_read(logdir):
    with maplog.open(logdir, segment_size=65536) as log:
        log.append(b"0")
        with maplog.Reader(logdir) as r:
            assert [x.data for x in r] == [b"0"]
            assert list(r) == []
            log.append_many([b"1", b"2", b"3"])
            assert [x.data for x in r.read(2)] == [b"1", b"2"]
            assert next(r).data == b"3"
            with pytest.raises(StopIteration):
                next(r)
            assert r.read() == []


def test_sync_archive_durable(logdir):
    with maplog.open(logdir, segment_size=65536, durability="async") as log:
        for i in range(2000):
            log.append(payload(i))
        log.sync()
        assert log.durable_count == 2000
        assert log.archive() >= 1
    assert any(f.endswith(".mlogz") for f in __import__("os").listdir(logdir))
    with maplog.Reader(logdir) as r:
        assert [x.data for x in r] == [payload(i) for i in range(2000)]
    assert maplog.verify(logdir) == []


def test_options(logdir):
    with pytest.raises(TypeError):
        maplog.open(logdir, segment_sise=65536)
    with pytest.raises(maplog.InvalidArgumentError) as e:
        maplog.open(logdir, segment_size=1000)
    assert "segment_size" in str(e.value) and e.value.code == -1
    with pytest.raises(maplog.InvalidArgumentError):
        maplog.open(logdir, durability="sometimes")
    with maplog.open(logdir, segment_size=65536, durability="sync_every", sync_every=1,
                     flush_interval_ms=0, prefault=False, file_mode=0o600) as log:
        log.append(b"x")
        assert log.durable_count == 1
    log.close()                                  # twice is fine
    with pytest.raises(ValueError):
        log.append(b"y")
