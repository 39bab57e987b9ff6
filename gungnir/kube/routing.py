"""Atomic, epoch-stamped routing: the primary Service's EndpointSlice.

The primary Service has no selector; its one EndpointSlice (``<service>-gungnir``, labelled
``kubernetes.io/service-name``) is written by any daemon that holds the highest config
(:mod:`gungnir.kube.publisher`). That single object carries both the
address clients are sent to and the ``gungnir.io/epoch`` annotation, so one PUT moves both,
checked against the resourceVersion that was read:

* two writers that read the same version: the API server accepts one and answers 409 to the
  other, which re-reads;
* after the re-read, a writer whose epoch is older than the one on the slice stands down
  (:class:`StaleEpoch`) instead of overwriting: the highest epoch wins, whatever the order;
* the slice is replaced whole, with exactly one endpoint (or none while the old primary is
  fenced and the new one not yet promoted), so no reader can ever see two pods in it.

kube-proxy and most gateways read EndpointSlices directly; writing the legacy Endpoints
object instead would hand atomicity to the mirroring controller's second, asynchronous copy.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .api import KubeApi
from .authority import routable
from .errors import ConflictingConfig, KubeConflict, KubeError, KubeNotFound, StaleEpoch
from .model import (
    EPOCH_ANNOTATION,
    GROUP_LABEL,
    LEADER_ANNOTATION,
    MANAGED_BY,
    MANAGED_BY_LABEL,
    PRIMARY_ANNOTATION,
    SERVICE_NAME_LABEL,
    PodInfo,
    RoutingResult,
    epoch_of,
)

log = logging.getLogger(__name__)


def slice_name(service: str) -> str:
    return f"{service}-gungnir"


def build_slice(
    namespace: str,
    service: str,
    group: str,
    epoch: int,
    primary: PodInfo | None,
    leader: str,
    port: int,
    port_name: str = "valkey",
) -> dict[str, Any]:
    """The whole EndpointSlice for one routing decision (at most one endpoint, and none
    while the primary's pod is not running with an IP: :func:`authority.routable`)."""
    endpoints = []
    address_type = "IPv4"
    if primary is not None and primary.ip and routable(primary):
        address_type = "IPv6" if ":" in primary.ip else "IPv4"
        ep: dict[str, Any] = {
            "addresses": [primary.ip],
            "conditions": {"ready": True, "serving": True, "terminating": False},
            "targetRef": {
                "kind": "Pod",
                "namespace": primary.namespace or namespace,
                "name": primary.name,
                "uid": primary.uid,
            },
        }
        if primary.node:
            ep["nodeName"] = primary.node
        endpoints.append(ep)
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": slice_name(service),
            "namespace": namespace,
            "labels": {
                SERVICE_NAME_LABEL: service,
                MANAGED_BY_LABEL: MANAGED_BY,
                GROUP_LABEL: group,
            },
            "annotations": {
                EPOCH_ANNOTATION: str(epoch),
                LEADER_ANNOTATION: leader,
                PRIMARY_ANNOTATION: primary.name if primary is not None else "",
            },
        },
        "addressType": address_type,
        "endpoints": endpoints,
        "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
    }


def _published(obj: dict[str, Any]) -> tuple[int, str, str | None]:
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    eps = obj.get("endpoints") or []
    addr = (eps[0].get("addresses") or [None])[0] if eps else None
    return epoch_of(ann), ann.get(PRIMARY_ANNOTATION, ""), addr


