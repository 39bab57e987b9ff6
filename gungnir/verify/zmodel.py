"""The abstract state of :mod:`gungnir.verify.abstract` and its transitions, encoded in Z3.

Kept apart from the lemmas (:mod:`gungnir.verify.proofs`) so the encoding can be read, and
checked against ``abstract.py`` (``tests/verify/test_proofs.py`` compares the invariant names
and transition parameters), on its own.  Daemons and nodes are uninterpreted sorts, so every
statement made with these terms holds for every number of daemons, nodes and epochs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import z3

DAEMON = z3.DeclareSort("Daemon")
NODE = z3.DeclareSort("Node")
INT = z3.IntSort()
BOOL = z3.BoolSort()


@dataclass(frozen=True)
class ZState:
    """An AbstractState as Z3 terms: one callable per field.  A symbolic state uses
    uninterpreted functions; a post-state wraps its pre-state with the transition's update; a
    concrete state (`concrete`) spells out the finite sets.  `maj(e, d)` stands for "grants for
    e to d from a majority of the voters"."""

    voter: Callable[[z3.ExprRef], z3.BoolRef]
    votes: Callable[[z3.ExprRef, z3.ArithRef, z3.ExprRef], z3.BoolRef]
    leaders: Callable[[z3.ArithRef, z3.ExprRef], z3.BoolRef]
    configs: Callable[[z3.ArithRef, z3.ExprRef], z3.BoolRef]
    epoch: Callable[[z3.ExprRef], z3.ArithRef]
    restarted: Callable[[z3.ExprRef], z3.BoolRef]
    rst: Callable[[z3.ExprRef], z3.ArithRef]
    maj: Callable[[z3.ArithRef, z3.ExprRef], z3.BoolRef]


def symbolic_state(tag: str) -> ZState:
    """A state about which nothing is known but what later facts say."""
    return ZState(
        voter=z3.Function("voter", DAEMON, BOOL),
        votes=z3.Function(f"votes_{tag}", DAEMON, INT, DAEMON, BOOL),
        leaders=z3.Function(f"leaders_{tag}", INT, DAEMON, BOOL),
        configs=z3.Function(f"configs_{tag}", INT, NODE, BOOL),
        epoch=z3.Function(f"epoch_{tag}", DAEMON, INT),
        restarted=z3.Function(f"restarted_{tag}", DAEMON, BOOL),
        rst=z3.Function(f"restart_epoch_{tag}", DAEMON, INT),
        maj=z3.Function(f"majority_{tag}", INT, DAEMON, BOOL),
    )


_v, _c, _d, _d2 = z3.Consts("v c d d2", DAEMON)
_e = z3.Int("e")
_p, _p2 = z3.Consts("p p2", NODE)


def invariant(s: ZState) -> list[tuple[str, z3.BoolRef]]:
    """The invariant `abstract.violations(s) == []`, conjunct by conjunct, with the same names."""
    c2 = z3.Const("c2", DAEMON)
    return [
        ("VoterMembership", z3.ForAll([_v, _e, _c], z3.Implies(s.votes(_v, _e, _c), s.voter(_v)))),
        (
            "OneVotePerEpoch",
            z3.ForAll(
                [_v, _e, _c, c2],
                z3.Implies(z3.And(s.votes(_v, _e, _c), s.votes(_v, _e, c2)), _c == c2),
            ),
        ),
        ("LeaderHasMajority", z3.ForAll([_e, _d], z3.Implies(s.leaders(_e, _d), s.maj(_e, _d)))),
        (
            "ElectionSafety",
            z3.ForAll(
                [_e, _d, _d2],
                z3.Implies(z3.And(s.leaders(_e, _d), s.leaders(_e, _d2)), _d == _d2),
            ),
        ),
        (
            "ConfigFromLeader",
            z3.ForAll([_e, _p], z3.Implies(s.configs(_e, _p), z3.Exists([_d], s.leaders(_e, _d)))),
        ),
        (
            "ConfigUniqueness",
            z3.ForAll(
                [_e, _p, _p2],
                z3.Implies(z3.And(s.configs(_e, _p), s.configs(_e, _p2)), _p == _p2),
            ),
        ),
        (
            "EpochMonotonic",
            z3.And(
                z3.ForAll([_v, _e, _c], z3.Implies(s.votes(_v, _e, _c), s.epoch(_v) >= _e)),
                z3.ForAll([_e, _d], z3.Implies(s.leaders(_e, _d), s.epoch(_d) >= _e)),
                z3.ForAll([_d], z3.Implies(s.restarted(_d), s.epoch(_d) >= s.rst(_d))),
            ),
        ),
    ]


def majorities_share_a_voter(s: ZState, tag: str) -> z3.BoolRef:
    """Lemma (a) applied to the grant sets of `s`: two majorities of grants for one epoch share a
    voter, named by a Skolem function."""
    w = z3.Function(f"shared_voter_{tag}", INT, DAEMON, DAEMON, DAEMON)
    shared = w(_e, _d, _d2)
    return z3.ForAll(
        [_e, _d, _d2],
        z3.Implies(
            z3.And(s.maj(_e, _d), s.maj(_e, _d2)),
            z3.And(s.voter(shared), s.votes(shared, _e, _d), s.votes(shared, _e, _d2)),
        ),
    )


