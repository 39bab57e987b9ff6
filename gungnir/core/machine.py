"""``step(state, event, now)``: the daemon's state machine for one group.

Observation, down detection, elections and message handling live here; the failover plan is
in :mod:`.failover` and drift correction in :mod:`.reconcile`.  The function is pure: the same
(state, event, now, rules) always gives the same (state, actions).
"""

from __future__ import annotations

from typing import Any

from . import amnesia, failover, membership, reconcile, switchover, votes
from .actions import Action, Broadcast, Log, Notify, PublishConfig, Send, log
from .events import (
    PRIMARY,
    REPLICA,
    ActionResult,
    Event,
    PeerStatus,
    Probe,
    Received,
    Start,
    Switchover,
    Tick,
    VotersChanged,
)
from .messages import (
    ConfigAnnounce,
    ConfigQuery,
    DownReport,
    FenceNotice,
    VoteReply,
    VoteRequest,
)
from .rules import RULES, Rules, has_majority, members
from .settings import UNMEETABLE_REPLICAS
from .state import CANDIDATE, FOLLOWER, LEADER, Config, DaemonState, Election, NodeView

Result = tuple[DaemonState, list[Action]]


def record(state: DaemonState, now: float, kind: str, **fields: Any) -> Log:
    """A decision-log record stamped with daemon, group and time (the trace contract)."""
    return log(kind, daemon=state.me, group=state.settings.group, t=now, **fields)


def step(state: DaemonState, event: Event, now: float, rules: Rules = RULES) -> Result:
    """Feed one event; get the new state and the actions to execute in order.

    Events before :class:`Start` are ignored (nothing durable has been read yet).
    """
    if isinstance(event, Start):
        return _start(state, event, now, rules)
    if not state.started:
        return state, []
    if isinstance(event, Probe):
        return _probe(state, event, now)
    if isinstance(event, PeerStatus):
        return _peer(state, event, now)
    if isinstance(event, Tick):
        return _tick(state, event, now, rules)
    if isinstance(event, Received):
        return _receive(state, event, now, rules)
    if isinstance(event, ActionResult):
        return failover.on_result(state, event, now, rules)
    if isinstance(event, Switchover):
        return _switchover(state, event, now, rules)
    if isinstance(event, VotersChanged):
        return membership.on_desired(state, event.voters, now, rules.begin_change)
    raise TypeError(f"not a core event: {event!r}")


# -- start ------------------------------------------------------------------------------------


def _start(state: DaemonState, ev: Start, now: float, rules: Rules) -> Result:
    configured = state.settings
    s = configured
    if ev.voters:  # the persisted voter view, not the configured bootstrap set
        s = s.replace(
            voters=tuple(ev.voters),
            next_voters=tuple(ev.next_voters),
            voters_epoch=ev.voters_epoch,
        )
    primary = s.initial_primary
    fresh = state.replace(
        settings=s,
        started=True,
        config=Config(0, primary, tuple(n for n in s.nodes if n != primary)),
        nodes=tuple(NodeView(node=n, last_ok=now) for n in sorted(s.nodes)),
        reports=(),
        peers=tuple((p, False, now) for p in sorted(members(s) - {state.me})),
        sdown=frozenset(),
        odown=False,
        odown_since=None,
        next_election=None,
        isolated_since=None,
        minority_fenced=frozenset(),
        confirm=None,
        switchover=None,
    )
    fresh = rules.recover(fresh, ev, now)
    acts: list[Action] = [
        record(fresh, now, "header", voters=list(configured.voters)),
        record(fresh, now, "restarted", epoch=ev.epoch, vote=ev.vote),
    ]
    fresh, more = amnesia.begin(fresh, now)
    acts += more
    if fresh.config.primary is not None:
        acts.append(PublishConfig(fresh.config, leader=""))  # the bootstrap config: routable
    if s.voters != configured.voters or s.next_voters != configured.next_voters:
        acts.append(
            record(
                fresh,
                now,
                "voters_changed",
                voters=list(s.voters),
                next_voters=list(s.next_voters),
                voters_epoch=s.voters_epoch,
            )
        )
    return fresh, acts


# -- observation ------------------------------------------------------------------------------


