#!/usr/bin/env python3
"""test_tool_input.py -- what the maplog tool takes in: options, times, and files to import.

Options are driven as Unix users write them (--opt=value, -n5, --, --help anywhere) and
every option a command does not take must be a usage error.  Times are checked against a
log whose timestamps are known, in every form the tool accepts, including what it prints
itself in --local mode, whatever the order of the options.  JSON output must be valid
UTF-8 and valid JSON for any payload, keep 64-bit values exact through jq, and import back
byte for byte.  Import gets hostile files: each must fail with the file and the line or
record named, and leave nothing behind.

Usage: test_tool_input.py MAPLOG MKLOG
"""
import base64
import gzip
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import zlib

from toolcheck import check, finish, run_tool

MAPLOG, MKLOG = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
T0 = 1795773600  # 2026-11-27T10:00:00Z (date -u -d 2026-11-27T10:00:00Z +%s)


def run(*args, env=None, cwd=None, timeout=300):
    return run_tool(MAPLOG, *args, env=env, cwd=cwd, timeout=timeout)


def binary_export(path, recs):
    """recs: (seq, ts_ns, payload) -- the binary export format, written independently."""
    with open(path, "wb") as f:
        f.write(b"MAPLOGX1")
        for seq, ts, data in recs:
            f.write(struct.pack("<QQI", seq, ts, len(data)))
            f.write(data)


def make_log(d, recs):
    src = d + ".bin"
    binary_export(src, recs)
    rc, _, err = run("import", src, d)
    check(rc == 0, "import of a binary export into %s: %s" % (d, err))
    os.unlink(src)


def strict_lines(out, what):
    """Every line valid UTF-8 and valid JSON; returns the objects."""
    objs = []
    for i, line in enumerate(out.split(b"\n")[:-1]):
        try:
            objs.append(json.loads(line.decode("utf-8")))
        except (UnicodeDecodeError, ValueError) as e:
            check(False, "%s: line %d is not valid UTF-8 JSON (%s): %r" % (what, i + 1, e, line[:80]))
    return objs


def payload_of(obj):
    if "text" in obj:
        return obj["text"].encode("utf-8")  # strict: a lone surrogate would raise
    return base64.b64decode(obj["base64"], validate=True)


def first_seq(out):
    line = out.split(b"\n", 1)[0]
    return int(json.loads(line)["seq"]) if line else None


