"""Read-only renderings of a daemon's state: the Sentinel view and the status snapshot.

Nothing here decides: it maps the core's state (config, node views, peers) to Sentinel's
records and to the JSON that ``gungnir status`` prints.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Sequence
from typing import TYPE_CHECKING, Any

from gungnir.core import LEADER, Switchover

from . import health
from .recall import last_failover
from .sentinel import (
    FailoverRefusedError,
    PrimaryState,
    QuorumCheck,
    ReplicaState,
    SentinelPeerState,
    SentinelView,
)
from .sentinel_model import run_id

if TYPE_CHECKING:
    from .daemon import Daemon, GroupRuntime

__all__ = ["DaemonView", "deployment_key", "status"]


def deployment_key(secret: str | None, bind: tuple[str, int]) -> str:
    """What makes run ids unique per deployment: the peers' shared secret, or for a
    daemon without peers (and so without a secret) its own address."""
    return secret if secret else f"{bind[0]}:{bind[1]}"


def _ms(age: float) -> int:
    return max(0, int(age * 1000))


class DaemonView(SentinelView):
    def __init__(self, daemon: Daemon) -> None:
        self.d = daemon

    def my_id(self) -> str:
        return self.run_id(self.d.config.id)

    def run_id(self, daemon: str) -> str:
        config = self.d.config
        return run_id(daemon, deployment_key(config.secret, config.bind))

    def group_names(self) -> Sequence[str]:
        return sorted(self.d.groups)

    def primary(self, group: str) -> PrimaryState | None:
        g = self.d.groups.get(group)
        if g is None:
            return None
        st = g.state
        s = st.settings
        name = st.config.primary
        host, port = g.cfg.nodes.get(name, ("?", 0)) if name else ("?", 0)
        view = st.view(name) if name else None
        now = self.d.clock()
        flags = set()
        if name and name in st.sdown:
            flags.add("s_down")
        cut_off = self.isolated(group)
        if name and cut_off:
            # Without a majority this daemon cannot vouch for the primary (the majority may
            # have replaced it, and rule 7 fences it from here): subjectively down, so
            # Sentinel clients (redis-py/valkey-py check_master_state) ask the next daemon.
            flags.add("s_down")
        if st.odown and name in st.sdown:  # odown is about the primary of the last tick
            flags.add("o_down")
        if st.role == LEADER and st.failover is not None:
            flags.add("failover_in_progress")
        isolated_ms = _ms(now - st.isolated_since) if st.isolated_since is not None else 0
        return PrimaryState(
            group=group,
            host=host,
            port=port,
            run_id=view.run_id if view else "",
            flags=frozenset(flags),
            s_down_time_ms=isolated_ms if cut_off and name not in st.sdown else None,
            last_ok_ping_reply_ms=_ms(now - view.last_ok) if view else 0,
            down_after_ms=_ms(s.down_after),
            config_epoch=st.config.epoch,
            quorum=s.quorum,
            failover_timeout_ms=_ms(s.failover_timeout),
            parallel_syncs=s.parallel_syncs,
            failover_state=st.failover.stage if st.failover else None,
        )

    def isolated(self, group: str) -> bool:
        """True while this daemon cannot reach a majority of the group's voters, or still
        holds a minority fence: the core's own test (``machine._minority``), read-only."""
        g = self.d.groups.get(group)
        if g is None:
            return False
        st = g.state
        if st.minority_fenced or st.isolated_since is not None:
            return True
        return self.quorum_check(group).usable < st.settings.majority

    def master_addr(self, group: str) -> tuple[str, int] | None:
        """``GET-MASTER-ADDR-BY-NAME``: the primary's address, or None (a null reply) while
        isolated, so clients try the next daemon instead of a primary that refuses writes
        or has already been replaced by the majority.  See docs/sentinel.md."""
        if self.isolated(group):
            return None
        return super().master_addr(group)

    def replicas(self, group: str) -> Sequence[ReplicaState]:
        g = self.d.groups.get(group)
        if g is None:
            return []
        st = g.state
        now = self.d.clock()
        out = []
        for v in st.nodes:
            if v.node == st.config.primary:
                continue
            host, port = g.cfg.nodes[v.node]
            mhost, mport = g.cfg.nodes.get(v.master or "", (None, 0))
            flags = {"s_down"} if v.node in st.sdown else set()
            if not v.reachable:
                flags.add("disconnected")
            out.append(
                ReplicaState(
                    host=host,
                    port=port,
                    run_id=v.run_id,
                    flags=frozenset(flags),
                    last_ok_ping_reply_ms=_ms(now - v.last_ok),
                    down_after_ms=_ms(st.settings.down_after),
                    master_link_ok=v.link_up,
                    master_host=mhost,
                    master_port=mport,
                    priority=v.priority,
                    repl_offset=v.offset,
                    role_reported="slave" if v.role == "replica" else "master",
                )
            )
        return out

    def sentinels(self, group: str) -> Sequence[SentinelPeerState]:
        g = self.d.groups.get(group)
        if g is None:
            return []
        out = []
        for name, up, _ in g.state.peers:
            host, port = self.d.config.peers[name]
            out.append(
                SentinelPeerState(
                    host=host,
                    port=port,
                    run_id=self.run_id(name),
                    flags=frozenset() if up else frozenset({"s_down", "disconnected"}),
                )
            )
        return out

    def failover(self, group: str) -> Awaitable[None] | None:
        g = self.d.groups.get(group)
        if g is None:
            raise FailoverRefusedError("ERR", "No such master with that name")
        if not g.state.is_voter:
            raise FailoverRefusedError("NOTVOTER", "this daemon is an observer")
        self.d.submit(group, Switchover())
        return None

    def quorum_check(self, group: str) -> QuorumCheck:
        g = self.d.groups[group]
        voters = g.settings.voters
        up = sum(1 for n, ok, _ in g.state.peers if ok and n in voters)
        up += 1 if g.state.is_voter else 0
        return QuorumCheck(usable=up, quorum=g.settings.quorum, voters=len(voters))


