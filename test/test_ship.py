#!/usr/bin/env python3
"""test_ship.py -- maplog ship against real nats-server processes on loopback.

  1. one server: ship 100,000 records (about 64 B, then about 1 KiB), read them back with
     the C client: all present, in order, once; a second run ships nothing;
  2. the shipper SIGKILLed at seeded random moments and restarted, several times;
  3. the server SIGKILLed and restarted mid-stream;
  4. a three-server JetStream cluster, R3 stream, one server killed while shipping.
Every check is ship_check reading the stream back.  Prints records/s for the closing note.

Usage: test_ship.py MAPLOG MKLOG SHIP_CHECK NATS_SERVER [SEED]
"""
import os
import random
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


def check(cond, what):
    if not cond:
        failures.append(what)
    print(("ok:   " if cond else "FAIL: ") + what, flush=True)


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
                                  stderr=subprocess.STDOUT)
        if not wait_port(self.port):
            raise RuntimeError("nats-server %s did not start; see %s" % (self.name, self.log))

    def kill(self):
        if self.p and self.p.poll() is None:
            self.p.kill()
            self.p.wait()

    url = property(lambda self: "nats://127.0.0.1:%d" % self.port)


def ship(args, **kw):
    return subprocess.Popen([MAPLOG, "ship", *args], stderr=subprocess.PIPE, **kw)


def ship_once(log, servers, stream, subject, extra=()):
    t = time.time()
    p = subprocess.run([MAPLOG, "ship", log, "--server", servers, "--stream", stream,
                        "--subject", subject, "--once", "--create-stream", *extra],
                       capture_output=True, text=True, timeout=300)
    return p.returncode, time.time() - t, p.stderr


def verify(url, stream, n, pad=0, timeout=60):
    end = time.time() + timeout
    while True:
        p = subprocess.run([CHECK, url, stream, str(n)] + (["--pad", str(pad)] if pad else []),
                           capture_output=True, text=True, timeout=300)
        if p.returncode == 0 or time.time() > end:
            return p.returncode == 0, p.stdout.strip().splitlines()[-1] if p.stdout.strip() else p.stderr


base = tempfile.mkdtemp(prefix="maplog-ship-")
servers = []
try:
    # 1. one server
    s1 = Server(base, "single", free_port())
    s1.start()
    servers.append(s1)
    for pad, label in [(20, "64 B"), (1000, "1 KiB")]:
        log = os.path.join(base, "log-%d" % pad)
        subprocess.run([MKLOG, log, str(N), "--pad", str(pad)], check=True)
        rc, dt, err = ship_once(log, s1.url, "S%d" % pad, "s%d.events" % pad)
        ok, msg = verify(s1.url, "S%d" % pad, N, pad)
        check(rc == 0 and ok, "one server, %s records: %s" % (label, msg))
        print("RATE one server, %s records: %.0f records/s (%d in %.2f s)" % (label, N / dt, N, dt))
        rc, dt, err = ship_once(log, s1.url, "S%d" % pad, "s%d.events" % pad)
        check(rc == 0 and "0 records published" in err, "a second run ships nothing: %r" % err.strip())
        check(verify(s1.url, "S%d" % pad, N, pad)[0], "still exactly once after the rerun")

    # 2. the shipper killed and restarted at random moments
    log = os.path.join(base, "log-kill")
    subprocess.run([MKLOG, log, str(N)], check=True)
    kills = 0
    for round_ in range(6):
        p = ship([log, "--server", s1.url, "--stream", "K", "--subject", "k.events",
                  "--create-stream", "--max-inflight", "512"])
        time.sleep(rng.uniform(0.05, 0.4))
        p.kill()
        p.wait()
        kills += 1
    rc, dt, err = ship_once(log, s1.url, "K", "k.events")
    ok, msg = verify(s1.url, "K", N)
    check(rc == 0 and ok, "shipper SIGKILLed %d times and restarted: %s" % (kills, msg))

    # 3. the server killed and restarted mid-stream; the shipper follows the log meanwhile
    log = os.path.join(base, "log-restart")
    subprocess.run([MKLOG, log, str(N), "--pad", "200"], check=True)
    p = ship([log, "--server", s1.url, "--stream", "R", "--subject", "r.events", "--create-stream",
              "--max-inflight", "256"])
    time.sleep(0.15)
    s1.kill()
    time.sleep(1.0)
    s1.start()
    ok, msg = verify(s1.url, "R", N, 200, timeout=90)
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
    err = p.stderr.read().decode()
    check(ok, "server SIGKILLed and restarted mid-stream: %s" % msg)
    check(p.returncode == 0, "the shipper stops cleanly on SIGTERM (rc %s)" % p.returncode)
    print("shipper said:", err.strip().splitlines()[-1] if err.strip() else "")
    s1.kill()

    # 4. a three-server cluster, R3, one server killed while shipping
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
        rc, dt, err = ship_once(log, urls, "C%d" % pad, "c%d.events" % pad, ["--replicas", "3"])
        ok, msg = verify(cl[0].url, "C%d" % pad, N, pad)
        check(rc == 0 and ok, "3-server cluster, R3, %s records: %s" % (label, msg))
        print("RATE 3-server cluster (R3), %s records: %.0f records/s" % (label, N / dt))
    log = os.path.join(base, "log-cluster-kill")
    subprocess.run([MKLOG, log, str(N), "--pad", "100"], check=True)
    p = ship([log, "--server", urls, "--stream", "F", "--subject", "f.events", "--create-stream",
              "--replicas", "3", "--max-inflight", "512"])
    time.sleep(0.3)
    victim = rng.randrange(3)
    cl[victim].kill()
    survivor = cl[(victim + 1) % 3]
    ok, msg = verify(survivor.url, "F", N, 100, timeout=120)
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
    check(ok, "cluster: server n%d killed while shipping, every record exactly once: %s" % (victim, msg))
finally:
    for s in servers:
        s.kill()
    if failures:
        print("kept for inspection:", base)
    else:
        shutil.rmtree(base, ignore_errors=True)

print("%d passed, %d failed" % (1 if not failures else 0, 1 if failures else 0))
sys.exit(1 if failures else 0)
