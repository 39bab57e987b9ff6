"""Continuous reconciliation: drive nodes towards the highest-epoch config every daemon knows.

The danger of reconciliation is a daemon with a stale config "correcting" the new primary
back to the old one.  So drift is corrected only after a confirmation round started after the
drift was seen: a majority of voters answer a :class:`ConfigQuery` with no epoch and no config
newer than ours.  Any election that could have produced the drift had a majority adopt its
epoch first, and majorities intersect, so some answer would have shown it.  Corrective actions
name the config's epoch.  If answers show a newer epoch that never produced a config (a failed
election), the daemon runs a ``reconcile`` election that republishes the current primary under
a fresh epoch, so corrections can proceed.
"""

from __future__ import annotations

from typing import Any

from . import membership, nodesettings
from .actions import (
    Action,
    Broadcast,
    Notify,
    Persist,
    Promote,
    Repoint,
    Send,
    SetWriteQuorum,
    Unfence,
)
from .events import PRIMARY, REPLICA, Tick
from .messages import ConfigAnnounce, ConfigQuery
from .rules import has_majority, holds_committed
from .settings import CONSISTENCY, UNMEETABLE_REPLICAS
from .state import CANDIDATE, FOLLOWER, LEADER, Confirm, DaemonState

Result = tuple[DaemonState, list[Action]]


def _rec(st: DaemonState, now: float, kind: str, **fields: Any) -> Action:
    from .machine import record

    return record(st, now, kind, **fields)


def corrections(st: DaemonState) -> list[Action]:
    """The node actions that would bring what this daemon sees in line with its config."""
    cfg = st.config
    p = cfg.primary
    if p is None:
        return []
    pv = st.view(p)
    if pv is None or not pv.reachable or pv.empty_restart:
        return []
    s = st.settings
    out: list[Action] = []
    others_primary = [v.node for v in st.nodes if v.node != p and v.reachable and v.role == PRIMARY]
    if pv.role != PRIMARY:
        # The config's primary was demoted behind our back (a manual REPLICAOF, a node
        # restarted as a replica).  Clients are routed to it, so it must become primary again,
        # but never beside another: demote every other primary first (to follow it, so they
        # keep their data flowing towards it), and promote it once none is left in sight.
        if others_primary:
            return [Repoint(n, p, cfg.epoch) for n in others_primary]
        return [Promote(p, cfg.epoch)]
    isolated = st.isolated_since is not None
    min_replicas, lag = nodesettings.wanted(s, pv)
    if not isolated and pv.paused:
        out.append(Unfence(p, cfg.epoch, min_replicas))
    elif not isolated and nodesettings.drifted(s, pv) and vetted(st, pv.offset):
        out.append(SetWriteQuorum(p, cfg.epoch, min_replicas, lag))
    for v in st.nodes:
        if v.node == p or not v.reachable:
            continue
        if v.role == PRIMARY or (v.role == REPLICA and v.master != p):
            out.append(Repoint(v.node, p, cfg.epoch))
    return out


def vetted(st: DaemonState, offset: int) -> bool:
    """May the config primary, at ``offset``, take writes and serve syncs again?

    A node starts fenced (and a failover leaves the new primary fenced until its last
    step); lifting that fence makes it a sync source, and a replica that resyncs from it
    drops whatever the primary lacks.  Under the consistency policy the fence is lifted only
    when a majority of the nodes, reachable now and none restarted empty, hold no more than
    the primary: then it holds every committed write (:func:`holds_committed`).  A primary
    back empty while the replicas that hold the data are out of sight stays fenced until
    they return, and :func:`~gungnir.core.machine.flag_unvetted_empty_primary` then fails
    over to one of them.

    Under either policy a node whose settings could not all be read back is not vetted: its
    start fence stays (design rule 10).
    """
    s = st.settings
    pv = st.view(st.config.primary) if st.config.primary is not None else None
    if pv is not None and not pv.settings_ok:
        return False  # settings that cannot be verified: never lifted (design rule 10)
    if s.policy != CONSISTENCY:
        return True
    if pv is None or pv.min_replicas != UNMEETABLE_REPLICAS:
        return True  # not fenced: a quorum change, not a lift
    return holds_committed(st, offset, float("-inf"))