async def publish_routing(
    api: KubeApi,
    *,
    group: str,
    service: str,
    epoch: int,
    primary: PodInfo | None,
    leader: str,
    port: int = 6379,
    namespace: str | None = None,
    max_conflicts: int = 5,
) -> RoutingResult:
    """Point the primary Service at ``primary`` for ``epoch``, atomically (see module doc).

    Raises :class:`StaleEpoch` if a newer epoch is already published,
    :class:`ConflictingConfig` if the same epoch names another primary, and the API's typed
    errors otherwise (``KubeConflict`` only after ``max_conflicts`` lost races in a row).
    """
    ns = namespace or api.namespace
    name = slice_name(service)
    want = build_slice(ns, service, group, epoch, primary, leader, port)
    want_primary = primary.name if primary is not None else ""
    want_addr = primary.ip if primary is not None and routable(primary) else None
    for _ in range(max_conflicts):
        try:
            current = await api.call(
                "get", "endpointslices", api.discovery.read_namespaced_endpoint_slice, name, ns
            )
        except KubeNotFound:
            try:
                made = await api.call(
                    "create",
                    "endpointslices",
                    api.discovery.create_namespaced_endpoint_slice,
                    ns,
                    want,
                )
            except KubeConflict:
                continue  # another writer created it first: read theirs and decide again
            return RoutingResult(
                epoch, want_primary or None, want_addr, made["metadata"]["resourceVersion"], True
            )
        have_epoch, have_primary, have_addr = _published(current)
        if have_epoch > epoch:
            raise StaleEpoch(
                f"routing for {group}: epoch {have_epoch} is published, ours is {epoch}",
                epoch,
                have_epoch,
            )
        if have_epoch == epoch and have_primary and want_primary and have_primary != want_primary:
            raise ConflictingConfig(
                f"routing for {group}: epoch {epoch} already names "
                f"{have_primary}, not {want_primary}"
            )
        rv = current["metadata"]["resourceVersion"]
        have_leader = ((current.get("metadata") or {}).get("annotations") or {}).get(
            LEADER_ANNOTATION
        )
        if not leader and have_epoch == epoch and have_leader:
            # A daemon that did not lead this epoch keeps the leader's name on the slice.
            want["metadata"]["annotations"][LEADER_ANNOTATION] = have_leader
        if (have_epoch, have_primary, have_addr) == (
            epoch,
            want_primary,
            want_addr,
        ) and current.get("endpoints") == want["endpoints"]:
            return RoutingResult(epoch, want_primary or None, want_addr, rv, False)
        want["metadata"]["resourceVersion"] = rv
        try:
            done = await api.call(
                "update",
                "endpointslices",
                api.discovery.replace_namespaced_endpoint_slice,
                name,
                ns,
                want,
            )
        except KubeConflict:
            continue  # someone wrote since we read: re-read, the epoch check decides
        return RoutingResult(
            epoch, want_primary or None, want_addr, done["metadata"]["resourceVersion"], True
        )
    raise KubeConflict(f"routing for {group}: lost {max_conflicts} races in a row", 409, "Conflict")


@dataclass
class _Pending:
    epoch: int
    primary: PodInfo | None
    leader: str


@dataclass
class RoutingPublisher:
    """Publishes routing in the background so the data plane never waits on the API.

        :meth:`submit` returns at once; the newest decision per group (by epoch) replaces any
        older one still pending. :meth:`run` writes pending decisions, retrying API trouble with
        capped backoff until the API answers: routing converges when it comes back. A decision
        refused as stale is dropped (a newer config owns routing), counted, and its epoch kept in
    ``seen_epoch`` so the labels and status of the older config are not written either.
    """

    api: KubeApi
    service_for: dict[str, str]
    port: int = 6379
    port_for: dict[str, int] = field(default_factory=dict)
    backoff_base: float = 0.05
    backoff_cap: float = 2.0
    pending: dict[str, _Pending] = field(default_factory=dict)
    published: dict[str, RoutingResult] = field(default_factory=dict)
    seen_epoch: dict[str, int] = field(default_factory=dict)  # newest epoch a refusal showed
    stale: int = 0
    failures: int = 0
    last_error: KubeError | None = None
    #: called with the group after each decision is settled (written, matched or refused)
    listeners: list[Callable[[str], None]] = field(default_factory=list)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)

    def submit(self, group: str, epoch: int, primary: PodInfo | None, leader: str) -> None:
        cur = self.pending.get(group)
        if cur is None or epoch >= cur.epoch:
            self.pending[group] = _Pending(epoch, primary, leader)
            self._wake.set()

    def converged(self, group: str, epoch: int, primary: str | None) -> bool:
        res = self.published.get(group)
        return (
            group not in self.pending
            and res is not None
            and (res.epoch, res.primary) == (epoch, primary)
        )

    async def run(self) -> None:
        streak = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            progress = False
            for group, job in list(self.pending.items()):
                if group not in self.service_for:  # the group's resource was deleted
                    del self.pending[group]
                    continue
                try:
                    res = await publish_routing(
                        self.api,
                        group=group,
                        service=self.service_for[group],
                        epoch=job.epoch,
                        primary=job.primary,
                        leader=job.leader,
                        port=self.port_for.get(group, self.port),
                    )
                except (StaleEpoch, ConflictingConfig) as err:
                    log.warning("routing for %s refused: %s", group, err)
                    if isinstance(err, StaleEpoch):
                        self.seen_epoch[group] = max(self.seen_epoch.get(group, -1), err.theirs)
                    self.stale += 1
                    self.last_error = err
                    res = None
                except KubeError as err:
                    self.failures += 1
                    self.last_error = err
                    log.warning("routing for %s not published yet: %s", group, err)
                    continue
                if self.pending.get(group) is job:
                    del self.pending[group]
                if res is not None:
                    self.published[group] = res
                progress = True
                for listener in list(self.listeners):
                    listener(group)
            if self.pending:
                streak = 0 if progress else streak + 1
                await self.api.sleep(min(self.backoff_cap, self.backoff_base * 2.0**streak))
                self._wake.set()
            else:
                streak = 0