def _probe(state: DaemonState, ev: Probe, now: float) -> Result:
    old = state.view(ev.node)
    if old is None:  # a node outside the configured set: ignore, the runtime discovers names
        return state, []
    if not ev.reachable:
        new = _set(old, reachable=False)
    else:
        restarted = old.seen and bool(old.run_id) and ev.run_id != old.run_id
        holding = not ev.empty and ev.offset > 0
        empty_restart = (
            (restarted and not holding)
            or (restarted and lost_history(state, old, ev))
            or (old.empty_restart and not (holding and ev.role == REPLICA and ev.link_up))
        )
        new = NodeView(
            node=ev.node,
            last_ok=now,
            reachable=True,
            role=ev.role,
            master=ev.master,
            link_up=ev.link_up,
            offset=ev.offset,
            replid=ev.replid,
            run_id=ev.run_id,
            priority=ev.priority,
            accepts_writes=ev.accepts_writes,
            empty=ev.empty,
            lag=ev.lag,
            min_replicas=ev.min_replicas,
            paused=ev.paused,
            empty_restart=empty_restart,
            seen=True,
            max_lag=ev.max_lag,
            sync_denied=ev.sync_denied,
            settings_ok=ev.settings_ok,
            kept_min_replicas=(
                old.kept_min_replicas if ev.min_replicas == UNMEETABLE_REPLICAS else ev.min_replicas
            ),
        )
    nodes = tuple(new if v.node == ev.node else v for v in state.nodes)
    st = state.replace(nodes=nodes)
    if st.config.epoch == 0 and st.config.primary is None:
        st = _bootstrap(st)
        if st.config.primary is not None:
            # nobody leads epoch 0: every daemon derives the same config and publishes it,
            # so the primary Service has an endpoint before the first failover
            return st, [PublishConfig(st.config, leader="")]
    return st, []


def lost_history(state: DaemonState, old: NodeView, ev: Probe) -> bool:
    """A node back with a new run id has lost its data if it also has a new replication id
    and an offset below the highest this daemon has seen in the group.

    Why not "no keys and offset 0": clients reconnect within milliseconds of a restart, so by
    a daemon's first probe an empty node already holds a few new keys; each daemon then ran
    that race on its own, too few saw it, and the replicas resynchronised from the nearly
    empty node (the empty-restart wipe).  A restart that kept its data (an RDB load) keeps
    the replication id and offset; one that did not gets a fresh replication id and counts
    from zero, whatever it was written since.  A restart that kept its data but not its
    replication id (AOF without the RDB preamble) is flagged too: the cost is one needless
    failover to a replica, never lost data.
    """
    if not ev.replid or ev.replid == old.replid:
        return False
    seen = max((v.offset for v in state.nodes if v.node != ev.node), default=0)
    return ev.offset < max(seen, old.offset)


def flag_unvetted_empty_primary(state: DaemonState) -> DaemonState:
    """Flag the config primary as restarted empty when it is still under its start-up fence,
    holds nothing (offset 0), and a node this daemon reaches holds data.

    :func:`lost_history` needs this daemon to have seen the node before its restart; a daemon
    that started (or restarted) after the node came back has no such history, and without
    this rule it would lift the start-up fence off the empty node and let the replicas resync
    from it (the empty-restart wipe).  The start-up fence makes the check sound without
    history: a fenced node takes no write and serves no sync, so its offset stays 0 until a
    daemon lifts the fence, while a primary that kept its data (an RDB load) comes back with
    its offset, and a fresh group's nodes all start at 0.
    """
    p = state.config.primary
    v = state.view(p) if p is not None else None
    if (
        v is None
        or v.empty_restart
        or not v.reachable
        or v.role != PRIMARY
        or v.offset != 0
        or v.min_replicas != UNMEETABLE_REPLICAS
    ):
        return state
    if not any(o.reachable and o.offset > 0 for o in state.nodes if o.node != p):
        return state
    nodes = tuple(_set(o, empty_restart=True) if o.node == p else o for o in state.nodes)
    return state.replace(nodes=nodes)


def _set(v: NodeView, **changes: Any) -> NodeView:
    import dataclasses

    return dataclasses.replace(v, **changes)


def _bootstrap(state: DaemonState) -> DaemonState:
    """Epoch-0 config from observation: exactly one reachable primary among all nodes seen."""
    if not all(v.seen for v in state.nodes):
        return state
    prims = [v.node for v in state.nodes if v.reachable and v.role == PRIMARY]
    if len(prims) != 1:
        return state
    p = prims[0]
    reps = tuple(v.node for v in state.nodes if v.node != p)
    return state.replace(config=Config(0, p, reps))


def _peer(state: DaemonState, ev: PeerStatus, now: float) -> Result:
    """A peer link went up or down.  On up: share our config (the peer's core answers with a
    newer one if it has one: how a restarted daemon that cannot bootstrap from observation
    learns the authoritative config), and ask for its epoch if the lost-state rule waits on
    it."""
    peers = []
    acts: list[Action] = []
    for name, ok, since in state.peers:
        if name == ev.peer:
            peers.append((name, ev.reachable, since if ok == ev.reachable else now))
            if ev.reachable and not ok:
                acts.append(Send(name, votes.announce(state)))
                acts += amnesia.query(state, name)
        else:
            peers.append((name, ok, since))
    refused = state.refused_by - {ev.peer} | ({ev.peer} if ev.answered else set())
    return state.replace(peers=tuple(peers), refused_by=frozenset(refused)), acts


