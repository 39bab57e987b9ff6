"""Exhaustive breadth-first exploration of a :class:`~gungnir.verify.world.Model`.

States are deduplicated by fingerprint: a 128-bit BLAKE2b digest of a canonical,
type-tagged encoding of the world (:mod:`.identity`; never the builtin ``hash()``, which
merges ``-1`` and ``-2``).  Daemon-symmetry reduction: daemons with identical settings are
interchangeable, so a world and the same world with daemon names permuted are one state.  The
canonical fingerprint renames daemons for every permutation among alike daemons and keeps the
smallest digest.  (A canonical form that misses an isomorphism only costs duplicate work,
never a missed state.)

Breadth-first order makes the first violation found a shortest one; the path is rebuilt from
parent links and replayed into a readable timeline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gungnir.core import CONSISTENCY, ConfigAnnounce, ConfigQuery, DaemonState, Log, Notify
from gungnir.verify.identity import canon
from gungnir.verify.invariants import check, converged
from gungnir.verify.world import Model, Node, World


@dataclass
class Counterexample:
    """A shortest path from the initial world to a violation."""

    broken: list[str]
    labels: list[tuple[Any, ...]]
    timeline: str


@dataclass
class Result:
    scope: str
    states: int = 0
    transitions: int = 0
    depth: int = 0
    seconds: float = 0.0
    complete: bool = True
    violation: Counterexample | None = None
    convergence_checked: int = 0
    convergence_failure: Counterexample | None = None
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        rate = self.states / self.seconds if self.seconds else 0.0
        status = "VIOLATION" if self.violation else "ok"
        if self.convergence_failure:
            status += ", CONVERGENCE FAILURE"
        if not self.complete:
            status += (
                f" (stopped at a limit: every trace of up to {max(self.depth - 1, 0)} steps "
                "was explored)"
            )
        return (
            f"scope {self.scope}: {status}; {self.states} states, {self.transitions} transitions, "
            f"depth {self.depth}, {self.seconds:.1f}s ({rate:.0f} states/s), "
            f"convergence checked from {self.convergence_checked} states"
        )


class Fingerprinter:
    """Canonical fingerprints of worlds: time-relative and daemon-symmetric.

    Time abstraction: the core only ever compares ``now`` with stored times against its
    timeouts, so a world is rendered with every timestamp relative to ``now`` and clamped to
    ``[-cap, cap]`` (``cap`` exceeds every timeout), and ``now`` itself is left out.  Worlds
    that differ only by a time shift are one state, which makes the state space finite
    without a time bound.

    Symmetry: daemons with identical settings are interchangeable.  Daemons are renamed to
    positional names after ordering them by a rename-invariant key (their rendering with
    their own name as SELF and every other daemon as OTHER); daemons with equal keys are
    permuted among themselves and the smallest digest wins.  Name-keyed tuples are re-sorted
    after renaming so isomorphic worlds render identically.
    """

    def __init__(self, model: Model, symmetry: bool, reduce: bool = True) -> None:
        self.names = model.scope.daemons
        self.symmetry = symmetry and len(self.names) > 1
        self.reduce = reduce
        self.canon = tuple(f"#{i}" for i in range(len(self.names)))
        # with a time bound, worlds at different times have different futures: keep the clock
        self.clock = model.scope.max_time is not None
        s = model.settings
        self.base = s
        self.ttl = s.report_ttl
        self.fence_after = s.fence_after
        self.election_timeout = s.election_timeout
        # a plan whose old primary runs a longer max-lag (an operator's preset) waits a longer
        # lease and gets the difference on top of failover_timeout (gungnir.core.failover)
        longer = max(0.0, float(model.base_max_lag) - s.min_replicas_max_lag)
        self.plan_limit = max(s.failover_timeout + longer, s.switchover_timeout)
        self.cap = (
            1
            + longer
            + max(
                s.down_after,
                s.report_ttl,
                s.election_timeout * 2 + s.election_jitter,
                s.failover_timeout,
                s.promote_after,
                s.fence_after,
                s.lease,
                s.switchover_timeout,
                s.min_replicas_max_lag,
            )
        )
        self.cache: dict[tuple[int, tuple[str, ...], float], tuple[object, str]] = {}
        self.nodes: dict[tuple[str, int], str] = {}
        self.msgs: dict[tuple[int, tuple[str, ...], float], tuple[object, str]] = {}

    def rel(self, t: float | None, now: float) -> float | None:
        if t is None:
            return None
        d = t - now
        cap = self.cap
        return cap if d > cap else (-cap if d < -cap else d)

    def past(self, t: float | None, now: float) -> float | None:
        """``t`` read only as ``now < t``: every time at or before ``now`` stays so."""
        if t is None:
            return None
        return t - now if t > now else 0.0

    def aged(self, t: float | None, now: float, limit: float, strict: bool = False) -> float | None:
        """``t`` read only as ``now - t >= limit`` (``> limit`` if ``strict``): every age past
        the limit stays past it."""
        if t is None:
            return None
        d = t - now
        if strict:
            return d if d >= -limit else -limit - 1.0
        return d if d > -limit else -limit

    def canonical(self, w: World) -> bytes:
        """The 128-bit digest of the smallest canonical encoding of ``w`` over the daemon
        renamings the symmetry allows (:mod:`.identity`: two worlds share it only if their
        renderings are equal value for value and type for type, short of a BLAKE2b
        collision).

        The encoding is a fixed number of parts, each the ``repr`` of a canonical form,
        joined by NUL: ``repr`` escapes every control character, so no part holds a NUL and
        the join is injective.  Parts are cached as text (daemon states, messages, nodes)."""
        k = len(self.names)
        now = float(w.now)
        if self.symmetry and not self._asymmetric(w):
            keys = []
            for i in range(k):
                mapping = tuple("SELF" if j == i else "OTHER" for j in range(k))
                keys.append(self._per(w, i, mapping, now))
            order = sorted(range(k), key=keys.__getitem__)
            groups = [list(g) for _, g in itertools.groupby(order, key=keys.__getitem__)]
            choices: Any = itertools.product(*(itertools.permutations(g) for g in groups))
        else:
            choices = [[list(range(k))]]
        shared = "\0".join(
            [
                *(self._node(nd, w.now) for nd in w.nodes),
                repr(
                    canon(
                        (
                            w.crashes,
                            w.partitions,
                            w.dups,
                            w.writes,
                            w.committed,
                            w.service,
                            w.configs,
                            w.bad,
                            self.clock and w.now,
                        )
                    )
                ),
            ]
        )
        best: bytes | None = None
        for choice in choices:
            seq = [i for part in choice for i in part]  # seq[new position] = old index
            mapping_l = [""] * k
            for pos, i in enumerate(seq):
                mapping_l[i] = self.canon[pos]
            mapping = tuple(mapping_l)
            rn = dict(zip(self.names, mapping, strict=True))
            # a set is a list sorted by a total order on its elements' canonical forms
            net = sorted((rn[to], self._msg(msg, mapping, rn, now)) for to, msg in w.net)
            votes = sorted((rn.get(v, v), e, rn.get(c, c)) for v, e, c in w.votes)
            leaders = sorted((e, rn.get(d, d)) for e, d in w.leaders)
            # a cut names daemons too: isolating d1 or d2 is one state when they are alike
            cut = None if w.cut is None else sorted(rn.get(x, x) for x in w.cut)
            text = "\0".join(
                [
                    *(self._per(w, i, mapping, now) for i in seq),
                    shared,
                    repr((net, votes, leaders, cut)),
                ]
            )
            h = hashlib.blake2b(text.encode(), digest_size=16).digest()
            if best is None or h < best:
                best = h
        assert best is not None
        return best

    def _node(self, nd: Node, now: int) -> str:
        """The canonical text of node ``nd`` with its ack times relative to ``now``.

        Cached by ``repr(nd)``: the world rebuilds equal nodes often, and two nodes with the
        same ``repr`` have the same fields of the same types (``repr`` tells ``1``, ``1.0``
        and ``True`` apart; a set printed in another order is only a cache miss)."""
        key = (repr(nd), now)
        hit = self.nodes.get(key)
        if hit is None:
            if len(self.nodes) > 500_000:
                self.nodes.clear()
            hit = repr(canon(nd._replace(acks=tuple((m, t - now) for m, t in nd.acks))))
            self.nodes[key] = hit
        return hit

    def _asymmetric(self, w: World) -> bool:
        """Does ``w`` hold daemon names the renaming does not reach (a voter-set change:
        other settings, voter views in fields or messages)?  Then it is fingerprinted without
        the symmetry reduction: renaming only some occurrences of a name could merge worlds
        that are not renamings of each other."""
        unknown = _unknown_fields()
        for st in w.daemons:
            if st is None:
                continue
            if st.settings is not self.base and st.settings != self.base:
                return True
            d = st.__dict__
            for k in unknown:
                if k in d and (k not in _DEFAULTS or d[k] != _DEFAULTS[k]):
                    return True
        for _, msg in w.net:
            if getattr(msg, "voters", None) or getattr(msg, "next_voters", None):
                return True
        return False

    def _per(self, w: World, i: int, mapping: tuple[str, ...], now: float) -> str:
        d = w.durable[i]
        vote = d[1]
        if vote is not None and vote in self.names:
            vote = mapping[self.names.index(vote)]
        rest = ((d[0], vote, *d[2:]), w.rounds[i] >= w.now, w.restarts[i], w.high[i])
        return self._state(w.daemons[i], mapping, now) + "\0" + repr(rest)

    def _state(self, st: DaemonState | None, mapping: tuple[str, ...], now: float) -> str:
        if st is None:
            return "None"
        key = (id(st), mapping, now)
        hit = self.cache.get(key)
        if hit is not None and hit[0] is st:
            return hit[1]
        if len(self.cache) > 500_000:
            self.cache.clear()
        out = repr(canon(self._render(st, dict(zip(self.names, mapping, strict=True)), now)))
        self.cache[key] = (st, out)
        return out

    def _render(self, st: DaemonState, rn: dict[str, str], now: float) -> Any:
        """A hashable, time-relative rendering of ``st`` with daemon names renamed.

        With ``reduce`` (the default), state the core never reads again is left out (see
        :data:`UNREAD` and docs/verification.md): peers' "since" times, the node views'
        ``accepts_writes`` and ``empty``, ``odown_since``, and down reports that can no longer
        count (not "down", or older than ``report_ttl``: time only ages them further, and a
        newer report from the same sender replaces them either way).
        """
        g = rn.get
        r = self.rel
        red = self.reduce
        el = st.election
        elr = None
        if el is not None:
            elr = (
                el.epoch,
                el.node,
                el.replid,
                el.offset,
                el.reason,
                self.aged(el.started, now, self.election_timeout) if red else r(el.started, now),
                frozenset(g(x, x) for x in el.grants),
                frozenset(g(x, x) for x in el.refusals),
            )
        fo = st.failover
        fr = None
        if fo is not None:
            fr = (
                fo.epoch,
                fo.old,
                fo.new,
                fo.stage,
                self.aged(fo.started, now, self.plan_limit, True) if red else r(fo.started, now),
                fo.manual,
                fo.use_failover_command,
                fo.old_fenced,
                r(fo.old_last_ok, now),
                fo.old_offset,
                fo.lease,
                self.past(fo.lease_until, now) if red else r(fo.lease_until, now),
                fo.pending,
                fo.failed,
                fo.repointed,
            )
        cf = st.confirm
        cr = None
        if cf is not None:
            cr = (r(cf.nonce, now), cf.epoch, frozenset(g(x, x) for x in cf.acks))
        nodes = tuple(
            (
                v.node,
                r(v.last_ok, now),
                v.reachable,
                v.role,
                v.master,
                v.link_up,
                v.offset,
                v.replid,
                v.run_id,
                v.priority,
                None if red else v.accepts_writes,
                None if red else v.empty,
                v.lag,
                v.min_replicas,
                v.paused,
                v.empty_restart,
                v.seen,
                v.max_lag,
                v.sync_denied,
                v.settings_ok,
                # read only as max(it, write quorum) (core.nodesettings.wanted): a restarted
                # daemon that has seen the node only fenced (0) is the same as one that saw
                # the policy's value
                max(v.kept_min_replicas, self.base.write_quorum) if red else v.kept_min_replicas,
            )
            for v in st.nodes
        )
        if red:
            ttl = self.ttl
            reports = tuple(
                sorted(
                    (g(sn, sn), n, True, r(t, now))
                    for sn, n, dn, t in st.reports
                    if dn and now - t <= ttl and sn != st.me
                )
            )
            peers = tuple(sorted((g(p, p), ok) for p, ok, _ in st.peers))
        else:
            reports = tuple(sorted((g(sn, sn), n, dn, r(t, now)) for sn, n, dn, t in st.reports))
            peers = tuple(sorted((g(p, p), ok, r(t, now)) for p, ok, t in st.peers))  # type: ignore[misc]
        out: tuple[Any, ...] = (
            g(st.me, st.me),
            st.started,
            st.epoch,
            g(st.vote, st.vote) if st.vote is not None else None,
            st.restart_floor,
            st.role,
            st.config,
            nodes,
            reports,
            peers,
            st.sdown,
            st.odown,
            None if red else r(st.odown_since, now),
            self.past(st.next_election, now) if red else r(st.next_election, now),
            elr,
            fr,
            self.aged(st.isolated_since, now, self.fence_after)
            if red
            else r(st.isolated_since, now),
            st.minority_fenced,
            cr,
            st.switchover,
            r(st.drift_since, now),
            None
            if st.amnesia is None
            else (r(st.amnesia[0], now), frozenset(g(x, x) for x in st.amnesia[1]), st.amnesia[2]),
        )
        extra = self._extra(st)
        return out + extra if extra else out

    def _extra(self, st: DaemonState) -> tuple[Any, ...]:
        """Fields this renderer does not know, verbatim (a new core field is never merged
        away), and the settings when they are not the scope's (a voter-set change)."""
        d = st.__dict__
        extra = tuple((k, d[k]) for k in _unknown_fields() if k in d)
        if st.settings is not self.base and st.settings != self.base:
            extra += (("settings", st.settings),)
        return extra

    def _msg(self, msg: Any, mapping: tuple[str, ...], rn: dict[str, str], now: float) -> str:
        """The canonical text of ``msg`` renamed and time-relative (cached: the same message
        object sits in the network of many worlds)."""
        key = (id(msg), mapping, now)
        hit = self.msgs.get(key)
        if hit is not None and hit[0] is msg:
            return hit[1]
        if len(self.msgs) > 500_000:
            self.msgs.clear()
        changes: dict[str, Any] = {"sender": rn.get(msg.sender, msg.sender)}
        cand = getattr(msg, "candidate", None)
        if cand is not None:
            changes["candidate"] = rn.get(cand, cand)
        if isinstance(msg, ConfigQuery):
            changes["nonce"] = self.rel(msg.nonce, now)
        elif isinstance(msg, ConfigAnnounce) and msg.reply_to is not None:
            changes["reply_to"] = self.rel(msg.reply_to, now)
        out = repr(canon(dataclasses.replace(msg, **changes)))
        self.msgs[key] = (msg, out)
        return out


