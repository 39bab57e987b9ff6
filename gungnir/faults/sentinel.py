"""Valkey's own Sentinel as the system under test: the baseline Gungnir is measured against.

Topology (the Jepsen one): three machines, each with one Valkey node (``nI``) and one Sentinel
(``dI``) in their own namespaces; ``n1`` starts as primary, ``n2`` and ``n3`` replicate it; the
Sentinels monitor the group with quorum 2 and ``down-after-milliseconds`` 1000. The Sentinel
processes are the same ``valkey-server`` binary run with ``--sentinel``.

Clients use redis-py's Sentinel support (``Sentinel.master_for``) exactly as an application
would: ask the Sentinels for the primary when connecting, keep the connection while it works,
re-ask after an error. We drive its connection object directly only to learn which node
answered each operation and to tell "never sent" from "sent, no reply" — redis-py's own
retries are off so every recorded operation is one attempt.
"""

from __future__ import annotations

import collections
import contextlib
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.exceptions import ReadOnlyError, ResponseError
from redis.retry import Retry
from redis.sentinel import Sentinel

from gungnir.faults.net import TestNet
from gungnir.faults.probe import probe_role
from gungnir.faults.sut import (
    DAEMON_PORT,
    VALKEY_PORT,
    Convergence,
    SystemUnderTest,
    WorkloadClient,
    WriteIndeterminate,
    WriteNotSent,
    WriteRefused,
)
from gungnir.local import ValkeyProcess, valkey_binary, wait_until

__all__ = ["SERVICE", "SentinelProcess", "SentinelSUT"]

SERVICE = "gnf"


class SentinelProcess(ValkeyProcess):
    """``valkey-server <conf> --sentinel``: Sentinel needs a writable config file of its own."""

    def _argv(self) -> list[str]:
        assert self.workdir is not None
        return [
            *self.launcher,
            valkey_binary(),
            str(self.workdir / "sentinel.conf"),
            "--sentinel",
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.workdir),
            "--logfile", str(self.logfile),
            "--daemonize", "no",
            "--protected-mode", "no",
        ]  # fmt: skip


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes | bytearray) else str(value)


class SentinelSUT(SystemUnderTest):
    """One primary, ``replicas`` replicas and one Sentinel per node.

    Options: ``replicas`` (2), ``quorum`` (2), ``down_after_ms`` (1000), ``failover_timeout_ms``
    (10000), ``min_replicas_to_write`` and ``min_replicas_max_lag`` (unset: off; set on every
    node, so a promoted replica enforces it too).
    """

    name = "sentinel"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        defaults: dict[str, Any] = {
            "replicas": 2,
            "quorum": 2,
            "down_after_ms": 1000,
            "failover_timeout_ms": 10000,
        }
        defaults.update(options or {})
        super().__init__(defaults)
        count = int(self.options["replicas"]) + 1
        self._node_names = [f"n{i}" for i in range(1, count + 1)]
        self._daemon_names = [f"d{i}" for i in range(1, count + 1)]
        self._nodes: dict[str, ValkeyProcess] = {}
        self._daemons: dict[str, ValkeyProcess] = {}

    def host_names(self) -> Sequence[str]:
        return [*self._node_names, *self._daemon_names]

    @property
    def nodes(self) -> Mapping[str, ValkeyProcess]:
        return self._nodes

    @property
    def daemons(self) -> Mapping[str, ValkeyProcess]:
        return self._daemons

    def _node_config(self) -> dict[str, str]:
        config: dict[str, str] = {}
        if self.options.get("min_replicas_to_write"):
            config["min-replicas-to-write"] = str(self.options["min_replicas_to_write"])
            config["min-replicas-max-lag"] = str(self.options.get("min_replicas_max_lag", 10))
        return config

    def start(self, net: TestNet, workdir: Path) -> None:
        try:
            self._start(net, workdir)
        except BaseException:
            self.stop()
            raise

    def _start(self, net: TestNet, workdir: Path) -> None:
        for name in self._node_names:
            host = net.hosts[name]
            node = ValkeyProcess(
                config=self._node_config(),
                host=host.address,
                port=VALKEY_PORT,
                name=name,
                workdir=_mkdir(workdir / name),
                launcher=host.launcher,
            )
            self._nodes[name] = node
            node.start()
        primary = self._nodes[self._node_names[0]]
        for name in self._node_names[1:]:
            self._nodes[name].replicaof(primary)
        for name in self._node_names[1:]:
            node = self._nodes[name]
            wait_until(partial(_link_up, node), timeout=20, what=f"{name} to sync")
        for name in self._daemon_names:
            daemon = self._make_daemon(name, net, _mkdir(workdir / name), primary)
            self._daemons[name] = daemon
            daemon.start()
        wait_until(self._daemons_ready, timeout=30, what="the daemons to discover the group")

    def _make_daemon(
        self, name: str, net: TestNet, directory: Path, primary: ValkeyProcess
    ) -> ValkeyProcess:
        """One HA daemon process on host ``name``; the hook a Sentinel-compatible SUT replaces.

        Anything that answers the Sentinel commands used here (``SENTINEL MASTERS``,
        ``GET-MASTER-ADDR-BY-NAME``, ``MASTER``) on ``DAEMON_PORT`` can reuse the rest of this
        class: client routing, convergence and readiness.
        """
        host = net.hosts[name]
        (directory / "sentinel.conf").write_text(self._sentinel_conf(primary))
        return SentinelProcess(
            host=host.address,
            port=DAEMON_PORT,
            name=name,
            workdir=directory,
            launcher=host.launcher,
        )

    def _sentinel_conf(self, primary: ValkeyProcess) -> str:
        o = self.options
        return (
            f"sentinel monitor {SERVICE} {primary.host} {primary.port} {o['quorum']}\n"
            f"sentinel down-after-milliseconds {SERVICE} {o['down_after_ms']}\n"
            f"sentinel failover-timeout {SERVICE} {o['failover_timeout_ms']}\n"
            f"sentinel parallel-syncs {SERVICE} 1\n"
        )

    def _daemons_ready(self) -> bool:
        """Healthy = every daemon knows every replica and every other daemon."""
        want_replicas = len(self._node_names) - 1
        want_sentinels = len(self._daemon_names) - 1
        for daemon in self._daemons.values():
            reply = daemon.command("SENTINEL", "MASTER", SERVICE, timeout=0.5)
            if isinstance(reply, BaseException):
                return False
            fields = _pairs(reply)
            if int(fields.get("num-slaves", 0)) < want_replicas:
                return False
            if int(fields.get("num-other-sentinels", 0)) < want_sentinels:
                return False
        return True

    def stop(self) -> None:
        for proc in [*self._daemons.values(), *self._nodes.values()]:
            with contextlib.suppress(Exception):
                proc.stop()

    # -- what Sentinel says ---------------------------------------------------------------------

    def _sentinel_views(self) -> dict[str, str | None]:
        views: dict[str, str | None] = {}
        for name, daemon in self._daemons.items():
            try:
                reply = daemon.command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", SERVICE, timeout=0.3)
            except Exception:
                views[name] = None
                continue
            if isinstance(reply, list) and len(reply) == 2:
                views[name] = f"{_text(reply[0])}:{_text(reply[1])}"
            else:
                views[name] = None
        return views

    def reported_primary(self) -> str | None:
        views = [v for v in self._sentinel_views().values() if v]
        if not views:
            return None
        address, count = collections.Counter(views).most_common(1)[0]
        return address if count >= len(self._daemons) // 2 + 1 else None

    def convergence(self) -> Convergence:
        reasons: list[str] = []
        roles = {f"{n.host}:{n.port}": probe_role(n, 0.5) for n in self._nodes.values()}
        masters = [addr for addr, (role, _, _) in roles.items() if role == "master"]
        for addr, (role, _, _) in roles.items():
            if role == "unreachable":
                reasons.append(f"{addr} unreachable")
        if len(masters) != 1:
            reasons.append(f"{len(masters)} nodes say master: {masters}")
        primary = masters[0] if len(masters) == 1 else None
        for addr, (role, following, link) in roles.items():
            if role == "slave" and (following != primary or not link):
                reasons.append(f"{addr} follows {following} (link up: {link})")
        for name, view in self._sentinel_views().items():
            if view != primary:
                reasons.append(f"sentinel {name} says primary is {view}")
        return Convergence(ok=not reasons, primary=primary, reasons=reasons)

    def client(self, index: int) -> WorkloadClient:
        addresses = [(d.host, d.port) for d in self._daemons.values()]
        shift = index % len(addresses)  # clients ask the Sentinels in different orders
        return SentinelClient(addresses[shift:] + addresses[:shift], SERVICE, timeout=0.5)