def is_sdown(state: DaemonState, v: NodeView, now: float) -> bool:
    """Subjectively down: silent for ``down_after``; a config primary that restarted empty
    counts as down too (it must never serve as a sync source)."""
    if v.node == state.config.primary and v.empty_restart and v.reachable:
        return True
    return not v.reachable and now - v.last_ok >= state.settings.down_after


def fresh_down_reports(
    state: DaemonState, node: str, now: float, rules: Rules = RULES
) -> frozenset[str]:
    """Peers whose fresh report says ``node`` is down; only voters' reports count."""
    s = state.settings
    return frozenset(
        sender
        for sender, n, down, t in state.reports
        if n == node
        and down
        and now - t <= s.report_ttl
        and sender != state.me
        and rules.counts(s, sender)
    )


# -- tick -------------------------------------------------------------------------------------


def _tick(state: DaemonState, ev: Tick, now: float, rules: Rules) -> Result:
    s = state.settings
    acts: list[Action] = []
    state = flag_unvetted_empty_primary(state)
    st = state
    # 1. subjective down
    sdown = frozenset(v.node for v in st.nodes if is_sdown(st, v, now))
    for n in sorted(sdown - st.sdown):
        acts.append(Notify("+sdown", n))
        v = st.view(n)
        if (
            n == st.config.primary
            and v is not None
            and v.reachable
            and v.empty_restart
            and rules.counts(s, st.me)
            and rules.select_replica(st, n, now) is not None
        ):
            # Fencing is always safe and needs no election: stop the node that lost its data
            # taking writes now, so nothing acknowledged meanwhile depends on it; the
            # failover to the replica holding the data follows.  With no replica to fail
            # over to, the node is the best there is: leave it writable.  ``no_sync``: its
            # replicas must not resync from it either, or the failover finds them empty.
            acts.append(failover.fence_action(st, n, "no_sync"))
            acts.append(Notify("+fence-empty-restart", n))
    for n in sorted(st.sdown - sdown):
        acts.append(Notify("-sdown", n))
    st = st.replace(sdown=sdown)
    primary = st.config.primary
    if primary is not None:
        down = primary in sdown
        if down or primary in state.sdown:
            acts.append(Broadcast(DownReport(s.group, st.me, primary, down, st.epoch)))
    # 2. objective down
    odown = False
    if primary is not None and primary in sdown:
        mine = 1 if rules.counts(s, st.me) else 0
        odown = len(fresh_down_reports(st, primary, now, rules)) + mine >= s.quorum
    if odown and not st.odown:
        acts.append(Notify("+odown", primary or ""))
        first = now + ev.jitter * s.election_jitter
        st = st.replace(odown_since=now, next_election=st.next_election or first)
    elif st.odown and not odown:
        acts.append(Notify("-odown", primary or ""))
        st = st.replace(odown_since=None)
    st = st.replace(odown=odown)
    # 3. minority-side fencing
    st, more = _minority(st, now, rules)
    acts += more
    # 4. candidacy timeout and randomised retry
    if st.role == CANDIDATE and st.election is not None:
        if now - st.election.started >= s.election_timeout:
            acts.append(Notify("-failover-abort-not-elected", str(st.election.epoch)))
            st = st.replace(
                role=FOLLOWER,
                election=None,
                next_election=now + s.election_timeout * (1.0 + ev.jitter),
            )
    # 5. the leader's plan
    if st.role == LEADER:
        st, more = failover.advance(st, now, rules, retry=True)
        acts += more
    # 6. voter view: a committed config adopted while candidate or leader, then a change the
    # configuration asks for (both deferred while this daemon stands or leads)
    if st.role == FOLLOWER:
        st, more = membership.on_config(st, st.config.voters, st.config.epoch, now)
        acts += more
        st, more = membership.maybe_begin(st, now, rules.begin_change)
        acts += more
    # 7. a new candidacy
    if st.role == FOLLOWER and st.is_voter and st.amnesia is None:
        st, more = _maybe_candidate(st, ev, now, rules)
        acts += more
    # 8. drift correction
    if st.role == FOLLOWER:
        st, more = reconcile.tick(st, ev, now)
        acts += more
    return st, acts