#: DaemonState fields the renderer handles itself (``settings``: only when it differs).
RENDERED = frozenset(
    {
        "settings",
        "me",
        "started",
        "epoch",
        "vote",
        "restart_floor",
        "role",
        "config",
        "nodes",
        "reports",
        "peers",
        "sdown",
        "odown",
        "odown_since",
        "next_election",
        "election",
        "failover",
        "isolated_since",
        "minority_fenced",
        "confirm",
        "switchover",
        "drift_since",
        "amnesia",
    }
)

#: State the core writes but never reads: left out of fingerprints under ``reduce``.
#: ``tests/verify/test_reductions.py`` checks each claim against the core, statically and by
#: perturbing explored states.
UNREAD = ("NodeView.accepts_writes", "NodeView.empty", "DaemonState.odown_since", "peers.since")

_UNKNOWN: tuple[str, ...] | None = None
_DEFAULTS: dict[str, Any] = {
    f.name: f.default
    for f in dataclasses.fields(DaemonState)
    if f.default is not dataclasses.MISSING
}


def _unknown_fields() -> tuple[str, ...]:
    global _UNKNOWN
    if _UNKNOWN is None:
        names = [f.name for f in dataclasses.fields(DaemonState)]
        _UNKNOWN = tuple(n for n in names if n not in RENDERED)
    return _UNKNOWN


