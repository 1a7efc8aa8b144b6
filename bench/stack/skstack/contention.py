"""bench-stack --contention: sustained contention on one session.

N clients, each a thread with its own keep-alive connection and the same
session cookie, loop on app/contend.php (n = n + 1 with 2 ms of work) for a
fixed time. A client counts an update when the page answers 200 with the new
n; at the end the session's n must equal the sum of those acknowledgements.
Per handler and client count: successful updates/s, lost updates, failed
requests, PHP warnings and notices (raised in the page or written to the
pool's logs), latency p50/p99/max and the spread of the clients' counts.
"""

import datetime
import http.client
import json
import os
import re
import shlex
import threading
import time

from . import catalog, contention_report, load, procs
from .stack import Stack, new_run_dir

PAGE = "contend.php"
# The issue 23 setting: files, phpredis and php-memcached with their locks,
# and sessionkit on every store, with every handler's default lock settings.
DEFAULT_HANDLERS = ("files", "redis-lock", "memcached", "sessionkit-lmdb",
                    "sessionkit-redis", "sessionkit-memcached",
                    "sessionkit-mysql", "sessionkit-postgres")
DEFAULT_CLIENTS = (8, 24, 64)
DEFAULT_WORKERS = 32
# What a client waits for one answer at most: longer than any handler's lock
# wait under max_execution_time (30 s) and php-fpm's request_terminate_timeout.
REQUEST_TIMEOUT = 75.0
# Ini settings that would change a handler's lock behaviour from its
# defaults; the contention runs refuse handlers that set them.
LOCK_SETTINGS = ("sessionkit.lock_max_waiters", "sessionkit.lock_wait_ms",
                 "sessionkit.lock_timeout_action", "redis.session.lock_retries",
                 "redis.session.lock_wait_time", "memcached.sess_lock_retries",
                 "memcached.sess_lock_wait_min", "memcached.sess_lock_wait_max")
# A request this slow is listed with when it started: a stall of the whole
# session shows as many of them starting together.
SLOW_S = 1.0
PHP_MESSAGE = re.compile(r"PHP (Warning|Notice|Fatal error|Parse error|"
                         r"Recoverable fatal error|Deprecated)\b")


def parse_clients(text):
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise SystemExit(f"bench-stack: --clients takes numbers, got '{text}'")
    if not counts or any(not 1 <= c <= 512 for c in counts):
        raise SystemExit("bench-stack: --clients: 1 to 512 clients per point")
    return counts


def check_defaults(handlers):
    """The contention runs measure default lock settings: no handler of the
    catalog may set one of LOCK_SETTINGS (a waiter cap, a shorter wait)."""
    for h in handlers:
        forced = [k for k in catalog.HANDLERS[h].ini if k in LOCK_SETTINGS]
        if forced:
            raise SystemExit(f"bench-stack: --contention measures default lock "
                             f"settings, but handler {h} sets {', '.join(forced)}")


class Client(threading.Thread):
    """One client: a keep-alive connection looping on the page until the
    deadline; reconnects after an error."""

    def __init__(self, port, path, cookie, start, deadline):
        super().__init__(daemon=True)
        self.port, self.path, self.cookie = port, path, cookie
        self.start_gate, self.deadline = start, deadline
        self.ok = 0
        self.refused = 0       # the page answered that nothing was saved
        self.failed = 0        # any other failure (socket error, no answer)
        self.latencies = []    # us, every answered or failed request
        self.ns = []           # the n of every acknowledged update
        self.page_warnings = 0
        self.errors = []       # a few examples
        self.slow = []         # (start, seconds) of requests over SLOW_S
        self.last_end = 0.0

    def run(self):
        conn = None
        self.start_gate.wait()
        while time.monotonic() < self.deadline:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port,
                                                  timeout=REQUEST_TIMEOUT)
            t = time.monotonic()
            try:
                conn.request("GET", self.path,
                             headers={"Cookie": self.cookie})
                resp = conn.getresponse()
                body = resp.read()
                status = resp.status
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                status, body = 0, str(e).encode()
                conn.close()
                conn = None
            end = time.monotonic()
            self.last_end = end
            self.latencies.append((end - t) * 1e6)
            if end - t >= SLOW_S:
                self.slow.append((t, end - t))
            self._count(status, body)
        if conn is not None:
            conn.close()

    def _count(self, status, body):
        try:
            ans = json.loads(body) if status else {}
        except ValueError:
            ans = {}
        self.page_warnings += len(ans.get("warnings") or ())
        if status == 200 and ans.get("ok") and isinstance(ans.get("n"), int):
            self.ok += 1
            self.ns.append(ans["n"])
            return
        if status == 503 and ans.get("ok") is False:
            self.refused += 1
        else:
            self.failed += 1
        if len(self.errors) < 3:
            self.errors.append(f"{status}: " + str(ans.get("error") or
                                                  body[:160].decode("utf-8", "replace")))


