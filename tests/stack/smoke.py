#!/usr/bin/env python3
"""Smoke test of the web-stack harness, run by ctest (tests/stack).

--mode bench: bench-stack --quick for files, sessionkit-lmdb, phpredis and
  sessionkit-redis; checks that the table was produced, every load's
  requests succeeded, the loss check read back every session and detects
  destroyed sessions, ajax-burst really ran its requests in parallel on one
  session and lost no update on the handlers that lock, and the lock
  hand-off measured every handler that locks (and no other).
--mode fault: fault-stack, store-kill on phpredis (a store without
  persistence restarted under load must show every session lost) and
  worker-kill on sessionkit-lmdb (the worker inside the victim's request is
  killed and the victim session is used again afterwards).

--mode tiers: fault-stack's four tier scenarios, short, on the Redis |
  MariaDB-behind handler (SQL servers with SK_SQL_DURABLE=0, the tests'
  settings, unless set): the first tier killed and restarted empty, the
  database stopped and restarted, the first tier SIGSTOPped, every php-fpm
  worker killed with the journal full; checks that no session and no
  acknowledged update is lost (through the tiers and in the database
  alone), that a backlog built up and drained within 10 s of the restart,
  and that no request failed but those in flight at a kill.

--mode contention: bench-stack --contention --quick, a few clients on one
  session, on files and sessionkit-lmdb: every client got updates, the
  session's n equals the acknowledged updates, nothing was refused or warned
  (both wait for the lock as long as a request may run), and the table and
  the SVG were written.

Output goes to <build>/stack-smoke/<mode>; docs/ is never written.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
STACK = os.path.join(REPO, "bench", "stack")

sys.dont_write_bytecode = True  # keep the source tree clean
sys.path.insert(0, STACK)
from skstack import catalog  # noqa: E402

failures = []


def check(cond, what):
    print(f"{'ok  ' if cond else 'FAIL'} {what}")
    if not cond:
        failures.append(what)


def digest(path):
    if not os.path.exists(path):
        return None
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fault_results(out_dir):
    """The results fault-stack wrote to `out_dir`, or None (checked)."""
    path = os.path.join(out_dir, "fault-results.json")
    check(os.path.exists(path), "fault-results.json written")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)["results"]


def run(argv, timeout, env=None):
    print("$ " + " ".join(argv), flush=True)
    t = time.monotonic()
    out = subprocess.run(argv, capture_output=True, text=True, timeout=timeout,
                         env=env)
    print(out.stdout[-6000:])
    if out.stderr.strip():
        print(out.stderr[-3000:])
    print(f"({time.monotonic() - t:.0f} s, exit {out.returncode})")
    return out


def bench_mode(build, out_dir):
    handlers = ["files", "sessionkit-lmdb", "redis", "sessionkit-redis"]
    # A hand-off run stops by itself after --handoff-seconds; 30 hand-offs
    # take well under a second on a handler that wakes its waiter.
    out = run([os.path.join(STACK, "bench-stack"), "--quick", "--build", build,
               "--handlers", ",".join(handlers), "--handoff-seconds", "15",
               "--out-dir", out_dir], 240)
    check(out.returncode == 0, "bench-stack --quick exits 0")
    res_path = os.path.join(out_dir, "results.json")
    check(os.path.exists(res_path), "results.json written")
    if not os.path.exists(res_path):
        return
    with open(res_path) as f:
        res = json.load(f)
    with open(os.path.join(out_dir, "table.txt")) as f:
        table = f.read()
    check(not res["args"]["docs"], "quick mode does not write docs")
    for h in handlers:
        check(any(line.startswith(h + " ") for line in table.splitlines()),
              f"table has rows for {h}")
    check("sessions lost:" in out.stdout, "the loss check printed 'sessions lost:'")
    runs = res["runs"]
    for h in handlers:
        for wl in ("cart", "read", "big"):
            rs = [r for r in runs if r["handler"] == h and r["workload"] == wl]
            check(len(rs) == 1, f"{h} {wl}: one run")
            for r in rs:
                check(r["requests"] > 100, f"{h} {wl}: wrk sent requests ({r['requests']})")
                check(r["errors"] == 0, f"{h} {wl}: no failed request ({r['errors']})")
                # nginx, php-fpm and the store each take some: tens of us
                # at least, far less than a second.
                check(20 < r.get("cpu_us", 0) < 1e6,
                      f"{h} {wl}: the stack's CPU per request measured "
                      f"({r.get('cpu_us')} us)")
                v = r["verify"]
                check(v["sessions"] == (100 if wl == "big" else 1000),
                      f"{h} {wl}: loss check read back the whole pool ({v['sessions']})")
                check(v["unreadable"] == 0, f"{h} {wl}: every session readable")
                if wl != "read":
                    # Every successful request acknowledged its write.
                    check(abs(v["acked"] - r["requests"]) <= 64,
                          f"{h} {wl}: acknowledged writes ~ requests "
                          f"({v['acked']} vs {r['requests']})")
        bs = [r for r in runs if r["handler"] == h and r["workload"] == "ajax-burst"]
        check(len(bs) == 1, f"{h} ajax-burst: one run")
        for b in bs:
            check(b["sent"] == 50, f"{h} ajax-burst: 50 requests sent")
            check(1 <= b["final_n"] <= b["ok"],
                  f"{h} ajax-burst: final n in 1..acknowledged ({b['final_n']})")
            check(b["verify"]["acked"] == b["ok"],
                  f"{h} ajax-burst: every 2xx answer acknowledged its write")
    # A handler that locks serialises the burst: the counter must count all
    # 50 and no request may fail (files with flock; sessionkit waits up to
    # sessionkit.lock_wait_ms, far longer than 50 x 2 ms). If the burst were
    # not parallel or the read-back were wrong, files fails this too.
    for h in ("files", "sessionkit-lmdb", "sessionkit-redis"):
        b = [r for r in runs if r["handler"] == h and r["workload"] == "ajax-burst"]
        check(b and b[0]["final_n"] == 50 and b[0]["errors"] == 0,
              f"{h} ajax-burst: n = 50 of 50, no failed request (the lock "
              f"serialises the burst) ({b[0]['final_n'] if b else '-'} of 50, "
              f"{b[0]['errors'] if b else '-'} failed)")
    handoff_checks(runs, handlers, table)
    for h in handlers:
        c = res["self_check"].get(h, {})
        check(c.get("ok") is True,
              f"{h}: loss check finds 0 lost of intact sessions and exactly the "
              f"3 destroyed ones ({c})")
    check(os.path.exists(os.path.join(out_dir, "bench-stack.png")), "chart drawn")


def handoff_checks(runs, handlers, table):
    """Every handler that locks (catalog.Handler.locks) handed its lock off
    and lost no update; the others are "n/a (no lock)"."""
    for h in handlers:
        rs = [r for r in runs if r["handler"] == h and r["workload"] == "handoff"]
        check(len(rs) == 1, f"{h} handoff: one run")
        if not rs:
            continue
        r = rs[0]
        if not catalog.HANDLERS[h].locks:
            check(r.get("no_lock") is True and any(
                line.startswith(h + " ") and "n/a (no lock)" in line
                for line in table.splitlines()),
                  f"{h} handoff: not run, 'n/a (no lock)' in the table")
            continue
        samples = r.get("samples_us", [])
        check(len(samples) >= 10 and r["p50_us"] > 0,
              f"{h} handoff: a median from the hand-offs "
              f"({len(samples)} of {r.get('handoffs')} measured, median "
              f"{r.get('p50_us', 0) / 1000:.2f} ms, {r.get('no_wait')} did "
              f"not wait, {r.get('late')} late)")
        check(r.get("no_wait") == 0 and not r.get("start_failed") and
              not r.get("write_failed"),
              f"{h} handoff: every waiter waited for the release and every "
              f"hold started and wrote ({r.get('no_wait')} did not wait, "
              f"{r.get('start_failed')} session_start failed, "
              f"{r.get('write_failed')} writes refused)")
        check(r.get("final_n") == r.get("holds") and r["holds"] > 1,
              f"{h} handoff: counter n = holds, no lost update "
              f"({r.get('final_n')} of {r.get('holds')})")


def fault_mode(build, out_dir):
    out = run([os.path.join(STACK, "fault-stack"), "--build", build,
               "--handlers", "redis,sessionkit-lmdb",
               "--scenarios", "store-kill,worker-kill", "--duration", "4",
               "--kill-at", "1.5", "--pool", "300", "--victim-wait", "10",
               "--out-dir", out_dir], 240)
    check(out.returncode == 0, "fault-stack exits 0")
    res = fault_results(out_dir)
    if res is None:
        return
    sk = [r for r in res if r["scenario"] == "store-kill"]
    check(len(sk) == 1 and sk[0]["handler"] == "redis",
          "store-kill ran once, for phpredis (sessionkit-lmdb has no server)")
    for r in sk:
        ev = " | ".join(r["events"])
        check("kill -9 redis: pid" in ev and "restart redis: pid" in ev,
              f"redis killed and restarted ({ev})")
        v = r["verify"]
        # redis runs without persistence: after the restart no seeded session
        # exists any more; each is gone or was created again.
        check(v["lost"] == v["sessions"] == 300,
              f"every session reported lost after the restart ({v['lost']} of {v['sessions']})")
        check(r["wrk"]["errors"] > 0, "requests failed while redis was down")
        check(any("working again" in n for n in r["notes"]),
              f"the stack served again after the restart ({r['notes']})")
    wk = [r for r in res if r["scenario"] == "worker-kill"]
    check(len(wk) == 2, "worker-kill ran for both handlers")
    for r in wk:
        ev = " | ".join(r["events"])
        check("worker pid" in ev, f"{r['handler']}: the victim's worker was killed ({ev})")
        notes = " | ".join(r["notes"])
        check("killed request answered 502" in notes,
              f"{r['handler']}: the killed request failed with 502 ({notes})")
        check("victim session" in notes, f"{r['handler']}: the victim session was used again")
        check(r["verify"]["sessions"] == 301, f"{r['handler']}: pool and victim verified")
        check(r["wrk"]["requests"] > 100, f"{r['handler']}: load ran")


TIER_HANDLER = "sessionkit-redis-mysql"
TIER_POOL = 300
TIER_CONNECTIONS = 16


def tiers_mode(build, out_dir):
    env = dict(os.environ)
    env.setdefault("SK_SQL_DURABLE", "0")
    scenarios = ("tier-cache-kill", "tier-db-stop", "tier-cache-stop",
                 "tier-fpm-kill")
    out = run([os.path.join(STACK, "fault-stack"), "--build", build,
               "--handlers", TIER_HANDLER, "--scenarios", ",".join(scenarios),
               "--kill-at", "1.5", "--cache-down", "2", "--db-down", "4",
               "--backlog-for", "2", "--tail", "3", "--drain-timeout", "20",
               "--pool", str(TIER_POOL), "--connections", str(TIER_CONNECTIONS),
               "--out-dir", out_dir], 240, env=env)
    check(out.returncode == 0, "fault-stack exits 0")
    check("sessions lost:" in out.stdout, "it printed 'sessions lost:'")
    res = fault_results(out_dir)
    if res is None:
        return
    by = {}
    for r in res:
        by.setdefault(r["scenario"], []).append(r)
    for sc in scenarios:
        check(len(by.get(sc, [])) == 1 and by[sc][0]["handler"] == TIER_HANDLER,
              f"{sc} ran once, on {TIER_HANDLER}")
    for r in res:
        sc, w, v, t = r["scenario"], r["wrk"], r["verify"], r["tier"]
        vdb = t["db_verify"]
        ev = " | ".join(r["events"])
        # (tier-cache-stop's wrk is the stop alone, whose requests are slow.)
        check(w["requests"] > 0 and v["acked"] > 100,
              f"{sc}: the load ran and acknowledged writes "
              f"({w['requests']} requests, {v['acked']} acknowledged)")
        check(v["sessions"] == TIER_POOL and v["lost"] == 0
              and v["updates_lost"] == 0,
              f"{sc}: through the tiers, sessions lost: {v['lost']} of "
              f"{v['sessions']}, updates lost: {v['updates_lost']}")
        check(vdb["sessions"] == TIER_POOL and vdb["lost"] == 0
              and vdb["updates_lost"] == 0 and vdb["unreadable"] == 0,
              f"{sc}: the database alone holds every session at its newest "
              f"version (lost {vdb['lost']}, unreadable {vdb['unreadable']}, "
              f"updates lost {vdb['updates_lost']})")
        check(t.get("caught_up_s") is not None,
              f"{sc}: the database caught up ({t.get('caught_up_s')})")
        check("FAILED" not in ev, f"{sc}: every fault action ran ({ev})")
        if sc == "tier-cache-kill":
            check("kill -9 redis: redis pid" in ev and "restart redis: empty" in ev,
                  f"{sc}: redis killed and restarted ({ev})")
            check(w["errors"] <= TIER_CONNECTIONS,
                  f"{sc}: failed requests only those in flight at the kill "
                  f"({w['errors']} <= {TIER_CONNECTIONS})")
        if sc in ("tier-db-stop", "tier-fpm-kill"):
            check(t.get("backlog") and t.get("behind_at_restart"),
                  f"{sc}: a backlog built up and the database was behind at "
                  f"the restart ({t.get('backlog')} sessions written while it "
                  f"was down, {t.get('behind_at_restart')} behind)")
            check(t.get("caught_up_s") is not None and t["caught_up_s"] <= 10,
                  f"{sc}: the backlog drained within 10 s of the restart "
                  f"({t.get('caught_up_s')})")
        if sc == "tier-db-stop":
            check("stop mariadb" in ev and "restart mariadb" in ev,
                  f"{sc}: mariadb stopped and restarted ({ev})")
            check(w["errors"] == 0, f"{sc}: no failed request ({w['errors']})")
        if sc == "tier-cache-stop":
            check("SIGSTOP redis" in ev and "SIGCONT redis" in ev,
                  f"{sc}: redis stopped and continued ({ev})")
            a = t["after"]
            # A request in flight at the SIGSTOP that holds the session's
            # lock on Redis cannot save (docs/tiers.md, the lock tier): it
            # fails and says so. Every later request succeeds.
            check(w["requests"] > 0 and w["errors"] <= TIER_CONNECTIONS
                  and a["errors"] == 0,
                  f"{sc}: requests kept succeeding during the stop, but those "
                  f"in flight at it, and after ({w['requests']} during, "
                  f"{w['errors']} <= {TIER_CONNECTIONS} + {a['errors']} "
                  "failed)")
        if sc == "tier-fpm-kill":
            check(t.get("killed", 0) >= 1 and "kill -9 every php-fpm worker" in ev,
                  f"{sc}: the workers were killed ({t.get('killed')})")
            check(w["errors"] <= TIER_CONNECTIONS,
                  f"{sc}: failed requests only those in flight at the kill "
                  f"({w['errors']} <= {TIER_CONNECTIONS})")


def contention_mode(build, out_dir):
    handlers = ["files", "sessionkit-lmdb"]
    out = run([os.path.join(STACK, "bench-stack"), "--contention", "--quick",
               "--build", build, "--handlers", ",".join(handlers),
               "--clients", "4,12", "--seconds", "2", "--out-dir", out_dir], 240)
    check(out.returncode == 0, "bench-stack --contention --quick exits 0")
    path = os.path.join(out_dir, "contention.json")
    check(os.path.exists(path), "contention.json written")
    if not os.path.exists(path):
        return
    with open(path) as f:
        res = json.load(f)
    check(os.path.exists(os.path.join(out_dir, "bench-stack-contention.svg")),
          "chart written")
    check("issue 23 targets against files" in out.stdout, "targets printed")
    for h in handlers:
        for c in (4, 12):
            rs = [r for r in res["runs"] if r["handler"] == h and r["clients"] == c]
            check(len(rs) == 1, f"{h} {c} clients: one run")
            for r in rs:
                what = f"{h} {c} clients"
                check(len(r["per_client"]) == c and min(r["per_client"]) > 0,
                      f"{what}: every client got updates ({r['per_client']})")
                check(r["final_n"] == r["ok"] and r["lost"] == 0,
                      f"{what}: n {r['final_n']} = {r['ok']} acknowledged, "
                      f"lost {r['lost']}")
                check(r["refused"] == 0 and r["failed"] == 0 and r["warnings"] == 0,
                      f"{what}: nothing refused, failed or warned "
                      f"({r['refused']}, {r['failed']}, {r['warnings']})")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", required=True)
    p.add_argument("--mode", choices=("bench", "fault", "tiers", "contention"),
                   required=True)
    a = p.parse_args()
    build = os.path.abspath(a.build)
    so = os.path.join(build, "php", "sessionkit.so")
    if not os.path.exists(so):
        print(f"FAIL {so} is not built")
        return 1
    out_dir = os.path.join(build, "stack-smoke", a.mode)
    shutil.rmtree(out_dir, ignore_errors=True)
    os.makedirs(out_dir)
    docs = [os.path.join(REPO, "docs", n) for n in
            ("benchmarks.md", "bench-stack.png", "bench-stack-contention.svg")]
    before = [digest(d) for d in docs]
    if a.mode == "bench":
        bench_mode(build, out_dir)
    elif a.mode == "tiers":
        tiers_mode(build, out_dir)
    elif a.mode == "contention":
        contention_mode(build, out_dir)
    else:
        fault_mode(build, out_dir)
    check([digest(d) for d in docs] == before, "docs/ left untouched")
    print(f"{len(failures)} check(s) failed" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
