"""The immutable state of one daemon for one group.

Everything is a frozen dataclass made of tuples/frozensets, so states hash and compare by
value: the model checker fingerprints them, and a runtime can diff them.  Only ``epoch`` and
``vote`` are durable; everything else is lost on restart, which is exactly why a restarted
daemon must not resume anything (see ``restart_floor``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .settings import Settings

FOLLOWER = "follower"
CANDIDATE = "candidate"
LEADER = "leader"


@dataclass(frozen=True)
class Config:
    """(epoch, primary, replicas): the config with the highest epoch is authoritative.

    ``voters`` is the voter set committed by this config (empty: the configured bootstrap
    set, as in the epoch-0 config).  A leader elected under joint consensus publishes the new
    set here, which is what commits a voter change (see docs/voter-changes.md).
    """

    epoch: int
    primary: str | None
    replicas: tuple[str, ...] = ()
    voters: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeView:
    """What this daemon last saw of one node.  ``last_ok`` is the time of the last successful
    probe (or of the daemon's start, so a never-seen node goes down after ``down_after``).
    ``empty_restart`` is sticky: set when the node came back with a new run id and no data,
    cleared once it holds data again while following a primary.

    ``min_replicas``, ``max_lag``, ``sync_denied`` and ``settings_ok`` are the node settings
    last read back (see :class:`~gungnir.core.events.Probe`); ``kept_min_replicas`` is the
    last min-replicas-to-write seen that was not a fence: an operator's value, kept when it
    is stricter than the policy's even after a fence overwrote it on the node."""

    node: str
    last_ok: float
    reachable: bool = False
    role: str = "replica"
    master: str | None = None
    link_up: bool = False
    offset: int = 0
    replid: str = ""
    run_id: str = ""
    priority: int = 100
    accepts_writes: bool = False
    empty: bool = False
    lag: float = 0.0
    min_replicas: int = 0
    paused: bool = False
    empty_restart: bool = False
    seen: bool = False
    max_lag: int = 0
    sync_denied: bool = False
    settings_ok: bool = False
    kept_min_replicas: int = 0


@dataclass(frozen=True)
class Election:
    """A candidacy for ``epoch`` to promote ``node`` (seen at ``replid``/``offset``)."""

    epoch: int
    node: str
    replid: str
    offset: int
    reason: str
    started: float
    grants: frozenset[str] = frozenset()
    refusals: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Failover:
    """The leader's plan for its epoch.  ``stage`` walks: ``fence`` -> ``catchup`` (manual
    switchover) -> ``promote`` -> ``detach`` -> ``lease`` -> ``publish`` -> ``repoint`` -> done.
    ``pending`` holds node actions issued and not answered yet; ``failed`` those to retry.
    ``lease`` is the old primary's write lease, computed when the plan starts from the
    max-lag last read from it (:func:`~gungnir.core.nodesettings.observed_max_lag`)."""

    epoch: int
    old: str | None
    new: str
    stage: str
    started: float
    manual: bool = False
    use_failover_command: bool = False
    old_fenced: bool = False
    old_last_ok: float = 0.0
    old_offset: int = 0
    lease: float = 0.0
    lease_until: float | None = None
    pending: frozenset[Any] = frozenset()
    failed: frozenset[Any] = frozenset()
    repointed: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Confirm:
    """A round asking peers whether a config newer than ``epoch`` exists, started at
    ``nonce``.  Drift is corrected only once a majority answered with nothing newer."""

    nonce: float
    epoch: int
    acks: frozenset[str] = frozenset()


@dataclass(frozen=True)
class DaemonState:
    """State of daemon ``me`` for the group of ``settings``.

    Durable: ``epoch`` (current epoch, never decreases) and ``vote`` (whom this daemon voted
    for in ``epoch``, or None).  ``restart_floor`` is the epoch persisted at the last restart:
    this daemon never leads an epoch <= it.

    The voter view lives in ``settings`` and is durable too: ``voters`` is the committed
    voter set (committed by the config of epoch ``voters_epoch``; 0 for the configured
    bootstrap set) and ``next_voters``, while non-empty, the set this daemon is changing to
    (joint consensus).  ``desired_voters`` is the set the configuration asks for (not durable:
    the runtime re-delivers it after every start).  The view only moves forward.
    """

    settings: Settings = field(repr=False)
    me: str
    started: bool = False
    epoch: int = 0
    vote: str | None = None
    restart_floor: int = -1
    role: str = FOLLOWER
    config: Config = Config(0, None)
    nodes: tuple[NodeView, ...] = ()
    reports: tuple[tuple[str, str, bool, float], ...] = ()
    peers: tuple[tuple[str, bool, float], ...] = ()
    sdown: frozenset[str] = frozenset()
    odown: bool = False
    odown_since: float | None = None
    next_election: float | None = None
    election: Election | None = None
    failover: Failover | None = None
    isolated_since: float | None = None
    minority_fenced: frozenset[str] = frozenset()
    confirm: Confirm | None = None
    switchover: tuple[str | None, bool] | None = None
    drift_since: float | None = None
    # the lost-state rule (core/amnesia.py): (since, voters not heard from yet, highest
    # epoch heard); None once this daemon knows which epochs it cannot have voted in
    amnesia: tuple[float, frozenset[str], int] | None = None
    refused_by: frozenset[str] = frozenset()

    def replace(self, **changes: Any) -> DaemonState:
        """A copy with ``changes``.  Faster than ``dataclasses.replace`` (this is the hot path
        of the model checker); field names are checked so a typo still fails loudly."""
        bad = changes.keys() - _FIELDS
        if bad:
            raise TypeError(f"DaemonState has no field(s) {sorted(bad)}")
        new = object.__new__(DaemonState)
        d = new.__dict__
        d.update(self.__dict__)
        d.pop("_hash", None)
        d.update(changes)
        return new

    def __hash__(self) -> int:
        """Cached: states are immutable and hashed often (model checker fingerprints)."""
        d = self.__dict__
        h = d.get("_hash")
        if h is None:
            h = hash(tuple(getattr(self, f) for f in _FIELD_ORDER))
            d["_hash"] = h
        return int(h)

    @property
    def voters_epoch(self) -> int:
        return self.settings.voters_epoch

    @property
    def desired(self) -> tuple[str, ...]:
        return self.settings.desired_voters

    @property
    def is_voter(self) -> bool:
        """In the committed voter set or (during a change) in the next one."""
        s = self.settings
        return self.me in s.voters or self.me in s.next_voters

    def view(self, node: str) -> NodeView | None:
        for v in self.nodes:
            if v.node == node:
                return v
        return None


_FIELD_ORDER = tuple(f.name for f in dataclasses.fields(DaemonState))
_FIELDS = frozenset(_FIELD_ORDER)


def init_state(settings: Settings, me: str) -> DaemonState:
    """A daemon's state before its :class:`~gungnir.core.events.Start` event."""
    return DaemonState(settings=settings, me=me)
