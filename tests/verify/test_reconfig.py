"""Voter-set changes, model-checked with the real core (gungnir.verify.reconfig)."""

from __future__ import annotations

import pytest

from gungnir.core import RULES
from gungnir.verify.explore import Fingerprinter
from gungnir.verify.invariants import check, default_invariants
from gungnir.verify.reconfig import (
    CHANGE_UNDER_WAY,
    PRIMARY_FAILS,
    STRAIGHT_TO_NEW,
    ReconfigModel,
    disjoint_scope,
    explore,
    fast_overrides,
    primary_fails_scope,
    random_walks,
    reconfig_scope,
)
from gungnir.verify.trace import check_trace_lines
from gungnir.verify.traces import decision_log

#: a schedule (after PRIMARY_FAILS) in which straight-to-new elects d4 by a majority of N
#: while d1 is elected by a majority of O, both in epoch 1
TWO_MAJORITIES = (
    ("round", "d2"),
    ("round", "d3"),
    ("round", "d4"),
    ("inbox", "d3"),
    ("inbox", "d4"),
    ("round", "d1"),
    ("inbox", "d2"),
    ("inbox", "d1"),
)


def four_daemons():  # type: ignore[no-untyped-def]
    return primary_fails_scope()


def test_the_fingerprint_tells_voter_views_apart() -> None:
    """The explorer must not merge worlds that differ only in a daemon's voter view (kept in
    settings, which the fingerprint does not render) or in what it persisted or learned."""
    m = ReconfigModel(reconfig_scope())
    fp = Fingerprinter(m, symmetry=False)
    w = m.initial()
    learned = m.apply(w, ("learn", "d2"))
    assert m.learned(learned, "d2") and not m.learned(w, "d2")
    assert m.durable_view(learned, "d2") == (0, ("d1", "d2", "d3"), ("d2", "d3", "d4"))
    # the same world with only d2's live view changed back, and only its durable view
    i = m.dindex["d2"]
    st = learned.daemons[i]
    assert st is not None
    undone = st.replace(settings=st.settings.replace(next_voters=()))
    live_only = m.mirror(
        learned._replace(daemons=(*learned.daemons[:i], undone, *learned.daemons[i + 1 :]))
    )
    prints = {fp.canonical(x) for x in (w, learned, live_only)}
    assert len(prints) == 3


def test_a_restart_keeps_the_persisted_view_and_relearns_the_desired_set() -> None:
    m = ReconfigModel(reconfig_scope())
    w = m.apply(m.initial(), ("learn", "d2"))
    w = m.apply(w, ("crash", "d2"))
    assert w.daemons[m.dindex["d2"]] is None
    w = m.apply(w, ("restart", "d2"))
    st = w.daemons[m.dindex["d2"]]
    assert st is not None
    assert st.settings.next_voters == ("d2", "d3", "d4") and st.desired == ("d2", "d3", "d4")


def test_straight_to_new_elects_two_leaders_on_a_known_schedule_and_joint_does_not() -> None:
    for rules, leaders in ((STRAIGHT_TO_NEW, {(1, "d1"), (1, "d4")}), (RULES, {(1, "d1")})):
        m = ReconfigModel(four_daemons(), rules)
        w = m.initial()
        for label in PRIMARY_FAILS + TWO_MAJORITIES:
            w = dict(m.successors(w))[label]
        assert set(w.leaders) == leaders
        broken = check(m, w, ("ElectionSafety",))
        assert bool(broken) == (rules is STRAIGHT_TO_NEW), broken


def test_checker_finds_two_leaders_for_straight_to_new_in_the_disjoint_shape() -> None:
    """O = {d1}, N = {d2}: the extreme shape (N disjoint from O), explored from the start."""
    sc = disjoint_scope(mutant=True)
    res = explore(ReconfigModel(sc, STRAIGHT_TO_NEW), ("ElectionSafety",), time_limit=60)
    assert res.violation is not None, res.summary()
    assert "both led epoch" in " ".join(res.violation.broken)
    assert "learn d2" in res.violation.timeline and "BROKEN" in res.violation.timeline


@pytest.mark.slow
def test_checker_finds_two_leaders_for_straight_to_new_in_the_four_daemon_shape() -> None:
    """From the reachable world where d4 learned N and the primary just failed, every trace
    is explored breadth-first: the mutant's O-majority and N-majority leaders are found."""
    m = ReconfigModel(four_daemons(), STRAIGHT_TO_NEW, prefix=PRIMARY_FAILS)
    res = explore(m, ("ElectionSafety", "ConfigUniqueness"), time_limit=80)
    assert res.violation is not None, res.summary()
    assert "both led epoch 1" in " ".join(res.violation.broken)


