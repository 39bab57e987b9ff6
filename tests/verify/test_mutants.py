"""Each mutant core must be caught: a checker that finds nothing on a mutant is broken."""

import pytest

from gungnir.verify.explore import explore
from gungnir.verify.invariants import default_invariants
from gungnir.verify.mutants import mutants
from gungnir.verify.trace import check_trace_lines
from gungnir.verify.traces import decision_log
from gungnir.verify.world import Model


def test_every_mutant_is_listed() -> None:
    names = [m.name for m in mutants()]
    assert len(names) == len(set(names)) == 11
    assert all(m.breaks for m in mutants())


@pytest.mark.slow
@pytest.mark.parametrize("mutant", mutants(), ids=lambda m: m.name)
def test_checker_catches_mutant(mutant) -> None:  # type: ignore[no-untyped-def]
    model = Model(mutant.scope, mutant.rules)
    res = explore(model, default_invariants(mutant.scope.policy), time_limit=120)
    assert res.violation is not None, f"{mutant.name} not caught: {res.summary()}"
    text = " ".join(res.violation.broken)
    assert any(name in text for name in mutant.breaks), text
    # the counterexample is a readable, replayable timeline that ends at the violation
    assert "BROKEN:" in res.violation.timeline
    assert res.violation.labels


@pytest.mark.slow
def test_trace_checker_rejects_the_resume_old_epoch_counterexample() -> None:
    """The decision log of the prototype's bug, replayed, is refused by the abstract model."""
    mutant = next(m for m in mutants() if m.name == "resume-old-epoch")
    model = Model(mutant.scope, mutant.rules)
    res = explore(model, default_invariants(mutant.scope.policy), time_limit=120)
    assert res.violation is not None
    lines = decision_log(model, res.violation.labels)
    report = check_trace_lines(lines)
    assert report.failure is not None
    assert report.failure.rule == "RestartFreshEpoch"


def test_the_real_core_passes_the_lease_mutants_scopes() -> None:
    """Where the lease mutants break SingleWritablePrimary (hardened nodes included), the
    core computing the lease from the max-lag read, with Valkey's 2 s, does not."""
    for mutant in mutants():
        if mutant.name.startswith("lease-"):
            res = explore(Model(mutant.scope), default_invariants(mutant.scope.policy))
            assert res.violation is None and res.complete, (mutant.name, res.summary())
