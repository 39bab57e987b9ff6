"""Kubernetes integration: discovery, atomic routing, labels, Events and ValkeyGroup resources.

The runtime uses :class:`KubeBackend`; everything else here is its parts. See
``docs/kubernetes.md`` for the deployment and for why routing lives in an EndpointSlice.
"""

from .api import ApiStats, KubeApi, RetryPolicy
from .backend import KubeBackend
from .errors import (
    ConflictingConfig,
    KubeConflict,
    KubeError,
    KubeForbidden,
    KubeGone,
    KubeInvalid,
    KubeNotFound,
    KubeThrottled,
    KubeUnavailable,
    StaleEpoch,
)
from .model import PeerSet, PodInfo, RoutingResult
from .spec import kube_options, spec_to_settings

__all__ = [
    "ApiStats",
    "ConflictingConfig",
    "KubeApi",
    "KubeBackend",
    "KubeConflict",
    "KubeError",
    "KubeForbidden",
    "KubeGone",
    "KubeInvalid",
    "KubeNotFound",
    "KubeThrottled",
    "KubeUnavailable",
    "PeerSet",
    "PodInfo",
    "RetryPolicy",
    "RoutingResult",
    "StaleEpoch",
    "kube_options",
    "spec_to_settings",
]
