"""The leader's failover plan for its epoch, one stage at a time.

Stages: ``fence`` (fence the old primary; under consistency also make the target unwritable
before it is promoted) -> ``catchup`` (manual switchover: wait for the target to hold every
write of the paused primary) -> ``wait`` (``promote_after`` unless the old primary was fenced
directly) -> ``promote`` -> ``detach`` (consistency: repoint enough replicas away from the old
primary that it can no longer meet min-replicas-to-write) -> ``lease`` (wait out its write
lease) -> ``quorum`` (the new primary's write quorum) -> ``publish`` -> ``repoint`` -> done.
Node actions are answered by ActionResult events; the plan advances on results and ticks and
gives up after ``failover_timeout``.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from . import membership, nodesettings
from .actions import (
    Action,
    Broadcast,
    FailoverCommand,
    Fence,
    Notify,
    Promote,
    PublishConfig,
    Repoint,
    SetWriteQuorum,
    Unfence,
)
from .events import ActionResult
from .messages import ConfigAnnounce
from .rules import FencePlan, Rules, eligible
from .settings import CONSISTENCY, UNMEETABLE_REPLICAS
from .state import FOLLOWER, LEADER, Config, DaemonState, Failover

Result = tuple[DaemonState, list[Action]]


def _rec(st: DaemonState, now: float, kind: str, **fields: Any) -> Action:
    from .machine import record

    return record(st, now, kind, **fields)


def fence_action(st: DaemonState, node: str, method: str = "min_replicas") -> Fence:
    return Fence(node, st.epoch, method)


def _fo(st: DaemonState, **changes: Any) -> DaemonState:
    assert st.failover is not None
    return st.replace(failover=dataclasses.replace(st.failover, **changes))


def begin(st: DaemonState, now: float, rules: Rules) -> Result:
    """Start the plan of the epoch just won (or, for a reconcile election, publish at once)."""
    el = st.election
    assert el is not None
    s = st.settings
    if el.reason in ("reconcile", "reconfig"):
        cfg = Config(
            el.epoch, st.config.primary, tuple(n for n in s.nodes if n != st.config.primary)
        )
        return _publish(st.replace(role=FOLLOWER, election=None), cfg, now)
    old = st.config.primary
    old_view = st.view(old) if old else None
    manual = el.reason == "switchover"
    use_cmd = bool(manual and st.switchover and st.switchover[1])
    fo = Failover(
        epoch=el.epoch,
        old=old,
        new=el.node,
        stage="fence",
        started=now,
        manual=manual,
        use_failover_command=use_cmd,
        old_last_ok=old_view.last_ok if old_view else now,
        lease=rules.lease(s, nodesettings.observed_max_lag(st, old)),
    )
    st = st.replace(failover=fo, switchover=None)
    return advance(st, now, rules)


def _abort(st: DaemonState, now: float, why: str) -> Result:
    fo = st.failover
    assert fo is not None
    acts: list[Action] = [Notify("-failover-abort", f"epoch {fo.epoch}: {why}")]
    if fo.manual and fo.old_fenced and fo.old is not None and fo.stage in ("catchup", "wait"):
        acts.append(Unfence(fo.old, fo.epoch, _wanted(st, fo.old)[0]))
    st = st.replace(
        role=FOLLOWER,
        failover=None,
        election=None,
        next_election=now + st.settings.election_timeout,
    )
    return st, acts


def advance(st: DaemonState, now: float, rules: Rules, retry: bool = False) -> Result:
    """Move the plan as far as it can go now (called on ticks and on action results).

    Failed node actions are retried only on a tick (``retry``), never straight from their
    failure result, so an unreachable node cannot make the plan spin."""
    if retry and st.failover is not None and st.failover.failed and st.failover.stage != "repoint":
        st = _fo(st, failed=frozenset())
    acts: list[Action] = []
    for _ in range(12):  # each pass moves at most one stage
        before = st.failover
        st, more = _advance_once(st, now, rules)
        acts += more
        if st.failover is None or st.failover == before or st.failover.pending:
            break
    return st, acts


def _advance_once(st: DaemonState, now: float, rules: Rules) -> Result:
    fo = st.failover
    if st.role != LEADER or fo is None:
        return st, []
    s = st.settings
    # An old primary that runs a longer max-lag than the policy's has a longer lease: the
    # plan gets the difference on top of ``failover_timeout`` (whose rule assumes s.lease).
    limit = (
        s.switchover_timeout
        if fo.manual and fo.stage in ("fence", "catchup")
        else s.failover_timeout + max(0.0, fo.lease - s.lease)
    )
    if now - fo.started > limit:
        return _abort(st, now, "timeout")
    if fo.pending:
        return st, []
    plan = rules.fence_plan(s)
    consistency = s.policy == CONSISTENCY
    if fo.stage == "fence":
        acts: list[Action] = []
        pend: list[Action] = []
        if fo.use_failover_command and fo.old is not None:
            cmd = FailoverCommand(fo.old, fo.new, fo.epoch, int(s.switchover_timeout * 1000))
            return _fo(st, stage="command", pending=frozenset({cmd})), [cmd]
        old_view = st.view(fo.old) if fo.old else None
        if plan.fence_old and fo.old is not None and old_view is not None and old_view.reachable:
            f = Fence(fo.old, fo.epoch, "pause" if fo.manual else "min_replicas")
            pend.append(f)
            acts += [f, _rec(st, now, "fenced", epoch=fo.epoch, node=fo.old)]
        if consistency:
            q = SetWriteQuorum(fo.new, fo.epoch, UNMEETABLE_REPLICAS, _wanted(st, fo.new)[1])
            pend.append(q)
            acts.append(q)
        stage = "catchup" if fo.manual else "wait"
        return _fo(st, stage=stage, pending=frozenset(pend)), acts
    if fo.stage == "catchup":
        old_v = st.view(fo.old) if fo.old else None
        new_v = st.view(fo.new)
        if old_v is None or new_v is None:
            return _fo(st, stage="wait"), []
        fresh = old_v.last_ok > fo.old_last_ok and new_v.last_ok > fo.old_last_ok
        if fresh and new_v.link_up and new_v.offset >= old_v.offset:
            return _fo(st, stage="wait"), []
        return st, []
    if fo.stage == "wait":
        if plan.wait and not fo.old_fenced and fo.old is not None:
            old_v = st.view(fo.old)
            last = old_v.last_ok if old_v else fo.old_last_ok
            if old_v is not None and old_v.reachable:
                return _abort(st, now, f"old primary {fo.old} is reachable but not fenced")
            if now - last < s.promote_after:
                return st, []
        # The target was chosen at election time; it may have restarted empty or fallen
        # behind since.  Promote it only if it still holds what the voters agreed to.
        tv = st.view(fo.new)
        named = st.election.offset if st.election is not None else 0
        if (
            tv is None
            or not eligible(tv, s, now, consistency)
            or not tv.settings_ok
            or tv.offset < named
        ):
            return _abort(st, now, f"{fo.new} is no longer eligible for promotion")
        stopped = _writes_stopped(st, fo, plan)
        if consistency and not rules.holds_committed(st, tv.offset, stopped):
            return st, []  # wait for a majority of nodes to vouch (or the plan's timeout)
        p = Promote(fo.new, fo.epoch)
        acts = [p, _rec(st, now, "promoted", epoch=fo.epoch, node=fo.new)]
        return _fo(st, stage="promote", pending=frozenset({p})), acts
    if fo.stage == "promote":  # promote answered ok
        nxt = "detach" if consistency and plan.wait and not fo.old_fenced else "quorum"
        return _fo(st, stage=nxt), [Notify("+promoted-slave", fo.new)]
    if fo.stage == "detach":
        others = [
            n
            for n in s.nodes
            if n not in (fo.new, fo.old) and n not in fo.repointed and n not in fo.failed
        ]
        need = len(s.nodes) - s.node_majority + 1
        if 1 + len(fo.repointed) >= need:
            return _fo(st, stage="lease", lease_until=now + fo.lease, failed=frozenset()), []
        if not others:
            return st, []  # wait for the next tick to retry the failed ones
        acts = []
        pend = []
        for n in others:
            r = Repoint(n, fo.new, fo.epoch)
            pend.append(r)
            acts += [r, _rec(st, now, "repointed", epoch=fo.epoch, node=n, primary=fo.new)]
        return _fo(st, pending=frozenset(pend)), acts
    if fo.stage == "lease":
        if fo.lease_until is not None and now < fo.lease_until:
            return st, []
        return _fo(st, stage="quorum"), []
    if fo.stage == "quorum":
        if fo.failed:
            return st, []  # the quorum write failed: retried on the next tick
        tv = st.view(fo.new)
        if tv is not None and tv.empty_restart:
            return _abort(st, now, f"{fo.new} restarted empty after its promotion")
        if consistency and (tv is None or not rules.holds_committed(st, tv.offset, -math.inf)):
            return st, []  # writable only once a majority vouches for its data
        q = SetWriteQuorum(fo.new, fo.epoch, *_wanted(st, fo.new))
        return _fo(st, pending=frozenset({q})), [q]
    if fo.stage == "publish":
        cfg = Config(fo.epoch, fo.new, tuple(n for n in s.nodes if n != fo.new))
        st2, acts = _publish(st, cfg, now)
        return _fo(st2, stage="repoint"), acts
    if fo.stage == "repoint":
        todo = [n for n in s.nodes if n != fo.new and n not in fo.repointed and n not in fo.failed]
        if not todo:
            return _finish(st, now)
        acts = []
        pend = []
        for n in todo[: s.parallel_syncs]:
            r = Repoint(n, fo.new, fo.epoch)
            pend.append(r)
            acts += [r, _rec(st, now, "repointed", epoch=fo.epoch, node=n, primary=fo.new)]
        return _fo(st, pending=frozenset(pend)), acts
    raise AssertionError(f"unknown failover stage {fo.stage!r}")


def _wanted(st: DaemonState, node: str) -> tuple[int, int]:
    """(min-replicas-to-write, max-lag) for ``node`` as a writable primary, keeping what an
    operator set stricter (:func:`~gungnir.core.nodesettings.wanted`)."""
    v = st.view(node)
    s = st.settings
    return nodesettings.wanted(s, v) if v is not None else (s.write_quorum, s.max_lag_setting)


def _publish(st: DaemonState, cfg: Config, now: float) -> Result:
    """Publish ``cfg`` with the voter set it commits: a leader elected under the joint rule
    commits its target set here (persisted before the config leaves)."""
    s = st.settings
    moved = st.config.primary != cfg.primary
    voters, view = membership.committed_by(st, cfg.epoch)
    cfg = Config(cfg.epoch, cfg.primary, cfg.replicas, voters)
    st = st.replace(config=cfg, confirm=None)
    acts: list[Action] = []
    if view is not None:
        st, acts = membership.set_view(st, view, now)
    acts += [
        PublishConfig(cfg),
        _rec(
            st,
            now,
            "config_published",
            epoch=cfg.epoch,
            primary=cfg.primary,
            replicas=list(cfg.replicas),
            voters=list(cfg.voters),
        ),
        Broadcast(ConfigAnnounce(s.group, st.me, cfg, st.epoch)),
        # +switch-master means the primary moved (docs/sentinel.md); a reconcile or voter
        # change epoch that keeps the primary says so under its own name
        Notify("+switch-master", f"{cfg.primary} epoch {cfg.epoch}")
        if moved
        else Notify("+config-epoch", f"{cfg.primary} epoch {cfg.epoch}: primary unchanged"),
    ]
    return st, acts


def _finish(st: DaemonState, now: float) -> Result:
    fo = st.failover
    assert fo is not None
    acts: list[Action] = []
    if fo.manual and fo.old_fenced and fo.old is not None and fo.old in fo.repointed:
        acts.append(Unfence(fo.old, fo.epoch, _wanted(st, fo.old)[0]))
    acts.append(Notify("+failover-end", f"{fo.new} epoch {fo.epoch}"))
    return st.replace(role=FOLLOWER, failover=None, election=None, next_election=None), acts


def _writes_stopped(st: DaemonState, fo: Failover, plan: FencePlan) -> float:
    """When the old primary stopped committing writes: the fence's acknowledgement, or, when
    it could not be fenced, the end of its lease (``promote_after`` past its last sign of
    life).  Probes after this time see every committed write on the nodes that hold it.  A
    plan that does not wait out the lease (``FencePlan.wait``) takes any probe."""
    if not plan.wait:
        return -math.inf
    if fo.old is None:
        return fo.started
    if fo.old_fenced:
        return fo.old_last_ok
    old_v = st.view(fo.old)
    last = old_v.last_ok if old_v is not None else fo.old_last_ok
    return last + st.settings.promote_after


def on_result(st: DaemonState, ev: ActionResult, now: float, rules: Rules) -> Result:
    """Fold a node action's outcome into the plan, then advance it."""
    fo = st.failover
    if st.role != LEADER or fo is None or ev.action not in fo.pending:
        return st, []
    a = ev.action
    pending = fo.pending - {a}
    st = _fo(st, pending=pending)
    if isinstance(a, Fence) and a.node == fo.old:
        st = _fo(st, old_fenced=ev.ok, old_last_ok=now)
    elif isinstance(a, SetWriteQuorum) and a.min_replicas == UNMEETABLE_REPLICAS:
        if not ev.ok:
            return _abort(st, now, f"could not make {a.node} unwritable before promotion")
    elif isinstance(a, Promote):
        if not ev.ok:
            return _abort(st, now, f"promote {a.node} failed: {ev.reason}")
    elif isinstance(a, FailoverCommand):
        if not ev.ok:
            return _abort(st, now, f"FAILOVER failed: {ev.reason}")
        st = _fo(st, stage="publish", repointed=frozenset({a.node}))
    elif isinstance(a, SetWriteQuorum):
        f = st.failover
        assert f is not None
        st = _fo(st, stage="publish") if ev.ok else _fo(st, failed=f.failed | {a.node})
    elif isinstance(a, Repoint):
        f = st.failover
        assert f is not None
        if ev.ok:
            st = _fo(st, repointed=f.repointed | {a.node})
        else:
            st = _fo(st, failed=f.failed | {a.node})
    return advance(st, now, rules)