def explore(
    model: Model,
    invariants: tuple[str, ...],
    *,
    max_states: int | None = None,
    time_limit: float | None = None,
    progress: Callable[[str], None] | None = None,
    report_every: float = 2.0,
    visit: Callable[[World], None] | None = None,
    on_level: Callable[[int, int, float], None] | None = None,
) -> Result:
    """Breadth-first search over every reachable world of ``model``'s scope.

    ``progress`` gets a line ``"N states, depth D, Ts"`` every ``report_every`` seconds (by
    the clock, so a slow stretch still shows movement); ``visit`` sees every new world (tests
    compare reduced and unreduced explorations with it); ``on_level(depth, states, seconds)``
    is called as each depth is reached, with every state of that depth or less found (how a
    scope grows, level by level: ``scripts/scope-levels``)."""
    sc = model.scope
    res = Result(scope=sc.name)
    t0 = time.monotonic()
    fp = Fingerprinter(model, sc.symmetry, getattr(sc, "reduce", True))
    init = model.initial()
    c0 = fp.canonical(init)
    seen: set[bytes] = {c0}
    parent: dict[bytes, tuple[bytes, tuple[Any, ...]] | None] = {c0: None}
    queue: deque[tuple[World, bytes, int]] = deque([(init, c0, 0)])
    res.states = 1
    if visit is not None:
        visit(init)
    broken = check(model, init, invariants)
    if broken:
        res.violation = _counterexample(model, parent, c0, broken)
        return _done(res, t0)
    next_report = t0 + report_every
    while queue:
        w, cw, depth = queue.popleft()
        if on_level is not None and depth > res.depth:
            on_level(depth, res.states, time.monotonic() - t0)
        res.depth = max(res.depth, depth)
        for label, w2 in model.successors(w):
            res.transitions += 1
            if max(w2.high) > sc.max_epoch:
                continue
            c2 = fp.canonical(w2)
            if c2 in seen:
                continue
            seen.add(c2)
            parent[c2] = (cw, label)
            res.states += 1
            if visit is not None:
                visit(w2)
            broken = check(model, w2, invariants)
            if broken:
                res.violation = _counterexample(model, parent, c2, broken)
                res.depth = max(res.depth, depth + 1)
                return _done(res, t0)
            if sc.convergence_every and res.states % sc.convergence_every == 0:
                res.convergence_checked += 1
                why = converge(model, w2, sc.convergence_bound)
                if why is not None:
                    res.convergence_failure = _counterexample(
                        model, parent, c2, [f"Convergence: {why}"]
                    )
                    return _done(res, t0)
            queue.append((w2, c2, depth + 1))
        if progress is not None:
            now = time.monotonic()
            if now >= next_report:
                next_report = now + report_every
                progress(f"{res.states} states, depth {depth}, {now - t0:.0f}s")
        if (
            (max_states and res.states >= max_states)
            or (sc.max_states and res.states >= sc.max_states)
            or (time_limit and time.monotonic() - t0 > time_limit)
        ):
            res.complete = False
            break
    return _done(res, t0)


