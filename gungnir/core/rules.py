"""The decision seams of the core: the few rules the safety argument rests on.

Each field of :class:`Rules` is a small pure function.  Production uses :data:`RULES`; the
model checker's mutants (``gungnir.verify.mutants``) swap exactly one function to show the
checker catches the bug it introduces.  Keeping the rules here, behind one explicit object,
means no mutant flag ever sits in a production code path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from . import amnesia
from .actions import Action, Persist
from .events import PRIMARY, REPLICA, Start
from .membership import View, enter_joint
from .messages import VoteRequest
from .settings import CONSISTENCY, Settings, write_lease
from .state import FOLLOWER, DaemonState, NodeView


def members(settings: Settings) -> frozenset[str]:
    """Every daemon that may vote: the voter set, plus the next one during joint consensus."""
    return frozenset(settings.voters) | frozenset(settings.next_voters)


def counts(settings: Settings, daemon: str) -> bool:
    """Does ``daemon``'s word count: its down report toward ``quorum``, its own sight of the
    group toward fencing from the minority side?  Only voters' (design rule 9): observers are
    many (a DaemonSet on every node), outside the set whose majorities intersect, and one
    flaky observer must not be able to fence a healthy primary."""
    return daemon in settings.voters or daemon in settings.next_voters


def has_majority(settings: Settings, grants: frozenset[str]) -> bool:
    """A majority of the WHOLE voter set (and of ``next_voters`` while a change is joint)."""
    if len(grants & frozenset(settings.voters)) < settings.majority:
        return False
    if settings.next_voters:
        need = len(settings.next_voters) // 2 + 1
        if len(grants & frozenset(settings.next_voters)) < need:
            return False
    return True


def one_vote_per_epoch(state: DaemonState, req: VoteRequest) -> tuple[bool, str]:
    """Grant at most one candidate per epoch; never go back to an older epoch."""
    if req.epoch < state.epoch:
        return False, f"stale epoch {req.epoch} < {state.epoch}"
    if req.epoch == state.epoch and state.vote not in (None, req.sender):
        return False, f"already voted for {state.vote} in epoch {req.epoch}"
    return True, ""


def eligible(view: NodeView, settings: Settings, now: float, stray: bool = False) -> bool:
    """Reachable replica, replica-priority > 0, lag within ``max_lag``, not restarted empty
    (a group that never held data may still fail over: ``empty`` alone does not disqualify).
    With ``stray``, a node still acting as primary counts too (under the consistency policy
    a primary that no config names, e.g. a former primary a partition kept from being
    repointed, may hold the most data; promoting it is a no-op on the node)."""
    return (
        view.reachable
        and view.seen
        and (view.role == REPLICA or (stray and view.role == PRIMARY))
        and view.priority > 0
        and view.lag <= settings.max_lag
        and not view.empty_restart
    )


def data_ok(state: DaemonState, req: VoteRequest, now: float) -> tuple[bool, str]:
    """Data-aware votes: refuse a candidate staler than an eligible replica this voter sees,
    or one this voter saw restart empty."""
    target = state.view(req.node)
    if target is not None and target.empty_restart:
        return False, f"{req.node} restarted empty"
    for v in state.nodes:
        if v.node != req.node and eligible(v, state.settings, now) and v.offset > req.offset:
            return False, f"{v.node} has offset {v.offset} > {req.offset}"
    return True, ""


def holds_committed(st: DaemonState, offset: int, since: float) -> bool:
    """Does a replica at ``offset`` hold every committed write?  Yes when a majority of the
    nodes, each probed after writes stopped (``since``), hold no more than ``offset``: a
    committed write reached a majority, any two majorities share a node, and that node's
    offset covers the write.

    Data-aware votes alone compare the target only with the replicas each voter happens to
    see; when a node that held a committed write lost its data (an empty restart) and another
    holder is cut off, the replicas left in sight may all be stale, and promoting one of them
    would lose the write (the model checker found this with two crashes and a partition).
    Under the consistency policy the plan waits instead, until enough nodes answer or its
    timeout ends it.

    A node seen to restart empty vouches again as a replica: data it holds since came from a
    sync (a probe may miss the moment its link was up).  A node at offset 0 vouches only for
    an empty target: it may have restarted empty before
    this daemon ever saw it (no history to flag it by), and a node that holds a committed
    write is never at offset 0."""
    vouch = sum(
        1
        for v in st.nodes
        if v.reachable
        and v.seen
        and (not v.empty_restart or v.role == REPLICA)
        and v.last_ok > since
        and v.offset <= offset
        and (v.offset > 0 or offset == 0)
    )
    return vouch >= st.settings.node_majority


def best_replica(state: DaemonState, old: str | None, now: float) -> NodeView | None:
    """Replica selection: eligible replicas whose settings were read back (design rule 10: a
    node whose settings cannot be verified is never promoted) ordered by replica-priority
    (lower first, as Valkey), then replication offset (higher first), then node name."""
    s = state.settings
    stray = s.policy == CONSISTENCY
    cands = [
        v
        for v in state.nodes
        if v.node != old
        and v.node != state.config.primary
        and eligible(v, s, now, stray)
        and v.settings_ok
    ]
    if not cands:
        return None
    cands.sort(key=lambda v: (v.priority, -v.offset, v.node))
    return cands[0]


def persist(epoch: int, vote: str | None) -> list[Action]:
    """Durable (epoch, vote) before anything that depends on it leaves the daemon."""
    return [Persist(epoch, vote)]


@dataclass(frozen=True)
class FencePlan:
    """Which safety steps the failover plan takes: fence the old primary first, and wait
    (``promote_after``, and the write lease under consistency) when fencing it failed."""

    fence_old: bool = True
    wait: bool = True


def fence_plan(settings: Settings) -> FencePlan:
    return FencePlan()


def recover(state: DaemonState, start: Start, now: float) -> DaemonState:
    """The restart rule: recover (epoch, vote) and never lead ``start.epoch`` or older; with
    lost state, the lost-state rule (:mod:`.amnesia`) holds every vote until it is proved."""
    st = replace(
        state,
        epoch=start.epoch,
        vote=start.vote,
        restart_floor=start.epoch,
        role=FOLLOWER,
        election=None,
        failover=None,
    )
    return amnesia.waiting(st, start, now)


@dataclass(frozen=True)
class Rules:
    """The seams.  See the module docstring."""

    grant_vote: Callable[[DaemonState, VoteRequest], tuple[bool, str]] = one_vote_per_epoch
    data_ok: Callable[[DaemonState, VoteRequest, float], tuple[bool, str]] = data_ok
    has_won: Callable[[Settings, frozenset[str]], bool] = has_majority
    counts: Callable[[Settings, str], bool] = counts
    select_replica: Callable[[DaemonState, str | None, float], NodeView | None] = best_replica
    persist_vote: Callable[[int, str | None], list[Action]] = persist
    fence_plan: Callable[[Settings], FencePlan] = fence_plan
    recover: Callable[[DaemonState, Start, float], DaemonState] = recover
    holds_committed: Callable[[DaemonState, int, float], bool] = holds_committed
    lease: Callable[[Settings, float], float] = write_lease
    begin_change: Callable[[DaemonState, tuple[str, ...]], View] = enter_joint


RULES = Rules()
