"""fault-stack: crash things under load and report what the clients saw and
what the sessions hold afterwards.

Scenarios (data-driven: every handler that needs a store gets a store-kill
run for each of its stores, so a sessionkit handler on redis plugs in by
being added to catalog.HANDLERS):

  store-kill   kill -9 the store at --kill-at s of a cart load, start it
               again --restart-after s later (same port, same data dir).
  worker-kill  kill -9 the php-fpm worker that is inside a request on one
               session (slow.php holds the session and writes its pid), then
               keep using that session: how long until it works again, and
               does it hold the last acknowledged write?
  busy-kill    kill -9 every worker that is inside a request, three times
               during a cart load; the stack must keep serving and no
               acknowledged write may be lost.
"""

import argparse
import json
import os
import sys
import threading
import time

from . import catalog, load, procs
from .bench import default_build_dir
from .procs import HarnessError
from .fault_common import Probe, fmt_events, upstream_note
from .fault_tiers import TIER_RUNNERS
from .stack import Stack, new_run_dir

SCENARIOS = ("store-kill", "worker-kill", "busy-kill")
# Run on the handlers with a tier written behind (catalog.TIER_HANDLERS).
TIER_SCENARIOS = ("tier-cache-kill", "tier-db-stop", "tier-cache-stop",
                  "tier-fpm-kill")
ALL_SCENARIOS = SCENARIOS + TIER_SCENARIOS


def store_kill(stack, handler, store, args):
    pool = load.IdPool("skill", args.pool)
    pool_roots = load.seed(stack, handler, "cart", pool.ids)
    probe_pool = load.IdPool("probe", 1)
    off = load.ack_offset(stack, handler)
    log_off = stack.nginx_log_offset()

    def kill():
        pid = stack.stores[store].proc.pid
        stack.kill_store(store)
        return f"pid {pid}"

    def restart():
        stack.restart_store(store)
        return f"pid {stack.stores[store].proc.pid}, port {stack.stores[store].port}"

    tl = load.Timeline([
        (args.kill_at, f"kill -9 {store}", kill),
        (args.kill_at + args.restart_after, f"restart {store}", restart)])
    probe = Probe(stack, handler, probe_pool.ids[0])
    probe.start(time.monotonic())
    try:
        w = load.run_wrk(stack, handler, "cart.php", pool, args.duration,
                         args.threads, args.connections, timeline=tl,
                         label=f"fault-store-{handler}")
    finally:
        probe.stop()
    acks = load.read_acks(stack, handler, off, pool.prefix)
    v = load.verify(stack, handler, pool.ids, acks, pool_roots, "v")
    # Probe times are relative to its own start, which is within a few ms of
    # the timeline's; good enough for an outage measured in 100 ms steps.
    fails, recovered = probe.outage(args.kill_at)
    notes = [f"probe: {fails} failed requests from the kill on; "
             + (f"working again {recovered:.2f} s after the kill "
                f"({recovered - args.restart_after:.2f} s after the restart)"
                if recovered is not None else
                ("never failed" if not fails else "not working again by the end"))]
    notes.append(upstream_note(stack, handler, log_off))
    return {"wrk": w, "verify": v, "events": fmt_events(tl), "notes": notes}