def group_status(d: Daemon, g: GroupRuntime) -> dict[str, Any]:
    st = g.state
    now = d.clock()
    return {
        "group": st.settings.group,
        "primary": st.config.primary,
        "primary_address": "{}:{}".format(*g.cfg.nodes[st.config.primary])
        if st.config.primary
        else None,
        "config_epoch": st.config.epoch,
        "epoch": st.epoch,
        "vote": st.vote,
        "role": st.role,
        "odown": st.odown,
        "sdown": sorted(st.sdown),
        "failover": st.failover.stage if st.failover else None,
        # the voter view: the committed set (and the epoch that committed it), the set being
        # changed to while a change is joint, and the set the configuration asks for
        "voters": list(st.settings.voters),
        "voters_epoch": st.voters_epoch,
        "next_voters": list(st.settings.next_voters),
        "desired_voters": list(st.desired or st.settings.voters),
        "voter": st.is_voter,
        "healthy": not (problems := health.problems(st)),
        "problems": problems,
        # who leads the current epoch (as gungnir_leader_info says) and the last change of
        # primary this daemon holds records of, with its reason (issue 22)
        "leader": d.telemetry.leader(g.name) or None,
        "last_failover": _last_failover(d, g, now),
        "nodes": [
            {
                "node": v.node,
                "address": "{}:{}".format(*g.cfg.nodes[v.node]),
                "reachable": v.reachable,
                "role": v.role if v.seen else None,
                "master": v.master,
                "link_up": v.link_up,
                "offset": v.offset,
                # INFO's lag: seconds since the replica last heard from its primary
                "lag_seconds": round(v.lag, 3) if _replica(v) else None,
                "accepts_writes": v.accepts_writes,
                "last_ok_age": round(now - v.last_ok, 3),
            }
            for v in st.nodes
        ],
        "peers": {name: up for name, up, _ in st.peers},
    }


def _replica(v: Any) -> bool:
    return bool(v.seen and v.reachable and v.role in ("replica", "slave"))


def _last_failover(d: Daemon, g: GroupRuntime, now: float) -> dict[str, Any] | None:
    """From this daemon's own records; a change of primary it holds none of (it was down,
    or restarted since) is reported by epoch only."""
    out = last_failover(d.decisions.recent, d.notices, g.name, time.time() - now)
    cfg = g.state.config
    if (out is None or out["epoch"] < cfg.epoch) and cfg.epoch > 0:
        out = {"epoch": cfg.epoch, "at": None, "old": None, "new": cfg.primary, "leader": None}
        out |= {"reason": "", "outcome": "not in this daemon's records (gungnir history)"}
    return out


def status(d: Daemon) -> dict[str, Any]:
    """The snapshot ``gungnir status`` shows."""
    return {
        "daemon": d.config.id,
        "uptime": round(time.monotonic() - d.started_at, 3),
        "peers": {
            name: {"up": link.up, "sent": link.sent, "dropped": link.dropped}
            for name, link in sorted(d.links.items())
        },
        "refused_peers": d.hub.refused,
        "groups": [group_status(d, g) for _, g in sorted(d.groups.items())],
    }
