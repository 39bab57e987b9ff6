"""Sound state identity: the canonical encoding and its digest tell apart every two worlds
that differ in any value or value class, and the explorer's reductions lose no state
against an independent oracle that deduplicates by the world itself."""

from __future__ import annotations

import dataclasses
from collections import deque
from typing import Any, NamedTuple

import pytest

from gungnir.verify.explore import Fingerprinter, explore
from gungnir.verify.identity import canon, digest, encode
from gungnir.verify.invariants import abstraction, check, default_invariants
from gungnir.verify.world import Model, Scope, World


class Pair(NamedTuple):
    a: Any
    b: Any


@dataclasses.dataclass(frozen=True)
class Box:
    a: Any
    b: Any


#: values that Python's ``hash`` or ``==`` confuse, or that print alike in a naive encoding
CLASHES: list[tuple[Any, Any]] = [
    (-1, -2),  # hash(-1) == hash(-2)
    (-1.0, -2.0),
    ((0, -1.0), (0, -2.0)),  # hash((0, -1.0)) == hash((0, -2.0))
    (1, 1.0),
    (1, True),
    (1.0, True),
    (0, False),
    (0, None),
    ("1", 1),
    ("None", None),
    ("True", True),
    (0.0, -0.0),
    (b"a", "a"),
    ((1, 2), (2, 1)),
    ((1, 2), frozenset({1, 2})),
    ((1, 2), Pair(1, 2)),
    (Pair(1, 2), Box(1, 2)),
    (frozenset({1}), frozenset({1.0})),
    (frozenset(), ()),
    (("a", "b"), ("a, 'b'",)),  # a string can never forge structure
    ("x\x00y", ("x", "y")),
    (("ab",), ("a", "b")),
]


def test_python_hash_really_confuses_these() -> None:
    """The reason for this module: the builtin hash merges values that differ."""
    assert hash(-1) == hash(-2)
    assert hash((0, -1.0)) == hash((0, -2.0))
    assert hash(1) == hash(1.0) == hash(True)


@pytest.mark.parametrize(("x", "y"), CLASHES, ids=lambda v: repr(v))
def test_values_that_differ_get_different_encodings_and_digests(x: Any, y: Any) -> None:
    assert encode(x) != encode(y)
    assert digest(x) != digest(y)
    assert len(digest(x)) == 16
    # nested anywhere, they still differ
    assert digest((0, Box(x, None))) != digest((0, Box(y, None)))
    assert digest(frozenset({("k", x)})) != digest(frozenset({("k", y)}))


def test_equal_sets_encode_alike_whatever_their_iteration_order() -> None:
    items = [f"n{i}" for i in range(40)] + [(i, "x") for i in range(10)]
    a = frozenset(items)
    b = frozenset(reversed(items))
    grown: set[Any] = set(range(1000))
    grown |= set(items)
    c = frozenset(grown - set(range(1000)))
    assert encode(a) == encode(b) == encode(c)
    assert digest(Box(a, 1)) == digest(Box(c, 1))


def test_unknown_types_are_refused() -> None:
    with pytest.raises(TypeError):
        canon([1, 2])
    with pytest.raises(TypeError):
        canon({"a": 1})


def _model() -> Model:
    return Model(Scope(name="t", crashes=1, partitions=1, writes=1))


def _with_time(w: World, i: int, rel: float) -> World:
    st = w.daemons[i]
    assert st is not None
    return w._replace(
        daemons=(*w.daemons[:i], st.replace(drift_since=w.now + rel), *w.daemons[i + 1 :])
    )


@pytest.mark.parametrize("symmetry", [True, False])
def test_worlds_differing_only_by_minus_one_and_minus_two_seconds_are_two_states(
    symmetry: bool,
) -> None:
    m = _model()
    fp = Fingerprinter(m, symmetry)
    w = m.initial()
    a, b = _with_time(w, 0, -1.0), _with_time(w, 0, -2.0)
    assert a != b
    assert fp.canonical(a) != fp.canonical(b)
    assert fp.canonical(a) == fp.canonical(_with_time(w, 0, -1.0))


