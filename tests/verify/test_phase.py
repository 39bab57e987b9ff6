"""In-phase rounds (``Scope.rounds="phase"``): a restriction of the round interleavings that
makes a complete three-daemon failover explorable, and still catches every mutant."""

import dataclasses
import itertools

import pytest

from gungnir.core import CONSISTENCY, PRIMARY
from gungnir.verify.cli import main
from gungnir.verify.explore import Fingerprinter, explore
from gungnir.verify.invariants import default_invariants
from gungnir.verify.mutants import mutants
from gungnir.verify.scopes import SCOPES, suite
from gungnir.verify.world import Model, Scope, World

CRASH = Scope(name="t", crashes=1, partitions=0, writes=1, duplicates=0, node_crashes=False)


def _labels(model: Model, w: World) -> list[tuple[object, ...]]:
    return [label for label, _ in model.successors(w)]


def test_phase_yields_one_transition_per_distinct_world_of_every_order() -> None:
    """Every order of the due daemons is run; orders that end in the same world are one
    transition, and phase-one runs a single order."""
    phase = Model(dataclasses.replace(CRASH, rounds="phase", node_crashes=True))
    w = phase.apply(phase.initial(), ("phase", ("d1", "d2", "d3")))
    w = phase.apply(w, ("crash-node", "n1"))
    # the first daemon to find n1 down reports it at once to the others: the order matters
    worlds = [w2 for lab, w2 in phase.successors(w) if lab[0] == "phase"]
    every = {phase.apply(w, ("phase", o)) for o in itertools.permutations(("d1", "d2", "d3"))}
    assert every == set(worlds) and len(worlds) == len(set(worlds)) > 1
    assert not any(lab[0] in ("round", "advance") for lab, _ in phase.successors(w))
    one = Model(dataclasses.replace(CRASH, rounds="phase-one"))
    w0 = one.initial()
    assert [lab for lab, _ in one.successors(w0) if lab[0] == "phase"] == [
        ("phase", ("d1", "d2", "d3"))
    ]


def test_orders_that_commute_are_one_transition() -> None:
    phase = Model(dataclasses.replace(CRASH, rounds="phase"))
    w = phase.initial()
    # quiet probing rounds commute: the six orders end in one world
    assert [lab[0] for lab, _ in phase.successors(w)].count("phase") == 1


def test_a_phase_advances_the_clock_only_when_no_round_is_due() -> None:
    model = Model(dataclasses.replace(CRASH, rounds="phase"))
    w0 = model.initial()
    w1 = model.apply(w0, ("phase", ("d1", "d2", "d3")))
    assert w1.now == w0.now and w1.rounds == (w0.now,) * 3  # the first rounds, at time 0
    w2 = model.apply(w1, ("phase", ("d3", "d1", "d2")))
    assert w2.now == w1.now + 1 and w2.rounds == (w2.now,) * 3
    # a crashed daemon runs no round: the next phase orders only the two up daemons
    w3 = model.apply(w2, ("crash", "d2"))
    orders = [lab[1] for lab in _labels(model, w3) if lab[0] == "phase"]
    assert orders and all(sorted(o) == ["d1", "d3"] for o in orders)
    w4 = model.apply(w3, ("phase", ("d1", "d3")))
    assert w4.now == w3.now + 1 and w4.rounds == (w4.now, w2.now, w4.now)


def test_phase_mode_reaches_a_subset_of_every_interleaving_with_the_same_verdict() -> None:
    """Every phase is a sequence of ``advance`` and ``round`` transitions the default mode
    also takes, so its reachable states must be a subset; this checks the claim."""
    each = Model(CRASH)
    phase = Model(dataclasses.replace(CRASH, rounds="phase"))
    fp = Fingerprinter(each, symmetry=True)
    seen: dict[str, set[int]] = {"each": set(), "phase": set()}
    inv = default_invariants(CONSISTENCY)
    r_each = explore(each, inv, time_limit=120, visit=lambda w: seen["each"].add(fp.canonical(w)))
    r_phase = explore(
        phase, inv, time_limit=120, visit=lambda w: seen["phase"].add(fp.canonical(w))
    )
    assert r_each.complete and r_phase.complete
    assert r_each.violation is None and r_phase.violation is None
    assert seen["phase"] <= seen["each"]
    assert len(seen["phase"]) < len(seen["each"])


@pytest.mark.slow
def test_failover_phase_scope_is_safe_and_really_fails_over_within_its_budget() -> None:
    scope = SCOPES["failover-phase"]
    assert "failover-phase" in suite("default")
    seen = {"promoted": False, "committed": False, "elected": False}

    def visit(w: World) -> None:
        for n, nd in zip(scope.nodes, w.nodes, strict=True):
            if n != scope.nodes[0] and nd.up and nd.role == PRIMARY:
                seen["promoted"] = True
        seen["committed"] |= bool(w.committed)
        seen["elected"] |= any(e == 1 for e, _ in w.configs)

    res = explore(Model(scope), default_invariants(scope.policy), time_limit=240, visit=visit)
    assert res.violation is None, res.violation and res.violation.timeline
    assert res.convergence_failure is None, res.convergence_failure.timeline
    assert res.complete or res.states >= (scope.max_states or 0) > 1000
    assert res.convergence_checked >= res.states - 1
    assert all(seen.values()), seen


@pytest.mark.slow
@pytest.mark.parametrize(
    # a mutant whose own scope runs rounds in phase is caught so in test_mutants.py already;
    # the lease mutants' counterexample needs the cut to fall between the clock's second and
    # the daemon's probe in it, which in-phase rounds make one step (the daemon then always
    # sees the old primary last at the cut, one second more than the lease mutants lose)
    "mutant",
    [m for m in mutants() if m.scope.rounds == "each" and not m.name.startswith("lease-")],
    ids=lambda m: m.name,
)
def test_mutants_are_caught_with_rounds_in_phase(mutant) -> None:  # type: ignore[no-untyped-def]
    scope = dataclasses.replace(mutant.scope, rounds="phase")
    res = explore(Model(scope, mutant.rules), default_invariants(scope.policy), time_limit=120)
    assert res.violation is not None, f"{mutant.name} not caught: {res.summary()}"
    text = " ".join(res.violation.broken)
    assert any(name in text for name in mutant.breaks), text


def test_cli_runs_a_mutant_with_rounds_in_phase(capsys) -> None:  # type: ignore[no-untyped-def]
    rc = main(["--mutant", "vote-twice", "--scope", "elections", "--rounds", "phase", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 1 and "rounds phase" in out and "BROKEN:" in out
