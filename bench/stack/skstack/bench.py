"""bench-stack: every workload for every handler on one nginx + php-fpm stack,
handlers interleaved and repeated; one table, the loss check after every run.
"""

import argparse
import datetime
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time

from . import catalog, contention, load, procs, report
from .procs import HarnessError
from .stack import Stack, new_run_dir

# bench/stack/skstack/bench.py -> the repository root.
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))


def default_build_dir():
    return os.environ.get("SK_BUILD_DIR") or os.path.join(REPO, "build")


def _csv(text, known, what):
    items = [x.strip() for x in text.split(",") if x.strip()]
    for x in items:
        if x not in known:
            raise SystemExit(f"bench-stack: unknown {what} '{x}' (known: "
                             f"{', '.join(known)})")
    return items


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bench-stack",
        description="Measure PHP session handlers behind nginx + php-fpm with "
                    "wrk, side by side, and check for lost sessions.",
        epilog="Sustained contention on one session (issue 23): "
               "bench-stack --contention (make bench-contention; 8/24/64 "
               "clients, 15 s each), --contention --quick for a smoke run.")
    p.add_argument("--build", default=default_build_dir(),
                   help="build directory holding php/sessionkit.so "
                        "(default: $SK_BUILD_DIR or <repo>/build)")
    p.add_argument("--quick", action="store_true",
                   help="smoke mode: 2 s per run, 1 repeat, no docs")
    p.add_argument("--group", choices=sorted(catalog.GROUPS),
                   help="a named selection of handlers and workloads, with "
                        "its own docs section and chart; " +
                        "; ".join(f"{g.name}: {g.about} ({','.join(g.handlers)}; "
                                  f"{','.join(g.workloads)})"
                                  for g in catalog.GROUPS.values()) +
                        " (--handlers and --workloads still override it)")
    p.add_argument("--handlers", help="comma-separated, default: " +
                   ",".join(catalog.DEFAULT_HANDLERS))
    p.add_argument("--workloads", help="comma-separated, default: " +
                   ",".join(catalog.DEFAULT_WORKLOADS))
    p.add_argument("--duration", type=int, help="seconds per wrk run "
                   "(default 8, quick 2)")
    p.add_argument("--repeats", type=int, help="repeats of every run "
                   "(default 2, quick 1)")
    p.add_argument("--workers", type=int,
                   help="php-fpm workers per pool (pm=static, default 8; "
                        f"{contention.DEFAULT_WORKERS} with --contention)")
    p.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    p.add_argument("--connections", type=int, default=16,
                   help="wrk connections (16)")
    p.add_argument("--burst", type=int, default=50,
                   help="parallel requests of ajax-burst (50)")
    p.add_argument("--handoffs", type=int,
                   help="lock hand-offs per handoff run (default 200, quick 30)")
    p.add_argument("--handoff-seconds", type=float, default=60.0,
                   help="a handoff run stops by itself after this long, "
                        "keeping the hand-offs it got (60)")
    p.add_argument("--contention", action="store_true",
                   help="instead of the workloads: sustained contention on one "
                        "session, N clients looping n = n + 1 (2 ms of work) "
                        "for --seconds per point; successful updates/s, lost "
                        "updates, warnings, p50/p99/max and per-client spread "
                        "per handler and client count, issue 23's targets "
                        "against files, a docs section and "
                        "docs/bench-stack-contention.svg (default handlers: " +
                        ",".join(contention.DEFAULT_HANDLERS) + ")")
    p.add_argument("--clients", default=",".join(
                       str(c) for c in contention.DEFAULT_CLIENTS),
                   help="--contention: comma-separated client counts, one "
                        "point each (default %(default)s)")
    p.add_argument("--seconds", type=float,
                   help="--contention: seconds per point (default 15, quick 3)")
    p.add_argument("--out-dir", help="where table.txt, table.md, results.json "
                   "and the chart go (default: the run directory)")
    p.add_argument("--docs", dest="docs", action="store_true", default=None,
                   help="write docs/benchmarks.md and docs/bench-stack.png "
                        "(default unless --quick)")
    p.add_argument("--no-docs", dest="docs", action="store_false")
    p.add_argument("--docs-dir", default=os.path.join(REPO, "docs"),
                   help="where benchmarks.md and bench-stack.png are written "
                        "(default: <repo>/docs)")
    p.add_argument("--skip-missing", action="store_true",
                   help="leave out handlers whose extension is not built "
                        "instead of failing")
    p.add_argument("--from-results", metavar="RESULTS_JSON",
                   help="measure nothing: print the table, chart and docs "
                        "section of an earlier run's results.json (or a "
                        "--contention run's contention.json) again")
    p.add_argument("--no-self-check", dest="self_check", action="store_false",
                   help="skip checking, per handler, that the loss check "
                        "detects sessions destroyed behind its back")
    a = p.parse_args(argv)
    group = catalog.GROUPS[a.group] if a.group else None
    defaults = catalog.DEFAULT_HANDLERS
    if a.contention:
        defaults = contention.DEFAULT_HANDLERS
    a.handlers = _csv(a.handlers, catalog.HANDLERS, "handler") if a.handlers \
        else list(group.handlers if group else defaults)
    a.workloads = _csv(a.workloads, catalog.WORKLOADS, "workload") if a.workloads \
        else list(group.workloads if group else catalog.DEFAULT_WORKLOADS)
    if a.duration is None:
        a.duration = 2 if a.quick else 8
    if a.repeats is None:
        a.repeats = 1 if a.quick else 2
    if a.handoffs is None:
        a.handoffs = 30 if a.quick else 200
    if a.docs is None:
        a.docs = not a.quick
    if a.workers is None:
        a.workers = contention.DEFAULT_WORKERS if a.contention else 8
    a.clients = contention.parse_clients(a.clients)
    if a.seconds is None:
        a.seconds = 3.0 if a.quick else 15.0
    if not 0 < a.seconds <= 300 or not 1 <= a.workers <= 256:
        raise SystemExit("bench-stack: --seconds must be in (0, 300], "
                         "--workers in [1, 256]")
    if a.duration <= 0 or a.duration > 120 or a.repeats < 1 or a.burst < 1:
        raise SystemExit("bench-stack: --duration must be in (0, 120], "
                         "--repeats and --burst at least 1")
    if not 1 <= a.handoffs <= 10000 or not 0 < a.handoff_seconds <= 600:
        raise SystemExit("bench-stack: --handoffs must be in [1, 10000], "
                         "--handoff-seconds in (0, 600]")
    return a


