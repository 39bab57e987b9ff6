"""Observers in the model: a daemon outside the voter set probes and reports, and the
checker proves it never fences (design rule 9) in a complete scope CI runs."""

import pytest

from gungnir.verify.explore import explore
from gungnir.verify.invariants import SAFETY, default_invariants
from gungnir.verify.mutants import mutants
from gungnir.verify.scopes import SCOPES
from gungnir.verify.world import Model


def test_the_observer_scope_has_an_observer_outside_the_voter_set() -> None:
    sc = SCOPES["observers"]
    assert sc.observers and set(sc.observers) < set(sc.daemons)
    assert set(Model(sc).settings.voters) == set(sc.daemons) - set(sc.observers)
    assert "OnlyVotersFence" in SAFETY


@pytest.mark.slow
def test_the_observer_scope_is_clean_over_every_short_trace() -> None:
    sc = SCOPES["observers"]
    res = explore(Model(sc), default_invariants(sc.policy), max_states=15_000)
    assert res.violation is None, res.violation and res.violation.timeline
    assert res.states >= 15_000 or res.complete


def test_counting_observers_is_caught_in_the_observer_scope() -> None:
    mutant = next(m for m in mutants() if m.name == "observers-count")
    res = explore(Model(mutant.scope, mutant.rules), SAFETY, time_limit=60)
    assert res.violation is not None
    assert any("OnlyVotersFence" in b for b in res.violation.broken)
