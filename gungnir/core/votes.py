"""Votes: granting a candidate's request, counting the replies, and taking the lead.

The rules a vote rests on (one vote per epoch, persisted before the reply, data-aware, only
voters vote) are decided here and in :mod:`.rules`; :mod:`.machine` routes the messages.
"""

from __future__ import annotations

from . import amnesia, failover, machine, membership
from .actions import Action, Notify, Send
from .events import PRIMARY
from .messages import ConfigAnnounce, VoteReply, VoteRequest
from .rules import Rules, members
from .state import CANDIDATE, FOLLOWER, LEADER, DaemonState, Election

Result = tuple[DaemonState, list[Action]]


def elected(st: DaemonState, now: float, rules: Rules) -> Result:
    """A majority granted our candidacy: lead the epoch and begin its failover plan."""
    el = st.election
    assert el is not None
    st = st.replace(role=LEADER)
    acts: list[Action] = [
        machine.record(st, now, "leader_elected", epoch=el.epoch, voters=sorted(el.grants)),
        Notify("+elected-leader", str(el.epoch)),
    ]
    st, more = failover.begin(st, now, rules)
    return st, acts + more


def on_request(st: DaemonState, m: VoteRequest, now: float, rules: Rules) -> Result:
    """Grant or refuse a candidate; a grant is persisted before the reply that carries it."""
    s = st.settings
    mine = membership.view_of(st)
    theirs = (m.voters_epoch, m.voters, m.next_voters) if m.voters else mine
    order = membership.compare_views(mine, theirs)
    voters = members(s)
    if order == membership.NEWER:
        voters = frozenset(theirs[1]) | frozenset(theirs[2])
    if st.me not in voters:
        return st, []  # observers never vote

    def refuse(why: str) -> Result:
        return st, [Send(m.sender, VoteReply(s.group, st.me, m.epoch, m.sender, False, why))]

    if order in (membership.OLDER, membership.CONFLICT):
        # a voter that moved on to a newer voter view never helps an older view's majority
        why = f"voter view {mine} is newer than the candidate's {theirs}"
        if order == membership.CONFLICT:
            why = f"voter view {mine} conflicts with the candidate's {theirs}"
        reply = VoteReply(s.group, st.me, m.epoch, m.sender, False, why)
        return st, [Send(m.sender, reply), Send(m.sender, announce(st))]
    if m.sender not in voters:
        return refuse(f"{m.sender} is not a voter")
    if amnesia.why_not(st):
        return refuse(amnesia.why_not(st))
    busy = _backing(st, m, now)
    if busy:
        return refuse(busy)
    ok, why = rules.grant_vote(st, m)
    if not ok:
        acts: list[Action] = [
            Send(m.sender, VoteReply(s.group, st.me, m.epoch, m.sender, False, why))
        ]
        if st.epoch > m.epoch or st.config.epoch >= m.epoch:
            # the candidate is behind: tell it what we know so its next try is current
            acts.append(Send(m.sender, announce(st)))
        return st, acts
    if m.reason == "failover":
        if st.config.primary is not None and st.config.primary not in st.sdown:
            return refuse(f"primary {st.config.primary} is up here")
        ok, why = rules.data_ok(st, m, now)
        if not ok:
            return refuse(why)
    elif m.reason in ("reconcile", "reconfig"):
        target = st.view(m.node)
        if m.node != st.config.primary or target is None or target.role != PRIMARY:
            return refuse(f"{m.node} is not the primary here")
    acts = []
    if order == membership.NEWER:  # persisted before the vote that depends on it
        st, acts = membership.set_view(_step_down(st), theirs, now)
    if m.epoch > st.epoch:
        st = _step_down(st)
        st = st.replace(epoch=m.epoch, vote=m.sender)
        acts += rules.persist_vote(m.epoch, m.sender)
        acts.append(machine.record(st, now, "epoch_adopted", epoch=m.epoch))
    else:
        first = st.vote is None
        st = st.replace(vote=m.sender)
        if first:
            acts += rules.persist_vote(m.epoch, m.sender)
    # Give the candidate we back the time to finish before we stand ourselves (a reconcile or
    # reconfig leader publishes at once: no failover to wait for).
    backing = s.election_timeout if m.reason in ("reconcile", "reconfig") else s.failover_timeout
    st = st.replace(next_election=now + backing)
    acts += [
        machine.record(st, now, "vote_granted", epoch=m.epoch, candidate=m.sender),
        Notify("+vote-for-leader", f"{m.sender} {m.epoch}"),
        Send(m.sender, VoteReply(s.group, st.me, m.epoch, m.sender, True)),
    ]
    return st, acts


def announce(st: DaemonState) -> ConfigAnnounce:
    """What this daemon knows: its config and its epoch."""
    return ConfigAnnounce(st.settings.group, st.me, st.config, st.epoch)


def _backing(st: DaemonState, m: VoteRequest, now: float) -> str:
    """Why this daemon will not help a newer epoch pre-empt a failover in progress, or "".

    A consistency failover waits out the old primary's write lease, which is longer than
    ``election_timeout``: a daemon that lost the election (or saw the primary down late)
    would stand for the next epoch while the leader is still waiting, and the voters would
    abandon a failover that was going to succeed.  So the leader of an epoch refuses newer
    epochs while its plan runs (it aborts itself after ``failover_timeout``), and a voter
    that backed another candidate refuses newer epochs until that epoch has a config or
    ``failover_timeout`` has passed since its vote.  Refusing a vote is always safe; the
    cost is that a leader that dies mid-failover is replaced after ``failover_timeout``
    (as in Sentinel), not after ``election_timeout``.
    """
    if m.epoch <= st.epoch:
        return ""
    if st.role == LEADER and st.failover is not None:
        return f"leading the failover of epoch {st.failover.epoch}"
    if (
        st.role == FOLLOWER
        and st.vote not in (None, st.me, m.sender)
        and st.config.epoch < st.epoch
        and st.next_election is not None
        and now < st.next_election
    ):
        return f"backing {st.vote} in epoch {st.epoch} until {st.next_election:.1f}"
    return ""


def _step_down(st: DaemonState) -> DaemonState:
    """A newer epoch supersedes any candidacy or plan of ours."""
    return st.replace(role=FOLLOWER, election=None, failover=None)


def on_reply(st: DaemonState, m: VoteReply, now: float, rules: Rules) -> Result:
    """Count a voter's answer to our candidacy; a majority of the whole set elects us."""
    el = st.election
    if st.role != CANDIDATE or el is None or m.candidate != st.me or m.epoch != el.epoch:
        return st, []
    if el.epoch <= st.restart_floor:
        return st, []  # the restart rule: never lead an epoch persisted before a restart
    if m.sender not in members(st.settings):
        return st, []  # (the candidate's view is fixed while it stands: see membership)
    if m.granted:
        el = Election(**{**el.__dict__, "grants": el.grants | {m.sender}})
    else:
        el = Election(**{**el.__dict__, "refusals": el.refusals | {m.sender}})
    st = st.replace(election=el)
    if m.granted and rules.has_won(st.settings, el.grants):
        return elected(st, now, rules)
    return st, []
