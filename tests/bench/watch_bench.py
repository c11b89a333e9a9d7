#!/usr/bin/env python3
"""`just bench`, the watcher: `wasimap watch` with the journal plugin on a
private Dovecot.

1. Delay from APPEND to the plugin's call: ACCOUNTS accounts watched in
   one process; ROUNDS times, a message is appended to each account at a
   random moment; the delay is from the APPEND's completion to the
   watcher's `calling` log line for that UID (JSON log). Percentiles.
2. Memory per idle account: the watcher's resident memory with 1 and with
   ACCOUNTS accounts connected and idle.
3. Soak: SOAK messages appended over many reconnects (each user's
   sessions kicked by doveadm every KICK_EVERY messages): every message
   in the journal exactly once, and the watcher's memory sampled as it
   goes (first, last, highest).

4. Hostile soak (issue 28): HONEST (18) Dovecot accounts and HOSTILE (2)
   accounts on tests/bench/hostile_imap.py, whose connections take turns
   flooding, stalling, echoing the account's password in a Message-ID and
   streaming a 1 GiB literal, in one watcher; HOSTILE_SOAK messages
   appended to random honest accounts at HOSTILE_RATE a second, the
   honest sessions kicked every KICK_EVERY messages: every honest message
   in the journal exactly once, the delay from APPEND to the plugin's call
   (percentiles, from the watcher's log times), the watcher's memory
   sampled every second (first once a tenth of the messages and 30 s
   have passed, last, highest), and the hostile passwords in no file of
   the run and not in `--status`. Exits non-zero when an honest message is lost or
   repeated, a password leaks, the watcher dies or an attack never
   happened; the delay is reported, not judged (p99 < 1 s: yes/no).

Sizes from the environment: WASIMAP_WATCH_ACCOUNTS (50), _ROUNDS (10),
_SOAK (10000), _KICK_EVERY (500), _HOSTILE_SOAK (5000), _HOSTILE_RATE (8
messages a second). WASIMAP_WATCH_BENCH_DOVECOT names the private
Dovecot's directory under target/ (watch-bench-dovecot). Arguments pick
parts: `watch_bench.py [delay] [soak] [hostile]` (all by default).
"""

import datetime
import json
import os
import random
import secrets
import subprocess
import sys
import threading
import time
import imaplib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from run import ROOT, REL, GUEST, private_dovecot, table  # noqa: E402

ACCOUNTS = int(os.environ.get("WASIMAP_WATCH_ACCOUNTS", "50"))
ROUNDS = int(os.environ.get("WASIMAP_WATCH_ROUNDS", "10"))
SOAK = int(os.environ.get("WASIMAP_WATCH_SOAK", "10000"))
KICK_EVERY = int(os.environ.get("WASIMAP_WATCH_KICK_EVERY", "500"))
HOSTILE_SOAK = int(os.environ.get("WASIMAP_WATCH_HOSTILE_SOAK", "5000"))
HOSTILE_RATE = float(os.environ.get("WASIMAP_WATCH_HOSTILE_RATE", "8"))
HONEST, HOSTILE = 18, 2
PASSWORD = "secret"


def manifest(workdir, port, users):
    return manifest_of(workdir, [(f"a{i}", port, u, "pw") for i, u in enumerate(users)])


