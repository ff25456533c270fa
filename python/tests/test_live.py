"""A reader beside a writer in another process: following across rollovers, and a log
whose writer was killed."""
import os
import signal
import time

import maplog
from conftest import segments, spawn

WRITER = r"""
import sys, time, maplog
d, n = sys.argv[1], int(sys.argv[2])
with maplog.open(d, segment_size=65536) as log:
    print("open", flush=True)
    sys.stdin.readline()                      # wait until the follower is there
    for i in range(n):
        log.append(b"%d:" % i + bytes(i % 300))
        if i % 2000 == 1999:
            time.sleep(0.05)                  # let the follower catch up now and then
print("done", flush=True)
"""


def test_follow_across_rollovers(logdir):
    import subprocess
    n = 20000
    w = spawn(WRITER, logdir, n, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert w.stdout.readline().strip() == "open"
        with maplog.Reader(logdir) as r:
            w.stdin.write("go\n")
            w.stdin.flush()
            got = 0
            t0 = time.monotonic()
            for x in r.follow(timeout=10):
                assert x.seq == got, (x.seq, got)
                assert x.data == b"%d:" % got + bytes(got % 300)
                got += 1
                if got == n:
                    break
            assert got == n
            assert w.wait(timeout=30) == 0
            assert len(segments(logdir)) > 20        # it rolled over many times
            # nothing more comes: follow stops after its timeout, not before
            t1 = time.monotonic()
            assert list(r.follow(timeout=0.3)) == []
            waited = time.monotonic() - t1
            assert 0.25 <= waited < 5, waited
            assert time.monotonic() - t0 < 60
    finally:
        if w.poll() is None:
            w.kill()
            w.wait()


CRASHER = r"""
import os, signal, sys, maplog
d, n = sys.argv[1], int(sys.argv[2])
log = maplog.open(d, segment_size=65536)
for i in range(n):
    log.append(b"rec %d " % i * (i % 13))
    if i == n // 2:
        log.sync()
print(log.next_seq, flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""


def test_crashed_log_read_as_it_is(logdir):
    import subprocess
    n = 3000
    w = spawn(CRASHER, logdir, n, stdout=subprocess.PIPE, text=True)
    out, _ = w.communicate(timeout=60)
    assert w.returncode == -signal.SIGKILL
    assert int(out) == n
    with maplog.Reader(logdir) as r:
        recs = list(r)
        info = r.info
    # every append returned before the kill: a process crash keeps them all
    assert [x.seq for x in recs] == list(range(n))
    assert [x.data for x in recs] == [b"rec %d " % i * (i % 13) for i in range(n)]
    assert info["clean_shutdown"] is False
    problems = maplog.verify(logdir)
    assert all(p.kind == "crash" for p in problems), problems
    st = maplog.stats(logdir)
    assert st["records"] == n and st["next_seq"] == n
    rep = maplog.recover(logdir)                 # only says what it would do
    assert isinstance(rep.report, str) and rep.report and rep.dropped in (0, -1)
    # a writer opening it runs recovery; the records stay
    with maplog.open(logdir, segment_size=65536) as log:
        assert log.next_seq == n
        assert log.recovery["clean"] is False
        assert log.recovery["report"]
    assert maplog.verify(logdir) == []


def test_locked(logdir):
    import subprocess
    w = spawn("import sys, maplog\nlog = maplog.open(sys.argv[1], segment_size=65536)\nprint('ok', flush=True)\n"
              "sys.stdin.readline()\n", logdir,
              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert w.stdout.readline().strip() == "ok"
        try:
            maplog.open(logdir)
        except maplog.LockedError as e:
            assert e.code == -7 and e.code_name == "MAPLOG_ELOCKED"
            assert logdir in e.message or os.path.basename(logdir) in e.message
        else:
            raise AssertionError("a second writer was let in")
        with maplog.Reader(logdir) as r:           # readers are welcome
            assert list(r) == []
            assert r.info["clean_shutdown"] is None
        with maplog.open(logdir + "-x", segment_size=65536) as log:     # unrelated log: fine
            log.append(b"")
    finally:
        w.stdin.close()
        w.wait(timeout=30)
