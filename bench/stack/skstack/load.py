"""Loads, fault timelines and the loss check.

Session ids are fresh for every run: <prefix><index>, 32 characters of
[a-z0-9], with the prefix unique to the run. Their acknowledged writes are the
lines of the handler's ack log that start with that prefix.
"""

import json
import os
import random
import re
import string
import subprocess
import threading
import time

from . import catalog
from .procs import HarnessError, Proc

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HANDOFF_PHP = os.path.join(HERE, "app", "handoff.php")
WRK = "/usr/bin/wrk"
LUA = os.path.join(HERE, "wrk", "pool.lua")
ID_LEN = 32


class IdPool:
    """`size` session ids sharing a prefix unique to one run."""

    def __init__(self, label, size):
        tag = "".join(random.choice(string.ascii_lowercase + string.digits)
                      for _ in range(10))
        code = re.sub(r"[^a-z0-9]", "", label)[:4].ljust(4, "x")
        self.prefix = f"sk{tag}{code}"
        self.digits = ID_LEN - len(self.prefix)
        self.size = size
        self.ids = [self.id(i) for i in range(size)]

    def id(self, i):
        return f"{self.prefix}{i:0{self.digits}d}"


def _chunks(seq, n):
    for i in range(0, len(seq), n):
        yield seq[i:i + n]


def seed(stack, handler, kind, ids, batch=100):
    """Creates every session of `ids` with fixture `kind` at version 0.
    Returns id -> root (the random tag each new session carries)."""
    if kind == "big":
        batch = 20
    roots = {}
    for part in _chunks(ids, batch):
        res = stack.post_json(f"/{handler}/seed.php", {"kind": kind, "ids": part})
        roots.update(res["roots"])
    return roots


def dump(stack, handler, ids, batch=200, full=False):
    """Reads every session through PHP (read_and_close). id -> row."""
    rows = {}
    for part in _chunks(ids, batch):
        res = stack.post_json(f"/{handler}/dump.php", {"ids": part, "full": full})
        rows.update(res["sessions"])
    return rows


DUMP_PHP = os.path.join(HERE, "app", "dump.php")


def dump_store(stack, handler, ids, save_path, batch=1000, timeout=60):
    """dump() of what one store holds: app/dump.php run by the PHP CLI with
    `handler`'s pool settings and `save_path` instead of the pool's (e.g.
    the database tier alone, Stack.behind_save_path). id -> row; a session
    whose read failed has {"error": ...}."""
    import subprocess
    rows = {}
    argv = stack.php_cli(handler) + ["-d", f'session.save_path="{save_path}"',
                                     DUMP_PHP]
    for part in _chunks(ids, batch):
        out = subprocess.run(argv, input=json.dumps({"ids": part}),
                             capture_output=True, text=True, timeout=timeout)
        try:
            rows.update(json.loads(out.stdout)["sessions"])
        except (ValueError, KeyError) as e:
            raise HarnessError(f"dump.php on {save_path.split('@')[-1]} failed "
                               f"(exit {out.returncode}): "
                               f"{(out.stdout + out.stderr)[-600:]}") from e
    return rows


def ack_offset(stack, handler):
    path = stack.ack_logs[handler]
    return os.path.getsize(path) if os.path.exists(path) else 0


def read_acks(stack, handler, offset, prefix, end=None):
    """id -> [acknowledged writes, highest acknowledged version], from the
    lines between `offset` and `end` (an earlier ack_offset; None: all)."""
    acks = {}
    path = stack.ack_logs[handler]
    if not os.path.exists(path):
        return acks
    with open(path, "rb") as f:
        f.seek(offset)
        data = f.read() if end is None else f.read(max(0, end - offset))
        for raw in data.splitlines():
            line = raw.decode("ascii", "replace").split()
            if len(line) != 2 or not line[0].startswith(prefix):
                continue
            entry = acks.setdefault(line[0], [0, 0])
            entry[0] += 1
            entry[1] = max(entry[1], int(line[1]))
    return acks


