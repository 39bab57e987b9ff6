"""Which config may be written to Kubernetes, and what routing it asks for: pure decisions.

Routing, labels and status are reconciled by every daemon that holds a config, not only by
the leader of its failover (a leader that dies before its write lands would otherwise leave
the primary Service naming the old, fenced primary until the next failover). That is safe
only because every writer decides the same way, here, from values and nothing else:

* the config a daemon offers is the one with the highest epoch it knows (its core's);
* what the API already shows is summed up as one *published epoch*: the highest of the
  slice's, the status's and any pod's epoch annotation;
* a config older than the published epoch is never written, whatever it says (a daemon
  still holding its epoch-0 bootstrap config must not relabel a recreated old primary);
* the primary's pod is routable only while it runs with an IP and is not being deleted: a
  dead pod's IP can be handed to another pod, so routing names no address rather than it.

No I/O, no clock: the shell (:mod:`gungnir.kube.publisher`) executes what these return, and
the tests drive them directly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from .model import PodInfo


class ConfigLike(Protocol):  # gungnir.core.Config, structurally (read-only)
    @property
    def epoch(self) -> int: ...
    @property
    def primary(self) -> str | None: ...
    @property
    def replicas(self) -> tuple[str, ...]: ...


def supersedes(offered: ConfigLike, held: ConfigLike | None) -> bool:
    """Whether ``offered`` replaces ``held`` as the config to reconcile: a higher epoch
    always does, an equal one only if it says something different (the newer report of the
    same epoch, e.g. its voters), an older one never."""
    if held is None:
        return True
    if offered.epoch != held.epoch:
        return offered.epoch > held.epoch
    return (offered.primary, offered.replicas) != (held.primary, held.replicas) or (
        getattr(offered, "voters", ()) != getattr(held, "voters", ())
    )


def published_epoch(
    slice_epoch: int | None, status_epoch: int | None, pods: Iterable[PodInfo]
) -> int:
    """The highest epoch any object in the API was written in (-1: nothing yet)."""
    seen = [e for e in (slice_epoch, status_epoch) if isinstance(e, int)]
    seen += [p.epoch for p in pods]
    return max(seen, default=-1)


def may_write(config_epoch: int, published: int) -> bool:
    """Nothing is ever written from a config older than the one already published."""
    return config_epoch >= published


def routable(pod: PodInfo | None) -> bool:
    """Whether routing may send clients to ``pod``'s IP right now."""
    return pod is not None and bool(pod.ip) and pod.phase == "Running" and not pod.terminating


def route_for(
    config: ConfigLike, pods: Mapping[str, PodInfo], known: Iterable[str]
) -> tuple[bool, PodInfo | None]:
    """What the primary Service should show for ``config``: ``(write, pod)``.

    ``write`` is False when the config names no primary (a bootstrap config before the
    daemon has seen one: it says "not known yet", not "route to nobody") or something that
    is not (and never was) one of the group's pods: routing is then left as it is. Otherwise
    ``pod`` is the primary's pod (a placeholder with no IP when the pod is gone); the slice
    carries its address only when :func:`routable` says so.
    """
    name = config.primary
    if name is None:
        return False, None
    pod = pods.get(name)
    if pod is not None:
        return True, pod
    if name in set(known):  # a pod of the group that is gone for now (deleted, recreating)
        return True, PodInfo(name, "", "", None, None, "Missing", False, "")
    return False, None


def roles_for(config: ConfigLike, labelled: Mapping[str, str | None]) -> dict[str, str]:
    """Role labels for a config: its primary and replicas, and ``fenced`` for any other pod
    still labelled primary (a demoted old primary, until it rejoins as a replica)."""
    roles = {r: "replica" for r in config.replicas}
    if config.primary is not None:
        roles[config.primary] = "primary"
    for pod, role in labelled.items():
        if pod not in roles and role == "primary":
            roles[pod] = "fenced"
    return roles
