#!/usr/bin/env python3
"""test_subcmd.py -- `maplog ship` runs the separate maplog-ship, so maplog needs no NATS.

  1. the maplog binary NEEDs none of libnats, libssl, libcrypto, libprotobuf-c (readelf -d),
     nor loads them (ldd, when present);
  2. with maplog-ship built (its path given): `maplog ship --help` goes through the exec
     and prints the usage; option mistakes are usage errors (status 2) with a message;
     --opt=value, --opt value, DIR anywhere and -- all parse;
  3. maplog-ship is found through MAPLOG_EXEC_PATH and in ../libexec/maplog beside a copy
     of maplog;
  4. a maplog with no maplog-ship anywhere says it is not installed and where it looked,
     and exits 1; a maplog-ship that cannot run is named with the reason.

Usage: test_subcmd.py MAPLOG MKLOG [MAPLOG_SHIP]
"""
import os
import shutil
import subprocess
import sys
import tempfile

MAPLOG, MKLOG = sys.argv[1:3]
SHIP = sys.argv[3] if len(sys.argv) > 3 else None
NATS_LIBS = ("libnats", "libssl", "libcrypto", "libprotobuf-c")
passed = failed = 0


def check(cond, what, detail=""):
    global passed, failed
    if cond:
        passed += 1
    else:
        failed += 1
    print(("ok:   " if cond else "FAIL: ") + what + ("" if cond or not detail else "\n      " + detail),
          flush=True)


def run(args, env_extra=None, drop=("MAPLOG_EXEC_PATH",)):
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra or {})
    p = subprocess.run(args, capture_output=True, text=True, env=env, timeout=60)
    return p.returncode, p.stdout, p.stderr


def show(rc, out, err):
    return "rc %s, stdout %r, stderr %r" % (rc, out[:300], err[:300])


# 1. what the maplog binary links
readelf = shutil.which("readelf")
if readelf:
    dyn = subprocess.run([readelf, "-d", MAPLOG], capture_output=True, text=True, check=True).stdout
    needed = [l.split("[", 1)[1].rstrip("]") for l in dyn.splitlines() if "(NEEDED)" in l]
    bad = [n for n in needed if n.startswith(NATS_LIBS)]
    check(not bad, "maplog NEEDs no NATS, TLS or protobuf library (NEEDED: %s)" % ", ".join(needed),
          "it NEEDs %s" % ", ".join(bad))
else:
    check(False, "readelf is installed (binutils), to read maplog's NEEDED entries")
ldd = shutil.which("ldd")
if ldd:
    p = subprocess.run([ldd, MAPLOG], capture_output=True, text=True)
    loaded = [l.split()[0] for l in p.stdout.splitlines() if l.strip()]
    bad = [n for n in loaded if os.path.basename(n).startswith(NATS_LIBS)]
    check(p.returncode == 0 and not bad, "maplog loads no NATS, TLS or protobuf library (ldd)",
          "it loads %s" % ", ".join(bad) if bad else p.stderr)
else:
    print("skip: ldd not installed; NEEDED entries checked only")