def run_one(stack, handler, wl, args, rep):
    label = f"{handler}-{wl.name}-{rep}"
    if wl.kind == "wrk":
        pool = load.IdPool(wl.name, wl.pool)
        pool_roots = load.seed(stack, handler, wl.seed, pool.ids)
        off = load.ack_offset(stack, handler)
        r = load.run_wrk(stack, handler, wl.page, pool, args.duration,
                         args.threads, args.connections, label=label)
        # Right at the end of the load: what the database behind still owes.
        r["journal_pending"], why = load.journal_pending(stack, handler)
        if why:
            r["journal_why"] = why
        acks = load.read_acks(stack, handler, off, pool.prefix)
        r["verify"] = load.verify(stack, handler, pool.ids, acks, pool_roots, "v")
        r["kind"] = "wrk"
        return r
    if wl.kind == "handoff":
        if not catalog.HANDLERS[handler].locks:
            # Nothing to hand off: the row says "n/a (no lock)".
            return {"kind": "handoff", "no_lock": True}
        return on_one_session(stack, handler, wl, lambda sid: load.handoff(
            stack, handler, sid, args.handoffs, args.handoff_seconds,
            label=f"handoff-{label}"))
    return on_one_session(stack, handler, wl, lambda sid: load.burst(
        stack, handler, sid, args.burst, page=wl.page))


