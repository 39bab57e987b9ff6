"""Discovery: the group's Valkey pods and the daemon peers, followed by watches.

Addresses are never remembered: every lookup reads the informer's cache, which the watch
keeps current, so a pod that restarts with a new IP is found at its new address as soon as
the kubelet reports it (design.md, "discovery follows the pods").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from .api import KubeApi
from .informer import Informer, Obj
from .model import GROUP_LABEL, Peer, PeerSet, PodInfo

PodHandler = Callable[[str, PodInfo], None]


class GroupPods:
    """The Valkey pods of one group (``gungnir.io/group=<name>``, or an explicit selector)."""

    def __init__(
        self,
        api: KubeApi,
        group: str,
        selector: str | None = None,
        namespace: str | None = None,
        watch_timeout: int = 60,
    ) -> None:
        self.group = group
        self.selector = selector or f"{GROUP_LABEL}={group}"
        self.informer = Informer(
            api,
            "pods",
            api.core.list_namespaced_pod,
            namespace or api.namespace,
            label_selector=self.selector,
            watch_timeout=watch_timeout,
        )

    def subscribe(self, handler: PodHandler) -> None:
        """``handler(event_type, pod)`` on every change, from the event loop."""
        self.informer.subscribe(lambda typ, obj: handler(typ, PodInfo.from_obj(obj)))

    def pods(self) -> dict[str, PodInfo]:
        """The current pods by name (no API call; as fresh as the watch)."""
        return {n: PodInfo.from_obj(o) for n, o in self.informer.objects.items()}

    def get(self, name: str) -> PodInfo | None:
        obj = self.informer.objects.get(name)
        return PodInfo.from_obj(obj) if obj is not None else None

    def address(self, name: str) -> str | None:
        pod = self.get(name)
        return pod.ip if pod is not None else None


def peer_set(daemon_pods: Iterable[Obj], voters: Iterable[str]) -> PeerSet:
    """Split daemon pods into voters and observers.

    A voter is named by node name (a DaemonSet has one pod per node, and the node name
    survives pod restarts) or by pod name. Pods that are not running do not answer, so they
    are reported under ``missing`` rather than as peers.
    """
    wanted = list(dict.fromkeys(voters))
    pods = [PodInfo.from_obj(o) for o in daemon_pods]
    live = [p for p in pods if p.phase == "Running"]
    chosen: dict[str, PodInfo] = {}
    for name in wanted:
        match = next((p for p in live if p.name == name), None) or next(
            (p for p in live if p.node == name), None
        )
        if match is not None:
            chosen[name] = match
    taken = {p.name for p in chosen.values()}

    def peer(p: PodInfo) -> Peer:
        return Peer(p.name, p.node, p.ip, p.ready)

    return PeerSet(
        voters=tuple(peer(chosen[n]) for n in wanted if n in chosen),
        observers=tuple(peer(p) for p in sorted(live, key=lambda p: p.name) if p.name not in taken),
        missing=tuple(n for n in wanted if n not in chosen),
    )


class DaemonPeers:
    """The gungnir DaemonSet's pods (by the DaemonSet's selector), followed by a watch."""

    def __init__(
        self, api: KubeApi, selector: str, namespace: str | None = None, watch_timeout: int = 60
    ) -> None:
        self.informer = Informer(
            api,
            "pods",
            api.core.list_namespaced_pod,
            namespace or api.namespace,
            label_selector=selector,
            watch_timeout=watch_timeout,
        )

    def peers(self, voters: Iterable[str]) -> PeerSet:
        return peer_set(self.informer.objects.values(), voters)
