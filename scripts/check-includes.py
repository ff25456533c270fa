#!/usr/bin/env python3
"""check-includes.py -- the include graph of src/: no cycle, and every layer looks only down.

Usage: scripts/check-includes.py SRC_DIR     check a source tree (ctest: include_graph)
       scripts/check-includes.py --self-test  check the checker on crafted trees

Reads every #include "..." in SRC_DIR and resolves each name the way the build does: the
including file's folder, then the folders of MAPLOG_INTERNAL_INCLUDES in the top
CMakeLists.txt (src, src/base, src/format, src/writer, src/reader).  A name found in none of
them (maplog.h, in include/) is outside the graph.

A module is a .c file and the .h of the same stem in the same folder; a .h or .c with no
partner is a module alone.  The files of a folder built around a private header that its
files share by design (src/writer/, src/reader/) are one module.  The script prints the
module graph, the layers it infers from it (a module's layer is its longest path down to a
module that includes nothing), and fails when:
  - the module graph has a cycle (printed as a -> b -> a);
  - a file includes a header of a higher layer, or of a peer, by the order
        base/ < format/ < internal.h < logdir < writer/ | reader/ | check/
    (writer, reader and check sit side by side and must not include each other);
  - a file of src/ has no place in that order.
The last line is "N passed, N failed"; the exit status is 1 on any failure.
"""

import os
import re
import sys
import tempfile

# The layers, bottom first.  A key is a folder of src/ or the stem of a file directly in it.
LAYERS = [("base",), ("format",), ("internal",), ("logdir",), ("writer", "reader", "check")]
# Folders whose files share a private header by design: each folder is one module.
FOLDER_MODULES = ("writer", "reader")
# The build's MAPLOG_INTERNAL_INCLUDES, relative to the folder above src/, used when the
# top CMakeLists.txt is absent or does not set it.
DEFAULT_INCLUDE_PATH = ["src", "src/base", "src/format", "src/writer", "src/reader"]

INCLUDE_RE = re.compile(r'^[ \t]*#[ \t]*include[ \t]*"([^"\n]+)"', re.M)


def strip_comments(text):
    """The text with its comments blanked (newlines kept), string literals left alone."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append("\n" * text.count("\n", i, j))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c == '"' or c == "'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            out.append(text[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def include_path(src):
    """The folders a quoted name is looked for in after the includer's own, as the build has them."""
    root = os.path.dirname(os.path.abspath(src))
    dirs = DEFAULT_INCLUDE_PATH
    try:
        with open(os.path.join(root, "CMakeLists.txt"), encoding="utf-8") as f:
            m = re.search(r"set\(\s*MAPLOG_INTERNAL_INCLUDES\s+([^)]*)\)", f.read())
        if m:
            words = m.group(1).split()
            prefix = "${CMAKE_CURRENT_SOURCE_DIR}/"
            if words and all(w.startswith(prefix) for w in words):
                dirs = [w[len(prefix):] for w in words]
    except OSError:
        pass
    return [os.path.normpath(os.path.join(root, d)) for d in dirs]


def layer_key(rel):
    """The LAYERS key of a file given relative to src/: its folder, or its stem at the top."""
    parts = rel.split("/")
    return parts[0] if len(parts) > 1 else os.path.splitext(parts[0])[0]


def rank_of(key):
    for r, keys in enumerate(LAYERS):
        if key in keys:
            return r
    return None


def layer_name(key):
    return key + ("/" if key not in ("internal", "logdir") else ".h" if key == "internal" else "")


def module_of(rel, files):
    """The module a file (relative to src/) belongs to."""
    folder, name = os.path.split(rel)
    if folder in FOLDER_MODULES:
        return folder + "/"
    stem, ext = os.path.splitext(name)
    other = os.path.join(folder, stem + (".h" if ext == ".c" else ".c"))
    if other in files:
        return os.path.join(folder, stem)
    return rel


