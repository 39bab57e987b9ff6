"""The Kubernetes backend as the runtime sees it: one object, sync reads, async writes.

Reads (groups, settings, pods, peers, a pending switchover) come from watch caches and never
touch the network, so the failover path never waits on the API. Writes are async; the ones
the data plane triggers (routing, Events) also have fire-and-forget forms (``submit_routing``,
``event``) that background tasks carry out with retries, so routing catches up as soon as the
API answers again. Every API outcome is counted in ``stats`` for the metrics layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import groups as groups_mod
from . import spec as spec_mod
from .api import ApiStats, KubeApi
from .discovery import DaemonPeers, GroupPods
from .errors import KubeError, KubeNotFound
from .events import EventRecorder, ObjectRef
from .informer import Informer
from .labels import LabelReport, reconcile_roles
from .model import API_GROUP, API_VERSION, GROUP_KIND, GROUP_PLURAL, PeerSet, PodInfo, RoutingResult
from .routing import RoutingPublisher, publish_routing
from .spec import desired_voters

log = logging.getLogger(__name__)

ChangeHandler = Callable[[str, str], None]  # (group, "group" | "pods" | "peers")


@dataclass
class GroupState:
    """One ValkeyGroup as last seen: its settings, the problems with its spec, its pods."""

    name: str
    obj: dict[str, Any]
    settings: dict[str, Any]
    options: dict[str, Any]
    problems: list[str]
    pods: GroupPods | None = None
    task: asyncio.Task[None] | None = None
    reported_generation: Any = field(default=None)


class KubeBackend:
    """Discovery, routing, labels, Events and the ValkeyGroup resources of one namespace.

    ``identity`` is this daemon's pod name (for Events and the ``leader`` annotation);
    ``daemon_selector`` selects the DaemonSet's pods (the peers); ``wall`` gives wall-clock
    time for timestamps (the API's times are wall-clock; the core's clock is not).
    """

    def __init__(
        self,
        api: KubeApi,
        *,
        identity: str,
        daemon_selector: str,
        node: str = "",
        wall: Callable[[], float] = time.time,
        watch_timeout: int = 60,
    ) -> None:
        self.api = api
        self.identity = identity
        self.wall = wall
        self.watch_timeout = watch_timeout
        self.groups_informer = Informer(
            api,
            GROUP_PLURAL,
            api.custom.list_namespaced_custom_object,
            API_GROUP,
            API_VERSION,
            api.namespace,
            GROUP_PLURAL,
            watch_timeout=watch_timeout,
        )
        self.groups_informer.subscribe(self._on_group)
        self.daemons = DaemonPeers(api, daemon_selector, watch_timeout=watch_timeout)
        self.daemons.informer.subscribe(lambda typ, obj: self._notify("*", "peers"))
        self.events = EventRecorder(api, instance=identity, host=node, wall=wall)
        self.publisher = RoutingPublisher(api, {})
        self.state: dict[str, GroupState] = {}
        self.handlers: list[ChangeHandler] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._report_queue: asyncio.Queue[str] = asyncio.Queue()
        self._report_failures = 0
        self._retries: set[asyncio.Task[None]] = set()

    @property
    def stats(self) -> ApiStats:
        return self.api.stats

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self, sync_within: float = 10.0) -> None:
        """Start following the API; return once the first lists are in."""
        spawn = asyncio.get_running_loop().create_task
        self._tasks = [
            spawn(self.groups_informer.run()),
            spawn(self.daemons.informer.run()),
            spawn(self.publisher.run()),
            spawn(self.events.run()),
            spawn(self._reporter()),
        ]
        await asyncio.wait_for(
            asyncio.gather(self.groups_informer.synced.wait(), self.daemons.informer.synced.wait()),
            sync_within,
        )
        await asyncio.wait_for(
            asyncio.gather(*[g.pods.informer.synced.wait() for g in self.state.values() if g.pods]),
            sync_within,
        )

    async def close(self) -> None:
        informers = [self.groups_informer, self.daemons.informer] + [
            g.pods.informer for g in self.state.values() if g.pods
        ]
        for inf in informers:
            inf.stop()
        tasks = self._tasks + [g.task for g in self.state.values() if g.task] + list(self._retries)
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self.api.close()

    def subscribe(self, handler: ChangeHandler) -> None:
        """``handler(group, what)`` after a group's resource, pods or the peers change."""
        self.handlers.append(handler)

    def _notify(self, group: str, what: str) -> None:
        for h in list(self.handlers):
            try:
                h(group, what)
            except Exception:
                log.exception("change handler failed")

    def _on_group(self, typ: str, obj: dict[str, Any]) -> None:
        name = obj["metadata"]["name"]
        if typ == "DELETED":
            st = self.state.pop(name, None)
            if st is not None and st.pods is not None:
                st.pods.informer.stop()
                if st.task is not None:
                    st.task.cancel()
            self.publisher.service_for.pop(name, None)
            self._notify(name, "group")
            return
        spec = obj.get("spec") or {}
        st = self.state.get(name)
        known = tuple(st.pods.informer.objects) if st is not None and st.pods else ()
        settings, problems = spec_mod.spec_to_settings(name, spec, known)
        try:
            options = spec_mod.kube_options(name, spec)
        except ValueError:  # already among the problems
            options = spec_mod.kube_options(name, {})
        if st is None:
            st = GroupState(name, obj, settings, options, problems)
            self.state[name] = st
        else:
            st.obj = obj
            if not problems:  # a bad edit keeps the last good settings
                st.settings, st.options = settings, options
            st.problems = problems
        self.publisher.service_for[name] = st.options["primary_service"]
        self.publisher.port_for[name] = st.options["port"]
        if st.pods is None or st.pods.selector != st.options["selector"]:
            if st.pods is not None:
                st.pods.informer.stop()
                if st.task is not None:
                    st.task.cancel()
            st.pods = GroupPods(
                self.api, name, st.options["selector"], watch_timeout=self.watch_timeout
            )
            st.pods.subscribe(functools.partial(self._pods_changed, name))
            st.task = asyncio.get_running_loop().create_task(st.pods.informer.run())
        if st.reported_generation != obj["metadata"].get("generation"):
            self._report_queue.put_nowait(name)
        self._notify(name, "group")

    def _pods_changed(self, group: str, typ: str, pod: PodInfo) -> None:
        self._notify(group, "pods")

    async def _reporter(self) -> None:
        """Publish each spec's validity once per generation, in the background."""
        while True:
            name = await self._report_queue.get()
            st = self.state.get(name)
            if st is None:
                continue
            gen = st.obj["metadata"].get("generation")
            if st.reported_generation == gen:
                continue
            try:
                await groups_mod.report_spec(self.api, st.obj, st.problems, self.wall())
                st.reported_generation = gen
                if st.problems:
                    self.event(name, "InvalidSpec", "; ".join(st.problems), warning=True)
            except KubeError as err:  # try again later: the condition must not go stale
                log.warning("could not report the spec of %s: %s", name, err)
                self._report_failures += 1
                delay = min(5.0, 0.1 * 2.0 ** min(self._report_failures, 6))
                task = asyncio.get_running_loop().create_task(self._requeue(name, delay))
                self._retries.add(task)
                task.add_done_callback(self._retries.discard)
            else:
                self._report_failures = 0

    async def _requeue(self, name: str, delay: float) -> None:
        await self.api.sleep(delay)
        self._report_queue.put_nowait(name)

    # -- reads (no API calls) --------------------------------------------------------------

    def groups(self) -> dict[str, GroupState]:
        return dict(self.state)

    def settings(self, group: str) -> dict[str, Any]:
        return dict(self.state[group].settings)

    def options(self, group: str) -> dict[str, Any]:
        """Where the group lives: pod selector, primary and read Services, Valkey port."""
        return dict(self.state[group].options)

    def problems(self, group: str) -> list[str]:
        return list(self.state[group].problems)

    def pods(self, group: str) -> dict[str, PodInfo]:
        st = self.state[group]
        return st.pods.pods() if st.pods else {}

    def peers(self, group: str) -> PeerSet:
        s = self.state[group].settings
        # Under joint consensus (next_voters set) both sets vote.
        return self.daemons.peers(tuple(s.get("voters", ())) + tuple(s.get("next_voters", ())))

    def switchover_request(self, group: str) -> str | None:
        return groups_mod.switchover_request(self.state[group].obj)

    # -- writes ------------------------------------------------------------------------

    def _pod(self, group: str, name: str | None) -> PodInfo | None:
        if name is None:
            return None
        pod = self.pods(group).get(name)
        if pod is None:
            raise KubeNotFound(f"pod {name} is not (yet) in group {group}", 404, "NotFound")
        return pod

    async def publish_routing(
        self, group: str, epoch: int, primary_pod: str | None, leader: str
    ) -> RoutingResult:
        """Point the group's primary Service at ``primary_pod`` for ``epoch`` (None: no
        endpoint, e.g. between fencing and promotion). Raises typed errors."""
        st = self.state[group]
        res = await publish_routing(
            self.api,
            group=group,
            service=st.options["primary_service"],
            epoch=epoch,
            primary=self._pod(group, primary_pod),
            leader=leader,
            port=st.options["port"],
        )
        known = self.publisher.published.get(group)
        if known is None or known.epoch <= res.epoch:
            self.publisher.published[group] = res
        return res

    def submit_routing(self, group: str, epoch: int, primary_pod: str | None, leader: str) -> None:
        """Fire-and-forget :meth:`publish_routing`; the newest epoch wins; retried until the
        API accepts or refuses it."""
        self.publisher.submit(group, epoch, self._pod(group, primary_pod), leader)

    async def reconcile_labels(
        self, group: str, epoch: int, roles: Mapping[str, str]
    ) -> LabelReport:
        return await reconcile_roles(self.api, self.pods(group), roles, epoch)

    def event(
        self, group: str, reason: str, message: str, pod: str | None = None, warning: bool = False
    ) -> None:
        """Queue an Event on the group's resource, or on one of its pods."""
        if pod is not None:
            info = self.pods(group).get(pod)
            ref = ObjectRef("Pod", pod, self.api.namespace, info.uid if info else "")
        else:
            meta = self.state[group].obj["metadata"] if group in self.state else {}
            ref = ObjectRef(
                GROUP_KIND,
                group,
                self.api.namespace,
                meta.get("uid", ""),
                f"{API_GROUP}/{API_VERSION}",
            )
        self.events.emit(ref, reason, message, "Warning" if warning else "Normal")

    async def record_config(
        self,
        group: str,
        *,
        epoch: int,
        primary: str | None,
        leader: str,
        reason: str | None = None,
        voters: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Record the authoritative config in the group's status (any daemon that holds it:
        the epoch check refuses an older one), with the voter set it commits
        (``status.voters``/``votersEpoch``: where a daemon that never persisted a voter view
        bootstraps from) and whether a voter change is still pending."""
        fields: dict[str, Any] = {"primary": primary or ""}
        if leader:  # "": written by a daemon that did not lead it; keep the leader's name
            fields["leader"] = leader
        conds = []
        st = self.state.get(group)
        if voters:
            status = (st.obj.get("status") or {}) if st is not None else {}
            if list(voters) != status.get("voters"):
                fields["voters"] = list(voters)
                fields["votersEpoch"] = epoch
            committed = set(voters)
        else:
            committed = set((st.settings.get("voters", ())) if st is not None else ())
        if st is not None:
            desired = set(desired_voters(st.settings))
            pending = bool(desired) and bool(committed) and desired != committed
            conds.append(
                groups_mod.condition(
                    "VotersChanging",
                    pending,
                    "Joint" if pending else "Committed",
                    f"voters {sorted(committed)} -> {sorted(desired)}: committed by the next "
                    "election (joint consensus)"
                    if pending
                    else f"voters {sorted(committed)} committed",
                    self.wall(),
                )
            )
        if reason is not None:
            fields["lastFailoverTime"] = groups_mod.stamp(self.wall())
            fields["lastFailoverReason"] = reason
        res = self.publisher.published.get(group)
        routed = res is not None and (res.epoch, res.primary) == (epoch, primary)
        conds.append(
            groups_mod.condition(
                "Routed",
                routed,
                "Published" if routed else "Pending",
                f"primary Service names {primary} for epoch {epoch}"
                if routed
                else "routing not yet published for this epoch",
                self.wall(),
            )
        )
        return await groups_mod.write_status(
            self.api, group, epoch=epoch, fields=fields, conditions=conds
        )

    async def ack_switchover(self, group: str, value: str) -> bool:
        return await groups_mod.clear_switchover(self.api, group, value)
