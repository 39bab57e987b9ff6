"""Model checking voter-set changes (joint consensus) with the real core.

:class:`ReconfigModel` is the world of :mod:`gungnir.verify.world` with four daemons: the
committed voter set O = {d1, d2, d3} (d4 starts as an observer) and a desired set
N = {d2, d3, d4} that reaches each daemon on its own: a ``learn`` transition delivers
:class:`~gungnir.core.events.VotersChanged` to one chosen daemon, so daemons learn the change
at different times (before, during or after crashes, partitions and elections).  A daemon that
learned it gets it again after every restart, as the runtime re-reads its configuration.

The durable voter view (what :class:`~gungnir.core.actions.PersistVoters` stored) survives a
daemon crash.  The world's record types belong to :mod:`gungnir.verify.world`, so this model
keeps its extra state, and a mirror of every daemon's live voter view, as ``~``-prefixed
entries of ``World.bad``: the explorer's fingerprint covers that set, so worlds that differ
only in a voter view are never merged (``tests/verify/test_reconfig.py`` checks that the
fingerprint tells them apart), and no invariant has a ``~`` name.  Daemons are not
interchangeable here (d1 and d4 sit in one set each), so the scope turns symmetry off.

The mutant :data:`STRAIGHT_TO_NEW` switches a daemon straight to N when it learns it, with no
joint phase: the checker finds two leaders in one epoch (one elected by a majority of O, one by
a majority of N).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from gungnir.core import RULES, DaemonState, Log, Notify, Rules, Start
from gungnir.core.events import Event, VotersChanged
from gungnir.core.membership import View
from gungnir.verify import explore as _explore
from gungnir.verify.invariants import check
from gungnir.verify.world import Model, Scope, World

OLD = ("d1", "d2", "d3")
NEW = ("d2", "d3", "d4")

_LEARNED = "~learned:"
_DURABLE = "~durable:"
_LIVE = "~live:"


def reconfig_scope(
    name: str = "reconfig",
    old: tuple[str, ...] = OLD,
    new: tuple[str, ...] = NEW,
    overrides: tuple[tuple[str, Any], ...] = (),
    **changes: Any,
) -> Scope:
    """A scope whose daemons start with voter set ``old`` and are asked, one at a time, for
    ``new`` (carried as ``desired_voters`` in the settings overrides, so a scope alone
    rebuilds the model: counterexample timelines replay from it).  Defaults: four daemons
    (O = d1..d3, d4 an observer), one node, one daemon crash, one partition of a daemon
    (alone or with a node) or of a node, one election epoch."""
    daemons = tuple(sorted(set(old) | set(new)))
    base = Scope(
        name=name,
        daemons=daemons,
        nodes=("n1",),
        crashes=1,
        partitions=1,
        duplicates=0,
        writes=0,
        empty_restarts=False,
        node_crashes=False,
        symmetry=False,
        convergence_every=0,
        settings_overrides=(("voters", old), ("desired_voters", new), *overrides),
    )
    return dataclasses.replace(base, **changes)


def fast_overrides() -> tuple[tuple[str, Any], ...]:
    """Shorter timeouts for small explorations: the relative-time fingerprint distinguishes
    every timestamp up to the longest timeout, so shorter ones mean far fewer states.  The
    availability policy has no lease, which lets ``failover_timeout`` be short."""
    return (
        ("failover_timeout", 3.0),
        ("election_timeout", 1.0),
        ("report_ttl", 1.0),
        ("promote_after", 2.0),
        ("fence_after", 0.5),
        ("switchover_timeout", 1.0),
    )


def _names(t: Sequence[str]) -> str:
    return ",".join(t)


def _split(s: str) -> tuple[str, ...]:
    return tuple(x for x in s.split(",") if x)


@dataclass
class ReconfigModel(Model):
    """The world model plus a desired voter set delivered to one daemon at a time.

    The scope's settings name the desired set (``desired_voters``); the daemons start
    without it and learn it only through ``learn`` transitions."""

    #: labels replayed from the initial world to make the exploration's starting world (a
    #: reachable world, so every trace explored from it is a trace of the full model)
    prefix: tuple[tuple[Any, ...], ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        self.desired = self.settings.desired_voters
        if not self.desired:
            raise ValueError("a reconfig scope names the desired set (see reconfig_scope)")
        self.settings = self.settings.replace(desired_voters=())

    # -- extra state kept in World.bad ---------------------------------------------------

    def learned(self, w: World, d: str) -> bool:
        return _LEARNED + d in w.bad

    def durable_view(self, w: World, d: str) -> View | None:
        for f in w.bad:
            if f.startswith(_DURABLE + d + ":"):
                _, _, e, v, n = f.split(":")
                return (int(e), _split(v), _split(n))
        return None

    def _set_durable(self, w: World, d: str, view: View) -> World:
        prefix = _DURABLE + d + ":"
        keep = frozenset(f for f in w.bad if not f.startswith(prefix))
        e, v, n = view
        return w._replace(bad=keep | {f"{prefix}{e}:{_names(v)}:{_names(n)}"})

    def mirror(self, w: World) -> World:
        """Copy every live daemon's voter view and desired set into ``bad`` (fingerprinted)."""
        keep = {f for f in w.bad if not f.startswith(_LIVE)}
        for d, st in zip(self.scope.daemons, w.daemons, strict=True):
            if st is not None:
                keep.add(_live(d, st))
        return w._replace(bad=frozenset(keep))

    # -- driving the core ----------------------------------------------------------------

    def feed(self, w: World, d: str, event: Event) -> World:
        """As :meth:`Model.feed`, and record the voter views the core persisted: the core
        emits a ``voters_changed`` record right after each :class:`PersistVoters`."""
        outer = self.record
        buf: list[Log | Notify] = []
        self.record = buf
        try:
            w = super().feed(w, d, event)
        finally:
            self.record = outer
        if outer is not None:
            outer.extend(buf)
        for a in buf:
            if isinstance(a, Log) and a.kind == "voters_changed":
                r = a.as_dict()
                view = (int(r["voters_epoch"]), tuple(r["voters"]), tuple(r["next_voters"]))
                w = self._set_durable(w, str(r["daemon"]), view)
        return w

    def start_event(self, w: World, d: str, epoch: int, vote: str | None) -> Event:
        view = self.durable_view(w, d)
        if view is None:
            return Start(epoch, vote)
        return Start(epoch, vote, voters=view[1], next_voters=view[2], voters_epoch=view[0])

    def _boot(self, w: World, d: str) -> World:
        w = super()._boot(w, d)
        if self.learned(w, d):
            w = self.feed(w, d, VotersChanged(self.desired))
        return w

    # -- transitions ---------------------------------------------------------------------

    def initial(self) -> World:
        w = self.mirror(super().initial())
        for label in self.prefix:
            nxt = dict(self.successors(w)).get(label)
            if nxt is None:
                raise ValueError(f"prefix label {label!r} is not enabled")
            w = nxt
        return w

    def successors(self, w: World) -> Iterator[tuple[tuple[Any, ...], World]]:
        yield from super().successors(w)
        for i, d in enumerate(self.scope.daemons):
            if w.daemons[i] is not None and not self.learned(w, d):
                yield ("learn", d), self.apply(w, ("learn", d))

    def apply(self, w: World, label: tuple[Any, ...]) -> World:
        if label[0] == "learn":
            d = label[1]
            w = w._replace(bad=w.bad | {_LEARNED + d})
            w = self.settle(self.feed(w, d, VotersChanged(self.desired)))
        else:
            w = super().apply(w, label)
        return self.mirror(w)


