"""A switchover to the node that already is the primary is refused before anything is
fenced (issue 22: it paused the live primary for the whole switchover timeout)."""

from __future__ import annotations

from gungnir.core import Notify, Switchover, step
from gungnir.core.switchover import refusal

from .harness import make


def test_switchover_to_the_current_primary_is_refused_with_the_reason() -> None:
    c = make()
    c.run(1.0)
    st = c.daemons["d1"]
    st2, acts = step(st, Switchover(target="n1"), c.now)
    assert st2 is st  # nothing started: no election, no fence
    assert acts == [
        Notify(
            "-switchover-refused",
            "n1 is already the primary of g (epoch 0): nothing to switch over",
        )
    ]


def test_refused_switchover_leaves_the_primary_writable() -> None:
    c = make()
    c.run(1.0)
    c.feed("d1", Switchover(target="n1"))
    c.run(5.0)
    n1 = c.nodes["n1"]
    assert n1.role == "primary" and not n1.paused and n1.min_replicas < 1_000_000
    assert c.kinds("leader_elected") == []


def test_other_targets_and_any_replica_are_still_accepted() -> None:
    c = make()
    c.run(1.0)
    st = c.daemons["d1"]
    assert refusal(st, None) is None
    assert refusal(st, "n3") is None
    assert refusal(st, "n9") == "unknown node n9"
