"""The CI suite is the judge: every mutant core is caught by the scopes ``gungnir verify``
runs by default, with their own budgets, not only by a scope written for it."""

from __future__ import annotations

import pytest

from gungnir.verify.cli import main
from gungnir.verify.explore import explore
from gungnir.verify.invariants import default_invariants
from gungnir.verify.mutants import Mutant, mutants
from gungnir.verify.scopes import CATCHES, SCOPES, suite
from gungnir.verify.world import Model


def test_every_catching_scope_is_in_the_suite_and_every_mutant_has_one() -> None:
    names = {m.name for m in mutants()}
    assert set(CATCHES) <= names
    assert set(CATCHES.values()) <= set(suite("default"))
    assert all(SCOPES[s].max_states or s == "observers" for s in CATCHES.values())


@pytest.mark.slow
@pytest.mark.parametrize("mutant", mutants(), ids=lambda m: m.name)
def test_the_default_suite_catches_mutant(mutant: Mutant) -> None:
    """Scope by scope, as ``gungnir verify --mutant`` runs them (the known catcher first, so
    a caught mutant costs seconds): one of them must find a violation of an invariant the
    mutant breaks, within the scope's own budget."""
    if mutant.name not in CATCHES:
        pytest.fail(f"{mutant.name}: no scope of the default suite is known to catch it")
    order = sorted(suite("default"), key=lambda s: s != CATCHES[mutant.name])
    tried = []
    for name in order:
        sc = SCOPES[name]
        res = explore(Model(sc, mutant.rules), default_invariants(sc.policy))
        if res.violation is not None:
            text = " ".join(res.violation.broken)
            assert any(b in text for b in mutant.breaks), (name, text)
            assert CATCHES.get(mutant.name) == name, f"caught by {name}: update CATCHES"
            return
        tried.append(res.summary())
    pytest.fail(f"{mutant.name} not caught by the default suite:\n" + "\n".join(tried))


@pytest.mark.slow
def test_cli_runs_a_mutant_through_the_suite_scopes(capsys: pytest.CaptureFixture[str]) -> None:
    """``--mutant`` with ``--scope`` runs that scope with the mutant's rules and the scope's
    budget (exit 1: caught), not a scope of the mutant's own."""
    assert main(["--mutant", "quorum-not-majority", "--scope", "elections-q1", "--quiet"]) == 1
    out = capsys.readouterr().out
    assert "scope elections-q1:" in out and "mutant quorum-not-majority" in out
    assert "BROKEN:" in out
