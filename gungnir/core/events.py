"""Events the runtime (or the model checker) feeds into :func:`gungnir.core.step`."""

from __future__ import annotations

from dataclasses import dataclass

from .actions import Action
from .messages import Message

PRIMARY = "primary"
REPLICA = "replica"


@dataclass(frozen=True)
class Start:
    """The daemon (re)started with its durable state: the persisted epoch and its vote in it.

    The restart rule applies: the daemon never leads ``epoch`` or any older epoch again.
    ``voters``/``next_voters``/``voters_epoch`` is the persisted voter view (see
    :class:`~gungnir.core.actions.PersistVoters`); empty ``voters``: none was persisted, the
    configured bootstrap set applies.  ``amnesiac``: the durable state was missing or lost
    (or is no proof of this daemon's votes), so ``epoch`` is only a floor and the lost-state
    rule applies (:mod:`gungnir.core.amnesia`).
    """

    epoch: int = 0
    vote: str | None = None
    voters: tuple[str, ...] = ()
    next_voters: tuple[str, ...] = ()
    voters_epoch: int = 0
    amnesiac: bool = False


@dataclass(frozen=True)
class VotersChanged:
    """The configuration (file or custom resource) asks for the voter set ``voters``.

    The daemon enters joint consensus (old and new set) when this differs from its committed
    set; a leader elected under the joint rule commits the new set.  Fed after every Start
    too, since the desired set is configuration, not durable state.
    """

    voters: tuple[str, ...]


@dataclass(frozen=True)
class Tick:
    """Timer tick, about every ``probe_interval``.  ``jitter`` in [0, 1) is the randomness
    for election delays (the core has none of its own)."""

    jitter: float = 0.0


@dataclass(frozen=True)
class Probe:
    """Result of probing one node (ROLE + INFO replication + CONFIG GET + ACL GETUSER).

    ``reachable`` False means the probe failed; the other fields are then ignored.
    ``master`` is the node a replica follows (a node name, resolved by the runtime),
    ``link_up`` its master_link_status, ``lag`` seconds since the replica last heard from its
    master, ``accepts_writes`` whether the node would take a write now (primary, not paused,
    min-replicas met), ``empty`` a loading or empty dataset and ``paused`` a CLIENT PAUSE
    WRITE in force.

    The node settings the protocol's guarantees rest on are read back on every probe, never
    assumed (design rule 10): ``min_replicas`` (min-replicas-to-write), ``max_lag``
    (min-replicas-max-lag, whole seconds; Valkey's default is 10), ``sync_denied`` (a user a
    replica syncs as is denied SYNC/PSYNC: the start fence's ACL half) and ``settings_ok``
    (every one of them could be read; False keeps the node unvetted and unpromoted).
    """

    node: str
    reachable: bool
    role: str = REPLICA
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
    max_lag: int = 10
    sync_denied: bool = False
    settings_ok: bool = True


@dataclass(frozen=True)
class PeerStatus:
    """The runtime's link to ``peer`` (a daemon) is up (heartbeats flow) or not.

    ``answered``: the link is down because the peer *answered* and refused our
    authentication (a wrong shared secret), not because it is out of reach.  Nothing can be
    exchanged with it, but it is there: for the minority-side fencing rule it counts as
    reachable, exactly as it would with the right secret.  The runtime sets it only from an
    answer on the latest connection attempt, retried as often as heartbeats, so a refusing
    peer that becomes unreachable stops counting as fast as a healthy link goes down.
    """

    peer: str
    reachable: bool
    answered: bool = False


@dataclass(frozen=True)
class Received:
    """A peer message arrived."""

    message: Message


@dataclass(frozen=True)
class ActionResult:
    """Outcome of a node action the core asked for (the same action object is fed back)."""

    action: Action
    ok: bool
    reason: str = ""


@dataclass(frozen=True)
class Switchover:
    """Operator command: move the primary to ``target`` (or the best replica) without data
    loss.  ``use_failover_command`` uses Valkey's FAILOVER instead of pause/catch-up/promote."""

    target: str | None = None
    use_failover_command: bool = False


Event = Start | Tick | Probe | PeerStatus | Received | ActionResult | Switchover | VotersChanged
