"""Hypothesis stateful runs beyond the exhaustive scope: 5 daemons x 5 nodes, many epochs,
many faults, driven through the same world model and invariants as the checker."""

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from gungnir.core import CONSISTENCY
from gungnir.verify.invariants import default_invariants
from gungnir.verify.world import Model, Scope

BIG = Scope(
    name="stateful",
    daemons=("d1", "d2", "d3", "d4", "d5"),
    nodes=("n1", "n2", "n3", "n4", "n5"),
    quorum=3,
    crashes=6,
    partitions=6,
    duplicates=6,
    writes=6,
    max_epoch=10_000,
    symmetry=False,
)


class FiveByFive(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model = Model(BIG)
        self.world = self.model.initial()
        self.names = default_invariants(CONSISTENCY)
        self.steps = 0

    @rule(pick=st.integers(min_value=0, max_value=10_000), busy=st.booleans())
    def transition(self, pick: int, busy: bool) -> None:
        options = list(self.model.successors(self.world))
        if busy:  # lean towards progress so that elections and failovers complete
            options = [
                o for o in options if o[0][0] in ("round", "advance", "deliver", "inbox")
            ] or options
        _, self.world = options[pick % len(options)]
        self.steps += 1

    @invariant()
    def safe(self) -> None:
        from gungnir.verify.invariants import check

        broken = check(self.model, self.world, self.names)
        assert not broken, broken


FiveByFive.TestCase.settings = settings(
    print_blob=True,
    max_examples=20,
    stateful_step_count=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestFiveByFive = FiveByFive.TestCase