@pytest.mark.parametrize(("x", "y"), [(1, 2), (1, 1.0), (1, True), (0, None)])
def test_worlds_differing_in_one_value_class_are_two_states(x: Any, y: Any) -> None:
    m = _model()
    fp = Fingerprinter(m, True)
    w = m.initial()
    assert fp.canonical(w._replace(service=(x, "n1"))) != fp.canonical(
        w._replace(service=(y, "n1"))
    )
    n = w.nodes[1]
    assert fp.canonical(w._replace(nodes=(w.nodes[0], n._replace(run=x), w.nodes[2]))) != (
        fp.canonical(w._replace(nodes=(w.nodes[0], n._replace(run=y), w.nodes[2])))
    )


#: time-bounded so that an oracle without any time abstraction terminates: two voters, a
#: node crash and restart (empty or not), a write, three model seconds
ORACLE = Scope(
    name="oracle",
    daemons=("d1", "d2"),
    crashes=1,
    partitions=0,
    writes=1,
    duplicates=0,
    daemon_crashes=False,
    max_time=3,
)


def _oracle(model: Model) -> set[World]:
    """Every reachable world, deduplicated by the world value itself: no fingerprint, no
    time abstraction, no symmetry."""
    init = model.initial()
    seen = {init}
    queue = deque([init])
    while queue:
        w = queue.popleft()
        for _, w2 in model.successors(w):
            if max(w2.high) > model.scope.max_epoch or w2 in seen:
                continue
            seen.add(w2)
            queue.append(w2)
    return seen


def _swap(x: Any) -> Any:
    """``x`` with the daemon names d1 and d2 exchanged (an abstract history)."""
    if isinstance(x, str):
        return {"d1": "d2", "d2": "d1"}.get(x, x)
    if isinstance(x, tuple):
        return tuple(_swap(y) for y in x)
    if isinstance(x, frozenset):
        return frozenset(_swap(y) for y in x)
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        return dataclasses.replace(
            x, **{f.name: _swap(getattr(x, f.name)) for f in dataclasses.fields(x)}
        )
    return x


@pytest.mark.slow
@pytest.mark.parametrize("symmetry", [False, True])
def test_explorer_reaches_every_state_the_oracle_reaches(symmetry: bool) -> None:
    """Without symmetry the explorer (digest, time-relative rendering, reductions) reaches
    exactly the classes of the oracle's worlds, one state per class, none missing.  With
    the symmetry reduction it reaches one world per orbit: every history the oracle
    reaches, up to exchanging the two daemons.  A fingerprint that merged two distinct
    states would drop the successors of one, and the histories (abstract election history,
    invariant verdicts, the nodes and the Service: independent of the fingerprint) would
    differ."""
    scope = dataclasses.replace(ORACLE, symmetry=symmetry)
    model = Model(scope)
    inv = default_invariants(scope.policy)
    worlds = _oracle(model)
    fp = Fingerprinter(model, symmetry)
    found: list[World] = []
    res = explore(model, inv, visit=found.append, time_limit=150)
    assert res.complete and res.violation is None
    digests = [fp.canonical(w) for w in found]
    assert len(set(digests)) == len(digests) == res.states  # one world per state
    assert len(worlds) > res.states > 500  # the reductions merge worlds ...

    def histories(ws: Any) -> set[object]:
        return {
            (
                abstraction(model, w),
                tuple(b.split(":")[0] for b in check(model, w, inv)),
                tuple((n.up, n.role, n.master, n.log) for n in w.nodes),
                w.service,
            )
            for w in ws
        }

    got, want = histories(found), histories(worlds)
    if symmetry:
        got |= {_swap(h) for h in got}
    else:
        assert set(digests) == {fp.canonical(w) for w in worlds}
    assert got == want  # ... and lose no history
    assert any(h[0].leaders for h in want)  # the scope elects and fails over
