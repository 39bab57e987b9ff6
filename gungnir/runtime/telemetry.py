"""Feeds the Prometheus metrics (:mod:`gungnir.runtime.metrics`) from what the daemon sees.

Kept out of the daemon loop's module so the loop stays about ordering; this only watches
events and actions go by and reports them, never changes what happens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from gungnir.core import (
    LEADER,
    ActionResult,
    Broadcast,
    ConfigAnnounce,
    DaemonState,
    FailoverCommand,
    Fence,
    NodeAction,
    Notify,
    Persist,
    PersistVoters,
    Probe,
    Promote,
    PublishConfig,
    Received,
    Repoint,
    Send,
    Tick,
    Unfence,
)

from .metrics import Metrics

__all__ = ["Telemetry"]

_KINDS = {Fence: "fence", Unfence: "unfence", Promote: "promote", Repoint: "repoint"}


class _Failover:
    """Timestamps (core clock) of one failover this daemon leads, for the phase histogram."""

    def __init__(self, manual: bool) -> None:
        self.manual = manual
        self.marks: dict[str, float] = {}

    def phases(self, end: float) -> tuple[float | None, dict[str, float]]:
        """(whole duration, {phase: seconds}) for the phases whose bounds were seen."""
        m = self.marks
        bounds = {
            "detection": ("sdown", "odown"),
            "election": ("try", "elected"),
            "promotion": ("elected", "promoted"),
            "routing": ("promoted", "end"),
        }
        m = {**m, "end": end}
        out = {
            phase: m[b] - m[a]
            for phase, (a, b) in bounds.items()
            if a in m and b in m and m[b] >= m[a]
        }
        first = min((m[k] for k in ("sdown", "odown", "try", "elected") if k in m), default=None)
        return (end - first if first is not None else None), out


class Telemetry:
    """Watches the daemon's events and actions go by and reports them as metrics.

    ``wall`` gives Unix time for the reconcile timestamp (the core's clock is monotonic)."""

    def __init__(self, metrics: Metrics, wall: Callable[[], float] = time.time) -> None:
        self.m = metrics
        self.wall = wall
        self._failover: dict[str, _Failover] = {}
        self._sdown_at: dict[tuple[str, str], float] = {}
        self._odown_at: dict[str, tuple[float, float | None]] = {}
        self._leader: dict[str, tuple[int, str]] = {}  # group -> (epoch, daemon leading it)
        self._groups: set[str] = set()
        self._announce: dict[str, tuple[int, str]] = {}
        self._shown_leader: dict[str, str] = {}
        self._tick: set[str] = set()
        #: (group, node) -> (seconds, timed out) of the probe whose event is queued.
        self._timing: dict[tuple[str, str], tuple[float, bool]] = {}

    def probe_timing(self, group: str, node: str, seconds: float, *, timed_out: bool) -> None:
        """The prober's measurement of the probe it is about to submit; the event carries
        only what the core needs, so the round trip travels beside it."""
        self._timing[(group, node)] = (seconds, timed_out)

    def event(self, group: str, event: Any) -> None:
        if isinstance(event, Probe):
            seconds, timed_out = self._timing.pop((group, event.node), (None, False))
            if event.reachable:
                self.m.observe_probe(
                    group,
                    event.node,
                    up=True,
                    latency_seconds=seconds,
                    role=event.role,
                    offset=event.offset,
                    link_up=event.link_up if event.role == "replica" else None,
                    lag_seconds=event.lag if event.role == "replica" else None,
                )
            else:
                self.m.observe_probe(
                    group,
                    event.node,
                    up=False,
                    latency_seconds=seconds,
                    outcome="timeout" if timed_out else "error",
                )
        elif isinstance(event, Received):
            self.m.peer_message(type(event.message).__name__, "received")
            msg = event.message
            if isinstance(msg, ConfigAnnounce):
                # The leader of epoch e announces config e; whoever brings us a config newer
                # than ours is (normally) that leader.  Checked against our state in state().
                self._announce[group] = (msg.config.epoch, msg.sender)
        elif isinstance(event, ActionResult):
            kind = _KINDS.get(type(event.action), "other")
            if isinstance(event.action, FailoverCommand):
                kind = "promote"
            self.m.action(group, kind, ok=event.ok)
        elif isinstance(event, Tick):
            self._tick.add(group)

    def action(self, group: str, action: Any, now: float) -> None:
        if isinstance(action, Persist | PersistVoters):
            self.m.action(group, "persist", ok=True)
        elif isinstance(action, Send | Broadcast):
            self.m.peer_message(type(action.message).__name__, "sent")
        elif isinstance(action, PublishConfig):
            self.m.action(group, "publish", ok=True)
        elif isinstance(action, Notify):
            self._notice(group, action, now)
        if isinstance(action, NodeAction):
            self._tick.discard(group)  # the pass found something to correct

    def _notice(self, group: str, n: Notify, now: float) -> None:
        ev = n.event
        if ev == "+sdown":
            self._sdown_at[(group, n.detail)] = now
        elif ev == "-sdown":
            self._sdown_at.pop((group, n.detail), None)
        elif ev == "+odown":
            self._odown_at[group] = (now, self._sdown_at.get((group, n.detail)))
        elif ev == "-odown":
            self._odown_at.pop(group, None)
        elif ev == "+try-failover":
            fo = _Failover(manual=n.detail.startswith("switchover"))
            if not fo.manual and group in self._odown_at:
                odown, sdown = self._odown_at[group]
                fo.marks["odown"] = odown
                if sdown is not None:
                    fo.marks["sdown"] = sdown
            fo.marks["try"] = now
            self._failover[group] = fo
        elif ev == "+elected-leader":
            fo = self._failover.setdefault(group, _Failover(manual=False))
            fo.marks["elected"] = now
            try:
                self._leader[group] = (int(n.detail), _ME)
            except ValueError:
                pass
        elif ev == "+promoted-slave":
            if group in self._failover:
                self._failover[group].marks["promoted"] = now
        elif ev in ("+failover-end", "-failover-abort"):
            done = self._failover.pop(group, None)
            duration, phases = done.phases(now) if done is not None else (None, {})
            self.m.failover_finished(
                group,
                reason="manual" if done is not None and done.manual else "primary_down",
                outcome="success" if ev == "+failover-end" else "aborted",
                duration_seconds=duration,
                phases=phases if ev == "+failover-end" else None,
            )

    def leader(self, group: str) -> str:
        """The daemon that leads the group's current epoch, as ``gungnir_leader_info`` shows
        it ("" when unknown), so ``gungnir status`` and the metrics never disagree."""
        return self._shown_leader.get(group, "")

    def lag(self, group: str, st: DaemonState) -> None:
        """Replication lag in bytes of each replica following the config's primary: the
        primary's offset minus the replica's, as this daemon last saw them."""
        primary = st.view(st.config.primary) if st.config.primary else None
        if primary is None or not primary.reachable or primary.role != "primary":
            return
        for v in st.nodes:
            if v.reachable and v.role == "replica" and v.master == primary.node:
                self.m.set_node(group, v.node, lag_bytes=max(0, primary.offset - v.offset))

    def state(self, group: str, st: DaemonState) -> None:
        if group not in self._groups:
            self._groups.add(group)
            self.m.add_group(group)  # its counters from 0
        voters = st.settings.voters
        up = sum(1 for name, ok, _ in st.peers if ok and name in voters)
        up += 1 if st.is_voter else 0
        announced = self._announce.pop(group, None)
        known = self._leader.get(group)
        if announced is not None and announced[0] == st.config.epoch > 0:
            if known is None or known[0] < announced[0]:
                self._leader[group] = known = announced
        leader = ""
        if known is not None and known[0] == st.epoch:
            leader = st.me if known[1] is _ME else known[1]
        if self._shown_leader.get(group) != leader:
            self._shown_leader[group] = leader
            self.m.set_safety(group, leader=leader)
        fenced = set(st.minority_fenced)
        if st.failover is not None and st.failover.old_fenced and st.failover.old is not None:
            fenced.add(st.failover.old)
        self.m.set_safety(
            group,
            epoch=st.epoch,
            # the daemon leader_info names for the current epoch leads it, also after its
            # failover ended and it went back to following (issue 22: 0 on the leader)
            is_leader=st.role == LEADER or (leader != "" and leader == st.me),
            quorum_reachable=up >= st.settings.majority,
            peers_reachable=sum(1 for _, ok, _ in st.peers if ok),
            peers_configured=len(st.peers),
            nodes_answering_primary=sum(1 for v in st.nodes if v.reachable and v.role == "primary"),
            fenced_nodes=len(fenced),
        )
        self.lag(group, st)
        if group in self._tick:
            # A tick is the core's reconcile pass: it compared what it sees with the
            # authoritative config.  No corrective node action and no drift pending means
            # the group matched it: a successful reconcile.
            self._tick.discard(group)
            if st.config.primary is not None and st.drift_since is None and st.failover is None:
                self.m.reconcile_succeeded(group, self.wall())


_ME = "<self>"
