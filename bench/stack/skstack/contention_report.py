"""bench-stack --contention: its tables (text and Markdown), issue 23's
targets against files, the SVG chart (written here, no plotting library) and
its section of docs/benchmarks.md."""

import math
import os
import re
import statistics
from xml.sax.saxutils import escape

from . import catalog, report

NAME = "bench-stack-contention"
# Issue 23's targets for these handlers, each against files in the same run.
TARGET_HANDLERS = ("sessionkit-lmdb", "sessionkit-redis")
BASELINE = "files"
P99_FACTOR = 1.5
SPREAD_PCT = 5.0


def spread_pct(r):
    """How far the furthest client's count is from the clients' mean, in %
    of the mean (0: every client got as many updates as the others)."""
    pc = r["per_client"]
    mean = statistics.mean(pc) if pc else 0
    if not mean:
        return 100.0
    return 100.0 * max(max(pc) - mean, mean - min(pc)) / mean


def _ms(us):
    return f"{us / 1000.0:.1f}" if us < 100000 else f"{us / 1000.0:.0f}"


HEADER = ("handler", "updates/s", "lost", "warnings", "p50 ms", "p99 ms",
          "max ms", "per client", "spread %")


def _lost(r):
    """Lost updates, with the silent ones and other failures named."""
    text = str(r["lost"])
    extra = []
    if r["lost_silent"]:
        extra.append(f"{r['lost_silent']} silent")
    if r["failed"]:
        extra.append(f"+{r['failed']} failed")
    return text + (f" ({', '.join(extra)})" if extra else "")


def _cells(r):
    pc = r["per_client"]
    return (r["handler"], f"{r['updates_per_s']:.0f}", _lost(r),
            str(r["warnings"]), _ms(r["p50_us"]),
            _ms(r["p99_us"]), _ms(r["max_us"]), f"{min(pc)}..{max(pc)}",
            f"{spread_pct(r):.1f}")


def by_clients(data):
    """client count -> its runs, in the order of data['handlers']."""
    out = {}
    for c in data["clients"]:
        runs = {r["handler"]: r for r in data["runs"] if r["clients"] == c}
        out[c] = [runs[h] for h in data["handlers"] if h in runs]
    return out


def text_tables(data):
    parts = []
    for c, runs in by_clients(data).items():
        if runs:
            parts.append(f"{c} clients, {data['seconds']:g} s, one session:\n\n" +
                         report._text(HEADER, [_cells(r) for r in runs], left=(0,)))
    return "\n\n".join(parts)


def markdown_tables(data):
    parts = []
    for c, runs in by_clients(data).items():
        if runs:
            parts.append(f"**{c} clients**\n\n" +
                         report._markdown(HEADER, [_cells(r) for r in runs],
                                          left=(0,)))
    return "\n\n".join(parts)


def targets(data):
    """Issue 23's targets per target handler and client count, against files
    in the same run: a list of {handler, clients, checks: [(what, value
    text, target text, met)], met}."""
    out = []
    for c, runs in by_clients(data).items():
        by = {r["handler"]: r for r in runs}
        base = by.get(BASELINE)
        if base is None:
            continue
        for h in TARGET_HANDLERS:
            r = by.get(h)
            if r is None:
                continue
            rate = (r["updates_per_s"] / base["updates_per_s"]
                    if base["updates_per_s"] else float("inf"))
            p99 = r["p99_us"] / base["p99_us"] if base["p99_us"] else float("inf")
            checks = [
                ("lost", _lost(r), "0", r["lost"] + r["failed"] == 0),
                ("warnings", str(r["warnings"]), "0", r["warnings"] == 0),
                ("updates/s", f"{r['updates_per_s']:.0f} = {rate:.2f}x files "
                 f"({base['updates_per_s']:.0f})", ">= 1x", rate >= 1.0),
                ("p99", f"{r['p99_us'] / 1000:.1f} ms = {p99:.2f}x files "
                 f"({base['p99_us'] / 1000:.1f} ms)", f"<= {P99_FACTOR:g}x",
                 p99 <= P99_FACTOR),
                ("per-client spread", f"{spread_pct(r):.1f}%",
                 f"<= {SPREAD_PCT:g}% of the mean",
                 round(spread_pct(r), 1) <= SPREAD_PCT),
            ]
            out.append({"handler": h, "clients": c, "checks": checks,
                        "met": all(ch[3] for ch in checks)})
    return out


