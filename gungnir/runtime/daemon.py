"""The daemon: one event loop feeding the core and executing its actions, in order.

Shape: every input (a probe result, a timer tick, a peer message, a peer link going up or
down, a node action's outcome, an operator command) becomes a core event on ONE queue; one
consumer task takes them in order, calls :func:`gungnir.core.step` and executes the returned
actions in list order.  That single consumer is what makes "persist before the message that
depends on it leaves" true: a :class:`Persist` is written, fsynced and renamed before the
consumer even looks at the next action.  The runtime takes no decision: it never inspects a
role or an epoch to choose what to do, it only carries out actions and reports outcomes.

Node actions run on a per-node worker (in order per node) so a fence against a hung node
cannot stall the loop; their outcomes come back as :class:`ActionResult` events.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from gungnir.core import (
    ActionResult,
    Broadcast,
    Config,
    DaemonState,
    Event,
    Failover,
    Log,
    Message,
    NodeAction,
    Notify,
    PeerStatus,
    Persist,
    PersistVoters,
    PublishConfig,
    Received,
    Send,
    Start,
    Switchover,
    Tick,
    VoteRequest,
    VotersChanged,
    init_state,
    step,
    switchover,
)
from gungnir.core.rules import has_majority
from gungnir.core.settings import peer_link_timeout

from . import executor, sentinel_events
from .config import DaemonConfig, GroupConfig
from .logs import DecisionLog
from .metrics import Metrics, MetricsHTTPServer
from .peers import PeerHub, PeerLink, client_tls, server_tls
from .preflight import ListenError, check_state_dir
from .prober import NodeLink
from .recall import Notices, history_reply
from .resp_server import CommandError, RespConnection, RespServer
from .sentinel import SentinelService
from .store import DurableState, StateStore, StoreError
from .telemetry import Telemetry
from .view import DaemonView, status

__all__ = ["ConfigPublisher", "Daemon", "GroupRuntime", "LocalPublisher"]

log = logging.getLogger("gungnir.daemon")

Address = tuple[str, int]
Observer = Callable[[str, str, Any, float], None]
"""``observer(daemon, group, item, now)``: sees every event and action (tests, the demo)."""
NotifyHook = Callable[[str, str, str], None]
"""``on_notify(group, event, detail)``: every core ``Notify`` (Kubernetes Events); must not
block: it runs on the core loop."""
ConfigHook = Callable[[str, Config], None]
"""``on_config(group, config)``: the core's config changed (from any cause, bootstrap
included); must not block."""


class ConfigPublisher(Protocol):
    """Where a published config goes besides the peers (Kubernetes labels and Service)."""

    async def publish(
        self,
        group: str,
        config: Config,
        addresses: Mapping[str, Address],
        leader: str | None = None,
    ) -> None:
        """``leader``: who led the config's epoch (None: this daemon; "": nobody)."""


class LocalPublisher:
    """No Kubernetes: remember the last config per group (shown by ``gungnir status``)."""

    def __init__(self) -> None:
        self.published: dict[str, Config] = {}

    async def publish(
        self,
        group: str,
        config: Config,
        addresses: Mapping[str, Address],
        leader: str | None = None,
    ) -> None:
        self.published[group] = config


class FatalError(RuntimeError):
    """The daemon must stop (a Persist failed): continuing could leak an unpersisted vote."""


