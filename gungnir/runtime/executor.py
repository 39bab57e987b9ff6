"""Node actions of the core, as Valkey commands; every outcome goes back as an ActionResult.

The mapping is mechanical on purpose (the core decided; this only speaks Valkey):

* ``Fence(method="min_replicas")``  -> ``CONFIG SET min-replicas-to-write <unmeetable>``
* ``Fence(method="pause")``         -> ``CLIENT PAUSE <ms> WRITE``
* ``Unfence``                       -> ``CLIENT UNPAUSE`` + ``CONFIG SET min-replicas-to-write``
* ``SetWriteQuorum``                -> ``CONFIG SET min-replicas-to-write N min-replicas-max-lag L``
* ``Promote``                       -> ``REPLICAOF NO ONE``
* ``Repoint``                       -> ``REPLICAOF <host> <port>`` of the named primary
* ``FailoverCommand``               -> ``FAILOVER TO <host> <port> TIMEOUT <ms>``

Any error (refused, timeout, error reply) is ``ActionResult(ok=False, reason=...)``: the
core decides whether to retry, abort or wait.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from gungnir.client import parse_info
from gungnir.core import (
    UNMEETABLE_REPLICAS,
    ActionResult,
    FailoverCommand,
    Fence,
    NodeAction,
    Promote,
    Repoint,
    SetWriteQuorum,
    Unfence,
)

from .prober import NodeLink

__all__ = ["commands_for", "execute"]

log = logging.getLogger("gungnir.executor")

Address = tuple[str, int]


def commands_for(
    action: NodeAction, addresses: Mapping[str, Address], pause_ms: int
) -> list[tuple[Any, ...]]:
    """The Valkey commands that carry out ``action``, in order."""
    if isinstance(action, Fence):
        if action.method == "pause":
            return [("CLIENT", "PAUSE", str(pause_ms), "WRITE")]
        return [("CONFIG", "SET", "min-replicas-to-write", str(UNMEETABLE_REPLICAS))]
    if isinstance(action, Unfence):
        return [
            ("CLIENT", "UNPAUSE"),
            ("CONFIG", "SET", "min-replicas-to-write", str(action.min_replicas)),
        ]
    if isinstance(action, SetWriteQuorum):
        return [
            (
                "CONFIG",
                "SET",
                "min-replicas-to-write",
                str(action.min_replicas),
                "min-replicas-max-lag",
                str(action.max_lag),
            )
        ]
    if isinstance(action, Promote):
        return [("REPLICAOF", "NO", "ONE")]
    if isinstance(action, Repoint):
        host, port = addresses[action.primary]
        return [("REPLICAOF", host, str(port))]
    if isinstance(action, FailoverCommand):
        host, port = addresses[action.target]
        return [("FAILOVER", "TO", host, str(port), "TIMEOUT", str(action.timeout_ms))]
    raise TypeError(f"not a node action: {action!r}")


async def execute(
    action: NodeAction,
    link: NodeLink,
    addresses: Mapping[str, Address],
    *,
    limit: float,
    pause_ms: int,
) -> ActionResult:
    """Run ``action`` against ``link``'s node and report the outcome."""
    try:
        cmds = commands_for(action, addresses, pause_ms)
    except KeyError as exc:
        return ActionResult(action, False, f"no address for node {exc}")
    try:
        for cmd in cmds:
            await link.command(*cmd, limit=limit)
        if isinstance(action, FailoverCommand):
            return await _failover_outcome(action, link, limit)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        log.warning("%s on %s failed: %s", type(action).__name__, link.name, reason)
        return ActionResult(action, False, reason)
    return ActionResult(action, True)


async def _failover_outcome(action: FailoverCommand, link: NodeLink, limit: float) -> ActionResult:
    """Valkey's FAILOVER answers OK at once and works in the background: the action is
    done when the node's ``master_failover_state`` is back to ``no-failover``; it succeeded
    if the node is a replica by then."""
    deadline = time.monotonic() + action.timeout_ms / 1000 + limit
    while time.monotonic() < deadline:
        info = parse_info(await link.command("INFO", "replication", limit=limit))
        if info.get("master_failover_state") == "no-failover":
            if info.get("role") == "slave":
                return ActionResult(action, True)
            return ActionResult(action, False, "FAILOVER ended with the node still primary")
        await asyncio.sleep(0.02)  # polling period of the node's failover state
    return ActionResult(action, False, "FAILOVER did not finish in time")
