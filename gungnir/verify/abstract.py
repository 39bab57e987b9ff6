"""The abstract election model: the state the Z3 proofs are about and the trace checker replays.

The real system has clocks, probes, partitions and crashes; none of that matters for *safety*
of the election.  What matters is a handful of facts that only ever accumulate: which durable
votes were granted, who took leadership of which epoch, which configs were published, each
daemon's current epoch, and the epoch each daemon recovered at its last restart.
`AbstractState` holds exactly those facts, `violations` names every invariant a state breaks,
and the transition functions (`grant_vote`, `adopt_epoch`, `take_leadership`, `publish_config`,
`restart`, plus the checks on node actions) say which steps the protocol allows.

Why the rules are enough (the Z3 proofs in `gungnir.verify.proofs` check each claim):

* A voter grants at most one vote per epoch, durably, so two candidates of one epoch have
  disjoint sets of grants; two majorities of the fixed voter set always intersect, so two
  candidates cannot both hold a majority: at most one leader per epoch (ElectionSafety).
* Only the leader of an epoch publishes its config, and it names one primary, so two configs of
  one epoch agree (ConfigUniqueness); configs naming different primaries are strictly ordered by
  epoch, which makes "the config with the highest epoch" unambiguous.
* Leadership is not persisted, so a daemon that restarts forgets what it decided as leader.
  If it could lead its persisted epoch again it could publish a second, different config for
  that epoch; hence a restarted daemon never leads an epoch <= the one it recovered.

The module is deliberately tiny and allocation-light: the model checker evaluates
`violations` on every explored state (about a million calls per run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = [
    "CONFIG_FROM_LEADER",
    "CONFIG_UNIQUENESS",
    "ELECTION_SAFETY",
    "EPOCH_MONOTONIC",
    "LEADER_HAS_MAJORITY",
    "ONE_VOTE_PER_EPOCH",
    "PROMOTE_BY_LEADER",
    "REPOINT_FOLLOWS_CONFIG",
    "RESTART_FRESH_EPOCH",
    "RULES",
    "VOTER_MEMBERSHIP",
    "VOTE_DURABLE",
    "VOTE_NOT_STALE",
    "AbstractState",
    "ModelViolation",
    "adopt_epoch",
    "check_promote",
    "check_repoint",
    "current_epoch",
    "describe_violations",
    "grant_vote",
    "initial_state",
    "majority",
    "publish_config",
    "restart",
    "take_leadership",
    "violations",
]

# Invariant / rule names.  The first eight are state invariants reported by `violations`;
# every name can be the rule of a `ModelViolation` raised by a transition.
VOTER_MEMBERSHIP: Final = "VoterMembership"
ONE_VOTE_PER_EPOCH: Final = "OneVotePerEpoch"
LEADER_HAS_MAJORITY: Final = "LeaderHasMajority"
ELECTION_SAFETY: Final = "ElectionSafety"
CONFIG_FROM_LEADER: Final = "ConfigFromLeader"
CONFIG_UNIQUENESS: Final = "ConfigUniqueness"
EPOCH_MONOTONIC: Final = "EpochMonotonic"
RESTART_FRESH_EPOCH: Final = "RestartFreshEpoch"
# Transition-only rules (they constrain the order of events, not a single state).
VOTE_NOT_STALE: Final = "VoteNotStale"
VOTE_DURABLE: Final = "VoteDurable"
PROMOTE_BY_LEADER: Final = "PromoteByLeader"
REPOINT_FOLLOWS_CONFIG: Final = "RepointFollowsConfig"

RULES: Final = (
    VOTER_MEMBERSHIP,
    ONE_VOTE_PER_EPOCH,
    LEADER_HAS_MAJORITY,
    ELECTION_SAFETY,
    CONFIG_FROM_LEADER,
    CONFIG_UNIQUENESS,
    EPOCH_MONOTONIC,
    RESTART_FRESH_EPOCH,
    VOTE_NOT_STALE,
    VOTE_DURABLE,
    PROMOTE_BY_LEADER,
    REPOINT_FOLLOWS_CONFIG,
)


class ModelViolation(Exception):
    """A step the abstract model forbids; `rule` names the broken rule."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(f"{rule}: {message}")
        self.rule = rule
        self.message = message


@dataclass(frozen=True)
class AbstractState:
    """Everything the safety argument needs; every field only accumulates except `epochs`
    (one current epoch per daemon; daemons without an entry are at epoch 0) and
    `restarted_at` (one entry per daemon: the epoch it recovered at its *last* restart)."""

    voters: frozenset[str]
    votes: frozenset[tuple[str, int, str]] = frozenset()
    leaders: frozenset[tuple[int, str]] = frozenset()
    configs: frozenset[tuple[int, str]] = frozenset()
    epochs: frozenset[tuple[str, int]] = frozenset()
    restarted_at: frozenset[tuple[str, int]] = frozenset()


