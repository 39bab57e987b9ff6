"""Node settings are observed, not assumed (design rule 10), in the core.

The settings the guarantees rest on are read back on every probe and enforced; an operator's
stricter ones are kept; the write lease is computed from the max-lag read from the old
primary; a node whose settings cannot be verified is neither vetted nor promoted.
"""

from __future__ import annotations

from gungnir.core import UNMEETABLE_REPLICAS, NodeView, Settings
from gungnir.core.nodesettings import drifted, observed_max_lag, wanted
from gungnir.core.settings import write_lease

from .harness import Cluster, make


def _settings(policy: str) -> Settings:
    return Settings(group="g", voters=("d1", "d2", "d3"), nodes=("n1", "n2", "n3"), policy=policy)


def _view(**kw: object) -> NodeView:
    base: dict[str, object] = dict(node="n1", last_ok=0.0, reachable=True, role="primary")
    base.update(settings_ok=True, seen=True)
    base.update(kw)
    return NodeView(**base)  # type: ignore[arg-type]


def _hardened(policy: str) -> Cluster:
    """The harness cluster on nodes an operator hardened (min-replicas 1, max-lag 10)."""
    c = make(policy)
    for n in c.nodes.values():
        n.min_replicas, n.max_lag = 1, 10
    return c


def test_consistency_lowers_a_longer_max_lag_and_keeps_a_shorter_one() -> None:
    s = _settings("consistency")
    hardened = _view(min_replicas=1, kept_min_replicas=1, max_lag=10)
    assert wanted(s, hardened) == (1, 2) and drifted(s, hardened)
    strict = _view(min_replicas=2, kept_min_replicas=2, max_lag=1)
    assert wanted(s, strict) == (2, 1) and not drifted(s, strict)


def test_availability_keeps_the_operators_min_replicas_and_max_lag() -> None:
    s = _settings("availability")
    hardened = _view(min_replicas=1, kept_min_replicas=1, max_lag=10)
    assert wanted(s, hardened) == (1, 10) and not drifted(s, hardened)
    # after a fence of ours overwrote it, the operator's value is what it goes back to
    fenced = _view(min_replicas=UNMEETABLE_REPLICAS, kept_min_replicas=1, max_lag=10)
    assert wanted(s, fenced) == (1, 10) and drifted(s, fenced)


def test_a_start_fence_sync_denial_left_on_a_lifted_primary_is_drift() -> None:
    s = _settings("availability")
    assert drifted(s, _view(min_replicas=0, max_lag=10, sync_denied=True))


def test_hardened_nodes_get_the_policys_max_lag_and_keep_their_quorum() -> None:
    c = _hardened("consistency")
    c.run(3)
    assert (c.nodes["n1"].min_replicas, c.nodes["n1"].max_lag) == (1, 2)
    assert all(st.view("n1").max_lag == 2 for st in c.daemons.values())  # type: ignore[union-attr]


def test_availability_never_lowers_an_operators_min_replicas() -> None:
    c = _hardened("availability")
    c.run(3)
    assert (c.nodes["n1"].min_replicas, c.nodes["n1"].max_lag) == (1, 10)
    c.nodes["n1"].up = False
    c.run(15)
    (new,) = {st.config.primary for st in c.daemons.values()}
    assert new == "n2" and (c.nodes["n2"].min_replicas, c.nodes["n2"].max_lag) == (1, 10)


def test_the_lease_is_computed_from_the_max_lag_read_from_the_old_primary() -> None:
    c = _hardened("consistency")
    c.probe_all()  # read once; no tick yet, so no daemon has corrected it
    c.nodes["n1"].up = False
    leases = set()
    for _ in range(80):
        c.run(0.5)
        leases |= {st.failover.lease for st in c.daemons.values() if st.failover is not None}
    s = c.settings
    assert leases == {write_lease(s, 10)} and write_lease(s, 10) > s.lease
    assert write_lease(s, 10) == 10 + 2 + s.lease_margin + s.max_clock_drift
    (new,) = {st.config.primary for st in c.daemons.values()}
    assert new in ("n2", "n3") and c.nodes[new].max_lag == 2


def test_an_unread_old_primary_is_taken_to_run_the_longest_max_lag_read() -> None:
    c = make("consistency")
    c.nodes["n2"].max_lag = 7
    c.probe_all()
    st = c.daemons["d1"]
    assert observed_max_lag(st, "n2") == 7 and observed_max_lag(st, "n1") == 2
    fresh = st.replace(
        nodes=tuple(NodeView(v.node, 0.0) if v.node == "n1" else v for v in st.nodes)
    )
    assert observed_max_lag(fresh, "n1") == 7


def test_a_node_whose_settings_cannot_be_verified_is_never_promoted() -> None:
    c = make("availability")
    c.nodes["n3"].offset = 100  # as much data as n2, which goes first by name
    c.nodes["n2"].settings_ok = False
    c.run(2)
    c.nodes["n1"].up = False
    c.run(15)
    assert {st.config.primary for st in c.daemons.values()} == {"n3"}


def test_an_unverifiable_start_fenced_primary_keeps_its_fence() -> None:
    c = make("consistency")
    c.nodes["n1"].min_replicas = UNMEETABLE_REPLICAS
    c.nodes["n1"].settings_ok = False
    c.run(5)
    assert c.nodes["n1"].min_replicas == UNMEETABLE_REPLICAS
    c.nodes["n1"].settings_ok = True
    c.run(5)
    assert c.nodes["n1"].min_replicas == 1
