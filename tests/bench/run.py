#!/usr/bin/env python3
"""`just bench`, end to end: a private Dovecot with 10,000 messages of
2-4 KB, the same jobs run by wasimap (a plugin under `wasimap run`),
CPython's imaplib, async-imap, the imap crate and a plain socket; wall
time, CPU time (user+sys) and peak RSS of each process, and ratios.
Also: parse results from criterion (ratios to imap-proto), wasm against
native parse, and `wasimap run` start-up cold and cached.
"""

import contextlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REL = os.path.join(ROOT, "target", "release")
GUEST = os.path.join(ROOT, "target", "guest", "wasm32-wasip2", "release")
MESSAGES = int(os.environ.get("WASIMAP_BENCH_MESSAGES", "10000"))
REPEAT = int(os.environ.get("WASIMAP_BENCH_REPEAT", "3"))
USER, PASSWORD = "bench", "secret"


GNU_TIME = "/usr/bin/time" if os.path.exists("/usr/bin/time") else None


def measure(cmd, env=None, discard_output=False, may_fail=False, stdin=None):
    """Runs cmd (stdin from the file `stdin`, if given); returns (wall s,
    cpu s, peak MiB, stdout). CPU comes from
    wait4; the peak RSS from GNU time when present, since a child forked
    from this Python starts with Python's pages counted in its maximum."""
    peak_file = tempfile.NamedTemporaryFile(delete=False)
    peak_file.close()
    wrapped = [GNU_TIME, "-f", "%M", "-o", peak_file.name] + cmd if GNU_TIME else cmd
    start = time.perf_counter()
    stdin_file = open(stdin, "rb") if stdin else subprocess.DEVNULL
    p = subprocess.Popen(wrapped, stdout=subprocess.DEVNULL if discard_output else subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env, stdin=stdin_file)
    out = b"" if discard_output else p.stdout.read()
    err = p.stderr.read()
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - start
    if stdin:
        stdin_file.close()
    if status != 0:
        if may_fail:
            os.unlink(peak_file.name)
            return None, err.decode(errors="replace").strip()
        sys.exit(f"{cmd} failed: {err.decode(errors='replace')}")
    peak_kb = ru.ru_maxrss
    if GNU_TIME:
        peak_kb = int(open(peak_file.name).read().split()[-1])
    os.unlink(peak_file.name)
    return wall, ru.ru_utime + ru.ru_stime, peak_kb / 1024, out.decode(errors="replace").strip()


def best(cmd, env=None, stdin=None, discard_output=False, repeat=REPEAT):
    runs = [measure(cmd, env, stdin=stdin, discard_output=discard_output) for _ in range(repeat)]
    return (statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
            statistics.median(r[2] for r in runs), runs[0][3])


