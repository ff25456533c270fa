#!/usr/bin/env python3
"""check-seam.py -- no code in src/ calls the system directly where the seam stands for it.

Usage: scripts/check-seam.py SRC_DIR     check a source tree (ctest: seam)
       scripts/check-seam.py --self-test  check the checker on crafted trees

src/base/os.h lists the seam's entries (the MLG__OS_CALLS X-macro); src/base/os.c holds the
real calls behind them.  Every other .c and .h file under SRC_DIR must call them through the
mlg__ wrappers, so that the fault tests reach every path.  This reads the entry names from
os.h (a new entry is checked as soon as it is added), adds the libc calls each entry stands
for (listdir is opendir/fdopendir/readdir/closedir/dup, writeback is sync_file_range, ...),
and looks for a call of any of them outside comments and string literals.  A member call
(mlg__os.open(...), r->write(...)) and the mlg__ wrappers are not direct calls.

Each offender is printed as FILE:LINE: NAME( ... the line.  One check per file; the last
line is "N passed, N failed", and the exit status is 1 on any failure.
"""

import os
import re
import sys
import tempfile

SEAM_HEADER = os.path.join("base", "os.h")
SEAM_SOURCE = os.path.join("base", "os.c")

# What else each entry stands for: the libc calls that do the same job.
ALSO = {
    "open": ["creat"],
    "openat": ["openat2"],
    "listdir": ["opendir", "fdopendir", "readdir", "readdir_r", "closedir", "scandir",
                "scandirat", "rewinddir", "dup", "dup2", "dup3"],
    "mkdir": ["mkdirat"],
    "flock": ["lockf"],
    "fstat": ["stat", "lstat", "statx"],
    "fstatat": ["faccessat", "access"],
    "pread": ["read", "readv", "preadv", "preadv2"],
    "write": ["writev"],
    "pwrite": ["pwritev", "pwritev2"],
    "ftruncate": ["truncate"],
    "fallocate": ["posix_fallocate"],
    "mmap": ["mremap"],
    "madvise": ["posix_madvise", "posix_fadvise"],
    "fsync": ["sync", "syncfs"],
    "writeback": ["sync_file_range"],
    "renameat": ["rename", "renameat2"],
    "unlinkat": ["unlink", "remove", "rmdir"],
    "random": ["getrandom", "getentropy"],
}

# A call on a descriptor that is no file (inotify, timerfd, epoll) says so on its line.
NOT_A_FILE = "/* seam: not a file */"

ENTRY_RE = re.compile(r"\bX\(\s*[^,]+,\s*([A-Za-z_][A-Za-z0-9_]*)\s*,")


def seam_names(src):
    """The entry names of MLG__OS_CALLS in SRC/base/os.h, or None if there is none."""
    try:
        with open(os.path.join(src, SEAM_HEADER)) as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r"#define\s+MLG__OS_CALLS\(X\)((?:[^\n]*\\\n)*[^\n]*)", text)
    if not m:
        return None
    return ENTRY_RE.findall(m.group(1))