def _minority(st: DaemonState, now: float, rules: Rules) -> Result:
    """Fence every reachable primary after ``fence_after`` without a majority of voters
    (of both sets during a voter change: lacking either majority is the minority side).
    Observers never fence: their sight of the voters proves nothing about the group."""
    s = st.settings
    # a peer that answered but refused our secret is there: not a partition (PeerStatus)
    up = frozenset(name for name, ok, _ in st.peers if ok) | st.refused_by | {st.me}
    if has_majority(s, up) or not rules.counts(s, st.me):
        return st.replace(isolated_since=None, minority_fenced=frozenset()), []
    since = st.isolated_since if st.isolated_since is not None else now
    st = st.replace(isolated_since=since)
    if now - since < s.fence_after:
        return st, []
    acts: list[Action] = []
    fenced = set(st.minority_fenced)
    for v in st.nodes:
        if v.reachable and v.role == PRIMARY and v.node not in fenced:
            acts.append(failover.fence_action(st, v.node))
            acts.append(Notify("+fence-minority", v.node))
            fenced.add(v.node)
    return st.replace(minority_fenced=frozenset(fenced)), acts


def _maybe_candidate(st: DaemonState, ev: Tick, now: float, rules: Rules) -> Result:
    reason = None
    if st.switchover is not None:
        reason = "switchover"
    elif st.odown:
        reason = "failover"
    elif reconcile.needs_election(st):
        reason = "reconcile"
    elif st.settings.next_voters:
        reason = "reconfig"  # a voter change commits only through an election
    if reason is None:
        return st, []
    if st.next_election is None:
        return st.replace(next_election=now + ev.jitter * st.settings.election_jitter), []
    if now < st.next_election:
        return st, []
    return start_election(st, reason, now, ev.jitter, rules)


def start_election(st: DaemonState, reason: str, now: float, jitter: float, rules: Rules) -> Result:
    """Become a candidate for (highest known epoch + 1), persisting the self-vote first."""
    s = st.settings
    retry = now + s.election_timeout * (1.0 + jitter)
    if reason in ("reconcile", "reconfig"):
        target = st.view(st.config.primary) if st.config.primary else None
    elif reason == "switchover" and st.switchover is not None and st.switchover[0] is not None:
        target = st.view(st.switchover[0])
    else:
        target = rules.select_replica(st, st.config.primary, now)
    if target is None or not target.reachable:
        return st.replace(next_election=retry), [Notify("-failover-abort-no-good-slave", "")]
    epoch = max(st.epoch, st.config.epoch, st.restart_floor) + 1
    election = Election(
        epoch=epoch,
        node=target.node,
        replid=target.replid,
        offset=target.offset,
        reason=reason,
        started=now,
        grants=frozenset({st.me}),
    )
    st = st.replace(epoch=epoch, vote=st.me, role=CANDIDATE, election=election, next_election=retry)
    acts: list[Action] = list(rules.persist_vote(epoch, st.me))
    acts += [
        record(st, now, "epoch_adopted", epoch=epoch),
        record(st, now, "vote_granted", epoch=epoch, candidate=st.me),
        Notify("+new-epoch", str(epoch)),
        Notify("+try-failover", f"{reason} {target.node} epoch {epoch}"),
        Broadcast(
            VoteRequest(
                s.group,
                st.me,
                epoch,
                target.node,
                target.replid,
                target.offset,
                reason,
                s.voters,
                s.next_voters,
                st.voters_epoch,
            )
        ),
    ]
    if rules.has_won(s, election.grants):
        st, more = votes.elected(st, now, rules)
        acts += more
    return st, acts


# -- messages ---------------------------------------------------------------------------------


def _receive(state: DaemonState, ev: Received, now: float, rules: Rules) -> Result:
    m = ev.message
    if m.group != state.settings.group or m.sender == state.me:
        return state, []
    if isinstance(m, DownReport):
        reports = tuple(r for r in state.reports if not (r[0] == m.sender and r[1] == m.node))
        reports = tuple(sorted((*reports, (m.sender, m.node, m.down, now))))
        return state.replace(reports=reports), []
    if isinstance(m, VoteRequest):
        return votes.on_request(state, m, now, rules)
    if isinstance(m, VoteReply):
        return votes.on_reply(state, m, now, rules)
    if isinstance(m, ConfigAnnounce):
        state, acts = amnesia.heard(state, m, now)
        state, more = reconcile.on_announce(state, m, now)
        return state, acts + more
    if isinstance(m, ConfigQuery):
        reply = ConfigAnnounce(
            state.settings.group, state.me, state.config, state.epoch, reply_to=m.nonce
        )
        return state, [Send(m.sender, reply)]
    if isinstance(m, FenceNotice):
        return state, [Notify("+fence-notice", f"{m.node} epoch {m.epoch} by {m.sender}")]
    raise TypeError(f"not a peer message: {m!r}")


def _switchover(st: DaemonState, ev: Switchover, now: float, rules: Rules) -> Result:
    why = switchover.refusal(st, ev.target)
    if why is not None:
        return st, [Notify("-switchover-refused", why)]
    st = st.replace(switchover=(ev.target, ev.use_failover_command))
    if st.role != FOLLOWER:
        return st, []
    return start_election(st, "switchover", now, 0.0, rules)
