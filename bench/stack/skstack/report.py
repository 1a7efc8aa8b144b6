"""The bench-stack table (text and Markdown), its chart, and the section of
docs/benchmarks.md it owns."""

import os
import shutil
import statistics
import subprocess

from . import catalog
from .load import percentile

BEGIN = "<!-- bench-stack:begin -->"
END = "<!-- bench-stack:end -->"


def _ms(us):
    return f"{us / 1000.0:.1f}" if us < 100000 else f"{us / 1000.0:.0f}"


def summarize(results, handlers, workloads):
    """One row per (handler, workload) from the runs of every repeat."""
    rows = []
    for wl in workloads:
        for h in handlers:
            runs = [r for r in results if r["handler"] == h and r["workload"] == wl]
            if not runs:
                continue
            if runs[0]["kind"] == "handoff":
                rows.append(summarize_handoff(h, wl, runs))
                continue
            row = {"handler": h, "workload": wl, "repeats": len(runs),
                   "kind": runs[0]["kind"],
                   "p50_us": statistics.mean(r["p50_us"] for r in runs),
                   "p99_us": statistics.mean(r["p99_us"] for r in runs),
                   "errors": sum(r["errors"] for r in runs),
                   "lost": sum(r["verify"]["lost"] for r in runs),
                   "sessions": sum(r["verify"]["sessions"] for r in runs),
                   "updates_lost": sum(r["verify"]["updates_lost"] for r in runs),
                   "acked": sum(r["verify"]["acked"] for r in runs)}
            if row["kind"] == "wrk":
                rps = [r["rps"] for r in runs]
                row.update(rps=statistics.mean(rps), rps_min=min(rps),
                           rps_max=max(rps),
                           requests=sum(r["requests"] for r in runs))
                for key in ("cpu_us", "cpu_web_us", "cpu_stores_us"):
                    cpu = [r[key] for r in runs if r.get(key)]
                    if cpu:
                        row[key] = statistics.mean(cpu)
            else:
                row.update(final_n=[r["final_n"] for r in runs],
                           burst_n=runs[0]["sent"],
                           wall_s=[r["wall_s"] for r in runs],
                           requests=sum(r["sent"] for r in runs))
            rows.append(row)
    return rows


def summarize_handoff(handler, workload, runs):
    """The hand-off row: median and p99 over the samples of every repeat
    together (each repeat alone is small), failures and counters summed."""
    row = {"handler": handler, "workload": workload, "kind": "handoff",
           "repeats": len(runs), "no_lock": bool(runs[0].get("no_lock"))}
    if row["no_lock"]:
        return row
    samples = [x for r in runs for x in r["samples_us"]]
    row.update(samples=len(samples), p50_us=percentile(samples, 50),
               p99_us=percentile(samples, 99),
               lock_ini=dict(runs[0].get("lock_ini") or {}),
               final_n=[r["final_n"] for r in runs],
               holds=[r["holds"] for r in runs],
               elapsed_s=[r["elapsed_s"] for r in runs],
               updates_lost=sum(r["verify"]["updates_lost"] for r in runs),
               acked=sum(r["verify"]["acked"] for r in runs),
               lost=sum(r["verify"]["lost"] for r in runs),
               failure_examples=[e for r in runs for e in r["failure_examples"]][:3])
    for key in ("handoffs", "late", "no_wait", "start_failed", "write_failed"):
        row[key] = sum(r[key] for r in runs)
    row["errors"] = row["start_failed"] + row["write_failed"]
    return row


def handoff_notes(r):
    """What did not hand off cleanly, in words ('' when everything did).
    Works on one run and on a summarized row (same keys)."""
    notes = []
    if r["no_wait"]:
        notes.append(f"{r['no_wait']} did not wait (lock not held)")
    if r["late"]:
        notes.append(f"{r['late']} late (waiter came after the release; "
                     "left out)")
    if r["start_failed"]:
        notes.append(f"{r['start_failed']} session_start failed")
    if r["write_failed"]:
        notes.append(f"{r['write_failed']} writes refused")
    finals = r["final_n"] if isinstance(r["final_n"], list) else [r["final_n"]]
    holds = r["holds"] if isinstance(r["holds"], list) else [r["holds"]]
    if finals != holds:
        notes.append("counter short: lost update")
    return "; ".join(notes)


def handoff_measured(r):
    """Whether a run or row has a median worth printing. When most waiters
    did not wait, the lock was not held and the few samples are
    coincidences (a waiter that happened to return after the release), not
    hand-offs."""
    if r.get("no_lock"):
        return False
    samples = r["samples"] if "samples" in r else len(r["samples_us"])
    return samples > 0 and r["no_wait"] < samples


