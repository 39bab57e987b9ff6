"""The checker: what a recorded history says about safety and availability. Pure functions.

Inputs are plain dicts (the JSON history), so a history can be re-checked offline:

- ``ops``: ``{client, op, value, start, end, result, node, wait_acks}`` (see
  :class:`gungnir.faults.workload.Op`);
- ``probes``: ``{t, node, role, following, link_up}`` role samples;
- ``faults``: ``{name, start, stop, primary}`` — ``primary`` is the node that was primary when
  the fault started;
- ``final``: ``{primary, members, counter, converged}`` read after healing and convergence.

Definitions (also in ``docs/faults.md``):

- **Lost write**: an acknowledged SADD whose unique member is not in the final primary's set.
  Counted separately for writes acknowledged with WAIT by at least ``majority_replicas``.
  For INCR, ``acknowledged - final`` is a lower bound on lost increments, and two
  acknowledgements carrying the same counter value prove divergent histories.
- **Two-writer interval**: acknowledged write *b* on node B lies strictly between two
  acknowledged writes *a1*, *a2* on another node A (``a1.end <= b.start`` and
  ``b.end <= a2.start``), and no role probe saw A as a replica in between: A accepted writes
  before and after B did, so both were accepting writes when B took *b*. Witnesses closer
  than ``merge_gap`` are merged into intervals.
- **Two-primary interval** (from probes): times at which two nodes answered ROLE ``master``.
  Weaker than two writers (a primary refusing writes with NOREPLICAS still says master).
- **Recovery time**: from the end of the last fault to the end of the last operation that did
  not succeed (0 when every operation after the fault succeeded).
"""

from __future__ import annotations

import bisect
import itertools
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "check",
    "lost_writes",
    "merge_intervals",
    "two_primary_intervals",
    "two_writer_intervals",
]

Interval = tuple[float, float]


def merge_intervals(intervals: Iterable[Interval], gap: float = 0.0) -> list[Interval]:
    """Union of intervals, joining those separated by at most ``gap``."""
    out: list[list[float]] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + gap:
            out[-1][1] = max(out[-1][1], hi)
        else:
            out.append([lo, hi])
    return [(lo, hi) for lo, hi in out]


def _total(intervals: Sequence[Interval]) -> float:
    return float(sum(hi - lo for lo, hi in intervals))


def _acked(ops: Sequence[Mapping[str, Any]], kind: str | None = None) -> list[Mapping[str, Any]]:
    return [o for o in ops if o["result"] == "ok" and (kind is None or o["op"] == kind)]


def lost_writes(
    ops: Sequence[Mapping[str, Any]],
    members: Iterable[str],
    majority_replicas: int | None = None,
) -> dict[str, Any]:
    """Acknowledged SADD members missing from ``members`` (the final primary's set).

    ``lost_window`` is the longest *run* of lost writes (:func:`lost_runs`): how long one node
    went on acknowledging writes it was going to lose, which is what a write lease bounds.
    ``lost_span`` runs from the first lost write to the last one, whichever node took them; with
    one fault and one old primary the two are the same, with repeated faults (flapping) the
    span covers several separate episodes and says nothing about any lease.
    """
    present = set(members)
    acked = _acked(ops, "sadd")
    lost = [o for o in acked if o["value"] not in present]
    span = (min(o["start"] for o in lost), max(o["end"] for o in lost)) if lost else None
    runs = lost_runs(acked, present)
    longest = max(runs, key=lambda r: r["end"] - r["start"]) if runs else None
    window = (longest["start"], longest["end"]) if longest else None
    out: dict[str, Any] = {
        "acked": len(acked),
        "lost": len(lost),
        "lost_values": sorted(str(o["value"]) for o in lost),
        "lost_by_node": dict(Counter(o["node"] for o in lost)),
        "lost_runs": runs,
        "lost_window": window,
        "lost_window_s": round(window[1] - window[0], 3) if window else 0.0,
        "lost_span": span,
        "lost_span_s": round(span[1] - span[0], 3) if span else 0.0,
        "unknown_present": sum(
            1 for o in ops if o["op"] == "sadd" and o["result"] == "unknown"
            and o["value"] in present
        ),
    }  # fmt: skip
    if majority_replicas is not None:
        wait_acked = [o for o in acked if (o.get("wait_acks") or 0) >= majority_replicas]
        out["wait_acked"] = len(wait_acked)
        out["wait_acked_lost"] = sum(1 for o in wait_acked if o["value"] not in present)
    return out