def worker_kill(stack, handler, args):
    pool = load.IdPool("wkill", args.pool)
    pool_roots = load.seed(stack, handler, "cart", pool.ids)
    victim = load.IdPool("victim", 1)
    victim_roots = load.seed(stack, handler, "cart", victim.ids)
    vid = victim.ids[0]
    off = load.ack_offset(stack, handler)
    log_off = stack.nginx_log_offset()
    tag = vid[2:12]
    pid_file = os.path.join(stack.run_dir, "pids", tag)
    state = {"slow": None, "follow": [], "killed": None}
    follow_done = threading.Event()

    def slow_request():
        try:
            status, _, body = stack.get(
                f"/{handler}/slow.php?tag={tag}&hold_ms=5000",
                headers={"Cookie": f"PHPSESSID={vid}"}, timeout=30)
            state["slow"] = (status, body[:160].decode("utf-8", "replace"))
        except OSError as e:
            state["slow"] = (0, str(e))

    def follow_up(t_kill):
        # Keep using the victim's session until it works again (bounded).
        deadline = t_kill + args.victim_wait
        while time.monotonic() < deadline:
            t = time.monotonic()
            try:
                status, _, body = stack.get(
                    f"/{handler}/cart.php", headers={"Cookie": f"PHPSESSID={vid}"},
                    timeout=max(1.0, deadline - t))
                text = body[:200].decode("utf-8", "replace")
            except OSError as e:
                status, text = 0, str(e)
            state["follow"].append((t - t_kill, time.monotonic() - t_kill, status, text))
            if 200 <= status < 300:
                break
            time.sleep(0.2)
        follow_done.set()

    def kill_victim_worker():
        threading.Thread(target=slow_request, daemon=True).start()
        deadline = time.monotonic() + 5
        while not os.path.exists(pid_file) and time.monotonic() < deadline:
            time.sleep(0.01)
        if not os.path.exists(pid_file):
            follow_done.set()
            raise HarnessError("slow.php never reached the session (no pid file)")
        time.sleep(0.2)  # well inside the request, holding the session
        with open(pid_file) as f:
            pid = int(f.read().strip())
        stack.kill_worker(handler, pid)
        state["killed"] = pid
        threading.Thread(target=follow_up, args=(time.monotonic(),),
                         daemon=True).start()
        return f"worker pid {pid} (inside slow.php on the victim session)"

    tl = load.Timeline([(args.kill_at, "kill -9 the worker holding the victim "
                         "session", kill_victim_worker)])
    w = load.run_wrk(stack, handler, "cart.php", pool, args.duration,
                     args.threads, max(2, args.connections // 2), timeline=tl,
                     label=f"fault-worker-{handler}")
    follow_done.wait(args.victim_wait + 10)
    acks = load.read_acks(stack, handler, off, pool.prefix)
    v = load.verify(stack, handler, pool.ids, acks, pool_roots, "v")
    vacks = load.read_acks(stack, handler, off, victim.prefix)
    vv = load.verify(stack, handler, victim.ids, vacks, victim_roots, "v")
    notes = []
    if state["slow"]:
        notes.append(f"killed request answered {state['slow'][0]} "
                     f"(the client of the crashed worker)")
    fl = state["follow"]
    failed = [f for f in fl if not 200 <= f[2] < 300]
    ok = [f for f in fl if 200 <= f[2] < 300]
    if ok:
        notes.append(f"victim session usable again {ok[0][1]:.2f} s after the kill "
                     f"({len(failed)} requests failed before)")
    elif state["killed"]:
        notes.append(f"victim session still failing {args.victim_wait:.0f} s after "
                     f"the kill ({len(failed)} requests failed)")
    if failed:
        notes.append(f"first failure: {failed[0][2]} {failed[0][3].strip()[:150]}")
    notes.append(f"victim session: {load.loss_line(vv)}")
    v = _merge(v, vv)
    notes.append(upstream_note(stack, handler, log_off))
    return {"wrk": w, "verify": v, "events": fmt_events(tl), "notes": notes}


def busy_kill(stack, handler, args):
    pool = load.IdPool("bkill", args.pool)
    pool_roots = load.seed(stack, handler, "cart", pool.ids)
    off = load.ack_offset(stack, handler)
    log_off = stack.nginx_log_offset()
    killed = []

    def kill_busy():
        busy = stack.busy_workers(handler)
        # Inside the script first; a fast handler's workers are often only
        # found finishing their request.
        inside = [b for b in busy if b[1] != "Finishing"] or busy
        for pid, _ in inside:
            try:
                stack.kill_worker(handler, pid)
                killed.append(pid)
            except (HarnessError, ProcessLookupError):
                pass  # finished its request and was replaced meanwhile
        states = {}
        for _, state in inside:
            states[state] = states.get(state, 0) + 1
        return (f"{len(inside)} workers ("
                + ", ".join(f"{n} {s}" for s, n in sorted(states.items()))
                + ")" if inside else "no worker inside a request")

    step = args.duration / 4
    tl = load.Timeline([(step * i, "kill -9 busy workers", kill_busy)
                        for i in (1, 2, 3)])
    w = load.run_wrk(stack, handler, "cart.php", pool, args.duration,
                     args.threads, args.connections, timeline=tl,
                     label=f"fault-busy-{handler}")
    acks = load.read_acks(stack, handler, off, pool.prefix)
    v = load.verify(stack, handler, pool.ids, acks, pool_roots, "v")
    # Afterwards the stack must serve normally again.
    after = load.IdPool("after", 1)
    codes = []
    for _ in range(20):
        status, _, _ = stack.get(f"/{handler}/cart.php",
                                 headers={"Cookie": f"PHPSESSID={after.ids[0]}"},
                                 timeout=10)
        codes.append(status)
    good = sum(200 <= c < 300 for c in codes)
    notes = [f"{len(killed)} workers killed in total",
             f"after the run: {good} of 20 requests on a new session succeeded"]
    notes.append(upstream_note(stack, handler, log_off))
    return {"wrk": w, "verify": v, "events": fmt_events(tl), "notes": notes,
            "healthy_after": good == 20}


def _merge(a, b):
    out = dict(a)
    for k, val in b.items():
        if isinstance(val, int):
            out[k] = a.get(k, 0) + val
    out["examples"] = a["examples"] + b["examples"]
    return out


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="fault-stack",
        description="kill -9 stores and php-fpm workers under load and report "
                    "errors and lost sessions.")
    p.add_argument("--build", default=default_build_dir(),
                   help="build directory (default: $SK_BUILD_DIR or <repo>/build)")
    p.add_argument("--handlers", help="comma-separated; default: "
                   + ",".join(catalog.DEFAULT_HANDLERS) + " for "
                   + ", ".join(SCENARIOS) + "; "
                   + ",".join(catalog.TIER_HANDLERS) + " for the tier-* "
                   "scenarios (which run only on handlers with a tier "
                   "written behind)")
    p.add_argument("--scenarios", default=",".join(ALL_SCENARIOS),
                   help="comma-separated subset of " + ",".join(ALL_SCENARIOS))
    p.add_argument("--duration", type=int, default=6, help="seconds of load (6)")
    p.add_argument("--kill-at", type=float, default=2.0,
                   help="second of the load at which to kill (2)")
    p.add_argument("--restart-after", type=float, default=1.0,
                   help="store-kill: seconds until the store is restarted (1)")
    p.add_argument("--victim-wait", type=float, default=40.0,
                   help="worker-kill: how long to keep retrying the victim "
                        "session (40 s; lock-based handlers hold a crashed "
                        "worker's lock until it expires)")
    p.add_argument("--cache-down", type=float, default=10.0,
                   help="tier-cache-kill, tier-cache-stop: seconds the first "
                        "tier is dead or stopped (10)")
    p.add_argument("--db-down", type=float, default=30.0,
                   help="tier-db-stop: seconds the database is down (30)")
    p.add_argument("--backlog-for", type=float, default=5.0,
                   help="tier-fpm-kill: seconds of load with the database "
                        "down before every worker is killed (5)")
    p.add_argument("--tail", type=float, default=10.0,
                   help="tier-*: seconds of load after the restart (10)")
    p.add_argument("--drain-timeout", type=float, default=60.0,
                   help="tier-*: how long to wait for the database to hold "
                        "every acknowledged write (60 s)")
    p.add_argument("--pool", type=int, default=1000, help="session ids (1000)")
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--skip-missing", action="store_true",
                   help="leave out handlers whose extension is not built")
    p.add_argument("--out-dir", help="where results.json goes (default: the "
                   "run directory)")
    a = p.parse_args(argv)
    a.scenarios = [s.strip() for s in a.scenarios.split(",") if s.strip()]
    for s in a.scenarios:
        if s not in ALL_SCENARIOS:
            raise SystemExit(f"fault-stack: unknown scenario '{s}'")
    if a.handlers:
        a.handlers = [h.strip() for h in a.handlers.split(",") if h.strip()]
        a.tier_handlers = [h for h in a.handlers
                           if h in catalog.HANDLERS and catalog.HANDLERS[h].behind]
    else:
        a.handlers = list(catalog.DEFAULT_HANDLERS)
        a.tier_handlers = list(catalog.TIER_HANDLERS)
    for h in a.handlers:
        if h not in catalog.HANDLERS:
            raise SystemExit(f"fault-stack: unknown handler '{h}'")
    if not any(s in SCENARIOS for s in a.scenarios):
        a.handlers = []
    if not any(s in TIER_SCENARIOS for s in a.scenarios):
        a.tier_handlers = []
    elif not a.tier_handlers:
        raise SystemExit("fault-stack: the tier-* scenarios need a handler with "
                         "a tier written behind: " + ",".join(catalog.TIER_HANDLERS))
    if not 0 < a.kill_at < a.duration or a.duration > 120:
        raise SystemExit("fault-stack: --kill-at must fall inside --duration "
                         "(at most 120 s)")
    return a