base = tempfile.mkdtemp(prefix="maplog-subcmd-")
try:
    empty_dir = os.path.join(base, "empty")
    os.mkdir(empty_dir)
    # a copy of maplog in a directory with no maplog-ship beside it
    alone = os.path.join(base, "alone")
    os.mkdir(alone)
    maplog_alone = shutil.copy2(MAPLOG, os.path.join(alone, "maplog"))

    # 4. nothing to run
    rc, out, err = run([maplog_alone, "ship", "--help"], {"MAPLOG_EXEC_PATH": empty_dir})
    check(rc == 1 and "maplog: ship: maplog-ship is not installed (looked in: " in err
          and empty_dir in err and alone in err and os.path.join(alone, "../libexec/maplog") in err,
          "no maplog-ship: says so, names where it looked, exits 1", show(rc, out, err))
    if not SHIP:
        check("apt-get install libnats-dev" in err, "built without NATS: says how to get it",
              show(rc, out, err))
    rc, out, err = run([maplog_alone, "ship"])
    check(rc == 1 and "is not installed" in err, "no maplog-ship, no MAPLOG_EXEC_PATH: exits 1",
          show(rc, out, err))
    broken = os.path.join(base, "broken")
    os.mkdir(broken)
    with open(os.path.join(broken, "maplog-ship"), "w") as f:
        f.write("not a program\n")
    os.chmod(os.path.join(broken, "maplog-ship"), 0o755)
    rc, out, err = run([maplog_alone, "ship", "--help"], {"MAPLOG_EXEC_PATH": broken})
    check(rc == 1 and "cannot run %s/maplog-ship: " % broken in err,
          "a maplog-ship that cannot run: its path and the reason, exit 1", show(rc, out, err))

    if not SHIP:
        print("skip: maplog-ship not built (no NATS C client); the exec checks need it")
    else:
        # 2. through `maplog ship`, from the build tree (maplog-ship beside maplog)
        check(os.access(SHIP, os.X_OK), "maplog-ship is built: %s" % SHIP)
        rc, out, err = run([MAPLOG, "ship", "--help"])
        check(rc == 0 and out.startswith("usage: maplog ship DIR") and not err,
              "maplog ship --help: the usage on stdout, exit 0", show(rc, out, err))
        for args in (["--bogus", "--help"], ["DIR", "--stream", "S", "-h"], ["--help", "--"]):
            rc, out, err = run([MAPLOG, "ship", *args])
            check(rc == 0 and out.startswith("usage: maplog ship"),
                  "maplog ship %s: the usage, exit 0" % " ".join(args), show(rc, out, err))
        rc, out, err = run([MAPLOG, "ship", "--", "--help"])
        check(rc == 2 and "missing --server" in err, "after --, --help is DIR", show(rc, out, err))
        log = os.path.join(base, "log")
        subprocess.run([MKLOG, log, "0"], check=True)
        req = ["--server", "nats://127.0.0.1:1", "--stream", "S", "--subject", "s"]
        mistakes = [
            (["--bogus"], "unknown option '--bogus'"),
            ([log, *req, "-x"], "unknown option '-x'"),
            ([log, *req, "--max-inflight", "x"], "--max-inflight: 'x' is not a whole number"),
            ([log, *req, "--max-inflight=0"], "--max-inflight: '0' is not a whole number"),
            ([log, *req, "--max-inflight", "12abc"], "'12abc' is not a whole number"),
            ([log, *req, "--max-inflight", "99999999999999999999"], "is not a whole number"),
            ([log, *req, "--create-stream", "--replicas", "0"], "--replicas: '0' is not a number from 1 to 5"),
            ([log, *req, "--create-stream", "--replicas=6"], "'6' is not a number from 1 to 5"),
            ([log, *req, "--replicas", "3"], "--replicas applies to a stream --create-stream makes"),
            ([log, *req, "--once=yes"], "--once takes no value"),
            ([log, "--server", ",".join(["nats://127.0.0.1:1"] * 17), "--stream", "S", "--subject",
              "s"], "1 to 16 comma-separated URLs"),
            ([log, "--server", "nats://a:1,,nats://b:1", "--stream", "S", "--subject", "s"],
             "none empty"),
            ([log, *req, "--max-inflight"], "--max-inflight needs a value"),
            ([log, "--server", "nats://127.0.0.1:1", "--stream", "--subject", "s"],
             "--stream needs a value, not the option '--subject'"),
            ([log, *req, "--subject="], "--subject needs a value"),
            ([log, "--server", "nats://127.0.0.1:1", "--stream", "S"], "missing --subject"),
            (req, "missing DIR"),
            ([log, log, *req], "unexpected argument '%s' (one DIR only)" % log),
            ([log, *req, "--", log], "unexpected argument '%s' (one DIR only)" % log),
        ]
        for args, want in mistakes:
            rc, out, err = run([MAPLOG, "ship", *args])
            check(rc == 2 and err.startswith("maplog: ship: ") and want in err and not out,
                  "maplog ship %s: exit 2, %r" % (" ".join(args), want), show(rc, out, err))
        # an empty log with --once ships nothing and never connects: these only parse
        for args in ([log, *req, "--once"],
                     ["--server=nats://127.0.0.1:1", "--stream=S", "--subject=s", "--once",
                      "--max-inflight=8", "--create-stream", "--replicas=3", "--", log],
                     ["--once", *req, log, "--max-inflight", "16"],
                     ["--stream=-S", "--server", "nats://127.0.0.1:1", "--subject", "s", "--once", log]):
            rc, out, err = run([MAPLOG, "ship", *args])
            check(rc == 0 and not out, "maplog ship %s: parses, exit 0" % " ".join(args),
                  show(rc, out, err))
        rc, out, err = run([MAPLOG, "ship", os.path.join(base, "no-such-log"), *req, "--once"])
        check(rc == 1 and err.startswith("maplog: ship: "), "a log that is not there: exit 1",
              show(rc, out, err))

        # 3. found through MAPLOG_EXEC_PATH, and in ../libexec/maplog
        rc, out, err = run([maplog_alone, "ship", "--help"],
                           {"MAPLOG_EXEC_PATH": os.path.dirname(os.path.abspath(SHIP))})
        check(rc == 0 and out.startswith("usage: maplog ship"), "found through MAPLOG_EXEC_PATH",
              show(rc, out, err))
        os.makedirs(os.path.join(base, "prefix", "bin"))
        os.makedirs(os.path.join(base, "prefix", "libexec", "maplog"))
        maplog_inst = shutil.copy2(MAPLOG, os.path.join(base, "prefix", "bin", "maplog"))
        shutil.copy2(SHIP, os.path.join(base, "prefix", "libexec", "maplog", "maplog-ship"))
        rc, out, err = run([maplog_inst, "ship", "--help"])
        check(rc == 0 and out.startswith("usage: maplog ship"), "found in ../libexec/maplog",
              show(rc, out, err))
        rc, out, err = run([maplog_inst, "ship", "--bogus"], {"MAPLOG_EXEC_PATH": empty_dir})
        check(rc == 2 and "unknown option '--bogus'" in err,
              "an empty MAPLOG_EXEC_PATH falls through to the other places", show(rc, out, err))
finally:
    if failed:
        print("kept for inspection:", base)
    else:
        shutil.rmtree(base, ignore_errors=True)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
