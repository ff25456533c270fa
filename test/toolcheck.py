"""toolcheck.py -- what the Python tests of the maplog tool share: checks that keep going
and print what failed, running the tool, and the closing lines ctest reads."""
import os
import subprocess
import sys

failures = []
checks = 0


def check(cond, what):
    """Count a check; on failure print it and go on (the summary decides the exit)."""
    global checks
    checks += 1
    if not cond:
        failures.append(what)
        print("FAIL:", what, flush=True)


def run_tool(tool, *args, input=None, env=None, cwd=None, timeout=300):
    """Run tool with args: (exit status, stdout bytes, stderr text)."""
    e = dict(os.environ, **(env or {})) if env else None
    p = subprocess.run([tool, *args], capture_output=True, input=input, env=e, cwd=cwd,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def finish():
    """Print the summary and the line ctest reads, and exit 1 if any check failed."""
    print("%d checks, %d failed" % (checks, len(failures)))
    print("%d passed, %d failed" % (1 if not failures else 0, 1 if failures else 0))
    sys.exit(1 if failures else 0)
