"""The ``ValkeyGroup`` custom resource: spec to settings, validation, status, switchover.

Daemons read their groups from these resources (a file config stays available outside
Kubernetes). The spec becomes a plain dict with snake_case keys, which the core's settings
type consumes; this module knows nothing of the core. Problems in a spec are reported, never
guessed around: the ``SpecValid`` condition says what is wrong, in words an operator can act
on, and the group keeps its last good settings.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from .api import KubeApi
from .errors import KubeConflict, KubeInvalid, StaleEpoch
from .model import (
    API_GROUP,
    API_VERSION,
    GROUP_LABEL,
    GROUP_PLURAL,
    SWITCHOVER_ANNOTATION,
)

Settings = dict[str, Any]

POLICIES = ("availability", "consistency")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

# camelCase spec key -> (snake_case setting, kind, default)
SPEC_FIELDS: dict[str, tuple[str, str, Any]] = {
    "voters": ("voters", "names", None),
    "quorum": ("quorum", "int", None),
    "policy": ("policy", "policy", "availability"),
    "downAfter": ("down_after", "duration", 5.0),
    "probeInterval": ("probe_interval", "duration", 1.0),
    "failoverTimeout": ("failover_timeout", "duration", 30.0),
    "fenceAfter": ("fence_after", "duration", None),
    "promoteAfter": ("promote_after", "duration", None),
    "maxClockDrift": ("max_clock_drift", "duration", 0.5),
    "maxLag": ("max_lag", "int", 1_048_576),
    "port": ("port", "int", 6379),
    "service": ("primary_service", "name", None),
    "readService": ("read_service", "name", None),
    "selector": ("selector", "selector", None),
}


def parse_duration(value: Any) -> float:
    """``"500ms"``, ``"5s"``, ``"1m30s"`` or a number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"not a duration: {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value:
        raise ValueError(f"not a duration: {value!r}")
    pos, total = 0, 0.0
    for m in _DURATION.finditer(value):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(value) or pos == 0:
        raise ValueError(f"not a duration: {value!r} (use e.g. 500ms, 5s, 1m30s)")
    return total


def _selector(value: Any) -> str:
    if not isinstance(value, Mapping):
        raise ValueError("must be an object with matchLabels")
    labels = value.get("matchLabels") or {}
    if (
        not isinstance(labels, Mapping)
        or not labels
        or not all(isinstance(v, str) for v in labels.values())
    ):
        raise ValueError("matchLabels must be a non-empty map of strings")
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def spec_to_settings(name: str, spec: Mapping[str, Any]) -> tuple[Settings, list[str]]:
    """Turn a ValkeyGroup spec into settings (snake_case) and a list of problems.

    Every field gets a value (its default when absent or invalid), so the settings are
    complete even when problems are reported; callers must not use settings with problems.
    """
    problems: list[str] = []
    out: Settings = {"name": name}
    for key in sorted(set(spec) - set(SPEC_FIELDS)):
        problems.append(f"spec.{key}: unknown field")
    for key, (setting, kind, default) in SPEC_FIELDS.items():
        value = spec.get(key)
        out[setting] = default
        if value is None:
            continue
        try:
            if kind == "duration":
                out[setting] = parse_duration(value)
                if out[setting] <= 0:
                    raise ValueError("must be positive")
            elif kind == "int":
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ValueError(f"must be an integer, not {value!r}")
                out[setting] = value
            elif kind == "policy":
                if value not in POLICIES:
                    raise ValueError(f"must be one of {', '.join(POLICIES)}, not {value!r}")
                out[setting] = value
            elif kind == "names":
                if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                    raise ValueError("must be a list of node or pod names")
                out[setting] = tuple(value)
            elif kind == "name":
                if not isinstance(value, str) or not value:
                    raise ValueError("must be a non-empty name")
                out[setting] = value
            elif kind == "selector":
                out[setting] = _selector(value)
        except ValueError as err:
            out[setting] = default
            problems.append(f"spec.{key}: {err}")
    out["primary_service"] = out["primary_service"] or f"{name}-primary"
    out["read_service"] = out["read_service"] or f"{name}-read"
    out["selector"] = out["selector"] or f"{GROUP_LABEL}={name}"
    problems.extend(_check(out, spec))
    return out, problems


def _check(s: Settings, spec: Mapping[str, Any]) -> list[str]:
    problems = []
    voters = s["voters"]
    if voters is None:
        if "voters" not in spec:
            problems.append("spec.voters: required (name 3 or 5 nodes or daemon pods)")
        voters = ()
    elif len(set(voters)) != len(voters):
        problems.append("spec.voters: names must be unique")
    elif len(voters) % 2 == 0 or len(voters) > 7:
        problems.append(
            f"spec.voters: {len(voters)} voters; use an odd number up to 7 "
            "(3 or 5 recommended): an even set adds no fault tolerance"
        )
    if s["quorum"] is None:
        s["quorum"] = len(voters) // 2 + 1 if voters else 1
    elif not 1 <= s["quorum"] <= max(len(voters), 1):
        problems.append(
            f"spec.quorum: {s['quorum']} must be between 1 and the number of voters ({len(voters)})"
        )
    if not 1 <= s["port"] <= 65535:
        problems.append(f"spec.port: {s['port']} is not a TCP port")
    if s["max_lag"] < 0:
        problems.append("spec.maxLag: must not be negative")
    if s["down_after"] <= s["probe_interval"]:
        problems.append(
            f"spec.downAfter ({s['down_after']}s) must exceed spec.probeInterval "
            f"({s['probe_interval']}s)"
        )
    fence, promote = s["fence_after"], s["promote_after"]
    if (fence is None) != (promote is None):
        problems.append("spec.fenceAfter and spec.promoteAfter must be set together")
    elif (
        fence is not None
        and promote is not None
        and not fence + s["probe_interval"] + s["max_clock_drift"] < promote
    ):
        problems.append(
            f"timing: fenceAfter + probeInterval + maxClockDrift "
            f"({fence + s['probe_interval'] + s['max_clock_drift']:g}s) must be less than "
            f"promoteAfter ({promote:g}s), or an isolated primary may still take writes "
            "after a new one is promoted"
        )
    return problems


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
