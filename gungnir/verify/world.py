"""The simulated world the model checker drives the real core in.

A :class:`World` is an immutable value (NamedTuples and frozensets) so it hashes cheaply:
Valkey nodes with role, data (a log of write ids), replication links, ``min-replicas``
writability with its lag window; a network bag of in-flight messages (any order, delivered
zero or more times); partitions; daemons that crash and restart keeping only what they
persisted; a Kubernetes primary Service updated with a resourceVersion-like epoch check; and
clients writing and waiting for replicas (WAIT).  Ghost fields record history the invariants
need (votes granted, leaderships taken, configs published, flags raised by transitions).

Every transition is a pure function ``World -> World`` named by a label, and daemons are
driven only through :func:`gungnir.core.step`, exactly as the runtime drives them.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from gungnir.core import (
    CONSISTENCY,
    LEADER,
    PRIMARY,
    REPLICA,
    RULES,
    UNMEETABLE_REPLICAS,
    ActionResult,
    Broadcast,
    DaemonState,
    DownReport,
    Event,
    Fence,
    Log,
    Message,
    Notify,
    PeerStatus,
    Persist,
    Probe,
    Promote,
    PublishConfig,
    Received,
    Repoint,
    Rules,
    Send,
    Settings,
    SetWriteQuorum,
    Start,
    Tick,
    Unfence,
    VoteReply,
    init_state,
    step,
)
from gungnir.core.actions import FailoverCommand
from gungnir.core.settings import VALKEY_LAG_SLACK


@dataclass(frozen=True)
class Scope:
    """Bounds of one exploration.  Times are integer model seconds."""

    name: str = "small"
    daemons: tuple[str, ...] = ("d1", "d2", "d3")
    observers: tuple[str, ...] = ()  # daemons outside the voter set (probe, report, no vote)
    nodes: tuple[str, ...] = ("n1", "n2", "n3")
    policy: str = CONSISTENCY
    quorum: int = 2
    max_time: int | None = None  # None: unbounded (fingerprints are time-relative)
    max_epoch: int = 1
    crashes: int = 1
    partitions: int = 1
    duplicates: int = 1
    writes: int = 1
    empty_restarts: bool = True
    node_crashes: bool = True
    daemon_crashes: bool = True
    # a daemon may come back with its durable state lost (a node replaced under the same
    # name, a wiped hostPath): it restarts amnesiac (the lost-state rule, core/amnesia.py)
    lost_state: bool = False
    # "single": isolate one daemon, one node, or one daemon with one node; "nodes": one node;
    # "daemons": one daemon (from its peers and every node)
    partition_shapes: str = "single"
    convergence_every: int = 0  # run the convergence check on every k-th new state (0: off)
    convergence_bound: int = 40
    settings_overrides: tuple[tuple[str, Any], ...] = ()
    # (min-replicas-to-write, min-replicas-max-lag) every node starts with, e.g. an
    # operator's hardened (1, 3); None: the policy's write quorum and max-lag
    node_preset: tuple[int, int] | None = None
    symmetry: bool = True
    # leave state the core never reads out of fingerprints (docs/verification.md, Reductions)
    reduce: bool = True
    max_states: int | None = None  # a budget: breadth-first, so every shorter trace is covered
    lockstep: bool = True  # time advances only after every up daemon ran its round
    # "flush": a daemon handles all messages waiting for it at once (messages to different
    # daemons still interleave freely, and any message can wait indefinitely); "each": every
    # single message is its own delivery (all reorderings, far more states)
    inbox: str = "flush"
    # "each": every daemon's round is its own transition, interleaved with everything else
    # (bounded only by ``lockstep``); "phase": daemons probe in phase -- one transition
    # advances the clock and runs the round of every up daemon, in every order;
    # "phase-one": the same in one fixed order (docs/verification.md, In-phase rounds)
    rounds: str = "each"

    def settings(self) -> Settings:
        base: dict[str, Any] = dict(
            group="g",
            voters=tuple(d for d in self.daemons if d not in self.observers),
            nodes=self.nodes,
            quorum=self.quorum,
            policy=self.policy,
            initial_primary=self.nodes[0],
            probe_interval=1.0,
            down_after=1.0,
            report_ttl=2.0,
            election_timeout=2.0,
            election_jitter=0.0,
            failover_timeout=7.0,
            fence_after=1.0,
            promote_after=3.0,
            max_clock_drift=0.0,
            max_lag=10.0,
            min_replicas_max_lag=1.0,
            lease_margin=0.0,
            switchover_timeout=3.0,
            parallel_syncs=1,
            allow_small_voter_set=True,
        )
        base.update(dict(self.settings_overrides))
        return Settings(**base)


class Node(NamedTuple):
    up: bool
    role: str
    master: str | None
    log: tuple[int, ...]
    run: int
    min_replicas: int
    paused: bool
    empty_restart: bool  # ghost: restarted empty and has not resynced since
    no_sync: bool  # replicas may not sync from it (the start-up or empty-restart fence)
    acks: tuple[tuple[str, int], ...]  # (master, time) of this replica's last acks
    max_lag: int  # min-replicas-max-lag, as a probe reads it back


class World(NamedTuple):
    now: int
    daemons: tuple[DaemonState | None, ...]
    durable: tuple[tuple[int, str | None, bool], ...]  # (epoch, vote, amnesiac)
    rounds: tuple[int, ...]
    nodes: tuple[Node, ...]
    net: frozenset[tuple[str, Message]]
    cut: frozenset[str] | None
    crashes: int
    partitions: int
    dups: int
    writes: int
    committed: frozenset[int]
    service: tuple[int, str | None]
    configs: frozenset[tuple[int, str]]
    votes: frozenset[tuple[str, int, str]]
    leaders: frozenset[tuple[int, str]]
    restarts: tuple[int, ...]
    high: tuple[int, ...]  # ghost: highest epoch each daemon ever had
    bad: frozenset[str]


@dataclass
class Model:
    """The transition system for one scope and one set of core rules (mutants swap rules)."""

    scope: Scope
    rules: Rules = RULES
    record: list[Log | Notify] | None = None
    settings: Settings = field(init=False)

    def __post_init__(self) -> None:
        self.settings = self.scope.settings()
        self.dindex = {d: i for i, d in enumerate(self.scope.daemons)}
        self.nindex = {n: i for i, n in enumerate(self.scope.nodes)}
        preset = self.scope.node_preset
        self.base_min_replicas = self.settings.write_quorum if preset is None else preset[0]
        self.base_max_lag = self.settings.max_lag_setting if preset is None else preset[1]
        self._memo: dict[tuple[DaemonState, Event, int], tuple[DaemonState, list[Any]]] = {}

    # -- initial state ------------------------------------------------------------------

    def initial(self) -> World:
        sc = self.scope
        first = sc.nodes[0]
        nodes = tuple(
            Node(
                up=True,
                role=PRIMARY if n == first else REPLICA,
                master=None if n == first else first,
                log=(0,),
                run=0,
                min_replicas=self.base_min_replicas,
                paused=False,
                empty_restart=False,
                no_sync=False,
                acks=(),
                max_lag=self.base_max_lag,
            )
            for n in sc.nodes
        )
        k = len(sc.daemons)
        w = World(
            now=0,
            daemons=(None,) * k,
            durable=((0, None, False),) * k,
            rounds=(-1,) * k,
            nodes=nodes,
            net=frozenset(),
            cut=None,
            crashes=0,
            partitions=0,
            dups=0,
            writes=0,
            committed=frozenset(),
            service=(0, first),
            configs=frozenset(),
            votes=frozenset(),
            leaders=frozenset(),
            restarts=(-1,) * k,
            high=(0,) * k,
            bad=frozenset(),
        )
        for d in sc.daemons:
            w = self._boot(w, d)
        return self.settle(w)

    def _boot(self, w: World, d: str) -> World:
        i = self.dindex[d]
        epoch, vote, amnesiac = w.durable[i]
        st = init_state(self.settings, d)
        w = w._replace(daemons=_put(w.daemons, i, st))
        w = w._replace(restarts=_put(w.restarts, i, epoch))
        if epoch < w.high[i]:
            w = w._replace(bad=w.bad | {"EpochMonotonic"})
        ev = self.start_event(w, d, epoch, vote)
        if amnesiac and isinstance(ev, Start):
            ev = dataclasses.replace(ev, amnesiac=True)
        return self.feed(w, d, ev)

    def _boot_lost(self, w: World, d: str) -> World:
        """``d`` comes back with its durable state lost: it starts amnesiac at epoch 0.  The
        ghosts keep what it did before (its votes, and the epoch it must never lead again)."""
        i = self.dindex[d]
        before = w.high[i]
        w = w._replace(durable=_put(w.durable, i, (0, None, True)), high=_put(w.high, i, 0))
        w = self._boot(w, d)
        return w._replace(restarts=_put(w.restarts, i, max(before, w.restarts[i])))

    def start_event(self, w: World, d: str, epoch: int, vote: str | None) -> Event:
        """The :class:`Start` a booting daemon gets: what it persisted.  A model whose daemons
        persist more (a voter view) overrides this."""
        return Start(epoch, vote)

    def step(self, st: DaemonState, ev: Event, now: int) -> tuple[DaemonState, list[Any]]:
        """The core's ``step``, memoised: sibling worlds share daemon states, so the same
        (state, event, time) recurs across a breadth-first level.  ``step`` is a pure function
        (the sans-IO contract), which is what makes this sound; with ``record`` set (a timeline
        replay) every step runs for real so its log lines are seen."""
        if self.record is not None:
            return step(st, ev, float(now), self.rules)
        key = (st, ev, now)
        hit = self._memo.get(key)
        if hit is None:
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            hit = step(st, ev, float(now), self.rules)
            self._memo[key] = hit
        return hit

    # -- connectivity -------------------------------------------------------------------

    def linked(self, w: World, a: str, b: str) -> bool:
        c = w.cut
        return c is None or ((a in c) == (b in c))

    def node(self, w: World, n: str) -> Node:
        return w.nodes[self.nindex[n]]

    def writable(self, w: World, n: str) -> bool:
        """Would ``n`` accept a write now?  Primary, not paused, and at least min-replicas
        replicas acked it within the lag window of its own min-replicas-max-lag."""
        nd = self.node(w, n)
        if not nd.up or nd.role != PRIMARY or nd.paused:
            return False
        if nd.min_replicas <= 0:
            return True
        good = 0
        window = ack_window(nd.max_lag)
        for r in w.nodes:
            for m, t in r.acks:
                if m == n and w.now - t <= window:
                    good += 1
                    break
        return good >= nd.min_replicas

    # -- driving the core ---------------------------------------------------------------

    def feed(self, w: World, d: str, event: Event) -> World:
        """Deliver ``event`` to daemon ``d`` and execute its actions, feeding node-action
        outcomes straight back (node actions are synchronous calls in the runtime too)."""
        queue: list[Event] = [event]
        i = self.dindex[d]
        budget = 1000
        while queue:
            budget -= 1
            if budget < 0:
                raise RuntimeError(f"core livelock: {d} keeps answering its own results")
            ev = queue.pop(0)
            st = w.daemons[i]
            if st is None:
                return w
            st2, acts = self.step(st, ev, w.now)
            w = w._replace(daemons=_put(w.daemons, i, st2))
            for a in acts:
                if isinstance(a, Log | Notify):
                    if self.record is not None:
                        self.record.append(a)
                    if isinstance(a, Log) and a.kind == "leader_elected":
                        # a reconcile election leads, publishes and steps down in one step
                        e = int(a.as_dict()["epoch"])
                        if (e, d) not in w.leaders:
                            bad = w.bad | {"RestartFreshEpoch"} if e <= w.restarts[i] else w.bad
                            w = w._replace(leaders=w.leaders | {(e, d)}, bad=bad)
                elif isinstance(a, Persist):
                    mark = w.durable[i][2] if a.amnesiac is None else a.amnesiac
                    w = w._replace(durable=_put(w.durable, i, (a.epoch, a.vote, mark)))
                elif isinstance(a, Send):
                    if isinstance(a.message, VoteReply) and not a.message.granted:
                        continue  # refusals change nothing the core decides on: not sent
                    if a.to in self.dindex and a.to != d:
                        w = w._replace(net=w.net | {(a.to, a.message)})
                elif isinstance(a, Broadcast) and isinstance(a.message, DownReport):
                    # Down reports are idempotent gossip that only times candidacies (never
                    # safety): delivered at once where a link exists, lost where none does.
                    for o in self.scope.daemons:
                        if (
                            o != d
                            and w.daemons[self.dindex[o]] is not None
                            and self.linked(w, d, o)
                        ):
                            w = self.feed(w, o, Received(a.message))
                elif isinstance(a, Broadcast):
                    msgs = {(o, a.message) for o in self.scope.daemons if o != d}
                    w = w._replace(net=w.net | msgs)
                elif isinstance(a, PublishConfig):
                    w = self._publish(w, a)
                elif isinstance(a, Fence | Unfence | SetWriteQuorum | Promote | Repoint):
                    if isinstance(a, Fence) and d in self.scope.observers:
                        w = w._replace(bad=w.bad | {"OnlyVotersFence"})
                    w, ok = self._node_action(w, d, a)
                    queue.append(ActionResult(a, ok, "" if ok else "unreachable"))
                elif isinstance(a, FailoverCommand):
                    queue.append(ActionResult(a, False, "not modelled"))
            w = self._ghosts(w, i)
        return w

    def _ghosts(self, w: World, i: int) -> World:
        st = w.daemons[i]
        if st is None:
            return w
        d = st.me
        changes: dict[str, Any] = {}
        if st.vote is not None and (d, st.epoch, st.vote) not in w.votes:
            changes["votes"] = w.votes | {(d, st.epoch, st.vote)}
        if st.role == LEADER and st.election is not None:
            e = st.election.epoch
            if (e, d) not in w.leaders:
                changes["leaders"] = w.leaders | {(e, d)}
                if e <= w.restarts[i]:
                    changes["bad"] = w.bad | {"RestartFreshEpoch"}
        if st.epoch > w.high[i]:
            changes["high"] = _put(w.high, i, st.epoch)
        elif st.epoch < w.high[i]:
            changes["bad"] = changes.get("bad", w.bad) | {"EpochMonotonic"}
        return w._replace(**changes) if changes else w

    def _publish(self, w: World, a: PublishConfig) -> World:
        cfg = a.config
        configs = w.configs
        if cfg.primary is not None and cfg.epoch > 0:  # epoch 0 is the bootstrap: no leader
            configs = configs | {(cfg.epoch, cfg.primary)}
        service = w.service
        if cfg.epoch >= service[0]:  # the API server refuses a stale epoch's update
            service = (cfg.epoch, cfg.primary)
        return w._replace(configs=configs, service=service)

    def _node_action(self, w: World, d: str, a: Any) -> tuple[World, bool]:
        n: str = a.node
        nd = self.node(w, n)
        if not nd.up or not self.linked(w, d, n):
            return w, False
        if isinstance(a, Fence):
            if a.method == "pause":
                nd = nd._replace(paused=True)
            else:
                nd = nd._replace(
                    min_replicas=UNMEETABLE_REPLICAS, no_sync=nd.no_sync or a.method == "no_sync"
                )
        elif isinstance(a, Unfence):
            nd = nd._replace(paused=False, min_replicas=a.min_replicas, no_sync=False)
        elif isinstance(a, SetWriteQuorum):
            nd = nd._replace(min_replicas=a.min_replicas, max_lag=a.max_lag, no_sync=False)
        elif isinstance(a, Promote):
            w = self._check_promotion(w, n)
            nd = nd._replace(role=PRIMARY, master=None, no_sync=False)
        elif isinstance(a, Repoint):
            if a.primary == n:
                return w, False
            nd = nd._replace(role=REPLICA, master=a.primary, no_sync=False)
        w = w._replace(nodes=_put(w.nodes, self.nindex[n], nd))
        return self.settle(w), True

    def _check_promotion(self, w: World, n: str) -> World:
        nd = self.node(w, n)
        bad = set()
        lost = self.data_lost(w)
        if (
            self.settings.policy == CONSISTENCY
            and not w.committed <= frozenset(nd.log)
            and not lost  # a majority lost its data: no guarantee
        ):
            bad.add("NoCommittedLoss")
        if nd.empty_restart and any(len(o.log) > 0 for o in w.nodes if o is not nd) and not lost:
            bad.add("NoEmptyPromotion")
        return w._replace(bad=w.bad | bad) if bad else w

    # -- replication --------------------------------------------------------------------

    def settle(self, w: World) -> World:
        """Instant replication over every intact link, and acks for the lag window."""
        nodes = list(w.nodes)
        for _ in range(len(nodes)):
            changed = False
            for i, nd in enumerate(nodes):
                if not nd.up or nd.role != REPLICA or nd.master is None:
                    continue
                mi = self.nindex.get(nd.master)
                if mi is None:
                    continue
                m = nodes[mi]
                if not m.up or m.no_sync or not self.linked(w, self.scope.nodes[i], nd.master):
                    continue
                kept = {k: t for k, t in nd.acks if k != nd.master}
                kept[nd.master] = w.now
                acks = tuple(sorted(kept.items()))
                new = nd._replace(
                    log=m.log, acks=acks, empty_restart=nd.empty_restart and not m.log
                )
                if w.committed and (w.committed & frozenset(nd.log)) - frozenset(m.log):
                    w = self._wiped(w, nodes)
                if new != nd:
                    nodes[i] = new
                    changed = True
            if not changed:
                break
        windows = {n: ack_window(nd.max_lag) for n, nd in zip(self.scope.nodes, nodes, strict=True)}
        nodes = [
            nd._replace(acks=tuple((m, t) for m, t in nd.acks if w.now - t <= windows[m]))
            for nd in nodes
        ]
        return w._replace(nodes=tuple(nodes))

    def data_lost(self, w: World, nodes: tuple[Node, ...] | list[Node] | None = None) -> bool:
        """Has a majority of the nodes lost its data (restarted empty, not resynced since)?
        Beyond that no guarantee holds: no node can show which writes were committed."""
        lost = sum(1 for nd in (w.nodes if nodes is None else nodes) if nd.empty_restart)
        return lost >= self.settings.node_majority

    def _wiped(self, w: World, nodes: list[Node]) -> World:
        """A replica is about to discard a committed write by resyncing from a node that
        lacks it (Valkey's full resync replaces the dataset).  That loses the write unless a
        majority of the nodes lost their data (restarted empty), beyond any guarantee."""
        if self.settings.policy == CONSISTENCY and not self.data_lost(w, nodes):
            return w._replace(bad=w.bad | {"NoCommittedLoss"})
        return w

    # -- transitions --------------------------------------------------------------------

    def successors(self, w: World) -> Iterator[tuple[tuple[Any, ...], World]]:
        """Every enabled transition as (label, next world)."""
        sc = self.scope
        if sc.rounds != "each":
            yield from self._phases(w)
        elif (sc.max_time is None or w.now < sc.max_time) and (
            not sc.lockstep
            or all(st is None or r >= w.now for st, r in zip(w.daemons, w.rounds, strict=True))
        ):
            yield ("advance",), self.apply(w, ("advance",))
        for i, d in enumerate(sc.daemons):
            if sc.rounds == "each" and w.daemons[i] is not None and w.rounds[i] < w.now:
                yield ("round", d), self.apply(w, ("round", d))
        inboxes: set[str] = set()
        for item in sorted(w.net, key=repr):
            to, msg = item
            if w.daemons[self.dindex[to]] is None or not self.linked(w, msg.sender, to):
                continue
            if sc.inbox == "flush":
                inboxes.add(to)
                continue
            yield ("deliver", to, msg), self.apply(w, ("deliver", to, msg))
            if w.dups < sc.duplicates:
                yield ("duplicate", to, msg), self.apply(w, ("duplicate", to, msg))
        for to in sorted(inboxes):
            yield ("inbox", to), self.apply(w, ("inbox", to))
            if w.dups < sc.duplicates:
                yield ("inbox-dup", to), self.apply(w, ("inbox-dup", to))
        if w.crashes < sc.crashes:
            for i, d in enumerate(sc.daemons):
                if sc.daemon_crashes and w.daemons[i] is not None:
                    yield ("crash", d), self.apply(w, ("crash", d))
            for n, nd in zip(sc.nodes, w.nodes, strict=True):
                if sc.node_crashes and nd.up:
                    yield ("crash-node", n), self.apply(w, ("crash-node", n))
        for i, d in enumerate(sc.daemons):
            if w.daemons[i] is None:
                yield ("restart", d), self.apply(w, ("restart", d))
                if sc.lost_state:
                    yield ("restart-lost", d), self.apply(w, ("restart-lost", d))
        for n, nd in zip(sc.nodes, w.nodes, strict=True):
            if not nd.up:
                yield ("restart-node", n), self.apply(w, ("restart-node", n))
                if sc.empty_restarts:
                    yield ("restart-node-empty", n), self.apply(w, ("restart-node-empty", n))
        if w.cut is None and w.partitions < sc.partitions:
            for side in self.partition_sides():
                yield ("partition", side), self.apply(w, ("partition", side))
        if w.cut is not None:
            yield ("heal",), self.apply(w, ("heal",))
        if w.writes < sc.writes:
            for n in sc.nodes:
                if self.writable(w, n):
                    yield ("write", n), self.apply(w, ("write", n))

    def _phases(self, w: World) -> Iterator[tuple[tuple[Any, ...], World]]:
        """In-phase rounds: one ``("phase", order)`` transition per order of the daemons due.

        If every up daemon already ran its round at ``now`` the clock advances first; then
        every up daemon that has not run its round at the (new) time runs it, in ``order``.
        At time 0 and after a daemon restart this runs only the rounds still due, without
        advancing (as the lockstep rule of ``rounds="each"`` would let them run).

        Orders share work: a round is computed once per (world before it, daemon), so
        prefixes and rounds that commute (most do: a round that sends nothing to the others
        at once and acts on no node) are not recomputed, and an order whose world equals an
        earlier order's is not yielded again (one transition per distinct next world)."""
        sc = self.scope
        due = self._due(w)
        if not due:
            if sc.max_time is not None and w.now >= sc.max_time:
                return
            due = tuple(d for i, d in enumerate(sc.daemons) if w.daemons[i] is not None)
        orders = [due] if sc.rounds == "phase-one" else itertools.permutations(due)
        memo: dict[tuple[World, str], World] = {}
        done: set[World] = set()
        for order in orders:
            w2 = self._phase(w, tuple(order), memo)
            if w2 not in done:
                done.add(w2)
                yield ("phase", tuple(order)), w2

    def _phase(
        self, w: World, order: tuple[str, ...], memo: dict[tuple[World, str], World] | None
    ) -> World:
        """The world after the phase that runs ``order``'s due rounds (see :meth:`_phases`)."""
        if not self._due(w):
            w = self.settle(w._replace(now=w.now + 1))
        for d in order:
            i = self.dindex[d]
            if w.daemons[i] is None or w.rounds[i] >= w.now:
                continue
            if memo is None:
                w = self.settle(self._round(w, d))
                continue
            key = (w, d)
            nxt = memo.get(key)
            if nxt is None:
                nxt = memo[key] = self.settle(self._round(w, d))
            w = nxt
        return w

    def _due(self, w: World) -> tuple[str, ...]:
        """Up daemons that have not run their round at the current time."""
        return tuple(
            d
            for i, d in enumerate(self.scope.daemons)
            if w.daemons[i] is not None and w.rounds[i] < w.now
        )

    def partition_sides(self) -> list[frozenset[str]]:
        sc = self.scope
        sides: list[frozenset[str]] = []
        if sc.partition_shapes == "daemons":
            return [frozenset({d}) for d in sc.daemons]
        if sc.partition_shapes == "single":
            for d in sc.daemons:
                sides.append(frozenset({d}))
                for n in sc.nodes:
                    sides.append(frozenset({d, n}))
        for n in sc.nodes:
            sides.append(frozenset({n}))
        return sides

    def apply(self, w: World, label: tuple[Any, ...]) -> World:
        """The world after transition ``label`` (deterministic: replaying labels replays)."""
        kind = label[0]
        if kind == "advance":
            return self.settle(w._replace(now=w.now + 1))
        if kind == "round":
            return self.settle(self._round(w, label[1]))
        if kind == "phase":
            return self._phase(w, tuple(label[1]), None)
        if kind in ("deliver", "duplicate"):
            to, msg = label[1], label[2]
            if kind == "deliver":
                w = w._replace(net=w.net - {(to, msg)})
            else:
                w = w._replace(dups=w.dups + 1)
            return self.settle(self.feed(w, to, Received(msg)))
        if kind in ("inbox", "inbox-dup"):
            # the daemon handles every message waiting for it (in a fixed order); with
            # inbox-dup the messages also stay in flight to be delivered again later
            to = label[1]
            batch = sorted(
                (m for t, m in w.net if t == to and self.linked(w, m.sender, to)), key=repr
            )
            if kind == "inbox":
                w = w._replace(net=w.net - {(to, m) for m in batch})
            else:
                w = w._replace(dups=w.dups + 1)
            for m in batch:
                w = self.feed(w, to, Received(m))
            return self.settle(w)
        if kind == "crash":
            i = self.dindex[label[1]]
            net = frozenset(m for m in w.net if m[0] != label[1])
            return w._replace(daemons=_put(w.daemons, i, None), net=net, crashes=w.crashes + 1)
        if kind == "restart":
            return self.settle(self._boot(w, label[1]))
        if kind == "restart-lost":
            return self.settle(self._boot_lost(w, label[1]))
        if kind == "crash-node":
            i = self.nindex[label[1]]
            nd = w.nodes[i]._replace(up=False)
            return self.settle(w._replace(nodes=_put(w.nodes, i, nd), crashes=w.crashes + 1))
        if kind in ("restart-node", "restart-node-empty"):
            i = self.nindex[label[1]]
            nd = w.nodes[i]
            empty = kind == "restart-node-empty"
            # Valkey nodes start fenced (docs/concepts.md): min-replicas-to-write unmeetable
            # and no sync from them until a daemon lifts it
            nd = nd._replace(
                up=True,
                run=nd.run + 1,
                log=() if empty else nd.log,
                empty_restart=empty or nd.empty_restart,
                paused=False,
                min_replicas=UNMEETABLE_REPLICAS,
                no_sync=True,
                max_lag=self.base_max_lag,  # CONFIG SET is not persisted: the file's value
            )
            # a restarted node has no replica connections: nobody counts towards its quorum
            nodes = tuple(
                o._replace(acks=tuple((m, t) for m, t in o.acks if m != label[1]))
                for o in _put(w.nodes, i, nd)
            )
            return self.settle(w._replace(nodes=nodes))
        if kind == "partition":
            return self.settle(w._replace(cut=label[1], partitions=w.partitions + 1))
        if kind == "heal":
            return self.settle(w._replace(cut=None))
        if kind == "write":
            return self._write(w, label[1])
        raise ValueError(f"unknown transition {label!r}")

    def _round(self, w: World, d: str, jitter: float = 0.0) -> World:
        i = self.dindex[d]
        w = w._replace(rounds=_put(w.rounds, i, w.now))
        for o in self.scope.daemons:
            if o != d:
                ok = w.daemons[self.dindex[o]] is not None and self.linked(w, d, o)
                w = self.feed(w, d, PeerStatus(o, ok))
        for n in self.scope.nodes:
            w = self.feed(w, d, self.probe(w, d, n))
        return self.feed(w, d, Tick(jitter))

    def probe(self, w: World, d: str, n: str) -> Probe:
        nd = self.node(w, n)
        if not nd.up or not self.linked(w, d, n):
            return Probe(n, False)
        link = False
        if nd.role == REPLICA and nd.master is not None:
            m = self.node(w, nd.master)
            link = m.up and self.linked(w, n, nd.master)
        return Probe(
            n,
            True,
            role=nd.role,
            master=nd.master,
            link_up=link,
            offset=len(nd.log),
            replid="r",
            run_id=f"{n}.{nd.run}",
            accepts_writes=self.writable(w, n),
            empty=not nd.log,
            min_replicas=nd.min_replicas,
            paused=nd.paused,
            max_lag=nd.max_lag,
            sync_denied=nd.no_sync,
        )

    def _write(self, w: World, n: str) -> World:
        """A client writes to ``n`` then WAITs: acknowledged by a majority -> committed."""
        wid = w.writes + 1
        i = self.nindex[n]
        nd = w.nodes[i]._replace(log=(*w.nodes[i].log, wid))
        w = self.settle(w._replace(nodes=_put(w.nodes, i, nd), writes=wid))
        holders = sum(1 for o in w.nodes if o.up and wid in o.log)
        if holders >= self.settings.node_majority:
            w = w._replace(committed=w.committed | {wid})
        return w

    # -- reading the world ---------------------------------------------------------------

    def describe(self, w: World) -> str:
        parts = [f"t={w.now}"]
        for st, d in zip(w.daemons, self.scope.daemons, strict=True):
            if st is None:
                parts.append(f"{d}:down")
            else:
                parts.append(f"{d}:{st.role[0]}e{st.epoch}v{st.vote or '-'}c{st.config.epoch}")
        for n, nd in zip(self.scope.nodes, w.nodes, strict=True):
            state = "down" if not nd.up else ("P" if nd.role == PRIMARY else f"R<{nd.master}")
            extra = "W" if self.writable(w, n) else ""
            parts.append(f"{n}:{state}{extra}{list(nd.log)}")
        if w.cut is not None:
            parts.append("cut=" + ",".join(sorted(w.cut)))
        parts.append(f"net={len(w.net)}")
        return " ".join(parts)


def ack_window(max_lag: int) -> int:
    """Model seconds a replica's last ack keeps counting toward its primary's min-replicas.

    Valkey compares whole seconds (an ack at t still counts at t + max-lag + 0.99) and
    recounts its good replicas about once a second: a primary takes writes up to
    max-lag + 2 s after its last ack, never at it (``VALKEY_LAG_SLACK``).  In whole model
    seconds that is up to max-lag + 1 inclusive: a lease one second shorter than
    max-lag + 2 (a lease that forgets this granularity) overlaps it."""
    return max_lag + int(VALKEY_LAG_SLACK) - 1


#: Entries kept in a model's step memo before it is dropped whole (bounds its memory).
_MEMO_LIMIT = 400_000


def _put(t: tuple[Any, ...], i: int, v: Any) -> tuple[Any, ...]:
    return (*t[:i], v, *t[i + 1 :])