def lost_runs(acked: Sequence[Mapping[str, Any]], present: set[str]) -> list[dict[str, Any]]:
    """Runs of lost writes: per node, in start order, consecutive acknowledged SADDs that were
    all lost.  A write the same node acknowledged and kept ends a run (the node was a
    legitimate primary again in between), so two isolations of one node are two runs."""
    runs: list[dict[str, Any]] = []
    by_node: dict[str, list[Mapping[str, Any]]] = {}
    for o in sorted(acked, key=lambda o: o["start"]):
        by_node.setdefault(o["node"], []).append(o)
    for node, node_ops in by_node.items():
        run: dict[str, Any] | None = None
        for o in node_ops:
            if o["value"] in present:
                run = None
                continue
            if run is None:
                run = {"node": node, "start": o["start"], "end": o["end"], "lost": 0}
                runs.append(run)
            run["end"] = max(run["end"], o["end"])
            run["lost"] += 1
    return sorted(runs, key=lambda r: r["start"])


def lost_increments(ops: Sequence[Mapping[str, Any]], counter: int | None) -> dict[str, Any]:
    acked = _acked(ops, "incr")
    values = Counter(o["value"] for o in acked)
    duplicates = sorted(v for v, n in values.items() if n > 1)
    final = counter or 0
    return {
        "acked": len(acked),
        "final": counter,
        "lost_lower_bound": max(0, len(acked) - final),
        "duplicate_values": len(duplicates),
        "duplicate_examples": duplicates[:10],
    }


