"""fault-stack's tier scenarios (fault.TIER_SCENARIOS): a cache in front, a
database written behind; each run on the handlers with a tier written
behind (catalog.TIER_HANDLERS)."""

import threading
import time

from . import catalog, load
from .fault_common import Probe, fmt_events, upstream_note
from .procs import HarnessError


# ---- tiers: a cache in front, a database written behind -------------------


def _distinct_acked(stack, handler, prefix, start, end):
    """(sessions, writes) acknowledged between two ack-log offsets."""
    acks = load.read_acks(stack, handler, start, prefix, end)
    return len(acks), sum(a[0] for a in acks.values())


class DbWatch:
    """Polls the database tier alone (the PHP CLI, Stack.behind_save_path)
    until it holds every session of the pool at its newest acknowledged
    version: the loss check against the database, with the writes
    acknowledged up to a moment `settle` s before each look (a write
    acknowledged a moment ago may still be on its way from the journal).
    Records (seconds since `t_ref`, sessions behind) for every look.
    With `upto` (an ack-log offset) set, only the writes acknowledged before
    it count: the backlog at that moment (the tier behind gets later writes
    write_delay later, by design, while the load goes on)."""

    def __init__(self, stack, handler, pool, roots, ack_off, settle=0.3):
        self.stack, self.handler, self.pool = stack, handler, pool
        self.roots, self.ack_off, self.settle = roots, ack_off, settle
        self.upto = None
        self.save_path = stack.behind_save_path(handler)
        self.looks = []
        self.error = None

    def look(self, t_ref, settle=None):
        end = self.upto
        if end is None:
            end = load.ack_offset(self.stack, self.handler)
            time.sleep(self.settle if settle is None else settle)
        acks = load.read_acks(self.stack, self.handler, self.ack_off,
                              self.pool.prefix, end)
        rows = load.dump_store(self.stack, self.handler, self.pool.ids,
                               self.save_path)
        v = load.verify(self.stack, self.handler, self.pool.ids, acks,
                        self.roots, "v", rows=rows)
        self.looks.append((time.monotonic() - t_ref, v["lost"]))
        return v

    def until_caught_up(self, t_ref, timeout, first_settle=None):
        """Looks until nothing is behind (True) or `timeout` s after t_ref
        (False)."""
        settle = first_settle
        while True:
            try:
                v = self.look(t_ref, settle)
                if v["lost"] == 0:
                    return True
            except HarnessError as e:
                self.error = str(e)
            settle = None
            if time.monotonic() - t_ref > timeout:
                return False
            time.sleep(0.1)

    def first_behind(self):
        return self.looks[0][1] if self.looks else None

    def caught_up_at(self):
        if self.looks and self.looks[-1][1] == 0:
            return self.looks[-1][0]
        return None


def _tier_stores(handler):
    h = catalog.HANDLERS[handler]
    return list(h.front), h.behind


def _stop_db(stack, handler, db, mark):
    """Shuts the database down, noting where the ack log stood (the
    backlog counts from there); the timeline's note."""
    mark["stop_off"] = load.ack_offset(stack, handler)
    stack.stop_store(db)
    return f"{db} shut down ({signal_name(stack.stores[db].spec.stop_signal)})"


def _tier_setup(stack, handler, prefix, args):
    """What every tier scenario starts from: the first tier's stores, the
    database, a pool of `cart` sessions seeded, and where the ack log and
    nginx's error log stand."""
    front, db = _tier_stores(handler)
    pool = load.IdPool(prefix, args.pool)
    roots = load.seed(stack, handler, "cart", pool.ids)
    return (front, db, pool, roots, load.ack_offset(stack, handler),
            stack.nginx_log_offset())


def _db_final(stack, handler, pool, roots, off, args, t_ref=None):
    """After the load: waits (at most --drain-timeout s) for the database to
    catch up with every acknowledged write, then the loss check against the
    database alone. (verify result, seconds it took or None)."""
    stack.idle_wait(handler, timeout=15)
    t0 = time.monotonic() if t_ref is None else t_ref
    watch = DbWatch(stack, handler, pool, roots, off, settle=0.0)
    watch.until_caught_up(t0, args.drain_timeout)
    acks = load.read_acks(stack, handler, off, pool.prefix)
    rows = load.dump_store(stack, handler, pool.ids, watch.save_path)
    v = load.verify(stack, handler, pool.ids, acks, roots, "v", rows=rows)
    return v, watch.caught_up_at(), watch


