"""Node actions of the core, as Valkey commands; every outcome goes back as an ActionResult.

The mapping is mechanical on purpose (the core decided; this only speaks Valkey):

* ``Fence(method="min_replicas")``  -> ``CONFIG SET min-replicas-to-write <unmeetable>``
* ``Fence(method="pause")``         -> ``CLIENT PAUSE <ms> WRITE``
* ``Fence(method="no_sync")``       -> the ``min_replicas`` fence, then ``ACL SETUSER <user>
  -sync -psync`` and ``CLIENT KILL TYPE replica``: no writes, and no replica can start (or
  finish) a sync from the node
* ``Unfence``                       -> ``CLIENT UNPAUSE`` + ``CONFIG SET min-replicas-to-write``
* ``SetWriteQuorum``                -> ``CONFIG SET min-replicas-to-write N min-replicas-max-lag L``
* ``Promote``                       -> ``REPLICAOF NO ONE``
* ``Repoint``                       -> ``REPLICAOF <host> <port>`` of the named primary
* ``FailoverCommand``               -> ``FAILOVER TO <host> <port> TIMEOUT <ms>``

``no_sync`` is the fence for a primary that came back without its data.  Writes refused are not
enough there: its replicas reconnect to the same address within about a second and a full sync
from the empty node wipes the data the failover needs.  A replica's handshake ends in ``PSYNC``
(or ``SYNC``), an ordinary command checked by the ACL, so denying both to the users a replica can
authenticate as (``default`` and the group's ``username``) makes every attempt fail with
``NOPERM``; the replica keeps its dataset and retries.  Killing the replica clients aborts a
sync that started before the fence (an RDB a replica has not finished receiving is never
loaded).  Unlike ``CLIENT PAUSE ... ALL`` (which also holds replicas off) the node still answers
the daemons' probes, and nothing lifts the fence on a timer.  Every action that makes the node
a writable primary or a replica again (``Unfence``, ``SetWriteQuorum``, ``Promote``,
``Repoint``) first gives the permission back, to the users whose rules still deny it.

Any error (refused, timeout, error reply) is ``ActionResult(ok=False, reason=...)``: the
core decides whether to retry, abort or wait.  The warning logged for it carries ``group`` and
``epoch`` (the action's) as fields, like every failover line (:mod:`gungnir.runtime.logs`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from typing import Any

from gungnir.client import parse_info
from gungnir.client.errors import ConnectionClosedError, ConnectionLostError
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

from .prober import SYNC_COMMANDS, NodeLink, denies_sync, sync_users

__all__ = ["SYNC_COMMANDS", "commands_for", "execute", "sync_users"]

log = logging.getLogger("gungnir.executor")

Address = tuple[str, int]

#: Node actions after which the node serves as a primary or follows one again.
_RESTORES_SYNC = (Unfence, SetWriteQuorum, Promote, Repoint)


def commands_for(
    action: NodeAction,
    addresses: Mapping[str, Address],
    pause_ms: int,
    username: str | None = None,
) -> list[tuple[Any, ...]]:
    """The Valkey commands that carry out ``action``, in order."""
    if isinstance(action, Fence):
        if action.method == "pause":
            return [("CLIENT", "PAUSE", str(pause_ms), "WRITE")]
        fence: list[tuple[Any, ...]] = [
            ("CONFIG", "SET", "min-replicas-to-write", str(UNMEETABLE_REPLICAS))
        ]
        if action.method == "no_sync":
            # Writes first: the part every fence needs does not wait on the ACL step.
            deny = tuple(f"-{c}" for c in SYNC_COMMANDS)
            fence += [("ACL", "SETUSER", user, *deny) for user in sync_users(username)]
            fence.append(("CLIENT", "KILL", "TYPE", "replica"))
        return fence
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
    group: str | None = None,
) -> ActionResult:
    """Run ``action`` against ``link``'s node and report the outcome.

    ``group`` names the group the action belongs to (the caller knows it; actions do not
    carry it) so that a failure is logged with its group and the action's epoch.
    """
    fields = _fields(action, link, group)
    try:
        cmds = commands_for(action, addresses, pause_ms, link.username)
    except KeyError as exc:
        reason = f"no address for node {exc}"
        _failed(action, link, reason, fields)
        return ActionResult(action, False, reason)
    try:
        if isinstance(action, _RESTORES_SYNC):
            await _restore_sync(link, limit, fields)
        for cmd in cmds:
            await _command(link, cmd, limit, retry=not isinstance(action, FailoverCommand))
        if isinstance(action, FailoverCommand):
            result = await _failover_outcome(action, link, limit)
            if not result.ok:
                _failed(action, link, result.reason, fields)
            return result
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        _failed(action, link, reason, fields)
        return ActionResult(action, False, reason)
    return ActionResult(action, True)


def _fields(action: NodeAction, link: NodeLink, group: str | None) -> dict[str, Any]:
    """``extra=`` of this action's log lines: group (when known), epoch and node."""
    fields: dict[str, Any] = {"epoch": action.epoch, "node": link.name}
    if group is not None:
        fields["group"] = group
    return fields


def _failed(action: NodeAction, link: NodeLink, reason: str, fields: Mapping[str, Any]) -> None:
    """The warning for a failed action: group and epoch in the text and as fields."""
    group = fields.get("group")
    where = f"group {group} epoch {action.epoch}" if group else f"epoch {action.epoch}"
    log.warning(
        "%s: %s on %s failed: %s", where, type(action).__name__, link.name, reason, extra=fields
    )


async def _command(link: NodeLink, cmd: tuple[Any, ...], limit: float, *, retry: bool) -> Any:
    """One command, sent again once on a fresh connection if the old one turns out dead.

    The action connection sits idle between actions, so the first command after the node
    restarted (precisely when the empty-restart fence is needed) finds it closed.  Every
    command here but ``FAILOVER`` is idempotent, so sending it again is safe.
    """
    try:
        return await link.command(*cmd, limit=limit)
    except (ConnectionLostError, ConnectionClosedError):
        if not retry:
            raise
        return await link.command(*cmd, limit=limit)


async def _restore_sync(link: NodeLink, limit: float, fields: Mapping[str, Any]) -> None:
    """Give back SYNC/PSYNC to the users a ``no_sync`` fence denied them to.

    Only users whose rules end by denying a sync command are touched, so a node that was never
    fenced this way costs one ``ACL GETUSER`` per user and no grant beyond what was taken away.
    A node that refuses ACL commands to the daemon (an ACL user without ``@admin``) cannot have
    been fenced by ``no_sync`` either: that refusal is logged and the action goes on.
    """
    for user in sync_users(link.username):
        try:
            reply = await _command(link, ("ACL", "GETUSER", user), limit, retry=True)
        except Exception as exc:  # NOPERM, or no ACL support: nothing of ours to undo
            log.debug("ACL GETUSER %s on %s: %s", user, link.name, exc, extra=fields)
            return
        if denies_sync(reply):
            await link.command(
                "ACL", "SETUSER", user, *(f"+{c}" for c in SYNC_COMMANDS), limit=limit
            )


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
