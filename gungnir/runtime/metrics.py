"""Prometheus metrics for the daemon, behind a small API the runtime calls.

The runtime never touches prometheus-client directly: it reports what happened
(``observe_probe``, ``set_safety``, ``failover_finished``...) and this module owns the metric
names, types, labels and units, so they stay consistent and documented in one place
(``docs/metrics.md`` lists them; a test scrapes the endpoint and checks that list).

Conventions: the ``gungnir_`` prefix, base units (seconds, bytes), ``_total`` on counters,
one-hot gauges for enumerations (``gungnir_node_role{role="primary"} 1``), and timestamps
rather than ages where Prometheus can compute the age itself; the one age the issue asks
for (time since the last successful reconcile) is computed at scrape time from an injected
clock so it never goes stale between reports.

Labels are bounded on purpose: ``group`` and ``node`` are the configured group and node
names (stable: a node that moves to a new address keeps its name and its series), every
other label takes values from a fixed set checked here, so a bug in a caller cannot explode
the number of series. ``forget_node``/``forget_group`` drop the series of a node or group
that left; the daemon changes its groups and nodes only on a restart, which starts with an
empty registry, so it has no caller yet.

The HTTP side (``/metrics``, ``/healthz``, ``/readyz``) is :class:`MetricsHTTPServer`, a
minimal asyncio HTTP/1.1 responder (aiohttp is not a dependency, and prometheus-client's
own server is threaded): one request per connection, with header size and time limits.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, get_args

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import choose_encoder

from gungnir import __version__
from gungnir.core import Message

log = logging.getLogger(__name__)

__all__ = [
    "ACTION_KINDS",
    "FAILOVER_OUTCOMES",
    "FAILOVER_PHASES",
    "FAILOVER_REASONS",
    "PEER_DIRECTIONS",
    "PEER_REFUSALS",
    "ROLES",
    "Check",
    "Metrics",
    "MetricsHTTPServer",
]

#: One-hot values of ``gungnir_node_role``; Valkey's words map onto them.
ROLES = ("primary", "replica", "unknown")
_ROLE_WORDS = {
    "master": "primary",
    "primary": "primary",
    "slave": "replica",
    "replica": "replica",
}
FAILOVER_PHASES = ("detection", "election", "promotion", "routing")
#: Why a failover this daemon led started: the primary was objectively down, or an
#: operator asked (``SENTINEL FAILOVER`` / ``GUNGNIR.FAILOVER``).
FAILOVER_REASONS = ("primary_down", "manual")
#: How it ended: ``+failover-end``, or ``-failover-abort`` (timeout, target no longer
#: eligible, old primary reachable but not fenced...).
FAILOVER_OUTCOMES = ("success", "aborted")
#: What the runtime did for the core.  Probes and peer messages have their own counters
#: (``gungnir_node_probes_total``, ``gungnir_peer_messages_total``); ``other`` is a node
#: action without a kind of its own (the write-quorum setting).
ACTION_KINDS = (
    "persist",
    "fence",
    "unfence",
    "promote",
    "repoint",
    "publish",
    "other",
)
PEER_DIRECTIONS = ("sent", "received")
#: Why the peer endpoint refused a connection (``gungnir_peer_refused_total``).
PEER_REFUSALS = (
    "no_peers",
    "no_nonce",
    "unknown_peer",
    "bad_secret",
    "unauthenticated",
    "impersonation",
)

#: From a quick probe to a slow failover with a long write lease.
_FAILOVER_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180)


def _one_of(value: str, allowed: Iterable[str], what: str) -> str:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {sorted(allowed)}")
    return value


class _ReconcileAge:
    """Collector for the age of the last successful reconcile, computed at scrape time."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self.last: dict[str, float] = {}

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "gungnir_time_since_last_reconcile_seconds",
            "Seconds since this daemon last reconciled the group successfully.",
            labels=["group"],
        )
        now = self._clock()
        for group, at in sorted(self.last.items()):
            family.add_metric([group], max(0.0, now - at))
        yield family


