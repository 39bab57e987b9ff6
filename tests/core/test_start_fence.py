"""Nodes that start fenced (min-replicas-to-write unmeetable in their own config): the core lifts
that fence on a healthy config primary, and never on one that came back without its data.

The start-up fence (gungnir/runtime/startfence.py) adds no core rule: it relies on
``reconcile.corrections`` emitting ``SetWriteQuorum`` for a config primary whose
``min_replicas`` differs from the policy's write quorum (the executor gives SYNC/PSYNC back
before it), and on ``corrections`` returning nothing for a primary flagged ``empty_restart``.
These tests pin both down, including the ordering question: the probe that first sees the new
run id flags the node in that same step, before any tick runs ``corrections``.
"""

from __future__ import annotations

import pytest

from gungnir.core import (
    UNMEETABLE_REPLICAS,
    Probe,
    Repoint,
    Settings,
    SetWriteQuorum,
    Start,
    Unfence,
    init_state,
    step,
)
from gungnir.core.reconcile import corrections

from .harness import make

S = Settings(group="g", voters=("d1", "d2", "d3"), nodes=("n1", "n2", "n3"), initial_primary="n1")


@pytest.mark.parametrize("policy", ["availability", "consistency"])
def test_bootstrap_lifts_the_start_fence_on_the_initial_primary(policy: str) -> None:
    c = make(policy)
    for node in c.nodes.values():  # fresh, fenced nodes: every one a primary of its own
        node.role, node.master, node.offset = "primary", None, 0
        node.min_replicas = UNMEETABLE_REPLICAS
    quorum = S.replace(policy=policy).write_quorum
    assert quorum != UNMEETABLE_REPLICAS
    c.run(3.0)
    n1, n2, n3 = (c.nodes[n] for n in ("n1", "n2", "n3"))
    assert (n1.role, n1.min_replicas) == ("primary", quorum)
    assert (n2.role, n2.master, n3.role, n3.master) == ("replica", "n1", "replica", "n1")


def test_the_probe_that_sees_the_new_run_id_flags_it_before_any_correction() -> None:
    st, _ = step(init_state(S, "d1"), Start(0, None), 0.0)
    st, _ = step(st, Probe("n1", True, role="primary", offset=500, replid="A", run_id="r1"), 0.1)
    for n in ("n2", "n3"):
        probe = Probe(n, True, master="n1", link_up=True, offset=500, replid="A", run_id=n)
        st, _ = step(st, probe, 0.1)
    # back empty and fenced by its own config: the correction would be SetWriteQuorum ...
    back = Probe(
        "n1",
        True,
        role="primary",
        offset=0,
        replid="B",
        run_id="r2",
        empty=True,
        min_replicas=UNMEETABLE_REPLICAS,
    )
    st, _ = step(st, back, 0.3)
    view = st.view("n1")
    assert view is not None and view.empty_restart and view.min_replicas == UNMEETABLE_REPLICAS
    # ... but the same step flagged it, so there is none.
    assert corrections(st) == []


@pytest.mark.parametrize("policy", ["availability", "consistency"])
def test_an_empty_restart_keeps_the_start_fence_until_the_failover_repoints_it(
    policy: str,
) -> None:
    c = make(policy)
    for node in c.nodes.values():
        node.offset = 5000
    c.run(2.0)
    applied: list[object] = []
    apply = c.apply

    def spy(who: str, action: object) -> bool:
        applied.append(action)
        return apply(who, action)

    c.apply = spy  # type: ignore[method-assign]
    n1 = c.nodes["n1"]
    n1.run_id, n1.replid, n1.offset, n1.empty = "r2", "fresh", 0, True
    n1.min_replicas = UNMEETABLE_REPLICAS
    c.run(15.0)
    on_n1 = [a for a in applied if getattr(a, "node", None) == "n1"]
    assert not any(isinstance(a, SetWriteQuorum | Unfence) for a in on_n1), on_n1
    assert any(isinstance(a, Repoint) for a in on_n1)
    assert n1.role == "replica" and n1.min_replicas == UNMEETABLE_REPLICAS
    primaries = [n.name for n in c.nodes.values() if n.role == "primary"]
    assert primaries in (["n2"], ["n3"])