def verify(stack, handler, ids, acks, roots, counter="v", rows=None):
    """The loss check: every session of `ids` read back through PHP and
    compared with the writes the pages acknowledged and with the root each
    session was seeded with (id -> root, from seed()).

    A session is lost when it is gone, unreadable, was reset (it holds another
    root: it vanished and a later request created it again), or holds a version
    older than one that was acknowledged (a write the client saw succeed was
    undone). Updates lost counts acknowledged increments that the stored
    counter does not contain (concurrent writes that overwrote each other
    included). Neither depends on the order of the ack log.

    `rows` (from dump_store) checks one store's copy instead of what the
    handler reads."""
    if rows is None:
        stack.idle_wait(handler, timeout=15)
        rows = dump(stack, handler, ids)
    res = {"sessions": len(ids), "lost": 0, "vanished": 0, "rolled_back": 0,
           "reset": 0, "unreadable": 0, "acked": 0, "updates_lost": 0,
           "unacked_writes": 0, "examples": []}
    for sid in ids:
        row = rows.get(sid, {"error": "missing from the dump"})
        count, top = acks.get(sid, (0, 0))
        res["acked"] += count
        why = None
        if "error" in row:
            res["unreadable"] += 1
            res["updates_lost"] += count
            why = "unreadable: " + row["error"][:160]
        elif not row["exists"]:
            res["vanished"] += 1
            res["updates_lost"] += count
            why = "vanished"
        elif roots.get(sid) is not None and row.get("root") != roots[sid]:
            # Created again after a loss: everything before the reset is gone.
            res["reset"] += 1
            res["updates_lost"] += count - min(count, int(row.get(counter) or 0))
            why = f"reset: created again, holds {counter}={row.get(counter)}"
        else:
            stored = int(row.get(counter) or 0)
            if stored < top:
                res["rolled_back"] += 1
                why = f"holds {counter}={stored}, {counter}={top} was acknowledged"
            res["updates_lost"] += max(0, count - stored)
            res["unacked_writes"] += max(0, stored - count)
        if why:
            res["lost"] += 1
            if len(res["examples"]) < 3:
                # The tail of the id is its index in the pool.
                res["examples"].append(f"session ...{sid[-6:]}: {why}")
    return res


def loss_line(v):
    extra = []
    for key, label in (("vanished", "vanished"), ("reset", "reset"),
                       ("rolled_back", "rolled back"),
                       ("unreadable", "unreadable")):
        if v[key]:
            extra.append(f"{v[key]} {label}")
    text = f"sessions lost: {v['lost']} of {v['sessions']}"
    if extra:
        text += " (" + ", ".join(extra) + ")"
    text += f"; updates lost: {v['updates_lost']} of {v['acked']} acknowledged"
    return text


class Timeline:
    """Fault actions run at given seconds of a load run, in a thread.

    Each action is (at_seconds, label, fn); fn() may return a short text that
    is recorded with the time it actually ran."""

    def __init__(self, actions):
        self.actions = sorted(actions, key=lambda a: a[0])
        self.events = []
        self._thread = None
        self._stop = threading.Event()
        self.t0 = None

    def start(self):
        self.t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        for at, label, fn in self.actions:
            delay = self.t0 + at - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                return
            t = time.monotonic() - self.t0
            try:
                note = fn()
                self.events.append((t, label, note or ""))
            except Exception as e:  # recorded, the run goes on
                self.events.append((t, label, f"FAILED: {e}"))

    def join(self, timeout=60):
        if self._thread:
            self._thread.join(timeout)
        self._stop.set()


def await_result(proc, log, tag, timeout, what):
    """Waits at most `timeout` s for `proc` to end, then returns the JSON of
    the `<tag> {...}` line it wrote to `log`. HarnessError when it hangs
    (it is stopped), fails, or prints no such line."""
    try:
        proc.popen.wait(timeout=timeout)
    except Exception:
        proc.stop()
        raise HarnessError(f"{what} did not finish within {timeout:g} s "
                           f"(see {log})")
    proc.stop()
    with open(log, encoding="utf-8", errors="replace") as f:
        text = f.read()
    m = re.search(rf"^{tag} (\{{.*\}})$", text, re.M)
    if proc.popen.returncode != 0 or not m:
        raise HarnessError(f"{what} failed (exit {proc.popen.returncode}):\n"
                           f"{text[-1500:]}")
    return json.loads(m.group(1))