# Transition parameters.
_d0, _c0 = z3.Consts("d0 c0", DAEMON)
_e0 = z3.Int("e0")
_p0 = z3.Const("p0", NODE)
_has_vote = z3.Bool("has_vote")
# The parameters of `transition`'s guards, by the names `abstract.py` gives them.
TRANSITION_PARAMS = {"daemon": _d0, "epoch": _e0, "candidate": _c0, "primary": _p0,
                     "has_vote": _has_vote}  # fmt: skip


def _upd_epoch(s: ZState, who: z3.ExprRef, value: z3.ArithRef) -> Callable[..., z3.ArithRef]:
    return lambda d: z3.If(d == who, value, s.epoch(d))


def _grown_majority(s: ZState, tag: str) -> tuple[Callable[..., z3.BoolRef], z3.BoolRef]:
    """A fresh majority predicate for a state with more grants, and the monotonicity fact."""
    maj2 = z3.Function(f"majority_{tag}", INT, DAEMON, BOOL)
    return maj2, z3.ForAll([_e, _d], z3.Implies(s.maj(_e, _d), maj2(_e, _d)))


Step = tuple[list[tuple[str, z3.BoolRef]], ZState, list[z3.BoolRef], list[str]]


def transition(s: ZState, name: str) -> Step:
    """The transition `name` of `abstract.py` from `s`: (guards, post-state, extra facts, names
    of the guards whose omission must break the invariant)."""
    no_restart_conflict = z3.Not(z3.And(s.restarted(_d0), _e0 <= s.rst(_d0)))
    if name == "grant_vote":
        maj2, mono = _grown_majority(s, "after_grant")
        guards = [
            ("VoterMembership", s.voter(_d0)),
            ("VoteNotStale", _e0 >= s.epoch(_d0)),
            ("OneVotePerEpoch", z3.ForAll([_c], z3.Implies(s.votes(_d0, _e0, _c), _c == _c0))),
        ]
        post = ZState(
            s.voter,
            lambda v, e, c: z3.Or(s.votes(v, e, c), z3.And(v == _d0, e == _e0, c == _c0)),
            s.leaders, s.configs, _upd_epoch(s, _d0, _e0), s.restarted, s.rst, maj2,
        )  # fmt: skip
        return guards, post, [mono], [g for g, _ in guards]
    if name == "adopt_epoch":
        guards = [("EpochMonotonic", _e0 >= s.epoch(_d0))]
        post = ZState(s.voter, s.votes, s.leaders, s.configs, _upd_epoch(s, _d0, _e0),
                      s.restarted, s.rst, s.maj)  # fmt: skip
        return guards, post, [], ["EpochMonotonic"]
    if name == "take_leadership":
        guards = [
            ("LeaderHasMajority", s.maj(_e0, _d0)),
            ("RestartFreshEpoch", no_restart_conflict),
        ]
        post = ZState(
            s.voter, s.votes,
            lambda e, d: z3.Or(s.leaders(e, d), z3.And(e == _e0, d == _d0)),
            s.configs, _upd_epoch(s, _d0, z3.If(_e0 > s.epoch(_d0), _e0, s.epoch(_d0))),
            s.restarted, s.rst, s.maj,
        )  # fmt: skip
        return guards, post, [], ["LeaderHasMajority"]
    if name == "publish_config":
        guards = [
            ("ConfigFromLeader", s.leaders(_e0, _d0)),
            ("RestartFreshEpoch", no_restart_conflict),
            ("ConfigUniqueness", z3.ForAll([_p], z3.Implies(s.configs(_e0, _p), _p == _p0))),
        ]
        post = ZState(
            s.voter, s.votes, s.leaders,
            lambda e, p: z3.Or(s.configs(e, p), z3.And(e == _e0, p == _p0)),
            s.epoch, s.restarted, s.rst, s.maj,
        )  # fmt: skip
        return guards, post, [], ["ConfigFromLeader", "ConfigUniqueness"]
    if name == "restart":
        maj2, mono = _grown_majority(s, "after_restart")
        guards = [
            ("EpochMonotonic", _e0 >= s.epoch(_d0)),
            (
                "VoteDurable",
                z3.ForAll([_c], z3.Implies(s.votes(_d0, _e0, _c), z3.And(_has_vote, _c == _c0))),
            ),
            ("VoterMembership", z3.Implies(_has_vote, s.voter(_d0))),
        ]
        post = ZState(
            s.voter,
            lambda v, e, c: z3.Or(
                s.votes(v, e, c), z3.And(_has_vote, v == _d0, e == _e0, c == _c0)
            ),
            s.leaders, s.configs, _upd_epoch(s, _d0, _e0),
            lambda d: z3.Or(d == _d0, s.restarted(d)),
            lambda d: z3.If(d == _d0, _e0, s.rst(d)),
            maj2,
        )  # fmt: skip
        return guards, post, [mono], [g for g, _ in guards]
    raise ValueError(f"unknown transition {name!r}")


TRANSITIONS = ("grant_vote", "adopt_epoch", "take_leadership", "publish_config", "restart")