def _tier_result(w, v, vdb, tl, notes, **tier):
    tier["db_verify"] = vdb
    return {"wrk": w, "verify": v, "events": fmt_events(tl), "notes": notes,
            "tier": tier}


def tier_cache_kill(stack, handler, args):
    """kill -9 every server of the first tier, start it again (empty) after
    --cache-down s; the database is up throughout."""
    front, db, pool, roots, off, log_off = _tier_setup(stack, handler,
                                                       "tckill", args)
    mark = {}

    def kill():
        pids = [stack.stores[s].proc.pid for s in front]
        for s in front:
            stack.kill_store(s)
        return ", ".join(f"{s} pid {p}" for s, p in zip(front, pids))

    def restart():
        mark["off"] = load.ack_offset(stack, handler)
        for s in front:
            stack.restart_store(s)
        mark["ready"] = time.monotonic()
        return "empty; " + ", ".join(f"{s} pid {stack.stores[s].proc.pid}"
                                     for s in front)

    k, r = args.kill_at, args.kill_at + args.cache_down
    tl = load.Timeline([(k, f"kill -9 {'+'.join(front)}", kill),
                        (r, f"restart {'+'.join(front)}", restart)])
    probe = Probe(stack, handler, load.IdPool("probe", 1).ids[0])
    probe.start(time.monotonic())
    try:
        w = load.run_wrk(stack, handler, "cart.php", pool,
                         r + args.tail, args.threads, args.connections,
                         timeline=tl, label=f"fault-tier-cache-kill-{handler}")
    finally:
        probe.stop()
    acks = load.read_acks(stack, handler, off, pool.prefix)
    v = load.verify(stack, handler, pool.ids, acks, roots, "v")
    vdb, caught, _ = _db_final(stack, handler, pool, roots, off, args)
    fails, recovered = probe.outage(k)
    notes = [f"failed requests: {w['errors']} (at most {args.connections} "
             f"were in flight at the kill); probe: {fails} failed from the "
             "kill on"]
    notes.append(upstream_note(stack, handler, log_off))
    return _tier_result(w, v, vdb, tl, notes, front=front, db=db,
                        down_s=args.cache_down, backlog=None,
                        caught_up_s=caught)


def tier_db_stop(stack, handler, args):
    """The database is shut down for --db-down s, then started again under
    the same load: nothing may fail, the journal's backlog must drain."""
    front, db, pool, roots, off, log_off = _tier_setup(stack, handler,
                                                       "tdstop", args)
    mark = {}
    watch = DbWatch(stack, handler, pool, roots, off)

    def stop():
        return _stop_db(stack, handler, db, mark)

    def restart():
        mark["restart_off"] = load.ack_offset(stack, handler)
        t = time.monotonic()
        stack.restart_store(db)
        mark["ready"] = time.monotonic()
        mark["start_s"] = mark["ready"] - t
        # The drain of the backlog at the restart is watched while the load
        # goes on (what is written after it reaches the database
        # write_delay later; the final check covers it).
        watch.upto = mark["restart_off"]
        th = threading.Thread(target=watch.until_caught_up,
                              args=(mark["ready"], args.drain_timeout, 0.0),
                              daemon=True)
        th.start()
        mark["thread"] = th
        return (f"{db} pid {stack.stores[db].proc.pid}, accepting after "
                f"{mark['start_s']:.2f} s")

    k, r = args.kill_at, args.kill_at + args.db_down
    tl = load.Timeline([(k, f"stop {db}", stop), (r, f"restart {db}", restart)])
    w = load.run_wrk(stack, handler, "cart.php", pool, r + args.tail,
                     args.threads, args.connections, timeline=tl,
                     label=f"fault-tier-db-stop-{handler}")
    if "thread" in mark:
        mark["thread"].join(args.drain_timeout + 60)
    backlog = writes = None
    if "restart_off" in mark:
        backlog, writes = _distinct_acked(stack, handler, pool.prefix,
                                          mark["stop_off"], mark["restart_off"])
    acks = load.read_acks(stack, handler, off, pool.prefix)
    v = load.verify(stack, handler, pool.ids, acks, roots, "v")
    vdb, _, _ = _db_final(stack, handler, pool, roots, off, args)
    caught = watch.caught_up_at()
    notes = [f"failed requests: {w['errors']}",
             _backlog_note(backlog, writes, watch, caught)]
    if watch.error:
        notes.append(f"database look failed: {watch.error[:200]}")
    notes.append(upstream_note(stack, handler, log_off))
    return _tier_result(w, v, vdb, tl, notes, front=front, db=db,
                        down_s=args.db_down, backlog=backlog,
                        backlog_writes=writes,
                        behind_at_restart=watch.first_behind(),
                        caught_up_s=caught, looks=watch.looks)