def stack_cpu_seconds(stack, leave_out=()):
    """User + system CPU seconds used so far by the processes of the stack:
    every process this harness started, and theirs, but `leave_out` (wrk),
    read from /proc, as {"web": nginx and the php-fpm pools, "stores": the
    store servers and their children}. Processes that already ended are
    not counted: a difference of two readings counts the processes alive
    at the second."""
    parents = {}
    ticks = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        # The fields after the command, which may hold spaces: ppid is
        # field 4, utime 14, stime 15.
        fields = stat[stat.rindex(")") + 2:].split()
        pid = int(name)
        parents[pid] = int(fields[1])
        ticks[pid] = int(fields[11]) + int(fields[12])
    me = os.getpid()
    stores = {sp.proc.pid for sp in stack.stores.values()
              if sp.proc is not None}
    used = {"web": 0, "stores": 0}
    for pid in parents:
        if pid == me or pid in leave_out:
            continue
        p, role = pid, "web"
        for _ in range(64):
            if p in stores:
                role = "stores"
            if p == me:
                used[role] += ticks[pid]
                break
            p = parents.get(p, 0)
            if p <= 1:
                break
    hz = os.sysconf("SC_CLK_TCK")
    return {role: t / hz for role, t in used.items()}


def run_wrk(stack, handler, page, pool, duration, threads=2, connections=16,
            timeline=None, label="wrk"):
    """wrk against /<handler>/<page> for `duration` s with cookies from `pool`;
    returns its counts and latency percentiles."""
    if not os.access(WRK, os.X_OK):
        raise HarnessError(f"{WRK} is missing: run scripts/install-deps")
    log = os.path.join(stack.run_dir, "logs", f"wrk-{label}.log")
    if os.path.exists(log):
        os.unlink(log)
    argv = [WRK, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s",
            "--timeout", "10s", "-s", LUA, stack.url(handler, page), "--",
            pool.prefix, str(pool.digits), str(pool.size), f"/{handler}/{page}"]
    cpu_before = stack_cpu_seconds(stack)
    proc = Proc(f"wrk {label}", argv, log)
    if timeline:
        timeline.start()
    try:
        r = await_result(proc, log, "SKRESULT", duration + 60, "wrk")
    finally:
        if timeline:
            timeline.join()
    # The servers' CPU per request, wrk's own left out: on a machine whose
    # cores the whole stack shares, what a handler costs, with less noise
    # than req/s (the stores' background work, such as a drain, included).
    cpu_after = stack_cpu_seconds(stack, leave_out={proc.pid})
    secs = r["duration_us"] / 1e6
    r["rps"] = r["requests"] / secs if secs else 0.0
    per_req = 1e6 / r["requests"] if r["requests"] else 0.0
    for role in ("web", "stores"):
        r[f"cpu_{role}_us"] = (cpu_after[role] - cpu_before[role]) * per_req
    r["cpu_us"] = r["cpu_web_us"] + r["cpu_stores_us"]
    r["socket_errors"] = r["connect"] + r["read"] + r["write"] + r["timeout"]
    r["errors"] = r["status"] + r["socket_errors"]
    return r


MDB_DUMP = "/usr/bin/mdb_dump"


def journal_pending(stack, handler):
    """Entries still pending in the write-behind journal of `handler`
    (catalog.Handler.journal), read with mdb_dump (lmdb-utils) while the
    pool runs: the keys of the journal's main database that start with its
    entry prefix, byte 0x01 (src/tiered/journal_layout.h). None when the
    handler has no journal, or it cannot be read (the reason in `why`)."""
    h = catalog.HANDLERS[handler]
    if not h.journal:
        return None, ""
    path = h.journal.format(**stack.context())
    if not os.path.exists(os.path.join(path, "data.mdb")):
        return None, f"no journal in {path}"
    if not os.access(MDB_DUMP, os.X_OK):
        return None, f"{MDB_DUMP} is missing (Debian lmdb-utils)"
    try:
        out = subprocess.run([MDB_DUMP, path], capture_output=True, text=True,
                             timeout=60)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, f"mdb_dump {path}: {e}"
    if out.returncode != 0:
        return None, f"mdb_dump {path}: {out.stderr.strip()[:200]}"
    lines = out.stdout.splitlines()
    try:
        body = lines[lines.index("HEADER=END") + 1:lines.index("DATA=END")]
    except ValueError:
        return None, f"mdb_dump {path}: unexpected output"
    # Key and value lines alternate, each a space and the bytes in hex.
    return sum(1 for key in body[0::2] if key.startswith(" 01")), ""


