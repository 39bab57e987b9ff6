"""Per-group settings of the failover core, validated up front.

Why a frozen dataclass: the settings travel inside every daemon state, so they must be
hashable (the model checker fingerprints states) and can never change under a running state
machine.  Every rule that the protocol's safety argument leans on (majority sizes, the fencing
timing rule) is checked here, once, with an error message that names the setting to change.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

AVAILABILITY = "availability"
CONSISTENCY = "consistency"
POLICIES = (AVAILABILITY, CONSISTENCY)

#: ``min-replicas-to-write`` value used to fence a primary: no replica set can meet it.
UNMEETABLE_REPLICAS = 1_000_000


class SettingsError(ValueError):
    """A group's settings break a rule; the message names the setting and the fix."""


# -- the one knob: every timing derives from down_after ------------------------------------

#: The default of a derived timing: a value no valid timing has, replaced in
#: ``Settings.__post_init__`` by :func:`derive_timings`.
DERIVED = -1.0

#: The timings :func:`derive_timings` derives when they are not given, in the order it does.
DERIVED_TIMINGS = (
    "probe_interval",
    "fence_after",
    "max_clock_drift",
    "report_ttl",
    "election_timeout",
    "election_jitter",
    "promote_after",
    "failover_timeout",
)

#: Sentinel pings every second; slower probes would only delay detection of long down_afters.
MAX_DERIVED_PROBE = 1.0
#: The shortest peer-link timeout of the runtime (``PeerLink``): links count as down after
#: ``peer_link_timeout(beat)`` without a reply.
MIN_PEER_LINK_TIMEOUT = 0.2
#: A failover attempt is never given less than this (Sentinel's own default is 180 s).
MIN_FAILOVER_TIMEOUT = 30.0


def peer_link_timeout(beat: float) -> float:
    """How long a peer link stays silent before it counts as down: two beats, never under
    0.2 s (a loaded host's scheduling delay must not drop links)."""
    return max(MIN_PEER_LINK_TIMEOUT, 2 * beat)


def fence_margin(probe_interval: float) -> float:
    """The margin the derived promote_after keeps above the timing rule's bound: the time an
    isolated daemon needs to see its peer links drop (one beat, then the link timeout), which
    the fencing clock (``fence_after``) only starts after."""
    return probe_interval + peer_link_timeout(probe_interval)


def derive_timings(
    down_after: float, given: dict[str, float] | None = None, *, lease_base: float = 4.5
) -> dict[str, float]:
    """Every timing of :data:`DERIVED_TIMINGS`: the ``given`` ones as they are, the rest by
    the one rule, so that setting ``down_after`` alone gives a fast and safe group:

    * ``probe_interval = down_after / 20`` (at most 1 s): detection is late by at most a
      twentieth of down_after;
    * ``fence_after = down_after / 2``, ``max_clock_drift = down_after / 20``;
    * ``report_ttl = 2 * down_after``, ``election_timeout = down_after``,
      ``election_jitter = down_after / 5``;
    * ``promote_after = max(down_after, fence_after + probe_interval + max_clock_drift +
      fence_margin)``: the timing rule (design rule 7) with the margin an isolated daemon
      needs to notice it is isolated (:func:`fence_margin`), and never shorter than
      down_after, where it costs nothing: a crashed primary is not seen down before then;
    * ``failover_timeout = max(30, 2 * (promote_after + lease))``, with the lease of
      whichever policy (``lease_base`` is the lease without ``max_clock_drift``), so a
      consistency failover that waits out the lease has twice the time it needs.

    Why derived values depend on given ones: an operator who sets ``probe_interval`` or
    ``fence_after`` by hand still gets a promote_after that keeps the margin.  Why
    ``fence_after`` is half of down_after: it bounds how long a daemon tolerates losing its
    peers before it pauses writes on the primaries it reaches, and promote_after (so the
    failover time) must exceed it; half of the silence tolerated from the primary is the
    trade made here (docs/tuning.md)."""
    t = dict(given or {})
    d = down_after
    t.setdefault("probe_interval", min(MAX_DERIVED_PROBE, d / 20))
    t.setdefault("fence_after", d / 2)
    t.setdefault("max_clock_drift", d / 20)
    t.setdefault("report_ttl", 2 * d)
    t.setdefault("election_timeout", d)
    t.setdefault("election_jitter", d / 5)
    probe = t["probe_interval"]
    bound = t["fence_after"] + probe + t["max_clock_drift"]
    t.setdefault("promote_after", max(d, bound + fence_margin(probe)))
    lease = lease_base + t["max_clock_drift"]
    t.setdefault("failover_timeout", max(MIN_FAILOVER_TIMEOUT, 2 * (t["promote_after"] + lease)))
    # microseconds: no float noise in status output; the margins are far above a rounding
    return {k: v if k in (given or {}) else round(v, 6) for k, v in t.items()}


