#!/usr/bin/env python3
"""test_cli.py -- the maplog tool, driven as an operator would drive it.

Every subcommand runs on real directories: a clean log, a log with a torn tail, a log with
a flipped bit in a sealed segment, an empty directory, paths that are not logs, and a
read-only copy.  JSON output is parsed with Python's json module; export | import must
round-trip byte for byte; dump's peak memory must stay small on a log many times the
segment size; tail -f must follow a live writer across rollovers.

Usage: test_cli.py MAPLOG MKLOG    (ctest passes the two built binaries)
"""
import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time

from toolcheck import check, finish, run_tool

MAPLOG, MKLOG = sys.argv[1], sys.argv[2]
SEG = 65536


def run(*args, input=None, timeout=120):
    return run_tool(MAPLOG, *args, input=input, timeout=timeout)


def mklog(d, n, *extra):
    subprocess.run([MKLOG, d, str(n), "--seg", str(SEG), *extra], check=False)


def payload(i):
    """What mklog wrote as record i."""
    if i % 5 == 4:
        return bytes(((i * 31 + k * 7) & 0xFF) for k in range(i % 97))
    return ('{"i":%d,"msg":"event \\"%d\\" \u00e9t\u00e9"}' % (i, i)).encode()


def tree_digest(d):
    h = hashlib.sha256()
    for name in sorted(os.listdir(d)):
        p = os.path.join(d, name)
        st = os.stat(p)
        h.update(name.encode())
        h.update(str(st.st_mtime_ns).encode())
        with open(p, "rb") as f:
            h.update(f.read())
    return h.hexdigest()


def segments(d):
    return sorted(f for f in os.listdir(d) if f.endswith(".mlog") and len(f) == 25)


def json_records(out):
    recs = []
    for line in out.decode().splitlines():
        obj = json.loads(line)  # raises on invalid JSON: the test fails loudly
        if "text" in obj:
            data = obj["text"].encode("utf-8")
        else:
            import base64
            data = base64.b64decode(obj["base64"])
        # 64-bit values are strings of digits, so tools that hold numbers as doubles keep them
        check(isinstance(obj["seq"], str) and obj["seq"].isdigit() and
              isinstance(obj["ts_ns"], str) and obj["ts_ns"].isdigit(),
              "seq and ts_ns are strings of digits: %r" % line[:80])
        seq = int(obj["seq"])
        check(len(data) == obj["len"], "json len matches payload at seq %d" % seq)
        recs.append((seq, int(obj["ts_ns"]), data))
    return recs