def percentile(values, q):
    if not values:
        return 0.0
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(q / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def burst(stack, handler, sid, n, page="burst.php", timeout=60):
    """`n` requests on session `sid` released at once (each on its own
    connection, opened beforehand). Returns statuses, latencies, the acked
    counters and the wall time from release to the last answer."""
    import http.client
    barrier = threading.Barrier(n + 1)
    results = [None] * n

    def one(i):
        conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=timeout)
        try:
            conn.connect()
        except OSError as e:
            results[i] = (0, 0.0, 0.0, str(e))
            barrier.wait()
            return
        barrier.wait()
        t = time.monotonic()
        try:
            conn.request("GET", f"/{handler}/{page}",
                         headers={"Cookie": f"PHPSESSID={sid}"})
            resp = conn.getresponse()
            body = resp.read()
            results[i] = (resp.status, t, time.monotonic(),
                          body[:200].decode("utf-8", "replace"))
        except OSError as e:
            results[i] = (0, t, time.monotonic(), str(e))
        finally:
            conn.close()

    workers = [threading.Thread(target=one, args=(i,), daemon=True)
               for i in range(n)]
    for w in workers:
        w.start()
    barrier.wait()
    released = time.monotonic()
    for w in workers:
        w.join(timeout + 5)
    done = [r for r in results if r is not None]
    ends = [r[2] for r in done if r[2]]
    lat = [(r[2] - r[1]) * 1e6 for r in done if r[1] and r[2]]
    ok = [r for r in done if 200 <= r[0] < 300]
    errors = [r[3] for r in done if not 200 <= r[0] < 300]
    return {
        "sent": n,
        "ok": len(ok),
        "errors": n - len(ok),
        # The pages say why they failed: the handler refused the write (e.g.
        # phpredis after it could not get the lock) or session_start failed.
        "write_refused": sum("session write failed" in e for e in errors),
        "start_failed": sum("session_start failed" in e for e in errors),
        "error_examples": errors[:3],
        "wall_s": (max(ends) - released) if ends else 0.0,
        "p50_us": percentile(lat, 50),
        "p99_us": percentile(lat, 99),
    }


def handoff(stack, handler, sid, count, seconds, hold_ms=5.0, label="handoff"):
    """Lock hand-off of `handler`: app/handoff.php run by the PHP CLI with the
    handler's pool ini, against the stack's stores, on session `sid` (seeded
    beforehand). Two processes pass the session's lock back and forth
    `count` times, or for `seconds`; returns the hand-off samples (release
    to the next acquire, us) and what did not hand off cleanly.

    The CLI script stops by itself at the deadline; the hard timeout here
    covers a side stuck inside session_start() (at most one lock wait)."""
    log = os.path.join(stack.run_dir, "logs", f"{label}.log")
    if os.path.exists(log):
        os.unlink(log)
    tmp = os.path.join(stack.run_dir, "data", label)
    argv = stack.php_cli(handler) + [HANDOFF_PHP, sid, str(count),
                                     f"{seconds:g}", str(round(hold_ms * 1000)),
                                     tmp]
    proc = Proc(f"php handoff {handler}", argv, log)
    r = await_result(proc, log, "SKHANDOFF", seconds + 60,
                     f"handoff.php for {handler}")
    r["wanted"] = count
    r["p50_us"] = percentile(r["samples_us"], 50)
    r["p99_us"] = percentile(r["samples_us"], 99)
    return r
