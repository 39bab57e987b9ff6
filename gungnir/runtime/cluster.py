"""Several daemons on loopback: configuration documents and an in-process runner.

Used by ``gungnir demo``, the integration tests and the failover benchmark.  Each daemon gets
its own RESP port, state directory and decision log, exactly as separate processes would; the
documents can also be written to files and run with ``python -m gungnir run --config``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gungnir.local import free_port

from .config import load
from .daemon import Daemon, Observer

__all__ = ["FAST", "DaemonProcess", "InProcessCluster", "cluster_docs", "write_docs"]

Address = tuple[str, int]

#: Loopback timings: 0.1 s probes, 0.6 s detection, timing rule 0.3+0.1+0.1 < 0.6.
FAST: dict[str, Any] = {
    "probe_interval": 0.1,
    "down_after": 0.6,
    "report_ttl": 1.2,
    "election_timeout": 0.6,
    "election_jitter": 0.3,
    "fence_after": 0.3,
    "promote_after": 0.6,
    "max_clock_drift": 0.1,
    "failover_timeout": 10.0,
    "switchover_timeout": 5.0,
    "probe_timeout": 0.3,
    "action_timeout": 1.0,
}


def cluster_docs(
    nodes: Mapping[str, Address],
    base_dir: str | os.PathLike[str],
    *,
    daemons: int = 3,
    group: str = "demo",
    settings: Mapping[str, Any] | None = None,
    ports: Sequence[int] | None = None,
    secret: str | None = None,
) -> list[dict[str, Any]]:
    """One configuration document per daemon ``d1..dN`` watching one group."""
    base = Path(base_dir)
    ports = list(ports) if ports else [free_port() for _ in range(daemons)]
    names = [f"d{i + 1}" for i in range(daemons)]
    peers = {n: f"127.0.0.1:{p}" for n, p in zip(names, ports, strict=True)}
    secret = secret or secrets.token_hex(16)
    group_doc: dict[str, Any] = {
        "nodes": {n: f"{h}:{p}" for n, (h, p) in nodes.items()},
        **(settings if settings is not None else FAST),
    }
    docs = []
    for n in names:
        docs.append(
            {
                "daemon": {
                    "id": n,
                    "state_dir": str(base / n / "state"),
                    "decision_log": str(base / n / "decisions.jsonl"),
                    "secret": secret,
                },
                "peers": peers,
                "groups": {group: dict(group_doc)},
            }
        )
    return docs


def write_docs(docs: Sequence[Mapping[str, Any]], base_dir: str | os.PathLike[str]) -> list[Path]:
    """Write each document as ``<base>/<id>.yaml`` (JSON is valid YAML)."""
    out = []
    for doc in docs:
        path = Path(base_dir) / f"{doc['daemon']['id']}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=2))
        out.append(path)
    return out


class InProcessCluster:
    """Daemons sharing this process's event loop (fast tests and the demo)."""

    def __init__(self, docs: Sequence[Mapping[str, Any]], observer: Observer | None = None):
        self.docs = list(docs)
        self.observer = observer
        self.daemons: dict[str, Daemon] = {}

    def config(self, name: str) -> Any:
        doc = next(d for d in self.docs if d["daemon"]["id"] == name)
        return load(doc=doc, env={})

    async def start(self, names: Sequence[str] | None = None) -> None:
        for doc in self.docs:
            name = doc["daemon"]["id"]
            if names is not None and name not in names:
                continue
            await self.start_one(name)

    async def start_one(self, name: str) -> Daemon:
        d = Daemon(self.config(name), observer=self.observer)
        await d.start()
        self.daemons[name] = d
        return d

    async def stop_one(self, name: str) -> None:
        d = self.daemons.pop(name, None)
        if d is not None:
            await d.stop()

    async def stop(self) -> None:
        await asyncio.gather(*(d.stop() for d in self.daemons.values()), return_exceptions=True)
        self.daemons.clear()

    def primaries(self) -> set[str | None]:
        """The primary each running daemon's config names."""
        return {next(iter(d.groups.values())).state.config.primary for d in self.daemons.values()}

    async def __aenter__(self) -> InProcessCluster:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class DaemonProcess:
    """``python -m gungnir run --config FILE`` as a child process, stopped by pid.

    ``launcher`` prefixes the command (``["ip", "netns", "exec", "ns1"]`` for the fault
    harness).  Output goes to ``<config>.log`` next to the config file.
    """

    def __init__(self, config: str | os.PathLike[str], launcher: Sequence[str] = ()) -> None:
        self.config = Path(config)
        self.launcher = list(launcher)
        self.logfile = self.config.with_suffix(".log")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> DaemonProcess:
        argv = [
            *self.launcher,
            sys.executable,
            "-m",
            "gungnir",
            "run",
            "--config",
            str(self.config),
        ]
        with self.logfile.open("ab") as log:
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        return self

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        if self.running():
            assert self.proc is not None
            os.kill(self.proc.pid, sig)

    def stop(self, timeout: float = 5.0) -> int | None:
        """SIGCONT + SIGTERM, then SIGKILL after ``timeout``; return the exit code."""
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGCONT)
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout)
        return proc.returncode

    def kill(self) -> None:
        if self.running():
            assert self.proc is not None
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(5.0)

    def output(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")
        except OSError:
            return ""
