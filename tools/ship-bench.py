#!/usr/bin/env python3
"""ship-bench.py -- how fast maplog ship and maplog mirror move a log through NATS JetStream.

Starts its own loopback nats-server processes (one server, and a three-server cluster with
R3 streams), writes a log of small records (mklog, about 64 B of payload each), and prints:
  - ship, batched (the default) and --per-record, to one server and to the R3 cluster;
  - mirror (the stream back into a log) from one server and from the cluster;
  - append-to-mirror latency: a writer appending 10 K records/s, a live shipper and a live
    mirror, and `maplog tail -f` on the mirror: the time from each record's append (its
    timestamp) to the moment tail prints it.
Throughput rows are the medians of --runs runs (default 3), each as the tool itself reports
it (records over the time from its first publish or fetch to its last).  The targets are
printed beside the figures, never asserted.  Run it alone: the machine's other work is noise.

Usage: tools/ship-bench.py [--build DIR] [--records N] [--runs K] [--quick]
"""
import argparse
import json
import select
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--build", default="build", help="the build directory (default build)")
ap.add_argument("--records", type=int, default=1000000, help="records per run (default 1000000)")
ap.add_argument("--runs", type=int, default=3, help="runs per row (default 3)")
ap.add_argument("--quick", action="store_true", help="200000 records, one run, 3 s of latency")
a = ap.parse_args()
if a.quick:
    a.records, a.runs = 200000, 1
MAPLOG = os.path.join(a.build, "tools", "maplog")
MKLOG = os.path.join(a.build, "test", "mklog")
SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"
for exe in (MAPLOG, MKLOG, SERVER):
    if not os.access(exe, os.X_OK):
        sys.exit("ship-bench: %s not found (build first; nats-server: apt-get install nats-server)"
                 % exe)
if not os.access(os.path.join(a.build, "tools", "maplog-mirror"), os.X_OK):
    sys.exit("ship-bench: maplog-mirror not built (apt-get install libnats-dev, then rebuild)")
PAD = 16  # mklog's records carry about 45 B of their own: about 64 B in all, padded


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Server:
    def __init__(self, base, name, port, cluster=None):
        self.port = port
        conf = os.path.join(base, name + ".conf")
        with open(conf, "w") as f:
            f.write('server_name: %s\nlisten: 127.0.0.1:%d\n' % (name, port))
            f.write('jetstream { store_dir: "%s" }\n' % os.path.join(base, name + "-store"))
            if cluster:
                cport, routes = cluster
                f.write('cluster { name: c1, listen: 127.0.0.1:%d, routes: [%s] }\n'
                        % (cport, ", ".join('"nats-route://127.0.0.1:%d"' % r for r in routes)))
        self.p = subprocess.Popen([SERVER, "-c", conf], stdout=open(conf + ".log", "w"),
                                  stderr=subprocess.STDOUT)
        end = time.time() + 15
        while time.time() < end:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("nats-server %s did not start; see %s.log" % (name, conf))

    url = property(lambda self: "nats://127.0.0.1:%d" % self.port)

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def rate_of(stderr, what):
    m = re.search(r"\((\d+) records/s\)", stderr)
    if not m:
        raise RuntimeError("%s printed no rate: %s" % (what, stderr.strip()))
    return int(m.group(1))


def run(cmd, what):
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (what, p.returncode, p.stderr.strip()))
    return p.stderr


def row(name, rates, target=None):
    med = statistics.median(rates)
    spread = "%.0f..%.0f K" % (min(rates) / 1e3, max(rates) / 1e3) if len(rates) > 1 else ""
    t = ""
    if target:
        t = "target >= %.0f K/s: %s" % (target / 1e3, "met" if med >= target else "missed")
    print("  %-44s %9.0f K records/s  %-16s %s" % (name, med / 1e3, spread, t), flush=True)