class Metrics:
    """Every gungnir metric, registered on one registry (a private one by default, so
    several daemons or tests in one process never collide)."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        clock: Callable[[], float] = time.time,
        process_metrics: bool = True,
    ) -> None:
        # The text format renders the ``_created`` timestamps of counters and histograms as
        # separate gauge families: twice the series for nothing PromQL needs. The switch is
        # process-wide in prometheus-client; the daemon is the only exporter in its process.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        self.registry = registry if registry is not None else CollectorRegistry()
        self._clock = clock
        r = self.registry
        node = ["group", "node"]
        if process_metrics:
            ProcessCollector(registry=r)
            PlatformCollector(registry=r)

        self.build_info = Gauge(
            "gungnir_build_info", "Gungnir version; always 1.", ["version"], registry=r
        )
        self.build_info.labels(__version__).set(1)

        # -- per group and node ------------------------------------------------------------
        self.node_up = Gauge(
            "gungnir_node_up",
            "1 if the last probe of the node succeeded, else 0.",
            node,
            registry=r,
        )
        self.node_role = Gauge(
            "gungnir_node_role",
            "Role the node reports (one-hot over role; unknown while it is down).",
            [*node, "role"],
            registry=r,
        )
        self.node_offset = Gauge(
            "gungnir_node_replication_offset_bytes",
            "Replication offset the node reported (master_repl_offset / slave_repl_offset).",
            node,
            registry=r,
        )
        self.node_lag_bytes = Gauge(
            "gungnir_node_replication_lag_bytes",
            "How far a replica's offset is behind its primary's, in bytes.",
            node,
            registry=r,
        )
        self.node_lag_seconds = Gauge(
            "gungnir_node_replication_lag_seconds",
            "Seconds since the replica last heard from its primary (INFO lag / link down).",
            node,
            registry=r,
        )
        self.node_link_up = Gauge(
            "gungnir_node_link_up",
            "1 if a replica's link to its primary is up (master_link_status:up), else 0.",
            node,
            registry=r,
        )
        self.node_probe_seconds = Gauge(
            "gungnir_node_last_probe_duration_seconds",
            "Round-trip time of the last probe of the node.",
            node,
            registry=r,
        )
        self.node_probes = Counter(
            "gungnir_node_probes_total",
            "Probes of the node, by outcome (ok, error, timeout).",
            [*node, "outcome"],
            registry=r,
        )

        # -- safety ------------------------------------------------------------------------
        group = ["group"]
        self.epoch = Gauge(
            "gungnir_current_epoch",
            "Highest epoch this daemon knows for the group.",
            group,
            registry=r,
        )
        self.leader = Gauge(
            "gungnir_leader_info",
            "The daemon that leads the group's current epoch (1 on the leader's series).",
            ["group", "leader"],
            registry=r,
        )
        self.is_leader = Gauge(
            "gungnir_is_leader",
            "1 if this daemon leads the group's current epoch.",
            group,
            registry=r,
        )
        self.quorum_reachable = Gauge(
            "gungnir_quorum_reachable",
            "1 if this daemon reaches a majority of the voters (itself included), else 0.",
            group,
            registry=r,
        )
        self.peers_reachable = Gauge(
            "gungnir_peers_reachable",
            "Other daemons this daemon currently reaches.",
            group,
            registry=r,
        )
        self.peers_configured = Gauge(
            "gungnir_peers_configured",
            "Other daemons in the configured set.",
            group,
            registry=r,
        )
        self.nodes_primary = Gauge(
            "gungnir_nodes_answering_primary",
            "Nodes of the group whose ROLE says master; more than 1 is a split brain.",
            group,
            registry=r,
        )
        self.fenced_nodes = Gauge(
            "gungnir_fenced_nodes",
            "Nodes of the group this daemon holds fenced.",
            group,
            registry=r,
        )
        self.reconcile_ts = Gauge(
            "gungnir_last_reconcile_success_timestamp_seconds",
            "Unix time of the last successful reconcile of the group.",
            group,
            registry=r,
        )
        self._reconcile_age = _ReconcileAge(clock)
        r.register(self._reconcile_age)

        # -- actions -----------------------------------------------------------------------
        self.failovers = Counter(
            "gungnir_failovers_total",
            "Failovers this daemon led, by reason and outcome.",
            ["group", "reason", "outcome"],
            registry=r,
        )
        self.failover_seconds = Histogram(
            "gungnir_failover_duration_seconds",
            "Whole failovers, from detection to routing updated.",
            group,
            buckets=_FAILOVER_BUCKETS,
            registry=r,
        )
        self.failover_phase_seconds = Histogram(
            "gungnir_failover_phase_duration_seconds",
            "Failover phases: detection, election, promotion, routing.",
            ["group", "phase"],
            buckets=_FAILOVER_BUCKETS,
            registry=r,
        )
        self.actions = Counter(
            "gungnir_actions_executed_total",
            "Actions the runtime executed for the core, by kind.",
            ["group", "kind"],
            registry=r,
        )
        self.action_failures = Counter(
            "gungnir_actions_failed_total",
            "Actions that failed, by kind.",
            ["group", "kind"],
            registry=r,
        )
        self.peer_messages = Counter(
            "gungnir_peer_messages_total",
            "Messages between daemons, by message type and direction.",
            ["type", "direction"],
            registry=r,
        )
        self.peer_refused = Counter(
            "gungnir_peer_refused_total",
            "Connections or messages the peer endpoint refused, by reason.",
            ["reason"],
            registry=r,
        )
        self.peer_auth_refused = Gauge(
            "gungnir_peer_auth_refused",
            "1 while this peer answers but refuses this daemon's authentication (a wrong "
            "peer secret on one side): this daemon then has no voice in the group.",
            ["peer"],
            registry=r,
        )
        self.kube_errors = Counter(
            "gungnir_kubernetes_api_errors_total",
            "Failed Kubernetes API calls, by HTTP status code (or 'timeout'/'connection').",
            ["code"],
            registry=r,
        )
        self._node_outcomes: dict[tuple[str, str], set[str]] = {}
        self._leaders: dict[str, str] = {}
        # Counters exist at 0 from the start (issue 22): a series that appears only at its
        # first increment breaks rate() and alerts until then.
        for reason in PEER_REFUSALS:
            self.peer_refused.labels(reason)
        for cls in get_args(Message):
            for direction in PEER_DIRECTIONS:
                self.peer_messages.labels(cls.__name__, direction)

    def add_group(self, group: str) -> None:
        """Create the group's counter series at 0 (every reason, outcome and kind)."""
        for reason in FAILOVER_REASONS:
            for outcome in FAILOVER_OUTCOMES:
                self.failovers.labels(group, reason, outcome)
        for kind in ACTION_KINDS:
            self.actions.labels(group, kind)
            self.action_failures.labels(group, kind)

    # -- API for the runtime ---------------------------------------------------------------

    def observe_probe(
        self,
        group: str,
        node: str,
        *,
        up: bool,
        latency_seconds: float | None = None,
        role: str | None = None,
        offset: int | None = None,
        link_up: bool | None = None,
        lag_bytes: int | None = None,
        lag_seconds: float | None = None,
        outcome: str | None = None,
    ) -> None:
        """Record one probe of ``node``: count it and update the node's gauges.

        ``outcome`` is ``ok``/``error``/``timeout`` (default: ``ok`` when ``up``, else
        ``error``). Fields left ``None`` keep their last value.
        """
        outcome = outcome or ("ok" if up else "error")
        _one_of(outcome, ("ok", "error", "timeout"), "probe outcome")
        seen = self._node_outcomes.setdefault((group, node), set())
        if not seen:  # the node's first probe: every outcome's series from 0
            for each in ("ok", "error", "timeout"):
                self.node_probes.labels(group, node, each)
            seen.update(("ok", "error", "timeout"))
        self.node_probes.labels(group, node, outcome).inc()
        if latency_seconds is not None:
            self.node_probe_seconds.labels(group, node).set(latency_seconds)
        self.set_node(
            group,
            node,
            up=up,
            role=role,
            offset=offset,
            link_up=link_up,
            lag_bytes=lag_bytes,
            lag_seconds=lag_seconds,
        )

    def set_node(
        self,
        group: str,
        node: str,
        *,
        up: bool | None = None,
        role: str | None = None,
        offset: int | None = None,
        link_up: bool | None = None,
        lag_bytes: int | None = None,
        lag_seconds: float | None = None,
    ) -> None:
        """Set a node's gauges without counting a probe (for a scrape-time sync from the
        daemon's state). ``role`` takes Valkey's words (``master``/``slave``) or ours; a node
        that is down has role ``unknown``, so a dead old primary never counts as a primary."""
        if up is False and role is None:
            role = "unknown"
        if up is not None:
            self.node_up.labels(group, node).set(1 if up else 0)
        if role is not None:
            current = _ROLE_WORDS.get(role, "unknown")
            for value in ROLES:
                self.node_role.labels(group, node, value).set(1 if value == current else 0)
            if current == "primary":
                # A promoted replica: its replica-only series would freeze at their last
                # values (and GungnirReplicaLinkDown could fire forever).
                link_up = lag_bytes = lag_seconds = None
                for metric in (self.node_link_up, self.node_lag_bytes, self.node_lag_seconds):
                    with contextlib.suppress(KeyError):
                        metric.remove(group, node)
        if offset is not None:
            self.node_offset.labels(group, node).set(offset)
        if link_up is not None:
            self.node_link_up.labels(group, node).set(1 if link_up else 0)
        if lag_bytes is not None:
            self.node_lag_bytes.labels(group, node).set(lag_bytes)
        if lag_seconds is not None:
            self.node_lag_seconds.labels(group, node).set(lag_seconds)

    def set_safety(
        self,
        group: str,
        *,
        epoch: int | None = None,
        leader: str | None = None,
        is_leader: bool | None = None,
        quorum_reachable: bool | None = None,
        peers_reachable: int | None = None,
        peers_configured: int | None = None,
        nodes_answering_primary: int | None = None,
        fenced_nodes: int | None = None,
    ) -> None:
        """Update the group's safety gauges; ``None`` leaves a gauge as it was.
        ``leader=""`` means "no known leader" and removes the leader series."""
        if epoch is not None:
            self.epoch.labels(group).set(epoch)
        if leader is not None:
            old = self._leaders.pop(group, None)
            if old is not None:
                self.leader.remove(group, old)
            if leader:
                self.leader.labels(group, leader).set(1)
                self._leaders[group] = leader
        if is_leader is not None:
            self.is_leader.labels(group).set(1 if is_leader else 0)
        if quorum_reachable is not None:
            self.quorum_reachable.labels(group).set(1 if quorum_reachable else 0)
        if peers_reachable is not None:
            self.peers_reachable.labels(group).set(peers_reachable)
        if peers_configured is not None:
            self.peers_configured.labels(group).set(peers_configured)
        if nodes_answering_primary is not None:
            self.nodes_primary.labels(group).set(nodes_answering_primary)
        if fenced_nodes is not None:
            self.fenced_nodes.labels(group).set(fenced_nodes)

    def reconcile_succeeded(self, group: str, at: float | None = None) -> None:
        """A reconcile pass of ``group`` finished without error at Unix time ``at``."""
        when = self._clock() if at is None else at
        self.reconcile_ts.labels(group).set(when)
        self._reconcile_age.last[group] = when

    def failover_finished(
        self,
        group: str,
        *,
        reason: str,
        outcome: str,
        duration_seconds: float | None = None,
        phases: Mapping[str, float] | None = None,
    ) -> None:
        """Count a failover this daemon led; time it (and its phases) when it succeeded or
        got far enough to have durations."""
        _one_of(reason, FAILOVER_REASONS, "failover reason")
        _one_of(outcome, FAILOVER_OUTCOMES, "failover outcome")
        for phase in phases or {}:
            _one_of(phase, FAILOVER_PHASES, "failover phase")
        self.failovers.labels(group, reason, outcome).inc()
        if duration_seconds is not None:
            self.failover_seconds.labels(group).observe(duration_seconds)
        for phase, seconds in (phases or {}).items():
            self.failover_phase_seconds.labels(group, phase).observe(seconds)

    def action(self, group: str, kind: str, *, ok: bool) -> None:
        """One action executed for the core; ``ok=False`` also counts it as failed."""
        _one_of(kind, ACTION_KINDS, "action kind")
        self.actions.labels(group, kind).inc()
        if not ok:
            self.action_failures.labels(group, kind).inc()

    def peer_message(self, message_type: str, direction: str) -> None:
        """One message to or from another daemon; ``message_type`` is the protocol's name
        for it (a fixed set defined by the peer protocol)."""
        _one_of(direction, PEER_DIRECTIONS, "direction")
        self.peer_messages.labels(message_type, direction).inc()

    def peer_auth(self, peer: str, refused: bool) -> None:
        """Whether ``peer`` refuses our authentication now (exported at 0 from the start)."""
        self.peer_auth_refused.labels(peer).set(1 if refused else 0)

    def peer_refusal(self, reason: str) -> None:
        """The peer endpoint refused a caller: ``reason`` is one of :data:`PEER_REFUSALS`
        (an unknown name, a bad secret, a message before authenticating...)."""
        self.peer_refused.labels(_one_of(reason, PEER_REFUSALS, "peer refusal")).inc()

    def kube_api_error(self, code: int | str) -> None:
        """A failed Kubernetes API call: an HTTP status, or ``timeout``/``connection``."""
        text = str(code)
        if not (text.isdigit() and len(text) == 3) and text not in ("timeout", "connection"):
            text = "other"
        self.kube_errors.labels(text).inc()

    def forget_node(self, group: str, node: str) -> None:
        """Drop every series of a node that left the group (so dashboards do not show a
        ghost that is "down" forever)."""
        for metric in (
            self.node_up,
            self.node_offset,
            self.node_lag_bytes,
            self.node_lag_seconds,
            self.node_link_up,
            self.node_probe_seconds,
        ):
            metric.remove(group, node)
        for role in ROLES:
            self.node_role.remove(group, node, role)
        for outcome in self._node_outcomes.pop((group, node), ()):
            self.node_probes.remove(group, node, outcome)

    def forget_group(self, group: str, nodes: Iterable[str] = ()) -> None:
        """Drop the group's gauges (counters and histograms stay: they are history)."""
        for node in list(nodes) + [n for g, n in self._node_outcomes if g == group]:
            self.forget_node(group, node)
        for metric in (
            self.epoch,
            self.is_leader,
            self.quorum_reachable,
            self.peers_reachable,
            self.peers_configured,
            self.nodes_primary,
            self.fenced_nodes,
            self.reconcile_ts,
        ):
            metric.remove(group)
        self.set_safety(group, leader="")
        self._reconcile_age.last.pop(group, None)