def _replica_times(probes: Sequence[Mapping[str, Any]]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = defaultdict(list)
    for p in probes:
        if p["role"] == "slave":
            times[p["node"]].append(p["t"])
    for t in times.values():
        t.sort()
    return times


def two_writer_intervals(
    ops: Sequence[Mapping[str, Any]],
    probes: Sequence[Mapping[str, Any]] = (),
    merge_gap: float = 1.0,
) -> list[dict[str, Any]]:
    """Intervals in which two nodes both accepted writes (definition in the module doc)."""
    acked = [o for o in _acked(ops) if o["node"]]
    by_node: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    for o in acked:
        by_node[o["node"]].append(o)
    replica_at = _replica_times(probes)
    found: dict[tuple[str, str], list[Interval]] = defaultdict(list)
    for a, a_ops in by_node.items():
        ends = sorted(o["end"] for o in a_ops)
        starts = sorted(o["start"] for o in a_ops)
        demoted = replica_at.get(a, [])
        for b, b_ops in by_node.items():
            if b == a:
                continue
            for w in b_ops:
                i = bisect.bisect_right(ends, w["start"])  # A writes finished before w began
                j = bisect.bisect_left(starts, w["end"])  # A writes begun after w finished
                if i == 0 or j == len(starts):
                    continue
                before, after = ends[i - 1], starts[j]
                k = bisect.bisect_left(demoted, before)
                if k < len(demoted) and demoted[k] <= after:
                    continue  # A was a replica in between: a clean hand-over and back
                pair = (a, b) if a < b else (b, a)
                found[pair].append((w["start"], w["end"]))
    out: list[dict[str, Any]] = []
    for (a, b), spans in sorted(found.items()):
        for lo, hi in merge_intervals(spans, merge_gap):
            out.append(
                {"nodes": [a, b], "start": round(lo, 3), "end": round(hi, 3),
                 "duration_s": round(hi - lo, 3),
                 "witnesses": sum(1 for s in spans if lo <= s[0] and s[1] <= hi)}
            )  # fmt: skip
    return sorted(out, key=lambda x: x["start"])


def two_primary_intervals(
    probes: Sequence[Mapping[str, Any]], stale_after: float = 1.0
) -> list[Interval]:
    """Times when at least two nodes' latest fresh ROLE sample said ``master``."""
    samples = sorted(probes, key=lambda p: p["t"])
    latest: dict[str, Mapping[str, Any]] = {}
    spans: list[Interval] = []
    open_at: float | None = None
    for p in samples:
        latest[p["node"]] = p
        t = p["t"]
        masters = sum(
            1 for s in latest.values() if s["role"] == "master" and t - s["t"] <= stale_after
        )
        if masters >= 2 and open_at is None:
            open_at = t
        elif masters < 2 and open_at is not None:
            spans.append((open_at, t))
            open_at = None
    if open_at is not None and samples:
        spans.append((open_at, samples[-1]["t"]))
    return merge_intervals(spans)


def availability(ops: Sequence[Mapping[str, Any]], after: float | None) -> dict[str, Any]:
    """Recovery after ``after`` (the last heal) and the longest gap between acknowledgements."""
    ok_ends = sorted(o["end"] for o in _acked(ops))
    gaps = [b - a for a, b in itertools.pairwise(ok_ends)]
    out: dict[str, Any] = {
        "ops": len(ops),
        "ok": len(ok_ends),
        "fail": sum(1 for o in ops if o["result"] == "fail"),
        "unknown": sum(1 for o in ops if o["result"] == "unknown"),
        "max_unavailable_s": round(max(gaps), 3) if gaps else None,
    }
    if after is not None:
        bad_after = [o["end"] for o in ops if o["result"] != "ok" and o["end"] >= after]
        ok_after = [t for t in ok_ends if t >= after]
        out["recovery_s"] = round(max(bad_after) - after, 3) if bad_after else 0.0
        out["recovered"] = bool(ok_after) and (not bad_after or ok_after[-1] > max(bad_after))
    return out


def fault_effects(
    ops: Sequence[Mapping[str, Any]],
    faults: Sequence[Mapping[str, Any]],
    members: Iterable[str],
) -> list[dict[str, Any]]:
    """Per fault: failover time and what the old primary acknowledged from then on, and lost."""
    present = set(members)
    out = []
    acked = _acked(ops)
    for f in faults:
        old = f.get("primary")
        start = f.get("start", f.get("requested", 0.0))
        later = [o for o in acked if o["end"] >= start]
        elsewhere = [o["end"] for o in later if o["node"] != old]
        on_old = [o for o in later if o["node"] == old and o["start"] >= start]
        old_sadd = [o for o in on_old if o["op"] == "sadd"]
        old_lost = [o for o in old_sadd if o["value"] not in present]
        out.append(
            {
                "name": f["name"],
                "start": start,
                "stop": f.get("stop"),
                "primary": old,
                "failover_s": round(min(elsewhere) - start, 3) if elsewhere else None,
                "old_primary_acked_after_start": len(on_old),
                "old_primary_last_ack_s": (
                    round(max(o["end"] for o in on_old) - start, 3) if on_old else None
                ),
                "old_primary_sadd_acked": len(old_sadd),
                "old_primary_sadd_lost": len(old_lost),
            }
        )
    return out


def check(
    ops: Sequence[Mapping[str, Any]],
    probes: Sequence[Mapping[str, Any]],
    faults: Sequence[Mapping[str, Any]],
    final: Mapping[str, Any],
    majority_replicas: int | None = None,
    merge_gap: float = 1.0,
) -> dict[str, Any]:
    """The whole verdict for one run."""
    members = final.get("members") or []
    last_heal = max((f["stop"] for f in faults if f.get("stop") is not None), default=None)
    writers = two_writer_intervals(ops, probes, merge_gap)
    primaries = two_primary_intervals(probes)
    return {
        "sadd": lost_writes(ops, members, majority_replicas),
        "incr": lost_increments(ops, final.get("counter")),
        "two_writer_intervals": writers,
        "two_writer_s": round(_total(merge_intervals((w["start"], w["end"]) for w in writers)), 3),
        "two_primary_intervals": [(round(a, 3), round(b, 3)) for a, b in primaries],
        "two_primary_s": round(_total(primaries), 3),
        "availability": availability(ops, last_heal),
        "faults": fault_effects(ops, faults, members),
        "converged": bool(final.get("converged")),
        "final_primary": final.get("primary"),
    }