base = tempfile.mkdtemp(prefix="maplog-ship-bench-")
servers, procs = [], []
try:
    one = Server(base, "one", free_port())
    servers.append(one)
    ports = [(free_port(), free_port()) for _ in range(3)]
    for i, (cl, rt) in enumerate(ports):
        servers.append(Server(base, "c%d" % i, cl,
                              (rt, [r for j, (_, r) in enumerate(ports) if j != i])))
    cluster = ",".join(s.url for s in servers[1:])
    src = os.path.join(base, "src")
    subprocess.run([MKLOG, src, str(a.records), "--pad", str(PAD)], check=True)
    out = subprocess.run([MAPLOG, "stats", "--json", src], capture_output=True,
                         text=True).stdout
    try:
        st = json.loads(out)
        size = int(st["bytes_used"]) / max(1, int(st["records"])) - 16
    except (ValueError, KeyError):
        size = 0
    print("maplog ship / mirror, %d records of about %.0f B (payload and padding), %d run%s "
          "per row; loopback nats-server %s" % (a.records, size, a.runs, "s" if a.runs > 1 else "",
                                                 subprocess.run([SERVER, "--version"],
                                                                capture_output=True, text=True)
                                                 .stdout.strip()), flush=True)
    n = 0
    for where, url, reps, targets in [("one server", one.url, 1, (1e6, 1e6)),
                                      ("R3 cluster", cluster, 3, (250e3, None))]:
        ship_b, ship_p, mirror = [], [], []
        for r in range(a.runs):
            n += 1
            common = ["--server", url, "--once", "--create-stream", "--replicas", str(reps)]
            err = run([MAPLOG, "ship", src, "--stream", "B%d" % n, "--subject", "b%d.x" % n]
                      + common, "ship")
            ship_b.append(rate_of(err, "ship"))
            err = run([MAPLOG, "ship", src, "--stream", "P%d" % n, "--subject", "p%d.x" % n,
                       "--per-record"] + common, "ship --per-record")
            ship_p.append(rate_of(err, "ship --per-record"))
            dst = os.path.join(base, "mirror%d" % n)
            err = run([MAPLOG, "mirror", dst, "--server", url.split(",")[0], "--stream",
                       "B%d" % n, "--subject", "b%d.x" % n, "--once"], "mirror")
            mirror.append(rate_of(err, "mirror"))
            a_dump = subprocess.run([MAPLOG, "dump", src], capture_output=True).stdout
            b_dump = subprocess.run([MAPLOG, "dump", dst], capture_output=True).stdout
            if a_dump != b_dump:
                raise RuntimeError("the mirror of run %d differs from the source" % n)
            shutil.rmtree(dst)
        print(where + ":")
        row("ship, batched (default, 256 KiB batches)", ship_b, targets[0])
        row("ship, --per-record", ship_p)
        row("mirror, batched", mirror, targets[1])

    # append-to-mirror latency at 10 K records/s
    secs = 4 if a.quick else 12
    live, dst = os.path.join(base, "live"), os.path.join(base, "live-mirror")
    w = subprocess.Popen([MKLOG, live, str(10000 * secs), "--rate", "10000", "--pad", str(PAD)])
    procs.append(w)
    time.sleep(0.2)
    sh = subprocess.Popen([MAPLOG, "ship", live, "--server", one.url, "--stream", "L",
                           "--subject", "l.x", "--create-stream"], stderr=subprocess.DEVNULL)
    procs.append(sh)
    mi = subprocess.Popen([MAPLOG, "mirror", dst, "--server", one.url, "--stream", "L",
                           "--subject", "l.x"], stderr=open(os.path.join(base, "mirror.err"), "w"))
    procs.append(mi)
    deadline = time.time() + 30
    while not (os.path.isdir(dst) and any(f.endswith(".mlog") for f in os.listdir(dst))):
        if mi.poll() is not None or time.time() > deadline:
            raise RuntimeError("the live mirror made no log (exit %s)" % mi.poll())
        time.sleep(0.01)
    tail = subprocess.Popen([MAPLOG, "tail", "-f", "-n", "0", "-o", "json", dst],
                            stdout=subprocess.PIPE)
    procs.append(tail)
    lat = []
    end = time.time() + secs + 30
    warm = time.time_ns() + 1000000000  # the first second: the pipeline filling up
    fd, buf, quiet_since = tail.stdout.fileno(), b"", None
    os.set_blocking(fd, False)
    while time.time() < end:  # until the writer is done and tail has been quiet for 2 s
        ready = select.select([fd], [], [], 0.25)[0]
        chunk = os.read(fd, 1 << 16) if ready else b""
        now = time.time_ns()
        if ready and not chunk:
            break  # tail ended
        if chunk:
            quiet_since = None
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                ts = int(json.loads(line)["ts_ns"])
                if ts >= warm:
                    lat.append(now - ts)
        elif w.poll() is not None:
            quiet_since = quiet_since or time.time()
            if time.time() - quiet_since > 2:
                break
    tail.kill()  # it may be blocked writing lines no one reads any more
    tail.stdout.close()
    for p in (mi, sh):
        p.terminate()
    w.wait()
    for p in (tail, mi, sh):
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            print("  (%s did not end on SIGTERM within 30 s: killed)" % p.args[1])
    lat.sort()
    if not lat:
        print("append-to-mirror latency: no record came through; the mirror said: "
              + open(os.path.join(base, "mirror.err")).read().strip())
    if lat:
        p99 = lat[len(lat) * 99 // 100] / 1e6
        print("append-to-mirror latency at 10 K records/s (%d records, writer -> ship -> "
              "server -> mirror -> tail -f):" % len(lat))
        print("  p50 %.1f ms  p99 %.1f ms  max %.1f ms  target p99 < 50 ms: %s"
              % (lat[len(lat) // 2] / 1e6, p99, lat[-1] / 1e6, "met" if p99 < 50 else "missed"))
finally:
    for p in procs:  # what an error left running
        if p.poll() is None:
            p.kill()
            p.wait()
    for s in servers:
        s.stop()
    shutil.rmtree(base, ignore_errors=True)
