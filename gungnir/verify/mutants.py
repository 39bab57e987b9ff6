"""Deliberately broken cores, to prove the checker is not vacuous.

Each mutant swaps exactly one function of :class:`gungnir.core.Rules` (the core's explicit
seams) and comes with the scope in which the checker must find a violation.  A checker that
finds nothing on a mutant is broken.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from gungnir.core import (
    CANDIDATE,
    CONSISTENCY,
    RULES,
    Action,
    DaemonState,
    Election,
    FencePlan,
    NodeView,
    Rules,
    Settings,
    Start,
    VoteRequest,
)
from gungnir.core.settings import write_lease
from gungnir.verify.scopes import SCOPES
from gungnir.verify.world import Scope


def _vote_twice(state: DaemonState, req: VoteRequest) -> tuple[bool, str]:
    """Grants every request of the current or a newer epoch, ignoring the vote it gave."""
    if req.epoch < state.epoch:
        return False, "stale"
    return True, ""


def _quorum_wins(settings: Settings, grants: frozenset[str]) -> bool:
    """Counts ``quorum`` grants instead of a majority of the whole voter set."""
    return len(grants & frozenset(settings.voters)) >= settings.quorum


def _no_fencing(settings: Settings) -> FencePlan:
    """Neither fences the old primary nor waits for its lease."""
    return FencePlan(fence_old=False, wait=False)


def _lowest_offset(state: DaemonState, old: str | None, now: float) -> NodeView | None:
    """Promotes the replica with the LEAST data."""
    cands = [
        v
        for v in state.nodes
        if v.node != old and v.reachable and v.seen and v.role == "replica" and v.priority > 0
    ]
    if not cands:
        return None
    cands.sort(key=lambda v: (v.offset, v.node))
    return cands[0]


def _any_data(state: DaemonState, req: VoteRequest, now: float) -> tuple[bool, str]:
    """Voters that do not look at data (goes with the lowest-offset mutant)."""
    del state, req, now
    return True, ""


def _unvouched(state: DaemonState, offset: int, since: float) -> bool:
    """The plan promotes (and makes writable) without a majority vouching for the data."""
    return True


def _no_persist(epoch: int, vote: str | None) -> list[Action]:
    """Replies to vote requests without persisting the vote first."""
    del epoch, vote
    return []


def _everyone_counts(settings: Settings, daemon: str) -> bool:
    """Counts observers' down reports toward the quorum and lets an observer fence."""
    del settings, daemon
    return True


def _assumed_lease(settings: Settings, max_lag: float) -> float:
    """Computes the old primary's write lease from the policy's max-lag, not the one read
    from the node (an operator's 10 s ran under a lease of 2 s: issue 16)."""
    del max_lag
    return write_lease(settings, settings.min_replicas_max_lag)


def _whole_seconds_forgotten(settings: Settings, max_lag: float) -> float:
    """Computes the lease as the max-lag read, forgetting Valkey's 2 s of whole-second lag
    counting and once-a-second recount."""
    return max_lag + settings.lease_margin + settings.max_clock_drift


def _forget_loss(state: DaemonState, start: Start, now: float) -> DaemonState:
    """Takes a lost state for a first start: votes at once in any epoch."""
    return RULES.recover(state, dataclasses.replace(start, amnesiac=False), now)


def _resume(state: DaemonState, start: Start, now: float) -> DaemonState:
    """After a restart, resumes the candidacy of the persisted epoch it voted itself in
    (the bug a prototype checker found: late duplicate grants re-elect it)."""
    base = RULES.recover(state, start, now)
    if start.vote != state.me:
        return base
    target = next(
        (n for n in reversed(state.settings.nodes) if n != state.settings.initial_primary),
        state.settings.nodes[-1],
    )
    election = Election(
        epoch=start.epoch,
        node=target,
        replid="",
        offset=0,
        reason="failover",
        started=now,
        grants=frozenset({state.me}),
    )
    return base.replace(restart_floor=start.epoch - 1, role=CANDIDATE, election=election)


@dataclass(frozen=True)
class Mutant:
    name: str
    rules: Rules
    scope: Scope
    description: str
    #: invariants of which the checker must report at least one
    breaks: tuple[str, ...] = ()