@pytest.mark.slow
def test_joint_consensus_is_safe_from_the_same_world() -> None:
    """The real rules from the same world, breadth-first to a budget: every trace of up to
    the reported depth is explored, with no violation (complete runs are in the smaller
    shape below: this one is far bigger than a test's time)."""
    m = ReconfigModel(four_daemons(), prefix=PRIMARY_FAILS)
    res = explore(m, default_invariants(m.scope.policy), max_states=20_000)
    assert res.violation is None, res.violation.timeline if res.violation else ""
    assert res.depth >= 6, res.summary()


@pytest.mark.slow
def test_joint_consensus_is_safe_with_a_crash_and_a_partition() -> None:
    """O = {d1, d2, d3} -> N = {d2, d3, d4} while d2's reconfig election runs, with one
    daemon crash and one partition still to come and the others learning N at any time:
    breadth-first to a budget (every trace of up to 3 steps: the shortest commit takes 3),
    no violation."""
    m = ReconfigModel(reconfig_scope(), prefix=CHANGE_UNDER_WAY)
    res = explore(m, default_invariants(m.scope.policy), max_states=40_000)
    assert res.violation is None, res.violation.timeline if res.violation else ""
    assert res.depth >= 4, res.summary()
    # the commit is inside the explored depth: replay the shortest committing schedule
    w = m.initial()
    for label in (("round", "d2"), ("inbox", "d3"), ("inbox", "d2")):
        w = dict(m.successors(w))[label]
    assert (1, "d2") in w.leaders
    st = w.daemons[m.dindex["d2"]]
    assert st is not None and st.settings.voters == ("d2", "d3", "d4")
    assert not check(m, w, default_invariants(m.scope.policy))


@pytest.mark.slow
def test_joint_consensus_is_safe_in_the_disjoint_shape_explored_completely() -> None:
    """O = {d1} -> N = {d2} (no voter in common: the extreme shape), a daemon crash, a
    partition, the primary node in the partition shapes, every trace of the first two model
    seconds: explored to completion (about 105k states), no violation."""
    sc = reconfig_scope(
        name="disjoint",
        old=("d1",),
        new=("d2",),
        quorum=1,
        max_time=2,
        policy="availability",
        overrides=fast_overrides(),
    )
    m = ReconfigModel(sc)
    res = explore(m, default_invariants(sc.policy), time_limit=85)
    assert res.violation is None, res.violation.timeline if res.violation else ""
    assert res.complete, res.summary()
    assert res.states > 50_000


def test_the_decision_log_of_a_change_replays_through_the_trace_checker() -> None:
    m = ReconfigModel(reconfig_scope(), prefix=CHANGE_UNDER_WAY)
    lines = decision_log(m, [("round", "d2"), ("inbox", "d3"), ("inbox", "d2"), ("inbox", "d1")])
    kinds = [line for line in lines if '"voters_changed"' in line]
    assert any('"next_voters": ["d2", "d3", "d4"]' in line for line in kinds)
    assert any('"voters": ["d2", "d3", "d4"]' in line for line in kinds)  # the commit
    report = check_trace_lines(lines)
    assert report.failure is None, report.failure
    commit = next(line for line in kinds if '"voters_epoch": 1' in line)
    bad = [*lines, commit.replace('"voters_epoch": 1', '"voters_epoch": -1')]
    assert check_trace_lines(bad).failure is not None
    assert "voters_epoch" in str(check_trace_lines(bad).failure)


#: Abstract is left out of the walks: its voter set is fixed (O), and after the commit a leader
#: elected by a majority of N alone is correct but has no majority of O (see the docs)
WALK_INVARIANTS = tuple(i for i in default_invariants("consistency") if i != "Abstract")


@pytest.mark.slow
def test_random_walks_over_many_epochs_keep_every_invariant() -> None:
    """Beyond the exhaustive depth: 200 seeded walks of 80 steps, two nodes, a crash (daemon
    or node) and a partition, up to 10 epochs, so failovers and elections under the new set
    after the commit happen; no violation, and most walks commit the change."""
    sc = reconfig_scope(nodes=("n1", "n2"), node_crashes=True, max_epoch=10)
    bad, committed, top = random_walks(ReconfigModel(sc), 200, 80, WALK_INVARIANTS)
    assert bad is None, bad
    assert committed >= 100 and top >= 3, (committed, top)


def test_random_walks_catch_straight_to_new() -> None:
    sc = reconfig_scope(nodes=("n1", "n2"), node_crashes=True, max_epoch=10)
    # 100 walks: daemons now announce their config to each peer whose link comes up, which
    # moves seeded walks; seed 55 finds it (3.6 s on the shared box under load)
    bad, _, _ = random_walks(ReconfigModel(sc, STRAIGHT_TO_NEW), 100, 80, WALK_INVARIANTS)
    assert bad is not None and "both led epoch" in " ".join(bad[2]), bad


def test_cli_voter_change_scope_runs_the_reconfig_explorations(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from gungnir.verify import cli, reconfig

    calls: list[int] = []
    monkeypatch.setattr(reconfig, "main", lambda: calls.append(1) or 7)
    assert cli.main(["--scope", "voter-change"]) == 7 and calls == [1]
