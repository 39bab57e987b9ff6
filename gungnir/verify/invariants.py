"""Invariants of the design, checked on every explored world, and the abstraction map.

``abstraction(model, world)`` maps the real state (daemon states plus the ghost history the
world keeps) to the :class:`~gungnir.verify.abstract.AbstractState` the Z3 proofs are about;
``violations`` of that abstract state are checked on every state too, so the core cannot
drift from the proved model unnoticed.
"""

from __future__ import annotations

from gungnir.core import CONSISTENCY, PRIMARY, REPLICA
from gungnir.verify.abstract import AbstractState, violations
from gungnir.verify.world import Model, World

#: Safety invariants checked by default.  SingleWritablePrimary and NoCommittedLoss are the
#: consistency policy's guarantees; under availability they are expected to fail (Sentinel's
#: behaviour), which ``tests/verify`` demonstrates.
SAFETY = (
    "ElectionSafety",
    "ConfigUniqueness",
    "EpochMonotonic",
    "RestartFreshEpoch",
    "OneServicePrimary",
    "NoEmptyPromotion",
    "OnlyVotersFence",
    "Abstract",
)
CONSISTENCY_ONLY = ("SingleWritablePrimary", "NoCommittedLoss")


def default_invariants(policy: str) -> tuple[str, ...]:
    return SAFETY + CONSISTENCY_ONLY if policy == CONSISTENCY else SAFETY


def abstraction(model: Model, w: World) -> AbstractState:
    """The abstract election state of a world (ghost history + current durable epochs)."""
    voters = frozenset(model.settings.voters)
    epochs = []
    restarted = []
    for i, d in enumerate(model.scope.daemons):
        st = w.daemons[i]
        epoch = st.epoch if st is not None else w.durable[i][0]
        if st.amnesia is not None if st is not None else w.durable[i][2]:
            # lost state: it grants and leads nothing until it adopts an epoch past every
            # epoch it voted or led in (core/amnesia.py), so it stands at the highest of those
            epoch = max([epoch, w.restarts[i]] + [e for v, e, _ in w.votes if v == d])
        epochs.append((d, epoch))
        if w.restarts[i] >= 0:
            restarted.append((d, w.restarts[i]))
    return AbstractState(
        voters=voters,
        votes=frozenset(v for v in w.votes if v[0] in voters),
        leaders=w.leaders,
        configs=w.configs,
        epochs=frozenset(epochs),
        restarted_at=frozenset(restarted),
    )


def check(model: Model, w: World, names: tuple[str, ...]) -> list[str]:
    """Names (from ``names``) of the invariants ``w`` breaks, with a short detail each."""
    out: list[str] = []
    want = set(names)
    for flag in sorted(w.bad):
        if flag in want:
            out.append(f"{flag}: raised by the last transition")
    if "ElectionSafety" in want:
        seen: dict[int, str] = {}
        for e, d in sorted(w.leaders):
            if seen.setdefault(e, d) != d:
                out.append(f"ElectionSafety: {seen[e]} and {d} both led epoch {e}")
    if "ConfigUniqueness" in want:
        prim: dict[int, str] = {}
        for e, p in sorted(w.configs):
            if prim.setdefault(e, p) != p:
                out.append(f"ConfigUniqueness: epoch {e} names {prim[e]} and {p}")
    if "SingleWritablePrimary" in want:
        writable = [n for n in model.scope.nodes if model.writable(w, n)]
        if len(writable) > 1:
            out.append(f"SingleWritablePrimary: {', '.join(writable)} all accept writes")
    if "OneServicePrimary" in want:
        e, node = w.service
        if e > 0 and (e, node) not in w.configs:
            out.append(f"OneServicePrimary: Service names {node} at epoch {e} without a config")
    if "Abstract" in want:
        for name in violations(abstraction(model, w)):
            out.append(f"Abstract: {name}")
    return out


def converged(model: Model, w: World) -> str | None:
    """None if ``w`` is converged: one primary, every up node follows it, every daemon's
    config and the Service name it, and it accepts writes.  Else what is missing."""
    up = [(n, nd) for n, nd in zip(model.scope.nodes, w.nodes, strict=True) if nd.up]
    prims = [n for n, nd in up if nd.role == PRIMARY]
    if len(prims) != 1:
        return f"{len(prims)} primaries"
    p = prims[0]
    for n, nd in up:
        if n != p and (nd.role != REPLICA or nd.master != p):
            return f"{n} does not follow {p}"
    for st in w.daemons:
        if st is None or st.config.primary != p:
            return f"a daemon's config does not name {p}"
    if w.service[1] != p:
        return f"Service names {w.service[1]}, not {p}"
    if not model.writable(w, p):
        return f"{p} does not accept writes"
    return None
