"""The lost-state rule in the model: a daemon restart may lose its durable state, and the
checker explores it (core/amnesia.py; issue 16 item 4)."""

import pytest

from gungnir.verify.explore import explore
from gungnir.verify.invariants import SAFETY, default_invariants
from gungnir.verify.mutants import mutants
from gungnir.verify.scopes import SCOPES
from gungnir.verify.world import Model


def test_a_lost_state_restart_is_a_transition_of_the_scope() -> None:
    model = Model(SCOPES["lost-state"])
    w = model.apply(model.initial(), ("crash", "d2"))
    labels = [label for label, _ in model.successors(w)]
    assert ("restart-lost", "d2") in labels
    w = model.apply(w, ("restart-lost", "d2"))
    st = w.daemons[1]
    assert st is not None and st.amnesia is not None and w.durable[1] == (0, None, True)


@pytest.mark.slow
def test_the_lost_state_scope_is_clean_up_to_its_budget() -> None:
    sc = SCOPES["lost-state"]
    res = explore(Model(sc), default_invariants(sc.policy), max_states=sc.max_states)
    assert res.violation is None, res.violation and res.violation.timeline
    assert res.states >= 20_000 and res.depth >= 7


def test_voting_with_a_lost_state_is_caught() -> None:
    mutant = next(m for m in mutants() if m.name == "amnesiac-votes")
    res = explore(Model(mutant.scope, mutant.rules), SAFETY, time_limit=60)
    assert res.violation is not None
    assert any(b in " ".join(res.violation.broken) for b in mutant.breaks)
