"""Kubernetes Events for every failover step, as ``kubectl describe`` users expect.

Events are best effort: :meth:`EventRecorder.emit` only queues (bounded; the oldest is
dropped and counted when full) and :meth:`run` posts them in the background, so a slow or
absent API never delays a failover. A repeat of the same (object, reason, message) within
the aggregation window bumps the existing Event's count instead of creating another.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .api import KubeApi
from .errors import KubeError, KubeNotFound

log = logging.getLogger(__name__)

# The failover steps (design.md, step 4) and the operator-facing outcomes.
DETECTED = "FailoverDetected"
ELECTED = "LeaderElected"
FENCED = "PrimaryFenced"
PROMOTED = "ReplicaPromoted"
REPOINTED = "ReplicaRepointed"
SWITCHOVER = "SwitchoverRequested"
INVALID_SPEC = "InvalidSpec"
ROUTING_FAILED = "RoutingNotPublished"


@dataclass(frozen=True)
class ObjectRef:
    """The object an Event is about."""

    kind: str
    name: str
    namespace: str
    uid: str = ""
    api_version: str = "v1"


def _stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class EventRecorder:
    """Queue and post Events; ``wall`` gives the wall-clock time for timestamps."""

    def __init__(
        self,
        api: KubeApi,
        *,
        component: str = "gungnir",
        instance: str = "",
        host: str = "",
        wall: Callable[[], float] = time.time,
        capacity: int = 256,
        aggregate_window: float = 600.0,
    ) -> None:
        self.api = api
        self.component = component
        self.instance = instance
        self.host = host
        self.wall = wall
        self.queue: deque[tuple[ObjectRef, str, str, str, float]] = deque()
        self.capacity = capacity
        self.aggregate_window = aggregate_window
        self.dropped = 0
        self.posted = 0
        self.failed = 0
        self._recent: dict[tuple[str, str, str, str], tuple[str, int, float]] = {}
        self._wake = asyncio.Event()

    def emit(self, ref: ObjectRef, reason: str, message: str, type_: str = "Normal") -> None:
        """Queue an Event; never blocks, never raises."""
        if len(self.queue) >= self.capacity:
            self.queue.popleft()
            self.dropped += 1
        self.queue.append((ref, reason, message, type_, self.wall()))
        self._wake.set()

    def _body(
        self, ref: ObjectRef, reason: str, message: str, type_: str, when: float
    ) -> dict[str, Any]:
        involved = {
            "kind": ref.kind,
            "name": ref.name,
            "namespace": ref.namespace,
            "apiVersion": ref.api_version,
        }
        if ref.uid:
            involved["uid"] = ref.uid
        return {
            "metadata": {"generateName": f"{ref.name}.", "namespace": ref.namespace},
            "involvedObject": involved,
            "reason": reason,
            "message": message[:1024],
            "type": type_,
            "source": {"component": self.component, "host": self.host},
            "reportingComponent": f"gungnir.io/{self.component}",
            "reportingInstance": self.instance,
            "firstTimestamp": _stamp(when),
            "lastTimestamp": _stamp(when),
            "count": 1,
        }

    async def _post(
        self, ref: ObjectRef, reason: str, message: str, type_: str, when: float
    ) -> None:
        key = (ref.namespace, ref.name, reason, message)
        seen = self._recent.get(key)
        if seen is not None and when - seen[2] < self.aggregate_window:
            name, count, first = seen
            try:
                await self.api.call(
                    "patch",
                    "events",
                    self.api.core.patch_namespaced_event,
                    name,
                    ref.namespace,
                    {"count": count + 1, "lastTimestamp": _stamp(when)},
                    _content_type="application/merge-patch+json",
                )
                self._recent[key] = (name, count + 1, first)
                return
            except KubeNotFound:
                pass  # expired or deleted: create a fresh one
        made = await self.api.call(
            "create",
            "events",
            self.api.core.create_namespaced_event,
            ref.namespace,
            self._body(ref, reason, message, type_, when),
        )
        self._recent[key] = (made["metadata"]["name"], 1, when)
        if len(self._recent) > 1024:
            oldest = min(self._recent, key=lambda k: self._recent[k][2])
            del self._recent[oldest]

    async def flush(self) -> None:
        """Post everything queued now (errors are logged and counted, not raised)."""
        while self.queue:
            item = self.queue.popleft()
            try:
                await self._post(*item)
                self.posted += 1
            except KubeError as err:
                self.failed += 1
                log.warning(
                    "event %s on %s/%s not posted: %s", item[1], item[0].kind, item[0].name, err
                )

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.flush()