def strip_code(text):
    """text with comments, string and character literals blanked (newlines kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j - 1]) + c)
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def check(src):
    """(status, output lines) for the tree src."""
    names = seam_names(src)
    if not os.path.isdir(src) or names is None:
        return 1, ["%s: no seam list (MLG__OS_CALLS in %s)" % (src, SEAM_HEADER),
                   "0 passed, 1 failed"]
    calls = set(names)
    for n in names:
        calls.update(ALSO.get(n, []))
    call_re = re.compile(r"(?<![A-Za-z0-9_.>])(" + "|".join(sorted(calls)) + r")\s*\(")
    out, passed, failed = [], 0, 0
    files = []
    for root, dirs, fs in os.walk(src):
        dirs.sort()
        files += [os.path.join(root, f) for f in sorted(fs) if f.endswith((".c", ".h"))]
    for path in files:
        rel = os.path.relpath(path, src)
        if rel == SEAM_SOURCE:
            continue
        with open(path, errors="replace") as f:
            raw = f.read()
        lines, code = raw.split("\n"), strip_code(raw).split("\n")
        if rel == SEAM_HEADER:  # the X-macro list and the wrappers name the calls by design
            code = [l if "mlg__os." in l or l.lstrip().startswith("#") else "" for l in code]
            code = [re.sub(r"mlg__os\.\w+", "", l) for l in code]
        bad = []
        for no, line in enumerate(code, 1):
            if line.lstrip().startswith("#"):  # #include <...>, #define, #ifdef names
                continue
            if NOT_A_FILE in lines[no - 1]:  # an inotify or timer descriptor, say
                continue
            for m in call_re.finditer(line):
                bad.append("%s:%d: %s( called directly, not through the seam: %s"
                           % (os.path.join(src, rel), no, m.group(1), lines[no - 1].strip()))
        if bad:
            failed += 1
            out += bad
        else:
            passed += 1
    out.append("checked %d files for direct calls of %d seam entries (%d names)"
               % (passed + failed, len(names), len(calls)))
    out.append("%d passed, %d failed" % (passed, failed))
    return (1 if failed else 0), out


# ---- self-test: crafted trees the check must pass or fail --------------------------------

OS_H = """#define MLG__OS_CALLS(X) \\
    X(int, openat, (int d, const char *p, int f, mode_t m), (d, p, f, m), -1) \\
    X(int, fsync, (int fd), (fd), -1) \\
    X(int, listdir, (int d, mlg__os_each e, void *c), (d, e, c), -1)
static inline int mlg__fsync(int fd) { return mlg__os.fsync(fd); }
"""


def self_test():
    cases = [
        ("clean tree", {"a.c": "int f(int d) { return mlg__fsync(d) + mlg__os.openat(d, 0, 0, 0); }\n"},
         0, ["2 passed, 0 failed"]),
        ("a direct call fails, named with file and line",
         {"a.c": "int f(int d)\n{\n    return fsync(d);\n}\n"}, 1,
         ["a.c:3: fsync( called directly", "1 passed, 1 failed"]),
        ("what an entry stands for counts too",
         {"w/b.c": "void g(int d) { DIR *x = fdopendir(d); (void)x; }\n"}, 1,
         ["b.c:1: fdopendir(", "1 passed, 1 failed"]),
        ("comments, strings and members are not calls",
         {"a.c": '/* fsync(fd) */ const char *s = "openat(x) failed"; // fsync(\n'
                 "int h(struct t *p) { return p->fsync(1) + q.openat(2); }\n"},
         0, ["2 passed, 0 failed"]),
        ("a call marked as on no file is left alone, an unmarked one on the next line is not",
         {"a.c": "void d(int fd)\n{\n    (void)fsync(fd); /* seam: not a file */\n"
                 "    (void)fsync(fd);\n}\n"}, 1,
         ["a.c:4: fsync( called directly", "1 passed, 1 failed"]),
        ("os.c is the seam itself", {"base/os.c": "int x(int f) { return fsync(f); }\n"}, 0,
         ["1 passed, 0 failed"]),
        ("no seam list", None, 1, ["no seam list", "0 passed, 1 failed"]),
    ]
    passed = failed = 0
    for name, files, want_rc, want in cases:
        with tempfile.TemporaryDirectory() as d:
            src = os.path.join(d, "src")
            os.makedirs(os.path.join(src, "base"))
            if files is not None:
                with open(os.path.join(src, SEAM_HEADER), "w") as f:
                    f.write(OS_H)
                for rel, text in files.items():
                    os.makedirs(os.path.dirname(os.path.join(src, rel)), exist_ok=True)
                    with open(os.path.join(src, rel), "w") as f:
                        f.write(text)
            rc, lines = check(src)
        text = "\n".join(lines)
        missing = [w for w in want if w not in text]
        if rc != want_rc or missing:
            failed += 1
            print("FAIL  %s (exit %d, want %d)" % (name, rc, want_rc))
            for w in missing:
                print("      missing: " + w)
            print("      output:\n" + "".join("        " + l + "\n" for l in lines), end="")
        else:
            passed += 1
            print("ok    " + name)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) != 2:
        sys.stderr.write("usage: check-seam.py SRC_DIR | --self-test\n")
        return 2
    rc, lines = check(argv[1])
    print("\n".join(lines))
    return rc


if __name__ == "__main__":
    sys.exit(main(sys.argv))