def _live(d: str, st: DaemonState) -> str:
    s = st.settings
    return (
        f"{_LIVE}{d}:{st.voters_epoch}:{_names(s.voters)}:{_names(s.next_voters)}"
        f":{_names(st.desired)}"
    )


def _straight_to_new(st: DaemonState, desired: tuple[str, ...]) -> View:
    """MUTANT: adopt the desired set as committed at once, with no joint phase."""
    return (st.voters_epoch + 1, desired, ())


#: The core with voter changes applied without joint consensus.
STRAIGHT_TO_NEW: Rules = dataclasses.replace(RULES, begin_change=_straight_to_new)


@contextmanager
def _replay_as(model: ReconfigModel) -> Iterator[None]:
    """The explorer rebuilds counterexample timelines with ``Model(scope, rules, record=)``;
    make that this model's class (and prefix) for the duration of one exploration so labels
    like ``learn`` replay."""

    def build(scope: Scope, rules: Rules = RULES, record: Any = None) -> ReconfigModel:
        return type(model)(scope, rules, record, prefix=model.prefix)

    ns = vars(_explore)
    old = ns["Model"]
    ns["Model"] = build
    try:
        yield
    finally:
        ns["Model"] = old


def explore(model: ReconfigModel, invariants: tuple[str, ...], **kw: Any) -> _explore.Result:
    """:func:`gungnir.verify.explore.explore` on a :class:`ReconfigModel`."""
    with _replay_as(model):
        return _explore.explore(model, invariants, **kw)


# -- the runs of docs/voter-changes.md --------------------------------------------------------

#: d2 learned N and every daemon ran its first round: d2 stands for a reconfig epoch next
CHANGE_UNDER_WAY: tuple[tuple[Any, ...], ...] = (
    ("learn", "d2"),
    ("round", "d1"),
    ("round", "d2"),
    ("round", "d3"),
    ("round", "d4"),
    ("advance",),
)
#: d4 learned N (and only d4), then the primary crashed
PRIMARY_FAILS: tuple[tuple[Any, ...], ...] = (
    ("learn", "d4"),
    ("round", "d1"),
    ("round", "d2"),
    ("round", "d3"),
    ("round", "d4"),
    ("advance",),
    ("crash-node", "n1"),
)


