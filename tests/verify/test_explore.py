"""The explorer on scopes small enough for unit tests, the availability demonstration,
convergence, and decision logs of explored traces."""

import dataclasses
import json

import pytest

from gungnir.core import AVAILABILITY, CONSISTENCY
from gungnir.verify.cli import main
from gungnir.verify.explore import converge, explore
from gungnir.verify.invariants import CONSISTENCY_ONLY, SAFETY, default_invariants
from gungnir.verify.scopes import SCOPES, suite
from gungnir.verify.trace import check_trace_lines
from gungnir.verify.traces import decision_log, random_walk
from gungnir.verify.world import Model, Scope

# the `small` scope without its convergence check from every state
TINY = dataclasses.replace(SCOPES["small"], name="tiny", convergence_every=0)


def test_tiny_scope_is_explored_completely_and_safely() -> None:
    res = explore(Model(TINY), default_invariants(CONSISTENCY), time_limit=120)
    assert res.violation is None, res.violation and res.violation.timeline
    assert res.complete and res.states > 100 and res.depth > 5


def test_on_level_reports_each_depth_with_every_shallower_state_found() -> None:
    """The level hook reports depths 1, 2, ... in order with the states found so far, and on
    a complete exploration its last report counts every state (scripts/scope-levels prints
    these levels)."""
    model = Model(dataclasses.replace(TINY, max_states=3000))
    levels: list[tuple[int, int]] = []
    found: list[int] = []
    res = explore(
        model,
        default_invariants(CONSISTENCY),
        visit=lambda w: found.append(1),
        on_level=lambda depth, states, _s: levels.append((depth, states)),
    )
    depths = [d for d, _ in levels]
    assert depths == list(range(1, len(depths) + 1)) and len(depths) >= 5
    counts = [n for _, n in levels]
    assert counts == sorted(counts) and counts[-1] <= res.states == len(found)
    # a complete small exploration: the last level reported before the end covers all states
    full = explore(
        Model(dataclasses.replace(TINY, max_states=None)),
        default_invariants(CONSISTENCY),
        on_level=lambda d, n, _s: levels.append((d, n)),
        time_limit=120,
    )
    assert full.complete and levels[-1][1] == full.states


def test_daemon_crash_scope_with_three_daemons_is_complete() -> None:
    scope = Scope(name="t", crashes=1, partitions=0, writes=0, duplicates=0, node_crashes=False)
    res = explore(Model(scope), default_invariants(CONSISTENCY), time_limit=60)
    assert res.complete and res.violation is None


def test_symmetry_reduction_shrinks_the_space_without_changing_the_verdict() -> None:
    scope = Scope(name="t", crashes=1, partitions=0, writes=0, duplicates=0, node_crashes=False)
    with_sym = explore(Model(scope), default_invariants(CONSISTENCY), time_limit=60)
    without = explore(
        Model(dataclasses.replace(scope, symmetry=False)),
        default_invariants(CONSISTENCY),
        time_limit=60,
    )
    assert with_sym.complete and without.complete
    assert with_sym.states < without.states
    assert with_sym.violation is None and without.violation is None


@pytest.mark.slow
def test_availability_policy_breaks_single_writable_primary_within_a_few_steps() -> None:
    """Without quorum fencing an isolated primary keeps taking writes while the majority
    promotes another node, as with Sentinel."""
    scope = dataclasses.replace(
        TINY, policy=AVAILABILITY, daemons=("d1", "d2", "d3"), quorum=2, crashes=0, writes=0
    )
    res = explore(Model(scope), (*SAFETY, "SingleWritablePrimary"), time_limit=120)
    assert res.violation is not None
    assert "SingleWritablePrimary" in res.violation.broken[0]
    assert len(res.violation.labels) <= 15
    # the same scope under the consistency policy keeps the invariant
    safe = explore(
        Model(dataclasses.replace(scope, policy=CONSISTENCY)),
        SAFETY + CONSISTENCY_ONLY,
        # breadth-first: every state as deep as the availability failure is found and
        # checked once the explorer has started on that depth (about 106,000 states here)
        max_states=110_000,
    )
    assert safe.violation is None
    assert safe.depth >= len(res.violation.labels)


@pytest.mark.slow
def test_convergence_from_explored_states() -> None:
    scope = dataclasses.replace(TINY, convergence_every=1)
    res = explore(Model(scope), default_invariants(CONSISTENCY), time_limit=120)
    assert res.convergence_failure is None, res.convergence_failure.timeline
    assert res.convergence_checked == res.states - 1


def test_convergence_after_a_failover_with_three_daemons() -> None:
    m = Model(Scope(name="t"))
    w = m.initial()
    w = m.apply(w, ("crash-node", "n1"))
    assert converge(m, w, 40) is None


