"""Named exploration scopes for ``gungnir verify --scope``.

Every scope uses 3 Valkey nodes, unbounded time (fingerprints are time-relative) and one
election epoch (no daemon goes beyond epoch 1: split votes that would retry into epoch 2 are
cut).

- ``small`` (1 voter; node crash, node partition, write, convergence from every state) and
  ``default`` (3 daemons x 3 nodes; two daemon crashes with restarts at any moment, a client
  write, convergence from every state) are explored to a fixpoint: complete.
- ``prefix`` is the full-fault 3 x 3 scope (a crash of any daemon or node, a partition of any
  shape, a write) explored breadth-first up to a state budget, which covers *every* trace up
  to the depth it reports; a failover among three concurrent candidates does not reach a
  fixpoint within CI time (docs/verification.md has the measurements).
- ``failover-phase`` (3 x 3: one node crash and restart, a client write, convergence from
  every state) is explored to a fixpoint under one modelling assumption: daemons probe in
  phase (``Scope.rounds="phase"``: one transition runs every up daemon's round, in every
  order, while deliveries, faults and writes interleave freely between such phases).
- ``gungnir verify`` with no ``--scope`` runs :data:`SUITES` ``["default"]``: ``default``,
  ``failover-phase``, then ``prefix``, all in CI in about 5 minutes.
- ``observers`` (one voter, one observer, one partition) is explored to a fixpoint in CI by
  ``tests/verify/test_observers_scope.py``; the ``observers-count`` mutant is caught in it.
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
    # CI, complete: 3 daemons x 3 nodes, up to two daemon crashes (each restart keeps only
    # the persisted epoch and vote; the same daemon may crash twice), a client write with
    # WAIT at any moment, convergence checked from every state
    "default": Scope(
        name="default",
        crashes=2,
        partitions=0,
        node_crashes=False,
        duplicates=0,
        writes=1,
        convergence_every=1,
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
        max_states=400_000,
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
    ),
    # bigger machines (hours, tens of GB): both fault budgets at 2, duplicated messages
    "large": Scope(
        name="large", crashes=2, partitions=2, duplicates=1, writes=2, convergence_every=5000
    ),
}

# CI, complete: ``small`` with an observer beside its voter (design rule 9) and no node
# fault; a partition cuts either daemon off, alone or with a node: the observer, cut off from
# the voter with the primary on its side, must never fence it (about 15 s)
SCOPES["observers"] = dataclasses.replace(
    SCOPES["small"],
    name="observers",
    daemons=("d1", "o1"),
    observers=("o1",),
    crashes=0,
    writes=0,
    partition_shapes="single",
    convergence_every=0,
)

#: What ``--scope NAME`` runs, in order (a name not listed runs just its own scope).
SUITES: dict[str, tuple[str, ...]] = {"default": ("default", "failover-phase", "prefix")}


def suite(name: str) -> tuple[str, ...]:
    """The scopes ``gungnir verify --scope name`` explores, in order."""
    return SUITES.get(name, (name,))
