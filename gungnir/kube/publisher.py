"""The runtime's ``ConfigPublisher`` for Kubernetes, and Sentinel-style notices as Events.

The daemon spawns ``publish`` for every config the core publishes; this never holds up the
failover: routing goes to the background publisher (retried until the API takes it or a
newer epoch supersedes it), labels and status to a background loop that retries them until
they stick and re-applies them periodically. Any daemon may publish the authoritative
config: every write is checked against the epoch already in the API, and an identical
config writes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from . import events as ev
from .backend import KubeBackend
from .errors import KubeError, StaleEpoch

log = logging.getLogger(__name__)


class _Config(Protocol):  # gungnir.core.Config, structurally (read-only)
    @property
    def epoch(self) -> int: ...
    @property
    def primary(self) -> str | None: ...
    @property
    def replicas(self) -> tuple[str, ...]: ...


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


def roles_for(config: _Config, labelled: Mapping[str, str | None]) -> dict[str, str]:
    """Role labels for a config: its primary and replicas, and ``fenced`` for any other pod
    still labelled primary (a demoted old primary, until it rejoins as a replica)."""
    roles = {r: "replica" for r in config.replicas}
    if config.primary is not None:
        roles[config.primary] = "primary"
    for pod, role in labelled.items():
        if pod not in roles and role == "primary":
            roles[pod] = "fenced"
    return roles


class KubeConfigPublisher:
    """Implements the runtime's ``ConfigPublisher`` protocol on a :class:`KubeBackend`.

    :meth:`publish` returns at once. Routing goes to the backend's routing publisher; labels
    and status for the newest config per group are applied by :meth:`run` in the background,
    retried with capped backoff until they stick (so they converge when the API comes back,
    with no further config), and re-applied every ``reconcile_interval`` to correct drift.
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
        self.leaders: dict[str, str] = {}  # group -> leader named with the latest config
        self.failures = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def publish(
        self,
        group: str,
        config: _Config,
        addresses: Mapping[str, Any],
        leader: str | None = None,
    ) -> None:
        """``leader`` names the daemon that leads the config's epoch (default: this one,
        since the core publishes only the configs it led; ``""`` for the bootstrap config,
        which nobody led)."""
        b = self.backend
        who = b.identity if leader is None else leader
        if group not in b.state:
            log.warning("config for unknown group %s not published to Kubernetes", group)
            return
        if config.primary is not None and config.primary not in b.pods(group):
            # Never route to "nobody" because discovery has not seen the pod (or the config
            # names nodes by something other than pod names): leave routing as it is.
            log.warning(
                "config %s of %s names %s, which is not a pod of the group; Kubernetes not updated",
                config.epoch,
                group,
                config.primary,
            )
            return
        known = self.latest.get(group)
        if known is not None and known.epoch > config.epoch:
            return  # a late, older config: the newer one already owns Kubernetes
        # Routing first and without waiting: it is what clients follow.
        b.submit_routing(group, config.epoch, config.primary, who)
        self.latest[group] = config
        self.leaders[group] = who
        self.done.pop(group, None)
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
                leader=self.leaders.get(group, b.identity),
                voters=tuple(getattr(config, "voters", ()) or ()),
            )
        except StaleEpoch:
            pass  # a newer config is already recorded
        except KubeError as err:
            log.warning("status of %s not recorded: %s", group, err)
            ok = False
        return ok

    async def run(self) -> None:
        """Apply the newest config of every group until it sticks; then keep reconciling."""
        streak = 0
        while True:
            pending = {g: c for g, c in self.latest.items() if self.done.get(g) != c.epoch}
            for group, config in pending.items():
                if await self._apply(group, config) and self.latest.get(group) is config:
                    self.done[group] = config.epoch
            if any(self.done.get(g) != c.epoch for g, c in self.latest.items()):
                self.failures += 1
                streak += 1
                delay = min(self.backoff_cap, self.backoff_base * 2.0 ** min(streak, 10))
            else:
                streak = 0
                delay = self.reconcile_interval
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                if not streak:  # periodic reconcile: re-apply everything to fix drift
                    self.done.clear()

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
