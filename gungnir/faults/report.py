"""Readable reports: one Markdown page per run, one summary table per campaign.

The JSON history (``history.json``) is the record; these pages are views of it. The summary
row is what goes into the campaign table (and the README's results table):

- *lost acked writes* — acknowledged SADD members missing at the end (and, under WAIT, those
  acknowledged by a majority);
- *lost window* — from the start of the first lost write to the end of the last one: how
  long the system acknowledged writes it was going to lose;
- *two-writer* — total length of the intervals in which two nodes accepted writes;
- *two-primary* — total time two nodes answered ROLE master;
- *clients failed over after* — fault start to the first acknowledgement from another node;
- *recovery* — heal to the end of the last failed operation;
- *converged after heal* — heal to the first time nodes and daemons agreed (polled);
- *converged* — whether nodes and daemons agreed on one primary at the end;
- *lease* — Gungnir's documented write lease under the consistency policy (the bound on the
  lost window of plain acknowledged writes);
- *trace replay* — the daemons' merged decision logs replayed through the abstract model:
  ``ok``, or ``FAILED`` (a step the model forbids: the run fails).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gungnir.faults.plot import plot_campaign

__all__ = ["campaign_markdown", "run_markdown", "summarize"]

COLUMNS = [
    ("sut", "system"),
    ("scenario", "scenario"),
    ("acked", "acked writes"),
    ("lost", "lost acked SADDs"),
    ("wait_lost", "lost WAIT-majority-acked"),
    ("old_primary_lost", "old primary's acked SADDs lost"),
    ("lost_window_s", "lost window (s)"),
    ("lease_s", "lease (s)"),
    ("two_writer_s", "two-writer (s)"),
    ("two_primary_s", "two-primary (s)"),
    ("failover_s", "clients failed over after (s)"),
    ("recovery_s", "recovery (s)"),
    ("convergence_s", "converged after heal (s)"),
    ("converged", "converged"),
    ("trace", "trace replay"),
]


def summarize(record: dict[str, Any]) -> dict[str, Any]:
    """One flat row for the campaign table."""
    v = record["verdict"]
    first = v["faults"][0] if v["faults"] else {}
    sut = record["sut"]
    options = {k: val for k, val in sut.items() if k != "name"}
    row = {
        "sut": sut.get("name"),
        "scenario": record["scenario"],
        "options": options,
        "acked": v["sadd"]["acked"] + v["incr"]["acked"],
        "sadd_acked": v["sadd"]["acked"],
        "lost": v["sadd"]["lost"],
        "incr_lost_lower_bound": v["incr"]["lost_lower_bound"],
        "lost_window_s": v["sadd"]["lost_window_s"],
        "two_writer_s": v["two_writer_s"],
        "two_primary_s": v["two_primary_s"],
        "failover_s": first.get("failover_s"),
        "old_primary_last_ack_s": first.get("old_primary_last_ack_s"),
        "old_primary_sadd_acked": first.get("old_primary_sadd_acked"),
        "old_primary_sadd_lost": first.get("old_primary_sadd_lost"),
        "old_primary_lost": (
            f"{first['old_primary_sadd_lost']}/{first['old_primary_sadd_acked']}" if first else None
        ),
        "recovery_s": v["availability"].get("recovery_s"),
        "max_unavailable_s": v["availability"].get("max_unavailable_s"),
        "converged": v["converged"],
        "convergence_s": record.get("convergence_after_heal_s"),
        "errors": len(record.get("errors", [])),
    }
    if "wait_acked" in v["sadd"]:
        row["wait_acked"] = v["sadd"]["wait_acked"]
        row["wait_acked_lost"] = v["sadd"]["wait_acked_lost"]
        row["wait_lost"] = f"{v['sadd']['wait_acked_lost']}/{v['sadd']['wait_acked']}"
    if "lease_s" in options and options.get("policy") == "consistency":
        row["lease_s"] = options["lease_s"]
    trace = record.get("trace")
    if trace is not None:
        row["trace_ok"] = bool(trace["ok"])
        row["trace"] = "ok" if trace["ok"] else "FAILED"
        row["trace_lines"] = trace["lines"]
    return row


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def _table(rows: Sequence[dict[str, Any]]) -> list[str]:
    lines = [
        "| " + " | ".join(title for _, title in COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(key)) for key, _ in COLUMNS) + " |")
    return lines


def run_markdown(record: dict[str, Any]) -> str:
    """The per-run page: verdict first, then the timeline and the details."""
    v = record["verdict"]
    s = record["summary"]
    sadd, incr, avail = v["sadd"], v["incr"], v["availability"]
    out = [
        f"# {s['sut']} — {record['scenario']}",
        "",
        record.get("description") or "",
        "",
        f"System: `{record['sut']}`. Workload: {record['workload']['clients']} clients at "
        f"{record['workload']['rate_per_client']:g} op/s each, WAIT: "
        f"{record['workload']['wait'] or 'no'}. Fault held {record['fault_s']:g} s.",
        "",
        *_table([s]),
        "",
        "## Safety",
        "",
        f"- SADD acknowledged: {sadd['acked']}; **lost: {sadd['lost']}** "
        f"(by node: {sadd['lost_by_node'] or 'none'}); unknown results present at the end: "
        f"{sadd['unknown_present']}.",
    ]
    if sadd["lost_window"]:
        lo, hi = sadd.get("lost_span") or sadd["lost_window"]
        out.append(
            f"- Lost writes were acknowledged from t={lo:.2f} s to t={hi:.2f} s; the longest "
            f"run on one node (the lost window) is {sadd['lost_window_s']:.1f} s."
        )
        for run in sadd.get("lost_runs") or []:
            out.append(
                f"  - {run['node']}: {run['lost']} lost, acknowledged from "
                f"t={run['start']:.2f} s to t={run['end']:.2f} s"
            )
    if "wait_acked" in sadd:
        out.append(
            f"- Acknowledged with WAIT by a majority: {sadd['wait_acked']}; lost: "
            f"{sadd['wait_acked_lost']}."
        )
    out += [
        f"- INCR acknowledged: {incr['acked']}, final counter {incr['final']}: at least "
        f"{incr['lost_lower_bound']} increments lost; {incr['duplicate_values']} counter values "
        "acknowledged twice (divergent histories).",
        f"- Two-writer intervals: {v['two_writer_s']:.1f} s in total.",
    ]
    for w in v["two_writer_intervals"]:
        out.append(
            f"  - {w['nodes'][0]} and {w['nodes'][1]}: t={w['start']:.2f}..{w['end']:.2f} s "
            f"({w['duration_s']:.1f} s, {w['witnesses']} witnessing writes)"
        )
    out.append(f"- Two nodes answering ROLE master: {v['two_primary_s']:.1f} s in total.")
    trace = record.get("trace")
    if trace is not None:
        out.append(f"- Decision logs replayed through the abstract model: {trace['summary']}")
        failure = trace.get("failure")
        if failure:
            out.append(
                f"  - **FORBIDDEN STEP** at line {failure['line_no']} of {trace['file']}: "
                f"{failure['rule']}: {failure['message']}\n    `{failure['line']}`"
            )
        if trace.get("missing_logs"):
            out.append(f"  - missing logs: {trace['missing_logs']}")
    out += ["", "## Faults and availability", ""]
    for f in v["faults"]:
        out.append(
            f"- `{f['name']}` from t={f['start']:.2f} to t={_fmt(f['stop'])} s, primary then "
            f"{f['primary']}: failover after {_fmt(f['failover_s'])} s; the old primary "
            f"acknowledged {f['old_primary_acked_after_start']} writes after the fault began "
            f"(last {_fmt(f['old_primary_last_ack_s'])} s in), {f['old_primary_sadd_lost']} of "
            f"its {f['old_primary_sadd_acked']} SADDs lost."
        )
    out += [
        f"- Operations: {avail['ops']} ({avail['ok']} ok, {avail['fail']} failed, "
        f"{avail['unknown']} unknown); longest time without an acknowledgement: "
        f"{_fmt(avail['max_unavailable_s'])} s; recovery after the heal: "
        f"{_fmt(avail.get('recovery_s'))} s.",
        f"- Converged after heal: {_fmt(record.get('convergence_after_heal_s'))} s; final "
        f"primary {v['final_primary']}; converged at the end: {_fmt(v['converged'])}.",
    ]
    reasons = record.get("final", {}).get("reasons")
    if reasons:
        out.append(f"- Not converged because: {'; '.join(reasons)}")
    out += ["", "## Timeline", ""]
    for e in record["events"]:
        detail = {k: val for k, val in e.items() if k not in ("t", "what")}
        out.append(f"- t={e['t']:.2f} s: {e['what']} {detail or ''}")
    if record.get("errors"):
        out += ["", "## Harness errors", ""] + [f"- {err}" for err in record["errors"]]
    return "\n".join(out) + "\n"


def _results_dir(rows: Sequence[dict[str, Any]]) -> Path | None:
    """The campaign's directory: the one existing parent of every run's directory, if any."""
    parents = {Path(r["run_dir"]).parent for r in rows if r.get("run_dir")}
    if len(parents) != 1:
        return None
    (root,) = parents
    return root if root.is_dir() else None


def campaign_markdown(title: str, rows: Sequence[dict[str, Any]], command: str) -> str:
    """The campaign's summary page; also draws ``plot.png`` beside it and links it.

    The plot goes into the directory the runs were written under (``summary.md`` is written
    there), so the relative link works; rows without run directories (runs that could not
    start) get no plot. Without matplotlib the page says so instead of showing a picture.
    """
    out = [f"# {title}", "", f"Command: `{command}`", ""]
    root = _results_dir(rows)
    if root is not None:
        why = plot_campaign(rows, root / "plot.png", title)
        if why is None:
            out += ["![lost acknowledged writes and unavailability per scenario](plot.png)", ""]
        else:
            print(why, file=sys.stderr)
            out += [f"_{why}_", ""]
    out += [*_table(rows), ""]
    for row in rows:
        if row.get("options"):
            out.append(f"- {row['sut']} {row['scenario']}: options {row['options']}")
    return "\n".join(out) + "\n"
