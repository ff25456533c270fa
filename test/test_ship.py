#!/usr/bin/env python3
"""test_ship.py -- maplog ship and maplog mirror against real nats-server processes on loopback.

  1. one server: ship 100,000 records (about 64 B, then about 1 KiB) in batches (the
     default), then --per-record; a second run ships nothing; a per-record stream is not
     for the mirror: it says so;
  2. the shipper SIGKILLed at seeded moments (by how far the stream has got) and
     restarted, 10 times;
  3. the server SIGKILLed and restarted mid-stream;
  4. the mirror SIGKILLed at seeded moments and restarted, 10 times, while it catches up
     300,000 records in batches of 16 KiB; a live mirror while the server is SIGKILLed and
     restarted; a writer, a shipper and a live mirror at once across a server restart;
  5. two logs shipped at once into one stream, a subject each, mirrored back apart;
  6. crafted messages the mirror must refuse (ship_check --publish): another log's batch,
     a flipped byte in a record, no Maplog-Count, a gap -- it stops there, exit 1, naming
     the stream sequence and what is wrong, having appended only what came before;
  7. a three-server JetStream cluster, R3 streams: batched and --per-record, one server
     killed while shipping, the server a mirror reads from killed while it catches up, and
     while a writer, a shipper and the live mirror run at once.
Every stream is read back by ship_check (in a batch, every record's CRC is checked) and,
when batched, mirrored back with `maplog mirror`: `maplog dump` of the source and of the
mirror are byte-identical (and their last cursors) and `maplog verify` passes on the
mirror.  RATE lines give records/s (the tool's own count and clock, and the wall time of
the whole run) for the closing note; no rate is asserted.

Usage: test_ship.py MAPLOG MKLOG SHIP_CHECK NATS_SERVER [SEED]   (or MAPLOG_TEST_SEED)
"""
import atexit
import ctypes
import hashlib
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

MAPLOG, MKLOG, CHECK, SERVER = sys.argv[1:5]
SEED = int(sys.argv[5]) if len(sys.argv) > 5 else int(os.environ.get("MAPLOG_TEST_SEED", time.time_ns() % 10**9))
print("seed:", SEED, flush=True)
rng = random.Random(SEED)
N = 100000
failures = []
T0 = time.time()

try:
    _libc = ctypes.CDLL(None, use_errno=True)
except OSError:
    _libc = None


def _die_with_us():
    """In the child: SIGKILL it if this test dies first, so no server outlives a killed run."""
    if _libc is not None:
        _libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def check(cond, what):
    if not cond:
        failures.append(what)
    print(("ok:   " if cond else "FAIL: ") + what, flush=True)