def _lease_base(max_lag: Any, margin: Any) -> float:
    """The lease without max_clock_drift, or 0 when the values are not numbers (validation
    then names them)."""
    if isinstance(max_lag, int | float) and isinstance(margin, int | float):
        return float(max_lag) + VALKEY_LAG_SLACK + float(margin)
    return 0.0


@dataclass(frozen=True)
class Settings:
    """Configuration of one group, as seen by every daemon that watches it.

    Times are seconds (floats).  ``voters`` is the fixed, named voter set (3 or 5 daemons);
    every other daemon is an observer.  ``nodes`` are the stable names of the group's Valkey
    nodes (addresses are the runtime's business).
    """

    group: str
    voters: tuple[str, ...]
    nodes: tuple[str, ...]
    quorum: int = 2
    policy: str = AVAILABILITY
    probe_interval: float = DERIVED
    down_after: float = 3.0
    report_ttl: float = DERIVED
    election_timeout: float = DERIVED
    election_jitter: float = DERIVED
    failover_timeout: float = DERIVED
    fence_after: float = DERIVED
    promote_after: float = DERIVED
    max_clock_drift: float = DERIVED
    max_lag: float = 10.0
    min_replicas_max_lag: float = 2.0
    lease_margin: float = 0.5
    switchover_timeout: float = 10.0
    parallel_syncs: int = 1
    next_voters: tuple[str, ...] = ()
    initial_primary: str | None = None
    allow_small_voter_set: bool = field(default=False, repr=False)
    # The daemon's voter view moves with voter changes (gungnir.core.membership): the epoch of
    # the config that committed ``voters`` (0: the bootstrap set) and the desired set.
    voters_epoch: int = field(default=0, repr=False)
    desired_voters: tuple[str, ...] = field(default=(), repr=False)
    # The timings derived from down_after by the rule (not given): ``replace`` derives them
    # again, so a changed down_after or probe_interval moves what depends on it.
    _derived: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        missing = [n for n in DERIVED_TIMINGS if getattr(self, n) == DERIVED]
        if missing:
            d = self.down_after
            if not (isinstance(d, int | float) and not isinstance(d, bool) and d > 0):
                raise SettingsError(f"group {self.group!r}: down_after must be > 0, got {d!r}")
            given = {n: getattr(self, n) for n in DERIVED_TIMINGS if n not in missing}
            lease_base = _lease_base(self.min_replicas_max_lag, self.lease_margin)
            for name, value in derive_timings(d, given, lease_base=lease_base).items():
                object.__setattr__(self, name, value)
            object.__setattr__(self, "_derived", frozenset(missing))
        validate(self)

    # -- derived values -------------------------------------------------------------------

    @property
    def majority(self) -> int:
        """Votes needed out of the whole voter set (n//2+1), not just ``quorum``."""
        return len(self.voters) // 2 + 1

    @property
    def node_majority(self) -> int:
        """A majority of the group's nodes (primary included)."""
        return len(self.nodes) // 2 + 1

    @property
    def write_quorum(self) -> int:
        """``min-replicas-to-write`` under the consistency policy: a majority minus the primary."""
        return self.node_majority - 1 if self.policy == CONSISTENCY else 0

    @property
    def lease(self) -> float:
        """How long an old primary may still take writes after its replicas detach:
        ``min_replicas_max_lag + 2 + lease_margin + max_clock_drift``.  Valkey counts replica
        lag in whole seconds (writable up to max-lag + 1 s after the last ack) and recounts
        its good replicas only about once a second (up to 1 s more); the fault suite's
        ``leaseprobe`` measured writes accepted up to 2.90 s after a cut for max-lag 2.

        This is the lease of a node running the policy's max-lag; a failover computes the old
        primary's from the max-lag the daemons read from that node."""
        return write_lease(self, self.min_replicas_max_lag)

    @property
    def max_lag_setting(self) -> int:
        """The ``min-replicas-max-lag`` the policy sets (Valkey takes whole seconds, >= 1)."""
        return max(1, int(self.min_replicas_max_lag))

    def replace(self, **changes: Any) -> Settings:
        """A validated copy with ``changes`` applied; the timings this one derived (not
        given) are derived again from the changed values (:func:`derive_timings`)."""
        again: dict[str, Any] = {n: DERIVED for n in self._derived if n not in changes}
        return dataclasses.replace(self, **again, **changes)


