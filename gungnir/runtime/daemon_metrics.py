"""Copy a daemon's state into the metrics gauges, at scrape time.

The gauges (node up/role/offset/lag/link, epoch, leadership, quorum, peers, primaries seen,
fenced nodes) describe *state*, and the daemon already holds that state for every group in
its core ``DaemonState``. Reading it when Prometheus scrapes, instead of pushing updates from
every code path that changes it, keeps the daemon's loop free of metrics calls and the
gauges exactly as fresh as the scrape. Counters and histograms (probes, actions, failovers,
peer messages, Kubernetes errors) record *events* and stay with the code that sees them.

Wiring, in the daemon::

    metrics = Metrics()
    http = MetricsHTTPServer(
        metrics.registry, ready=..., before_scrape=lambda: sync_daemon(metrics, daemon)
    )
    await http.start(host, port)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gungnir.core.state import LEADER

from .metrics import Metrics

if TYPE_CHECKING:
    from .daemon import Daemon

__all__ = ["sync_daemon"]


def sync_daemon(metrics: Metrics, daemon: Daemon) -> None:
    """Set every state gauge of every group of ``daemon``."""
    for group, rt in daemon.groups.items():
        sync_group(metrics, group, rt.state, daemon.config.id)


def sync_group(metrics: Metrics, group: str, st: Any, me: str) -> None:
    """Set the gauges of one group from its core state ``st`` (a ``DaemonState``)."""
    primary = st.view(st.config.primary) if st.config.primary else None
    primary_offset = primary.offset if primary is not None and primary.reachable else None
    answering = fenced = 0
    for v in st.nodes:
        if not v.seen:  # never probed successfully: only "down" is known
            metrics.set_node(group, v.node, up=v.reachable)
            continue
        replica = v.role != "primary"
        lag = None
        if replica and v.reachable and primary_offset is not None:
            lag = max(0, primary_offset - v.offset)
        metrics.set_node(
            group,
            v.node,
            up=v.reachable,
            role=v.role if v.reachable else "unknown",
            offset=v.offset if v.reachable else None,
            link_up=v.link_up if replica and v.reachable else None,
            lag_bytes=lag,
            lag_seconds=v.lag if replica and v.reachable else None,
        )
        answering += 1 if v.reachable and v.role == "primary" else 0
        fenced += 1 if v.paused or v.node in st.minority_fenced else 0
    voters = st.settings.voters
    usable = sum(1 for name, up, _ in st.peers if up and name in voters)
    usable += 1 if st.is_voter else 0
    leading = st.role == LEADER
    metrics.set_safety(
        group,
        epoch=st.epoch,
        leader=me if leading else "",
        is_leader=leading,
        quorum_reachable=usable >= len(voters) // 2 + 1,
        peers_reachable=sum(1 for _, up, _ in st.peers if up),
        peers_configured=len(st.peers),
        nodes_answering_primary=answering,
        fenced_nodes=fenced,
    )