class GroupRuntime:
    """Everything the daemon holds for one group: its core state and its node links."""

    def __init__(self, daemon: Daemon, cfg: GroupConfig) -> None:
        self.d = daemon
        # Our own copy of the node addresses: discovery may move a node (a pod restarted
        # with a new IP); the core only ever sees the stable node names.
        cfg = dataclasses.replace(cfg, nodes=dict(cfg.nodes))
        self.cfg = cfg
        self.settings = cfg.settings
        self.name = cfg.name
        self.store = StateStore(
            daemon.config.state_dir, daemon.config.id, cfg.name, daemon.config.namespace
        )
        self.durable = DurableState()
        # ``voters`` is the bootstrap set; ``next_voters`` the set the configuration asks for,
        # handed to the core as VotersChanged after Start (a change is joint until committed)
        self.desired = cfg.settings.next_voters or cfg.settings.voters
        self.state: DaemonState = init_state(cfg.settings.replace(next_voters=()), daemon.config.id)
        names = {addr: node for node, addr in cfg.nodes.items()}
        self.names = names
        self.links = {
            node: NodeLink(
                node,
                addr,
                names=names,
                password=cfg.password,
                username=cfg.username,
                client_name=f"gungnir-{daemon.config.id}",
            )
            for node, addr in cfg.nodes.items()
        }
        self.actions: dict[str, asyncio.Queue[NodeAction]] = {n: asyncio.Queue() for n in cfg.nodes}
        self.tasks: list[asyncio.Task[Any]] = []
        self.wakeup: asyncio.TimerHandle | None = None
        self.wakeup_at: float | None = None
        # What Sentinel subscribers have been told, for rendering the core's Notify events
        # with the addresses Sentinel would name (see sentinel_events.publish): the primary
        # as of the event (it switches at +switch-master), the failover the event belongs
        # to (+failover-end names its old primary after the failover is gone from the
        # state), and the node the last +odown named.
        self.shown_primary: str | None = None
        self.shown_failover: Failover | None = None
        self.odown_node: str | None = None

    def set_address(self, node: str, address: Address) -> bool:
        """Follow a node to a new address (no reset: the core keeps its view of the node).

        The probe and action connections are dropped so the next probe dials the new
        address; replicas still following the old address no longer resolve to this node,
        so the core sees them following nobody and reconciles them.  True if it moved."""
        nodes = self.cfg.nodes
        old = nodes.get(node)
        if old is None or old == address:
            return False
        assert isinstance(nodes, dict)
        nodes[node] = address
        if self.names.get(old) == node:
            del self.names[old]
        self.names[address] = node
        link = self.links[node]
        link.address = address
        link.close()
        log.info(
            "group %s: node %s moved from %s:%d to %s:%d",
            self.name,
            node,
            *old,
            *address,
            extra={"group": self.name},
        )
        return True

    def jitter(self) -> float:
        """Election randomness, stratified: each voter draws from its own half-slot of
        [0, 1), so two candidacies never start closer than ``election_jitter / (2 * slots)``
        apart (split votes are the main cost of a random delay).  Liveness only: any value
        in [0, 1) is safe."""
        s = self.state.settings  # the live voter view: it moves with voter changes
        voters = sorted(set(s.voters) | set(s.next_voters))
        me = self.d.config.id
        rank = voters.index(me) if me in voters else len(voters)
        return (rank + 0.5 * self.d.random()) / (len(voters) + 1)

    def schedule(self, now: float) -> None:
        """Honour the core's own deadlines (its next candidacy, the end of a write lease)
        with an extra Tick at that moment instead of up to a probe_interval later."""
        st = self.state
        times = [st.next_election]
        if st.failover is not None:
            times.append(st.failover.lease_until)
        future = [t for t in times if t is not None and t > now]
        if not future:
            return
        at = min(future)
        if self.wakeup_at is not None and self.wakeup_at <= at and self.wakeup_at > now:
            return
        if self.wakeup is not None:
            self.wakeup.cancel()
        self.wakeup_at = at
        self.wakeup = asyncio.get_running_loop().call_later(
            max(0.0, at - self.d.clock()) + 0.0005, self._wake
        )

    def _wake(self) -> None:
        self.wakeup = None
        self.wakeup_at = None
        self.d.submit(self.name, Tick(jitter=self.jitter()))

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        for node in self.cfg.nodes:
            self.tasks.append(loop.create_task(self._probe_loop(node), name=f"probe-{node}"))
            self.tasks.append(loop.create_task(self._action_loop(node), name=f"act-{node}"))
        self.tasks.append(loop.create_task(self._tick_loop(), name=f"tick-{self.name}"))

    async def _probe_loop(self, node: str) -> None:
        link = self.links[node]
        interval = self.settings.probe_interval
        loop = asyncio.get_running_loop()
        nxt = loop.time()
        while True:
            probe = await link.probe(self.cfg.probe_timeout)
            self.d.telemetry.probe_timing(
                self.name, node, link.last_duration, timed_out=link.last_timed_out
            )
            self.d.submit(self.name, probe)
            nxt = max(nxt + interval, loop.time())
            await asyncio.sleep(nxt - loop.time())  # the probe period

    async def _tick_loop(self) -> None:
        interval = self.settings.probe_interval
        loop = asyncio.get_running_loop()
        nxt = loop.time()
        while True:
            nxt = max(nxt + interval, loop.time())
            await asyncio.sleep(nxt - loop.time())  # the tick period
            self.d.submit(self.name, Tick(jitter=self.jitter()))

    async def _action_loop(self, node: str) -> None:
        queue = self.actions[node]
        link = self.links[node]
        pause_ms = int(self.settings.switchover_timeout * 2000)
        while True:
            action = await queue.get()
            result = await executor.execute(
                action,
                link,
                self.cfg.nodes,
                limit=self.cfg.action_timeout,
                pause_ms=pause_ms,
                group=self.name,
            )
            self.d.submit(self.name, result)

    async def close(self) -> None:
        if self.wakeup is not None:
            self.wakeup.cancel()
        for t in self.tasks:
            t.cancel()
        for t in self.tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self.tasks.clear()
        for link in self.links.values():
            link.close()


