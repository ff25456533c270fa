#!/usr/bin/env python3
"""test_install.py -- the installed library, as another project builds against it.

Installs the build into a temporary prefix, then moves the installed tree elsewhere (an
installed package must not depend on where it was installed).  Checks that libmaplog.so
exports exactly the functions include/maplog.h declares and has SONAME libmaplog.so.0;
that maplog.pc's prefix is where the tree now lies; that nothing under lib*/cmake names
this machine's libxxhash, the build or source tree.  Then builds docs/examples/events.c
against the install four ways -- CMake with maplog::maplog and maplog::maplog_static,
pkg-config shared and static (cc -static) -- checks with readelf which ones need
libmaplog.so.0, and runs each.

Usage: test_install.py CMAKE BUILD_DIR SOURCE_DIR INSTALL_LIBDIR CC XXHASH_LIBRARY
       (ctest passes them; INSTALL_LIBDIR is CMAKE_INSTALL_LIBDIR)
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

CMAKE, BUILD, SOURCE, INSTALL_LIBDIR, CC, XXHASH_LIBRARY = sys.argv[1:7]
BUILD, SOURCE = os.path.abspath(BUILD), os.path.abspath(SOURCE)
EXAMPLE = os.path.join(SOURCE, "docs", "examples", "events.c")
passed = 0
failed = 0


def check(cond, what, detail=""):
    """Count one check; on failure print what was compared."""
    global passed, failed
    if cond:
        passed += 1
        return True
    failed += 1
    print("FAIL:", what, flush=True)
    if detail:
        print("  " + str(detail).rstrip().replace("\n", "\n  "), flush=True)
    return False


def run(cmd, env=None, cwd=None):
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=240)
    return p.returncode, p.stdout, p.stderr


def ran_ok(cmd, what, env=None, cwd=None):
    rc, out, err = run(cmd, env=env, cwd=cwd)
    return check(rc == 0, what, "command: %s\nexit %d\n%s%s" % (" ".join(cmd), rc, out, err)), out


def finish(tmp):
    if failed:
        print("kept for inspection:", tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


def header_api(path):
    """The functions a header declares: maplog_NAME( outside comments."""
    with open(path) as f:
        text = f.read()
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    return set(re.findall(r"\b(maplog_\w+)\s*\(", text))


def dynamic_exports(lib):
    rc, out, err = run(["nm", "-D", "--defined-only", lib])
    check(rc == 0, "nm -D reads " + lib, err)
    names = set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) >= 3:
            names.add(parts[2].split("@")[0])
    return names


def needed(binary):
    """The NEEDED entries of binary's dynamic section (none for a static executable)."""
    rc, out, err = run(["readelf", "-d", binary])
    check(rc == 0, "readelf -d reads " + binary, err)
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out), out


def same_path(a, b):
    return os.path.realpath(a) == os.path.realpath(b)


tmp = tempfile.mkdtemp(prefix="maplog-install-")
staged = os.path.join(tmp, "staged")
prefix = os.path.join(tmp, "prefix")

# ---- install, then move the installed tree ----
ok, _ = ran_ok([CMAKE, "--install", BUILD, "--prefix", staged], "cmake --install into " + staged)
if not ok:
    finish(tmp)
os.rename(staged, prefix)
if os.path.isabs(INSTALL_LIBDIR):
    print("skipped: CMAKE_INSTALL_LIBDIR is absolute (%s), so nothing lands under a prefix"
          % INSTALL_LIBDIR)
    finish(tmp)
libdir = os.path.join(prefix, INSTALL_LIBDIR)
for rel in ["libmaplog.a", "libmaplog.so", "libmaplog.so.0", "pkgconfig/maplog.pc",
            "cmake/maplog/maplogConfig.cmake"]:
    check(os.path.exists(os.path.join(libdir, rel)), "installed: %s/%s" % (INSTALL_LIBDIR, rel),
          "in %s: %s" % (libdir, sorted(os.listdir(libdir)) if os.path.isdir(libdir) else "-"))
header = os.path.join(prefix, "include", "maplog.h")
check(os.path.exists(header), "installed: include/maplog.h")

# ---- the shared library's interface ----
so = os.path.join(libdir, "libmaplog.so")
if os.path.exists(so) and os.path.exists(header):
    api = header_api(header)
    check("maplog_open" in api and len(api) >= 20, "the header parse finds the API",
          "found: %s" % sorted(api))
    exported = dynamic_exports(so)
    missing, extra = sorted(api - exported), sorted(exported - api)
    check(not missing and not extra, "libmaplog.so exports exactly the functions maplog.h declares",
          "declared, not exported: %s\nexported, not declared: %s%s"
          % (missing, extra[:20], " ... (%d in all)" % len(extra) if len(extra) > 20 else ""))
    internal = [n for n in exported if n.startswith("mlg__")]
    check(not internal, "libmaplog.so exports no mlg__ symbol", "exported: %s" % sorted(internal)[:20])
    _, dyn = needed(so)
    soname = re.findall(r"\(SONAME\)\s+Library soname: \[([^\]]+)\]", dyn)
    check(soname == ["libmaplog.so.0"], "libmaplog.so has SONAME libmaplog.so.0", "SONAME: %s" % soname)