HANDOFF_HEADER = ("handler", "median ms", "p99 ms", "n", "counter", "notes")


def _handoff_cells(row):
    if row["no_lock"]:
        return (row["handler"], "n/a (no lock)", "", "", "", "")
    counter = ", ".join(f"{f} of {h}" for f, h in zip(row["final_n"], row["holds"]))
    # n: the hand-offs measured, "of" all of them when some were not.
    n = str(row["samples"])
    if row["samples"] != row["handoffs"]:
        n += f" of {row['handoffs']}"
    if not handoff_measured(row):
        return (row["handler"], "none", "", n, counter, handoff_notes(row))
    return (row["handler"], f"{row['p50_us'] / 1000:.2f}",
            f"{row['p99_us'] / 1000:.2f}", n, counter, handoff_notes(row))


def handoff_rows(rows):
    return [r for r in rows if r["kind"] == "handoff"]


def handoff_text_table(rows):
    """lock hand-off: median / p99 / n per handler, plain text."""
    return _text(HANDOFF_HEADER, [_handoff_cells(r) for r in handoff_rows(rows)],
                 left=(0, 5))


def handoff_markdown_table(rows):
    return _markdown(HANDOFF_HEADER,
                     [_handoff_cells(r) for r in handoff_rows(rows)], left=(0, 5))


HEADER = ("handler", "workload", "req/s", "CPU us/req", "p50 ms", "p99 ms",
          "errors", "sessions lost", "updates lost", "ajax-burst n", "burst s")


def _cells(row):
    if row["kind"] == "wrk":
        rps = f"{row['rps']:.0f}"
        if row["repeats"] > 1:
            rps += f" ({row['rps_min']:.0f}-{row['rps_max']:.0f})"
        burst_n = burst_s = ""
        lost = f"{row['lost']} of {row['sessions']}"
        cpu = f"{row['cpu_us']:.0f}" if row.get("cpu_us") else ""
    else:
        rps = cpu = ""
        burst_n = ", ".join(str(n) for n in row["final_n"]) + f" of {row['burst_n']}"
        burst_s = ", ".join(f"{w:.2f}" for w in row["wall_s"])
        lost = ""
    updates = (f"{row['updates_lost']} of {row['acked']}"
               if row["acked"] or row["updates_lost"] else "")
    return (row["handler"], row["workload"], rps, cpu, _ms(row["p50_us"]),
            _ms(row["p99_us"]), str(row["errors"]), lost, updates, burst_n,
            burst_s)


def tier_ratios(rows, runs):
    """The tier ratios (catalog.TIER_RATIOS) this run measured: per ratio
    the mean req/s of the tier handler over that of the slower of its
    baselines, the same per repeat (the handlers of one repeat ran
    interleaved), the verdict, and the journal entries pending at the end
    of each of the tier handler's loads."""
    wl = catalog.TIER_RATIO_WORKLOAD
    by = {r["handler"]: r for r in rows
          if r["workload"] == wl and r["kind"] == "wrk"}
    out = []
    for t in catalog.TIER_RATIOS:
        if t.handler not in by or any(b not in by for b in t.baselines):
            continue
        slower = min(t.baselines, key=lambda b: by[b]["rps"])
        ratio = by[t.handler]["rps"] / by[slower]["rps"]
        per_repeat = []
        mine = sorted((r for r in runs if r["handler"] == t.handler and
                       r["workload"] == wl), key=lambda r: r["repeat"])
        for r in mine:
            base = [b["rps"] for b in runs if b["workload"] == wl and
                    b["repeat"] == r["repeat"] and b["handler"] in t.baselines]
            if len(base) == len(t.baselines) and min(base) > 0:
                per_repeat.append(r["rps"] / min(base))
        verdict = None
        if t.target is not None:
            verdict = "met" if ratio >= t.target else "MISSED"
        mine_row, base_row = by[t.handler], by[slower]
        cpu = {}
        for key in ("cpu_us", "cpu_web_us"):
            if mine_row.get(key) and base_row.get(key):
                cpu[key] = (mine_row[key], base_row[key])
        out.append({"handler": t.handler, "baselines": list(t.baselines),
                    "cpu": cpu,
                    "slower": slower, "workload": wl, "about": t.about,
                    "rps": by[t.handler]["rps"], "slower_rps": by[slower]["rps"],
                    "ratio": ratio, "per_repeat": per_repeat,
                    "target": t.target, "verdict": verdict,
                    "journal": bool(catalog.HANDLERS[t.handler].journal),
                    "journal_pending": [r.get("journal_pending") for r in mine],
                    "journal_why": [r.get("journal_why", "") for r in mine]})
    return out


