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

Sizes from the environment: WASIMAP_WATCH_ACCOUNTS (50), _ROUNDS (10),
_SOAK (10000), _KICK_EVERY (500).
"""

import json
import os
import random
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
PASSWORD = "secret"


def manifest(workdir, port, users):
    accounts = "".join(
        f'[[account]]\nname = "a{i}"\nhost = "127.0.0.1"\nport = {port}\ntls = "none"\n'
        f'user = "{u}"\nsecret = "pw"\nstart = "all"\n\n'
        for i, u in enumerate(users))
    text = (f'plugin = "{GUEST}/journal.wasm"\nstate-dir = "state"\noutput = "journal.log"\n'
            f'cache-dir = "{ROOT}/target/wasimap-cache"\nconcurrency = 2\n\n'
            f'[secrets]\npw = "env:WATCH_BENCH_PASSWORD"\n\n'
            f'[session]\nidle-seconds = 600\nread-timeout-seconds = 30\n'
            f'reconnect-min-seconds = 0.2\nreconnect-max-seconds = 2\nbatch-max = 200\n\n{accounts}')
    path = os.path.join(workdir, "watch.toml")
    with open(path, "w") as f:
        f.write(text)
    return path


class Watcher:
    """A `wasimap watch --log-format json` whose log lines are read as they come."""

    def __init__(self, path):
        env = dict(os.environ, WATCH_BENCH_PASSWORD=PASSWORD)
        self.p = subprocess.Popen([os.path.join(REL, "wasimap"), "watch", "--log-format", "json",
                                   "--manifest", path], env=env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
        self.events = []
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stderr:
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


def main():
    import tempfile
    workdir = tempfile.mkdtemp(prefix="wasimap-watch-bench-", dir=os.path.join(ROOT, "target"))
    with private_dovecot("watch-bench-dovecot") as port:
        latency(port, workdir)
        soak(port, os.path.join(ROOT, "target", "watch-bench-dovecot", "dovecot.conf"), workdir)


if __name__ == "__main__":
    main()
