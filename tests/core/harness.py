"""A tiny synchronous cluster for core tests: daemons exchange messages instantly and node
actions apply to plain records.  (The model checker in gungnir.verify is the thorough one.)"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field

from gungnir.core import (
    ActionResult,
    Broadcast,
    DaemonState,
    Fence,
    Log,
    PeerStatus,
    Persist,
    PersistVoters,
    Probe,
    Promote,
    PublishConfig,
    Received,
    Repoint,
    Send,
    Settings,
    SetWriteQuorum,
    Start,
    Tick,
    Unfence,
    init_state,
    step,
)


@dataclass
class Node:
    name: str
    role: str = "replica"
    master: str | None = None
    offset: int = 0
    up: bool = True
    min_replicas: int = 0
    paused: bool = False
    run_id: str = "r1"
    replid: str = "x"
    empty: bool = False
    priority: int = 100
    max_lag: int = 2  # min-replicas-max-lag: the policy's default, unless a test presets it
    settings_ok: bool = True  # False: the node will not show its settings (ACL, CONFIG)


@dataclass
class Cluster:
    settings: Settings
    nodes: dict[str, Node]
    daemons: dict[str, DaemonState] = field(default_factory=dict)
    durable: dict[str, tuple[int, str | None]] = field(default_factory=dict)
    durable_views: dict[str, PersistVoters] = field(default_factory=dict)
    logs: list[Log] = field(default_factory=list)
    published: list[object] = field(default_factory=list)
    cut: set[frozenset[str]] = field(default_factory=set)  # unreachable pairs
    now: float = 0.0

    def start(self, name: str) -> None:
        self.daemons[name] = init_state(self.settings, name)
        epoch, vote = self.durable.get(name, (0, None))
        v = self.durable_views.get(name)
        if v is None:
            self.feed(name, Start(epoch, vote))
        else:
            self.feed(name, Start(epoch, vote, v.voters, v.next_voters, v.voters_epoch))

    def linked(self, a: str, b: str) -> bool:
        return frozenset({a, b}) not in self.cut

    def feed(self, name: str, event: object) -> None:
        queue = [(name, event)]
        while queue:
            who, ev = queue.pop(0)
            if who not in self.daemons:
                continue
            st, acts = step(self.daemons[who], ev, self.now)  # type: ignore[arg-type]
            self.daemons[who] = st
            persisted = False
            for a in acts:
                if isinstance(a, Persist):
                    self.durable[who] = (a.epoch, a.vote)
                    persisted = True
                elif isinstance(a, PersistVoters):
                    self.durable_views[who] = a
                elif isinstance(a, Log):
                    self.logs.append(a)
                elif isinstance(a, Send):
                    if self.linked(who, a.to):
                        queue.append((a.to, Received(a.message)))
                elif isinstance(a, Broadcast):
                    for other in self.daemons:
                        if other != who and self.linked(who, other):
                            queue.append((other, Received(a.message)))
                elif isinstance(a, PublishConfig):
                    self.published.append(a.config)
                elif isinstance(a, Fence | Unfence | Promote | Repoint | SetWriteQuorum):
                    ok = self.apply(who, a)
                    queue.append((who, ActionResult(a, ok)))
            del persisted

    def apply(self, who: str, a: object) -> bool:
        node = self.nodes[a.node]  # type: ignore[attr-defined]
        if not node.up or not self.linked(who, node.name):
            return False
        if isinstance(a, Fence):
            if a.method == "pause":
                node.paused = True
            else:
                node.min_replicas = 1_000_000
        elif isinstance(a, Unfence):
            node.paused = False
            node.min_replicas = a.min_replicas
        elif isinstance(a, Promote):
            node.role, node.master = "primary", None
        elif isinstance(a, Repoint):
            node.role, node.master = "replica", a.primary
        elif isinstance(a, SetWriteQuorum):
            node.min_replicas = a.min_replicas
            node.max_lag = a.max_lag
        return True

    def probe_all(self) -> None:
        for d in list(self.daemons):
            for other in self.daemons:
                if other != d:
                    self.feed(d, PeerStatus(other, self.linked(d, other)))
            for n in self.nodes.values():
                ok = n.up and self.linked(d, n.name)
                self.feed(
                    d,
                    Probe(
                        n.name,
                        ok,
                        role=n.role,
                        master=n.master,
                        link_up=n.master is not None and self.nodes[n.master].up,
                        offset=n.offset,
                        replid=n.replid,
                        run_id=n.run_id,
                        priority=n.priority,
                        empty=n.empty,
                        min_replicas=n.min_replicas,
                        paused=n.paused,
                        max_lag=n.max_lag,
                        settings_ok=n.settings_ok,
                    ),
                )

    def run(self, seconds: float, dt: float = 0.5) -> None:
        end = self.now + seconds
        while self.now < end:
            self.now += dt
            self.probe_all()
            for d in list(self.daemons):
                # A stable per-daemon jitter: hash() of a str changes with PYTHONHASHSEED,
                # which made runs of the same test differ from process to process.
                self.feed(d, Tick(jitter=0.1 * (zlib.crc32(d.encode()) % 7)))

    def kinds(self, kind: str) -> list[dict[str, object]]:
        return [r.as_dict() for r in self.logs if r.kind == kind]


def make(policy: str = "availability", **kw: object) -> Cluster:
    s = Settings(
        group="g",
        voters=("d1", "d2", "d3"),
        nodes=("n1", "n2", "n3"),
        policy=policy,
        initial_primary="n1",
        **kw,  # type: ignore[arg-type]
    )
    nodes = {
        "n1": Node("n1", role="primary", offset=100),
        "n2": Node("n2", master="n1", offset=100),
        "n3": Node("n3", master="n1", offset=90),
    }
    c = Cluster(s, nodes)
    for d in s.voters:
        c.start(d)
    return c