def _backlog_note(backlog, writes, watch, caught):
    if backlog is None:
        return "backlog: unknown (the database was not restarted)"
    first = watch.looks[0] if watch.looks else None
    text = (f"backlog at the restart: {backlog} sessions ({writes} "
            "acknowledged writes while the database was down)")
    if first:
        text += (f"; {first[1]} sessions behind in the database at the first "
                 f"look ({first[0]:.2f} s after the restart)")
    text += ("; drained (the database holds every version acknowledged "
             "before the restart) "
             f"{caught:.2f} s after the restart" if caught is not None else
             "; NOT drained")
    return text


def signal_name(sig):
    import signal as _signal
    return _signal.Signals(sig).name


def tier_cache_stop(stack, handler, args):
    """SIGSTOP every server of the first tier for --cache-down s (a
    blackhole: connections open, nothing answers), SIGCONT. The load during
    the stop is its own wrk run, so its latency is the stop's."""
    front, db, pool, roots, off, log_off = _tier_setup(stack, handler,
                                                       "tcstop", args)
    before = load.run_wrk(stack, handler, "cart.php", pool, 2,
                          args.threads, args.connections,
                          label=f"fault-tier-cache-stop-before-{handler}")

    def pause():
        for s in front:
            stack.pause_store(s)
        return ", ".join(f"{s} pid {stack.stores[s].proc.pid}" for s in front)

    tl = load.Timeline([(0.0, f"SIGSTOP {'+'.join(front)}", pause)])
    try:
        w = load.run_wrk(stack, handler, "cart.php", pool, args.cache_down,
                         args.threads, args.connections, timeline=tl,
                         label=f"fault-tier-cache-stop-{handler}")
    finally:
        for s in front:
            stack.resume_store(s)
    tl.events.append((args.cache_down, f"SIGCONT {'+'.join(front)}", ""))
    after = load.run_wrk(stack, handler, "cart.php", pool, args.tail,
                         args.threads, args.connections,
                         label=f"fault-tier-cache-stop-after-{handler}")
    acks = load.read_acks(stack, handler, off, pool.prefix)
    v = load.verify(stack, handler, pool.ids, acks, roots, "v")
    vdb, caught, _ = _db_final(stack, handler, pool, roots, off, args)
    bound_ms = TIER_TIMEOUT_MS
    notes = [
        f"during the stop: {w['requests']} requests, {w['errors']} failed, "
        f"p50 {w['p50_us'] / 1000:.1f} ms, p99 {w['p99_us'] / 1000:.1f} ms, "
        f"p99.9 {w['p999_us'] / 1000:.1f} ms, max {w['max_us'] / 1000:.1f} ms "
        f"(one connect_timeout + read_timeout of the first tier: "
        f"{bound_ms} ms; retry_after 1 s)",
        f"before: p99 {before['p99_us'] / 1000:.1f} ms, {before['errors']} "
        f"failed; after SIGCONT: {after['requests']} requests, "
        f"{after['errors']} failed, p99 {after['p99_us'] / 1000:.1f} ms"]
    notes.append(upstream_note(stack, handler, log_off))
    return _tier_result(w, v, vdb, tl, notes, front=front, db=db,
                        down_s=args.cache_down, backlog=None,
                        caught_up_s=caught, before=before, after=after,
                        timeout_ms=bound_ms)


