"""Named exploration scopes for ``gungnir verify --scope``.

Every scope uses 3 Valkey nodes and unbounded time (fingerprints are time-relative); all but
``elections`` and ``elections-q1`` keep to one election epoch (a split vote that would retry
into epoch 2 is cut).  docs/verification.md gives what each covers and its measured size.

- ``small`` (1 voter; node crash, node partition, write, convergence from every state) is
  explored to a fixpoint: complete.
- ``default`` (3 daemons x 3 nodes; two daemon crashes with restarts at any moment, a client
  write, convergence from every state) and ``prefix`` (3 x 3: a crash of any daemon or node,
  a partition of any shape, a write) are explored breadth-first up to a state budget, which
  covers *every* trace up to the depth reported, not to a fixpoint.
- ``failover-phase`` (3 x 3: one node crash and restart, a client write, convergence from
  every state) is explored to a fixpoint under one modelling assumption: daemons probe in
  phase (``Scope.rounds="phase"``: one transition runs every up daemon's round, in every
  order, while deliveries, faults and writes interleave freely between such phases).
- ``small-2`` (1 voter, two node crashes, a node partition, a write) and ``elections`` /
  ``elections-q1`` (3 voters up to epoch 2, rounds in phase in one order) are budgeted
  scopes where failovers and elections meet faults; with ``observers`` (one voter and
  an observer, complete), ``hardened`` (nodes an operator hardened, the primary's node cut
  off) and ``lost-state`` (a daemon restart may lose its durable state:
  the lost-state rule) they are where the default suite catches each mutant (:data:`CATCHES`).
- ``gungnir verify`` with no ``--scope`` runs :data:`SUITES` ``["default"]``, all in CI.
- ``failover`` (one node crash, nothing else, every interleaving of rounds) and ``large``
  (two crashes, two partitions, a duplicate, two writes) are for longer runs on bigger
  machines: neither reaches a fixpoint in the time measured here.
"""

from __future__ import annotations

import dataclasses

from gungnir.verify.world import Scope

SCOPES: dict[str, Scope] = {
    # seconds: one voter daemon, a node crash or restart (empty or not), a node partition,
    # a client write with WAIT; complete
    "small": Scope(
        name="small",
        daemons=("d1",),
        quorum=1,
        crashes=1,
        partitions=1,
        writes=1,
        duplicates=0,
        daemon_crashes=False,
        partition_shapes="nodes",
        convergence_every=1,
    ),
    # CI, bounded: 3 daemons x 3 nodes, up to two daemon crashes (each restart keeps only
    # the persisted epoch and vote; the same daemon may crash twice), a client write with
    # WAIT at any moment, convergence checked from every state; breadth-first up to the
    # budget (with the sound state identity it has over 500,000 states: not complete in CI)
    "default": Scope(
        name="default",
        crashes=2,
        partitions=0,
        node_crashes=False,
        duplicates=0,
        writes=1,
        convergence_every=1,
        max_states=30_000,
    ),
    # CI, bounded: 3 x 3, one crash of a daemon or a node, one partition of any daemon
    # and/or node, one write; breadth-first up to the budget (every trace up to the depth)
    "prefix": Scope(
        name="prefix",
        crashes=1,
        partitions=1,
        duplicates=0,
        writes=1,
        convergence_every=500,
        max_states=100_000,
    ),
    # longer runs: a failover among three daemons (one node crash and restart, nothing
    # else), explored to a fixpoint; far beyond CI time (docs/verification.md)
    "failover": Scope(
        name="failover",
        crashes=1,
        partitions=0,
        daemon_crashes=False,
        writes=0,
        duplicates=0,
        empty_restarts=False,
        convergence_every=1000,
    ),
    # CI, complete: the same failover with a client write with WAIT at any moment and
    # convergence checked from every state, daemons probing in phase (rounds="phase": one
    # transition runs every daemon's round, in every order; docs/verification.md)
    "failover-phase": Scope(
        name="failover-phase",
        crashes=1,
        partitions=0,
        daemon_crashes=False,
        writes=1,
        duplicates=0,
        empty_restarts=False,
        convergence_every=1,
        rounds="phase",
        # Complete at 18,437 states before the nodes carried their observed settings (max-lag,
        # the sync fence, the settings check); with them it grew past 74,000 states at depth
        # 28 without finishing, so CI explores it to a budget (every trace of 13 steps, which
        # holds an election, a promotion and a committed write; about 45 s).
        max_states=20_000,
    ),
    # bigger machines (hours, tens of GB): both fault budgets at 2, duplicated messages
    "large": Scope(
        name="large", crashes=2, partitions=2, duplicates=1, writes=2, convergence_every=5000
    ),
}