def on_one_session(stack, handler, wl, measure):
    """Seeds one session with `wl`'s fixture, runs `measure(id)` on it, then
    the loss check and the final counter n: ajax-burst and handoff both
    increment n once per request or hold, so n tells whether an update was
    lost."""
    pool = load.IdPool(wl.name, 1)
    pool_roots = load.seed(stack, handler, wl.seed, pool.ids)
    off = load.ack_offset(stack, handler)
    r = measure(pool.ids[0])
    acks = load.read_acks(stack, handler, off, pool.prefix)
    r["verify"] = load.verify(stack, handler, pool.ids, acks, pool_roots, "n")
    row = load.dump(stack, handler, pool.ids)[pool.ids[0]]
    r["final_n"] = int(row.get("n") or 0) if "error" not in row else -1
    r["kind"] = wl.kind
    return r


def progress_line(i, total, handler, wl, r):
    head = f"[{i:2d}/{total}] {wl:<10} {handler:<16}"
    if r["kind"] == "wrk":
        journal = ""
        if r.get("journal_pending") is not None:
            journal = f"  journal pending {r['journal_pending']}"
        elif r.get("journal_why"):
            journal = f"  journal not counted ({r['journal_why']})"
        return (f"{head} {r['rps']:7.0f} req/s  CPU {r.get('cpu_us', 0):4.0f} us/req  "
                f"p50 {r['p50_us'] / 1000:6.1f} ms  "
                f"p99 {r['p99_us'] / 1000:6.1f} ms  errors {r['errors']}  "
                f"{load.loss_line(r['verify'])}{journal}")
    if r["kind"] == "handoff":
        if r.get("no_lock"):
            return f"{head} n/a (no lock)"
        stats = (f"hand-off median {r['p50_us'] / 1000:.2f} ms  p99 "
                 f"{r['p99_us'] / 1000:.2f} ms" if report.handoff_measured(r)
                 else "no hand-off measured")
        return (f"{head} {stats}  n {len(r['samples_us'])} of "
                f"{r['handoffs']} in {r['elapsed_s']:.1f} s  counter "
                f"{r['final_n']} of {r['holds']} holds  "
                f"{report.handoff_notes(r) or 'all handed off'}")
    why = ""
    if r["errors"]:
        why = (f" ({r['write_refused']} writes refused, {r['start_failed']} "
               "session_start failed)")
    return (f"{head} n = {r['final_n']} of {r['sent']} in {r['wall_s']:.2f} s  "
            f"p99 {r['p99_us'] / 1000:6.1f} ms  errors {r['errors']}{why}  "
            f"{load.loss_line(r['verify'])}")


def self_check(stack, handler):
    """The loss check must report nothing for intact sessions and exactly the
    sessions destroyed behind its back."""
    pool = load.IdPool("check", 20)
    pool_roots = load.seed(stack, handler, "cart", pool.ids)
    before = load.verify(stack, handler, pool.ids, {}, pool_roots, "v")
    gone = pool.ids[3:6]
    stack.post_json(f"/{handler}/destroy.php", {"ids": gone})
    after = load.verify(stack, handler, pool.ids, {}, pool_roots, "v")
    ok = before["lost"] == 0 and after["lost"] == 3 and after["vanished"] == 3
    return {"before": before["lost"], "after": after["lost"],
            "vanished": after["vanished"], "ok": ok}


