"""Failover timelines: what the writer saw and when each step happened, as plain data.

The failover benchmark kills a primary and watches one writer; this module turns what it
recorded into one :class:`Timeline` per setup (gungnir or Valkey's Sentinel): every write
attempt after the kill (acknowledged or failed, with its time) and the milestones of the
failover, read from the watchers' own logs:

=============  ==================================  ========================================
milestone      gungnir                             Sentinel
=============  ==================================  ========================================
detected       first ``+sdown`` of the old primary first ``+sdown master``
agreed         first ``+odown``                    first ``+odown master``
elected        ``leader_elected`` (decision log)   ``+elected-leader``
promoted       ``promoted`` (decision log)         ``+failover-state-send-slaveof-noone``
routed         ``config_published`` (decision log) ``+failover-state-reconf-slaves``
first write    the writer's first ack on the new primary (both)
=============  ==================================  ========================================

Times are seconds after the kill.  The decision log stamps records with the daemon's
``time.monotonic()``, the same clock as the benchmark's on one machine; the operational JSON
log and Sentinel's log carry wall-clock times, converted with the offset between the two
clocks measured by the caller.  The result is JSON so a picture can be redrawn without
re-running (``python -m gungnir.runtime.plot``).  "routed" is the moment the watchers
start naming the new primary to clients that ask.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

__all__ = [
    "MILESTONES",
    "Timeline",
    "gungnir_marks",
    "load_timelines",
    "save_timelines",
    "sentinel_marks",
]

#: Milestones in protocol order (the plot labels them in this order).
MILESTONES = ("detected", "agreed", "elected", "promoted", "routed", "first write")

_DECISION_KINDS = {
    "leader_elected": "elected",
    "promoted": "promoted",
    "config_published": "routed",
}
_SENTINEL_EVENTS = {
    "+sdown master": "detected",
    "+odown master": "agreed",
    "+elected-leader": "elected",
    "+failover-state-send-slaveof-noone": "promoted",
    # From this state on, GET-MASTER-ADDR-BY-NAME answers the promoted replica (sentinel.c's
    # current-address rule); +switch-master comes later, once the replicas are reconfigured.
    "+failover-state-reconf-slaves": "routed",
}


@dataclass
class Timeline:
    """One failover as the writer saw it; all times in seconds after the kill."""

    name: str
    acks: list[float] = field(default_factory=list)
    failures: list[float] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)
    unavailable: float | None = None
    lost: int | None = None

    @classmethod
    def from_writer(
        cls,
        name: str,
        t_kill: float,
        acks: Iterable[float],
        failures: Iterable[float],
        *,
        before: float = 0.5,
        after: float = 1.0,
        first_write: float | None = None,
    ) -> Timeline:
        """Keep the attempts from ``before`` s ahead of the kill to ``after`` s past the first
        write on the new primary (monotonic times in, relative times out)."""
        end = (first_write - t_kill if first_write is not None else 30.0) + after
        keep = [a - t_kill for a in acks]
        fail = [f - t_kill for f in failures]
        tl = cls(
            name,
            acks=[round(a, 4) for a in keep if -before <= a <= end],
            failures=[round(f, 4) for f in fail if -before <= f <= end],
        )
        if first_write is not None:
            tl.marks["first write"] = round(first_write - t_kill, 4)
            tl.unavailable = tl.marks["first write"]
        return tl

    def mark(self, key: str, t: float) -> None:
        """Record the first occurrence of a milestone at or after the kill."""
        if t >= 0 and (key not in self.marks or t < self.marks[key]):
            self.marks[key] = round(t, 4)


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []


def gungnir_marks(
    tl: Timeline,
    t_kill: float,
    decision_logs: Sequence[Path],
    op_logs: Sequence[Path] = (),
    *,
    wall_offset: float = 0.0,
    old_primary: str | None = None,
) -> None:
    """Milestones from gungnir's decision logs (monotonic ``t``) and, for detection and
    agreement, its operational logs in ``log_format: json`` (wall ``ts``; ``wall_offset`` =
    ``time.time() - time.monotonic()`` of the caller)."""
    for path in decision_logs:
        for line in _lines(path):
            try:
                rec = json.loads(line)
            except ValueError:
                continue  # a torn last line of a killed daemon
            key = _DECISION_KINDS.get(rec.get("kind", ""))
            if key is not None and isinstance(rec.get("t"), int | float):
                tl.mark(key, rec["t"] - t_kill)
    for path in op_logs:
        for line in _lines(path):
            if not line.startswith("{"):
                continue
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            event = rec.get("event")
            if event not in ("+sdown", "+odown") or not isinstance(rec.get("ts"), int | float):
                continue
            if event == "+sdown" and old_primary and not rec.get("msg", "").endswith(old_primary):
                continue  # a replica going down is not the failover's detection
            tl.mark("detected" if event == "+sdown" else "agreed", rec["ts"] - wall_offset - t_kill)


def _sentinel_time(line: str) -> float | None:
    """Wall time of a Sentinel log line ``pid:X 26 Nov 2026 12:03:04.123 # ...`` (local
    time, as Valkey writes it)."""
    try:
        stamp = line.split(" ", 1)[1][:24]
        return datetime.strptime(stamp, "%d %b %Y %H:%M:%S.%f").timestamp()
    except (IndexError, ValueError):
        return None


def sentinel_marks(
    tl: Timeline, t_kill: float, logs: Sequence[Path], *, wall_offset: float
) -> None:
    """Milestones from the Sentinel processes' log files."""
    for path in logs:
        for line in _lines(path):
            for needle, key in _SENTINEL_EVENTS.items():
                if f" {needle} " in line or line.endswith(f" {needle}"):
                    wall = _sentinel_time(line)
                    if wall is not None:
                        tl.mark(key, wall - wall_offset - t_kill)


def save_timelines(path: str | Path, timelines: Sequence[Timeline], **meta: Any) -> None:
    out = {"meta": meta, "timelines": [asdict(t) for t in timelines]}
    Path(path).write_text(json.dumps(out, indent=1))


def load_timelines(path: str | Path) -> tuple[list[Timeline], dict[str, Any]]:
    doc = json.loads(Path(path).read_text())
    return [Timeline(**t) for t in doc["timelines"]], dict(doc.get("meta") or {})
