"""The explorer's state-space reductions keep every verdict.

Each reduction leaves out of the fingerprint state that cannot change what happens next (see
docs/verification.md, "Reductions").  Three checks back that claim:

- statically, the fields called unread are not read anywhere in ``gungnir/core``;
- one step at a time: perturbing the left-out state of explored worlds (inside the class the
  fingerprint merges) gives the same enabled transitions, the same successor classes and the
  same invariant verdicts;
- end to end: on a scope small enough to explore completely without the reductions, the
  reduced and unreduced explorations reach the same set of abstract states (the election
  history the Z3 proofs are about, plus the invariant verdicts), and every mutant is caught
  with and without them.
"""

from __future__ import annotations

import dataclasses
import pathlib
import random
import re

import pytest

from gungnir.core import CONSISTENCY
from gungnir.verify.explore import Fingerprinter, explore
from gungnir.verify.invariants import abstraction, check, default_invariants
from gungnir.verify.mutants import mutants
from gungnir.verify.world import Model, Scope, World

CORE = pathlib.Path(__file__).resolve().parents[2] / "gungnir" / "core"

#: two voters and a node crash: a complete failover (election, fence, lease wait, promote,
#: repoint) whose full space is small enough to explore without reductions
FAILOVER = Scope(
    name="two-voter-failover",
    daemons=("d1", "d2"),
    crashes=1,
    partitions=0,
    daemon_crashes=False,
    writes=0,
    duplicates=0,
    empty_restarts=False,
)


def _core_source() -> str:
    return "\n".join(p.read_text() for p in sorted(CORE.glob("*.py")))


def test_fields_left_out_are_never_read_by_the_core() -> None:
    src = _core_source()
    # declared and written as keyword arguments; read only from the probe event (``ev``),
    # never from a node view or a daemon state
    for name in ("accepts_writes", "empty", "odown_since"):
        readers = {m.group(1) for m in re.finditer(rf"(\w+)\.{name}\b", src)}
        assert readers <= {"ev"}, (name, readers)
    # a peer's "since" (third element) is unpacked only to be ignored or carried over
    for m in re.finditer(r"for ([^\n]*) in (?:st|state)\.peers", src):
        names = [x.strip() for x in m.group(1).split(",")]
        assert len(names) == 3, m.group(0)
        since = names[2]
        if since != "_":
            line = src[m.end() : src.index("return", m.end())]
            uses = re.findall(rf"\b{since}\b", line)
            # carried over into the new tuple unchanged, in a conditional expression only
            assert all(u == since for u in uses) and "since if" in line, line


def _sample(model: Model, limit: int, stride: int) -> list[World]:
    """Every ``stride``-th world of the first ``limit`` of a breadth-first exploration."""
    out: list[World] = []
    count = 0

    def visit(w: World) -> None:
        nonlocal count
        if count % stride == 0:
            out.append(w)
        count += 1

    explore(model, (), max_states=limit, visit=visit)
    return out


def _perturb(w: World, rng: random.Random, model: Model, hits: dict[str, int]) -> World:
    """Change only what the reduced fingerprint leaves out, within its merged class."""
    s = model.settings
    now = float(w.now)
    daemons = []
    for st in w.daemons:
        if st is None:
            daemons.append(None)
            continue
        ch: dict[str, object] = {}
        ch["peers"] = tuple((p, ok, now - rng.randint(0, 20)) for p, ok, _ in st.peers)
        ch["nodes"] = tuple(
            dataclasses.replace(v, accepts_writes=rng.random() < 0.5, empty=rng.random() < 0.5)
            for v in st.nodes
        )
        ch["odown_since"] = rng.choice([None, now - rng.randint(0, 9)])
        stale = [
            (p, st.settings.nodes[0], False, now - rng.randint(0, 3))
            for p, _, _ in st.peers
            if not any(r[0] == p and r[1] == st.settings.nodes[0] for r in st.reports)
        ]
        stale += [
            (p, st.settings.nodes[1], True, now - s.report_ttl - rng.randint(1, 5))
            for p, _, _ in st.peers
            if not any(r[0] == p and r[1] == st.settings.nodes[1] for r in st.reports)
        ]
        ch["reports"] = tuple(sorted(st.reports + tuple(stale)))
        if st.next_election is not None and st.next_election <= now:
            ch["next_election"] = now - 0.5 - rng.randint(0, 5)
            hits["next_election"] += 1
        if st.isolated_since is not None and now - st.isolated_since >= s.fence_after:
            ch["isolated_since"] = st.isolated_since - rng.randint(1, 5)
            hits["isolated_since"] += 1
        el = st.election
        if el is not None and now - el.started >= s.election_timeout:
            ch["election"] = dataclasses.replace(el, started=el.started - rng.randint(1, 5))
            hits["election.started"] += 1
        fo = st.failover
        if fo is not None:
            limit = max(s.failover_timeout, s.switchover_timeout)
            if now - fo.started > limit:
                fo = dataclasses.replace(fo, started=fo.started - rng.randint(1, 5))
                hits["failover.started"] += 1
            if fo.lease_until is not None and fo.lease_until <= now:
                fo = dataclasses.replace(fo, lease_until=fo.lease_until - rng.randint(1, 5))
                hits["lease_until"] += 1
            ch["failover"] = fo
        daemons.append(st.replace(**ch))
    return w._replace(daemons=tuple(daemons))