def _done(res: Result, t0: float) -> Result:
    res.seconds = time.monotonic() - t0
    return res


def path_to(
    parent: dict[bytes, tuple[bytes, tuple[Any, ...]] | None], c: bytes
) -> list[tuple[Any, ...]]:
    labels: list[tuple[Any, ...]] = []
    link = parent[c]
    while link is not None:
        prev, label = link
        labels.append(label)
        link = parent[prev]
    labels.reverse()
    return labels


def _counterexample(
    model: Model,
    parent: dict[bytes, tuple[bytes, tuple[Any, ...]] | None],
    c: bytes,
    broken: list[str],
) -> Counterexample:
    labels = path_to(parent, c)
    return Counterexample(broken, labels, timeline(model, labels, broken))


def describe_label(label: tuple[Any, ...]) -> str:
    kind = label[0]
    if kind in ("deliver", "duplicate"):
        msg = label[2]
        name = type(msg).__name__
        fields = {k: v for k, v in msg.__dict__.items() if k not in ("group", "sender")}
        body = ", ".join(f"{k}={v}" for k, v in fields.items())
        verb = "delivers" if kind == "deliver" else "delivers a duplicate of"
        return f"network {verb} {name}({body}) from {msg.sender} to {label[1]}"
    if kind in ("inbox", "inbox-dup"):
        dup = " (and keeps them in flight)" if kind == "inbox-dup" else ""
        return f"{label[1]} handles every message waiting for it{dup}"
    if kind == "partition":
        return "partition isolates {" + ", ".join(sorted(label[1])) + "}"
    if kind == "round":
        return f"{label[1]} probes every node and ticks"
    if kind == "advance":
        return "time advances one second"
    if kind == "phase":
        return "in phase: " + ", ".join(label[1]) + " probe every node and tick (in this order)"
    if kind == "write":
        return f"a client writes to {label[1]} and WAITs"
    return " ".join(str(x) for x in label)