# The first tiers' defaults (docs/redis.md, docs/memcached.md): a call on a
# new connection may take connect_timeout (100 ms) + read_timeout (250 ms).
TIER_TIMEOUT_MS = 350


def tier_fpm_kill(stack, handler, args):
    """The database is shut down, the load fills the journal for
    --backlog-for s, then every php-fpm worker of the pool gets kill -9 (the
    master starts new ones) and the load stops. The database is started
    again with no request coming in: the journal left by the dead workers
    must reach it (drained by the new workers; if nothing drains without
    traffic, requests on a fresh session wake them, and that is reported)."""
    front, db, pool, roots, off, log_off = _tier_setup(stack, handler,
                                                       "tfkill", args)
    mark = {}

    def stop():
        return _stop_db(stack, handler, db, mark)

    def kill_all():
        mark["kill_off"] = load.ack_offset(stack, handler)
        pids = stack.worker_pids(handler)
        for pid in pids:
            try:
                stack.kill_worker(handler, pid)
            except (HarnessError, ProcessLookupError):
                pass
        mark["killed"] = len(pids)
        return f"{len(pids)} workers: {' '.join(map(str, pids))}"

    k, kk = args.kill_at, args.kill_at + args.backlog_for
    tl = load.Timeline([(k, f"stop {db}", stop),
                        (kk, "kill -9 every php-fpm worker", kill_all)])
    w = load.run_wrk(stack, handler, "cart.php", pool, kk + 1.0,
                     args.threads, args.connections, timeline=tl,
                     label=f"fault-tier-fpm-kill-{handler}")
    backlog = writes = None
    if "kill_off" in mark:
        backlog, writes = _distinct_acked(stack, handler, pool.prefix,
                                          mark["stop_off"], mark["kill_off"])
    # Writes acknowledged after the kill went to the new workers' journal
    # entries; the check below covers them too.
    time.sleep(0.5)
    t = time.monotonic()
    stack.restart_store(db)
    ready = time.monotonic()
    tl.events.append((ready - tl.t0, f"restart {db}",
                      f"pid {stack.stores[db].proc.pid}, accepting after "
                      f"{ready - t:.2f} s; no requests"))
    watch = DbWatch(stack, handler, pool, roots, off)
    quiet = watch.until_caught_up(ready, args.drain_timeout, 0.0)
    woke = None
    if not quiet:
        # Wake the workers: requests on another session.
        other = load.IdPool("wake", 1).ids[0]
        codes = [stack.get(f"/{handler}/ping.php",
                           headers={"Cookie": f"PHPSESSID={other}"})[0]
                 for _ in range(2 * stack.workers)]
        woke = time.monotonic() - ready
        tl.events.append((time.monotonic() - tl.t0,
                          f"{len(codes)} requests on another session",
                          "to wake the workers"))
        watch.until_caught_up(ready, woke + args.drain_timeout, 0.0)
    caught = watch.caught_up_at()
    acks = load.read_acks(stack, handler, off, pool.prefix)
    v = load.verify(stack, handler, pool.ids, acks, roots, "v")
    vdb, _, _ = _db_final(stack, handler, pool, roots, off, args)
    notes = [f"failed requests: {w['errors']} (at most {args.connections} "
             f"were in flight at the kill)",
             _backlog_note(backlog, writes, watch, caught).replace(
                 "at the restart", "at the kill")]
    if woke is not None:
        notes.append(f"the journal was not drained within "
                     f"{args.drain_timeout:g} s of the restart without requests; "
                     f"requests sent {woke:.2f} s after the restart")
    notes.append(upstream_note(stack, handler, log_off))
    return _tier_result(w, v, vdb, tl, notes, front=front, db=db,
                        down_s=None, backlog=backlog, backlog_writes=writes,
                        behind_at_restart=watch.first_behind(),
                        caught_up_s=caught, drained_without_requests=quiet,
                        killed=mark.get("killed", 0))


TIER_RUNNERS = {"tier-cache-kill": tier_cache_kill,
                "tier-db-stop": tier_db_stop,
                "tier-cache-stop": tier_cache_stop,
                "tier-fpm-kill": tier_fpm_kill}