def note(what):
    print("      " + what, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def wait_port(port, timeout=15):
    end = time.time() + timeout
    while time.time() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


procs = []  # every background process this test starts: killed at the end, whatever happens


def spawn(args, err_path=None, **kw):
    p = subprocess.Popen(args, stdout=kw.pop("stdout", subprocess.DEVNULL),
                         stderr=open(err_path, "w") if err_path else subprocess.DEVNULL,
                         preexec_fn=_die_with_us, **kw)
    p.err_path = err_path
    procs.append(p)
    return p


def kill_all():
    for p in procs:
        if p.poll() is None:
            p.kill()
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass


atexit.register(kill_all)


def finish(p, sig=signal.SIGTERM, timeout=30):
    """Send sig (None: none) and wait; SIGKILL if it does not end in time.  (rc or None, its
    stderr)."""
    if sig is not None and p.poll() is None:
        p.send_signal(sig)
    try:
        rc = p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait(timeout=10)
        rc = None
    err = open(p.err_path).read() if p.err_path else ""
    return rc, err


def run(args, timeout=300):
    try:
        return subprocess.run(args, capture_output=True, text=True, timeout=timeout,
                              preexec_fn=_die_with_us)
    except subprocess.TimeoutExpired as e:
        return subprocess.CompletedProcess(args, None, e.stdout or "", "timed out after %d s" % timeout)


def last_line(text):
    text = (text or "").strip()
    return text.splitlines()[-1] if text else ""


class Server:
    def __init__(self, base, name, port, cluster=None):
        self.port, self.name = port, name
        conf = os.path.join(base, name + ".conf")
        with open(conf, "w") as f:
            f.write('server_name: %s\nlisten: 127.0.0.1:%d\n' % (name, port))
            f.write('jetstream { store_dir: "%s" }\n' % os.path.join(base, name + "-store"))
            if cluster:
                cport, routes = cluster
                f.write('cluster { name: c1, listen: 127.0.0.1:%d, routes: [%s] }\n'
                        % (cport, ", ".join('"nats-route://127.0.0.1:%d"' % r for r in routes)))
        self.conf, self.log = conf, os.path.join(base, name + ".log")
        self.p = None

    def start(self):
        self.p = subprocess.Popen([SERVER, "-c", self.conf], stdout=open(self.log, "a"),
                                  stderr=subprocess.STDOUT, preexec_fn=_die_with_us)
        procs.append(self.p)
        if not wait_port(self.port):
            raise RuntimeError("nats-server %s did not start; see %s" % (self.name, self.log))

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait(timeout=30)

    url = property(lambda self: "nats://127.0.0.1:%d" % self.port)


# ---- the tools --------------------------------------------------------------------------

def mklog(path, n, pad=0):
    subprocess.run([MKLOG, path, str(n)] + (["--pad", str(pad)] if pad else []), check=True,
                   timeout=300)


def own_rate(err, verb):
    """The tool's own count and time: '... N records <verb> ... in X s' -> (N, X)."""
    m = re.search(r"(\d+) records %s.*? in ([0-9.]+) s" % verb, err or "")
    return (int(m.group(1)), float(m.group(2))) if m else (0, 0.0)


def ship_once(log, servers, stream, subject, extra=(), create=True):
    t = time.time()
    p = run([MAPLOG, "ship", log, "--server", servers, "--stream", stream, "--subject", subject,
             "--once"] + (["--create-stream"] if create else []) + list(extra))
    return p.returncode, time.time() - t, p.stderr


def ship_live(log, servers, stream, subject, tag, extra=()):
    return spawn([MAPLOG, "ship", log, "--server", servers, "--stream", stream, "--subject",
                  subject, "--create-stream", *extra], os.path.join(base, tag + ".ship.err"))


def mirror_once(dst, url, stream, subject, timeout=180):
    t = time.time()
    p = run([MAPLOG, "mirror", dst, "--server", url, "--stream", stream, "--subject", subject,
             "--once"], timeout)
    return p.returncode, time.time() - t, p.stderr


def mirror_live(dst, url, stream, subject, tag):
    return spawn([MAPLOG, "mirror", dst, "--server", url, "--stream", stream, "--subject", subject],
                 os.path.join(base, tag + ".mirror.err"))


def stream_check(url, stream, n, pad=0, subject=None, timeout=60):
    """ship_check until it passes or timeout (the stream may still be filling): (ok, its last line)."""
    end = time.time() + timeout
    args = [CHECK, url, stream, str(n)] + (["--pad", str(pad)] if pad else []) + \
        (["--subject", subject] if subject else [])
    while True:
        p = run(args, 120)
        if p.returncode == 0 or time.time() > end:
            return p.returncode == 0, last_line(p.stdout) or last_line(p.stderr)
        time.sleep(0.5)


def subject_next(url, stream, subject):
    """The log sequence number after the subject's last batch: 0 when it holds none, None
    when the server cannot say."""
    h, b = os.path.join(base, "last.hdr"), os.path.join(base, "last.body")
    p = run([CHECK, "--get", url, stream, subject, h, b], 30)
    if p.returncode != 0:
        return 0 if "Not Found" in p.stderr or "not found" in p.stderr else None
    hd = read_headers(h)
    try:
        return int(hd["Maplog-First-Seq"]) + int(hd["Maplog-Count"])
    except (KeyError, ValueError):
        return None


def get_msg(url, stream, which, tag):
    """A stored message: (headers as [(name, value)], body bytes, stream seq, subject)."""
    h, b = os.path.join(base, tag + ".hdr"), os.path.join(base, tag + ".body")
    p = run([CHECK, "--get", url, stream, str(which), h, b], 30)
    if p.returncode != 0:
        raise RuntimeError("ship_check --get %s %s: %s" % (stream, which, p.stderr.strip()))
    pairs = [tuple(line.split(": ", 1)) for line in open(h).read().splitlines() if ": " in line]
    return pairs, open(b, "rb").read(), int(p.stdout.split()[2]), p.stdout.split()[4]


def read_headers(path):
    return dict(tuple(line.split(": ", 1)) for line in open(path).read().splitlines() if ": " in line)


def publish(url, subject, headers, body, tag):
    """Publish body with headers (a list of pairs) through JetStream: its stream seq."""
    h, b = os.path.join(base, tag + ".hdr"), os.path.join(base, tag + ".body")
    with open(h, "w") as f:
        f.writelines("%s: %s\n" % kv for kv in headers)
    with open(b, "wb") as f:
        f.write(body)
    p = run([CHECK, "--publish", url, subject, h, b], 30)
    if p.returncode != 0:
        raise RuntimeError("ship_check --publish %s: %s" % (subject, p.stderr.strip()))
    return int(p.stdout.split()[2])


def records(log):
    """How many records `maplog stats` counts in log (-1 when it cannot say)."""
    p = run([MAPLOG, "stats", "--json", log], 60)
    try:
        return int(json.loads(p.stdout)["records"]) if p.returncode == 0 else -1
    except (ValueError, KeyError):
        return -1


def run_until(p, cond, timeout=30, slice_s=0.004):
    """Let p run a few milliseconds at a time, stopped (SIGSTOP) in between to look at
    cond(): True as soon as it holds, p left stopped (SIGKILL it, or SIGCONT); False when p
    ended, or at the timeout (p running).  A mirror catches up faster than `maplog stats`
    can watch it; stopped, its log is still while stats reads it."""
    end = time.time() + timeout
    while time.time() < end and p.poll() is None:
        time.sleep(slice_s)
        try:
            p.send_signal(signal.SIGSTOP)
        except ProcessLookupError:
            break
        if cond():
            return True
        p.send_signal(signal.SIGCONT)
    return False


def dump(log, to=None):
    """`maplog dump -o json --voids --show-cursor` of log, hashed: (rc, sha256, lines, cursor)."""
    args = [MAPLOG, "dump", "-o", "json", "--voids", "--show-cursor"] + \
        (["--to", str(to)] if to is not None else []) + [log]
    errf = tempfile.TemporaryFile()
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=errf, preexec_fn=_die_with_us)
    h, lines, end = hashlib.sha256(), 0, time.time() + 120
    while time.time() < end:
        chunk = p.stdout.read(1 << 20)
        if not chunk:
            break
        h.update(chunk)
        lines += chunk.count(b"\n")
    if p.poll() is None and time.time() >= end:
        p.kill()
    rc = p.wait(timeout=30)
    errf.seek(0)
    m = re.search(r"cursor: (\S+)", errf.read().decode(errors="replace"))
    return rc, h.hexdigest(), lines, m.group(1) if m else None