def _link_up(node: ValkeyProcess) -> bool:
    return node.info().get("master_link_status") == "up"


def _pairs(reply: Any) -> dict[str, str]:
    items = [_text(x) for x in reply] if isinstance(reply, list) else []
    return dict(zip(items[0::2], items[1::2], strict=False))


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


class SentinelClient(WorkloadClient):
    """A redis-py Sentinel-managed connection, one per workload client."""

    def __init__(self, sentinels: list[tuple[str, int]], service: str, timeout: float) -> None:
        self._args = (list(sentinels), service, timeout)
        self._connect()

    def _connect(self) -> None:
        sentinels, service, timeout = self._args
        # No retries anywhere (redis-py retries connects and Sentinel queries with backoff by
        # default, which can stretch one operation over many seconds): one attempt per record.
        common: dict[str, Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), 0),
        }
        self._sentinel = Sentinel(list(sentinels), sentinel_kwargs=dict(common), **common)
        self._redis = self._sentinel.master_for(service, **common)
        self._pool = self._redis.connection_pool

    def execute(self, *args: Any) -> tuple[Any, str]:
        try:
            conn = self._pool.get_connection()
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            raise WriteNotSent(f"no primary: {exc}") from exc
        node = f"{conn.host}:{conn.port}"
        try:
            try:
                conn.send_command(*args)
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                conn.disconnect()
                raise _with_node(WriteIndeterminate(f"send: {exc}"), node) from exc
            try:
                return conn.read_response(), node
            except ResponseError as exc:
                # NOREPLICAS, READONLY...: refused. Drop the connection so that the next
                # operation asks the Sentinels again, as a careful application would.
                conn.disconnect()
                raise _with_node(WriteRefused(str(exc)), node) from exc
            except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
                conn.disconnect()
                if isinstance(exc.__context__, ReadOnlyError):
                    raise _with_node(WriteRefused("READONLY"), node) from exc
                raise _with_node(WriteIndeterminate(f"read: {exc}"), node) from exc
        finally:
            self._pool.release(conn)

    def reconnect(self) -> None:
        """Start over as a new application process would: new pool, configured Sentinel order.

        (A long-lived redis-py ``Sentinel`` moves whichever Sentinel last answered to the front
        of its list, so after one answer from an isolated Sentinel it keeps asking that one.)
        """
        self.close()
        self._connect()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._redis.close()
        for s in self._sentinel.sentinels:
            with contextlib.suppress(Exception):
                s.close()


def _with_node(exc: Exception, node: str) -> Exception:
    exc.node = node  # type: ignore[attr-defined]
    return exc