def populate(port, user=USER, count=MESSAGES, size_of=lambda i: 2048 + (i * 7919) % 2048):
    """APPENDs `count` messages (message i of `size_of(i)` bytes) with
    MULTIAPPEND and LITERAL+, in batches."""
    s = socket.create_connection(("127.0.0.1", port))
    f = s.makefile("rb")
    f.readline()

    def command(tag, data):
        s.sendall(data)
        while True:
            line = f.readline()
            if line.startswith(tag + b" "):
                if b" OK " not in line:
                    sys.exit(f"populate failed: {line!r}")
                return

    command(b"P0", b"P0 LOGIN %s %s\r\n" % (user.encode(), PASSWORD.encode()))
    line = b"lorem ipsum dolor sit amet, consectetur adipiscing elit\r\n"
    batch = 500
    for start in range(0, count, batch):
        parts = [b"P1 APPEND INBOX"]
        for i in range(start, min(start + batch, count)):
            size = size_of(i)
            head = (f"From: sender{i % 97}@example.org\r\nTo: {user}@example.org\r\n"
                    f"Subject: bench message {i}\r\nMessage-ID: <{i}@bench>\r\n\r\n").encode()
            body = (line * (size // len(line) + 1))[:size - len(head) - 2] + b"\r\n"
            msg = head + body
            parts.append(b" {%d+}\r\n" % len(msg) + msg)
        command(b"P1", b"".join(parts) + b"\r\n")
    s.sendall(b"P2 LOGOUT\r\n")
    s.close()


def table(title, header, rows):
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")


def parse_section():
    rows = []
    crit = os.path.join(ROOT, "target", "criterion")
    if os.path.isdir(crit):
        for group in sorted(os.listdir(crit)):
            times = {}
            who_all = ("wasimap", "wasimap-typed", "imap-proto", "imap-codec")
            for who in who_all:
                est = os.path.join(crit, group, who, "new", "estimates.json")
                if os.path.exists(est):
                    times[who] = json.load(open(est))["mean"]["point_estimate"]
            if len(times) == len(who_all):
                ref = times["imap-proto"]
                rows.append([group] + [f"{times[w] / 1000:.1f} µs ({times[w] / ref:.2f}×)" for w in who_all])
        table("Native parse (criterion mean; ratio to imap-proto, lower is faster). wasimap: imaplib's raw shape; "
              "wasimap-typed: raw shape then typed records, like for like with imap-proto and imap-codec",
              ["input", "wasimap", "wasimap-typed", "imap-proto", "imap-codec"], rows)

    iterations = "200"
    native = measure([os.path.join(REL, "parse-native"), iterations])[3]
    wasm = measure([os.path.join(REL, "wasimap"), "run", os.path.join(GUEST, "bench.wasm"), "parse", iterations])[3]
    n = {l.split()[0]: int(l.split()[1]) for l in native.splitlines()}
    w = {l.split()[0]: int(l.split()[1]) for l in wasm.splitlines()}
    table("Parse inside the wasm component vs native (same code, same bytes)",
          ["input", "native ns/iter", "wasm ns/iter", "wasm/native"],
          [[k, n[k], w[k], f"{w[k] / n[k]:.2f}"] for k in n])


def stream_export(port, cache):
    """The mbox plugin exporting 2,000 messages of 100 KB (200 MB) to
    /dev/null through the streaming FETCH; peak RSS of the whole host
    process, against the imaplib-shaped fetch of the same mailbox."""
    big = "bigbox"
    count = int(os.environ.get("WASIMAP_BENCH_BIG_MESSAGES", "2000"))
    print(f"populating {count} messages of 100 KB for {big} ...", file=sys.stderr)
    populate(port, user=big, count=count, size_of=lambda i: 100 * 1024)
    run = [os.path.join(REL, "wasimap"), "run", "--cache-dir", cache, "--allow", f"127.0.0.1:{port}"]
    login = ["--host", "127.0.0.1", "--port", str(port), "--user", big, "--password", PASSWORD]
    mbox = run + [os.path.join(GUEST, "mbox.wasm")] + login
    measure(mbox, discard_output=True)  # compiles mbox.wasm into the cache
    stream = [measure(mbox, discard_output=True) for _ in range(REPEAT)]
    # 200 MB is more than the session's untagged budget (192 MiB): the
    # imaplib-shaped fetch is refused with `abort`, by design.
    shaped = measure(run + [os.path.join(GUEST, "bench.wasm"), "fetch", str(port), big, PASSWORD, "(RFC822)"],
                     may_fail=True)
    imaplib = best([sys.executable, os.path.join(ROOT, "tests", "bench", "e2e_imaplib.py"), str(port), big, PASSWORD,
                    "(RFC822)"])
    rows = [["wasimap mbox.wasm (streaming FETCH) > /dev/null", f"{statistics.median(r[0] for r in stream):.2f}",
             f"{statistics.median(r[1] for r in stream):.2f}", f"{statistics.median(r[2] for r in stream):.1f}"],
            ["wasimap bench.wasm fetch (imaplib-shaped)"] + (
                [f"{shaped[0]:.2f}", f"{shaped[1]:.2f}", f"{shaped[2]:.1f}"] if shaped[0] is not None
                else ["refused: " + shaped[1].split("=> ")[-1][:60], "", ""]),
            ["CPython imaplib fetch", f"{imaplib[0]:.2f}", f"{imaplib[1]:.2f}", f"{imaplib[2]:.1f}"]]
    table(f"Export of {count} messages x 100 KB (median of {REPEAT}; target: streaming peak < 64 MB)",
          ["job", "wall s", "CPU s", "peak MiB"], rows)


def shell_json(port, cache):
    """Scripts in any language drive wasimap through the shell plugin's
    JSON lines: FETCH 1:* RFC822 answered as one JSON line, against
    CPython's imaplib printing the same JSON (tests/python/imaplib_shell.py,
    the reference of the differential tests)."""
    script = os.path.join(cache, "fetch.jsonl")
    with open(script, "w") as f:
        for call in (["IMAP4", "127.0.0.1", port], ["login", USER, PASSWORD], ["select", "INBOX", True],
                     ["fetch", "1:*", "(RFC822)"], ["logout"]):
            f.write(json.dumps(call) + "\n")
    shell = [os.path.join(REL, "wasimap"), "run", "--cache-dir", cache, "--allow", f"127.0.0.1:{port}",
             os.path.join(GUEST, "shell.wasm")]
    python = [sys.executable, os.path.join(ROOT, "tests", "python", "imaplib_shell.py")]
    # Not timed: both answer the FETCH line with the same items (the key
    # order differs: the shell streams "data" before "typ").
    fetched = [json.loads(measure(cmd, stdin=script)[3].splitlines()[3]) for cmd in (shell, python)]
    if fetched[0] != fetched[1]:
        sys.exit("the shell's FETCH line differs from CPython's")
    results = {"wasimap shell.wasm": best(shell, stdin=script, discard_output=True),
               "CPython imaplib + json": best(python, stdin=script, discard_output=True)}
    ref = results["CPython imaplib + json"]
    table(f"Shell JSON lines: FETCH 1:* (RFC822), {MESSAGES} messages, output to /dev/null (median of {REPEAT}; "
          "targets: CPU ≤ 0.3×, wall ≤ 0.8×, peak ≤ 0.25× CPython's)",
          ["client", "wall s", "CPU s", "peak MiB", "wall / CPython", "CPU / CPython", "peak / CPython"],
          [[name, f"{w:.3f}", f"{c:.3f}", f"{m:.1f}", f"{w / ref[0]:.2f}", f"{c / ref[1]:.2f}", f"{m / ref[2]:.2f}"]
           for name, (w, c, m, _) in results.items()])


def server_processes(server):
    """The bench Dovecot's master and every process under it."""
    master = int(open(os.path.join(server, "run", "master.pid")).read().strip())
    children = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [master]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


@contextlib.contextmanager
def one_cpu(server):
    """The server's processes (and the imap processes they fork later) and
    this script's children on one CPU while the block runs: a loopback round
    trip then costs the same whichever CPU the scheduler would have woken
    the client on."""
    everything = os.sched_getaffinity(0)
    one = {min(everything)}
    try:
        for pid in server_processes(server):
            # A login process may exit between the listing and this call.
            with contextlib.suppress(ProcessLookupError):
                os.sched_setaffinity(pid, one)
        os.sched_setaffinity(0, one)
        yield
    finally:
        os.sched_setaffinity(0, everything)
        for pid in server_processes(server):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, everything)


def noop_latency(contenders, results, repeat, server):
    """Per-command latency apart from start-up and login: each client's
    1,000 NOOPs less its single NOOP (medians), over 999; as the scheduler
    places the processes, and with client and server on one CPU."""
    names = ("wasimap (plugin)", "raw socket", "imap crate", "async-imap")
    rows = []
    for pinned in (False, True):
        per = {}
        with one_cpu(server) if pinned else contextlib.nullcontext():
            for name in names:
                one = best(contenders[name]("noop", "1"), repeat=repeat)
                many = best(contenders[name]("noop", "1000"), repeat=repeat) if pinned else results[name]
                per[name] = (many[0] - one[0]) / 999
                rows.append([name, "one CPU" if pinned else "any", f"{one[0] * 1e3:.1f}", f"{many[0] * 1e3:.1f}",
                             f"{per[name] * 1e6:.1f}", ""])
        for row in rows[-len(names):]:
            row[-1] = f"{per[row[0]] / per['raw socket']:.2f}"
    table(f"1,000 NOOPs less one NOOP: the round trip apart from start-up and login (median of {repeat})",
          ["client", "CPUs", "1 NOOP ms", "1,000 NOOPs ms", "µs per NOOP", "/ raw socket"], rows)


@contextlib.contextmanager
def private_dovecot(name):
    """A private Dovecot in target/NAME while the block runs; yields its plain port."""
    server = os.path.join(ROOT, "target", name)
    script = os.path.join(ROOT, "tests", "dovecot", "server.sh")
    subprocess.run([script, "start", server], check=True, stdout=subprocess.DEVNULL)
    try:
        env_file = dict(l.split("=", 1) for l in open(os.path.join(server, "env")).read().splitlines())
        yield int(env_file["WASIMAP_IMAP_PORT"])
    finally:
        subprocess.run([script, "stop", server], stdout=subprocess.DEVNULL)


def main():
    with private_dovecot("bench-dovecot") as port:
        server = os.path.join(ROOT, "target", "bench-dovecot")
        print(f"populating {MESSAGES} messages on 127.0.0.1:{port} ...", file=sys.stderr)
        populate(port)
        cache = tempfile.mkdtemp(prefix="wasimap-bench-cache-")
        wasimap = [os.path.join(REL, "wasimap"), "run", "--cache-dir", cache, "--allow", f"127.0.0.1:{port}",
                   os.path.join(GUEST, "bench.wasm")]
        contenders = {
            "wasimap (plugin)": lambda verb, items: wasimap + [verb, str(port), USER, PASSWORD, items],
            "CPython imaplib": lambda verb, items: [sys.executable, os.path.join(ROOT, "tests", "bench", "e2e_imaplib.py"),
                                                    str(port), USER, PASSWORD, items if verb == "fetch" else "NOOP" + items],
            "async-imap": lambda verb, items: [os.path.join(REL, "e2e-async-imap"), str(port), USER, PASSWORD,
                                               items if verb == "fetch" else "NOOP" + items],
            "imap crate": lambda verb, items: [os.path.join(REL, "e2e-imap"), str(port), USER, PASSWORD,
                                               items if verb == "fetch" else "NOOP" + items],
            "raw socket": lambda verb, items: [os.path.join(REL, "e2e-raw"), str(port), USER, PASSWORD,
                                               items if verb == "fetch" else "NOOP" + items],
        }
        measure(wasimap + ["noop", str(port), USER, PASSWORD, "1"])  # warm the compilation cache
        contenders["wasimap (streaming, typed)"] = lambda verb, items: wasimap + [
            "stream" if verb == "fetch" else verb, str(port), USER, PASSWORD, items]
        # async-imap's exact job as a plugin author writes it with the SDK.
        contenders["wasimap SDK plugin (async-imap's job)"] = lambda verb, items: wasimap + [
            "peer" if verb == "fetch" else verb, str(port), USER, PASSWORD, items]
        cases = [("FETCH 1:* (RFC822)", "fetch", "(RFC822)"),
                 ("FETCH 1:* (UID FLAGS ENVELOPE BODYSTRUCTURE)", "fetch", "(UID FLAGS ENVELOPE BODYSTRUCTURE)"),
                 ("1,000 NOOPs", "noop", "1000")]
        for title, verb, items in cases:
            # A loopback round trip on this kind of VM takes 27 to 85 µs
            # depending on where the scheduler wakes the client: NOOPs
            # need more runs than three for a stable median.
            repeat = REPEAT * 3 if verb == "noop" else REPEAT
            results = {name: best(make(verb, items), repeat=repeat) for name, make in contenders.items()}
            ref = results["CPython imaplib"]
            aref = results["async-imap"]
            rows = [[name, f"{w:.3f}", f"{c:.3f}", f"{m:.1f}", f"{c / ref[1]:.2f}", f"{c / aref[1]:.2f}", f"{w / aref[0]:.2f}"]
                    for name, (w, c, m, _) in results.items()]
            table(f"{title}, {MESSAGES} messages (median of {repeat})",
                  ["client", "wall s", "CPU s", "peak MiB", "CPU / imaplib", "CPU / async-imap", "wall / async-imap"], rows)
            if verb == "noop":
                noop_latency(contenders, results, repeat, server)

        shell_json(port, cache)
        stream_export(port, cache)

        cold_dir = tempfile.mkdtemp(prefix="wasimap-cold-")
        plugin = [os.path.join(GUEST, "bench.wasm"), "start"]
        cold = measure([os.path.join(REL, "wasimap"), "run", "--cache-dir", cold_dir] + plugin)
        cached = best([os.path.join(REL, "wasimap"), "run", "--cache-dir", cold_dir] + plugin)
        trivial = best(["true"])
        table("`wasimap run` start-up (bench.wasm start: returns at once)", ["run", "wall ms", "CPU ms", "peak MiB"],
              [["cold (compiles)", f"{cold[0] * 1000:.1f}", f"{cold[1] * 1000:.1f}", f"{cold[2]:.1f}"],
               ["cached", f"{cached[0] * 1000:.1f}", f"{cached[1] * 1000:.1f}", f"{cached[2]:.1f}"],
               ["trivial process (`true`)", f"{trivial[0] * 1000:.1f}", f"{trivial[1] * 1000:.1f}", f"{trivial[2]:.1f}"]])
        print(f"\ncached start over a trivial process: {(cached[0] - trivial[0]) * 1000:.1f} ms")
        shutil.rmtree(cold_dir, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
        parse_section()


if __name__ == "__main__":
    main()