@pytest.mark.parametrize(
    ("scope", "limit", "stride", "expect"),
    [
        (
            FAILOVER,
            20_000,  # replica acks count max-lag + 2 s (world.ack_window): more states first
            8,
            ("next_election", "election.started", "lease_until"),
        ),
        (
            Scope(name="three", crashes=1, partitions=1, writes=1, duplicates=1),
            12_000,
            8,
            ("isolated_since",),
        ),
    ],
    ids=["two-voter-failover", "three"],
)
def test_state_left_out_changes_no_successor(
    scope: Scope, limit: int, stride: int, expect: tuple[str, ...]
) -> None:
    model = Model(scope)
    fp = Fingerprinter(model, symmetry=False)
    inv = default_invariants(CONSISTENCY)
    rng = random.Random(5)
    worlds = _sample(model, limit, stride)
    hits = dict.fromkeys(
        ("next_election", "isolated_since", "election.started", "failover.started", "lease_until"),
        0,
    )
    changed = 0
    for w in worlds:
        w2 = _perturb(w, rng, model, hits)
        changed += w2 != w
        assert fp.canonical(w2) == fp.canonical(w)
        assert check(model, w2, inv) == check(model, w, inv)
        a = dict(model.successors(w))
        b = dict(model.successors(w2))
        assert a.keys() == b.keys()
        for label, nxt in a.items():
            assert fp.canonical(b[label]) == fp.canonical(nxt), label
            assert check(model, b[label], inv) == check(model, nxt, inv), label
    assert changed > len(worlds) // 2  # the perturbation really changed the worlds
    assert all(hits[k] > 0 for k in expect), hits  # and reached the clipped times


def _abstract_states(scope: Scope, depth: int) -> tuple[set[object], int]:
    """Every abstract state (with the invariants it breaks) of ``scope`` within ``depth``
    breadth-first steps, and how many concrete states that took."""
    model = Model(scope)
    seen: set[object] = set()
    inv = default_invariants(scope.policy)
    found: dict[str, int] = {}

    def visit(w: World) -> None:
        seen.add((abstraction(model, w), tuple(check(model, w, inv))))

    def on_level(level: int, states: int, _seconds: float) -> None:
        # Called when the first world of ``level`` is taken from the queue: every world of
        # depth <= level has been visited and none deeper.
        if level == depth:
            found["states"] = states
            raise _DepthReached

    try:
        res = explore(model, inv, visit=visit, on_level=on_level, time_limit=120)
    except _DepthReached:
        return seen, found["states"]
    assert res.violation is None
    assert res.complete, f"stopped at depth {res.depth} before depth {depth}"
    return seen, res.states


#: Breadth-first depth both explorations are compared to. The unreduced one no longer reaches
#: a fixpoint in reasonable time since the nodes carry their observed settings (66,173 states
#: at depth 26 and growing, against 14,384 reduced), so they are compared level for level:
#: a sound reduction finds the same abstract states within every depth.
SAME_DEPTH = 26


class _DepthReached(Exception):
    """Raised from ``on_level`` to end an exploration once every state to a depth is found."""


@pytest.mark.slow
def test_reduced_and_unreduced_explorations_reach_the_same_abstract_states() -> None:
    reduced, n_red = _abstract_states(FAILOVER, SAME_DEPTH)
    full, n_full = _abstract_states(dataclasses.replace(FAILOVER, reduce=False), SAME_DEPTH)
    assert n_red < n_full  # the reduction merges states ...
    assert reduced == full  # ... and loses no abstract state within the depth
    assert any(a.leaders for a, _ in full)  # the scope really elects and fails over


@pytest.mark.slow
@pytest.mark.parametrize("mutant", mutants(), ids=lambda m: m.name)
def test_every_mutant_is_caught_without_the_reductions_too(mutant) -> None:  # type: ignore[no-untyped-def]
    inv = default_invariants(mutant.scope.policy)
    red = explore(Model(mutant.scope, mutant.rules), inv, time_limit=120)
    full = explore(
        Model(dataclasses.replace(mutant.scope, reduce=False), mutant.rules), inv, time_limit=120
    )
    assert red.violation is not None and full.violation is not None
    names = {b.split(":")[0] for b in red.violation.broken}
    assert names == {b.split(":")[0] for b in full.violation.broken}
    # breadth-first both ways: the shortest counterexample has the same length
    assert len(red.violation.labels) == len(full.violation.labels)