def same_log(src, dst, what, to=None):
    """The mirror dst holds exactly src's records (up to seq `to`): dumps byte-identical, the
    same last cursor (log id, sequence number), and `maplog verify dst` passes."""
    a, b = dump(src, to), dump(dst)
    v = run([MAPLOG, "verify", dst], 120)
    ok = a[0] == 0 and b[0] == 0 and a[1] == b[1] and a[2] == b[2] and a[3] == b[3] and v.returncode == 0
    verdict = "ok" if v.returncode == 0 else "rc %s: %s" % (v.returncode, last_line(v.stdout + v.stderr))
    check(ok, "%s: the mirror's dump is byte-identical to the source's (%d records%s; cursor %s), "
          "verify %s" % (what, b[2], "" if a[2] == b[2] else ", source %d" % a[2],
                         "the same" if a[3] == b[3] else "%s vs %s" % (b[3], a[3]), verdict))
    return ok


def rate_line(what, n, own, wall):
    cnt, dt = own
    if cnt and dt > 0:
        print("RATE %s: %.0f records/s (%d in %.2f s by its own clock; %.2f s wall, start to exit)"
              % (what, cnt / dt, cnt, dt, wall), flush=True)
    else:
        print("RATE %s: %.0f records/s (%d in %.2f s wall, start to exit)" % (what, n / wall, n, wall),
              flush=True)


def wait_for(cond, timeout, step=0.02):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def seeded_targets(k, n, lo=0.05, hi=0.95):
    return sorted(int(n * rng.uniform(lo, hi)) for _ in range(k))


def seed_stream(url, stream, prefix):
    """Have the shipper create stream for the subjects prefix.> by shipping a log of one
    record to prefix.seed, before anything reads the stream: nats-server 2.9.10 dies (a nil
    pointer in jsMsgGetRequest) on a message get that comes while the stream is created."""
    log = os.path.join(base, "log-seed-" + prefix)
    mklog(log, 1)
    rc, dt, err = ship_once(log, url, stream, prefix + ".seed", ["--stream-subjects", prefix + ".>"])
    if rc != 0:
        raise RuntimeError("cannot create stream %s: %s" % (stream, err.strip()))


def mirror_ok(src, url, stream, subject, what, rate_what=None, n=N):
    dst = os.path.join(base, "mirror-" + stream + "-" + subject.replace(".", "_"))
    rc, dt, err = mirror_once(dst, url, stream, subject)
    check(rc == 0, "%s: maplog mirror --once exits 0 (%s)" % (what, last_line(err)))
    if rate_what:
        rate_line(rate_what, n, own_rate(err, "appended"), dt)
    same_log(src, dst, what)
    return dst, dt, own_rate(err, "appended")[1]


def section(title):
    print("-- %s (%.0f s in)" % (title, time.time() - T0), flush=True)


