"""The runtime's ``ConfigPublisher`` for Kubernetes, and Sentinel-style notices as Events.

The daemon spawns ``publish`` for every config the core publishes; this never holds up the
failover: routing goes to the background publisher (retried until the API takes it or a
newer epoch supersedes it), labels and status are best effort and reconciled again on the
next publish. Any daemon may publish the authoritative config: every write is checked
against the epoch already in the API, and an identical config writes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

from . import events as ev
from .backend import KubeBackend
from .errors import KubeError, StaleEpoch

log = logging.getLogger(__name__)


class _Config(Protocol):  # gungnir.core.Config, structurally
    epoch: int
    primary: str | None
    replicas: tuple[str, ...]


# Sentinel-style notice -> (Event reason, on the pod named first in the detail?, warning?)
NOTIFY_EVENTS: dict[str, tuple[str, bool, bool]] = {
    "+odown": (ev.DETECTED, False, True),
    "+elected-leader": (ev.ELECTED, False, False),
    "+fence-minority": (ev.FENCED, True, True),
    "+fence-notice": (ev.FENCED, True, True),
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
    """Implements the runtime's ``ConfigPublisher`` protocol on a :class:`KubeBackend`."""

    def __init__(self, backend: KubeBackend) -> None:
        self.backend = backend

    async def publish(self, group: str, config: _Config, addresses: Mapping[str, Any]) -> None:
        b = self.backend
        if group not in b.state:
            log.warning("config for unknown group %s not published to Kubernetes", group)
            return
        pods = b.pods(group)
        if config.primary is not None and config.primary not in pods:
            # Never route to "nobody" because discovery has not seen the pod (or the config
            # names nodes by something other than pod names): leave routing as it is.
            log.warning(
                "config %s of %s names %s, which is not a pod of the group; Kubernetes not updated",
                config.epoch,
                group,
                config.primary,
            )
            return
        # Routing first and without waiting: it is what clients follow.
        b.submit_routing(group, config.epoch, config.primary, b.identity)
        try:
            report = await b.reconcile_labels(
                group, config.epoch, roles_for(config, {n: p.role for n, p in pods.items()})
            )
            for name, err in report.errors.items():
                log.warning("label of %s/%s not updated: %s", group, name, err)
        except KubeError as err:
            log.warning("labels of %s not reconciled: %s", group, err)
        try:
            await b.record_config(
                group, epoch=config.epoch, primary=config.primary, leader=b.identity
            )
        except StaleEpoch:
            pass  # a newer config is already recorded
        except KubeError as err:
            log.warning("status of %s not recorded: %s", group, err)

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