def initial_state(voters: frozenset[str] | set[str] | list[str] | tuple[str, ...]) -> AbstractState:
    """The state before anything happened: every voter at epoch 0, nothing granted."""
    vs = frozenset(voters)
    return AbstractState(voters=vs, epochs=frozenset((v, 0) for v in vs))


def majority(n: int) -> int:
    """n//2+1: the smallest size two subsets of an n-set can both have and still must share a
    member (proofs.majorities_intersect proves this for every n)."""
    return n // 2 + 1


def current_epoch(s: AbstractState, daemon: str) -> int:
    """The daemon's current epoch; 0 for a daemon the state has not heard of."""
    for d, e in s.epochs:
        if d == daemon:
            return e
    return 0


# ---------------------------------------------------------------------------------------------
# State invariants
# ---------------------------------------------------------------------------------------------


def describe_violations(s: AbstractState) -> list[tuple[str, str]]:
    """Every broken invariant of `s` as (name, detail), in a fixed order of checks.

    RestartFreshEpoch is not among them: whether a leadership was taken before or after a
    restart is a matter of event order, which accumulated sets cannot tell apart.  The rule is
    enforced by the transitions (so the trace checker and proof (d) check it), and what it
    protects - never two configs for one epoch - is ConfigUniqueness, checked here.
    """
    found: list[tuple[str, str]] = []
    voters = s.voters
    need = len(voters) // 2 + 1

    current: dict[str, int] = {}
    for d, e in s.epochs:
        if d in current:
            found.append((EPOCH_MONOTONIC, f"daemon {d} has two current epochs"))
            e = max(e, current[d])
        current[d] = e

    choice: dict[tuple[str, int], str] = {}
    grants: dict[tuple[int, str], int] = {}
    for v, e, c in s.votes:
        if v not in voters:
            found.append((VOTER_MEMBERSHIP, f"{v} is not a voter but granted epoch {e} to {c}"))
        else:
            key = (e, c)
            grants[key] = grants.get(key, 0) + 1
        prev = choice.setdefault((v, e), c)
        if prev != c:
            found.append((ONE_VOTE_PER_EPOCH, f"{v} voted for {prev} and {c} in epoch {e}"))
        if current.get(v, 0) < e:
            found.append((EPOCH_MONOTONIC, f"{v} voted in epoch {e} but is at an older epoch"))

    leader_of: dict[int, str] = {}
    for e, d in s.leaders:
        got = grants.get((e, d), 0)
        if got < need:
            found.append(
                (LEADER_HAS_MAJORITY, f"{d} leads epoch {e} with {got} of {need} needed grants")
            )
        other = leader_of.setdefault(e, d)
        if other != d:
            found.append((ELECTION_SAFETY, f"{other} and {d} both lead epoch {e}"))
        if current.get(d, 0) < e:
            found.append((EPOCH_MONOTONIC, f"{d} leads epoch {e} but is at an older epoch"))

    primary_of: dict[int, str] = {}
    for e, p in s.configs:
        if e not in leader_of:
            found.append((CONFIG_FROM_LEADER, f"config of epoch {e} ({p}) has no leader"))
        prev = primary_of.setdefault(e, p)
        if prev != p:
            found.append((CONFIG_UNIQUENESS, f"epoch {e} has configs naming {prev} and {p}"))

    for d, r in s.restarted_at:
        if current.get(d, 0) < r:
            found.append((EPOCH_MONOTONIC, f"{d} is below the epoch {r} it recovered"))
    return found


def violations(s: AbstractState) -> list[str]:
    """Names of the invariants `s` breaks, each once, [] if none.

    Invariants: VoterMembership (only voters vote), OneVotePerEpoch, LeaderHasMajority
    (a leader of e holds grants for e from a majority of the fixed voter set),
    ElectionSafety (at most one leader per epoch), ConfigFromLeader, ConfigUniqueness
    (two configs of one epoch name the same primary), EpochMonotonic in its state form
    (one current epoch per daemon, never below an epoch it voted or led in or recovered).
    """
    found = describe_violations(s)
    if not found:
        return []
    return list(dict.fromkeys(name for name, _ in found))


# ---------------------------------------------------------------------------------------------
# Transitions: pure functions, raising ModelViolation for a forbidden step
# ---------------------------------------------------------------------------------------------


def _with_epoch(s: AbstractState, daemon: str, epoch: int) -> frozenset[tuple[str, int]]:
    return frozenset([(d, e) for d, e in s.epochs if d != daemon] + [(daemon, epoch)])