# CI, bounded: ``small`` with an observer beside its voter (design rule 9) and no node
# fault; a partition cuts either daemon off, alone or with a node: the observer, cut off from
# the voter with the primary on its side, must never fence it.  Not complete: the
# confirmation queries an observer keeps sending have no bound in the model's network, so
# the budget stops it (15,000 states reach every trace of up to 29 steps, about 4 s)
SCOPES["observers"] = dataclasses.replace(
    SCOPES["small"],
    name="observers",
    daemons=("d1", "o1"),
    observers=("o1",),
    crashes=0,
    writes=0,
    partition_shapes="single",
    convergence_every=0,
    max_states=15_000,
)

# CI, bounded: 3 x 3, a node crash and a daemon crash whose restart may lose its durable
# state (the lost-state rule, core/amnesia.py), rounds in phase in one fixed order
SCOPES["lost-state"] = Scope(
    name="lost-state",
    crashes=2,
    partitions=0,
    duplicates=0,
    writes=0,
    empty_restarts=False,
    lost_state=True,
    convergence_every=0,
    rounds="phase-one",
    max_states=20_000,
)

# CI, complete within its budget: one voter on nodes an operator hardened
# (min-replicas-to-write 1, min-replicas-max-lag 3, read back by the daemons), the primary's
# node cut off once; promote_after 1.5 lets the leader promote one second after the cut, so
# only a lease computed from the max-lag read, with Valkey's 2 s, keeps the old primary's
# writes apart from the new one's; convergence from every state
SCOPES["hardened"] = Scope(
    name="hardened",
    daemons=("d1",),
    quorum=1,
    crashes=0,
    partitions=1,
    duplicates=0,
    writes=0,
    daemon_crashes=False,
    node_crashes=False,
    partition_shapes="nodes",
    settings_overrides=(("fence_after", 0.4), ("promote_after", 1.5)),
    node_preset=(1, 3),
    convergence_every=1,
    max_states=20_000,
)

# CI, bounded: one voter, two crashes of any node (restarting empty or not), a node
# partition, a client write: failovers that must not promote a node missing a committed write
SCOPES["small-2"] = dataclasses.replace(
    SCOPES["small"], name="small-2", crashes=2, convergence_every=500, max_states=20_000
)

# CI, bounded: elections among three voters up to a second epoch (a split vote retried, a
# failover after a crash in mid-failover): one crash of a daemon or a node, a node cut off,
# one duplicated message, fast timing, rounds in phase in one fixed order (a restriction of
# every schedule: what it finds is real, what it misses is not covered)
SCOPES["elections"] = Scope(
    name="elections",
    max_epoch=2,
    crashes=1,
    partitions=1,
    duplicates=1,
    writes=0,
    empty_restarts=False,
    partition_shapes="nodes",
    settings_overrides=(("fence_after", 0.5), ("promote_after", 2.0)),
    rounds="phase-one",
    convergence_every=500,
    max_states=15_000,
)
# the same with quorum 1: one daemon's sdown is an odown (a lone daemon may start elections,
# which only a majority of the whole voter set may win)
SCOPES["elections-q1"] = dataclasses.replace(
    SCOPES["elections"], name="elections-q1", quorum=1, max_states=5_000
)

#: What ``--scope NAME`` runs, in order (a name not listed runs just its own scope).
SUITES: dict[str, tuple[str, ...]] = {
    "default": (
        "default",
        "failover-phase",
        "prefix",
        "small-2",
        "elections",
        "elections-q1",
        "observers",
        "hardened",
        "lost-state",
    )
}

#: The scope of the default suite that catches each mutant first (tests try it first, then
#: the rest of the suite: ``gungnir verify --mutant M`` runs every scope until one catches it)
CATCHES: dict[str, str] = {
    "vote-twice": "elections",
    "quorum-not-majority": "elections-q1",
    "unpersisted-vote": "elections",
    "resume-old-epoch": "elections",
    "skip-fencing": "small-2",
    "lowest-offset": "small-2",
    "promote-unvouched": "small-2",
    "observers-count": "observers",
    "lease-from-assumed-max-lag": "hardened",
    "lease-in-whole-seconds-forgotten": "hardened",
    "amnesiac-votes": "lost-state",
}


def suite(name: str) -> tuple[str, ...]:
    """The scopes ``gungnir verify --scope name`` explores, in order."""
    return SUITES.get(name, (name,))
