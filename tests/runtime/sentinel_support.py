"""Test support for the Sentinel endpoint: a view over a real local group, the endpoint in a
background event loop (so blocking clients can use it from the test thread), a raw blocking
RESP client, and a real Valkey Sentinel process to compare against."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from gungnir.local import LocalGroup, ValkeyProcess, free_port, valkey_binary, wait_until
from gungnir.resp import NEED_DATA, Reader, ReplyError, pack_command
from gungnir.runtime.resp_server import RespServer
from gungnir.runtime.sentinel import (
    PrimaryState,
    ReplicaState,
    SentinelPeerState,
    SentinelService,
    SentinelView,
)

MYID = "9" * 40


class GroupView(SentinelView):
    """A SentinelView over a real local group. ``refresh()`` reads the nodes (blocking, from
    the test thread) and caches records, as the daemon serves its cached state."""

    def __init__(
        self,
        name: str,
        primary: ValkeyProcess,
        replicas: Sequence[ValkeyProcess],
        *,
        quorum: int = 2,
        peers: Sequence[SentinelPeerState] = (),
    ) -> None:
        self.name = name
        self.primary_node = primary
        self.replica_nodes = list(replicas)
        self.quorum = quorum
        self.peers = list(peers)
        self.flags: frozenset[str] = frozenset()
        self.epoch = 0
        self.failover_requests: list[str] = []
        self.failover_hook: Callable[[str], Any] | None = None
        self._primary: PrimaryState | None = None
        self._replicas: list[ReplicaState] = []
        self.refresh()

    @classmethod
    def of(cls, name: str, group: LocalGroup, **kwargs: Any) -> GroupView:
        return cls(name, group.primary, group.replicas, **kwargs)

    def set_topology(self, primary: ValkeyProcess, replicas: Sequence[ValkeyProcess]) -> None:
        self.primary_node = primary
        self.replica_nodes = list(replicas)
        self.refresh()

    def primary_record(self) -> PrimaryState:
        node = self.primary_node
        run_id = node.info("server").get("run_id", "") if node.is_running() else ""
        return PrimaryState(
            group=self.name,
            host=node.host,
            port=node.port,
            run_id=run_id,
            flags=self.flags,
            quorum=self.quorum,
            config_epoch=self.epoch,
        )

    def replica_record(self, node: ValkeyProcess) -> ReplicaState:
        if not node.is_running():
            return ReplicaState(
                host=node.host, port=node.port, flags=frozenset({"s_down", "disconnected"})
            )
        server, repl = node.info("server"), node.info("replication")
        return ReplicaState(
            host=node.host,
            port=node.port,
            run_id=server.get("run_id", ""),
            master_host=repl.get("master_host"),
            master_port=int(repl.get("master_port", 0)),
            master_link_ok=repl.get("master_link_status") == "up",
            priority=int(repl.get("slave_priority", 100)),
            repl_offset=int(repl.get("slave_repl_offset", 0)),
        )

    def refresh(self) -> None:
        self._primary = self.primary_record()
        self._replicas = [self.replica_record(n) for n in self.replica_nodes]

    # -- SentinelView ----------------------------------------------------------------------

    def my_id(self) -> str:
        return MYID

    def group_names(self) -> Sequence[str]:
        return [self.name]

    def primary(self, group: str) -> PrimaryState | None:
        return self._primary if group == self.name else None

    def replicas(self, group: str) -> Sequence[ReplicaState]:
        return self._replicas if group == self.name else []

    def sentinels(self, group: str) -> Sequence[SentinelPeerState]:
        return self.peers if group == self.name else []

    def failover(self, group: str) -> Any:
        self.failover_requests.append(group)
        if self.failover_hook is not None:
            return self.failover_hook(group)
        return None


class Endpoint:
    """Our RESP server + SentinelService on an event loop in a background thread."""

    def __init__(self, view: SentinelView, **server_kwargs: Any) -> None:
        self.view = view
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.server = RespServer(**server_kwargs)
        self.service = SentinelService(view)
        self.service.install(self.server)
        self.port: int = self.run(self.server.start())

    def run(self, work: Any) -> Any:
        """Run a coroutine, or a plain callable, on the endpoint's loop; return its result."""
        if asyncio.iscoroutine(work):
            return asyncio.run_coroutine_threadsafe(work, self.loop).result(10)
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def call() -> None:
            try:
                future.set_result(work())
            except BaseException as exc:
                future.set_exception(exc)

        self.loop.call_soon_threadsafe(call)
        return future.result(10)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.run(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    def __enter__(self) -> Endpoint:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RawClient:
    """A blocking RESP client that keeps the exact bytes of each reply."""

    def __init__(self, port: int, protocol: int = 2) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.reader = Reader()
        if protocol == 3:
            hello = self.call("HELLO", "3")
            assert isinstance(hello, dict), hello

    def raw(self, *args: Any) -> bytes:
        self.sock.sendall(pack_command(*args))
        return self.read_raw()

    def read_raw(self) -> bytes:
        got = bytearray()
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            got += chunk
            self.reader.feed(chunk)
            if self.reader.gets() is not NEED_DATA:
                assert not self.reader.has_data(), "more than one reply"
                return bytes(got)

    def replies(self, n: int) -> list[Any]:
        """Read ``n`` parsed replies (pub/sub confirmations may share one packet)."""
        out: list[Any] = []
        reader = Reader()
        while len(out) < n:
            item = reader.gets()
            if item is not NEED_DATA:
                out.append(item)
                continue
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("server closed the connection")
            reader.feed(chunk)
        assert not reader.has_data(), "more replies than expected"
        return out

    def call(self, *args: Any) -> Any:
        reader = Reader()
        reader.feed(self.raw(*args))
        return reader.gets()

    def close(self) -> None:
        self.sock.close()


def shape(value: Any) -> Any:
    """The structure of a reply without volatile values: types, and map keys in order."""
    if isinstance(value, dict):
        return ("map", [(k, shape(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("array", [shape(v) for v in value])
    if isinstance(value, ReplyError):
        return ("error", value.message)
    return type(value).__name__


def as_dict(record: Any) -> dict[bytes, Any]:
    """A Sentinel record as a dict, from a RESP3 map or a RESP2 flat array."""
    if isinstance(record, dict):
        return record
    return dict(zip(record[::2], record[1::2], strict=True))


class RealSentinel:
    """A real ``valkey-server --sentinel`` monitoring one group, stopped by pid."""

    def __init__(self, group: str, primary: ValkeyProcess, quorum: int, **options: Any) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="gungnir-sentinel-"))
        self.port = free_port()
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            "daemonize no",
            f"dir {self.workdir}",
            f"logfile {self.workdir / 'sentinel.log'}",
            f"sentinel monitor {group} {primary.host} {primary.port} {quorum}",
        ]
        for key, value in options.items():
            lines.append(f"sentinel {key.replace('_', '-')} {group} {value}")
        conf = self.workdir / "sentinel.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen(
            [valkey_binary(), str(conf), "--sentinel"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(
            self._answers, timeout=10, what="sentinel to answer PING", abort_on=(RuntimeError,)
        )

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"sentinel exited with {self.proc.returncode}")
        try:
            c = RawClient(self.port)
        except OSError:
            return False
        try:
            return bool(c.call("PING") == b"PONG")
        finally:
            c.close()

    def call(self, *args: Any, protocol: int = 2) -> Any:
        c = RawClient(self.port, protocol)
        try:
            return c.call(*args)
        finally:
            c.close()

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        with contextlib.suppress(OSError):
            for f in self.workdir.iterdir():
                f.unlink()
            self.workdir.rmdir()


@contextlib.contextmanager
def real_sentinels(
    group: str, primary: ValkeyProcess, count: int, quorum: int, **options: Any
) -> Iterator[list[RealSentinel]]:
    started: list[RealSentinel] = []
    try:
        for _ in range(count):
            started.append(RealSentinel(group, primary, quorum, **options))
        yield started
    finally:
        for s in started:
            s.stop()
