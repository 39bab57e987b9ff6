"""The runtime's ``ConfigPublisher`` for Kubernetes, and Sentinel-style notices as Events.

Every daemon hands over every config its core holds (``adopt``, from the daemon's
``on_config`` hook; ``publish`` for the configs it led), and reconciles the API from the
highest: a leader that dies before its writes land leaves the job to any daemon that holds
its config. This never holds up the failover: routing goes to the background publisher
(retried until the API takes it or a newer epoch supersedes it), labels and status to a
background loop that retries them until they stick, again on every change of a pod's IP,
phase or labels, and periodically. What may be written is decided by the pure functions of
:mod:`gungnir.kube.authority` (nothing from a config older than the one published); every
write is also checked against the epoch in the API, and an identical config writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from . import events as ev
from .authority import (
    ConfigLike,
    may_write,
    published_epoch,
    roles_for,
    routable,
    route_for,
    supersedes,
)
from .backend import KubeBackend
from .errors import KubeError, StaleEpoch
from .model import PodInfo

log = logging.getLogger(__name__)


_Config = ConfigLike  # gungnir.core.Config, structurally (read-only)

# Sentinel-style notice -> (Event reason, on the pod named first in the detail?, warning?)
NOTIFY_EVENTS: dict[str, tuple[str, bool, bool]] = {
    "+odown": (ev.DETECTED, False, True),
    "+elected-leader": (ev.ELECTED, False, False),
    "+fence-minority": (ev.FENCED, True, True),
    "+fence-notice": (ev.FENCED, True, True),
    "+fence-empty-restart": (ev.FENCED, True, True),
    "+promoted-slave": (ev.PROMOTED, True, False),
    "+convert-to-slave": (ev.REPOINTED, True, False),
    "+switch-master": ("PrimaryChanged", False, False),
    "-failover-abort": ("FailoverAborted", False, True),
    "-failover-abort-no-good-slave": ("FailoverAborted", False, True),
    "-failover-abort-not-elected": ("FailoverAborted", False, True),
    "-switchover-refused": ("SwitchoverRefused", False, True),
}


class KubeConfigPublisher:
    """Implements the runtime's ``ConfigPublisher`` protocol on a :class:`KubeBackend`.

    Every daemon reconciles, not only a failover's leader: :meth:`adopt` takes each config
    the daemon's core holds (the ``on_config`` hook) and :meth:`publish` the ones it led.
    The highest of them is reconciled, if :func:`authority.may_write` allows it against the
    epoch already published: routing at once (the backend's routing publisher), labels and
    status by :meth:`run` in the background, retried with capped backoff until they stick.
    A change of a pod's IP, phase or labels (the pod watch) reconciles again, and so does
    every ``reconcile_interval``, to correct drift.
    """

    def __init__(
        self,
        backend: KubeBackend,
        *,
        reconcile_interval: float = 30.0,
        backoff_base: float = 0.1,
        backoff_cap: float = 5.0,
    ) -> None:
        self.backend = backend
        self.reconcile_interval = reconcile_interval
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.latest: dict[str, _Config] = {}
        self.done: dict[str, int] = {}  # group -> epoch whose labels and status are applied
        self.leaders: dict[str, str] = {}  # group -> leader of the latest config ("": unknown)
        self.known_pods: dict[str, set[str]] = {}  # every pod name seen in the group
        self.seen: dict[str, tuple[object, object]] = {}  # group -> (routing, labels) as seen
        self.failures = 0
        self.passes = 0  # reconcile passes completed (tests wait on it)
        self.changes: dict[str, int] = {}  # group -> changes seen (a pass in flight is stale)
        self.stale = 0  # configs not written because a newer epoch is published
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        backend.subscribe(self._changed)
        backend.publisher.listeners.append(self._routed)

    async def publish(
        self,
        group: str,
        config: _Config,
        addresses: Mapping[str, Any],
        leader: str | None = None,
    ) -> None:
        """A config this daemon led: ``leader`` names the daemon that leads its epoch
        (default: this one; ``""`` for a config nobody led, such as the bootstrap one)."""
        self.adopt(group, config, self.backend.identity if leader is None else leader)

    def adopt(self, group: str, config: _Config, leader: str = "") -> None:
        """Reconcile Kubernetes from ``config`` if it is the highest this daemon knows.
        Returns at once; never waits on the API."""
        b = self.backend
        if group not in b.state:
            log.warning("config for unknown group %s not published to Kubernetes", group)
            return
        held = self.latest.get(group)
        if not supersedes(config, held):
            if held is not None and held.epoch == config.epoch and leader:
                self.leaders[group] = leader  # the leader's own report names it
                self._route(group)  # a write still pending carries the name too
            return
        pods = b.pods(group)
        if not route_for(config, pods, self._known(group, pods))[0]:
            # Never route to "nobody" because discovery has not seen the pod (or the config
            # names nodes by something other than pod names): leave routing as it is.
            if config.primary is None:
                return  # a bootstrap config before any primary was seen: nothing to say
            log.warning(
                "config %s of %s names %s, which is not a pod of the group; Kubernetes not updated",
                config.epoch,
                group,
                config.primary,
            )
            return
        self.latest[group] = config
        if leader or held is None or held.epoch != config.epoch:
            self.leaders[group] = leader
        self._route(group)
        self._invalidate(group)

    def _known(self, group: str, pods: Mapping[str, PodInfo]) -> set[str]:
        known = self.known_pods.setdefault(group, set())
        known.update(pods)
        res = self.backend.publisher.published.get(group)
        if res is not None and res.primary:
            known.add(res.primary)
        return known

    def published_epoch(self, group: str) -> int:
        """The highest epoch this daemon has seen written to the API for ``group``."""
        b = self.backend
        res = b.publisher.published.get(group)
        st = b.state.get(group)
        status = (st.obj.get("status") or {}) if st is not None else {}
        slice_epoch = max(
            res.epoch if res is not None else -1, b.publisher.seen_epoch.get(group, -1)
        )
        return published_epoch(slice_epoch, status.get("epoch"), b.pods(group).values())

    def _route(self, group: str) -> None:
        """Submit the routing the latest config asks for (the API's epoch check decides)."""
        config = self.latest[group]
        pods = self.backend.pods(group)
        write, pod = route_for(config, pods, self._known(group, pods))
        if not write or not may_write(config.epoch, self.published_epoch(group)):
            return
        self.backend.publisher.submit(group, config.epoch, pod, self.leaders.get(group, ""))

    def _changed(self, group: str, what: str) -> None:
        """A pod changed: reconcile again if what routing or labels depend on moved."""
        if what != "pods" or group not in self.latest or group not in self.backend.state:
            return
        config = self.latest[group]
        pods = self.backend.pods(group)
        prim = pods.get(config.primary) if config.primary else None
        where = (prim.uid, prim.ip, routable(prim)) if prim is not None else None
        labels = tuple(sorted((n, p.role, p.epoch) for n, p in pods.items()))
        before = self.seen.get(group)
        self.seen[group] = (where, labels)
        if before is None or before[0] != where:
            self._route(group)
        if before is None or before[1] != labels:
            self._invalidate(group)

    def _invalidate(self, group: str) -> None:
        """Labels and status of ``group`` must be applied again (a pass running now read
        the old state, so it must not mark them done)."""
        self.done.pop(group, None)
        self.changes[group] = self.changes.get(group, 0) + 1
        self._kick()

    def _routed(self, group: str) -> None:
        """Routing for ``group`` settled: its labels and status may go now."""
        if group in self.latest and self.done.get(group) != self.latest[group].epoch:
            self._kick()

    def _kick(self) -> None:
        self._wake.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self.run())

    async def _apply(self, group: str, config: _Config) -> bool:
        """Labels, then status, for ``config``; True when both are in place."""
        b = self.backend
        if group not in b.state:
            return True
        ok = True
        pods = b.pods(group)
        try:
            report = await b.reconcile_labels(
                group, config.epoch, roles_for(config, {n: p.role for n, p in pods.items()})
            )
            for name, err in report.errors.items():
                log.warning("label of %s/%s not updated: %s", group, name, err)
            ok = report.clean
        except KubeError as err:
            log.warning("labels of %s not reconciled: %s", group, err)
            ok = False
        try:
            await b.record_config(
                group,
                epoch=config.epoch,
                primary=config.primary,
                leader=self.leaders.get(group, ""),
                voters=tuple(getattr(config, "voters", ()) or ()),
            )
        except StaleEpoch:
            pass  # a newer config is already recorded
        except KubeError as err:
            log.warning("status of %s not recorded: %s", group, err)
            ok = False
        return ok

    async def _pass(self) -> None:
        """Apply the latest config of every group not yet in place, if it may be written."""
        for group, config in list(self.latest.items()):
            if self.done.get(group) == config.epoch:
                continue
            if group in self.backend.publisher.pending:
                continue  # routing first: its read of the slice may show a newer epoch
            if not may_write(config.epoch, self.published_epoch(group)):
                self.stale += 1  # a newer config is published: ours must not touch it
                self.done[group] = config.epoch
                continue
            mark = self.changes.get(group, 0)
            if await self._apply(group, config) and self.changes.get(group, 0) == mark:
                self.done[group] = config.epoch

    async def run(self) -> None:
        """Apply the newest config of every group until it sticks; then keep reconciling."""
        streak = 0
        while True:
            self._wake.clear()  # before the pass: a change during it wakes the next one
            await self._pass()
            self.passes += 1
            if any(self.done.get(g) != c.epoch for g, c in self.latest.items()):
                self.failures += 1
                streak += 1
                delay = min(self.backoff_cap, self.backoff_base * 2.0 ** min(streak, 10))
            else:
                streak = 0
                delay = self.reconcile_interval
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                if not streak:  # periodic reconcile: re-apply everything to fix drift
                    self.done.clear()
                    for group in list(self.latest):
                        if group in self.backend.state:
                            self._route(group)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def notify(self, group: str, event: str, detail: str) -> None:
        """Turn a core ``Notify`` into an Event (on the pod it names, when it names one)."""
        spec = NOTIFY_EVENTS.get(event)
        if spec is None or group not in self.backend.state:
            return
        reason, on_pod, warning = spec
        pod = detail.split()[0] if on_pod and detail else None
        if pod is not None and pod not in self.backend.pods(group):
            pod = None
        self.backend.event(group, reason, f"{event} {detail}".strip(), pod=pod, warning=warning)