def target_text(tgts):
    lines = [f"issue 23 targets against {BASELINE} in the same run (0 lost, 0 "
             f"warnings, updates/s >= {BASELINE}, p99 <= {P99_FACTOR:g}x "
             f"{BASELINE}, per-client spread <= {SPREAD_PCT:g}%):"]
    for t in tgts:
        parts = [f"{what} {value}" + ("" if met else f" MISSED (target {want})")
                 for what, value, want, met in t["checks"]]
        lines.append(f"  {t['handler']} at {t['clients']} clients: "
                     f"{'met' if t['met'] else 'MISSED'}; " + "; ".join(parts))
    return lines


def target_markdown(tgts):
    lines = [f"Issue 23's targets for sessionkit on LMDB and Redis, against "
             f"`{BASELINE}` in the same run: 0 lost, 0 warnings, updates/s at "
             f"least `{BASELINE}`'s, p99 at most {P99_FACTOR:g}x `{BASELINE}`'s, "
             f"every client within {SPREAD_PCT:g}% of the clients' mean:", ""]
    for t in tgts:
        parts = [f"{what} {value}" + ("" if met else f" — MISSED (target {want})")
                 for what, value, want, met in t["checks"]]
        head = (f"`{t['handler']}`, {t['clients']} clients: " +
                ("met" if t["met"] else "**MISSED**"))
        lines.append(f"- {head}; " + "; ".join(parts) + ".")
    return lines


# --- the chart ---------------------------------------------------------------

COLORS = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2")


def _nice_max(v):
    """A round axis maximum at or above `v`."""
    if v <= 0:
        return 1.0
    step = 10 ** (len(str(int(v))) - 1)
    for m in (1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if m * step >= v:
            return m * step
    return 10 * step


def _scale(values, log):
    """(ticks, fraction(v)): the axis ticks and where a value sits, 0 at the
    bottom and 1 at the top; linear from 0, or log10 over whole decades."""
    vals = [v for v in values if v is not None and v > 0] or [1.0]
    if not log:
        top = _nice_max(max(vals))
        return [top * i / 5 for i in range(6)], lambda v: min(v, top) / top
    lo = math.floor(math.log10(min(vals)))
    hi = max(lo + 1, math.ceil(math.log10(max(vals))))
    ticks = [m * 10 ** e for e in range(lo, hi) for m in (1, 2, 5)] + [10 ** hi]

    def frac(v):
        return max(0.0, math.log10(max(v, 10 ** lo)) - lo) / (hi - lo)
    return ticks, frac


def _panel(out, x0, y0, w, h, title, unit, handlers, clients, value, log=False):
    """One grouped bar chart: a group per handler, a bar per client count."""
    vals = {(hd, c): value(hd, c) for hd in handlers for c in clients}
    ticks, frac = _scale(vals.values(), log)
    out.append(f'<text x="{x0 + w / 2:.0f}" y="{y0 - 12}" text-anchor="middle" '
               f'font-size="14" font-weight="bold">{escape(title)}</text>')
    for v in ticks:
        y = y0 + h - h * (frac(v) if v else 0)
        out.append(f'<line x1="{x0}" y1="{y:.1f}" x2="{x0 + w}" y2="{y:.1f}" '
                   f'stroke="#ddd"/>')
        label = (f"{v / 1000:g}k" if v >= 10000 else
                 f"{v:.0f}" if v >= 10 or v == int(v) else f"{v:g}")
        out.append(f'<text x="{x0 - 6}" y="{y + 4:.1f}" text-anchor="end" '
                   f'font-size="11">{label}</text>')
    out.append(f'<text x="{x0 - 44}" y="{y0 + h / 2:.0f}" font-size="11" '
               f'text-anchor="middle" transform="rotate(-90 {x0 - 44} '
               f'{y0 + h / 2:.0f})">{escape(unit)}</text>')
    gw = w / max(1, len(handlers))
    bw = gw * 0.8 / max(1, len(clients))
    for gi, hd in enumerate(handlers):
        gx = x0 + gi * gw + gw * 0.1
        for ci, c in enumerate(clients):
            v = vals[(hd, c)]
            if v is None:
                continue
            bh = h * frac(v)
            x = gx + ci * bw
            out.append(f'<rect x="{x:.1f}" y="{y0 + h - bh:.1f}" width="{bw - 1:.1f}" '
                       f'height="{bh:.1f}" fill="{COLORS[ci % len(COLORS)]}">'
                       f'<title>{escape(hd)}, {c} clients: {v:.1f} {escape(unit)}'
                       f'</title></rect>')
            text = (f"{v / 1000:.0f}k" if v >= 10000 else
                    f"{v:.0f}" if v >= 10 else f"{v:.1f}")
            out.append(f'<text x="{x + bw / 2:.1f}" y="{y0 + h - bh - 3:.1f}" '
                       f'text-anchor="middle" font-size="9">{text}</text>')
        lx = x0 + gi * gw + gw / 2
        out.append(f'<text x="{lx:.1f}" y="{y0 + h + 14}" text-anchor="end" '
                   f'font-size="11" transform="rotate(-25 {lx:.1f} {y0 + h + 14})">'
                   f'{escape(hd)}</text>')
    out.append(f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" '
               f'stroke="#333"/>')


def chart_svg(data, title):
    """The SVG text: successful updates/s and p99 per handler, a bar per
    client count."""
    handlers = [h for h in data["handlers"]
                if any(r["handler"] == h for r in data["runs"])]
    clients = list(data["clients"])
    by = {(r["handler"], r["clients"]): r for r in data["runs"]}

    def rate(h, c):
        r = by.get((h, c))
        return r["updates_per_s"] if r else None

    def p99(h, c):
        r = by.get((h, c))
        return r["p99_us"] / 1000 if r else None

    width = max(800, 95 * len(handlers) + 120)
    pw, ph = width - 110, 230
    height = 2 * ph + 300
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
           f'height="{height}" viewBox="0 0 {width} {height}" '
           f'font-family="sans-serif">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2:.0f}" y="22" text-anchor="middle" '
           f'font-size="13">{escape(title)}</text>']
    for i, c in enumerate(clients):
        x = 80 + i * 110
        out.append(f'<rect x="{x}" y="34" width="12" height="12" '
                   f'fill="{COLORS[i % len(COLORS)]}"/>')
        out.append(f'<text x="{x + 17}" y="45" font-size="12">{c} clients</text>')
    _panel(out, 80, 90, pw, ph, "successful updates/s (higher is better)",
           "updates/s", handlers, clients, rate)
    _panel(out, 80, 90 + ph + 110, pw, ph,
           "p99 latency, log scale (lower is better)", "ms", handlers,
           clients, p99, log=True)
    out.append("</svg>")
    return "\n".join(out) + "\n"


