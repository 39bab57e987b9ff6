"""Named exploration scopes for ``gungnir verify --scope``.

Every scope uses 3 Valkey nodes, unbounded time (fingerprints are time-relative) and one
election epoch (no daemon goes beyond epoch 1: split votes that would retry into epoch 2 are
cut).  ``small`` and ``large`` are explored completely.  ``default`` is the CI scope: 3
daemons x 3 nodes with a failover in it is far bigger than 5 minutes of CPython allows, so it
explores breadth-first up to a state budget, which covers *every* trace up to the depth it
reports (see docs/verification.md for the measured numbers).
"""

from __future__ import annotations

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
    # CI (< 5 minutes on 2 shared cores): 3 daemons x 3 nodes, one crash of a daemon or a
    # node, one partition of any daemon and/or node, one write; breadth-first up to the budget
    "default": Scope(
        name="default",
        crashes=1,
        partitions=1,
        duplicates=0,
        writes=1,
        convergence_every=500,
        max_states=600_000,
    ),
    # bigger machines (hours, tens of GB): both fault budgets at 2, duplicated messages
    "large": Scope(
        name="large", crashes=2, partitions=2, duplicates=1, writes=2, convergence_every=5000
    ),
}