def timeline(model: Model, labels: list[tuple[Any, ...]], broken: list[str]) -> str:
    """Replay ``labels`` from the initial world and narrate each step."""
    record: list[Log | Notify] = []
    m = Model(model.scope, model.rules, record=record)
    w = m.initial()
    lines = [f"initial: {m.describe(w)}"]
    for k, label in enumerate(labels, 1):
        record.clear()
        w = m.apply(w, label)
        lines.append(f"{k:3d}. {describe_label(label)}")
        for a in record:
            if isinstance(a, Log) and a.kind not in ("header",):
                d = a.as_dict()
                extra = {x: y for x, y in d.items() if x not in ("kind", "daemon", "group", "t")}
                lines.append(f"       {d['daemon']}: {a.kind} {extra}")
            elif isinstance(a, Notify) and a.event in (
                "+odown",
                "+try-failover",
                "+elected-leader",
                "+promoted-slave",
                "+switch-master",
                "+failover-end",
                "+fence-minority",
                "+convert-to-slave",
            ):
                lines.append(f"       {a.event} {a.detail}")
        lines.append(f"       -> {m.describe(w)}")
    lines.append("BROKEN: " + "; ".join(broken))
    return "\n".join(lines)


def converge(model: Model, w: World, bound: int) -> str | None:
    """From ``w``, stop all faults (heal, restart crashed daemons and nodes) and run a fair
    schedule: each second deliver every message, let every daemon run a round (with distinct
    jitter, as randomised retry gives), advance time.  None if a converged world is reached
    within ``bound`` seconds, else why not.  Under consistency, a world where a majority of
    the nodes lost their data is not checked: the policy then waits for an operator."""
    sc = model.scope
    if model.settings.policy == CONSISTENCY and model.data_lost(w):
        return None  # no node can show which writes were committed (docs/runbooks.md)
    w = w._replace(cut=None)
    for n, nd in zip(sc.nodes, w.nodes, strict=True):
        if not nd.up:
            w = model.apply(w, ("restart-node", n))
    for i, d in enumerate(sc.daemons):
        if w.daemons[i] is None:
            w = model.apply(w, ("restart", d))
    why: str | None = "not checked"
    for _ in range(bound):
        for _ in range(64):
            if not w.net:
                break
            for to, msg in sorted(w.net, key=repr):
                w = model.apply(w, ("deliver", to, msg))
        for i, d in enumerate(sc.daemons):
            w = model.settle(model._round(w, d, jitter=i / len(sc.daemons)))
        w = model.settle(w._replace(now=w.now + 1))
        why = converged(model, w)
        if why is None:
            return None
    return why