# --- output ------------------------------------------------------------------

def publish(data, out_dir, docs_dir):
    """Prints the tables and the targets; writes table.txt, table.md and the
    SVG to `out_dir`, and the docs section and SVG to `docs_dir` unless
    None."""
    table = text_tables(data)
    tgts = targets(data)
    cpu = max((r["client_cpu_pct"] for r in data["runs"]), default=0.0)
    print()
    print(table)
    print()
    print(f"load client: at most {cpu:.0f}% of one core (Python threads, "
          "keep-alive connections)")
    if tgts:
        print("\n".join(target_text(tgts)))
    with open(os.path.join(out_dir, "table.txt"), "w") as f:
        f.write(table + "\n\n" + "\n".join(target_text(tgts)) + "\n")
    with open(os.path.join(out_dir, "table.md"), "w") as f:
        f.write(markdown_tables(data) + "\n")
    title = (f"bench-stack --contention, {data['date']}, "
             f"{data['machine']['cores']} cores: one session, "
             f"n = n + 1 with 2 ms of work")
    svg = chart_svg(data, title)
    with open(os.path.join(out_dir, NAME + ".svg"), "w") as f:
        f.write(svg)
    if docs_dir is None:
        return
    docs = os.path.abspath(docs_dir)
    os.makedirs(docs, exist_ok=True)
    with open(os.path.join(docs, NAME + ".svg"), "w") as f:
        f.write(svg)
    report.write_docs_section(os.path.join(docs, "benchmarks.md"),
                              docs_section(data, tgts, NAME + ".svg"), name=NAME)
    print(f"bench-stack: wrote {docs}/benchmarks.md ({NAME} section) and "
          f"{NAME}.svg")


def _short(msg):
    """A log line or page error without its file, line, pool addresses and
    the page's own prefix."""
    msg = re.sub(r" in /\S+ on line \d+$", "", msg)
    msg = re.sub(r"^503: (session_start|session write) failed: ", "", msg)
    msg = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", msg)
    msg = re.sub(r"^PHP (\w+( error)?):\s+", r"\1: ", msg)
    return msg if len(msg) <= 320 else msg[:317] + "..."


def _max_exec(data):
    """`max_execution_time` as the pools loaded it, which sessionkit's
    `lock_wait_ms=auto` waits for."""
    values = {s.get("max_execution_time")
              for s in data.get("settings", {}).values()} - {None}
    if len(values) != 1:
        return ""
    return (f" (`max_execution_time={values.pop()}` s in every pool, which "
            "`sessionkit.lock_wait_ms=auto` waits in wall-clock time)")