# -- HTTP --------------------------------------------------------------------------------

#: A health check returns a bool, or (bool, reason), possibly from a coroutine.
Check = Callable[[], "bool | tuple[bool, str] | Awaitable[bool | tuple[bool, str]]"]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class MetricsHTTPServer:
    """``/metrics`` (Prometheus text or OpenMetrics by ``Accept``), ``/healthz`` (liveness)
    and ``/readyz`` (readiness) for Prometheus and the kubelet.

    Deliberately tiny: GET and HEAD only, one request per connection (``Connection:
    close``), a 16 KiB header limit and a read deadline so a slow or hostile client cannot
    hold a connection. ``ready`` and ``live`` are callbacks: a check that raises counts as
    failing (503), because an unknown state must not route traffic to this daemon.
    ``before_scrape`` runs before each ``/metrics`` answer, to copy state into gauges at
    scrape time (:meth:`Metrics.set_node` and friends); if it fails, the last values are
    served.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        ready: Check | None = None,
        live: Check | None = None,
        before_scrape: Callable[[], object] | None = None,
        header_timeout: float = 10.0,
        max_header_bytes: int = 16 * 1024,
    ) -> None:
        self.registry = registry
        self.ready = ready
        self.live = live
        self.before_scrape = before_scrape
        self.header_timeout = header_timeout
        self.max_header_bytes = max_header_bytes
        self._server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; return the bound port."""
        self._server = await asyncio.start_server(
            self._handle, host, port, limit=self.max_header_bytes, reuse_address=True
        )
        return int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            status, headers, body, head_only = await self._respond(reader)
        except Exception:  # a bug here must cost one response, never the server
            status, headers, body, head_only = 500, {}, b"internal error\n", False
        try:
            lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}"]
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            headers["Content-Length"] = str(len(body))
            headers["Connection"] = "close"
            lines += [f"{k}: {v}" for k, v in headers.items()]
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            if not head_only:
                writer.write(body)
            await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _respond(
        self, reader: asyncio.StreamReader
    ) -> tuple[int, dict[str, str], bytes, bool]:
        try:
            head = await asyncio.wait_for(
                reader.readuntil(b"\r\n\r\n"), timeout=self.header_timeout
            )
        except TimeoutError:
            return 408, {}, b"request timeout\n", False
        except asyncio.LimitOverrunError:
            return 431, {}, b"request header too large\n", False
        except asyncio.IncompleteReadError:
            return 400, {}, b"incomplete request\n", False
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return 400, {}, b"bad request line\n", False
        method, target, _ = parts
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                key, _, value = line.partition(":")
                headers[key.strip().lower()] = value.strip()
        if method not in ("GET", "HEAD"):
            return 405, {"Allow": "GET, HEAD"}, b"method not allowed\n", False
        head_only = method == "HEAD"
        path = target.split("?", 1)[0]
        if path == "/metrics":
            if self.before_scrape is not None:
                try:
                    self.before_scrape()
                except Exception:
                    log.exception("metrics: before_scrape failed; serving the last values")
            encoder, content_type = choose_encoder(headers.get("accept", ""))
            return 200, {"Content-Type": content_type}, encoder(self.registry), head_only
        if path in ("/healthz", "/livez"):
            return (*await _run_check(self.live), head_only)
        if path == "/readyz":
            return (*await _run_check(self.ready), head_only)
        if path == "/":
            return 200, {}, b"gungnir: /metrics /healthz /readyz\n", head_only
        return 404, {}, b"not found\n", head_only


async def _run_check(check: Check | None) -> tuple[int, dict[str, str], bytes]:
    if check is None:
        return 200, {}, b"ok\n"
    try:
        result: Any = check()
        if inspect.isawaitable(result):
            result = await result
    except Exception as exc:
        return 503, {}, f"check failed: {type(exc).__name__}: {exc}\n".encode()
    ok, reason = result if isinstance(result, tuple) else (bool(result), "")
    text = reason or ("ok" if ok else "not ready")
    return (200 if ok else 503), {}, (text + "\n").encode()
