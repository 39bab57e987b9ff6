"""``gungnir history GROUP``: the story of the last failovers, from the decision logs.

The decision log is the core's own record of what it decided (one JSON object per line:
``kind``, ``daemon``, ``group``, ``epoch``, ``t`` and the kind's fields).  Read from one
daemon it tells that daemon's part; read from several (or merged) it tells who proposed,
who voted for whom, who led, what was fenced and promoted, and which config was published,
epoch by epoch.  This module is pure: records in, :class:`Failover` stories and text out.

Times: ``t`` is the daemon's monotonic clock, meaningless to a person, so each source comes
with an *anchor*: the offset to wall-clock time.  A running daemon reports both clocks when
asked (``GUNGNIR.HISTORY``); for a file the anchor is its modification time, which is the
moment its last line was written (each line is flushed), so wall times read from files are
exact to a few milliseconds while the daemon runs and approximate after a reboot.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = [
    "Failover",
    "HistoryError",
    "Step",
    "failovers",
    "read_log",
    "render",
]

#: Decision kinds that belong to the story of an epoch.
STORY_KINDS = {
    "epoch_adopted",
    "vote_granted",
    "leader_elected",
    "fenced",
    "promoted",
    "config_published",
    "repointed",
}


class HistoryError(Exception):
    """A log that cannot be read; the message names it."""


@dataclass
class Step:
    """One decision, as a person reads it."""

    at: float  # seconds after the epoch's first decision
    wall: float | None  # Unix time, when an anchor is known
    daemon: str
    kind: str
    text: str


@dataclass
class Failover:
    """Everything decided in one epoch of one group."""

    group: str
    epoch: int
    started: float | None  # Unix time of the first decision, when known
    leader: str | None = None
    votes: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    old_primary: str | None = None
    new_primary: str | None = None
    reason: str = ""  # why the epoch started, from the candidate's notices

    replicas: list[str] = field(default_factory=list)
    fenced: list[str] = field(default_factory=list)
    outcome: str = ""
    duration: float = 0.0  # first decision to the published config (or the last decision)
    steps: list[Step] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def read_log(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Records of one decision log, each with ``_wall_offset`` (its file's anchor).

    A torn last line (a killed daemon) and lines that are not records are skipped: the rest
    of the story is still worth telling.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8", errors="replace")
        mtime = p.stat().st_mtime
    except OSError as exc:
        raise HistoryError(f"cannot read decision log {p}: {exc.strerror or exc}") from None
    out: list[dict[str, Any]] = []
    for line in text.splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and isinstance(rec.get("t"), int | float) and "kind" in rec:
            out.append(rec)
    if out:
        offset = mtime - max(r["t"] for r in out)
        for r in out:
            r["_wall_offset"] = offset
    return out


def anchor(records: Iterable[dict[str, Any]], wall: float, now: float) -> list[dict[str, Any]]:
    """Stamp records from a live daemon whose clocks read ``wall`` and ``now`` together."""
    return [{**r, "_wall_offset": wall - now} for r in records]


def _text(rec: dict[str, Any], leader: str | None) -> str | None:
    kind, me = rec["kind"], rec.get("daemon", "?")
    if kind == "vote_granted":
        cand = rec.get("candidate")
        return "stands as candidate (votes for itself)" if cand == me else f"votes for {cand}"
    if kind == "epoch_adopted":
        return f"moves to epoch {rec.get('epoch')}"
    if kind == "leader_elected":
        return f"is elected leader with the votes of {', '.join(rec.get('voters') or [])}"
    if kind == "fenced":
        return f"fences {rec.get('node')} (the old primary must stop taking writes)"
    if kind == "promoted":
        how = "" if me == leader or leader is None else " (reconciling to the published config)"
        return f"promotes {rec.get('node')}{how}"
    if kind == "config_published":
        reps = ", ".join(rec.get("replicas") or []) or "none"
        return f"publishes the config: primary {rec.get('primary')}, replicas {reps}"
    if kind == "repointed":
        return f"repoints {rec.get('node')} to replicate from {rec.get('primary')}"
    return None


#: Why an epoch started, by the word ``+try-failover`` names.
_REASONS = {
    "failover": "the primary was down",
    "switchover": "operator switchover",
    "reconcile": "reconcile: the nodes had drifted from the config",
    "reconfig": "voter change",
}


def _reason(notices: Sequence[dict[str, Any]], odown: dict[str, Any] | None) -> str:
    """Why the epoch of ``notices`` started, in words ("" when neither the candidate's
    notice nor a voter's record of its request is here); ``odown`` is the last ``+odown``
    seen before it, naming the node."""
    told = [n for n in notices if n.get("event") == "+try-failover"]
    told += [n for n in notices if n.get("event") == "vote-request"]  # as voters heard it
    for n in told:
        word, _, rest = str(n.get("detail", "")).partition(" ")
        target = rest.split(" epoch ", 1)[0]
        text = _REASONS.get(word, word)
        if word == "failover" and odown is not None and odown.get("detail"):
            text = f"primary {odown['detail']} objectively down"
        elif word == "switchover" and target:
            text += f" to {target}"
        return text
    return ""


def _notice_text(n: dict[str, Any]) -> str | None:
    event, detail = n.get("event"), str(n.get("detail", ""))
    if event == "+try-failover":
        word, _, rest = detail.partition(" ")
        return f"starts a {word}: will promote {rest.split(' epoch ', 1)[0]}"
    if event == "-failover-abort":
        return f"gives up: {detail.split(': ', 1)[-1]}"
    if event == "-failover-abort-not-elected":
        return "gives up: not elected in time"
    return None


Records = list[dict[str, Any]]


def _by_epoch(records: Iterable[dict[str, Any]], group: str) -> tuple[dict[int, Records], Records]:
    """The group's decisions and story notices by epoch (a log given twice counted once),
    and its ``+odown`` notices, which belong to the epoch they led to, not the one they
    were seen in."""
    by_epoch: dict[int, Records] = {}
    odowns: Records = []
    seen: set[tuple[Any, ...]] = set()
    for r in records:
        if r.get("group") != group or not isinstance(r.get("t"), int | float):
            continue
        if r.get("kind") == "notice" and r.get("event") == "+odown":
            odowns.append(r)
            continue
        if r.get("kind") not in STORY_KINDS and r.get("kind") != "notice":
            continue
        epoch = r.get("epoch")
        if not isinstance(epoch, int) or epoch <= 0:
            continue  # epoch 0 is the bootstrap config, not a failover
        key = tuple(sorted((k, json.dumps(v)) for k, v in r.items() if k != "_wall_offset"))
        if key in seen:  # the same log given twice
            continue
        seen.add(key)
        by_epoch.setdefault(epoch, []).append(r)
    return by_epoch, odowns


def _decisions(fo: Failover, recs: Records) -> None:
    """Leader, votes, candidates, fences and the published config of one epoch."""
    fenced_old = False
    for r in recs:
        kind, me = r["kind"], r.get("daemon", "?")
        if kind == "leader_elected":
            fo.leader, fo.votes = me, list(r.get("voters") or [])
        elif kind == "vote_granted" and r.get("candidate") not in fo.candidates:
            fo.candidates.append(str(r.get("candidate")))
        elif kind == "fenced" and r.get("node") not in fo.fenced:
            fo.fenced.append(str(r.get("node")))
            if me == fo.leader and not fenced_old:  # the leader fences the old primary
                fo.old_primary, fenced_old = str(r.get("node")), True
        elif kind == "config_published" and fo.new_primary is None:
            fo.new_primary = r.get("primary")
            fo.replicas = list(r.get("replicas") or [])


def _steps(fo: Failover, told: Records, has_wall: bool) -> None:
    """The epoch's decisions and notices as steps, in milliseconds since its first."""
    t0 = _wall(told[0])
    voted = {r.get("daemon") for r in told if r["kind"] == "vote_granted"}
    for r in told:
        if r["kind"] == "epoch_adopted" and r.get("daemon") in voted:
            continue  # its vote line says it already
        text = _notice_text(r) if r["kind"] == "notice" else _text(r, fo.leader)
        if text is not None:
            t = _wall(r)
            step = Step(
                round(t - t0, 4), t if has_wall else None, r.get("daemon", "?"), r["kind"], text
            )
            fo.steps.append(step)
    published = [st.at for st in fo.steps if st.kind == "config_published"]
    fo.duration = published[0] if published else (fo.steps[-1].at if fo.steps else 0.0)


def _outcome(fo: Failover, told: Records) -> None:
    switched = [n for n in told if n.get("event") == "+switch-master"]
    aborted = [s.text for s in fo.steps if s.kind == "notice" and "gives up" in s.text]
    if fo.new_primary is not None:
        fo.outcome = "completed"
    elif fo.leader is not None:
        fo.outcome = (
            aborted[-1].replace("gives up", "aborted")
            if aborted
            else "leader elected, no config published (aborted or still running)"
        )
    elif any(st.kind == "promoted" for st in fo.steps) or switched:
        # A voter's own log: it saw the result, the leader's log holds the decisions.
        promoted = [r.get("node") for r in told if r["kind"] == "promoted"]
        fo.new_primary = promoted[0] if promoted else switched[0]["detail"].split(" ")[0]
        fo.outcome = "followed (the leader's log tells the rest)"
    elif fo.candidates:
        who = ", ".join(fo.candidates)
        fo.outcome = f"only votes in these records: the candidate ({who}) holds the rest"
    else:
        fo.outcome = "no leader elected in these logs"


def failovers(records: Iterable[dict[str, Any]], group: str) -> list[Failover]:
    """One :class:`Failover` per epoch > 0 of ``group``, oldest first.

    The old primary of an epoch is the node its leader fenced, else the primary published
    by the epoch before it, and only when these records hold that epoch's outcome: a
    daemon that missed epochs must not name the primary it last saw (issue 22: ``epoch 4
    cache-1 -> cache-1`` where cache-0 had been primary)."""
    by_epoch, odowns = _by_epoch(records, group)
    out: list[Failover] = []
    primary: str | None = None
    known_through = 0  # the last epoch whose outcome (primary or none) these records hold
    since = float("-inf")
    for epoch in sorted(by_epoch):
        told = sorted(by_epoch[epoch], key=_wall)
        has_wall = all("_wall_offset" in r for r in told)
        fo = Failover(
            group,
            epoch,
            started=_wall(told[0]) if has_wall else None,
            old_primary=primary if known_through == epoch - 1 else None,
        )
        _decisions(fo, [r for r in told if r["kind"] != "notice"])
        # the +odown that explains it: seen before the epoch ended, after the one before
        window = [o for o in odowns if since < _wall(o) <= _wall(told[-1])]
        since = _wall(told[-1])
        notices = [r for r in told if r["kind"] == "notice"]
        fo.reason = _reason(notices, window[-1] if window else None)
        if fo.old_primary is None and window and window[-1].get("detail"):
            fo.old_primary = str(window[-1]["detail"])  # +odown names the config's primary
        _steps(fo, told, has_wall)
        _outcome(fo, told)
        if fo.new_primary is not None:
            primary, known_through = fo.new_primary, epoch
        elif fo.leader is not None and known_through == epoch - 1:
            known_through = epoch  # the leader's own records: it published nothing
        out.append(fo)
    return out


def _wall(r: dict[str, Any]) -> float:
    return float(r["t"]) + float(r.get("_wall_offset", 0.0))


def _when(t: float | None) -> str:
    if t is None:
        return "time unknown"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def render(stories: Sequence[Failover], group: str, sources: Sequence[str] = ()) -> str:
    """The human story, newest failover last (like a log)."""
    if not stories:
        where = f" in {', '.join(sources)}" if sources else ""
        return f"no failover of group {group} recorded{where}"
    lines: list[str] = []
    for fo in stories:
        if fo.new_primary is None:
            change = "new primary not in these logs"
        elif fo.old_primary is None:
            change = f"? -> {fo.new_primary}"  # the epoch before it is not in these logs
        elif fo.old_primary == fo.new_primary:
            change = f"{fo.new_primary} (primary unchanged)"
        else:
            change = f"{fo.old_primary} -> {fo.new_primary}"
        if fo.leader:
            who = f"leader {fo.leader}"
        else:
            who = f"candidate {', '.join(fo.candidates)}" if fo.candidates else "no candidate"
        if fo.leader and fo.votes:
            who += f" (votes {', '.join(fo.votes)})"
        took = f" in {fo.duration * 1000:.0f} ms" if fo.outcome == "completed" else ""
        lines.append(f"epoch {fo.epoch}  {_when(fo.started)}  {change}  {who}  {fo.outcome}{took}")
        lines.append(f"  why: {fo.reason or 'not in these logs (the candidate was not asked)'}")
        width = max(len(s.daemon) for s in fo.steps) if fo.steps else 2
        for s in fo.steps:
            lines.append(f"  +{s.at * 1000:8.1f} ms  {s.daemon:<{width}}  {s.text}")
        lines.append("")
    if sources:
        lines.append(f"(from {', '.join(sources)}; times in UTC)")
    return "\n".join(lines).rstrip()
