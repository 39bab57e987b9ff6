"""The budgeted CI scope: every fault shape with three daemons, breadth-first to a depth.

``default`` (budgeted too) has no failover in it; ``prefix`` is where CI sees failovers among
three voters under crashes and partitions of any shape, for every trace up to the depth the
state budget reaches (docs/verification.md gives the numbers)."""

import pytest

from gungnir.verify.explore import explore
from gungnir.verify.invariants import default_invariants
from gungnir.verify.scopes import SCOPES
from gungnir.verify.world import Model


@pytest.mark.slow
def test_prefix_scope_holds_every_invariant_up_to_its_depth() -> None:
    sc = SCOPES["prefix"]
    assert sc.max_states is not None and len(sc.daemons) == 3 and len(sc.nodes) == 3
    res = explore(Model(sc), default_invariants(sc.policy))
    assert res.violation is None, res.violation and res.violation.timeline
    assert res.convergence_failure is None, res.convergence_failure.timeline
    assert res.states >= sc.max_states and res.depth >= 6
    assert res.convergence_checked > 0