def mutants() -> list[Mutant]:
    """Every mutant with a scope small enough for a test and large enough to catch it."""
    small = Scope(
        name="mutant",
        crashes=1,
        partitions=1,
        duplicates=1,
        writes=0,
        empty_restarts=False,
        convergence_every=0,
    )
    # scopes.SCOPES["hardened"]: the primary's node cut off just before a round, so its
    # replicas detach at the cut and the leader promotes one second later; the new primary
    # is writable one second plus one lease after the cut, while the old one takes writes
    # until max-lag + 2 s after it (world.ack_window): a lease short by a second overlaps.
    lease = dataclasses.replace(
        SCOPES["hardened"], name="mutant", max_states=None, convergence_every=0
    )
    return [
        Mutant(
            "lease-from-assumed-max-lag",
            dataclasses.replace(RULES, lease=_assumed_lease),
            lease,
            "the lease is computed from the policy's max-lag, not the one read from the node",
            ("SingleWritablePrimary",),
        ),
        Mutant(
            "lease-in-whole-seconds-forgotten",
            dataclasses.replace(RULES, lease=_whole_seconds_forgotten),
            lease,
            "the lease is the max-lag read, without Valkey's 2 s of whole-second counting",
            ("SingleWritablePrimary",),
        ),
        Mutant(
            "vote-twice",
            dataclasses.replace(RULES, grant_vote=_vote_twice),
            dataclasses.replace(small, crashes=1, partitions=0),
            "a voter grants two candidates in one epoch",
            ("OneVotePerEpoch", "ElectionSafety"),
        ),
        Mutant(
            "quorum-not-majority",
            dataclasses.replace(RULES, has_won=_quorum_wins),
            dataclasses.replace(small, quorum=1, crashes=0, partitions=1),
            "a candidate wins with `quorum` grants instead of a majority",
            ("LeaderHasMajority", "ElectionSafety"),
        ),
        Mutant(
            "skip-fencing",
            dataclasses.replace(RULES, fence_plan=_no_fencing),
            dataclasses.replace(small, policy=CONSISTENCY, crashes=0, partitions=1, writes=0),
            "the leader promotes without fencing or waiting out the old primary's lease",
            ("SingleWritablePrimary",),
        ),
        Mutant(
            "lowest-offset",
            dataclasses.replace(
                RULES, select_replica=_lowest_offset, data_ok=_any_data, holds_committed=_unvouched
            ),
            # three voters: the shortest violation (cut a replica off, write, crash the primary,
            # elect, promote the replica that missed the write) is ten steps deep, reached in
            # CI time with rounds in one fixed phase order (a restriction of every schedule)
            dataclasses.replace(
                small,
                crashes=1,
                partitions=1,
                writes=1,
                duplicates=0,
                daemon_crashes=False,
                partition_shapes="nodes",
                rounds="phase-one",
            ),
            "the leader promotes the replica with the least data",
            ("NoCommittedLoss", "NoEmptyPromotion"),
        ),
        Mutant(
            "promote-unvouched",
            dataclasses.replace(RULES, holds_committed=_unvouched),
            # two node crashes and a partition: a holder of the write restarts empty, the
            # other is cut off, and only a stale replica is left in sight
            dataclasses.replace(
                small,
                daemons=("d1",),
                quorum=1,
                crashes=2,
                partitions=1,
                writes=1,
                duplicates=0,
                daemon_crashes=False,
                empty_restarts=True,
                partition_shapes="nodes",
            ),
            "the plan promotes a replica without a majority of nodes vouching for its data",
            ("NoCommittedLoss",),
        ),
        Mutant(
            "unpersisted-vote",
            dataclasses.replace(RULES, persist_vote=_no_persist),
            dataclasses.replace(small, crashes=1, partitions=1),
            "votes are sent before (without) being persisted",
            ("EpochMonotonic", "OneVotePerEpoch", "ElectionSafety"),
        ),
        Mutant(
            "resume-old-epoch",
            dataclasses.replace(RULES, recover=_resume),
            dataclasses.replace(
                small,
                crashes=1,
                partitions=1,
                partition_shapes="nodes",
                settings_overrides=(("fence_after", 0.5), ("promote_after", 2.0)),
                # with the sound state identity every interleaving of rounds does not reach
                # the violation in CI time; rounds in phase in one order reach it at depth 7
                rounds="phase-one",
            ),
            "a restarted daemon resumes leading the epoch it persisted",
            ("RestartFreshEpoch", "ConfigUniqueness", "ElectionSafety"),
        ),
        Mutant(
            "observers-count",
            dataclasses.replace(RULES, counts=_everyone_counts),
            # one voter and one observer: the observer cut off from the voter with the
            # primary on its side fences it (a flaky observer takes a healthy primary out)
            dataclasses.replace(SCOPES["observers"], name="mutant"),
            "observers' down reports count toward the quorum and an observer fences",
            ("OnlyVotersFence",),
        ),
        Mutant(
            "amnesiac-votes",
            dataclasses.replace(RULES, recover=_forget_loss),
            dataclasses.replace(SCOPES["lost-state"], name="mutant", max_states=None),
            "a daemon whose state was lost votes before it knows where it may have voted",
            ("EpochMonotonic", "OneVotePerEpoch", "ElectionSafety"),
        ),
    ]
