"""Names and plain value types shared by the Kubernetes backend (no I/O here).

Objects from the API stay plain dicts inside the backend; what leaves it (to the runtime and
the core) is these small frozen values, so nothing outside ``kube/`` depends on the API's
shapes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

API_GROUP = "gungnir.io"
API_VERSION = "v1alpha1"
GROUP_PLURAL = "valkeygroups"
GROUP_KIND = "ValkeyGroup"

GROUP_LABEL = "gungnir.io/group"
ROLE_LABEL = "gungnir.io/role"
EPOCH_ANNOTATION = "gungnir.io/epoch"
LEADER_ANNOTATION = "gungnir.io/leader"
PRIMARY_ANNOTATION = "gungnir.io/primary"
SWITCHOVER_ANNOTATION = "gungnir.io/switchover"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "gungnir.io"

Role = Literal["primary", "replica", "fenced"]
ROLES: tuple[Role, ...] = ("primary", "replica", "fenced")


def epoch_of(annotations: Mapping[str, str] | None) -> int:
    """The epoch an object was last written in; -1 if none (or unreadable)."""
    try:
        return int((annotations or {}).get(EPOCH_ANNOTATION, "-1"))
    except ValueError:
        return -1


@dataclass(frozen=True)
class PodInfo:
    """What the backend knows about one pod, as of the last watch event."""

    name: str
    namespace: str
    uid: str
    ip: str | None
    node: str | None
    phase: str
    ready: bool
    resource_version: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    terminating: bool = False  # a deletionTimestamp is set: its IP is about to be released

    @classmethod
    def from_obj(cls, obj: Mapping[str, Any]) -> PodInfo:
        meta = obj.get("metadata") or {}
        spec = obj.get("spec") or {}
        status = obj.get("status") or {}
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or []
        )
        return cls(
            name=str(meta.get("name", "")),
            namespace=str(meta.get("namespace", "")),
            uid=str(meta.get("uid", "")),
            ip=status.get("podIP") or None,
            node=spec.get("nodeName") or None,
            phase=str(status.get("phase", "")),
            ready=ready,
            resource_version=str(meta.get("resourceVersion", "")),
            labels=dict(meta.get("labels") or {}),
            annotations=dict(meta.get("annotations") or {}),
            terminating=bool(meta.get("deletionTimestamp")),
        )

    @property
    def role(self) -> str | None:
        return self.labels.get(ROLE_LABEL)

    @property
    def epoch(self) -> int:
        return epoch_of(self.annotations)

    @property
    def deleting(self) -> bool:
        return self.phase in ("Succeeded", "Failed")


@dataclass(frozen=True)
class Peer:
    """One gungnir daemon pod, as a peer of this one."""

    name: str
    node: str | None
    ip: str | None
    ready: bool


@dataclass(frozen=True)
class PeerSet:
    """Voters (named in the group resource) and observers (every other daemon).

    ``missing`` lists voter names with no running daemon pod: they still count in the
    majority's denominator (membership is fixed, rule 9), they just cannot answer.
    """

    voters: tuple[Peer, ...]
    observers: tuple[Peer, ...]
    missing: tuple[str, ...]

    @property
    def voter_names(self) -> tuple[str, ...]:
        return tuple(sorted([p.name for p in self.voters] + list(self.missing)))


@dataclass(frozen=True)
class RoutingResult:
    """What :func:`publish_routing` did: ``written`` False when the slice already matched."""

    epoch: int
    primary: str | None
    address: str | None
    resource_version: str
    written: bool