def find_cycle(graph):
    """One cycle of graph (node -> sorted deps) as a list [a, b, ..., a], or None."""
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for d in graph.get(n, ()):
            if state.get(d) == 1:
                ring = stack[stack.index(d):]
                k = ring.index(min(ring))  # start at the least name, for a stable report
                ring = ring[k:] + ring[:k]
                return ring + [ring[0]]
            if d not in state:
                c = visit(d)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def check(src):
    """Check the tree under src; returns (exit status, lines to print)."""
    out = []
    passed = failed = 0

    def verdict(ok, what, details=()):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
        out.append(("ok    " if ok else "FAIL  ") + what)
        out.extend("      " + d for d in details)

    src = os.path.normpath(os.path.abspath(src))
    if not os.path.isdir(src):
        return 1, ["not a directory: " + src, "0 passed, 1 failed"]
    search = include_path(src)
    files = set()
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        for f in filenames:
            if f.endswith((".c", ".h")):
                files.add(os.path.relpath(os.path.join(dirpath, f), src).replace(os.sep, "/"))

    # Every quoted include, resolved: (includer, name, target relative to src/ or None).
    edges = []
    outside = set()
    for rel in sorted(files):
        with open(os.path.join(src, rel), encoding="utf-8", errors="replace") as f:
            text = strip_comments(f.read())
        here = os.path.dirname(os.path.join(src, rel))
        for name in INCLUDE_RE.findall(text):
            target = None
            for d in [here] + search:
                p = os.path.normpath(os.path.join(d, name))
                if os.path.isfile(p):
                    target = p
                    break
            if target is not None and os.path.commonpath([target, src]) == src:
                edges.append((rel, name, os.path.relpath(target, src).replace(os.sep, "/")))
            else:
                outside.add(name)
    out.append("include path: " + ", ".join(
        os.path.relpath(d, os.path.dirname(src)).replace(os.sep, "/") for d in search))
    out.append("%d files, %d includes inside src/%s" % (
        len(files), len(edges),
        "; outside it: " + ", ".join(sorted(outside)) if outside else ""))

    # The module graph.
    modules = {}
    for rel in files:
        modules.setdefault(module_of(rel, files), []).append(rel)
    graph = {m: set() for m in modules}
    why = {}
    for rel, name, target in edges:
        a, b = module_of(rel, files), module_of(target, files)
        if a != b:
            graph[a].add(b)
            why.setdefault((a, b), "src/%s includes \"%s\"" % (rel, name))
    graph = {m: sorted(d) for m, d in graph.items()}
    out.append("")
    out.append("modules:")
    for m in sorted(graph):
        out.append("  %s -> %s" % (m, ", ".join(graph[m]) if graph[m] else "(nothing)"))

    # Every file has a place in the layer order.
    homeless = sorted(rel for rel in files if rank_of(layer_key(rel)) is None)
    out.append("")
    verdict(not homeless, "every file of src/ has a layer (%s)" % " < ".join(
        " | ".join(layer_name(k) for k in keys) for keys in LAYERS),
        ["no layer: src/" + rel for rel in homeless])

    # No cycle among modules, nor among the files of one module.
    cycle = find_cycle(graph)
    if cycle is None:
        fgraph = {}
        for rel, _, target in edges:
            fgraph.setdefault(rel, set()).add(target)
        fcycle = find_cycle({k: sorted(v) for k, v in fgraph.items()})
        if fcycle is None:
            depth = {}

            def layer(m):
                if m not in depth:
                    depth[m] = 1 + max((layer(d) for d in graph[m]), default=-1)
                return depth[m]

            out.append("layers (longest path from the bottom):")
            by = {}
            for m in graph:
                by.setdefault(layer(m), []).append(m)
            for d in sorted(by):
                out.append("  %d: %s" % (d, ", ".join(sorted(by[d]))))
            verdict(True, "no include cycle among %d modules" % len(graph))
        else:
            verdict(False, "include cycle among files: " + " -> ".join(fcycle))
    else:
        verdict(False, "include cycle: " + " -> ".join(cycle),
                [why[(a, b)] for a, b in zip(cycle, cycle[1:])])

    # Every include looks down, or inside its own folder.
    wrong = []
    for rel, name, target in edges:
        ka, kb = layer_key(rel), layer_key(target)
        ra, rb = rank_of(ka), rank_of(kb)
        if ra is None or rb is None or ka == kb:
            continue
        if ra < rb:
            wrong.append("src/%s includes \"%s\" (src/%s): %s is below %s" % (
                rel, name, target, layer_name(ka), layer_name(kb)))
        elif ra == rb:
            wrong.append("src/%s includes \"%s\" (src/%s): %s and %s are peers" % (
                rel, name, target, layer_name(ka), layer_name(kb)))
    verdict(not wrong, "no include looks up a layer or across to a peer", wrong)

    out.append("%d passed, %d failed" % (passed, failed))
    return (1 if failed else 0), out


# ---- self-test: crafted trees the check must pass or fail --------------------------------

CLEAN = {
    "base/os.c": '#include "os.h"\n',
    "base/os.h": '/* #include "internal.h" is only a comment */\n#include "clock.h"\n',
    "base/clock.c": '#include "clock.h"\n',
    "base/clock.h": "",
    "format/format.h": "",
    "format/blocks.c": '#include "format.h"\n#include "os.h"\n',
    "internal.h": '#include "format.h"\n#include "maplog.h"\n',
    "logdir.c": '#include "logdir.h"\n',
    "logdir.h": '#include "internal.h"\n',
    "writer/writer.h": '#include "logdir.h"\n',
    "writer/open.c": '#include "writer.h"\n#include "os.h"\n',
    "writer/append.c": '#include "writer.h"\n',
    "writer/options.c": '#include "internal.h"\n',
    "reader/reader.h": '#include "logdir.h"\n',
    "reader/reader.c": '#include "reader.h"\n',
    "reader/seek.c": '#include "reader.h"\n',
    "check/verify.c": '#include "logdir.h"\n#include "os.h"\n',
}


