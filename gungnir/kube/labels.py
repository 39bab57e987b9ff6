"""Role labels and epoch annotations on the Valkey pods, for people and other tools.

Routing does not depend on these (the primary Service's EndpointSlice does); the read
Service does select ``gungnir.io/role=replica``. Order matters when roles move: the old
primary is marked ``fenced`` before anything else is written, and the new primary is
labelled last (design.md, step 4), so no selector ever sees two primaries.

Each patch names the pod's resourceVersion from the watch cache; a 409 (a kubelet status
sync, a restart, another writer) re-reads the pod and decides again, so a conflict never
lets the order slip: the new primary is labelled only after every pod that carried
``primary`` is demoted. A pod stamped with a newer epoch than ours stops the pass: a newer
config owns the labels.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from .api import KubeApi
from .errors import KubeConflict, KubeError, KubeNotFound
from .model import EPOCH_ANNOTATION, ROLE_LABEL, ROLES, PodInfo

log = logging.getLogger(__name__)

_ORDER = {"fenced": 0, "replica": 1, "primary": 2}


@dataclass
class LabelReport:
    """What one reconcile pass did."""

    changed: list[str] = field(default_factory=list)
    skipped_newer: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    errors: dict[str, KubeError] = field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return not (self.conflicts or self.errors)


def plan(pods: Mapping[str, PodInfo], roles: Mapping[str, str], epoch: int) -> list[str]:
    """Pods whose role label or epoch annotation must change, in safe write order."""
    for role in roles.values():
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    todo = [
        name
        for name, role in roles.items()
        if name in pods
        and pods[name].epoch <= epoch
        and (pods[name].role != role or pods[name].epoch != epoch)
    ]
    return sorted(todo, key=lambda n: (_ORDER[roles[n]], n))


async def _patch_role(
    api: KubeApi, ns: str, pod: PodInfo, role: str, epoch: int, tries: int
) -> str:
    """Label one pod, re-reading it after each 409; returns ``"changed"``, ``"done"`` (it
    already carried the role at this epoch, or it is gone), or ``"newer"`` (stamped with a
    newer epoch: a newer config owns it). Raises the API's typed errors otherwise."""
    for _ in range(tries):
        if pod.epoch > epoch:
            return "newer"
        if pod.role == role and pod.epoch == epoch:
            return "done"
        body = {
            "metadata": {
                "resourceVersion": pod.resource_version,
                "labels": {ROLE_LABEL: role},
                "annotations": {EPOCH_ANNOTATION: str(epoch)},
            }
        }
        try:
            await api.call(
                "patch",
                "pods",
                api.core.patch_namespaced_pod,
                pod.name,
                ns,
                body,
                _content_type="application/merge-patch+json",
            )
            return "changed"
        except KubeNotFound:
            return "done"  # gone: it carries no label any more
        except KubeConflict:
            pass  # changed since we read it (a kubelet status sync, another writer)
        try:
            fresh = await api.call("get", "pods", api.core.read_namespaced_pod, pod.name, ns)
        except KubeNotFound:
            return "done"
        pod = PodInfo.from_obj(fresh)
    raise KubeConflict(f"pod {pod.name}: lost {tries} races in a row", 409, "Conflict")


async def reconcile_roles(
    api: KubeApi,
    pods: Mapping[str, PodInfo],
    roles: Mapping[str, str],
    epoch: int,
    namespace: str | None = None,
    tries: int = 5,
) -> LabelReport:
    """Make the pods' role labels match ``roles`` for ``epoch`` (pod name -> role).

    In order (module doc): every demotion first, each retried after a 409 with the pod
    re-read; the primary is labelled only once every other pod known to carry ``primary``
    has been demoted, and nothing more is written once a pod shows a newer epoch.
    """
    ns = namespace or api.namespace
    report = LabelReport()
    report.skipped_newer = sorted(n for n in roles if n in pods and pods[n].epoch > epoch)
    if report.skipped_newer:
        return report  # a newer config is (being) published: it owns every label
    blocked = False  # a demotion failed
    settled: set[str] = set()
    for name in plan(pods, roles, epoch):
        role = roles[name]
        if role == "primary":
            old = [n for n, p in pods.items() if n != name and p.role == "primary"]
            if blocked or any(n not in settled for n in old):
                log.warning("%s not labelled primary: an old primary is not demoted yet", name)
                report.conflicts.append(name)
                continue
        try:
            outcome = await _patch_role(api, ns, pods[name], role, epoch, tries)
        except KubeError as err:
            if isinstance(err, KubeConflict):
                report.conflicts.append(name)
            else:
                report.errors[name] = err
            # Any step before the primary's failed: that pod may still carry primary (the
            # watch cache can be behind), so the new primary waits for the next pass.
            blocked = True
            continue
        if outcome == "newer":
            report.skipped_newer.append(name)
            break
        settled.add(name)
        if outcome == "changed":
            report.changed.append(name)
    return report
