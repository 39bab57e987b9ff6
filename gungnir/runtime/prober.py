"""Probing Valkey nodes: one pipelined round trip per node per ``probe_interval``.

``ROLE``, ``INFO server clients persistence replication keyspace``, ``CONFIG GET
min-replicas-to-write min-replicas-max-lag`` and ``ACL GETUSER`` of every user a replica may
sync as go out in one write; the replies become one :class:`gungnir.core.Probe`.  Every node
setting the protocol's guarantees rest on is read back on every probe (design rule 10): the
write quorum, the max-lag the write lease is computed from, and the start fence's sync denial.
A node that answers but will not show one of them (``NOPERM`` on ``ACL GETUSER``, a setting
missing from ``CONFIG GET``) is reported with ``settings_ok=False``: the core then neither
vets nor promotes it.  Translation only: this module decides nothing about roles, it
reports what the node said.  Any failure (refused, timeout, a reply that is not RESP, a reply
of an unexpected shape, a node stalling mid-reply) is ``Probe(reachable=False)`` and the
connection is thrown away, so the next probe starts clean.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

from gungnir.client import Connection, connect, parse_info, parse_role
from gungnir.core import PRIMARY, REPLICA, Probe

__all__ = [
    "SYNC_COMMANDS",
    "NodeLink",
    "denies_sync",
    "probe_commands",
    "probe_from_replies",
    "sync_users",
]

log = logging.getLogger("gungnir.prober")

Address = tuple[str, int]

_PROBE = (
    ("ROLE",),
    ("INFO", "server", "clients", "persistence", "replication", "keyspace"),
    ("CONFIG", "GET", "min-replicas-to-write", "min-replicas-max-lag"),
)

#: The commands a replica's handshake ends with: denied by the ``no_sync`` fence.
SYNC_COMMANDS = ("sync", "psync")


def sync_users(username: str | None) -> list[str]:
    """ACL users a replica may sync as: Valkey's ``default`` (no ``masteruser``) and the
    group's configured user, whom a deployment with ACLs typically replicates as too."""
    return ["default"] if not username or username == "default" else ["default", username]


def probe_commands(username: str | None = None) -> tuple[tuple[str, ...], ...]:
    """The pipelined commands of one probe: :data:`_PROBE` and one ``ACL GETUSER`` per user a
    replica may sync as (the start fence's ACL half is a setting like the others)."""
    return (*_PROBE, *(("ACL", "GETUSER", u) for u in sync_users(username)))


def denies_sync(reply: Any) -> bool:
    """Whether an ``ACL GETUSER`` reply's command rules deny SYNC or PSYNC (a missing user,
    ``None``, denies nothing)."""
    if reply is None:
        return False
    if isinstance(reply, Mapping):
        items = list(reply.items())
    else:
        items = list(zip(reply[::2], reply[1::2], strict=False))
    for key, value in items:
        if _text(key) == "commands":
            rules = _text(value).lower().split()
            return any(f"-{c}" in rules for c in SYNC_COMMANDS)
    return False


def _text(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes | bytearray) else str(v)