base = tempfile.mkdtemp(prefix="maplog-input-")
try:
    # ---- JSON output: valid for any payload, 64-bit values exact ----
    rnd = random.Random(int(os.environ.get("MAPLOG_TEST_SEED", "7")))
    print("seed: %d" % int(os.environ.get("MAPLOG_TEST_SEED", "7")))
    payloads = [b"\xff\x80\x80", b"\xed\xa0\x80", b"\xc0\xaf", b"\xe0\x80\xaf",
                b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf0\x9f\x98\x80",
                "\u00e9t\u00e9 \u2028".encode(), b"\x00abc", b"\x7f", b'"\\\n\t\r\b\f/', b"",
                bytes(range(256)), b'"' * 300, b"ok\xe2\x82", b"\xe2\x82\xac"]
    payloads += [bytes(rnd.randrange(256) for _ in range(rnd.randrange(64))) for _ in range(300)]
    payloads += [("".join(chr(rnd.choice([rnd.randrange(32, 127), rnd.randrange(0xA0, 0xD7FF),
                                           rnd.randrange(0x10000, 0x10FFFF)]))
                          for _ in range(rnd.randrange(40)))).encode() for _ in range(300)]
    stamps = [0, 1, 2**53 + 1, 2**63 - 1, 2**64 - 1]
    recs = [(i, stamps[i] if i < len(stamps) else T0 * 10**9 + i, p)
            for i, p in enumerate(payloads)]
    js = os.path.join(base, "json")
    make_log(js, recs)
    rc, out, err = run("dump", "-o", "json", js)
    objs = strict_lines(out, "dump -o json")
    check(rc == 0 and len(objs) == len(recs), "dump -o json: %d of %d records" % (len(objs), len(recs)))
    check([payload_of(o) for o in objs] == [r[2] for r in recs],
          "every payload comes back byte for byte from JSON (FF 80 80, surrogates, NULs, ...)")
    check([o["ts_ns"] for o in objs] == [str(r[1]) for r in recs],
          "ts_ns exact to the nanosecond, 2^53 + 1 and 2^64 - 1 included")
    if shutil.which("jq"):
        p = subprocess.run(["jq", "-c", "{seq, ts_ns}"], input=out, capture_output=True)
        through = [json.loads(x) for x in p.stdout.decode().splitlines()]
        check(p.returncode == 0 and [x["ts_ns"] for x in through] == [str(r[1]) for r in recs],
              "jq keeps ts_ns exact (it holds numbers as doubles)")
    else:
        print("skipped: the jq check (jq not installed; scripts/deps.sh installs it)")
    floats = [json.loads(x, parse_int=float) for x in out.decode().split("\n")[:-1]]
    check([int(x["seq"]) for x in floats] == list(range(len(recs))),
          "seq survives a parser that reads numbers as doubles")
    for fmt in ["json", "binary"]:
        exp, back = os.path.join(base, "rt." + fmt), os.path.join(base, "rt-" + fmt)
        check(run("export", js, "-o", exp, "--format=" + fmt)[0] == 0, "export --format=" + fmt)
        rc, _, err = run("import", exp, back)
        check(rc == 0, "import of a %s export with every kind of payload: %s" % (fmt, err))
        rc, out2, _ = run("dump", "-o", "json", back)
        check(out2 == out, "export --format %s | import gives the same records, byte for byte" % fmt)
    weird = os.path.join(base.encode(), b"log\xff")
    binary_export(os.path.join(base, "w.bin"), recs[:3])
    check(subprocess.run([MAPLOG.encode(), b"import", os.path.join(base, "w.bin").encode(), weird],
                         capture_output=True).returncode == 0, "import into a non-UTF-8 path")
    p = subprocess.run([MAPLOG.encode(), b"stats", b"--json", weird], capture_output=True)
    st = strict_lines(p.stdout, "stats --json of a non-UTF-8 path")
    check(p.returncode == 0 and st and st[0]["records"] == "3" and "\ufffd" in st[0]["dir"],
          "stats --json is valid JSON for a path that is not UTF-8: %r" % p.stdout)

    # ---- import: ordinary JSON, and hostile files ----
    def imports(name, data, expect):
        src = os.path.join(base, name)
        with open(src, "wb") as f:
            f.write(data)
        dest = os.path.join(base, "imp-" + name)
        rc, _, err = run("import", src, dest)
        check(rc == 0, "%s imports: %r" % (name, err))
        rc, out, _ = run("dump", "-o", "json", dest)
        got = [(int(o["ts_ns"]), payload_of(o)) for o in strict_lines(out, name)]
        check(got == expect, "%s: %r" % (name, got))

    imports("spaces.json",
            b'\n{ "text" : "h\\u00e9llo" , "ts_ns" : 5 , "seq" : "0" }\n\n'
            b'  {"base64":"AAEC",  "seq":1,"ts_ns":"6"}\r\n{"ts_ns":7,"text":""}',
            [(5, "h\u00e9llo".encode()), (6, b"\x00\x01\x02"), (7, b"")])
    big = b"a" * 70000000
    imports("big.json", b'{"seq":0,"ts_ns":1,"len":70000000,"text":"' + big + b'"}\n', [(1, big)])
    del big

    def refused(name, data, where):
        src = os.path.join(base, name)
        with open(src, "wb") as f:
            f.write(data)
        dest = os.path.join(base, "bad-" + name)
        rc, out, err = run("import", src, dest)
        left = [n for n in os.listdir(base) if n.startswith(".bad-" + name)]
        check(rc == 1 and src in err and where in err and not os.path.exists(dest) and not left,
              "%s is refused naming the file and %r, leaving nothing (rc %d, %r, left %s)"
              % (name, where, rc, err, left))

    good = b'{"seq":"0","ts_ns":"1","text":"a"}\n{"seq":"1","ts_ns":"2","text":"b"}\n'
    refused("syntax.json", good + b'{"seq":"2","ts_ns":"3","text":"c"\n', "line 3")
    refused("gap.json", good + b'{"seq":"3","ts_ns":"3","text":"c"}\n', "line 3")
    refused("len.json", b'{"seq":0,"ts_ns":1,"len":2,"text":"a"}\n', "line 1")
    refused("both.json", b'{"ts_ns":1,"text":"a","base64":"YQ=="}\n', "line 1")
    refused("neither.json", b'{"ts_ns":1}\n', "line 1")
    refused("b64.json", b'{"ts_ns":1,"base64":"YQ*="}\n', "line 1")
    refused("b64len.json", b'{"ts_ns":1,"base64":"YQ="}\n', "line 1")
    refused("neg.json", b'{"ts_ns":-1,"text":"a"}\n', "line 1")
    refused("letters.json", b'{"ts_ns":"12a","text":"a"}\n', "line 1")
    refused("over.json", b'{"ts_ns":"18446744073709551616","text":"a"}\n', "line 1")
    refused("array.json", b'[1,2]\n', "line 1")
    refused("dup.json", b'{"ts_ns":1,"ts_ns":2,"text":"a"}\n', "line 1")
    refused("utf8.json", b'{"ts_ns":1,"text":"\xff"}\n', "line 1")
    refused("surrogate.json", b'{"ts_ns":1,"text":"\\ud800"}\n', "line 1")
    refused("nul.json", good + b'{"seq":"2","ts_ns":"3","text":"c"}\x00junk\n', "line 3")
    refused("notts.json", b'{"seq":0,"text":"a"}\n', "line 1")
    hdr = b"MAPLOGX1"
    refused("short-header.bin", hdr + struct.pack("<QQI", 0, 1, 1) + b"a" + b"\x01\x00", "record 1")
    refused("short-payload.bin", hdr + struct.pack("<QQI", 0, 1, 100) + b"a" * 10, "record 0")
    refused("huge.bin", hdr + struct.pack("<QQI", 0, 1, 0xFFFFFFFF) + b"a", "record 0")
    refused("gap.bin", hdr + struct.pack("<QQI", 5, 1, 1) + b"a" + struct.pack("<QQI", 7, 1, 1)
            + b"b", "record 1")
    z = bytearray(gzip.compress(good * 2000))
    for k in range(40, len(z) - 40, 97):
        z[k] ^= 0x5A
    refused("damaged.json.gz", bytes(z), "gzip data is damaged")
    # a gzip stream cut short: zlib reads it as an early end, which is not a clean one
    co = zlib.compressobj(6, zlib.DEFLATED, 31)
    many = b"".join(b'{"seq":"%d","ts_ns":"%d","text":"r%d"}\n' % (k, k, k) for k in range(400))
    cut = co.compress(many) + co.flush(zlib.Z_SYNC_FLUSH)
    refused("truncated.json.gz", cut, "gzip")
    co = zlib.compressobj(6, zlib.DEFLATED, 31)
    refused("truncated.bin.gz", (co.compress(hdr + struct.pack("<QQI", 0, 1, 1) + b"a")
                                 + co.flush(zlib.Z_SYNC_FLUSH))[:-2], "gzip")
    # seq counts every record, named or not, and nothing follows 2^64 - 1
    imports("mixed-seq.json", b'{"seq":"0","ts_ns":"1","text":"a"}\n{"ts_ns":"2","text":"b"}\n'
            b'{"seq":"2","ts_ns":"3","text":"c"}\n', [(1, b"a"), (2, b"b"), (3, b"c")])
    refused("mixed-gap.json", b'{"seq":"0","ts_ns":"1","text":"a"}\n{"ts_ns":"2","text":"b"}\n'
            b'{"seq":"1","ts_ns":"3","text":"c"}\n', "line 3")
    refused("wrap.json", b'{"seq":"18446744073709551615","ts_ns":"1","text":"a"}\n'
            b'{"seq":"0","ts_ns":"2","text":"b"}\n', "line 2")
    rc, _, err = run("import", base, os.path.join(base, "from-a-dir"))
    check(rc == 1 and "is a directory" in err and not os.path.exists(os.path.join(base, "from-a-dir")),
          "importing a directory says so: %r" % err)
    existing = os.path.join(base, "existing")
    os.mkdir(existing)
    with open(os.path.join(base, "ok.json"), "wb") as f:
        f.write(good)
    check(run("import", os.path.join(base, "ok.json"), existing)[0] == 0,
          "import into an empty directory")
    rc, _, err = run("import", os.path.join(base, "ok.json"), existing)
    check(rc == 1 and "already holds a log" in err, "import refuses a log: %r" % err)
    with open(os.path.join(base, "afile"), "w") as f:
        f.write("x")
    rc, _, err = run("import", os.path.join(base, "ok.json"), os.path.join(base, "afile"))
    check(rc == 1 and "not a directory" in err, "import refuses a file: %r" % err)

    # ---- options ----
    clean = os.path.join(base, "clean")
    subprocess.run([MKLOG, clean, "300", "--seg", "65536"], check=True)
    for args in [["verify", "--apply"], ["export", "--format", "text", "-o", "x"],
                 ["export", "--format=text", "-o", "x"], ["dump", "--gzip"], ["tail", "--from", "5"],
                 ["recover", "-f"], ["stats", "-n", "3"], ["dump", "-x"], ["dump", "--bogus"],
                 ["dump", "-n"], ["dump", "--lines=x"], ["dump", "--from", "-1"],
                 ["dump", "--from", "5", "--to", "4"], ["dump", "-f", "-r"], ["dump", "-o", "xml"],
                 ["dump", clean, "extra"], ["import", "--from", "1", "a"]]:
        rc, out, err = run(*args, clean)
        check(rc == 2 and "maplog" in err and out == b"",
              "%s is a usage error (rc %d, %r)" % (" ".join(args), rc, err))
    for args, name in [(["dump", "--reverse=1"], "--reverse"), (["export", "--gzip=yes", "-o", "x"], "--gzip"),
                       (["verify", "--quick=yes"], "--quick")]:
        rc, out, err = run(*args, clean)
        check(rc == 2 and "'%s' takes no value" % name in err, "%s: %r" % (" ".join(args), err))
    rc, out, _ = run("dump", "-o", "json", "-n", "3", "--to", "198", clean)
    check([first_seq(l) for l in out.split(b"\n")[:-1]] == [196, 197, 198], "-n 3 --to 198: the last 3 up to it")
    rc, out, _ = run("dump", "-o", "json", "-r", "-n", "2", "--to", "5", clean)
    check([first_seq(l) for l in out.split(b"\n")[:-1]] == [5, 4], "-r -n 2 --to 5")
    rc, out, err = run("dump", "--output=json", "--lines=3", clean)
    check(rc == 0 and [first_seq(l) for l in out.split(b"\n")[:-1]] == [297, 298, 299],
          "--output=json --lines=3")
    rc, out2, _ = run("dump", "-ojson", "-n3", clean)
    check(out2 == out, "-ojson -n3 is --output=json --lines=3")
    rc, out, _ = run("dump", "-rn2", "-o", "json", clean)
    check([first_seq(l) for l in out.split(b"\n")[:-1]] == [299, 298], "-rn2: bundled short options")
    rc, out, _ = run("dump", clean, "-o", "json", "--from=10", "--limit", "2")
    check([first_seq(l) for l in out.split(b"\n")[:-1]] == [10, 11], "options after DIR")
    shutil.copytree(clean, os.path.join(base, "-dash"))
    rc, out, err = run("dump", "-o", "json", "--", "-dash", cwd=base)
    check(rc == 0 and first_seq(out) == 0, "-- ends the options (a log named -dash): %r" % err)
    for args in [["dump", clean, "--help"], ["dump", "-n", "3", "--help"], ["help", "dump"],
                 ["tail", "--help", clean], ["export", clean, "-h"]]:
        rc, out, err = run(*args)
        check(rc == 0 and b"usage: maplog " + args[0 if args[0] != "help" else 1].encode() in out,
              "%s prints the usage: %r" % (" ".join(args), out[:60]))
    rc, out, _ = run("--help")
    check(rc == 0 and b"ship" in out, "maplog --help lists ship")
    rc, out, _ = run("--version")
    check(rc == 0 and out.startswith(b"maplog "), "maplog --version")
    f = subprocess.Popen([MAPLOG, "dump", "-f", "-n", "2", "-o", "json", clean],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(1.0)
    still = f.poll() is None
    f.send_signal(signal.SIGINT)
    out, _ = f.communicate(timeout=10)
    check(still and f.returncode == 0 and [first_seq(l) for l in out.split(b"\n")[:-1]] == [298, 299],
          "dump -f -n 2 prints the last two and follows until SIGINT (rc %s)" % f.returncode)

    # ---- times ----
    timed = os.path.join(base, "timed")
    make_log(timed, [(k, (T0 + 60 * k) * 10**9, b"r%d" % k) for k in range(100)])
    for t in ["2026-11-27T10:30:00Z", "2026-11-27t10:30:00z", "2026-11-27 10:30",
              "2026-11-27T10:30:00.000000000Z", "2026-11-27T10:30:00+0000", "2026-11-27T11:30:00+01:00",
              "2026-11-27T11:30:00+0100", "2026-11-27T05:30:00-05", "2026-11-27 10:30:00 UTC",
              "@1795775400", "@1795775399.5"]:
        rc, out, err = run("dump", "-o", "json", "--since", t, timed)
        check(rc == 0 and first_seq(out) == 30, "--since %s starts at seq 30 (got %s, %r)"
              % (t, first_seq(out), err))
    rc, out, _ = run("dump", "-o", "json", "-S", "2026-11-27T10:30:00Z", "-U", "2026-11-27T10:32:00Z", timed)
    check([first_seq(l) for l in out.split(b"\n")[:-1]] == [30, 31, 32], "-S and -U, inclusive")
    kolkata = {"TZ": "Asia/Kolkata"}
    rc, out, _ = run("dump", "--local", "-o", "json", "--from", "30", "--to", "30", timed, env=kolkata)
    printed = json.loads(out)["time"]
    check(printed.endswith("+0530"), "--local prints the UTC offset: %s" % printed)
    for args in [["--since", printed], ["--since", printed, "--local"], ["--local", "--since", printed]]:
        rc, out, err = run("dump", "-o", "json", *args, timed, env=kolkata)
        check(rc == 0 and first_seq(out) == 30, "what --local printed (%s) reads back: %s %r"
              % (printed, args, err))
    a = run("dump", "-o", "json", "--since", "2026-11-27T16:00:00", "--local", timed, env=kolkata)
    b = run("dump", "-o", "json", "--local", "--since", "2026-11-27T16:00:00", timed, env=kolkata)
    check(a[0] == 0 and a[1] == b[1] and first_seq(a[1]) == 30,
          "--since T --local is --local --since T (16:00 in Kolkata is 10:30Z): %s %s"
          % (first_seq(a[1]), first_seq(b[1])))
    for t in ["2026-13-45T99:99:99Z", "2026-02-30", "2026-11-27T24:00", "2026-11-27T10:60Z",
              "2026-11-27T10:00:60Z", "2026-11-27T10:00Zjunk", "1 fortnight ago", ""]:
        rc, out, err = run("dump", "--since", t, timed)
        check(rc == 2 and "--since" in err, "--since %r is refused with a reason: %r" % (t, err))
    n = 300
    rel = {"-1h": n, "1 hour ago": n, "-1h 30min": n, "now": 0, "tomorrow": 0}
    for t, want in rel.items():
        rc, out, _ = run("dump", "--since", t, clean)
        check(rc == 0 and len(out.splitlines()) == want, "--since %r: %d records, want %d"
              % (t, len(out.splitlines()), want))
    for t, want in {"yesterday": 0, "now": n, "+1h": n}.items():
        rc, out, _ = run("dump", "--until", t, clean)
        check(rc == 0 and len(out.splitlines()) == want, "--until %r: %d records, want %d"
              % (t, len(out.splitlines()), want))
finally:
    shutil.rmtree(base, ignore_errors=True)

finish()