#: Valkey counts replica lag in whole seconds and recounts its good replicas about once a
#: second: a node with max-lag L stays writable up to L + 2 s after its last replica ack.
VALKEY_LAG_SLACK = 2.0


def write_lease(s: Settings, max_lag: float) -> float:
    """The write lease of a primary whose ``min-replicas-max-lag`` is ``max_lag`` (as read
    from the node): ``max_lag + 2 + lease_margin + max_clock_drift``."""
    return max_lag + VALKEY_LAG_SLACK + s.lease_margin + s.max_clock_drift


def validate(s: Settings) -> None:
    """Raise :class:`SettingsError` for the first broken rule."""

    def need(ok: bool, msg: str) -> None:
        if not ok:
            raise SettingsError(f"group {s.group!r}: {msg}")

    need(bool(s.group) and isinstance(s.group, str), "group must be a non-empty name")
    for name in ("voters", "nodes", "next_voters", "desired_voters"):
        value = getattr(s, name)
        need(isinstance(value, tuple), f"{name} must be a tuple of names, got {value!r}")
        need(all(isinstance(v, str) and v for v in value), f"{name} must be non-empty names")
        need(len(set(value)) == len(value), f"{name} has duplicates: {value!r}")
    sizes = (1, 2, 3, 4, 5, 6, 7) if s.allow_small_voter_set else (3, 5)
    need(
        len(s.voters) in sizes,
        f"voters must name 3 or 5 daemons (got {len(s.voters)}); other daemons run as observers",
    )
    need(not s.next_voters or len(s.next_voters) in sizes, "next_voters must name 3 or 5 daemons")
    need(
        not s.desired_voters or len(s.desired_voters) in sizes,
        f"the voter set must name 3 or 5 daemons (got {len(s.desired_voters)})",
    )
    need(
        not s.next_voters or s.quorum <= len(s.next_voters),
        f"quorum {s.quorum} > {len(s.next_voters)} next_voters: the primary could never be down",
    )
    need(
        not s.desired_voters or s.quorum <= len(s.desired_voters),
        f"quorum {s.quorum} > {len(s.desired_voters)} voters asked for: the primary could "
        "never be down",
    )
    need(
        isinstance(s.voters_epoch, int) and s.voters_epoch >= 0,
        f"voters_epoch must be an epoch >= 0, got {s.voters_epoch!r}",
    )
    need(len(s.nodes) >= 1, "nodes must name at least one Valkey node")
    need(isinstance(s.quorum, int) and s.quorum >= 1, f"quorum must be >= 1, got {s.quorum!r}")
    need(
        s.quorum <= len(s.voters),
        f"quorum {s.quorum} > {len(s.voters)} voters: the primary could never be down",
    )
    need(s.policy in POLICIES, f"policy must be one of {POLICIES}, got {s.policy!r}")
    for name in (
        "probe_interval",
        "down_after",
        "report_ttl",
        "election_timeout",
        "failover_timeout",
        "fence_after",
        "promote_after",
        "max_lag",
        "min_replicas_max_lag",
        "switchover_timeout",
    ):
        value = getattr(s, name)
        need(isinstance(value, int | float) and value > 0, f"{name} must be > 0, got {value!r}")
    for name in ("max_clock_drift", "lease_margin", "election_jitter"):
        value = getattr(s, name)
        need(isinstance(value, int | float) and value >= 0, f"{name} must be >= 0, got {value!r}")
    need(s.report_ttl >= s.down_after, "report_ttl must be >= down_after")
    need(
        s.fence_after + s.probe_interval + s.max_clock_drift < s.promote_after,
        "timing rule broken: fence_after + probe_interval + max_clock_drift "
        f"({s.fence_after} + {s.probe_interval} + {s.max_clock_drift}) must be < "
        f"promote_after ({s.promote_after}), or the minority side may not have fenced "
        "its primary before the majority promotes",
    )
    if s.policy == CONSISTENCY:
        need(
            s.failover_timeout > s.promote_after + s.lease,
            f"failover_timeout ({s.failover_timeout}) must be > promote_after + lease "
            f"({s.promote_after} + {s.lease}): a consistency failover whose old primary is "
            "unreachable waits that long before it may promote, and would always time out",
        )
    need(isinstance(s.parallel_syncs, int) and s.parallel_syncs >= 1, "parallel_syncs must be >= 1")
    need(
        s.initial_primary is None or s.initial_primary in s.nodes,
        f"initial_primary {s.initial_primary!r} is not one of nodes",
    )