def make_tree(top, files, cmake=None):
    src = os.path.join(top, "src")
    for rel, text in files.items():
        p = os.path.join(src, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "w", encoding="utf-8") as f:
            f.write(text)
    if cmake is not None:
        with open(os.path.join(top, "CMakeLists.txt"), "w", encoding="utf-8") as f:
            f.write(cmake)
    return src


def self_test():
    cases = []

    def case(name, changes, status, want=(), unwanted=(), cmake=None):
        cases.append((name, changes, status, want, unwanted, cmake))

    case("a clean tree passes", {}, 0,
         ["no include cycle among 9 modules", "writer/ -> base/os, internal.h, logdir\n",
          "  0: base/clock, format/format.h\n", "  3: check/verify.c, reader/, writer/\n",
          "outside it: maplog.h", "3 passed, 0 failed"],
         ["FAIL"])
    case("a cycle between two modules is caught",
         {"base/clock.h": '#include "os.h"\n'}, 1,
         ["FAIL  include cycle: base/clock -> base/os -> base/clock",
          'src/base/clock.h includes "os.h"', 'src/base/os.h includes "clock.h"', "2 passed, 1 failed"],
         ["no include cycle"])
    case("a cycle through three modules and a layer is caught",
         {"format/format.h": '#include "logdir.h"\n'}, 1,
         ["include cycle: format/format.h -> logdir -> internal.h -> format/format.h",
          'src/format/format.h includes "logdir.h" (src/logdir.h): format/ is below logdir',
          "1 passed, 2 failed"])
    case("a cycle among the headers of one module is caught",
         {"writer/wseg.h": '#include "writer.h"\n',
          "writer/writer.h": '#include "logdir.h"\n#include "wseg.h"\n'}, 1,
         ["FAIL  include cycle among files: writer/writer.h -> writer/wseg.h -> writer/writer.h"])
    case("an upward include is caught",
         {"base/clock.c": '#include "clock.h"\n#include "internal.h"\n'}, 1,
         ['src/base/clock.c includes "internal.h" (src/internal.h): base/ is below internal.h',
          "no include cycle among", "2 passed, 1 failed"])
    case("format including internal.h is upward",
         {"format/blocks.c": '#include "internal.h"\n'}, 1,
         ['src/format/blocks.c includes "internal.h" (src/internal.h): format/ is below internal.h'])
    case("peers including each other is caught",
         {"check/verify.c": '#include "reader.h"\n'}, 1,
         ['src/check/verify.c includes "reader.h" (src/reader/reader.h): check/ and reader/ are peers'])
    case("a file outside the layers is caught", {"extra/x.c": '#include "os.h"\n'}, 1,
         ["no layer: src/extra/x.c", "2 passed, 1 failed"])
    case("the includer's folder is searched first",
         {"reader/os.h": "", "reader/seek.c": '#include "reader.h"\n#include "os.h"\n'}, 0,
         ["reader/ -> logdir\n"])
    case("the include path comes from CMakeLists.txt", {}, 0,
         ["include path: src, src/format\n", "outside it: maplog.h, os.h\n", "check/verify.c -> logdir\n"], (),
         "set(MAPLOG_INTERNAL_INCLUDES ${CMAKE_CURRENT_SOURCE_DIR}/src\n"
         "  ${CMAKE_CURRENT_SOURCE_DIR}/src/format)\n")

    passed = failed = 0
    for name, changes, status, want, unwanted, cmake in cases:
        with tempfile.TemporaryDirectory(prefix="check-includes-") as top:
            files = dict(CLEAN)
            files.update(changes)
            got, lines = check(make_tree(top, files, cmake))
        text = "\n".join(lines) + "\n"
        problems = []
        if got != status:
            problems.append("exit status %d, expected %d" % (got, status))
        problems += ["missing: %r" % w for w in want if w not in text]
        problems += ["unexpected: %r" % u for u in unwanted if u in text]
        if problems:
            failed += 1
            print("FAIL  " + name)
            for p in problems:
                print("      " + p)
            print("      output:\n" + "".join("        " + l + "\n" for l in lines), end="")
        else:
            passed += 1
            print("ok    " + name)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


def main(argv):
    if len(argv) == 2 and argv[1] == "--self-test":
        return self_test()
    if len(argv) != 2 or argv[1].startswith("-"):
        sys.stderr.write("usage: check-includes.py SRC_DIR | --self-test\n")
        return 2
    status, lines = check(argv[1])
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv))