def _restart_epoch(s: AbstractState, daemon: str) -> int | None:
    for d, r in s.restarted_at:
        if d == daemon:
            return r
    return None


def _live_leader(s: AbstractState, daemon: str, epoch: int, what: str) -> None:
    """Leadership is not persisted: a restart at epoch r forgets every leadership <= r."""
    r = _restart_epoch(s, daemon)
    if r is not None and epoch <= r:
        raise ModelViolation(
            RESTART_FRESH_EPOCH,
            f"{daemon} restarted at epoch {r} and cannot {what} epoch {epoch}: leadership and "
            "its decisions were lost at the restart",
        )


def grant_vote(s: AbstractState, voter: str, epoch: int, candidate: str) -> AbstractState:
    """`voter` durably grants its vote for `epoch` to `candidate` (self-votes included).

    Only members of the fixed voter set vote (so new daemons cannot inflate the majority); a
    vote is granted only for an epoch >= the voter's current one (its durable record holds one
    (epoch, vote) pair, so a grant for an older epoch could not be remembered); and at most one
    candidate per (voter, epoch).  Granting adopts the epoch.  Repeating the same grant is a
    no-op: a duplicated request gets the same answer.
    """
    if voter not in s.voters:
        raise ModelViolation(VOTER_MEMBERSHIP, f"{voter} is not in the voter set")
    if (voter, epoch, candidate) in s.votes:
        return s
    cur = current_epoch(s, voter)
    if epoch < cur:
        raise ModelViolation(
            VOTE_NOT_STALE, f"{voter} is at epoch {cur} and cannot grant a vote for epoch {epoch}"
        )
    for v, e, c in s.votes:
        if v == voter and e == epoch and c != candidate:
            raise ModelViolation(
                ONE_VOTE_PER_EPOCH,
                f"{voter} already voted for {c} in epoch {epoch}, cannot also vote for {candidate}",
            )
    return AbstractState(
        s.voters,
        s.votes | {(voter, epoch, candidate)},
        s.leaders,
        s.configs,
        _with_epoch(s, voter, epoch),
        s.restarted_at,
    )


def adopt_epoch(s: AbstractState, daemon: str, epoch: int) -> AbstractState:
    """`daemon`'s durable current epoch becomes `epoch`; epochs never decrease, because every
    rule above compares against the current epoch and a decrease would let a daemon re-enter an
    epoch it has already acted in."""
    cur = current_epoch(s, daemon)
    if epoch < cur:
        raise ModelViolation(
            EPOCH_MONOTONIC, f"{daemon} is at epoch {cur} and cannot go back to {epoch}"
        )
    return AbstractState(
        s.voters, s.votes, s.leaders, s.configs, _with_epoch(s, daemon, epoch), s.restarted_at
    )


def take_leadership(
    s: AbstractState, daemon: str, epoch: int, counted: frozenset[str] | None = None
) -> AbstractState:
    """`daemon` becomes leader of `epoch`.

    It needs durable grants for `epoch` from a majority of the fixed voter set (if `counted` is
    given, every counted voter must be a voter that did grant it, and they must be a majority),
    and it must not have restarted at an epoch >= `epoch` (RestartFreshEpoch).  The
    ElectionSafety check below cannot fire when the other rules held: two majorities share a
    voter, who would have voted twice.  It stays as a clear message for inconsistent input.
    """
    need = len(s.voters) // 2 + 1
    granted = {v for v, e, c in s.votes if e == epoch and c == daemon and v in s.voters}
    if counted is not None:
        bogus = sorted(counted - granted)
        if bogus:
            raise ModelViolation(
                LEADER_HAS_MAJORITY,
                f"{daemon} counted grants for epoch {epoch} that were never durably granted by a "
                f"voter: {', '.join(bogus)}",
            )
        if len(counted) < need:
            raise ModelViolation(
                LEADER_HAS_MAJORITY,
                f"{daemon} counted {len(counted)} grants for epoch {epoch}; a majority is {need}",
            )
    if len(granted) < need:
        raise ModelViolation(
            LEADER_HAS_MAJORITY,
            f"{daemon} holds {len(granted)} grants for epoch {epoch}; a majority of "
            f"{len(s.voters)} voters is {need}",
        )
    _live_leader(s, daemon, epoch, "lead")
    for e, d in s.leaders:
        if e == epoch and d != daemon:
            raise ModelViolation(ELECTION_SAFETY, f"{d} already leads epoch {epoch}")
    new_epoch = max(current_epoch(s, daemon), epoch)
    return AbstractState(
        s.voters,
        s.votes,
        s.leaders | {(epoch, daemon)},
        s.configs,
        _with_epoch(s, daemon, new_epoch),
        s.restarted_at,
    )