def _tier_name(t):
    name = f"{t['handler']} / {t['slower']}"
    if len(t["baselines"]) > 1:
        name += f" (the slower of {', '.join(t['baselines'])})"
    return name + f", {t['workload']} req/s"


def _tier_extra(t):
    parts = []
    for key, what in (("cpu_us", "the stack's CPU per request"),
                      ("cpu_web_us", "nginx and php-fpm alone (what stays "
                       "on a web host whose stores run elsewhere)")):
        if key in t.get("cpu", {}):
            mine, base = t["cpu"][key]
            parts.append(f"{what}: {mine / base:.2f}x ({mine:.0f} us against "
                         f"{base:.0f} us)")
    if len(t["per_repeat"]) > 1:
        parts.append("repeats " + ", ".join(f"{x:.2f}x" for x in t["per_repeat"]))
    if t["journal"]:
        pending = t["journal_pending"]
        if all(p is not None for p in pending):
            parts.append("journal entries pending at the end of each load: " +
                         ", ".join(str(p) for p in pending))
        else:
            why = next((w for w in t["journal_why"] if w), "not counted")
            parts.append(f"journal not counted ({why})")
    return parts


def tier_text(tiers):
    """The tier ratio lines for stdout, as bench/run prints its ratios:
    "NAME: 0.95x (target >= 0.9x: met)" or "NAME: 0.85x MISSED (...)"."""
    lines = ["tiers: req/s of each tier handler over the slower of the stores "
             "it is built on, each alone, same run:"]
    for t in tiers:
        r = f"{t['ratio']:.2f}x"
        if t["verdict"] is None:
            line = f"{_tier_name(t)}: {r}"
        elif t["verdict"] == "met":
            line = f"{_tier_name(t)}: {r} (target >= {t['target']:g}x: met)"
        else:
            line = f"{_tier_name(t)}: {r} MISSED (target >= {t['target']:g}x)"
        extra = _tier_extra(t)
        lines.append("  " + line + ("; " + "; ".join(extra) if extra else ""))
    return lines


def tier_markdown(tiers):
    """The tier ratio lines for the docs, as bench/run records its ratios."""
    lines = ["Tiers: req/s of each tier handler over the slower of the stores "
             "it is built on, each alone, in the same run (`repeats`: the same "
             "ratio within each repeat, whose handlers ran interleaved):", ""]
    for t in tiers:
        name, r = _tier_name(t), f"{t['ratio']:.2f}x"
        if t["verdict"] is None:
            line = f"- {name}: {r} ({t['about']})"
        elif t["verdict"] == "met":
            line = (f"- **{name}: {r}** (target: at least {t['target']:g}x; "
                    f"met; {t['about']})")
        else:
            line = (f"- **{name}: {r} — MISSED** (target: at least "
                    f"{t['target']:g}x; {t['about']})")
        extra = _tier_extra(t)
        lines.append(line + ("; " + "; ".join(extra) if extra else "") + ".")
    return lines


def load_rows(rows):
    """The rows of the main table: wrk loads and ajax-burst."""
    return [r for r in rows if r["kind"] != "handoff"]


def text_table(rows):
    return _text(HEADER, [_cells(r) for r in load_rows(rows)], left=(0, 1))


def markdown_table(rows):
    return _markdown(HEADER, [_cells(r) for r in load_rows(rows)], left=(0, 1))


