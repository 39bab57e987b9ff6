"""A daemon with a wrong peer secret: harmless when connected, still fencing when cut off.

Issue 22: a daemon started with a wrong secret saw every peer link "down", concluded it
had lost the majority and fenced a healthy primary.  A refused authentication is an answer:
the runtime reports such a peer as ``PeerStatus(reachable=False, answered=True)`` and the
core counts it as present for the minority-side fencing rule only (it still never gets a
vote, a down report or a config through).  The danger is the other direction: that the
rule lets a misconfigured daemon that truly is cut off, with a primary on its side, keep
that primary writable.

:class:`BadSecretModel` is the model with one daemon (``scope.daemons[-1]``) whose every
message is refused by the others and who refuses theirs; a refusal is reported only where
a link exists (``answered`` = the peer is up and linked now), as the runtime does from
each connection attempt.  After every daemon round the ghost check ``AuthRefusedIsolation``
holds: the daemon counts itself on the minority side (``isolated_since`` set) exactly when
the daemons it is linked to, itself included, are not a majority of the voters, the verdict
a correctly configured daemon reaches on the same links.  Hence the bad secret neither
fences a healthy group nor spares a primary under a real partition; fencing itself follows
from the verdict as it always has (the rest of the checker).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gungnir.core import CONSISTENCY, Event, PeerStatus, Received
from gungnir.core.rules import has_majority
from gungnir.verify.explore import Result, explore
from gungnir.verify.invariants import default_invariants
from gungnir.verify.world import Model, Scope, World

FLAG = "AuthRefusedIsolation"

#: 3 daemons x 3 nodes, d3 with the wrong secret; one partition of any single daemon or
#: node; breadth-first up to the budget (every trace up to the depth it reports).
SCOPE = Scope(
    name="bad-secret",
    crashes=0,
    partitions=1,
    duplicates=0,
    writes=0,
    daemon_crashes=False,
    node_crashes=False,
    convergence_every=0,
    max_states=30_000,
)


@dataclass
class BadSecretModel(Model):
    """The model with ``scope.daemons[-1]`` misconfigured (see the module docstring).
    ``answers`` is how the runtime reports a refusal: ``fresh`` (from the latest attempt,
    as the runtime does), or two mutants the check must catch: ``stale`` (still reported
    after the link is gone) and ``never`` (a refusal reported as a lost link: the runtime
    before issue 22, whose bad-secret daemon fenced a healthy primary)."""

    answers: str = "fresh"

    @property
    def bad(self) -> str:
        return self.scope.daemons[-1]

    def feed(self, w: World, d: str, event: Event) -> World:
        if isinstance(event, Received) and self.bad in (d, event.message.sender):
            return w  # refused at authentication: never reaches the core
        if isinstance(event, PeerStatus) and self.bad in (d, event.peer):
            # the link never comes up; the peer's refusal is an answer where a link exists
            alive = w.daemons[self.dindex[event.peer]] is not None
            if self.answers == "stale":
                answered = alive
            else:
                answered = event.reachable and self.answers == "fresh"
            event = PeerStatus(event.peer, False, answered=answered)
        w = super().feed(w, d, event)
        bad = self.bad
        net = frozenset(m for m in w.net if m[0] != bad and m[1].sender != bad)
        return w if net == w.net else w._replace(net=net)

    def _round(self, w: World, d: str, jitter: float = 0.0) -> World:
        w = super()._round(w, d, jitter)
        st = w.daemons[self.dindex[d]]
        if st is None:
            return w
        present = {d} | {
            o
            for o in self.scope.daemons
            if o != d and w.daemons[self.dindex[o]] is not None and self.linked(w, d, o)
        }
        minority = not has_majority(st.settings, frozenset(present))
        if (st.isolated_since is not None) != minority:
            w = w._replace(bad=w.bad | {FLAG})
        return w


def check(
    policy: str = CONSISTENCY, *, answers: str = "fresh", max_states: int | None = None
) -> Result:
    """Explore :data:`SCOPE` under ``policy`` with every default invariant plus
    ``AuthRefusedIsolation``."""
    sc = dataclasses.replace(SCOPE, policy=policy)
    if max_states is not None:
        sc = dataclasses.replace(sc, max_states=max_states)
    model = BadSecretModel(sc, answers=answers)
    return explore(model, (*default_invariants(policy), FLAG))