def publish_config(s: AbstractState, daemon: str, epoch: int, primary: str) -> AbstractState:
    """The leader of `epoch` publishes the config (epoch, primary).

    Only a live leader of the epoch publishes (ConfigFromLeader, RestartFreshEpoch), and it
    names one primary per epoch (ConfigUniqueness).  The uniqueness check reads the global set
    of configs, but under ElectionSafety every config of the epoch came from this same daemon,
    so it is the leader's own memory of what it published - which is exactly what a restart
    loses, and why the restart rule exists (proof (c)).
    """
    if (epoch, daemon) not in s.leaders:
        raise ModelViolation(
            CONFIG_FROM_LEADER, f"{daemon} is not the leader of epoch {epoch} and cannot publish"
        )
    _live_leader(s, daemon, epoch, "publish a config for")
    for e, p in s.configs:
        if e == epoch and p != primary:
            raise ModelViolation(
                CONFIG_UNIQUENESS,
                f"epoch {epoch} already has a config naming {p}; cannot also name {primary}",
            )
    return AbstractState(
        s.voters, s.votes, s.leaders, s.configs | {(epoch, primary)}, s.epochs, s.restarted_at
    )


def restart(s: AbstractState, daemon: str, epoch: int, vote: str | None) -> AbstractState:
    """`daemon` restarted and recovered its durable (epoch, vote for that epoch).

    The recovered epoch is never below the current one (epochs are fsynced before anything
    depends on them), and if the daemon granted a vote in that epoch it must have recovered that
    same vote (VoteDurable) - a daemon that forgets its vote can vote twice.  A recovered vote
    the log never showed (a crash between persisting and logging) counts as granted.
    """
    cur = current_epoch(s, daemon)
    if epoch < cur:
        raise ModelViolation(
            EPOCH_MONOTONIC, f"{daemon} recovered epoch {epoch} but had reached epoch {cur}"
        )
    votes = s.votes
    for v, e, c in s.votes:
        if v == daemon and e == epoch and c != vote:
            raise ModelViolation(
                VOTE_DURABLE,
                f"{daemon} granted its epoch {epoch} vote to {c} but recovered "
                f"{'no vote' if vote is None else 'a vote for ' + vote}",
            )
    if vote is not None:
        if daemon not in s.voters:
            raise ModelViolation(VOTER_MEMBERSHIP, f"{daemon} is not a voter but recovered a vote")
        votes = votes | {(daemon, epoch, vote)}
    return AbstractState(
        s.voters,
        votes,
        s.leaders,
        s.configs,
        _with_epoch(s, daemon, epoch),
        frozenset([(d, r) for d, r in s.restarted_at if d != daemon] + [(daemon, epoch)]),
    )


def check_promote(s: AbstractState, daemon: str, epoch: int, node: str) -> None:
    """A promotion naming `epoch` must agree with that epoch's decision.

    Once a config of `epoch` is published, any daemon may (re-)promote its primary - that is
    reconciliation towards the authoritative config - but promoting any other node would make a
    second primary for the epoch (ConfigUniqueness).  Before the config exists, the primary is
    still being decided, so only the live leader of `epoch` may promote (PromoteByLeader,
    RestartFreshEpoch: a restarted leader has forgotten what it decided).

    Epoch 0 is the bootstrap epoch: its config comes from configuration or observation, not
    from an election, so with no leader of epoch 0 a promotion naming it is reconciliation
    towards a config this model has no record of (the trace checker checks that all of a
    group's epoch-0 actions name one primary).
    """
    published = [p for e, p in s.configs if e == epoch]
    if published:
        if node not in published:
            raise ModelViolation(
                CONFIG_UNIQUENESS,
                f"epoch {epoch}'s config names {published[0]}; promoting {node} would make a "
                "second primary",
            )
        return
    if epoch == 0 and not any(e == 0 for e, _ in s.leaders):
        return
    if (epoch, daemon) not in s.leaders:
        raise ModelViolation(
            PROMOTE_BY_LEADER,
            f"{daemon} is not the leader of epoch {epoch}, which has no config yet, and cannot "
            "promote",
        )
    _live_leader(s, daemon, epoch, "promote for")


def check_repoint(s: AbstractState, daemon: str, epoch: int, node: str, primary: str) -> None:
    """A repoint naming `epoch` must follow that epoch's config when one is published."""
    for e, p in s.configs:
        if e == epoch and p != primary:
            raise ModelViolation(
                REPOINT_FOLLOWS_CONFIG,
                f"{daemon} repointed {node} to {primary} but epoch {epoch}'s config names {p}",
            )