def main(argv):
    args = parse_args(argv)
    procs.install_signal_handlers()
    started = time.monotonic()
    build = os.path.abspath(args.build)
    run_dir = new_run_dir(build, "fault")
    handlers = list(args.handlers)
    for h in args.tier_handlers:
        if h not in handlers:
            handlers.append(h)
    if args.skip_missing:
        for h in list(handlers):
            for e in catalog.HANDLERS[h].extensions:
                if "/" in e and not os.path.exists(e.format(build=build)):
                    print(f"fault-stack: leaving out {h} ({e.format(build=build)} not built)")
                    handlers.remove(h)
                    break
    plan = []
    for sc in args.scenarios:
        for h in handlers:
            if sc in TIER_SCENARIOS:
                if h in args.tier_handlers:
                    plan.append((sc, h, None))
            elif h not in args.handlers:
                continue
            elif sc == "store-kill":
                for s in catalog.HANDLERS[h].stores:
                    plan.append((sc, h, s))
            else:
                plan.append((sc, h, None))
    print(f"fault-stack: {len(plan)} runs; run dir {run_dir}")
    stack = Stack(build, run_dir, handlers, workers=args.workers)
    results = []
    try:
        stack.start()
        for i, (sc, h, store) in enumerate(plan, 1):
            title = f"[{i}/{len(plan)}] {sc} {h}" + (f" (store {store})" if store else "")
            print(f"\n{title}", flush=True)
            if sc in TIER_RUNNERS:
                r = TIER_RUNNERS[sc](stack, h, args)
            elif sc == "store-kill":
                r = store_kill(stack, h, store, args)
            elif sc == "worker-kill":
                r = worker_kill(stack, h, args)
            else:
                r = busy_kill(stack, h, args)
            r.update(scenario=sc, handler=h, store=store)
            results.append(r)
            w = r["wrk"]
            for e in r["events"]:
                print(f"  {e}")
            print(f"  load: {w['requests']} requests, errors {w['errors']} "
                  f"({w['status']} non-2xx, {w['socket_errors']} socket)")
            for n in r["notes"]:
                print(f"  {n}")
            print(f"  {load.loss_line(r['verify'])}"
                  + (" (through the tiers)" if "tier" in r else ""))
            for ex in r["verify"]["examples"]:
                print(f"    e.g. {ex}")
            if "tier" in r:
                vdb = r["tier"]["db_verify"]
                print(f"  {load.loss_line(vdb)} (the database alone)")
                for ex in vdb["examples"]:
                    print(f"    e.g. {ex}")
    finally:
        stack.stop()
    elapsed = time.monotonic() - started
    print("\nfault-stack summary")
    head = f"{'scenario':<15} {'handler':<29} {'requests':>8} {'errors':>7}  result"
    print(head)
    print("-" * len(head))
    for r in results:
        v = r["verify"]
        line = (f"{r['scenario']:<15} {r['handler']:<29} {r['wrk']['requests']:>8} "
                f"{r['wrk']['errors']:>7}  sessions lost: {v['lost']} of "
                f"{v['sessions']}, updates lost: {v['updates_lost']}")
        t = r.get("tier")
        if t:
            vdb = t["db_verify"]
            line += (f"; database: {vdb['lost']} of {vdb['sessions']} lost, "
                     f"{vdb['updates_lost']} updates lost")
            if t.get("backlog") is not None:
                line += f"; backlog {t['backlog']} sessions"
            c = t.get("caught_up_s")
            if t.get("backlog") is not None:
                line += (f", drained {c:.2f} s after the restart" if c is not None
                         else ", NOT drained")
            else:
                line += (f"; database caught up {c:.2f} s after the load"
                         if c is not None else "; database NOT caught up")
            if r["scenario"] == "tier-cache-stop":
                line += f"; p99 {r['wrk']['p99_us'] / 1000:.1f} ms"
        print(line)
    out_dir = os.path.abspath(args.out_dir) if args.out_dir else run_dir
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "fault-results.json"), "w") as f:
        json.dump({"args": vars(args), "results": results, "elapsed_s": elapsed},
                  f, indent=1, default=str)
    print(f"fault-stack: results in {out_dir}; finished in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except HarnessError as e:
        print(f"fault-stack: {e}", file=sys.stderr)
        sys.exit(2)