def loadavg():
    """The 1-minute load average, or None."""
    try:
        with open("/proc/loadavg") as f:
            return float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def machine_info():
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass

    def ver(argv, pick=0):
        try:
            out = subprocess.run(argv, capture_output=True, text=True, timeout=5)
            text = (out.stdout + out.stderr).strip().splitlines()
            return text[pick] if text else ""
        except (OSError, subprocess.TimeoutExpired):
            return ""
    return {"cores": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
            "php": ver(["/usr/sbin/php-fpm8.2", "-v"]),
            "nginx": ver(["/usr/sbin/nginx", "-v"]),
            "redis": ver(["/usr/bin/redis-server", "--version"]),
            "memcached": ver(["/usr/bin/memcached", "-V"]),
            "wrk": ver(["/usr/bin/wrk", "-v"])}


def main(argv):
    args = parse_args(argv)
    if args.from_results:
        with open(args.from_results) as f:
            data = json.load(f)
        if "clients" in data:  # a --contention run's contention.json
            out_dir = os.path.abspath(args.out_dir or
                                      os.path.dirname(args.from_results))
            os.makedirs(out_dir, exist_ok=True)
            contention.contention_report.publish(
                data, out_dir, args.docs_dir if args.docs else None)
            return 0
        if "workloads" not in data:
            data["workloads"] = list(dict.fromkeys(r["workload"] for r in data["rows"]))
        out_dir = os.path.abspath(args.out_dir or os.path.dirname(args.from_results))
        os.makedirs(out_dir, exist_ok=True)
        publish(data, out_dir, args.docs_dir if args.docs else None)
        return 0
    started = time.monotonic()
    if args.contention:
        return contention.main(args, argv, started)
    procs.install_signal_handlers()
    load_start = loadavg()
    build = os.path.abspath(args.build)
    run_dir = new_run_dir(build, "quick" if args.quick else "bench")
    out_dir = os.path.abspath(args.out_dir) if args.out_dir else run_dir
    os.makedirs(out_dir, exist_ok=True)

    handlers = list(args.handlers)
    skipped = []
    if args.skip_missing:
        for h in list(handlers):
            for e in catalog.HANDLERS[h].extensions:
                path = e.format(build=build) if "/" in e else None
                if path and not os.path.exists(path):
                    handlers.remove(h)
                    skipped.append(f"{h} ({path} not built)")
                    break
        for s in skipped:
            print(f"bench-stack: leaving out {s}")
    if not handlers:
        raise SystemExit("bench-stack: no handler left to run")
    workloads = [catalog.WORKLOADS[w] for w in args.workloads]
    command = "bench/stack/bench-stack" + ("" if not argv else " " + shlex.join(argv))
    print(f"bench-stack: {len(handlers)} handlers x {len(workloads)} workloads x "
          f"{args.repeats} repeats, {args.duration:g} s per wrk run "
          f"(wrk -t{args.threads} -c{args.connections}), {args.workers} "
          f"php-fpm workers per pool; run dir {run_dir}")

    stack = Stack(build, run_dir, handlers, workers=args.workers)
    results = []
    checks = {}
    try:
        stack.start()
        total = args.repeats * len(workloads) * len(handlers)
        i = 0
        for rep in range(args.repeats):
            # Rotate the order every repeat so no handler always runs first.
            k = rep % len(handlers)
            order = handlers[k:] + handlers[:k]
            for wl in workloads:
                for h in order:
                    i += 1
                    r = run_one(stack, h, wl, args, rep)
                    r.update(handler=h, workload=wl.name, repeat=rep)
                    results.append(r)
                    print(progress_line(i, total, h, wl.name, r), flush=True)
        if args.self_check:
            for h in handlers:
                checks[h] = self_check(stack, h)
                c = checks[h]
                print(f"self-check {h}: loss check reports {c['before']} lost of "
                      f"20 intact, {c['after']} lost after destroying 3 -> "
                      f"{'ok' if c['ok'] else 'WRONG'}")
    finally:
        stack.stop()

    data = {"command": command,
            "date": datetime.datetime.now().astimezone().strftime(
                "%Y-%m-%d %H:%M %Z"),
            "elapsed_s": time.monotonic() - started,
            "args": dict(vars(args)), "group": args.group, "handlers": handlers,
            "workloads": [w.name for w in workloads], "skipped": skipped,
            "machine": dict(machine_info(), loadavg_start=load_start,
                            loadavg_end=loadavg()), "runs": results,
            "rows": report.summarize(results, handlers,
                                     [w.name for w in workloads]),
            "self_check": checks, "run_dir": run_dir}
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(data, f, indent=1, default=str)
    publish(data, out_dir, args.docs_dir if args.docs else None)
    print(f"bench-stack: results in {out_dir} (logs and configs in {run_dir}); "
          f"finished in {data['elapsed_s']:.0f} s")
    bad = [h for h, c in checks.items() if not c["ok"]]
    if bad:
        print(f"bench-stack: the loss check self-check FAILED for {', '.join(bad)}")
        return 1
    return 0


