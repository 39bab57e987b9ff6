"""The core's ``Notify`` events, published as Sentinel publishes them.

Sentinel-aware tools parse these payloads (sentinel.c's ``%@`` instance text), so a daemon
must either render an event exactly as Sentinel would or not publish it at all.  The core
names nodes; Sentinel names addresses, and the primary it monitored when the event
happened.  This module turns one into the other; it decides nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from gungnir.core import DaemonState, Failover, Notify, Settings

from .sentinel import PrimaryState, SentinelService


class _Group(Protocol):
    @property
    def nodes(self) -> Mapping[str, tuple[str, int]]: ...


class EventSource(Protocol):
    """What a group's runtime keeps for rendering: its name and nodes, the core's state,
    and what subscribers have been told so far (the primary as of the event, the failover
    it belongs to, the node the last ``+odown`` named)."""

    name: str
    state: DaemonState
    shown_primary: str | None
    shown_failover: Failover | None
    odown_node: str | None

    @property
    def cfg(self) -> _Group: ...

    @property
    def settings(self) -> Settings: ...


def name_subject(rt: EventSource, n: Notify) -> Notify:
    """The Notify with ``-odown`` naming the node that went objectively down.

    The core ends odown on a tick and names the primary of that tick: after a failover,
    the new one, which never was down.  Every reader of the event (the text log, Kubernetes
    Events, the Sentinel channel) wants the node the matching ``+odown`` named, so the
    runtime remembers it here, before anything renders the event.
    """
    if n.event == "+odown":
        rt.odown_node = n.detail
    elif n.event == "-odown":
        odown, rt.odown_node = rt.odown_node, None
        if odown is not None and odown != n.detail:
            return Notify(n.event, odown)
    return n


def publish(sentinel: SentinelService, rt: EventSource, n: Notify) -> bool | None:
    """Publish a core Notify that has a Sentinel counterpart with Sentinel's payload
    (sentinel.c's ``%@`` instance text); True once handled, False if it cannot be
    rendered, None if Sentinel has no such event.

    The core's details name nodes; Sentinel names addresses, and always the primary it
    monitored when the event happened: the old one until ``+switch-master`` (so
    ``+promoted-slave`` and ``+failover-end`` name the primary being replaced, even
    though gungnir publishes the new config before the failover ends)."""
    g, nodes = rt.name, rt.cfg.nodes

    def master(node: str | None) -> PrimaryState:
        if node is None:
            raise KeyError("no primary")
        host, port = nodes[node]
        return PrimaryState(group=g, host=host, port=port)

    event, detail = n.event, n.detail
    shown = rt.shown_primary
    if event in ("+sdown", "-sdown"):
        if detail == shown:
            sentinel.emit(event, g, primary=master(detail))
        else:  # ``slave <ip>:<port> <ip> <port> @ <group> <primary ip> <primary port>``
            sentinel.emit(event, g, nodes[detail], primary=master(shown))
    elif event == "+odown":
        votes = 1 + len({s for s, _, down, _ in rt.state.reports if down})
        sentinel.emit_odown(g, votes, rt.settings.quorum, primary=master(detail))
    elif event == "-odown":
        # Sentinel resets the master at +switch-master without a -odown, so only an odown
        # that ended on the primary subscribers still know is announced.
        if detail == shown:
            sentinel.emit(event, g, primary=master(detail))
    elif event in (
        "+try-failover",
        "+elected-leader",
        "-failover-abort-not-elected",
        "-failover-abort-no-good-slave",
    ):
        sentinel.emit(event, g, primary=master(shown))
    elif event == "+promoted-slave":  # detail: the promoted node
        fo = rt.shown_failover
        old = fo.old if fo is not None and fo.new == detail else shown
        sentinel.emit(event, g, nodes[detail], primary=master(old))
    elif event == "+failover-end":  # detail: "<new> epoch <e>"
        fo = rt.shown_failover
        new, _, epoch = detail.partition(" epoch ")
        if fo is None or fo.new != new or str(fo.epoch) != epoch:
            return False
        sentinel.emit(event, g, primary=master(fo.old))
    elif event == "+convert-to-slave":  # detail: "<node> -> <primary>"
        node, _, primary = detail.partition(" -> ")
        sentinel.emit(event, g, nodes[node], primary=master(primary))
    elif event == "+new-epoch":
        sentinel.publish_event(event, detail)
    elif event == "+vote-for-leader":  # detail: "<daemon> <epoch>"; Sentinel: run id
        leader, _, epoch = detail.partition(" ")
        sentinel.publish_event(event, f"{sentinel.view.run_id(leader)} {int(epoch)}")
    else:
        return None
    return True