def _text(header, body, left):
    cells = [header] + body
    widths = [max(len(c[i]) for c in cells) for i in range(len(header))]
    out = []
    for n, c in enumerate(cells):
        out.append("  ".join(v.ljust(widths[i]) if i in left else v.rjust(widths[i])
                             for i, v in enumerate(c)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _markdown(header, body, left):
    out = ["| " + " | ".join(header) + " |",
           "|" + "|".join("---" if i in left else "---:"
                          for i in range(len(header))) + "|"]
    for c in body:
        out.append("| " + " | ".join(c) + " |")
    return "\n".join(out)


def chart(rows, handlers, path, workdir, title, tiers=()):
    """PNG: requests/s and p99 per handler and workload, the ajax-burst
    final counter, and the tier ratios (tier_ratios) with their target.
    Returns None, or why no chart was drawn."""
    if not load_rows(rows):
        return "only hand-offs were measured (they are in the table, not the chart)"
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        return "gnuplot is missing (scripts/install-deps installs gnuplot-nox)"
    wls = [w for w in ("cart", "read", "big")
           if any(r["workload"] == w for r in rows)]
    by = {(r["handler"], r["workload"]): r for r in rows}
    data = os.path.join(workdir, "chart.dat")
    with open(data, "w") as f:
        f.write("# handler " + " ".join(f"{w}_rps" for w in wls) + " " +
                " ".join(f"{w}_p99" for w in wls) + " burst_n burst_N\n")
        for h in handlers:
            vals = []
            for w in wls:
                r = by.get((h, w))
                vals.append(f"{r['rps']:.1f}" if r else "0")
            for w in wls:
                r = by.get((h, w))
                vals.append(f"{r['p99_us'] / 1000:.2f}" if r else "0")
            b = by.get((h, "ajax-burst"))
            vals.append(f"{statistics.mean(b['final_n']):.1f}" if b else "0")
            vals.append(str(b["burst_n"]) if b else "0")
            f.write(f'"{h}" ' + " ".join(vals) + "\n")
    k = len(wls)
    panels = 2 + (1 if any(r["workload"] == "ajax-burst" for r in rows) else 0)
    plots = []
    if wls:
        rps = ", ".join(
            f"'{data}' using {2 + i}:xtic(1) title '{w}'" for i, w in enumerate(wls))
        p99 = ", ".join(
            f"'{data}' using {2 + k + i}:xtic(1) title '{w}'" for i, w in enumerate(wls))
        plots.append(f"set title 'requests/s (higher is better)'\n"
                     f"set ylabel 'req/s'\nplot {rps}")
        plots.append(f"set title 'p99 latency (lower is better)'\n"
                     f"set ylabel 'ms'\nplot {p99}")
    if panels == 3 or not wls:
        plots.append(
            f"set title 'ajax-burst: final n of N (N = parallel increments)'\n"
            f"set ylabel 'n'\nset yrange [0:*]\n"
            f"plot '{data}' using {2 + 2 * k}:xtic(1) title 'final n' lc rgb '#d62728', "
            f"'{data}' using {3 + 2 * k}:xtic(1) title 'N' lc rgb '#bbbbbb'")
    if tiers:
        tdata = os.path.join(workdir, "tiers.dat")
        with open(tdata, "w") as f:
            f.write("# handler ratio target\n")
            for t in tiers:
                target = t["target"] if t["target"] is not None else "NaN"
                f.write(f'"{t["handler"]}\\nover {t["slower"]}" '
                        f'{t["ratio"]:.4f} {target}\n')
        plots.append(
            f"set title 'tier / slower store alone, {tiers[0]['workload']} "
            f"req/s (dot: target)'\n"
            f"set ylabel 'ratio'\nset yrange [0:*]\n"
            f"plot '{tdata}' using 2:xtic(1) title 'ratio' lc rgb '#2ca02c', "
            f"'{tdata}' using 0:3 with linespoints pt 7 ps 1.5 lw 2 "
            f"lc rgb '#d62728' title 'target'")
    script = f"""set terminal pngcairo size {560 * len(plots)},500 font 'sans,10'
set output '{path}'
set multiplot layout 1,{len(plots)} title '{title}'
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set xtics rotate by -30
set bmargin 8
set key below horizontal
set offsets 0, 0, graph 0.08, 0
set yrange [0:*]
""" + "\n".join(plots) + "\nunset multiplot\n"
    spath = os.path.join(workdir, "chart.gp")
    with open(spath, "w") as f:
        f.write(script)
    out = subprocess.run([gnuplot, spath], capture_output=True, text=True)
    if out.returncode != 0:
        return f"gnuplot failed: {out.stderr.strip()[:500]}"
    return None


def write_docs_section(doc_path, section, name="bench-stack"):
    """Replaces the text between the markers of section `name` in
    `doc_path` (or adds the section: another section of bench-stack goes
    right after the main one, else at the end), leaving everything else as
    it is."""
    begin, end_mark = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    block = f"{begin}\n{section.rstrip()}\n{end_mark}\n"
    text = ""
    if os.path.exists(doc_path):
        with open(doc_path, encoding="utf-8") as f:
            text = f.read()
    b, e = text.find(begin), text.find(end_mark)
    main = text.find(END)
    if b != -1 and e != -1 and e > b:
        end = e + len(end_mark)
        if text[end:end + 1] == "\n":
            end += 1
        text = text[:b] + block + text[end:]
    elif begin != BEGIN and main != -1:
        at = main + len(END)
        if text[at:at + 1] == "\n":
            at += 1
        text = text[:at] + "\n" + block + text[at:]
    else:
        if text and not text.endswith("\n"):
            text += "\n"
        text += ("\n" if text else "") + block
    tmp = doc_path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, doc_path)
