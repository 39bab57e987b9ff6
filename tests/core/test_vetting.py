"""A primary's data is vetted before it takes writes or serves syncs (consistency policy).

Two holes the model checker found once Valkey nodes started fenced and any node could restart
empty in the model: a daemon with no history of a node (started after the node came back
empty) lifted the start-up fence off the empty primary, and the replicas resynced from it; and
a failover promoted a stale replica while the only other holder of a committed write was cut
off.  The rules: ``flag_unvetted_empty_primary``, ``reconcile.vetted`` and
``rules.holds_committed`` (a majority of the nodes must vouch for the data of a node before it
becomes writable).
"""

from __future__ import annotations

from gungnir.core import (
    UNMEETABLE_REPLICAS,
    Config,
    DaemonState,
    Fence,
    Probe,
    Settings,
    SetWriteQuorum,
    Start,
    Tick,
    init_state,
    step,
)
from gungnir.core.reconcile import corrections
from gungnir.core.rules import holds_committed

S = Settings(
    group="g",
    voters=("d1", "d2", "d3"),
    nodes=("n1", "n2", "n3"),
    initial_primary="n1",
    policy="consistency",
)


def _fresh(now: float = 0.0) -> DaemonState:
    st, _ = step(init_state(S, "d1"), Start(0, None), now)
    return st


def _see(st: DaemonState, now: float, **probes: Probe) -> DaemonState:
    for probe in probes.values():
        st, _ = step(st, probe, now)
    return st


def _empty_fenced_primary() -> Probe:
    return Probe(
        "n1", True, role="primary", offset=0, replid="B", run_id="r2", empty=True,
        min_replicas=UNMEETABLE_REPLICAS,
    )  # fmt: skip


def _replica(n: str, offset: int, reachable: bool = True) -> Probe:
    if not reachable:
        return Probe(n, False)
    return Probe(n, True, master="n1", link_up=False, offset=offset, replid="A", run_id=n)


def test_a_daemon_without_history_does_not_lift_the_fence_of_an_empty_primary() -> None:
    """The daemon starts after n1 came back empty: no run id to compare with, yet it sees the
    replicas hold data that the fenced primary does not, flags n1 and fences it for good."""
    st = _fresh()
    st = _see(st, 0.1, a=_empty_fenced_primary(), b=_replica("n2", 800), c=_replica("n3", 790))
    st, acts = step(st, Tick(0.0), 0.2)
    view = st.view("n1")
    assert view is not None and view.empty_restart
    assert not any(isinstance(a, SetWriteQuorum) for a in acts)
    assert any(isinstance(a, Fence) and a.method == "no_sync" for a in acts)
    assert corrections(st) == []


def test_the_fence_stays_while_the_data_holders_are_out_of_sight() -> None:
    """Nothing reachable holds data, so nothing flags n1; but only n1 itself is in sight, a
    minority, so the fence stays (the replicas that hold the data may come back)."""
    # the config comes from the peers (the replicas were never seen by this daemon)
    st = _fresh().replace(config=Config(0, "n1", ("n2", "n3")))
    st = _see(
        st, 0.1, a=_empty_fenced_primary(), b=_replica("n2", 0, False), c=_replica("n3", 0, False)
    )
    assert corrections(st.replace(settings=S.replace(policy="availability")))  # it would lift
    st, acts = step(st, Tick(0.0), 0.2)
    assert not any(isinstance(a, SetWriteQuorum) for a in acts)
    assert not any(isinstance(a, SetWriteQuorum) for a in corrections(st))


def test_a_fresh_group_is_vetted_and_its_start_fence_lifted() -> None:
    st = _fresh()
    st = _see(
        st,
        0.1,
        a=Probe("n1", True, role="primary", offset=0, run_id="r1", empty=True,
                min_replicas=UNMEETABLE_REPLICAS),
        b=Probe("n2", True, master="n1", link_up=False, offset=0, run_id="n2", empty=True),
        c=Probe("n3", True, master="n1", link_up=False, offset=0, run_id="n3", empty=True),
    )  # fmt: skip
    view = st.view("n1")
    assert view is not None and not view.empty_restart
    assert any(
        isinstance(a, SetWriteQuorum) and a.min_replicas == S.write_quorum for a in corrections(st)
    )


def test_holds_committed_needs_a_majority_of_fresh_nodes_at_or_below_the_offset() -> None:
    st = _fresh()
    st = _see(
        st,
        1.0,
        a=Probe("n1", False),
        b=_replica("n2", 500),
        c=_replica("n3", 400),
    )
    assert holds_committed(st, 500, since=0.5)  # n2 and n3: a majority at or below 500
    assert not holds_committed(st, 450, since=0.5)  # n2 holds more: only n3 vouches
    assert not holds_committed(st, 500, since=1.0)  # probed at writes' end: not after it
    # a node at offset 0 may have restarted empty unseen: it vouches only for an empty target
    st = _see(st, 2.0, b=_replica("n2", 0), c=_replica("n3", 400))
    assert not holds_committed(st, 400, since=1.5)
    st = _see(st, 3.0, b=_replica("n2", 0), c=_replica("n3", 0))
    assert holds_committed(st, 0, since=2.5)
