"""A checker over a recorded history of pod and EndpointSlice writes (no I/O).

The fault campaign and the Kubernetes tests record every change the API server accepted
(pods and the primary Service's EndpointSlice, in order, with a time) and ask
:func:`check_routing` whether routing and labels ever broke the promise of design.md
(OneServicePrimary): never two pods labelled ``primary`` at once, never a slice naming two
pods, never a slice moving back to an older epoch, and (given a ``grace``) never a slice
naming a pod that is not the labelled primary for longer than one reconcile interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .model import ROLE_LABEL, epoch_of


@dataclass(frozen=True)
class Write:
    """One accepted change: ``obj`` is the object after it (None: deleted)."""

    at: float
    kind: str  # "pods" or "endpointslices"
    name: str
    obj: Mapping[str, Any] | None


def _routed(obj: Mapping[str, Any] | None) -> tuple[str, ...]:
    if obj is None:
        return ()
    names = []
    for ep in obj.get("endpoints") or []:
        ref = ep.get("targetRef") or {}
        names.append(str(ref.get("name") or ",".join(ep.get("addresses") or [])))
    return tuple(names)


def _role(obj: Mapping[str, Any] | None) -> str | None:
    if obj is None:
        return None
    return ((obj.get("metadata") or {}).get("labels") or {}).get(ROLE_LABEL)


def check_routing(
    writes: Iterable[Write], grace: float | None = None, end: float | None = None
) -> list[str]:
    """Every violation in ``writes`` (in the order applied), as readable sentences; ``end``
    is when the recording stopped (a stretch still open then is measured up to it)."""
    roles: dict[str, str | None] = {}
    slices: dict[str, tuple[str, ...]] = {}
    epochs: dict[str, int] = {}
    wrong_since: dict[str, tuple[float, str]] = {}  # slice -> (since, pod it names)
    out: list[str] = []

    def check_wrong(now: float) -> None:
        if grace is None:
            return
        for name, routed in slices.items():
            bad = bool(routed) and roles.get(routed[0]) != "primary"
            since = wrong_since.get(name)
            if bad and (since is None or since[1] != routed[0]):
                wrong_since[name] = (now, routed[0])
            elif not bad:
                wrong_since.pop(name, None)
            elif since is not None and now - since[0] > grace:
                out.append(
                    f"at {now:.3f}: slice {name} has named {routed[0]}, not the labelled "
                    f"primary, since {since[0]:.3f} (longer than {grace:.3f})"
                )
                wrong_since[name] = (now, routed[0])  # report each overlong stretch once

    for w in writes:
        if w.kind == "pods":
            roles[w.name] = _role(w.obj)
            prim = sorted(p for p, r in roles.items() if r == "primary")
            if len(prim) > 1:
                out.append(f"at {w.at:.3f}: pods {', '.join(prim)} all labelled primary")
        elif w.kind == "endpointslices":
            routed = _routed(w.obj)
            slices[w.name] = routed
            if len(set(routed)) > 1:
                out.append(f"at {w.at:.3f}: slice {w.name} names {', '.join(routed)}")
            if w.obj is not None:
                e = epoch_of((w.obj.get("metadata") or {}).get("annotations"))
                if e < epochs.get(w.name, -1):
                    out.append(
                        f"at {w.at:.3f}: slice {w.name} went back from epoch "
                        f"{epochs[w.name]} to {e}"
                    )
                epochs[w.name] = max(e, epochs.get(w.name, -1))
        check_wrong(w.at)
    if end is not None:
        check_wrong(end)
    return out