_HELP = {
    "group": "Name of the group (one primary and its replicas).",
    "voters": "The fixed voter set: 3 or 5 named daemons. Others are observers.",
    "nodes": "Stable names of the group's Valkey nodes.",
    "quorum": "Daemons that must report the primary down before it is objectively down.",
    "policy": "'availability' (promote as soon as safe to try) or 'consistency' (quorum "
    "fencing, write lease, never two writable primaries).",
    "probe_interval": "Seconds between probes of each node.",
    "down_after": "Seconds of silence before a node is subjectively down: the one knob. "
    "Every timing not set derives from it by one rule (docs/tuning.md), which keeps the "
    "fencing timing rule with a margin.",
    "report_ttl": "Seconds a peer's down report stays fresh.",
    "election_timeout": "Seconds a candidate waits for votes before retrying.",
    "election_jitter": "Maximum random extra delay (seconds) before a candidacy.",
    "failover_timeout": "Seconds the leader of an epoch has to finish its failover; under "
    "the consistency policy it must exceed promote_after + lease.",
    "fence_after": "Seconds without a majority of peers before a daemon fences the "
    "primaries it can still reach.",
    "promote_after": "Seconds since the old primary was last seen before the majority side "
    "may promote without having fenced it directly.",
    "max_clock_drift": "Bound on clock-rate drift between daemons over the timing windows.",
    "max_lag": "Replicas lagging more than this (seconds) are not promoted.",
    "min_replicas_max_lag": "Valkey min-replicas-max-lag used under the consistency policy.",
    "lease_margin": "Extra seconds added to the old primary's write lease.",
    "switchover_timeout": "Seconds a manual switchover waits for its target to catch up.",
    "parallel_syncs": "Replicas repointed at the same time after a failover.",
    "next_voters": "Joint consensus: while set, decisions need a majority of voters AND of "
    "next_voters.",
    "initial_primary": "Primary of the bootstrap config (epoch 0); else the one node seen as "
    "primary.",
}


#: The rule of each derived timing, as the configuration reference shows its default.
DERIVED_RULE = {
    "probe_interval": "down_after / 20, at most 1",
    "fence_after": "down_after / 2",
    "max_clock_drift": "down_after / 20",
    "report_ttl": "2 * down_after",
    "election_timeout": "down_after",
    "election_jitter": "down_after / 5",
    "promote_after": "max(down_after, fence_after + probe_interval + max_clock_drift + "
    "probe_interval + max(0.2, 2 * probe_interval))",
    "failover_timeout": "max(30, 2 * (promote_after + lease))",
}


def describe_settings() -> list[dict[str, Any]]:
    """Schema of :class:`Settings`: name, type, default (None if required) and help text.

    Used to generate the configuration reference.
    """
    out: list[dict[str, Any]] = []
    for f in dataclasses.fields(Settings):
        if not f.repr:
            continue
        if f.name in DERIVED_RULE:
            default: Any = f"derived: {DERIVED_RULE[f.name]}"
        elif f.default is not dataclasses.MISSING:
            default = f.default
        else:
            default = None
        out.append(
            {
                "name": f.name,
                "type": str(f.type),
                "default": default,
                "required": f.default is dataclasses.MISSING,
                "help": _HELP.get(f.name, ""),
            }
        )
    return out