def manifest_of(workdir, accounts, more_secrets=None, read_timeout=30):
    """A manifest in `workdir` for `accounts` (name, port, user, secret
    name); `more_secrets` maps more secret names to environment variables."""
    names = dict(more_secrets or {}, pw="WATCH_BENCH_PASSWORD")
    accounts = "".join(
        f'[[account]]\nname = "{name}"\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\n'
        f'user = "{u}"\nsecret = "{secret}"\nstart = "all"\n\n'
        for name, port, u, secret in accounts)
    names = "".join(f'{k} = "env:{v}"\n' for k, v in sorted(names.items()))
    text = (f'plugin = "{GUEST}/journal.wasm"\nstate-dir = "state"\noutput = "journal.log"\n'
            f'cache-dir = "{ROOT}/target/wasimap-cache"\nconcurrency = 2\n\n'
            f'[secrets]\n{names}\n'
            f'[session]\nidle-seconds = 600\nread-timeout-seconds = {read_timeout}\n'
            f'reconnect-min-seconds = 0.2\nreconnect-max-seconds = 2\nbatch-max = 200\n\n{accounts}')
    path = os.path.join(workdir, "watch.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


class Watcher:
    """A `wasimap watch --log-format json` whose log lines are read as they
    come (and, given `log`, written to that file as they were)."""

    def __init__(self, path, env=None, log=None):
        env = dict(os.environ, WATCH_BENCH_PASSWORD=PASSWORD, **(env or {}))
        self.log = open(log, "w") if log else None
        self.p = subprocess.Popen([os.path.join(REL, "wasimap"), "watch", "--log-format", "json",
                                   "--manifest", path], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        self.events = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stderr:
            if self.log:
                self.log.write(line)
                self.log.flush()
            try:
                e = json.loads(line)
            except ValueError:
                continue
            e["_seen"] = time.time()
            with self.lock:
                self.events.append(e)

    def count(self, event):
        with self.lock:
            return sum(1 for e in self.events if e["event"] == event)

    def find(self, event):
        with self.lock:
            return [e for e in self.events if e["event"] == event]

    def rss_mib(self):
        for line in open(f"/proc/{self.p.pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def wait(self, what, cond, limit=120):
        end = time.time() + limit
        while time.time() < end:
            if cond():
                return
            time.sleep(0.05)
        self.stop()
        with self.lock:
            tail = self.events[-5:]
        sys.exit(f"watch bench: timed out waiting for {what}; last log lines: {tail}")

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(20)
        except subprocess.TimeoutExpired:
            self.p.kill()


def append(port, user, subject):
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(user, PASSWORD)
    typ, data = m.append("INBOX", None, None,
                         f"Message-ID: <{subject}@bench>\r\nSubject: {subject}\r\n\r\nbody\r\n".encode())
    done = time.time()
    m.logout()
    # [APPENDUID validity uid]
    uid = int(data[0].split(b"APPENDUID ")[1].split()[1].rstrip(b"]"))
    return uid, done


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def latency(port, workdir):
    users = [f"watchbench-{os.getpid()}-{i}" for i in range(ACCOUNTS)]
    # The users' mailboxes exist before the watcher looks.
    for u in users:
        m = imaplib.IMAP4("127.0.0.1", port)
        m.login(u, PASSWORD)
        m.select("INBOX")
        m.logout()
    w = Watcher(manifest(workdir, port, users[:1]))
    w.wait("one account connected", lambda: w.count("connected") >= 1)
    time.sleep(1)
    one = w.rss_mib()
    w.stop()
    os.rename(os.path.join(workdir, "state"), os.path.join(workdir, "state-one"))
    w = Watcher(manifest(workdir, port, users))
    w.wait("every account connected", lambda: w.count("first-start") >= ACCOUNTS)
    time.sleep(2)
    many = w.rss_mib()
    threads = int(next(l for l in open(f"/proc/{w.p.pid}/status") if l.startswith("Threads:")).split()[1])
    appended = {}
    for r in range(ROUNDS):
        order = list(range(ACCOUNTS))
        random.shuffle(order)
        for i in order:
            time.sleep(random.uniform(0, 0.02))
            uid, done = append(port, users[i], f"r{r}-a{i}")
            appended[(f"a{i}/INBOX", uid)] = done
    def all_called():
        called = {(e["scope"], u) for e in w.find("calling") for u in parse_uids(e["uids"])}
        return all(k in called for k in appended)
    w.wait("every message handed out", all_called)
    w.stop()
    delays = []
    for e in w.find("calling"):
        for uid in parse_uids(e["uids"]):
            key = (e["scope"], uid)
            if key in appended:
                delays.append(e["_seen"] - appended[key])
    ms = [d * 1000 for d in delays]
    under = sum(1 for d in delays if d < 1.0) / len(delays) * 100
    table(f"wasimap watch: delay from APPEND to the plugin's call ({ACCOUNTS} accounts, {len(ms)} messages)",
          ["p50 ms", "p90 ms", "p99 ms", "max ms", "under 1 s"],
          [[f"{percentile(ms, 50):.0f}", f"{percentile(ms, 90):.0f}", f"{percentile(ms, 99):.0f}",
            f"{max(ms):.0f}", f"{under:.1f}%"]])
    per = (many - one) / max(1, ACCOUNTS - 1)
    table("wasimap watch: memory of idle accounts",
          ["accounts", "RSS MiB", "threads", "per idle account KiB"],
          [[1, f"{one:.1f}", "", ""], [ACCOUNTS, f"{many:.1f}", threads, f"{per * 1024:.0f}"]])


def parse_uids(s):
    out = []
    for part in s.split(","):
        a, _, b = part.partition(":")
        out.extend(range(int(a), int(b or a) + 1))
    return out


def soak(port, conf, workdir):
    soak_dir = os.path.join(workdir, "soak")
    os.makedirs(soak_dir, exist_ok=True)
    users = [f"watchsoak-{os.getpid()}-{i}" for i in range(5)]
    w = Watcher(manifest(soak_dir, port, users))
    samples = []
    ids = set()
    sessions = {u: imaplib.IMAP4("127.0.0.1", port) for u in users}
    for u, m in sessions.items():
        m.login(u, PASSWORD)
    w.wait("every account connected", lambda: w.count("connected") >= len(users))
    start = time.time()
    for n in range(SOAK):
        u = users[n % len(users)]
        subject = f"soak-{n}"
        typ, _ = sessions[u].append("INBOX", None, None,
                                    f"Message-ID: <{subject}@bench>\r\nSubject: {subject}\r\n\r\nbody\r\n".encode())
        assert typ == "OK"
        ids.add(f"<{subject}@bench>")
        if (n + 1) % KICK_EVERY == 0:
            # Every watched session dropped by the server: the watcher reconnects.
            for k in users:
                subprocess.run(["doveadm", "-c", conf, "kick", k], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
                # The kick ends this script's sessions too.
                sessions[k] = imaplib.IMAP4("127.0.0.1", port)
                sessions[k].login(k, PASSWORD)
            samples.append(w.rss_mib())
    for m in sessions.values():
        m.logout()
    journal = os.path.join(soak_dir, "journal.log")

    def lines():
        try:
            return open(journal).read().splitlines()
        except FileNotFoundError:
            return []
    w.wait("the soak's messages in the journal", lambda: len(lines()) >= SOAK, limit=600)
    took = time.time() - start
    samples.append(w.rss_mib())
    reconnects = w.count("connected") - len(users)
    w.stop()
    seen = {}
    for line in lines():
        seen[line.split()[4]] = seen.get(line.split()[4], 0) + 1
    once = sum(1 for i in ids if seen.get(i) == 1)
    table(f"wasimap watch: soak ({SOAK} messages, {len(users)} accounts, sessions kicked every {KICK_EVERY})",
          ["exactly once", "lost", "twice", "reconnects", "took s", "RSS first MiB", "RSS last MiB", "RSS max MiB"],
          [[once, sum(1 for i in ids if i not in seen), sum(1 for v in seen.values() if v > 1), reconnects,
            f"{took:.1f}", f"{samples[0]:.1f}", f"{samples[-1]:.1f}", f"{max(samples):.1f}"]])
    if once != SOAK:
        sys.exit("watch bench: the soak lost or repeated messages")


def log_time(e):
    """When the watcher wrote log line `e` (its own clock, ms), else when
    it was read."""
    try:
        return datetime.datetime.fromisoformat(e["time"].replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError):
        return e["_seen"]


def files_holding(root, needles):
    """The files under `root` holding any of `needles` (bytes)."""
    found = []
    for d, _, names in os.walk(root):
        for name in names:
            path = os.path.join(d, name)
            try:
                data = open(path, "rb").read()
            except OSError:
                continue
            if any(n in data for n in needles):
                found.append(os.path.relpath(path, root))
    return found


def hostile_soak(port, conf, workdir):
    """HONEST Dovecot accounts and HOSTILE accounts on tests/bench/hostile_imap.py
    (flooding, stalling, echoing the password, huge literals) in one
    watcher; HOSTILE_SOAK messages appended to random honest accounts at
    HOSTILE_RATE a second, the honest sessions kicked every KICK_EVERY."""
    soak_dir = os.path.join(workdir, "hostile-soak")
    os.makedirs(soak_dir)
    users = [f"watchhostile-{os.getpid()}-{i}" for i in range(HONEST)]
    for u in users:
        m = imaplib.IMAP4("127.0.0.1", port)
        m.login(u, PASSWORD)
        m.select("INBOX")
        m.logout()
    # Passwords nothing else contains, so a copy anywhere is a leak.
    evil = {f"evil{i}": f"Hostile{i}-{secrets.token_hex(8)}" for i in range(HOSTILE)}
    limit = HOSTILE_SOAK / HOSTILE_RATE + 900
    server = subprocess.Popen([sys.executable, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                            "hostile_imap.py"), str(limit)]
                              + [f"{u}={p}" for u, p in evil.items()],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    first = server.stdout.readline().split()
    if first[:1] != ["port"]:
        sys.exit("watch bench: the hostile server did not start")
    hostile_port = int(first[1])
    accounts = [(f"h{i}", port, u, "pw") for i, u in enumerate(users)]
    accounts += [(f"x{i}", hostile_port, u, f"x{i}") for i, u in enumerate(evil)]
    env = {f"WATCH_BENCH_HOSTILE{i}": p for i, p in enumerate(evil.values())}
    # A stalled session is found dead after read-timeout-seconds.
    path = manifest_of(soak_dir, accounts, {f"x{i}": f"WATCH_BENCH_HOSTILE{i}" for i in range(HOSTILE)},
                       read_timeout=10)
    w = Watcher(path, env=env, log=os.path.join(soak_dir, "watch.log"))
    samples = []
    sampling = threading.Event()

    def sample():
        while not sampling.wait(1.0):
            try:
                samples.append((time.time(), w.rss_mib()))
            except OSError:
                return
    threading.Thread(target=sample, daemon=True).start()
    honest = {f"h{i}/INBOX" for i in range(HONEST)}
    w.wait("every honest account connected",
           lambda: len({e["scope"] for e in w.find("connected")} & honest) == HONEST)
    appended = {}
    ids = {}
    sessions = {}
    start = time.time()
    warm = None
    for n in range(HOSTILE_SOAK):
        time.sleep(max(0.0, start + n / HOSTILE_RATE - time.time()))
        i = random.randrange(HONEST)
        if i not in sessions:
            sessions[i] = imaplib.IMAP4("127.0.0.1", port)
            sessions[i].login(users[i], PASSWORD)
        subject = f"hs-{n}"
        typ, data = sessions[i].append("INBOX", None, None,
                                       f"Message-ID: <{subject}@bench>\r\nSubject: {subject}\r\n\r\nbody\r\n".encode())
        done = time.time()
        assert typ == "OK", (typ, data)
        uid = int(data[0].split(b"APPENDUID ")[1].split()[1].rstrip(b"]"))
        appended[(f"h{i}/INBOX", uid)] = done
        ids[f"<{subject}@bench>"] = (f"h{i}", uid)
        if n + 1 == max(1, HOSTILE_SOAK // 10):
            warm = time.time()
        if (n + 1) % KICK_EVERY == 0:
            # Every honest session dropped by the server, this script's too.
            subprocess.run(["doveadm", "-c", conf, "kick", f"watchhostile-{os.getpid()}-*"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for m in sessions.values():
                try:
                    m.shutdown()
                except OSError:
                    pass
            sessions.clear()
    for m in sessions.values():
        try:
            m.logout()
        except (OSError, imaplib.IMAP4.abort):
            pass
    journal = os.path.join(soak_dir, "journal.log")

    def honest_lines():
        try:
            return [l.split() for l in open(journal).read().splitlines() if l.startswith("h")]
        except FileNotFoundError:
            return []
    end = time.time() + 120
    while time.time() < end and w.p.poll() is None and len(honest_lines()) < HOSTILE_SOAK:
        time.sleep(0.2)
    took = time.time() - start
    crashed = w.p.poll()
    if crashed is None:
        samples.append((time.time(), w.rss_mib()))
    sampling.set()
    w.stop()
    server.stdin.close()
    counts = json.loads(server.stdout.readline() or "{}")
    server.wait(20)

    seen = {}
    wrong = 0
    for fields in honest_lines():
        mid = fields[4]
        seen[mid] = seen.get(mid, 0) + 1
        if ids.get(mid) != (fields[0], int(fields[3])):
            wrong += 1
    once = sum(1 for i in ids if seen.get(i) == 1)
    lost = sum(1 for i in ids if i not in seen)
    twice = sum(1 for v in seen.values() if v > 1)
    called = {}
    for e in w.find("calling"):
        for uid in parse_uids(e["uids"]):
            called.setdefault((e["scope"], uid), log_time(e))
    ms = [(called[k] - t) * 1000 for k, t in appended.items() if k in called]
    reconnects = sum(1 for e in w.find("connected") if e["scope"] in honest) - HONEST
    hostile_connects = sum(1 for e in w.find("connected") if e["scope"] not in honest)
    hostile_calls = sum(1 for e in w.find("calling") if e["scope"] not in honest)
    with w.lock:
        cut = sum(1 for e in w.events
                  if e.get("scope", "").startswith("x") and "sent back a secret" in json.dumps(e))
    # The figures behind the table, to look into a tail or a step.
    with open(os.path.join(soak_dir, "rss.tsv"), "w") as f:
        f.writelines(f"{t - start:.1f}\t{r:.1f}\n" for t, r in samples)
    with open(os.path.join(soak_dir, "delays.tsv"), "w") as f:
        f.writelines(f"{t - start:.3f}\t{k[0]}\t{k[1]}\t{(called[k] - t) * 1000:.0f}\n"
                     for k, t in sorted(appended.items(), key=lambda kv: kv[1]) if k in called)
    needles = [p.encode() for p in evil.values()]
    leaks = files_holding(soak_dir, needles)
    for args in (["--status"], ["--status", "--json"]):
        out = subprocess.run([os.path.join(REL, "wasimap"), "watch", "--manifest", path] + args,
                             env=dict(os.environ, WATCH_BENCH_PASSWORD=PASSWORD, **env),
                             capture_output=True)
        if any(n in out.stdout + out.stderr for n in needles):
            leaks.append("watch " + " ".join(args))
    # Warmed up: a tenth of the messages appended and every attack had time to come round.
    warm = max(warm or start, start + 30)
    rss = [r for t, r in samples if t >= warm] or [r for _, r in samples] or [0.0]
    p99 = percentile(ms, 99) if ms else float("nan")
    table(f"wasimap watch: hostile soak ({HOSTILE_SOAK} messages to {HONEST} honest accounts at "
          f"{HOSTILE_RATE:g}/s, {HOSTILE} hostile accounts, honest sessions kicked every {KICK_EVERY})",
          ["exactly once", "lost", "twice", "honest reconnects", "p50 ms", "p90 ms", "p99 ms", "max ms",
           "p99 < 1 s", "RSS first MiB", "RSS last MiB", "RSS max MiB", "password seen", "took s"],
          [[once, lost, twice, reconnects] + ([f"{percentile(ms, q):.0f}" for q in (50, 90, 99)]
                                              + [f"{max(ms):.0f}"] if ms else ["-"] * 4)
           + ["yes" if p99 < 1000 else "no", f"{rss[0]:.1f}", f"{rss[-1]:.1f}", f"{max(rss):.1f}",
              ", ".join(leaks) or "no", f"{took:.1f}"]])
    table("wasimap watch: hostile soak, the hostile server's connections",
          ["flood (distinct types / long)", "stall", "echo", "huge literal", "passwords echoed",
           "literal MiB sent", "flood MiB sent", "watcher connects", "plugin calls", "echoes cut"],
          [[f"{counts.get('flood', 0)} ({counts.get('distinct-floods', 0)} / {counts.get('long-floods', 0)})",
            counts.get("stall", 0), counts.get("echo", 0), counts.get("literal", 0), counts.get("echoes", 0),
            f"{counts.get('literal-bytes', 0) / 2**20:.0f}", f"{counts.get('flood-bytes', 0) / 2**20:.0f}",
            hostile_connects, hostile_calls,
            cut]])
    failures = []
    if crashed is not None:
        failures.append(f"the watcher exited with {crashed} during the soak")
    if once != HOSTILE_SOAK or wrong:
        failures.append(f"{lost} honest messages lost, {twice} repeated, {wrong} journal lines not as appended")
    if leaks:
        failures.append(f"the hostile accounts' password is in {', '.join(leaks)}")
    if not all(counts.get(b) for b in ("flood", "stall", "echo", "literal")) or not counts.get("echoes"):
        failures.append(f"not every attack happened: {counts}")
    if failures:
        sys.exit("watch bench: hostile soak: " + "; ".join(failures))


def main():
    import tempfile
    parts = sys.argv[1:] or ["delay", "soak", "hostile"]
    if not set(parts) <= {"delay", "soak", "hostile"}:
        sys.exit("usage: watch_bench.py [delay] [soak] [hostile]")
    workdir = tempfile.mkdtemp(prefix="wasimap-watch-bench-", dir=os.path.join(ROOT, "target"))
    name = os.environ.get("WASIMAP_WATCH_BENCH_DOVECOT", "watch-bench-dovecot")
    conf = os.path.join(ROOT, "target", name, "dovecot.conf")
    with private_dovecot(name) as port:
        if "delay" in parts:
            latency(port, workdir)
        if "soak" in parts:
            soak(port, conf, workdir)
        if "hostile" in parts:
            hostile_soak(port, conf, workdir)


if __name__ == "__main__":
    main()
