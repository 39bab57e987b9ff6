"""What ``gungnir status`` calls healthy, and why not.

A group is healthy, as one daemon sees it, only when clients routed by its config reach a
primary that takes writes and the daemon itself can take part in decisions.  Issue 22: a
group whose config named a node that had been made a replica by hand showed ``healthy``
while every write got READONLY, and a daemon whose peers refused its secret showed
``healthy`` while it had no voice.  Each problem is a short sentence for the status table.
"""

from __future__ import annotations

from gungnir.core import PRIMARY, UNMEETABLE_REPLICAS, DaemonState
from gungnir.core.rules import has_majority

__all__ = ["problems"]


def problems(st: DaemonState) -> list[str]:
    """Why this daemon does not call its group healthy; empty when it does."""
    out: list[str] = []
    p = st.config.primary
    if p is None:
        out.append("no primary known")
    else:
        v = st.view(p)
        if v is None or not v.reachable:
            out.append(f"primary {p} unreachable")
        elif v.role != PRIMARY:
            out.append(f"primary {p} is a replica (of {v.master or 'no one'}): not routable")
        elif v.paused or v.min_replicas >= UNMEETABLE_REPLICAS:
            out.append(f"primary {p} is fenced: refuses writes")
    others = sorted(v.node for v in st.nodes if v.node != p and v.reachable and v.role == PRIMARY)
    if others:
        out.append(f"also primary: {', '.join(others)}")
    if st.odown:
        out.append(f"primary {p} objectively down")
    down = sorted(st.sdown - {p} if st.odown else st.sdown)
    if down:
        out.append(f"down: {', '.join(down)}")
    if st.refused_by:
        out.append(f"peers refuse this daemon's secret: {', '.join(sorted(st.refused_by))}")
    reach = frozenset(n for n, ok, _ in st.peers if ok) | {st.me}
    if st.is_voter and not has_majority(st.settings, reach):
        out.append("this daemon reaches no majority of the voters")
    return out