class Daemon:
    """One gungnir daemon: its RESP endpoint, peer links and one runtime per group."""

    def __init__(
        self,
        config: DaemonConfig,
        *,
        publisher: ConfigPublisher | None = None,
        observer: Observer | None = None,
        on_notify: NotifyHook | None = None,
        on_config: ConfigHook | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.config = config
        self.publisher: ConfigPublisher = publisher or LocalPublisher()
        self.observer = observer
        self.on_notify = on_notify
        self.on_config = on_config
        self.clock = clock
        self.random = rng
        self.decisions = DecisionLog(config.decision_log)
        self.notices = Notices(config.id)  # why each epoch started, for history and status
        self.groups: dict[str, GroupRuntime] = {}
        self.links: dict[str, PeerLink] = {}
        # With prometheus-client's process_* and python_* collectors: a real daemon is one
        # process (in-process test clusters share one, which is harmless: each registry
        # reads the same /proc entries).
        self.metrics = Metrics()
        self.telemetry = Telemetry(self.metrics)
        self.hub = PeerHub(
            config.id,
            config.peers,
            config.secret,
            self._deliver,
            on_refused=self.metrics.peer_refusal,
        )
        self.server = RespServer(password=config.sentinel_password)
        self.sentinel = SentinelService(DaemonView(self))
        self.http: MetricsHTTPServer | None = None
        self.metrics_port = 0
        self.port = 0
        self.started_at = time.monotonic()
        self.failed: BaseException | None = None
        self.stopped = asyncio.Event()
        self._queue: asyncio.Queue[tuple[str, Event]] = asyncio.Queue()
        self._consumer: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Read durable state (a bad file raises StoreError before anything listens), then
        serve, link to peers and start probing.  A state_dir it cannot write is refused
        here, not at the first vote it could not persist."""
        check_state_dir(self.config.state_dir)
        durable = {}
        for name, gcfg in self.config.groups.items():
            rt = GroupRuntime(self, gcfg)
            durable[name] = rt.store.load()
            self.groups[name] = rt
        self.hub.install(self.server)
        self.sentinel.install(self.server)
        self.server.register("gungnir.status", self._status_cmd, arity=1)
        self.server.register("gungnir.failover", self._failover_cmd, arity=-2)
        self.server.register("gungnir.history", self._history_cmd, arity=-2)
        tls = server_tls(self.config.tls) if self.config.tls else None
        host, port = self.config.bind
        try:
            self.port = await self.server.start(host, port, ssl=tls)
        except OSError as exc:
            raise ListenError("daemon.bind", self.config.bind, exc) from exc
        for peer, addr in self.config.other_peers.items():
            self.links[peer] = self._peer_link(peer, addr)
        if self.config.metrics_bind is not None:
            self.http = MetricsHTTPServer(self.metrics.registry, ready=self._ready, live=self._live)
            try:
                self.metrics_port = await self.http.start(*self.config.metrics_bind)
            except OSError as exc:  # name the metrics address, not the RESP one
                raise ListenError("daemon.metrics_bind", self.config.metrics_bind, exc) from exc
        self._consumer = asyncio.get_running_loop().create_task(self._consume(), name="core")
        for name, rt in self.groups.items():
            d = durable[name]
            rt.durable = d
            start = Start(d.epoch, d.vote, d.voters, d.next_voters, d.voters_epoch, d.amnesiac)
            self.submit(name, start)
            self.submit(name, VotersChanged(rt.desired))
        for link in self.links.values():
            link.start()
        for rt in self.groups.values():
            rt.start()
        log.info(
            "daemon %s serving on %s:%d, %d group(s), peers %s",
            self.config.id,
            host,
            self.port,
            len(self.groups),
            sorted(self.links),
            extra={"daemon": self.config.id},
        )

    def _peer_link(self, peer: str, addr: Address) -> PeerLink:
        assert self.config.secret is not None
        beat = min(g.settings.probe_interval for g in self.groups.values())
        self.metrics.peer_auth(peer, False)  # exported from the start, so alerts see 0
        return PeerLink(
            self.config.id,
            peer,
            addr,
            self.config.secret,
            on_status=self._peer_status,
            beat_interval=beat,
            timeout=peer_link_timeout(beat),  # the margin derive_timings keeps
            tls=client_tls(self.config.tls) if self.config.tls else None,
            server_name=self.config.tls.server_name if self.config.tls else None,
        )

    def add_peer(self, peer: str, addr: Address) -> None:
        """Link to a daemon that joined the voters while this one runs (a voter change)."""
        if peer in self.links or peer == self.config.id or self.config.secret is None:
            return
        link = self._peer_link(peer, addr)
        self.links[peer] = link
        link.start()

    def reload(self, config: DaemonConfig) -> list[str]:
        """Apply a re-read configuration (SIGHUP): the voter set each group asks for reaches
        its core as VotersChanged (a change is joint until committed), and new peers get a
        link.  Everything else needs a restart; what was applied is returned and logged."""
        done = []
        for peer, addr in config.other_peers.items():
            if peer not in self.links:
                self.add_peer(peer, addr)
                done.append(f"peer {peer} linked")
        for name, gcfg in config.groups.items():
            rt = self.groups.get(name)
            if rt is None:
                log.warning("reload: group %s is new; restart the daemon to run it", name)
                continue
            desired = gcfg.settings.next_voters or gcfg.settings.voters
            if desired != rt.desired:
                rt.desired = desired
                self.submit(name, VotersChanged(desired))
                done.append(f"group {name}: voters {', '.join(desired)} asked for")
        for line in done:
            log.info("reload: %s", line)
        return done

    async def stop(self) -> None:
        for rt in self.groups.values():
            await rt.close()
        for link in self.links.values():
            await link.close()
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._consumer
        for t in list(self._background):
            t.cancel()
        await self.server.close()
        if self.http is not None:
            await self.http.close()
        self.decisions.close()
        self.stopped.set()

    async def serve_forever(self) -> None:
        """Run until :meth:`stop` or a fatal error (re-raised)."""
        await self.stopped.wait()
        if self.failed is not None:
            raise self.failed

    # -- inputs -------------------------------------------------------------------------------

    def submit(self, group: str, event: Event) -> None:
        """Queue an event for ``group``'s core (thread: the daemon's loop only)."""
        self._queue.put_nowait((group, event))

    def _deliver(self, sender: str, msg: Message) -> None:
        if msg.group in self.groups:
            if isinstance(msg, VoteRequest):  # why the epoch started, told to every voter
                self.notices.heard(msg.group, self.clock(), msg.epoch, msg.reason, msg.node)
            self.submit(msg.group, Received(msg))

    def _peer_status(self, peer: str, up: bool, answered: bool = False) -> None:
        how = "up" if up else "refuses our authentication" if answered else "down"
        log.info("peer %s %s", peer, how, extra={"peer": peer})
        self.metrics.peer_auth(peer, answered)
        for name in self.groups:
            self.submit(name, PeerStatus(peer, up, answered=answered))

    # -- the consumer -------------------------------------------------------------------------

    async def _consume(self) -> None:
        try:
            while True:
                group, event = await self._queue.get()
                self._handle(group, event)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            log.critical("daemon %s stopping: %s", self.config.id, exc)
            self.failed = exc
            asyncio.get_running_loop().create_task(self.stop())

    def _handle(self, group: str, event: Event) -> None:
        rt = self.groups[group]
        now = self.clock()
        before = rt.state.config
        if self.observer is not None:
            self.observer(self.config.id, group, event, now)
        self.telemetry.event(group, event)
        failover_before = rt.state.failover
        rt.state, actions = step(rt.state, event, now)
        rt.shown_primary = before.primary
        rt.shown_failover = failover_before if failover_before is not None else rt.state.failover
        for action in actions:
            if self.observer is not None:
                self.observer(self.config.id, group, action, now)
            self.telemetry.action(group, action, now)
            self._do(rt, action, now)
            if isinstance(action, Notify) and action.event == "+switch-master":
                rt.shown_primary = rt.state.config.primary  # later events name the new one
        rt.schedule(now)
        # After every event, probes included: the gauges derived from the state (primaries
        # answering, lag in bytes) must agree with the per-node gauges a probe just set.
        self.telemetry.state(group, rt.state)
        after = rt.state.config
        if after != before and self.on_config is not None:
            self._hook(self.on_config, group, after)
        if after.primary != before.primary and before.primary and after.primary:
            old, new = rt.cfg.nodes[before.primary], rt.cfg.nodes[after.primary]
            log.warning(
                "group %s: primary is now %s (was %s), epoch %d",
                group,
                after.primary,
                before.primary,
                after.epoch,
                extra={"group": group, "epoch": after.epoch},
            )
            self.sentinel.emit_switch_master(group, old, new)

    def _do(self, rt: GroupRuntime, action: Any, now: float) -> None:
        if isinstance(action, Persist | PersistVoters):
            if isinstance(action, Persist):
                new = dataclasses.replace(rt.durable, epoch=action.epoch, vote=action.vote)
                if action.amnesiac is not None:  # the lost-state mark, set or cleared
                    new = dataclasses.replace(new, amnesiac=action.amnesiac)
            else:
                new = dataclasses.replace(
                    rt.durable,
                    voters=action.voters,
                    next_voters=action.next_voters,
                    voters_epoch=action.voters_epoch,
                )
            try:
                rt.store.save(new)
            except StoreError as exc:
                raise FatalError(str(exc)) from exc
            rt.durable = new
        elif isinstance(action, Log):
            self.decisions.write(action.to_json())
        elif isinstance(action, Send):
            link = self.links.get(action.to)
            if link is not None:
                link.send(action.message)
        elif isinstance(action, Broadcast):
            for link in self.links.values():
                link.send(action.message)
        elif isinstance(action, Notify):
            self._notify(rt, action)
        elif isinstance(action, PublishConfig):
            self._spawn(self.publisher.publish(rt.name, action.config, rt.cfg.nodes, action.leader))
        elif isinstance(action, ActionResult):  # pragma: no cover - not an action
            raise TypeError(action)
        else:  # a node action
            node = action.node
            if node in rt.actions:
                rt.actions[node].put_nowait(action)
            else:
                self.submit(rt.name, ActionResult(action, False, f"unknown node {node}"))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("config publisher failed: %s", task.exception())

    def _hook(self, hook: Callable[..., None], *args: Any) -> None:
        """Run an outside hook; its failure is logged, never allowed to stop the core loop."""
        try:
            hook(*args)
        except Exception:
            log.exception("daemon hook %s failed", getattr(hook, "__name__", hook))

    def _notify(self, rt: GroupRuntime, n: Notify) -> None:
        self.notices.add(rt.name, self.clock(), rt.state.epoch, n.event, n.detail)
        n = sentinel_events.name_subject(rt, n)
        epoch = rt.state.epoch
        log.info(
            "group %s epoch %d: %s %s",
            rt.name,
            epoch,
            n.event,
            n.detail,
            extra={"group": rt.name, "epoch": epoch, "event": n.event},
        )
        if self.on_notify is not None:
            self._hook(self.on_notify, rt.name, n.event, n.detail)
        if n.event == "+switch-master":
            return  # published from the config change itself, by every daemon
        try:
            done = sentinel_events.publish(self.sentinel, rt, n)
        except (KeyError, ValueError):
            done = False
        if done is None:  # a gungnir event without a Sentinel equivalent
            try:
                self.sentinel.emit(n.event, rt.name, extra=n.detail)
            except KeyError:  # no primary known yet
                self.sentinel.publish_event(n.event, f"{rt.name} {n.detail}")
        elif not done:
            # A Sentinel event this daemon cannot render as Sentinel would (an address it
            # does not know): a payload of another shape would break Sentinel's parsers.
            log.debug(
                "group %s: %s %s not published (no Sentinel rendering)", rt.name, n.event, n.detail
            )

    def _live(self) -> tuple[bool, str]:
        if self.failed is not None:
            return False, f"stopping: {self.failed}"
        ok = self._consumer is not None and not self._consumer.done()
        return ok, "core loop running" if ok else "core loop stopped"

    def _ready(self) -> tuple[bool, str]:
        missing = [n for n, g in self.groups.items() if g.state.config.primary is None]
        if missing:
            return False, f"no known primary for {', '.join(sorted(missing))}"
        refusing = sorted(name for name, link in self.links.items() if link.refused)
        voiceless = [n for n, g in self.groups.items() if not _authenticated_majority(g.state)]
        if refusing and voiceless:
            # Refused by enough peers to have no voice: this daemon is the misconfigured
            # one (the others still form a majority and stay ready, with the metric set).
            return False, (
                f"peers {', '.join(refusing)} refuse this daemon's authentication: "
                "check that the peer secret is the same on every daemon"
            )
        return True, "every group has a primary"

    # -- operator commands ---------------------------------------------------------------------

    def _status_cmd(self, conn: RespConnection, args: list[bytes]) -> Any:
        return json.dumps(status(self)).encode()

    def _history_cmd(self, conn: RespConnection, args: list[bytes]) -> Any:
        """GUNGNIR.HISTORY group [count]: the group's last decision records and story
        notices (newest last), both clocks read together and the peers' addresses
        (:func:`recall.history_reply`)."""
        group = args[1].decode("utf-8", "replace")
        if group not in self.groups:
            raise CommandError(f"ERR no such group {group!r}")
        try:
            count = int(args[2]) if len(args) > 2 else 1000
        except ValueError:
            raise CommandError("ERR count must be an integer") from None
        return history_reply(
            self.config.id,
            group,
            count,
            decisions=self.decisions.recent,
            notices=self.notices,
            peers=self.config.other_peers,
            now=self.clock(),
        )

    def _failover_cmd(self, conn: RespConnection, args: list[bytes]) -> Any:
        """GUNGNIR.FAILOVER group [node] [USE-FAILOVER-COMMAND]"""
        group = args[1].decode("utf-8", "replace")
        rt = self.groups.get(group)
        if rt is None:
            raise CommandError(f"ERR no such group {group!r}")
        target = args[2].decode("utf-8", "replace") if len(args) > 2 and args[2] else None
        if target is not None and target not in rt.cfg.nodes:
            raise CommandError(f"ERR no node {target!r} in group {group!r}")
        use_cmd = len(args) > 3 and args[3].lower() == b"use-failover-command"
        if not rt.state.is_voter:
            raise CommandError("ERR this daemon is an observer; ask a voter")
        why = switchover.refusal(rt.state, target)
        if why is not None:  # the core's own reason, before anything is fenced
            raise CommandError(f"ERR switchover refused: {why}")
        self.submit(group, Switchover(target=target, use_failover_command=use_cmd))
        return json.dumps({"group": group, "epoch": rt.state.epoch}).encode()


def _authenticated_majority(st: DaemonState) -> bool:
    """Does this daemon, with the peers it exchanges messages with, make a majority?"""
    return has_majority(st.settings, frozenset(p for p, ok, _ in st.peers if ok) | {st.me})


async def run_daemon(config: DaemonConfig, reread: Callable[[], DaemonConfig] | None = None) -> int:
    """``gungnir run``: start, serve until SIGTERM/SIGINT, stop cleanly; on SIGHUP, re-read the
    configuration with ``reread`` and apply what can change live (:meth:`Daemon.reload`)."""
    import signal

    daemon = Daemon(config)
    try:
        await daemon.start()
    except StoreError as exc:
        log.critical("%s", exc)
        await daemon.stop()
        return 3
    except ListenError as exc:  # an endpoint cannot listen (address in use, not ours, ...)
        log.critical("%s", exc.strerror)
        await daemon.stop()
        return 2
    except OSError as exc:  # a TLS file, a socket option...: still a clear start-up error
        log.critical("cannot start: %s", exc)
        await daemon.stop()
        return 2
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: loop.create_task(daemon.stop()))
    if reread is not None:

        def hup() -> None:
            try:
                daemon.reload(reread())
            except Exception as exc:  # a bad edit: keep running as before, say why
                log.error("reload refused, configuration unchanged: %s", exc)

        loop.add_signal_handler(signal.SIGHUP, hup)
    try:
        await daemon.serve_forever()
    except FatalError as exc:
        log.critical("fatal: %s", exc)
        return 4
    return 0