base = tempfile.mkdtemp(prefix="maplog-ship-")
servers = []
try:
    s1 = Server(base, "single", free_port())
    s1.start()
    servers.append(s1)

    # 1. one server: batched (the default), then --per-record
    section("one server")
    for pad, label in [(20, "64 B"), (1000, "1 KiB")]:
        log = os.path.join(base, "log-%d" % pad)
        mklog(log, N, pad)
        stream, subj = "S%d" % pad, "s%d.events" % pad
        rc, dt, err = ship_once(log, s1.url, stream, subj)
        ok, msg = stream_check(s1.url, stream, N, pad)
        check(rc == 0 and ok, "one server, %s records, batched: %s" % (label, msg))
        rate_line("ship one server, %s records, batched" % label, N, own_rate(err, "published"), dt)
        rc, dt, err = ship_once(log, s1.url, stream, subj)
        check(rc == 0 and "0 records published" in err, "a second run ships nothing: %r" % last_line(err))
        check(stream_check(s1.url, stream, N, pad)[0], "still exactly once after the rerun")
        dst = mirror_ok(log, s1.url, stream, subj, "one server, %s records, mirrored" % label,
                        "mirror one server, %s records, batches of 256 KiB" % label)[0]
        rc, dt, err = mirror_once(dst, s1.url, stream, subj)
        check(rc == 0 and "0 records appended" in err,
              "a second mirror run appends nothing: %r" % last_line(err))

        stream, subj = "P%d" % pad, "p%d.events" % pad
        rc, dt, err = ship_once(log, s1.url, stream, subj, ["--per-record"])
        ok, msg = stream_check(s1.url, stream, N, pad)
        check(rc == 0 and ok, "one server, %s records, --per-record: %s" % (label, msg))
        rate_line("ship one server, %s records, per-record" % label, N, own_rate(err, "published"), dt)
        rc, dt, err = ship_once(log, s1.url, stream, subj, ["--per-record"])
        check(rc == 0 and "0 records published" in err,
              "--per-record: a second run ships nothing: %r" % last_line(err))
        check(stream_check(s1.url, stream, N, pad)[0], "--per-record: still exactly once after the rerun")
        # a per-record stream is not batches: the mirror refuses it, --once or following,
        # naming a message of the stream and the headers it lacks, and makes no log
        for once in (True, False):
            pdst = os.path.join(base, "mirror-per-record-%d-%d" % (pad, once))
            if once:
                rc, dt, err = mirror_once(pdst, s1.url, stream, subj, timeout=30)
            else:
                p = mirror_live(pdst, s1.url, stream, subj, "per-record-%d" % pad)
                rc, err = finish(p, sig=None, timeout=20)
            named = [int(x) for x in re.findall(r"stream %s, message (\d+)" % stream, err)]
            check(rc == 1 and named and all(1 <= x <= N for x in named) and "Maplog-First-Seq" in err
                  and not os.path.exists(pdst),
                  "mirroring a per-record stream%s: exit 1 (rc %s), names a message of the stream "
                  "(%s) and the headers it lacks, makes no log (%s): %r"
                  % (" --once" if once else ", following", rc, ", ".join(map(str, named)) or "none",
                     "made one" if os.path.exists(pdst) else "none",
                     err.strip().splitlines()[0] if err.strip() else ""))

    # 2. the shipper SIGKILLed at seeded moments and restarted: each kill comes when the
    #    stream holds at least a seeded number of records, plus a seeded few milliseconds
    section("shipper SIGKILLed and restarted")
    log = os.path.join(base, "log-1000")
    seed_stream(s1.url, "K", "k")
    kills, mid = 0, 0
    for i, target in enumerate(seeded_targets(10, N)):
        p = ship_live(log, s1.url, "K", "k.events", "kill%d" % i)
        wait_for(lambda: p.poll() is not None or (subject_next(s1.url, "K", "k.events") or 0) >= target, 30)
        time.sleep(rng.uniform(0, 0.03))
        p.kill()
        p.wait(timeout=30)
        kills += 1
        held = subject_next(s1.url, "K", "k.events")
        mid += held is not None and held < N
        note("kill %d: target %d records, the stream held %s when it died" % (i + 1, target, held))
    rc, dt, err = ship_once(log, s1.url, "K", "k.events")
    ok, msg = stream_check(s1.url, "K", N, 1000, subject="k.events")
    check(rc == 0 and ok, "shipper SIGKILLed %d times (%d of them mid-stream) and restarted: %s"
          % (kills, mid, msg))
    mirror_ok(log, s1.url, "K", "k.events", "shipper SIGKILLed and restarted, mirrored")

    # 3. the server SIGKILLed and restarted mid-stream; the shipper follows the log meanwhile
    section("server SIGKILLed and restarted while shipping")
    log = os.path.join(base, "log-restart")
    mklog(log, N, 200)
    seed_stream(s1.url, "R", "r")
    target = int(N * rng.uniform(0.2, 0.8))
    p = ship_live(log, s1.url, "R", "r.events", "restart", ["--batch-bytes", "16384"])
    wait_for(lambda: p.poll() is not None or (subject_next(s1.url, "R", "r.events") or 0) >= target, 30)
    held = subject_next(s1.url, "R", "r.events")
    s1.kill()
    note("server killed when the stream held %s records (target %d)" % (held, target))
    time.sleep(1.0)
    s1.start()
    ok, msg = stream_check(s1.url, "R", N, 200, subject="r.events", timeout=90)
    rc, err = finish(p)
    check(ok, "server SIGKILLed and restarted mid-stream: %s" % msg)
    check(rc == 0, "the shipper stops cleanly on SIGTERM (rc %s): %s" % (rc, last_line(err)))
    mirror_ok(log, s1.url, "R", "r.events", "server SIGKILLed and restarted, mirrored")

    # 4a. the mirror SIGKILLed at seeded moments while it catches up 300,000 records sent in
    #     batches of 16 KiB (over a thousand messages): a kill comes a seeded time into its
    #     start (connecting, opening or recovering its log), or once its log holds a seeded
    #     share more of the records (run_until)
    section("mirror SIGKILLed and restarted")
    NM = 300000
    mlog = os.path.join(base, "log-many")
    mklog(mlog, NM)
    rc, dt, err = ship_once(mlog, s1.url, "M", "m.events", ["--batch-bytes", "16384"])
    ok, msg = stream_check(s1.url, "M", NM)
    check(rc == 0 and ok, "300,000 records in batches of 16 KiB: %s" % msg)
    rate_line("ship one server, 64 B records, batched, batches of 16 KiB", NM, own_rate(err, "published"), dt)
    mirror_ok(mlog, s1.url, "M", "m.events", "300,000 records, mirrored in one go",
              "mirror one server, 64 B records, batches of 16 KiB", NM)
    dst = os.path.join(base, "mirror-killed")
    held_at, ended = [], []
    for i in range(10):
        prev = max(held_at[-1], 0) if held_at else 0
        p = mirror_live(dst, s1.url, "M", "m.events", "mkill%d" % i)
        if rng.random() < 0.2 or prev >= NM:
            pause = rng.uniform(0, 0.1)
            wait_for(lambda: p.poll() is not None, pause, 0.002)
            when = "%.0f ms after its start" % (1000 * pause)
        else:
            target = prev + int((NM - prev) * rng.uniform(0.05, 0.3))
            at = records(dst) if run_until(p, lambda: records(dst) >= target, 10) else None
            when = "its log at %s records (target %d)" % (at, target)
        if p.poll() is not None:  # it ended before its kill: it died, or gave up
            ended.append("run %d: rc %s: %s" % (i + 1, p.returncode, last_line(open(p.err_path).read())))
        p.kill()
        p.wait(timeout=30)
        held_at.append(records(dst))
        note("kill %d, %s: its log held %d records after it" % (i + 1, when, held_at[-1]))
    check(not ended, "each of the 10 mirrors ran until its SIGKILL%s"
          % ("" if not ended else ": " + "; ".join(ended)))
    rc, dt, err = mirror_once(dst, s1.url, "M", "m.events")
    check(rc == 0, "mirror SIGKILLed %d times (%d of them with part of the stream appended), then "
          "--once: rc %s, %s" % (len(held_at), sum(0 < h < NM for h in held_at), rc, last_line(err)))
    same_log(mlog, dst, "mirror SIGKILLed and restarted 10 times: nothing lost or doubled")

    # 4b. a live mirror catching up the stream while the server is SIGKILLed (once the
    #     mirror's log holds a seeded share of the records) and restarted; it is caught up
    #     when its log holds every record (maplog stats), then SIGTERM stops it
    section("server SIGKILLed and restarted while mirroring")
    dst = os.path.join(base, "mirror-restart")
    p = mirror_live(dst, s1.url, "M", "m.events", "mrestart")
    target = int(NM * rng.uniform(0.1, 0.7))
    run_until(p, lambda: records(dst) >= target)
    p.send_signal(signal.SIGCONT)
    s1.kill()
    note("server killed when the mirror's log held %d records (target %d)" % (records(dst), target))
    time.sleep(1.0)
    s1.start()
    wait_for(lambda: p.poll() is not None or records(dst) >= NM, 30, 0.2)
    held = records(dst)
    rc, err = finish(p)
    check(held == NM and rc == 0,
          "mirror across a server restart: caught up (%d of %d records), stops on SIGTERM with rc %s: %s"
          % (held, NM, rc, last_line(err)))
    same_log(mlog, dst, "mirror across a server restart")

    # 4c. the whole way at once: a writer appending, a shipper following it, a live mirror
    #     following the stream, and the server SIGKILLed and restarted at a seeded moment
    log = os.path.join(base, "log-pipeline")
    NP = 30000
    writer = spawn([MKLOG, log, str(NP), "--pad", "100", "--slow", "20"], os.path.join(base, "writer.err"))
    wait_for(lambda: records(log) > 0, 10)
    seed_stream(s1.url, "W", "w")
    ps = ship_live(log, s1.url, "W", "w.events", "pipeline")
    dst = os.path.join(base, "mirror-pipeline")
    pm = mirror_live(dst, s1.url, "W", "w.events", "pipeline")
    time.sleep(rng.uniform(0.3, 1.5))
    s1.kill()
    note("server killed when the writer's log held %d records, the mirror's %d"
         % (records(log), records(dst)))
    time.sleep(1.0)
    s1.start()
    wrc, _ = finish(writer, sig=None, timeout=120)
    wait_for(lambda: pm.poll() is not None or records(dst) >= NP, 30, 0.2)
    held = records(dst)
    src, serr = finish(ps)
    mrc, merr = finish(pm)
    check(wrc == 0 and held == NP and src == 0 and mrc == 0,
          "writer, shipper and live mirror across a server restart: the mirror caught up (%d of %d "
          "records); shipper rc %s, mirror rc %s: %s"
          % (held, NP, src, mrc, last_line(merr)))
    same_log(log, dst, "writer, shipper and mirror across a server restart")

    # 5. two logs shipped into one stream at once, a subject each; mirrored back apart
    section("two logs, one stream")
    la, lb = os.path.join(base, "log-a"), os.path.join(base, "log-b")
    mklog(la, 50000, 20)
    mklog(lb, 20000, 300)
    pa = spawn([MAPLOG, "ship", la, "--server", s1.url, "--stream", "LOGS", "--subject", "logs.a",
                "--create-stream", "--stream-subjects", "logs.>", "--batch-bytes", "8192", "--once"],
               os.path.join(base, "a.ship.err"))
    pb = spawn([MAPLOG, "ship", lb, "--server", s1.url, "--stream", "LOGS", "--subject", "logs.b",
                "--create-stream", "--stream-subjects", "logs.>", "--batch-bytes", "8192", "--once"],
               os.path.join(base, "b.ship.err"))
    ra, ea = finish(pa, sig=None, timeout=120)
    rb, eb = finish(pb, sig=None, timeout=120)
    check(ra == 0 and rb == 0, "two shippers at once into stream LOGS: rc %s %r, rc %s %r"
          % (ra, last_line(ea), rb, last_line(eb)))
    for lg, subj, n, pad in [(la, "logs.a", 50000, 20), (lb, "logs.b", 20000, 300)]:
        ok, msg = stream_check(s1.url, "LOGS", n, pad, subject=subj)
        check(ok, "stream LOGS, subject %s: %s" % (subj, msg))
        mirror_ok(lg, s1.url, "LOGS", subj, "two logs in one stream, %s mirrored alone" % subj)

    # 6. crafted messages the mirror must refuse.  A good log's batches are copied to a
    #    subject of their own (without the Nats-* headers: the copies are new messages), with
    #    one bad message among them; the mirror stops at it, exit 1, naming its stream seq and
    #    what is wrong, with only the records before it appended -- nothing after.
    section("bad input for the mirror")
    lg, lg2 = os.path.join(base, "log-good"), os.path.join(base, "log-other")
    mklog(lg, 1000, 20)
    mklog(lg2, 1000, 20)
    rc1 = ship_once(lg, s1.url, "BAD", "bad.good", ["--batch-bytes", "4096", "--stream-subjects", "bad.>"])[0]
    rc2 = ship_once(lg2, s1.url, "BAD", "bad.other", ["--batch-bytes", "4096"], create=False)[0]
    check(rc1 == 0 and rc2 == 0,
          "two logs of 1000 records shipped in batches of 4 KiB (rc %s, %s)" % (rc1, rc2))
    good, other = [], []
    for seq in range(1, 1000):
        try:
            hdr, body, sseq, subj = get_msg(s1.url, "BAD", seq, "g")
        except RuntimeError:
            break
        hd = dict(hdr)
        keep = [(k, v) for k, v in hdr if not k.startswith("Nats-")]
        (good if subj == "bad.good" else other).append(
            (keep, body, int(hd["Maplog-First-Seq"]), int(hd["Maplog-Count"]), hd["Maplog-Log"]))
    check(len(good) > 6 and len(other) == len(good) and all(o[2] == g[2] for o, g in zip(other, good)),
          "the good log is %d batches, the other %d at the same sequence numbers" % (len(good), len(other)))
    j = rng.randrange(2, len(good) - 3)  # the bad message comes after good[0..j-1]
    before = good[j][2]  # records 0..before-1 come before it

    def flipped(entry):
        """good[j] with one bit flipped in a seeded record's CRC, timestamp or payload (not its
        length word, nor its padding, which no check covers): (headers, body, that record's
        sequence number)."""
        keep, body, first, count, _ = entry
        i, off = rng.randrange(count), 0
        for _ in range(i):
            ln = int.from_bytes(body[off:off + 4], "little") & 0x3FFFFFFF
            off += (16 + ln + 7) & ~7
        ln = int.from_bytes(body[off:off + 4], "little") & 0x3FFFFFFF
        at = off + rng.randrange(4, 16 + ln)  # the CRC, the timestamp or the payload
        b = bytearray(body)
        b[at] ^= 1 << rng.randrange(8)
        return keep, bytes(b), first + i

    cases = [("another log's batch at the right sequence numbers", "bad.c1",
              lambda: (other[j][0], other[j][1], good[j + 1:]),
              r"of log %s, not %s" % (other[j][4], good[j][4])),
             ("a batch with one flipped byte in a record", "bad.c2", None, r"CRC mismatch"),
             ("a batch without Maplog-Count", "bad.c3",
              lambda: ([kv for kv in good[j][0] if kv[0] != "Maplog-Count"], good[j][1], good[j + 1:]),
              r"Maplog-First-Seq or Maplog-Count missing or malformed"),
             ("a batch whose first sequence number leaves a gap", "bad.c4",
              lambda: (good[j + 1][0], good[j + 1][1], good[j + 2:]),
              r"records %d\.\.%d, but the log's next is %d"
              % (good[j + 1][2], good[j + 1][2] + good[j + 1][3] - 1, before))]
    for what, subj, make, says in cases:
        for k in range(j):
            publish(s1.url, subj, good[k][0], good[k][1], "pub")
        if make is None:
            hdr, body, bad_seq = flipped(good[j])
            rest = good[j + 1:]
            says = r"record \d+ \(seq %d, byte \d+ of the body\): CRC mismatch" % bad_seq
        else:
            hdr, body, rest = make()
        sseq = publish(s1.url, subj, hdr, body, "pub")
        for e in rest:
            publish(s1.url, subj, e[0], e[1], "pub")
        dst = os.path.join(base, "mirror-" + subj.replace(".", "_"))
        rc, dt, err = mirror_once(dst, s1.url, "BAD", subj)
        first_err = err.strip().splitlines()[0] if err.strip() else ""
        named = "stream BAD, message %d" % sseq in err
        check(rc == 1 and named and re.search(says, err) is not None and records(dst) == before,
              "%s: exit 1 (rc %s), names stream seq %d (%s) and says what is wrong (%s), the log holds "
              "the %d records before it (%d): %r"
              % (what, rc, sseq, "yes" if named else "no", "yes" if re.search(says, err) else "no",
                 before, records(dst), first_err))
        same_log(lg, dst, "%s: the records before it, nothing after" % what, to=before - 1)
        rc, dt, err2 = mirror_once(dst, s1.url, "BAD", subj)
        check(rc == 1 and records(dst) == before, "%s: a second run stops at it again (rc %s, %d records)"
              % (what, rc, records(dst)))

    section("--once gives up on a failure that lasts")
    # a script's run must end: no server there, or a subject no stream takes, is said and
    # ends the run with status 1 after $MAPLOG_ONCE_PATIENCE seconds (60 by default)
    dead = "nats://127.0.0.1:%d" % free_port()
    env = dict(os.environ, MAPLOG_ONCE_PATIENCE="3")
    for what, args, why in [
            ("ship, no server", [MAPLOG, "ship", lg, "--server", dead, "--stream", "X",
                                 "--subject", "x.a", "--once"], "cannot reach"),
            ("mirror, no server", [MAPLOG, "mirror", os.path.join(base, "mirror-dead"),
                                   "--server", dead, "--stream", "X", "--subject", "x.a",
                                   "--once"], "cannot reach"),
            ("ship, a subject no stream takes", [MAPLOG, "ship", lg, "--server", s1.url,
                                                 "--stream", "BAD", "--subject", "zz.none",
                                                 "--once"], "no stream takes this subject")]:
        t = time.time()
        try:
            p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=120,
                               preexec_fn=_die_with_us)
            rc, err = p.returncode, p.stderr
        except subprocess.TimeoutExpired:
            rc, err = None, "still running after 120 s"
        check(rc == 1 and "giving up after 3 s" in err and why in err,
              "--once, %s: exit 1 after %.1f s, saying why: %r" % (what, time.time() - t,
                                                                   err[-600:]))

    s1.kill()

    # 7. a three-server cluster: stream C (R3) holds every batched log, a subject each;
    #    CP (R3) the per-record one (a per-record stream holds one log)
    section("three-server cluster, R3")
    ports = [free_port() for _ in range(3)]
    cports = [free_port() for _ in range(3)]
    cl = [Server(base, "n%d" % i, ports[i], (cports[i], [c for j, c in enumerate(cports) if j != i]))
          for i in range(3)]
    for s in cl:
        s.start()
        servers.append(s)
    urls = ",".join(s.url for s in cl)
    for pad, label in [(20, "64 B"), (1000, "1 KiB")]:
        log = os.path.join(base, "log-%d" % pad)
        subj = "c.s%d" % pad
        rc, dt, err = ship_once(log, urls, "C", subj, ["--replicas", "3", "--stream-subjects", "c.>"])
        ok, msg = stream_check(cl[0].url, "C", N, pad, subject=subj)
        check(rc == 0 and ok, "3-server cluster, R3, %s records, batched: %s" % (label, msg))
        rate_line("ship 3-server cluster (R3), %s records, batched" % label, N, own_rate(err, "published"),
                  dt)
        # the mirror is given one server (it takes one URL) and learns the others from it
        mirror_ok(log, cl[rng.randrange(3)].url, "C", subj,
                  "3-server cluster, R3, %s records, mirrored" % label,
                  "mirror 3-server cluster (R3), %s records, batches of 256 KiB" % label)
    log = os.path.join(base, "log-20")
    rc, dt, err = ship_once(log, urls, "CP", "cp.events", ["--replicas", "3", "--per-record"])
    ok, msg = stream_check(cl[0].url, "CP", N, 20)
    check(rc == 0 and ok, "3-server cluster, R3, 64 B records, --per-record: %s" % msg)
    rate_line("ship 3-server cluster (R3), 64 B records, per-record", N, own_rate(err, "published"), dt)

    # the mirror given the cluster's URLs as ship takes them (a comma-separated list)
    dst = os.path.join(base, "mirror-url-list")
    rc, dt, err = mirror_once(dst, urls, "C", "c.s20", timeout=30)
    check(rc == 0 and same_log(os.path.join(base, "log-20"), dst, "mirror given three URLs"),
          "mirror --once --server URL,URL,URL (rc %s: %r)" % (rc, last_line(err)))

    # one server killed while shipping
    log = os.path.join(base, "log-cluster-kill")
    mklog(log, N, 100)
    target = int(N * rng.uniform(0.2, 0.8))
    victim = rng.randrange(3)
    watch = cl[(victim + 1) % 3].url
    p = ship_live(log, urls, "C", "c.f", "cluster")
    wait_for(lambda: p.poll() is not None or (subject_next(watch, "C", "c.f") or 0) >= target, 60)
    held = subject_next(watch, "C", "c.f")
    cl[victim].kill()
    note("server n%d killed when the stream held %s records (target %d)" % (victim, held, target))
    survivors = [s for s in cl if s is not cl[victim]]
    ok, msg = stream_check(watch, "C", N, 100, subject="c.f", timeout=120)
    rc, err = finish(p)
    check(ok, "cluster: server n%d killed while shipping, every record exactly once: %s" % (victim, msg))
    check(rc == 0, "the shipper stops cleanly on SIGTERM (rc %s): %s" % (rc, last_line(err)))
    mirror_ok(log, watch, "C", "c.f", "cluster with n%d down, mirrored from another" % victim)
    cl[victim].start()

    # the server the mirror reads from killed (once the mirror's log holds a seeded share of
    # the records) while it catches up 300,000 records in batches of 16 KiB
    rc, dt, err = ship_once(mlog, urls, "C", "c.many", ["--batch-bytes", "16384"])
    ok, msg = stream_check(cl[0].url, "C", NM, subject="c.many")
    check(rc == 0 and ok, "3-server cluster, R3, 300,000 records in batches of 16 KiB: %s" % msg)
    mirror_ok(mlog, cl[rng.randrange(3)].url, "C", "c.many",
              "3-server cluster, R3, 300,000 records, mirrored",
              "mirror 3-server cluster (R3), 64 B records, batches of 16 KiB", NM)
    dst = os.path.join(base, "mirror-cluster-kill")
    victim = rng.randrange(3)
    p = mirror_live(dst, cl[victim].url, "C", "c.many", "cmkill")
    target = int(NM * rng.uniform(0.1, 0.7))
    run_until(p, lambda: records(dst) >= target)
    p.send_signal(signal.SIGCONT)
    cl[victim].kill()
    note("a live mirror reading from n%d: n%d killed when the mirror's log held %d records (target %d)"
         % (victim, victim, records(dst), target))
    wait_for(lambda: p.poll() is not None or records(dst) >= NM, 30, 0.2)
    held = records(dst)
    rc, err = finish(p)
    check(held == NM and rc == 0,
          "cluster: a live mirror reading from n%d, n%d killed: caught up (%d of %d records), exit %s: %s"
          % (victim, victim, held, NM, rc, last_line(err)))
    same_log(mlog, dst, "cluster: a live mirror, the server it reads from killed")
    cl[victim].start()

    # the whole way at once on the cluster: a writer appending, a shipper following it, a
    # live mirror reading from one server, and that server SIGKILLed at a seeded moment while
    # records still come -- the mirror must go on from another server
    log = os.path.join(base, "log-cluster-pipeline")
    NP = 30000
    writer = spawn([MKLOG, log, str(NP), "--pad", "100", "--slow", "20"],
                   os.path.join(base, "cwriter.err"))
    wait_for(lambda: records(log) > 0, 10)
    ps = ship_live(log, urls, "C", "c.pipe", "cpipeline")
    victim = rng.randrange(3)
    dst = os.path.join(base, "mirror-cluster-pipeline")
    pm = mirror_live(dst, cl[victim].url, "C", "c.pipe", "cpipeline")
    time.sleep(rng.uniform(0.5, 1.5))
    cl[victim].kill()
    at_kill = (records(log), records(dst))
    note("a live mirror reading from n%d: n%d killed when the writer's log held %d records, the "
         "mirror's %d" % (victim, victim, at_kill[0], at_kill[1]))
    wrc, _ = finish(writer, sig=None, timeout=120)
    wait_for(lambda: pm.poll() is not None or records(dst) >= NP, 60, 0.2)
    held = records(dst)
    src, serr = finish(ps)
    mrc, merr = finish(pm)
    check(at_kill[1] < NP, "the server was killed with records still to come (%d of %d mirrored)"
          % (at_kill[1], NP))
    check(wrc == 0 and held == NP and src == 0 and mrc == 0,
          "cluster: writer, shipper and a live mirror, the mirror's server n%d killed: the mirror "
          "caught up from another (%d of %d records); shipper rc %s, mirror rc %s: %s"
          % (victim, held, NP, src, mrc, last_line(merr)))
    same_log(log, dst, "cluster: writer, shipper and mirror, the mirror's server killed")
    cl[victim].start()
finally:
    kill_all()
    if failures:
        print("kept for inspection:", base)
    else:
        shutil.rmtree(base, ignore_errors=True)

print("%.0f s" % (time.time() - T0))
print("%d passed, %d failed" % (1 if not failures else 0, 1 if failures else 0))
sys.exit(1 if failures else 0)
