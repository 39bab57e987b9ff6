"""What a running daemon tells ``gungnir history`` and ``gungnir status`` about the past.

The decision log records what the core decided (votes, elections, fences, configs) but not
*why* an epoch started: that is in the core's Sentinel-style notices (``+try-failover
switchover node-2 epoch 4``, ``+odown node-0``, ``-failover-abort epoch 3: timeout``), which
only go to subscribers and the daemon's log.  So the daemon keeps the notices that tell a
failover's story in memory beside the decision records (never in the decision log file:
that file is the model checker's trace contract) and ``GUNGNIR.HISTORY`` returns both,
with the clocks to anchor them and the peers' addresses, so the CLI can ask every daemon
and tell epochs this one missed (issue 22).
"""

from __future__ import annotations

import itertools
import json
import re
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from .history import failovers

__all__ = ["NOTICE_EVENTS", "Notices", "history_reply", "last_failover", "notice_epoch"]

#: Notices that belong to a failover's story (why it started, how it ended).
NOTICE_EVENTS = frozenset(
    {
        "+odown",
        "-odown",
        "+try-failover",
        "+elected-leader",
        "+vote-for-leader",
        "-failover-abort",
        "-failover-abort-not-elected",
        "-failover-abort-no-good-slave",
        "+failover-end",
        "+switch-master",
        "+config-epoch",
        "vote-request",  # not a core notice: a VoteRequest heard (see Notices.heard)
    }
)
_EPOCH = re.compile(r"\bepoch (\d+)")


def notice_epoch(event: str, detail: str, current: int) -> int:
    """The epoch a notice is about: named in its detail when it is, else ``current``."""
    if m := _EPOCH.search(detail):
        return int(m.group(1))
    if event in ("+elected-leader", "-failover-abort-not-elected") and detail.isdigit():
        return int(detail)
    if event == "+vote-for-leader" and detail.rsplit(" ", 1)[-1].isdigit():
        return int(detail.rsplit(" ", 1)[-1])
    return current


class Notices:
    """The last ``keep`` story notices of every group, as history records (``kind``
    ``notice``, with ``t`` on the core's clock like the decision records)."""

    def __init__(self, daemon: str, keep: int = 2000) -> None:
        self.daemon = daemon
        self.recent: deque[dict[str, Any]] = deque(maxlen=keep)

    def add(self, group: str, t: float, epoch: int, event: str, detail: str) -> None:
        if event not in NOTICE_EVENTS:
            return
        self.recent.append(
            {
                "kind": "notice",
                "daemon": self.daemon,
                "group": group,
                "t": t,
                "epoch": notice_epoch(event, detail, epoch),
                "event": event,
                "detail": detail,
            }
        )

    def heard(self, group: str, t: float, epoch: int, reason: str, node: str) -> None:
        """A candidate's VoteRequest: a voter learns why the epoch started from it, in the
        words of the candidate's own ``+try-failover`` notice."""
        detail = f"{reason} {node} epoch {epoch}"
        for n in itertools.islice(reversed(self.recent), 64):  # a resent request: once
            if n["group"] == group and n["event"] == "vote-request" and n["detail"] == detail:
                return
        self.add(group, t, epoch, "vote-request", detail)

    def of(self, group: str) -> list[dict[str, Any]]:
        return [n for n in self.recent if n["group"] == group]


def last_failover(
    decisions: Iterable[str], notices: Notices, group: str, wall_offset: float
) -> dict[str, Any] | None:
    """The last change of primary this daemon holds records of, for ``gungnir status``:
    epoch, Unix time (``t`` + ``wall_offset``), old and new primary, leader, reason."""
    records = [r for r in map(json.loads, decisions) if r.get("group") == group]
    records += notices.of(group)
    stamped = [{**r, "_wall_offset": wall_offset} for r in records]
    done = [f for f in failovers(stamped, group) if f.new_primary is not None]
    if not done:
        return None
    fo = done[-1]
    return {
        "epoch": fo.epoch,
        "at": fo.started,
        "old": fo.old_primary,
        "new": fo.new_primary,
        "leader": fo.leader,
        "reason": fo.reason,
        "outcome": fo.outcome,
    }


def _decisions(lines: Iterable[str], group: str, count: int) -> list[dict[str, Any]]:
    """The group's last ``count`` decision records, oldest first."""
    out: list[dict[str, Any]] = []
    for line in reversed(list(lines)):
        if len(out) >= count:
            break
        rec = json.loads(line)
        if rec.get("group") == group:
            out.append(rec)
    out.reverse()
    return out


def history_reply(
    daemon: str,
    group: str,
    count: int,
    *,
    decisions: Iterable[str],
    notices: Notices,
    peers: Mapping[str, tuple[str, int]],
    now: float,
) -> bytes:
    """The ``GUNGNIR.HISTORY`` answer: records (decisions and notices), both clocks read
    together (``now`` on the core's clock, ``wall`` Unix time) and the other daemons'
    addresses, for the CLI to ask them too."""
    records = _decisions(decisions, group, count) + notices.of(group)[-count:]
    records.sort(key=lambda r: r["t"])
    return json.dumps(
        {
            "daemon": daemon,
            "now": now,
            "wall": time.time(),
            "records": records,
            "peers": {name: f"{h}:{p}" for name, (h, p) in sorted(peers.items())},
        }
    ).encode()
