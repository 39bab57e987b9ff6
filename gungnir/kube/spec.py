"""ValkeyGroup spec -> settings: parsing here, the rules in ``gungnir.core``.

Daemons read their groups from ValkeyGroup resources (a file config stays available outside
Kubernetes). The spec's camelCase fields become a plain dict keyed by the core's
:class:`~gungnir.core.Settings` field names; only fields the spec sets are included, so the
core's defaults stay the single source of defaults. Validation is the core's own (the same
rules a file config meets), run here so that a bad spec is reported on the resource, in
words an operator can act on, instead of stopping a daemon.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from gungnir.core import Settings, SettingsError

from .model import GROUP_LABEL

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

# camelCase spec field -> (core Settings field, kind)
CORE_FIELDS: dict[str, tuple[str, str]] = {
    "voters": ("voters", "names"),
    "nextVoters": ("next_voters", "names"),
    "quorum": ("quorum", "int"),
    "policy": ("policy", "str"),
    "probeInterval": ("probe_interval", "duration"),
    "downAfter": ("down_after", "duration"),
    "reportTtl": ("report_ttl", "duration"),
    "electionTimeout": ("election_timeout", "duration"),
    "electionJitter": ("election_jitter", "duration"),
    "failoverTimeout": ("failover_timeout", "duration"),
    "fenceAfter": ("fence_after", "duration"),
    "promoteAfter": ("promote_after", "duration"),
    "maxClockDrift": ("max_clock_drift", "duration"),
    "maxLag": ("max_lag", "duration"),
    "minReplicasMaxLag": ("min_replicas_max_lag", "duration"),
    "leaseMargin": ("lease_margin", "duration"),
    "switchoverTimeout": ("switchover_timeout", "duration"),
    "parallelSyncs": ("parallel_syncs", "int"),
    "initialPrimary": ("initial_primary", "name"),
}
# Fields only the Kubernetes backend uses.
KUBE_FIELDS = ("selector", "service", "readService", "port", "authSecretRef")
#: The ACL user the daemons log in to Valkey as when a group names an ``authSecretRef``.
DAEMON_USER = "gungnir"


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


def _parse(kind: str, value: Any) -> Any:
    if kind == "duration":
        return parse_duration(value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"must be an integer, not {value!r}")
        return value
    if kind == "names":
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ValueError("must be a list of names")
        return tuple(value)
    if not isinstance(value, str) or not value:
        raise ValueError(f"must be a non-empty string, not {value!r}")
    return value


def spec_to_settings(
    name: str, spec: Mapping[str, Any], nodes: Iterable[str] = ()
) -> tuple[dict[str, Any], list[str]]:
    """The core settings a ValkeyGroup spec declares, and the problems with it.

    The dict has ``group`` and every core field the spec sets (never ``nodes``: the runtime
    adds the pods discovery finds). ``nodes``, when known, lets the core check
    ``initialPrimary`` against them. Problems are empty exactly when
    ``Settings(**settings, nodes=...)`` is valid.
    """
    problems = [
        f"spec.{k}: unknown field" for k in sorted(set(spec) - set(CORE_FIELDS) - set(KUBE_FIELDS))
    ]
    out: dict[str, Any] = {"group": name}
    for key, (setting, kind) in CORE_FIELDS.items():
        if spec.get(key) is None:
            continue
        try:
            out[setting] = _parse(kind, spec[key])
        except ValueError as err:
            problems.append(f"spec.{key}: {err}")
    if "voters" not in out and not any(p.startswith("spec.voters") for p in problems):
        problems.append("spec.voters: required (name 3 or 5 nodes or daemon pods)")
    problems.extend(_kube_problems(spec))
    if not problems:
        known = tuple(nodes) or (out.get("initial_primary") or "node",)
        try:
            Settings(**out, nodes=known)
        except SettingsError as err:
            problems.append(str(err))
        except TypeError as err:  # a field the core does not know (version skew)
            problems.append(f"spec: {err}")
    return out, problems


def _kube_problems(spec: Mapping[str, Any]) -> list[str]:
    problems = []
    try:
        kube_options("x", spec)
    except ValueError as err:
        problems.append(str(err))
    return problems


def kube_options(name: str, spec: Mapping[str, Any]) -> dict[str, Any]:
    """Where the group lives in Kubernetes: pod selector, Service names, Valkey port.

    Raises ValueError (with the field named) on a bad value.
    """
    port = spec.get("port", 6379)
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise ValueError(f"spec.port: {port!r} is not a TCP port")
    selector = f"{GROUP_LABEL}={name}"
    if spec.get("selector") is not None:
        labels = (
            spec["selector"].get("matchLabels") if isinstance(spec["selector"], Mapping) else None
        )
        if (
            not isinstance(labels, Mapping)
            or not labels
            or not all(isinstance(v, str) for v in labels.values())
        ):
            raise ValueError("spec.selector: matchLabels must be a non-empty map of strings")
        selector = ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    out = {
        "selector": selector,
        "primary_service": f"{name}-primary",
        "read_service": f"{name}-read",
        "port": port,
    }
    out["auth_secret"] = _auth_secret(spec.get("authSecretRef"))
    for key, setting in (("service", "primary_service"), ("readService", "read_service")):
        value = spec.get(key)
        if value is not None:
            if not isinstance(value, str) or not value:
                raise ValueError(f"spec.{key}: must be a Service name")
            out[setting] = value
    return out


def _auth_secret(ref: Any) -> str | None:
    """The name of the Secret holding the group's Valkey passwords (None: no auth).

    Only the name is read: the daemon never reads Secrets through the API (that would need
    ``secrets get``); the DaemonSet mounts the Secret's ``daemon-password`` key instead
    (docs/security.md, "Valkey users")."""
    if ref is None:
        return None
    name = ref.get("name") if isinstance(ref, Mapping) else None
    if not isinstance(name, str) or not name:
        raise ValueError("spec.authSecretRef: must be {name: <Secret name>}")
    return name


def desired_voters(settings: Mapping[str, Any]) -> tuple[str, ...]:
    """The voter set a spec asks for: ``nextVoters`` if set, else ``voters``."""
    return tuple(settings.get("next_voters") or settings.get("voters") or ())


def bootstrap_voters(obj: Mapping[str, Any], settings: Mapping[str, Any]) -> tuple[str, ...]:
    """The voter set a daemon that never persisted a voter view starts from: the committed set
    the leader recorded in the status (``status.voters``), else the spec's ``voters``.

    Why not the spec: after an edit of ``spec.voters`` from O to N, a new daemon that took N
    as already committed while the others still count O could form an N majority of its own
    in the epoch an O majority elects someone else.  Starting from the committed set, it
    enters joint consensus like the others."""
    status = obj.get("status") or {}
    committed = status.get("voters")
    if isinstance(committed, list) and committed and all(isinstance(v, str) for v in committed):
        return tuple(committed)
    return tuple(settings.get("voters") or ())