# ---- the CMake package names no path of this machine ----
xxhash_paths = {XXHASH_LIBRARY, os.path.realpath(XXHASH_LIBRARY)}
forbidden = [(p, "this machine's libxxhash") for p in sorted(xxhash_paths)]
forbidden += [(os.path.realpath(BUILD), "the build tree"), (os.path.realpath(SOURCE), "the source tree"),
              (staged, "the prefix it was installed to")]
cmake_dirs = set(glob.glob(os.path.join(prefix, "lib*", "cmake")))
cmake_dirs.add(os.path.join(libdir, "cmake"))
cmake_files = [os.path.join(d, f) for top in sorted(cmake_dirs) if os.path.isdir(top)
               for d, _, fs in os.walk(top) for f in fs]
check(cmake_files, "the CMake package is installed", "looked in: %s" % sorted(cmake_dirs))
for path in cmake_files:
    with open(path, errors="replace") as f:
        text = f.read()
    for needle, what in forbidden:
        check(needle not in text, "%s does not name %s" % (os.path.relpath(path, prefix), what),
              "found %s in it" % needle)

# ---- maplog.pc's prefix is where the tree lies ----
pkg_config = shutil.which("pkg-config")
pc_env = dict(os.environ, PKG_CONFIG_PATH=os.path.join(libdir, "pkgconfig"))
if pkg_config:
    for var, want in [("prefix", prefix), ("libdir", libdir), ("includedir", os.path.join(prefix, "include"))]:
        ok, out = ran_ok([pkg_config, "--variable=" + var, "maplog"], "pkg-config --variable=" + var,
                         env=pc_env)
        if ok:
            got = out.strip()
            check(same_path(got, want), "maplog.pc's %s resolves to the install" % var,
                  "%s -> %s, expected %s" % (got, os.path.realpath(got), want))
else:
    print("skipped: pkg-config not found; the .pc checks and the pkg-config builds do not run")

# ---- build events.c against the install ----
binaries = []  # (name, path, linked shared?, extra run env)

consumer = os.path.join(tmp, "consumer")
os.makedirs(consumer)
with open(os.path.join(consumer, "CMakeLists.txt"), "w") as f:
    f.write("""cmake_minimum_required(VERSION 3.20)
project(maplog_consumer C)
find_package(maplog REQUIRED)
file(WRITE ${CMAKE_BINARY_DIR}/maplog_dir.txt "${maplog_DIR}")
add_executable(events_shared %s)
target_link_libraries(events_shared PRIVATE maplog::maplog)
add_executable(events_static %s)
target_link_libraries(events_static PRIVATE maplog::maplog_static)
""" % (EXAMPLE, EXAMPLE))
cbuild = os.path.join(consumer, "build")
ok, _ = ran_ok([CMAKE, "-S", consumer, "-B", cbuild, "-DCMAKE_PREFIX_PATH=" + prefix,
                "-DCMAKE_C_COMPILER=" + CC, "-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF"],
               "a CMake project configures with find_package(maplog)")
if ok:
    with open(os.path.join(cbuild, "maplog_dir.txt")) as f:
        found = f.read().strip()
    check(os.path.realpath(found).startswith(os.path.realpath(prefix) + os.sep),
          "find_package(maplog) found the install", "maplog_DIR = %s, install: %s" % (found, prefix))
    ok, _ = ran_ok([CMAKE, "--build", cbuild], "the CMake project builds events.c twice")
    if ok:
        binaries.append(("cmake maplog::maplog", os.path.join(cbuild, "events_shared"), True, {}))
        binaries.append(("cmake maplog::maplog_static", os.path.join(cbuild, "events_static"), False, {}))

if pkg_config:
    for name, static in [("pkg-config shared", False), ("pkg-config static", True)]:
        flags_cmd = [pkg_config] + (["--static"] if static else []) + ["--cflags", "--libs", "maplog"]
        ok, flags = ran_ok(flags_cmd, " ".join(flags_cmd), env=pc_env)
        if not ok:
            continue
        out = os.path.join(tmp, "events_pc_" + ("static" if static else "shared"))
        cmd = [CC] + (["-static"] if static else []) + [EXAMPLE] + flags.split() + ["-o", out]
        if ran_ok(cmd, name + ": events.c compiles and links")[0]:
            run_env = {} if static else {"LD_LIBRARY_PATH": libdir}
            binaries.append((name, out, not static, run_env))

# ---- which library each binary uses, and each one runs ----
for i, (name, path, shared, extra_env) in enumerate(binaries):
    libs, _ = needed(path)
    env = dict(os.environ, **extra_env)
    if shared:
        check("libmaplog.so.0" in libs, name + ": the binary needs libmaplog.so.0", "NEEDED: %s" % libs)
        rc, out, err = run(["ldd", path], env=env)
        m = re.search(r"libmaplog\.so\.0 => (\S+)", out)
        check(m and same_path(os.path.dirname(m.group(1)), libdir),
              name + ": libmaplog.so.0 resolves into the install", out + err)
    else:
        check(not any("maplog" in n for n in libs), name + ": the binary does not need libmaplog.so",
              "NEEDED: %s" % libs)
        rc, out, err = run(["nm", "--defined-only", path])
        check(re.search(r"\bT maplog_open$", out, re.M), name + ": libmaplog.a is linked in",
              "nm finds no maplog_open defined in %s" % path)
    logdir = os.path.join(tmp, "log-%d" % i)
    rc, out, err = run([path, logdir], env=env)
    check(rc == 0, name + ": events runs and exits 0", "exit %d\n%s%s" % (rc, out, err))

finish(tmp)