def _settings(data, h):
    """The lock settings `h`'s pool loaded, as Markdown."""
    s = data.get("settings", {}).get(h, {})
    family = catalog.HANDLERS[h].ini.get("session.save_handler", "")
    keys = [k for k in s if k.startswith(family + ".")]
    return ", ".join(f"`{k}={s[k]}`" for k in keys)


def docs_section(data, tgts, chart):
    info = data["machine"]
    runs = data["runs"]
    cpu = max((r["client_cpu_pct"] for r in runs), default=0.0)
    cmd = data["command"]
    lines = [
        "## Sustained contention on one session (`bench-stack --contention`)",
        "",
        f"Measured {data['date']} with `{cmd}`, in "
        f"{data['elapsed_s'] / 60:.1f} minutes.",
        "",
        f"Machine: {info['cores']} cores ({info['cpu']}), Linux {info['kernel']}; "
        f"{info['php'].split(' (')[0]}, "
        f"{info['nginx'].replace('nginx version: ', '')}, "
        f"{info['redis'].split(' sha=')[0]}, {info['memcached']}." +
        (f" Load average (1 min) when the run started and when it ended: "
         f"{info['loadavg_start']:.2f}, {info['loadavg_end']:.2f}."
         if info.get("loadavg_start") is not None and
         info.get("loadavg_end") is not None else ""),
        "",
        f"Stack: nginx (1 worker) in front of one php-fpm pool per handler "
        f"(pm=static, {data['workers']} workers, opcache on), all on 127.0.0.1. "
        f"One session; N clients, each a thread of the harness with its own "
        f"keep-alive connection and the session's cookie, loop on "
        f"`app/contend.php` for {data['seconds']:g} s: `n = n + 1` with 2 ms "
        "of work (usleep) between session_start() and the write. A client "
        "counts an update when the page answers 200 with the new n, which it "
        "does only once session_write_close() succeeded; every handler runs "
        "with its default lock settings" + _max_exec(data) + ". The load "
        "client used at most "
        f"{cpu:.0f}% of one core.",
        "",
        "`updates/s`: acknowledged updates over the time from the start to "
        "the last answer. `lost`: updates that did not reach the session: "
        "the requests the page answered as not saved (503: session_start() "
        "or the write failed; the client sent the next one at once), plus "
        "acknowledged updates the session's final n does not hold (`silent`; "
        "`failed`: requests with no answer at all, whose fate is unknown). "
        "`warnings`: PHP warnings and "
        "notices of the run, in the pool's logs or reported by the page. "
        "p50/p99/max: every request's latency. `per client`: the fewest and "
        "most updates one client got; `spread %`: how far the furthest "
        "client is from the clients' mean.",
        "",
        markdown_tables(data),
        "",
        f"![bench-stack --contention: successful updates/s and p99 per "
        f"handler at {', '.join(map(str, data['clients']))} clients]({chart})",
        "",
    ]
    if tgts:
        lines += target_markdown(tgts) + [""]
    notes = {}
    for r in runs:
        # One line per handler: the messages of its first run that had any.
        if r["handler"] in notes or not (r["warnings"] or r["lost"] or r["failed"]):
            continue
        msgs = []
        for m in r["warning_examples"] + r["error_examples"]:
            m = _short(m)
            if not any(x.endswith(m) for x in msgs):
                msgs.append(m)
        notes[r["handler"]] = (f"- `{r['handler']}` ({r['clients']} clients: "
                               f"{r['refused']} refused, {r['warnings']} "
                               "warnings): " +
                               "; ".join(f"`{m}`" for m in msgs[:3]))
    if notes:
        lines += ["What the handlers said when they failed or warned:", ""] \
            + list(notes.values()) + [""]
    slow = [r for r in runs if r.get("slow")]
    if slow:
        lines += ["Requests that took over 1 s (a stall of the whole session "
                  "shows as many of them starting together):", ""]
        for r in slow:
            starts = [t for t, _ in r["slow"]]
            when = (f"started at +{starts[0]:.1f} s" if len(starts) == 1 else
                    f"started between +{min(starts):.1f} s and "
                    f"+{max(starts):.1f} s")
            lines.append(f"- `{r['handler']}`, {r['clients']} clients: "
                         f"{len(starts)}, {when} of the run, the longest "
                         f"{max(d for _, d in r['slow']):.1f} s")
        lines.append("")
    from .bench import how_it_waits
    lines += ["Handlers, how a request waits for the lock, and the lock "
              "settings as loaded in the run:", ""]
    for h in data["handlers"]:
        parts = [catalog.HANDLERS[h].label, how_it_waits(h), _settings(data, h)]
        lines.append(f"- `{h}`: " + "; ".join(p for p in parts if p) + ".")
    lines += ["", "How the harness works: [stack.md](stack.md)."]
    return "\n".join(lines)