def log_offsets(stack, handler):
    """Sizes of the pool's PHP error log and php-fpm log, to count what a run
    adds to them."""
    out = {}
    for path in _log_paths(stack, handler):
        out[path] = os.path.getsize(path) if os.path.exists(path) else 0
    return out


def _log_paths(stack, handler):
    logs = os.path.join(stack.run_dir, "logs")
    return [os.path.join(logs, f"php-{handler}.log"),
            os.path.join(logs, f"fpm-{handler}.log"),
            os.path.join(logs, f"fpm-{handler}.out")]


def logged_messages(offsets):
    """The PHP warnings, notices and errors the logs gained since `offsets`:
    (count, a few distinct examples)."""
    count, examples = 0, []
    for path, off in offsets.items():
        if not os.path.exists(path):
            continue
        with open(path, "rb") as f:
            f.seek(off)
            for raw in f:
                line = raw.decode("utf-8", "replace").strip()
                m = PHP_MESSAGE.search(line)
                if not m:
                    continue
                count += 1
                text = line[m.start():]
                # The session id and numbers differ per line; keep one of a kind.
                key = re.sub(r"[0-9a-z]{20,}|\d+", "#", text)[:120]
                if len(examples) < 3 and all(k != key for k, _ in examples):
                    examples.append((key, text[:300]))
    return count, [t for _, t in examples]


def cpu_seconds():
    t = os.times()
    return t.user + t.system


def run_point(stack, handler, clients, seconds):
    """One handler at one client count: a fresh session, `clients` clients
    for `seconds` s, then the final n and the loss check."""
    pool = load.IdPool("cont", 1)
    roots = load.seed(stack, handler, "burst", pool.ids)
    sid = pool.ids[0]
    ack_off = load.ack_offset(stack, handler)
    offsets = log_offsets(stack, handler)
    gate = threading.Event()
    started = time.monotonic() + 0.2
    deadline = started + seconds
    workers = [Client(stack.port, f"/{handler}/{PAGE}", f"PHPSESSID={sid}",
                      gate, deadline) for _ in range(clients)]
    for w in workers:
        w.start()
    time.sleep(max(0.0, started - time.monotonic()))
    cpu0, t0 = cpu_seconds(), time.monotonic()
    gate.set()
    for w in workers:
        w.join(seconds + REQUEST_TIMEOUT + 10)
    hung = sum(w.is_alive() for w in workers)
    wall = max([w.last_end for w in workers] + [t0]) - t0
    cpu = cpu_seconds() - cpu0
    # What reached the store: the acknowledgements the pages logged, the
    # session read back through PHP.
    acks = load.read_acks(stack, handler, ack_off, pool.prefix)
    verify = load.verify(stack, handler, pool.ids, acks, roots, "n")
    row = load.dump(stack, handler, pool.ids)[sid]
    final_n = int(row.get("n") or 0) if "error" not in row else -1
    refused = sum(w.refused for w in workers)
    # Acknowledged updates the stored counter does not hold.
    silent = max(0, sum(w.ok for w in workers) - final_n) if final_n >= 0 \
        else sum(w.ok for w in workers)
    warnings, examples = logged_messages(offsets)
    page_warnings = sum(w.page_warnings for w in workers)
    per_client = [w.ok for w in workers]
    acked = sum(per_client)
    ns = [n for w in workers for n in w.ns]
    lat = [x for w in workers for x in w.latencies]
    slow = sorted((round(t - t0, 2), round(d, 2)) for w in workers for t, d in w.slow)
    return {
        "handler": handler, "clients": clients, "seconds": seconds,
        "wall_s": wall, "ok": acked, "refused": refused,
        "failed": sum(w.failed for w in workers),
        "hung_clients": hung,
        "updates_per_s": acked / wall if wall else 0.0,
        "final_n": final_n,
        # The updates that did not reach the session: refused by the server
        # (it said so), and acknowledged but missing from n (silently).
        "lost": refused + silent, "lost_silent": silent,
        # Two acknowledgements of the same n: two requests read the same n.
        "duplicate_n": len(ns) - len(set(ns)),
        # Writes that reached the store without the client seeing a 200
        # (a request that timed out on the client after its write).
        "unacked_writes": max(0, final_n - acked),
        "server_acks": verify["acked"], "verify": verify,
        # Raised in the page (and logged) or written to the log directly.
        "warnings": max(warnings, page_warnings), "logged_warnings": warnings,
        "page_warnings": page_warnings, "warning_examples": examples,
        "error_examples": [e for w in workers for e in w.errors][:3],
        "p50_us": load.percentile(lat, 50), "p99_us": load.percentile(lat, 99),
        "max_us": max(lat) if lat else 0.0, "requests": len(lat),
        "per_client": per_client, "client_cpu_s": cpu,
        # Requests over SLOW_S: (start, seconds) from the start of the run.
        "slow": slow,
        "client_cpu_pct": 100.0 * cpu / wall if wall else 0.0,
    }


