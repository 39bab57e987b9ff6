"""Role labels and epoch annotations on the Valkey pods, for people and other tools.

Routing does not depend on these (the primary Service's EndpointSlice does); the read
Service does select ``gungnir.io/role=replica``. Order matters when roles move: the old
primary is marked ``fenced`` before anything else is written, and the new primary is
labelled last (design.md, step 4), so no selector ever sees two primaries.

Each patch names the pod's resourceVersion from the watch cache, so a pod that changed since
(a restart, another writer) is skipped with a conflict and picked up by the next reconcile.
A pod stamped with a newer epoch than ours is left alone: a newer leader owns it.
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


async def reconcile_roles(
    api: KubeApi,
    pods: Mapping[str, PodInfo],
    roles: Mapping[str, str],
    epoch: int,
    namespace: str | None = None,
) -> LabelReport:
    """Make the pods' role labels match ``roles`` for ``epoch`` (pod name -> role)."""
    ns = namespace or api.namespace
    report = LabelReport()
    report.skipped_newer = sorted(n for n in roles if n in pods and pods[n].epoch > epoch)
    for name in plan(pods, roles, epoch):
        pod = pods[name]
        body = {
            "metadata": {
                "resourceVersion": pod.resource_version,
                "labels": {ROLE_LABEL: roles[name]},
                "annotations": {EPOCH_ANNOTATION: str(epoch)},
            }
        }
        try:
            await api.call(
                "patch",
                "pods",
                api.core.patch_namespaced_pod,
                name,
                ns,
                body,
                _content_type="application/merge-patch+json",
            )
        except (KubeConflict, KubeNotFound):
            report.conflicts.append(name)  # changed or gone since the watch saw it: next time
            continue
        except KubeError as err:
            report.errors[name] = err
            if roles[name] == "fenced":
                # Never label a new primary while the old one may still be selected as one.
                log.warning("could not fence %s (%s); not relabelling further", name, err)
                break
            continue
        report.changed.append(name)
    return report
