#!/usr/bin/env python3
"""`just profile ITEMS`: where the instructions of one end-to-end FETCH go.

Starts a private Dovecot with the benchmark mailbox (10,000 messages of
2-4 KB), runs `wasimap run bench.wasm stream ... ITEMS` under
`valgrind --tool=callgrind` with a `wasimap` built with the `profiling`
feature (`WASIMAP_PERFMAP=1`: wasmtime writes /tmp/perf-PID.map naming the
JIT code), and prints the top functions with those names. The first run
only fills the compilation cache, so compilation is not in the profile.
Callgrind counts instructions, so the result does not depend on load.
"""

import bisect
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (the benchmark's server and mailbox helpers)

ROOT = run.ROOT
WASIMAP = os.path.join(ROOT, "target", "profiling", "release", "wasimap")


def perf_map(pid):
    entries = []
    for line in open(f"/tmp/perf-{pid}.map"):
        parts = line.split(" ", 2)
        if len(parts) == 3:
            entries.append((int(parts[0], 16), int(parts[1], 16), parts[2].strip()))
    entries.sort()
    return entries


def profile(port, cache, items, verb):
    """Profiles `bench.wasm VERB ... ITEMS` against the server on `port`
    and prints the top functions, JIT code named."""
    out = os.path.join(ROOT, "target", "profile.callgrind")
    cmd = [WASIMAP, "run", "--cache-dir", cache, "--allow", f"127.0.0.1:{port}",
           os.path.join(run.GUEST, "bench.wasm"), verb, str(port), run.USER, run.PASSWORD, items]
    penv = dict(os.environ, WASIMAP_PERFMAP="1")
    for f in glob.glob("/tmp/perf-*.map"):
        os.unlink(f)
    # Under valgrind the CPU features differ, so the artifact compiled
    # natively would not match: warm the cache under valgrind too.
    for dump in ("/dev/null", out):
        p = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={dump}"] + cmd,
                           env=penv, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(p.stderr[-2000:])
    pid = int(re.search(r"==(\d+)==", p.stderr).group(1))
    entries = perf_map(pid)
    starts = [e[0] for e in entries]
    report = subprocess.run(["callgrind_annotate", out], capture_output=True, text=True).stdout
    total = re.search(r"([\d,]+) \(100.0%\)\s+PROGRAM TOTALS", report).group(1)
    print(f"### `bench.wasm {verb} {items}`: {total} instructions\n")
    print("| instructions | share | function |\n|---|---|---|")
    rows = report.split("file:function", 1)[1].splitlines()[2:32]
    for row in rows:
        m = re.match(r"\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*)", row)
        if not m:
            continue
        name = m.group(3)
        addr = re.search(r"\?\?\?:0x([0-9a-f]+)", name)
        if addr:
            a = int(addr.group(1), 16)
            i = bisect.bisect_right(starts, a) - 1
            if i >= 0 and entries[i][0] <= a < entries[i][0] + entries[i][1]:
                name = entries[i][2]
        print(f"| {m.group(1)} | {m.group(2)}% | {name[:120]} |")


def main():
    items = sys.argv[1] if len(sys.argv) > 1 else "(RFC822)"
    verb = sys.argv[2] if len(sys.argv) > 2 else "stream"
    with run.private_dovecot("profile-dovecot") as port:
        run.populate(port)
        cache = tempfile.mkdtemp(prefix="wasimap-profile-cache-")
        try:
            profile(port, cache, items, verb)
        finally:
            shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
