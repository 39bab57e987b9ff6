"""Feeds the Prometheus metrics (:mod:`gungnir.runtime.metrics`) from what the daemon sees.

Kept out of the daemon loop's module so the loop stays about ordering; this only watches
events and actions go by and reports them, never changes what happens.
"""

from __future__ import annotations

from typing import Any

from gungnir.core import (
    LEADER,
    ActionResult,
    Broadcast,
    DaemonState,
    FailoverCommand,
    Fence,
    Notify,
    Persist,
    Probe,
    Promote,
    PublishConfig,
    Received,
    Repoint,
    Send,
    Unfence,
)

from .metrics import Metrics

__all__ = ["Telemetry"]

_KINDS = {Fence: "fence", Unfence: "unfence", Promote: "promote", Repoint: "repoint"}


class Telemetry:
    def __init__(self, metrics: Metrics) -> None:
        self.m = metrics
        self._failover_started: dict[str, tuple[float, bool]] = {}

    def event(self, group: str, event: Any) -> None:
        if isinstance(event, Probe):
            if event.reachable:
                self.m.observe_probe(
                    group,
                    event.node,
                    up=True,
                    role=event.role,
                    offset=event.offset,
                    link_up=event.link_up if event.role == "replica" else None,
                    lag_seconds=event.lag if event.role == "replica" else None,
                )
            else:
                self.m.observe_probe(group, event.node, up=False)
        elif isinstance(event, Received):
            self.m.peer_message(type(event.message).__name__, "received")
        elif isinstance(event, ActionResult):
            kind = _KINDS.get(type(event.action), "other")
            if isinstance(event.action, FailoverCommand):
                kind = "promote"
            self.m.action(group, kind, ok=event.ok)

    def action(self, group: str, action: Any, now: float) -> None:
        if isinstance(action, Persist):
            self.m.action(group, "persist", ok=True)
        elif isinstance(action, Send | Broadcast):
            self.m.peer_message(type(action.message).__name__, "sent")
        elif isinstance(action, PublishConfig):
            self.m.action(group, "publish", ok=True)
        elif isinstance(action, Notify):
            if action.event == "+elected-leader":
                self._failover_started[group] = (now, False)
            elif action.event == "+try-failover" and action.detail.startswith("switchover"):
                self._failover_started[group] = (now, True)
            elif action.event in ("+failover-end", "-failover-abort"):
                started = self._failover_started.pop(group, None)
                manual = started[1] if started else False
                self.m.failover_finished(
                    group,
                    reason="manual" if manual else "primary_down",
                    outcome="success" if action.event == "+failover-end" else "aborted",
                    duration_seconds=(now - started[0]) if started else None,
                )

    def state(self, group: str, st: DaemonState) -> None:
        voters = st.settings.voters
        up = sum(1 for name, ok, _ in st.peers if ok and name in voters)
        up += 1 if st.is_voter else 0
        self.m.set_safety(
            group,
            epoch=st.epoch,
            is_leader=st.role == LEADER,
            quorum_reachable=up >= st.settings.majority,
            peers_reachable=sum(1 for _, ok, _ in st.peers if ok),
            peers_configured=len(st.peers),
            nodes_answering_primary=sum(1 for v in st.nodes if v.reachable and v.role == "primary"),
        )