def needs_election(st: DaemonState) -> bool:
    """Drift that cannot be confirmed because a newer epoch has no config yet."""
    if st.drift_since is None or st.epoch <= st.config.epoch:
        return False
    return True


def describe(todo: list[Action], epoch: int) -> str:
    """One line for operators and subscribers: which corrections this round sends, so a
    repaired drift is never silent (``+drift-corrected``)."""
    parts = []
    for a in todo:
        if isinstance(a, Repoint):
            parts.append(f"repoint {a.node} -> {a.primary}")
        elif isinstance(a, Promote):
            parts.append(f"promote {a.node}")
        elif isinstance(a, Unfence):
            parts.append(f"unfence {a.node}")
        elif isinstance(a, SetWriteQuorum):
            parts.append(f"min-replicas-to-write {a.min_replicas} on {a.node}")
    return f"epoch {epoch}: " + ", ".join(parts)


def tick(st: DaemonState, ev: Tick, now: float) -> Result:
    s = st.settings
    todo = corrections(st)
    if not todo:
        return st.replace(drift_since=None, confirm=None), []
    if st.drift_since is None:
        st = st.replace(drift_since=now)
    c = st.confirm
    if c is None or c.epoch != st.config.epoch or now - c.nonce > s.report_ttl:
        c = Confirm(nonce=now, epoch=st.config.epoch, acks=frozenset({st.me}))
        query = ConfigQuery(s.group, st.me, now, st.epoch)
        return st.replace(confirm=c), [Broadcast(query)]
    if not has_majority(s, c.acks) or st.drift_since is None or c.nonce < st.drift_since:
        return st, []
    acts: list[Action] = [Notify("+drift-corrected", describe(todo, st.config.epoch))]
    for a in todo:
        acts.append(a)
        if isinstance(a, Repoint):
            acts.append(_rec(st, now, "repointed", epoch=a.epoch, node=a.node, primary=a.primary))
            acts.append(Notify("+convert-to-slave", f"{a.node} -> {a.primary}"))
        elif isinstance(a, Promote):
            acts.append(_rec(st, now, "promoted", epoch=a.epoch, node=a.node))
    return st.replace(confirm=None), acts


def on_announce(st: DaemonState, m: ConfigAnnounce, now: float) -> Result:
    """Adopt a newer config (and epoch); count confirmation answers; share ours if newer."""
    acts: list[Action] = []
    newer_epoch = max(m.epoch, m.config.epoch)
    if m.config.epoch > st.config.epoch:
        if st.config.primary != m.config.primary:
            acts.append(Notify("+switch-master", f"{m.config.primary} epoch {m.config.epoch}"))
        st = st.replace(config=m.config, confirm=None, drift_since=None)
    if newer_epoch > st.epoch:
        mine = st.election.epoch if st.election else (st.failover.epoch if st.failover else -1)
        if st.role in (CANDIDATE, LEADER) and mine < newer_epoch:
            st = st.replace(role=FOLLOWER, election=None, failover=None)
        st = st.replace(epoch=newer_epoch, vote=None)
        acts.append(Persist(newer_epoch, None))
        acts.append(_rec(st, now, "epoch_adopted", epoch=newer_epoch))
    if st.role == FOLLOWER:  # a candidate or leader keeps the view it stands under
        st, more = membership.on_config(st, st.config.voters, st.config.epoch, now)
        acts += more
    c = st.confirm
    if c is not None and m.reply_to == c.nonce:
        if m.config.epoch <= c.epoch and m.epoch <= c.epoch:
            st = st.replace(confirm=Confirm(c.nonce, c.epoch, c.acks | {m.sender}))
    if m.reply_to is None and m.config.epoch < st.config.epoch:
        acts.append(Send(m.sender, ConfigAnnounce(st.settings.group, st.me, st.config, st.epoch)))
    return st, acts