base = tempfile.mkdtemp(prefix="maplog-cli-")
try:
    N = 6000
    clean = os.path.join(base, "clean")
    mklog(clean, N)
    check(len(segments(clean)) >= 5, "clean log spans several segments")

    # --help everywhere, usage errors exit 2
    for cmd in ["dump", "tail", "verify", "stats", "recover", "archive", "export", "import"]:
        rc, out, err = run(cmd, "--help")
        check(rc == 0 and b"usage: maplog " + cmd.encode() in out, "%s --help" % cmd)
    check(run("--help")[0] == 0, "maplog --help")
    check(run()[0] == 2, "no command is a usage error")
    check(run("frobnicate", clean)[0] == 2, "unknown command is a usage error")
    check(run("dump", "--from", "x", clean)[0] == 2, "bad number is a usage error")
    check(run("dump", "--since", "2026-13-45T99:99:99Z", clean)[0] == 2,
          "an impossible time is a usage error")
    check(run("dump")[0] == 2, "missing directory is a usage error")

    # dump: every format, selections
    rc, out, err = run("dump", "--format", "json", clean)
    recs = json_records(out)
    check(rc == 0 and len(recs) == N, "dump --format json: %d records" % len(recs))
    check(all(r[0] == i and r[2] == payload(i) for i, r in enumerate(recs)),
          "dump json payloads are the bytes written (text and binary)")
    rc, out, _ = run("dump", clean)
    lines = out.decode().splitlines()
    check(rc == 0 and len(lines) == N, "dump text: one line a record")
    check("hex:" in lines[4] and lines[0].split()[0] == "0", "text shows binary as hex")
    rc, out, _ = run("dump", "--format", "raw", "--from", "7", "--to", "7", clean)
    check(out == payload(7), "dump --format raw gives exact bytes")
    rc, out, _ = run("dump", "--format", "hex", "--from", "4", "--to", "4", clean)
    check(rc == 0 and out.startswith(b"seq 4 "), "dump --format hex")
    rc, out, _ = run("dump", "--format", "json", "--from", "100", "--to", "199", clean)
    r = json_records(out)
    check([x[0] for x in r] == list(range(100, 200)), "--from/--to inclusive")
    rc, out, _ = run("dump", "--format", "json", "--limit", "5", "--reverse", clean)
    r = json_records(out)
    check([x[0] for x in r] == [N - 1, N - 2, N - 3, N - 4, N - 5], "--reverse --limit")
    t_mid = recs[N // 2][1]
    rc, out, _ = run("dump", "--format", "json", "--since",
                     "@%d.%09d" % (t_mid // 10**9, t_mid % 10**9), clean)
    r = json_records(out)
    first_at = min(i for i, x in enumerate(recs) if x[1] >= t_mid)
    check(rc == 0 and r and r[0][0] == first_at and r[0][1] >= t_mid,
          "--since @seconds starts at the first record at or after it")
    t9 = recs[9][1]
    rc, out, _ = run("dump", "--format", "json", "--until", "@%d.%09d" % (t9 // 10**9, t9 % 10**9),
                     clean)
    check(json_records(out) == [x for x in recs if x[1] <= t9], "--until is inclusive")

    # a closed pipe ends dump quietly
    p = subprocess.Popen([MAPLOG, "dump", clean], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.readline()
    p.stdout.close()
    err = p.stderr.read().decode()
    rc = p.wait()
    check(rc == 0 and err == "", "dump | head: no broken-pipe noise (rc %d, %r)" % (rc, err))

    # tail
    rc, out, _ = run("tail", "-n", "3", "--format", "json", clean)
    check([x[0] for x in json_records(out)] == [N - 3, N - 2, N - 1], "tail -n 3")

    # stats, verify, recover on a clean log
    rc, out, _ = run("stats", "--json", clean)
    st = json.loads(out)
    check(rc == 0 and st["records"] == str(N) and st["next_seq"] == str(N)
          and st["clean_shutdown"] is True,
          "stats --json on a clean log: %s" % st)
    check(st["segments"] == len(segments(clean)) and st["bytes_allocated"] == SEG * st["segments"],
          "stats counts segments and bytes")
    rc, out, _ = run("stats", clean)
    check(rc == 0 and b"last shutdown:   clean" in out, "stats text")
    rc, out, _ = run("verify", clean)
    check(rc == 0 and b"0 problems" in out, "verify on a clean log")
    rc, out, _ = run("verify", "--quick", clean)
    check(rc == 0, "verify --quick on a clean log")
    rc, out, _ = run("recover", clean)
    check(rc == 0 and out.startswith(b"nothing to do"), "recover on a clean log")

    # archive: a copy of the clean log, its sealed segments compressed; it reads the same
    arch = os.path.join(base, "arch")
    shutil.copytree(clean, arch)
    rc, dump_before, _ = run("dump", "--format", "json", arch)
    plain_before = len(segments(arch))
    rc, out, err = run("archive", arch)
    zs = [f for f in os.listdir(arch) if f.endswith(".mlogz")]
    check(rc == 0 and len(zs) == plain_before - 1 and len(segments(arch)) == 1
          and (b"%d sealed segments compressed" % (plain_before - 1)) in out,
          "archive compresses every sealed segment, not the last (%d of %d): %r %r"
          % (len(zs), plain_before, out, err))
    rc, dump_after, _ = run("dump", "--format", "json", arch)
    check(rc == 0 and dump_after == dump_before, "an archived log dumps the same records")
    rc, out, _ = run("verify", arch)
    check(rc == 0 and b"0 problems" in out, "verify on the archived log")
    rc, out, _ = run("archive", arch)
    check(rc == 0 and b"0 sealed segments compressed" in out, "archive again: nothing left")
    # stats of the archived log (its first record's time read from the start of the first
    # archive alone) says what the plain log's does, but for the bytes the files take
    sa, sp = json.loads(run("stats", "--json", arch)[1]), json.loads(run("stats", "--json", clean)[1])
    diff = {k: (sa.get(k), sp.get(k)) for k in set(sa) | set(sp)
            if k not in ("bytes_allocated", "dir") and sa.get(k) != sp.get(k)}
    check(not diff, "stats of the archived log agrees with the plain one: %r" % diff)
    rc, out, err = run("archive", os.path.join(base, "no-such-log"))
    check(rc == 1 and "no-such-log" in err and not os.path.exists(os.path.join(base, "no-such-log")),
          "archive of a missing directory: exit 1, named, nothing made (%r)" % err)

    # a torn tail: a writer SIGKILLed, then the last record cut short by hand
    torn = os.path.join(base, "torn")
    mklog(torn, 1000, "--crash")
    last = os.path.join(torn, segments(torn)[-1])
    rc, out, _ = run("dump", "--format", "json", torn)
    n_before = len(json_records(out))
    check(rc == 0 and n_before == 1000, "a SIGKILLed writer's log dumps whole")
    with open(last, "r+b") as f:  # garble the last record's payload: a torn write
        data = f.read()
        end = len(data.rstrip(b"\0"))
        f.seek(end - 3)
        f.write(b"\x99\x98\x97")
    rc, out, err = run("dump", "--format", "json", torn)
    check(rc == 0 and len(json_records(out)) == 999 and "torn tail" in err,
          "dump stops before a torn tail and says so (%r)" % err)
    rc, out, _ = run("verify", torn)
    check(rc == 3 and b"crash state: torn tail" in out and segments(torn)[-1].encode() in out
          and b"no damage" in out,
          "verify reports the torn tail as a crash state (exit 3), with the file: %r" % out)
    rc, out, _ = run("stats", "--json", torn)
    check(json.loads(out)["clean_shutdown"] is False, "stats says the shutdown was unclean")
    digest = tree_digest(torn)
    rc, out, _ = run("recover", torn)
    check(rc == 1 and b"seq 999" in out and tree_digest(torn) == digest,
          "recover without --apply reports and changes nothing: %r" % out)
    # as root, on a log another user owns (an operator's repair): what it makes (side files,
    # the spare the writer left) belongs to the log's user, who must still open the log
    owned = torn + "-owned"
    shutil.copytree(torn, owned)
    if os.geteuid() == 0:
        for root, dirs, files in os.walk(owned):
            for n in [root] + [os.path.join(root, f) for f in files]:
                os.chown(n, 65534, 65534)
        rc, out, _ = run("recover", "--apply", owned)
        run("archive", owned)
        wrong = [f for f in os.listdir(owned)
                 if os.stat(os.path.join(owned, f)).st_uid != 65534]
        check(rc == 0 and not wrong and any(".tail-" in f for f in os.listdir(owned)),
              "recover --apply and archive as root leave the log its owner's: %r %r"
              % (wrong, out))
    else:
        print("skipped: the ownership of what root's repair makes (not run as root)")
    rc, out, _ = run("recover", "--apply", torn)
    check(rc == 0, "recover --apply on a torn tail: %r" % out)
    check(run("verify", torn)[0] == 0, "verify passes after recover --apply")
    check(len(json_records(run("dump", "--format", "json", torn)[1])) == 999, "999 records kept")

    # a crash with a record reserved and never published: read as it is, a crash state
    hole = os.path.join(base, "hole")
    subprocess.run([MKLOG, hole, "500", "--seg", "65536", "--hole", "100"])
    rc, out, err = run("dump", "--format", "json", hole)
    recs = json_records(out)
    check(rc == 0 and len(recs) == 500 and "crash state, not damage" in err
          and "1 record reserved and never published" in err,
          "dump of a crashed log reads past the hole and says it is a crash state: %r" % err)
    check([r[0] for r in recs[99:101]] == [99, 101], "the hole keeps its number: %r" % recs[99:101])
    rc, out, _ = run("verify", hole)
    check(rc == 3 and b"crash state: record seq 100 reserved and never published" in out,
          "verify calls the hole a crash state (exit 3): %r" % out)
    rc, out, _ = run("recover", "--apply", hole)
    check(rc == 0 and b"void record" in out, "recover --apply makes it a void record: %r" % out)
    check(run("verify", hole)[0] == 0, "verify passes after recover --apply")
    rc, out, _ = run("dump", "--voids", "--from", "99", "--to", "101", hole)
    lines = out.decode().splitlines()
    check(rc == 0 and len(lines) == 3 and "void" in lines[1] and lines[1].startswith("100 "),
          "dump --voids shows the void record: %r" % out)
    check(len(json_records(run("dump", "--format", "json", hole)[1])) == 500,
          "dump skips the void record by default")
    rc, out, _ = run("stats", "--json", hole)
    st = json.loads(out)
    check(st["records"] == "500" and st["void_records"] == "1", "stats counts the void: %r" % st)
    # export and import keep the void record, so every record keeps its sequence number
    want = run("dump", "--format", "json", "--voids", hole)[1]
    for fmt in ["json", "binary"]:
        exp, imp = os.path.join(base, "hole." + fmt), os.path.join(base, "hole-" + fmt)
        rc1 = run("export", "--format", fmt, "-o", exp, hole)[0]
        rc2, _, err = run("import", exp, imp)
        check(rc1 == 0 and rc2 == 0 and run("dump", "--format", "json", "--voids", imp)[1] == want,
              "export --format %s and import keep the void record: %r" % (fmt, err))
    bad = os.path.join(base, "void-bad.json")
    for line, why in [('{"seq":"0","void":true,"text":"x"}', "a void record with a payload"),
                      ('{"seq":"0","void":false}', '"void" is not true'),
                      ('{"void":true}', 'a void record without "seq"')]:
        with open(bad, "w") as f:
            f.write(line + "\n")
        rc, _, err = run("import", bad, os.path.join(base, "void-bad"))
        check(rc == 1 and why in err and "line 1" in err, "import refuses %s: %r" % (line, err))

    # a flipped bit in a sealed segment
    flip = os.path.join(base, "flip")
    shutil.copytree(clean, flip)
    seg1 = os.path.join(flip, segments(flip)[1])
    with open(seg1, "r+b") as f:
        f.seek(4096 + 300)
        b = f.read(1)
        f.seek(4096 + 300)
        f.write(bytes([b[0] ^ 0x04]))
    rc, out, _ = run("verify", flip)
    check(rc == 1 and segments(flip)[1].encode() in out and b"offset" in out
          and b"digest" in out and b"CRC mismatch" in out,
          "verify names the file, offset, bad CRC and digest: %r" % out)
    rc, out, err = run("dump", "--format", "json", flip)
    check(rc == 1 and segments(flip)[1] in err and "offset" in err,
          "dump reports the damaged record on stderr and exits 1: %r" % err)
    got = json_records(out)
    check(all(x[2] == payload(x[0]) for x in got), "dump never prints the damaged record as data")
    rc, out, _ = run("recover", flip)
    check(rc == 1 and b"dropping" in out, "recover plans a cut in the sealed segment: %r" % out)
    rc, out, _ = run("recover", "--apply", flip)
    check(rc == 0 and run("verify", flip)[0] == 0, "verify passes after recover --apply: %r" % out)
    kept = json_records(run("dump", "--format", "json", flip)[1])
    check(kept and all(x[2] == payload(x[0]) for x in kept), "what recover kept is intact")
    check(any(".tail-" in f for f in os.listdir(flip)), "the cut bytes are kept beside the log")

    # an empty directory, a file, a directory of other things
    empty = os.path.join(base, "empty")
    os.mkdir(empty)
    notalog = os.path.join(base, "notalog")
    os.mkdir(notalog)
    open(os.path.join(notalog, "readme.txt"), "w").write("hi\n")
    afile = os.path.join(base, "afile")
    open(afile, "w").write("x")
    for d in [empty, notalog, afile, os.path.join(base, "missing")]:
        for cmd in [["dump"], ["tail"], ["verify"], ["stats"], ["recover"],
                    ["export", "-o", os.path.join(base, "x.out")]]:
            rc, out, err = run(*cmd, d)
            check(rc == 1 and d in err and "Traceback" not in err,
                  "%s on %s: exit 1 with the path in the message (rc %d, %r)" % (cmd[0], d, rc, err))
    check(os.listdir(empty) == [], "the tool wrote nothing into an empty directory")
    # the last segment deleted from a copy: the one before it is sealed, so it existed;
    # dump, export and stats say so and exit 1, as verify does
    nolast = os.path.join(base, "nolast")
    mklog(nolast, 3000)
    segs_nl = segments(nolast)
    check(len(segs_nl) >= 3, "a log of several segments: %r" % segs_nl)
    lost_first = int(segs_nl[-1][:20])
    os.unlink(os.path.join(nolast, segs_nl[-1]))
    for cmd in [["dump"], ["tail", "-n", "3"], ["export", "-o", os.path.join(base, "nl.out")],
                ["stats"]]:
        rc, out, err = run(*cmd, nolast)
        said = err if cmd[0] != "stats" else out.decode()
        check(rc == 1 and ("seq %d on" % lost_first) in said and "missing" in said,
              "%s on a log whose last segment is gone: exit 1, saying so (rc %d, %r)"
              % (cmd[0], rc, said[-300:]))
    rc, out, _ = run("stats", "--json", nolast)
    check(json.loads(out).get("missing_after") == str(lost_first),
          "stats --json names the missing segment's first seq: %r" % out[-200:])
    rc, out, _ = run("stats", "--json", clean)
    check(json.loads(out).get("missing_after", 0) is None, "and null where none is missing")

    # a segment file given where its directory belongs: the message says which to give
    seg = os.path.join(clean, segments(clean)[0])
    rc, out, err = run("import", seg, os.path.join(base, "from-segment"))
    check(rc == 1 and "a maplog segment file, not an export" in err and
          not os.path.exists(os.path.join(base, "from-segment")),
          "import of a segment file says what it is and makes nothing (rc %d, %r)" % (rc, err))
    for cmd in [["dump"], ["verify"], ["stats"], ["recover"]]:
        rc, out, err = run(*cmd, seg)
        check(rc == 1 and "a segment file" in err and "the directory that holds it" in err,
              "%s on a segment file: it says to give its directory (rc %d, %r)" % (cmd[0], rc, err))

    # a read-only copy: every read command works and nothing changes
    ro = os.path.join(base, "ro")
    shutil.copytree(torn, ro)
    mklog(os.path.join(base, "ro-src"), 500, "--crash")
    shutil.rmtree(ro)
    shutil.copytree(os.path.join(base, "ro-src"), ro)
    for p in [ro] + [os.path.join(ro, f) for f in os.listdir(ro)]:
        os.chmod(p, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH | (stat.S_IXUSR if os.path.isdir(p) else 0))
    immutable = subprocess.run(["chattr", "+i", *[os.path.join(ro, f) for f in os.listdir(ro)], ro],
                               capture_output=True).returncode == 0
    digest = tree_digest(ro)
    for cmd in [["dump"], ["tail", "-n", "5"], ["verify"], ["stats"], ["stats", "--json"],
                ["recover"], ["export", "-o", os.path.join(base, "ro.json")]]:
        rc, out, err = run(*cmd, ro)
        check(rc in (0, 1) and "Permission" not in err and "Operation not permitted" not in err,
              "%s on a read-only copy (rc %d, %r)" % (cmd[0], rc, err))
    check(tree_digest(ro) == digest, "a read-only copy is left exactly as it was")
    check(len(json_records(run("dump", "--format", "json", ro)[1])) == 500,
          "a read-only copy dumps whole")
    if immutable:
        subprocess.run(["chattr", "-i", *[os.path.join(ro, f) for f in os.listdir(ro)], ro])
    print("read-only copy made immutable with chattr: %s" % immutable)

    # export | import, json and binary, gzip or not: byte for byte
    orig = json_records(run("dump", "--format", "json", clean)[1])
    for fmt in ["json", "binary"]:
        for gz in [False, True]:
            out_file = os.path.join(base, "export-%s%s" % (fmt, ".gz" if gz else ""))
            args = ["export", clean, "-o", out_file, "--format", fmt] + (["--gzip"] if gz else [])
            rc, _, err = run(*args)
            check(rc == 0, "export %s gzip=%s: %r" % (fmt, gz, err))
            if gz:
                with open(out_file, "rb") as f:
                    check(f.read(2) == b"\x1f\x8b", "--gzip writes gzip")
            dest = os.path.join(base, "import-%s-%s" % (fmt, gz))
            rc, _, err = run("import", out_file, dest)
            check(rc == 0, "import %s gzip=%s: %r" % (fmt, gz, err))
            back = json_records(run("dump", "--format", "json", dest)[1])
            check(back == orig, "export %s gzip=%s | import round-trips byte for byte" % (fmt, gz))
    # through a pipe, too
    p1 = subprocess.Popen([MAPLOG, "export", clean, "-o", "-"], stdout=subprocess.PIPE)
    p2 = subprocess.run([MAPLOG, "import", "-", os.path.join(base, "piped")], stdin=p1.stdout)
    p1.wait()
    check(p2.returncode == 0 and
          json_records(run("dump", "--format", "json", os.path.join(base, "piped"))[1]) == orig,
          "export -o - | import - round-trips")
    check(run("import", os.path.join(base, "export-json"), clean)[0] == 1,
          "import refuses to write into an existing log")

    # tail -f follows a live writer across rollovers, and stops cleanly on SIGINT
    live = os.path.join(base, "live")
    w = subprocess.Popen([MKLOG, live, "4000", "--seg", str(SEG), "--slow", "200"])
    time.sleep(0.3)
    t = subprocess.Popen([MAPLOG, "tail", "-n", "1000000", "-f", "--format", "json", live],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    w.wait()
    deadline = time.time() + 20
    seen = []
    buf = b""
    os.set_blocking(t.stdout.fileno(), False)
    while time.time() < deadline and len(seen) < 4000:
        chunk = t.stdout.read()
        if chunk:
            buf += chunk
            *done, buf = buf.split(b"\n")
            seen += [int(json.loads(x)["seq"]) for x in done]
        else:
            time.sleep(0.05)
    t.send_signal(signal.SIGINT)
    rc = t.wait(timeout=10)
    check(seen == list(range(4000)), "tail -f saw every record in order (%d of 4000)" % len(seen))
    check(len(segments(live)) >= 3, "the followed log rolled over (%d segments)" % len(segments(live)))
    check(rc == 0, "tail -f exits 0 on SIGINT (rc %d)" % rc)
    # ... and when whoever reads its output goes away, though the log is idle and it has
    # nothing more to write (`maplog tail -f LOG | head -1`)
    t = subprocess.Popen([MAPLOG, "tail", "-n", "1", "-f", live], stdout=subprocess.PIPE)
    line = t.stdout.readline()
    t.stdout.close()
    try:
        rc = t.wait(timeout=10)
    except subprocess.TimeoutExpired:
        t.kill()
        rc = t.wait()
        rc = "still running after 10 s"
    check(line.startswith(b"3999") and rc == 0,
          "tail -f on an idle log exits 0 once its reader is gone (%r, rc %s)" % (line[:12], rc))

    # cursors: a consumer that runs now and then processes each record once
    cur = os.path.join(base, "cur")
    curf = os.path.join(base, "cur.cursor")
    mklog(cur, 300)
    rc, out, _ = run("dump", "--format", "json", "--cursor-file", curf, cur)
    check(rc == 0 and len(json_records(out)) == 300 and os.path.exists(curf),
          "dump --cursor-file: every record the first time, and the cursor saved")
    first = open(curf).read().strip()
    check(first.startswith("maplog1:") and ":299:" in first, "the cursor names seq 299: %r" % first)
    mklog(cur, 50)  # the log goes on: seq 300..349
    rc, out, err = run("dump", "--format", "json", "--cursor-file", curf, "--show-cursor", cur)
    recs = json_records(out)
    check(rc == 0 and [r[0] for r in recs] == list(range(300, 350)),
          "the second run: only the 50 new records (%d)" % len(recs))
    check(":349:" in open(curf).read() and "-- cursor: maplog1:" in err,
          "the cursor moved to seq 349, and --show-cursor said so: %r" % err)
    rc, out, _ = run("dump", "--cursor-file", curf, cur)
    check(rc == 0 and out == b"" and ":349:" in open(curf).read(),
          "nothing new: nothing printed, the cursor file unchanged")
    rc, out, _ = run("dump", "--format", "json", "--after-cursor", first, cur)
    check(rc == 0 and [r[0] for r in json_records(out)][:1] == [300], "--after-cursor: from seq 300")
    rc, _, err = run("dump", "--after-cursor", first, clean)
    check(rc == 1 and "another log" in err, "another log's cursor is refused: %r" % err)
    rc, _, err = run("dump", "--after-cursor", "maplog1:nonsense", cur)
    check(rc == 1 and "is not a cursor" in err, "a bad cursor is refused: %r" % err)
    rc, _, err = run("dump", "--reverse", "--cursor-file", curf, cur)
    check(rc == 2 and "not with --reverse" in err, "cursors go forwards: %r" % err)
    tailf = os.path.join(base, "tail.cursor")
    rc, out, _ = run("tail", "--format", "json", "--cursor-file", tailf, cur)
    check(rc == 0 and [r[0] for r in json_records(out)] == list(range(340, 350)),
          "tail --cursor-file, the first time: the last 10")
    mklog(cur, 3)
    rc, out, _ = run("tail", "--format", "json", "--cursor-file", tailf, cur)
    check(rc == 0 and [r[0] for r in json_records(out)] == [350, 351, 352],
          "tail --cursor-file after that: only what is new")
    expf, expo = os.path.join(base, "exp.cursor"), os.path.join(base, "exp.json")
    rc1 = run("export", "-o", expo, "--cursor-file", expf, cur)[0]
    n1 = len(open(expo).read().splitlines())
    mklog(cur, 7)
    rc2 = run("export", "-o", expo, "--cursor-file", expf, cur)[0]
    n2 = len(open(expo).read().splitlines())
    check(rc1 == 0 and rc2 == 0 and n1 == 353 and n2 == 7, "export --cursor-file: %d, then %d" % (n1, n2))

    # flat memory: dump of a log many segments long
    big = os.path.join(base, "big")
    subprocess.run([MKLOG, big, "40000", "--seg", str(16 << 20), "--big"], check=True)
    size = sum(os.path.getsize(os.path.join(big, f)) for f in segments(big))
    p = subprocess.Popen([MAPLOG, "dump", "--format", "json", big], stdout=subprocess.DEVNULL)
    _, status, ru = os.wait4(p.pid, 0)  # this process's own peak, not other children's
    peak = ru.ru_maxrss
    # sanitizers add shadow memory; the bound still says "much less than the log"
    bound_mb = 128 if os.environ.get("MAPLOG_SANITIZE") else 48
    print("dump of a %d MB log: peak RSS %d MB (bound %d MB)" % (size >> 20, peak >> 10, bound_mb))
    check(os.waitstatus_to_exitcode(status) == 0 and peak < bound_mb * 1024,
          "dump keeps its memory flat: peak RSS %d KB for a %d MB log" % (peak, size >> 20))

    # the consumer SIGKILLed mid-run: the cursor file is whole, and the next run goes on right
    # after it -- no record lost (those printed after the last save come again)
    kill = os.path.join(base, "killcur")
    killf = os.path.join(base, "kill.cursor")
    subprocess.run([MKLOG, kill, "200000", "--seg", str(16 << 20)], check=True)
    p = subprocess.Popen([MAPLOG, "dump", "--cursor-file", killf, kill], stdout=subprocess.PIPE)
    got = 0
    while got < 150000:
        line = p.stdout.readline()
        if not line:
            break
        got += 1
    p.send_signal(signal.SIGKILL)
    p.wait()
    p.stdout.close()
    saved = open(killf).read().strip() if os.path.exists(killf) else ""
    check(saved.startswith("maplog1:"), "after SIGKILL the cursor file is whole: %r" % saved[:90])
    seq = int(saved.split(":")[2]) if saved else -1
    check(seq < got, "it names a record the consumer had read (seq %d, %d read)" % (seq, got))
    rc, out, _ = run("dump", "--format", "json", "--cursor-file", killf, kill, timeout=300)
    rest = [r[0] for r in json_records(out)]
    check(rc == 0 and rest[:1] == [seq + 1] and rest[-1:] == [199999],
          "the next run goes on right after it: %r..%r" % (rest[:1], rest[-1:]))

    # maplog-demo writes a new log each run and removes only one it wrote itself: run again
    # after `maplog archive`, it starts afresh; a log it did not write, or one a writer
    # holds, it refuses and leaves as it was
    demo = os.path.join(os.path.dirname(MAPLOG), "maplog-demo")
    if os.path.exists(demo):
        dd = os.path.join(base, "demo")
        rc, out, err = run_tool(demo, dd, "150")
        check(rc == 0, "the demo runs: %d %r" % (rc, err[-300:]))
        rc, out, err = run("archive", dd)
        check(rc == 0 and not out.startswith(b"0 "), "the demo's log archived: %r %r" % (out, err))
        rc, out, err = run_tool(demo, dd, "150")
        check(rc == 0 and b"every acknowledged event present and intact: yes" in out,
              "the demo runs again after an archive: %d %r" % (rc, err[-300:]))
        check(not [f for f in os.listdir(dd) if f.endswith(".mlogz")],
              "and its log is new: %r" % sorted(os.listdir(dd)))
        other = os.path.join(base, "not-demo")
        mklog(other, 500)
        before = tree_digest(other)
        rc, out, err = run_tool(demo, other, "150")
        check(rc == 1 and "did not write" in err and "new directory" in err,
              "the demo refuses a log it did not write: %d %r" % (rc, err))
        check(tree_digest(other) == before, "and leaves it as it was")
        held = os.path.join(base, "demo-held")
        w = subprocess.Popen([demo, held, "4000"], stdout=subprocess.DEVNULL)
        try:
            deadline = time.time() + 30
            while time.time() < deadline and not [
                    f for f in (os.listdir(held) if os.path.isdir(held) else [])
                    if f.endswith(".mlog")]:
                time.sleep(0.02)
            rc, out, err = run_tool(demo, held, "150")
            check(rc == 1 and "open for writing" in err,
                  "the demo refuses a log a writer holds: %d %r" % (rc, err))
            # recover's dry run beside the writer: a record or a rollover in progress in
            # the segment being written is no torn tail
            for _ in range(5):
                rc, out, err = run("recover", held)
                check(rc == 0 and b"nothing to do while a writer holds the log" in out,
                      "recover beside a running writer: %d %r %r" % (rc, out, err))
                time.sleep(0.05)
        finally:
            w.wait(timeout=120)
        check(w.returncode == 0, "the writer it refused to touch ran to its end: %d" % w.returncode)
    else:
        print("skipped: maplog-demo's directory checks (%s not built)" % demo)
finally:
    subprocess.run(["chattr", "-R", "-i", base], capture_output=True)
    shutil.rmtree(base, ignore_errors=True)

finish()