def _int(v: Any, default: int = 0) -> int:
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def probe_from_replies(node: str, replies: list[Any], names: Mapping[Address, str]) -> Probe:
    """Build the Probe event from the replies to :func:`probe_commands`; raise ValueError on
    a bad shape or a failed ROLE, INFO or CONFIG GET (the node is then unreachable)."""
    for r in replies[:3]:
        if isinstance(r, Exception):
            raise ValueError(f"probe command failed: {r}")
    role = parse_role(replies[0])
    info = parse_info(replies[1])
    cfg = replies[2]
    if isinstance(cfg, dict):
        items = {_text(k): _text(v) for k, v in cfg.items()}
    elif isinstance(cfg, list):
        items = {_text(k): _text(v) for k, v in zip(cfg[::2], cfg[1::2], strict=False)}
    else:
        raise ValueError(f"unexpected CONFIG GET reply {cfg!r:.80}")
    min_replicas = _int(items.get("min-replicas-to-write"))
    max_lag = _int(items.get("min-replicas-max-lag"), -1)
    acls = replies[3:]
    sync_denied = any(denies_sync(r) for r in acls if not isinstance(r, Exception))
    settings_ok = (
        "min-replicas-to-write" in items
        and max_lag >= 0
        and not any(isinstance(r, Exception) for r in acls)
    )
    max_lag = max(max_lag, 0)
    paused = "write" in str(info.get("paused_actions", "")) or str(
        info.get("paused_reason", "none")
    ) not in ("none", "")
    loading = _int(info.get("loading")) == 1 or _int(info.get("async_loading")) == 1
    keys = sum(
        _int(v.get("keys")) for k, v in info.items() if k.startswith("db") and isinstance(v, dict)
    )
    if role.role == PRIMARY:
        offset = _int(info.get("master_repl_offset"), role.offset)
        good = _int(info.get("min_slaves_good_slaves"), 0)
        accepts = not paused and (min_replicas == 0 or good >= min_replicas)
        return Probe(
            node=node,
            reachable=True,
            role=PRIMARY,
            offset=offset,
            replid=str(info.get("master_replid", "")),
            run_id=str(info.get("run_id", "")),
            priority=_int(info.get("slave_priority", info.get("replica_priority")), 100),
            accepts_writes=accepts,
            empty=loading or keys == 0,
            min_replicas=min_replicas,
            paused=paused,
            max_lag=max_lag,
            sync_denied=sync_denied,
            settings_ok=settings_ok,
        )
    if role.role != REPLICA:
        raise ValueError(f"node answers ROLE {role.role!r}: not a Valkey data node")
    host, port = role.primary_host or "", role.primary_port or 0
    master = names.get((host, port), f"{host}:{port}")
    link_up = info.get("master_link_status") == "up"
    io = info.get("master_last_io_seconds_ago")
    down_since = info.get("master_link_down_since_seconds")
    if link_up and isinstance(io, int) and io >= 0:
        lag = float(io)
    elif isinstance(down_since, int | float) and down_since >= 0:
        lag = float(down_since)
    else:
        lag = 0.0 if link_up else 1e9
    offset = _int(info.get("slave_repl_offset"), role.offset)
    return Probe(
        node=node,
        reachable=True,
        role=REPLICA,
        master=master,
        link_up=link_up,
        offset=max(offset, 0),
        replid=str(info.get("master_replid", "")),
        run_id=str(info.get("run_id", "")),
        priority=_int(info.get("slave_priority", info.get("replica_priority")), 100),
        accepts_writes=False,
        empty=loading or (keys == 0 and offset <= 0),
        lag=lag,
        min_replicas=min_replicas,
        paused=paused,
        max_lag=max_lag,
        sync_denied=sync_denied,
        settings_ok=settings_ok,
    )


class NodeLink:
    """Connections to one node: one for probes, one for actions, so a slow probe never
    delays a fence and a stuck action never hides the node's state."""

    def __init__(
        self,
        name: str,
        address: Address,
        *,
        names: Mapping[Address, str],
        password: str | None = None,
        username: str | None = None,
        client_name: str = "gungnir",
    ) -> None:
        self.name = name
        self.address = address
        self.names = names
        self.password = password
        self.username = username
        self.client_name = client_name
        self._probe_conn: Connection | None = None
        self._action_conn: Connection | None = None
        self.failures = 0
        self.last_error = ""
        #: Round trip of the last probe (seconds, success or not) and whether it timed out:
        #: ``gungnir_node_last_probe_duration_seconds`` and the probe outcome metric.
        self.last_duration = 0.0
        self.last_timed_out = False

    async def _open(self, limit: float) -> Connection:
        return await connect(
            self.address[0],
            self.address[1],
            username=self.username,
            password=self.password,
            client_name=self.client_name,
            connect_timeout=limit,
            command_timeout=limit,
            limits={"max_bulk_len": 16 * 1024 * 1024, "max_elements": 100_000},
        )

    async def probe(self, limit: float) -> Probe:
        started = time.monotonic()
        self.last_timed_out = False
        try:
            if self._probe_conn is None or self._probe_conn.is_closed:
                self._probe_conn = await self._open(limit)
            cmds = probe_commands(self.username)
            replies = await self._probe_conn.execute_many(cmds, timeout=limit)
            probe = probe_from_replies(self.name, list(replies), self.names)
            self.failures = 0
            self.last_duration = time.monotonic() - started
            return probe
        except Exception as exc:  # any failure means "not reachable", never a crash
            self.last_duration = time.monotonic() - started
            self.last_timed_out = isinstance(exc, TimeoutError) or self.last_duration >= limit
            self.failures += 1
            self.last_error = f"{type(exc).__name__}: {exc}"
            if self.failures == 1:
                log.info("probe of %s %s:%d failed: %s", self.name, *self.address, self.last_error)
            self._drop_probe()
            return Probe(node=self.name, reachable=False)

    async def command(self, *args: Any, limit: float) -> Any:
        """Run one node action command on the action connection (reconnecting once)."""
        try:
            if self._action_conn is None or self._action_conn.is_closed:
                self._action_conn = await self._open(limit)
            return await self._action_conn.execute(*args, timeout=limit)
        except Exception:
            self._drop_action()
            raise

    def _drop_probe(self) -> None:
        if self._probe_conn is not None:
            self._probe_conn.close()
            self._probe_conn = None

    def _drop_action(self) -> None:
        if self._action_conn is not None:
            self._action_conn.close()
            self._action_conn = None

    def close(self) -> None:
        self._drop_probe()
        self._drop_action()
