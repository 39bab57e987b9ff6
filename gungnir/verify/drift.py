"""Convergence from drift: the nodes rearranged behind the daemons' back at time 0.

The explored scopes start from a group set up as the config says, so their Convergence check
never sees what an operator or a script can do to the nodes directly: a manual ``REPLICAOF``
that swaps the primary, a replica promoted by hand, replicas following each other, a node
restarted with other settings.  Here every such arrangement of the nodes is built on top of
the booted model (the daemons' config still names the first node) and the fair schedule of
:func:`~gungnir.verify.explore.converge` must reach one primary that every daemon's config
and the Service name, followed by every other node and accepting writes.

Per node: its role (primary, or a replica of any other node: every replication link) and
one of four settings: as configured, paused (``CLIENT PAUSE WRITE``), ``min-replicas-to-write``
unmeetable (fenced), or 0 (the write quorum dropped by hand).  Three nodes give
(3 x 4)^3 = 1,728 starting worlds.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field

from gungnir.core import PRIMARY, REPLICA, UNMEETABLE_REPLICAS
from gungnir.verify.explore import converge
from gungnir.verify.world import Model, Node, World


@dataclass
class DriftResult:
    """How many drifted starts were checked and the first that did not converge."""

    checked: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def summary(self) -> str:
        if self.ok:
            return f"convergence from drift: {self.checked} starting worlds, all converged"
        start, why = self.failures[0]
        return (
            f"convergence from drift: {len(self.failures)} of {self.checked} starting worlds "
            f"did not converge; first: {start}: {why}"
        )


def _node_variants(model: Model, n: str, base: Node) -> Iterator[Node]:
    q = model.base_min_replicas
    # (paused, min-replicas): as configured, paused, fenced by quorum, quorum dropped
    settings = ((False, q), (True, q), (False, UNMEETABLE_REPLICAS), (False, 0))
    masters: list[str | None] = [None] + [m for m in model.scope.nodes if m != n]
    for master, (paused, min_replicas) in itertools.product(masters, settings):
        yield base._replace(
            role=PRIMARY if master is None else REPLICA,
            master=master,
            paused=paused,
            min_replicas=min_replicas,
            acks=(),
        )


def drifted(model: Model) -> Iterator[tuple[str, World]]:
    """Every drifted world at time 0, with a one-line description of its nodes."""
    w0 = model.initial()
    per_node = [
        list(_node_variants(model, n, nd))
        for n, nd in zip(model.scope.nodes, w0.nodes, strict=True)
    ]
    for combo in itertools.product(*per_node):
        w = model.settle(w0._replace(nodes=tuple(combo)))
        yield describe_nodes(model, w), w


def describe_nodes(model: Model, w: World) -> str:
    parts = []
    for n, nd in zip(model.scope.nodes, w.nodes, strict=True):
        role = "primary" if nd.role == PRIMARY else f"replica of {nd.master}"
        flags = (" paused" if nd.paused else "") + f" min-replicas {nd.min_replicas}"
        parts.append(f"{n} {role}{flags}")
    return "; ".join(parts)


def check_drift(model: Model, bound: int | None = None, stop_at: int = 1) -> DriftResult:
    """Run the Convergence check from every drifted world; stop after ``stop_at`` failures."""
    res = DriftResult()
    limit = model.scope.convergence_bound if bound is None else bound
    for start, w in drifted(model):
        res.checked += 1
        why = converge(model, w, limit)
        if why is not None:
            res.failures.append((start, why))
            if len(res.failures) >= stop_at:
                break
    return res
