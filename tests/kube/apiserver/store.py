"""The emulator's object store: resource kinds, objects, resourceVersions and watch history.

One global, monotonically increasing resourceVersion numbers every write, as etcd's revision
does; each write is appended to a bounded history that watches replay from. A watch that asks
for a version older than the history can reconstruct gets 410 Gone, which is exactly the case
a client must handle by relisting.
"""

from __future__ import annotations

import copy
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

Key = tuple[str, str]  # (namespace, name); namespace "" for cluster-scoped objects


class ApiError(Exception):
    """An error the server turns into a ``Status`` body with this code and reason."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}


@dataclass(frozen=True)
class Kind:
    """One served resource: where it lives in the URL space and how it behaves."""

    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status: bool = False
    schema: dict[str, Any] | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


BUILTIN_KINDS = (
    Kind("", "v1", "pods", "Pod", status=True),
    Kind("", "v1", "services", "Service", status=True),
    Kind("", "v1", "endpoints", "Endpoints"),
    Kind("", "v1", "events", "Event"),
    Kind("", "v1", "namespaces", "Namespace", namespaced=False, status=True),
    Kind("", "v1", "configmaps", "ConfigMap"),
    Kind("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice"),
    Kind("coordination.k8s.io", "v1", "leases", "Lease"),
    Kind("events.k8s.io", "v1", "events", "Event"),
    Kind(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
        namespaced=False,
        status=True,
    ),
)


@dataclass
class Change:
    """One write, as the history keeps it for watches."""

    rv: int
    group: str
    plural: str
    type: str  # ADDED | MODIFIED | DELETED
    old: dict[str, Any] | None
    new: dict[str, Any]
    at: float = field(default_factory=time.monotonic)  # when it was accepted (history checks)


def _without_rv(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return obj | {"metadata": meta}


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Store:
    """Thread-safe object store; every public method holds ``cond``."""

    history_size: int = 10_000
    cond: threading.Condition = field(default_factory=threading.Condition)
    rv: int = 1
    compacted: int = 1  # watches from a version below this get 410
    kinds: dict[tuple[str, str, str], Kind] = field(default_factory=dict)
    objects: dict[tuple[str, str], dict[Key, dict[str, Any]]] = field(default_factory=dict)
    history: deque[Change] = field(default_factory=deque)
    closed: bool = False

    def __post_init__(self) -> None:
        for k in BUILTIN_KINDS:
            self.kinds[(k.group, k.version, k.plural)] = k

    # -- kinds --------------------------------------------------------------------------

    def kind(self, group: str, version: str, plural: str) -> Kind:
        with self.cond:
            k = self.kinds.get((group, version, plural))
        if k is None:
            gv = f"{group}/{version}" if group else version
            raise ApiError(
                404, "NotFound", f"the server could not find the requested resource ({plural}.{gv})"
            )
        return k

    def _register_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        names = spec.get("names") or {}
        scope = spec.get("scope", "Namespaced")
        for ver in spec.get("versions") or []:
            if not ver.get("served", True):
                continue
            schema = ((ver.get("schema") or {}).get("openAPIV3Schema")) or None
            status = "status" in (ver.get("subresources") or {})
            k = Kind(
                spec.get("group", ""),
                ver["name"],
                names.get("plural", ""),
                names.get("kind", ""),
                namespaced=scope == "Namespaced",
                status=status,
                schema=schema,
            )
            self.kinds[(k.group, k.version, k.plural)] = k

    # -- objects ------------------------------------------------------------------------

    def _bucket(self, kind: Kind) -> dict[Key, dict[str, Any]]:
        return self.objects.setdefault((kind.group, kind.plural), {})

    def _record(
        self, kind: Kind, typ: str, old: dict[str, Any] | None, new: dict[str, Any]
    ) -> None:
        self.history.append(
            Change(self.rv, kind.group, kind.plural, typ, copy.deepcopy(old), copy.deepcopy(new))
        )
        while len(self.history) > self.history_size:
            dropped = self.history.popleft()
            self.compacted = dropped.rv + 1
        self.cond.notify_all()

    def get(self, kind: Kind, key: Key) -> dict[str, Any]:
        with self.cond:
            obj = self._bucket(kind).get(key)
            if obj is None:
                raise ApiError(
                    404,
                    "NotFound",
                    f'{kind.plural}{"." + kind.group if kind.group else ""} "{key[1]}" not found',
                    {"name": key[1], "group": kind.group, "kind": kind.plural},
                )
            return copy.deepcopy(obj)

    def list(self, kind: Kind, namespace: str | None) -> tuple[list[dict[str, Any]], int]:
        with self.cond:
            items = [
                copy.deepcopy(o)
                for (ns, _), o in sorted(self._bucket(kind).items())
                if namespace is None or ns == namespace
            ]
            return items, self.rv

    def create(self, kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
        with self.cond:
            meta = obj["metadata"]
            key = (meta.get("namespace", ""), meta["name"])
            bucket = self._bucket(kind)
            if key in bucket:
                raise ApiError(
                    409,
                    "AlreadyExists",
                    f'{kind.plural} "{key[1]}" already exists',
                    {"name": key[1], "group": kind.group, "kind": kind.plural},
                )
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_iso()
            meta.setdefault("generation", 1)
            bucket[key] = copy.deepcopy(obj)
            self._record(kind, "ADDED", None, obj)
            if kind.plural == "customresourcedefinitions":
                self._register_crd(obj)
            return copy.deepcopy(obj)

    def replace(
        self, kind: Kind, key: Key, obj: dict[str, Any], expect_rv: str | None
    ) -> dict[str, Any]:
        """Store ``obj`` at ``key``; 409 unless ``expect_rv`` is None or current."""
        with self.cond:
            bucket = self._bucket(kind)
            old = bucket.get(key)
            if old is None:
                raise ApiError(
                    404,
                    "NotFound",
                    f'{kind.plural} "{key[1]}" not found',
                    {"name": key[1], "group": kind.group, "kind": kind.plural},
                )
            if expect_rv is not None and expect_rv != old["metadata"]["resourceVersion"]:
                raise ApiError(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {kind.plural} "{key[1]}": the object '
                    "has been modified; please apply your changes to the latest version and "
                    "try again",
                    {"name": key[1], "group": kind.group, "kind": kind.plural},
                )
            meta = obj["metadata"]
            for fixed in ("uid", "creationTimestamp", "namespace", "name"):
                if fixed in old["metadata"]:
                    meta[fixed] = old["metadata"][fixed]
            generation = old["metadata"].get("generation", 1)
            if obj.get("spec") != old.get("spec"):
                generation += 1
            meta["generation"] = generation
            if _without_rv(obj) == _without_rv(old):
                return copy.deepcopy(old)  # a no-op write keeps its version, as etcd does
            self.rv += 1
            meta["resourceVersion"] = str(self.rv)
            bucket[key] = copy.deepcopy(obj)
            self._record(kind, "MODIFIED", old, obj)
            if kind.plural == "customresourcedefinitions":
                self._register_crd(obj)
            return copy.deepcopy(obj)

    def delete(self, kind: Kind, key: Key, expect_rv: str | None = None) -> dict[str, Any]:
        with self.cond:
            bucket = self._bucket(kind)
            old = bucket.get(key)
            if old is None:
                raise ApiError(
                    404,
                    "NotFound",
                    f'{kind.plural} "{key[1]}" not found',
                    {"name": key[1], "group": kind.group, "kind": kind.plural},
                )
            if expect_rv is not None and expect_rv != old["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", f"precondition failed for {key[1]}")
            del bucket[key]
            self.rv += 1
            gone = copy.deepcopy(old)
            gone["metadata"]["resourceVersion"] = str(self.rv)
            self._record(kind, "DELETED", old, gone)
            return gone

    # -- history ------------------------------------------------------------------------

    def changes_after(self, kind: Kind, rv: int) -> list[Change]:
        """Changes to ``kind`` newer than ``rv``; 410 if the history no longer reaches back."""
        with self.cond:
            if rv + 1 < self.compacted:
                raise ApiError(
                    410, "Expired", f"too old resource version: {rv} ({self.compacted - 1})"
                )
            return [
                c
                for c in self.history
                if c.rv > rv and c.group == kind.group and c.plural == kind.plural
            ]

    def compact(self) -> int:
        """Forget all history (etcd compaction); older watches will get 410."""
        with self.cond:
            self.history.clear()
            self.compacted = self.rv + 1
            return self.rv

    def close(self) -> None:
        with self.cond:
            self.closed = True
            self.cond.notify_all()
