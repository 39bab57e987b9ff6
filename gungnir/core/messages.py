"""Peer messages between daemons.  Every message names its group and its sender.

Messages are frozen dataclasses so that the network of the model checker can hold them in
sets; they carry no timestamps (the receiver stamps them with its own ``now``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .state import Config


@dataclass(frozen=True)
class DownReport:
    """``sender`` sees ``node`` subjectively down (``down``) or back up (not ``down``)."""

    group: str
    sender: str
    node: str
    down: bool
    epoch: int


@dataclass(frozen=True)
class VoteRequest:
    """Candidate ``sender`` asks for a vote in ``epoch`` to promote ``node``.

    ``replid``/``offset`` is what the candidate saw of ``node``: a voter that has seen an
    eligible replica with more data refuses (data-aware votes).  ``reason`` is ``failover`` or
    ``switchover`` (a switchover is granted even while the primary looks healthy);
    ``reconcile`` and ``reconfig`` republish the current primary.

    ``voters``/``next_voters``/``voters_epoch`` is the candidate's voter view: a voter whose
    view is newer refuses (a voter in joint consensus never helps an old-set-only majority);
    one whose view is older adopts the candidate's when it grants.  Empty ``voters``: the
    candidate does not say (treated as the voter's own committed set, not joint).
    """

    group: str
    sender: str
    epoch: int
    node: str
    replid: str
    offset: int
    reason: str = "failover"
    voters: tuple[str, ...] = ()
    next_voters: tuple[str, ...] = ()
    voters_epoch: int = 0


@dataclass(frozen=True)
class VoteReply:
    """Answer to a :class:`VoteRequest` of ``candidate`` for ``epoch``."""

    group: str
    sender: str
    epoch: int
    candidate: str
    granted: bool
    reason: str = ""


@dataclass(frozen=True)
class ConfigAnnounce:
    """``sender`` knows ``config``; ``reply_to`` echoes a :class:`ConfigQuery` nonce."""

    group: str
    sender: str
    config: Config
    epoch: int
    reply_to: float | None = None


@dataclass(frozen=True)
class ConfigQuery:
    """Ask every peer for its config before correcting drift (see ``reconcile``)."""

    group: str
    sender: str
    nonce: float
    epoch: int


@dataclass(frozen=True)
class FenceNotice:
    """``sender`` fenced ``node`` in ``epoch`` (informational; helps operators and peers)."""

    group: str
    sender: str
    epoch: int
    node: str


Message = DownReport | VoteRequest | VoteReply | ConfigAnnounce | ConfigQuery | FenceNotice