def disjoint_scope(mutant: bool = False) -> Scope:
    """O = {d1} -> N = {d2}: no voter in common, the extreme shape (complete in ~1 minute)."""
    if mutant:  # a failover election is what lets an N-only daemon stand: two nodes
        return reconfig_scope(
            name="disjoint-mutant",
            old=("d1",),
            new=("d2",),
            nodes=("n1", "n2"),
            quorum=1,
            node_crashes=True,
            partitions=0,
            max_time=3,
            policy="availability",
            overrides=fast_overrides(),
        )
    return reconfig_scope(
        name="disjoint",
        old=("d1",),
        new=("d2",),
        quorum=1,
        max_time=2,
        policy="availability",
        overrides=fast_overrides(),
    )


def primary_fails_scope() -> Scope:
    """O = {d1,d2,d3} -> N = {d2,d3,d4}, two nodes, quorum 3 (so two daemons report before
    any stands), a node crash: where straight-to-new elects an O leader and an N leader."""
    return reconfig_scope(
        name="primary-fails",
        nodes=("n1", "n2"),
        quorum=3,
        node_crashes=True,
        daemon_crashes=False,
        partitions=0,
    )


def runs() -> list[tuple[str, ReconfigModel, int | None, bool]]:
    """(name, model, state budget or None for complete, a violation expected)."""
    return [
        ("disjoint, joint consensus", ReconfigModel(disjoint_scope()), None, False),
        (
            "O={d1,d2,d3} -> N={d2,d3,d4}, change under way, joint consensus",
            ReconfigModel(reconfig_scope(), prefix=CHANGE_UNDER_WAY),
            40_000,
            False,
        ),
        (
            "O={d1,d2,d3} -> N={d2,d3,d4}, primary failed, joint consensus",
            ReconfigModel(primary_fails_scope(), prefix=PRIMARY_FAILS),
            20_000,
            False,
        ),
        (
            "O={d1,d2,d3} -> N={d2,d3,d4}, primary failed, straight to N (mutant)",
            ReconfigModel(primary_fails_scope(), STRAIGHT_TO_NEW, prefix=PRIMARY_FAILS),
            None,
            True,
        ),
        (
            "disjoint, straight to N (mutant)",
            ReconfigModel(disjoint_scope(mutant=True), STRAIGHT_TO_NEW),
            None,
            True,
        ),
    ]


def random_walks(
    model: ReconfigModel, walks: int, steps: int, invariants: tuple[str, ...]
) -> tuple[tuple[int, int, list[str]] | None, int, int]:
    """Seeded random walks beyond the exhaustive depth (many epochs, elections under the new
    set after the commit), checking ``invariants`` at every step.  Returns (the first
    violation as (seed, step, broken) or None, walks that ended with the new set committed in
    some daemon's config, the highest epoch reached)."""
    import random

    committed = 0
    top = 0
    for seed in range(walks):
        rng = random.Random(seed)
        w = model.initial()
        for step in range(steps):
            options = list(model.successors(w))
            busy = [o for o in options if o[0][0] in ("round", "inbox", "advance")]
            _, w = rng.choice(busy if busy and rng.random() < 0.85 else options)
            broken = check(model, w, invariants)
            if broken:
                return (seed, step, broken), committed, top
        if any(st is not None and st.config.voters == model.desired for st in w.daemons):
            committed += 1
        top = max(top, *w.high)
    return None, committed, top


def main() -> int:
    """``python -m gungnir.verify.reconfig``: every run; exit 1 if one disagrees with what it
    should find (a violation with the real rules, none for a mutant)."""
    from gungnir.verify.invariants import default_invariants

    bad = 0
    for name, model, budget, expect in runs():
        inv = default_invariants(model.scope.policy)
        if expect:
            inv = ("ElectionSafety", "ConfigUniqueness")
        res = explore(model, inv, max_states=budget)
        found = res.violation is not None
        print(f"{name}: {res.summary()}")
        if found:
            print("  " + "; ".join(res.violation.broken if res.violation else []))
        bad += found != expect
    sc = reconfig_scope(name="walks", nodes=("n1", "n2"), node_crashes=True, max_epoch=10)
    inv = tuple(i for i in default_invariants(sc.policy) if i != "Abstract")
    for rules, expect in ((RULES, False), (STRAIGHT_TO_NEW, True)):
        found_at, committed, top = random_walks(ReconfigModel(sc, rules), 300, 80, inv)
        kind = "straight to N (mutant)" if expect else "joint consensus"
        print(
            f"random walks, {kind}: 300 x 80 steps, {committed} committed, highest epoch {top}, "
            f"violation: {found_at}"
        )
        bad += (found_at is not None) != expect
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
