"""The ``ValkeyGroup`` resource at run time: status, conditions and manual switchover.

The leader of the highest epoch keeps the status (primary, epoch, leader, last failover);
any daemon may report whether the spec is valid (the ``SpecValid`` condition). Every write
is checked against the resourceVersion read, and epoch-carrying writes refuse to go
backwards, like routing does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .api import KubeApi
from .errors import KubeConflict, KubeInvalid, StaleEpoch
from .model import API_GROUP, API_VERSION, GROUP_PLURAL, SWITCHOVER_ANNOTATION

# -- status -------------------------------------------------------------------------------


def stamp(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(
    type_: str, ok: bool, reason: str, message: str, wall: float, generation: int | None = None
) -> dict[str, Any]:
    c: dict[str, Any] = {
        "type": type_,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message,
        "lastTransitionTime": stamp(wall),
    }
    if generation is not None:
        c["observedGeneration"] = generation
    return c


def merge_conditions(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace conditions by type; keep ``lastTransitionTime`` when the status is unchanged."""
    out = {c["type"]: c for c in old}
    for c in new:
        prev = out.get(c["type"])
        if prev is not None and prev.get("status") == c["status"]:
            c = c | {"lastTransitionTime": prev.get("lastTransitionTime", c["lastTransitionTime"])}
        out[c["type"]] = c
    return sorted(out.values(), key=lambda c: c["type"])


def _args(api: KubeApi, namespace: str | None) -> tuple[str, str, str, str]:
    return API_GROUP, API_VERSION, namespace or api.namespace, GROUP_PLURAL


async def get_group(api: KubeApi, name: str, namespace: str | None = None) -> dict[str, Any]:
    obj: dict[str, Any] = await api.call(
        "get", GROUP_PLURAL, api.custom.get_namespaced_custom_object, *_args(api, namespace), name
    )
    return obj


async def write_status(
    api: KubeApi,
    name: str,
    *,
    epoch: int | None = None,
    fields: Mapping[str, Any] | None = None,
    conditions: list[dict[str, Any]] | None = None,
    namespace: str | None = None,
    max_conflicts: int = 5,
) -> dict[str, Any]:
    """Update the group's status, checked against the version read (409 -> re-read).

    With ``epoch``, refuse (:class:`StaleEpoch`) when the status already holds a newer one:
    the leader of the highest epoch owns the authoritative config. Without it, only
    conditions and plain fields are written (any daemon may report a bad spec).
    """
    for _ in range(max_conflicts):
        obj = await get_group(api, name, namespace)
        status = dict(obj.get("status") or {})
        have = status.get("epoch")
        if epoch is not None and isinstance(have, int) and have > epoch:
            raise StaleEpoch(
                f"status of {name}: epoch {have} recorded, ours is {epoch}", epoch, have
            )
        new = dict(status)
        new.update(fields or {})
        if epoch is not None:
            new["epoch"] = epoch
        if conditions:
            new["conditions"] = merge_conditions(status.get("conditions") or [], conditions)
        if new == status:
            return obj
        obj["status"] = new
        try:
            done: dict[str, Any] = await api.call(
                "update",
                f"{GROUP_PLURAL}/status",
                api.custom.replace_namespaced_custom_object_status,
                *_args(api, namespace),
                name,
                obj,
            )
            return done
        except KubeConflict:
            continue
    raise KubeConflict(f"status of {name}: lost {max_conflicts} races in a row", 409, "Conflict")


async def report_spec(
    api: KubeApi,
    obj: Mapping[str, Any],
    problems: list[str],
    wall: float,
    namespace: str | None = None,
) -> dict[str, Any]:
    """Set the ``SpecValid`` condition for the object's current generation."""
    meta = obj.get("metadata") or {}
    ok = not problems
    cond = condition(
        "SpecValid",
        ok,
        "Valid" if ok else "InvalidSpec",
        "spec accepted" if ok else "; ".join(problems),
        wall,
        meta.get("generation"),
    )
    return await write_status(
        api,
        str(meta["name"]),
        conditions=[cond],
        fields={"observedGeneration": meta.get("generation")},
        namespace=namespace,
    )


# -- manual switchover --------------------------------------------------------------------


def switchover_request(obj: Mapping[str, Any]) -> str | None:
    """The pending switchover target (a pod name, or ``any``), if one was requested."""
    ann = (obj.get("metadata") or {}).get("annotations") or {}
    value = ann.get(SWITCHOVER_ANNOTATION)
    return value or None


async def request_switchover(
    api: KubeApi, name: str, target: str = "any", namespace: str | None = None
) -> None:
    """Ask the leader for a switchover (what ``gungnir failover`` does in Kubernetes)."""
    await api.call(
        "patch",
        GROUP_PLURAL,
        api.custom.patch_namespaced_custom_object,
        *_args(api, namespace),
        name,
        {"metadata": {"annotations": {SWITCHOVER_ANNOTATION: target}}},
        _content_type="application/merge-patch+json",
    )


async def clear_switchover(
    api: KubeApi, name: str, value: str, namespace: str | None = None
) -> bool:
    """Remove the request the leader acted on, and only that one (a JSON-patch ``test``
    guards against erasing a newer request). False if the request changed meanwhile."""
    path = "/metadata/annotations/" + SWITCHOVER_ANNOTATION.replace("~", "~0").replace("/", "~1")
    try:
        await api.call(
            "patch",
            GROUP_PLURAL,
            api.custom.patch_namespaced_custom_object,
            *_args(api, namespace),
            name,
            [{"op": "test", "path": path, "value": value}, {"op": "remove", "path": path}],
            _content_type="application/json-patch+json",
        )
    except KubeInvalid:  # the ``test`` failed (422): the request changed meanwhile
        return False
    return True