def publish(data, out_dir, docs_dir):
    """Prints the table and writes table.txt, table.md and the chart to
    `out_dir`, and the docs section and chart to `docs_dir` unless None."""
    rows, handlers = data["rows"], data["handlers"]
    table = tables(rows, report.text_table, report.handoff_text_table)
    print()
    print(table)
    print()
    width = max([16] + [len(h) for h in handlers])
    for r in rows:
        if r["kind"] == "wrk" and r["workload"] in ("cart", "big"):
            print(f"{r['handler']:<{width}} {r['workload']:<5} sessions lost: "
                  f"{r['lost']} of {r['sessions']}")
    tiers = report.tier_ratios(rows, data["runs"])
    if tiers:
        print()
        print("\n".join(report.tier_text(tiers)))
        with open(os.path.join(out_dir, "tiers.txt"), "w") as f:
            f.write("\n".join(report.tier_text(tiers)) + "\n")
    with open(os.path.join(out_dir, "table.txt"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(tables(rows, report.markdown_table,
                       report.handoff_markdown_table) + "\n")
    group = data.get("group")
    # A group's docs section and chart are its own: recording a group
    # leaves the full run's table and chart as they are.
    name = f"bench-stack-{group}" if group else "bench-stack"
    title = f"bench-stack {data['date']}, {data['machine']['cores']} cores"
    if group:
        title = f"bench-stack --group {group}, {data['date']}, " \
                f"{data['machine']['cores']} cores"
    png = os.path.join(out_dir, name + ".png")
    why = report.chart(rows, handlers, png, out_dir, title, tiers=tiers)
    if why:
        print(f"bench-stack: no chart: {why}")
    if docs_dir is None:
        return
    docs = os.path.abspath(docs_dir)
    os.makedirs(docs, exist_ok=True)
    if not why:
        shutil.copyfile(png, os.path.join(docs, name + ".png"))
    report.write_docs_section(os.path.join(docs, "benchmarks.md"),
                              docs_section(data, chart=None if why else name + ".png"),
                              name=name)
    print(f"bench-stack: wrote {docs}/benchmarks.md ({name} section)"
          f"{f' and {name}.png' if not why else ''}")


def tables(rows, loads, handoffs):
    """The main table (wrk loads, ajax-burst) and the lock hand-off table,
    each only when the run measured it."""
    parts = []
    if report.load_rows(rows):
        parts.append(loads(rows))
    if report.handoff_rows(rows):
        parts.append("lock hand-off: release to the next acquire\n\n" +
                     handoffs(rows))
    return "\n\n".join(parts)


def docs_section(data, chart):
    rows, handlers, info = data["rows"], data["handlers"], data["machine"]
    args = argparse.Namespace(**data["args"])
    command, when, elapsed = data["command"], data["date"], data["elapsed_s"]
    workloads = [catalog.WORKLOADS[w] for w in data["workloads"]]
    labels = "\n".join(f"- `{h}`: {catalog.HANDLERS[h].label}; " +
                       ", ".join(f"`{k}={v}`" for k, v in catalog.HANDLERS[h].ini.items())
                       for h in handlers)
    wl = "\n".join(f"- `{w.name}`: {w.about}." for w in workloads)
    group = data.get("group")
    heading = "## Web stack: nginx + php-fpm + wrk (`make bench-stack`)"
    if group:
        heading = (f"## Web stack, {group}: nginx + php-fpm + wrk "
                   f"(`bench-stack --group {group}`)")
    lines = [
        heading,
        "",
        (f"Measured {when} with `make bench-stack` (`{command}`), "
         if command == "bench/stack/bench-stack" else
         f"Measured {when} with `{command}`, ") +
        f"in {elapsed / 60:.1f} minutes.",
        "",
        f"Machine: {info['cores']} cores ({info['cpu']}), Linux {info['kernel']}; "
        f"{info['php'].split(' (')[0]}, {info['nginx'].replace('nginx version: ', '')}, "
        f"{info['redis'].split(' sha=')[0]}, {info['memcached']}, wrk." +
        (f" Load average (1 min) when the run started (before the stack) "
         f"and when it ended: {info['loadavg_start']:.2f}, "
         f"{info['loadavg_end']:.2f}."
         if info.get("loadavg_start") is not None and
         info.get("loadavg_end") is not None else ""),
        "",
        f"Stack: nginx (1 worker) in front of one php-fpm pool per handler "
        f"(pm=static, {args.workers} workers, opcache on, unix socket), all on "
        f"127.0.0.1. wrk -t{args.threads} -c{args.connections}, "
        f"{args.duration:g} s per run, {args.repeats} repeats with the handlers "
        "interleaved (the order rotates every repeat); req/s is the mean with "
        "the range of the repeats in brackets, p50/p99 are means of wrk's "
        "percentiles." + (
            f" ajax-burst sends {args.burst} requests at once on one session; "
            "`ajax-burst n` is the final counter of each repeat (n of "
            f"{args.burst} means no lost update)."
            if "ajax-burst" in data["workloads"] else ""),
        "",
    ]
    if report.load_rows(rows):
        lines += [markdown_table_note(), "", report.markdown_table(rows), ""]
    tiers = report.tier_ratios(rows, data["runs"])
    if tiers:
        lines += report.tier_markdown(tiers) + [""]
    if chart:
        lines += ["![bench-stack: requests/s, p99 and ajax-burst per handler"
                  + (", tier ratios" if tiers else "") + f"]({chart})", ""]
    unlocked = [f"`{h}`" for h in handlers if not catalog.HANDLERS[h].locks]
    if "ajax-burst" in data["workloads"]:
        lines += [
            "ajax-burst for the locking handlers: the missing increments are "
            "requests that failed, not silent losses (`errors`). phpredis with "
            "locking tries the lock 10 times 2 ms apart, then carries on "
            "without it and refuses the write, which the page turns into a "
            "503; an application that ignores that warning answers 200 and "
            "loses the update silently. php-memcached fails session_start() "
            "after 5 x 150 ms." +
            (f" Handlers without a lock ({', '.join(unlocked)}) lose updates "
             "whenever two requests of one session overlap: now and then in "
             "cart and big (two connections on the same id), nearly all of "
             "them in ajax-burst." if unlocked else ""), ""]
    if report.handoff_rows(rows):
        lines += handoff_section(rows, args) + [""]
    lines += [
        "Handlers (`{run}` is the run directory):", "", labels, "",
        "Workloads:", "", wl, "",
        "How the harness works, the loss check, and `make fault-stack`: "
        "[stack.md](stack.md)."]
    return "\n".join(lines)


# How each save handler waits for a held lock, for the hand-off section; the
# numbers come from the lock settings the handler loaded in the run.
HOW_IT_WAITS = {
    "files": "sleeps in flock(); the kernel wakes it at the release",
    "redis": "polls: sleeps `redis.session.lock_wait_time` us between tries, "
             "gives up after `redis.session.lock_retries` tries and carries on "
             "without the lock (its write is then refused)",
    "memcached": "polls: sleeps between `memcached.sess_lock_wait_min` and "
                 "`memcached.sess_lock_wait_max` ms between tries, then fails "
                 "session_start() after `memcached.sess_lock_retries` tries",
    "sessionkit": "waits at most `sessionkit.lock_wait_ms` for the release "
                  "(then `sessionkit.lock_timeout_action`)",
}
# PdoSessionHandler runs under save_handler=files (the app installs it), so
# its entries go by its lock mode instead.
HOW_PDO_WAITS = {
    "transactional": "blocks in `SELECT ... FOR UPDATE` on the session's row; "
                     "the server wakes it at the holder's commit (after "
                     "`innodb_lock_wait_timeout` it fails)",
    "advisory": "blocks in `pg_advisory_lock()`; the server wakes it at the "
                "holder's `pg_advisory_unlock()`, with no time limit",
}


def how_it_waits(handler):
    """How `handler` waits for a held lock, for the hand-off section."""
    ini = catalog.HANDLERS[handler].ini
    pdo_lock = ini.get("sk_stack.pdo_lock")
    if pdo_lock is not None:
        return HOW_PDO_WAITS.get(pdo_lock, "")
    return HOW_IT_WAITS.get(ini["session.save_handler"], "")

HANDOFF_TARGET = ("sessionkit-redis", 2000)  # handler, median in us


def handoff_section(rows, args):
    """The docs' lock hand-off part: what is measured, the table, the target
    and how each handler waits, with its lock settings as loaded."""
    by = {r["handler"]: r for r in report.handoff_rows(rows)}
    lines = [
        "### Lock hand-off",
        "",
        "Two PHP CLI processes, each with a handler's pool ini and the same "
        "stores, pass one session's lock back and forth: the holder keeps it "
        "5 ms, so the other is surely waiting inside session_start(); the "
        "hand-off is the time from just before the holder's "
        "session_write_close() to the waiter's session_start() returning (the "
        "holder's write and release, plus the time the waiter takes to "
        f"notice). {args.handoffs} hand-offs per run (at most "
        f"{args.handoff_seconds:g} s), the repeats pooled. `counter`: the "
        "session's final n of the holds that incremented it (equal: no lost "
        "update). A handler that does not lock has nothing to hand off.",
        "",
        report.handoff_markdown_table(rows),
        "",
    ]
    name, limit = HANDOFF_TARGET
    r = by.get(name)
    if r is not None:
        if not report.handoff_measured(r):
            verdict = "no hand-off measured (see its notes)"
        else:
            verdict = ("met" if r["p50_us"] < limit else "not met") + \
                f" ({r['p50_us'] / 1000:.2f} ms)"
        lines += [f"Target: `{name}` median under {limit / 1000:g} ms: "
                  f"{verdict}.", ""]
    lines += ["How a waiter waits (settings as loaded in this run):", ""]
    for h, r in by.items():
        if r["no_lock"]:
            continue
        how = how_it_waits(h)
        ini = ", ".join(f"`{k}={v}`" for k, v in r["lock_ini"].items())
        lines.append(f"- `{h}`: {how}" + (f"; {ini}" if ini else "") + ".")
    return lines


def markdown_table_note():
    return ("`errors`: non-2xx answers plus socket errors. `sessions lost`: "
            "sessions that, read back through PHP after the run, are gone, "
            "unreadable, were reset (created again after a loss), or hold an "
            "older version than one a response acknowledged. "
            "`updates lost`: acknowledged increments missing from the stored "
            "counter (two requests on the same session that overwrote each "
            "other count here even when the session is not lost).")


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except HarnessError as e:
        print(f"bench-stack: {e}", file=sys.stderr)
        sys.exit(2)