def progress_line(i, total, r):
    pc = r["per_client"]
    return (f"[{i:2d}/{total}] {r['clients']:3d} clients {r['handler']:<21} "
            f"{r['updates_per_s']:6.0f} updates/s  lost {r['lost']} "
            f"({r['refused']} refused, {r['lost_silent']} silent)  other "
            f"failures {r['failed']}  warnings {r['warnings']}  p50 "
            f"{r['p50_us'] / 1000:6.1f} ms  p99 {r['p99_us'] / 1000:6.1f} ms  "
            f"max {r['max_us'] / 1000:6.0f} ms  per client {min(pc)}..{max(pc)} "
            f"({contention_report.spread_pct(r):.1f}%)  n {r['final_n']} of "
            f"{r['ok']} acknowledged  client CPU {r['client_cpu_pct']:.0f}%" +
            (f"  {len(r['slow'])} requests over {SLOW_S:g} s, the first "
             f"started at +{r['slow'][0][0]:.1f} s" if r.get("slow") else ""))


def settings_of(stack, handler):
    """The lock settings the pool loaded (contend.php?settings=1)."""
    status, _, body = stack.get(f"/{handler}/{PAGE}?settings=1", timeout=10)
    if status != 200:
        raise procs.HarnessError(f"{handler}: {PAGE}?settings=1 answered "
                                 f"{status}: {body[:200]!r}")
    return json.loads(body)["settings"]


def main(args, argv, started):
    """Runs the contention points of `args` (parsed by bench.parse_args)."""
    from .bench import loadavg, machine_info
    check_defaults(args.handlers)
    handlers = list(args.handlers)
    procs.install_signal_handlers()
    load_start = loadavg()
    build = os.path.abspath(args.build)
    run_dir = new_run_dir(build, "contention-quick" if args.quick else "contention")
    out_dir = os.path.abspath(args.out_dir) if args.out_dir else run_dir
    os.makedirs(out_dir, exist_ok=True)
    command = "bench/stack/bench-stack" + (" " + shlex.join(argv) if argv else "")
    print(f"bench-stack --contention: {len(handlers)} handlers x clients "
          f"{','.join(map(str, args.clients))}, {args.seconds:g} s per point, "
          f"one session, n = n + 1 with 2 ms of work; {args.workers} php-fpm "
          f"workers per pool; run dir {run_dir}")
    stack = Stack(build, run_dir, handlers, workers=args.workers)
    runs, settings = [], {}
    try:
        stack.start()
        for h in handlers:
            settings[h] = settings_of(stack, h)
        total, i = len(args.clients) * len(handlers), 0
        for k, clients in enumerate(args.clients):
            # Rotate the order at every client count: no handler always first.
            order = handlers[k % len(handlers):] + handlers[:k % len(handlers)]
            for h in order:
                i += 1
                stack.idle_wait(h, timeout=15)
                r = run_point(stack, h, clients, args.seconds)
                runs.append(r)
                print(progress_line(i, total, r), flush=True)
    finally:
        stack.stop()
    data = {"command": command,
            "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            "elapsed_s": time.monotonic() - started, "handlers": handlers,
            "clients": list(args.clients), "seconds": args.seconds,
            "workers": args.workers, "settings": settings,
            "machine": dict(machine_info(), loadavg_start=load_start,
                            loadavg_end=loadavg()),
            "runs": runs, "run_dir": run_dir}
    with open(os.path.join(out_dir, "contention.json"), "w") as f:
        json.dump(data, f, indent=1, default=str)
    contention_report.publish(data, out_dir, args.docs_dir if args.docs else None)
    print(f"bench-stack: results in {out_dir} (logs and configs in {run_dir}); "
          f"finished in {data['elapsed_s']:.0f} s")
    return 0
