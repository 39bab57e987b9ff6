"""Actions the core asks the runtime to execute, in list order.

Ordering contract: a :class:`Persist` precedes, in the same list, every message that depends
on it; the runtime executes actions in order and must stop (and restart the daemon) if a
Persist fails, because an unpersisted vote must never leave the daemon.  Node actions
(:class:`Fence`, :class:`SetWriteQuorum`, :class:`Promote`, :class:`Repoint`, :class:`Unfence`,
:class:`FailoverCommand`) are answered with :class:`gungnir.core.events.ActionResult`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .messages import Message
from .state import Config


@dataclass(frozen=True)
class Persist:
    """Durably store (epoch, vote): write, fsync, rename.  Must finish before what follows.

    ``amnesiac`` True marks the record as no proof of this daemon's votes (its state was lost:
    :mod:`gungnir.core.amnesia`), False clears the mark, None keeps what is stored."""

    epoch: int
    vote: str | None
    amnesiac: bool | None = None


@dataclass(frozen=True)
class PersistVoters:
    """Durably store the voter view (committed set, its commit epoch, joint target), like
    :class:`Persist` and before what follows: a daemon that entered joint consensus must still
    refuse old-set-only candidates after a restart, or two leaders could share an epoch."""

    voters: tuple[str, ...]
    next_voters: tuple[str, ...]
    voters_epoch: int


@dataclass(frozen=True)
class Send:
    """Send ``message`` to daemon ``to``."""

    to: str
    message: Message


@dataclass(frozen=True)
class Broadcast:
    """Send ``message`` to every other daemon of the group (voters and observers)."""

    message: Message


@dataclass(frozen=True)
class Fence:
    """Stop ``node`` taking writes: ``method`` is ``pause`` (CLIENT PAUSE WRITE),
    ``min_replicas`` (min-replicas-to-write set to an unmeetable value) or ``no_sync``
    (``min_replicas``, and no replica may sync from the node: for one back without its data)."""

    node: str
    epoch: int
    method: str = "min_replicas"


@dataclass(frozen=True)
class Unfence:
    """Undo a :class:`Fence` (CLIENT UNPAUSE, min-replicas-to-write back to ``min_replicas``)."""

    node: str
    epoch: int
    min_replicas: int = 0


@dataclass(frozen=True)
class SetWriteQuorum:
    """CONFIG SET min-replicas-to-write ``min_replicas`` and min-replicas-max-lag ``max_lag``."""

    node: str
    epoch: int
    min_replicas: int
    max_lag: int


@dataclass(frozen=True)
class Promote:
    """REPLICAOF NO ONE on ``node``."""

    node: str
    epoch: int


@dataclass(frozen=True)
class Repoint:
    """REPLICAOF <address of ``primary``> on ``node``."""

    node: str
    primary: str
    epoch: int


@dataclass(frozen=True)
class FailoverCommand:
    """Valkey's ``FAILOVER TO <target> TIMEOUT ms`` sent to the current primary ``node``."""

    node: str
    target: str
    epoch: int
    timeout_ms: int


@dataclass(frozen=True)
class PublishConfig:
    """Publish ``config`` to peers' view and Kubernetes (labels, primary Service endpoints
    with a resourceVersion-checked update; relabel the old primary before the new one).

    ``leader``: who led ``config``'s epoch; None is this daemon, ``""`` nobody (the epoch-0
    config, from the configuration or from observation, which every daemon derives alike)."""

    config: Config
    leader: str | None = None


@dataclass(frozen=True)
class Notify:
    """A Sentinel-compatible event (``+sdown``, ``+odown``, ``+try-failover``, ...)."""

    event: str
    detail: str


@dataclass(frozen=True)
class Log:
    """A decision-log record (one JSON line of the shared trace contract).

    ``fields`` is a sorted tuple of (key, value) pairs; lists are stored as tuples.
    The runtime adds nothing but writes :meth:`to_json`.
    """

    kind: str
    fields: tuple[tuple[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind}
        for key, value in self.fields:
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)


def log(kind: str, **fields: Any) -> Log:
    """Build a :class:`Log` record; list values become tuples so it stays hashable."""
    items: list[tuple[str, Any]] = []
    for key, value in fields.items():
        if isinstance(value, frozenset | set):
            value = tuple(sorted(value))
        elif isinstance(value, list):
            value = tuple(value)
        items.append((key, value))
    return Log(kind, tuple(sorted(items)))


NodeAction = Fence | Unfence | SetWriteQuorum | Promote | Repoint | FailoverCommand
Action = Persist | PersistVoters | Send | Broadcast | NodeAction | PublishConfig | Notify | Log
