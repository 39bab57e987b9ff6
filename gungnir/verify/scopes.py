"""Named exploration scopes for ``gungnir verify --scope``.

All scopes: 3 daemons (the whole voter set) x 3 Valkey nodes, the consistency policy (both
policies share the election and fencing code; the availability policy's expected failure of
SingleWritablePrimary is a test), unbounded time (fingerprints are time-relative), and one
election epoch (a daemon never goes beyond epoch 1: split votes, retries into epoch 2 are cut).
"""

from __future__ import annotations

from gungnir.verify.world import Scope

SCOPES: dict[str, Scope] = {
    # seconds: a smoke test of the whole machinery
    "small": Scope(name="small", crashes=1, partitions=0, duplicates=0, writes=0),
    # CI: must finish in < 5 minutes on 2 shared cores
    "default": Scope(
        name="default", crashes=1, partitions=1, duplicates=0, writes=1, convergence_every=500
    ),
    # bigger machines: both fault budgets at 2, duplicated messages, two writes
    "large": Scope(
        name="large", crashes=2, partitions=2, duplicates=1, writes=2, convergence_every=2000
    ),
}