def test_decision_logs_of_random_walks_pass_the_trace_checker() -> None:
    m = Model(Scope(name="t", crashes=2, partitions=1, writes=1))
    kinds: set[str] = set()
    for seed in range(12):
        labels = random_walk(m, 80, seed)
        lines = decision_log(m, labels)
        kinds |= {json.loads(x)["kind"] for x in lines}
        report = check_trace_lines(lines, source=f"walk {seed}")
        assert report.failure is None, (seed, report.failure)
    assert {"header", "restarted", "epoch_adopted", "vote_granted"} <= kinds


def test_corrupted_decision_log_is_rejected() -> None:
    m = Model(Scope(name="t", crashes=1, partitions=1))
    lines: list[str] = []
    for seed in range(40):
        lines = decision_log(m, random_walk(m, 120, seed))
        if any('"leader_elected"' in x for x in lines):
            break
    assert any('"leader_elected"' in x for x in lines)
    # drop every grant but the leader's own: the leadership no longer has a majority
    corrupted = [
        x
        for x in lines
        if not (
            json.loads(x)["kind"] == "vote_granted"
            and json.loads(x)["candidate"] != json.loads(x)["daemon"]
        )
    ]
    report = check_trace_lines(corrupted)
    assert report.failure is not None
    assert report.failure.rule == "LeaderHasMajority"


@pytest.mark.slow
def test_cli_small_scope_and_bad_arguments(capsys) -> None:  # type: ignore[no-untyped-def]
    assert main(["--bogus"]) == 64
    rc = main(["--scope", "small", "--quiet"])
    out = capsys.readouterr().out
    assert "states" in out and "scope small" in out
    assert rc == 0


def test_cli_reports_a_mutant_with_exit_status_1(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    trace = tmp_path / "cx.jsonl"
    rc = main(
        ["--mutant", "skip-fencing", "--scope", "small-2", "--quiet", "--trace-out", str(trace)]
    )
    out = capsys.readouterr().out
    assert rc == 1 and "BROKEN: SingleWritablePrimary" in out
    assert trace.read_text().count("\n") > 3


def test_scopes_meet_the_brief() -> None:
    for name in ("default", "prefix", "large"):
        sc = SCOPES[name]
        assert len(sc.daemons) >= 3 and len(sc.nodes) >= 3 and sc.max_epoch >= 1
    assert SCOPES["large"].crashes >= 2 and SCOPES["large"].partitions >= 2
    # the CI scope has at least two faults; with the sound state identity it is bounded
    assert SCOPES["default"].crashes + SCOPES["default"].partitions >= 2
    assert SCOPES["default"].max_states is not None
    assert suite("default")[:3] == ("default", "failover-phase", "prefix")
    # scopes where elections reach a second epoch and failovers meet two node crashes
    assert SCOPES["elections"].max_epoch >= 2 and len(SCOPES["elections"].daemons) == 3
    assert {"small-2", "elections"} <= set(suite("default"))
    assert suite("small") == ("small",)


@pytest.mark.slow
def test_default_scope_holds_up_to_its_budget() -> None:
    """The CI scope: 3 daemons x 3 nodes, two daemon crashes, a write; breadth-first up to
    its state budget (every trace up to the depth reached), every invariant on every state,
    convergence from every state.  It is not complete: docs/verification.md."""
    sc = SCOPES["default"]
    assert sc.max_states is not None
    res = explore(Model(sc), default_invariants(sc.policy))
    assert res.violation is None, res.violation and res.violation.timeline
    assert res.convergence_failure is None, res.convergence_failure.timeline
    assert res.states >= sc.max_states and res.depth >= 15
    assert res.convergence_checked == res.states - 1


def test_progress_is_reported_by_the_clock() -> None:
    lines: list[str] = []
    explore(Model(TINY), SAFETY, max_states=3000, progress=lines.append, report_every=0.0)
    assert len(lines) > 10 and all(" states, depth " in x for x in lines)


def test_two_node_crashes_and_a_partition_lose_no_committed_write() -> None:
    """Nodes start fenced and any node (the primary too) may restart empty.  With two node
    crashes and a partition the checker found two holes, both closed in the core: a daemon
    with no history of a node lifted the start-up fence off the empty primary (the replicas
    resynced from it and lost a committed write), and a failover promoted a stale replica
    while the other holder was cut off.  Every trace up to the budget is clean now."""
    scope = dataclasses.replace(SCOPES["small"], name="small-2", crashes=2, convergence_every=0)
    res = explore(Model(scope), default_invariants(scope.policy), max_states=150_000)
    assert res.violation is None, res.violation.timeline
    assert res.depth >= 10 and res.states >= 150_000  # both holes were shallower
